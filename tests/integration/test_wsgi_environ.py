"""PEP 3333 environ built by the server, over plain HTTP, TLS and a unix socket,
with app threads (--threads 4) and on the event-loop thread (--threads 0)."""

import json
import os
import socket

import pytest

from conftest import build_request, connect, get
from wsgihelp import HTTP, HTTPS, env_of, module_markers, pipelined, start  # noqa: F401

CGI_KEYS = ["REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "SERVER_NAME",
            "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR", "REMOTE_PORT", "REQUEST_URI", "RAW_URI"]


@pytest.fixture(scope="module", params=[4, 0], ids=["threads4", "threads0"])
def srv(request, httpsd_module, module_markers):
    return start(httpsd_module, "wsgi_basic:app", binds=(HTTP, HTTPS), threads=request.param,
                 marker_dir=module_markers)


@pytest.fixture(params=["http", "https"])
def lst(request, srv):
    return srv.listener(request.param)


def req_env(lst, path, headers=(), method="GET", body=b"", host="localhost", version="HTTP/1.1"):
    with connect(lst) as c:
        r = c.request(method, path, headers=headers, body=body, host=host, version=version)
    assert r.status == 200, (r, r.body[:500])
    return json.loads(r.body)


def test_basic_keys(lst):
    c = connect(lst)
    c.send(build_request("GET", "/env/a/b?x=1&y=2"))
    r = c.read_response()
    assert r.status == 200, r
    e = json.loads(r.body)
    local = c.sock.getsockname()
    c.close()
    assert e["REQUEST_METHOD"] == "GET"
    assert e["SCRIPT_NAME"] == ""
    assert e["PATH_INFO"] == "/env/a/b"
    assert e["QUERY_STRING"] == "x=1&y=2"
    assert e["REQUEST_URI"] == "/env/a/b?x=1&y=2"
    assert e["RAW_URI"] == "/env/a/b?x=1&y=2"
    assert e["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert e["REMOTE_ADDR"] == "127.0.0.1"
    assert e["REMOTE_PORT"] == str(local[1])
    assert e["HTTP_HOST"] == "localhost"
    assert e["SERVER_NAME"] == "localhost"
    for k in CGI_KEYS:
        assert e["_types"][k] == "str", (k, e["_types"][k])


def test_wsgi_keys(lst, srv):
    e = req_env(lst, "/env")
    assert e["wsgi.version"] == [1, 0]
    assert e["_types"]["wsgi.version"] == "tuple"
    assert e["wsgi.url_scheme"] == lst.scheme
    assert e["wsgi.multithread"] is (srv.args.count("--threads") and
                                     int(srv.args[srv.args.index("--threads") + 1]) > 1)
    assert e["wsgi.multiprocess"] is False
    assert e["wsgi.run_once"] is False
    assert e["wsgi.input_terminated"] is True
    for k in ("wsgi.input", "wsgi.errors", "wsgi.file_wrapper"):
        assert k in e, k
    assert e["_types"]["wsgi.multithread"] == "bool"
    assert e["_types"]["wsgi.run_once"] == "bool"


def test_threads0_runs_on_loop_thread_threads4_not(srv):
    threads = int(srv.args[srv.args.index("--threads") + 1])
    seen = set()
    for _ in range(3):
        e = env_of(srv.http)
        seen.add(e["_thread"])
    if threads == 0:
        assert len(seen) == 1, seen
    else:
        # app threads are not the interpreter's main thread in any sensible design, and at
        # most `threads` of them exist
        assert len(seen) <= threads, seen


def test_query_string_absent_is_empty(lst):
    e = req_env(lst, "/env")
    assert "QUERY_STRING" in e and e["QUERY_STRING"] == ""
    assert e["PATH_INFO"] == "/env"
    assert e["RAW_URI"] == "/env"


def test_empty_query_after_question_mark(lst):
    e = req_env(lst, "/env?")
    assert e["QUERY_STRING"] == ""
    assert e["RAW_URI"] == "/env?"


def test_query_not_decoded(lst):
    e = req_env(lst, "/env?x=%41&y=caf%C3%A9&z=a+b&w=%2F")
    assert e["QUERY_STRING"] == "x=%41&y=caf%C3%A9&z=a+b&w=%2F"


def test_path_percent_decoded_latin1(lst):
    e = req_env(lst, "/env/caf%C3%A9/%E2%82%AC")
    assert e["PATH_INFO"] == "/env/café/€".encode("utf-8").decode("latin-1")
    assert e["RAW_URI"] == "/env/caf%C3%A9/%E2%82%AC"
    assert e["REQUEST_URI"] == "/env/caf%C3%A9/%E2%82%AC"


def test_path_space_and_encoded_slash(lst):
    e = req_env(lst, "/env/a%20b/c%2Fd")
    assert e["PATH_INFO"] == "/env/a b/c/d"
    assert e["RAW_URI"] == "/env/a%20b/c%2Fd"


def test_path_lowercase_hex_and_latin1_byte(lst):
    e = req_env(lst, "/env/%e9t%c3%a9")
    assert e["PATH_INFO"] == "/env/\xe9t\xc3\xa9"


def test_path_percent_zero_zero_rejected_or_kept_out(lst):
    """%00 in the path: a production server refuses it (400) rather than handing NUL to the app,
    or at least passes it through faithfully."""
    with connect(lst) as c:
        r = c.request("GET", "/env/a%00b")
    if r.status == 200:
        assert json.loads(r.body)["PATH_INFO"] == "/env/a\x00b"
    else:
        assert r.status == 400, r


def test_absolute_form_target(lst):
    e = req_env(lst, "http://example.com/env/abs?q=1")
    assert e["PATH_INFO"] == "/env/abs"
    assert e["QUERY_STRING"] == "q=1"
    assert e["REQUEST_METHOD"] == "GET"


def test_methods(lst):
    for m in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
        e = req_env(lst, "/env", method=m, body=b"x" if m in ("POST", "PUT", "PATCH") else b"")
        assert e["REQUEST_METHOD"] == m
    # an extension method
    e = req_env(lst, "/env", method="PROPFIND")
    assert e["REQUEST_METHOD"] == "PROPFIND"


def test_http10(lst):
    e = req_env(lst, "/env", version="HTTP/1.0", host=None)
    assert e["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert "HTTP_HOST" not in e
    # no Host: SERVER_NAME/SERVER_PORT come from the listener
    assert e["SERVER_PORT"] == str(lst.port)
    assert e["SERVER_NAME"], e["SERVER_NAME"]


def test_server_name_port_from_host(lst):
    e = req_env(lst, "/env", host="example.com:8080")
    assert e["SERVER_NAME"] == "example.com"
    assert e["SERVER_PORT"] == "8080"
    assert e["HTTP_HOST"] == "example.com:8080"


def test_server_name_from_host_without_port(lst):
    e = req_env(lst, "/env", host="example.org")
    assert e["SERVER_NAME"] == "example.org"
    assert e["_types"]["SERVER_PORT"] == "str"
    assert e["SERVER_PORT"].isdigit()


def test_server_port_ipv6_host(lst):
    e = req_env(lst, "/env", host="[::1]:8081")
    assert e["SERVER_PORT"] == "8081"
    assert e["SERVER_NAME"] in ("[::1]", "::1")


def test_content_type_and_length_no_http_prefix(lst):
    e = req_env(lst, "/env", method="POST", body=b"a=1&b=2",
                headers=[("Content-Type", "application/x-www-form-urlencoded")])
    assert e["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert e["CONTENT_LENGTH"] == "7"
    assert "HTTP_CONTENT_TYPE" not in e
    assert "HTTP_CONTENT_LENGTH" not in e


def test_content_type_length_absent_on_get(lst):
    e = req_env(lst, "/env")
    assert "CONTENT_TYPE" not in e or e["CONTENT_TYPE"] == ""
    assert "CONTENT_LENGTH" not in e or e["CONTENT_LENGTH"] == ""
    assert "HTTP_CONTENT_TYPE" not in e and "HTTP_CONTENT_LENGTH" not in e


def test_chunked_request_content_length_known(lst):
    """A chunked body is read whole before the app runs, so httpsd gives its length in
    CONTENT_LENGTH (frameworks such as Django read exactly that many bytes); the
    Transfer-Encoding header is still visible and wsgi.input_terminated is True."""
    body = b"hello chunked"
    e = req_env(lst, "/env?read=100", method="POST",
                headers=[("Transfer-Encoding", "chunked")],
                body=b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    assert e["_body"] == "hello chunked"
    assert e["CONTENT_LENGTH"] == "13"
    assert e["HTTP_TRANSFER_ENCODING"] == "chunked"
    assert e["wsgi.input_terminated"] is True


def test_http_headers(lst):
    e = req_env(lst, "/env", headers=[("X-Custom-Thing", "v1"), ("user-agent", "ua/1.0"),
                                      ("Accept", "text/html"), ("X-Empty", "")])
    assert e["HTTP_X_CUSTOM_THING"] == "v1"
    assert e["HTTP_USER_AGENT"] == "ua/1.0"
    assert e["HTTP_ACCEPT"] == "text/html"
    assert e.get("HTTP_X_EMPTY") == ""


def test_header_value_whitespace_trimmed(lst):
    e = req_env(lst, "/env", headers=[b"X-Spaced:    padded value  \t"])
    assert e["HTTP_X_SPACED"] == "padded value"


def test_repeated_headers_joined(lst):
    e = req_env(lst, "/env", headers=[("X-Multi", "a"), ("X-Other", "o"), ("x-multi", "b"),
                                      ("X-MULTI", "c")])
    assert e["HTTP_X_MULTI"] == "a, b, c"
    assert e["HTTP_X_OTHER"] == "o"


def test_repeated_cookie_joined_with_semicolon(lst):
    e = req_env(lst, "/env", headers=[("Cookie", "a=1"), ("Cookie", "b=2; c=3")])
    assert e["HTTP_COOKIE"] == "a=1; b=2; c=3"


def test_underscore_headers_dropped(lst):
    e = req_env(lst, "/env", headers=[("X-Forwarded-For", "1.2.3.4"), ("X_Forwarded_For", "6.6.6.6"),
                                      ("X_Only_Underscore", "evil")])
    assert e["HTTP_X_FORWARDED_FOR"] == "1.2.3.4", "underscore header smuggled into HTTP_X_FORWARDED_FOR"
    assert not any(k.startswith("HTTP_X_ONLY_UNDERSCORE") for k in e), \
        [k for k in e if "UNDERSCORE" in k]


def test_latin1_header_value(lst):
    e = req_env(lst, "/env", headers=[(b"X-Latin: caf\xe9")])
    assert e["HTTP_X_LATIN"] == "caf\xe9"


def test_environ_fresh_per_request(lst):
    c = connect(lst)
    r1 = c.request("GET", "/env?mutate=1", headers=[("X-First", "1")])
    r2 = c.request("GET", "/env")
    c.close()
    e2 = json.loads(r2.body)
    assert "X_LEAK_TEST" not in e2
    assert "HTTP_X_FIRST" not in e2, "headers of the previous request leaked into the next environ"
    assert json.loads(r1.body)["HTTP_X_FIRST"] == "1"


def test_keepalive_pipelined_environ(lst):
    reqs = [("GET", "/env/p%d?i=%d" % (i, i)) for i in range(5)]
    rs, c = pipelined(lst, reqs)
    c.close()
    for i, r in enumerate(rs):
        assert r.status == 200, r
        e = json.loads(r.body)
        assert e["PATH_INFO"] == "/env/p%d" % i
        assert e["QUERY_STRING"] == "i=%d" % i


def test_head_request_environ_method(lst):
    with connect(lst) as c:
        c.send(build_request("HEAD", "/env") + build_request("GET", "/env?after-head"))
        h = c.read_response("HEAD")
        g = c.read_response()
    assert h.status == 200
    e = json.loads(g.body)
    assert e["QUERY_STRING"] == "after-head"


def test_unix_socket_environ(httpsd, short_tmp):
    path = os.path.join(short_tmp, "w.sock")
    srv = start(httpsd, "wsgi_basic:app", binds=["unix:" + path])
    with connect(srv.listeners[0]) as c:
        r = c.request("GET", "/env/unix?u=1", host="unix.example")
    assert r.status == 200, r
    e = json.loads(r.body)
    assert e["PATH_INFO"] == "/env/unix"
    assert e["QUERY_STRING"] == "u=1"
    assert e["wsgi.url_scheme"] == "http"
    assert e["SERVER_NAME"] == "unix.example"
    for k in CGI_KEYS:
        assert e["_types"].get(k, "str") == "str", k


@pytest.mark.parametrize("threads,expected", [(1, False), (2, True), (8, True)])
def test_multithread_flag(httpsd, threads, expected):
    srv = start(httpsd, "wsgi_basic:app", threads=threads)
    e = env_of(srv)
    assert e["wsgi.multithread"] is expected
    assert e["wsgi.multiprocess"] is False


def test_default_threads_multithread(httpsd):
    srv = start(httpsd, "wsgi_basic:app")
    assert env_of(srv)["wsgi.multithread"] is True


def test_wsgi_errors_and_input_are_file_like(lst):
    e = req_env(lst, "/env")
    assert "wsgi.input" in e and "wsgi.errors" in e
    # repr'd objects: not plain strings/None
    assert e["_types"]["wsgi.input"] not in ("str", "bytes", "NoneType")
    assert e["_types"]["wsgi.errors"] not in ("str", "bytes", "NoneType")
    assert e["_types"]["wsgi.file_wrapper"] not in ("str", "bytes", "NoneType")


def test_ipv6_listener_remote_addr(httpsd):
    from conftest import ipv6_loopback_available
    if not ipv6_loopback_available():
        pytest.skip("no IPv6 loopback")
    srv = start(httpsd, "wsgi_basic:app", binds=["http://[::1]:0"])
    with connect(srv.listeners[0]) as c:
        r = c.request("GET", "/env")
        local = c.sock.getsockname()
    e = json.loads(r.body)
    assert e["REMOTE_ADDR"] == "::1"
    assert e["REMOTE_PORT"] == str(local[1])
    assert e["SERVER_NAME"] == "localhost"
