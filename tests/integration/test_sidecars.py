"""Static files: precompressed sidecars (README "Static files", Precompressed files).

x.css + x.css.gz + x.css.br: negotiation by Accept-Encoding (q-values, q=0,
br wins a tie, *), Content-Encoding, own ETag, Vary on every response for a
path with a sidecar, Range on the encoded bytes, conditionals per variant,
stale / directory sidecars ignored, only text-like types looked up.
"""

import gzip
import os

import pytest

from conftest import HELLO, connect
from statichelp import (PAST_NS, assert_single_range, assert_validators, follow_up,
                        parse_multipart, pattern_bytes, poll, write)

CSS = b"/* sidecar test */\n" + b"body { margin: 0; padding: 0; color: #222 }\n" * 400
GZ = gzip.compress(CSS, mtime=0)
BR = b"BR-SIDECAR-NOT-REALLY-BROTLI:" + pattern_bytes(1500, 3)  # the server does not decode
CSS_T = "text/css; charset=utf-8"
T0 = PAST_NS
T1 = PAST_NS + 5 * 10**9  # sidecars are newer than the original


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("side") / "site"
    root.mkdir()
    t = type("Tree", (), {})()
    t.root = str(root)
    write(root, "hello.txt", HELLO)
    t.css = write(root, "x.css", CSS, mtime_ns=T0)
    t.gz = write(root, "x.css.gz", GZ, mtime_ns=T1)
    t.br = write(root, "x.css.br", BR, mtime_ns=T1)
    # only a .gz
    t.js = write(root, "app.js", b"console.log('hi');\n" * 50, mtime_ns=T0)
    t.js_gz = write(root, "app.js.gz", gzip.compress(open(t.js, "rb").read(), mtime=0), mtime_ns=T1)
    # no sidecar
    t.plain = write(root, "plain.css", b"p{}\n", mtime_ns=T0)
    # stale sidecars (older than the original)
    t.old = write(root, "old.css", b"old{}\n" * 10, mtime_ns=T1)
    write(root, "old.css.gz", gzip.compress(b"old{}\n" * 10, mtime=0), mtime_ns=T0)
    write(root, "old.css.br", b"stale-br", mtime_ns=T0)
    # sidecars that are directories
    t.dirside = write(root, "dir.css", b"dir{}\n" * 10, mtime_ns=T0)
    os.mkdir(os.path.join(t.root, "dir.css.gz"))
    os.mkdir(os.path.join(t.root, "dir.css.br"))
    # sidecar with the same mtime as the original ("not older" -> used)
    t.same = write(root, "same.css", b"same{}\n" * 10, mtime_ns=T0)
    t.same_gz = write(root, "same.css.gz", gzip.compress(b"same{}\n" * 10, mtime=0), mtime_ns=T0)
    # non-text type with a .gz: not looked up
    t.png = write(root, "img.png", b"\x89PNG\r\n\x1a\n" + pattern_bytes(3000, 4), mtime_ns=T0)
    write(root, "img.png.gz", gzip.compress(open(t.png, "rb").read()), mtime_ns=T1)
    t.bin = write(root, "data.qqzzy", b"opaque" * 100, mtime_ns=T0)
    write(root, "data.qqzzy.gz", gzip.compress(b"opaque" * 100), mtime_ns=T1)
    # text-like types
    t.types = {}
    for ext in ["html", "js", "mjs", "json", "txt", "svg", "xml", "wasm"]:
        name = "t.%s" % ext
        body = ("content of %s " % name).encode() * 30
        p = write(root, name, body, mtime_ns=T0)
        write(root, name + ".gz", gzip.compress(body, mtime=0), mtime_ns=T1)
        t.types[ext] = (p, body)
    # a large original (> 16 KiB) with sidecars
    t.big = write(root, "big.css", CSS * 4, mtime_ns=T0)
    t.big_gz = write(root, "big.css.gz", gzip.compress(CSS * 4, mtime=0), mtime_ns=T1)
    t.big_br = write(root, "big.css.br", pattern_bytes(40000, 9), mtime_ns=T1)
    return t


@pytest.fixture(scope="module")
def srv(httpsd_module, tree):
    return httpsd_module("--static", "/static=%s" % tree.root,
                         binds=["http://127.0.0.1:0", "127.0.0.1:0"])


@pytest.fixture(params=["http", "https"])
def lst(request, srv):
    return srv.listener(request.param)


@pytest.fixture
def conn(lst):
    c = connect(lst)
    yield c
    c.close()


def fetch(conn, path, ae=None, method="GET", extra=()):
    h = list(extra)
    if ae is not None:
        h.append(("Accept-Encoding", ae))
    return conn.request(method, path, headers=h)


def assert_identity(r, data, path, vary=True):
    assert r.status == 200, r
    assert r.header("Content-Encoding") is None, r.headers
    assert r.body == data
    assert r.header("Content-Length") == str(len(data))
    assert_validators(r, path)
    if vary:
        assert r.header("Vary") == "Accept-Encoding", r.headers
    else:
        assert r.header("Vary") is None, r.headers


def assert_encoded(r, enc, data, ctype=CSS_T):
    assert r.status == 200, r
    assert r.header("Content-Encoding") == enc, r.headers
    assert r.body == data
    assert r.header("Content-Length") == str(len(data))
    assert r.header("Content-Type") == ctype, r.headers
    assert r.header("Vary") == "Accept-Encoding", r.headers
    assert r.header("Accept-Ranges") == "bytes"
    etag = r.header("ETag")
    assert etag and etag.startswith('"') and not etag.startswith("W/"), etag
    assert r.header("Last-Modified"), r.headers


AE_CASES = [
    ("gzip", "gzip"),
    ("br", "br"),
    ("gzip, br", "br"),
    ("br, gzip", "br"),
    ("gzip, deflate, br, zstd", "br"),
    ("br;q=0.5, gzip;q=0.8", "gzip"),
    ("gzip;q=0.8, br;q=0.5", "gzip"),
    ("br;q=0.8, gzip;q=0.8", "br"),
    ("gzip;q=1.0, br;q=0.999", "gzip"),
    ("br;q=0, gzip;q=0", None),
    ("br;q=0, gzip", "gzip"),
    ("gzip;q=0, br", "br"),
    ("br;q=0.0, gzip;q=0.000", None),
    ("*", "br"),
    ("*;q=0", None),
    ("*;q=0, gzip", "gzip"),
    ("gzip;q=0, *", "br"),
    ("br;q=0, *", "gzip"),
    ("br;q=0, gzip;q=0, *", None),
    ("identity", None),
    ("deflate, zstd", None),
    ("GZIP", "gzip"),
    ("Br", "br"),
    ("gzip ; q=0.5 , br ; q=0.4", "gzip"),
    ("x-gzip", "gzip"),                  # RFC 9110 8.4.1.3: x-gzip is gzip
    ("gzipx, brx", None),
]


@pytest.mark.parametrize("ae,enc", AE_CASES, ids=[a for a, _ in AE_CASES])
def test_negotiation(conn, tree, ae, enc):
    r = fetch(conn, "/static/x.css", ae)
    if enc is None:
        assert_identity(r, CSS, tree.css)
    elif enc == "gzip":
        assert_encoded(r, "gzip", GZ)
        assert gzip.decompress(r.body) == CSS
    else:
        assert_encoded(r, "br", BR)
    follow_up(conn)


def test_no_accept_encoding_identity_with_vary(conn, tree):
    r = fetch(conn, "/static/x.css")
    assert_identity(r, CSS, tree.css)
    h = fetch(conn, "/static/x.css", method="HEAD")
    assert h.status == 200 and h.header("Vary") == "Accept-Encoding"
    assert h.header("Content-Length") == str(len(CSS)) and h.body == b""
    follow_up(conn)


def test_empty_accept_encoding_identity(conn, tree):
    """An empty Accept-Encoding (valid HTTP: 'no content coding wanted') -> identity."""
    r = conn.request("GET", "/static/x.css", headers=[b"Accept-Encoding:"])
    assert_identity(r, CSS, tree.css)
    follow_up(conn)


def test_etags_differ_per_variant(conn, tree):
    tags = {}
    for ae in [None, "gzip", "br"]:
        r = fetch(conn, "/static/x.css", ae)
        tags[ae] = r.header("ETag")
        # stable
        assert fetch(conn, "/static/x.css", ae).header("ETag") == tags[ae]
    assert len(set(tags.values())) == 3, tags
    # identity ETag describes x.css itself
    assert_validators(fetch(conn, "/static/x.css"), tree.css)


def test_head_encoded(conn):
    r = fetch(conn, "/static/x.css", "gzip", method="HEAD")
    assert r.status == 200 and r.body == b""
    assert r.header("Content-Encoding") == "gzip"
    assert r.header("Content-Length") == str(len(GZ))
    assert r.header("Vary") == "Accept-Encoding"
    follow_up(conn)


def test_only_gz_sidecar(conn, tree):
    js = open(tree.js, "rb").read()
    r = fetch(conn, "/static/app.js", "br")
    assert_identity(r, js, tree.js)
    r = fetch(conn, "/static/app.js", "gzip, br")
    assert_encoded(r, "gzip", open(tree.js_gz, "rb").read(), "text/javascript; charset=utf-8")
    r = fetch(conn, "/static/app.js")
    assert_identity(r, js, tree.js)


def test_sidecar_with_same_mtime_used(conn, tree):
    r = fetch(conn, "/static/same.css", "gzip")
    assert_encoded(r, "gzip", open(tree.same_gz, "rb").read())


def test_older_sidecar_not_used(conn, tree):
    data = open(tree.old, "rb").read()
    for ae in ["gzip", "br", "gzip, br", "*"]:
        r = fetch(conn, "/static/old.css", ae)
        assert r.status == 200
        assert r.header("Content-Encoding") is None, (ae, r.headers)
        assert r.body == data
        assert_validators(r, tree.old)
    follow_up(conn)


def test_directory_sidecar_not_used(conn, tree):
    data = open(tree.dirside, "rb").read()
    for ae in ["gzip", "br", "*"]:
        r = fetch(conn, "/static/dir.css", ae)
        assert r.status == 200, r
        assert r.header("Content-Encoding") is None, (ae, r.headers)
        assert r.body == data
        assert_validators(r, tree.dirside)
    follow_up(conn)


def test_no_sidecar_no_vary(conn, tree):
    for ae in [None, "gzip", "br", "*"]:
        r = fetch(conn, "/static/plain.css", ae)
        assert r.status == 200 and r.body == b"p{}\n"
        assert r.header("Vary") is None, (ae, r.headers)
        assert r.header("Content-Encoding") is None


@pytest.mark.parametrize("name,ctype", [("img.png", "image/png"), ("data.qqzzy", "application/octet-stream")])
def test_non_text_type_not_looked_up(conn, tree, name, ctype):
    path = os.path.join(tree.root, name)
    data = open(path, "rb").read()
    for ae in [None, "gzip", "gzip, br", "*"]:
        r = fetch(conn, "/static/" + name, ae)
        assert r.status == 200
        assert r.header("Content-Type") == ctype
        assert r.header("Content-Encoding") is None, (ae, r.headers)
        assert r.header("Vary") is None, (ae, r.headers)
        assert r.body == data
        assert_validators(r, path)


@pytest.mark.parametrize("ext", ["html", "js", "mjs", "json", "txt", "svg", "xml", "wasm"])
def test_text_like_types_use_sidecar(conn, tree, ext):
    p, body = tree.types[ext]
    r = fetch(conn, "/static/t.%s" % ext, "gzip")
    assert r.status == 200, r
    assert r.header("Content-Encoding") == "gzip", (ext, r.headers)
    assert r.header("Vary") == "Accept-Encoding"
    assert gzip.decompress(r.body) == body
    assert r.body == open(p + ".gz", "rb").read()
    r = fetch(conn, "/static/t.%s" % ext)
    assert_identity(r, body, p)


def test_sidecar_requested_directly(conn, tree):
    r = fetch(conn, "/static/x.css.gz", "gzip")
    assert r.status == 200
    assert r.body == GZ
    assert r.header("Content-Encoding") is None, r.headers
    assert r.header("Content-Type") != CSS_T
    assert_validators(r, tree.gz)
    r = fetch(conn, "/static/x.css.br", "br")
    assert r.status == 200 and r.body == BR
    assert r.header("Content-Encoding") is None, r.headers
    assert_validators(r, tree.br)
    follow_up(conn)


@pytest.mark.parametrize("enc,data", [("gzip", GZ), ("br", BR)])
def test_range_applies_to_encoded_bytes(conn, enc, data):
    r = fetch(conn, "/static/x.css", enc, extra=[("Range", "bytes=0-9")])
    assert_single_range(r, data, 0, 9, CSS_T)
    assert r.header("Content-Encoding") == enc
    assert r.header("Vary") == "Accept-Encoding"
    r = fetch(conn, "/static/x.css", enc, extra=[("Range", "bytes=-7")])
    assert_single_range(r, data, len(data) - 7, len(data) - 1)
    r = fetch(conn, "/static/x.css", enc, extra=[("Range", "bytes=%d-" % len(data))])
    assert r.status == 416 and r.header("Content-Range") == "bytes */%d" % len(data), r
    r = fetch(conn, "/static/x.css", enc, extra=[("Range", "bytes=1-2,20-29")])
    _, parts = parse_multipart(r, CSS_T)
    assert [(a, b, d) for a, b, _t, d, _h in parts] == [(1, 2, data[1:3]), (20, 29, data[20:30])]
    assert parts[0][2] == len(data)
    assert r.header("Content-Encoding") == enc
    follow_up(conn)


def test_range_large_sidecar(conn, tree):
    bgz = open(tree.big_gz, "rb").read()
    bbr = open(tree.big_br, "rb").read()
    r = fetch(conn, "/static/big.css", "br", extra=[("Range", "bytes=20000-39999")])
    assert_single_range(r, bbr, 20000, 39999)
    assert r.header("Content-Encoding") == "br"
    r = fetch(conn, "/static/big.css", "gzip")
    assert_encoded(r, "gzip", bgz)
    r = fetch(conn, "/static/big.css")
    assert_identity(r, CSS * 4, tree.big)


def test_conditionals_per_variant(conn, tree):
    et_id = fetch(conn, "/static/x.css").header("ETag")
    et_gz = fetch(conn, "/static/x.css", "gzip").header("ETag")
    # INM with the gzip variant's tag while asking for gzip -> 304 with that tag, Vary
    r = fetch(conn, "/static/x.css", "gzip", extra=[("If-None-Match", et_gz)])
    assert r.status == 304 and r.body == b"", r
    assert r.header("ETag") == et_gz
    assert r.header("Vary") == "Accept-Encoding"
    # the gzip tag does not validate the identity representation
    r = fetch(conn, "/static/x.css", None, extra=[("If-None-Match", et_gz)])
    assert_identity(r, CSS, tree.css)
    # the identity tag does not validate the br one
    r = fetch(conn, "/static/x.css", "br", extra=[("If-None-Match", et_id)])
    assert_encoded(r, "br", BR)
    # If-Range with the variant's tag -> 206 of the encoded bytes; with another -> 200
    r = fetch(conn, "/static/x.css", "gzip", extra=[("Range", "bytes=0-3"), ("If-Range", et_gz)])
    assert_single_range(r, GZ, 0, 3)
    r = fetch(conn, "/static/x.css", "gzip", extra=[("Range", "bytes=0-3"), ("If-Range", et_id)])
    assert_encoded(r, "gzip", GZ)
    # If-Match with the other variant's tag -> 412
    r = fetch(conn, "/static/x.css", "gzip", extra=[("If-Match", et_id)])
    assert r.status == 412, r
    r = fetch(conn, "/static/x.css", "gzip", extra=[("If-Match", et_gz)])
    assert_encoded(r, "gzip", GZ)
    follow_up(conn)


# --------------------------------------------------------------------------
# sidecars appearing / disappearing on disk
# --------------------------------------------------------------------------

def test_sidecar_added_and_removed_seen_within_a_second(httpsd, tmp_path):
    root = tmp_path / "s"
    root.mkdir()
    write(root, "hello.txt", HELLO)
    css = write(root, "y.css", CSS)
    srv = httpsd("--static", "/static=%s" % root, binds=["http://127.0.0.1:0"])
    with connect(srv) as c:
        r = fetch(c, "/static/y.css", "gzip")
        assert r.header("Content-Encoding") is None and r.header("Vary") is None
        gzp = write(root, "y.css.gz", GZ)
        last = [None]

        def gz_seen():
            last[0] = fetch(c, "/static/y.css", "gzip")
            return last[0].header("Content-Encoding") == "gzip"

        ok, el = poll(gz_seen, 1.2)
        assert ok, "new sidecar not used after %.2fs: %r" % (el, last[0])
        assert last[0].body == GZ
        os.unlink(gzp)

        def gz_gone():
            last[0] = fetch(c, "/static/y.css", "gzip")
            return last[0].header("Content-Encoding") is None

        ok, el = poll(gz_gone, 1.2)
        assert ok, "deleted sidecar still used after %.2fs: %r" % (el, last[0])
        assert last[0].body == CSS
        assert_validators(last[0], css)


def test_accept_encoding_split_over_field_lines(conn, tree):
    """RFC 9110 5.3: Accept-Encoding sent as two field lines is one list."""
    r = conn.request("GET", "/static/x.css",
                     headers=[("Accept-Encoding", "br;q=0"), ("Accept-Encoding", "gzip")])
    assert_encoded(r, "gzip", GZ)
    r = conn.request("GET", "/static/x.css",
                     headers=[("Accept-Encoding", "gzip"), ("Accept-Encoding", "br")])
    assert_encoded(r, "br", BR)
    follow_up(conn)


@pytest.fixture
def odd_root(tmp_path):
    base = tmp_path / "odd"
    base.mkdir()
    secret = write(base, "secret.gz", b"OUTSIDE-THE-ROOT-SECRET\n")
    root = base / "site"
    root.mkdir()
    write(root, "hello.txt", HELLO)
    write(root, "out.css", b"out{}\n" * 5)
    os.symlink("../secret.gz", os.path.join(str(root), "out.css.gz"))       # leads outside
    os.symlink(secret, os.path.join(str(root), "out.css.br"))                # absolute, outside
    write(root, "in.css", b"in{}\n" * 5, mtime_ns=T0)
    write(root, "real-in.gz", gzip.compress(b"in{}\n" * 5, mtime=0), mtime_ns=T1)
    os.symlink("real-in.gz", os.path.join(str(root), "in.css.gz"))          # stays inside
    write(root, "fifo.css", b"fifo{}\n" * 5)
    os.mkfifo(os.path.join(str(root), "fifo.css.gz"))
    os.mkfifo(os.path.join(str(root), "fifo.css.br"))
    write(root, "only-sidecar.css.gz", gzip.compress(b"x", mtime=0))
    write(root, "d/index.html", b"<p>index</p>\n" * 20, mtime_ns=T0)
    write(root, "d/index.html.gz", gzip.compress(b"<p>index</p>\n" * 20, mtime=0), mtime_ns=T1)
    return str(root)


@pytest.fixture
def odd_srv(httpsd, odd_root):
    return httpsd("--static", "/static=%s" % odd_root, binds=["http://127.0.0.1:0"])


def test_sidecar_symlink_outside_root_not_served(odd_srv):
    with connect(odd_srv) as c:
        for ae in ["gzip", "br", "gzip, br", "*"]:
            r = fetch(c, "/static/out.css", ae)
            assert r.status == 200, r
            assert b"OUTSIDE-THE-ROOT-SECRET" not in r.raw, ae
            assert r.body == b"out{}\n" * 5
            assert r.header("Content-Encoding") is None, (ae, r.headers)
        follow_up(c)


def test_sidecar_symlink_inside_root(odd_srv, odd_root):
    with connect(odd_srv) as c:
        r = fetch(c, "/static/in.css", "gzip")
        assert r.status == 200
        assert r.header("Content-Encoding") == "gzip", r.headers
        assert gzip.decompress(r.body) == b"in{}\n" * 5


def test_fifo_sidecar_does_not_block(odd_srv):
    """A FIFO named like a sidecar must be neither opened for reading (it would block)
    nor sent: identity answer, promptly, and other clients are served."""
    with connect(odd_srv, timeout=5) as c:
        for ae in ["gzip", "br", "*"]:
            r = c.request("GET", "/static/fifo.css", headers=[("Accept-Encoding", ae)], timeout=5)
            assert r.status == 200, r
            assert r.header("Content-Encoding") is None, r.headers
            assert r.body == b"fifo{}\n" * 5
    r = fetch(connect(odd_srv, timeout=5), "/static/hello.txt")
    assert r.status == 200 and r.body == HELLO


def test_sidecar_without_original_404(odd_srv):
    with connect(odd_srv) as c:
        r = fetch(c, "/static/only-sidecar.css", "gzip")
        assert r.status == 404, r
        assert r.header("Content-Encoding") is None
        follow_up(c)


def test_directory_index_uses_sidecar(odd_srv):
    with connect(odd_srv) as c:
        r = fetch(c, "/static/d/", "gzip")
        assert r.status == 200, r
        assert r.header("Content-Encoding") == "gzip", r.headers
        assert r.header("Vary") == "Accept-Encoding"
        assert gzip.decompress(r.body) == b"<p>index</p>\n" * 20
        r = fetch(c, "/static/d/")
        assert r.status == 200 and r.body == b"<p>index</p>\n" * 20
        assert r.header("Vary") == "Accept-Encoding"
        assert r.header("Content-Encoding") is None
