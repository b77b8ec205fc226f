"""A real Flask app behind httpsd: routing, JSON, multipart upload, send_file (through
wsgi.file_wrapper, with ranges), streaming, error handlers, redirects, cookies."""

import hashlib
import http.client
import json
import os
import ssl

import pytest

from conftest import build_request, connect, get
from wsgihelp import HTTP, HTTPS, get_host, module_markers, start  # noqa: F401

pytest.importorskip("flask")


@pytest.fixture(scope="module", params=[4, 0], ids=["threads4", "threads0"])
def srv(request, httpsd_module, module_markers):
    data = os.urandom(2 * 1024 * 1024 + 77)
    (module_markers / "dl.bin").write_bytes(data)
    s = start(httpsd_module, "flask_app:app", binds=(HTTP, HTTPS), threads=request.param,
              marker_dir=module_markers)
    s.dl_data = data
    return s


@pytest.fixture(params=["http", "https"])
def lst(request, srv):
    return srv.listener(request.param)


def hc(lst):
    """A stdlib http.client connection to the listener."""
    if lst.tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return http.client.HTTPSConnection(lst.host, lst.port, context=ctx, timeout=30)
    return http.client.HTTPConnection(lst.host, lst.port, timeout=30)


def test_index(lst):
    r = get(lst, "/")
    assert r.status == 200 and r.body == b"flask-index"
    assert r.header("Content-Type").startswith("text/html")


def test_json_roundtrip_http_client(lst):
    c = hc(lst)
    payload = {"items": [1, 2, 3], "name": "caf\u00e9 \u20ac"}
    c.request("POST", "/json", body=json.dumps(payload), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    body = r.read()
    assert r.status == 200, body
    assert json.loads(body) == {"got": payload, "n": 3, "method": "POST"}
    # keep-alive with http.client
    c.request("GET", "/")
    r = c.getresponse()
    assert r.read() == b"flask-index"
    c.close()


def multipart(fields, files, boundary="----httpsdBoundary7MA4YWxkTrZu0gW"):
    out = b""
    for k, v in fields.items():
        out += (b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n"
                % (boundary.encode(), k.encode(), v.encode()))
    for k, (fname, ctype, data) in files.items():
        out += (b"--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
                b"Content-Type: %s\r\n\r\n" % (boundary.encode(), k.encode(), fname.encode(), ctype.encode()))
        out += data + b"\r\n"
    out += b"--%s--\r\n" % boundary.encode()
    return out, "multipart/form-data; boundary=%s" % boundary


def test_multipart_upload(lst):
    data = os.urandom(700 * 1024)
    body, ctype = multipart({"name": "uploader"}, {"file": ("pic.bin", "application/x-test", data)})
    c = hc(lst)
    c.request("POST", "/upload", body=body, headers={"Content-Type": ctype})
    r = c.getresponse()
    out = json.loads(r.read())
    c.close()
    assert r.status == 200
    assert out == {"name": "uploader", "filename": "pic.bin", "size": len(data),
                   "sha256": hashlib.sha256(data).hexdigest(), "content_type": "application/x-test"}


def test_multipart_upload_chunked(lst):
    data = os.urandom(100 * 1024)
    body, ctype = multipart({"name": "chunky"}, {"file": ("c.bin", "application/octet-stream", data)})
    enc = b""
    for i in range(0, len(body), 8000):
        part = body[i:i + 8000]
        enc += b"%x\r\n%s\r\n" % (len(part), part)
    enc += b"0\r\n\r\n"
    with connect(lst, timeout=30) as c:
        c.send(build_request("POST", "/upload", headers=[("Content-Type", ctype),
                                                         ("Transfer-Encoding", "chunked")], body=enc))
        r = c.read_response()
    assert r.status == 200, r
    out = json.loads(r.body)
    assert out["size"] == len(data) and out["sha256"] == hashlib.sha256(data).hexdigest()


def test_urlencoded_form(lst):
    r = get(lst, "/form", method="POST", body=b"a=1&a=2&b=caf%C3%A9",
            headers=[("Content-Type", "application/x-www-form-urlencoded")])
    assert r.status == 200
    assert json.loads(r.body) == {"a": ["1", "2"], "b": ["caf\u00e9"]}


def test_send_file(srv, lst):
    c = connect(lst, timeout=30)
    r = c.request("GET", "/download/dl.bin", timeout=30)
    assert r.status == 200
    assert r.header("Content-Length") == str(len(srv.dl_data))
    assert r.body == srv.dl_data
    # keep-alive after a file_wrapper response
    r = c.request("GET", "/")
    assert r.body == b"flask-index"
    c.close()


def test_send_file_range(srv, lst):
    """werkzeug seeks the file and sets Content-Length: file_wrapper must honour both."""
    with connect(lst) as c:
        c.send(build_request("GET", "/download/dl.bin", headers=[("Range", "bytes=100000-100099")]) +
               build_request("GET", "/download/dl.bin", headers=[("Range", "bytes=-10")]) +
               build_request("GET", "/"))
        r = c.read_response()
        r2 = c.read_response()
        r3 = c.read_response()
    assert r.status == 206, r
    assert r.header("Content-Length") == "100"
    assert r.body == srv.dl_data[100000:100100]
    assert r2.status == 206 and r2.body == srv.dl_data[-10:]
    assert r3.body == b"flask-index"


def test_send_file_conditional_304(srv, lst):
    r = get(lst, "/download/dl.bin")
    etag = r.header("ETag")
    assert etag
    with connect(lst) as c:
        c.send(build_request("GET", "/download/dl.bin", headers=[("If-None-Match", etag)]) +
               build_request("GET", "/"))
        r = c.read_response()
        r2 = c.read_response()
    assert r.status == 304
    assert r2.body == b"flask-index"


def test_send_file_head(srv, lst):
    with connect(lst) as c:
        c.send(build_request("HEAD", "/download/dl.bin") + build_request("GET", "/"))
        h = c.read_response("HEAD")
        r = c.read_response()
    assert h.header("Content-Length") == str(len(srv.dl_data))
    assert r.body == b"flask-index"


def test_streaming(lst):
    with connect(lst) as c:
        r = c.request("GET", "/stream?n=50&tag=t1")
        assert r.status == 200
        assert r.body == b"".join(b"line %d of t1\n" % i for i in range(50))
        assert (r.header("Transfer-Encoding") or "").lower() == "chunked"
        r = c.request("GET", "/")
        assert r.body == b"flask-index"


def test_custom_404(lst):
    r = get(lst, "/no/such/page")
    assert r.status == 404
    assert json.loads(r.body) == {"error": "custom-404", "path": "/no/such/page"}


def test_custom_500_and_log(srv, lst):
    from wsgihelp import log_mark, new_log, wait_new_log
    mark = log_mark(srv)
    r = get(lst, "/boom")
    assert r.status == 500
    assert json.loads(r.body) == {"error": "custom-500"}
    # Flask logs the exception to wsgi.errors / stderr
    assert wait_new_log(srv, mark, r"flask-boom-sentinel", timeout=5), new_log(srv, mark)


def test_redirect(lst):
    r = get_host(lst, "/go", "example.com")
    assert r.status == 302
    assert r.header("Location") in ("/", "%s://example.com/" % lst.scheme)


def test_cookies(lst):
    r = get(lst, "/cookie", headers=[("Cookie", "flavour=choc"), ("Cookie", "x=1")])
    assert json.loads(r.body) == {"seen": "choc"}
    cookies = r.header_all("Set-Cookie")
    assert len(cookies) == 2
    assert cookies[0].startswith("flavour=oatmeal") and cookies[1].startswith("second=two")


def test_request_info(lst):
    r = get_host(lst, "/info?a=1&a=2&b=%C3%A9", "flask.example:4443")
    info = json.loads(r.body)
    assert info["scheme"] == lst.scheme
    assert info["host"] == "flask.example:4443"
    # werkzeug renders request.url as an IRI (percent-escapes of UTF-8 decoded)
    assert info["url"] == "%s://flask.example:4443/info?a=1&a=2&b=\u00e9" % lst.scheme
    assert info["args"] == {"a": ["1", "2"], "b": ["\u00e9"]}
    assert info["remote_addr"] == "127.0.0.1"


def test_unicode_path(lst):
    r = get(lst, "/nowhere/%C3%A9t%C3%A9.bin")
    assert r.status == 404
    assert json.loads(r.body)["path"] == "/nowhere/\u00e9t\u00e9.bin"
