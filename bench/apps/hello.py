# The bare WSGI app of bench/run, served as hello:application by every WSGI server.
#   GET  /      "Hello, World!" (13 bytes, Content-Length set so every server can keep alive)
#   GET  /100k  102400 bytes (a fixed pattern the runner checks byte for byte)
#   POST /echo  the request body, read whole from wsgi.input, sent back
# The hello route is tested first so the dispatch costs it one comparison.
BODY = b"Hello, World!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]
BIG = bytes(range(256)) * 400
BIG_HEADERS = [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BIG)))]


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/":
        start_response("200 OK", HEADERS)
        return [BODY]
    if path == "/100k":
        start_response("200 OK", BIG_HEADERS)
        return [BIG]
    if path == "/echo" and environ["REQUEST_METHOD"] == "POST":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
    return [b""]
