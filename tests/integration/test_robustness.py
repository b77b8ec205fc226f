"""Robustness: many connections, vanishing clients, graceful shutdown, EMFILE, fuzz."""

import errno
import os
import hashlib
import random
import selectors
import signal
import socket
import ssl
import struct
import threading
import time

import pytest

from conftest import (HELLO, assert_serving, build_request, client_context, connect, get,
                      raise_nofile, read_all_until_close, static_args)


def many_plain_connections(addr, n, timeout=60):
    """Open n connections at once, then send one request on each and read each 200.

    Returns (ok, errors)."""
    sel = selectors.DefaultSelector()
    req = b"GET /static/hello.txt HTTP/1.1\r\nHost: localhost\r\n\r\n"
    socks = []
    state = {}
    deadline = time.monotonic() + timeout
    for i in range(n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex(addr)
        assert err in (0, errno.EINPROGRESS), errno.errorcode.get(err, err)
        socks.append(s)
        state[s] = {"phase": "connect", "buf": b""}
        sel.register(s, selectors.EVENT_WRITE)
    # phase 1: wait until every connection is established
    pending = set(socks)
    while pending and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            if s in pending:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                assert err == 0, "connect failed: %s" % errno.errorcode.get(err, err)
                pending.discard(s)
                sel.modify(s, selectors.EVENT_READ)
    assert not pending, "%d connections never established" % len(pending)
    # phase 2: all connected at the same time; now send on all
    for s in socks:
        s.sendall(req)  # tiny, fits the socket buffer
    ok = 0
    errors = []
    remaining = set(socks)
    while remaining and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=1):
            s = key.fileobj
            st = state[s]
            try:
                d = s.recv(65536)
            except BlockingIOError:
                continue
            except OSError as e:
                errors.append(repr(e))
                d = b""
            st["buf"] += d
            buf = st["buf"]
            done = False
            if b"\r\n\r\n" in buf:
                head, body = buf.split(b"\r\n\r\n", 1)
                cl = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if cl and len(body) >= int(cl[0].split(b":")[1]):
                    done = True
                    if head.startswith(b"HTTP/1.1 200") and body == HELLO:
                        ok += 1
                    else:
                        errors.append(buf[:100])
            if not d and not done:
                errors.append("closed early: %r" % buf[:100])
                done = True
            if done:
                sel.unregister(s)
                remaining.discard(s)
    for s in socks:
        s.close()
    sel.close()
    if remaining:
        errors.append("%d connections got no full response in time" % len(remaining))
    return ok, errors


def test_1000_concurrent_plain_connections(httpsd, site):
    raise_nofile(8192)
    s = httpsd(*static_args(site), binds=["http://127.0.0.1:0"])
    ok, errors = many_plain_connections(s.http.sockaddr, 1000)
    assert ok == 1000, "%d/1000 ok; errors: %r" % (ok, errors[:10])
    assert_serving(s)


def test_200_concurrent_tls_connections(httpsd, site):
    raise_nofile(8192)
    s = httpsd(*static_args(site), binds=["127.0.0.1:0"])
    n = 200
    barrier = threading.Barrier(n, timeout=60)
    results = [None] * n
    ctx = client_context()

    def worker(i):
        try:
            c = connect(s.https, ctx=ctx, timeout=60)
            barrier.wait()  # all handshakes done and connections open at once
            r = c.request("GET", "/static/hello.txt", timeout=60)
            results[i] = (r.status, r.body)
            barrier.wait()
            c.close()
        except Exception as e:  # noqa
            results[i] = ("error", repr(e))
            try:
                barrier.abort()
            except Exception:
                pass

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    bad = [r for r in results if r != (200, HELLO)]
    assert not bad, "%d/%d failed, e.g. %r" % (len(bad), n, bad[:5])
    assert_serving(s)


@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("how", ["close", "reset"])
def test_client_vanishes_mid_response(httpsd, site, scheme, how):
    s = httpsd(*static_args(site), binds=["http://127.0.0.1:0", "127.0.0.1:0"])
    l = s.listener(scheme)
    for i in range(5):
        c = connect(l, timeout=10)
        c.send(build_request("GET", "/static/large.bin"))
        got = 0
        while got < 200_000:
            n = c._recv(65536)
            assert n, "server closed early"
            got += n
        if how == "reset":
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if isinstance(c.sock, ssl.SSLSocket) and how == "reset":
            # drop the TLS layer without close_notify
            raw = socket.socket(fileno=c.sock.detach())
            raw.close()
        else:
            c.close()
    # a stream of pipelined requests, then vanish without reading
    c = connect(l, timeout=10)
    c.send(build_request("GET", "/static/large.bin") * 5)
    c.close()
    time.sleep(0.3)
    assert_serving(s)
    # the big file still downloads fully
    h = hashlib.sha256()
    c = connect(l, timeout=60)
    c.send(build_request("GET", "/static/large.bin"))
    r = c.read_response(timeout=120, body_sink=h.update)
    c.close()
    assert r.status == 200 and h.hexdigest() == site.large_sha256


def connection_refused_within(addr, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = socket.socket()
        s.settimeout(1)
        try:
            s.connect(addr)
        except ConnectionRefusedError:
            return True
        except OSError:
            pass
        finally:
            s.close()
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_graceful_shutdown_finishes_download(httpsd, site, scheme):
    s = httpsd(*static_args(site), "--graceful-timeout", 20,
               binds=["http://127.0.0.1:0", "127.0.0.1:0"])
    l = s.listener(scheme)
    other = s.listener("https" if scheme == "http" else "http")
    # an idle keep-alive connection
    idle = connect(l, timeout=10)
    assert idle.request("GET", "/static/hello.txt").status == 200
    # a slow download
    c = connect(l, timeout=20, rcvbuf=16384)
    c.send(build_request("GET", "/static/large.bin"))
    h = hashlib.sha256()
    got = [0]

    def sink(d):
        h.update(d)
        got[0] += len(d)

    # read the head and ~1 MiB slowly
    while len(c.buf) < 4096:
        c._recv(4096)
    head_end = c.buf.index(b"\r\n\r\n") + 4
    head = c.buf[:head_end]
    assert head.startswith(b"HTTP/1.1 200")
    c.buf = c.buf[head_end:]
    sink(c.buf)
    c.buf = b""
    while got[0] < 1 << 20:
        n = c._recv(16384)
        assert n, "download ended early"
        sink(c.buf)
        c.buf = b""
        time.sleep(0.001)
    s.send_signal(signal.SIGTERM)
    t0 = time.monotonic()
    # new connections are refused soon
    assert connection_refused_within(l.sockaddr, 5), "still accepting new connections after SIGTERM"
    assert connection_refused_within(other.sockaddr, 2), "other listener still accepting after SIGTERM"
    # the idle keep-alive connection is closed promptly
    assert idle.closed_within(5), "idle keep-alive connection not closed on SIGTERM"
    idle.close()
    assert s.alive(), "server exited with a download in flight"
    # finish the download
    while got[0] < site.large_size:
        n = c._recv(1 << 20, timeout=20)
        if not n:
            break
        sink(c.buf)
        c.buf = b""
    c.close()
    assert got[0] == site.large_size, "download cut at %d of %d bytes" % (got[0], site.large_size)
    assert h.hexdigest() == site.large_sha256
    rc = s.wait(10)
    assert rc == 0, "exit code %r after graceful shutdown" % rc


def test_sigterm_with_idle_keepalive_exits_promptly(httpsd, site):
    s = httpsd(*static_args(site), "--graceful-timeout", 30, "--keep-alive", 30,
               binds=["http://127.0.0.1:0", "127.0.0.1:0"])
    conns = []
    for l in s.listeners:
        for _ in range(5):
            c = connect(l)
            assert c.request("GET", "/static/hello.txt").status == 200
            conns.append(c)
    # and one connection that never sent anything, one TLS connection without a handshake
    conns.append(connect(s.http))
    from conftest import Conn, raw_connect
    conns.append(Conn(raw_connect(s.https)))
    t0 = time.monotonic()
    s.send_signal(signal.SIGTERM)
    rc = s.wait(10)
    dt = time.monotonic() - t0
    for c in conns:
        assert c.closed_within(2)
        c.close()
    assert rc == 0, "rc=%r" % rc
    assert dt < 5, "took %.1fs to exit with only idle connections" % dt


def test_sigint_exits_0(httpsd, site):
    s = httpsd(*static_args(site), binds=["http://127.0.0.1:0"])
    assert get(s.http, "/static/hello.txt").status == 200
    s.send_signal(signal.SIGINT)
    assert s.wait(10) == 0


def test_graceful_timeout_bounds_shutdown(httpsd, site):
    """A download whose client never reads cannot hold the shutdown past --graceful-timeout."""
    s = httpsd(*static_args(site), "--graceful-timeout", 1, binds=["http://127.0.0.1:0"])
    c = connect(s.http, rcvbuf=4096)
    c.send(build_request("GET", "/static/large.bin"))
    time.sleep(0.5)
    t0 = time.monotonic()
    s.send_signal(signal.SIGTERM)
    rc = s.wait(15)
    dt = time.monotonic() - t0
    c.close()
    assert rc == 0, "rc=%r after graceful timeout" % rc
    assert dt < 1 + 4, "exit took %.1fs with --graceful-timeout 1" % dt


def test_response_after_sigterm_carries_connection_close(httpsd, site):
    """A request that arrives on an open connection while a download keeps the server
    draining is answered with Connection: close (or the connection is closed)."""
    s = httpsd(*static_args(site), "--graceful-timeout", 10, binds=["http://127.0.0.1:0"])
    slow = connect(s.http, rcvbuf=4096)
    slow.send(build_request("GET", "/static/large.bin"))
    c = connect(s.http)
    # a request whose head is incomplete at SIGTERM time: it is not in flight, so the
    # server may close; if it answers, it must carry Connection: close
    c.send(b"GET /static/hello.txt HTTP/1.1\r\nHost: x\r\n")
    time.sleep(0.3)
    s.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    try:
        c.send(b"\r\n")
    except OSError:
        pass
    try:
        r = c.read_response(timeout=5)
    except Exception:
        r = None
    if r is not None:
        assert r.conn_close, r.headers
    c.close()
    slow.close()
    assert s.wait(15) == 0


def test_emfile_no_spin_and_recovers(httpsd, site):
    raise_nofile(8192)
    s = httpsd(*static_args(site), "--keep-alive", 60, "--header-timeout", 60,
               binds=["http://127.0.0.1:0"], prefix=["prlimit", "--nofile=64:64", "--"])
    addr = s.http.sockaddr
    first = []
    for _ in range(5):
        c = connect(s.http, timeout=10)
        assert c.request("GET", "/static/hello.txt").status == 200
        first.append(c)
    flood = []
    for _ in range(100):
        f = socket.socket()
        f.settimeout(5)
        try:
            f.connect(addr)
        except OSError:
            f.close()
            continue
        flood.append(f)
    time.sleep(0.5)
    cpu0 = s.cpu_seconds()
    time.sleep(2.0)
    cpu1 = s.cpu_seconds()
    s.assert_alive()
    assert cpu1 - cpu0 < 0.5, "server spins at EMFILE: %.2fs CPU in 2s" % (cpu1 - cpu0)
    # existing connections still work
    for c in first:
        r = c.request("GET", "/static/hello.txt", timeout=10)
        assert r.status == 200 and r.body == HELLO
    # free descriptors: close the flood; a new connection is served again
    for f in flood:
        f.close()
    deadline = time.monotonic() + 15
    last = None
    while time.monotonic() < deadline:
        try:
            r = get(s.http, "/static/hello.txt", timeout=5)
            if r.status == 200:
                last = r
                break
        except Exception as e:  # noqa
            last = e
        time.sleep(0.2)
    assert getattr(last, "status", None) == 200, "not serving after fds were freed: %r" % (last,)
    for c in first:
        c.close()


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_random_garbage_fuzz(httpsd, site, scheme):
    s = httpsd(*static_args(site), "--header-timeout", 2, binds=["http://127.0.0.1:0", "127.0.0.1:0"])
    l = s.listener(scheme)
    rnd = random.Random(4242)
    pieces = [b"GET ", b"HEAD ", b"/static/", b"hello.txt", b" HTTP/1.1", b"\r\n", b"\r", b"\n",
              b"Host: x", b"Content-Length: ", b"Transfer-Encoding: chunked", b": ", b"%", b"..",
              b"\x00", b"\xff", b" ", b"\t", b"0", b"ffffffff", b"Expect: 100-continue",
              b"Connection: close", b"1\r\na\r\n"]
    for i in range(150):
        data = b"".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 40)))
        if rnd.random() < 0.3:
            data += bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 200)))
        try:
            c = connect(l, timeout=5)
            c.send(data)
            c.closed_within(0.02)
            c.close()
        except OSError:
            pass
    time.sleep(0.2)
    assert_serving(s)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_file_truncated_during_download(httpsd, tmp_path, scheme):
    """The file shrinks while it is being sent: the server must end the connection (it cannot
    honour Content-Length), must not spin, and keeps serving."""
    d = tmp_path / "m"
    d.mkdir()
    f = d / "big.bin"
    f.write_bytes(os.urandom(1 << 20) * 16)  # 16 MiB
    (d / "ok.txt").write_bytes(b"ok\n")
    s = httpsd("--static", "/m=%s" % d, binds=["http://127.0.0.1:0", "127.0.0.1:0"])
    l = s.listener(scheme)
    c = connect(l, timeout=10, rcvbuf=8192)
    c.send(build_request("GET", "/m/big.bin"))
    while len(c.buf) < 100_000:
        assert c._recv(65536), "closed early"
    with open(f, "r+b") as fh:
        fh.truncate(1000)
    cpu0 = s.cpu_seconds()
    total = len(c.buf)
    c.buf = b""
    ended = False
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            n = c._recv(1 << 20, timeout=5)
        except (socket.timeout, TimeoutError):
            break
        if not n:
            ended = True
            break
        total += n
        c.buf = b""
    c.close()
    cpu = s.cpu_seconds() - cpu0
    assert ended, "connection neither completed nor closed after the file was truncated"
    assert total < 16 << 20, "more bytes than the truncated file can provide"
    assert cpu < 3, "server burnt %.1fs CPU on a truncated file" % cpu
    r = get(l, "/m/ok.txt")
    assert r.status == 200 and r.body == b"ok\n"
