"""Workers under a supervising master (issue 11): -w N, SO_REUSEPORT spreading, supervision
(crash, backoff, wedged loop), HUP zero-downtime reload (new app code, new certificate, a bad
certificate kept out), TERM/QUIT, TTIN/TTOU, --max-requests recycling, startup failures.

Load comes from httpsd-load (the real client); "0 failed requests" means no read, write,
timeout or malformed error: refused connects after the server stopped are not requests."""

import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import BIN, connect, get, run_cli
from wsgihelp import APPS, env_of, server_env, start

LOAD = os.environ.get("HTTPSD_LOAD_BIN") or os.path.join(os.path.dirname(BIN), "httpsd-load")


def children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return sorted(int(x) for x in f.read().split())
    except FileNotFoundError:
        return []


def wait_for(pred, timeout=10, step=0.05):
    """pred() until it is true; an exception counts as false until the deadline (a request
    that meets a worker being killed fails, the next one must not)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            v = pred()
        except (OSError, AssertionError, Exception):  # noqa: B014 - any failure: try again
            v = None
        if v:
            return v
        time.sleep(step)
    return pred()


class Load:
    """httpsd-load in the background; .result() waits and returns its JSON."""

    def __init__(self, url, seconds, conns=50, extra=()):
        self.p = subprocess.Popen([LOAD, "-q", "-k", "-p", "1", "-c", str(conns), "-d",
                                   "%gs" % seconds, "--timeout", "5s", "--json"] + list(extra) +
                                  [url], stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def result(self, timeout=60):
        out, err = self.p.communicate(timeout=timeout)
        assert out, err
        return json.loads(out)


def failed(rep):
    e = rep["errors"]
    return e["read"] + e["write"] + e["timeout"] + e["malformed"] + e["tls"]


def url(srv, path="/env", scheme="http"):
    return "%s://%s%s" % (scheme, srv.listener(scheme).hostport, path)


def pids_answering(lst, n=200, conns=50):
    """Which worker answered each of n requests spread over conns connections."""
    counts = {}
    socks = [connect(lst, timeout=10) for _ in range(conns)]
    try:
        for i in range(n):
            c = socks[i % conns]
            c.send(b"GET /counter HTTP/1.1\r\nHost: x\r\n\r\n")
            pid = json.loads(c.read_response().body)["pid"]
            counts[pid] = counts.get(pid, 0) + 1
    finally:
        for c in socks:
            c.close()
    return counts


# ---------------------------------------------------------------------------

def test_two_workers_share_the_connections(httpsd):
    srv = start(httpsd, "wsgi_basic:app", "-w", "2")
    kids = children(srv.pid)
    assert len(kids) == 2, kids
    counts = pids_answering(srv.listener("http"), n=400, conns=100)
    assert set(counts) == set(kids), (counts, kids)
    assert min(counts.values()) >= 0.3 * 400, counts  # SO_REUSEPORT spreads them


def test_workers_auto_is_one_per_cpu(httpsd):
    srv = start(httpsd, "wsgi_basic:app", "-w", "auto")
    assert len(children(srv.pid)) == len(os.sched_getaffinity(0))


def test_killed_worker_is_replaced_and_only_its_connections_fail(httpsd):
    srv = start(httpsd, "wsgi_basic:app", "-w", "2")
    kids = children(srv.pid)
    load = Load(url(srv), 4, conns=50)
    time.sleep(1)
    os.kill(kids[0], signal.SIGKILL)
    t0 = time.monotonic()
    new = wait_for(lambda: (lambda k: k if len(k) == 2 and kids[0] not in k else None)(
        children(srv.pid)), timeout=5)
    assert new and time.monotonic() - t0 < 2, (kids, children(srv.pid))
    rep = load.result()
    assert failed(rep) <= 50, rep  # at most the connections the dead worker held
    assert rep["requests"] > 100, rep
    assert srv.wait_log(r"worker %d killed by SIGKILL" % kids[0])
    assert env_of(srv.listener("http"))["REQUEST_METHOD"] == "GET"


def test_repeated_crashes_back_off(httpsd, tmp_path):
    """A worker that dies on a request is replaced at once; when replacements keep dying the
    master waits 1 s, then 2 s... instead of forking in a loop."""
    srv = start(httpsd, "wsgi_basic:app", "-w", "1")
    lst = srv.listener("http")
    for i in range(3):
        wait_for(lambda: len(children(srv.pid)) == 1 and get(lst, "/env").status == 200,
                 timeout=10)
        try:
            get(lst, "/exit", timeout=5)
        except Exception:
            pass
    assert srv.wait_log(r"replacing it now")
    assert srv.wait_log(r"replacing it in 1 s \(it keeps dying\)", timeout=5)
    assert wait_for(lambda: len(children(srv.pid)) == 1, timeout=10)
    assert wait_for(lambda: get(lst, "/env").status == 200, timeout=10)


def test_wedged_event_loop_is_killed_after_worker_timeout(httpsd):
    """--threads 0 runs the app on the loop: a request that sleeps wedges the loop, the
    heartbeat stops, and the master replaces the worker after --worker-timeout."""
    srv = start(httpsd, "wsgi_basic:app", "-w", "1", "--worker-timeout", "1", threads=0)
    kids = children(srv.pid)
    s = socket.create_connection(srv.listener("http").sockaddr)
    s.sendall(b"GET /sleep?s=30 HTTP/1.1\r\nHost: x\r\n\r\n")
    assert srv.wait_log(r"worker %d has not answered for" % kids[0], timeout=5)
    assert wait_for(lambda: children(srv.pid) and children(srv.pid) != kids, timeout=5)
    s.close()
    assert wait_for(lambda: get(srv.listener("http"), "/env").status == 200, timeout=10)


APP_V = """
VERSION = %d
def application(environ, start_response):
    body = b"version %%d" %% VERSION
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
"""


def test_hup_reloads_new_code_without_failing_a_request(httpsd, tmp_path):
    appdir = tmp_path / "app"
    appdir.mkdir()
    (appdir / "versioned.py").write_text(APP_V % 1)
    srv = start(httpsd, "versioned:application", "-w", "2", pythonpath=str(appdir))
    lst = srv.listener("http")
    assert get(lst, "/").body == b"version 1"
    old = children(srv.pid)
    load = Load(url(srv, "/"), 5, conns=50)
    time.sleep(1)
    (appdir / "versioned.py").write_text(APP_V % 2)
    os.kill(srv.pid, signal.SIGHUP)
    assert srv.wait_log(r"generation 1 ready", timeout=10)
    rep = load.result()
    assert failed(rep) == 0 and rep["errors"]["connect"] == 0, rep
    assert rep["requests"] > 100, rep
    assert get(lst, "/").body == b"version 2"
    assert wait_for(lambda: not set(old) & set(children(srv.pid)), timeout=10)
    assert len(children(srv.pid)) == 2


def cert_fingerprint(lst):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(lst.sockaddr) as s:
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            return t.getpeercert(binary_form=True)


def test_hup_reloads_the_certificate_and_keeps_the_old_on_a_bad_one(httpsd, tmp_path):
    srv = start(httpsd, "wsgi_basic:app", "-w", "1", binds=("127.0.0.1:0",))
    lst = srv.listener("https")
    first = cert_fingerprint(lst)
    cwd = srv.cwd
    # a new (generated) certificate: remove the files, HUP makes new ones
    os.rename(os.path.join(cwd, "cert.pem"), os.path.join(cwd, "old-cert.pem"))
    os.rename(os.path.join(cwd, "key.pem"), os.path.join(cwd, "old-key.pem"))
    os.kill(srv.pid, signal.SIGHUP)
    assert srv.wait_log(r"generation 1 ready", timeout=10)
    second = cert_fingerprint(lst)
    assert second != first
    # a corrupt certificate: logged, the one in use stays
    with open(os.path.join(cwd, "cert.pem"), "w") as f:
        f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    os.kill(srv.pid, signal.SIGHUP)
    assert srv.wait_log(r"keeping the certificate in use", timeout=10)
    assert srv.wait_log(r"generation 2 ready", timeout=10)
    assert cert_fingerprint(lst) == second


def test_hup_with_a_broken_app_keeps_the_old_workers(httpsd, tmp_path):
    appdir = tmp_path / "app"
    appdir.mkdir()
    (appdir / "versioned.py").write_text(APP_V % 1)
    srv = start(httpsd, "versioned:application", "-w", "2", pythonpath=str(appdir))
    old = children(srv.pid)
    (appdir / "versioned.py").write_text("raise ImportError('broken on purpose')\n")
    os.kill(srv.pid, signal.SIGHUP)
    assert srv.wait_log(r"reload abandoned, the old workers go on", timeout=10)
    time.sleep(0.5)
    assert children(srv.pid) == old
    assert get(srv.listener("http"), "/").body == b"version 1"


def test_term_under_load_fails_no_request(httpsd):
    srv = start(httpsd, "wsgi_basic:app", "-w", "2")
    load = Load(url(srv), 3, conns=50)
    time.sleep(1.2)
    os.kill(srv.pid, signal.SIGTERM)
    assert srv.wait(timeout=15) == 0
    rep = load.result()
    assert failed(rep) == 0, rep  # refused connects after the stop are not failed requests
    assert rep["requests"] > 100, rep


def test_quit_stops_at_once(httpsd):
    srv = start(httpsd, "wsgi_basic:app", "-w", "2")
    kids = children(srv.pid)
    s = socket.create_connection(srv.listener("http").sockaddr)
    s.sendall(b"GET /sleep?s=20 HTTP/1.1\r\nHost: x\r\n\r\n")
    time.sleep(0.3)
    t0 = time.monotonic()
    os.kill(srv.pid, signal.SIGQUIT)
    assert srv.wait(timeout=10) == 0
    assert time.monotonic() - t0 < 5
    assert not any(os.path.exists("/proc/%d" % k) for k in kids)
    s.close()


def test_ttin_ttou_change_the_number_of_workers(httpsd):
    srv = start(httpsd, "wsgi_basic:app", "-w", "1")
    os.kill(srv.pid, signal.SIGTTIN)
    assert wait_for(lambda: len(children(srv.pid)) == 2, timeout=10)
    os.kill(srv.pid, signal.SIGTTIN)
    assert wait_for(lambda: len(children(srv.pid)) == 3, timeout=10)
    wait_for(lambda: srv.wait_log(r"SIGTTIN .*: 3 workers"), timeout=5)
    load = Load(url(srv), 3, conns=30)
    time.sleep(1)
    os.kill(srv.pid, signal.SIGTTOU)
    assert wait_for(lambda: len(children(srv.pid)) == 2, timeout=10)
    rep = load.result()
    assert failed(rep) == 0, rep
    os.kill(srv.pid, signal.SIGTTOU)
    os.kill(srv.pid, signal.SIGTTOU)  # never below one
    assert wait_for(lambda: len(children(srv.pid)) == 1, timeout=10)
    time.sleep(0.5)
    assert len(children(srv.pid)) == 1
    assert get(srv.listener("http"), "/env").status == 200


def test_max_requests_recycles_workers_without_failing_a_request(httpsd):
    srv = start(httpsd, "wsgi_basic:app", "-w", "2", "--max-requests", "300",
                "--max-requests-jitter", "100")
    first = children(srv.pid)
    rep = Load(url(srv), 3, conns=50).result()
    assert failed(rep) == 0 and rep["errors"]["connect"] == 0, rep
    assert rep["requests"] > 100, rep  # (ASan builds on a busy machine are slow)
    assert srv.wait_log(r"is recycling \(--max-requests\)")
    assert wait_for(lambda: len(children(srv.pid)) == 2, timeout=10)
    assert not set(first) & set(children(srv.pid))


def test_import_error_fails_the_start_without_respawning(tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('broken on purpose')\n")
    t0 = time.monotonic()
    p = run_cli(["-w", "2", "-b", "http://127.0.0.1:0", "--pythonpath", str(tmp_path),
                 "broken:app"], timeout=30, env=server_env())
    assert p.returncode == 1, p.stderr
    assert "broken on purpose" in p.stderr
    assert "cannot start" in p.stderr
    assert p.stderr.count("worker") < 12  # no respawn loop
    assert time.monotonic() - t0 < 20


def test_port_in_use_is_refused_by_a_second_master(httpsd):
    srv = start(httpsd, "wsgi_basic:app", "-w", "2")
    port = srv.listener("http").port
    p = run_cli(["-w", "2", "-b", "http://127.0.0.1:%d" % port], timeout=15)
    assert p.returncode == 1 and "in use" in p.stderr, p.stderr


def test_usr1_reaches_the_workers(httpsd, tmp_path):
    log = tmp_path / "access.log"
    srv = start(httpsd, "wsgi_basic:app", "-w", "2", "--access-logfile", str(log))
    assert get(srv.listener("http"), "/env").status == 200
    wait_for(lambda: log.exists() and log.read_text().count("\n") >= 1, timeout=5)
    os.rename(str(log), str(tmp_path / "access.log.1"))
    os.kill(srv.pid, signal.SIGUSR1)
    wait_for(lambda: srv.wait_log(r"log files reopened"), timeout=5)
    time.sleep(0.3)
    for _ in range(20):
        assert get(srv.listener("http"), "/env").status == 200
    assert wait_for(lambda: log.exists() and log.read_text().count("\n") == 20, timeout=5)


def test_unix_socket_shared_by_workers(httpsd, short_tmp):
    path = os.path.join(short_tmp, "w.sock")
    srv = start(httpsd, "wsgi_basic:app", "-w", "2", binds=("unix:" + path,))
    for _ in range(10):
        assert get(srv.listener("unix"), "/env").status == 200
    os.kill(srv.pid, signal.SIGHUP)
    assert srv.wait_log(r"generation 1 ready", timeout=10)
    assert get(srv.listener("unix"), "/env").status == 200
    assert os.path.exists(path)


def test_pid_file_written_and_removed(httpsd, tmp_path):
    pidfile = tmp_path / "httpsd.pid"
    srv = start(httpsd, "wsgi_basic:app", "-w", "2", "--pid", str(pidfile))
    assert pidfile.read_text() == "%d\n" % srv.pid
    srv.send_signal(signal.SIGTERM)
    assert srv.wait(timeout=15) == 0
    assert not pidfile.exists()


def test_pid_file_single_process(httpsd, tmp_path):
    pidfile = tmp_path / "httpsd.pid"
    srv = start(httpsd, "wsgi_basic:app", "-w", "0", "--pid", str(pidfile))
    assert pidfile.read_text() == "%d\n" % srv.pid
    srv.send_signal(signal.SIGTERM)
    assert srv.wait(timeout=15) == 0
    assert not pidfile.exists()


def test_umask_applies_to_the_files_httpsd_makes(httpsd, short_tmp):
    path = os.path.join(short_tmp, "u.sock")
    srv = start(httpsd, "wsgi_basic:app", "--umask", "077", binds=("unix:" + path,))
    assert os.stat(path).st_mode & 0o077 == 0, oct(os.stat(path).st_mode)
    assert get(srv.listener("unix"), "/env").status == 200


def uid_of(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("Uid:"):
                return int(line.split()[1])


@pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs a root start")
def test_user_nobody_workers_still_serve_tls_with_a_root_only_key(httpsd, tmp_path):
    import pwd
    nobody = pwd.getpwnam("nobody").pw_uid
    srv = start(httpsd, "wsgi_basic:app", "-w", "2", "--user", "nobody",
                binds=("127.0.0.1:0",))
    key = os.path.join(srv.cwd, "key.pem")
    assert os.stat(key).st_uid == 0 and os.stat(key).st_mode & 0o077 == 0  # root-only
    assert uid_of(srv.pid) == 0
    kids = children(srv.pid)
    assert kids and all(uid_of(k) == nobody for k in kids), [(k, uid_of(k)) for k in kids]
    assert env_of(srv.listener("https"), "/env")["REQUEST_METHOD"] == "GET"
    os.kill(srv.pid, signal.SIGHUP)  # the master, still root, reads the key again
    assert srv.wait_log(r"generation 1 ready", timeout=15)
    assert env_of(srv.listener("https"), "/env")["REQUEST_METHOD"] == "GET"


def test_unknown_user_fails_the_start():
    p = run_cli(["-w", "1", "-b", "http://127.0.0.1:0", "--user", "no-such-user-here"],
                timeout=15)
    assert p.returncode == 1 and "no such user" in p.stderr, p.stderr


# ---------------------------------------------------------------------------
# systemd: socket activation and Type=notify, without systemd (the test plays its part)
# ---------------------------------------------------------------------------

def listening_socket(family=socket.AF_INET, addr=("127.0.0.1", 0)):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(addr)
    s.listen(128)
    return s


def activated(httpsd, socks, *args, **kw):
    """Start httpsd as systemd would: the sockets at descriptors 3, 4, ... and LISTEN_PID /
    LISTEN_FDS naming the httpsd process (a shell moves them and execs it)."""
    moves = " ".join("%d<&%d" % (3 + i, s.fileno()) for i, s in enumerate(socks))
    wrapper = ["bash", "-c", 'exec %s; export LISTEN_PID=$$ LISTEN_FDS=%d; exec "$@"'
               % (moves, len(socks)), "sh"]
    return start(httpsd, "wsgi_basic:app", *args, prefix=wrapper,
                 pass_fds=tuple(s.fileno() for s in socks), **kw)


def test_socket_activation_takes_the_inherited_sockets(httpsd):
    plain, tls = listening_socket(), listening_socket()
    p1, p2 = plain.getsockname()[1], tls.getsockname()[1]
    srv = activated(httpsd, [plain, tls], "-w", "2",
                    binds=("http://127.0.0.1:%d" % p1, "https://127.0.0.1:%d" % p2))
    plain.close()  # httpsd holds them now
    tls.close()
    assert {l.url for l in srv.listeners} == {"http://127.0.0.1:%d" % p1,
                                               "https://127.0.0.1:%d" % p2}
    assert env_of(srv.listener("http"))["wsgi.url_scheme"] == "http"
    assert env_of(srv.listener("https"))["wsgi.url_scheme"] == "https"
    assert "LISTEN_PID" not in env_of(srv.listener("http"), "/env")  # not for the app
    os.kill(srv.pid, signal.SIGHUP)  # the next generation gets them too
    assert srv.wait_log(r"generation 1 ready", timeout=15)
    for _ in range(10):
        assert get(srv.listener("http"), "/env").status == 200


def test_socket_activation_with_no_bind_for_it_fails(httpsd):
    s = listening_socket()
    srv = activated(httpsd, [s], "-w", "1", binds=("http://127.0.0.1:1",),
                    wait_listening=False)
    srv.expected_exit = 1
    assert srv.wait(timeout=15) == 1
    assert "no --bind names" in srv.stderr
    s.close()


def test_notify_socket_ready_reloading_stopping(httpsd, short_tmp):
    path = os.path.join(short_tmp, "notify")
    n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    n.bind(path)
    n.settimeout(20)
    srv = start(httpsd, "wsgi_basic:app", "-w", "2", env=server_env(NOTIFY_SOCKET=path))
    msg = n.recv(4096).decode()
    assert "READY=1" in msg and "MAINPID=%d" % srv.pid in msg, msg
    assert "NOTIFY_SOCKET" not in env_of(srv.listener("http"))
    os.kill(srv.pid, signal.SIGHUP)
    msg = n.recv(4096).decode()
    assert msg.startswith("RELOADING=1\nMONOTONIC_USEC="), msg
    assert "READY=1" in n.recv(4096).decode()
    os.kill(srv.pid, signal.SIGTERM)
    assert n.recv(4096).decode() == "STOPPING=1"
    assert srv.wait(timeout=15) == 0
    n.close()


def test_preload_imports_once_in_the_master(httpsd):
    srv = start(httpsd, "wsgi_basic:app", "-w", "2", "--preload")
    info = json.loads(get(srv.listener("http"), "/info").body)
    assert info["import_pid"] == srv.pid and info["pid"] in children(srv.pid), info
    load = Load(url(srv), 2, conns=20)
    time.sleep(0.5)
    os.kill(srv.pid, signal.SIGHUP)  # new workers forked from the same import
    assert srv.wait_log(r"generation 1 ready", timeout=15)
    rep = load.result()
    assert failed(rep) == 0, rep
    info = json.loads(get(srv.listener("http"), "/info").body)
    assert info["import_pid"] == srv.pid


def test_preload_import_error_fails_the_start(tmp_path):
    (tmp_path / "broken.py").write_text("raise RuntimeError('broken on purpose')\n")
    p = run_cli(["-w", "2", "--preload", "-b", "http://127.0.0.1:0", "--pythonpath",
                 str(tmp_path), "broken:app"], timeout=30, env=server_env())
    assert p.returncode == 1, p.stderr
    assert "broken on purpose" in p.stderr and "worker" not in p.stderr, p.stderr


# ---------------------------------------------------------------------------
# --stats
# ---------------------------------------------------------------------------

def stats_get(path_or_port, what="/"):
    if isinstance(path_or_port, int):
        s = socket.create_connection(("127.0.0.1", path_or_port), timeout=5)
    else:
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(path_or_port)
    s.sendall(b"GET " + what.encode() + b" HTTP/1.1\r\nHost: stats\r\n\r\n")
    data = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        data += d
    s.close()
    head, body = data.split(b"\r\n\r\n", 1)
    return head.decode(), body.decode()


def test_stats_match_the_access_log(httpsd, tmp_path, short_tmp):
    log = tmp_path / "access.log"
    sock = os.path.join(short_tmp, "stats.sock")
    srv = start(httpsd, "wsgi_basic:app", "-w", "2", "--stats", "unix:" + sock,
                "--access-logfile", str(log), binds=("http://127.0.0.1:0", "127.0.0.1:0"))
    rep = Load(url(srv), 2, conns=20).result()
    rep2 = Load(url(srv, "/status?s=404%20Not%20Found", "https"), 1, conns=4,
                extra=["--tls-resume", "--no-keepalive"]).result()
    assert failed(rep) == 0 and failed(rep2) == 0
    time.sleep(1.5)  # the workers publish once a second
    head, body = stats_get(sock)
    assert head.startswith("HTTP/1.1 200") and "application/json" in head
    st = json.loads(body)
    logged = sum(1 for _ in open(str(log)))
    assert st["requests"]["total"] == logged == rep["requests"] + rep2["requests"], (
        st["requests"], logged, rep["requests"], rep2["requests"], rep["status"], rep2["status"])
    assert st["requests"]["2xx"] == rep["requests"] and st["requests"]["4xx"] == rep2["requests"]
    assert len(st["workers"]) == 2 and sum(w["requests"] for w in st["workers"]) == logged
    hs = st["tls_handshakes"]
    assert hs["full"] + hs["resumed"] == rep2["requests"] and hs["resumed"] > 0, hs
    assert st["bytes"]["in"] > 0 and st["bytes"]["out"] >= rep["bytes_read"]
    assert st["app"]["threads"] == 8
    head, metrics = stats_get(sock, "/metrics")
    assert 'httpsd_requests_total{class="2xx"} %d' % rep["requests"] in metrics, metrics
    assert "httpsd_workers 2" in metrics
    # a worker's counts survive it (retired totals), and its replacement is counted
    victim = children(srv.pid)[0]

    def replaced():
        ws = json.loads(stats_get(sock)[1])["workers"]
        return len(ws) == 2 and all(w["ready"] for w in ws) and victim not in [
            w["pid"] for w in ws]
    os.kill(victim, signal.SIGKILL)
    assert wait_for(replaced, timeout=10)
    st2 = json.loads(stats_get(sock)[1])
    assert st2["requests"]["total"] == logged
    assert sum(w["restarts"] for w in st2["workers"]) == 1
    assert stats_get(sock, "/other")[0].startswith("HTTP/1.1 404")


def test_stats_only_on_loopback_or_unix():
    p = run_cli(["-w", "1", "-b", "http://127.0.0.1:0", "--stats", "0.0.0.0:9100"], timeout=15)
    assert p.returncode in (1, 2) and "stats" in p.stderr, p.stderr
    p = run_cli(["-w", "1", "-b", "http://127.0.0.1:0", "--stats", "192.0.2.1:9100"], timeout=15)
    assert p.returncode == 1 and "loopback" in p.stderr or "cannot listen" in p.stderr, p.stderr
