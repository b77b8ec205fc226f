"""Static files: --static-max-age and --static-dotfiles (README "Static files", Usage)."""

import os

import pytest

from conftest import HELLO, assert_serving, build_request, connect, get, run_cli
from statichelp import write

SECRET_ENV = b"API_KEY=dotfile-secret-7f3a9c\n"
SECRET_GIT = b"[core]\n\trepositoryformatversion = 0 # git-secret-51be\n"
SECRET_HIDDEN = b"hidden-secret-c0ffee\n"
SECRET_DIRFILE = b"inside-dot-dir-secret-9d1e\n"


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    r = tmp_path_factory.mktemp("policy") / "site"
    r.mkdir()
    write(r, "hello.txt", HELLO)
    write(r, "page.css", b"a{}\n")
    write(r, ".env", SECRET_ENV)
    write(r, ".git/config", SECRET_GIT)
    write(r, ".git/index.html", b"git index " + SECRET_GIT)
    write(r, "sub/.hidden", SECRET_HIDDEN)
    write(r, ".well/inner.txt", SECRET_DIRFILE)
    write(r, "sub/.d/x.txt", SECRET_DIRFILE)
    write(r, "sub/normal.txt", b"normal\n")
    write(r, "a.b/c.txt", b"dot inside a name is fine\n")
    with open(os.path.join(str(r), "..secret"), "wb") as f:
        f.write(SECRET_HIDDEN)
    return str(r)


BINDS = ["http://127.0.0.1:0", "127.0.0.1:0"]


@pytest.fixture(scope="module")
def srv_default(httpsd_module, root):
    return httpsd_module("--static", "/static=%s" % root, binds=BINDS)


@pytest.fixture(scope="module")
def srv_policy(httpsd_module, root):
    return httpsd_module("--static", "/static=%s" % root, "--static-max-age", "3600",
                         "--static-dotfiles", binds=BINDS)


@pytest.fixture(params=["http", "https"])
def scheme(request):
    return request.param


# --------------------------------------------------------------------------
# --static-max-age
# --------------------------------------------------------------------------

def test_max_age_on_200_206_304(srv_policy, scheme):
    with connect(srv_policy.listener(scheme)) as c:
        r = c.request("GET", "/static/hello.txt")
        assert r.status == 200 and r.body == HELLO
        assert r.header_all("Cache-Control") == ["public, max-age=3600"], r.headers
        etag = r.header("ETag")
        r = c.request("GET", "/static/hello.txt", headers=[("Range", "bytes=1-3")])
        assert r.status == 206 and r.body == HELLO[1:4]
        assert r.header_all("Cache-Control") == ["public, max-age=3600"], r.headers
        r = c.request("GET", "/static/hello.txt", headers=[("Range", "bytes=0-1,3-4")])
        assert r.status == 206
        assert r.header_all("Cache-Control") == ["public, max-age=3600"], r.headers
        r = c.request("GET", "/static/hello.txt", headers=[("If-None-Match", etag)])
        assert r.status == 304 and r.body == b""
        assert r.header_all("Cache-Control") == ["public, max-age=3600"], r.headers
        r = c.request("HEAD", "/static/hello.txt")
        assert r.status == 200
        assert r.header_all("Cache-Control") == ["public, max-age=3600"], r.headers
        r = c.request("GET", "/static/hello.txt")
        assert r.body == HELLO


def test_max_age_not_on_errors(srv_policy):
    """Cache-Control is for static files; a 404 must not be cached for an hour."""
    r = get(srv_policy.http, "/static/missing.txt")
    assert r.status == 404
    assert r.header("Cache-Control") != "public, max-age=3600", r.headers


def test_no_cache_control_without_flag(srv_default, scheme):
    with connect(srv_default.listener(scheme)) as c:
        r = c.request("GET", "/static/hello.txt")
        assert r.status == 200 and r.header("Cache-Control") is None, r.headers
        etag = r.header("ETag")
        r = c.request("GET", "/static/hello.txt", headers=[("Range", "bytes=1-3")])
        assert r.status == 206 and r.header("Cache-Control") is None, r.headers
        r = c.request("GET", "/static/hello.txt", headers=[("If-None-Match", etag)])
        assert r.status == 304 and r.header("Cache-Control") is None, r.headers


@pytest.mark.parametrize("value", ["0", "86400", "31536000"])
def test_max_age_values(httpsd, root, value):
    s = httpsd("--static", "/static=%s" % root, "--static-max-age", value, binds=["http://127.0.0.1:0"])
    r = get(s, "/static/hello.txt")
    assert r.status == 200
    assert r.header("Cache-Control") == "public, max-age=%s" % value, r.headers


@pytest.mark.parametrize("value", ["-1", "abc", "1k", "", "1.5x", "0x10", " 5", "5 ", "1e3"])
def test_max_age_bad_value_exit_2(root, value):
    p = run_cli(["-b", "http://127.0.0.1:0", "--static", "/static=%s" % root, "--static-max-age", value],
                timeout=8)
    assert p.returncode == 2, (value, p.returncode, p.stderr)
    assert "listening on" not in p.stderr


def test_max_age_missing_value_exit_2(root):
    p = run_cli(["-b", "http://127.0.0.1:0", "--static", "/static=%s" % root, "--static-max-age"], timeout=8)
    assert p.returncode == 2, (p.returncode, p.stderr)


# --------------------------------------------------------------------------
# dotfiles
# --------------------------------------------------------------------------

DOT_PATHS = [
    ("/static/.env", SECRET_ENV),
    ("/static/.git/config", SECRET_GIT),
    ("/static/sub/.hidden", SECRET_HIDDEN),
    ("/static/.well/inner.txt", SECRET_DIRFILE),
    ("/static/sub/.d/x.txt", SECRET_DIRFILE),
    ("/static/..secret", SECRET_HIDDEN),
    ("/static/%2eenv", SECRET_ENV),            # percent-encoded dot
    ("/static/.git/", b"git index " + SECRET_GIT),
    ("/static/.env?x=1", SECRET_ENV),
]


@pytest.mark.parametrize("path,secret", DOT_PATHS, ids=[p for p, _ in DOT_PATHS])
@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_dotfiles_404_by_default(srv_default, scheme, path, secret, method):
    with connect(srv_default.listener(scheme)) as c:
        r = c.request(method, path)
        assert r.status == 404, (path, r)
        assert secret not in r.raw
        assert secret.strip()[-6:] not in r.raw
        r = c.request("GET", "/static/hello.txt")
        assert r.status == 200 and r.body == HELLO


@pytest.mark.parametrize("path", ["/static/.env", "/static/.git/config", "/static/sub/.hidden"])
def test_dotfiles_404_with_conditionals_and_ranges(srv_default, path):
    for h in ([("Range", "bytes=0-5")], [("If-None-Match", "*")], [("If-Match", "*")],
              [("Accept-Encoding", "gzip")]):
        r = get(srv_default.http, path, headers=h)
        assert r.status == 404, (path, h, r)
        assert r.header("ETag") is None and r.header("Last-Modified") is None, r.headers


def test_dot_git_dir_redirect_not_leaked(srv_default):
    """/static/.git (a directory) must not answer 301 (it would reveal it exists)."""
    r = get(srv_default.http, "/static/.git")
    assert r.status == 404, r
    assert r.header("Location") is None


@pytest.mark.parametrize("path,secret", DOT_PATHS, ids=[p for p, _ in DOT_PATHS])
def test_dotfiles_served_with_flag(srv_policy, scheme, path, secret):
    with connect(srv_policy.listener(scheme)) as c:
        r = c.request("GET", path)
        assert r.status == 200, (path, r)
        assert r.body == secret
        r = c.request("GET", "/static/hello.txt")
        assert r.status == 200 and r.body == HELLO


def test_dotfiles_flag_range(srv_policy):
    r = get(srv_policy.http, "/static/.env", headers=[("Range", "bytes=0-6")])
    assert r.status == 206 and r.body == SECRET_ENV[:7]


def test_dot_inside_name_is_not_a_dotfile(srv_default):
    r = get(srv_default.http, "/static/a.b/c.txt")
    assert r.status == 200 and r.body == b"dot inside a name is fine\n"


TRAVERSAL = [
    "/static/../secret",
    "/static/..",
    "/static/.",
    "/static/./hello.txt",
    "/static/sub/../hello.txt",
    "/static/sub/../../secret",
    "/static/%2e%2e/secret",
    "/static/%2E%2E/secret",
    "/static/.%2e/secret",
    "/static/%2e/hello.txt",
    "/static/sub/%2e%2e/%2e%2e/secret",
    "/static/..%2fsecret",
    "/static/sub%2f..%2f..%2fsecret",
    "/static/..\\secret",
    "/static/.git/..",
    "/static/.git/../../secret",
]


@pytest.mark.parametrize("path", TRAVERSAL)
@pytest.mark.parametrize("which", ["default", "dotfiles"])
def test_dot_segments_400_with_and_without_flag(srv_default, srv_policy, path, which):
    srv = srv_policy if which == "dotfiles" else srv_default
    c = connect(srv.http)
    try:
        c.send(build_request("GET", path))
        r = c.read_response()
    finally:
        c.close()
    assert r.status == 400, (which, path, r)
    assert b"TOP-SECRET" not in r.raw
    assert_serving(srv, tls=False, expect=HELLO)
