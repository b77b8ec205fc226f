"""Static files: validators and conditional requests (README "Static files").

ETag / Last-Modified on 200, 206 and 304; If-None-Match, If-Modified-Since,
If-Match, If-Unmodified-Since in RFC 9110 section 13.2.2 order; HEAD; the
connection stays usable after each; changed / replaced / deleted / created
files are seen within a second (metadata is cached for up to 0.5 s).
"""

import gzip
import os
import time

import pytest

from conftest import HELLO, build_request, connect
from statichelp import (PAST_NS, PAST_S, assert_no_body_304, assert_validators, etag_inner,
                        follow_up, http_date, pattern_bytes, poll, write)

MAX_AGE = "public, max-age=3600"
DOC = b"conditional requests document\n" * 3
BIG = pattern_bytes(100 * 1024, seed=7)  # > 16 KiB: not served from the in-memory cache
CSS = b"body { color: #123456 }\n" * 40


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("cond") / "site"
    root.mkdir()
    t = type("Tree", (), {})()
    t.root = str(root)
    write(root, "hello.txt", HELLO)
    t.paths = {
        "doc.txt": write(root, "doc.txt", DOC, mtime_ns=PAST_NS),
        "big.bin": write(root, "big.bin", BIG, mtime_ns=PAST_NS),
        "x.css": write(root, "x.css", CSS, mtime_ns=PAST_NS),
    }
    t.data = {"doc.txt": DOC, "big.bin": BIG, "x.css": CSS}
    write(root, "x.css.gz", gzip.compress(CSS, mtime=0), mtime_ns=PAST_NS + 10**9)
    return t


@pytest.fixture(scope="module")
def srv(httpsd_module, tree):
    return httpsd_module("--static", "/static=%s" % tree.root, "--static-max-age", "3600",
                         binds=["http://127.0.0.1:0", "127.0.0.1:0"])


@pytest.fixture(params=["http", "https"])
def lst(request, srv):
    return srv.listener(request.param)


@pytest.fixture
def conn(lst):
    c = connect(lst)
    yield c
    c.close()


FILES = ["doc.txt", "big.bin"]
LM = http_date(PAST_S)
BEFORE = http_date(PAST_S - 1)
AFTER = http_date(PAST_S + 3600)


def etag_of(tree, name):
    st = os.stat(tree.paths[name])
    return '"%x.%x-%x"' % (st.st_mtime_ns // 10**9, st.st_mtime_ns % 10**9, st.st_size)


def check_200(r, tree, name, method="GET"):
    assert r.status == 200, r
    assert_validators(r, tree.paths[name])
    assert r.header("Content-Length") == str(len(tree.data[name]))
    assert r.header("Cache-Control") == MAX_AGE, r.headers
    if method == "GET":
        assert r.body == tree.data[name]
    else:
        assert r.body == b""


def check_304(r, tree, name, vary=False):
    assert_no_body_304(r)
    assert_validators(r, tree.paths[name])
    assert r.header("Cache-Control") == MAX_AGE, r.headers
    if vary:
        assert r.header("Vary") == "Accept-Encoding", r.headers
    else:
        assert r.header("Vary") is None, r.headers


def check_412(r):
    assert r.status == 412, r
    assert r.header("Content-Range") is None


# --------------------------------------------------------------------------
# validators
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", FILES)
def test_validators_on_200_and_head(conn, tree, name):
    r = conn.request("GET", "/static/" + name)
    check_200(r, tree, name)
    assert r.header("ETag") == etag_of(tree, name)
    assert r.header("Last-Modified") == LM
    h = conn.request("HEAD", "/static/" + name)
    check_200(h, tree, name, method="HEAD")
    assert h.header("ETag") == r.header("ETag")
    follow_up(conn)


@pytest.mark.parametrize("name", FILES)
def test_validators_on_206(conn, tree, name):
    r = conn.request("GET", "/static/" + name, headers=[("Range", "bytes=3-9")])
    assert r.status == 206, r
    assert r.body == tree.data[name][3:10]
    assert_validators(r, tree.paths[name])
    assert r.header("Cache-Control") == MAX_AGE
    follow_up(conn)


def test_etags_differ_between_files(conn, tree):
    tags = {n: conn.request("HEAD", "/static/" + n).header("ETag") for n in FILES + ["x.css"]}
    assert len(set(tags.values())) == len(tags), tags


# --------------------------------------------------------------------------
# If-None-Match
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", FILES)
def test_inm_exact_304(conn, tree, name):
    etag = etag_of(tree, name)
    r = conn.request("GET", "/static/" + name, headers=[("If-None-Match", etag)])
    check_304(r, tree, name)
    assert r.header("ETag") == etag
    follow_up(conn)


@pytest.mark.parametrize("form", [
    '"x", {etag}',
    '"x",{etag}',
    '{etag}, "y"',
    '"a", "b", {etag}, "c"',
    '*',
    'W/{etag}',
    '"x", W/{etag}',
])
def test_inm_forms_304(conn, tree, form):
    value = form.format(etag=etag_of(tree, "doc.txt"))
    r = conn.request("GET", "/static/doc.txt", headers=[("If-None-Match", value)])
    check_304(r, tree, "doc.txt")
    follow_up(conn)


@pytest.mark.parametrize("form", [
    '"x"',
    'W/"x"',
    '"x", "y"',
    '"{inner}x"',
    '"x{inner}"',
])
def test_inm_not_matching_200(conn, tree, form):
    inner = etag_inner(etag_of(tree, "doc.txt"))
    r = conn.request("GET", "/static/doc.txt", headers=[("If-None-Match", form.format(inner=inner))])
    check_200(r, tree, "doc.txt")
    follow_up(conn)


def test_inm_etag_of_other_file_200(conn, tree):
    r = conn.request("GET", "/static/doc.txt", headers=[("If-None-Match", etag_of(tree, "big.bin"))])
    check_200(r, tree, "doc.txt")


def test_304_has_vary_when_sidecar_exists(conn, tree):
    etag = etag_of(tree, "x.css")
    r = conn.request("GET", "/static/x.css", headers=[("If-None-Match", etag)])
    check_304(r, tree, "x.css", vary=True)
    assert r.header("Content-Encoding") is None
    follow_up(conn)


# --------------------------------------------------------------------------
# If-Modified-Since
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("date", [LM, AFTER], ids=["equal", "after"])
def test_ims_not_older_304(conn, tree, name, date):
    r = conn.request("GET", "/static/" + name, headers=[("If-Modified-Since", date)])
    check_304(r, tree, name)
    follow_up(conn)


@pytest.mark.parametrize("name", FILES)
def test_ims_before_200(conn, tree, name):
    r = conn.request("GET", "/static/" + name, headers=[("If-Modified-Since", BEFORE)])
    check_200(r, tree, name)
    follow_up(conn)


@pytest.mark.parametrize("date", [
    "garbage",
    "Tue, 14 Nov 2023 22:13:20",          # no GMT
    "Tue, 32 Nov 2023 22:13:20 GMT",      # day 32
    "Tue, 14 Foo 2023 22:13:20 GMT",      # month
    "Tue, 14 Nov 2023 25:13:20 GMT",      # hour 25
    "1700000000",
    AFTER + "x",
])
def test_ims_malformed_ignored(conn, tree, date):
    r = conn.request("GET", "/static/doc.txt", headers=[("If-Modified-Since", date)])
    check_200(r, tree, "doc.txt")
    follow_up(conn)


@pytest.mark.parametrize("field", ["If-Modified-Since", "If-Unmodified-Since", "If-None-Match"])
def test_empty_conditional_field_ignored(conn, tree, field):
    """An empty field value is valid HTTP (field-value = *field-content): not a 400."""
    r = conn.request("GET", "/static/doc.txt", headers=[("%s:" % field).encode()])
    check_200(r, tree, "doc.txt")
    follow_up(conn)


@pytest.mark.parametrize("date", [
    "Tuesday, 14-Nov-23 22:13:20 GMT",  # RFC 850 (obsolete, must be accepted)
    "Tue Nov 14 22:13:20 2023",          # asctime (obsolete, must be accepted)
])
def test_ims_obsolete_formats(conn, tree, date):
    assert http_date(PAST_S) == "Tue, 14 Nov 2023 22:13:20 GMT"
    r = conn.request("GET", "/static/doc.txt", headers=[("If-Modified-Since", date)])
    check_304(r, tree, "doc.txt")
    follow_up(conn)


def test_inm_takes_precedence_over_ims(conn, tree):
    # INM present and not matching: IMS (which would give 304) is not evaluated
    r = conn.request("GET", "/static/doc.txt",
                     headers=[("If-None-Match", '"nope"'), ("If-Modified-Since", AFTER)])
    check_200(r, tree, "doc.txt")
    # INM matching, IMS older than the file: still 304
    r = conn.request("GET", "/static/doc.txt",
                     headers=[("If-None-Match", etag_of(tree, "doc.txt")), ("If-Modified-Since", BEFORE)])
    check_304(r, tree, "doc.txt")
    follow_up(conn)


# --------------------------------------------------------------------------
# If-Match / If-Unmodified-Since
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", FILES)
def test_if_match_not_matching_412(conn, tree, name):
    r = conn.request("GET", "/static/" + name, headers=[("If-Match", '"nope"')])
    check_412(r)
    follow_up(conn)


@pytest.mark.parametrize("form", ['{etag}', '"x", {etag}', '*'])
def test_if_match_matching_200(conn, tree, form):
    r = conn.request("GET", "/static/doc.txt",
                     headers=[("If-Match", form.format(etag=etag_of(tree, "doc.txt")))])
    check_200(r, tree, "doc.txt")
    follow_up(conn)


@pytest.mark.parametrize("form", ['W/{etag}', '"x", W/{etag}'])
def test_if_match_weak_never_matches(conn, tree, form):
    r = conn.request("GET", "/static/doc.txt",
                     headers=[("If-Match", form.format(etag=etag_of(tree, "doc.txt")))])
    check_412(r)
    follow_up(conn)


@pytest.mark.parametrize("name", FILES)
def test_ius_before_412(conn, tree, name):
    r = conn.request("GET", "/static/" + name, headers=[("If-Unmodified-Since", BEFORE)])
    check_412(r)
    follow_up(conn)


@pytest.mark.parametrize("date", [LM, AFTER], ids=["equal", "after"])
def test_ius_not_before_200(conn, tree, date):
    r = conn.request("GET", "/static/doc.txt", headers=[("If-Unmodified-Since", date)])
    check_200(r, tree, "doc.txt")
    follow_up(conn)


@pytest.mark.parametrize("date", ["garbage", "Tue, 14 Nov 2023 22:13:20", "Tue, 14 Foo 2023 22:13:20 GMT"])
def test_ius_malformed_ignored(conn, tree, date):
    r = conn.request("GET", "/static/doc.txt", headers=[("If-Unmodified-Since", date)])
    check_200(r, tree, "doc.txt")
    follow_up(conn)


def test_if_match_takes_precedence_over_ius(conn, tree):
    etag = etag_of(tree, "doc.txt")
    # If-Match matches: If-Unmodified-Since (which would fail) is not evaluated
    r = conn.request("GET", "/static/doc.txt",
                     headers=[("If-Match", etag), ("If-Unmodified-Since", BEFORE)])
    check_200(r, tree, "doc.txt")
    # If-Match fails: 412 even though If-Unmodified-Since passes
    r = conn.request("GET", "/static/doc.txt",
                     headers=[("If-Match", '"nope"'), ("If-Unmodified-Since", AFTER)])
    check_412(r)
    follow_up(conn)


def test_if_match_failure_beats_inm_match(conn, tree):
    etag = etag_of(tree, "doc.txt")
    r = conn.request("GET", "/static/doc.txt",
                     headers=[("If-None-Match", etag), ("If-Match", '"nope"')])
    check_412(r)
    r = conn.request("GET", "/static/doc.txt",
                     headers=[("If-None-Match", etag), ("If-Unmodified-Since", BEFORE)])
    check_412(r)
    # both preconditions pass, INM matches: 304
    r = conn.request("GET", "/static/doc.txt",
                     headers=[("If-Match", etag), ("If-None-Match", etag)])
    check_304(r, tree, "doc.txt")
    follow_up(conn)


def test_inm_match_beats_range(conn, tree):
    etag = etag_of(tree, "doc.txt")
    r = conn.request("GET", "/static/doc.txt",
                     headers=[("If-None-Match", etag), ("Range", "bytes=0-3")])
    check_304(r, tree, "doc.txt")
    r = conn.request("GET", "/static/doc.txt", headers=[("If-Match", etag), ("Range", "bytes=0-3")])
    assert r.status == 206 and r.body == DOC[:4], r
    r = conn.request("GET", "/static/doc.txt", headers=[("If-Match", '"nope"'), ("Range", "bytes=0-3")])
    check_412(r)
    follow_up(conn)


def test_conditionals_split_over_field_lines(conn, tree):
    """RFC 9110 5.3: list-based fields may be sent as several field lines; the
    recipient must treat them as one comma-separated list."""
    etag = etag_of(tree, "doc.txt")
    r = conn.request("GET", "/static/doc.txt",
                     headers=[("If-None-Match", '"x"'), ("If-None-Match", etag)])
    check_304(r, tree, "doc.txt")
    r = conn.request("GET", "/static/doc.txt", headers=[("If-Match", '"x"'), ("If-Match", etag)])
    check_200(r, tree, "doc.txt")
    follow_up(conn)


@pytest.mark.parametrize("hdr", [("If-None-Match", "*"), ("If-Modified-Since", BEFORE),
                                 ("If-Match", "*"), ("If-Unmodified-Since", AFTER)])
def test_conditionals_on_missing_file_404(conn, hdr):
    """RFC 9110 13.2.1: preconditions are ignored when the answer would not be 2xx/412."""
    r = conn.request("GET", "/static/missing.txt", headers=[hdr])
    assert r.status == 404, r
    assert r.header("ETag") is None
    follow_up(conn)


# --------------------------------------------------------------------------
# HEAD
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name", FILES)
def test_head_conditionals(conn, tree, name):
    etag = etag_of(tree, name)
    path = "/static/" + name
    r = conn.request("HEAD", path, headers=[("If-None-Match", etag)])
    check_304(r, tree, name)
    r = conn.request("HEAD", path, headers=[("If-Modified-Since", LM)])
    check_304(r, tree, name)
    r = conn.request("HEAD", path, headers=[("If-Modified-Since", BEFORE)])
    check_200(r, tree, name, method="HEAD")
    r = conn.request("HEAD", path, headers=[("If-Match", '"nope"')])
    check_412(r)
    r = conn.request("HEAD", path, headers=[("If-Match", 'W/' + etag)])
    check_412(r)
    r = conn.request("HEAD", path, headers=[("If-Unmodified-Since", BEFORE)])
    check_412(r)
    r = conn.request("HEAD", path, headers=[("If-Match", etag)])
    check_200(r, tree, name, method="HEAD")
    # the HEAD responses carried no body: a GET on the same connection is intact
    r = conn.request("GET", path)
    check_200(r, tree, name)
    follow_up(conn)


def test_many_conditionals_one_connection_pipelined(lst, tree):
    """All outcomes pipelined in one write; every answer in order, exact."""
    etag = etag_of(tree, "doc.txt")
    reqs = [
        ("GET", [("If-None-Match", etag)], 304),
        ("GET", [("If-Match", '"nope"')], 412),
        ("GET", [("If-Modified-Since", BEFORE)], 200),
        ("HEAD", [("If-None-Match", "*")], 304),
        ("GET", [("If-Unmodified-Since", BEFORE)], 412),
        ("GET", [("If-Modified-Since", LM)], 304),
        ("GET", [], 200),
    ]
    with connect(lst) as c:
        c.send(b"".join(build_request(m, "/static/doc.txt", headers=h) for m, h, _ in reqs))
        for m, _h, st in reqs:
            r = c.read_response(m)
            assert r.status == st, (m, _h, r)
            if st == 200:
                assert r.body == DOC
        follow_up(c)


# --------------------------------------------------------------------------
# changes on disk are seen within a second
# --------------------------------------------------------------------------

SEEN_WITHIN = 1.2  # README: "seen within a second"; 0.2 s slack for scheduling


@pytest.fixture
def live(httpsd, tmp_path):
    root = tmp_path / "live"
    root.mkdir()
    write(root, "hello.txt", HELLO)
    s = httpsd("--static", "/static=%s" % root, binds=["http://127.0.0.1:0"])
    s.root = str(root)
    return s


def _wait_for(conn, path, pred):
    """Poll path on conn until pred(response); returns (response, elapsed)."""
    last = [None]

    def attempt():
        r = conn.request("GET", path)
        last[0] = r
        return pred(r)

    ok, el = poll(attempt, SEEN_WITHIN)
    return (last[0] if ok else None), el, last[0]


@pytest.mark.parametrize("size", [40, 64 * 1024], ids=["small", "large"])
@pytest.mark.parametrize("same_size", [True, False], ids=["same_size", "new_size"])
def test_changed_file_new_etag(live, size, same_size):
    p = write(live.root, "f.txt", pattern_bytes(size, 1))
    with connect(live) as c:
        r1 = c.request("GET", "/static/f.txt")
        assert r1.status == 200 and r1.body == pattern_bytes(size, 1)
        assert_validators(r1, p)
        time.sleep(0.05)  # past the coarse timestamp granularity of the file system
        new = pattern_bytes(size if same_size else size + 7, 2)
        with open(p, "r+b") as f:  # in place: same inode
            f.write(new)
            f.truncate(len(new))
        t_write = time.monotonic()
        r, el, last = _wait_for(c, "/static/f.txt", lambda r: r.header("ETag") != r1.header("ETag"))
        assert r is not None, "changed file still served with the old ETag after %.2fs: %r" % (el, last)
        assert time.monotonic() - t_write <= SEEN_WITHIN + 0.3
        assert r.status == 200
        assert r.body == new, "new ETag but stale body"
        assert r.header("Content-Length") == str(len(new))
        assert_validators(r, p)
        # and it stays new
        r2 = c.request("GET", "/static/f.txt")
        assert r2.body == new and r2.header("ETag") == r.header("ETag")
        # a conditional with the old tag no longer gives 304
        r3 = c.request("GET", "/static/f.txt", headers=[("If-None-Match", r1.header("ETag"))])
        assert r3.status == 200 and r3.body == new


@pytest.mark.parametrize("size", [40, 64 * 1024], ids=["small", "large"])
def test_replaced_by_rename(live, size):
    p = write(live.root, "r.txt", pattern_bytes(size, 3))
    with connect(live) as c:
        r1 = c.request("GET", "/static/r.txt")
        assert r1.status == 200 and r1.body == pattern_bytes(size, 3)
        new = pattern_bytes(size, 4)  # same size: only the inode (and mtime) tell
        tmp = write(live.root, "r.txt.tmp", new)
        os.replace(tmp, p)
        r, el, last = _wait_for(c, "/static/r.txt", lambda r: r.body == new)
        assert r is not None, "replaced file not seen within %.2fs: %r" % (el, last)
        assert r.header("ETag") != r1.header("ETag")
        assert_validators(r, p)


@pytest.mark.parametrize("size", [40, 64 * 1024], ids=["small", "large"])
def test_deleted_file_404(live, size):
    p = write(live.root, "d.txt", pattern_bytes(size, 5))
    with connect(live) as c:
        r1 = c.request("GET", "/static/d.txt")
        assert r1.status == 200
        os.unlink(p)
        r, el, last = _wait_for(c, "/static/d.txt", lambda r: r.status == 404)
        assert r is not None, "deleted file still served after %.2fs: %r" % (el, last)
        assert pattern_bytes(size, 5)[:32] not in r.body
        follow_up(c)


def test_created_after_404(live):
    with connect(live) as c:
        r1 = c.request("GET", "/static/n.txt")
        assert r1.status == 404
        p = write(live.root, "n.txt", b"new file\n")
        r, el, last = _wait_for(c, "/static/n.txt", lambda r: r.status == 200)
        assert r is not None, "new file still 404 after %.2fs: %r" % (el, last)
        assert r.body == b"new file\n"
        assert_validators(r, p)


def test_mtime_touch_changes_etag(live):
    """Same bytes, new mtime (touch): new ETag and Last-Modified."""
    p = write(live.root, "t.txt", b"touch me\n", mtime_ns=PAST_NS)
    with connect(live) as c:
        r1 = c.request("GET", "/static/t.txt")
        assert r1.header("Last-Modified") == LM
        os.utime(p, ns=(PAST_NS + 86400 * 10**9, PAST_NS + 86400 * 10**9))
        r, el, last = _wait_for(c, "/static/t.txt", lambda r: r.header("ETag") != r1.header("ETag"))
        assert r is not None, "touched file keeps its ETag after %.2fs: %r" % (el, last)
        assert r.header("Last-Modified") == http_date(PAST_S + 86400)
        assert_validators(r, p)
