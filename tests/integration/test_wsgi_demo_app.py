"""The bundled demo app (wsgiapp.py), served the way ./run.sh serves it: the app at every
path outside /static/, the demo site under /static/."""

import json
import os

import pytest

from conftest import REPO, build_request, connect

from wsgihelp import HTTP, HTTPS


@pytest.fixture(scope="module")
def demo(httpsd_module):
    return httpsd_module("--static", "/static=" + os.path.join(REPO, "static"),
                         "--pythonpath", REPO, "wsgiapp:application", binds=(HTTP, HTTPS))


@pytest.fixture(params=["http", "https"])
def lst(request, demo):
    return demo.listener(request.param)


def fetch(lst, method, path, headers=(), body=b""):
    with connect(lst) as c:
        c.send(build_request(method, path, headers=list(headers), body=body))
        return c.read_response(method)


def test_hello(lst):
    r = fetch(lst, "GET", "/hello")
    assert (r.status, r.body) == (200, b"Hello, World!")
    assert r.header("content-type").startswith("text/plain")
    assert r.header("content-length") == "13"


def test_index_links_the_demo_site(lst):
    r = fetch(lst, "GET", "/")
    assert r.status == 200 and r.header("content-type").startswith("text/html")
    for link in (b'href="/static/index.html"', b'href="/static/style.css"', b'href="/hello"',
                 b'href="/stream"'):
        assert link in r.body
    # ...and what it links is there, served by the static handler
    for path in ("/static/index.html", "/static/style.css"):
        assert fetch(lst, "GET", path).status == 200


def test_echo(lst):
    body = "héllo wörld".encode()
    r = fetch(lst, "POST", "/echo?x=1&y=%C3%A9",
              headers=[("Content-Type", "text/plain; charset=utf-8"), ("X-Demo", "42"),
                       ("Content-Length", str(len(body)))], body=body)
    assert r.status == 200 and r.header("content-type") == "application/json"
    e = json.loads(r.body)
    assert e["method"] == "POST" and e["path"] == "/echo" and e["query"] == "x=1&y=%C3%A9"
    assert e["headers"]["X-Demo"] == "42"
    assert e["headers"]["Content-Type"] == "text/plain; charset=utf-8"
    assert (e["body"], e["body_encoding"], e["body_length"]) == ("héllo wörld", "utf-8", len(body))


def test_echo_binary_body_and_unicode_path(lst):
    body = bytes(range(256))
    r = fetch(lst, "PUT", "/echo", headers=[("Content-Length", "256")], body=body)
    e = json.loads(r.body)
    assert e["body_encoding"] == "base64" and e["body_length"] == 256
    r = fetch(lst, "GET", "/caf%C3%A9")
    assert r.status == 404  # the app's own 404 for unknown paths


def test_stream_is_chunked(lst):
    r = fetch(lst, "GET", "/stream")
    assert r.status == 200
    assert r.header("transfer-encoding") == "chunked"
    lines = r.body.decode().splitlines()
    assert lines == ["chunk %d of 10" % i for i in range(1, 11)]
    assert fetch(lst, "POST", "/stream", headers=[("Content-Length", "0")]).status == 405
