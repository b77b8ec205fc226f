#!/usr/bin/python3
"""Hostile and odd clients for the reliability campaign (tests/campaign/run.sh). Stdlib only;
each subcommand runs for a bounded time against a loopback address and prints one JSON object.

    clients.py halfclose --port P [--tls] --duration 12 --threads 8
        clients that send `POST /echo` with `Content-Length: 100000` and no body, shut down
        their write side and close, as fast as they can
    clients.py hold --port P [--tls] -n 5000 --hold 15 [--path /hello]
        N connections, one GET each, then held idle for --hold seconds; counts how many got
        their response and how many the server still holds open at the end. Connections that
        are still connecting (the server's backlog is full) simply stay pending.
    clients.py abort --port P --tls-port Q --duration 60
        clients that go away mid-response or mid-upload (half of them with a TCP reset):
        a big static file, a streamed app response, a Range request, an upload cut short,
        over HTTP and HTTPS
"""
import argparse
import errno
import json
import os
import random
import resource
import selectors
import socket
import ssl
import struct
import sys
import threading
import time

HOST = "127.0.0.1"
LINGER0 = struct.pack("ii", 1, 0)


def client_ctx():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def raise_nofile(n):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# --------------------------------------------------------------------------- halfclose

HALF_CLOSE_HEAD = b"POST /echo HTTP/1.1\r\nHost: localhost\r\nContent-Length: 100000\r\n\r\n"


def halfclose(a):
    ctx = client_ctx() if a.tls else None
    stop = time.monotonic() + a.duration
    done, failed = [0] * a.threads, [0] * a.threads
    first_error = []

    def worker(i):
        while time.monotonic() < stop:
            s = None
            try:
                s = socket.create_connection((HOST, a.port), timeout=5)
                if ctx:
                    s = ctx.wrap_socket(s, server_hostname="localhost")
                s.sendall(HALF_CLOSE_HEAD)
                # SSLSocket.shutdown() is a plain TCP half-close (no close_notify)
                s.shutdown(socket.SHUT_WR)
                done[i] += 1
            except OSError as e:
                failed[i] += 1
                if not first_error:
                    first_error.append(repr(e))
                time.sleep(0.01)
            finally:
                if s is not None:
                    s.close()
    ts = [threading.Thread(target=worker, args=(i,)) for i in range(a.threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return dict(attacks=sum(done), failed=sum(failed), first_error=first_error[:1],
                duration_s=a.duration, threads=a.threads, tls=a.tls)


# --------------------------------------------------------------------------- hold

class Held:
    __slots__ = ("sock", "state", "out", "inbuf", "need")

    def __init__(self, sock):
        self.sock, self.state, self.out, self.inbuf, self.need = sock, "connect", b"", b"", None


def hold(a):
    raise_nofile(a.n + 100)
    ctx = client_ctx() if a.tls else None
    request = ("GET %s HTTP/1.1\r\nHost: localhost\r\n\r\n" % a.path).encode()
    sel = selectors.EpollSelector()
    conns = {}
    counts = dict(started=0, connect_failed=0, handshake_failed=0, responded=0, closed_early=0)
    statuses = {}
    errors = {}
    t0 = time.monotonic()
    first_response_s = None

    def fail(c, key, why):
        counts[key] += 1
        errors[why] = errors.get(why, 0) + 1
        sel.unregister(c.sock.fileno())
        del conns[c.sock.fileno()]
        c.sock.close()
        c.state = "dead"

    def step(c):
        nonlocal first_response_s
        s = c.sock
        if c.state == "connect":
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                return fail(c, "connect_failed", "connect: " + os.strerror(err))
            if ctx:
                fd = s.fileno()
                c.sock = ctx.wrap_socket(s, server_side=False, do_handshake_on_connect=False,
                                         server_hostname="localhost")
                assert c.sock.fileno() == fd
                c.state = "handshake"
            else:
                c.state, c.out = "send", request
        if c.state == "handshake":
            try:
                c.sock.do_handshake()
            except ssl.SSLWantReadError:
                return sel.modify(c.sock.fileno(), selectors.EVENT_READ)
            except ssl.SSLWantWriteError:
                return sel.modify(c.sock.fileno(), selectors.EVENT_WRITE)
            except (ssl.SSLError, OSError) as e:
                return fail(c, "handshake_failed", "handshake: %s" % type(e).__name__)
            c.state, c.out = "send", request
        if c.state == "send":
            while c.out:
                try:
                    k = c.sock.send(c.out)
                except (BlockingIOError, ssl.SSLWantWriteError):
                    return sel.modify(c.sock.fileno(), selectors.EVENT_WRITE)
                except ssl.SSLWantReadError:
                    return sel.modify(c.sock.fileno(), selectors.EVENT_READ)
                except OSError as e:
                    return fail(c, "closed_early", "send: %s" % type(e).__name__)
                c.out = c.out[k:]
            c.state = "recv"
            sel.modify(c.sock.fileno(), selectors.EVENT_READ)
        if c.state in ("recv", "idle"):
            while True:
                try:
                    data = c.sock.recv(65536)
                except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    return
                except OSError as e:
                    return fail(c, "closed_early", "recv: %s" % type(e).__name__)
                if not data:
                    return fail(c, "closed_early", "closed by the server in state " + c.state)
                if c.state == "idle":
                    continue  # bytes nobody asked for: ignore
                c.inbuf += data
                if c.need is None:
                    end = c.inbuf.find(b"\r\n\r\n")
                    if end < 0:
                        continue
                    head = c.inbuf[:end].decode("latin-1").split("\r\n")
                    st = head[0][9:12]
                    statuses[st] = statuses.get(st, 0) + 1
                    length = 0
                    for h in head[1:]:
                        k, _, v = h.partition(":")
                        if k.strip().lower() == "content-length":
                            length = int(v)
                    c.need = end + 4 + length
                if len(c.inbuf) >= c.need:
                    c.state, c.inbuf = "idle", b""
                    counts["responded"] += 1
                    if first_response_s is None:
                        first_response_s = time.monotonic() - t0
                    return

    def start():
        counts["started"] += 1
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        err = s.connect_ex((HOST, a.port))
        if err not in (0, errno.EINPROGRESS):
            counts["connect_failed"] += 1
            errors["connect: " + os.strerror(err)] = errors.get("connect: " + os.strerror(err), 0) + 1
            s.close()
            return
        c = Held(s)
        conns[s.fileno()] = c
        sel.register(s.fileno(), selectors.EVENT_WRITE)

    opening_done = None
    hold_until = None
    while True:
        now = time.monotonic()
        in_progress = sum(1 for c in conns.values() if c.state not in ("idle",))
        while counts["started"] < a.n and in_progress < a.concurrency:
            start()
            in_progress += 1
        if opening_done is None and counts["started"] >= a.n and in_progress == 0:
            opening_done = now - t0
        if hold_until is None and (opening_done is not None or now - t0 > a.open_timeout):
            hold_until = now + a.hold
            if a.ready_file:
                with open(a.ready_file, "w") as f:
                    f.write("%d\n" % counts["responded"])
        if hold_until is not None and now >= hold_until:
            break
        for key, _ in sel.select(timeout=0.2):
            c = conns.get(key.fd)
            if c is not None:
                step(c)
    states = {}
    for c in conns.values():
        states[c.state] = states.get(c.state, 0) + 1
    # still open: idle sockets without an EOF or error pending
    still_open = 0
    for c in conns.values():
        if c.state != "idle":
            continue
        try:
            c.sock.setblocking(False)
            if c.sock.recv(1) != b"":
                still_open += 1  # unexpected bytes, but open
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            still_open += 1
        except OSError:
            pass
    for c in conns.values():
        try:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
        except OSError:
            pass
        c.sock.close()
    return dict(connections=a.n, tls=a.tls, open_s=opening_done and round(opening_done, 2),
                first_response_s=first_response_s and round(first_response_s, 3),
                held_s=a.hold, still_open=still_open, states_at_end=states,
                errors=errors, statuses=statuses, **counts)


# --------------------------------------------------------------------------- abort

def abort(a):
    ctx = client_ctx()
    stop = time.monotonic() + a.duration
    kinds = {}
    failed = {}
    rnd = random.Random(a.seed)

    def one(kind, tls):
        s = socket.create_connection((HOST, a.tls_port if tls else a.port), timeout=5)
        try:
            if tls:
                s = ctx.wrap_socket(s, server_hostname="localhost")
            if kind == "static":
                s.sendall(b"GET /static/big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
                want = rnd.randrange(1, 1 << 20)
            elif kind == "range":
                s.sendall(b"GET /static/big.bin HTTP/1.1\r\nHost: localhost\r\n"
                          b"Range: bytes=1000-2000000,3000000-\r\n\r\n")
                want = rnd.randrange(1, 1 << 20)
            elif kind == "stream":
                s.sendall(b"GET /stream?n=256&size=65536 HTTP/1.1\r\nHost: localhost\r\n\r\n")
                want = rnd.randrange(1, 1 << 20)
            elif kind == "upload":
                s.sendall(b"POST /upload HTTP/1.1\r\nHost: localhost\r\n"
                          b"Content-Length: 2000000\r\n\r\n")
                s.sendall(b"u" * rnd.randrange(1, 500000))
                want = 0
            else:  # a head cut in the middle
                s.sendall(b"GET /hello HTTP/1.1\r\nHost: loc")
                want = 0
            got = 0
            while got < want:
                d = s.recv(65536)
                if not d:
                    break
                got += len(d)
            if rnd.random() < 0.5:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
        finally:
            s.close()

    while time.monotonic() < stop:
        kind = rnd.choice(["static", "range", "stream", "upload", "head"])
        tls = rnd.random() < 0.5
        key = "%s-%s" % (kind, "https" if tls else "http")
        try:
            one(kind, tls)
            kinds[key] = kinds.get(key, 0) + 1
        except OSError as e:
            failed[key + ": " + type(e).__name__] = failed.get(key + ": " + type(e).__name__, 0) + 1
            time.sleep(0.05)
        time.sleep(a.pause)
    return dict(aborts=sum(kinds.values()), by_kind=kinds, failed=failed, duration_s=a.duration)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("halfclose")
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--tls", action="store_true")
    h.add_argument("--duration", type=float, default=12)
    h.add_argument("--threads", type=int, default=8)
    o = sub.add_parser("hold")
    o.add_argument("--port", type=int, required=True)
    o.add_argument("--tls", action="store_true")
    o.add_argument("-n", type=int, default=5000)
    o.add_argument("--hold", type=float, default=15)
    o.add_argument("--path", default="/hello")
    o.add_argument("--concurrency", type=int, default=200, help="connections being opened at once")
    o.add_argument("--open-timeout", type=float, default=60,
                   help="start the hold after this long even if some are still connecting")
    o.add_argument("--ready-file", help="written when the hold starts")
    b = sub.add_parser("abort")
    b.add_argument("--port", type=int, required=True)
    b.add_argument("--tls-port", type=int, required=True)
    b.add_argument("--duration", type=float, default=60)
    b.add_argument("--pause", type=float, default=0.01)
    b.add_argument("--seed", type=int, default=14)
    a = ap.parse_args()
    out = {"halfclose": halfclose, "hold": hold, "abort": abort}[a.cmd](a)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
