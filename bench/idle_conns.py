#!/usr/bin/python3
"""Server memory per idle keep-alive connection.

Opens N connections to a running server (plain TCP, or TLS with --tls: full handshake), sends one
GET on each and reads the whole response, then leaves every socket idle. The server's RSS (VmRSS
from /proc/PID/status, summed over the process and all its descendants) is read before and after;
the difference divided by N is the cost of one idle keep-alive connection.

    bench/idle_conns.py --port 18080                  # server found from its listening port
    bench/idle_conns.py --port 18443 --tls -n 10000
    bench/idle_conns.py --pid 1234 --port 18443 --tls --json out.jsonl
    bench/idle_conns.py --port 18443 --h2 -n 10000    # HTTP/2 (TLS, ALPN h2): one stream each

Run by bench/run (scenario idle-10k: httpsd and nginx, plain and TLS, each on a fresh server).
Stdlib only; non-blocking sockets and one epoll selector, at most --concurrency connections in
progress at a time. The server needs a file-descriptor limit above N (bench/run starts the servers
under prlimit). Connections are closed with RST at the end (no TIME_WAIT pile-up).
"""
import argparse
import collections
import errno
import json
import os
import resource
import selectors
import socket
import ssl
import struct
import sys
import time


def tree_pids(root):
    kids = collections.defaultdict(list)
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        ppid = int(s[s.rindex(")") + 2:].split()[1])
        kids[ppid].append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, ()))
    return out


def rss_kib(root):
    total = 0
    for p in tree_pids(root):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            pass
    return total


def pid_of_port(port):
    """The topmost process that holds a socket listening on the TCP port."""
    inodes = set()
    for path in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(path) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(fields[9])
        except OSError:
            pass
    if not inodes:
        sys.exit(f"idle_conns.py: nothing listens on port {port}")
    want = {f"socket:[{i}]" for i in inodes}
    pids = set()
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            for fd in os.listdir(f"/proc/{d}/fd"):
                if os.readlink(f"/proc/{d}/fd/{fd}") in want:
                    pids.add(int(d))
                    break
        except OSError:
            pass
    if not pids:
        sys.exit(f"idle_conns.py: cannot find the process listening on port {port} (not root?)")
    for p in pids:
        with open(f"/proc/{p}/stat") as f:
            s = f.read()
        if int(s[s.rindex(")") + 2:].split()[1]) not in pids:
            return p
    return min(pids)


H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def h2_frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def h2_request(path):
    """The client preface, an empty SETTINGS, the ACK of the server's, and a GET on stream 1:
    HPACK without Huffman, static-table indexes for :method GET and :scheme https, literals
    for :path and :authority."""
    def lit(index, value):  # literal without indexing, indexed name (RFC 7541 §6.2.2)
        v = value.encode()
        assert index < 15 and len(v) < 127
        return bytes([index, len(v)]) + v
    block = b"\x82\x87" + lit(4, path) + lit(1, "localhost")
    return (H2_PREFACE + h2_frame(4, 0, 0) + h2_frame(4, 1, 0) +
            h2_frame(1, 0x5, 1, block))  # HEADERS, END_STREAM | END_HEADERS


def h2_response_done(buf):
    """(done, error) for the frames in buf: done once stream 1 has ended; an error when its
    status is not 200 (':status 200' is the static index 8: 0x88) or it was reset."""
    off = 0
    while len(buf) - off >= 9:
        n = int.from_bytes(buf[off:off + 3], "big")
        ftype, flags, sid = buf[off + 3], buf[off + 4], int.from_bytes(buf[off + 5:off + 9], "big") & 0x7fffffff
        if len(buf) - off < 9 + n:
            break
        payload = buf[off + 9:off + 9 + n]
        if sid == 1 and ftype == 1 and not payload.startswith(b"\x88"):
            return False, "status other than 200 (first header byte %r)" % payload[:1]
        if sid == 1 and ftype == 3 or ftype == 7:
            return False, "stream reset or GOAWAY"
        if sid == 1 and ftype in (0, 1) and flags & 1:
            return True, None
        off += 9 + n
    return False, None


class Conn:
    __slots__ = ("sock", "state", "out", "inbuf", "need")

    def __init__(self):
        self.sock = None
        self.state = "connect"
        self.out = b""
        self.inbuf = b""
        self.need = None


def open_conns(n, host, port, ctx, request, concurrency, timeout):
    """Returns (list of idle sockets, number of failures)."""
    sel = selectors.EpollSelector()
    by_fd = {}
    idle, failures = [], []
    started = 0
    deadline = time.monotonic() + timeout

    def start():
        nonlocal started
        started += 1
        c = Conn()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        err = s.connect_ex((host, port))
        if err not in (0, errno.EINPROGRESS):
            s.close()
            failures.append(os.strerror(err))
            return
        c.sock = s
        by_fd[s.fileno()] = c
        sel.register(s.fileno(), selectors.EVENT_WRITE)

    def fail(c, why):
        fd = c.sock.fileno()
        sel.unregister(fd)
        del by_fd[fd]
        c.sock.close()
        failures.append(why)

    def want(c, ev):
        sel.modify(c.sock.fileno(), ev)

    def step(c):
        s = c.sock
        if c.state == "connect":
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                return fail(c, "connect: " + os.strerror(err))
            if ctx:
                fd = s.fileno()
                c.sock = ctx.wrap_socket(s, server_side=False, do_handshake_on_connect=False,
                                         server_hostname="localhost")
                assert c.sock.fileno() == fd
                c.state = "handshake"
            else:
                c.state = "send"
                c.out = request
        if c.state == "handshake":
            try:
                c.sock.do_handshake()
            except ssl.SSLWantReadError:
                return want(c, selectors.EVENT_READ)
            except ssl.SSLWantWriteError:
                return want(c, selectors.EVENT_WRITE)
            except (ssl.SSLError, OSError) as e:
                return fail(c, f"handshake: {e}")
            c.state = "send"
            c.out = request
        if c.state == "send":
            while c.out:
                try:
                    k = c.sock.send(c.out)
                except (BlockingIOError, ssl.SSLWantWriteError):
                    return want(c, selectors.EVENT_WRITE)
                except ssl.SSLWantReadError:
                    return want(c, selectors.EVENT_READ)
                except OSError as e:
                    return fail(c, f"send: {e}")
                c.out = c.out[k:]
            c.state = "recv"
            want(c, selectors.EVENT_READ)
        if c.state == "recv":
            while True:
                try:
                    data = c.sock.recv(65536)
                except (BlockingIOError, ssl.SSLWantReadError):
                    return want(c, selectors.EVENT_READ)
                except ssl.SSLWantWriteError:
                    return want(c, selectors.EVENT_WRITE)
                except OSError as e:
                    return fail(c, f"recv: {e}")
                if not data:
                    return fail(c, "server closed the connection before the full response")
                c.inbuf += data
                if request.startswith(H2_PREFACE):
                    done, err = h2_response_done(c.inbuf)
                    if err:
                        return fail(c, err)
                    if done:
                        break
                    continue
                if c.need is None:
                    end = c.inbuf.find(b"\r\n\r\n")
                    if end < 0:
                        continue
                    head = c.inbuf[:end].decode("latin-1").split("\r\n")
                    if not head[0].startswith("HTTP/1.1 200"):
                        return fail(c, f"status: {head[0]!r}")
                    length = 0
                    for h in head[1:]:
                        name, _, value = h.partition(":")
                        if name.strip().lower() == "content-length":
                            length = int(value)
                        if name.strip().lower() == "connection" and value.strip().lower() == "close":
                            return fail(c, "server answered Connection: close")
                    c.need = end + 4 + length
                if len(c.inbuf) >= c.need:
                    break
            # done: the connection is now an idle keep-alive connection
            fd = c.sock.fileno()
            sel.unregister(fd)
            del by_fd[fd]
            c.inbuf = b""
            idle.append(c.sock)

    while len(idle) + len(failures) < n:
        while started < n and len(by_fd) < concurrency:
            start()
        if time.monotonic() > deadline:
            sys.exit(f"idle_conns.py: timed out with {len(idle)} idle connections, {len(by_fd)} in progress")
        for key, _ in sel.select(timeout=1.0):
            c = by_fd.get(key.fd)
            if c is not None:
                step(c)
    sel.close()
    return idle, failures


def still_open(socks):
    """Number of idle sockets the server has not closed (not readable, or readable without EOF)."""
    sel = selectors.EpollSelector()
    for s in socks:
        sel.register(s.fileno(), selectors.EVENT_READ, s)
    closed = 0
    for key, _ in sel.select(timeout=0):
        s = key.data
        try:
            if s.recv(4096) == b"":
                closed += 1
        except (BlockingIOError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            pass
        except OSError:
            closed += 1
    sel.close()
    return len(socks) - closed


def close_all(socks):
    linger0 = struct.pack("ii", 1, 0)
    for s in socks:
        try:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger0)
        except OSError:
            pass
        s.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("-n", "--connections", type=int, default=10000)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--tls", action="store_true", help="TLS (certificate not verified)")
    ap.add_argument("--h2", action="store_true", help="HTTP/2 over TLS (ALPN h2 only)")
    ap.add_argument("--pid", type=int, help="server pid (default: found from --port)")
    ap.add_argument("--name", help="server name for the output (default: from /proc/PID/comm)")
    ap.add_argument("--path", default="/", help="URL path of the one GET per connection (must answer 200)")
    ap.add_argument("--concurrency", type=int, default=200, help="connections in progress at once")
    ap.add_argument("--warmup", type=int, default=20, help="connections opened and closed before the 'before' RSS")
    ap.add_argument("--settle", type=float, default=1.0, help="seconds to wait before each RSS reading")
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--json", help="append the result as one JSON line to this file")
    a = ap.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want_fds = a.connections + 64
    if soft < want_fds:
        if hard != resource.RLIM_INFINITY and hard < want_fds:
            sys.exit(f"idle_conns.py: RLIMIT_NOFILE hard limit {hard} < {want_fds} needed")
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    pid = a.pid or pid_of_port(a.port)
    if a.name:
        name = a.name
    else:
        with open(f"/proc/{pid}/comm") as f:
            name = f.read().strip()
    scheme = "h2" if a.h2 else "https" if a.tls else "http"
    ctx = None
    if a.tls or a.h2:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        if a.h2:
            ctx.set_alpn_protocols(["h2"])
    request = (f"GET {a.path} HTTP/1.1\r\nHost: localhost\r\nUser-Agent: idle_conns.py\r\n"
               f"Accept: */*\r\n\r\n").encode()
    if a.h2:
        request = h2_request(a.path)

    if a.warmup:
        socks, fails = open_conns(a.warmup, a.host, a.port, ctx, request, a.concurrency, a.timeout)
        if fails:
            sys.exit(f"idle_conns.py: warm-up failed: {fails[0]}")
        close_all(socks)
    time.sleep(a.settle)
    before = rss_kib(pid)
    t0 = time.monotonic()
    socks, fails = open_conns(a.connections, a.host, a.port, ctx, request, a.concurrency, a.timeout)
    took = time.monotonic() - t0
    time.sleep(a.settle)
    after = rss_kib(pid)
    alive = still_open(socks)
    close_all(socks)

    opened = len(socks)
    per = (after - before) / opened if opened else float("nan")
    res = dict(server=name, scheme=scheme, port=a.port, pid=pid, connections=opened, failed=len(fails),
               rss_before_kib=before, rss_after_kib=after, kib_per_conn=round(per, 3),
               still_open=alive, open_seconds=round(took, 2))
    print(f"{name} {scheme}: {opened} idle connections in {took:.1f}s, RSS {before} -> {after} KiB, "
          f"{per:.2f} KiB/connection, {alive} still open at the end")
    if fails:
        print(f"WARNING: {len(fails)} connections failed; first: {fails[0]}")
        print("  " + "; ".join(f"{k} x{v}" for k, v in collections.Counter(fails).most_common(5)))
    if alive < opened:
        print(f"WARNING: the server closed {opened - alive} of the idle connections during the test")
    if a.json:
        with open(a.json, "a") as f:
            f.write(json.dumps(res) + "\n")
    return 0 if not fails else 1


if __name__ == "__main__":
    sys.exit(main())
