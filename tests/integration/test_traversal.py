"""Path traversal: nothing outside the mount is ever served.

Vectors are sent with raw sockets (HTTP clients normalise dot segments)."""

import pytest

from conftest import HELLO, assert_serving, connect, static_args


@pytest.fixture(scope="module")
def srv(httpsd_module, site):
    return httpsd_module(*static_args(site), binds=["http://127.0.0.1:0", "127.0.0.1:0"])


@pytest.fixture(params=["http", "https"])
def lst(request, srv):
    return srv.listener(request.param)


# target -> allowed statuses (README: dot segments, %2F, backslash, NUL, bad escapes: 400;
# a double-encoded sequence is decoded once only, so it is merely a missing file)
VECTORS = {
    b"/static/../secret": (400,),
    b"/static/%2e%2e/secret": (400,),
    b"/static/%2E%2E/secret": (400,),
    b"/static/.%2e/secret": (400,),
    b"/static/%2e./secret": (400,),
    b"/static/..%2fsecret": (400,),
    b"/static/..%2Fsecret": (400,),
    b"/static/%2f..%2fsecret": (400,),
    b"/static/%2e%2e%2fsecret": (400,),
    b"/static/..\\secret": (400,),
    b"/static/%5c..%5csecret": (400,),
    b"/static/..%5csecret": (400,),
    b"/static/hello.txt%00.png": (400,),
    b"/static/./hello.txt": (400,),
    b"/static/%2e/hello.txt": (400,),
    b"/static/sub/../../secret": (400,),
    b"/static/sub/..": (400,),
    b"/static/..": (400,),
    b"/static/../static/hello.txt": (400,),
    b"/static/sub/%2e%2e/%2e%2e/secret": (400,),
    b"/static/%zz": (400,),
    b"/static/%4": (400,),
    b"/static/hello.txt%": (400,),
    b"/static/%252e%252e/secret": (400, 404),
    b"/static/%252e%252e%252fsecret": (400, 404),
    b"/static/%c0%ae%c0%ae/secret": (400, 404),
    b"/static/escape_rel": (404,),
    b"/static/escape_abs": (404,),
    b"/static/outdir/secret": (404,),
    b"/static/outdir/site/hello.txt": (404,),
    b"/static/passwd": (404,),
    b"/static//etc/passwd": (400, 404),
    b"/static/%2fetc%2fpasswd": (400,),
    b"http://localhost/static/../secret": (400,),
    b"http://localhost/static/%2e%2e/secret": (400,),
}


@pytest.mark.parametrize("target", sorted(VECTORS), ids=lambda t: t.decode("latin-1"))
def test_traversal_vector(srv, site, lst, target):
    c = connect(lst)
    c.send(b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
    r = c.read_response()
    # if the server closes after an error, also collect whatever follows
    c.closed_within(0.5 if r.conn_close else 0.05)
    raw = r.raw + c.buf
    c.close()
    assert site.secret_content not in raw, "SECRET LEAKED for %r" % target
    assert b"root:x:0:0" not in raw, "/etc/passwd leaked for %r" % target
    assert r.status in VECTORS[target], "%r -> %r" % (target, r)
    if r.status == 400:
        assert r.conn_close, "400 without Connection: close"
    assert_serving(srv, tls=lst.tls)


def test_query_with_dots_is_not_a_path(lst):
    c = connect(lst)
    r = c.request("GET", "/static/hello.txt?../../secret")
    c.close()
    assert r.status == 200 and r.body == HELLO


def test_symlink_inside_root_served(lst):
    c = connect(lst)
    r = c.request("GET", "/static/link.txt")
    c.close()
    assert r.status == 200 and r.body == HELLO


def test_mount_directory_itself_not_escaped_by_prefix_tricks(srv, site):
    # /static.. and /static%2f.. must not map into or above the mount
    for target in (b"/static../secret", b"/static%2f..%2fsecret", b"/static/.../secret"):
        c = connect(srv.http)
        c.send(b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
        r = c.read_response()
        c.close()
        assert site.secret_content not in r.raw
        assert r.status in (400, 404), (target, r)
