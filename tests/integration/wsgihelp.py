"""Helpers for the WSGI black-box tests (tests/integration/test_wsgi*.py).

Apps live in tests/integration/apps/; the server is started with --pythonpath APPS (never
--chdir into the source tree: the server writes its generated TLS cert into its cwd).
Apps signal the test through marker files in $WSGI_MARKER_DIR.
"""

import json
import os
import re
import socket
import time

import pytest

from conftest import build_request, connect, get

HERE = os.path.dirname(os.path.abspath(__file__))
APPS = os.path.join(HERE, "apps")
PYTHON = "/usr/bin/python3"

HTTP = "http://127.0.0.1:0"
HTTPS = "127.0.0.1:0"


def chunk_bytes(i, size):
    """Chunk i of a /stream or /close response: starts with "i:" so chunks differ, exactly
    size bytes."""
    base = b"%d:abcdefghijklmnopqrstuvwxyz0123456789|" % i
    return (base * (size // len(base) + 1))[:size]


def stream_body(n, size):
    return b"".join(chunk_bytes(i, size) for i in range(n))


def filelike_body(size):
    return b"".join(chunk_bytes(i, 1000) for i in range(size // 1000 + 1))[:size]


def server_env(marker_dir=None, **extra):
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # ASan's quarantine keeps up to 256 MiB of freed memory resident, which would swamp the
    # RSS-growth checks; a small quarantine keeps them meaningful (no effect without ASan).
    asan = env.get("ASAN_OPTIONS", "")
    env["ASAN_OPTIONS"] = (asan + ":" if asan else "") + "quarantine_size_mb=16"
    if marker_dir is not None:
        env["WSGI_MARKER_DIR"] = str(marker_dir)
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


def start(factory, app="wsgi_basic:app", *args, binds=(HTTP,), marker_dir=None, threads=None,
          pythonpath=APPS, env=None, **kw):
    """Start httpsd serving a WSGI app; returns the Server."""
    argv = []
    if pythonpath:
        argv += ["--pythonpath", pythonpath]
    if threads is not None:
        argv += ["--threads", str(threads)]
    argv += [str(a) for a in args]
    argv.append(app)
    if env is None:
        env = server_env(marker_dir)
    return factory(*argv, binds=binds, env=env, **kw)


def get_json(target, path, **kw):
    r = get(target, path, **kw)
    assert r.status == 200, "%s -> %r %r" % (path, r, r.body[:2000])
    return json.loads(r.body)


def env_of(target, path="/env", **kw):
    return get_json(target, path, **kw)


def marker_path(d, name):
    return os.path.join(str(d), name)


def wait_marker(d, name, timeout=10.0, count=1):
    """Wait until marker file d/name has at least count lines; returns its lines."""
    p = marker_path(d, name)
    deadline = time.monotonic() + timeout
    while True:
        if os.path.exists(p):
            with open(p) as f:
                lines = f.read().splitlines()
            if len(lines) >= count:
                return lines
        if time.monotonic() > deadline:
            return None if not os.path.exists(p) else open(p).read().splitlines()
        time.sleep(0.02)


def read_marker(d, name):
    p = marker_path(d, name)
    if not os.path.exists(p):
        return None
    with open(p) as f:
        return f.read().splitlines()


def log_mark(srv):
    """Index into srv.lines: pass to new_log / wait_new_log to look only at later lines."""
    with srv._cond:
        return len(srv.lines)


def new_log(srv, mark):
    with srv._cond:
        return "\n".join(srv.lines[mark:])


def wait_new_log(srv, mark, pattern, timeout=5.0, flags=0):
    """Wait until a stderr line after mark matches pattern; returns the match or None."""
    rx = re.compile(pattern, flags)
    deadline = time.monotonic() + timeout
    with srv._cond:
        while True:
            for l in srv.lines[mark:]:
                m = rx.search(l)
                if m:
                    return m
            left = deadline - time.monotonic()
            if left <= 0 or srv._eof:
                return None
            srv._cond.wait(min(left, 0.1))


def vmrss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % pid)


def pipelined(target, reqs, tls=None, timeout=10.0):
    """Send several (method, path[, headers[, body]]) requests in one write; read them all."""
    c = connect(target, tls=tls, timeout=timeout)
    data = b""
    for r in reqs:
        method, path = r[0], r[1]
        headers = r[2] if len(r) > 2 else ()
        body = r[3] if len(r) > 3 else b""
        data += build_request(method, path, headers=headers, body=body)
    c.send(data)
    out = [c.read_response(r[0], timeout=timeout) for r in reqs]
    return out, c


def chunked(body, sizes=(3, 5, 1)):
    """Encode body in chunks cycling through sizes (plus a chunk extension on one of them)."""
    out = b""
    i = 0
    k = 0
    while i < len(body):
        n = sizes[k % len(sizes)]
        part = body[i:i + n]
        ext = b";ext=1" if k == 1 else b""
        out += b"%x%s\r\n%s\r\n" % (len(part), ext, part)
        i += n
        k += 1
    return out + b"0\r\n\r\n"


def no_traceback_leak(body):
    text = body.decode("latin-1")
    return "Traceback" not in text and "File \"" not in text and "wsgi-app-exception" not in text


def assert_app_serving(srv, target=None):
    srv.assert_alive()
    r = get(target or srv.listeners[0], "/hello-after")
    assert r.status == 200 and r.body == b"app: GET /hello-after", r


def linger_rst(sock):
    """Make close() send a RST (abrupt client disconnect)."""
    import struct
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def python_version_str():
    import subprocess
    return subprocess.run([PYTHON, "-c", "import platform; print(platform.python_version())"],
                          stdout=subprocess.PIPE, text=True).stdout.strip()


@pytest.fixture
def markers(tmp_path):
    d = tmp_path / "markers"
    d.mkdir()
    return d


@pytest.fixture(scope="module")
def module_markers(tmp_path_factory):
    return tmp_path_factory.mktemp("markers")


def get_host(target, path, host, method="GET", headers=(), body=b"", timeout=10.0):
    """One request with a chosen Host header on a fresh connection."""
    with connect(target, timeout=timeout) as c:
        return c.request(method, path, headers=headers, body=body, host=host)


def start_with_logfile(factory, logpath, *args, **kw):
    """Start with --error-logfile: the "listening on" line may go to the file."""
    from conftest import Listener
    srv = start(factory, *args, "--error-logfile", str(logpath), wait_listening=False, **kw)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        text = srv.stderr + "\n" + (open(logpath, errors="replace").read()
                                    if os.path.exists(logpath) else "")
        m = re.search(r"listening on (\S+)", text)
        if m:
            srv.listeners = [Listener(m.group(1))]
            return srv
        if not srv.alive():
            break
        time.sleep(0.05)
    pytest.fail("no listening line in stderr or %s:\n%s" % (logpath, srv.stderr))
