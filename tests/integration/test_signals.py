"""Signals: none may kill the server silently (issue 14, item 5) — in the single process of
-w 0 (the master's handling of HUP/TTIN/TTOU/TERM/QUIT/USR1 is in test_workers.py).

TERM/INT graceful stop (see test_robustness), QUIT immediate stop with exit code 0, USR1 reopens
the log files, HUP/TTIN/TTOU (reload and worker count: need worker processes) and every other
terminating signal: one log line naming the signal and its sender, and the server goes on
serving, requests in flight included. App threads never receive any of them.
"""

import os
import re
import signal
import threading
import time

import pytest

from conftest import HELLO, Listener, build_request, connect, get, static_args
from wsgihelp import (HTTP, assert_app_serving, log_mark, markers, new_log, start,  # noqa: F401
                      wait_marker, wait_new_log)

# signal → what its log line must say besides "SIG<NAME> (from pid <test pid>)"
IGNORED = {
    "SIGHUP": r"reloading and changing the number of workers need the master.*ignored",
    "SIGUSR2": r"no meaning for httpsd: ignored",
    "SIGALRM": r"no meaning for httpsd: ignored",
    "SIGTTIN": r"need the master \(-w 1 or more\); this is -w 0: ignored",
    "SIGTTOU": r"need the master \(-w 1 or more\); this is -w 0: ignored",
}
# signals with no meaning whose default action would end the process
OTHER_TERMINATING = ["SIGIO", "SIGPWR", "SIGSTKFLT", "SIGVTALRM", "SIGPROF"]


def sig_line(name, rest):
    return r"\[WARNING\] %s \(from pid %d\): .*%s" % (name, os.getpid(), rest)


def slow_request(srv, markers, name, seconds):
    """A request that is inside the app (its start marker written) when this returns."""
    c = connect(srv, timeout=30)
    c.send(build_request("GET", "/sleep?s=%s&started=%s" % (seconds, name)))
    assert wait_marker(markers, name, timeout=10), "the slow request never reached the app"
    return c


@pytest.mark.parametrize("name", sorted(IGNORED))
def test_ignored_signal_logged_and_request_in_flight_completes(httpsd, site, markers, name):
    srv = start(httpsd, "wsgi_basic:app", "-w", "0", *static_args(site), threads=2, marker_dir=markers)
    c = slow_request(srv, markers, "slow-" + name, 1.5)
    mark = log_mark(srv)
    srv.send_signal(getattr(signal, name))
    assert wait_new_log(srv, mark, sig_line(name, IGNORED[name]), timeout=5), \
        "no log line for %s:\n%s" % (name, new_log(srv, mark))
    r = c.read_response(timeout=30)
    assert r.status == 200, "the request in flight at %s: %r" % (name, r)
    c.close()
    assert_app_serving(srv)
    assert get(srv, "/static/hello.txt").body == HELLO
    srv.send_signal(getattr(signal, name))  # a second one is no different
    time.sleep(0.2)
    assert_app_serving(srv)


def test_other_terminating_signals_ignored(httpsd, site):
    """Signals without a meaning are ignored too; sent together, their lines collapse (one
    call site) into one line plus a count line."""
    srv = httpsd("-w", "0", *static_args(site), binds=[HTTP])
    mark = log_mark(srv)
    for name in OTHER_TERMINATING:
        srv.send_signal(getattr(signal, name))
    first = wait_new_log(srv, mark, r"\[WARNING\] (SIG[A-Z]+) \(from pid %d\): it has no meaning "
                         r"for httpsd: ignored" % os.getpid(), timeout=5)
    # glibc names signal 29 SIGPOLL (= SIGIO on Linux): seen when SIGIO arrives first alone
    assert first and first.group(1) in OTHER_TERMINATING + ["SIGPOLL"], new_log(srv, mark)
    count = wait_new_log(srv, mark, r"(\d+) similar messages? suppressed in the last [\d.]+ s: "
                         r"SIG[A-Z]+ \(from pid", timeout=5)
    assert count and int(count.group(1)) == len(OTHER_TERMINATING) - 1, new_log(srv, mark)
    assert get(srv, "/static/hello.txt").body == HELLO
    srv.assert_alive()


def test_signal_storm_under_load(httpsd, site, markers):
    """Signals arriving while requests flow: every response is right, and the log stays short
    (the lines of one signal collapse into one a second)."""
    srv = start(httpsd, "wsgi_basic:app", "-w", "0", *static_args(site), threads=2, marker_dir=markers)
    mark = log_mark(srv)
    stop = time.monotonic() + 1.5
    bad = []
    done = [0]

    def client(path, expect):
        while time.monotonic() < stop:
            try:
                r = get(srv, path, timeout=10)
                if r.status != 200 or r.body != expect:
                    bad.append((path, r.status, r.body[:80]))
                done[0] += 1
            except Exception as e:  # noqa: BLE001 - recorded, asserted below
                bad.append((path, repr(e)))

    ts = [threading.Thread(target=client, args=a) for a in
          [("/static/hello.txt", HELLO), ("/storm", b"app: GET /storm")] * 2]
    for t in ts:
        t.start()
    sent = 0
    while time.monotonic() < stop:
        for s in (signal.SIGHUP, signal.SIGUSR2, signal.SIGALRM, signal.SIGTTIN, signal.SIGTTOU):
            srv.send_signal(s)
            sent += 1
        time.sleep(0.005)
    for t in ts:
        t.join(15)
    assert not bad, bad[:5]
    assert done[0] > 20, done[0]
    srv.assert_alive()
    assert_app_serving(srv)
    lines = new_log(srv, mark).splitlines()
    assert len(lines) < 5 * 2 * 4 + 5, "%d signals made %d log lines:\n%s" % (
        sent, len(lines), "\n".join(lines))


def test_app_threads_block_every_handled_signal(httpsd, markers):
    """Only the loop's signalfd takes these signals: every thread has them blocked."""
    srv = start(httpsd, "wsgi_basic:app", "-w", "0", threads=3, marker_dir=markers)
    handled = [getattr(signal, n) for n in list(IGNORED) + OTHER_TERMINATING +
               ["SIGTERM", "SIGINT", "SIGQUIT", "SIGUSR1"]]
    tasks = os.listdir("/proc/%d/task" % srv.pid)
    assert len(tasks) >= 4, tasks  # the loop thread and three app threads
    for tid in tasks:
        with open("/proc/%d/task/%s/status" % (srv.pid, tid)) as f:
            blk = int(re.search(r"^SigBlk:\s*([0-9a-f]+)", f.read(), re.M).group(1), 16)
        missing = [signal.Signals(s).name for s in handled if not blk & (1 << (s - 1))]
        assert not missing, "thread %s does not block %s" % (tid, missing)
    assert_app_serving(srv)


def test_sigquit_stops_at_once(httpsd, site, markers):
    srv = start(httpsd, "wsgi_basic:app", "-w", "0", *static_args(site), threads=2, marker_dir=markers)
    c = slow_request(srv, markers, "quit", 20)
    idle = connect(srv)
    assert idle.request("GET", "/static/hello.txt").status == 200
    t0 = time.monotonic()
    srv.send_signal(signal.SIGQUIT)
    rc = srv.wait(10)
    took = time.monotonic() - t0
    assert rc == 0, "exit code %r after SIGQUIT" % rc
    assert took < 1.5, "SIGQUIT took %.2f s (it must not drain or wait for the app)" % took
    assert c.closed_within(2), "the request in flight was not cut"
    assert idle.closed_within(2)
    srv.stop()  # collect the last lines
    log = srv.stderr
    assert re.search(r"\[INFO\] SIGQUIT \(from pid %d\): stopping now, without draining 2 "
                     r"connections" % os.getpid(), log), log
    assert re.search(r"\[INFO\] stopped \(SIGQUIT\)", log), log
    assert "draining" not in log.replace("without draining", "")


def test_sigquit_static_only(httpsd, site):
    srv = httpsd("-w", "0", *static_args(site), binds=[HTTP])
    assert get(srv, "/static/hello.txt").status == 200
    t0 = time.monotonic()
    srv.send_signal(signal.SIGQUIT)
    assert srv.wait(5) == 0
    assert time.monotonic() - t0 < 1.5
    srv.stop()
    assert "SIGQUIT (from pid" in srv.stderr and "stopped (SIGQUIT)" in srv.stderr, srv.stderr


def test_sigquit_while_draining_stops_at_once(httpsd, markers):
    srv = start(httpsd, "wsgi_basic:app", "-w", "0", "--graceful-timeout", "30", threads=2,
                marker_dir=markers)
    c = slow_request(srv, markers, "drainquit", 20)
    srv.send_signal(signal.SIGTERM)
    assert srv.wait_log(r"SIGTERM: shutting down: draining 1 connections", timeout=5), srv.stderr
    time.sleep(0.2)
    assert srv.alive(), "SIGTERM must wait for the request in flight"
    t0 = time.monotonic()
    srv.send_signal(signal.SIGQUIT)
    assert srv.wait(10) == 0
    assert time.monotonic() - t0 < 1.5
    c.close()


def read(path):
    with open(path, errors="replace") as f:
        return f.read()


def start_logged(httpsd, elog, *args):
    """A static-only server whose error log is the file elog (its listening line is there)."""
    srv = httpsd("-w", "0", "--error-logfile", str(elog), *args, binds=[HTTP], wait_listening=False)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        m = re.search(r"listening on (\S+)", read(elog) if os.path.exists(elog) else "")
        if m:
            srv.listeners = [Listener(m.group(1))]
            return srv
        srv.assert_alive()
        time.sleep(0.05)
    pytest.fail("no listening line in %s" % elog)


def test_sigusr1_reopens_both_logs(httpsd, site, tmp_path):
    """logrotate's way: rename the files, send USR1; new lines go to new files."""
    elog, alog = tmp_path / "error.log", tmp_path / "access.log"
    srv = start_logged(httpsd, elog, "--access-logfile", str(alog), *static_args(site))
    l = srv.listeners[0]
    assert get(l, "/static/hello.txt?before").status == 200
    deadline = time.monotonic() + 5
    while "?before" not in (read(alog) if alog.exists() else "") and time.monotonic() < deadline:
        time.sleep(0.05)
    os.rename(elog, str(elog) + ".1")
    os.rename(alog, str(alog) + ".1")
    srv.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 5
    while not (elog.exists() and "log files reopened" in read(elog)) and \
            time.monotonic() < deadline:
        time.sleep(0.05)
    assert elog.exists(), "no new error log after SIGUSR1"
    assert alog.exists(), "no new access log after SIGUSR1"
    assert get(l, "/static/hello.txt?after").status == 200
    srv.send_signal(signal.SIGUSR2)  # an error-log line after the reopen
    deadline = time.monotonic() + 5
    while "SIGUSR2" not in read(elog) and time.monotonic() < deadline:
        time.sleep(0.05)
    rc, killed = srv.stop()
    assert rc == 0 and not killed
    old_err, new_err = read(str(elog) + ".1"), read(elog)
    old_acc, new_acc = read(str(alog) + ".1"), read(alog)
    assert "listening on" in old_err and "listening on" not in new_err
    assert re.search(r"\[INFO\] SIGUSR1 \(from pid %d\): reopening the log files" % os.getpid(),
                     old_err), old_err
    assert "log files reopened" in new_err and "SIGUSR2 (from pid" in new_err, new_err
    assert "stopped" in new_err
    assert "?before" in old_acc and "?after" not in old_acc, old_acc
    assert "?after" in new_acc and "?before" not in new_acc, new_acc
    assert len(new_acc.splitlines()) == 1, new_acc


def test_sigusr1_with_stderr_and_stdout_logs(httpsd, site):
    srv = httpsd("-w", "0", *static_args(site), "--access-logfile", "-", binds=[HTTP])
    srv.send_signal(signal.SIGUSR1)
    assert srv.wait_log(r"log files reopened", timeout=5), srv.stderr
    assert get(srv, "/static/hello.txt").status == 200
    rc, killed = srv.stop()
    assert rc == 0 and not killed
    assert any("GET /static/hello.txt" in l for l in srv.out_lines), srv.out_lines
    assert not re.search(r"cannot reopen", srv.stderr), srv.stderr


def test_sigusr1_when_the_directory_is_gone(httpsd, site, tmp_path):
    """Reopening fails (the directory was removed): the error is logged, the old files stay
    in use and the server goes on."""
    d = tmp_path / "logs"
    d.mkdir()
    elog, alog = d / "error.log", d / "access.log"
    srv = start_logged(httpsd, elog, "--access-logfile", str(alog), *static_args(site))
    moved = tmp_path / "logs-moved"
    os.rename(d, moved)
    srv.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 5
    while "log files reopened" not in read(moved / "error.log") and time.monotonic() < deadline:
        time.sleep(0.05)
    text = read(moved / "error.log")
    assert re.search(r"\[ERROR\] cannot reopen the error log .*error\.log: No such file", text), text
    assert re.search(r"\[ERROR\] cannot reopen the access log .*access\.log: No such file",
                     text), text
    assert get(srv.listeners[0], "/static/hello.txt?still").status == 200
    rc, killed = srv.stop()
    assert rc == 0 and not killed
    assert "?still" in read(moved / "access.log")
