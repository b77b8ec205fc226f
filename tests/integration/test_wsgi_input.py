"""wsgi.input: every read method, Content-Length and chunked bodies, never past the body,
b"" at the end, unread bodies discarded on keep-alive, Expect: 100-continue, 413/400 before
the app is called."""

import hashlib
import json
import os

import pytest

from conftest import build_request, connect, get
from wsgihelp import (HTTP, HTTPS, chunked, markers, module_markers, read_marker,  # noqa: F401
                      start, wait_marker)

BODY = b"line one\nline two is longer\n\nx\nlast line without newline"


@pytest.fixture(scope="module", params=[4, 0], ids=["threads4", "threads0"])
def srv(request, httpsd_module, module_markers):
    return start(httpsd_module, "wsgi_basic:app", binds=(HTTP, HTTPS), threads=request.param,
                 marker_dir=module_markers)


@pytest.fixture(params=["http", "https"])
def lst(request, srv):
    return srv.listener(request.param)


def echo(lst, mode, body=BODY, n=None, te=False, extra=b""):
    path = "/echo?mode=%s" % mode + ("&n=%d" % n if n is not None else "")
    with connect(lst) as c:
        if te:
            c.send(build_request("POST", path, headers=[("Transfer-Encoding", "chunked")],
                                 body=chunked(body)) + extra)
        else:
            c.send(build_request("POST", path, body=body) + extra)
        r = c.read_response()
        assert r.status == 200, (r, r.body[:2000])
        out = json.loads(r.body)
        if extra:
            r2 = c.read_response()
            return out, r2
    return out


def parts(out):
    return [p.encode("latin-1") for p in out["parts"]]


@pytest.mark.parametrize("mode,te", [(m, te) for m in ("read", "read-1", "readnone", "cl")
                                     for te in (False, True) if not (m == "cl" and te)],
                         ids=lambda v: {True: "chunked", False: "cl"}.get(v, v) if isinstance(v, bool) else v)
def test_read_all(lst, mode, te):
    out = echo(lst, mode, te=te)
    assert b"".join(parts(out)) == BODY
    assert out["types"] == ["bytes"]
    assert out["after"] == ["", "", ""], "reads after the end must return b''"


@pytest.mark.parametrize("te", [False, True], ids=["cl", "chunked"])
@pytest.mark.parametrize("n", [1, 7, 4096])
def test_read_n(lst, n, te):
    out = echo(lst, "readn", n=n, te=te)
    ps = parts(out)
    assert b"".join(ps) == BODY
    assert all(1 <= len(p) <= n for p in ps)
    assert out["after"] == ["", "", ""]


@pytest.mark.parametrize("te", [False, True], ids=["cl", "chunked"])
@pytest.mark.parametrize("mode", ["readline", "readlines", "iter"])
def test_lines(lst, mode, te):
    out = echo(lst, mode, te=te)
    assert parts(out) == BODY.splitlines(keepends=True)
    assert out["after"] == ["", "", ""]


@pytest.mark.parametrize("n", [1, 3, 10])
def test_readline_n(lst, n):
    out = echo(lst, "readline_n", n=n)
    ps = parts(out)
    assert b"".join(ps) == BODY
    # readline(n) never crosses a newline and never returns more than n bytes
    expected = []
    for line in BODY.splitlines(keepends=True):
        while line:
            expected.append(line[:n])
            line = line[n:]
    assert ps == expected


def test_read_over_length_stops_at_body(lst):
    """A pipelined next request must never be returned by wsgi.input."""
    out, r2 = echo(lst, "over", extra=build_request("GET", "/env?next=1"))
    assert b"".join(parts(out)) == BODY
    assert r2.status == 200 and json.loads(r2.body)["QUERY_STRING"] == "next=1"


@pytest.mark.parametrize("mode", ["read", "readline", "readlines", "iter", "read-1"])
def test_no_bytes_past_body_pipelined(lst, mode):
    out, r2 = echo(lst, mode, extra=build_request("GET", "/env?follow=" + mode))
    assert b"".join(parts(out)) == BODY
    assert json.loads(r2.body)["QUERY_STRING"] == "follow=" + mode


def test_chunked_no_bytes_past_body(lst):
    out, r2 = echo(lst, "read", te=True, extra=build_request("GET", "/env?after-chunked"))
    assert b"".join(parts(out)) == BODY
    assert json.loads(r2.body)["QUERY_STRING"] == "after-chunked"


def test_empty_body(lst):
    out = echo(lst, "read", body=b"")
    assert out["parts"] == [""]
    out = echo(lst, "readline", body=b"")
    assert out["parts"] == []


def test_get_without_body_reads_empty(lst):
    with connect(lst) as c:
        r = c.request("GET", "/echo?mode=read")
    assert r.status == 200
    out = json.loads(r.body)
    assert out["parts"] == [""] and out["after"] == ["", "", ""]


def test_chunked_with_trailers(lst):
    body = b"0123456789abcdef"
    data = b"10\r\n" + body + b"\r\n0\r\nX-Trailer: t\r\n\r\n"
    with connect(lst) as c:
        c.send(build_request("POST", "/echo?mode=read", headers=[("Transfer-Encoding", "chunked")],
                             body=data) + build_request("GET", "/env?after-trailer"))
        r = c.read_response()
        r2 = c.read_response()
    assert b"".join(p.encode("latin-1") for p in json.loads(r.body)["parts"]) == body
    assert json.loads(r2.body)["QUERY_STRING"] == "after-trailer"


def test_binary_body_all_bytes(lst):
    body = bytes(range(256)) * 64
    out = echo(lst, "readn", body=body, n=1000)
    assert b"".join(parts(out)) == body


def test_body_not_read_by_app_is_discarded(lst):
    """The app ignores a body: the next request on the connection is still parsed correctly."""
    body = b"GET /env?smuggled=1 HTTP/1.1\r\nHost: x\r\n\r\n" + b"z" * 5000
    with connect(lst) as c:
        c.send(build_request("POST", "/echo?mode=none", body=body) + build_request("GET", "/env?real=1"))
        r = c.read_response()
        assert r.status == 200
        r2 = c.read_response()
        assert r2.status == 200
        assert json.loads(r2.body)["QUERY_STRING"] == "real=1"
        # nothing else comes (the body was not executed as a request)
        assert not c.closed_within(0.3) or c.buf == b""
        assert c.buf == b""


def test_body_partially_read_chunked_discarded(lst):
    body = b"q" * 20000
    with connect(lst) as c:
        c.send(build_request("POST", "/echo?mode=partial&n=10",
                             headers=[("Transfer-Encoding", "chunked")], body=chunked(body, (1000,)))
               + build_request("GET", "/env?real=2"))
        r = c.read_response()
        assert r.status == 200 and json.loads(r.body)["parts"] == ["q" * 10]
        r2 = c.read_response()
        assert json.loads(r2.body)["QUERY_STRING"] == "real=2"


# read(n) sizes: >= 64 KiB goes straight into the bytes object as the body streams in (thread
# mode), odd sizes straddle the loop's hand-offs, -1 reads all, small ones go through a buffer
@pytest.mark.parametrize("bs", [65536, 300001, -1, 1000])
def test_large_body_hash(lst, bs):
    body = os.urandom(3 * 1024 * 1024 + 17)
    with connect(lst, timeout=60) as c:
        c.send(build_request("POST", "/hash?bs=%d" % bs, body=body))
        r = c.read_response(timeout=60)
    out = json.loads(r.body)
    assert out["len"] == len(body)
    assert out["sha256"] == hashlib.sha256(body).hexdigest()
    assert out["after"] == 0


# Bodies that stay in memory but span several of its 64 KiB pieces (src/body.h): just past the
# small-body size, odd, exactly the 1 MiB memory limit; read in sizes that straddle the pieces.
@pytest.mark.parametrize("size", [16 * 1024 + 1, 200003, 1024 * 1024])
@pytest.mark.parametrize("bs", [65536, 70001, -1, 999])
def test_memory_body_across_pieces_hash(lst, size, bs):
    body = os.urandom(size)
    with connect(lst, timeout=60) as c:
        c.send(build_request("POST", "/hash?bs=%d" % bs, body=body))
        r = c.read_response(timeout=60)
    out = json.loads(r.body)
    assert out["len"] == len(body)
    assert out["sha256"] == hashlib.sha256(body).hexdigest()
    assert out["after"] == 0


@pytest.mark.parametrize("mode", ["readline", "readline_n", "iter"])
def test_memory_body_lines_across_pieces(lst, mode):
    # lines of 1 to ~9,000 bytes, so some straddle each 64 KiB boundary
    body = b"".join(b"%d:" % i + b"x" * ((i * 7919) % 9000) + b"\n" for i in range(60))
    assert 200000 < len(body) < 1024 * 1024
    out = echo(lst, mode, body=body, n=5000 if mode == "readline_n" else None)
    got = parts(out)
    assert b"".join(got) == body
    if mode != "readline_n":
        assert got == body.splitlines(keepends=True)


def test_large_chunked_body_hash(lst):
    body = os.urandom(1024 * 1024 + 5)
    with connect(lst, timeout=60) as c:
        c.send(build_request("POST", "/hash?bs=10000", headers=[("Transfer-Encoding", "chunked")],
                             body=chunked(body, (65536, 1, 4000))))
        r = c.read_response(timeout=60)
    out = json.loads(r.body)
    assert out["len"] == len(body)
    assert out["sha256"] == hashlib.sha256(body).hexdigest()


def test_body_sent_slowly_in_pieces(lst):
    """The app blocks in read() while the body trickles in (threads>0) or the server buffers it
    (threads 0); either way all bytes arrive in order."""
    body = b"".join(b"piece-%02d;" % i for i in range(20))
    with connect(lst) as c:
        c.send(build_request("POST", "/echo?mode=read", body=body)[:-len(body)])
        for i in range(0, len(body), 37):
            c.send(body[i:i + 37])
        r = c.read_response()
    assert b"".join(p.encode("latin-1") for p in json.loads(r.body)["parts"]) == body


def test_expect_100_continue(lst):
    body = b"expect-body-123"
    with connect(lst) as c:
        head = build_request("POST", "/echo?mode=read", headers=[("Expect", "100-continue"),
                                                                 ("Content-Length", len(body))])
        c.send(head)
        r = c.read_response()
        assert r.status == 100, "no 100 Continue before the body: %r" % r
        c.send(body)
        r = c.read_response()
    assert r.status == 200
    assert json.loads(r.body)["parts"] == [body.decode()]


# -- rejected before the app ----------------------------------------------------------------

@pytest.fixture(scope="module")
def limited(httpsd_module, module_markers):
    return start(httpsd_module, "wsgi_basic:app", "--limit-request-body", "1k", binds=(HTTP,),
                 marker_dir=module_markers)


@pytest.mark.parametrize("kind", ["content-length", "chunked"])
def test_413_before_app(limited, module_markers, kind):
    name = "rec-413-%s-%s" % (kind, os.urandom(4).hex())
    if kind == "content-length":
        req = build_request("POST", "/record?name=" + name, body=b"x" * 2048)
    else:
        req = build_request("POST", "/record?name=" + name, headers=[("Transfer-Encoding", "chunked")],
                            body=chunked(b"x" * 4096, (512,)))
    with connect(limited) as c:
        try:
            c.send(req)
        except (BrokenPipeError, ConnectionResetError):
            pass
        r = c.read_response()
    assert r.status == 413, r
    ok = name + "-ok"
    r = get(limited, "/record?name=" + ok, method="POST", body=b"y" * 1000)
    assert r.status == 200 and r.body == b"recorded", r
    assert wait_marker(module_markers, ok, timeout=5) == ["called"]
    assert read_marker(module_markers, name) is None, "the app was called for a 413 request"


@pytest.mark.parametrize("req", [
    b"GET /record?name=%s HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n",
    b"GET /record?name=%s HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
    b"POST /record?name=%s HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    b"GET /record?name=%s HTTP/1.1\r\nHost: x\r\n Folded: y\r\n\r\n",
], ids=["bad-header", "dup-cl", "bad-cl", "obs-fold"])
def test_malformed_request_400_app_not_called(limited, module_markers, req):
    name = "rec-400-%s" % os.urandom(4).hex()
    with connect(limited) as c:
        c.send(req.replace(b"%s", name.encode()))
        r = c.read_response()
    assert r.status == 400, r
    ok = name + "-ok"
    assert get(limited, "/record?name=" + ok).status == 200
    assert wait_marker(module_markers, ok, timeout=5) == ["called"]
    assert read_marker(module_markers, name) is None, "the app was called for a malformed request"


def test_read_with_huge_size(lst):
    out = echo(lst, "huge")
    assert b"".join(parts(out)) == BODY
    assert out["after"] == ["", "", ""]
