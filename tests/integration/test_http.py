"""HTTP/1.1 semantics: keep-alive, close, HTTP/1.0, HEAD, pipelining, Date/Server,
request bodies on GET, Expect, absolute-form targets."""

import email.utils
import re
import socket
import time

import pytest

from conftest import HELLO, assert_serving, build_request, connect, get, static_args

IMF_FIXDATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
                         r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
                         r"\d{2}:\d{2}:\d{2} GMT$")


@pytest.fixture(scope="module")
def srv(httpsd_module, site):
    return httpsd_module(*static_args(site), binds=["http://127.0.0.1:0", "127.0.0.1:0"])


@pytest.fixture(params=["http", "https"])
def lst(request, srv):
    return srv.listener(request.param)


def check_common_headers(r):
    date = r.header("Date")
    assert date is not None, "no Date header: %r" % r
    assert IMF_FIXDATE.match(date), "Date not IMF-fixdate: %r" % date
    ts = email.utils.parsedate_to_datetime(date).timestamp()
    assert abs(ts - time.time()) < 120, date
    assert len(r.header_all("Date")) == 1
    server = r.header("Server")
    assert server is not None and (server == "httpsd" or server.startswith("httpsd/")
                                   or server.startswith("httpsd ")), "Server: %r" % server


def test_keep_alive_reuse(lst):
    c = connect(lst)
    for i in range(5):
        r = c.request("GET", "/static/hello.txt")
        assert r.status == 200, r
        assert r.version == "HTTP/1.1"
        assert r.body == HELLO
        assert not r.conn_close
    r = c.request("GET", "/static/nothing-here")
    assert r.status == 404
    assert not c.closed_within(0.2), "connection closed after a 404 on keep-alive"
    r = c.request("GET", "/static/hello.txt")
    assert r.status == 200
    c.close()


def test_connection_close_honoured(lst):
    c = connect(lst)
    r = c.request("GET", "/static/hello.txt", headers=[("Connection", "close")])
    assert r.status == 200 and r.body == HELLO
    assert r.conn_close, r.headers
    assert c.closed_within(5), "server kept the connection open after Connection: close"
    assert c.buf == b""
    c.close()


def test_connection_close_case_insensitive(lst):
    c = connect(lst)
    c.send(b"GET /static/hello.txt HTTP/1.1\r\nhost: x\r\nCONNECTION: Close\r\n\r\n")
    r = c.read_response()
    assert r.status == 200 and r.conn_close
    assert c.closed_within(5)
    c.close()


def test_http10_closes_by_default(lst):
    c = connect(lst)
    r = c.request("GET", "/static/hello.txt", version="HTTP/1.0", host=None)
    assert r.status == 200 and r.body == HELLO
    assert not r.has_token("Connection", "keep-alive")
    assert c.closed_within(5), "HTTP/1.0 connection without keep-alive was not closed"
    c.close()


def test_http10_keep_alive(lst):
    c = connect(lst)
    for _ in range(3):
        r = c.request("GET", "/static/hello.txt", version="HTTP/1.0",
                      headers=[("Connection", "keep-alive")])
        assert r.status == 200 and r.body == HELLO
        assert r.header("Content-Length") == str(len(HELLO))
        assert r.has_token("Connection", "keep-alive"), \
            "HTTP/1.0 keep-alive response lacks Connection: keep-alive: %r" % r.headers
        assert not c.closed_within(0.2)
    c.close()


def test_head_same_headers_as_get_no_body(lst):
    for path in ("/static/hello.txt", "/static/large.bin", "/static/sub/", "/static/missing"):
        c = connect(lst)
        # HEAD then GET pipelined: a body after HEAD would corrupt the second response
        c.send(build_request("HEAD", path) + build_request("GET", path))
        h = c.read_response("HEAD")
        g = c.read_response("GET", timeout=60)
        c.close()
        assert h.status == g.status, (h, g)
        for name in ("Content-Length", "Content-Type", "ETag", "Last-Modified"):
            assert h.header(name) == g.header(name), (name, h.headers, g.headers)
        if g.status == 200:
            assert h.header("Content-Length") == str(len(g.body))
        check_common_headers(h)


def test_head_no_body_then_close(lst):
    c = connect(lst)
    r = c.request("HEAD", "/static/hello.txt", headers=[("Connection", "close")])
    assert r.status == 200 and r.header("Content-Length") == str(len(HELLO))
    assert c.closed_within(5)
    assert c.buf == b"", "HEAD response carried a body: %r" % c.buf[:100]
    c.close()


def pipeline_plan(n):
    plan = []
    for i in range(n):
        k = i % 4
        if k == 0:
            plan.append(("/static/hello.txt", 200, HELLO))
        elif k == 1:
            plan.append(("/static/missing-%d" % i, 404, None))
        elif k == 2:
            plan.append(("/static/sub/", 200, b"<!doctype html><title>sub index</title>\n"))
        else:
            plan.append(("/static/f.css?i=%d" % i, 200, b"content of f.css\n"))
    return plan


def test_pipelining_100_in_order(lst):
    plan = pipeline_plan(100)
    data = b"".join(build_request("GET", p) for p, _, _ in plan)
    c = connect(lst, timeout=30)
    c.send(data)
    for i, (path, status, body) in enumerate(plan):
        r = c.read_response(timeout=30)
        assert r.status == status, "response %d for %s: %r" % (i, path, r)
        if body is not None:
            assert r.body == body, "response %d for %s has the wrong body" % (i, path)
    # connection still usable
    r = c.request("GET", "/static/hello.txt")
    assert r.status == 200
    c.close()


def test_pipelining_with_close_last(lst):
    data = build_request("GET", "/static/hello.txt") * 3 + \
        build_request("GET", "/static/hello.txt", headers=[("Connection", "close")]) + \
        build_request("GET", "/static/hello.txt")  # after close: must be ignored
    c = connect(lst)
    c.send(data)
    for i in range(4):
        r = c.read_response()
        assert r.status == 200
    assert r.conn_close
    assert c.closed_within(5)
    assert c.buf == b"", "server answered a request after Connection: close"
    c.close()


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/static/hello.txt", 200),
    ("HEAD", "/static/hello.txt", 200),
    ("GET", "/static/missing", 404),
    ("GET", "/nomount", 404),
    ("POST", "/static/hello.txt", 405),
    ("GET", "/static/sub", 301),
])
def test_date_and_server_on_every_response(lst, method, path, status):
    c = connect(lst)
    r = c.request(method, path)
    c.close()
    assert r.status == status
    check_common_headers(r)


def test_date_and_server_on_error_response(lst):
    c = connect(lst)
    c.send(b"GARBAGE\r\n\r\n")
    r = c.read_response()
    c.close()
    assert r.status == 400
    check_common_headers(r)


def test_chunked_body_on_get_discarded(lst):
    c = connect(lst)
    c.send(b"GET /static/hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5\r\nhello\r\n1a;ext=1\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: yes\r\n\r\n"
           b"GET /static/f.css HTTP/1.1\r\nHost: x\r\n\r\n")
    r1 = c.read_response()
    r2 = c.read_response()
    assert r1.status == 200 and r1.body == HELLO
    assert r2.status == 200 and r2.body == b"content of f.css\n"
    c.close()


def test_content_length_body_on_get_discarded(lst):
    c = connect(lst)
    body = b"x" * 5000
    c.send(build_request("GET", "/static/hello.txt", body=body) +
           build_request("GET", "/static/f.css"))
    r1 = c.read_response()
    r2 = c.read_response()
    assert r1.status == 200 and r1.body == HELLO
    assert r2.status == 200 and r2.body == b"content of f.css\n"
    c.close()


def test_chunked_body_sent_in_pieces(lst):
    c = connect(lst)
    c.send(b"GET /static/hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
    for piece in (b"3\r\n", b"abc", b"\r\n", b"0\r\n", b"\r\n"):
        time.sleep(0.05)
        c.send(piece)
    r = c.read_response()
    assert r.status == 200 and r.body == HELLO
    assert c.request("GET", "/static/hello.txt").status == 200
    c.close()


def test_expect_100_continue(lst):
    c = connect(lst)
    c.send(b"GET /static/hello.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n"
           b"Expect: 100-continue\r\n\r\n")
    r = c.read_response(timeout=5)
    assert r.status == 100, "expected 100 Continue first, got %r" % r
    assert r.version == "HTTP/1.1"
    c.send(b"0123456789")
    r = c.read_response()
    assert r.status == 200 and r.body == HELLO
    # the connection stays usable
    assert c.request("GET", "/static/f.css").status == 200
    c.close()


def test_expect_100_continue_chunked(lst):
    c = connect(lst)
    c.send(b"GET /static/hello.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
           b"Expect: 100-Continue\r\n\r\n")
    r = c.read_response(timeout=5)
    assert r.status == 100, r
    c.send(b"4\r\nbody\r\n0\r\n\r\n")
    r = c.read_response()
    assert r.status == 200 and r.body == HELLO
    c.close()


def test_expect_unknown_417(lst, srv):
    c = connect(lst)
    c.send(b"GET /static/hello.txt HTTP/1.1\r\nHost: x\r\nExpect: foo\r\n\r\n")
    r = c.read_response()
    assert r.status == 417, r
    assert r.conn_close, r.headers
    assert c.closed_within(5)
    c.close()
    assert_serving(srv)


@pytest.mark.parametrize("target", [
    "http://localhost/static/hello.txt",
    "https://localhost/static/hello.txt",
    "http://localhost:8443/static/hello.txt?x=1",
    "HTTP://LOCALHOST/static/hello.txt",
])
def test_absolute_form_target(lst, target):
    c = connect(lst)
    r = c.request("GET", target)
    c.close()
    assert r.status == 200, r
    assert r.body == HELLO


def test_query_string_ignored_for_files(lst):
    r = get(lst, "/static/hello.txt?a=1&b=%2F..%2F")
    assert r.status == 200 and r.body == HELLO


def test_percent_decoding_once(lst):
    r = get(lst, "/static/hell%6F.txt")
    assert r.status == 200 and r.body == HELLO
    r = get(lst, "/static/with%20space.txt")
    assert r.status == 200 and r.body == b"space\n"
    # %25 decodes to a literal '%': the file "a%20b.txt" exists on disk
    r = get(lst, "/static/a%2520b.txt")
    assert r.status == 200 and r.body == b"literal percent\n"


def test_http10_without_host_ok(lst):
    c = connect(lst)
    r = c.request("GET", "/static/hello.txt", host=None, version="HTTP/1.0")
    c.close()
    assert r.status == 200 and r.body == HELLO


def test_response_is_http11(lst):
    r = get(lst, "/static/hello.txt")
    assert r.version == "HTTP/1.1"


def test_keep_alive_zero_disables_keep_alive(httpsd, site):
    s = httpsd(*static_args(site), "--keep-alive", "0", binds=["http://127.0.0.1:0"])
    c = connect(s.http)
    r = c.request("GET", "/static/hello.txt")
    assert r.status == 200 and r.body == HELLO
    assert r.conn_close, r.headers
    assert c.closed_within(5)
    c.close()


def test_many_sequential_connections(lst):
    for i in range(50):
        r = get(lst, "/static/hello.txt" if i % 2 else "/static/missing")
        assert r.status == (200 if i % 2 else 404)


def test_expect_100_ignored_for_http10(lst):
    """RFC 9110 10.1.1: a 100-continue expectation in an HTTP/1.0 request is ignored."""
    c = connect(lst)
    c.send(b"GET /static/hello.txt HTTP/1.0\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    time.sleep(0.3)
    c.send(b"abcd")
    r = c.read_response()
    c.close()
    assert r.status == 200, "HTTP/1.0 client got %r (a 100 must not be sent to 1.0)" % r
    assert r.body == HELLO


def test_pipelined_mix_large_and_small(srv, site):
    import hashlib
    c = connect(srv.https, timeout=60)
    c.send((build_request("GET", "/static/large.bin") + build_request("GET", "/static/hello.txt")) * 2)
    for _ in range(2):
        h = hashlib.sha256()
        r = c.read_response(timeout=120, body_sink=h.update)
        assert r.status == 200 and h.hexdigest() == site.large_sha256
        r = c.read_response()
        assert r.status == 200 and r.body == HELLO
    c.close()


def test_percent_encoded_dot_inside_name(lst):
    r = get(lst, "/static/hello%2etxt")
    assert r.status == 200 and r.body == HELLO
