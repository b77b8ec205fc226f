# Bare WSGI hello world for bench/wsgi.sh: 13-byte body, Content-Length set (so every server can
# keep the connection alive), no framework.
BODY = b"Hello, World!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]


def application(environ, start_response):
    start_response("200 OK", HEADERS)
    return [BODY]
