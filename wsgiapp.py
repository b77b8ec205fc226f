"""The demo WSGI app that ./run.sh serves at every path outside /static/.

    /hello    plain text "Hello, World!"
    /         a small HTML page linking the demo site
    /echo     the request (method, path, query, headers, body) as JSON
    /stream   a chunked response made by a generator

A bare PEP 3333 callable: no framework, only the standard library.
"""

import base64
import json
import time

HELLO = b"Hello, World!"

INDEX = b"""<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>httpsd</title>
<link rel="stylesheet" href="/static/style.css"></head>
<body>
<h1>httpsd</h1>
<p>This page comes from <code>wsgiapp.py</code>, a Python WSGI app running inside httpsd.</p>
<ul>
<li><a href="/static/index.html">the demo site</a> (static files, served in C)</li>
<li><a href="/hello">/hello</a> &mdash; plain text</li>
<li><a href="/echo?from=index">/echo</a> &mdash; your request as JSON</li>
<li><a href="/stream">/stream</a> &mdash; a chunked, streamed response</li>
</ul>
</body>
</html>
"""


def _headers(environ):
    out = {}
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            out[key[5:].replace("_", "-").title()] = value
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            out[key.replace("_", "-").title()] = value
    return out


def _echo(environ):
    body = environ["wsgi.input"].read()
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(body).decode("ascii"), "base64"
    return {
        "method": environ["REQUEST_METHOD"],
        # PEP 3333 native strings are latin-1: recover the bytes, show them as UTF-8
        "path": environ["PATH_INFO"].encode("latin-1").decode("utf-8", "replace"),
        "query": environ["QUERY_STRING"],
        "headers": _headers(environ),
        "body": text,
        "body_encoding": encoding,
        "body_length": len(body),
    }


def _stream(count, delay):
    for i in range(count):
        yield b"chunk %d of %d\n" % (i + 1, count)
        if delay:
            time.sleep(delay)


def application(environ, start_response):
    path = environ["PATH_INFO"]
    method = environ["REQUEST_METHOD"]
    if path == "/hello":
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8"),
                                  ("Content-Length", str(len(HELLO)))])
        return [HELLO]
    if path == "/":
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                  ("Content-Length", str(len(INDEX)))])
        return [INDEX]
    if path == "/echo":
        data = json.dumps(_echo(environ), indent=2).encode() + b"\n"
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(data)))])
        return [data]
    if path == "/stream":
        if method not in ("GET", "HEAD"):
            start_response("405 Method Not Allowed", [("Allow", "GET, HEAD"),
                                                      ("Content-Type", "text/plain")])
            return [b"405 Method Not Allowed\n"]
        start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
        return _stream(10, 0.05)
    start_response("404 Not Found", [("Content-Type", "text/plain; charset=utf-8")])
    return [b"404 Not Found\n"]
