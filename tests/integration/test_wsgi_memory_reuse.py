"""Memory the server frees is reused, not handed back to the kernel and faulted in again per
request: 100 KiB responses and 1 MiB uploads on a few keep-alive connections cost (almost) no
page faults once warm. glibc's default thresholds gave 10-20 minor faults per 100 KiB response
and half the throughput for the first seconds of load; a 1 MiB mmap threshold gave 300 per
1 MiB upload (src/main.c, tune_malloc)."""

import json
import os
import subprocess
import threading

import pytest

from conftest import BIN, connect
from wsgihelp import HTTP, chunk_bytes, start


def sanitized():
    """AddressSanitizer replaces malloc (mallopt is a no-op there): nothing to measure."""
    with open(BIN, "rb") as f:
        return b"__asan_init" in f.read()


pytestmark = pytest.mark.skipif(sanitized(), reason="the sanitizer build has its own allocator")


def minor_faults(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[7])  # field 10 of stat(5), counted after "pid (comm)"


def fault_rate(srv, path, body, expect, conns, each):
    """Minor faults per request of path (a POST of body when given; the answer must be expect),
    after a warm-up."""
    target = srv.listener("http")

    def client(n, errors):
        try:
            with connect(target) as c:
                for _ in range(n):
                    r = c.request("POST" if body else "GET", path, body=body)
                    assert r.status == 200 and r.body == expect, (r.status, len(r.body))
        except Exception as e:  # reported by the test thread
            errors.append(e)

    def run(n):
        errors = []
        ts = [threading.Thread(target=client, args=(n, errors)) for _ in range(conns)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        assert not errors, errors[:3]

    run(max(2, each // 2))  # warm: buffers, Python, the allocator's arenas
    before = minor_faults(srv.worker_pid)
    run(each)
    rate = (minor_faults(srv.worker_pid) - before) / (conns * each)
    print("%s: %.2f minor faults per request" % (path, rate))
    return rate


def test_big_responses_do_not_fault_memory_back_in(httpsd):
    srv = start(httpsd, "wsgi_basic:app", binds=(HTTP,))
    size = 100 * 1024
    per = fault_rate(srv, "/stream?n=1&size=%d&cl=1" % size, b"", chunk_bytes(0, size), 8, 50)
    # 100 KiB is 25 pages: a buffer faulted back in once per response would show >= 25
    assert per < 3, "%.1f minor page faults per 100 KiB response" % per


@pytest.mark.parametrize("buffering", ["buffered", "streamed"])
def test_big_uploads_do_not_fault_memory_back_in(httpsd, buffering):
    args = ["--no-request-buffering"] if buffering == "streamed" else []
    srv = start(httpsd, "wsgi_basic:app", *args, binds=(HTTP,))
    # 1 MiB, buffered by the loop or streamed into the app (read whole with
    # read(CONTENT_LENGTH)), and echoed back
    body = os.urandom(1 << 20)
    per = fault_rate(srv, "/echo-raw", body, body, 4, 10)
    # 1 MiB is 256 pages: one buffer mapped and faulted in per request would show >= 256
    assert per < 64, "%.1f minor page faults per 1 MiB upload + echo" % per


def test_many_concurrent_uploads_do_not_fault_memory_back_in(httpsd, tmp_path):
    """16 connections uploading 1 MiB as fast as httpsd-load can: responses waiting for their
    client keep their buffers while the app threads go on, so more memory is free at times.
    With growing body buffers and a 16 MiB trim threshold each app thread's heap shrank and grew
    again ~15 times a second: ~130 faults per request, a third of the throughput."""
    load = os.environ.get("HTTPSD_LOAD_BIN") or os.path.join(os.path.dirname(BIN), "httpsd-load")
    srv = start(httpsd, "wsgi_basic:app", binds=(HTTP,))
    body = tmp_path / "body"
    body.write_bytes(os.urandom(1 << 20))
    url = srv.listener("http").url.rstrip("/") + "/echo-raw"

    def run(seconds):
        p = subprocess.run([load, "-q", "-p", "1", "-c", "16", "-d", "%ss" % seconds, "-m", "POST",
                            "--body-file", str(body), "--json", url], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stderr
        out = json.loads(p.stdout)
        assert out["errors_total"] == 0 and out["requests"] > 0, out
        return out["requests"]

    run(1)  # warm
    before = minor_faults(srv.worker_pid)
    n = run(3)
    per = (minor_faults(srv.worker_pid) - before) / n
    print("%d requests, %.2f minor faults per request" % (n, per))
    # 256 pages per MiB; measured: ~4 (the 16 MiB threshold: ~22, the growing buffers: ~130)
    assert per < 12, "%.1f minor page faults per 1 MiB upload + echo" % per
