"""Static files: bytes, MIME types, validators, directories, errors, methods, large files."""

import email.utils
import hashlib
import os
import pwd
import shutil
import subprocess
import time
import urllib.parse

import pytest

from conftest import (HELLO, MIME_TABLE, assert_serving, build_request, connect, get,
                      make_site, static_args)


@pytest.fixture(scope="module")
def srv(httpsd_module, site):
    return httpsd_module(*static_args(site), binds=["http://127.0.0.1:0", "127.0.0.1:0"])


@pytest.fixture(params=["http", "https"])
def lst(request, srv):
    return srv.listener(request.param)


def test_hello_exact(lst):
    r = get(lst, "/static/hello.txt")
    assert r.status == 200
    assert r.body == HELLO
    assert r.header("Content-Type") == "text/plain; charset=utf-8"
    assert r.header("Content-Length") == str(len(HELLO))
    assert r.header("Transfer-Encoding") is None


@pytest.mark.parametrize("ext", sorted(MIME_TABLE))
def test_mime_types(srv, ext):
    r = get(srv.http, "/static/f.%s" % ext)
    assert r.status == 200
    assert r.body == ("content of f.%s\n" % ext).encode()
    ct = r.header("Content-Type")
    assert ct is not None
    norm = ct.lower().replace(" ", "")
    assert norm in [v.replace(" ", "") for v in MIME_TABLE[ext]], "f.%s -> %r" % (ext, ct)


def test_mime_case_insensitive_or_octet(srv, site):
    """An upper-case extension is either mapped like the lower-case one or octet-stream."""
    p = os.path.join(site.root, "F.HTML")
    # the session site is shared: create the file only once
    if not os.path.exists(p):
        with open(p, "wb") as f:
            f.write(b"upper\n")
    r = get(srv.http, "/static/F.HTML")
    assert r.status == 200
    assert r.header("Content-Type").replace(" ", "") in ("text/html;charset=utf-8",
                                                         "application/octet-stream")


def test_validators(lst, site):
    r = get(lst, "/static/hello.txt")
    assert r.status == 200
    lm = r.header("Last-Modified")
    assert lm is not None, r.headers
    assert lm.endswith(" GMT")
    mtime = int(os.stat(site.hello_path).st_mtime)
    assert email.utils.parsedate_to_datetime(lm).timestamp() == mtime, (lm, mtime)
    etag = r.header("ETag")
    assert etag is not None, r.headers
    assert etag.startswith('"') and etag.endswith('"') and len(etag) > 2, etag
    assert not etag.startswith("W/"), "ETag must be strong: %r" % etag
    # stable across requests, different between files
    assert get(lst, "/static/hello.txt").header("ETag") == etag
    assert get(lst, "/static/f.css").header("ETag") != etag


def test_etag_changes_when_file_changes(httpsd, tmp_path):
    d = tmp_path / "m"
    d.mkdir()
    f = d / "x.txt"
    f.write_bytes(b"one\n")
    os.utime(f, (1_600_000_000, 1_600_000_000))
    s = httpsd("--static", "/m=%s" % d, binds=["http://127.0.0.1:0"])
    r1 = get(s.http, "/m/x.txt")
    f.write_bytes(b"two!\n")
    os.utime(f, (1_600_000_100, 1_600_000_100))
    changed = time.monotonic()
    # the open-file cache revalidates at most every 0.5 s: the change must show within a second
    while True:
        r2 = get(s.http, "/m/x.txt")
        if r2.body != b"one\n" or time.monotonic() - changed > 1.0:
            break
        time.sleep(0.05)
    assert time.monotonic() - changed <= 1.0 + 0.2
    assert r1.body == b"one\n" and r2.body == b"two!\n"
    assert r1.header("ETag") != r2.header("ETag")
    assert r1.header("Last-Modified") != r2.header("Last-Modified")


def test_empty_file(lst):
    r = get(lst, "/static/empty.txt")
    assert r.status == 200
    assert r.header("Content-Length") == "0"
    assert r.body == b""


def test_directory_with_slash_serves_index(lst, site):
    r = get(lst, "/static/sub/")
    assert r.status == 200
    assert r.body == site.sub_index
    assert r.header("Content-Type").replace(" ", "") == "text/html;charset=utf-8"
    r = get(lst, "/static/")
    assert r.status == 200 and r.body == site.index


@pytest.mark.parametrize("path,expect_path,expect_query", [
    ("/static/sub", "/static/sub/", ""),
    ("/static/sub?x=1&y=2", "/static/sub/", "x=1&y=2"),
    ("/static/noindex", "/static/noindex/", ""),
    ("/static", "/static/", ""),
])
def test_directory_without_slash_redirects(lst, path, expect_path, expect_query):
    r = get(lst, path)
    assert r.status == 301, r
    loc = r.header("Location")
    assert loc is not None, r.headers
    u = urllib.parse.urlsplit(loc)
    assert u.path == expect_path, loc
    assert u.query == expect_query, loc


def test_directory_without_index_404(lst):
    r = get(lst, "/static/noindex/")
    assert r.status == 404
    assert b"file.txt" not in r.body, "directory listing leaked"


@pytest.mark.parametrize("path", ["/static/missing.txt", "/static/sub/missing.html",
                                  "/static/hello.txt/", "/static/hello.txt/x"])
def test_missing_404(lst, path):
    r = get(lst, path)
    assert r.status == 404, r


@pytest.mark.parametrize("path", ["/", "/nomount", "/nomount/hello.txt", "/statichello.txt",
                                  "/staticx/hello.txt", "/STATIC/hello.txt"])
def test_no_mount_404(lst, path):
    r = get(lst, path)
    assert r.status == 404, r


@pytest.mark.parametrize("path", ["/static/fifo", "/static/sock"])
def test_special_files_403(srv, lst, path):
    t0 = time.monotonic()
    r = get(lst, path, timeout=5)
    assert r.status == 403, r
    assert time.monotonic() - t0 < 5
    assert_serving(srv)


def test_fifo_does_not_block_other_connections(srv):
    c = connect(srv.http)
    c.send(build_request("GET", "/static/fifo"))
    # while (possibly) dealing with the FIFO, others are served
    assert_serving(srv)
    r = c.read_response(timeout=5)
    c.close()
    assert r.status == 403


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_other_methods_405(srv, lst, method):
    body = b"data" if method in ("POST", "PUT", "PATCH") else b""
    c = connect(lst)
    r = c.request(method, "/static/hello.txt", body=body)
    assert r.status == 405, r
    allow = r.header("Allow")
    assert allow is not None, r.headers
    assert sorted(t.strip() for t in allow.split(",")) == ["GET", "HEAD"], allow
    c.close()
    assert_serving(srv)


def test_405_keeps_connection_usable_or_closes_cleanly(lst):
    c = connect(lst)
    r = c.request("POST", "/static/hello.txt", body=b"abc")
    assert r.status == 405
    if r.conn_close:
        assert c.closed_within(5)
    else:
        r = c.request("GET", "/static/hello.txt")
        assert r.status == 200 and r.body == HELLO
    c.close()


def test_symlink_inside_root(lst):
    r = get(lst, "/static/link.txt")
    assert r.status == 200 and r.body == HELLO
    r = get(lst, "/static/linkdir/")
    assert r.status == 200 and b"sub index" in r.body


def large_get(lst, site, method="GET"):
    h = hashlib.sha256()
    c = connect(lst, timeout=60)
    c.send(build_request(method, "/static/large.bin"))
    r = c.read_response(method, timeout=120, body_sink=h.update)
    c.close()
    return r, h.hexdigest()


def test_large_file_exact(lst, site):
    r, digest = large_get(lst, site)
    assert r.status == 200
    assert r.header("Content-Length") == str(site.large_size)
    assert r.body_len == site.large_size
    assert digest == site.large_sha256
    assert r.header("Content-Type") == "application/octet-stream"


def test_large_file_head(lst, site):
    c = connect(lst)
    r = c.request("HEAD", "/static/large.bin")
    assert r.status == 200 and r.header("Content-Length") == str(site.large_size)
    assert not c.closed_within(0.3)
    assert c.buf == b""
    c.close()


def test_large_file_twice_on_one_connection(srv, site):
    h1, h2 = hashlib.sha256(), hashlib.sha256()
    c = connect(srv.https, timeout=60)
    c.send(build_request("GET", "/static/large.bin") + build_request("GET", "/static/large.bin"))
    r1 = c.read_response(timeout=120, body_sink=h1.update)
    r2 = c.read_response(timeout=120, body_sink=h2.update)
    c.close()
    assert r1.status == r2.status == 200
    assert h1.hexdigest() == h2.hexdigest() == site.large_sha256


def test_two_mounts(httpsd, tmp_path, site):
    other = tmp_path / "other"
    (other / "deep").mkdir(parents=True)
    (other / "deep" / "x.json").write_bytes(b"{}\n")
    s = httpsd(*static_args(site), "--static", "/assets/v1=%s" % other, binds=["http://127.0.0.1:0"])
    assert get(s.http, "/static/hello.txt").body == HELLO
    r = get(s.http, "/assets/v1/deep/x.json")
    assert r.status == 200 and r.body == b"{}\n"
    assert r.header("Content-Type") == "application/json"
    assert get(s.http, "/assets/deep/x.json").status == 404
    assert get(s.http, "/assets/v1/hello.txt").status == 404


def _can_run_as_nobody():
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        return False
    try:
        pwd.getpwnam("nobody")
    except KeyError:
        return False
    p = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "true"],
                       capture_output=True, timeout=10)
    return p.returncode == 0


@pytest.mark.skipif(not _can_run_as_nobody(), reason="cannot switch to nobody with setpriv")
def test_unreadable_403(short_tmp, httpsd, site):
    cwd = short_tmp
    os.chmod(cwd, 0o777)
    s = httpsd(*static_args(site), binds=["http://127.0.0.1:0"], cwd=cwd,
               prefix=["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"])
    r = get(s.http, "/static/noperm.txt")
    assert r.status == 403, r
    assert b"you cannot read me" not in r.raw
    assert get(s.http, "/static/hello.txt").body == HELLO
