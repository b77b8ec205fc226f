"""The app of the HTTP/2 black-box tests (tests/integration/test_http2.py): every route of
wsgi_basic, plus /gated-hash, whose reading of wsgi.input the test controls.

/gated-hash?name=N: leaves marker "N-started", waits (at most 30 s) until the test creates
$WSGI_MARKER_DIR/N-open, then reads the whole body and answers {"len", "sha256"} — so the test
can watch the request body's flow-control window while the app reads nothing.
"""

import hashlib
import json
import os
import time
from urllib.parse import parse_qs

from wsgi_basic import app as basic_app

MARKER_DIR = os.environ.get("WSGI_MARKER_DIR")


def gated_hash(environ, start_response):
    qs = parse_qs(environ.get("QUERY_STRING", ""))
    name = os.path.basename(qs.get("name", ["gate"])[0])
    with open(os.path.join(MARKER_DIR, name + "-started"), "a") as f:
        f.write("started\n")
    gate = os.path.join(MARKER_DIR, name + "-open")
    deadline = time.monotonic() + 30
    while not os.path.exists(gate) and time.monotonic() < deadline:
        time.sleep(0.01)
    inp = environ["wsgi.input"]
    h = hashlib.sha256()
    n = 0
    while True:
        d = inp.read(65536)
        if not d:
            break
        h.update(d)
        n += len(d)
    body = json.dumps({"len": n, "sha256": h.hexdigest()}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def app(environ, start_response):
    if environ.get("PATH_INFO") == "/gated-hash":
        return gated_hash(environ, start_response)
    return basic_app(environ, start_response)


application = app
