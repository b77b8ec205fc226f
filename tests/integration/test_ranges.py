"""Static files: byte ranges (README "Static files", Ranges).

Single ranges, multipart/byteranges (parsed back strictly), merging and the
16-range amplification guard, 416, invalid and hostile Range headers, If-Range,
HEAD, small (in-memory), large and empty files, pipelining, HTTP and TLS.
"""

import pytest

from conftest import HELLO, assert_serving, build_request, connect
from statichelp import (PAST_NS, PAST_S, assert_single_range, assert_validators, assert_whole,
                        follow_up, http_date, parse_multipart, pattern_bytes, range_parts, write)

SMALL = pattern_bytes(5000, seed=11)            # < 16 KiB: served from memory
LARGE = pattern_bytes(5 * 1024 * 1024, seed=12)  # 5 MiB
TXT = "text/plain; charset=utf-8"
EDGE_SIZES = [1, 2, 16383, 16384, 16385, 65536]
BIN = "application/octet-stream"


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("ranges") / "site"
    root.mkdir()
    t = type("Tree", (), {})()
    t.root = str(root)
    write(root, "hello.txt", HELLO)
    t.small = write(root, "small.txt", SMALL, mtime_ns=PAST_NS)
    t.large = write(root, "large.bin", LARGE, mtime_ns=PAST_NS)
    t.empty = write(root, "empty.txt", b"", mtime_ns=PAST_NS)
    for n in EDGE_SIZES:
        write(root, "edge%d.txt" % n, pattern_bytes(n, n), mtime_ns=PAST_NS)
    return t


@pytest.fixture(scope="module")
def srv(httpsd_module, tree):
    # a larger field limit so that 10 KB Range headers reach the range parser
    return httpsd_module("--static", "/static=%s" % tree.root, "--limit-request-field-size", "20000",
                         binds=["http://127.0.0.1:0", "127.0.0.1:0"])


@pytest.fixture(params=["http", "https"])
def lst(request, srv):
    return srv.listener(request.param)


@pytest.fixture
def conn(lst):
    c = connect(lst)
    yield c
    c.close()


FILES = {
    "small": ("/static/small.txt", SMALL, TXT),
    "large": ("/static/large.bin", LARGE, BIN),
}


def rng(conn, path, spec, method="GET", extra=()):
    return conn.request(method, path, headers=[("Range", spec)] + list(extra))


# --------------------------------------------------------------------------
# 200 and single ranges
# --------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["small", "large"])
def test_accept_ranges_on_200(conn, which):
    path, data, ctype = FILES[which]
    r = conn.request("GET", path)
    assert_whole(r, data)
    assert r.header("Content-Type") == ctype
    follow_up(conn)


def test_accept_ranges_on_empty_200(conn):
    r = conn.request("GET", "/static/empty.txt")
    assert_whole(r, b"")


SINGLE = [
    # (spec template, first, last) with S = size
    ("bytes=0-0", 0, 0),
    ("bytes=0-9", 0, 9),
    ("bytes=17-4095", 17, 4095),
    ("bytes=10-", 10, "S-1"),
    ("bytes=0-", 0, "S-1"),
    ("bytes=-10", "S-10", "S-1"),
    ("bytes=-1", "S-1", "S-1"),
    ("bytes=-{S}", 0, "S-1"),
    ("bytes=-{S+100}", 0, "S-1"),          # suffix longer than the file
    ("bytes=100-{S+1000}", 100, "S-1"),     # end clamped
    ("bytes=100-{S}", 100, "S-1"),
    ("bytes={S-1}-", "S-1", "S-1"),
    ("bytes={S-1}-{S-1}", "S-1", "S-1"),
    ("bytes=0-{S-1}", 0, "S-1"),
    ("Bytes=0-9", 0, 9),                    # range units are case-insensitive
]


def _ev(x, size):
    if isinstance(x, int):
        return x
    return eval(x, {"S": size})


def _spec(tmpl, size):
    return tmpl.replace("{S}", str(size)).replace("{S+100}", str(size + 100)) \
        .replace("{S+1000}", str(size + 1000)).replace("{S-1}", str(size - 1))


@pytest.mark.parametrize("which", ["small", "large"])
@pytest.mark.parametrize("tmpl,a,b", SINGLE, ids=[s[0] for s in SINGLE])
def test_single_range(conn, tree, which, tmpl, a, b):
    path, data, ctype = FILES[which]
    size = len(data)
    r = rng(conn, path, _spec(tmpl, size))
    assert_single_range(r, data, _ev(a, size), _ev(b, size), ctype)
    assert r.header("Transfer-Encoding") is None
    assert_validators(r, tree.small if which == "small" else tree.large)
    follow_up(conn)


@pytest.mark.parametrize("a,b", [(0, 1048575), (1048576, 2097151), (2500000, 2500099),
                                 (4194303, 4194304), (1, 5 * 1024 * 1024 - 2),
                                 (5 * 1024 * 1024 - 1000, 5 * 1024 * 1024 - 1)])
def test_large_file_offsets(conn, a, b):
    r = rng(conn, "/static/large.bin", "bytes=%d-%d" % (a, b))
    assert_single_range(r, LARGE, a, b, BIN)
    follow_up(conn)


def test_many_single_ranges_one_connection(conn):
    """Many 206s back to back on one keep-alive connection, each exact."""
    for i in range(40):
        a = (i * 131071) % (len(LARGE) - 70000)
        b = a + (i * 977) % 70000
        r = rng(conn, "/static/large.bin", "bytes=%d-%d" % (a, b))
        assert_single_range(r, LARGE, a, b)
        a = (i * 37) % 4000
        r = rng(conn, "/static/small.txt", "bytes=%d-%d" % (a, a + i))
        assert_single_range(r, SMALL, a, a + i)
    follow_up(conn)


@pytest.mark.parametrize("n", EDGE_SIZES)
def test_sizes_around_memory_cache_limit(conn, n):
    """Files just under / at / over the 16 KiB in-memory limit: whole, single, multi, 416."""
    data = pattern_bytes(n, n)
    path = "/static/edge%d.txt" % n
    assert_whole(conn.request("GET", path), data)
    for a, b in [(0, 0), (n - 1, n - 1), (0, n - 1), (n // 2, n - 1)]:
        assert_single_range(rng(conn, path, "bytes=%d-%d" % (a, b)), data, a, b, TXT)
    assert_single_range(rng(conn, path, "bytes=-1"), data, n - 1, n - 1)
    if n > 2:
        parts = range_parts(rng(conn, path, "bytes=0-0,%d-" % (n - 1)), TXT)
        assert parts == [(0, 0, data[:1]), (n - 1, n - 1, data[-1:])]
    r = rng(conn, path, "bytes=%d-" % n)
    assert r.status == 416 and r.header("Content-Range") == "bytes */%d" % n
    h = conn.request("HEAD", path)
    assert_whole(h, data, method="HEAD")
    follow_up(conn)


# --------------------------------------------------------------------------
# multipart/byteranges
# --------------------------------------------------------------------------

MULTI = {
    "small": ["bytes=0-9,20-29,4990-", "bytes=0-0,-1", "bytes=100-199, 300-399 ,500-599",
              "bytes=4000-4099,0-99"],
    "large": ["bytes=0-99,1048576-2097151,4194304-4194403,-1000",
              "bytes=5000000-,0-0", "bytes=1-1,3-3,5-5,7-7"],
}


def _expected(spec, size):
    out = []
    for p in spec.split("=", 1)[1].split(","):
        p = p.strip()
        a, b = p.split("-")
        if a == "":
            a, b = size - int(b), size - 1
        else:
            a, b = int(a), (size - 1 if b == "" else min(int(b), size - 1))
        out.append((a, b))
    return sorted(out)


@pytest.mark.parametrize("which,spec", [(w, s) for w in MULTI for s in MULTI[w]])
def test_multirange(conn, tree, which, spec):
    path, data, ctype = FILES[which]
    r = rng(conn, path, spec)
    boundary, parts = parse_multipart(r, expect_type=ctype)
    exp = _expected(spec, len(data))
    assert [(a, b) for a, b, *_ in parts] == exp, (spec, [(a, b) for a, b, *_ in parts])
    for a, b, total, d, _h in parts:
        assert total == len(data)
        assert d == data[a:b + 1], "part %d-%d differs from the file" % (a, b)
    assert_validators(r, tree.small if which == "small" else tree.large)
    assert r.header("Accept-Ranges") == "bytes"
    follow_up(conn)


def test_multirange_boundary_random(conn):
    b1, _ = parse_multipart(rng(conn, "/static/small.txt", "bytes=0-1,10-11"), TXT)
    b2, _ = parse_multipart(rng(conn, "/static/small.txt", "bytes=0-1,10-11"), TXT)
    assert b1 != b2, "multipart boundary is not random: %r" % b1
    # the boundary does not occur in the data of the parts
    assert b1.encode() not in SMALL and b2.encode() not in SMALL


MERGE = [
    ("bytes=0-9,5-14", [(0, 14)]),
    ("bytes=0-9,10-19", [(0, 19)]),                    # adjacent
    ("bytes=20-29,0-9", [(0, 9), (20, 29)]),           # sorted
    ("bytes=0-9,0-9,0-9", [(0, 9)]),                   # duplicates
    ("bytes=50-59,0-100", [(0, 100)]),                 # contained
    ("bytes=0-4,10-14,3-11", [(0, 14)]),               # bridged
    ("bytes=-10,4980-4994", [(4980, 4999)]),           # suffix overlapping
    ("bytes=4990-,-5", [(4990, 4999)]),
    ("bytes=0-,100-200", [(0, 4999)]),
    ("bytes=30-39,0-9,20-29,10-19", [(0, 39)]),
    ("bytes=30-39,0-9,21-28", [(0, 9), (21, 28), (30, 39)]),
]


@pytest.mark.parametrize("spec,exp", MERGE, ids=[m[0] for m in MERGE])
def test_ranges_merged_and_sorted(conn, spec, exp):
    r = rng(conn, "/static/small.txt", spec)
    parts = range_parts(r, expect_type=TXT)
    assert [(a, b) for a, b, _ in parts] == exp, (spec, [(a, b) for a, b, _ in parts])
    for a, b, d in parts:
        assert d == SMALL[a:b + 1]
    if len(exp) == 1:
        # one range after merging: a plain 206, not a one-part multipart
        assert r.header("Content-Range") == "bytes %d-%d/%d" % (exp[0][0], exp[0][1], len(SMALL))
    follow_up(conn)


def test_no_byte_sent_twice(conn):
    spec = "bytes=" + ",".join("%d-%d" % (i, i + 500) for i in range(0, 1600, 100))  # 16 overlapping
    r = rng(conn, "/static/small.txt", spec)
    parts = range_parts(r, TXT)
    assert [(a, b) for a, b, _ in parts] == [(0, 2000)]
    assert parts[0][2] == SMALL[:2001]


def test_sixteen_ranges_206(conn):
    spec = "bytes=" + ",".join("%d-%d" % (i * 100, i * 100 + 9) for i in range(16))
    r = rng(conn, "/static/small.txt", spec)
    _, parts = parse_multipart(r, TXT)
    assert len(parts) == 16
    for i, (a, b, _t, d, _h) in enumerate(parts):
        assert (a, b) == (i * 100, i * 100 + 9)
        assert d == SMALL[a:b + 1]
    follow_up(conn)


@pytest.mark.parametrize("which", ["small", "large"])
def test_more_than_sixteen_ranges_200(conn, which):
    path, data, _ = FILES[which]
    spec = "bytes=" + ",".join("%d-%d" % (i * 100, i * 100 + 9) for i in range(17))
    r = rng(conn, path, spec)
    assert_whole(r, data)
    follow_up(conn)


def test_seventeen_identical_ranges(conn):
    """17 copies of one range: either merged (one part) or refused as > 16 (200)."""
    r = rng(conn, "/static/small.txt", "bytes=" + ",".join(["0-9"] * 17))
    if r.status == 200:
        assert_whole(r, SMALL)
    else:
        assert_single_range(r, SMALL, 0, 9)
    follow_up(conn)


def test_multirange_mixed_with_unsatisfiable(conn):
    """Unsatisfiable members are dropped; the rest is served."""
    r = rng(conn, "/static/small.txt", "bytes=0-1,5000-,6000-7000")
    assert [(a, b, d) for a, b, d in range_parts(r, TXT)] == [(0, 1, SMALL[:2])]
    r = rng(conn, "/static/small.txt", "bytes=5000-,10-19,30-39")
    assert [(a, b) for a, b, _ in range_parts(r, TXT)] == [(10, 19), (30, 39)]
    follow_up(conn)


def test_multirange_large_file(conn):
    """16 spread ranges of 64 KiB over the 5 MiB file (HTTP and TLS)."""
    step = len(LARGE) // 16
    want = [(i * step + i, i * step + i + 65535) for i in range(16)]
    spec = "bytes=" + ",".join("%d-%d" % ab for ab in want)
    r = rng(conn, "/static/large.bin", spec)
    _, parts = parse_multipart(r, BIN)
    assert [(a, b) for a, b, *_ in parts] == want
    for a, b, _t, d, _h in parts:
        assert d == LARGE[a:b + 1]
    follow_up(conn)


def test_multirange_large_whole_spans(conn):
    """Two parts that together are most of the file (multi-MiB parts)."""
    r = rng(conn, "/static/large.bin", "bytes=0-2621439,2621441-")
    _, parts = parse_multipart(r, BIN)
    assert [(a, b) for a, b, *_ in parts] == [(0, 2621439), (2621441, len(LARGE) - 1)]
    assert parts[0][3] + LARGE[2621440:2621441] + parts[1][3] == LARGE
    follow_up(conn)


# --------------------------------------------------------------------------
# 416
# --------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["small", "large"])
@pytest.mark.parametrize("tmpl", ["bytes={S}-", "bytes=-0", "bytes={S}-{S+100}", "bytes={S+100}-",
                                  "bytes={S}-,{S+100}-", "bytes=-0,{S}-"])
def test_unsatisfiable_416(conn, which, tmpl):
    path, data, _ = FILES[which]
    size = len(data)
    spec = tmpl.replace("{S}", str(size)).replace("{S+100}", str(size + 100))
    r = rng(conn, path, spec)
    assert r.status == 416, (spec, r)
    assert r.header("Content-Range") == "bytes */%d" % size, r.headers
    assert data[:64] not in r.body
    follow_up(conn)


@pytest.mark.parametrize("spec", ["bytes=0-", "bytes=-1", "bytes=0-0", "bytes=0-,5-"])
def test_empty_file_416(conn, spec):
    r = rng(conn, "/static/empty.txt", spec)
    assert r.status == 416, (spec, r)
    assert r.header("Content-Range") == "bytes */0", r.headers
    follow_up(conn)


# --------------------------------------------------------------------------
# invalid / hostile Range headers
# --------------------------------------------------------------------------

INVALID = ["bytes=5-1", "bytes=abc", "items=0-1", "bytes=1-2-3", "bytes 0-1", "bytes=0-1;x",
           "bytes=0x0-1", "bytes=+0-1", "bytes=--1", "bytes=-", "bytes=,,,", "bytes=", "bytes=-1-",
           "bytes=0--1", "bytes=0-1,5-1", "bytes=-abc", "bytes=1.5-2", "=0-1", "bytes==0-1",
           "none", "bytes=\t", "bytes=0-1 2"]


@pytest.mark.parametrize("which", ["small", "large"])
@pytest.mark.parametrize("spec", INVALID)
def test_invalid_range_ignored(conn, which, spec):
    path, data, _ = FILES[which]
    r = rng(conn, path, spec)
    assert_whole(r, data)
    follow_up(conn)


HUGE = [
    ("bytes=0-99999999999999999999999", 206, (0, "S-1")),
    ("bytes=99999999999999999999-", 416, None),
    ("bytes=-99999999999999999999", 206, (0, "S-1")),
    ("bytes=0-18446744073709551615", 206, (0, "S-1")),
    ("bytes=0-18446744073709551616", 206, (0, "S-1")),
    ("bytes=18446744073709551615-18446744073709551616", 416, None),
    ("bytes=9223372036854775807-", 416, None),
    ("bytes=9223372036854775808-", 416, None),
    ("bytes=-9223372036854775808", 206, (0, "S-1")),
    ("bytes=-18446744073709551616", 206, (0, "S-1")),
    ("bytes=1-99999999999999999999999999999999999999999999999999", 206, (1, "S-1")),
]


@pytest.mark.parametrize("which", ["small", "large"])
@pytest.mark.parametrize("spec,status,ab", HUGE, ids=[h[0][:40] for h in HUGE])
def test_huge_integers(conn, which, spec, status, ab):
    path, data, _ = FILES[which]
    size = len(data)
    r = rng(conn, path, spec)
    assert r.status == status, (spec, r)
    if status == 416:
        assert r.header("Content-Range") == "bytes */%d" % size
    else:
        assert_single_range(r, data, _ev(ab[0], size), _ev(ab[1], size))
    follow_up(conn)


def test_thousand_ranges(conn, srv):
    spec = "bytes=" + ",".join("%d-%d" % (i * 4, i * 4 + 1) for i in range(1000))
    assert len(spec) > 8000
    r = rng(conn, "/static/small.txt", spec)
    assert_whole(r, SMALL)
    r = rng(conn, "/static/large.bin", spec)
    assert_whole(r, LARGE)
    follow_up(conn)
    srv.assert_alive()


def test_thousand_overlapping_ranges(conn):
    """1,000 overlapping ranges: whole file (> 16) or one merged part, never 1,000 copies."""
    spec = "bytes=" + ",".join(["0-4999"] * 600 + ["-5000"] * 400)
    r = rng(conn, "/static/small.txt", spec)
    assert len(r.body) <= len(SMALL)
    if r.status == 200:
        assert_whole(r, SMALL)
    else:
        assert_single_range(r, SMALL, 0, len(SMALL) - 1)
    follow_up(conn)


@pytest.mark.parametrize("kind", ["zeros", "spaces", "commas", "digits"])
def test_10k_range_header(conn, srv, kind):
    if kind == "zeros":
        spec = "bytes=" + "0" * 10000 + "-9"           # leading zeros: value 0
        ok = [(206, (0, 9)), (200, None)]
    elif kind == "spaces":
        spec = "bytes=0-9" + " ," * 5000 + "20-29"      # OWS and empty list members
        ok = [(206, "multi"), (200, None)]
    elif kind == "commas":
        spec = "bytes=" + "," * 10000                    # no range at all
        ok = [(200, None)]
    else:
        spec = "bytes=" + "9" * 10000 + "-"             # absurd first-pos
        ok = [(416, None), (200, None)]
    assert len(spec) >= 10000
    r = rng(conn, "/static/small.txt", spec)
    assert r.status in [s for s, _ in ok], (kind, r)
    if r.status == 200:
        assert_whole(r, SMALL)
    elif r.status == 416:
        assert r.header("Content-Range") == "bytes */%d" % len(SMALL)
    elif kind == "zeros":
        assert_single_range(r, SMALL, 0, 9)
    else:
        parts = range_parts(r, TXT)
        assert [(a, b) for a, b, _ in parts] == [(0, 9), (20, 29)]
    follow_up(conn)
    srv.assert_alive()


def test_range_header_over_field_limit_431_then_serving(srv):
    """A Range header over the field limit is the HTTP layer's 431, and the server lives."""
    with connect(srv.http) as c:
        r = c.request("GET", "/static/small.txt", headers=[("Range", "bytes=" + "0-0," * 6000 + "1-1")])
        assert r.status == 431, r
    assert_serving(srv, expect=HELLO)


def test_two_range_headers(conn):
    """Two Range fields: a sane answer (400, 200 whole, or 206), never a crash."""
    r = conn.request("GET", "/static/small.txt", headers=[("Range", "bytes=0-1"), ("Range", "bytes=5-6")])
    assert r.status in (200, 206, 400, 416), r
    if r.status == 200:
        assert_whole(r, SMALL)
    if r.status != 400:
        follow_up(conn)


# --------------------------------------------------------------------------
# If-Range, HEAD
# --------------------------------------------------------------------------

@pytest.mark.parametrize("which", ["small", "large"])
def test_if_range(conn, tree, which):
    path, data, _ = FILES[which]
    etag = conn.request("HEAD", path).header("ETag")
    lm = http_date(PAST_S)
    cases = [
        (etag, 206),
        ('"1.2-3"', 200),                  # an old ETag
        ("W/" + etag, 200),                # weak: never for If-Range
        (lm, 206),                         # exact Last-Modified
        (http_date(PAST_S + 1), 200),
        (http_date(PAST_S - 1), 200),
        (http_date(PAST_S + 86400 * 365), 200),
        ("garbage", 200),
    ]
    for value, st in cases:
        r = rng(conn, path, "bytes=10-19", extra=[("If-Range", value)])
        if st == 206:
            assert_single_range(r, data, 10, 19)
        else:
            assert r.status == 200, (value, r)
            assert_whole(r, data)
        # multi-range too
        r = rng(conn, path, "bytes=0-1,10-19", extra=[("If-Range", value)])
        if st == 206:
            _, parts = parse_multipart(r)
            assert [(a, b) for a, b, *_ in parts] == [(0, 1), (10, 19)]
        else:
            assert_whole(r, data)
    follow_up(conn)


def test_if_range_without_range(conn):
    r = conn.request("GET", "/static/small.txt", headers=[("If-Range", '"nope"')])
    assert_whole(r, SMALL)


@pytest.mark.parametrize("which", ["small", "large"])
@pytest.mark.parametrize("spec", ["bytes=0-9", "bytes=0-1,5-6", "bytes=999999999-", "bytes=abc"])
def test_head_with_range_is_200(conn, which, spec):
    path, data, ctype = FILES[which]
    r = rng(conn, path, spec, method="HEAD")
    assert_whole(r, data, method="HEAD")
    assert r.header("Content-Type") == ctype
    assert r.body == b""
    follow_up(conn)


# --------------------------------------------------------------------------
# pipelining
# --------------------------------------------------------------------------

def test_pipelined_multirange_then_get(lst):
    with connect(lst) as c:
        c.send(build_request("GET", "/static/small.txt", headers=[("Range", "bytes=0-9,100-109")])
               + build_request("GET", "/static/hello.txt"))
        _, parts = parse_multipart(c.read_response(), TXT)
        assert [(a, b, d) for a, b, _t, d, _h in parts] == [(0, 9, SMALL[:10]), (100, 109, SMALL[100:110])]
        r = c.read_response()
        assert r.status == 200 and r.body == HELLO


def test_pipelined_large_multirange_mix(lst):
    """Large multipart, a single range, a HEAD with Range, a 416 and a GET in one write."""
    reqs = [
        ("GET", "/static/large.bin", "bytes=0-999999,2000000-3999999,-100"),
        ("GET", "/static/small.txt", "bytes=-3"),
        ("HEAD", "/static/large.bin", "bytes=0-1,5-6"),
        ("GET", "/static/small.txt", "bytes=9999-"),
        ("GET", "/static/large.bin", "bytes=10-20,30-40"),
        ("GET", "/static/hello.txt", None),
    ]
    data = b"".join(build_request(m, p, headers=[("Range", s)] if s else []) for m, p, s in reqs)
    with connect(lst) as c:
        c.send(data)
        r = c.read_response()
        _, parts = parse_multipart(r, BIN)
        assert [(a, b) for a, b, *_ in parts] == [(0, 999999), (2000000, 3999999), (len(LARGE) - 100, len(LARGE) - 1)]
        for a, b, _t, d, _h in parts:
            assert d == LARGE[a:b + 1]
        assert_single_range(c.read_response(), SMALL, len(SMALL) - 3, len(SMALL) - 1)
        assert_whole(c.read_response("HEAD"), LARGE, method="HEAD")
        r = c.read_response()
        assert r.status == 416 and r.header("Content-Range") == "bytes */%d" % len(SMALL)
        _, parts = parse_multipart(c.read_response(), BIN)
        assert [d for *_x, d, _h in parts] == [LARGE[10:21], LARGE[30:41]]
        r = c.read_response()
        assert r.status == 200 and r.body == HELLO


def test_server_still_serving(srv):
    assert_serving(srv, expect=HELLO)
