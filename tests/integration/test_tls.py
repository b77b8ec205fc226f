"""TLS: generated certificate, reuse, --certfile/--keyfile, versions, ciphers, ALPN, tickets."""

import datetime
import hashlib
import os
import re
import shutil
import socket
import ssl
import stat
import subprocess

import pytest

from conftest import (HELLO, assert_serving, client_context, connect, get, raw_connect,
                      read_all_until_close, static_args)


def served_cert_der(listener, **kw):
    c = connect(listener, **kw)
    der = c.sock.getpeercert(binary_form=True)
    c.close()
    return der


def file_der(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def fingerprints_in(text):
    out = set()
    for m in re.finditer(r"(?<![0-9A-Fa-f:])((?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2})(?![0-9A-Fa-f:])", text):
        out.add(m.group(1).replace(":", "").lower())
    for m in re.finditer(r"(?<![0-9A-Fa-f])([0-9A-Fa-f]{64})(?![0-9A-Fa-f])", text):
        out.add(m.group(1).lower())
    return out


@pytest.fixture
def tls_server(httpsd, site):
    return httpsd(*static_args(site), binds=["127.0.0.1:0"])


# ---------------------------------------------------------------------------
# the generated certificate
# ---------------------------------------------------------------------------

def test_generated_cert_verifies_for_localhost(tls_server):
    cafile = os.path.join(tls_server.cwd, "cert.pem")
    assert os.path.isfile(cafile)
    ctx = ssl.create_default_context(cafile=cafile)
    assert ctx.check_hostname
    l = tls_server.https
    s = socket.create_connection(l.sockaddr, timeout=10)
    t = ctx.wrap_socket(s, server_hostname="localhost")
    t.sendall(b"GET /static/hello.txt HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    data, _ = read_all_until_close(t, 10)
    t.close()
    assert data.startswith(b"HTTP/1.1 200"), data[:200]
    assert data.endswith(HELLO)


def test_generated_cert_verifies_for_ip_127_0_0_1(tls_server):
    ctx = ssl.create_default_context(cafile=os.path.join(tls_server.cwd, "cert.pem"))
    s = socket.create_connection(tls_server.https.sockaddr, timeout=10)
    t = ctx.wrap_socket(s, server_hostname="127.0.0.1")
    t.close()


def test_generated_cert_rejected_for_other_name(tls_server):
    ctx = ssl.create_default_context(cafile=os.path.join(tls_server.cwd, "cert.pem"))
    s = socket.create_connection(tls_server.https.sockaddr, timeout=10)
    with pytest.raises(ssl.SSLCertVerificationError):
        ctx.wrap_socket(s, server_hostname="example.com")
    s.close()
    assert_serving(tls_server)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_with_cacert(tls_server):
    port = tls_server.https.port
    p = subprocess.run(["curl", "-sS", "--max-time", "20", "--cacert", "cert.pem",
                        "--resolve", "localhost:%d:127.0.0.1" % port,
                        "https://localhost:%d/static/hello.txt" % port],
                       cwd=tls_server.cwd, capture_output=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout == HELLO


def test_generated_cert_properties(tls_server):
    cert = ssl._ssl._test_decode_cert(os.path.join(tls_server.cwd, "cert.pem"))
    san = cert.get("subjectAltName", ())
    assert ("DNS", "localhost") in san, san
    ips = [v for k, v in san if k == "IP Address"]
    assert "127.0.0.1" in ips, san
    assert any(v in ("::1", "0:0:0:0:0:0:0:1", "0:0:0:0:0:0:0:1\n") for v in ips), san
    nb = datetime.datetime.strptime(cert["notBefore"], "%b %d %H:%M:%S %Y %Z")
    na = datetime.datetime.strptime(cert["notAfter"], "%b %d %H:%M:%S %Y %Z")
    now = datetime.datetime.utcnow()
    assert nb <= now + datetime.timedelta(minutes=5), cert["notBefore"]
    days = (na - nb).days
    assert 360 <= days <= 367, "validity %d days" % days
    assert cert.get("version") == 3, cert.get("version")
    if shutil.which("openssl"):
        txt = subprocess.run(["openssl", "x509", "-noout", "-text", "-in", "cert.pem"],
                             cwd=tls_server.cwd, capture_output=True, text=True, timeout=30).stdout
        assert "prime256v1" in txt or "P-256" in txt, txt


def test_key_file_mode_0600(tls_server):
    st = os.stat(os.path.join(tls_server.cwd, "key.pem"))
    assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)


def test_log_names_files_and_fingerprint(tls_server):
    log = tls_server.stderr
    assert "cert.pem" in log and "key.pem" in log, log
    want = hashlib.sha256(file_der(os.path.join(tls_server.cwd, "cert.pem"))).hexdigest()
    assert want in fingerprints_in(log), "fingerprint %s not in log:\n%s" % (want, log)


def test_served_cert_is_the_file(tls_server):
    assert served_cert_der(tls_server.https) == file_der(os.path.join(tls_server.cwd, "cert.pem"))


def test_second_start_reuses_cert(httpsd, site):
    first = httpsd(*static_args(site), binds=["127.0.0.1:0"])
    cwd = first.cwd
    with open(os.path.join(cwd, "cert.pem"), "rb") as f:
        cert1 = f.read()
    with open(os.path.join(cwd, "key.pem"), "rb") as f:
        key1 = f.read()
    fp1 = hashlib.sha256(file_der(os.path.join(cwd, "cert.pem"))).hexdigest()
    rc, killed = first.stop()
    assert rc == 0 and not killed
    second = httpsd(*static_args(site), binds=["127.0.0.1:0"], cwd=cwd)
    with open(os.path.join(cwd, "cert.pem"), "rb") as f:
        assert f.read() == cert1, "cert.pem was regenerated"
    with open(os.path.join(cwd, "key.pem"), "rb") as f:
        assert f.read() == key1, "key.pem was regenerated"
    assert fp1 in fingerprints_in(second.stderr), second.stderr
    assert served_cert_der(second.https) == file_der(os.path.join(cwd, "cert.pem"))


def test_certfile_keyfile_flags(httpsd, site):
    gen = httpsd(*static_args(site), binds=["127.0.0.1:0"])
    certfile = os.path.join(gen.cwd, "cert.pem")
    keyfile = os.path.join(gen.cwd, "key.pem")
    other = httpsd(*static_args(site), "--certfile", certfile, "--keyfile", keyfile,
                   binds=["127.0.0.1:0"])
    assert served_cert_der(other.https) == file_der(certfile)
    assert not os.path.exists(os.path.join(other.cwd, "cert.pem")), \
        "a certificate was generated although --certfile was given"
    ctx = ssl.create_default_context(cafile=certfile)
    c = connect(other.https, ctx=ctx, server_hostname="localhost")
    r = c.request("GET", "/static/hello.txt")
    c.close()
    assert r.status == 200 and r.body == HELLO


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_existing_cert_and_key_in_cwd_are_used(httpsd, site, tmp_path):
    cwd = tmp_path / "own"
    cwd.mkdir()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", "key.pem", "-out", "cert.pem", "-subj", "/CN=localhost",
                    "-days", "2"], cwd=str(cwd), check=True, capture_output=True, timeout=30)
    before = (cwd / "cert.pem").read_bytes()
    srv = httpsd(*static_args(site), binds=["127.0.0.1:0"], cwd=str(cwd))
    assert (cwd / "cert.pem").read_bytes() == before
    assert served_cert_der(srv.https) == ssl.PEM_cert_to_DER_cert(before.decode())


# ---------------------------------------------------------------------------
# protocol versions, ciphers, ALPN, tickets
# ---------------------------------------------------------------------------

def test_tls_1_0_and_1_1_refused(tls_server):
    for maxv in (ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1):
        # SECLEVEL=0 so that the *client* really offers the old version
        ctx = client_context(minv=ssl.TLSVersion.TLSv1, maxv=maxv, ciphers="DEFAULT:@SECLEVEL=0")
        s = raw_connect(tls_server.https, timeout=10)
        with pytest.raises((ssl.SSLError, ConnectionResetError, ConnectionAbortedError, OSError)) as ei:
            t = ctx.wrap_socket(s, server_hostname="localhost")
            t.close()
        s.close()
        assert "NO_PROTOCOLS_AVAILABLE" not in str(ei.value), \
            "test bug: client did not offer %s: %s" % (maxv, ei.value)
    assert_serving(tls_server)


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3],
                         ids=["1.2", "1.3"])
def test_tls_1_2_and_1_3_work_with_aead(tls_server, version):
    ctx = client_context(minv=version, maxv=version)
    c = connect(tls_server.https, ctx=ctx)
    name, proto, bits = c.sock.cipher()
    assert c.sock.version() == {"TLSv1_2": "TLSv1.2", "TLSv1_3": "TLSv1.3"}[version.name]
    assert "GCM" in name or "CHACHA20" in name, name
    if version == ssl.TLSVersion.TLSv1_2:
        assert name.startswith("ECDHE-"), name
    r = c.request("GET", "/static/hello.txt")
    assert r.status == 200 and r.body == HELLO
    c.close()


@pytest.mark.parametrize("cipher", ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                                    "ECDHE-ECDSA-CHACHA20-POLY1305"])
def test_tls_1_2_each_aead_cipher(tls_server, cipher):
    ctx = client_context(maxv=ssl.TLSVersion.TLSv1_2, ciphers=cipher)
    c = connect(tls_server.https, ctx=ctx)
    assert c.sock.cipher()[0] == cipher
    c.close()


@pytest.mark.parametrize("cipher", ["AES128-SHA", "AES256-SHA256", "AES128-GCM-SHA256",
                                    "ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384",
                                    "ECDHE-RSA-AES128-SHA"])
def test_tls_1_2_non_aead_or_non_ecdhe_refused(tls_server, cipher):
    ctx = client_context(maxv=ssl.TLSVersion.TLSv1_2, ciphers=cipher + ":@SECLEVEL=0")
    s = raw_connect(tls_server.https, timeout=10)
    with pytest.raises((ssl.SSLError, ConnectionResetError, OSError)):
        t = ctx.wrap_socket(s, server_hostname="localhost")
        t.close()
    s.close()
    assert_serving(tls_server)


def test_tls_1_2_server_preference(tls_server):
    a = "ECDHE-ECDSA-AES128-GCM-SHA256"
    b = "ECDHE-ECDSA-AES256-GCM-SHA384"
    got = []
    for order in ("%s:%s" % (a, b), "%s:%s" % (b, a)):
        ctx = client_context(maxv=ssl.TLSVersion.TLSv1_2, ciphers=order)
        c = connect(tls_server.https, ctx=ctx)
        got.append(c.sock.cipher()[0])
        c.close()
    assert got[0] == got[1], "server followed the client's order: %r" % got


def test_alpn_prefers_h2(tls_server):
    ctx = client_context(alpn=["http/1.1", "h2"])
    c = connect(tls_server.https, ctx=ctx)
    assert c.sock.selected_alpn_protocol() == "h2"  # the server's preference
    c.close()


def test_alpn_http11(tls_server):
    ctx = client_context(alpn=["http/1.1"])
    c = connect(tls_server.https, ctx=ctx)
    assert c.sock.selected_alpn_protocol() == "http/1.1"
    r = c.request("GET", "/static/hello.txt")
    assert r.status == 200
    c.close()


def test_no_http2_offers_http11_alone(httpsd, site):
    srv = httpsd(*static_args(site), "--no-http2", binds=["127.0.0.1:0"])
    ctx = client_context(alpn=["h2", "http/1.1"])
    c = connect(srv.https, ctx=ctx)
    assert c.sock.selected_alpn_protocol() == "http/1.1"
    assert c.request("GET", "/static/hello.txt").status == 200
    c.close()
    c = connect(srv.https, ctx=client_context(alpn=["h2"]))  # h2 alone: no ALPN, HTTP/1.1
    assert c.sock.selected_alpn_protocol() is None
    assert c.request("GET", "/static/hello.txt").status == 200
    c.close()


def test_no_alpn_still_works(tls_server):
    c = connect(tls_server.https, ctx=client_context())
    assert c.sock.selected_alpn_protocol() is None
    assert c.request("GET", "/static/hello.txt").status == 200
    c.close()


def test_session_resumption_tls12(tls_server):
    ctx = client_context(maxv=ssl.TLSVersion.TLSv1_2)
    c = connect(tls_server.https, ctx=ctx)
    assert c.request("GET", "/static/hello.txt").status == 200
    sess = c.sock.session
    assert sess is not None
    assert sess.has_ticket, "no session ticket issued on TLS 1.2"
    c.close()
    c2 = connect(tls_server.https, ctx=ctx, session=sess)
    assert c2.sock.session_reused, "TLS 1.2 session was not resumed"
    assert c2.request("GET", "/static/hello.txt").status == 200
    c2.close()


def test_session_resumption_tls13(tls_server):
    ctx = client_context(minv=ssl.TLSVersion.TLSv1_3)
    c = connect(tls_server.https, ctx=ctx)
    # TLS 1.3 tickets arrive after the handshake: read a response first
    assert c.request("GET", "/static/hello.txt").status == 200
    sess = c.sock.session
    c.close()
    assert sess is not None and sess.has_ticket, "no TLS 1.3 session ticket"
    c2 = connect(tls_server.https, ctx=ctx, session=sess)
    assert c2.sock.session_reused, "TLS 1.3 session was not resumed"
    c2.close()


def test_plain_http_to_tls_port(tls_server):
    s = raw_connect(tls_server.https, timeout=10)
    s.sendall(b"GET /static/hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n")
    data, closed = read_all_until_close(s, timeout=10)
    s.close()
    assert closed, "connection not closed after plain HTTP on the TLS port"
    assert data == b"" or data.startswith(b"HTTP/1.1 400") or data[:1] == b"\x15", data[:100]
    assert HELLO not in data
    assert_serving(tls_server)


def test_garbage_to_tls_port(tls_server):
    import random
    rnd = random.Random(1234)
    for i in range(20):
        s = raw_connect(tls_server.https, timeout=10)
        blob = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 3000)))
        if i % 2:
            blob = b"\x16\x03\x01" + blob  # looks like a handshake record
        try:
            s.sendall(blob)
        except OSError:
            pass
        read_all_until_close(s, timeout=0.3)
        s.close()
    assert_serving(tls_server)


def test_truncated_client_hello(tls_server):
    """Half a ClientHello then close; the server must cope and keep serving."""
    import threading
    ctx = client_context()
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = out.read()
    assert hello
    s = raw_connect(tls_server.https, timeout=10)
    s.sendall(hello[: len(hello) // 2])
    s.close()
    assert_serving(tls_server)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI not installed")
def test_renegotiation_refused(tls_server):
    """Client-initiated renegotiation (TLS 1.2) is refused; the server keeps serving."""
    port = tls_server.https.port
    script = "sleep 0.5; echo R; sleep 1.5"
    p = subprocess.run("(%s) | openssl s_client -connect 127.0.0.1:%d -tls1_2 -servername localhost"
                       % (script, port), shell=True, capture_output=True, text=True, timeout=20)
    out = p.stdout + p.stderr
    assert "RENEGOTIATING" in out, "test bug: s_client did not try to renegotiate:\n" + out
    after = out.split("RENEGOTIATING", 1)[1]
    assert "depth=0" not in after, "renegotiation succeeded:\n" + out
    assert_serving(tls_server)


def test_ipv6_cert_verifies_for_ip_1(httpsd, site):
    from conftest import ipv6_loopback_available
    if not ipv6_loopback_available():
        pytest.skip("no IPv6 loopback")
    s = httpsd(*static_args(site), binds=["[::1]:0"])
    ctx = ssl.create_default_context(cafile=os.path.join(s.cwd, "cert.pem"))
    c = connect(s.https, ctx=ctx, server_hostname="::1")
    assert c.request("GET", "/static/hello.txt").status == 200
    c.close()
