"""Bad input: every rejected request gets its status with Connection: close, then the
connection closes, and the server keeps serving fresh connections."""

import socket
import ssl
import time

import pytest

from conftest import HELLO, assert_serving, build_request, connect, static_args

LINE_LIMIT = 200
FIELD_LIMIT = 200
FIELDS_LIMIT = 20
BODY_LIMIT = 1000


@pytest.fixture(scope="module")
def srv(httpsd_module, site):
    return httpsd_module(*static_args(site),
                         "--limit-request-line", LINE_LIMIT,
                         "--limit-request-field-size", FIELD_LIMIT,
                         "--limit-request-fields", FIELDS_LIMIT,
                         "--limit-request-body", BODY_LIMIT,
                         binds=["http://127.0.0.1:0", "127.0.0.1:0"])


@pytest.fixture(params=["http", "https"])
def lst(request, srv):
    return srv.listener(request.param)


def expect_reject(srv, lst, data, status, timeout=10):
    """Send data, expect `status` + Connection: close, then EOF; then a fresh request works."""
    c = connect(lst, timeout=timeout)
    try:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass
        r = c.read_response(timeout=timeout)
        statuses = status if isinstance(status, tuple) else (status,)
        assert r.status in statuses, "sent %r\nexpected %s, got %r" % (data[:300], status, r)
        assert r.conn_close, "%d without Connection: close: %r" % (r.status, r.headers)
        assert r.header("Date") is not None
        assert c.closed_within(5), "connection not closed after %d" % r.status
        assert c.buf == b"", "extra bytes after the error response: %r" % c.buf[:200]
    finally:
        c.close()
    assert_serving(srv, tls=lst.tls)
    return r


def req(target="/static/hello.txt", extra=b"", host=b"Host: localhost\r\n", version=b"HTTP/1.1",
        method=b"GET", body=b""):
    return method + b" " + (target if isinstance(target, bytes) else target.encode()) + b" " + \
        version + b"\r\n" + host + extra + b"\r\n" + body


def line_of_len(n):
    """A request line of exactly n bytes (without CRLF)."""
    base = len(b"GET /static/hello.txt? HTTP/1.1")
    return b"GET /static/hello.txt?" + b"a" * (n - base) + b" HTTP/1.1"


# ---------------------------------------------------------------------------
# 400: malformed
# ---------------------------------------------------------------------------

BAD_400 = {
    "garbage": b"GARBAGE\r\n\r\n",
    "garbage-binary": b"\x01\x02\x03\x04 junk\r\n\r\n",
    "bad-version-token": req(version=b"HTTX/1.1"),
    "bad-method-char": req(method=b"G(T"),
    "no-host-1.1": req(host=b""),
    "two-hosts": req(extra=b"Host: other\r\n"),
    "cl-and-te": req(extra=b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                     body=b"0\r\n\r\n"),
    "te-and-cl": req(extra=b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                     body=b"0\r\n\r\n"),
    "two-differing-cl": req(extra=b"Content-Length: 3\r\nContent-Length: 4\r\n", body=b"abcd"),
    "cl-not-a-number": req(extra=b"Content-Length: abc\r\n"),
    "cl-negative": req(extra=b"Content-Length: -1\r\n"),
    "cl-two-numbers": req(extra=b"Content-Length: 1 2\r\n"),
    "obs-fold": req(extra=b"X-Folded: a\r\n b\r\n"),
    "obs-fold-tab": req(extra=b"X-Folded: a\r\n\tb\r\n"),
    "bare-cr-in-value": req(extra=b"X-A: a\rb\r\n"),
    "bare-cr-in-request-line": b"GET /static/hello.txt\r HTTP/1.1\r\nHost: x\r\n\r\n",
    "bare-cr-line-end": b"GET /static/hello.txt HTTP/1.1\rHost: x\r\n\r\n",
    "ctl-in-value": req(extra=b"X-A: a\x01b\r\n"),
    "ctl-in-name": req(extra=b"X-\x01A: b\r\n"),
    "nul-in-value": req(extra=b"X-A: a\x00b\r\n"),
    "space-before-colon": req(extra=b"X-A : b\r\n"),
    "no-colon": req(extra=b"NoColonHere\r\n"),
    "empty-name": req(extra=b": value\r\n"),
    "nul-in-request-line": b"GET /static/hel\x00lo.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    "ctl-in-target": b"GET /static/hel\x01lo.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    "bad-chunk-size": req(extra=b"Transfer-Encoding: chunked\r\n", body=b"zz\r\nhello\r\n0\r\n\r\n"),
    "bad-chunk-size-neg": req(extra=b"Transfer-Encoding: chunked\r\n", body=b"-5\r\nhello\r\n0\r\n\r\n"),
    "chunk-missing-crlf": req(extra=b"Transfer-Encoding: chunked\r\n", body=b"5\r\nhelloXX0\r\n\r\n"),
    "two-equal-cl": req(extra=b"Content-Length: 4\r\nContent-Length: 4\r\n", body=b"abcd"),
    "cl-plus-sign": req(extra=b"Content-Length: +4\r\n", body=b"abcd"),
    "target-without-slash": b"GET static/hello.txt HTTP/1.1\r\nHost: x\r\n\r\n",
    "tabs-in-request-line": b"GET\t/static/hello.txt\tHTTP/1.1\r\nHost: x\r\n\r\n",
    "ws-before-first-header": b"GET /static/hello.txt HTTP/1.1\r\n Host: x\r\n\r\n",
    "invalid-host-value": req(host=b"Host: bad host\r\n"),
    "ctl-in-trailer": req(extra=b"Transfer-Encoding: chunked\r\n",
                          body=b"1\r\na\r\n0\r\nX-T: a\x01b\r\n\r\n"),
}


@pytest.mark.parametrize("name", sorted(BAD_400))
def test_400(srv, lst, name):
    expect_reject(srv, lst, BAD_400[name], 400)


def test_huge_chunk_size(srv, lst):
    """A chunk size that overflows 64 bits: 400 (bad chunk size) or 413 (over the limit)."""
    data = req(extra=b"Transfer-Encoding: chunked\r\n", body=b"f" * 40 + b"\r\nab\r\n0\r\n\r\n")
    expect_reject(srv, lst, data, (400, 413))


# ---------------------------------------------------------------------------
# 505: HTTP version
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("version", [b"HTTP/2.0", b"HTTP/1.2", b"HTTP/3.0"])
def test_505(srv, lst, version):
    expect_reject(srv, lst, req(version=version), 505)


# ---------------------------------------------------------------------------
# 414 / 431 / 413 / 501
# ---------------------------------------------------------------------------

def test_request_line_under_limit_ok(srv, lst):
    c = connect(lst)
    c.send(line_of_len(LINE_LIMIT - 10) + b"\r\nHost: x\r\n\r\n")
    r = c.read_response()
    c.close()
    assert r.status == 200 and r.body == HELLO


@pytest.mark.parametrize("n", [LINE_LIMIT + 100, LINE_LIMIT * 20])
def test_414(srv, lst, n):
    expect_reject(srv, lst, line_of_len(n) + b"\r\nHost: x\r\n\r\n", 414)


def test_414_without_line_end(srv, lst):
    """The line is already too long before its CRLF arrives: answer without waiting."""
    expect_reject(srv, lst, line_of_len(LINE_LIMIT + 100), 414, timeout=5)


def test_field_under_limit_ok(srv, lst):
    value = b"v" * (FIELD_LIMIT - 30)
    c = connect(lst)
    r = c.request("GET", "/static/hello.txt", headers=[(b"X-Ok", value)])
    c.close()
    assert r.status == 200


def test_431_long_field(srv, lst):
    expect_reject(srv, lst, req(extra=b"X-Long: " + b"a" * (FIELD_LIMIT + 100) + b"\r\n"), 431)


def test_431_long_field_name(srv, lst):
    expect_reject(srv, lst, req(extra=b"X-" + b"n" * (FIELD_LIMIT + 100) + b": v\r\n"), 431)


def test_fields_under_limit_ok(srv, lst):
    headers = [("X-H%d" % i, "v") for i in range(FIELDS_LIMIT - 5)]
    c = connect(lst)
    r = c.request("GET", "/static/hello.txt", headers=headers)
    c.close()
    assert r.status == 200


def test_431_too_many_fields(srv, lst):
    extra = b"".join(b"X-H%d: v\r\n" % i for i in range(FIELDS_LIMIT + 10))
    expect_reject(srv, lst, req(extra=extra), 431)


def test_431_head_over_64k(httpsd, site):
    """Default field limits (8190 x 100) but the whole head over 64 KiB -> 431."""
    s = httpsd(*static_args(site), binds=["http://127.0.0.1:0"])
    extra = b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 4000) for i in range(20))  # ~80 KiB
    expect_reject(s, s.http, req(extra=extra), 431)


def test_body_at_limit_ok(srv, lst):
    c = connect(lst)
    r = c.request("GET", "/static/hello.txt", body=b"b" * BODY_LIMIT)
    assert r.status == 200 and r.body == HELLO
    assert c.request("GET", "/static/hello.txt").status == 200
    c.close()


@pytest.mark.parametrize("path", ["/static/hello.txt", "/no/mount/here"])
def test_413_content_length_without_sending_body(srv, lst, path):
    c = connect(lst)
    t0 = time.monotonic()
    c.send(req(target=path, method=b"POST", extra=b"Content-Length: %d\r\n" % (BODY_LIMIT + 1)))
    r = c.read_response(timeout=3)  # must not wait for the body
    assert r.status == 413, r
    assert time.monotonic() - t0 < 3
    assert r.conn_close
    assert c.closed_within(5)
    c.close()
    assert_serving(srv, tls=lst.tls)


def test_413_huge_content_length(srv, lst):
    c = connect(lst)
    c.send(req(extra=b"Content-Length: 99999999999999\r\n"))
    r = c.read_response(timeout=3)
    assert r.status == 413, r
    assert r.conn_close
    assert c.closed_within(5)
    c.close()
    assert_serving(srv, tls=lst.tls)


def test_413_with_expect_continue_no_100(srv, lst):
    c = connect(lst)
    c.send(req(extra=b"Content-Length: %d\r\nExpect: 100-continue\r\n" % (BODY_LIMIT * 10)))
    r = c.read_response(timeout=3)
    assert r.status == 413, "expected 413 instead of %r" % r
    assert r.conn_close
    assert c.closed_within(5)
    c.close()


def test_413_chunked_over_limit(srv, lst):
    chunk = b"x" * 400
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5)) + b"0\r\n\r\n"
    expect_reject(srv, lst, req(extra=b"Transfer-Encoding: chunked\r\n", body=body), 413)


def test_413_chunked_over_limit_not_finished(srv, lst):
    """The chunked body goes over the limit and the client keeps the rest: 413 right away."""
    c = connect(lst)
    c.send(req(extra=b"Transfer-Encoding: chunked\r\n") + b"800\r\n" + b"y" * 0x800 + b"\r\n")
    r = c.read_response(timeout=5)
    assert r.status == 413, r
    assert r.conn_close
    assert c.closed_within(5)
    c.close()
    assert_serving(srv, tls=lst.tls)


@pytest.mark.parametrize("te", [b"gzip", b"deflate", b"identity", b"gzip, chunked"])
def test_501_transfer_encoding(srv, lst, te):
    expect_reject(srv, lst, req(extra=b"Transfer-Encoding: " + te + b"\r\n"), 501)


def test_error_after_good_pipelined_request(srv, lst):
    """A good request followed by a bad one: 200, then 400 + close."""
    c = connect(lst)
    c.send(req() + b"GARBAGE\r\n\r\n")
    r1 = c.read_response()
    r2 = c.read_response()
    assert r1.status == 200 and r1.body == HELLO
    assert r2.status == 400 and r2.conn_close
    assert c.closed_within(5)
    c.close()


def test_smuggled_request_in_body_not_executed(srv, lst):
    """A body that looks like a request is body, never a second request."""
    smuggled = b"GET /static/f.css HTTP/1.1\r\nHost: x\r\n\r\n"
    c = connect(lst)
    c.send(req(method=b"POST", extra=b"Content-Length: %d\r\n" % len(smuggled), body=smuggled) +
           req(target="/static/empty.txt"))
    r1 = c.read_response()
    assert r1.status == 405, r1
    if not r1.conn_close:
        r2 = c.read_response()
        assert r2.status == 200 and r2.body == b"", "smuggled request executed: %r" % r2
    c.close()


def test_body_limit_suffix_k(httpsd, site):
    s = httpsd(*static_args(site), "--limit-request-body", "1k", binds=["http://127.0.0.1:0"])
    c = connect(s.http)
    r = c.request("GET", "/static/hello.txt", body=b"x" * 1024)
    assert r.status == 200, "1024-byte body refused with --limit-request-body 1k: %r" % r
    c.close()
    c = connect(s.http)
    c.send(req(extra=b"Content-Length: 1025\r\n"))
    r = c.read_response(timeout=3)
    assert r.status == 413, r
    c.close()


def test_pipelined_bytes_over_64k_are_not_one_head(httpsd, site):
    """2,000 small pipelined requests (~100 KiB in one go) are 2,000 heads, not one big head."""
    import threading
    s = httpsd(*static_args(site), binds=["http://127.0.0.1:0"])
    n = 2000
    data = b"".join(b"GET /static/hello.txt?%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(n))
    assert len(data) > 64 * 1024
    c = connect(s.http, timeout=30)
    t = threading.Thread(target=c.send, args=(data,), daemon=True)
    t.start()
    for i in range(n):
        r = c.read_response(timeout=30)
        assert r.status == 200, "response %d: %r" % (i, r)
    t.join(10)
    c.close()


def test_request_sent_byte_by_byte(srv, lst):
    c = connect(lst)
    data = req(extra=b"User-Agent: slow\r\n")
    for i in range(len(data)):
        c.send(data[i:i + 1])
        time.sleep(0.002)
    r = c.read_response()
    assert r.status == 200 and r.body == HELLO
    c.close()


@pytest.mark.parametrize("path", ["/static/" + "a" * 300, "/static/" + "a/" * 2000 + "x",
                                  "/static/" + "%41" * 600])
def test_long_paths_no_server_error(httpsd, site, path):
    s = httpsd(*static_args(site), binds=["http://127.0.0.1:0"])
    c = connect(s.http)
    c.send(req(target=path))
    r = c.read_response()
    c.close()
    assert r.status in (400, 404, 414), r
    assert_serving(s)
