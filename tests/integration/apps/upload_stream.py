"""Apps for the streaming-upload tests (test_wsgi_upload_stream.py)."""

import hashlib
import os
import time


def _hash_reader(read, first=b""):
    h = hashlib.sha256(first)
    n = len(first)
    while True:
        d = read()
        if not d:
            return n, h.hexdigest()
        h.update(d)
        n += len(d)


def application(environ, start_response):
    path = environ["PATH_INFO"]
    inp = environ["wsgi.input"]
    if path == "/first":
        # Answers with the first bytes before the client has sent the rest: proves the body
        # streams into the running app instead of being read whole first.
        first = inp.read(10)
        start_response("200 OK", [("Content-Type", "text/plain")])

        def gen():
            yield b"first:" + first + b"\n"
            n, digest = _hash_reader(lambda: inp.read(65536), first)
            yield b"%d %s\n" % (n, digest.encode())
        return gen()
    if path == "/lines":
        n, digest = _hash_reader(inp.readline)
        body = b"%d %s\n" % (n, digest.encode())
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    if path == "/slow-reader":
        # Reads slowly: the server must stop reading the socket, not buffer the body.
        def read():
            time.sleep(0.001)
            return inp.read(32768)
        n, digest = _hash_reader(read)
        body = b"%d %s\n" % (n, digest.encode())
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    if path == "/ignore":
        start_response("200 OK", [("Content-Length", "2")])
        return [b"ok"]
    if path == "/read-fails":
        # The client goes away mid-upload: read() must raise, close() must still run.
        class Body:
            def __iter__(self):
                try:
                    while inp.read(65536):
                        pass
                    yield b"complete"
                except OSError as e:
                    _mark("read-error", repr(e))
                    raise

            def close(self):
                _mark("closed", "1")
        start_response("200 OK", [("Content-Type", "text/plain")])
        return Body()
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found\n"]


def _mark(name, text):
    d = os.environ.get("WSGI_MARKER_DIR")
    if d:
        with open(os.path.join(d, name), "a") as f:
            f.write(text + "\n")
