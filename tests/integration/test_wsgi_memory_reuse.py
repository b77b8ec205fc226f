"""Memory the server frees is reused, not handed back to the kernel and faulted in again per
response: 100 KiB WSGI responses on a few keep-alive connections cost (almost) no page faults
once warm. glibc's default thresholds gave 10-20 minor faults per such response and half the
throughput for the first seconds of load (src/main.c, tune_malloc)."""

import threading

import pytest

from conftest import BIN, connect
from wsgihelp import HTTP, start


def sanitized():
    """AddressSanitizer replaces malloc (mallopt is a no-op there): nothing to measure."""
    with open(BIN, "rb") as f:
        return b"__asan_init" in f.read()

SIZE = 100 * 1024
PATH = "/stream?n=1&size=%d&cl=1" % SIZE


def minor_faults(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[7])  # field 10 of stat(5), counted after "pid (comm)"


def hammer(target, n, errors):
    try:
        with connect(target) as c:
            for _ in range(n):
                r = c.request("GET", PATH)
                assert r.status == 200 and len(r.body) == SIZE, (r.status, len(r.body))
    except Exception as e:  # reported by the test thread
        errors.append(e)


def run_clients(target, conns, each):
    errors = []
    ts = [threading.Thread(target=hammer, args=(target, each, errors)) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(60)
    assert not errors, errors[:3]


@pytest.mark.skipif(sanitized(), reason="the sanitizer build has its own allocator")
def test_big_responses_do_not_fault_memory_back_in(httpsd):
    srv = start(httpsd, "wsgi_basic:app", binds=(HTTP,))
    target = srv.listener("http")
    run_clients(target, 8, 25)  # warm: buffers, Python, the allocator's arenas
    before = minor_faults(srv.pid)
    conns, each = 8, 50
    run_clients(target, conns, each)
    per_response = (minor_faults(srv.pid) - before) / (conns * each)
    # 100 KiB is 25 pages: a buffer faulted back in once per response would show >= 25
    assert per_response < 3, "%.1f minor page faults per 100 KiB response" % per_response
