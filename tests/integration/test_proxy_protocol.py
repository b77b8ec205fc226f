"""PROXY protocol v1/v2 on proxy+ listeners and trusted forwarded headers (issue 12): the
client address a trusted proxy reports is REMOTE_ADDR/REMOTE_PORT and the access log's; a
connection without a valid header, or from a peer not allowed to send one, is closed and
logged — never a request; untrusted forwarded headers change nothing."""

import json
import os
import socket
import ssl
import struct
import time

import pytest

from conftest import client_context
from wsgihelp import start

SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(src, dst, sport, dport, family=socket.AF_INET, command=1, tlvs=b""):
    if family == socket.AF_INET:
        addr = socket.inet_pton(family, src) + socket.inet_pton(family, dst)
        fam = 0x11
    elif family == socket.AF_INET6:
        addr = socket.inet_pton(family, src) + socket.inet_pton(family, dst)
        fam = 0x21
    else:
        addr, fam = b"", 0x00
    block = addr + (struct.pack("!HH", sport, dport) if addr else b"") + tlvs
    return SIG + bytes([0x20 | command, fam]) + struct.pack("!H", len(block)) + block


def v1(src, dst, sport, dport, proto="TCP4"):
    return ("PROXY %s %s %s %d %d\r\n" % (proto, src, dst, sport, dport)).encode()


def serve(httpsd, tmp_path, *extra, binds=None):
    log = str(tmp_path / "access.log")
    binds = binds or ("proxy+http://127.0.0.1:0", "proxy+https://127.0.0.1:0",
                      "http://127.0.0.1:0")
    srv = start(httpsd, "wsgi_basic:app", "-w", "0", "--access-logfile", log, *extra,
                binds=binds)
    return srv, log


def plain(srv):
    """The listener without proxy+ (binds put it last)."""
    return srv.listeners[-1]


def raw(lst, timeout=5):
    s = socket.create_connection(lst.sockaddr, timeout=timeout)
    return s


def read_all(s, timeout=5):
    s.settimeout(timeout)
    out = b""
    while True:
        try:
            d = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not d:
            break
        out += d
    return out


def env_over(s, path="/env", headers=b""):
    s.sendall(b"GET " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" +
              headers + b"\r\n")
    data = read_all(s)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), data[:300]
    return json.loads(body)


def access_lines(log):
    time.sleep(0.3)  # the access log is flushed by the loop shortly after the response
    with open(log) as f:
        return f.read().splitlines()


@pytest.fixture
def proxied(httpsd, tmp_path):
    return serve(httpsd, tmp_path)


def test_v1_tcp4_sets_remote_addr_and_the_access_log(proxied):
    srv, log = proxied
    s = raw(srv.listeners[0])
    s.sendall(v1("203.0.113.7", "198.51.100.1", 40123, 443))
    e = env_over(s)
    assert e["REMOTE_ADDR"] == "203.0.113.7" and e["REMOTE_PORT"] == "40123", e
    assert any(l.startswith("203.0.113.7 ") for l in access_lines(log))


def test_v1_tcp6_and_unknown(proxied):
    srv, _ = proxied
    s = raw(srv.listeners[0])
    s.sendall(v1("2001:db8::1", "2001:db8::2", 1, 2, "TCP6"))
    assert env_over(s)["REMOTE_ADDR"] == "2001:db8::1"
    s = raw(srv.listeners[0])
    s.sendall(b"PROXY UNKNOWN\r\n")
    assert env_over(s)["REMOTE_ADDR"] == "127.0.0.1"  # the real peer


@pytest.mark.parametrize("pause", [0, 0.2], ids=["at-once", "after-a-pause"])
def test_v2_before_the_tls_client_hello(proxied, pause):
    srv, log = proxied
    lst = srv.listeners[1]
    assert lst.scheme == "https"
    s = raw(lst)
    # after a pause the connection's first event is "writable" alone: the handshake must still
    # wait for the header (it once read the header as a ClientHello: "wrong version number")
    time.sleep(pause)
    s.sendall(v2("2001:db8::42", "2001:db8::1", 5555, 443, socket.AF_INET6,
                 tlvs=b"\x01\x00\x02h2" + b"\x04\x00\x03abc"))  # ALPN and NOOP TLVs: skipped
    t = client_context().wrap_socket(s, server_hostname="localhost")
    e = env_over(t)
    assert e["REMOTE_ADDR"] == "2001:db8::42" and e["REMOTE_PORT"] == "5555"
    assert e["wsgi.url_scheme"] == "https"
    assert any(l.startswith("2001:db8::42 ") for l in access_lines(log))


def test_v2_local_keeps_the_real_peer(proxied):
    srv, _ = proxied
    s = raw(srv.listeners[0])
    s.sendall(v2("0.0.0.0", "0.0.0.0", 0, 0, family=None, command=0))
    assert env_over(s)["REMOTE_ADDR"] == "127.0.0.1"


def test_header_sent_byte_by_byte_with_the_request(proxied):
    srv, _ = proxied
    s = raw(srv.listeners[0])
    hdr = v2("192.0.2.9", "192.0.2.1", 7, 80)
    for i in range(len(hdr)):
        s.sendall(hdr[i:i + 1])
        time.sleep(0.01)
    assert env_over(s)["REMOTE_ADDR"] == "192.0.2.9"
    # and the header together with the request in one segment
    s = raw(srv.listeners[0])
    s.sendall(v1("192.0.2.10", "192.0.2.1", 8, 80) + b"GET /env HTTP/1.1\r\nHost: x\r\n"
              b"Connection: close\r\n\r\n")
    body = read_all(s).partition(b"\r\n\r\n")[2]
    assert json.loads(body)["REMOTE_ADDR"] == "192.0.2.10"


@pytest.mark.parametrize("bad", [
    b"GET /env HTTP/1.1\r\nHost: x\r\n\r\n",                      # no header at all
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",                          # bare LF
    b"PROXY TCP4 1.2.3.4  5.6.7.8 1 2\r\n",                       # two spaces
    b"PROXY TCP4 1.2.3.4 5.6.7.8 1 65536\r\n",                    # port out of range
    b"PROXY TCP4 ::1 ::1 1 2\r\n",                                # family mismatch
    b"PROXY TCP4 " + b"1" * 200 + b"\r\n",                        # v1 longer than 107
    SIG + b"\x21\x11\x00\x04abcd",                                # v2 too short for TCP4
    SIG + b"\x11\x11\x00\x0c" + b"x" * 12,                        # v2 version 1
    SIG + b"\x21\x11\xff\xff" + b"x" * 100,                       # v2 oversized (64 KiB)
    SIG + b"\x21\x12\x00\x0c" + b"x" * 12,                        # v2 UDP: unsupported
])
def test_bad_or_missing_header_closes_without_a_request(proxied, bad):
    srv, log = proxied
    s = raw(srv.listeners[0])
    try:
        s.sendall(bad + b"GET /env HTTP/1.1\r\nHost: x\r\n\r\n")
    except OSError:
        pass
    assert read_all(s) == b""  # closed, nothing answered
    assert not any('"GET /env' in l for l in access_lines(log))
    assert srv.wait_log(r"PROXY protocol header .*: closed")
    # still serving, on every listener
    s = raw(srv.listeners[0])
    s.sendall(v1("192.0.2.1", "192.0.2.2", 1, 2))
    assert env_over(s)["REMOTE_ADDR"] == "192.0.2.1"


def test_truncated_header_then_eof_is_closed_and_logged(proxied):
    srv, log = proxied
    s = raw(srv.listeners[0])
    s.sendall(b"PROXY TCP4 1.2.3.4 5.6.7.8 1")
    s.shutdown(socket.SHUT_WR)
    assert read_all(s) == b""
    assert srv.wait_log(r"closed inside its PROXY protocol header")


def test_slow_partial_header_meets_the_header_timeout(httpsd, tmp_path):
    srv, _ = serve(httpsd, tmp_path, "--header-timeout", "1")
    s = raw(srv.listeners[0])
    s.sendall(b"PROXY TCP4 1.2.3.4")
    t0 = time.monotonic()
    assert read_all(s, timeout=5) == b""
    assert 0.8 < time.monotonic() - t0 < 4


def test_peer_not_allowed_is_closed(httpsd, tmp_path):
    srv, log = serve(httpsd, tmp_path, "--proxy-allow-from", "10.0.0.0/8,2001:db8::/32")
    s = raw(srv.listeners[0])
    try:
        s.sendall(v1("1.2.3.4", "5.6.7.8", 1, 2) + b"GET /env HTTP/1.1\r\nHost: x\r\n\r\n")
    except OSError:
        pass
    assert read_all(s) == b""
    assert srv.wait_log(r"connection from 127\.0\.0\.1 to a PROXY protocol listener: not in "
                        r"--proxy-allow-from")
    # the plain listener without proxy+ still serves
    s = raw(plain(srv))
    assert env_over(s)["REMOTE_ADDR"] == "127.0.0.1"


def test_bad_allow_lists_fail_the_start(httpsd):
    from conftest import run_cli
    for opt, val in (("--proxy-allow-from", "10.0.0.0/33"), ("--proxy-allow-from", "a,,b"),
                     ("--forwarded-allow-ips", "300.1.1.1"), ("--forwarded-allow-ips", "1.2.3.4/8")):
        p = run_cli([opt, val])
        assert p.returncode != 0 and opt in p.stderr, (opt, val, p.stderr)


def test_proxy_protocol_on_every_listener(httpsd, tmp_path):
    srv, _ = serve(httpsd, tmp_path, "--proxy-protocol", binds=("http://127.0.0.1:0",))
    s = raw(srv.listeners[0])
    s.sendall(v1("192.0.2.77", "192.0.2.1", 1, 2))
    assert env_over(s)["REMOTE_ADDR"] == "192.0.2.77"
    s = raw(srv.listeners[0])
    s.sendall(b"GET /env HTTP/1.1\r\nHost: x\r\n\r\n")
    assert read_all(s) == b""


def test_proxy_unix_listener_needs_the_unix_token(httpsd, tmp_path, short_tmp):
    path = os.path.join(short_tmp, "pp.sock")
    srv, _ = serve(httpsd, tmp_path, binds=("proxy+unix:" + path,))
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(v1("192.0.2.5", "192.0.2.1", 1, 2))
    assert read_all(s) == b""  # UNIX peers are not in 127.0.0.1,::1
    srv.stop()
    srv, _ = serve(httpsd, tmp_path, "--proxy-allow-from", "unix", binds=("proxy+unix:" + path,))
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.sendall(v1("192.0.2.5", "192.0.2.1", 1, 2))
    assert env_over(s)["REMOTE_ADDR"] == "192.0.2.5"


# ---- forwarded headers ---------------------------------------------------------------------

def fwd_env(srv, headers, lst=None):
    s = raw(lst or plain(srv))
    return env_over(s, headers=b"".join(b"%s: %s\r\n" % (k, v) for k, v in headers))


def test_forwarded_headers_from_a_trusted_peer(httpsd, tmp_path):
    srv, log = serve(httpsd, tmp_path, binds=("http://127.0.0.1:0",))  # 127.0.0.1 trusted
    e = fwd_env(srv, [(b"X-Forwarded-For", b"198.51.100.9, 10.0.0.5"),
                      (b"X-Forwarded-Proto", b"https")])
    assert e["REMOTE_ADDR"] == "10.0.0.5", e  # the right-most hop not trusted
    assert e["wsgi.url_scheme"] == "https"
    assert any(l.startswith("10.0.0.5 ") for l in access_lines(log))
    e = fwd_env(srv, [(b"Forwarded", b'for="[2001:db8::7]:4711";proto=https, for=127.0.0.1')])
    assert e["REMOTE_ADDR"] == "2001:db8::7" and e["wsgi.url_scheme"] == "https", e
    # garbage: nothing changes
    e = fwd_env(srv, [(b"X-Forwarded-For", b"not-an-address"), (b"X-Forwarded-Proto", b"ftp")])
    assert e["REMOTE_ADDR"] == "127.0.0.1" and e["wsgi.url_scheme"] == "http", e


def test_forwarded_headers_from_an_untrusted_peer_change_nothing(httpsd, tmp_path):
    srv, log = serve(httpsd, tmp_path, "--forwarded-allow-ips", "10.0.0.0/8",
                     binds=("http://127.0.0.1:0",))
    e = fwd_env(srv, [(b"X-Forwarded-For", b"6.6.6.6"), (b"X-Forwarded-Proto", b"https"),
                      (b"Forwarded", b"for=6.6.6.6;proto=https")])
    assert e["REMOTE_ADDR"] == "127.0.0.1" and e["wsgi.url_scheme"] == "http", e
    assert e["HTTP_X_FORWARDED_FOR"] == "6.6.6.6"  # passed on as a plain header
    assert not any(l.startswith("6.6.6.6") for l in access_lines(log))


def test_proxy_address_is_what_forwarded_trust_is_judged_on(httpsd, tmp_path):
    """Behind a PROXY header, the proxied client is the peer: its own X-Forwarded-For is not
    believed unless that client is trusted."""
    srv, _ = serve(httpsd, tmp_path)
    s = raw(srv.listeners[0])
    s.sendall(v1("203.0.113.50", "192.0.2.1", 9, 80))
    e = env_over(s, headers=b"X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\n")
    assert e["REMOTE_ADDR"] == "203.0.113.50" and e["wsgi.url_scheme"] == "http", e


def test_many_tls_connections_with_headers_at_once(proxied):
    """Many proxied TLS connections opened together, each sending its header at once: the
    first event of a connection may say "writable" while its header is already on the way;
    the handshake must never start before the header is taken (once: ~1 % of HAProxy's
    connections failed with "wrong version number")."""
    import concurrent.futures
    srv, _ = proxied
    lst = srv.listeners[1]
    ctx = client_context()

    def one(i):
        s = raw(lst)
        try:
            s.sendall(v2("192.0.2.%d" % (i % 250 + 1), "192.0.2.1", 1000 + i, 443))
            t = ctx.wrap_socket(s, server_hostname="localhost")
            t.sendall(b"GET /status?s=204+No+Content HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return read_all(t)[:12]
        except (OSError, ssl.SSLError) as e:
            return repr(e)
        finally:
            s.close()

    with concurrent.futures.ThreadPoolExecutor(32) as ex:
        got = list(ex.map(one, range(600)))
    bad = [g for g in got if g != b"HTTP/1.1 204"]
    assert not bad, (len(bad), bad[:3])
