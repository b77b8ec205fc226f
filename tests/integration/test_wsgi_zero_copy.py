"""Response bodies by reference (issue 15): a bytes object of 8 KiB or more that the app returns
or yields is sent from its own memory — no copy — and the server drops its reference, under the
GIL, once the bytes are out or the client is gone. These tests check the bytes (order, framing,
partial writes over HTTP, HTTPS and h2, with app threads and with --threads 0) and the
references (each object freed — a bytes subclass's __del__ says when — after its response or its
client's disconnect, with or without further requests; memory bounded)."""

import os
import shutil
import subprocess
import time

import pytest

from conftest import build_request, connect, get, raw_connect
from wsgihelp import (HTTP, HTTPS, assert_app_serving, linger_rst, markers,  # noqa: F401
                      read_marker, start, vmrss_kib, wait_marker)

import importlib.util

_spec = importlib.util.spec_from_file_location(
    "wsgi_basic_pieces", os.path.join(os.path.dirname(__file__), "apps", "wsgi_basic.py"))
_app = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_app)
PIECES = _app.REF_PIECES
CURL = shutil.which("curl") or "/usr/bin/curl"


def expected(times):
    return b"".join(PIECES * times)


def slow_read(sock, n, chunk=4096, pause_every=64 * 1024, pause=0.02):
    """Read exactly n bytes in small pieces, pausing now and then: the server's writes end
    part-way through referenced bodies many times."""
    out = bytearray()
    since = 0
    while len(out) < n:
        d = sock.recv(min(chunk, n - len(out)))
        assert d, "closed after %d of %d bytes" % (len(out), n)
        out += d
        since += len(d)
        if since >= pause_every:
            since = 0
            time.sleep(pause)
    return bytes(out)


def read_head(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        d = sock.recv(1)
        assert d, "closed before the head"
        data += d
    return data


def read_chunked(sock):
    body = bytearray()
    while True:
        line = b""
        while not line.endswith(b"\r\n"):
            d = sock.recv(1)
            assert d, "closed in a chunk size line"
            line += d
        size = int(line[:-2], 16)
        data = slow_read(sock, size + 2)
        assert data.endswith(b"\r\n"), data[-10:]
        if size == 0:
            return bytes(body)
        body += data[:-2]


@pytest.mark.parametrize("threads", [4, 0])
@pytest.mark.parametrize("framing", ["list", "gen"])
def test_referenced_pieces_arrive_whole_through_partial_writes(httpsd, threads, framing):
    """Small pieces (copied) and big ones (referenced) in order, to a reader with a 4 KiB
    receive buffer that pauses: Content-Length (a list) and chunked (a generator), two
    responses on one keep-alive connection."""
    srv = start(httpsd, "wsgi_basic:app", threads=threads)
    c = raw_connect(srv.listener("http"), timeout=30, rcvbuf=4096)
    for times in (3, 1):
        c.sendall(build_request("GET", "/refmix?framing=%s&times=%d" % (framing, times)))
        head = read_head(c).lower()
        assert head.startswith(b"http/1.1 200"), head
        if framing == "list":
            assert b"content-length: %d\r\n" % len(expected(times)) in head, head
            body = slow_read(c, len(expected(times)))
        else:
            assert b"transfer-encoding: chunked" in head, head
            body = read_chunked(c)
        assert body == expected(times), "body differs (%d vs %d bytes)" % (
            len(body), len(expected(times)))
    c.close()
    assert_app_serving(srv)


@pytest.mark.parametrize("framing", ["list", "gen"])
def test_referenced_pieces_over_tls_and_h2(httpsd, tmp_path, framing):
    """The same bytes over HTTPS (SSL_write from the object) and over h2 (copied into DATA
    frames, the reference dropped at once)."""
    srv = start(httpsd, "wsgi_basic:app", binds=(HTTP, HTTPS))
    path = "/refmix?framing=%s&times=2" % framing
    r = get(srv.listener("https"), path, timeout=30)
    assert r.status == 200 and r.body == expected(2)
    out = tmp_path / "h2.body"
    p = subprocess.run([CURL, "-sS", "-k", "--http2", "-o", str(out), "-w", "%{http_version}",
                        "https://%s%s" % (srv.https.hostport, path)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == b"2"
    assert out.read_bytes() == expected(2)


@pytest.mark.parametrize("threads", [4, 0])
def test_reference_is_dropped_once_written(httpsd, markers, threads):
    """A big object (2 MiB: past the batch threshold) is freed soon after its response went
    out, with no other request to do it; a small referenced one (64 KiB) at the latest when
    the next request comes."""
    srv = start(httpsd, "wsgi_basic:app", threads=threads, marker_dir=markers)
    r = get(srv, "/refsub?size=%d&marker=big" % (2 << 20), timeout=30)
    assert r.status == 200 and r.body == b"q" * (2 << 20)
    assert wait_marker(markers, "big", timeout=5) == ["freed"], "2 MiB object not freed"
    r = get(srv, "/refsub?size=65536&marker=small", timeout=30)
    assert r.status == 200 and r.body == b"q" * 65536
    get(srv, "/fast")
    get(srv, "/fast")
    assert wait_marker(markers, "small", timeout=5) == ["freed"], "64 KiB object not freed"


@pytest.mark.parametrize("threads", [4, 0])
def test_client_gone_while_reference_queued(httpsd, markers, threads):
    """Clients that take a few KiB of an 8 MiB referenced body and reset the connection: every
    object is freed (its __del__ runs, so the reference was dropped under the GIL), memory
    does not grow with the rounds, the server goes on serving."""
    srv = start(httpsd, "wsgi_basic:app", threads=threads, marker_dir=markers)
    rounds, size = 30, 8 << 20
    rss0 = None
    for i in range(rounds):
        s = raw_connect(srv.listener("http"), timeout=30, rcvbuf=4096)
        s.sendall(build_request("GET", "/refsub?size=%d&marker=gone" % size))
        got = 0
        while got < 8192:
            d = s.recv(4096)
            assert d
            got += len(d)
        linger_rst(s)
        s.close()
        if i == 4:
            wait_marker(markers, "gone", timeout=10, count=5)
            rss0 = vmrss_kib(srv.pid)
    lines = wait_marker(markers, "gone", timeout=15, count=rounds)
    assert lines == ["freed"] * rounds, "%d of %d objects freed" % (len(lines or []), rounds)
    grown = vmrss_kib(srv.pid) - rss0
    assert grown < 64 * 1024, "RSS grew %d KiB over %d rounds" % (grown, rounds - 5)
    assert_app_serving(srv)


def test_bytes_subclass_body_and_memoryview_refused(httpsd, markers):
    """A bytes subclass is bytes (sent by reference); a memoryview is not (PEP 3333): 500, and
    the server goes on."""
    srv = start(httpsd, "wsgi_basic:app", marker_dir=markers)
    r = get(srv, "/refsub?size=100000&marker=sub")
    assert r.status == 200 and r.body == b"q" * 100000
    for size in (3, 100000):
        r = get(srv, "/memview?size=%d" % size)
        assert r.status == 500, r
    assert_app_serving(srv)
