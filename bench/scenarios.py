"""The scenarios of bench/run: what is requested, from which servers, and how a response is
checked before anything is measured. One row per scenario in SCENARIOS, in the order they run
(scenarios sharing servers are neighbours, so each server starts once per app).

kind:  "load"  closed loop, httpsd-load -p 1 -c C for the duration (req/s, bytes/s, latency)
       "rate"  open loop at 50 % of each server's wsgi-hello maximum (latency percentiles)
       "idle"  RSS per idle keep-alive connection (bench/idle_conns.py), a fresh server each time
goal:  "ahead"  httpsd should beat every peer (WSGI)
       "peer"   httpsd should be at >= 1.0x the peer (static files, TLS)
server_cpus:  1  the servers on the runner's SERVER_CPU, httpsd-load alone on CLIENT_CPU
              2  the servers on both CPUs (taskset -c 0,1), sharing CLIENT_CPU with httpsd-load:
                 the two-CPU scenarios of issue 11 (prefork: -w 2 and the peers' equivalents)
thresholds:  (server, other server, minimum ratio) the scenario is meant to show, e.g. httpsd
             -w 2 at >= 1.8x httpsd -w 1; summary.py evaluates them, the page shows them
reference:   httpsd rows measured for a threshold only (httpsd -w 1 next to -w 2): no ratio
             column of their own, not counted in "where httpsd is behind"
"""
import dataclasses
import hashlib
import http.client
import importlib.util
import os
import ssl

WSGI = ("httpsd", "httpsd-t0", "uwsgi", "gunicorn-sync", "gunicorn-gthread", "waitress")
STATIC = ("httpsd", "nginx", "h2o")
# issue 11: each server with two workers (processes; h2o: threads) on two CPUs
WSGI_W2 = ("httpsd-w2", "httpsd-w1", "uwsgi-p2", "gunicorn-sync-w2")
STATIC_W2 = ("httpsd-w2", "nginx-w2", "h2o-t2")
TWO_CPUS = ("Two CPUs: every server is pinned to both (`taskset -c 0,1`) and httpsd-load stays "
            "on CPU 1, **which it shares with the servers** (the machine has two): the servers "
            "get less than two whole CPUs, the more so the more the client works (a cheap "
            "request costs the client about what it costs the server), and each server's CPU "
            "time is in the table. ")
HELLO = b"Hello, World!"
RANGES = "bytes=0-99,5000-5099"


@dataclasses.dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    servers: tuple
    kind: str = "load"
    ceiling: tuple = ()        # shown for reference, not counted as peers
    app: str = None            # WSGI app (servers.APPS) or None for static
    schemes: tuple = ("http",)
    method: str = "GET"
    path: str = "/"
    headers: tuple = ()        # "{etag}" is replaced by the server's own ETag of the file
    body_file: str = None      # key of FILES: the request body
    connections: int = 50
    keepalive: bool = True
    timeout: float = None      # per-request timeout of the load generator (seconds; None:
                               # the runner's, 2 s, 1 s with --quick); also the longest tail
                               # of a run, since requests in flight at the end are awaited
    expect_status: int = 200
    expect_body: str = None    # key of FILES (whole body), "hello", or None (checked by `check`)
    check: str = None          # extra check: "multirange"
    metric: str = "req_per_s"  # a key of summary.METRICS
    show_bytes: bool = False   # MiB/s column
    goal: str = "ahead"
    wrk: bool = True           # cross-check with wrk (not for --rate or idle runs)
    fresh: bool = False        # a new server process for every measurement
    server_cpus: int = 1       # 1 or 2 (see above)
    thresholds: tuple = ()     # ((server, other, minimum ratio), ...) (see above)
    reference: tuple = ()      # httpsd rows that are not compared with the peers (see above)
    note: str = ""


# The files the static scenarios serve and the upload body: name, size. Text for the 27-byte
# file, random bytes for the rest (.bin: application/octet-stream everywhere, no sidecars).
FILES = {"f27": ("f27.txt", 27), "f100k": ("f100k.bin", 100 * 1024),
         "f100m": ("f100m.bin", 100 << 20), "upload": ("upload-1m.bin", 1 << 20)}

SCENARIOS = {s.name: s for s in [
    Scenario("wsgi-hello", "WSGI hello world, keep-alive", WSGI + ("nginx",), ceiling=("nginx",),
             app="hello", expect_body="hello"),
    Scenario("latency", "WSGI hello world at 50 % of each server's maximum: latency",
             WSGI + ("nginx",), kind="rate", ceiling=("nginx",), app="hello", expect_body="hello",
             metric="p99_us", wrk=False,
             note="Each server gets `--rate` = half the median req/s it reached in wsgi-hello, "
                  "spread over 50 connections; latency counts from each request's scheduled "
                  "send time (no coordinated omission). wrk has no fixed-rate mode: no "
                  "cross-check."),
    Scenario("wsgi-hello-close", "WSGI hello world, a new connection per request",
             WSGI + ("nginx",), ceiling=("nginx",), app="hello", expect_body="hello",
             keepalive=False,
             note="httpsd-load `--no-keepalive`: `Connection: close` on every request, and the "
                  "client closes after the response whatever the server says."),
    Scenario("wsgi-100k", "WSGI 100 KiB response, keep-alive", WSGI, app="hello", path="/100k",
             expect_body="big", show_bytes=True),
    Scenario("wsgi-upload-1m", "WSGI 1 MiB upload, echoed back, keep-alive", WSGI, app="hello",
             method="POST", path="/echo", body_file="upload", expect_body="upload",
             connections=16, show_bytes=True),
    Scenario("flask", "Flask hello route, keep-alive", WSGI, app="flask", expect_body="hello"),
    Scenario("static-27b", "Static 27-byte file, keep-alive", STATIC, schemes=("http", "https"),
             path="/static/f27.txt", expect_body="f27", goal="peer"),
    Scenario("static-100k", "Static 100 KiB file, keep-alive", STATIC, schemes=("http", "https"),
             path="/static/f100k.bin", expect_body="f100k", show_bytes=True, goal="peer"),
    Scenario("static-100m", "Static 100 MiB file, keep-alive", STATIC, schemes=("http", "https"),
             path="/static/f100m.bin", expect_body="f100m", connections=4, timeout=60,
             show_bytes=True, goal="peer"),
    Scenario("static-304", "Static revalidation: If-None-Match with the server's own ETag -> 304",
             STATIC, schemes=("http", "https"), path="/static/f27.txt",
             headers=("If-None-Match: {etag}",), expect_status=304, goal="peer"),
    Scenario("static-multirange", f"Static multi-range request ({RANGES}) of the 100 KiB file",
             STATIC, schemes=("http", "https"), path="/static/f100k.bin",
             headers=(f"Range: {RANGES}",), expect_status=206, check="multirange", goal="peer"),
    Scenario("tls-handshake", "TLS handshakes: a new HTTPS connection per request (27-byte file)",
             STATIC, schemes=("https",), path="/static/f27.txt", expect_body="f27",
             keepalive=False, goal="peer", metric="req_per_server_cpu_s",
             note="Full handshakes (no session resumption), ECDSA P-256 certificate; the client "
                  "does not verify the chain (`-k`). A TLS client pays about what the server pays "
                  "per handshake, so one client CPU cannot saturate the server's: the req/s "
                  "column is client-bound, and the scenario's metric is handshakes per second "
                  "of server CPU (requests / server CPU time), i.e. what one server core would "
                  "sustain."),
    Scenario("idle-10k", "10,000 idle keep-alive connections: server memory per connection",
             ("httpsd", "nginx"), kind="idle", schemes=("http", "https"), path="/static/f27.txt",
             expect_body="f27", connections=10000, metric="kib_per_conn", goal="peer", wrk=False,
             fresh=True,
             note="bench/idle_conns.py opens the connections (one GET each, then idle) against a "
                  "freshly started server and reads the server's RSS (all its processes) before "
                  "and after."),
    # issue 11: prefork workers. The WSGI ones share their server instances (the same app).
    Scenario("cpu-w2", "CPU-bound WSGI app (0.7 ms of Python per request), 2 workers on 2 CPUs",
             WSGI_W2, app="hello", path="/cpu", expect_body="cpu",
             server_cpus=2, reference=("httpsd-w1",),
             thresholds=(("httpsd-w2", "httpsd-w1", 1.8), ("httpsd-w2", "uwsgi-p2", 1.0)),
             note=TWO_CPUS + "GET /cpu of bench/apps/hello.py: 14,000 rounds of a multiply-add "
                  "in the interpreter (about 0.7 ms on this machine), holding the GIL, the same "
                  "work for every server. One process computes on one CPU at a time whatever "
                  "its threads, so `-w 2` should come close to twice `-w 1` (the threshold is "
                  "1.8×); at some 2,000 requests a second the client takes little of CPU 1."),
    Scenario("hello-w2", "WSGI hello world, 2 workers on 2 CPUs, keep-alive", WSGI_W2,
             app="hello", expect_body="hello", server_cpus=2, reference=("httpsd-w1",),
             thresholds=(("httpsd-w2", "gunicorn-sync-w2", 5.0),),
             note=TWO_CPUS + "Here the client (one process) needs about as much CPU per "
                  "request as httpsd, so the shared CPU 1 bounds the req/s of the fast servers: "
                  "`-w 2` is not expected to reach twice `-w 1`; server CPU µs/req still "
                  "compares them."),
    Scenario("static-27b-w2", "Static 27-byte file, 2 workers on 2 CPUs, keep-alive",
             STATIC_W2, schemes=("http", "https"), path="/static/f27.txt", expect_body="f27",
             goal="peer", server_cpus=2,
             note=TWO_CPUS + "nginx with `worker_processes 2`, h2o with `num-threads: 2`. The "
                  "client needs about as much CPU per request as the servers here: the req/s "
                  "column is bounded by CPU 1's share; server CPU µs/req compares the servers."),
]}


class Files:
    """The generated files (paths and, for checking, their bytes)."""

    def __init__(self, paths):
        self.paths = paths  # key -> path
        self._cache = {}

    def data(self, key):
        if key not in self._cache:
            with open(self.paths[key], "rb") as f:
                self._cache[key] = f.read()
        return self._cache[key]

    def expected(self, what):
        if what == "hello":
            return HELLO
        if what == "cpu":  # computed by the app's own function
            spec = importlib.util.spec_from_file_location(
                "bench_hello", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                            "apps", "hello.py"))
            app = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(app)
            return app.cpu_work()
        if what == "big":
            return bytes(range(256)) * 400  # bench/apps/hello.py's /100k
        return self.data(what)


def _request(inst, scheme, sc, headers, body):
    """One request on a fresh connection. Returns (status, headers dict (lower-case), body hash,
    body length, first 4 KiB of the body, the server closes?)."""
    port = inst.ports[scheme]
    if scheme == "https":
        conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=120,
                                           context=ssl._create_unverified_context())
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        hdrs = dict(h.split(": ", 1) for h in headers)
        if not sc.keepalive:
            hdrs["Connection"] = "close"
        conn.request(sc.method, sc.path, body=body, headers=hdrs)
        r = conn.getresponse()
        h = hashlib.sha256()
        n, head = 0, b""
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
            n += len(chunk)
            if len(head) < 4096:
                head += chunk[:4096 - len(head)]
        return r.status, {k.lower(): v for k, v in r.getheaders()}, h.hexdigest(), n, head, r.will_close
    finally:
        conn.close()


def probe(sc, inst, scheme, files):
    """Check that the server answers the scenario's request correctly.
    Returns dict(ok, reason, note, headers (for the load generator), status, body_bytes)."""
    headers = list(sc.headers)
    out = dict(ok=False, reason=None, note="")
    try:
        if any("{etag}" in h for h in headers):
            st, hd, *_ = _request(inst, scheme, dataclasses.replace(sc, headers=(), method="GET"),
                                  [], None)
            if "etag" not in hd:
                out["reason"] = f"no ETag on a GET of {sc.path} (status {st})"
                return out
            headers = [h.replace("{etag}", hd["etag"]) for h in headers]
        body = files.data(sc.body_file) if sc.body_file else None
        st, hd, digest, n, head, closes = _request(inst, scheme, sc, headers, body)
    except (OSError, http.client.HTTPException) as e:
        out["reason"] = f"request failed: {e!r}"
        return out
    out.update(status=st, body_bytes=n, headers=headers)
    if st != sc.expect_status:
        out["reason"] = f"answered {st}, not {sc.expect_status}"
    elif sc.expect_body and digest != hashlib.sha256(files.expected(sc.expect_body)).hexdigest():
        out["reason"] = f"wrong body ({n} bytes: {head[:60]!r})"
    elif sc.check == "multirange":
        ctype = hd.get("content-type", "")
        size = FILES["f100k"][1]
        if not ctype.startswith("multipart/byteranges") or \
                f"bytes 0-99/{size}".encode() not in head or f"bytes 5000-5099/{size}".encode() not in head:
            out["reason"] = (f"no 206 multipart/byteranges with both parts "
                             f"(Content-Type: {ctype or 'none'}, {n}-byte body)")
    if out["reason"]:
        return out
    out["ok"] = True
    notes = [f"{st}, {n}-byte body"]
    if sc.keepalive and closes:
        notes.append("closes the connection after every response")
    if not sc.keepalive and hd.get("connection", "").lower() != "close":
        notes.append("ignores `Connection: close` (no `Connection: close` in its answer)")
    out["note"] = "; ".join(notes)
    return out
