"""Hardening (issue 14): request smuggling through a bare CR, lax corners of the request line,
and clients that half-close. Each test here failed before the fix it covers.

Every hostile input is sent on plain HTTP and over TLS to a server with both static files and
an app; the app marks each call in a marker file, so "the app never ran" is checked, not
assumed."""

import os
import socket
import ssl
import sys
import time

import pytest

from conftest import assert_serving, connect, read_all_until_close, static_args
from wsgihelp import (APPS, assert_app_serving, env_of, read_marker, server_env, wait_marker)


@pytest.fixture(scope="module")
def markers_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("markers")


@pytest.fixture(scope="module")
def srv(httpsd_module, site, markers_dir):
    return httpsd_module(*static_args(site), "--pythonpath", APPS, "--threads", "4",
                         "--max-queue", "8", "--limit-request-body", "100000",
                         "wsgi_basic:app", binds=["http://127.0.0.1:0", "127.0.0.1:0"],
                         env=server_env(markers_dir))


@pytest.fixture(params=["http", "https"])
def lst(request, srv):
    return srv.listener(request.param)


def responses_in(raw):
    """The status codes of the HTTP/1.1 responses in a byte stream (status lines only)."""
    return [int(line.split(b" ")[1]) for line in raw.split(b"\r\n")
            if line.startswith(b"HTTP/1.1 ")]


def send_all_read_all(lst, data, timeout=5):
    c = connect(lst, timeout=timeout)
    try:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass
        data, _ = read_all_until_close(c.sock, timeout=timeout)
        return c.buf + data
    finally:
        c.close()


# ---------------------------------------------------------------------------
# Smuggling through a bare CR (llhttp is now built with LLHTTP_STRICT_MODE)
# ---------------------------------------------------------------------------

SMUGGLE = {
    # a second request hidden behind "\rX": a proxy reading CR as a line end sees one request
    "cr-ends-head": b"POST /record?name=%(m)s HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r"
                    b"XGET /record?name=%(m)s-SMUGGLED HTTP/1.1\r\nHost: x\r\n\r\n",
    # "x:\rTransfer-Encoding: chunked" became headers X and Ransfer-Encoding
    "cr-before-te": b"POST /record?name=%(m)s HTTP/1.1\r\nHost: x\r\nx:\rTransfer-Encoding: "
                    b"chunked\r\n\r\n0\r\n\r\n",
    # the body became "\nhell"
    "cr-before-body": b"POST /record?name=%(m)s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                      b"\r\r\nhello",
    "cr-in-trailer": b"POST /record?name=%(m)s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                     b"chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: a\rTransfer-Encoding: x\r\n\r\n",
    "cr-trailer-line-end": b"POST /record?name=%(m)s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                           b"chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: a\r\r\n",
    "cr-after-chunk-size": b"POST /record?name=%(m)s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                           b"chunked\r\n\r\n5\rhello\r\n0\r\n\r\n",
    "lf-only-head": b"GET /record?name=%(m)s HTTP/1.1\nHost: x\n\n",
}


@pytest.mark.parametrize("name", sorted(SMUGGLE))
def test_bare_cr_is_400_and_the_app_never_runs(srv, lst, markers_dir, name):
    m = "smuggle-%s-%s" % (name, lst.scheme)
    raw = send_all_read_all(lst, SMUGGLE[name] % {b"m": m.encode()})
    assert responses_in(raw) == [400], raw[:500]
    assert b"Connection: close" in raw
    time.sleep(0.2)
    assert read_marker(markers_dir, m) is None, "the app ran the request"
    assert read_marker(markers_dir, m + "-SMUGGLED") is None, "a smuggled request ran"
    assert_app_serving(srv, lst)


# ---------------------------------------------------------------------------
# Lax corners: the request target, methods, chunk sizes
# ---------------------------------------------------------------------------

def req(target, method=b"GET", extra=b"", body=b""):
    return method + b" " + target + b" HTTP/1.1\r\nHost: x\r\n" + extra + b"\r\n" + body


REJECT = {
    "tab-in-target": (req(b"/env\tx"), 400),
    "byte-0x80-in-target": (req(b"/env\x80"), 400),
    "byte-0xff-in-target": (req(b"/env\xff"), 400),
    "nul-escape-in-path": (req(b"/env%00"), 400),
    "nul-escape-in-path-mid": (req(b"/a%00b/env"), 400),
    "nul-escape-static": (req(b"/static/hello.txt%00.html"), 400),
    "fragment-after-query": (req(b"/env?a=1#frag"), 400),
    "fragment-before-query": (req(b"/env#frag?a=1"), 400),
    "fragment-static": (req(b"/static/hello.txt#x"), 400),
    "asterisk-get": (req(b"*"), 400),
    "asterisk-post": (req(b"*", method=b"POST", extra=b"Content-Length: 0\r\n"), 400),
    "absolute-userinfo": (req(b"http://u:p@other.example/env"), 400),
    "absolute-userinfo-https": (req(b"https://user@other.example/env"), 400),
    "absolute-bad-port": (req(b"http://other.example:8x/env"), 400),
    "absolute-empty-authority": (req(b"http:///env"), 400),
    "relative-target": (req(b"env"), 400),
    "query-only-target": (req(b"?a=1"), 400),
    "unknown-method-query": (req(b"/env", method=b"QUERY"), 501),
    "unknown-method-dash": (req(b"/env", method=b"-BLARGH"), 501),
    "unknown-method-prefix-of-known": (req(b"/env", method=b"GETX"), 501),
    "unknown-method-lowercase": (req(b"/env", method=b"get"), 501),
    "method-with-ctl": (req(b"/env", method=b"G\x01T"), 400),
    "method-with-paren": (req(b"/env", method=b"G(T"), 400),
    "bad-escape": (req(b"/env/a%zzb"), 400),
    "truncated-escape": (req(b"/env/a%b"), 400),
    "truncated-escape-at-end": (req(b"/env/a%2"), 400),
    "dot-segments-above-root": (req(b"/../../etc/passwd"), 400),
    "dot-segments-above-root-later": (req(b"/env/../../etc/passwd"), 400),
    "encoded-dot-segments-above-root": (req(b"/%2e%2e/%2E%2e/etc"), 400),
    "dot-segments-above-root-static": (req(b"/static/../../etc/passwd"), 400),
    "host-empty": (b"GET /env HTTP/1.1\r\nHost:\r\n\r\n", 400),
    "host-spaces": (b"GET /env HTTP/1.1\r\nHost:   \r\n\r\n", 400),
    "host-dot": (b"GET /env HTTP/1.1\r\nHost: .\r\n\r\n", 400),
    "host-dot-dot": (b"GET /env HTTP/1.1\r\nHost: a..b\r\n\r\n", 400),
    "host-port-only": (b"GET /env HTTP/1.1\r\nHost: :80\r\n\r\n", 400),
    "absolute-underscore-host": (req(b"http://a_b/env"), 400),
    "trace": (req(b"/env", method=b"TRACE"), 405),
    "two-expects": (req(b"/echo", b"POST", b"Expect: 100-continue\r\nExpect: 100-continue\r\n"
                        b"Content-Length: 5\r\n", b"hello"), 400),
    "tab-before-te": (req(b"/echo", b"POST", b"Transfer-Encoding:\tchunked\r\n",
                          b"5\r\nhello\r\n0\r\n\r\n"), 400),
    "tab-before-cl": (req(b"/echo", b"POST", b"Content-Length: \t5\r\n", b"hello"), 400),
    "head-over-32k": (req(b"/env", extra=b"".join(b"X-H%d: %s\r\n" % (i, b"w" * 4000)
                                                   for i in range(10))), 431),
    "chunk-ext-bws-without-extension": (req(b"/echo", b"POST", b"Transfer-Encoding: chunked\r\n",
                                            b"5 \r\nhello\r\n0\r\n\r\n"), 400),
    "chunk-ext-unterminated-quote": (req(b"/echo", b"POST", b"Transfer-Encoding: chunked\r\n",
                                         b"5;a=\"b\r\nhello\r\n0\r\n\r\n"), 400),
    "content-length-in-trailer": (req(b"/echo", b"POST", b"Transfer-Encoding: chunked\r\n",
                                      b"5\r\nhello\r\n0\r\nContent-Length: 5\r\n\r\n"), 400),
    "chunk-size-2^64-1": (req(b"/echo", b"POST", b"Transfer-Encoding: chunked\r\n",
                              b"ffffffffffffffff\r\nhello\r\n0\r\n\r\n"), 413),
    "chunk-size-over-limit": (req(b"/echo", b"POST", b"Transfer-Encoding: chunked\r\n",
                                  b"186a1\r\n"), 413),
    "chunks-add-up-over-limit": (req(b"/echo", b"POST", b"Transfer-Encoding: chunked\r\n",
                                     b"c350\r\n" + b"a" * 50000 + b"\r\nc351\r\n"), 413),
}


@pytest.mark.parametrize("name", sorted(REJECT))
def test_lax_corner_rejected(srv, lst, name):
    data, status = REJECT[name]
    raw = send_all_read_all(lst, data)
    assert responses_in(raw) == [status], raw[:500]
    assert b"Connection: close" in raw
    assert_app_serving(srv, lst)


CHUNK_EXTENSIONS = [b"5 ; a=b", b"5;a=b", b"5\t;\ta\t=\tb", b"5;a", b"5;a=\"x y\";b",
                    b"5 ;a=\"q\\\"q\""]


@pytest.mark.parametrize("line", CHUNK_EXTENSIONS)
def test_chunk_extensions_with_optional_whitespace_are_accepted(srv, lst, line):
    """RFC 9112 §7.1.1 allows BWS around ';' and '=' in chunk extensions (llhttp 8.1 refused
    it: chunked bodies are decoded by chunked.c now). The extension is ignored."""
    data = req(b"/echo?mode=read", b"POST", b"Transfer-Encoding: chunked\r\n",
               line + b"\r\nhello\r\n0\r\n\r\n")
    c = connect(lst)
    try:
        c.send(data)
        r = c.read_response()
    finally:
        c.close()
    assert r.status == 200, r
    import json
    assert json.loads(r.body)["parts"] == ["hello"]


def test_chunked_then_pipelined_request(srv, lst):
    c = connect(lst)
    try:
        c.send(req(b"/echo?mode=read", b"POST", b"Transfer-Encoding: chunked\r\n",
                   b"3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-Trailer: t\r\n\r\n") +
               req(b"/env"))
        r1 = c.read_response()
        r2 = c.read_response()
    finally:
        c.close()
    import json
    assert r1.status == 200 and json.loads(r1.body)["parts"] == ["abcde"], r1
    assert r2.status == 200 and json.loads(r2.body)["PATH_INFO"] == "/env", r2


def test_options_asterisk_still_allowed(srv, lst):
    raw = send_all_read_all(lst, b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert responses_in(raw) == [200], raw[:300]


def test_absolute_form_authority_is_server_name(srv, lst):
    c = connect(lst)
    try:
        c.send(req(b"http://other.example:81/env?q=1"))
        r = c.read_response()
    finally:
        c.close()
    assert r.status == 200, r
    import json
    env = json.loads(r.body)
    assert (env["SERVER_NAME"], env["SERVER_PORT"]) == ("other.example", "81")
    assert (env["PATH_INFO"], env["QUERY_STRING"]) == ("/env", "q=1")


def test_dot_segments_within_the_root_reach_the_app(srv, lst):
    env = env_of(lst, "/env/a/../b")
    assert env["PATH_INFO"] == "/env/a/../b"


def test_tab_after_colon_of_other_headers_is_fine(srv, lst):
    c = connect(lst)
    try:
        c.send(b"GET /env HTTP/1.1\r\nHost: x\r\nX-Tab:\tvalue\r\n\r\n")
        r = c.read_response()
    finally:
        c.close()
    assert r.status == 200, r


def test_escaped_percent_zero_zero_is_not_nul(srv, lst):
    """%2500 decodes to "%00" as text, not to a NUL: allowed."""
    env = env_of(lst, "/env/a%2500")
    assert env["PATH_INFO"] == "/env/a%00"


# ---------------------------------------------------------------------------
# Half-closed clients: the EOF is seen at once, on every read path
# ---------------------------------------------------------------------------

def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


# /proc/net/tcp states (include/net/tcp_states.h) in which the server's end of a connection is
# not closed yet: not accepted (SYN_RECV, or ESTABLISHED / CLOSE_WAIT in the accept queue), or
# accepted and still open. Once the server closes it, it is gone or in LAST_ACK / FIN_WAIT* /
# TIME_WAIT with no descriptor behind it.
TCP_SERVER_END_OPEN = {"01": "ESTABLISHED", "03": "SYN_RECV", "08": "CLOSE_WAIT"}


def proc_net_addr(hexaddr):
    """An address of /proc/net/tcp{,6} ("0100007F:1F90": 32-bit words in host order, hex
    port) as (host, port)."""
    h, p = hexaddr.split(":")
    raw = b"".join(int(h[i:i + 8], 16).to_bytes(4, sys.byteorder) for i in range(0, len(h), 8))
    return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw), int(p, 16)


def server_ends(lst):
    """The TCP connections to listener lst whose server end is not closed yet, by state (the
    kernel's view: those still in the listen backlog count too), and the accept queue length."""
    states, queued = {}, 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except FileNotFoundError:
            continue
        for row in rows:
            fields = row.split()
            if proc_net_addr(fields[1]) != (lst.host, lst.port):
                continue
            if fields[3] == "0A":  # LISTEN: rx_queue is the accept queue
                queued += int(fields[4].split(":")[1], 16)
            elif fields[3] in TCP_SERVER_END_OPEN:
                name = TCP_SERVER_END_OPEN[fields[3]]
                states[name] = states.get(name, 0) + 1
    return states, queued


def open_and_half_close(lst, data, n):
    """n clients that each send data, shut down their write side and close at once."""
    for _ in range(n):
        c = connect(lst, timeout=5)
        c.send(data)
        try:
            c.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        c.close()


@pytest.fixture
def small_app(httpsd, site, markers_dir):
    """4 threads + 8 queued: 13 stuck requests would turn every other request into 503."""
    return httpsd(*static_args(site), "--pythonpath", APPS, "--threads", "4", "--max-queue",
                  "8", "--io-timeout", "60", "--header-timeout", "60", "wsgi_basic:app",
                  binds=["http://127.0.0.1:0", "127.0.0.1:0"], env=server_env(markers_dir))


HALF_CLOSE = {
    # the head promises a streamed body (> 64 KiB) that never comes: the app waits in read()
    "streamed-body-never-sent": b"POST /echo?mode=read HTTP/1.1\r\nHost: x\r\n"
                                b"Content-Length: 100000\r\n\r\n",
    # a small body, half of it sent
    "buffered-body-half-sent": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" +
                               b"a" * 500,
    "partial-head": b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Le",
    "partial-chunked-body": b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                            b"\r\n5\r\nhel",
}


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("name", sorted(HALF_CLOSE))
def test_half_closed_clients_free_their_slots_at_once(small_app, scheme, name):
    lst = small_app.listener(scheme)
    time.sleep(0.3)
    base = fd_count(small_app.worker_pid)
    open_and_half_close(lst, HALF_CLOSE[name], 70)
    # Every one of them is gone within a moment (not at --io-timeout / --header-timeout).
    # The descriptor count alone cannot tell: right after the clients leave, the server may not
    # have accepted them yet (they wait in the listen backlog, the count is still at base), and
    # a moment later it holds a batch it has just accepted. So wait until the kernel has no
    # connection to the listener left that the server has not closed, then count descriptors.
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (server_ends(lst) != ({}, 0) or
                                           fd_count(small_app.worker_pid) > base):
        time.sleep(0.05)
    open_ends, queued = server_ends(lst)
    assert (open_ends, queued) == ({}, 0), \
        "connections not closed by the server: %r, %d of them not accepted" % (open_ends, queued)
    assert fd_count(small_app.worker_pid) <= base, \
        "%d descriptors open, %d before the half-closed clients" % (
            fd_count(small_app.worker_pid), base)
    # and the app serves everyone else: no 503 from slots held by the dead connections
    for _ in range(20):
        assert env_of(lst, "/env")["REQUEST_METHOD"] == "GET"
    small_app.assert_alive()


def test_half_close_after_complete_request_still_gets_the_response(small_app):
    """A client that sends a whole request and then shuts down its write side (printf | nc -N)
    still reads the response: half-close alone is not an abort."""
    lst = small_app.listener("http")
    c = connect(lst, timeout=5)
    try:
        c.send(b"GET /sleep?s=0.3 HTTP/1.1\r\nHost: x\r\n\r\n")
        c.sock.shutdown(socket.SHUT_WR)
        r = c.read_response()
        assert r.status == 200 and r.body.startswith(b"slept"), r
        assert c.closed_within(3)
    finally:
        c.close()


def test_fd_exhaustion_recovers_at_once_from_half_closed_clients(httpsd, site):
    """With descriptors exhausted, clients queue in the backlog; those that sent a partial
    head and closed are dropped as soon as they are accepted, not after --header-timeout."""
    import resource

    def low_nofile():
        resource.setrlimit(resource.RLIMIT_NOFILE, (128, 128))
    srv = httpsd(*static_args(site), "--header-timeout", "60", binds=["http://127.0.0.1:0"],
                 preexec_fn=low_nofile)
    lst = srv.listener("http")
    socks = []
    try:
        for _ in range(300):
            s = socket.create_connection(lst.sockaddr, timeout=5)
            s.sendall(b"GET /static/hello.txt HTTP/1.1\r\nHost: x\r\nX-Partial: ")
            s.shutdown(socket.SHUT_WR)
            socks.append(s)
        for s in socks:
            s.close()
        t0 = time.monotonic()
        assert_serving(srv, tls=False)
        assert time.monotonic() - t0 < 5
    finally:
        for s in socks:
            s.close()
