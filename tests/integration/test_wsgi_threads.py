"""App threads: concurrency, queue limit (503), app timeout (504), close() on disconnects and
timeouts, backpressure (bounded RSS), big uploads, graceful shutdown with requests in flight."""

import hashlib
import json
import os
import signal
import socket
import threading
import time

import pytest

from conftest import build_request, connect, get, read_all_until_close
from wsgihelp import (HTTP, HTTPS, assert_app_serving, linger_rst, log_mark, markers,  # noqa: F401
                      new_log, read_marker, start, stream_body, vmrss_kib, wait_marker,
                      wait_new_log)


def timed_get(target, path, results, i, timeout=30):
    t0 = time.monotonic()
    try:
        r = get(target, path, timeout=timeout)
        results[i] = (r.status, r.body, time.monotonic() - t0)
    except Exception as e:  # recorded, asserted by the caller
        results[i] = ("error", repr(e), time.monotonic() - t0)


def parallel(target, paths, timeout=30):
    results = [None] * len(paths)
    ts = [threading.Thread(target=timed_get, args=(target, p, results, i, timeout))
          for i, p in enumerate(paths)]
    t0 = time.monotonic()
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout + 5)
    return results, time.monotonic() - t0


def test_eight_threads_concurrent(httpsd):
    srv = start(httpsd, "wsgi_basic:app", threads=8)
    get(srv, "/warmup")
    results, elapsed = parallel(srv, ["/sleep?s=0.5"] * 8)
    assert all(r[0] == 200 for r in results), results
    assert elapsed < 2.0, "8 x 0.5 s sleeps took %.2f s with --threads 8" % elapsed
    names = {r[1].split(b" on ")[1] for r in results}
    assert len(names) >= 4, "requests ran on only %r" % names


def test_threads_one_serializes(httpsd):
    """Control for the test above: with one app thread the sleeps add up."""
    srv = start(httpsd, "wsgi_basic:app", threads=1)
    results, elapsed = parallel(srv, ["/sleep?s=0.3"] * 4)
    assert all(r[0] == 200 for r in results), results
    assert elapsed >= 1.1, "4 x 0.3 s sleeps on one thread took only %.2f s" % elapsed


def assert_fast_beside(srv, busy, what):
    """While busy's request runs, a fast one is answered within 1.5 s; then busy's is too."""
    t0 = time.monotonic()
    r = get(srv, "/fast")
    dt = time.monotonic() - t0
    assert r.status == 200 and r.body == b"app: GET /fast"
    assert dt < 1.5, "a fast request waited %.2f s behind a %s one" % (dt, what)
    r = busy.read_response(timeout=30)
    assert r.status == 200
    busy.close()


def test_slow_request_does_not_stall_fast_one(httpsd, markers):
    srv = start(httpsd, "wsgi_basic:app", marker_dir=markers)  # default threads
    slow = connect(srv, timeout=30)
    slow.send(build_request("GET", "/sleep?s=3&started=slow1"))
    assert wait_marker(markers, "slow1", timeout=10)
    assert_fast_beside(srv, slow, "slow")


def _cpu_intervals(srv, n, ms):
    """n requests for ms of computing (holding the GIL), sent at once on n connections: each
    one's (start, end) in the app."""
    conns = [connect(srv, timeout=30) for _ in range(n)]
    for c in conns:
        c.send(build_request("GET", "/cpu?ms=%d" % ms))
    out = []
    for c in conns:
        r = c.read_response(timeout=30)
        assert r.status == 200, r
        out.append(tuple(map(float, r.body.split())))
        c.close()
    return sorted(out)


def test_cpu_bound_requests_run_one_after_another(httpsd):
    """Fair order: with app threads, CPU-bound requests are not cut into GIL turns that
    interleave (each would then wait out the others' turns: p99 twice --threads 0's); a thread
    runs them back to back in arrival order. 4 threads gave 9-22 overlapping pairs of 12
    requests before, 0 after."""
    srv = start(httpsd, "wsgi_basic:app", threads=4)
    get(srv, "/warmup")
    worst = 0
    for _ in range(3):
        iv = _cpu_intervals(srv, 12, 5)
        overlaps = sum(1 for i in range(len(iv)) for j in range(i + 1, len(iv))
                       if iv[j][0] < iv[i][1])
        worst = max(worst, overlaps)
    assert worst <= 2, "CPU-bound requests interleaved: %d overlapping pairs" % worst
    assert_app_serving(srv)


def test_long_cpu_bound_request_does_not_hold_up_others(httpsd, markers):
    """...but a request that computes for long lets another thread in (LONG_REQUEST_MS), so
    short ones are answered while it runs, as the GIL's turns allow."""
    srv = start(httpsd, "wsgi_basic:app", marker_dir=markers)  # default threads
    long = connect(srv, timeout=30)
    long.send(build_request("GET", "/cpu?ms=3000"))
    time.sleep(0.2)
    assert_fast_beside(srv, long, "computing")


def test_static_not_stalled_by_busy_app_threads(httpsd, site, markers):
    srv = start(httpsd, "wsgi_basic:app", "--static", "/static=%s" % site.root, threads=1,
                marker_dir=markers)
    slow = connect(srv, timeout=30)
    slow.send(build_request("GET", "/sleep?s=2&started=slow2"))
    assert wait_marker(markers, "slow2", timeout=10)
    t0 = time.monotonic()
    r = get(srv, "/static/hello.txt")
    assert r.status == 200 and time.monotonic() - t0 < 1.0
    assert slow.read_response(timeout=30).status == 200
    slow.close()


def test_queue_full_503(httpsd, markers):
    srv = start(httpsd, "wsgi_basic:app", "--max-queue", "1", threads=1, marker_dir=markers)
    a = connect(srv, timeout=30)
    a.send(build_request("GET", "/sleep?s=2&started=a503"))
    assert wait_marker(markers, "a503", timeout=10), "first request never reached the app"
    b = connect(srv, timeout=30)
    b.send(build_request("GET", "/record?name=b503"))
    c = connect(srv, timeout=30)
    c.send(build_request("GET", "/record?name=c503"))
    # one of b/c fills the single queue slot, the other gets 503 right away
    first = None
    t0 = time.monotonic()
    rb = rc = None
    while time.monotonic() - t0 < 10 and first is None:
        for conn, which in ((b, "b"), (c, "c")):
            conn.sock.settimeout(0.05)
            try:
                if conn._recv(timeout=0.05):
                    first = which
                    break
            except (socket.timeout, TimeoutError):
                pass
    assert first is not None, "no 503 while the app thread was busy and the queue full"
    fast = b if first == "b" else c
    fast.timeout = 10
    r503 = fast.read_response()
    elapsed = time.monotonic() - t0
    assert r503.status == 503, r503
    assert r503.header("Retry-After") is not None and r503.header("Retry-After").isdigit(), r503.headers
    assert elapsed < 1.5, "503 took %.2f s (it must not wait for the busy thread)" % elapsed
    other = c if fast is b else b
    ra = a.read_response(timeout=30)
    ro = other.read_response(timeout=30)
    assert ra.status == 200 and ro.status == 200 and ro.body == b"recorded"
    rejected = "b503" if fast is b else "c503"
    assert read_marker(markers, rejected) is None, "the app ran a request that got 503"
    for x in (a, b, c):
        x.close()
    assert_app_serving(srv)


def test_timeout_504(httpsd, markers):
    srv = start(httpsd, "wsgi_basic:app", "--timeout", "1", marker_dir=markers)
    mark = log_mark(srv)
    with connect(srv, timeout=30) as c:
        t0 = time.monotonic()
        c.send(build_request("GET", "/sleep?s=4&started=t504") + build_request("GET", "/never"))
        r = c.read_response(timeout=30)
        dt = time.monotonic() - t0
        assert r.status == 504, r
        assert 0.9 <= dt < 3.0, "504 after %.2f s with --timeout 1" % dt
        assert c.closed_within(5), "connection not closed after 504"
        assert b"never" not in c.buf
    assert wait_new_log(srv, mark, r"(?i)timeout.*/sleep|/sleep.*timeout", timeout=5), \
        "504 not logged with 'timeout' and the path:\n" + new_log(srv, mark)
    assert_app_serving(srv)


def test_timeout_504_after_start_response_without_body(httpsd, markers):
    """start_response called but no body bytes within --timeout: still 504 (headers not sent),
    and close() of the iterable is called once the app gets its thread back."""
    srv = start(httpsd, "wsgi_basic:app", "--timeout", "1", marker_dir=markers)
    with connect(srv, timeout=30) as c:
        r = c.request("GET", "/sleep-after-start?s=2.5&name=t504c", timeout=30)
        assert r.status == 504, r
    assert wait_marker(markers, "t504c", timeout=15) == ["closed"]
    time.sleep(0.3)
    assert read_marker(markers, "t504c") == ["closed"], "close() called more than once"
    assert_app_serving(srv)


def test_timeout_does_not_cut_streaming_response(httpsd):
    """--timeout is about starting the response, not its total duration."""
    srv = start(httpsd, "wsgi_basic:app", "--timeout", "1")
    r = get(srv, "/close?n=6&size=10&delay=0.35", timeout=30)
    assert r.status == 200 and len(r.body) == 60


def test_timeout_zero_is_off(httpsd):
    srv = start(httpsd, "wsgi_basic:app", "--timeout", "0")
    r = get(srv, "/sleep?s=1.5", timeout=30)
    assert r.status == 200


def test_close_called_on_normal_end(httpsd, markers):
    srv = start(httpsd, "wsgi_basic:app", marker_dir=markers)
    with connect(srv) as c:
        r = c.request("GET", "/close?name=ne&n=3&size=10")
        assert r.body == stream_body(3, 10)
        assert c.request("GET", "/x").status == 200
    assert wait_marker(markers, "ne", timeout=5) == ["closed"]


@pytest.mark.parametrize("threads", [4, 0])
def test_close_called_on_client_disconnect_midstream(httpsd, markers, threads):
    srv = start(httpsd, "wsgi_basic:app", threads=threads, marker_dir=markers)
    mark = log_mark(srv)
    c = connect(srv, timeout=10)
    # an endless-ish stream: 100000 x 64 KiB
    c.send(build_request("GET", "/close?name=dc&n=100000&size=65536"))
    got = 0
    while got < 256 * 1024:
        d = c.sock.recv(65536)
        assert d
        got += len(d)
    linger_rst(c.sock)
    c.close()
    assert wait_marker(markers, "dc", timeout=15) == ["closed"], \
        "close() not called after the client went away\n" + new_log(srv, mark)
    time.sleep(0.2)
    assert read_marker(markers, "dc") == ["closed"]
    assert_app_serving(srv)


def test_close_called_on_disconnect_with_slow_generator(httpsd, markers):
    srv = start(httpsd, "wsgi_basic:app", marker_dir=markers)
    c = connect(srv, timeout=10)
    c.send(build_request("GET", "/close?name=dcs&n=1000&size=100&delay=0.05"))
    assert c.sock.recv(100)
    c.close()
    assert wait_marker(markers, "dcs", timeout=15) == ["closed"]
    assert_app_serving(srv)


def test_close_called_when_client_leaves_before_app_returns(httpsd, markers):
    srv = start(httpsd, "wsgi_basic:app", marker_dir=markers)
    c = connect(srv, timeout=10)
    c.send(build_request("GET", "/close?name=early&n=2&size=10&first_delay=1"))
    c.close()
    assert wait_marker(markers, "early", timeout=15) == ["closed"]
    assert_app_serving(srv)


def test_backpressure_bounded_rss(httpsd, markers):
    srv = start(httpsd, "wsgi_basic:app", marker_dir=markers)
    get(srv, "/big?mb=2", timeout=30)  # warm up: interpreter, buffers
    base = vmrss_kib(srv.worker_pid)
    total = 200 * 1024 * 1024
    c = connect(srv, timeout=120, rcvbuf=64 * 1024)
    c.send(build_request("GET", "/big?mb=200&marker=bp"))
    # stall: a slow reader; an unbounded server would buffer the whole 200 MiB meanwhile
    peak = base
    t_end = time.monotonic() + 1.5
    while time.monotonic() < t_end:
        peak = max(peak, vmrss_kib(srv.worker_pid))
        time.sleep(0.1)
    stalled_peak = peak
    state = {"n": 0, "len": 0, "peak": peak}
    block = bytes(range(256)) * 4096

    def sink(data):
        # check content cheaply: the stream is the 1 MiB block repeated, so byte k == k % 256
        if state["n"] % 64 == 0 and data:
            off = state["len"] % 256
            assert data[:256] == (block[off:] + block[:off])[:min(256, len(data))]
        state["len"] += len(data)
        state["n"] += 1
        if state["n"] % 200 == 0:
            state["peak"] = max(state["peak"], vmrss_kib(srv.worker_pid))
        if state["n"] < 200:
            time.sleep(0.001)  # slow at first, then as fast as possible

    r = c.read_response(timeout=120, body_sink=sink)
    c.close()
    assert r.status == 200
    assert stalled_peak - base < 100 * 1024, \
        "RSS grew %.0f MiB while the client was not reading" % ((stalled_peak - base) / 1024)
    growth_mib = (state["peak"] - base) / 1024
    assert growth_mib < 100, "RSS grew %.0f MiB while streaming 200 MiB" % growth_mib
    assert state["len"] == total, "got %d of %d bytes" % (state["len"], total)
    assert wait_marker(markers, "bp", timeout=15) == ["closed"]


def test_upload_50mib_hash(httpsd):
    srv = start(httpsd, "wsgi_basic:app")
    block = os.urandom(1024 * 1024)
    h = hashlib.sha256()
    size = 50 * 1024 * 1024
    c = connect(srv, timeout=120)
    c.send(build_request("POST", "/hash?bs=262144", headers=[("Content-Length", size)]))
    for i in range(50):
        chunk = i.to_bytes(4, "big") + block[4:]
        h.update(chunk)
        c.send(chunk)
    r = c.read_response(timeout=120)
    c.close()
    assert r.status == 200, r
    out = json.loads(r.body)
    assert out["len"] == size
    assert out["sha256"] == h.hexdigest()


def test_upload_50mib_rss_bounded(httpsd):
    """The server streams the body to the app instead of buffering 50 MiB first (threads>0)."""
    srv = start(httpsd, "wsgi_basic:app")
    get(srv, "/warm")
    base = vmrss_kib(srv.worker_pid)
    c = connect(srv, timeout=120)
    size = 50 * 1024 * 1024
    c.send(build_request("POST", "/hash?bs=65536", headers=[("Content-Length", size)]))
    block = b"u" * (1024 * 1024)
    peak = base
    for i in range(50):
        c.send(block)
        if i % 5 == 0:
            peak = max(peak, vmrss_kib(srv.worker_pid))
    r = c.read_response(timeout=120)
    c.close()
    assert json.loads(r.body)["len"] == size
    assert (peak - base) < 40 * 1024, "RSS grew %d MiB during a 50 MiB upload" % ((peak - base) // 1024)


def test_sigterm_waits_for_inflight_app_request(httpsd, markers):
    srv = start(httpsd, "wsgi_basic:app", marker_dir=markers)
    c = connect(srv, timeout=30)
    c.send(build_request("GET", "/sleep?s=1&started=gr"))
    assert wait_marker(markers, "gr", timeout=10)
    srv.send_signal(signal.SIGTERM)
    r = c.read_response(timeout=30)
    assert r.status == 200 and r.body.startswith(b"slept 1")
    c.close()
    assert srv.wait(20) == 0


def test_sigint_clean_exit(httpsd):
    """The embedded interpreter must not turn SIGINT into a KeyboardInterrupt crash."""
    srv = start(httpsd, "wsgi_basic:app")
    assert get(srv, "/x").status == 200
    srv.send_signal(signal.SIGINT)
    assert srv.wait(20) == 0
    assert "Traceback" not in srv.stderr


def test_threads0_all_basic_paths(httpsd, markers):
    srv = start(httpsd, "wsgi_basic:app", threads=0, marker_dir=markers)
    rs = [get(srv, p) for p in ("/x", "/stream?n=3&size=4", "/write?parts=1", "/list?n=1")]
    assert [r.status for r in rs] == [200] * 4
    assert rs[0].body == b"app: GET /x"
    assert rs[2].body == b"part0;tail;"
    assert get(srv, "/raise?where=before").status == 500
    assert_app_serving(srv)


def test_many_concurrent_connections(httpsd):
    srv = start(httpsd, "wsgi_basic:app", threads=4)
    results, elapsed = parallel(srv, ["/stream?n=20&size=1000"] * 32, timeout=60)
    assert all(r[0] == 200 and r[1] == stream_body(20, 1000) for r in results), \
        [r[0] for r in results]


def test_pipelined_slow_then_fast_stay_in_order(httpsd):
    srv = start(httpsd, "wsgi_basic:app", threads=4)
    with connect(srv, timeout=30) as c:
        c.send(build_request("GET", "/sleep?s=0.4") + build_request("GET", "/fast1") +
               build_request("GET", "/sleep?s=0.1") + build_request("GET", "/fast2"))
        bodies = [c.read_response(timeout=30).body for _ in range(4)]
    assert bodies[0].startswith(b"slept 0.4")
    assert bodies[1] == b"app: GET /fast1"
    assert bodies[2].startswith(b"slept 0.1")
    assert bodies[3] == b"app: GET /fast2"


def test_client_gone_while_app_blocks_in_read_frees_thread(httpsd):
    """The app waits in wsgi.input.read() for a body that never comes; the client disconnects.
    The app thread must be released (read fails or returns), not held until --io-timeout."""
    srv = start(httpsd, "wsgi_basic:app", "--io-timeout", "60", threads=1)
    c = connect(srv, timeout=10)
    c.send(build_request("POST", "/hash?bs=65536", headers=[("Content-Length", 1000000)]) + b"x" * 10)
    time.sleep(0.3)  # let the app thread start blocking in read()
    linger_rst(c.sock)
    c.close()
    t0 = time.monotonic()
    r = get(srv, "/after-gone", timeout=30)
    dt = time.monotonic() - t0
    assert r.status == 200 and r.body == b"app: GET /after-gone"
    assert dt < 5, "the only app thread stayed blocked %.1f s after the client left" % dt


def test_sigterm_with_app_stuck_respects_graceful_timeout(httpsd, markers):
    """An app thread sleeping 30 s cannot hold the shutdown past --graceful-timeout."""
    srv = start(httpsd, "wsgi_basic:app", "--graceful-timeout", "1", marker_dir=markers)
    c = connect(srv, timeout=30)
    c.send(build_request("GET", "/sleep?s=30&started=stuck"))
    assert wait_marker(markers, "stuck", timeout=10)
    t0 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    rc = srv.wait(20)
    dt = time.monotonic() - t0
    c.close()
    assert rc is not None, "httpsd still running 20 s after SIGTERM with a stuck app thread"
    assert dt < 6, "exit took %.1f s with --graceful-timeout 1" % dt
    assert rc == 0, rc


def test_sigterm_during_endless_stream(httpsd, markers):
    srv = start(httpsd, "wsgi_basic:app", "--graceful-timeout", "1", marker_dir=markers)
    c = connect(srv, timeout=30, rcvbuf=16384)
    c.send(build_request("GET", "/close?name=endless&n=10000000&size=65536"))
    assert c.sock.recv(1000)
    t0 = time.monotonic()
    srv.send_signal(signal.SIGTERM)
    rc = srv.wait(20)
    dt = time.monotonic() - t0
    c.close()
    assert rc == 0 and dt < 6, (rc, dt)
    assert read_marker(markers, "endless") == ["closed"], "close() not called on shutdown"


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_no_fd_leak_with_file_wrapper_and_aborts(httpsd, markers, tmp_path):
    data = os.urandom(4 * 1024 * 1024)
    path = tmp_path / "fw.bin"
    path.write_bytes(data)
    srv = start(httpsd, "wsgi_basic:app", marker_dir=markers)
    get(srv, "/file?path=%s&offset=%d" % (path, len(data) - 10))
    base = fd_count(srv.worker_pid)
    for i in range(20):
        c = connect(srv, timeout=10, rcvbuf=8192)
        c.send(build_request("GET", "/file?path=%s&marker=fd%d" % (path, i)))
        if i % 2:
            r = c.read_response(timeout=30)
            assert r.body == data
        else:
            assert c.sock.recv(100)
            linger_rst(c.sock)
        c.close()
    for i in range(20):
        assert wait_marker(markers, "fd%d" % i, timeout=10) == ["closed"], "file %d never closed" % i
    deadline = time.monotonic() + 5
    while fd_count(srv.worker_pid) > base + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert fd_count(srv.worker_pid) <= base + 2, "fds: %d before, %d after" % (base, fd_count(srv.worker_pid))


@pytest.mark.parametrize("threads", [4, 0])
def test_no_memory_growth_over_many_requests(httpsd, threads):
    """Leaked environ dicts / bodies / response objects show up as RSS growth."""
    srv = start(httpsd, "wsgi_basic:app", threads=threads)
    body = os.urandom(16 * 1024)
    hdrs = [("X-Pad", "p" * 4000)]
    req = build_request("POST", "/echo?mode=read", headers=hdrs, body=body)

    def burst(n):
        with connect(srv, timeout=30) as c:
            for k in range(0, n, 50):
                c.send(req * 50)
                for _ in range(50):
                    r = c.read_response(timeout=30)
                    assert r.status == 200
    burst(300)
    base = vmrss_kib(srv.worker_pid)
    burst(3000)
    growth = (vmrss_kib(srv.worker_pid) - base) / 1024
    assert growth < 25, "RSS grew %.1f MiB over 3000 requests (leak?)" % growth


def test_chunked_upload_50mib_streamed_not_buffered(httpsd):
    """A chunked upload is handed to the app as it arrives (bounded RSS, correct hash)."""
    srv = start(httpsd, "wsgi_basic:app")
    get(srv, "/warm")
    base = vmrss_kib(srv.worker_pid)
    c = connect(srv, timeout=120)
    c.send(build_request("POST", "/hash?bs=65536", headers=[("Transfer-Encoding", "chunked")]))
    block = os.urandom(1024 * 1024)
    h = hashlib.sha256()
    peak = base
    for i in range(50):
        h.update(block)
        c.send(b"%x\r\n%s\r\n" % (len(block), block))
        if i % 5 == 0:
            peak = max(peak, vmrss_kib(srv.worker_pid))
    c.send(b"0\r\n\r\n")
    r = c.read_response(timeout=120)
    c.close()
    out = json.loads(r.body)
    assert out["len"] == 50 * 1024 * 1024 and out["sha256"] == h.hexdigest()
    assert (peak - base) < 40 * 1024, "RSS grew %d MiB during a 50 MiB chunked upload" % ((peak - base) // 1024)
