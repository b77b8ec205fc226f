"""Scale-out behind HAProxy (issue 12): Debian's haproxy on loopback balances round-robin over
two httpsd instances (each -w 2), health-checked with GET /healthz.

1. TCP mode: httpsd terminates TLS; HAProxy sends a PROXY v2 header (send-proxy-v2, its health
   checks too). 2. HTTP mode: HAProxy terminates TLS and passes X-Forwarded-For and
   X-Forwarded-Proto to plain httpsd listeners.

HAProxy connects to the backends from 127.0.0.3 and the load client from 127.0.0.1, so an
access log line with 127.0.0.1 shows that the client's address came through. Under
httpsd-load -c 50 for 20 s: instance A is drained with TERM (--drain-delay 2), B is reloaded
with HUP, A is started again; no request may fail and both instances must get traffic.

The config is the one docs/DEPLOYMENT.md shows (kept in HAPROXY_TCP / HAPROXY_HTTP below)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import time

import pytest

from conftest import START_TIMEOUT
from wsgihelp import start
from test_workers import Load, failed, wait_for

HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
pytestmark = pytest.mark.skipif(not os.access(HAPROXY, os.X_OK),
                                reason="haproxy is not installed (apt-get install haproxy)")

HAPROXY_TCP = """\
global
    maxconn 4096
defaults
    mode tcp
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    retries 3
    option redispatch
frontend www
    bind 127.0.0.1:{front}
    default_backend httpsd
backend httpsd
    balance roundrobin
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host backend
    http-check expect status 200
    default-server check inter 200ms fall 1 rise 2 check-ssl verify none check-send-proxy send-proxy-v2 source 127.0.0.3
    server a 127.0.0.1:{a}
    server b 127.0.0.1:{b}
"""

HAPROXY_HTTP = """\
global
    maxconn 4096
defaults
    mode http
    timeout connect 2s
    timeout client 30s
    timeout server 30s
    timeout http-keep-alive 30s
    retries 3
    option redispatch
    option http-server-close
frontend www
    bind 127.0.0.1:{front} ssl crt {pem}
    option forwardfor
    http-request set-header X-Forwarded-Proto https
    default_backend httpsd
backend httpsd
    balance roundrobin
    option httpchk
    http-check send meth GET uri /healthz ver HTTP/1.1 hdr Host backend
    http-check expect status 200
    default-server check inter 200ms fall 1 rise 2 source 127.0.0.3
    server a 127.0.0.1:{a}
    server b 127.0.0.1:{b}
"""


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Haproxy:
    def __init__(self, conf_text, workdir):
        self.conf = os.path.join(workdir, "haproxy.cfg")
        with open(self.conf, "w") as f:
            f.write(conf_text)
        check = subprocess.run([HAPROXY, "-c", "-f", self.conf], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        self.log = open(os.path.join(workdir, "haproxy.log"), "w+")
        self.p = subprocess.Popen([HAPROXY, "-db", "-f", self.conf], stdout=self.log,
                                  stderr=subprocess.STDOUT)

    def stop(self):
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        self.log.close()


def instance(httpsd, port, scheme, cert, workdir, name):
    """One httpsd -w 2 behind HAProxy: TLS with PROXY v2, or plain with forwarded headers."""
    bind = "proxy+https://127.0.0.1:%d" % port if scheme == "tcp" else "http://127.0.0.1:%d" % port
    log = os.path.join(workdir, "access-%s.log" % name)
    args = ["-w", "2", "--health", "/healthz", "--drain-delay", "2",
            "--proxy-allow-from", "127.0.0.3", "--forwarded-allow-ips", "127.0.0.3",
            "--access-logfile", log]
    if scheme == "tcp":
        args += ["--certfile", cert[0], "--keyfile", cert[1]]
    return start(httpsd, "wsgi_basic:app", *args, binds=(bind,)), log


def up(haproxy_url, tls):
    """A request through HAProxy answered by some backend."""
    import http.client
    import ssl
    host, port = haproxy_url.split("//")[1].split("/")[0].split(":")
    if tls:
        c = http.client.HTTPSConnection(host, int(port), timeout=5,
                                        context=ssl._create_unverified_context())
    else:
        c = http.client.HTTPConnection(host, int(port), timeout=5)
    c.request("GET", "/env")
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status == 200 and body


def hits(log_path):
    try:
        with open(log_path) as f:
            lines = [l for l in f if '"GET /env' in l]
    except FileNotFoundError:
        return 0, set()
    return len(lines), {l.split()[0] for l in lines}


@pytest.mark.parametrize("mode", ["tcp", "http"])
def test_scale_out_behind_haproxy(httpsd, tmp_path, mode):
    workdir = str(tmp_path)
    key, crt = os.path.join(workdir, "key.pem"), os.path.join(workdir, "cert.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt, "-days", "2",
                    "-subj", "/CN=localhost"], check=True, capture_output=True)
    pem = os.path.join(workdir, "haproxy.pem")
    with open(pem, "w") as f:
        f.write(open(crt).read() + open(key).read())
    pa, pb, front = free_port(), free_port(), free_port()
    a, log_a = instance(httpsd, pa, mode, (crt, key), workdir, "a")
    b, log_b = instance(httpsd, pb, mode, (crt, key), workdir, "b")
    conf = (HAPROXY_TCP if mode == "tcp" else HAPROXY_HTTP).format(front=front, a=pa, b=pb,
                                                                   pem=pem)
    hap = Haproxy(conf, workdir)
    url = "https://127.0.0.1:%d/env" % front
    try:
        assert wait_for(lambda: up(url, True), timeout=10), open(hap.log.name).read()
        time.sleep(0.8)  # both servers up (rise 2 x 200 ms)
        load = Load(url, 20, conns=50)
        time.sleep(3)
        # 1. drain A: health says 503 at once, HAProxy takes it out, then it stops
        os.kill(a.pid, signal.SIGTERM)
        assert a.wait(timeout=30) == 0
        time.sleep(2)
        # 2. reload B (new workers, the old ones drain)
        os.kill(b.pid, signal.SIGHUP)
        assert wait_for(lambda: b.wait_log(r"generation 1") and True, timeout=START_TIMEOUT)
        time.sleep(2)
        # 3. bring A back on its port
        a2, log_a2 = instance(httpsd, pa, mode, (crt, key), workdir, "a2")
        time.sleep(1)  # rise 2 x 200 ms
        # the load's keep-alive connections stay where they are (TCP mode); new ones are
        # balanced over both again
        for _ in range(20):
            assert up(url, True)
        rep = load.result(timeout=60)
        # the app saw the client and the scheme
        e = json.loads(up(url, True))
    finally:
        hap.stop()
    assert failed(rep) == 0, json.dumps(rep["errors"]) + json.dumps(rep.get("timeline"))
    assert rep["errors_total"] == 0, rep
    assert rep["requests"] > 1000, rep
    n_a, peers_a = hits(log_a)
    n_b, peers_b = hits(log_b)
    n_a2, peers_a2 = hits(log_a2)
    assert n_a > 100 and n_b > 100 and n_a2 >= 5, (n_a, n_b, n_a2)
    # the load client's address (127.0.0.1), never HAProxy's (127.0.0.3)
    assert peers_a | peers_b | peers_a2 == {"127.0.0.1"}, (peers_a, peers_b, peers_a2)
    assert e["REMOTE_ADDR"] == "127.0.0.1" and e["wsgi.url_scheme"] == "https", e


def test_deployment_doc_shows_the_tested_configs():
    """docs/DEPLOYMENT.md quotes HAPROXY_TCP and HAPROXY_HTTP verbatim: keep them so."""
    doc = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "DEPLOYMENT.md")
    with open(doc) as f:
        text = f.read()
    blocks = [b.split("\n", 1)[1] for b in text.split("```haproxy")[1:]]
    blocks = [b[:b.index("```")] for b in blocks]
    for conf in (HAPROXY_TCP, HAPROXY_HTTP):
        assert conf in blocks, "docs/DEPLOYMENT.md no longer shows this tested config:\n" + conf
