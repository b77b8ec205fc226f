"""A minimal Django project (DEBUG=False, no database) behind httpsd."""

import json

import pytest

from conftest import connect, get
from wsgihelp import APPS, HTTP, HTTPS, get_host, log_mark, module_markers, new_log, start, wait_new_log  # noqa: F401

pytest.importorskip("django")


@pytest.fixture(scope="module", params=[4, 0], ids=["threads4", "threads0"])
def srv(request, httpsd_module, module_markers):
    return start(httpsd_module, "djangoproj.wsgi:application", binds=(HTTP, HTTPS),
                 threads=request.param, marker_dir=module_markers)


@pytest.fixture(params=["http", "https"])
def lst(request, srv):
    return srv.listener(request.param)


def test_index(lst):
    r = get(lst, "/")
    assert r.status == 200, (r, r.body[:300])
    assert r.body == b"django-index"
    assert r.header("Content-Type").startswith("text/plain")


def test_view_with_arg_and_query(lst):
    r = get(lst, "/hello/world?q=%C3%A9t%C3%A9")
    assert r.status == 200
    assert json.loads(r.body) == {"hello": "world", "q": "\u00e9t\u00e9"}


def test_unicode_path_arg(lst):
    r = get(lst, "/hello/caf%C3%A9")
    assert r.status == 200
    assert json.loads(r.body)["hello"] == "caf\u00e9"


def test_post_form(lst):
    body = b"name=Ada&lang=py&lang=c&note=a+b%26c"
    r = get(lst, "/form", method="POST", body=body,
            headers=[("Content-Type", "application/x-www-form-urlencoded")])
    assert r.status == 200, (r, r.body[:300])
    assert json.loads(r.body) == {"fields": {"name": ["Ada"], "lang": ["py", "c"], "note": ["a b&c"]},
                                  "len": len(body)}


def test_post_form_chunked(lst):
    body = b"k=v&k2=v2"
    enc = b"4\r\nk=v&\r\n5\r\nk2=v2\r\n0\r\n\r\n"
    with connect(lst) as c:
        r = c.request("POST", "/form", body=enc,
                      headers=[("Content-Type", "application/x-www-form-urlencoded"),
                               ("Transfer-Encoding", "chunked")])
    assert r.status == 200, (r, r.body[:300])
    assert json.loads(r.body)["fields"] == {"k": ["v"], "k2": ["v2"]}
    assert json.loads(r.body)["len"] == len(body)


def test_404(lst):
    r = get(lst, "/definitely/not/here")
    assert r.status == 404
    assert b"Not Found" in r.body


def test_500_and_log(srv, lst):
    mark = log_mark(srv)
    r = get(lst, "/boom")
    assert r.status == 500
    assert b"django-boom-sentinel" not in r.body
    assert wait_new_log(srv, mark, r"django-boom-sentinel", timeout=5), new_log(srv, mark)


def test_meta(lst):
    r = get_host(lst, "/meta?x=1", "dj.example:8443")
    m = json.loads(r.body)
    assert m["REQUEST_METHOD"] == "GET"
    assert m["PATH_INFO"] == "/meta"
    assert m["QUERY_STRING"] == "x=1"
    assert m["HTTP_HOST"] == "dj.example:8443"
    assert m["SERVER_NAME"] == "dj.example" and m["SERVER_PORT"] == "8443"
    assert m["wsgi.url_scheme"] == lst.scheme
    assert m["is_secure"] is (lst.scheme == "https")
    assert m["host"] == "dj.example:8443"


def test_streaming_response(lst):
    with connect(lst) as c:
        r = c.request("GET", "/stream?n=6")
        assert r.status == 200
        assert r.body == b"".join(b"chunk-%d;" % i for i in range(6))
        r = c.request("GET", "/")
        assert r.body == b"django-index"


def test_head(lst):
    with connect(lst) as c:
        c.send(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n")
        h = c.read_response("HEAD")
        r = c.read_response()
    assert h.status == 200 and h.header("Content-Length") == "12"
    assert r.body == b"django-index"
