"""The WSGI app the reliability campaign (tests/campaign/run.sh) serves. A bare PEP 3333
callable, standard library only.

    /hello                  13 bytes, Content-Length (the legit client's URL)
    /echo                   reads the whole body; answers its length and SHA-256 as JSON
    /upload                 reads the body in 64 KiB pieces; answers its length
    /stream?n=N&size=S      N chunks of S bytes from a generator (chunked response)
    /                       a small HTML page (testssl.sh asks for it)
"""

import hashlib
import json
from urllib.parse import parse_qs

HELLO = b"Hello, World!"
INDEX = b"<!doctype html><title>campaign</title><p>httpsd reliability campaign</p>\n"


def _respond(start_response, body, ctype="text/plain"):
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


def _qint(environ, name, default):
    v = parse_qs(environ.get("QUERY_STRING", "")).get(name)
    return int(v[0]) if v else default


def _stream(n, size):
    block = (b"0123456789abcdef" * (size // 16 + 1))[:size]
    for _ in range(n):
        yield block


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/hello":
        return _respond(start_response, HELLO)
    if path == "/echo":
        body = environ["wsgi.input"].read()
        out = {"len": len(body), "sha256": hashlib.sha256(body).hexdigest()}
        return _respond(start_response, json.dumps(out).encode(), "application/json")
    if path == "/upload":
        inp, total = environ["wsgi.input"], 0
        while True:
            d = inp.read(65536)
            if not d:
                break
            total += len(d)
        return _respond(start_response, b'{"len": %d}' % total, "application/json")
    if path == "/stream":
        n, size = _qint(environ, "n", 64), _qint(environ, "size", 16384)
        start_response("200 OK", [("Content-Type", "application/octet-stream")])
        return _stream(n, size)
    if path == "/":
        return _respond(start_response, INDEX, "text/html; charset=utf-8")
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "10")])
    return [b"not found\n"]


app = application
