"""Shared fixtures and helpers for the httpsd black-box integration suite.

Run:  /usr/bin/python3 -m pytest tests/integration -q            (from the repo root)
      HTTPSD_BIN=build-asan/httpsd /usr/bin/python3 -m pytest tests/integration -q

The binary under test is $HTTPSD_BIN (default: <repo>/build/httpsd).  Every test
starts the real binary on loopback with port 0 and talks to it with raw sockets
(plain, TLS or AF_UNIX) so that exact bytes go on the wire.
"""

import errno
import hashlib
import os
import re
import resource
import select
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import threading
import time
import warnings

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.environ.get("HTTPSD_BIN", os.path.join(REPO, "build", "httpsd"))

START_TIMEOUT = 30.0  # seconds to see every "listening on" line (workers import the app under ASan too)
STOP_TIMEOUT = 20.0  # seconds to exit after SIGTERM (ASan checks for leaks at exit, in each process)
IO_TIMEOUT = 10.0  # default timeout of every socket operation in the helpers

LISTEN_RE = re.compile(r"listening on (\S+)")
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer")

HELLO = b"This is a plain text file.\n"
LARGE_SIZE = 32 * 1024 * 1024


def require_binary():
    if not (os.path.isfile(BIN) and os.access(BIN, os.X_OK)):
        pytest.fail("httpsd binary not found at %s (set HTTPSD_BIN or build it)" % BIN)


def sanitizer_report(text):
    """Return the sanitizer report contained in text, or None."""
    for marker in SANITIZER_MARKERS:
        i = text.find(marker)
        if i >= 0:
            return text[max(0, i - 200): i + 6000]
    return None


def run_cli(args, cwd=None, timeout=15, env=None):
    """Run the binary to completion (for --help, usage errors, startup errors).

    Returns CompletedProcess with text stdout/stderr.  A binary that does not
    exit within timeout (i.e. started serving) is killed and the test fails.
    """
    require_binary()
    own_tmp = None
    if cwd is None:
        own_tmp = cwd = tempfile.mkdtemp(prefix="httpsd-cli-")
    try:
        p = subprocess.run([BIN] + list(args), cwd=cwd, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired as e:
        pytest.fail("httpsd %r did not exit within %ss (it should have refused to start); "
                    "stderr: %r" % (args, timeout, e.stderr))
    finally:
        if own_tmp:
            shutil.rmtree(own_tmp, ignore_errors=True)
    p.stdout = p.stdout.decode("utf-8", "replace")
    p.stderr = p.stderr.decode("utf-8", "replace")
    rep = sanitizer_report(p.stderr)
    if rep:
        pytest.fail("sanitizer report from httpsd %r:\n%s" % (args, rep))
    return p


# --------------------------------------------------------------------------
# URLs / addresses
# --------------------------------------------------------------------------

class Listener:
    """One printed listener: scheme in {'https', 'http', 'unix'}."""

    def __init__(self, url):
        self.url = url
        if url.startswith("unix:"):
            self.scheme = "unix"
            self.host = None
            self.port = None
            self.path = url[len("unix:"):]
            return
        m = re.match(r"^(https?)://(\[[^\]]+\]|[^:/]+):(\d+)/?$", url)
        if not m:
            raise ValueError("cannot parse listener URL %r" % url)
        self.scheme = m.group(1)
        host = m.group(2)
        self.host = host[1:-1] if host.startswith("[") else host
        self.port = int(m.group(3))
        self.path = None

    @property
    def tls(self):
        return self.scheme == "https"

    @property
    def family(self):
        if self.scheme == "unix":
            return socket.AF_UNIX
        return socket.AF_INET6 if ":" in self.host else socket.AF_INET

    @property
    def sockaddr(self):
        if self.scheme == "unix":
            return self.path
        return (self.host, self.port)

    @property
    def hostport(self):
        if self.scheme == "unix":
            return "localhost"
        h = "[%s]" % self.host if ":" in self.host else self.host
        return "%s:%d" % (h, self.port)

    def __repr__(self):
        return "Listener(%s)" % self.url


# --------------------------------------------------------------------------
# Server process
# --------------------------------------------------------------------------

class Server:
    """One httpsd process (with its workers), its stderr collected line by line."""

    def __init__(self, args, cwd, nbinds, prefix=None, env=None, preexec_fn=None, pass_fds=()):
        require_binary()
        self.args = list(args)
        self.cwd = cwd
        self.expected_exit = 0  # tests may set None (don't check) or another code
        self.lines = []  # stderr lines (str, without newline)
        self.out_lines = []  # stdout lines
        self._cond = threading.Condition()
        self._eof = False
        self.listeners = []
        cmd = list(prefix or []) + [BIN] + self.args
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, cwd=cwd, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=env, preexec_fn=preexec_fn, pass_fds=pass_fds)
        self.pid = self.proc.pid
        self._t_err = threading.Thread(target=self._drain, args=(self.proc.stderr, self.lines, True),
                                       daemon=True)
        self._t_out = threading.Thread(target=self._drain, args=(self.proc.stdout, self.out_lines, False),
                                       daemon=True)
        self._t_err.start()
        self._t_out.start()

    def _drain(self, pipe, store, is_err):
        try:
            for raw in iter(pipe.readline, b""):
                line = raw.decode("utf-8", "replace").rstrip("\r\n")
                with self._cond:
                    store.append(line)
                    self._cond.notify_all()
        finally:
            if is_err:
                with self._cond:
                    self._eof = True
                    self._cond.notify_all()

    def wait_listening(self, n, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                urls = [m.group(1) for m in (LISTEN_RE.search(l) for l in self.lines) if m]
                if len(urls) >= n:
                    break
                if self._eof or self.proc.poll() is not None:
                    # give the drain thread a moment to collect the last lines
                    self._cond.wait(0.2)
                    urls = [m.group(1) for m in (LISTEN_RE.search(l) for l in self.lines) if m]
                    if len(urls) >= n:
                        break
                    self.expected_exit = None
                    pytest.fail("httpsd exited (rc=%s) before listening; cmd=%r\nstderr:\n%s"
                                % (self.proc.poll(), self.cmd, "\n".join(self.lines)))
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail("httpsd printed %d of %d 'listening on' lines within %ss; cmd=%r\nstderr:\n%s"
                                % (len(urls), n, timeout, self.cmd, "\n".join(self.lines)))
                self._cond.wait(min(left, 0.2))
        self.listeners = [Listener(u) for u in urls[:n]]
        return self.listeners

    # -- accessors ------------------------------------------------------
    @property
    def stderr(self):
        with self._cond:
            return "\n".join(self.lines)

    @property
    def stdout(self):
        with self._cond:
            return "\n".join(self.out_lines)

    @property
    def urls(self):
        return [l.url for l in self.listeners]

    def listener(self, scheme=None):
        for l in self.listeners:
            if scheme is None or l.scheme == scheme:
                return l
        raise LookupError("no %s listener in %r" % (scheme, self.urls))

    @property
    def http(self):
        return self.listener("http")

    @property
    def https(self):
        return self.listener("https")

    @property
    def port(self):
        return self.listeners[0].port

    def wait_log(self, pattern, timeout=5.0):
        """Wait until a stderr line matches regex pattern; return the match or None."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for l in self.lines:
                    m = rx.search(l)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or self._eof:
                    return None
                self._cond.wait(min(left, 0.2))

    def alive(self):
        return self.proc.poll() is None

    def assert_alive(self):
        if self.proc.poll() is not None:
            pytest.fail("httpsd died (rc=%s)\nstderr:\n%s" % (self.proc.returncode, self.stderr[-8000:]))

    def cpu_seconds(self):
        """CPU time of the master and its workers."""
        total = 0
        for pid in [self.pid] + self.worker_pids():
            try:
                with open("/proc/%d/stat" % pid) as f:
                    data = f.read()
            except FileNotFoundError:
                continue
            fields = data[data.rindex(")") + 2:].split()
            # fields[0] is state (field 3); utime is field 14, stime field 15
            total += int(fields[11]) + int(fields[12])
        return total / os.sysconf("SC_CLK_TCK")

    def worker_pids(self):
        """The worker processes under this master (-w N), in pid order; [] for -w 0."""
        try:
            with open("/proc/%d/task/%d/children" % (self.pid, self.pid)) as f:
                return sorted(int(x) for x in f.read().split())
        except FileNotFoundError:
            return []

    @property
    def worker_pid(self):
        """The process that serves: the only worker under the master (-w 1, the default), or
        the server itself with -w 0. What RSS, fd and fault counts must be measured on."""
        kids = self.worker_pids()
        assert len(kids) <= 1, "more than one worker: %r" % kids
        return kids[0] if kids else self.pid

    def send_signal(self, sig):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout=STOP_TIMEOUT):
        """Wait for exit; returns the return code or None on timeout."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """SIGTERM (or sig), wait, then SIGKILL.  Returns (rc, killed)."""
        killed = False
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                killed = True
                self.proc.kill()
                self.proc.wait(5)
        self._t_err.join(5)
        self._t_out.join(5)
        return self.proc.returncode, killed

    def finish(self):
        """Teardown checks: clean exit on SIGTERM and no sanitizer reports."""
        already_exited = self.proc.poll() is not None
        rc, killed = self.stop()
        problems = []
        rep = sanitizer_report(self.stderr)
        if rep:
            problems.append("sanitizer report:\n" + rep)
        if self.expected_exit is not None:
            if killed:
                problems.append("httpsd did not exit within %ss of SIGTERM (killed)" % STOP_TIMEOUT)
            elif rc != self.expected_exit:
                problems.append("httpsd exited with %s (expected %s)%s"
                                % (rc, self.expected_exit,
                                   " before teardown" if already_exited else " on SIGTERM"))
        if problems:
            tail = self.stderr[-6000:]
            pytest.fail("\n".join(problems) + "\ncmd=%r\nstderr tail:\n%s" % (self.cmd, tail),
                        pytrace=False)


class ServerFactory:
    def __init__(self, tmp_root):
        self.tmp_root = tmp_root
        self.servers = []
        self._n = 0

    def new_cwd(self):
        self._n += 1
        d = tempfile.mkdtemp(prefix="cwd%d-" % self._n, dir=self.tmp_root)
        return d

    def __call__(self, *args, binds=("127.0.0.1:0",), cwd=None, prefix=None, env=None,
                 preexec_fn=None, wait_listening=True, start_timeout=START_TIMEOUT, pass_fds=()):
        """Start httpsd with -b for each bind plus args; cwd defaults to a fresh temp dir."""
        if cwd is None:
            cwd = self.new_cwd()
        argv = []
        for b in binds:
            argv += ["-b", b]
        argv += [str(a) for a in args]
        srv = Server(argv, cwd, len(binds), prefix=prefix, env=env, preexec_fn=preexec_fn,
                     pass_fds=pass_fds)
        self.servers.append(srv)
        srv.nbinds = len(binds)
        if wait_listening:
            srv.wait_listening(len(binds), start_timeout)
        return srv

    def finish_all(self):
        errors = []
        for s in self.servers:
            try:
                s.finish()
            except pytest.fail.Exception as e:  # collect all, report once
                errors.append(str(e))
        self.servers = []
        if errors:
            pytest.fail("\n\n".join(errors), pytrace=False)


@pytest.fixture
def httpsd(tmp_path):
    """Factory: httpsd(*args, binds=[...], cwd=None, prefix=None) -> Server."""
    f = ServerFactory(str(tmp_path))
    yield f
    f.finish_all()


@pytest.fixture(scope="module")
def httpsd_module(tmp_path_factory):
    f = ServerFactory(str(tmp_path_factory.mktemp("srv")))
    yield f
    f.finish_all()


# --------------------------------------------------------------------------
# Site
# --------------------------------------------------------------------------

MIME_TABLE = {
    "html": ("text/html; charset=utf-8",),
    "css": ("text/css; charset=utf-8",),
    "js": ("text/javascript; charset=utf-8",),
    "mjs": ("text/javascript; charset=utf-8",),
    "json": ("application/json",),
    "txt": ("text/plain; charset=utf-8",),
    "svg": ("image/svg+xml",),
    "png": ("image/png",),
    "jpg": ("image/jpeg",),
    "gif": ("image/gif",),
    "webp": ("image/webp",),
    "ico": ("image/x-icon", "image/vnd.microsoft.icon"),
    "woff2": ("font/woff2",),
    "wasm": ("application/wasm",),
    "mp4": ("video/mp4",),
    "webm": ("video/webm",),
    "mp3": ("audio/mpeg",),
    "pdf": ("application/pdf",),
    "qqzzy": ("application/octet-stream",),
}


class Site:
    pass


def make_site(base):
    """Create base/site (the static root) and base/secret (outside it)."""
    os.chmod(base, 0o755)
    root = os.path.join(base, "site")
    os.mkdir(root, 0o755)
    s = Site()
    s.base = base
    s.root = root
    s.secret_content = b"TOP-SECRET-" + os.urandom(8).hex().encode() + b"\n"
    s.secret_path = os.path.join(base, "secret")
    with open(s.secret_path, "wb") as f:
        f.write(s.secret_content)

    def w(rel, data, mode=0o644):
        p = os.path.join(root, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        os.chmod(p, mode)
        return p

    s.hello_path = w("hello.txt", HELLO)
    s.index = b"<!doctype html><title>root index</title>\n"
    w("index.html", s.index)
    s.mime_files = {}
    for ext in MIME_TABLE:
        name = "f.%s" % ext
        s.mime_files[ext] = name
        w(name, ("content of %s\n" % name).encode())
    s.sub_index = b"<!doctype html><title>sub index</title>\n"
    w("sub/index.html", s.sub_index)
    w("sub/page.css", b"body{}\n")
    w("noindex/file.txt", b"no index here\n")
    w("empty.txt", b"")
    w("with space.txt", b"space\n")
    w("a%20b.txt", b"literal percent\n")
    w("noperm.txt", b"you cannot read me\n", mode=0o000)
    # large file: 1 MiB random block repeated with a per-block counter
    block = os.urandom(1024 * 1024)
    h = hashlib.sha256()
    s.large_path = os.path.join(root, "large.bin")
    with open(s.large_path, "wb") as f:
        for i in range(LARGE_SIZE // len(block)):
            chunk = i.to_bytes(8, "big") + block[8:]
            f.write(chunk)
            h.update(chunk)
    s.large_size = LARGE_SIZE
    s.large_sha256 = h.hexdigest()
    # symlinks
    os.symlink("hello.txt", os.path.join(root, "link.txt"))
    os.symlink("sub", os.path.join(root, "linkdir"))
    os.symlink("../secret", os.path.join(root, "escape_rel"))
    os.symlink(s.secret_path, os.path.join(root, "escape_abs"))
    os.symlink("..", os.path.join(root, "outdir"))
    os.symlink("/etc/passwd", os.path.join(root, "passwd"))
    # special files
    os.mkfifo(os.path.join(root, "fifo"))
    s.sock_path = os.path.join(root, "sock")
    s._unix_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s._unix_sock.bind(s.sock_path)
    return s


@pytest.fixture(scope="session")
def site():
    base = tempfile.mkdtemp(prefix="httpsd-site-", dir="/tmp")
    s = make_site(base)
    yield s
    s._unix_sock.close()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def short_tmp():
    """A short directory under /tmp (AF_UNIX paths are limited to 107 bytes)."""
    d = tempfile.mkdtemp(prefix="hs-", dir="/tmp")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def static_args(site):
    return ["--static", "/static=%s" % site.root]


# --------------------------------------------------------------------------
# Client helpers
# --------------------------------------------------------------------------

def client_context(verify=False, cafile=None, minv=None, maxv=None, ciphers=None, alpn=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(cafile)
        ctx.check_hostname = True
        ctx.verify_mode = ssl.CERT_REQUIRED
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        if minv is not None:
            ctx.minimum_version = minv
        if maxv is not None:
            ctx.maximum_version = maxv
    if ciphers:
        ctx.set_ciphers(ciphers)
    if alpn:
        ctx.set_alpn_protocols(alpn)
    return ctx


def resolve_listener(target, tls=None):
    if isinstance(target, Server):
        if tls is None:
            return target.listeners[0]
        return target.https if tls else target.http
    if isinstance(target, Listener):
        return target
    if isinstance(target, str):
        return Listener(target)
    raise TypeError(target)


def raw_connect(target, timeout=IO_TIMEOUT, rcvbuf=None, tls=None):
    """Plain TCP/UNIX socket to a listener (no TLS even on an https listener)."""
    l = resolve_listener(target, tls)
    s = socket.socket(l.family, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect(l.sockaddr)
    return s


class Response:
    def __init__(self, version, status, reason, headers, body, raw):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value) in order
        self.body = body
        self.raw = raw  # raw head + body bytes

    def header(self, name, default=None):
        name = name.lower()
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k.lower() == name]

    def has_token(self, name, token):
        token = token.lower()
        for v in self.header_all(name):
            if token in [t.strip().lower() for t in v.split(",")]:
                return True
        return False

    @property
    def conn_close(self):
        return self.has_token("Connection", "close")

    def __repr__(self):
        return "<Response %s %s %r body=%d bytes>" % (self.status, self.reason, self.headers, len(self.body))


class ConnClosed(Exception):
    pass


class SockClient:
    """A client owning self.sock: closed on exit of a with-block."""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()


class Conn(SockClient):
    """A client connection with a read buffer: exact bytes out, parsed responses in."""

    def __init__(self, sock, timeout=IO_TIMEOUT):
        self.sock = sock
        self.buf = b""
        self.eof = False
        self.timeout = timeout
        sock.settimeout(timeout)

    # -- low level ----------------------------------------------------------
    def send(self, data):
        self.sock.sendall(data)

    def _recv(self, n=65536, timeout=None):
        """Receive into buf; returns number of bytes read (0 = EOF/reset)."""
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        try:
            data = self.sock.recv(n)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            data = b""
        except ssl.SSLError as e:
            # any TLS-level failure after the handshake counts as the connection ending
            if "timed out" in str(e):
                raise socket.timeout(str(e))
            data = b""
        if not data:
            self.eof = True
            return 0
        self.buf += data
        return len(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout("timed out waiting for response bytes")
        if self._recv(timeout=left) == 0:
            raise ConnClosed("connection closed by server; buffered=%r" % self.buf[:300])

    def _read_line(self, deadline, limit=1 << 20):
        while True:
            i = self.buf.find(b"\n")
            if i >= 0:
                line, self.buf = self.buf[:i + 1], self.buf[i + 1:]
                return line
            if len(self.buf) > limit:
                raise AssertionError("response line too long")
            self._fill(deadline)

    def _read_exact(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    # -- responses ----------------------------------------------------------
    def read_response(self, method="GET", timeout=None, body_sink=None):
        """Read one response (a 1xx is returned as its own response).

        body_sink: optional callable(bytes) fed with the body instead of storing it.
        """
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        raw = b""
        line = self._read_line(deadline)
        raw += line
        m = re.match(rb"^(HTTP/\d\.\d) (\d{3})(?: (.*))?\r\n$", line)
        if not m:
            raise AssertionError("bad status line %r (buffer: %r)" % (line, self.buf[:200]))
        version = m.group(1).decode()
        status = int(m.group(2))
        reason = (m.group(3) or b"").decode("latin-1")
        headers = []
        while True:
            line = self._read_line(deadline)
            raw += line
            if line == b"\r\n":
                break
            if not line.endswith(b"\r\n") or b":" not in line:
                raise AssertionError("bad response header line %r" % line)
            k, v = line[:-2].split(b":", 1)
            if k != k.strip() or not k:
                raise AssertionError("bad response header name %r" % line)
            headers.append((k.decode("latin-1"), v.strip(b" \t").decode("latin-1")))
        resp = Response(version, status, reason, headers, b"", raw)
        body = []
        total = [0]

        def put(data):
            total[0] += len(data)
            if body_sink:
                body_sink(data)
            else:
                body.append(data)

        if 100 <= status < 200 or status in (204, 304) or method == "HEAD":
            pass
        elif resp.header("Transfer-Encoding") is not None and \
                resp.header("Transfer-Encoding").lower().endswith("chunked"):
            while True:
                line = self._read_line(deadline)
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self._read_line(deadline) != b"\r\n":
                        pass
                    break
                put(self._read_exact(size, deadline))
                if self._read_exact(2, deadline) != b"\r\n":
                    raise AssertionError("bad chunk terminator")
        elif resp.header("Content-Length") is not None:
            n = int(resp.header("Content-Length"))
            while n > 0:
                if not self.buf:
                    self._fill(deadline)
                chunk = self.buf[:n]
                self.buf = self.buf[len(chunk):]
                n -= len(chunk)
                put(chunk)
        else:
            while True:
                if self.buf:
                    put(self.buf)
                    self.buf = b""
                left = deadline - time.monotonic()
                if left <= 0:
                    raise socket.timeout("timed out reading body until close")
                if self._recv(timeout=left) == 0:
                    break
        resp.body = b"".join(body)
        resp.body_len = total[0]
        resp.raw = raw + resp.body
        return resp

    def request(self, method, path, headers=(), body=b"", host="localhost", version="HTTP/1.1",
                timeout=None):
        self.send(build_request(method, path, headers=headers, body=body, host=host, version=version))
        return self.read_response(method, timeout=timeout)

    # -- connection state -----------------------------------------------------
    def closed_within(self, timeout):
        """True if the server closes (EOF or reset) within timeout.

        Any bytes that arrive meanwhile are appended to self.buf (check it if needed).
        """
        if self.eof:
            return True
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                if self._recv(timeout=left) == 0:
                    return True
            except (socket.timeout, TimeoutError):
                return False

    def wait_closed(self, timeout):
        """Return elapsed seconds until the server closed, or None if it did not."""
        t0 = time.monotonic()
        if self.closed_within(timeout):
            return time.monotonic() - t0
        return None



def connect(target, tls=None, ctx=None, timeout=IO_TIMEOUT, server_hostname="localhost",
            rcvbuf=None, session=None):
    """Connection to a listener; TLS when the listener is https (CERT_NONE by default)."""
    l = resolve_listener(target, tls)
    s = raw_connect(l, timeout=timeout, rcvbuf=rcvbuf)
    if l.tls:
        if ctx is None:
            ctx = client_context()
        try:
            s = ctx.wrap_socket(s, server_hostname=server_hostname, session=session)
        except Exception:
            s.close()
            raise
    c = Conn(s, timeout)
    c.listener = l
    return c


def build_request(method, path, headers=(), body=b"", host="localhost", version="HTTP/1.1"):
    """Exact bytes of a request.  host=None omits Host; headers is a list of (k, v)
    or raw bytes lines; str/bytes values are sent verbatim (latin-1)."""
    def b(x):
        return x if isinstance(x, bytes) else str(x).encode("latin-1")
    out = b(method) + b" " + b(path) + b" " + b(version) + b"\r\n"
    if host is not None:
        out += b"Host: " + b(host) + b"\r\n"
    for h in headers:
        if isinstance(h, (bytes, str)):
            out += b(h) + b"\r\n"
        else:
            out += b(h[0]) + b": " + b(h[1]) + b"\r\n"
    if body and not any((not isinstance(h, (bytes, str))) and str(h[0]).lower() in
                        ("content-length", "transfer-encoding") for h in headers):
        out += b"Content-Length: %d\r\n" % len(body)
    return out + b"\r\n" + b(body)


def get(target, path, tls=None, method="GET", headers=(), body=b"", timeout=IO_TIMEOUT, **kw):
    """One request on a fresh connection; returns the Response."""
    with connect(target, tls=tls, timeout=timeout, **kw) as c:
        return c.request(method, path, headers=headers, body=body)


def exchange(target, data, tls=None, timeout=IO_TIMEOUT, method="GET"):
    """Send raw bytes on a fresh connection, read one response.

    Returns (response, conn); the caller closes conn.  Send errors caused by the
    server closing early are ignored (the response may already be there).
    """
    c = connect(target, tls=tls, timeout=timeout)
    try:
        c.send(data)
    except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
        pass
    return c.read_response(method, timeout=timeout), c


def assert_serving(server, tls=None, path="/static/hello.txt", expect=HELLO):
    """A fresh connection still gets a correct answer."""
    server.assert_alive()
    for l in server.listeners if tls is None else [server.https if tls else server.http]:
        r = get(l, path)
        assert r.status == 200, "server no longer serving on %s: %r" % (l.url, r)
        if expect is not None:
            assert r.body == expect


def read_all_until_close(sock, timeout=IO_TIMEOUT, limit=None):
    """Read raw bytes until EOF/reset or timeout; returns (data, closed)."""
    chunks = []
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return b"".join(chunks), False
        sock.settimeout(left)
        try:
            d = sock.recv(65536)
        except (socket.timeout, TimeoutError):
            return b"".join(chunks), False
        except (ConnectionResetError, BrokenPipeError, ssl.SSLError):
            return b"".join(chunks), True
        if not d:
            return b"".join(chunks), True
        chunks.append(d)


def raise_nofile(n=8192):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = n if hard == resource.RLIM_INFINITY else min(n, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def ipv6_loopback_available():
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        s.bind(("::1", 0))
        s.close()
        return True
    except OSError:
        return False


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()
