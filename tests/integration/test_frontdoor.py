"""What a load balancer needs from a backend (issue 12): --health answered by the server (200,
then 503 once a stop has begun), --drain-delay (TERM keeps accepting a while, health says 503),
--redirect-http (308 to the TLS listener), --hsts (Strict-Transport-Security on TLS responses,
static and WSGI, the app's own header wins)."""

import os
import signal
import socket
import threading
import time

import pytest

from conftest import connect, get
from wsgihelp import HTTP, HTTPS, start
from test_workers import children, wait_for


def get_host(target, path, host, method="GET", body=b""):
    with connect(target) as c:
        return c.request(method, path, host=host, body=body)


def health(srv, scheme="http", path="/healthz"):
    return get(srv.listener(scheme), path, timeout=5)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_health_answers_on_every_listener_without_the_app(httpsd, workers):
    srv = start(httpsd, "wsgi_basic:app", "-w", workers, "--health", "/healthz",
                binds=(HTTP, HTTPS))
    for scheme in ("http", "https"):
        r = health(srv, scheme)
        assert r.status == 200 and r.body == b"ok\n", r
        assert r.header("cache-control") == "no-store"
        r = get(srv.listener(scheme), "/healthz", method="HEAD")
        assert r.status == 200 and r.body == b""
    # the app never saw it: /healthz in the app is a 404 route of wsgi_basic, and its counter
    # of requests would show it; the exact path only (a query is still the health check,
    # another path goes to the app)
    assert health(srv, path="/healthz?x=1").status == 200
    r = get(srv.listener("http"), "/healthz/more")
    assert r.body != b"ok\n"
    # POST is not a health check: the app answers it
    r = get(srv.listener("http"), "/healthz", method="POST", body=b"x")
    assert r.body != b"ok\n"


def test_health_option_is_checked(httpsd):
    from conftest import run_cli
    for bad in ("healthz", "/a b", "/h?x", "/h%20", "/" + "x" * 300):
        p = run_cli(["--health", bad])
        assert p.returncode == 2 or p.returncode == 1, (bad, p)
        assert "--health" in p.stderr, (bad, p.stderr)


@pytest.mark.parametrize("workers", ["0", "2"])
def test_drain_delay_keeps_serving_with_health_503(httpsd, workers):
    srv = start(httpsd, "wsgi_basic:app", "-w", workers, "--health", "/healthz",
                "--drain-delay", "2", binds=(HTTP,))
    assert health(srv).status == 200
    t0 = time.monotonic()
    os.kill(srv.pid, signal.SIGTERM)
    # health goes 503 at once, while new connections and requests are still served
    assert wait_for(lambda: health(srv).status == 503, timeout=2)
    r = health(srv)
    assert r.body == b"stopping\n"
    assert get(srv.listener("http"), "/").status == 200
    time.sleep(0.5)
    assert get(srv.listener("http"), "/").status == 200
    assert time.monotonic() - t0 < 1.9
    # after the delay the listeners close and the server drains and exits
    assert srv.wait(timeout=15) == 0
    assert time.monotonic() - t0 >= 1.9
    with pytest.raises(OSError):
        socket.create_connection(srv.listener("http").sockaddr, timeout=2).close()


def test_drain_delay_under_load_loses_no_request(httpsd):
    from test_workers import Load, failed
    srv = start(httpsd, "wsgi_basic:app", "-w", "2", "--health", "/healthz",
                "--drain-delay", "1", binds=(HTTP,))
    load = Load(srv.listener("http").url.rstrip("/") + "/", 3, conns=30)
    time.sleep(1)
    os.kill(srv.pid, signal.SIGTERM)
    assert srv.wait(timeout=20) == 0
    rep = load.result()
    assert failed(rep) == 0, rep
    assert rep["requests"] > 100, rep


def test_reload_does_not_fail_health_checks(httpsd):
    """A reload replaces workers without --drain-delay and without a 503 health answer: the
    server as a whole stays up."""
    srv = start(httpsd, "wsgi_basic:app", "-w", "2", "--health", "/healthz",
                "--drain-delay", "5", binds=(HTTP,))
    old = set(children(srv.pid))
    seen, stop = [], threading.Event()

    def poll():
        while not stop.is_set():
            try:
                seen.append(health(srv).status)
            except OSError as e:
                seen.append(repr(e))
            time.sleep(0.01)

    t = threading.Thread(target=poll)
    t.start()
    t0 = time.monotonic()
    os.kill(srv.pid, signal.SIGHUP)
    # the old workers are gone well before --drain-delay would have let them go
    assert wait_for(lambda: not (old & set(children(srv.pid))), timeout=4)
    elapsed = time.monotonic() - t0
    time.sleep(0.3)
    stop.set()
    t.join()
    assert elapsed < 4.5
    assert seen and all(s == 200 for s in seen), [s for s in seen if s != 200][:5]


def test_redirect_http_to_the_tls_listener(httpsd):
    srv = start(httpsd, "wsgi_basic:app", "--redirect-http", "--health", "/healthz",
                binds=(HTTP, HTTPS))
    port = srv.listener("https").sockaddr[1]
    plain = srv.listener("http")
    r = get_host(plain, "/some/path?a=1&b=%20", "example.com:8080")
    assert r.status == 308, r
    assert r.header("location") == "https://example.com:%d/some/path?a=1&b=%%20" % port
    r = get_host(plain, "/x", "[::1]:80")
    assert r.header("location") == "https://[::1]:%d/x" % port
    # POST too (308 keeps the method); the app never runs
    r = get_host(plain, "/echo", "h", method="POST", body=b"abc")
    assert r.status == 308 and r.header("location") == "https://h:%d/echo" % port
    # health is excepted; TLS is served as usual
    assert health(srv).status == 200
    assert get(srv.listener("https"), "/").status == 200
    # HTTP/1.0 without Host: nowhere to send it
    with connect(plain) as c:
        c.send(b"GET / HTTP/1.0\r\n\r\n")
        assert c.read_response().status == 400


def test_redirect_http_behind_a_tls_terminating_proxy(httpsd):
    """Behind a proxy that ended TLS (X-Forwarded-Proto: https from a trusted peer) nothing is
    redirected (it would loop); what came over http there goes to the default https port."""
    srv = start(httpsd, "wsgi_basic:app", "--redirect-http", binds=(HTTP, HTTPS))
    plain = srv.listener("http")
    with connect(plain) as c:
        r = c.request("GET", "/env", host="www.example.com",
                      headers=[("X-Forwarded-Proto", "https"), ("X-Forwarded-For", "192.0.2.4")])
    assert r.status == 200, r
    with connect(plain) as c:
        r = c.request("GET", "/a?b", host="www.example.com", headers=[("X-Forwarded-Proto", "http")])
    assert r.status == 308 and r.header("location") == "https://www.example.com/a?b", r
    # from a peer that is not trusted the header means nothing: redirected as usual
    srv.stop()
    srv = start(httpsd, "wsgi_basic:app", "--redirect-http", "--forwarded-allow-ips", "10.0.0.1",
                binds=(HTTP, HTTPS))
    with connect(srv.listener("http")) as c:
        r = c.request("GET", "/env", host="h", headers=[("X-Forwarded-Proto", "https")])
    assert r.status == 308, r


def test_redirect_http_needs_a_tls_listener(httpsd):
    from conftest import run_cli
    p = run_cli(["--redirect-http", "-b", "http://127.0.0.1:0"])
    assert p.returncode != 0 and "TLS listener" in p.stderr


def test_hsts_on_tls_responses_only(httpsd, site):
    srv = start(httpsd, "wsgi_basic:app", "--hsts", "31536000", "--static",
                "/static=%s" % site.root, binds=(HTTP, HTTPS))
    want = "max-age=31536000"
    for path in ("/", "/static/hello.txt", "/static/missing"):
        r = get(srv.listener("https"), path)
        assert r.header("strict-transport-security") == want, (path, r)
        assert len(r.header_all("strict-transport-security")) == 1
        r = get(srv.listener("http"), path)
        assert r.header("strict-transport-security") is None, (path, r)
    # the app's own header wins (sent once, its value)
    r = get(srv.listener("https"), "/headers?n=0&sts=max-age=5")
    assert r.header_all("strict-transport-security") == ["max-age=5"], r


def test_hsts_off_by_default(httpsd):
    srv = start(httpsd, "wsgi_basic:app", binds=(HTTPS,))
    assert get(srv.listener("https"), "/").header("strict-transport-security") is None
