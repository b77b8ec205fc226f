"""A bare PEP 3333 application with many routes, used by the tests/integration/test_wsgi*.py
black-box suite.  Route = PATH_INFO's first segment; parameters come from the query string.

Marker files (so the app can signal the test) go to $WSGI_MARKER_DIR.
"""

import io
import json
import os
import sys
import threading
import time
from urllib.parse import parse_qs

COUNTER = [0]
IMPORT_PID = os.getpid()  # the master's with --preload
COUNTER_LOCK = threading.Lock()
MARKER_DIR = os.environ.get("WSGI_MARKER_DIR")


def marker(name, text="closed\n"):
    """Append text to $WSGI_MARKER_DIR/name (one line per event: counts 'exactly once')."""
    if not MARKER_DIR or not name:
        return
    with open(os.path.join(MARKER_DIR, os.path.basename(name)), "a") as f:
        f.write(text)
        f.flush()


def chunk_bytes(i, size):
    """Chunk i of a /stream or /close response: starts with "i:" so chunks differ, exactly
    size bytes."""
    base = b"%d:abcdefghijklmnopqrstuvwxyz0123456789|" % i
    return (base * (size // len(base) + 1))[:size]


def q(environ):
    return parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)


def qget(qs, name, default=None):
    v = qs.get(name)
    return v[0] if v else default


def qint(qs, name, default=0):
    return int(qget(qs, name, default))


def jsonable(v):
    if isinstance(v, (str, bool, int)) or v is None:
        return v
    if isinstance(v, tuple) and all(isinstance(x, int) for x in v):
        return list(v)
    return repr(v)


def respond(start_response, body, status="200 OK", ctype="text/plain", extra=()):
    if isinstance(body, str):
        body = body.encode("utf-8")
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))] + list(extra))
    return [body]


def respond_json(start_response, obj, status="200 OK"):
    return respond(start_response, json.dumps(obj, sort_keys=True), status, "application/json")


class Closing:
    """An iterable (not a generator) whose close() leaves a marker; optional delays/raise."""

    def __init__(self, name, n, size, delay=0.0, first_delay=0.0, raise_at=-1):
        self.name = name
        self.n = n
        self.size = size
        self.delay = delay
        self.first_delay = first_delay
        self.raise_at = raise_at
        self.i = 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.i == 0 and self.first_delay:
            time.sleep(self.first_delay)
        elif self.i and self.delay:
            time.sleep(self.delay)
        if self.i == self.raise_at:
            raise RuntimeError("closing-iterable-raise-%s" % self.name)
        if self.i >= self.n:
            raise StopIteration
        c = chunk_bytes(self.i, self.size)
        self.i += 1
        return c

    def close(self):
        marker(self.name)


class MarkedFile(io.FileIO):
    """A real file (has fileno) whose close() leaves a marker."""
    marker_name = None

    def close(self):
        if not self.closed:
            marker(self.marker_name)
        super().close()


class MarkedBytesIO(io.BytesIO):
    marker_name = None

    def close(self):
        if not self.closed:
            marker(self.marker_name)
        super().close()


def r_env(environ, start_response, qs):
    out = {k: jsonable(v) for k, v in environ.items()}
    out["_types"] = {k: type(v).__name__ for k, v in environ.items()}
    out["_thread"] = threading.current_thread().name
    out["_is_main_thread"] = threading.current_thread() is threading.main_thread()
    if qget(qs, "mutate"):
        environ["X_LEAK_TEST"] = "leaked"
    if qget(qs, "read"):
        out["_body"] = environ["wsgi.input"].read(int(qget(qs, "read"))).decode("latin-1")
    return respond_json(start_response, out)


def r_echo(environ, start_response, qs):
    inp = environ["wsgi.input"]
    mode = qget(qs, "mode", "readn")
    n = qint(qs, "n", 7)
    parts = []
    if mode == "read":
        parts.append(inp.read())
    elif mode == "read-1":
        parts.append(inp.read(-1))
    elif mode == "readnone":
        parts.append(inp.read(None))
    elif mode == "readn":
        while True:
            d = inp.read(n)
            if not d:
                break
            assert len(d) <= n, "read(%d) returned %d bytes" % (n, len(d))
            parts.append(d)
    elif mode == "readline":
        while True:
            d = inp.readline()
            if not d:
                break
            parts.append(d)
    elif mode == "readline_n":
        while True:
            d = inp.readline(n)
            if not d:
                break
            assert len(d) <= n, "readline(%d) returned %d bytes" % (n, len(d))
            parts.append(d)
    elif mode == "readlines":
        parts.extend(inp.readlines())
    elif mode == "iter":
        for line in inp:
            parts.append(line)
    elif mode == "cl":
        parts.append(inp.read(int(environ.get("CONTENT_LENGTH") or 0)))
    elif mode == "over":
        parts.append(inp.read(int(environ.get("CONTENT_LENGTH") or 0) + 100000))
    elif mode == "huge":
        parts.append(inp.read(1 << 40))  # must not try to allocate 1 TiB
    elif mode == "none":
        pass  # read nothing: the server must discard the body itself
    elif mode == "partial":
        parts.append(inp.read(n))
    else:
        raise ValueError("unknown mode %r" % mode)
    after = [inp.read(n), inp.read(-1), inp.readline()] if mode not in ("none", "partial") else []
    out = {
        "mode": mode,
        "parts": [p.decode("latin-1") for p in parts],
        "types": sorted({type(p).__name__ for p in parts}),
        "after": [a.decode("latin-1") for a in after],
    }
    return respond_json(start_response, out)


def r_echo_raw(environ, start_response, qs):
    """The body read whole (CONTENT_LENGTH bytes) and sent back as it is, with Content-Length."""
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    return respond(start_response, body, ctype="application/octet-stream")


def r_lazy_echo(environ, start_response, qs):
    """start_response at once; the body is read from wsgi.input inside the generator, i.e.
    while the response is being sent."""
    inp = environ["wsgi.input"]
    bs = qint(qs, "bs", 4096)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])

    def gen():
        yield b"<start>"
        while True:
            d = inp.read(bs)
            if not d:
                break
            yield d
        yield b"<end>"
    return gen()


def r_hash(environ, start_response, qs):
    import hashlib
    inp = environ["wsgi.input"]
    h = hashlib.sha256()
    total = 0
    bs = qint(qs, "bs", 65536)
    while True:
        d = inp.read(bs)
        if not d:
            break
        h.update(d)
        total += len(d)
    return respond_json(start_response, {"len": total, "sha256": h.hexdigest(),
                                         "after": len(inp.read(10))})


def r_stream(environ, start_response, qs):
    n = qint(qs, "n", 3)
    size = qint(qs, "size", 10)
    headers = [("Content-Type", "application/octet-stream")]
    if qget(qs, "cl"):
        headers.append(("Content-Length", str(n * size)))
    start_response("200 OK", headers)

    def gen():
        for i in range(n):
            yield chunk_bytes(i, size)
    return gen()


def r_big(environ, start_response, qs):
    """mb MiB in 1 MiB chunks from a generator (backpressure test)."""
    mb = qint(qs, "mb", 1)
    block = bytes(range(256)) * 4096
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    name = qget(qs, "marker")

    def gen():
        try:
            for i in range(mb):
                yield block
        finally:
            marker(name)
    return gen()


def r_list(environ, start_response, qs):
    n = qint(qs, "n", 3)
    start_response("200 OK", [("Content-Type", "text/plain")])
    body = [b"item%d;" % i for i in range(n)]
    if qget(qs, "tuple"):
        return tuple(body)
    return body


def r_empty_chunks(environ, start_response, qs):
    start_response("200 OK", [("Content-Type", "text/plain")])

    def gen():
        yield b""
        yield b"abc"
        yield b""
        yield b""
        yield b"def"
        yield b""
    return gen()


def r_status(environ, start_response, qs):
    status = qget(qs, "s", "200 OK")
    headers = []
    for h in qs.get("h", []):
        k, v = h.split(":", 1)
        headers.append((k, v))
    body = qget(qs, "body", "").encode("latin-1")
    start_response(status, headers)
    return [body] if body else []


def r_raise(environ, start_response, qs):
    """where=before|after_start|midstream|close|iter; exc=name of the exception."""
    where = qget(qs, "where", "before")
    token = qget(qs, "token", "boom")
    excname = qget(qs, "exc", "ValueError")
    exc = {"ValueError": ValueError, "SystemExit": SystemExit,
           "KeyboardInterrupt": KeyboardInterrupt, "MemoryError": MemoryError,
           "RecursionError": RecursionError, "GeneratorExit": GeneratorExit}[excname]
    mname = qget(qs, "marker")

    def make():
        return exc("wsgi-app-exception-%s" % token)

    if where == "before":
        raise make()
    if where == "after_start":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def g1():
            try:
                raise make()
                yield b""  # noqa
            finally:
                marker(mname)
        return g1()
    if where == "midstream":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def g2():
            try:
                yield b"first-part;"
                yield b"second-part;"
                raise make()
            finally:
                marker(mname)
        return g2()
    if where == "midstream_cl":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "1000")])

        def g3():
            yield b"first-part;"
            raise make()
        return g3()
    if where == "close":
        class C:
            def __iter__(self):
                return iter([b"close-raises-body"])

            def close(self):
                marker(mname)
                raise make()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "17")])
        return C()
    if where == "iter":
        class I:
            def __iter__(self):
                raise make()

            def close(self):
                marker(mname)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return I()
    raise ValueError("unknown where")


def r_record(environ, start_response, qs):
    """Leaves a marker as soon as the app is called."""
    marker(qget(qs, "name"), "called\n")
    return respond(start_response, "recorded")


def r_close(environ, start_response, qs):
    name = qget(qs, "name")
    it = Closing(name, qint(qs, "n", 3), qint(qs, "size", 10),
                 delay=float(qget(qs, "delay", 0)), first_delay=float(qget(qs, "first_delay", 0)),
                 raise_at=qint(qs, "raise_at", -1))
    headers = [("Content-Type", "application/octet-stream")]
    if qget(qs, "cl"):
        headers.append(("Content-Length", str(it.n * it.size)))
    start_response("200 OK", headers)
    return it


def r_sleep(environ, start_response, qs):
    marker(qget(qs, "started"), "started\n")
    time.sleep(float(qget(qs, "s", "0.5")))
    return respond(start_response, "slept %s on %s" % (qget(qs, "s", "0.5"), threading.current_thread().name))


def r_sleep_after_start(environ, start_response, qs):
    """start_response at once, but the first body chunk only after s seconds (504 if over)."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    it = Closing(qget(qs, "name"), 1, 5, first_delay=float(qget(qs, "s", "3")))
    return it


def r_hop(environ, start_response, qs):
    name = qget(qs, "h", "Connection")
    value = qget(qs, "v", "close")
    start_response("200 OK", [("Content-Type", "text/plain"), (name, value)])
    return [b"hop-by-hop-should-not-be-sent"]


def r_cl(environ, start_response, qs):
    cl = qint(qs, "cl", 10)
    body = chunk_bytes(0, qint(qs, "len", 5))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(cl))])
    if qget(qs, "gen"):
        def gen():
            yield body[:len(body) // 2]
            yield body[len(body) // 2:]
        return gen()
    return [body]


def r_write(environ, start_response, qs):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    pad = b"x" * qint(qs, "pad", 0)
    for i in range(qint(qs, "parts", 3)):
        write(b"part%d;" % i + pad)
    if qget(qs, "marker"):
        marker(qget(qs, "marker"), "written\n")
    if qget(qs, "only"):
        return []
    return [b"tail;"]


def r_excinfo(environ, start_response, qs):
    where = qget(qs, "where", "before_body")
    if where == "before_body":
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-First", "1")])
        try:
            raise ValueError("handled-by-app")
        except ValueError:
            start_response("500 Oops Custom", [("Content-Type", "text/plain"), ("X-Second", "1")],
                           sys.exc_info())
        return [b"custom error page"]
    if where == "after_body":
        start_response("200 OK", [("Content-Type", "text/plain")])

        def gen():
            yield b"body-already-started;"
            try:
                raise ValueError("late-error-excinfo")
            except ValueError:
                start_response("500 Too Late", [("Content-Type", "text/plain")], sys.exc_info())
            yield b"must-not-be-sent"
        return gen()
    if where == "write_then":
        write = start_response("200 OK", [("Content-Type", "text/plain")])
        write(b"written-via-write;")
        try:
            raise ValueError("late-error-after-write")
        except ValueError:
            start_response("500 Too Late", [("Content-Type", "text/plain")], sys.exc_info())
        return [b"must-not-be-sent"]
    if where == "twice":
        start_response("200 OK", [("Content-Type", "text/plain")])
        start_response("201 Created", [("Content-Type", "text/plain")])  # must raise
        return [b"second start_response was accepted"]
    raise ValueError(where)


def r_file(environ, start_response, qs):
    path = qget(qs, "path")
    f = MarkedFile(path, "rb")
    f.marker_name = qget(qs, "marker")
    off = qint(qs, "offset", 0)
    if off:
        f.seek(off)
    headers = [("Content-Type", "application/octet-stream")]
    if qget(qs, "cl"):
        headers.append(("Content-Length", qget(qs, "cl")))
    start_response("200 OK", headers)
    return environ["wsgi.file_wrapper"](f, qint(qs, "blksize", 8192))


def r_filelike(environ, start_response, qs):
    size = qint(qs, "size", 100000)
    data = b"".join(chunk_bytes(i, 1000) for i in range(size // 1000 + 1))[:size]
    f = MarkedBytesIO(data)
    f.marker_name = qget(qs, "marker")
    off = qint(qs, "offset", 0)
    if off:
        f.seek(off)
    headers = [("Content-Type", "application/octet-stream")]
    if qget(qs, "cl"):
        headers.append(("Content-Length", qget(qs, "cl")))
    start_response("200 OK", headers)
    return environ["wsgi.file_wrapper"](f, qint(qs, "blksize", 8192))


def r_errors(environ, start_response, qs):
    token = qget(qs, "token", "x")
    err = environ["wsgi.errors"]
    err.write("wsgi-errors-write-%s\n" % token)
    err.writelines(["wsgi-errors-writelines-a-%s\n" % token, "wsgi-errors-writelines-b-%s\n" % token])
    err.flush()
    return respond(start_response, "logged")


def r_bad_status(environ, start_response, qs):
    kind = qget(qs, "kind")
    statuses = {
        "noreason": "200",
        "letters": "abc OK",
        "short": "20 OK",
        "long": "2000 OK",
        "crlf": "200 OK\r\nX-Injected: 1",
        "bytes": b"200 OK",
        "none": None,
        "lf": "200 OK\nX-Injected: 1",
    }
    start_response(statuses[kind], [("Content-Type", "text/plain")])
    return [b"bad status accepted"]


def r_bad_header(environ, start_response, qs):
    kind = qget(qs, "kind")
    headers = {
        "bytes_value": [("X-Bad", b"bytes")],
        "int_value": [("X-Bad", 5)],
        "bytes_name": [(b"X-Bad", "v")],
        "crlf_value": [("X-Bad", "a\r\nX-Injected: 1")],
        "lf_value": [("X-Bad", "a\nX-Injected: 1")],
        "colon_name": [("X:Bad", "v")],
        "space_name": [("X Bad", "v")],
        "not_tuple": ["X-Bad: v"],
        "triple": [("X-Bad", "v", "w")],
        "not_list": "X-Bad",
    }[kind]
    start_response("200 OK", [("Content-Type", "text/plain")] + headers)
    return [b"bad header accepted"]


def r_str_body(environ, start_response, qs):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["a str, not bytes"]


def r_none(environ, start_response, qs):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return None


def r_headers(environ, start_response, qs):
    n = qint(qs, "n", 50)
    headers = [("Content-Type", "text/plain")]
    headers += [("X-H%d" % i, "value-%d" % i) for i in range(n)]
    headers += [("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2; Path=/")]
    if qget(qs, "server"):
        headers.append(("Server", qget(qs, "server")))
    if qget(qs, "date"):
        headers.append(("Date", qget(qs, "date")))
    if qget(qs, "bigvalue"):
        headers.append(("X-Big", "v" * qint(qs, "bigvalue")))
    if qget(qs, "sts"):
        headers.append(("Strict-Transport-Security", qget(qs, "sts")))
    start_response("200 OK", headers)
    return [b"many headers"]


def r_counter(environ, start_response, qs):
    with COUNTER_LOCK:
        COUNTER[0] += 1
        n = COUNTER[0]
    return respond_json(start_response, {"count": n, "pid": os.getpid()})


def r_info(environ, start_response, qs):
    info = {"cwd": os.getcwd(), "sys_path": sys.path, "pid": os.getpid(),
            "import_pid": IMPORT_PID,
            "executable": sys.executable, "prefix": sys.prefix, "version": sys.version,
            "module_file": __file__, "name": __name__}
    mod = qget(qs, "import")
    if mod:
        try:
            m = __import__(mod)
            info["imported"] = getattr(m, "MARKER", None)
            info["imported_file"] = getattr(m, "__file__", None)
        except Exception as e:  # report, do not fail: the test asserts on it
            info["import_error"] = repr(e)
    return respond_json(start_response, info)


REQUEST_TAG = __import__("contextvars").ContextVar("request_tag", default=None)


def r_ctxstream(environ, start_response, qs):
    """n chunks of size bytes; a ContextVar set when the app is called must keep this
    request's value on every step, whichever thread advances the generator. Each chunk starts
    with the thread that produced it; the last line says whether the value held throughout."""
    tag = qget(qs, "tag", "none")
    REQUEST_TAG.set(tag)
    n, size = qint(qs, "n", 64), qint(qs, "size", 65536)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])

    def gen():
        ok = True
        threads = set()
        for i in range(n):
            ok = ok and REQUEST_TAG.get() == tag
            threads.add(threading.current_thread().name)
            yield chunk_bytes(i, size)
        yield ("\nctx %s threads %d\n" % ("ok" if ok else "LOST", len(threads))).encode()
        marker(qget(qs, "marker"), "done %s\n" % ("ok" if ok else "LOST"))
    return gen()


def r_spin(environ, start_response, qs):
    """Compute (pure Python) for s seconds; leaves marker 'interrupted <exception>' when
    something is raised inside the loop (--timeout's RequestTimeout), 'finished' otherwise."""
    end = time.monotonic() + float(qget(qs, "s", "5"))
    name = qget(qs, "marker")
    try:
        n = 0
        while time.monotonic() < end:
            n += 1
    except BaseException as e:
        marker(name, "interrupted %s.%s\n" % (type(e).__module__, type(e).__name__))
        raise
    marker(name, "finished\n")
    return respond(start_response, "spun %d" % n)


def r_cpu(environ, start_response, qs):
    """Hold the GIL computing for ms milliseconds (wall), then answer "start end" (monotonic
    seconds): whether requests ran one after another or interleaved on the GIL."""
    start = time.monotonic()
    end = start + float(qget(qs, "ms", "5")) / 1000
    n = 0
    while time.monotonic() < end:
        n += 1
    return respond(start_response, "%.6f %.6f" % (start, time.monotonic()))


# Around the server's 8 KiB threshold for sending a bytes object from its own memory (issue
# 15): small pieces are copied, big ones referenced, in order.
REF_PIECES = [b"head-", bytes(range(256)) * 1200, b"-mid-", b"z" * 9000, b"-", b"y" * 8191,
              bytes(range(255, -1, -1)) * 40, b"-tail"]


def r_refmix(environ, start_response, qs):
    """REF_PIECES times times: as a list (Content-Length) or a generator (chunked)."""
    pieces = REF_PIECES * qint(qs, "times", 1)
    if qget(qs, "framing") == "gen":
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return (p for p in pieces)
    n = sum(len(p) for p in pieces)
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(n))])
    return pieces


class Tracked(bytes):
    """A bytes subclass that leaves marker `name` ("freed") when the last reference goes."""
    def __del__(self):
        marker(getattr(self, "name", None), "freed\n")


def r_refsub(environ, start_response, qs):
    """size bytes (b"q"...) as a Tracked bytes subclass: its marker says when it is freed."""
    b = Tracked(b"q" * qint(qs, "size", 65536))
    b.name = qget(qs, "marker")
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(len(b)))])
    return [b]


def r_memview(environ, start_response, qs):
    """A memoryview is not bytes (PEP 3333): the server answers 500."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [memoryview(b"x" * qint(qs, "size", 3))]


def r_exit(environ, start_response, qs):
    """The worker process ends at once, as a crash would (os._exit)."""
    os._exit(int(qget(qs, "code", "3")))


ROUTES = {
    "exit": r_exit,
    "spin": r_spin, "cpu": r_cpu, "refmix": r_refmix, "refsub": r_refsub, "memview": r_memview,
    "ctxstream": r_ctxstream,
    "env": r_env, "echo": r_echo, "echo-raw": r_echo_raw, "lazy-echo": r_lazy_echo, "hash": r_hash, "stream": r_stream, "big": r_big,
    "list": r_list, "empty-chunks": r_empty_chunks, "status": r_status, "raise": r_raise,
    "record": r_record, "close": r_close, "sleep": r_sleep, "sleep-after-start": r_sleep_after_start,
    "hop": r_hop, "cl": r_cl, "write": r_write, "excinfo": r_excinfo, "file": r_file,
    "filelike": r_filelike, "errors": r_errors, "bad-status": r_bad_status,
    "bad-header": r_bad_header, "str-body": r_str_body, "none": r_none, "headers": r_headers,
    "counter": r_counter, "info": r_info,
}


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    name = path.lstrip("/").split("/", 1)[0]
    fn = ROUTES.get(name)
    if fn is None:
        body = ("app: %s %s" % (environ["REQUEST_METHOD"], path)).encode("latin-1", "replace")
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    return fn(environ, start_response, q(environ))


application = app


def factory():
    """module:factory() — called once at startup; leaves a marker per call."""
    marker("factory-calls", "called\n")

    def factory_app(environ, start_response):
        if environ.get("PATH_INFO") == "/which":
            return respond(start_response, "factory-app")
        return app(environ, start_response)
    return factory_app


not_callable = 42
