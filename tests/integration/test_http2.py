"""HTTP/2 (src/http2.c, libnghttp2), black-box: the real binary on loopback, real clients.

1. curl --http2: static files (whole, ranges, 304, HEAD, 404, sidecar) and the WSGI app
   (environ, uploads, streaming, file_wrapper) over h2.
2. nghttp / h2load: many concurrent streams on one connection, a short load run.
3. Raw frames (python3-h2 and hand-built frames): SETTINGS, the stream limit, header and body
   limits as stream responses, the app queue, rapid reset, CONTINUATION / HPACK / SETTINGS /
   PING floods, window stalls, timeouts, graceful stop, upload flow control, trailers, invalid
   fields, :authority and cookies.
4. The access log line of an h2 request.

Every attack test ends by checking that the server still serves a fresh h2 request and an
HTTP/1.1 request (and, where it matters, that no descriptors leaked).
"""

import gzip
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions
import h2.settings
import hpack
import pytest

from conftest import (HELLO, Response, SockClient, client_context, connect, get, raw_connect)
from statichelp import parse_multipart, pattern_bytes, write
from wsgihelp import (HTTP, HTTPS, filelike_body, markers, server_env, start,  # noqa: F401
                      stream_body, vmrss_kib, wait_marker)

APP = "h2_apps:app"
CURL = shutil.which("curl") or "/usr/bin/curl"
NGHTTP = shutil.which("nghttp") or "/usr/bin/nghttp"
H2LOAD = shutil.which("h2load") or "/usr/bin/h2load"

# frame types / error codes (RFC 9113)
DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
END_STREAM, ACK, END_HEADERS, PADDED, PRIORITY_FLAG = 0x1, 0x1, 0x4, 0x8, 0x20
NO_ERROR, PROTOCOL_ERROR, INTERNAL_ERROR, FLOW_CONTROL_ERROR, SETTINGS_TIMEOUT, STREAM_CLOSED, \
    FRAME_SIZE_ERROR, REFUSED_STREAM, CANCEL, COMPRESSION_ERROR, CONNECT_ERROR, \
    ENHANCE_YOUR_CALM = range(12)
S_HEADER_TABLE_SIZE, S_ENABLE_PUSH, S_MAX_CONCURRENT_STREAMS, S_INITIAL_WINDOW_SIZE, \
    S_MAX_FRAME_SIZE, S_MAX_HEADER_LIST_SIZE = range(1, 7)
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

SMALL = pattern_bytes(5000, seed=21)
BIG = pattern_bytes(3 * 1024 * 1024, seed=22)  # 3 MiB: several windows' worth
CSS = b"/* h2 sidecar */\n" + b"body { margin: 0; padding: 0; color: #222 }\n" * 300
CSS_GZ = gzip.compress(CSS, mtime=0)
T0 = 1_700_000_000 * 10**9
T1 = T0 + 5 * 10**9


# ---------------------------------------------------------------------------------------------
# Site and servers
# ---------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("h2") / "site"
    root.mkdir()
    t = type("Tree", (), {})()
    t.root = str(root)
    t.hello = write(root, "hello.txt", HELLO)
    t.small = write(root, "small.txt", SMALL, mtime_ns=T0)
    t.big = write(root, "big.bin", BIG, mtime_ns=T0)
    t.css = write(root, "x.css", CSS, mtime_ns=T0)
    t.css_gz = write(root, "x.css.gz", CSS_GZ, mtime_ns=T1)
    return t


def h2_server(factory, tree, *args, markers_dir=None, binds=(HTTPS, HTTP), app=APP, **kw):
    """httpsd with the tree under /static and the test app everywhere else."""
    return start(factory, app, "--static", "/static=%s" % tree.root, *args, binds=binds,
                 env=server_env(markers_dir), **kw)


@pytest.fixture(scope="module")
def msrv(httpsd_module, tree, tmp_path_factory):
    """One server for the functional tests (TLS + plain listener, access log on)."""
    d = tmp_path_factory.mktemp("h2markers")
    s = h2_server(httpsd_module, tree, "--access-logfile", "access.log", markers_dir=d)
    s.markers = d
    return s


def tls_url(srv, path):
    return "https://%s%s" % (srv.https.hostport, path)


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def settle_fds(pid, before, timeout=5.0):
    """Wait until pid has at most `before` descriptors; returns the last count."""
    deadline = time.monotonic() + timeout
    while True:
        n = fd_count(pid)
        if n <= before or time.monotonic() > deadline:
            return n
        time.sleep(0.05)


def assert_still_serving(srv):
    """The server is alive and serves a fresh h2 request and an HTTP/1.1 request."""
    srv.assert_alive()
    with H2Client(srv.https) as c:
        r = c.request("/static/hello.txt")
        assert r.status == 200 and bytes(r.body) == HELLO, "fresh h2 request failed: %r" % r
    r1 = get(srv.https, "/static/hello.txt")
    assert r1.status == 200 and r1.body == HELLO and r1.version == "HTTP/1.1", r1


# ---------------------------------------------------------------------------------------------
# Clients
# ---------------------------------------------------------------------------------------------

def h2_socket(listener, timeout=10.0, rcvbuf=None):
    """A socket speaking h2: TLS with ALPN h2 (checked), or plain (prior knowledge)."""
    s = raw_connect(listener, timeout=timeout, rcvbuf=rcvbuf)
    if not listener.tls:
        return s
    ctx = client_context(alpn=["h2", "http/1.1"])
    s = ctx.wrap_socket(s, server_hostname="localhost")
    assert s.selected_alpn_protocol() == "h2", "ALPN chose %r" % s.selected_alpn_protocol()
    return s



def recv_some(sock, timeout):
    """One recv: the bytes, b"" at EOF (or a reset), None when nothing came within timeout."""
    sock.settimeout(timeout)
    try:
        return sock.recv(65536)
    except (socket.timeout, TimeoutError):
        return None
    except ssl.SSLError as e:
        return None if "timed out" in str(e) else b""
    except (ConnectionResetError, BrokenPipeError):
        return b""


class StreamResult:
    def __init__(self, sid):
        self.sid = sid
        self.status = None
        self.headers = []
        self.body = bytearray()
        self.trailers = None
        self.ended = False
        self.reset = None  # RST_STREAM error code

    def header(self, name, default=None):
        for k, v in self.headers:
            if k == name:
                return v
        return default

    @property
    def done(self):
        return self.ended or self.reset is not None

    def __repr__(self):
        return "<stream %d status=%s reset=%s ended=%s headers=%r body=%d bytes %r>" % (
            self.sid, self.status, self.reset, self.ended, self.headers, len(self.body),
            bytes(self.body[:200]))


class H2Client(SockClient):
    """A python3-h2 client on one connection; events are sorted into StreamResults."""

    def __init__(self, listener, timeout=10.0, settings=None, auto_window=True, authority=None,
                 rcvbuf=None):
        self.sock = h2_socket(listener, timeout, rcvbuf=rcvbuf)
        self.listener = listener
        self.timeout = timeout
        self.authority = authority or listener.hostport
        self.scheme = "https" if listener.tls else "http"
        cfg = h2.config.H2Configuration(client_side=True, header_encoding="latin-1",
                                        validate_outbound_headers=False,
                                        normalize_outbound_headers=False)
        self.conn = h2.connection.H2Connection(config=cfg)
        self.conn.initiate_connection()
        if settings:
            self.conn.update_settings(settings)
        self.auto_window = auto_window
        self.streams = {}
        self.goaways = []  # (error_code, last_stream_id)
        self.remote_settings = {}
        self.closed = False
        self.flush()

    # -- io ----------------------------------------------------------------------------------
    def flush(self):
        data = self.conn.data_to_send()
        if data:
            self.sock.sendall(data)

    def pump(self, timeout=None):
        """Read once (up to timeout) and handle the events; False on EOF or timeout."""
        if self.closed:
            return False
        data = recv_some(self.sock, self.timeout if timeout is None else timeout)
        if data is None:
            return False
        if not data:
            self.closed = True
            return False
        try:
            events = self.conn.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            raise AssertionError("the server broke the protocol: %r" % e)
        for ev in events:
            self.handle(ev)
        try:
            self.flush()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass
        return True

    def stream(self, sid):
        if sid not in self.streams:
            self.streams[sid] = StreamResult(sid)
        return self.streams[sid]

    def handle(self, ev):
        if isinstance(ev, h2.events.ResponseReceived):
            st = self.stream(ev.stream_id)
            st.headers = [(k, v) for k, v in ev.headers]
            st.status = int(dict(st.headers)[":status"])
        elif isinstance(ev, h2.events.TrailersReceived):
            self.stream(ev.stream_id).trailers = list(ev.headers)
        elif isinstance(ev, h2.events.DataReceived):
            self.stream(ev.stream_id).body += ev.data
            if self.auto_window and ev.flow_controlled_length:
                try:
                    self.conn.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                except h2.exceptions.StreamClosedError:
                    pass
        elif isinstance(ev, h2.events.StreamEnded):
            self.stream(ev.stream_id).ended = True
        elif isinstance(ev, h2.events.StreamReset):
            self.stream(ev.stream_id).reset = int(ev.error_code)
        elif isinstance(ev, h2.events.ConnectionTerminated):
            self.goaways.append((int(ev.error_code), ev.last_stream_id))
        elif isinstance(ev, h2.events.RemoteSettingsChanged):
            for k, v in ev.changed_settings.items():
                self.remote_settings[int(k)] = v.new_value

    def wait(self, pred, timeout=None):
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while not pred():
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return pred()
            self.pump(min(left, 0.5))
        return True

    # -- requests ----------------------------------------------------------------------------
    def send_request(self, path, method="GET", headers=(), body=None, end_stream=True,
                     authority=None, pseudo=None):
        sid = self.conn.get_next_available_stream_id()
        hdrs = pseudo if pseudo is not None else [
            (":method", method), (":scheme", self.scheme),
            (":authority", authority or self.authority), (":path", path)]
        hdrs = list(hdrs) + list(headers)
        self.stream(sid)
        self.conn.send_headers(sid, hdrs, end_stream=end_stream and body is None)
        self.flush()
        if body is not None:
            self.send_body(sid, body, end_stream=end_stream)
        return sid

    def send_body(self, sid, body, end_stream=True, timeout=None):
        """Send body on sid as the windows allow (reading meanwhile)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        view = memoryview(body)
        while len(view):
            n = min(self.conn.local_flow_control_window(sid), self.conn.max_outbound_frame_size,
                    len(view))
            if n <= 0:
                if time.monotonic() > deadline:
                    raise AssertionError("upload stalled: window shut with %d bytes to send"
                                         % len(view))
                if self.stream(sid).done:
                    return
                self.pump(0.2)
                continue
            self.conn.send_data(sid, view[:n].tobytes())
            view = view[n:]
            self.flush()
        if end_stream:
            self.conn.end_stream(sid)
            self.flush()

    def result(self, sid, timeout=None):
        st = self.stream(sid)
        self.wait(lambda: st.done, timeout)
        return st

    def request(self, path, method="GET", headers=(), body=None, timeout=None, **kw):
        sid = self.send_request(path, method, headers, body, **kw)
        st = self.result(sid, timeout)
        assert st.done, "no complete answer on stream %d within the timeout: %r" % (sid, st)
        return st



class Frame:
    def __init__(self, ftype, flags, sid, payload):
        self.type, self.flags, self.sid, self.payload = ftype, flags, sid, payload

    @property
    def error_code(self):
        if self.type == GOAWAY:
            return struct.unpack(">I", self.payload[4:8])[0]
        if self.type == RST_STREAM:
            return struct.unpack(">I", self.payload[:4])[0]
        return None

    @property
    def last_stream_id(self):
        return struct.unpack(">I", self.payload[:4])[0] & 0x7FFFFFFF

    def settings(self):
        return {struct.unpack(">H", self.payload[i:i + 2])[0]:
                struct.unpack(">I", self.payload[i + 2:i + 6])[0]
                for i in range(0, len(self.payload), 6)}

    def __repr__(self):
        return "<frame type=%d flags=%#x sid=%d len=%d%s>" % (
            self.type, self.flags, self.sid, len(self.payload),
            " error=%d" % self.error_code if self.error_code is not None else "")


def frame(ftype, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", ftype, flags, sid) + payload


def settings_frame(entries=(), ack=False):
    return frame(SETTINGS, ACK if ack else 0, 0,
                 b"".join(struct.pack(">HI", k, v) for k, v in entries))


def rst_frame(sid, code=CANCEL):
    return frame(RST_STREAM, 0, sid, struct.pack(">I", code))


def window_update(sid, n):
    return frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", n))


class RawH2(SockClient):
    """Hand-built frames on an h2 connection (for what python3-h2 will not send)."""

    def __init__(self, listener, timeout=10.0, settings=(), rcvbuf=None, preface=True):
        self.sock = h2_socket(listener, timeout, rcvbuf=rcvbuf)
        self.listener = listener
        self.timeout = timeout
        self.enc = hpack.Encoder()
        self.dec = hpack.Decoder()
        self.dec.max_header_list_size = 1 << 24
        self.buf = b""
        self.eof = False
        self.frames = []
        self._pending = None
        if preface:
            self.send(PREFACE + settings_frame(settings))

    def send(self, data):
        self.sock.sendall(data)

    def try_send(self, data):
        """Send; False when the server has closed the connection."""
        try:
            self.sock.sendall(data)
            return True
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError, OSError):
            return False

    def block(self, path, method="GET", extra=()):
        hdrs = [(":method", method), (":scheme", "https" if self.listener.tls else "http"),
                (":authority", self.listener.hostport), (":path", path)] + list(extra)
        return self.enc.encode(hdrs)

    def headers(self, sid, path, method="GET", extra=(), end_stream=True):
        return frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), sid,
                     self.block(path, method, extra))

    def _recv(self, timeout):
        d = recv_some(self.sock, max(timeout, 0.001))
        if d is None:
            return None
        if not d:
            self.eof = True
            return b""
        self.buf += d
        return d

    def read_frame(self, timeout=None):
        """The next frame; None on timeout or EOF (self.eof tells)."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            if len(self.buf) >= 9:
                n = int.from_bytes(self.buf[:3], "big")
                if len(self.buf) >= 9 + n:
                    ftype, flags, sid = struct.unpack(">BBI", self.buf[3:9])
                    f = Frame(ftype, flags, sid & 0x7FFFFFFF, self.buf[9:9 + n])
                    self.buf = self.buf[9 + n:]
                    f.headers = None
                    if f.type in (HEADERS, CONTINUATION):
                        # decoded at once, in order (the HPACK state is the connection's)
                        if f.type == HEADERS:
                            self._pending = [f, self._header_payload(f)]
                        elif self._pending:
                            self._pending[1] += f.payload
                        if f.flags & END_HEADERS and self._pending:
                            h, blk = self._pending
                            self._pending = None
                            h.headers = [(k.decode("latin-1"), v.decode("latin-1"))
                                         for k, v in self.dec.decode(blk, raw=True)]
                    self.frames.append(f)
                    return f
            if self.eof:
                return None
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if self._recv(left) is None:
                return None

    def _header_payload(self, f):
        p = f.payload
        if f.type == HEADERS:
            pad = 0
            if f.flags & PADDED:
                pad = p[0]
                p = p[1:]
            if f.flags & PRIORITY_FLAG:
                p = p[5:]
            p = p[:len(p) - pad] if pad else p
        return p

    def decode(self, f):
        """The fields of a HEADERS frame (decoded when it was read)."""
        assert f.headers is not None, "HEADERS without END_HEADERS: %r" % f
        return f.headers

    def read_until(self, pred, timeout=None):
        """Read frames until pred(frame) or EOF/timeout; returns the matching frame or None.
        SETTINGS from the server are acknowledged."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        while True:
            f = self.read_frame(max(0.0, deadline - time.monotonic()))
            if f is None:
                return None
            if f.type == SETTINGS and not f.flags & ACK:
                self.try_send(settings_frame(ack=True))
            if pred(f):
                return f

    def collect(self, timeout):
        """All frames until EOF or timeout; returns (frames, closed)."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            f = self.read_frame(max(0.0, deadline - time.monotonic()))
            if f is None:
                return out, self.eof
            if f.type == SETTINGS and not f.flags & ACK:
                self.try_send(settings_frame(ack=True))
            out.append(f)

    def handshake(self):
        """Read the server's SETTINGS (acknowledged) and the ACK of ours; returns them."""
        sf = self.read_until(lambda f: f.type == SETTINGS and not f.flags & ACK)
        assert sf is not None, "no SETTINGS from the server: %r" % self.frames
        ack = self.read_until(lambda f: f.type == SETTINGS and f.flags & ACK)
        assert ack is not None, "our SETTINGS were not acknowledged: %r" % self.frames
        return sf.settings()

    def wait_closed(self, timeout):
        """Read (and keep) frames until EOF; returns True if the server closed in time."""
        self.collect(timeout)
        return self.eof

    def goaways(self):
        return [f for f in self.frames if f.type == GOAWAY]



def run(cmd, timeout=60):
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p


def curl(srv, path, *args, tmp=None, timeout=30):
    """curl --http2 -k; returns (http_version, Response with headers and body)."""
    out = os.path.join(str(tmp), "curl.body")
    hdr = os.path.join(str(tmp), "curl.head")
    for f in (out, hdr):
        if os.path.exists(f):
            os.unlink(f)
    p = run([CURL, "-sS", "-k", "--http2", "-o", out, "-D", hdr, "-w", "%{http_version}",
             *args, tls_url(srv, path)], timeout=timeout)
    assert p.returncode == 0, "curl failed (%d): %s" % (p.returncode, p.stderr.decode())
    with open(hdr, "rb") as f:
        head = f.read().decode("latin-1")
    body = b""
    if os.path.exists(out):  # (curl creates no file for an empty body)
        with open(out, "rb") as f:
            body = f.read()
    lines = head.split("\r\n")
    m = re.match(r"^HTTP/(\S+) (\d{3})", lines[0])
    assert m, head
    headers = []
    for line in lines[1:]:
        if not line:
            break
        k, v = line.split(":", 1)
        headers.append((k.strip(), v.strip()))
    return p.stdout.decode(), Response("HTTP/" + m.group(1), int(m.group(2)), "", headers, body,
                                       head.encode("latin-1") + body)


# ---------------------------------------------------------------------------------------------
# 1. curl --http2
# ---------------------------------------------------------------------------------------------

class TestCurl:
    def test_alpn_offers_h2_then_http11(self, msrv):
        s = h2_socket(msrv.https)
        s.close()
        ctx = client_context(alpn=["http/1.1"])
        s = ctx.wrap_socket(raw_connect(msrv.https), server_hostname="localhost")
        assert s.selected_alpn_protocol() == "http/1.1"
        s.close()

    @pytest.mark.parametrize("name,data", [("hello.txt", HELLO), ("small.txt", SMALL),
                                           ("big.bin", BIG)], ids=["hello", "small", "big"])
    def test_static_file_byte_exact(self, msrv, tmp_path, name, data):
        ver, r = curl(msrv, "/static/" + name, tmp=tmp_path)
        assert ver == "2" and r.version == "HTTP/2", (ver, r)
        assert r.status == 200
        assert r.header("content-length") == str(len(data))
        assert r.body == data
        assert r.header("etag") and r.header("last-modified")

    def test_range_single(self, msrv, tmp_path):
        ver, r = curl(msrv, "/static/big.bin", "-r", "100000-199999", tmp=tmp_path)
        assert ver == "2"
        assert r.status == 206, r
        assert r.header("content-range") == "bytes 100000-199999/%d" % len(BIG)
        assert r.body == BIG[100000:200000]

    def test_range_multi(self, msrv, tmp_path):
        ver, r = curl(msrv, "/static/small.txt", "-r", "0-9,100-199,4990-", tmp=tmp_path)
        assert ver == "2"
        _, parts = parse_multipart(r)
        got = [(a, b, total, data) for a, b, total, data, _ in parts]
        assert got == [(0, 9, 5000, SMALL[0:10]), (100, 199, 5000, SMALL[100:200]),
                       (4990, 4999, 5000, SMALL[4990:])], got

    def test_304_if_none_match(self, msrv, tmp_path):
        _, r = curl(msrv, "/static/small.txt", tmp=tmp_path)
        etag = r.header("etag")
        ver, r2 = curl(msrv, "/static/small.txt", "-H", "If-None-Match: %s" % etag, tmp=tmp_path)
        assert ver == "2" and r2.status == 304, r2
        assert r2.body == b""
        assert r2.header("etag") == etag
        _, r3 = curl(msrv, "/static/small.txt", "-H", 'If-None-Match: "nope"', tmp=tmp_path)
        assert r3.status == 200 and r3.body == SMALL

    def test_head(self, msrv, tmp_path):
        ver, r = curl(msrv, "/static/big.bin", "-I", tmp=tmp_path)
        assert ver == "2" and r.status == 200, r
        assert r.header("content-length") == str(len(BIG))
        head = r.raw[:len(r.raw) - len(r.body)]
        assert r.body == head  # curl -I writes the head as the "body": nothing more came
        # at the frame level: HEADERS with END_STREAM, no DATA
        with H2Client(msrv.https) as c:
            st = c.request("/static/big.bin", method="HEAD")
            assert st.status == 200 and st.ended and bytes(st.body) == b"", st
            assert st.header("content-length") == str(len(BIG))

    def test_404(self, msrv, tmp_path):
        ver, r = curl(msrv, "/static/nope.txt", tmp=tmp_path)
        assert ver == "2" and r.status == 404, r

    def test_precompressed_sidecar(self, msrv, tmp_path):
        ver, r = curl(msrv, "/static/x.css", "-H", "Accept-Encoding: gzip", tmp=tmp_path)
        assert ver == "2" and r.status == 200
        assert r.header("content-encoding") == "gzip", r.headers
        assert r.header("vary") == "Accept-Encoding"
        assert r.body == CSS_GZ
        _, r2 = curl(msrv, "/static/x.css", tmp=tmp_path)
        assert r2.header("content-encoding") is None and r2.body == CSS

    def test_wsgi_environ_server_protocol(self, msrv, tmp_path):
        ver, r = curl(msrv, "/env/some/path?a=1&b=2", tmp=tmp_path)
        assert ver == "2" and r.status == 200
        env = json.loads(r.body)
        assert env["SERVER_PROTOCOL"] == "HTTP/2"
        assert env["REQUEST_METHOD"] == "GET"
        assert env["PATH_INFO"] == "/env/some/path"
        assert env["QUERY_STRING"] == "a=1&b=2"
        assert env["wsgi.url_scheme"] == "https"
        assert env["HTTP_HOST"] == msrv.https.hostport
        for k in env:
            assert k not in ("HTTP_CONNECTION", "HTTP_:METHOD") and not k.startswith("HTTP_:"), k

    @pytest.mark.parametrize("size", [13, 3 * 1024 * 1024 + 7])
    def test_post_echo_byte_exact(self, msrv, tmp_path, size):
        body = os.urandom(size)
        f = tmp_path / "up.bin"
        f.write_bytes(body)
        ver, r = curl(msrv, "/echo-raw", "--data-binary", "@%s" % f, "-H",
                      "Content-Type: application/octet-stream", tmp=tmp_path)
        assert ver == "2" and r.status == 200, r
        assert len(r.body) == size and r.body == body

    def test_streaming_generator_response(self, msrv, tmp_path):
        ver, r = curl(msrv, "/stream?n=60&size=20000", tmp=tmp_path)
        assert ver == "2" and r.status == 200
        assert r.body == stream_body(60, 20000)

    def test_file_wrapper_response(self, msrv, tree, tmp_path):
        ver, r = curl(msrv, "/file?path=%s" % tree.big, tmp=tmp_path)
        assert ver == "2" and r.status == 200
        assert r.body == BIG
        _, r2 = curl(msrv, "/filelike?size=300000", tmp=tmp_path)
        assert r2.status == 200 and r2.body == filelike_body(300000)


# ---------------------------------------------------------------------------------------------
# 2. nghttp / h2load
# ---------------------------------------------------------------------------------------------

class TestTools:
    def test_nghttp_200_concurrent_streams(self, msrv):
        urls = [tls_url(msrv, "/static/small.txt?i=%d" % i) for i in range(100)] + \
               [tls_url(msrv, "/counter?i=%d" % i) for i in range(100)]
        p = run([NGHTTP, "-n", "-s", "-v"] + urls, timeout=60)
        out = p.stdout.decode("latin-1")
        assert p.returncode == 0, (p.returncode, p.stderr.decode()[-2000:], out[-2000:])
        # -v: one ":status: 200" per response, all on one connection (one SETTINGS exchange)
        statuses = re.findall(r"recv \(stream_id=(\d+)\) :status: (\d{3})", out)
        assert len(statuses) == 200, statuses[:5]
        assert {s for _, s in statuses} == {"200"}
        assert len({sid for sid, _ in statuses}) == 200
        assert out.count("recv SETTINGS frame") >= 1
        # the server's SETTINGS (not nghttp's own): MAX_CONCURRENT_STREAMS 100
        m = re.search(r"recv SETTINGS frame <length=\d+, flags=0x00, stream_id=0>\s*\n"
                      r"\s*\(niv=\d+\)\n((?:\s*\[[^\n]*\]\n)+)", out)
        assert m and "[SETTINGS_MAX_CONCURRENT_STREAMS(0x03):100]" in m.group(1), out[:3000]
        # more than one stream was open at once: 100 HEADERS sent before the first answer
        first_answer = out.index("recv (stream_id=")
        assert out[:first_answer].count("send HEADERS frame") >= 100, out[:first_answer][-2000:]

    def test_h2load_sanity(self, msrv):
        p = run([H2LOAD, "-n", "2000", "-c", "4", "-m", "10",
                 tls_url(msrv, "/static/hello.txt")], timeout=60)
        out = p.stdout.decode()
        assert p.returncode == 0, out + p.stderr.decode()
        m = re.search(r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                      r"(\d+) failed, (\d+) errored", out)
        assert m, out
        assert m.groups() == ("2000", "2000", "2000", "2000", "0", "0"), out
        assert re.search(r"status codes: 2000 2xx", out), out
        assert "Application protocol: h2" in out, out


# ---------------------------------------------------------------------------------------------
# 3. Raw frames: settings, limits, attacks, timeouts
# ---------------------------------------------------------------------------------------------

class TestSettingsAndLimits:
    def test_settings_default_max_streams(self, msrv):
        with RawH2(msrv.https) as r:
            s = r.handshake()
        assert s.get(S_MAX_CONCURRENT_STREAMS) == 100, s
        assert s.get(S_ENABLE_PUSH, 0) == 0, s

    def test_settings_h2_max_streams_option(self, httpsd, tree):
        srv = h2_server(httpsd, tree, "--h2-max-streams", "7")
        with RawH2(srv.https) as r:
            s = r.handshake()
        assert s.get(S_MAX_CONCURRENT_STREAMS) == 7, s

    def test_no_http2_option(self, httpsd, tree):
        srv = h2_server(httpsd, tree, "--no-http2")
        ctx = client_context(alpn=["h2", "http/1.1"])
        s = ctx.wrap_socket(raw_connect(srv.https), server_hostname="localhost")
        assert s.selected_alpn_protocol() in ("http/1.1", None)
        s.close()
        r = get(srv.https, "/static/hello.txt")
        assert r.status == 200 and r.body == HELLO

    def _over_the_limit(self, httpsd, tree):
        """--h2-max-streams 4 (acknowledged), then 7 slow app streams at once."""
        srv = h2_server(httpsd, tree, "--h2-max-streams", "4", "--threads", "8")
        r = RawH2(srv.https)
        r.handshake()
        sids = [1 + 2 * i for i in range(7)]
        r.send(b"".join(r.headers(sid, "/sleep?s=0.7&i=%d" % sid) for sid in sids))
        frames, closed = r.collect(4.0)
        r.close()
        statuses = {f.sid: dict(r.decode(f))[":status"] for f in frames if f.type == HEADERS}
        resets = {f.sid: f.error_code for f in frames if f.type == RST_STREAM}
        goaway = [(f.error_code, f.last_stream_id, f.payload[8:]) for f in frames
                  if f.type == GOAWAY]
        record = "statuses=%r resets=%r goaway=%r closed=%r" % (statuses, resets, goaway, closed)
        print(record)
        return srv, sids, statuses, resets, goaway, record

    def test_streams_over_the_limit_refused_server_alive(self, httpsd, tree):
        """The streams over the limit are never answered. Once the client has acknowledged
        the limit, nghttp2 (1.52) treats exceeding it as a connection error: GOAWAY
        PROTOCOL_ERROR, the streams in flight are lost too (RFC 9113 §5.1.2 asks for a stream
        error; README says so). No crash, the server goes on."""
        srv, sids, statuses, resets, goaway, record = self._over_the_limit(httpsd, tree)
        for s in sids[4:]:
            assert s not in statuses, record
        assert any(code == PROTOCOL_ERROR for code, _, _ in goaway), record
        assert_still_serving(srv)

    def test_too_many_fields_431_on_the_stream(self, httpsd, tree):
        srv = h2_server(httpsd, tree, "--limit-request-fields", "10")
        with H2Client(srv.https) as c:
            st = c.request("/env", headers=[("x-f%d" % i, "v%d" % i) for i in range(30)])
            assert st.status == 431 and st.ended, st
            assert not c.goaways, c.goaways
            ok = c.request("/env", headers=[("x-f%d" % i, "v%d" % i) for i in range(5)])
            assert ok.status == 200, ok
            env = json.loads(bytes(ok.body))
            assert env["HTTP_X_F4"] == "v4"
        assert_still_serving(srv)

    def test_oversized_field_431(self, httpsd, tree):
        srv = h2_server(httpsd, tree, "--limit-request-field-size", "200")
        with H2Client(srv.https) as c:
            st = c.request("/env", headers=[("x-big", "b" * 400)])
            assert st.status == 431, st
            assert not c.goaways
            ok = c.request("/env", headers=[("x-small", "s" * 100)])
            assert ok.status == 200 and json.loads(bytes(ok.body))["HTTP_X_SMALL"] == "s" * 100
        assert_still_serving(srv)

    def test_long_path_414(self, httpsd, tree):
        srv = h2_server(httpsd, tree, "--limit-request-line", "100")
        with H2Client(srv.https) as c:
            st = c.request("/static/" + "a" * 200)
            assert st.status == 414, st
            ok = c.request("/static/hello.txt")
            assert ok.status == 200 and bytes(ok.body) == HELLO
        assert_still_serving(srv)

    def test_body_over_limit_413(self, httpsd, tree):
        srv = h2_server(httpsd, tree, "--limit-request-body", "1000")
        with H2Client(srv.https) as c:
            # declared too long
            st = c.request("/echo-raw", method="POST", headers=[("content-length", "5000")],
                           body=b"x" * 5000)
            assert st.status == 413, st
            # no content-length: the DATA frames go over it
            st2 = c.request("/echo-raw", method="POST", body=b"y" * 5000)
            assert st2.status == 413, st2
            ok = c.request("/echo-raw", method="POST", headers=[("content-length", "1000")],
                           body=b"z" * 1000)
            assert ok.status == 200 and bytes(ok.body) == b"z" * 1000, ok
            assert not c.goaways
        assert_still_serving(srv)

    def test_error_answers_are_complete_responses(self, httpsd, tree):
        """431 / 414 / 405 to requests whose HEADERS carried END_STREAM: HEADERS + DATA with
        END_STREAM each, the connection goes on."""
        srv = h2_server(httpsd, tree, "--limit-request-fields", "5", "--limit-request-line",
                        "100")
        with RawH2(srv.https) as r:
            r.handshake()
            r.send(r.headers(1, "/env", extra=[("x-a%d" % i, "v") for i in range(10)]) +
                   r.headers(3, "/static/" + "a" * 200) +
                   r.headers(5, "/env", method="TRACE") +
                   r.headers(7, "/static/hello.txt"))
            frames, closed = r.collect(1.5)
            st = {f.sid: dict(r.decode(f))[":status"] for f in frames if f.type == HEADERS}
            ends = {f.sid for f in frames if f.type in (HEADERS, DATA) and f.flags & END_STREAM}
            assert st == {1: "431", 3: "414", 5: "405", 7: "200"}, frames
            assert ends == {1, 3, 5, 7}
            assert not closed and not r.goaways()
        assert_still_serving(srv)

    def test_no_rst_stream_after_a_complete_error_answer(self, httpsd, tree):
        """RFC 9113 §5.1: nothing but PRIORITY may be sent on a closed stream. The request was
        complete (END_STREAM on its HEADERS) and so is the answer: no RST_STREAM after it."""
        srv = h2_server(httpsd, tree, "--limit-request-fields", "5", "--limit-request-line",
                        "100")
        with RawH2(srv.https) as r:
            r.handshake()
            r.send(r.headers(1, "/env", extra=[("x-a%d" % i, "v") for i in range(10)]) +
                   r.headers(3, "/static/" + "a" * 200) +
                   r.headers(5, "/env", method="TRACE") +
                   r.headers(7, "/static/hello.txt"))
            frames, closed = r.collect(1.5)
            rst = [f for f in frames if f.type == RST_STREAM]
            assert not rst, "RST_STREAM after complete answers: %r" % frames

    def test_app_queue_full_503_per_stream(self, httpsd, tree):
        srv = h2_server(httpsd, tree, "--threads", "1", "--max-queue", "1")
        with H2Client(srv.https) as c:
            sids = [c.send_request("/sleep?s=0.8&i=%d" % i) for i in range(5)]
            res = [c.result(s, timeout=10) for s in sids]
        statuses = sorted(r.status for r in res)
        assert statuses.count(200) >= 2 and statuses.count(503) >= 1, res
        assert set(statuses) <= {200, 503}, res
        for r in res:
            if r.status == 503:
                assert (r.header("retry-after") or "").isdigit(), r
            else:
                assert bytes(r.body).startswith(b"slept 0.8"), r
        assert_still_serving(srv)


class TestAttacks:
    def test_rapid_reset_goaway(self, httpsd, tree):
        """HEADERS + RST_STREAM, thousands of times, without reading: GOAWAY (the code is
        recorded: ENHANCE_YOUR_CALM from http2.c, or nghttp2's own limiter's)."""
        srv = h2_server(httpsd, tree, "--threads", "1")
        pid = srv.worker_pid
        with RawH2(srv.https) as warm:
            warm.handshake()
        before = settle_fds(pid, 10**9, 0.1)
        with RawH2(srv.https) as r:
            r.handshake()
            sid = 1
            batch = []
            sent_ok = True
            for i in range(5000):
                batch.append(r.headers(sid, "/sleep?s=0.2&i=%d" % i))
                batch.append(rst_frame(sid))
                sid += 2
                if len(batch) >= 400:
                    sent_ok = r.try_send(b"".join(batch))
                    batch = []
                    if not sent_ok:
                        break
            if batch and sent_ok:
                r.try_send(b"".join(batch))
            frames, closed = r.collect(5.0)
            goaways = [f for f in frames if f.type == GOAWAY]
            print("rapid reset: goaway codes %r, closed=%r, sent all=%r"
                  % ([g.error_code for g in goaways], closed, sent_ok))
            assert goaways, "no GOAWAY after 5000 reset streams: %d frames, closed=%r" % (
                len(frames), closed)
            assert goaways[-1].error_code == ENHANCE_YOUR_CALM, goaways
            assert closed
        assert_still_serving(srv)
        assert settle_fds(pid, before) <= before

    def test_rapid_reset_static(self, httpsd, tree):
        """The same against a static file (answered before the reset arrives)."""
        srv = h2_server(httpsd, tree)
        with RawH2(srv.https) as r:
            r.handshake()
            sid = 1
            ok = True
            for rnd in range(20):
                batch = []
                for i in range(500):
                    batch.append(r.headers(sid, "/static/big.bin"))
                    batch.append(rst_frame(sid))
                    sid += 2
                if not r.try_send(b"".join(batch)):
                    ok = False
                    break
            frames, closed = r.collect(5.0)
            goaways = [f for f in frames if f.type == GOAWAY]
            print("rapid reset (static): goaway codes %r closed=%r sent all=%r"
                  % ([g.error_code for g in goaways], closed, ok))
            # http2.c's own count (streams reset before their answer went out), before
            # nghttp2's token bucket (1000) would say INTERNAL_ERROR
            assert goaways and goaways[-1].error_code == ENHANCE_YOUR_CALM, \
                "10000 reset streams and no GOAWAY: %r closed=%r" % (goaways, closed)
        assert_still_serving(srv)

    def test_cancelling_client_not_cut(self, httpsd, tree):
        """A client that cancels some streams (a browser leaving a page, a video seeking) but
        lets more of them finish keeps its connection: 150 resets among 400 answered."""
        srv = h2_server(httpsd, tree)
        with H2Client(srv.https) as c:
            for i in range(400):
                st = c.request("/static/hello.txt")
                assert st.status == 200 and bytes(st.body) == HELLO, (i, st)
                if i % 8 < 3:  # 3 in 8: opened, then cancelled before its answer is read
                    sid = c.conn.get_next_available_stream_id()
                    c.conn.send_headers(sid, [(":method", "GET"), (":path", "/static/big.bin"),
                                              (":scheme", "https"), (":authority", "localhost")],
                                        end_stream=True)
                    c.conn.reset_stream(sid)
                    c.flush()
            assert not [g for g in c.goaways], c.goaways
            st = c.request("/static/hello.txt")
            assert st.status == 200, st
        assert_still_serving(srv)

    def test_continuation_flood(self, httpsd, tree):
        srv = h2_server(httpsd, tree)
        pid = srv.worker_pid
        with RawH2(srv.https) as r:
            r.handshake()
            before = fd_count(pid)
            blk = r.block("/static/hello.txt")
            data = frame(HEADERS, END_STREAM, 1, blk)
            data += b"".join(frame(CONTINUATION, 0, 1, b"") for _ in range(2000))
            r.try_send(data)
            for _ in range(20):
                if not r.try_send(b"".join(frame(CONTINUATION, 0, 1, b"\x40\x01a\x01b")
                                           for _ in range(500))):
                    break
            closed = r.wait_closed(5.0)
            goaways = r.goaways()
            print("continuation flood: goaway %r closed=%r" % (goaways, closed))
            assert closed, "connection still open after a CONTINUATION flood"
            assert goaways, "closed without GOAWAY"
            assert goaways[-1].error_code != NO_ERROR
            assert not any(f.type == HEADERS for f in r.frames), "the flooded request was answered"
        assert_still_serving(srv)
        assert settle_fds(pid, before) <= before

    def test_hpack_bomb(self, httpsd, tree):
        """A 4000-byte field in the dynamic table, referenced 12000 times per request (48 MB
        decoded each): 431 (or a stream/connection error), little memory, server alive."""
        srv = h2_server(httpsd, tree)
        pid = srv.worker_pid
        with H2Client(srv.https) as c:  # warm up
            assert c.request("/env").status == 200
        rss0 = vmrss_kib(pid)
        with RawH2(srv.https) as r:
            r.handshake()
            # blocks encoded by hand, nothing indexed but the bomb: it stays dynamic index 62
            # (indexed field 0x80|62 = 0xbe) for every request on the connection
            value = b"v" * 4000
            lit = bytes([0x40]) + bytes(hpack_int(len(b"x-bomb"), 7)) + b"x-bomb" + \
                bytes(hpack_int(len(value), 7)) + value
            blocks = []
            sid = 1
            for i in range(5):
                blk = plain_block("/env?i=%d" % i, r.listener.hostport) + \
                    (lit if i == 0 else b"") + b"\xbe" * 12000
                blocks.append(split_headers(sid, blk))
                sid += 2
            sent = r.try_send(b"".join(blocks))
            frames, closed = r.collect(3.0)
            statuses = {}
            for f in frames:
                if f.type == HEADERS:
                    statuses[f.sid] = dict(r.decode(f))[":status"]
            resets = {f.sid: f.error_code for f in frames if f.type == RST_STREAM}
            goaways = [f.error_code for f in frames if f.type == GOAWAY]
            print("hpack bomb: statuses=%r resets=%r goaways=%r closed=%r sent=%r"
                  % (statuses, resets, goaways, closed, sent))
            for s in range(1, 11, 2):
                assert statuses.get(s) in ("431", None), (s, statuses)
                assert statuses.get(s) == "431" or s in resets or goaways, (s, statuses, resets)
            # what the server does today: every stream answered 431, the connection kept
            assert statuses == {s: "431" for s in range(1, 11, 2)}, statuses
            assert not goaways and not closed
            r.send(split_headers(11, plain_block("/static/hello.txt", r.listener.hostport)))
            h = r.read_until(lambda f: f.type == HEADERS and f.sid == 11, 5)
            assert h is not None and dict(r.decode(h))[":status"] == "200", r.frames[-5:]
        grown = vmrss_kib(pid) - rss0
        assert grown < 8 * 1024, "RSS grew by %d KiB after the HPACK bomb" % grown
        assert_still_serving(srv)

    @pytest.mark.parametrize("kind", ["settings", "ping"])
    def test_control_frame_flood_without_reading(self, httpsd, tree, kind):
        """SETTINGS or PING frames, each asking for an ACK, sent without reading any: the server
        closes the connection (nghttp2 queues at most 1000 ACKs) and stays alive."""
        srv = h2_server(httpsd, tree)
        pid = srv.worker_pid
        with H2Client(srv.https) as c:
            assert c.request("/static/hello.txt").status == 200
        before = settle_fds(pid, 10**9, 0.1)
        with RawH2(srv.https, rcvbuf=4096) as r:
            one = settings_frame() if kind == "settings" else frame(PING, 0, 0, b"12345678")
            chunk = one * 20000
            t0 = time.monotonic()
            cut = False
            for _ in range(200):  # up to 4M frames
                if not r.try_send(chunk):
                    cut = True
                    break
                if time.monotonic() - t0 > 15:
                    break
            print("%s flood: cut while sending=%r after %.1fs" % (kind, cut,
                                                                  time.monotonic() - t0))
            # the ACKs sent before the cut may still be read; then EOF
            closed = cut or r.wait_closed(5.0)
            if not closed:
                closed = r.wait_closed(5.0)
            assert closed, "connection still open after a %s flood" % kind
        assert_still_serving(srv)
        assert settle_fds(pid, before) <= before


def plain_block(path, authority, method="GET"):
    """An HPACK block with no dynamic-table use: :method/:scheme indexed from the static
    table, :path and :authority literals without indexing."""
    m = {"GET": b"\x82", "POST": b"\x83"}[method]
    out = m + b"\x87"  # :scheme https
    for idx, v in ((4, path.encode()), (1, authority.encode())):
        out += bytes([idx]) + bytes(hpack_int(len(v), 7)) + v
    return out


def split_headers(sid, blk, end_stream=True, size=16384):
    """HEADERS + CONTINUATION frames carrying blk."""
    chunks = [blk[j:j + size] for j in range(0, len(blk), size)]
    out = frame(HEADERS, (END_STREAM if end_stream else 0) |
                (END_HEADERS if len(chunks) == 1 else 0), sid, chunks[0])
    for k, ch in enumerate(chunks[1:], 1):
        out += frame(CONTINUATION, END_HEADERS if k == len(chunks) - 1 else 0, sid, ch)
    return out


def hpack_int(value, prefix_bits):
    """HPACK integer representation (RFC 7541 §5.1), first byte without the pattern bits."""
    maxp = (1 << prefix_bits) - 1
    if value < maxp:
        return [value]
    out = [maxp]
    value -= maxp
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return out


class TestFlowAndTimeouts:
    def test_zero_window_stream_reset_others_served(self, httpsd, tree):
        """INITIAL_WINDOW_SIZE 0: the big file's stream can send nothing and is reset (CANCEL)
        after --io-timeout 2; a small file on the same connection (window opened for it)
        completes, and the connection serves a new stream after the reset."""
        srv = h2_server(httpsd, tree, "--io-timeout", "2")
        pid = srv.worker_pid
        before = settle_fds(pid, 10**9, 0.1)
        with H2Client(srv.https, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0},
                      auto_window=False) as c:
            c.wait(lambda: c.remote_settings, 5)
            big = c.send_request("/static/big.bin")
            t0 = time.monotonic()
            small = c.send_request("/static/small.txt")
            c.conn.increment_flow_control_window(len(SMALL) + 100, stream_id=small)
            c.flush()
            st = c.result(small, timeout=5)
            assert st.status == 200 and st.ended and bytes(st.body) == SMALL, st
            b = c.result(big, timeout=8)
            dt = time.monotonic() - t0
            assert b.reset == CANCEL, b
            assert b.status == 200 and len(b.body) == 0, b
            assert 1.5 <= dt <= 6, dt
            assert not c.goaways and not c.closed
            third = c.send_request("/static/hello.txt")
            c.conn.increment_flow_control_window(1000, stream_id=third)
            c.flush()
            t = c.result(third, timeout=5)
            assert t.status == 200 and bytes(t.body) == HELLO, t
        assert_still_serving(srv)
        assert settle_fds(pid, before) <= before

    def test_unread_window_stream_reset(self, httpsd, tree):
        """Default window, the client never sends WINDOW_UPDATE: the server sends the first
        65535 bytes, then resets the stream after --io-timeout."""
        srv = h2_server(httpsd, tree, "--io-timeout", "2")
        with H2Client(srv.https, auto_window=False) as c:
            sid = c.send_request("/static/big.bin")
            st = c.result(sid, timeout=8)
            assert st.reset == CANCEL and len(st.body) == 65535, st
        assert_still_serving(srv)

    def test_idle_keepalive_goaway_then_close(self, httpsd, tree):
        srv = h2_server(httpsd, tree, "--keep-alive", "1")
        with H2Client(srv.https) as c:
            assert c.request("/static/hello.txt").status == 200
            t0 = time.monotonic()
            c.wait(lambda: c.closed, 5)
            dt = time.monotonic() - t0
            assert c.closed, "idle connection not closed"
            assert 0.5 <= dt <= 3.5, dt
            assert c.goaways and c.goaways[-1][0] == NO_ERROR, c.goaways
            assert c.goaways[-1][1] == 1, c.goaways
        assert_still_serving(srv)

    def test_header_timeout(self, httpsd, tree):
        srv = h2_server(httpsd, tree, "--header-timeout", "1")
        with RawH2(srv.https) as r:
            r.handshake()
            r.send(frame(HEADERS, 0, 1, r.block("/static/hello.txt")))  # no END_HEADERS
            t0 = time.monotonic()
            closed = r.wait_closed(5)
            dt = time.monotonic() - t0
            assert closed, "connection open after --header-timeout with a head unfinished"
            assert dt <= 3.5, dt
            assert not any(f.type == HEADERS for f in r.frames)
        assert_still_serving(srv)

    def test_graceful_stop(self, httpsd, tree):
        """SIGTERM with a slow app stream in flight: GOAWAY (NO_ERROR), the stream still
        completes with 200, then the connection closes and the process exits 0. (Raw frames:
        python3-h2 treats the first GOAWAY, the shutdown notice, as the end.)"""
        srv = h2_server(httpsd, tree, "--threads", "2")
        with RawH2(srv.https) as r:
            r.handshake()
            r.send(r.headers(1, "/static/hello.txt"))
            assert r.read_until(lambda f: f.type == DATA and f.flags & END_STREAM and f.sid == 1)
            r.send(r.headers(3, "/sleep?s=1"))
            time.sleep(0.3)
            srv.send_signal(signal.SIGTERM)
            frames, closed = r.collect(10)
            goaways = [(f.error_code, f.last_stream_id) for f in frames if f.type == GOAWAY]
            print("graceful stop: GOAWAYs %r" % goaways)
            hs = [dict(r.decode(f)) for f in frames if f.type == HEADERS and f.sid == 3]
            body = b"".join(f.payload for f in frames if f.type == DATA and f.sid == 3)
            ended = any(f.flags & END_STREAM for f in frames if f.sid == 3 and f.type == DATA)
            assert goaways, "no GOAWAY on SIGTERM: %r" % frames
            assert all(code == NO_ERROR for code, _ in goaways), goaways
            assert goaways[-1][1] == 3, goaways
            assert hs and hs[0][":status"] == "200", frames
            assert ended and body.startswith(b"slept 1"), (body, frames)
            # the GOAWAY came before the answer (the stream finished after the notice)
            first_goaway = next(i for i, f in enumerate(frames) if f.type == GOAWAY)
            answer = next(i for i, f in enumerate(frames) if f.type == HEADERS and f.sid == 3)
            assert first_goaway < answer, frames
            assert closed, "connection not closed after the last stream"
        assert srv.wait(15) == 0, srv.stderr[-3000:]

    def test_new_stream_after_goaway_not_served(self, httpsd, tree):
        """After the final GOAWAY of a graceful stop, a stream above its last id is not
        processed (refused or ignored), the one in flight completes."""
        srv = h2_server(httpsd, tree, "--threads", "2")
        with RawH2(srv.https) as r:
            r.handshake()
            r.send(r.headers(1, "/sleep?s=1.5"))
            time.sleep(0.3)
            srv.send_signal(signal.SIGTERM)
            g = r.read_until(lambda f: f.type == GOAWAY, 5)
            assert g is not None, r.frames
            r.try_send(r.headers(3, "/record?name=late"))
            frames, closed = r.collect(8)
            hs = {f.sid: dict(r.decode(f)).get(":status") for f in r.frames if f.type == HEADERS}
            assert hs.get(1) == "200", (hs, r.frames)
            finals = [f.last_stream_id for f in r.goaways()]
            assert 3 not in hs or 3 <= min(finals), (hs, finals)
            assert closed
        assert srv.wait(15) == 0

    def test_upload_window_follows_the_app(self, httpsd, tree, markers):
        """--no-request-buffering, 2 MB to an app that reads nothing until told: the client's
        send window stalls well below 2 MB; once the app reads, the whole body arrives."""
        srv = h2_server(httpsd, tree, "--no-request-buffering", markers_dir=markers)
        body = os.urandom(2 * 1024 * 1024)
        with H2Client(srv.https, timeout=20) as c:
            sid = c.send_request("/gated-hash?name=g1", method="POST",
                                 headers=[("content-length", str(len(body)))], end_stream=False)
            assert wait_marker(markers, "g1-started", 10), "the app did not start"
            view = memoryview(body)
            sent = 0
            stalled_since = None
            while sent < len(body):
                n = min(c.conn.local_flow_control_window(sid), c.conn.max_outbound_frame_size,
                        len(body) - sent)
                if n > 0:
                    c.conn.send_data(sid, view[sent:sent + n].tobytes())
                    c.flush()
                    sent += n
                    stalled_since = None
                    continue
                if stalled_since is None:
                    stalled_since = time.monotonic()
                if time.monotonic() - stalled_since > 1.5:
                    break
                c.pump(0.2)
            stalled_at = sent
            window = c.conn.local_flow_control_window(sid)
            # 256 KiB stream window + 256 KiB the app's input holds (+ one frame of slack)
            assert stalled_at < len(body), "the whole body went while the app read nothing"
            assert window == 0
            assert stalled_at <= 512 * 1024 + 16384, stalled_at
            open(os.path.join(str(markers), "g1-open"), "w").close()
            c.send_body(sid, view[sent:].tobytes(), end_stream=True, timeout=20)
            st = c.result(sid, timeout=20)
        assert st.status == 200, st
        got = json.loads(bytes(st.body))
        assert got == {"len": len(body), "sha256": hashlib.sha256(body).hexdigest()}, got
        print("upload stalled at %d bytes" % stalled_at)
        assert_still_serving(srv)


    def test_app_timeout_504_per_stream(self, httpsd, tree):
        """--timeout 1: the stream whose app does not answer gets 504; a static stream and an
        app stream on the same connection meanwhile are answered."""
        srv = h2_server(httpsd, tree, "--timeout", "1", "--threads", "2")
        with H2Client(srv.https) as c:
            t0 = time.monotonic()
            slow = c.send_request("/sleep?s=3")
            fast = c.request("/static/hello.txt")
            assert fast.status == 200 and bytes(fast.body) == HELLO
            st = c.result(slow, timeout=6)
            dt = time.monotonic() - t0
            assert st.status == 504 and st.ended, st
            assert 0.8 <= dt <= 2.8, dt
            ok = c.request("/counter")
            assert ok.status == 200, ok
            assert not c.goaways
        assert_still_serving(srv)

    def test_abrupt_close_with_streams_in_flight_no_fd_leak(self, httpsd, tree):
        """Static and app responses stalled on a shut window, then the client vanishes (RST):
        every file and stream is released."""
        srv = h2_server(httpsd, tree, "--threads", "2")
        pid = srv.worker_pid
        with H2Client(srv.https) as c:
            assert c.request("/static/hello.txt").status == 200
        before = settle_fds(pid, 10**9, 0.1)
        for rnd in range(3):
            c = H2Client(srv.https, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 0},
                         auto_window=False)
            c.wait(lambda: c.remote_settings, 5)
            for i in range(10):
                c.send_request("/static/big.bin?i=%d" % i)
            for i in range(3):
                c.send_request("/big?mb=4&i=%d" % i)
                c.send_request("/file?path=%s&i=%d" % (tree.big, i))
            c.wait(lambda: sum(1 for s in c.streams.values() if s.status) >= 16, 5)
            assert sum(1 for s in c.streams.values() if s.status == 200) == 16, c.streams
            assert fd_count(pid) > before  # the files are open now
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            c.close()
        n = settle_fds(pid, before)
        assert n <= before, "fds: %d before, %d after" % (before, n)
        assert_still_serving(srv)

    def test_client_reset_mid_upload_frees_the_app_thread(self, httpsd, tree, markers):
        """--no-request-buffering, --threads 1: the client resets a streaming upload half way;
        the app's wsgi.input ends, its thread is free again: the next app request is served."""
        srv = h2_server(httpsd, tree, "--no-request-buffering", "--threads", "1",
                        markers_dir=markers)
        pid = srv.worker_pid
        before = settle_fds(pid, 10**9, 0.1)
        with H2Client(srv.https) as c:
            sid = c.send_request("/gated-hash?name=g2", method="POST",
                                 headers=[("content-length", str(1 << 20))], end_stream=False)
            assert wait_marker(markers, "g2-started", 10)
            c.send_body(sid, os.urandom(200 * 1024), end_stream=False)
            c.conn.reset_stream(sid, error_code=CANCEL)
            c.flush()
            open(os.path.join(str(markers), "g2-open"), "w").close()
            st = c.request("/counter", timeout=10)
            assert st.status == 200, st
            assert c.stream(sid).status is None
            assert not c.goaways
        assert settle_fds(pid, before) <= before
        assert_still_serving(srv)


class TestRequestSemantics:
    def test_trailers_ignored(self, msrv):
        with H2Client(msrv.https) as c:
            sid = c.send_request("/echo-raw", method="POST",
                                 headers=[("content-length", "11")], end_stream=False)
            c.conn.send_data(sid, b"hello world")
            c.conn.send_headers(sid, [("x-trailer", "t1")], end_stream=True)
            c.flush()
            st = c.result(sid)
            assert st.status == 200 and st.ended and bytes(st.body) == b"hello world", st
            # trailers are not headers of the request the app saw
            sid2 = c.send_request("/env", method="POST", end_stream=False)
            c.conn.send_data(sid2, b"abc")
            c.conn.send_headers(sid2, [("x-trailer", "t2")], end_stream=True)
            c.flush()
            st2 = c.result(sid2)
            assert st2.status == 200, st2
            env = json.loads(bytes(st2.body))
            assert "HTTP_X_TRAILER" not in env
            assert c.request("/static/hello.txt").status == 200

    @pytest.mark.parametrize("hdr", [("connection", "keep-alive"), ("transfer-encoding", "chunked"),
                                     ("upgrade", "h2c"), ("te", "gzip")])
    def test_connection_specific_header_stream_error(self, msrv, hdr):
        with H2Client(msrv.https) as c:
            st = c.request("/env", headers=[hdr])
            assert st.reset == PROTOCOL_ERROR and st.status is None, st
            assert not c.goaways and not c.closed
            ok = c.request("/static/hello.txt")
            assert ok.status == 200 and bytes(ok.body) == HELLO

    def test_uppercase_header_name_stream_error(self, msrv):
        with H2Client(msrv.https) as c:
            st = c.request("/env", headers=[("X-Upper", "1")])
            assert st.reset == PROTOCOL_ERROR and st.status is None, st
            assert not c.goaways
            ok = c.request("/static/hello.txt")
            assert ok.status == 200

    def test_te_trailers_allowed(self, msrv):
        with H2Client(msrv.https) as c:
            st = c.request("/env", headers=[("te", "trailers")])
            assert st.status == 200, st

    def test_authority_is_host(self, msrv):
        with H2Client(msrv.https) as c:
            st = c.request("/env", authority="example.test:8443")
            assert st.status == 200, st
            env = json.loads(bytes(st.body))
        assert env["HTTP_HOST"] == "example.test:8443"
        assert env["SERVER_NAME"] == "example.test"
        assert env["SERVER_PORT"] == "8443"

    def test_host_only_request(self, msrv):
        """No :authority, a host field: HTTP_HOST from it (RFC 9113 §8.3.1 allows it)."""
        with H2Client(msrv.https) as c:
            st = c.request("/env", pseudo=[(":method", "GET"), (":scheme", "https"),
                                           (":path", "/env")], headers=[("host", "c.test")])
            assert st.status == 200, st
            env = json.loads(bytes(st.body))
        assert env["HTTP_HOST"] == "c.test" and env["SERVER_NAME"] == "c.test"

    def test_authority_and_different_host(self, msrv):
        """RFC 9113 §8.3.1: a host field that differs from :authority makes the request
        malformed (SHOULD): 400 / stream error, or at least one authority the app sees —
        HTTP_HOST and SERVER_NAME both from :authority."""
        with H2Client(msrv.https) as c:
            st = c.request("/env", authority="a.test", headers=[("host", "b.test")])
            assert st.status == 400, st
            same = c.request("/env", authority="a.test", headers=[("host", "A.test")])
            assert same.status == 200, same
            env = json.loads(bytes(same.body))
            assert env["SERVER_NAME"] == "a.test", env

    def test_cookies_joined(self, msrv):
        with H2Client(msrv.https) as c:
            st = c.request("/env", headers=[("cookie", "a=1"), ("x-mid", "m"),
                                            ("cookie", "b=2"), ("cookie", "c=3")])
            assert st.status == 200, st
            env = json.loads(bytes(st.body))
        assert env["HTTP_COOKIE"] == "a=1; b=2; c=3"
        assert env["HTTP_X_MID"] == "m"

    @pytest.mark.parametrize("declared,sent", [(10, 20), (20, 10)], ids=["more", "less"])
    def test_content_length_mismatch_stream_error(self, msrv, declared, sent):
        """DATA that does not add up to content-length: the stream is reset (PROTOCOL_ERROR),
        the app never answers it, the connection goes on."""
        with H2Client(msrv.https) as c:
            sid = c.send_request("/echo-raw", method="POST",
                                 headers=[("content-length", str(declared))], end_stream=False)
            c.conn.send_data(sid, b"d" * sent, end_stream=True)
            c.flush()
            st = c.result(sid)
            assert st.reset == PROTOCOL_ERROR and st.status is None, st
            ok = c.request("/echo-raw", method="POST", headers=[("content-length", "3")],
                           body=b"abc")
            assert ok.status == 200 and bytes(ok.body) == b"abc"

    def test_bodyless_app_answers(self, msrv):
        with H2Client(msrv.https) as c:
            st = c.request("/status?s=204%20No%20Content")
            assert st.status == 204 and st.ended and bytes(st.body) == b"", st
            h = c.request("/stream?n=3&size=10&cl=1", method="HEAD")
            assert h.status == 200 and h.ended and bytes(h.body) == b"", h
            assert h.header("content-length") == "30", h.headers

    def test_response_headers_from_the_app(self, msrv):
        """Many fields, a big one, two Set-Cookie kept apart, no connection-specific field."""
        with H2Client(msrv.https) as c:
            st = c.request("/headers?n=80&bigvalue=6000")
            assert st.status == 200 and bytes(st.body) == b"many headers", st
            names = [k for k, _ in st.headers]
            for i in range(80):
                assert st.header("x-h%d" % i) == "value-%d" % i
            assert st.header("x-big") == "v" * 6000
            assert [v for k, v in st.headers if k == "set-cookie"] == ["a=1; Path=/", "b=2; Path=/"]
            assert all(n == n.lower() for n in names)
            # a hop-by-hop field from the app is refused as on HTTP/1.1 (500)
            hop = c.request("/hop?h=Connection&v=close")
            assert hop.status == 500 and hop.header("connection") is None, hop.headers
            assert b"hop-by-hop-should-not-be-sent" not in bytes(hop.body)
            assert not c.goaways

    def test_traversal_vectors_as_http11(self, httpsd, site):
        """test_traversal's vectors (origin-form) over h2 on a static-only server: the statuses
        it allows, the same as HTTP/1.1's, and never the secret."""
        from test_traversal import VECTORS
        srv = httpsd("--static", "/static=%s" % site.root)
        with H2Client(srv.https) as c:
            for target, allowed in VECTORS.items():
                if not target.startswith(b"/"):
                    continue  # absolute-form: no such thing as a :path
                st = c.request(target.decode("latin-1"))
                with connect(srv.https) as h1:
                    h1.send(b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    r1 = h1.read_response()
                assert st.status in allowed and st.status == r1.status, (target, st, r1)
                assert site.secret_content not in bytes(st.body)
                assert b"root:" not in bytes(st.body)
            assert not c.goaways
            ok = c.request("/static/hello.txt")
            assert ok.status == 200 and bytes(ok.body) == HELLO

    def test_many_streams_interleaved_bodies(self, msrv):
        """Several large responses at once on one connection: each byte-exact."""
        with H2Client(msrv.https) as c:
            sids = [c.send_request("/static/big.bin") for _ in range(3)] + \
                   [c.send_request("/stream?n=20&size=30000") for _ in range(3)]
            res = [c.result(s, timeout=20) for s in sids]
        for r in res[:3]:
            assert r.status == 200 and bytes(r.body) == BIG, r
        for r in res[3:]:
            assert r.status == 200 and bytes(r.body) == stream_body(20, 30000), r


# ---------------------------------------------------------------------------------------------
# 4. Access log
# ---------------------------------------------------------------------------------------------

def test_access_log_h2_line(msrv):
    token = os.urandom(4).hex()
    with H2Client(msrv.https) as c:
        assert c.request("/static/hello.txt?t=%s" % token).status == 200
        assert c.request("/echo-raw?t=%s" % token, method="POST", body=b"abcd",
                         headers=[("content-length", "4")]).status == 200
    path = os.path.join(msrv.cwd, "access.log")
    want = ['"GET /static/hello.txt?t=%s HTTP/2" 200 %d' % (token, len(HELLO)),
            '"POST /echo-raw?t=%s HTTP/2" 200 4' % token]
    deadline = time.monotonic() + 5
    text = ""
    while time.monotonic() < deadline:
        text = open(path, errors="replace").read() if os.path.exists(path) else ""
        if all(w in text for w in want):
            break
        time.sleep(0.05)
    for w in want:
        assert w in text, (w, text[-2000:])


# ---------------------------------------------------------------------------------------------
# h2c (prior knowledge on plain listeners)
# ---------------------------------------------------------------------------------------------

def h2c_supported():
    """Probe: does a plain --h2c listener answer the h2 preface with SETTINGS?"""
    import tempfile
    from conftest import BIN
    if not os.access(BIN, os.X_OK):
        return False
    d = tempfile.mkdtemp(prefix="h2c-probe-")
    p = subprocess.Popen([BIN, "-w", "0", "--h2c", "-b", "http://127.0.0.1:0"], cwd=d,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL)
    try:
        port = None
        deadline = time.monotonic() + 10
        buf = b""
        while time.monotonic() < deadline and port is None:
            line = p.stderr.readline()
            if not line:
                break
            buf += line
            m = re.search(rb"listening on http://127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
        if port is None:
            return False
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
        try:
            s.sendall(PREFACE + settings_frame())
            data = b""
            while len(data) < 9:
                d = s.recv(100)
                if not d:
                    break
                data += d
            return len(data) >= 9 and data[3] == SETTINGS
        except OSError:
            return False
        finally:
            s.close()
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
        shutil.rmtree(d, ignore_errors=True)


H2C = h2c_supported()
needs_h2c = pytest.mark.skipif(not H2C, reason="--h2c is not implemented yet (probe: a plain "
                               "--h2c listener does not answer the h2 preface with SETTINGS)")


@needs_h2c
def test_h2c_prior_knowledge(httpsd, tree, tmp_path):
    srv = h2_server(httpsd, tree, "--h2c", binds=(HTTP, HTTPS))
    p = run([CURL, "-sS", "--http2-prior-knowledge", "-o", str(tmp_path / "b"), "-w",
             "%{http_version} %{http_code}", "http://%s/static/small.txt" % srv.http.hostport])
    assert p.stdout.decode() == "2 200", (p.stdout, p.stderr)
    assert (tmp_path / "b").read_bytes() == SMALL
    with H2Client(srv.http) as c:
        st = c.request("/env")
        env = json.loads(bytes(st.body))
        assert env["SERVER_PROTOCOL"] == "HTTP/2" and env["wsgi.url_scheme"] == "http"
    r = get(srv.http, "/static/hello.txt")
    assert r.status == 200 and r.version == "HTTP/1.1" and r.body == HELLO


@needs_h2c
def test_h2c_off_by_default(httpsd, tree):
    srv = h2_server(httpsd, tree, binds=(HTTP,))
    c = raw_connect(srv.http)
    try:
        c.sendall(PREFACE + settings_frame())
        c.settimeout(5)
        data = b""
        try:
            while True:
                d = c.recv(65536)
                if not d:
                    break
                data += d
        except (socket.timeout, ConnectionResetError):
            pass
        assert not (len(data) >= 9 and data[3] == SETTINGS and data[:4] != b"HTTP"), data[:100]
    finally:
        c.close()
    r = get(srv.http, "/static/hello.txt")
    assert r.status == 200
