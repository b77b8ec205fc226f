"""Logs: access log in Combined Log Format (escaped), error log format, --log-level."""

import datetime
import os
import re
import socket
import struct
import time

import pytest

from conftest import HELLO, connect, get, run_cli, static_args

CLF = re.compile(
    r'^(?P<host>\S+) (?P<ident>\S+) (?P<user>\S+) '
    r'\[(?P<time>\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] '
    r'"(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<bytes>\d+|-) '
    r'"(?P<referer>(?:[^"\\]|\\.)*)" "(?P<agent>(?:[^"\\]|\\.)*)"$')

ERRLOG = re.compile(r"^\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4}\] \[(\d+)\] "
                    r"\[(DEBUG|INFO|WARNING|ERROR|CRITICAL)\] ")


def read_access_log(path):
    with open(path, "rb") as f:
        data = f.read()
    assert data.endswith(b"\n") or data == b"", "access log does not end with a newline"
    bad = [b for b in data if (b < 0x20 and b != 0x0A) or b >= 0x7F]
    assert not bad, "raw control/non-ASCII bytes in the access log: %r" % bytes(bad[:20])
    lines = data.decode("ascii").splitlines()
    parsed = []
    for l in lines:
        m = CLF.match(l)
        assert m, "not Combined Log Format: %r" % l
        parsed.append(m)
    return parsed


def stop_ok(srv):
    rc, killed = srv.stop()
    assert rc == 0 and not killed, (rc, killed)


def test_access_log_combined_format(httpsd, site):
    s = httpsd(*static_args(site), "--access-logfile", "access.log",
               binds=["http://127.0.0.1:0", "127.0.0.1:0"])
    c = connect(s.http)
    r1 = c.request("GET", "/static/hello.txt",
                   headers=[("Referer", "http://ref.example/page"), ("User-Agent", "test-agent/1.0")])
    r2 = c.request("GET", "/static/missing.txt", headers=[("User-Agent", "agent two")])
    r3 = c.request("HEAD", "/static/hello.txt")
    c.close()
    c = connect(s.https)
    r4 = c.request("GET", "/static/sub?q=1")
    c.close()
    assert [r.status for r in (r1, r2, r3, r4)] == [200, 404, 200, 301]
    stop_ok(s)
    log = read_access_log(os.path.join(s.cwd, "access.log"))
    assert len(log) == 4, [m.group(0) for m in log]
    a, b, h, d = log
    assert a["host"] == "127.0.0.1"
    assert a["request"] == "GET /static/hello.txt HTTP/1.1"
    assert a["status"] == "200" and a["bytes"] == str(len(HELLO))
    assert a["referer"] == "http://ref.example/page"
    assert a["agent"] == "test-agent/1.0"
    assert b["request"] == "GET /static/missing.txt HTTP/1.1" and b["status"] == "404"
    assert b["referer"] == "-" and b["agent"] == "agent two"
    assert b["bytes"] == str(len(r2.body)) or (b["bytes"] == "-" and not r2.body)
    assert h["request"] == "HEAD /static/hello.txt HTTP/1.1" and h["status"] == "200"
    assert h["bytes"] in ("0", "-"), "HEAD sent no body: %r" % h["bytes"]
    assert d["request"] == "GET /static/sub?q=1 HTTP/1.1" and d["status"] == "301"
    # timestamps are now-ish
    for m in log:
        t = datetime.datetime.strptime(m["time"], "%d/%b/%Y:%H:%M:%S %z").timestamp()
        assert abs(t - time.time()) < 120, m["time"]


def test_access_log_to_stdout(httpsd, site):
    s = httpsd(*static_args(site), "--access-logfile", "-", binds=["http://127.0.0.1:0"])
    assert get(s.http, "/static/hello.txt").status == 200
    stop_ok(s)
    lines = [l for l in s.out_lines if l.strip()]
    assert len(lines) == 1, lines
    m = CLF.match(lines[0])
    assert m and m["request"] == "GET /static/hello.txt HTTP/1.1", lines
    assert not any(CLF.match(l) for l in s.lines), "access log line went to stderr"


def test_access_log_escapes_quotes_and_control_chars(httpsd, site):
    s = httpsd(*static_args(site), "--access-logfile", "access.log", binds=["http://127.0.0.1:0"])
    c = connect(s.http)
    r = c.request("GET", "/static/hello.txt",
                  headers=[("User-Agent", b'evil"agent\xe9'), ("Referer", b'r"ef')])
    assert r.status == 200
    c.close()
    # a quote in the request target (not a legal URI character, may be refused)
    c = connect(s.http)
    c.send(b'GET /static/q"x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    try:
        c.read_response()
    except Exception:
        pass
    c.close()
    # control characters in the request line: 400, and if logged, escaped
    c = connect(s.http)
    c.send(b"GET /static/\x01\x1b[31mred HTTP/1.1\r\nHost: x\r\n\r\n")
    try:
        c.read_response()
    except Exception:
        pass
    c.close()
    stop_ok(s)
    log = read_access_log(os.path.join(s.cwd, "access.log"))  # checks no raw control bytes
    assert log, "nothing logged"
    first = log[0]
    assert first["agent"] == "evil\\x22agent\\xe9", first.group(0)
    assert first["referer"] == "r\\x22ef", first.group(0)
    for m in log[1:]:
        if "/static/q" in m["request"]:
            assert "\\x22" in m["request"], m.group(0)
        if "red" in m["request"]:
            assert "\\x01" in m["request"] and "\\x1b" in m["request"], m.group(0)


def test_access_log_pipelined_all_logged(httpsd, site):
    s = httpsd(*static_args(site), "--access-logfile", "access.log", binds=["http://127.0.0.1:0"])
    c = connect(s.http)
    n = 30
    c.send(b"".join(b"GET /static/hello.txt?n=%d HTTP/1.1\r\nHost: x\r\n\r\n" % i for i in range(n)))
    for _ in range(n):
        assert c.read_response().status == 200
    c.close()
    stop_ok(s)
    log = read_access_log(os.path.join(s.cwd, "access.log"))
    assert [m["request"] for m in log] == ["GET /static/hello.txt?n=%d HTTP/1.1" % i for i in range(n)]


def test_access_log_multipart_bytes_complete_and_cut(httpsd, tmp_path):
    """A multipart/byteranges body is logged when it ends, with the bytes sent (its
    Content-Length); one whose client goes away mid-body is logged too, with what was given
    before the cut (less than the whole)."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "big.bin").write_bytes(os.urandom(8 << 20))
    s = httpsd("--static", "/static=%s" % root, "--access-logfile", "access.log",
               binds=["http://127.0.0.1:0"])
    rng = "bytes=0-99,1000000-4999999,5000000-8388607"
    c = connect(s.http)
    r = c.request("GET", "/static/big.bin", headers=[("Range", rng)])
    assert r.status == 206 and len(r.body) == int(r.header("Content-Length"))
    c.close()
    c = connect(s.http, rcvbuf=8192)
    c.send(b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\nRange: %s\r\n\r\n" % rng.encode())
    assert c.sock.recv(1000)
    time.sleep(0.3)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
    time.sleep(0.5)
    stop_ok(s)
    log = read_access_log(os.path.join(s.cwd, "access.log"))
    assert [m["status"] for m in log] == ["206", "206"], [m.group(0) for m in log]
    assert log[0]["bytes"] == str(len(r.body))
    assert 0 < int(log[1]["bytes"]) < len(r.body), log[1].group(0)


def test_bad_log_level_exit_2():
    p = run_cli(["-b", "http://127.0.0.1:0", "--log-level", "verbose"])
    assert p.returncode == 2, (p.returncode, p.stderr)


@pytest.mark.parametrize("level", ["debug", "info", "warning", "error", "critical"])
def test_log_levels_accepted(httpsd, site, level):
    s = httpsd(*static_args(site), "--log-level", level, binds=["http://127.0.0.1:0"],
               wait_listening=False)
    if level in ("debug", "info"):
        s.wait_listening(1)
        assert get(s.http, "/static/hello.txt").status == 200
    else:
        # the listening line is INFO; it may be filtered out: just check it runs
        time.sleep(0.5)
        s.assert_alive()


def test_error_log_format(httpsd, site):
    s = httpsd(*static_args(site), binds=["http://127.0.0.1:0", "127.0.0.1:0"])
    assert get(s.http, "/static/hello.txt").status == 200
    with open("/proc/%d/task/%d/children" % (s.pid, s.pid)) as f:
        workers = {int(x) for x in f.read().split()}
    assert len(workers) == 1
    stop_ok(s)
    lines = [l for l in s.lines if l.strip()]
    assert lines
    for l in lines:
        m = ERRLOG.match(l)
        assert m, "error log line not in [date] [pid] [LEVEL] format: %r" % l
        assert int(m.group(1)) in {s.pid} | workers, l  # the master's or its worker's


def test_error_log_connection_lines_start_with_id(httpsd, site):
    s = httpsd(*static_args(site), "--log-level", "debug", binds=["http://127.0.0.1:0"])
    c = connect(s.http)
    c.send(b"GARBAGE\r\n\r\n")
    c.read_response()
    c.close()
    assert get(s.http, "/static/hello.txt").status == 200
    stop_ok(s)
    conn_lines = [l for l in s.lines if re.search(r"\] #\d+", l)]
    assert conn_lines, "no connection (#id) lines at debug level:\n" + s.stderr


def test_error_logfile(httpsd, site, tmp_path):
    path = tmp_path / "error.log"
    s = httpsd(*static_args(site), "--error-logfile", str(path), binds=["http://127.0.0.1:0"],
               wait_listening=False)
    # the listening line goes to stderr or to the file
    deadline = time.monotonic() + 10
    url = None
    while time.monotonic() < deadline and url is None:
        text = s.stderr + "\n" + (path.read_text(errors="replace") if path.exists() else "")
        m = re.search(r"listening on (\S+)", text)
        if m:
            url = m.group(1)
        else:
            time.sleep(0.1)
    assert url, "no listening line in stderr or the error log file"
    from conftest import Listener
    assert get(Listener(url), "/static/hello.txt").status == 200
    stop_ok(s)
    content = path.read_text()
    assert content.strip(), "error log file is empty"
    for l in content.splitlines():
        if l.strip():
            assert ERRLOG.match(l), l


# -- flood control (issue 14): repeated lines collapse into one a second with a count ----------

SUPPRESSED = re.compile(r"\[(WARNING|INFO|ERROR)\] (\d+) similar messages? suppressed in the last "
                        r"(\d+\.\d) s: (.*)$")


def test_503_flood_collapses_with_exact_counts(httpsd, tmp_path):
    """Every app thread busy and no queue: each request is a 503 and a warning. Hundreds of them
    make a handful of lines, and the count lines add up to every 503 sent."""
    from concurrent.futures import ThreadPoolExecutor

    from conftest import build_request
    from wsgihelp import start, wait_marker

    markers = tmp_path / "markers"
    markers.mkdir()
    srv = start(httpsd, "wsgi_basic:app", "--max-queue", "0", threads=1, marker_dir=markers)
    slow = connect(srv, timeout=30)
    slow.send(build_request("GET", "/sleep?s=4&started=busy"))
    assert wait_marker(markers, "busy", timeout=10), "the slow request never reached the app"
    start_lines = len(srv.lines)
    stop = time.monotonic() + 2.0
    statuses = []

    def flood(i):
        n = []
        while time.monotonic() < stop:
            n.append(get(srv, "/flood/%d/%d" % (i, len(n)), timeout=10).status)
        return n

    with ThreadPoolExecutor(16) as ex:
        for n in ex.map(flood, range(16)):
            statuses += n
    n503 = statuses.count(503)
    assert n503 >= 200, "only %d 503s (statuses %r)" % (n503, set(statuses))
    assert slow.read_response(timeout=30).status == 200
    slow.close()
    stop_ok(srv)  # the last window's count line is written at exit
    lines = srv.lines[start_lines:]
    busy = [l for l in lines if "every app thread is busy" in l]
    written = [l for l in busy if not SUPPRESSED.search(l)]
    counted = [SUPPRESSED.search(l) for l in busy if SUPPRESSED.search(l)]
    assert counted, "no 'suppressed' count line:\n" + "\n".join(lines)
    assert len(written) + sum(int(m.group(2)) for m in counted) == n503, \
        "%d 503s, but %d lines + counts %r:\n%s" % (n503, len(written), [m.group(2) for m in counted],
                                                    "\n".join(lines))
    # about two lines a second (one written, one count) for the ~2 s of flood, not one per 503
    assert len(busy) <= 8, "\n".join(busy)
    assert len(lines) <= 16, "%d error-log lines for %d 503s:\n%s" % (len(lines), n503,
                                                                      "\n".join(lines))
    for m in counted:
        assert m.group(1) == "WARNING"
        assert re.match(r"#\d+ every app thread is busy and 0 requests wait: 503 for /flood/",
                        m.group(4)), m.group(0)
        assert 0 < float(m.group(3)) < 5
    for l in lines:
        assert ERRLOG.match(l), l


def test_flood_control_does_not_hold_back_app_output(httpsd):
    """What the app writes to wsgi.errors is the app's log (Flask's logger writes there): every
    line is kept, however many, as the app's own stderr would keep them."""
    from wsgihelp import start

    srv = start(httpsd, "wsgi_basic:app", threads=2)
    tokens = [os.urandom(4).hex() for _ in range(30)]
    for t in tokens:
        assert get(srv, "/errors?token=" + t).status == 200
    stop_ok(srv)
    text = srv.stderr
    for t in tokens:
        for what in ("write", "writelines-a", "writelines-b"):
            assert "wsgi-errors-%s-%s" % (what, t) in text, (what, t)
    assert "suppressed" not in text, text
