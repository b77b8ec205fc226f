"""Listeners: TLS by default, http://, unix:, IPv6, several at once, real port printed."""

import os
import re
import socket
import tempfile

import pytest

from conftest import (HELLO, Listener, connect, free_port, get, ipv6_loopback_available,
                      static_args)

needs_ipv6 = pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback")


def check_hello(listener):
    r = get(listener, "/static/hello.txt")
    assert r.status == 200, r
    assert r.body == HELLO


def test_default_bind_is_tls(httpsd, site):
    srv = httpsd(*static_args(site), binds=["127.0.0.1:0"])
    (l,) = srv.listeners
    assert l.url.startswith("https://127.0.0.1:"), l.url
    assert l.port != 0
    c = connect(l)
    assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
    r = c.request("GET", "/static/hello.txt")
    c.close()
    assert r.status == 200 and r.body == HELLO


def test_explicit_https_scheme(httpsd, site):
    srv = httpsd(*static_args(site), binds=["https://127.0.0.1:0"])
    (l,) = srv.listeners
    assert l.url.startswith("https://127.0.0.1:"), l.url
    check_hello(l)


def test_no_bind_defaults_to_8443_tls(httpsd, site):
    """Without -b the default is 127.0.0.1:8443 over TLS (skipped if 8443 is busy)."""
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", 8443))
    except OSError:
        pytest.skip("port 8443 busy")
    finally:
        s.close()
    srv = httpsd(*static_args(site), binds=[])
    srv.wait_listening(1)
    (l,) = srv.listeners
    assert l.url.rstrip("/") == "https://127.0.0.1:8443", l.url
    check_hello(l)


def test_plain_http(httpsd, site):
    srv = httpsd(*static_args(site), binds=["http://127.0.0.1:0"])
    (l,) = srv.listeners
    assert l.url.startswith("http://127.0.0.1:"), l.url
    assert l.port != 0
    check_hello(l)
    # and it really is plain: the first bytes back are HTTP, not a TLS record
    s = socket.create_connection(l.sockaddr, timeout=10)
    s.sendall(b"GET /static/hello.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert s.recv(5) == b"HTTP/"
    s.close()


def test_unix_socket(short_tmp, httpsd, site):
    d = short_tmp
    path = os.path.join(d, "s.sock")
    srv = httpsd(*static_args(site), binds=["unix:" + path])
    (l,) = srv.listeners
    assert l.url == "unix:" + path, l.url
    assert l.scheme == "unix"
    c = connect(l)
    for _ in range(3):  # keep-alive over AF_UNIX too
        r = c.request("GET", "/static/hello.txt")
        assert r.status == 200 and r.body == HELLO
    c.close()


@needs_ipv6
def test_ipv6_tls(httpsd, site):
    srv = httpsd(*static_args(site), binds=["[::1]:0"])
    (l,) = srv.listeners
    assert re.match(r"^https://\[::1\]:\d+$", l.url.rstrip("/")), l.url
    assert l.family == socket.AF_INET6
    check_hello(l)


@needs_ipv6
def test_ipv6_plain(httpsd, site):
    srv = httpsd(*static_args(site), binds=["http://[::1]:0"])
    (l,) = srv.listeners
    assert re.match(r"^http://\[::1\]:\d+$", l.url.rstrip("/")), l.url
    check_hello(l)


def test_several_binds_each_printed(short_tmp, httpsd, site):
    d = short_tmp
    path = os.path.join(d, "m.sock")
    binds = ["127.0.0.1:0", "http://127.0.0.1:0", "unix:" + path]
    if ipv6_loopback_available():
        binds.append("http://[::1]:0")
    srv = httpsd(*static_args(site), binds=binds)
    assert len(srv.listeners) == len(binds), srv.urls
    schemes = sorted(l.scheme for l in srv.listeners)
    assert schemes == sorted(Listener(b if "://" in b or b.startswith("unix:") else "https://" + b)
                             .scheme for b in binds)
    ports = [l.port for l in srv.listeners if l.port is not None]
    assert 0 not in ports
    assert len(set(ports)) == len(ports), "two listeners got the same port: %r" % srv.urls
    for l in srv.listeners:
        check_hello(l)
    # exactly one line per listener
    n = len([1 for line in srv.stderr.splitlines() if "listening on" in line])
    assert n == len(binds), srv.stderr


def test_printed_port_is_the_real_one(httpsd, site):
    port = free_port()
    srv = httpsd(*static_args(site), binds=["http://127.0.0.1:%d" % port])
    (l,) = srv.listeners
    assert l.port == port, l.url
    check_hello(l)


def test_port_zero_printed_port_accepts(httpsd, site):
    srv = httpsd(*static_args(site), binds=["http://127.0.0.1:0", "127.0.0.1:0"])
    for l in srv.listeners:
        assert l.port and l.port != 0
        s = socket.create_connection(l.sockaddr, timeout=5)
        s.close()
        check_hello(l)


def test_unix_socket_restart_same_path(short_tmp, httpsd, site):
    d = short_tmp
    path = os.path.join(d, "r.sock")
    first = httpsd(*static_args(site), binds=["unix:" + path])
    check_hello(first.listeners[0])
    rc, killed = first.stop()
    assert rc == 0 and not killed
    second = httpsd(*static_args(site), binds=["unix:" + path])
    check_hello(second.listeners[0])


def test_unix_path_that_is_a_regular_file_is_not_clobbered(tmp_path):
    from conftest import run_cli
    victim = tmp_path / "precious"
    victim.write_bytes(b"data\n")
    p = run_cli(["-b", "unix:%s" % victim])
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert victim.read_bytes() == b"data\n"
