"""Timeouts: header (408), slowloris, keep-alive idle, TLS handshake, stalled reader, body read."""

import select
import socket
import ssl
import time

import pytest

from conftest import (HELLO, assert_serving, build_request, connect, get, raw_connect,
                      read_all_until_close, static_args)

HEADER_T = 1.0
KEEPALIVE_T = 1.0
HANDSHAKE_T = 1.0
IO_T = 2.0
EARLY = 0.3  # never before timeout - EARLY
SLACK = 3.0  # always before timeout + SLACK


@pytest.fixture(scope="module")
def srv(httpsd_module, site):
    return httpsd_module(*static_args(site), "--header-timeout", HEADER_T,
                         "--keep-alive", KEEPALIVE_T, "--handshake-timeout", HANDSHAKE_T,
                         "--io-timeout", IO_T, binds=["http://127.0.0.1:0", "127.0.0.1:0"])


@pytest.fixture(params=["http", "https"])
def lst(request, srv):
    return srv.listener(request.param)


def test_partial_head_gets_408(srv, lst):
    c = connect(lst, timeout=HEADER_T + SLACK + 2)
    t0 = time.monotonic()
    c.send(b"GET /static/hello.txt HTTP/1.1\r\nHost: x\r\n")
    r = c.read_response(timeout=HEADER_T + SLACK)
    dt = time.monotonic() - t0
    assert r.status == 408, r
    assert r.conn_close, r.headers
    assert r.header("Date") and (r.header("Server") or "").startswith("httpsd")
    assert dt >= HEADER_T - EARLY, "408 after %.2fs, before the %.1fs header timeout" % (dt, HEADER_T)
    assert c.closed_within(SLACK), "not closed after 408"
    c.close()
    assert_serving(srv, tls=lst.tls)


def test_partial_request_line_gets_408(lst):
    c = connect(lst, timeout=HEADER_T + SLACK + 2)
    c.send(b"GET /stat")
    r = c.read_response(timeout=HEADER_T + SLACK)
    assert r.status == 408, r
    assert c.closed_within(SLACK)
    c.close()


def test_slowloris_cut_at_total_header_deadline(srv, lst):
    c = connect(lst, timeout=5)
    c.send(b"GET /static/hello.txt HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    t0 = time.monotonic()
    ended = None
    got = b""
    while time.monotonic() - t0 < HEADER_T + SLACK + 3:
        try:
            c.sock.sendall(b"a")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            ended = time.monotonic() - t0
            break
        # wait 0.3 s for the server to say something
        c.sock.settimeout(0.3)
        try:
            d = c.sock.recv(65536)
        except (socket.timeout, TimeoutError, ssl.SSLWantReadError):
            continue
        except (ConnectionResetError, ssl.SSLError, OSError):
            ended = time.monotonic() - t0
            break
        got += d
        if not d or got.count(b"\r\n\r\n"):
            ended = time.monotonic() - t0
            break
    c.close()
    assert ended is not None, "slowloris (1 byte / 0.3 s) was never cut off"
    assert ended <= HEADER_T + SLACK, "cut only after %.1fs" % ended
    assert ended >= HEADER_T - EARLY, "cut after %.2fs, before the header timeout" % ended
    if got:
        assert got.startswith(b"HTTP/1.1 408"), got[:100]
    assert_serving(srv, tls=lst.tls)


def test_idle_keep_alive_closed(lst):
    c = connect(lst, timeout=10)
    r = c.request("GET", "/static/hello.txt")
    assert r.status == 200 and not r.conn_close
    dt = c.wait_closed(KEEPALIVE_T + SLACK)
    assert dt is not None, "idle keep-alive connection not closed within %.1fs" % (KEEPALIVE_T + SLACK)
    assert dt >= KEEPALIVE_T - EARLY, "closed after %.2fs, before keep-alive timeout" % dt
    assert c.buf == b"", "idle close sent bytes: %r" % c.buf[:100]
    c.close()


def test_keep_alive_timer_restarts_per_request(lst):
    """Requests every 0.6 s (< keep-alive) keep the connection alive past the timeout."""
    c = connect(lst, timeout=10)
    for _ in range(4):
        r = c.request("GET", "/static/hello.txt")
        assert r.status == 200
        assert not c.closed_within(KEEPALIVE_T * 0.6)
    c.close()


def test_tls_no_handshake_closed(srv):
    s = raw_connect(srv.https, timeout=10)
    t0 = time.monotonic()
    data, closed = read_all_until_close(s, timeout=HANDSHAKE_T + SLACK)
    dt = time.monotonic() - t0
    s.close()
    assert closed, "TLS connection without handshake still open after %.1fs" % dt
    assert dt >= HANDSHAKE_T - EARLY, "closed after %.2fs, before handshake timeout" % dt
    assert_serving(srv, tls=True)


def test_tls_partial_handshake_closed(srv):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    s = raw_connect(srv.https, timeout=10)
    s.sendall(hello[:20])
    t0 = time.monotonic()
    data, closed = read_all_until_close(s, timeout=HANDSHAKE_T + SLACK)
    dt = time.monotonic() - t0
    s.close()
    assert closed, "half a ClientHello kept the connection open %.1fs" % dt
    assert dt >= HANDSHAKE_T - EARLY
    assert_serving(srv, tls=True)


def test_plain_silent_connection_closed_without_response(srv):
    s = raw_connect(srv.http, timeout=10)
    t0 = time.monotonic()
    data, closed = read_all_until_close(s, timeout=HEADER_T + SLACK)
    dt = time.monotonic() - t0
    s.close()
    assert closed, "silent connection still open after %.1fs" % dt
    assert dt >= HEADER_T - EARLY, "closed after %.2fs, before header timeout" % dt
    assert data == b"", "silent connection got a response: %r" % data[:100]


def test_stalled_reader_closed_after_io_timeout(srv, site, lst):
    c = connect(lst, timeout=10, rcvbuf=4096)
    c.send(build_request("GET", "/static/large.bin"))
    # others are served meanwhile (no starvation)
    t0 = time.monotonic()
    while time.monotonic() - t0 < IO_T + SLACK:
        assert_serving(srv)
        time.sleep(0.25)
    # the server must have given up: draining now ends before the full body
    total = 0
    ended = False
    deadline = time.monotonic() + 30
    c.sock.settimeout(5)
    while time.monotonic() < deadline:
        try:
            d = c.sock.recv(1 << 20)
        except (ConnectionResetError, ssl.SSLError, OSError):
            ended = True
            break
        if not d:
            ended = True
            break
        total += len(d)
    c.close()
    assert ended, "stalled connection was not closed"
    assert total < site.large_size, "the server kept the stalled connection and sent everything"
    assert_serving(srv)


def test_stalled_body_upload_closed(srv, lst):
    c = connect(lst, timeout=10)
    c.send(b"GET /static/hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789")
    t0 = time.monotonic()
    ended = c.wait_closed(IO_T + SLACK + 1)
    c.close()
    assert ended is not None, "a stalled request body kept the connection open"
    assert ended >= min(HEADER_T, IO_T) - EARLY, "closed after %.2fs" % ended
    assert_serving(srv, tls=lst.tls)


def test_header_timeout_applies_to_second_request(lst):
    c = connect(lst, timeout=10)
    assert c.request("GET", "/static/hello.txt").status == 200
    c.send(b"GET /static/hello.txt HTTP/1.1\r\n")
    r = c.read_response(timeout=max(HEADER_T, KEEPALIVE_T) + SLACK)
    assert r.status == 408, r
    assert c.closed_within(SLACK)
    c.close()


def test_fractional_keep_alive(httpsd, site):
    s = httpsd(*static_args(site), "--keep-alive", "0.5", binds=["http://127.0.0.1:0"])
    c = connect(s.http, timeout=10)
    assert c.request("GET", "/static/hello.txt").status == 200
    dt = c.wait_closed(0.5 + SLACK)
    c.close()
    assert dt is not None, "not closed with --keep-alive 0.5"
    assert dt >= 0.5 - 0.25, "closed after %.2fs" % dt


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_slow_but_steady_reader_not_cut(httpsd, tmp_path, scheme):
    """--io-timeout is about *no progress*: a reader that keeps reading slowly for longer
    than io-timeout (and header/keep-alive timeouts) gets the whole body."""
    import hashlib
    import os
    d = tmp_path / "m"
    d.mkdir()
    data = os.urandom(3 << 20)
    (d / "f.bin").write_bytes(data)
    s = httpsd("--static", "/m=%s" % d, "--io-timeout", 1, "--header-timeout", 1,
               "--keep-alive", 1, binds=["http://127.0.0.1:0", "127.0.0.1:0"])
    c = connect(s.listener(scheme), timeout=10, rcvbuf=32768)
    c.send(build_request("GET", "/m/f.bin"))
    h = hashlib.sha256()
    t0 = time.monotonic()

    def sink(chunk):
        h.update(chunk)
        time.sleep(len(chunk) / (1 << 20))  # ~1 MiB/s

    r = c.read_response(timeout=60, body_sink=sink)
    dt = time.monotonic() - t0
    c.close()
    assert r.status == 200
    assert r.body_len == len(data), "cut at %d of %d after %.1fs" % (r.body_len, len(data), dt)
    assert h.hexdigest() == hashlib.sha256(data).hexdigest()
    assert dt > 1.5, "test bug: the download was not slow (%.1fs)" % dt
