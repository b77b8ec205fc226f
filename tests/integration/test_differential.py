"""Differential framing test (issue 14): every case of the corpus in tests/framing/ is sent, on a
fresh connection, to httpsd and to nginx (Debian's /usr/sbin/nginx, started here with its own
config and prefix), and the two answers are compared. nginx is the reference for "laxer" only:
httpsd must agree with nginx on how many requests a byte string holds and where each ends, or
be the stricter one.

What is observed. Behind nginx is a small upstream in this file; behind httpsd the WSGI app
apps/framing.py. Both answer every request they are given with the same facts line (X-Facts
header): method, target, protocol, and the body as read to its end (length, first bytes, a
digest). nginx reads the whole body before it proxies (request buffering), so for both
servers an answered request is a request that was framed and executed. A smuggled request,
a body that swallows the next request or a mis-sized body changes the facts or the number of
answered requests.

How a case is run (per server): connect, send the bytes, read until the server closes or
stays silent for QUIET seconds. Each response is "accepted" (2xx/3xx, or an HTTP/0.9 answer)
with its facts, or "rejected" (4xx/5xx). If the connection is still open at the end, the
server is waiting (for more of a request, or idle) and it gets BLOB, 16 KiB of "Z": a server
waiting in a request head answers it with an error, a server waiting for the rest of a body
runs the request. That turns "waiting" into something observable: a server that accepted a
head nginx refused (e.g. read `Content-Length: 5 5` as 55) shows up when the blob completes
the body. (No half-close: shutdown(SHUT_WR) handling is being changed in httpsd.)

The rule, response by response (results before and after the blob, in order):
  - both accepted: the facts must be equal, else LAXER
  - nginx accepted, httpsd rejected: httpsd is stricter
  - nginx rejected, httpsd accepted: LAXER
  - both rejected: agree (the statuses may differ, e.g. nginx 400 vs httpsd 501; counted)
  - only httpsd answered (nginx closed or waited): an acceptance is LAXER, a rejection is fine
  - only nginx answered: httpsd closed or waited there, so it is stricter (or equal if nginx's
    answer was a rejection)
A server that waits where the other rejects is therefore neutral unless the blob makes it run
the request. Any LAXER case fails the test; each is re-run alone with a longer QUIET first so
that a slow answer cannot pass for a missing one.

The harness checks itself: the @ok cases must be accepted by both servers with equal facts,
nginx must reject the first request of every @bad case and wait, then run the request, in
every @blob case; a 5xx from the upstream path or an unparsable response stream is a harness
error; test_compare_flags_laxer feeds compare() synthetic results it must call laxer.

nginx 1.22 (Debian 12, default settings but the body limit) as seen by this corpus: it answers
HTTP/0.9 requests (`GET /\r\n`) without a status line; it skips header lines whose name is
not a token (ignore_invalid_headers) instead of refusing them; it accepts bare LF line ends,
'#' in the target, obs-text in values, unknown methods made of A-Z, '_' and '-' (`-BLARGH`,
`QUERY`) and HTTP/1.2 to 1.99; it refuses `*` targets, userinfo in absolute form, %00 and bad
percent escapes, dot-segments above the root, a tab or 0x0c in the target, an empty or '.'
Host, duplicate Expect, more than 4 x 8 KiB of header lines; TRACE is 405, a leading HTAB in a
Transfer-Encoding value makes it 501 (only SP is skipped after the colon); after a 413 it keeps
reading (the connection stays open); it answers 414 to the blob.

    HTTPSD_BIN=$PWD/build/httpsd /usr/bin/python3 -m pytest tests/integration/test_differential.py -q -s
    (FRAMING_REPORT=FILE also writes every case with both outcomes to FILE)
"""

import concurrent.futures
import os
import re
import select
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time

import pytest

from conftest import REPO, free_port
from wsgihelp import APPS, start

sys.path.insert(0, os.path.join(REPO, "tests", "framing"))
sys.path.insert(0, APPS)
import corpus  # noqa: E402
import gen  # noqa: E402
import framing as facts_app  # noqa: E402  (apps/framing.py: the facts line)

NGINX = "/usr/sbin/nginx"
QUIET = 0.5  # seconds of silence after which a server is taken to be waiting
RECHECK_QUIET = 2.0  # the same, when a laxer verdict is confirmed case by case
CASE_DEADLINE = 15.0  # no case may take longer on one server (a trickling answer)
BLOB = b"Z" * 16384
WORKERS = 24
BODY_LIMIT = "1m"  # httpsd --limit-request-body and nginx client_max_body_size

FACTS_RE = re.compile(r"^m=[^;]*;t=[^;]*;v=[^;]*;n=\d+;b=[^;]*;h=[0-9a-f]{16}$")


# --------------------------------------------------------------------------
# nginx and the upstream behind it
# --------------------------------------------------------------------------

class _UpstreamHandler(socketserver.BaseRequestHandler):
    """One request from nginx (HTTP/1.0, Content-Length, the X-Fr-* headers set in the config):
    answer with the facts of the client's request."""

    def handle(self):
        s = self.request
        s.settimeout(10)
        buf = b""
        try:
            while b"\r\n\r\n" not in buf:
                d = s.recv(65536)
                if not d:
                    return
                buf += d
            head, body = buf.split(b"\r\n\r\n", 1)
            fields = {}
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                fields[k.strip().lower()] = v.strip(b" \t")
            n = int(fields.get(b"content-length", b"0"))
            while len(body) < n:
                d = s.recv(65536)
                if not d:
                    return
                body += d
            line = facts_app.facts(fields.get(b"x-fr-method", b""), fields.get(b"x-fr-uri", b""),
                                   fields.get(b"x-fr-proto", b""), body[:n])
            out = b"" if fields.get(b"x-fr-method") == b"HEAD" else (line + "\n").encode()
            s.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                      b"X-Facts: %s\r\n\r\n" % (len(line) + 1, line.encode()) + out)
        except OSError:
            pass


class _Upstream(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256  # the default 5 drops SYNs under load: 1 s retransmit stalls


NGINX_CONF = """\
# test_differential.py: nginx as the framing reference, everything under this prefix.
daemon off;
master_process off;
worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log info;
events {{ worker_connections 2048; }}
http {{
    access_log {tmp}/access.log;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    # the same limits as httpsd's options below; header buffers and the rest stay at nginx's
    # defaults (large_client_header_buffers 4 8k, ignore_invalid_headers on,
    # underscores_in_headers off)
    client_max_body_size {limit};
    client_body_buffer_size {limit};
    client_header_timeout 10s;
    client_body_timeout 10s;
    keepalive_timeout 10s;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            # request buffering (the default) reads the whole body before the upstream sees it
            proxy_pass http://127.0.0.1:{upstream};
            proxy_pass_request_headers off;
            proxy_set_header X-Fr-Method $request_method;
            proxy_set_header X-Fr-Uri $request_uri;
            proxy_set_header X-Fr-Proto $server_protocol;
            proxy_read_timeout 10s;
        }}
    }}
}}
"""


class Nginx:
    """/usr/sbin/nginx in the foreground with a config and prefix of its own."""

    def __init__(self, tmp, upstream_port):
        self.tmp = tmp
        self.proc = None
        last = ""
        for _ in range(3):  # free_port() can race with another process: retry
            self.port = free_port()
            with open(os.path.join(tmp, "nginx.conf"), "w") as f:
                f.write(NGINX_CONF.format(tmp=tmp, port=self.port, upstream=upstream_port,
                                          limit=BODY_LIMIT))
            self.proc = subprocess.Popen(
                [NGINX, "-p", tmp + "/", "-c", os.path.join(tmp, "nginx.conf"),
                 "-e", os.path.join(tmp, "error.log")],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            if self._wait_listening():
                return
            self.stop()
            last = self.error_log()
        pytest.fail("nginx did not start; error log:\n%s" % last[-3000:])

    def _wait_listening(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return True
            except OSError:
                time.sleep(0.05)
        return False

    def error_log(self):
        try:
            with open(os.path.join(self.tmp, "error.log"), errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful, then hard
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


# --------------------------------------------------------------------------
# Sending a case, parsing the answer
# --------------------------------------------------------------------------

class Result:
    """One response: status (0 = an HTTP/0.9 answer without a status line) and the facts line
    (None when the response carries none)."""

    def __init__(self, status, facts=None):
        self.status = status
        self.facts = facts

    @property
    def accepted(self):
        return (self.status == 0 and self.facts is not None) or 200 <= self.status < 400

    def __eq__(self, other):
        return (self.status, self.facts) == (other.status, other.facts)

    def __repr__(self):
        return "Result(%d, %r)" % (self.status, self.facts)

    def short(self):
        if not self.accepted:
            return str(self.status) if self.status else "0.9-error"
        if self.facts is None:
            return "%d(no facts)" % self.status
        f = dict(kv.split("=", 1) for kv in self.facts.split(";"))
        body = " body=%s:%s" % (f["n"], f["b"]) if f["n"] != "0" else ""
        return "%s[%s %s %s%s]" % ("0.9" if self.status == 0 else self.status, f["m"], f["t"],
                                   f["v"] or "-", body)


class Observation:
    """What one server did with one case."""

    def __init__(self):
        self.results = []  # [Result] before and after the blob, in order
        self.n_before_blob = 0
        self.closed = False  # the server closed after the case's bytes (before any blob)
        self.closed_after_blob = None  # None: no blob was sent
        self.problems = []  # harness-level trouble: unparsable answers and the like
        self.raw = b""

    def short(self):
        parts = [r.short() for r in self.results[:self.n_before_blob]]
        s = " ".join(parts) or "-"
        if self.closed:
            return s + " close"
        s += " wait"
        if self.closed_after_blob is None:
            return s + " (not reading)"
        after = [r.short() for r in self.results[self.n_before_blob:]]
        s += " +blob: " + (" ".join(after) or "-")
        s += " close" if self.closed_after_blob else " wait"
        return s


def _exchange(sock, data, quiet, deadline):
    """Send data while reading; stop at EOF/reset or after quiet seconds without progress.
    Returns (bytes received, closed, whether all of data was sent)."""
    got = []
    sent = 0
    last = time.monotonic()
    closed = False
    while True:
        now = time.monotonic()
        if now >= deadline or now - last >= quiet:
            break
        wants_write = [sock] if sent < len(data) else []
        r, w, _ = select.select([sock], wants_write, [], min(quiet - (now - last), 0.1))
        if r:
            try:
                d = sock.recv(65536)
            except (ConnectionResetError, ConnectionAbortedError):
                d = b""
            if not d:
                closed = True
                break
            got.append(d)
            last = time.monotonic()
        if w:
            try:
                n = sock.send(data[sent:sent + 65536])
            except BlockingIOError:
                n = 0
            except (BrokenPipeError, ConnectionResetError):
                n = len(data) - sent  # the server is gone: read what it said
            if n:
                sent += n
                last = time.monotonic()
    return b"".join(got), closed, sent == len(data)


_STATUS = re.compile(rb"HTTP/1\.[01] (\d{3})(?: [^\r\n]*)?")
_FIELD = re.compile(rb"([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([^\r\n]*?)[ \t]*")


def _chunked_length(buf, pos):
    """Length of the chunked body at buf[pos:], or None if it is incomplete."""
    p = pos
    while True:
        e = buf.find(b"\r\n", p)
        if e < 0:
            return None
        size = int(buf[p:e].split(b";")[0], 16)
        p = e + 2
        if size == 0:
            t = buf.find(b"\r\n", p) if buf[p:p + 2] == b"\r\n" else buf.find(b"\r\n\r\n", p)
            if t < 0:
                return None
            return (t + 2 if buf[p:p + 2] == b"\r\n" else t + 4) - pos
        p += size + 2
        if p > len(buf):
            return None


def parse_responses(buf, closed):
    """Split a server's byte stream into Results. Returns (results, rest, problem): rest is
    an incomplete last response (only when the connection is still open), problem a
    description of bytes that are no HTTP/1.x response, or None."""
    out = []
    try:
        return _parse_responses(buf, closed, out)
    except ValueError as e:  # a bad Content-Length or chunk size in a response
        return out, b"", "bad response framing (%s): %r" % (e, buf[:300])


def _parse_responses(buf, closed, out):
    pos = 0
    while pos < len(buf):
        start = pos
        if not buf.startswith(b"HTTP/", pos):
            if not closed:
                return out, buf[pos:], None
            # an HTTP/0.9 answer: no status line, the body until close is the whole answer
            text = buf[pos:].decode("latin-1").strip()
            if FACTS_RE.match(text):
                out.append(Result(0, text))
            elif re.match(r"<html>.*<h1>\d{3} [^<]*</h1>", text, re.S):
                out.append(Result(0))  # nginx's error page for a 0.9 request
            else:
                return out, b"", "unparsable bytes: %r" % buf[pos:pos + 200]
            return out, b"", None
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            if closed:
                return out, b"", "truncated response head: %r" % buf[pos:pos + 200]
            return out, buf[pos:], None
        lines = buf[pos:end].split(b"\r\n")
        m = _STATUS.fullmatch(lines[0])
        if not m:
            return out, b"", "bad status line %r" % lines[0]
        status = int(m.group(1))
        fields = {}
        for line in lines[1:]:
            fm = _FIELD.fullmatch(line)
            if not fm:
                return out, b"", "bad response field %r" % line
            fields.setdefault(fm.group(1).lower().decode(), fm.group(2).decode("latin-1"))
        pos = end + 4
        if 100 <= status < 200:
            continue  # 100 Continue: not the answer to the request
        facts = fields.get("x-facts")
        if facts is not None and not FACTS_RE.match(facts):
            return out, b"", "bad X-Facts %r" % facts
        length = fields.get("content-length")
        if status in (204, 304) or (facts and facts.startswith("m=HEAD;")):
            blen = 0
        elif "chunked" in fields.get("transfer-encoding", "").lower():
            blen = _chunked_length(buf, pos)
            if blen is None:
                blen = len(buf) + 1 - pos  # incomplete
        elif length is not None:
            blen = int(length)
            # an error answer to HEAD has Content-Length but no body: the next response follows
            if facts is None and buf.startswith(b"HTTP/1.", pos):
                blen = 0
        else:  # until close
            blen = len(buf) - pos if closed else len(buf) + 1 - pos
        if pos + blen > len(buf):
            if not closed:
                return out, buf[start:], None
            if facts is not None:
                return out, b"", "truncated body of %r" % facts
            blen = len(buf) - pos  # an error answer cut short by the close: fine
        out.append(Result(status, facts if 200 <= status < 400 else None))
        pos += blen
    return out, b"", None


def observe(port, data, quiet=QUIET):
    """Run one case against the server on 127.0.0.1:port."""
    o = Observation()
    deadline = time.monotonic() + CASE_DEADLINE
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError as e:
        o.problems.append("connect: %s" % e)
        return o
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    try:
        raw, o.closed, sent_all = _exchange(sock, data, quiet, deadline)
        o.raw = raw
        results, rest, problem = parse_responses(raw, o.closed)
        o.results = results
        o.n_before_blob = len(results)
        if problem:
            o.problems.append(problem)
        elif not o.closed and sent_all:  # (a server that stopped reading gets no blob)
            raw2, o.closed_after_blob, _ = _exchange(sock, BLOB, quiet, deadline)
            o.raw += raw2
            results, rest, problem = parse_responses(rest + raw2, o.closed_after_blob)
            o.results += results
            if problem:
                o.problems.append(problem)
            if rest and not o.closed_after_blob and time.monotonic() >= deadline:
                o.problems.append("answer still incomplete after %ss" % CASE_DEADLINE)
    finally:
        sock.close()
    return o


# --------------------------------------------------------------------------
# The comparison
# --------------------------------------------------------------------------

AGREE, STRICTER, LAXER = "agree", "stricter", "LAXER"


def compare(ngx, hs):
    """Compare the Results of nginx and of httpsd for one case.
    Returns (verdict, reason): AGREE, STRICTER (httpsd accepted less) or LAXER."""
    verdict, reason = AGREE, ""
    for i in range(max(len(ngx), len(hs))):
        n = ngx[i] if i < len(ngx) else None
        h = hs[i] if i < len(hs) else None
        if n is None:
            if h.accepted:
                return LAXER, "request %d: httpsd accepted, nginx did not answer" % (i + 1)
        elif h is None:
            if n.accepted and verdict == AGREE:
                verdict, reason = STRICTER, "request %d: nginx accepted, httpsd did not " \
                    "answer" % (i + 1)
        elif h.accepted and not n.accepted:
            return LAXER, "request %d: httpsd accepted, nginx answered %d" % (i + 1, n.status)
        elif h.accepted and h.facts != n.facts:
            return LAXER, "request %d: different facts: nginx %s, httpsd %s" % (
                i + 1, n.facts, h.facts)
        elif n.accepted and not h.accepted and verdict == AGREE:
            verdict, reason = STRICTER, "request %d: nginx accepted, httpsd answered %d" % (
                i + 1, h.status)
    return verdict, reason


def test_compare_flags_laxer():
    """compare() itself: the harness can fail."""
    f1 = "m=GET;t=/;v=HTTP/1.1;n=0;b=;h=e3b0c44298fc1c14"
    f2 = "m=GET;t=/next;v=HTTP/1.1;n=0;b=;h=e3b0c44298fc1c14"
    f3 = "m=POST;t=/;v=HTTP/1.1;n=5;b=hello;h=2cf24dba5fb0a30e"
    A, R = Result, Result
    assert compare([A(200, f1)], [A(200, f1)])[0] == AGREE
    assert compare([R(400)], [R(501)])[0] == AGREE
    assert compare([A(200, f1), R(400)], [A(200, f1)])[0] == AGREE
    assert compare([A(200, f1)], [R(400)])[0] == STRICTER
    assert compare([A(200, f1), A(200, f2)], [A(200, f1)])[0] == STRICTER
    assert compare([A(200, f1)], [])[0] == STRICTER
    assert compare([R(400)], [A(200, f1)])[0] == LAXER  # accepts what nginx refuses
    assert compare([], [A(200, f1)])[0] == LAXER  # nginx waits, httpsd runs it
    assert compare([A(200, f1)], [A(200, f1), A(200, f2)])[0] == LAXER  # smuggled extra
    assert compare([A(200, f3)], [A(200, f3.replace("n=5", "n=6"))])[0] == LAXER  # body size
    assert compare([A(200, f1), A(200, f2)], [A(200, f1), A(200, f3)])[0] == LAXER
    assert compare([A(200, f1), R(400)], [R(400), A(200, f2)])[0] == LAXER
    assert compare([A(200, f1)], [A(302, None)])[0] == LAXER
    assert compare([A(0, f1)], [R(400)])[0] == STRICTER


def test_parse_responses():
    f = b"m=GET;t=/;v=HTTP/1.1;n=0;b=;h=e3b0c44298fc1c14"
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Facts: %s\r\n\r\n%s\n" % (len(f) + 1, f, f)
    bad = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbad"
    res, rest, problem = parse_responses(ok + ok[:30], False)
    assert [r.status for r in res] == [200] and rest == ok[:30] and problem is None
    res, rest, problem = parse_responses(b"HTTP/1.1 100 Continue\r\n\r\n" + ok + bad, True)
    assert [(r.status, r.facts) for r in res] == [(200, f.decode()), (400, None)], res
    res, rest, problem = parse_responses(f + b"\n", True)
    assert [r.status for r in res] == [0] and problem is None
    res, rest, problem = parse_responses(b"garbage\r\n\r\n", True)
    assert problem
    res, rest, problem = parse_responses(b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n", True)
    assert problem and not res
    res, rest, problem = parse_responses(ok[:-3], True)  # an accepted answer cut short
    assert problem and not res


# --------------------------------------------------------------------------
# The differential run
# --------------------------------------------------------------------------

def esc(data, limit=300):
    text = corpus.escape(data)
    return text if len(text) <= limit else text[:limit] + "...(%d bytes)" % len(data)


@pytest.fixture(scope="module")
def servers(httpsd_module, tmp_path_factory):
    if not os.access(NGINX, os.X_OK):
        pytest.fail("%s not found: install Debian's nginx package (./test.sh does)" % NGINX)
    up = _Upstream(("127.0.0.1", 0), _UpstreamHandler)
    t = threading.Thread(target=up.serve_forever, daemon=True)
    t.start()
    tmp = tempfile.mkdtemp(prefix="ngx-", dir=str(tmp_path_factory.mktemp("nginx")))
    ngx = Nginx(tmp, up.server_address[1])
    hs = start(httpsd_module, "framing:application", "--threads", 4, "--max-queue", 1024,
               "--limit-request-body", BODY_LIMIT, "--keep-alive", 10, "--header-timeout", 10,
               "--io-timeout", 10, "--timeout", 10)
    yield ngx, hs
    ngx.stop()
    up.shutdown()
    up.server_close()
    log = ngx.error_log()
    shutil.rmtree(tmp, ignore_errors=True)
    bad = [l for l in log.splitlines() if re.search(r"\[(alert|emerg|crit)\]", l)]
    assert not bad, "nginx error log:\n" + "\n".join(bad[:20])


def run_case(ngx_port, hs_port, case, quiet=QUIET):
    n = observe(ngx_port, case.data, quiet)
    h = observe(hs_port, case.data, quiet)
    verdict, reason = compare(n.results, h.results)
    return n, h, verdict, reason


def test_generated_corpus_is_current():
    with open(gen.OUT, encoding="latin-1") as f:
        assert f.read() == gen.text(), "tests/framing/generated.txt is stale: run gen.py"


def test_differential_framing(servers):
    ngx, hs = servers
    cases = corpus.load()
    assert len(cases) >= 300, len(cases)
    assert sum(1 for c in cases if c.ok_count) >= 20
    assert sum(1 for c in cases if c.tag == "bad") >= 10
    assert any(c.tag == "blob" for c in cases)
    t0 = time.monotonic()
    port_n, port_h = ngx.port, hs.http.port
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        outcomes = list(pool.map(lambda c: run_case(port_n, port_h, c), cases))
        # confirm every laxer verdict with a longer quiet time: a slow answer from nginx
        # must not pass for a missing one
        again = [i for i, (n, h, verdict, _) in enumerate(outcomes)
                 if verdict == LAXER or n.problems or h.problems]
        rechecked = {cases[i].name: outcomes[i] for i in again}
        for i, o in zip(again, pool.map(
                lambda i: run_case(port_n, port_h, cases[i], RECHECK_QUIET), again)):
            outcomes[i] = o
    elapsed = time.monotonic() - t0
    hs.assert_alive()

    laxer, stricter, agree, selfcheck, harness, flaky, table = [], [], [], [], [], [], []
    rfc = []  # @rfc cases: nginx departs from the RFC, httpsd follows it
    status_pairs = {}
    waits = []
    for c, (n, h, verdict, reason) in zip(cases, outcomes):
        for who, o in (("nginx", n), ("httpsd", h)):
            for p in o.problems:
                harness.append("%s: %s: %s" % (c.name, who, p))
        for r in n.results:
            if r.status in (500, 502, 503, 504):
                harness.append("%s: nginx answered %d (upstream trouble?)" % (c.name, r.status))
        for r in h.results:
            if r.status in (500, 503, 504):
                harness.append("%s: httpsd answered %d (app or queue trouble?)" % (c.name,
                                                                                   r.status))
        line = "%s\n      bytes:  %s\n      nginx:  %s\n      httpsd: %s\n      why:    %s" % (
            c.name, esc(c.data), n.short(), h.short(), reason)
        table.append("%s %s\n" % (verdict, line))
        if verdict == LAXER and c.rfc_count is not None:
            acc = [r for r in h.results[:h.n_before_blob] if r.accepted and r.facts]
            if len(acc) == c.rfc_count and len(acc) == h.n_before_blob:
                rfc.append("%s (nginx: %s; httpsd: %s)" % (c.name, n.short(), h.short()))
            else:
                laxer.append(line + "\n      (@rfc=%d: httpsd must accept exactly that many)"
                             % c.rfc_count)
        elif verdict == LAXER:
            laxer.append(line)
        elif verdict == STRICTER:
            stricter.append("%s: %s (nginx: %s; httpsd: %s)" % (c.name, reason, n.short(),
                                                                 h.short()))
        else:
            agree.append(c.name)
        if c.name in rechecked and rechecked[c.name][2] != verdict:
            n1, h1, v1, why1 = rechecked[c.name]
            flaky.append("%s: %s at first (nginx %s; httpsd %s; %s), then %s" % (
                c.name, v1, n1.short(), h1.short(), why1, verdict))
        for a, b in zip(n.results[:n.n_before_blob], h.results[:h.n_before_blob]):
            if not a.accepted and not b.accepted and a.status != b.status:
                status_pairs.setdefault((a.status, b.status), []).append(c.name)
        if n.closed and not h.closed and h.n_before_blob < len(n.results):
            waits.append(c.name)
        # self-checks of the harness
        if c.ok_count is not None:
            for who, o in (("nginx", n), ("httpsd", h)):
                acc = [r for r in o.results[:o.n_before_blob] if r.accepted and r.facts]
                if len(acc) != c.ok_count or len(acc) != o.n_before_blob:
                    selfcheck.append("%s (@ok=%d): %s: %s" % (c.name, c.ok_count, who, o.short()))
            if verdict != AGREE:
                selfcheck.append("%s (@ok): %s: %s" % (c.name, verdict, reason))
        if c.tag == "bad" and n.results and n.results[0].accepted:
            selfcheck.append("%s (@bad): nginx accepted it: %s" % (c.name, n.short()))
        if c.tag == "blob" and (n.closed or n.n_before_blob or not any(
                r.accepted for r in n.results)):
            selfcheck.append("%s (@blob): nginx did not wait, then run it: %s" % (c.name,
                                                                                 n.short()))

    summary = ["", "== differential framing: %d cases in %.1fs (%d rechecked), %d agree, "
               "%d httpsd stricter, %d httpsd LAXER" % (len(cases), elapsed, len(rechecked),
                                                         len(agree), len(stricter), len(laxer))]
    if status_pairs:
        summary.append("-- both rejected with different statuses (nginx, httpsd): not a failure")
        for (a, b), names in sorted(status_pairs.items()):
            summary.append("   %s vs %s: %d: %s" % (a, b, len(names), " ".join(names)))
    if waits:
        summary.append("-- httpsd still waiting where nginx had closed (%d; the blob then "
                       "decided): %s" % (len(waits), " ".join(waits)))
    if flaky:
        summary.append("-- verdict changed on the recheck (timing):")
        summary += ["   " + s for s in flaky]
    summary.append("-- httpsd stricter (%d):" % len(stricter))
    summary += ["   " + s for s in stricter]
    summary.append("-- nginx departs from the RFC, httpsd follows it (@rfc, %d):" % len(rfc))
    summary += ["   " + s for s in rfc]
    summary.append("-- httpsd LAXER than nginx (%d):" % len(laxer))
    summary += ["   " + s for s in laxer]
    text = "\n".join(summary)
    print(text)
    if os.environ.get("FRAMING_REPORT"):  # every case with both outcomes, for review
        with open(os.environ["FRAMING_REPORT"], "w") as f:
            f.write(text + "\n\n== every case\n" + "".join(table))

    assert not harness, "harness errors:\n" + "\n".join(harness[:50])
    assert not selfcheck, "self-check failed:\n" + "\n".join(selfcheck)
    assert not laxer, "httpsd is laxer than nginx in %d cases:\n%s" % (
        len(laxer), "\n".join(laxer))
