"""App errors: 500 with a generic body and the traceback in the error log before the response
started; connection closed after; the server survives SystemExit / KeyboardInterrupt /
MemoryError; wsgi.errors goes to the error log; close() exactly once on error paths."""

import os
import re

import pytest

from conftest import build_request, connect, get, read_all_until_close
from wsgihelp import (HTTP, HTTPS, assert_app_serving, log_mark, module_markers, new_log,  # noqa: F401
                      no_traceback_leak, read_marker, start, start_with_logfile, wait_marker,
                      wait_new_log)


@pytest.fixture(scope="module", params=[4, 0], ids=["threads4", "threads0"])
def srv(request, httpsd_module, module_markers):
    return start(httpsd_module, "wsgi_basic:app", binds=(HTTP, HTTPS), threads=request.param,
                 marker_dir=module_markers)


@pytest.fixture(params=["http", "https"])
def lst(request, srv):
    return srv.listener(request.param)


def token():
    return os.urandom(5).hex()


EXCS = ["ValueError", "SystemExit", "KeyboardInterrupt", "MemoryError", "RecursionError"]


@pytest.mark.parametrize("exc", EXCS)
def test_exception_before_start_500(srv, lst, exc):
    t = token()
    mark = log_mark(srv)
    with connect(lst) as c:
        r = c.request("GET", "/raise?where=before&exc=%s&token=%s" % (exc, t))
    assert r.status == 500, r
    assert r.reason == "Internal Server Error"
    assert 0 < len(r.body) < 200, r.body
    assert no_traceback_leak(r.body) and t.encode() not in r.body, r.body
    assert r.header("Content-Length") == str(len(r.body))
    assert wait_new_log(srv, mark, r"%s.*wsgi-app-exception-%s" % (exc, t), timeout=5), \
        "exception not in the error log:\n" + new_log(srv, mark)
    assert "Traceback (most recent call last)" in new_log(srv, mark)
    assert_app_serving(srv, lst)


def test_error_log_names_request_path(srv, lst):
    t = token()
    mark = log_mark(srv)
    get(lst, "/raise?where=before&token=" + t)
    assert wait_new_log(srv, mark, r"wsgi-app-exception-" + t, timeout=5)
    assert "/raise" in new_log(srv, mark), "the error log does not say which request failed"


def test_500_keeps_connection_usable_or_closes_cleanly(lst):
    with connect(lst) as c:
        c.send(build_request("GET", "/raise?where=before") + build_request("GET", "/after-500"))
        r = c.read_response()
        assert r.status == 500
        if not r.conn_close:
            r2 = c.read_response()
            assert r2.body == b"app: GET /after-500"
        else:
            assert c.closed_within(5)


@pytest.mark.parametrize("exc", ["ValueError", "SystemExit", "KeyboardInterrupt", "MemoryError"])
def test_exception_after_start_response_before_body_500(srv, lst, module_markers, exc):
    """start_response was called but no body yet: the response has not started -> 500."""
    t = token()
    name = "as-" + t
    mark = log_mark(srv)
    r = get(lst, "/raise?where=after_start&exc=%s&token=%s&marker=%s" % (exc, t, name))
    assert r.status == 500, r
    assert no_traceback_leak(r.body)
    assert wait_new_log(srv, mark, r"wsgi-app-exception-" + t, timeout=5), new_log(srv, mark)
    assert wait_marker(module_markers, name, timeout=5) == ["closed"]
    assert_app_serving(srv, lst)


@pytest.mark.parametrize("exc", ["ValueError", "SystemExit", "KeyboardInterrupt"])
def test_exception_midstream_closes(srv, lst, module_markers, exc):
    t = token()
    name = "ms-" + t
    mark = log_mark(srv)
    c = connect(lst)
    c.send(build_request("GET", "/raise?where=midstream&exc=%s&token=%s&marker=%s" % (exc, t, name)) +
           build_request("GET", "/never-answered"))
    raw, closed = read_all_until_close(c.sock, timeout=10)
    c.close()
    assert closed, "connection not closed after an exception mid-stream"
    assert raw.startswith(b"HTTP/1.1 200 ")
    body = raw.partition(b"\r\n\r\n")[2]
    assert b"first-part;" in body and b"second-part;" in body
    assert not body.endswith(b"0\r\n\r\n"), "truncated chunked body was terminated as if complete"
    assert b"never-answered" not in raw and b"HTTP/1.1 500" not in raw
    assert wait_new_log(srv, mark, r"wsgi-app-exception-" + t, timeout=5), new_log(srv, mark)
    assert wait_marker(module_markers, name, timeout=5) == ["closed"]
    assert_app_serving(srv, lst)


def test_exception_midstream_with_content_length(srv, lst):
    c = connect(lst)
    c.send(build_request("GET", "/raise?where=midstream_cl"))
    raw, closed = read_all_until_close(c.sock, timeout=10)
    c.close()
    assert closed
    head, _, body = raw.partition(b"\r\n\r\n")
    assert b"content-length: 1000" in head.lower()
    assert body == b"first-part;"


def test_exception_in_iter(srv, lst, module_markers):
    t = token()
    name = "it-" + t
    r = get(lst, "/raise?where=iter&token=%s&marker=%s" % (t, name))
    assert r.status == 500, r
    assert wait_marker(module_markers, name, timeout=5) == ["closed"], \
        "close() must be called even when __iter__ raises"


def test_exception_in_close_logged(srv, lst, module_markers):
    t = token()
    name = "cl-" + t
    mark = log_mark(srv)
    with connect(lst) as c:
        r = c.request("GET", "/raise?where=close&token=%s&marker=%s" % (t, name))
        assert r.status == 200 and r.body == b"close-raises-body"
        assert wait_new_log(srv, mark, r"wsgi-app-exception-" + t, timeout=5), new_log(srv, mark)
        assert read_marker(module_markers, name) == ["closed"]
    assert_app_serving(srv, lst)


def test_wsgi_errors_to_error_log(srv, lst):
    t = token()
    mark = log_mark(srv)
    r = get(lst, "/errors?token=" + t)
    assert r.status == 200 and r.body == b"logged"
    for what in ("write", "writelines-a", "writelines-b"):
        assert wait_new_log(srv, mark, r"wsgi-errors-%s-%s" % (what, t), timeout=5), \
            "wsgi.errors %s not in the error log:\n%s" % (what, new_log(srv, mark))


def test_wsgi_errors_to_error_logfile(httpsd, tmp_path):
    log = tmp_path / "error.log"
    srv = start_with_logfile(httpsd, log, "wsgi_basic:app")
    t = token()
    assert get(srv, "/errors?token=" + t).status == 200
    assert get(srv, "/raise?where=before&token=" + t).status == 500
    rc, killed = srv.stop()
    assert rc == 0 and not killed
    text = log.read_text()
    assert "wsgi-errors-write-" + t in text
    assert "wsgi-app-exception-" + t in text and "Traceback" in text, text[-3000:]


def test_many_errors_in_a_row_server_survives(srv, lst):
    for exc in EXCS * 3:
        r = get(lst, "/raise?where=before&exc=" + exc)
        assert r.status == 500
    assert_app_serving(srv, lst)
    srv.assert_alive()
