"""Responses from the app: framing (Content-Length / chunked / close-delimited), HEAD/204/304,
Content-Length mismatches, hop-by-hop and invalid headers, write(), exc_info, Date/Server,
wsgi.file_wrapper, keep-alive and pipelining."""

import json
import os
import re
import time

import pytest

from conftest import build_request, connect, get, read_all_until_close
from wsgihelp import (HTTP, HTTPS, assert_app_serving, chunk_bytes, filelike_body,  # noqa: F401
                      log_mark, module_markers, new_log, pipelined, read_marker, start,
                      stream_body, wait_marker, wait_new_log)

IMF_FIXDATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
                         r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
                         r"\d{2}:\d{2}:\d{2} GMT$")


@pytest.fixture(scope="module", params=[4, 0], ids=["threads4", "threads0"])
def srv(request, httpsd_module, module_markers):
    return start(httpsd_module, "wsgi_basic:app", binds=(HTTP, HTTPS), threads=request.param,
                 marker_dir=module_markers)


@pytest.fixture(params=["http", "https"])
def lst(request, srv):
    return srv.listener(request.param)


def raw_exchange(lst, data, timeout=10):
    """Send raw bytes, read everything until the server closes."""
    c = connect(lst, timeout=timeout)
    c.send(data)
    raw, closed = read_all_until_close(c.sock, timeout=timeout)
    c.close()
    return raw, closed


# -- framing -----------------------------------------------------------------------------------

def test_date_and_server_headers(lst):
    r = get(lst, "/plain")
    assert r.status == 200 and r.body == b"app: GET /plain"
    assert IMF_FIXDATE.match(r.header("Date") or ""), r.headers
    assert len(r.header_all("Date")) == 1
    assert r.header_all("Server") == ["httpsd"] or r.header("Server").startswith("httpsd"), r.headers
    assert r.header("Content-Length") == str(len(r.body))
    assert len(r.header_all("Content-Length")) == 1


def test_app_server_header_wins(lst):
    r = get(lst, "/headers?server=MyApp/2.0&n=0")
    assert r.header_all("Server") == ["MyApp/2.0"], r.headers


def test_many_headers_and_repeated_set_cookie(lst):
    r = get(lst, "/headers?n=60")
    assert r.status == 200
    for i in range(60):
        assert r.header("X-H%d" % i) == "value-%d" % i
    assert r.header_all("Set-Cookie") == ["a=1; Path=/", "b=2; Path=/"]


def test_custom_reason_phrase(lst):
    with connect(lst) as c:
        r = c.request("GET", "/status?s=299+Custom+Reason+Here&body=x&h=Content-Type:text/plain")
    assert r.status == 299 and r.reason == "Custom Reason Here", (r.status, r.reason)
    assert r.body == b"x"


@pytest.mark.parametrize("code", [201, 202, 400, 403, 404, 418, 500, 503])
def test_status_passthrough(srv, code):
    lst = srv.http
    r = get(lst, "/status?s=%d+Whatever&body=b%d" % (code, code))
    assert r.status == code and r.body == b"b%d" % code


def test_list_response(lst):
    c = connect(lst)
    for path in ("/list?n=4", "/list?n=4&tuple=1"):
        r = c.request("GET", path)
        assert r.status == 200
        assert r.body == b"item0;item1;item2;item3;"
        # a list/tuple: computed Content-Length or chunked — never close-delimited on 1.1
        assert r.header("Content-Length") == str(len(r.body)) or \
            (r.header("Transfer-Encoding") or "").lower() == "chunked", r.headers
        assert not r.conn_close
    c.close()


def test_generator_chunked_on_http11(lst):
    c = connect(lst)
    for _ in range(2):  # keep-alive after a chunked response
        r = c.request("GET", "/stream?n=5&size=1000")
        assert r.status == 200
        assert (r.header("Transfer-Encoding") or "").lower() == "chunked", r.headers
        assert r.header("Content-Length") is None
        assert r.body == stream_body(5, 1000)
        assert not r.conn_close
    c.close()


def test_generator_with_content_length_not_chunked(lst):
    r = get(lst, "/stream?n=5&size=1000&cl=1")
    assert r.header("Content-Length") == "5000"
    assert r.header("Transfer-Encoding") is None
    assert r.body == stream_body(5, 1000)


def test_generator_http10_close_delimited(lst):
    raw, closed = raw_exchange(lst, build_request("GET", "/stream?n=4&size=300", version="HTTP/1.0",
                                                  host=None))
    assert closed
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.") and b" 200 " in head.split(b"\r\n")[0]
    assert b"chunked" not in head.lower()
    assert body == stream_body(4, 300)


def test_generator_http10_keepalive_request_still_closes(lst):
    """HTTP/1.0 + keep-alive but no length known: the body is close-delimited."""
    raw, closed = raw_exchange(lst, build_request("GET", "/stream?n=3&size=100", version="HTTP/1.0",
                                                  headers=[("Connection", "keep-alive")]))
    head, _, body = raw.partition(b"\r\n\r\n")
    assert closed, "HTTP/1.0 close-delimited response but the connection stayed open"
    assert b"chunked" not in head.lower()
    assert body == stream_body(3, 100)


def test_empty_chunks_skipped(lst):
    with connect(lst) as c:
        c.send(build_request("GET", "/empty-chunks") + build_request("GET", "/plain2"))
        r = c.read_response()
        r2 = c.read_response()
    assert r.body == b"abcdef"
    assert r2.body == b"app: GET /plain2"


def test_empty_body_generator(lst):
    with connect(lst) as c:
        c.send(build_request("GET", "/stream?n=0") + build_request("GET", "/after-empty"))
        r = c.read_response()
        r2 = c.read_response()
    assert r.status == 200 and r.body == b""
    assert r2.body == b"app: GET /after-empty"


def test_empty_list_response(lst):
    r = get(lst, "/status?s=200+OK")
    assert r.status == 200 and r.body == b""


def test_head_no_body_pipelined(lst):
    for path in ("/stream?n=3&size=50", "/stream?n=3&size=50&cl=1", "/list?n=3", "/plain"):
        rs, c = pipelined(lst, [("HEAD", path), ("GET", "/after-head")])
        c.close()
        h, g = rs
        assert h.status == 200
        assert g.status == 200 and g.body == b"app: GET /after-head", (path, g)


def test_head_same_length_header(lst):
    h = get(lst, "/stream?n=3&size=50&cl=1", method="HEAD")
    assert h.header("Content-Length") == "150"


@pytest.mark.parametrize("code", [204, 304])
def test_204_304_no_body(lst, code):
    path = "/status?s=%d+X&body=should-not-appear" % code
    with connect(lst) as c:
        c.send(build_request("GET", path) + build_request("GET", "/after-%d" % code))
        r = c.read_response()
        assert r.status == code
        assert r.header("Transfer-Encoding") is None, r.headers
        if code == 204:
            assert r.header("Content-Length") is None, r.headers
        r2 = c.read_response()
        assert r2.body == b"app: GET /after-%d" % code, "body bytes leaked after %d: %r" % (code, r2)


def test_204_streaming_generator_no_chunked(lst):
    """A generator with a 204 status: no Transfer-Encoding, no body."""
    with connect(lst) as c:
        c.send(build_request("GET", "/status?s=204+No+Content") + build_request("GET", "/after"))
        r = c.read_response()
        r2 = c.read_response()
    assert r.status == 204 and r.header("Transfer-Encoding") is None
    assert r2.body == b"app: GET /after"


def test_app_content_length_respected(lst):
    r = get(lst, "/status?s=200+OK&h=Content-Length:5&body=hello")
    assert r.header_all("Content-Length") == ["5"]
    assert r.body == b"hello"


@pytest.mark.parametrize("gen", [False, True], ids=["list", "generator"])
def test_short_content_length_closes(srv, lst, gen):
    mark = log_mark(srv)
    path = "/cl?cl=100&len=10" + ("&gen=1" if gen else "")
    raw, closed = raw_exchange(lst, build_request("GET", path) + build_request("GET", "/never"))
    assert closed
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"content-length: 100" in head.lower()
    assert body == chunk_bytes(0, 10), "the connection must close right after the short body"
    assert wait_new_log(srv, mark, r"(?i)(content-length|/cl\?|fewer|short)", timeout=5), \
        "short body not logged:\n" + new_log(srv, mark)


@pytest.mark.parametrize("gen", [False, True], ids=["list", "generator"])
def test_long_content_length_truncated(srv, lst, gen):
    mark = log_mark(srv)
    path = "/cl?cl=5&len=40" + ("&gen=1" if gen else "")
    with connect(lst) as c:
        c.send(build_request("GET", path) + build_request("GET", "/next-after-long"))
        r = c.read_response()
        assert r.header("Content-Length") == "5"
        assert r.body == chunk_bytes(0, 40)[:5]
        # the extra bytes must never be taken as the next response
        try:
            r2 = c.read_response()
            assert r2.status == 200 and r2.body == b"app: GET /next-after-long", r2
        except Exception as e:  # closing the connection is acceptable, garbage is not
            assert not c.buf or c.buf.startswith(b"HTTP/1.1 200"), (e, c.buf[:100])
            assert "bad status line" not in str(e), e
    assert wait_new_log(srv, mark, r"(?i)(content-length|/cl\?|more|long|truncat)", timeout=5), \
        "long body not logged:\n" + new_log(srv, mark)


@pytest.mark.parametrize("name", ["Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "TE",
                                  "Trailer", "Proxy-Connection", "connection"])
def test_hop_by_hop_header_500(srv, name):
    lst = srv.http
    mark = log_mark(srv)
    r = get(lst, "/hop?h=%s&v=x" % name)
    assert r.status == 500, r
    assert b"hop-by-hop-should-not-be-sent" not in r.body
    assert wait_new_log(srv, mark, r"(?i)%s" % re.escape(name), timeout=5), \
        "no error log line naming %s:\n%s" % (name, new_log(srv, mark))
    assert_app_serving(srv, lst)


def test_status_without_reason(srv):
    """'200' without a reason phrase breaks PEP 3333's wording but many servers accept it:
    either 500, or a well-formed 200 status line."""
    with connect(srv.http) as c:
        c.send(build_request("GET", "/bad-status?kind=noreason") + build_request("GET", "/after"))
        r = c.read_response()
        assert r.status in (200, 500), r
        if r.status == 200:
            assert r.body == b"bad status accepted"
        assert c.read_response().body == b"app: GET /after"


@pytest.mark.parametrize("kind", ["letters", "short", "long", "crlf", "lf", "bytes", "none"])
def test_invalid_status_500(srv, kind):
    lst = srv.http
    with connect(lst) as c:
        c.send(build_request("GET", "/bad-status?kind=" + kind))
        r = c.read_response()
    assert r.status == 500, (kind, r)
    assert r.header("X-Injected") is None
    assert b"bad status accepted" not in r.body


@pytest.mark.parametrize("kind", ["bytes_value", "int_value", "bytes_name", "crlf_value", "lf_value",
                                  "colon_name", "space_name", "not_tuple", "triple", "not_list"])
def test_invalid_header_500(srv, kind):
    lst = srv.http
    with connect(lst) as c:
        c.send(build_request("GET", "/bad-header?kind=" + kind))
        r = c.read_response()
    assert r.status == 500, (kind, r)
    assert r.header("X-Injected") is None, "header injection: %r" % r.headers
    assert b"bad header accepted" not in r.body
    assert r.header("X-Bad") is None


def test_str_body_chunk_500(srv, lst):
    r = get(lst, "/str-body")
    assert r.status == 500, r
    assert b"a str, not bytes" not in r.body


def test_app_returns_none_500(srv, lst):
    r = get(lst, "/none")
    assert r.status == 500


# -- write() and exc_info ------------------------------------------------------------------------

def test_write_callable(lst):
    r = get(lst, "/write?parts=3")
    assert r.status == 200 and r.body == b"part0;part1;part2;tail;"


def test_write_only_empty_iterable(lst):
    with connect(lst) as c:
        c.send(build_request("GET", "/write?parts=2&only=1") + build_request("GET", "/after-write"))
        r = c.read_response()
        r2 = c.read_response()
    assert r.body == b"part0;part1;"
    assert r2.body == b"app: GET /after-write"


def test_write_http10_close_delimited(lst):
    raw, closed = raw_exchange(lst, build_request("GET", "/write?parts=2", version="HTTP/1.0", host=None))
    assert closed
    assert raw.partition(b"\r\n\r\n")[2] == b"part0;part1;tail;"


def test_exc_info_before_body_second_status_wins(lst):
    r = get(lst, "/excinfo?where=before_body")
    assert r.status == 500 and r.reason == "Oops Custom", (r.status, r.reason)
    assert r.body == b"custom error page"
    assert r.header("X-Second") == "1"
    assert r.header("X-First") is None, "headers of the replaced start_response were sent"


@pytest.mark.parametrize("where", ["after_body", "write_then"])
def test_exc_info_after_headers_closes(srv, lst, where):
    raw, closed = raw_exchange(lst, build_request("GET", "/excinfo?where=" + where) +
                               build_request("GET", "/never"))
    assert closed
    assert raw.startswith(b"HTTP/1.1 200 "), raw[:100]
    assert b"500 Too Late" not in raw
    assert b"must-not-be-sent" not in raw
    assert b"/never" not in raw
    # a chunked body must not be terminated properly: the client has to see the truncation
    assert not raw.endswith(b"0\r\n\r\n"), raw[-50:]
    assert_app_serving(srv, lst)


def test_start_response_twice_without_exc_info_500(srv, lst):
    mark = log_mark(srv)
    r = get(lst, "/excinfo?where=twice")
    assert r.status == 500, r
    assert b"second start_response was accepted" not in r.body
    assert wait_new_log(srv, mark, r"Traceback|start_response", timeout=5), new_log(srv, mark)


# -- file_wrapper --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def datafile(tmp_path_factory):
    d = tmp_path_factory.mktemp("files")
    p = d / "data.bin"
    data = os.urandom(3 * 1024 * 1024 + 123)
    p.write_bytes(data)
    return str(p), data


def test_file_wrapper_real_file(lst, datafile, module_markers):
    path, data = datafile
    name = "fw-%s" % os.urandom(4).hex()
    with connect(lst, timeout=30) as c:
        r = c.request("GET", "/file?path=%s&marker=%s" % (path, name), timeout=30)
        assert r.status == 200
        assert len(r.body) == len(data) and r.body == data
        r2 = c.request("GET", "/after-file")
        assert r2.body == b"app: GET /after-file"
    assert wait_marker(module_markers, name, timeout=5) == ["closed"], "file not closed exactly once"


def test_file_wrapper_from_offset(lst, datafile):
    path, data = datafile
    r = get(lst, "/file?path=%s&offset=1000" % path, timeout=30)
    assert r.body == data[1000:]


def test_file_wrapper_offset_and_content_length(lst, datafile):
    path, data = datafile
    with connect(lst) as c:
        c.send(build_request("GET", "/file?path=%s&offset=4097&cl=70000" % path) +
               build_request("GET", "/after-range"))
        r = c.read_response()
        r2 = c.read_response()
    assert r.header("Content-Length") == "70000"
    assert r.body == data[4097:4097 + 70000]
    assert r2.body == b"app: GET /after-range"


def test_file_wrapper_content_length_longer_than_file(srv, lst, datafile):
    """Content-Length beyond the file end: the body is short -> the connection closes."""
    path, data = datafile
    raw, closed = raw_exchange(lst, build_request("GET", "/file?path=%s&offset=%d&cl=5000" %
                                                  (path, len(data) - 100)), timeout=15)
    assert closed
    assert raw.partition(b"\r\n\r\n")[2] == data[-100:]


def test_file_wrapper_head(lst, datafile):
    path, data = datafile
    rs, c = pipelined(lst, [("HEAD", "/file?path=%s&cl=%d" % (path, len(data))), ("GET", "/after")])
    c.close()
    assert rs[0].header("Content-Length") == str(len(data))
    assert rs[1].body == b"app: GET /after"


@pytest.mark.parametrize("blksize", [1, 1000, 8192, 65536])
def test_file_wrapper_filelike(lst, module_markers, blksize):
    size = 20000 if blksize == 1 else 300000
    name = "fl-%s" % os.urandom(4).hex()
    r = get(lst, "/filelike?size=%d&blksize=%d&marker=%s" % (size, blksize, name), timeout=30)
    assert r.status == 200
    assert r.body == filelike_body(size)
    assert wait_marker(module_markers, name, timeout=5) == ["closed"]


def test_file_wrapper_filelike_offset_and_cl(lst):
    r = get(lst, "/filelike?size=50000&offset=123&cl=1000")
    assert r.header("Content-Length") == "1000"
    assert r.body == filelike_body(50000)[123:1123]


def test_file_wrapper_http10(lst, datafile):
    path, data = datafile
    raw, closed = raw_exchange(lst, build_request("GET", "/file?path=%s&offset=%d" % (path, len(data) - 5000),
                                                  version="HTTP/1.0", host=None))
    assert closed
    assert raw.partition(b"\r\n\r\n")[2] == data[-5000:]


# -- keep-alive / pipelining -----------------------------------------------------------------------

def test_pipelined_mixed_in_order(lst):
    reqs = [("GET", "/stream?n=2&size=10"), ("GET", "/list?n=2"), ("HEAD", "/plain"),
            ("GET", "/write?parts=1"), ("POST", "/echo?mode=read", (), b"posted"),
            ("GET", "/status?s=404+Nope&body=nf"), ("GET", "/stream?n=1&size=5&cl=1")]
    rs, c = pipelined(lst, reqs)
    c.close()
    assert rs[0].body == stream_body(2, 10)
    assert rs[1].body == b"item0;item1;"
    assert rs[2].status == 200 and rs[2].body == b""
    assert rs[3].body == b"part0;tail;"
    assert json.loads(rs[4].body)["parts"] == ["posted"]
    assert rs[5].status == 404 and rs[5].body == b"nf"
    assert rs[6].body == stream_body(1, 5)


def test_many_pipelined(lst):
    reqs = [("GET", "/p%03d" % i) for i in range(50)]
    rs, c = pipelined(lst, reqs, timeout=30)
    c.close()
    assert [r.body for r in rs] == [b"app: GET /p%03d" % i for i in range(50)]


def test_connection_close_request(lst):
    with connect(lst) as c:
        r = c.request("GET", "/stream?n=2&size=3", headers=[("Connection", "close")])
        assert r.body == stream_body(2, 3)
        assert r.conn_close
        assert c.closed_within(5)


def test_keep_alive_many_requests(lst):
    with connect(lst) as c:
        for i in range(30):
            r = c.request("GET", "/stream?n=2&size=%d" % (i + 1))
            assert r.body == stream_body(2, i + 1)


def test_static_prefix_wins(httpsd, site):
    srv = start(httpsd, "wsgi_basic:app", "--static", "/static=%s" % site.root)
    r = get(srv, "/static/hello.txt")
    assert r.status == 200 and r.body == open(site.hello_path, "rb").read(), r
    r = get(srv, "/static/missing.txt")
    assert r.status == 404, "a missing static file must not fall through to the app: %r" % r
    r = get(srv, "/staticfoo")
    assert r.body == b"app: GET /staticfoo"
    r = get(srv, "/")
    assert r.body == b"app: GET /"


def test_access_log_records_app_requests(httpsd, tmp_path):
    log = tmp_path / "access.log"
    srv = start(httpsd, "wsgi_basic:app", "--access-logfile", str(log))
    get(srv, "/status?s=201+Made&body=12345")
    get(srv, "/stream?n=2&size=10")
    rc, killed = srv.stop()
    assert rc == 0 and not killed
    lines = log.read_text().splitlines()
    assert len(lines) == 2, lines
    assert '"GET /status?s=201+Made&body=12345 HTTP/1.1" 201 5 ' in lines[0], lines[0]
    assert '"GET /stream?n=2&size=10 HTTP/1.1" 200 20 ' in lines[1], lines[1]


def test_app_date_header_not_duplicated(lst):
    d = "Mon, 01 Jan 2024 00:00:00 GMT"
    r = get(lst, "/headers?n=0&date=" + d.replace(" ", "+").replace(",", "%2C"))
    assert r.header_all("Date") == [d], r.headers


def test_invalid_app_content_length_500(srv):
    r = get(srv.http, "/status?s=200+OK&h=Content-Length:abc&body=x")
    assert r.status == 500, r
    r = get(srv.http, "/status?s=200+OK&h=Content-Length:-1&body=x")
    assert r.status == 500, r


def test_huge_app_header_value(srv):
    """A 100 KB header value from the app: sent intact or refused with 500, never a crash
    or a truncated header block."""
    r = get(srv.http, "/headers?n=0&bigvalue=100000")
    assert r.status in (200, 500), r
    if r.status == 200:
        assert r.header("X-Big") == "v" * 100000
        assert r.body == b"many headers"
    assert_app_serving(srv, srv.http)


def test_many_tiny_chunks(lst):
    r = get(lst, "/stream?n=20000&size=1", timeout=60)
    assert r.status == 200
    assert r.body == stream_body(20000, 1)


@pytest.mark.parametrize("te", [False, True], ids=["cl", "chunked"])
def test_body_read_while_streaming_response(lst, te):
    """The app starts the response first and reads wsgi.input from its generator."""
    body = os.urandom(300 * 1024)
    with connect(lst, timeout=30) as c:
        if te:
            c.send(build_request("POST", "/lazy-echo?bs=5000", headers=[("Transfer-Encoding", "chunked")],
                                 body=b"".join(b"%x\r\n%s\r\n" % (len(body[i:i + 7000]), body[i:i + 7000])
                                               for i in range(0, len(body), 7000)) + b"0\r\n\r\n"))
        else:
            c.send(build_request("POST", "/lazy-echo?bs=5000", body=body))
        r = c.read_response(timeout=30)
        assert r.status == 200
        assert r.body == b"<start>" + body + b"<end>"
        assert c.request("GET", "/after-lazy").body == b"app: GET /after-lazy"


def test_keep_alive_timeout_applies_after_app_response(httpsd):
    srv = start(httpsd, "wsgi_basic:app", "--keep-alive", "1")
    with connect(srv) as c:
        r = c.request("GET", "/stream?n=2&size=5")
        assert r.status == 200
        t = c.wait_closed(5)
        assert t is not None and 0.5 <= t < 3.5, "idle keep-alive connection closed after %r s" % t
