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
client:      "httpsd-load" (HTTP/1.1), or "h2load" (HTTP/2 over TLS, ALPN h2 only, `-m streams`
             requests in flight per connection; the h2-* scenarios of issue 13): the probe is then
             `curl --http2`, which must negotiate h2
ceiling_path, ceiling_body: what the ceiling servers are asked for instead of path/expect_body
             (h2-wsgi-hello: nginx serving the 27-byte file, the issue's reference)
"""
import dataclasses
import hashlib
import http.client
import importlib.util
import os
import re
import ssl
import subprocess
import tempfile

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
H2_NOTE = ("HTTP/2 over TLS: `h2load -t 1 -c 50 -m 10` (50 connections, 10 requests in flight on "
           "each), ALPN h2 only; every TLS listener offers h2 (nginx `listen ... ssl http2`, h2o "
           "and httpsd by default). Checked first with `curl --http2` (h2 negotiated, status, "
           "exact body); a run with any failed, errored or timed-out request or a non-2xx answer "
           "is failed, not a number. Latency: h2load's mean and maximum (it has no "
           "percentiles). No wrk cross-check (no HTTP/2 in wrk). ")


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
    client: str = "httpsd-load"  # or "h2load" (see above)
    streams: int = 1           # h2load -m: requests in flight per connection
    ceiling_path: str = None   # the ceiling servers' request (see above)
    ceiling_body: str = None
    note: str = ""

    def request(self, server):
        """(path, expected body) of this scenario's request to that server."""
        if server in self.ceiling and self.ceiling_path:
            return self.ceiling_path, self.ceiling_body
        return self.path, self.expect_body


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
    # issue 15: a CPU-bound app's latency tails with app threads (GIL convoys) vs none
    Scenario("cpu-tails", "CPU-bound WSGI app (0.7 ms of Python per request): latency tails",
             ("httpsd", "httpsd-t0", "httpsd-t1", "httpsd-t16", "uwsgi", "gunicorn-gthread"),
             app="hello", path="/cpu", expect_body="cpu", connections=16, metric="p99_us",
             reference=("httpsd-t1", "httpsd-t16"), wrk=False,
             thresholds=(("httpsd", "httpsd-t0", 0.67),),
             note="GET /cpu of bench/apps/hello.py (about 0.7 ms of pure Python holding the GIL) "
                  "on 16 keep-alive connections, closed loop, one server CPU: every server is "
                  "saturated, and the latency percentiles show how fairly it orders the work. "
                  "With app threads, requests share the GIL; issue 15 asks httpsd's default (4 "
                  "threads) for a p99 at most 1.5x that of `--threads 0`, which runs them one "
                  "after another (the threshold: t0's p99 / default's >= 0.67)."),
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
    # issue 13: HTTP/2 (h2load), after the HTTPS scenarios that start the same static servers
    Scenario("h2-static-27b", "HTTP/2: static 27-byte file, h2load -c 50 -m 10", STATIC,
             schemes=("https",), path="/static/f27.txt", expect_body="f27", goal="peer",
             client="h2load", streams=10, wrk=False,
             thresholds=(("httpsd", "h2o", 1.0), ("httpsd", "nginx", 1.2)), note=H2_NOTE),
    Scenario("h2-static-100k", "HTTP/2: static 100 KiB file, h2load -c 50 -m 10", STATIC,
             schemes=("https",), path="/static/f100k.bin", expect_body="f100k", show_bytes=True,
             goal="peer", client="h2load", streams=10, wrk=False, note=H2_NOTE),
    Scenario("h2-wsgi-hello", "HTTP/2: WSGI hello world, h2load -c 50 -m 10",
             ("httpsd", "nginx"), ceiling=("nginx",), app="hello", schemes=("https",),
             expect_body="hello", client="h2load", streams=10, wrk=False,
             ceiling_path="/static/f27.txt", ceiling_body="f27",
             thresholds=(("httpsd", "nginx", 1.0),),
             note=H2_NOTE + "The ceiling is nginx serving the 27-byte static file over h2 "
                  "(GET /static/f27.txt, not `return 200`): the issue asks httpsd's WSGI hello "
                  "world over h2 to reach at least that. uWSGI, gunicorn and waitress speak no "
                  "HTTP/2."),
    Scenario("idle-10k", "10,000 idle keep-alive connections: server memory per connection",
             ("httpsd", "nginx"), kind="idle", schemes=("http", "https"), path="/static/f27.txt",
             expect_body="f27", connections=10000, metric="kib_per_conn", goal="peer", wrk=False,
             fresh=True,
             note="bench/idle_conns.py opens the connections (one GET each, then idle) against a "
                  "freshly started server and reads the server's RSS (all its processes) before "
                  "and after."),
    Scenario("h2-idle-10k", "10,000 idle HTTP/2 connections: server memory per connection",
             STATIC, kind="idle", schemes=("https",), path="/static/f27.txt", expect_body="f27",
             connections=10000, metric="kib_per_conn", goal="peer", wrk=False, fresh=True,
             client="h2load",
             note="As idle-10k, over TLS with ALPN h2: bench/idle_conns.py --h2 sends the "
                  "preface, SETTINGS and one GET on stream 1 per connection, reads the answer, "
                  "then leaves the connection idle. Issue 13's goal: httpsd's h2 connection at "
                  "most 1.5x its idle HTTP/1.1 TLS connection (idle-10k HTTPS)."),
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


def _request_h2(inst, scheme, sc, headers, body):
    """One request with `curl --http2` (ALPN h2 and http/1.1 offered) on a fresh connection.
    Returns _request's tuple plus the HTTP version curl used ("2" when h2 was negotiated) and
    curl's ALPN line. Raises OSError when curl fails."""
    with tempfile.TemporaryDirectory(prefix="bench-h2-probe.") as d:
        bpath, hpath = os.path.join(d, "body"), os.path.join(d, "head")
        argv = ["curl", "--http2", "-sSkv", "--max-time", "120", "-o", bpath, "-D", hpath,
                "-w", "%{http_version} %{response_code}", "-X", sc.method]
        for h in headers:
            argv += ["-H", h]
        if body is not None:
            argv += ["--data-binary", "@" + os.path.join(d, "req")]
            with open(os.path.join(d, "req"), "wb") as f:
                f.write(body)
        argv.append(inst.url(scheme, sc.path))
        p = subprocess.run(argv, capture_output=True, text=True, timeout=180)
        alpn = "; ".join(l.lstrip("* ").strip() for l in p.stderr.splitlines()
                         if l.startswith("* ALPN: server"))
        if p.returncode != 0:
            err = [l for l in p.stderr.splitlines() if l.startswith("curl:")]
            raise OSError(f"curl --http2 exit {p.returncode}: "
                          + (err[-1] if err else p.stderr.strip()[-200:])
                          + (f" ({alpn})" if alpn else ""))
        version, status = p.stdout.split()
        with open(bpath, "rb") as f:
            data = f.read()
        with open(hpath, errors="replace") as f:
            blocks = [b for b in re.split(r"\r?\n\r?\n", f.read()) if b.strip()]
    hd = {}
    for line in blocks[-1].splitlines()[1:] if blocks else ():
        k, _, v = line.partition(":")
        hd[k.strip().lower()] = v.strip()
    return (int(status), hd, hashlib.sha256(data).hexdigest(), len(data), data[:4096],
            hd.get("connection", "").lower() == "close", version, alpn)


def probe(sc, inst, scheme, files):
    """Check that the server answers the scenario's request correctly (over h2 for the h2load
    scenarios). Returns dict(ok, reason, note, headers (for the load generator), status,
    body_bytes, path, expect_body (this server's, see Scenario.request))."""
    headers = list(sc.headers)
    path, expect_body = sc.request(inst.server.name)
    sc = dataclasses.replace(sc, path=path, expect_body=expect_body)
    out = dict(ok=False, reason=None, note="", path=path, expect_body=expect_body)
    if sc.client == "h2load":
        try:
            st, hd, digest, n, head, closes, version, alpn = _request_h2(
                inst, scheme, sc, headers, files.data(sc.body_file) if sc.body_file else None)
        except (OSError, ValueError, subprocess.SubprocessError) as e:
            out["reason"] = f"request failed: {e}"
            return out
        out.update(status=st, body_bytes=n, headers=headers, http_version=version, alpn=alpn)
        if version != "2":
            out["reason"] = (f"h2 not negotiated: curl --http2 got HTTP/{version} "
                             f"({alpn or 'no ALPN line'}); the TLS listener must offer h2 by ALPN"
                             + (" (httpsd: `--http2`, on by default)" if inst.server.is_httpsd
                                else ""))
            return out
        return _check(sc, files, out, st, hd, digest, n, head, closes, "h2")
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
    return _check(sc, files, out, st, hd, digest, n, head, closes)


def _check(sc, files, out, st, hd, digest, n, head, closes, proto=None):
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
    notes = [f"{st}, {n}-byte body" + (f", {proto}" if proto else "")]
    if sc.path != scenario_path(sc.name):
        notes.append(f"GET {sc.path} (the ceiling's request)")
    if sc.keepalive and closes and not proto:
        notes.append("closes the connection after every response")
    if not sc.keepalive and hd.get("connection", "").lower() != "close":
        notes.append("ignores `Connection: close` (no `Connection: close` in its answer)")
    out["note"] = "; ".join(notes)
    return out


def scenario_path(name):
    return SCENARIOS[name].path
