"""Request bodies streaming into a running app (thread mode): wsgi.input waits for the bytes
the event loop reads, the loop stops reading while the app is behind, memory stays bounded.

Bodies over 64 KiB with a Content-Length stream; smaller and chunked ones are read whole
first (covered in test_wsgi_input.py)."""

import hashlib
import os
import time

import pytest

from conftest import build_request, connect
from wsgihelp import HTTP, HTTPS, markers, server_env, start, vmrss_kib, wait_marker  # noqa: F401

APP = "upload_stream:application"


def no_quarantine_env():
    """Under ASan, freed memory waits in a quarantine and would count as growth."""
    env = server_env()
    env["ASAN_OPTIONS"] += ":quarantine_size_mb=0"
    return env


def read_until(c, pred, timeout=20.0):
    """Read from Conn c until pred(data) or timeout; returns the bytes."""
    data = b""
    deadline = time.monotonic() + timeout
    c.sock.settimeout(1.0)
    while not pred(data) and time.monotonic() < deadline:
        try:
            d = c.sock.recv(65536)
        except (TimeoutError, OSError) as e:
            if isinstance(e, TimeoutError) or "timed out" in str(e):
                continue
            raise
        if not d:
            break
        data += d
    return data


def head(n):
    return build_request("POST", "/first", headers=[("Content-Length", str(n))])


@pytest.mark.parametrize("bind", [HTTP, HTTPS], ids=["http", "https"])
def test_app_answers_before_the_body_is_complete(httpsd, bind):
    srv = start(httpsd, APP, "--no-request-buffering", binds=(bind,))
    body = os.urandom(300 * 1024)
    with connect(srv) as c:
        c.send(build_request("POST", "/first", headers=[("Content-Length", str(len(body)))])
               + body[:100])
        first = read_until(c, lambda d: b"first:" in d and d.endswith(b"\n\r\n"), timeout=10)
        # the app read 10 bytes and answered while 300 KiB were still to be sent
        assert b"first:" + body[:10] + b"\n" in first, first
        c.send(body[100:])
        rest = read_until(c, lambda d: d.endswith(b"0\r\n\r\n"))
    expect = b"%d %s\n" % (len(body), hashlib.sha256(body).hexdigest().encode())
    assert expect in rest, rest[-200:]
    srv.assert_alive()


def test_large_upload_memory_bounded(httpsd):
    """200 MiB through a slow app: the server stops reading instead of buffering."""
    srv = start(httpsd, APP, "--no-request-buffering", binds=(HTTP,), env=no_quarantine_env())
    n = 200 * 1024 * 1024
    chunk = os.urandom(1 << 20)
    h = hashlib.sha256()
    rss0 = vmrss_kib(srv.worker_pid)
    peak = rss0
    with connect(srv, timeout=60) as c:
        c.send(build_request("POST", "/first", headers=[("Content-Length", str(n))]))
        for i in range(200):
            c.sock.sendall(chunk)
            h.update(chunk)
            if i % 10 == 0:
                peak = max(peak, vmrss_kib(srv.worker_pid))
        data = read_until(c, lambda d: d.endswith(b"0\r\n\r\n"), timeout=60)
    assert b"%d %s\n" % (n, h.hexdigest().encode()) in data, data[-200:]
    assert peak - rss0 < 64 * 1024, "RSS grew by %d KiB for a 200 MiB upload" % (peak - rss0)


def test_slow_app_reader_backpressure(httpsd):
    """The app reads 32 KiB a millisecond: the client's sends block (the server stopped
    reading) rather than the server's memory growing; everything arrives intact."""
    srv = start(httpsd, APP, "--no-request-buffering", binds=(HTTP,), env=no_quarantine_env())
    body = os.urandom(32 * 1024 * 1024)
    rss0 = vmrss_kib(srv.worker_pid)
    with connect(srv, timeout=60) as c:
        c.send(build_request("POST", "/slow-reader", headers=[("Content-Length", str(len(body)))]))
        c.sock.sendall(body)
        rss_mid = vmrss_kib(srv.worker_pid)
        r = c.read_response(timeout=60)
    assert r.status == 200
    assert r.body == b"%d %s\n" % (len(body), hashlib.sha256(body).hexdigest().encode())
    assert rss_mid - rss0 < 12 * 1024, "RSS grew by %d KiB while the app lagged" % (rss_mid - rss0)


def test_readline_iteration_over_streamed_body(httpsd):
    srv = start(httpsd, APP, "--no-request-buffering", binds=(HTTP,))
    body = b"".join(b"line %d %s\n" % (i, b"x" * (i % 300)) for i in range(20000))
    assert len(body) > 64 * 1024
    with connect(srv) as c:
        c.send(build_request("POST", "/lines", headers=[("Content-Length", str(len(body)))]) + body)
        r = c.read_response()
    assert r.body == b"%d %s\n" % (len(body), hashlib.sha256(body).hexdigest().encode())


def test_app_ignores_body_then_pipelined_request(httpsd):
    """The app answers without reading 1 MB: the rest is read and dropped, the connection
    stays usable for the next (pipelined) request."""
    srv = start(httpsd, APP, "--no-request-buffering", binds=(HTTP,))
    big = os.urandom(1000 * 1000)
    with connect(srv) as c:
        c.send(build_request("POST", "/ignore", headers=[("Content-Length", str(len(big)))])
               + big + build_request("GET", "/ignore"))
        r1 = c.read_response()
        r2 = c.read_response()
    assert (r1.status, r1.body, r2.status, r2.body) == (200, b"ok", 200, b"ok")


def test_client_vanishes_mid_upload(httpsd, markers):  # noqa: F811
    """read() in the app raises instead of waiting forever; close() still runs; the server
    keeps serving."""
    srv = start(httpsd, APP, "--no-request-buffering", binds=(HTTP,), marker_dir=markers)
    c = connect(srv)
    c.send(build_request("POST", "/read-fails", headers=[("Content-Length", str(10 << 20))])
           + os.urandom(200 * 1024))
    time.sleep(0.3)
    c.sock.close()
    assert wait_marker(markers, "read-error", timeout=10), "the app's read did not fail"
    assert wait_marker(markers, "closed", timeout=10) == ["1"], "close() not called once"
    with connect(srv) as c2:
        c2.send(build_request("POST", "/lines", headers=[("Content-Length", "3")]) + b"ab\n")
        r = c2.read_response()
    assert r.status == 200 and r.body.startswith(b"3 ")


def test_oversized_streamed_body_is_413_before_the_app(httpsd, markers):  # noqa: F811
    srv = start(httpsd, APP, "--no-request-buffering", "--limit-request-body", "100k", binds=(HTTP,), marker_dir=markers)
    with connect(srv) as c:
        c.send(build_request("POST", "/read-fails", headers=[("Content-Length", str(200 * 1024))]))
        r = c.read_response()
    assert r.status == 413
    assert wait_marker(markers, "closed", timeout=0.5) is None, "the app ran"


@pytest.mark.parametrize("threads", [0, 1])
def test_streamed_and_buffered_modes_agree(httpsd, threads):
    """--threads 0 reads the body whole first (no streaming); the app sees the same bytes."""
    srv = start(httpsd, APP, "--no-request-buffering", binds=(HTTP,), threads=threads)
    body = os.urandom(3 * 1024 * 1024 + 7)
    with connect(srv, timeout=30) as c:
        c.send(build_request("POST", "/first", headers=[("Content-Length", str(len(body)))]) + body)
        data = read_until(c, lambda d: d.endswith(b"0\r\n\r\n"), timeout=30)
    assert b"first:" + body[:10] + b"\n" in data
    assert b"%d %s\n" % (len(body), hashlib.sha256(body).hexdigest().encode()) in data
