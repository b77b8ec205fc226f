"""Slow-client defences (issue 14): an app thread runs Python, it never waits on a client.

- request bodies are read whole before the app runs (default; --no-request-buffering streams);
- a response whose client does not read goes on into a temporary file (--response-spool), so
  the app finishes and its iterable is closed; past that it parks its iterable instead of
  holding a thread, and is resumed on whichever thread is free when the client reads again;
- --buffer-memory / --buffer-disk bound the bodies held for the app, 503 beyond;
- --min-rate cuts transfers that crawl.

The legit client's view is measured with httpsd-load (the real load client) while the
attack runs: 0 errors and p99 under 100 ms."""

import json
import os
import socket
import subprocess
import threading
import time

import pytest

from conftest import BIN, connect, raw_connect
from wsgihelp import (APPS, chunk_bytes, env_of, markers, server_env, start,  # noqa: F401
                      wait_marker)

LOAD = os.environ.get("HTTPSD_LOAD_BIN") or os.path.join(os.path.dirname(BIN), "httpsd-load")


def legit_load(lst, path="/env", seconds=3, conns=4):
    """httpsd-load against lst for `seconds`; returns its JSON report."""
    url = "%s://%s%s" % ("https" if lst.tls else "http", lst.hostport, path)
    p = subprocess.run([LOAD, "-q", "-k", "-p", "1", "-c", str(conns), "-d", "%ds" % seconds,
                        "--timeout", "5s", "--json", url], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=seconds + 30)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


def is_asan_build():
    with open(BIN, "rb") as f:
        return b"__asan_init" in f.read()


def assert_legit_ok(rep, what):
    errors = sum(rep["errors"].values())
    p99_ms = rep["latency_us"]["p99"] / 1000
    assert rep["requests"] > 100 and errors == 0 and set(rep["status"]) == {"200"}, \
        "%s: legit client %r" % (what, rep)
    limit = 300 if is_asan_build() else 100  # the 100 ms; ASan is several times slower
    assert p99_ms < limit, "%s: legit client p99 %.1f ms" % (what, p99_ms)


# ---------------------------------------------------------------------------
# Slow uploads hold no app thread (request buffering)
# ---------------------------------------------------------------------------

def slow_uploaders(lst, n, stop, body_len=100000, path="/echo?mode=read"):
    """n connections that send a head promising body_len bytes, then one byte a second."""
    socks = []
    for _ in range(n):
        s = raw_connect(lst, timeout=5)
        s.sendall(("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                   % (path, body_len)).encode())
        socks.append(s)

    def trickle():
        while not stop.is_set():
            for s in socks:
                try:
                    s.send(b"a")
                except OSError:
                    pass
            stop.wait(1)
        for s in socks:
            s.close()
    t = threading.Thread(target=trickle, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("scheme", ["http"])
def test_slow_uploads_leave_the_app_to_everyone_else(httpsd, scheme):
    # 2 threads + 4 queued: 6 streamed uploads used to take the whole app (every request 503)
    srv = start(httpsd, "wsgi_basic:app", "--max-queue", "4", threads=2)
    lst = srv.listener(scheme)
    stop = threading.Event()
    t = slow_uploaders(lst, 40, stop)
    try:
        time.sleep(1)
        assert_legit_ok(legit_load(lst), "40 slow uploads")
    finally:
        stop.set()
        t.join()


def test_no_request_buffering_streams_into_the_running_app(httpsd, markers):
    """--no-request-buffering: the app starts before the body has arrived (its first read
    returns the first bytes while the rest is still to come)."""
    srv = start(httpsd, "wsgi_basic:app", "--no-request-buffering", threads=2,
                marker_dir=markers)
    c = connect(srv.listener("http"), timeout=10)
    try:
        c.send(b"POST /sleep?s=0&started=early HTTP/1.1\r\nHost: x\r\n"
               b"Content-Length: 200000\r\n\r\n" + b"a" * 1000)
        assert wait_marker(markers, "early", timeout=5), "the app did not start before the body"
        c.send(b"a" * 199000)
        r = c.read_response()
        assert r.status == 200
    finally:
        c.close()


def test_buffered_body_app_starts_after_the_whole_body(httpsd, markers):
    srv = start(httpsd, "wsgi_basic:app", threads=2, marker_dir=markers)
    c = connect(srv.listener("http"), timeout=10)
    try:
        c.send(b"POST /sleep?s=0&started=late HTTP/1.1\r\nHost: x\r\n"
               b"Content-Length: 200000\r\n\r\n" + b"a" * 1000)
        assert wait_marker(markers, "late", timeout=1) is None, "the app ran before the body"
        c.send(b"a" * 199000)
        r = c.read_response()
        assert r.status == 200
        assert wait_marker(markers, "late", timeout=5)
    finally:
        c.close()


# ---------------------------------------------------------------------------
# Slow readers hold no app thread (parked iterables)
# ---------------------------------------------------------------------------

def never_reading_clients(lst, n, path):
    socks = []
    for _ in range(n):
        s = raw_connect(lst, timeout=5, rcvbuf=4096)
        s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
        socks.append(s)
    return socks


def read_http_body(s, timeout=30):
    """Read one response (close-delimited or chunked, as the app sends it) and return the
    de-chunked body."""
    s.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        d = s.recv(65536)
        assert d, "closed before the head"
        data += d
    head, rest = data.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200"), head
    assert b"transfer-encoding: chunked" in head.lower(), head
    body = b""
    buf = rest
    while True:
        while b"\r\n" not in buf:
            d = s.recv(65536)
            assert d, "closed mid-body"
            buf += d
        line, buf = buf.split(b"\r\n", 1)
        size = int(line, 16)
        while len(buf) < size + 2:
            d = s.recv(1 << 20)
            assert d, "closed mid-chunk"
            buf += d
        if size == 0:
            return body
        body += buf[:size]
        buf = buf[size + 2:]


@pytest.mark.parametrize("spool", ["0", "64m"])
def test_slow_readers_leave_the_app_to_everyone_else(httpsd, markers, spool):
    """Parked (--response-spool 0) or spooled, stalled responses leave the threads free."""
    srv = start(httpsd, "wsgi_basic:app", "--max-queue", "4", "--response-spool", spool,
                threads=2, marker_dir=markers)
    lst = srv.listener("http")
    # 8 clients that never read a 16 MiB streamed response: before, 2 of them took both threads
    # for --io-timeout and every other request waited or got 503
    socks = never_reading_clients(lst, 8, "/ctxstream?n=256&size=65536&tag=slow")
    try:
        time.sleep(1)
        assert_legit_ok(legit_load(lst), "8 clients that never read")
    finally:
        for s in socks:
            s.close()


def test_parked_responses_resume_whole_and_in_their_context(httpsd, markers):
    """Responses parked while their clients stall are resumed by whichever thread is free,
    byte for byte, with their contextvars intact, and close() runs once each (no spool: each
    response parks)."""
    srv = start(httpsd, "wsgi_basic:app", "--response-spool", "0", threads=2, marker_dir=markers)
    lst = srv.listener("http")
    n, size = 48, 65536
    socks = [raw_connect(lst, timeout=30, rcvbuf=4096) for _ in range(6)]
    for i, s in enumerate(socks):
        s.sendall(("GET /ctxstream?n=%d&size=%d&tag=t%d&marker=ctx%d HTTP/1.1\r\nHost: x\r\n\r\n"
                   % (n, size, i, i)).encode())
    time.sleep(1)  # every response is stalled: threads parked them for each other
    for _ in range(20):  # meanwhile the app serves others
        assert env_of(lst)["REQUEST_METHOD"] == "GET"
    results = [None] * len(socks)

    def reader(i):
        results[i] = read_http_body(socks[i])
    ts = [threading.Thread(target=reader, args=(i,)) for i in range(len(socks))]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    for s in socks:
        s.close()
    expect = b"".join(chunk_bytes(i, size) for i in range(n))
    for i, body in enumerate(results):
        assert body is not None, "response %d incomplete" % i
        assert body.startswith(expect), "response %d corrupted" % i
        tail = body[len(expect):].decode()
        assert tail.startswith("\nctx ok threads"), "response %d: %r" % (i, tail)
    for i in range(len(socks)):
        assert wait_marker(markers, "ctx%d" % i) == ["done ok"]


def test_parked_response_of_a_vanished_client_is_closed(httpsd, markers):
    """A client that stalls (its response parks) and then goes away: the iterable's close()
    runs (on some app thread), nothing is left behind (no spool: the response parks)."""
    srv = start(httpsd, "wsgi_basic:app", "--response-spool", "0", threads=1, marker_dir=markers)
    lst = srv.listener("http")
    s = raw_connect(lst, timeout=5, rcvbuf=4096)
    s.sendall(b"GET /big?mb=64&marker=vanished HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.5)
    assert env_of(lst)["REQUEST_METHOD"] == "GET"  # the one thread parked it for this
    s.close()
    assert wait_marker(markers, "vanished", timeout=10) == ["closed"]
    assert env_of(lst)["REQUEST_METHOD"] == "GET"


# ---------------------------------------------------------------------------
# --response-spool: the app finishes, the loop sends the rest from a file
# ---------------------------------------------------------------------------

BIG_BLOCK = bytes(range(256)) * 4096  # /big's 1 MiB block


def spool_files(srv, spool_dir):
    """The server's open temporary files in spool_dir: {fd: size}."""
    pid = srv.worker_pid
    out = {}
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            target = os.readlink("/proc/%d/fd/%s" % (pid, fd))
            if target.startswith(str(spool_dir) + "/"):
                out[int(fd)] = os.stat("/proc/%d/fd/%s" % (pid, fd)).st_size
        except FileNotFoundError:
            pass
    return out


def spool_server(httpsd, tmp_path, markers, *args, threads=1, binds=None):
    spool = tmp_path / "spool"
    spool.mkdir()
    kw = {"binds": binds} if binds else {}
    srv = start(httpsd, "wsgi_basic:app", *args, threads=threads, marker_dir=markers,
                env=server_env(markers, TMPDIR=str(spool)), **kw)
    return srv, spool


def stalled_get(lst, path, tls=False):
    """A client that sends a GET and reads nothing for now (small receive buffer)."""
    c = connect(lst, tls=tls, timeout=60, rcvbuf=4096)
    c.send(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    return c


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_slow_reader_spools_and_the_app_finishes(httpsd, tmp_path, markers, scheme):
    """A 20 MiB generator whose client reads nothing: the app runs to the end and its close()
    is called within seconds (its output waits in an unlinked temporary file), the one app
    thread serves others meanwhile, the client then gets every byte, and the file is gone."""
    srv, spool = spool_server(httpsd, tmp_path, markers,
                              binds=("https://127.0.0.1:0",) if scheme == "https" else None)
    lst = srv.listener(scheme)
    c = stalled_get(lst, "/big?mb=20&marker=spooled", tls=scheme == "https")
    assert wait_marker(markers, "spooled", timeout=5) == ["closed"]
    files = spool_files(srv, spool)
    assert len(files) == 1 and 15 << 20 <= sum(files.values()) <= 21 << 20, files
    assert env_of(lst)["REQUEST_METHOD"] == "GET"
    r = c.read_response(timeout=60)
    assert r.status == 200 and r.body == BIG_BLOCK * 20
    c.close()
    deadline = time.monotonic() + 5
    while spool_files(srv, spool) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spool_files(srv, spool) == {}
    assert os.listdir(str(spool)) == []


def test_spool_limit_parks_the_rest_and_resumes(httpsd, tmp_path, markers):
    """--response-spool 2m: the spool stops at 2 MiB (plus the 1 MiB block that crossed it),
    the iterable parks (not closed, no thread held), and resumes in order as the client
    reads; a file is reused, not grown, once the client has caught up."""
    srv, spool = spool_server(httpsd, tmp_path, markers, "--response-spool", "2m")
    lst = srv.listener("http")
    c = stalled_get(lst, "/big?mb=40&marker=limited")
    time.sleep(1.5)
    files = spool_files(srv, spool)
    assert len(files) == 1 and (1 << 20) <= sum(files.values()) <= (3 << 20), files
    assert not os.path.exists(os.path.join(str(markers), "limited"))  # parked, not finished
    assert env_of(lst)["REQUEST_METHOD"] == "GET"  # the one thread is free
    r = c.read_response(timeout=60)
    assert r.status == 200 and r.body == BIG_BLOCK * 40
    assert wait_marker(markers, "limited", timeout=10) == ["closed"]
    c.close()


def test_spool_write_callable_finishes_without_the_client(httpsd, tmp_path, markers):
    """The legacy write() callable cannot park, but it can spool: 8 MiB written to a client
    that reads nothing, and the app returns."""
    srv, spool = spool_server(httpsd, tmp_path, markers, threads=2)
    lst = srv.listener("http")
    c = stalled_get(lst, "/write?parts=128&pad=65536&marker=wrote&only=1")
    assert wait_marker(markers, "wrote", timeout=5) == ["written"]
    r = c.read_response(timeout=60)
    expect = b"".join(b"part%d;" % i + b"x" * 65536 for i in range(128))
    assert r.status == 200 and r.body == expect
    c.close()


def test_spool_of_a_vanished_client_is_freed(httpsd, tmp_path, markers):
    """A client that goes away with 20 MiB spooled: file closed, nothing left open."""
    srv, spool = spool_server(httpsd, tmp_path, markers)
    lst = srv.listener("http")
    c = stalled_get(lst, "/big?mb=20&marker=gone")
    assert wait_marker(markers, "gone", timeout=5) == ["closed"]
    assert spool_files(srv, spool)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    c.close()  # a reset: the server sees the error on its next write
    deadline = time.monotonic() + 10
    while spool_files(srv, spool) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert spool_files(srv, spool) == {}
    assert env_of(lst)["REQUEST_METHOD"] == "GET"


def test_spools_take_at_most_half_the_disk_budget(httpsd, tmp_path, markers):
    """--buffer-disk 16m: four stalled readers of 40 MiB spool 8 MiB in all (each may pass it
    by the one 1 MiB block that crossed it) and park the rest; an upload that needs 4 MiB of
    disk still gets it (--buffer-memory 1: bodies go straight to files). Every reader then
    gets its whole response."""
    srv, spool = spool_server(httpsd, tmp_path, markers, "--buffer-disk", "16m",
                              "--buffer-memory", "1", threads=2)
    lst = srv.listener("http")
    readers = [stalled_get(lst, "/big?mb=40&marker=half%d" % i) for i in range(4)]
    time.sleep(2)
    total = sum(spool_files(srv, spool).values())
    assert (8 << 20) <= total <= (12 << 20), total
    for i in range(4):
        assert not os.path.exists(os.path.join(str(markers), "half%d" % i))
    size = 4 << 20
    up = connect(lst, timeout=30)
    up.send(b"POST /hash HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size +
            b"u" * size)
    r = up.read_response()
    assert r.status == 200 and json.loads(r.body)["len"] == size, r
    up.close()
    for c in readers:
        r = c.read_response(timeout=60)
        assert r.status == 200 and r.body == BIG_BLOCK * 40
        c.close()


# ---------------------------------------------------------------------------
# --buffer-memory / --buffer-disk
# ---------------------------------------------------------------------------

def test_buffer_budget_503_and_given_back(httpsd, tmp_path):
    """With 1 MiB of memory and 1 MiB of disk for all bodies: two 900 KiB uploads in progress
    take most of it (one in memory, the other spilled to a file); a third is 503 at its head
    (its Content-Length does not fit) and a chunked one 503 when it outgrows what is left; once
    the two finish, the budget is there again."""
    spool = tmp_path / "spool"
    spool.mkdir()
    env = server_env(TMPDIR=str(spool))
    srv = start(httpsd, "wsgi_basic:app", "--buffer-memory", "1m", "--buffer-disk", "1m",
                threads=2, env=env)
    lst = srv.listener("http")
    size = 900 * 1024
    held = []
    for _ in range(2):
        c = connect(lst, timeout=10)
        c.send(b"POST /hash HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size +
               b"a" * (size - 10))
        held.append(c)
    time.sleep(0.5)
    c = connect(lst, timeout=10)
    c.send(b"POST /hash HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (300 * 1024))
    r = c.read_response()
    c.close()
    assert r.status == 503 and r.header("Retry-After") == "1", r
    c = connect(lst, timeout=10)
    c.send(b"POST /hash HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    try:
        for _ in range(8):
            c.send(b"10000\r\n" + b"b" * 65536 + b"\r\n")
    except OSError:
        pass
    r = c.read_response()
    c.close()
    assert r.status == 503, r
    for c in held:
        c.send(b"a" * 10)
        r = c.read_response()
        assert r.status == 200 and json.loads(r.body)["len"] == size, r
        c.close()
    # given back: two bodies that need all of the memory and all of the disk budget at once
    size = 1000 * 1024
    held = []
    for _ in range(2):
        c = connect(lst, timeout=10)
        c.send(b"POST /hash HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size +
               b"a" * (size - 10))
        held.append(c)
    time.sleep(0.3)
    for c in held:
        c.send(b"a" * 10)
        r = c.read_response()
        assert r.status == 200 and json.loads(r.body)["len"] == size, r
        c.close()
    assert os.listdir(str(spool)) == []  # temporary files are unlinked


# ---------------------------------------------------------------------------
# --min-rate
# ---------------------------------------------------------------------------

def test_min_rate_cuts_trickling_uploads_and_readers(httpsd):
    srv = start(httpsd, "wsgi_basic:app", "--min-rate", "2000", threads=2)
    lst = srv.listener("http")
    up = raw_connect(lst, timeout=30)
    up.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
    down = raw_connect(lst, timeout=30, rcvbuf=4096)
    down.sendall(b"GET /big?mb=64 HTTP/1.1\r\nHost: x\r\n\r\n")
    ok = raw_connect(lst, timeout=30)  # 10 KiB/s: well above the minimum
    ok.sendall(b"POST /hash HTTP/1.1\r\nHost: x\r\nContent-Length: 150000\r\n\r\n")
    t0 = time.monotonic()
    cut = {}
    sent = 0
    # The reader is judged on what moved while its response waited on it, kernel buffers
    # included: the send buffer the kernel grows in the first seconds can carry it past the
    # first 10 s window (cut in the second, ~21 s). The reset is seen through SO_ERROR at once,
    # not after the ~8 KiB still in its receive buffer have been read at 1 KiB/s.
    while time.monotonic() - t0 < 40 and len(cut) < 2:
        try:
            up.send(b"a" * 100)  # 1 KiB/s: under 2000 bytes/s
        except OSError:
            cut.setdefault("up", time.monotonic() - t0)
        try:
            if down.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                raise ConnectionResetError
            down.settimeout(0.01)
            if down.recv(100) == b"":  # about 1 KiB/s read
                cut.setdefault("down", time.monotonic() - t0)
        except socket.timeout:
            pass
        except OSError:
            cut.setdefault("down", time.monotonic() - t0)
        if sent < 150000:
            ok.send(b"c" * 1000)
            sent += 1000
        time.sleep(0.1)
    assert set(cut) == {"up", "down"}, cut
    assert all(9 < v < 40 for v in cut.values()), cut  # after a 10 s window, not before
    while sent < 150000:
        ok.send(b"c" * 1000)
        sent += 1000
    ok.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        data += ok.recv(65536)
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    for s in (up, down, ok):
        s.close()
    assert srv.wait_log(r"under --min-rate 2000 bytes/s", timeout=1)


# ---------------------------------------------------------------------------
# --timeout stops the app thread (best effort)
# ---------------------------------------------------------------------------

def test_timeout_raises_in_the_app_thread_and_frees_it(httpsd, markers):
    """A request computing in pure Python past --timeout gets its 504, and the thread running
    it gets httpsd.RequestTimeout at once (the app's `except` sees it), so the one thread is
    free for the next request long before the computation would have ended."""
    srv = start(httpsd, "wsgi_basic:app", "--timeout", "1", threads=1, marker_dir=markers)
    lst = srv.listener("http")
    t0 = time.monotonic()
    c = connect(lst, timeout=10)
    c.send(b"GET /spin?s=30&marker=spin HTTP/1.1\r\nHost: x\r\n\r\n")
    r = c.read_response()
    c.close()
    assert r.status == 504, r
    assert wait_marker(markers, "spin", timeout=5) == ["interrupted httpsd.RequestTimeout"]
    assert env_of(lst)["REQUEST_METHOD"] == "GET"  # the only thread is free again
    assert time.monotonic() - t0 < 10
    assert srv.wait_log(r"RequestTimeout", timeout=5)  # the traceback is logged


def test_timeout_exception_does_not_hit_the_next_request(httpsd, markers):
    """The app ends by itself right as the 504 fires: the exception, if not delivered, must
    not land in the next request on that thread."""
    srv = start(httpsd, "wsgi_basic:app", "--timeout", "1", threads=1, marker_dir=markers)
    lst = srv.listener("http")
    for i in range(5):
        c = connect(lst, timeout=10)
        c.send(b"GET /spin?s=%.2f&marker=edge%d HTTP/1.1\r\nHost: x\r\n\r\n"
               % (0.97 + 0.01 * i, i))
        r = c.read_response()
        c.close()
        assert r.status in (200, 504), r
        for _ in range(3):
            assert env_of(lst)["REQUEST_METHOD"] == "GET"
