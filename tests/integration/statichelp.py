"""Shared helpers for the static-handler tests (conditional requests, ranges,
sidecars, policy, memory).  Plain functions only: fixtures live in the test
modules, the server/client machinery in conftest.py."""

import email.utils
import os
import re
import time

from conftest import HELLO

# A fixed past mtime with a non-zero nanosecond part: dates "after" it are still in
# the past, and Last-Modified must truncate (not round) the fraction.
PAST_NS = 1_700_000_000 * 10**9 + 987_654_321
PAST_S = PAST_NS // 10**9

ETAG_RE = re.compile(r'^"([0-9a-fA-F]+)\.([0-9a-fA-F]+)-([0-9a-fA-F]+)(?:-([a-z0-9]+))?"$')
BOUNDARY_RE = re.compile(r"^[0-9A-Za-z'()+_,./:=?-]{1,70}$")


def write(root, rel, data, mtime_ns=None, mode=0o644):
    p = os.path.join(str(root), rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
    os.chmod(p, mode)
    if mtime_ns is not None:
        os.utime(p, ns=(mtime_ns, mtime_ns))
    return p


def pattern_bytes(n, seed=0):
    """Deterministic, position-dependent bytes (every 4-byte word differs)."""
    out = bytearray()
    i = 0
    while len(out) < n:
        out += ((i * 2654435761 + seed) & 0xFFFFFFFF).to_bytes(4, "big")
        i += 1
    return bytes(out[:n])


def http_date(ts):
    return email.utils.formatdate(ts, usegmt=True)


def parse_http_date(s):
    return int(email.utils.parsedate_to_datetime(s).timestamp())


def parse_etag(etag):
    """'"<sec>.<ns>-<size>[-enc]"' (hex) -> (sec, ns, size, enc) or None."""
    m = ETAG_RE.match(etag or "")
    if not m:
        return None
    return int(m.group(1), 16), int(m.group(2), 16), int(m.group(3), 16), m.group(4)


def etag_inner(etag):
    assert etag.startswith('"') and etag.endswith('"'), etag
    return etag[1:-1]


def assert_validators(r, path, size=None, enc=None):
    """Strong ETag describing path's stat (README format) and Last-Modified == mtime."""
    st = os.stat(path)
    etag = r.header("ETag")
    assert etag is not None, "no ETag: %r" % (r,)
    assert not etag.startswith("W/"), "ETag must be strong: %r" % etag
    assert len(r.header_all("ETag")) == 1, r.headers
    parsed = parse_etag(etag)
    assert parsed is not None, "ETag %r not in the documented \"<mtime>.<ns>-<size>\" hex form" % etag
    sec, ns, sz, e = parsed
    assert (sec, ns) == (st.st_mtime_ns // 10**9, st.st_mtime_ns % 10**9), (etag, st.st_mtime_ns)
    assert sz == (st.st_size if size is None else size), (etag, st.st_size)
    assert e == enc, (etag, enc)
    lm = r.header("Last-Modified")
    assert lm is not None, "no Last-Modified: %r" % (r,)
    assert re.match(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
                    r"\d{4} \d\d:\d\d:\d\d GMT$", lm), "Last-Modified not an IMF-fixdate: %r" % lm
    assert lm == http_date(st.st_mtime_ns // 10**9), (lm, st.st_mtime_ns)
    return etag, lm


def assert_no_body_304(r):
    assert r.status == 304, r
    assert r.body == b"", r
    assert r.header("Content-Range") is None, r
    assert r.header("Transfer-Encoding") is None, r


def follow_up(conn, path="/static/hello.txt", expect=HELLO):
    """The same keep-alive connection still answers a plain request."""
    r = conn.request("GET", path)
    assert r.status == 200, "follow-up on the same connection failed: %r" % (r,)
    if expect is not None:
        assert r.body == expect
    return r


def parse_content_range(v):
    m = re.match(r"^bytes (\d+)-(\d+)/(\d+)$", v or "")
    assert m, "bad Content-Range %r" % v
    a, b, total = int(m.group(1)), int(m.group(2)), int(m.group(3))
    assert a <= b < total, v
    return a, b, total


def parse_multipart(r, expect_type=None):
    """Strictly parse a multipart/byteranges response.

    Returns (boundary, [(start, end, total, data, part_headers)]).
    """
    assert r.status == 206, r
    ct = r.header("Content-Type")
    m = re.match(r"^multipart/byteranges;\s*boundary=(\"?)([^\";]+)\1$", ct or "")
    assert m, "bad multipart Content-Type %r" % ct
    boundary = m.group(2)
    assert BOUNDARY_RE.match(boundary), "bad boundary %r" % boundary
    assert r.header("Content-Range") is None, "multipart response with a top-level Content-Range"
    assert r.header("Content-Length") == str(len(r.body)), (r.header("Content-Length"), len(r.body))
    body = r.body
    delim = b"--" + boundary.encode()
    # optional preamble: only a CRLF is reasonable
    if body.startswith(b"\r\n"):
        pos = 2
    else:
        pos = 0
    assert body[pos:pos + len(delim) + 2] == delim + b"\r\n", body[:200]
    pos += len(delim) + 2
    parts = []
    while True:
        end_h = body.find(b"\r\n\r\n", pos)
        assert end_h >= 0, body[pos:pos + 200]
        hdrs = {}
        for line in body[pos:end_h].split(b"\r\n"):
            k, v = line.split(b":", 1)
            k = k.decode().strip().lower()
            assert k not in hdrs, "duplicate part header %r" % k
            hdrs[k] = v.decode().strip()
        a, b, total = parse_content_range(hdrs.get("content-range"))
        if expect_type is not None:
            assert hdrs.get("content-type") == expect_type, (hdrs, expect_type)
        pos = end_h + 4
        data = body[pos:pos + (b - a + 1)]
        assert len(data) == b - a + 1, "part %d-%d truncated" % (a, b)
        pos += len(data)
        parts.append((a, b, total, data, hdrs))
        assert body[pos:pos + 2 + len(delim)] == b"\r\n" + delim, body[pos:pos + 100]
        pos += 2 + len(delim)
        if body[pos:pos + 2] == b"--":
            pos += 2
            break
        assert body[pos:pos + 2] == b"\r\n", body[pos:pos + 100]
        pos += 2
    # epilogue: nothing or a CRLF
    assert body[pos:] in (b"", b"\r\n"), "junk after the closing delimiter: %r" % body[pos:pos + 100]
    return boundary, parts


def range_parts(r, expect_type=None):
    """[(start, end, data)] of a 206, single-part or multipart."""
    assert r.status == 206, r
    ct = r.header("Content-Type") or ""
    if ct.startswith("multipart/byteranges"):
        _, parts = parse_multipart(r, expect_type)
        return [(a, b, d) for a, b, _t, d, _h in parts]
    a, b, _total = parse_content_range(r.header("Content-Range"))
    assert r.header("Content-Length") == str(len(r.body))
    if expect_type is not None:
        assert ct == expect_type, (ct, expect_type)
    return [(a, b, r.body)]


def assert_single_range(r, data, a, b, ctype=None):
    """A single-part 206 carrying data[a:b+1]."""
    assert r.status == 206, r
    assert r.header("Content-Range") == "bytes %d-%d/%d" % (a, b, len(data)), r.headers
    assert r.header("Content-Length") == str(b - a + 1), r.headers
    assert r.body == data[a:b + 1], "206 body differs from the file slice %d-%d" % (a, b)
    if ctype is not None:
        assert r.header("Content-Type") == ctype, r.headers


def assert_whole(r, data, method="GET"):
    assert r.status == 200, r
    assert r.header("Content-Range") is None, r.headers
    assert r.header("Content-Length") == str(len(data)), r.headers
    if method != "HEAD":
        assert r.body == data, "200 body is not the whole file"
    assert r.header("Accept-Ranges") == "bytes", r.headers


def poll(fn, timeout, interval=0.02):
    """Call fn() until it returns a truthy value or timeout passes.

    Returns (value, elapsed) - value is the last (falsy) value on timeout.
    """
    t0 = time.monotonic()
    while True:
        v = fn()
        el = time.monotonic() - t0
        if v or el >= timeout:
            return v, el
        time.sleep(interval)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)
