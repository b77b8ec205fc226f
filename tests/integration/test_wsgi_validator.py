"""The basic app wrapped in wsgiref.validate.validator: varied real requests must not trigger any
PEP 3333 complaint (AssertionError -> 500 + traceback, WSGIWarning, un-closed iterator)."""

import json

import pytest

from conftest import build_request, connect, get
from wsgihelp import HTTP, HTTPS, chunked, module_markers, pipelined, start  # noqa: F401

COMPLAINTS = ("AssertionError", "WSGIWarning", "Traceback", "Exception ignored",
              "garbage collected without being closed")


@pytest.fixture(scope="module", params=[4, 0], ids=["threads4", "threads0"])
def srv(request, httpsd_module, module_markers):
    return start(httpsd_module, "validated:application", binds=(HTTP, HTTPS), threads=request.param,
                 marker_dir=module_markers)


def drive(lst):
    statuses = []

    def one(method, path, headers=(), body=b"", version="HTTP/1.1", host="localhost"):
        with connect(lst, timeout=20) as c:
            r = c.request(method, path, headers=headers, body=body, version=version, host=host)
        statuses.append((method, path, r.status))
        return r

    r = one("GET", "/env?x=1&y=%41")
    assert json.loads(r.body)["QUERY_STRING"] == "x=1&y=%41"
    one("GET", "/env")
    one("GET", "/env/caf%C3%A9/%E2%82%AC?q")
    one("GET", "/env", headers=[("X-Multi", "a"), ("X-Multi", "b"), ("Cookie", "a=1"), ("Cookie", "b=2")])
    r = one("POST", "/echo?mode=readn&n=5", body=b"hello validator\nline2\n",
            headers=[("Content-Type", "text/plain")])
    assert "".join(json.loads(r.body)["parts"]) == "hello validator\nline2\n"
    r = one("POST", "/echo?mode=readline_n&n=4", body=b"abc\ndefgh\n")
    assert "".join(json.loads(r.body)["parts"]) == "abc\ndefgh\n"
    r = one("POST", "/echo?mode=readline", body=b"abc\ndefgh\n")
    assert json.loads(r.body)["parts"] == ["abc\n", "defgh\n"]
    r = one("POST", "/echo?mode=readlines", body=b"abc\ndefgh\n")
    r = one("POST", "/echo?mode=iter", body=b"abc\ndefgh\n")
    r = one("POST", "/echo?mode=readn&n=3", body=chunked(b"chunked-body-data"),
            headers=[("Transfer-Encoding", "chunked")])
    assert "".join(json.loads(r.body)["parts"]) == "chunked-body-data"
    r = one("POST", "/hash?bs=1000", body=b"z" * 100000)
    assert json.loads(r.body)["len"] == 100000
    one("HEAD", "/env")
    one("HEAD", "/stream?n=2&size=3")
    one("GET", "/env", version="HTTP/1.0", host=None)
    one("GET", "/stream?n=10&size=100")
    one("GET", "/stream?n=3&size=100&cl=1")
    one("GET", "/stream?n=2&size=10", version="HTTP/1.0", host=None)
    one("GET", "/list?n=3")
    one("GET", "/write?parts=3")
    one("GET", "/status?s=201+Created&h=Content-Type:text/plain&body=made")
    one("GET", "/headers?n=10")
    one("GET", "/close?name=v1&n=3&size=10")
    one("GET", "/empty-chunks")
    one("PUT", "/echo?mode=readn&n=100", body=b"put-body")
    one("DELETE", "/env")
    one("OPTIONS", "/env")
    one("GET", "/errors?token=validated")
    rs, c = pipelined(lst, [("GET", "/env?p=%d" % i) for i in range(5)] +
                      [("POST", "/echo?mode=readn&n=2", (), b"pipelined")])
    c.close()
    statuses += [("pipelined", "", r.status) for r in rs]
    return statuses


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_validator_no_complaints(srv, scheme):
    lst = srv.listener(scheme)
    statuses = drive(lst)
    bad = [s for s in statuses if not 200 <= s[2] < 300]
    # let a possible "Exception ignored in ... __del__" reach the log before checking
    get(lst, "/env")
    text = srv.stderr
    complaints = [l for l in text.splitlines() if any(w in l for w in COMPLAINTS)]
    assert not bad, "non-2xx under the validator: %r\n%s" % (bad, text[-4000:])
    assert not complaints, "validator complaints:\n" + text[-6000:]


def test_validator_harness_detects_violations(httpsd):
    """Control for the test above: an app-side PEP 3333 violation (a str body chunk) does show
    up as an AssertionError in the error log, so 'no complaints' there means something."""
    srv = start(httpsd, "validated:application")
    r = get(srv, "/str-body")
    assert r.status == 500
    assert srv.wait_log(r"AssertionError", timeout=5), srv.stderr
