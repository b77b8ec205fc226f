# The bare WSGI app of bench/run, served as hello:application by every WSGI server.
#   GET  /      "Hello, World!" (13 bytes, Content-Length set so every server can keep alive)
#   GET  /100k  102400 bytes (a fixed pattern the runner checks byte for byte)
#   POST /echo  the request body, read whole from wsgi.input, sent back
#   GET  /cpu   a fixed amount of pure-Python work, then its result as the body (the CPU-bound app
#               of the two-CPU scenarios, see cpu_work)
# The hello route is tested first so the dispatch costs it one comparison.
BODY = b"Hello, World!"
HEADERS = [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))]
BIG = bytes(range(256)) * 400
BIG_HEADERS = [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(BIG)))]
# The CPU-bound request: CPU_LOOPS rounds of a 32-bit multiply-add in the interpreter, about
# 0.7 ms on the benchmark machine (AMD EPYC, Python 3.11: 14,000 rounds took 0.67 ms at best,
# 0.70 ms median, standalone). A fixed count, not a time: every server does the same work, and
# it holds the GIL throughout, so one process computes on one CPU at a time.
CPU_LOOPS = 14000


def cpu_work(n=CPU_LOOPS):
    x = 0
    for i in range(n):
        x = (x * 31 + i) & 0xFFFFFFFF
    return b"%d\n" % x


def application(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/":
        start_response("200 OK", HEADERS)
        return [BODY]
    if path == "/100k":
        start_response("200 OK", BIG_HEADERS)
        return [BIG]
    if path == "/cpu":
        body = cpu_work()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    if path == "/echo" and environ["REQUEST_METHOD"] == "POST":
        body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        start_response("200 OK", [("Content-Type", "application/octet-stream"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "0")])
    return [b""]
