"""The servers bench/run compares: how each is started, configured (and why that way), checked
for readiness and stopped. One row per server in SERVERS; nothing else in the runner knows a
server by name.

Every server runs under `taskset -c CPUS prlimit --nofile=N:N`, so its whole process tree
(masters, workers, threads) shares the scenario's server CPUs and may hold 10,000+ connections:
one CPU (the runner's SERVER_CPU) in most scenarios, both in the two-CPU ones, whose rows
(`-w 2`, `--processes 2`, 2 workers or threads) exist for those. Peers are configured the way
their own documentation recommends for a machine of that size; the `recommendation` text says
which recommendation, and goes into docs/BENCHMARKS.md.
"""
import dataclasses
import os
import re
import signal
import socket
import subprocess
import time
import typing
import urllib.request

import measure

BENCH = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"
APPS = {"hello": "hello:application", "flask": "flaskapp:app"}


@dataclasses.dataclass
class Ctx:
    """What the server command lines need: binaries, files, limits (the CPUs are per Instance)."""
    httpsd: str
    tmp: str
    www: str
    cert: str
    key: str
    nofile: int
    apps_dir: str = os.path.join(BENCH, "apps")


@dataclasses.dataclass(frozen=True)
class Server:
    name: str                 # key (--servers, results)
    label: str                # in tables and charts
    is_httpsd: bool
    schemes: tuple            # listeners it gets
    runs_apps: bool
    argv: typing.Callable     # (ctx, ports {scheme: port}, app module or None) -> argv
    procs: int = 1            # processes once fully started (master + workers)
    workers: int = 1          # @WORKERS@ of its config template (nginx processes, h2o threads)
    config: str = None        # template in bench/conf, filled with @NAME@ values
    package: str = None       # Debian package (for the versions table)
    recommendation: str = ""  # how it is configured, and whose advice that follows


def _httpsd(*extra):
    def argv(ctx, ports, app):
        a = [ctx.httpsd, "-b", f"http://127.0.0.1:{ports['http']}",
             "-b", f"https://127.0.0.1:{ports['https']}",
             "--certfile", ctx.cert, "--keyfile", ctx.key,
             "--static", f"/static={ctx.www}/static", "--keep-alive", "60", *extra]
        return a + (["--chdir", ctx.apps_dir, app] if app else [])
    return argv


def _gunicorn(*worker, workers=3):
    def argv(ctx, ports, app):
        return [PY, "-m", "gunicorn", "-w", str(workers), *worker,
                "-b", f"127.0.0.1:{ports['http']}",
                "--chdir", ctx.apps_dir, "--log-level", "warning", app]
    return argv


# uWSGI's --http11-socket holds a worker thread for as long as a keep-alive connection is open:
# with fewer threads than connections the others wait (with no threads, 1 process served one
# connection at a time: timeouts, and 16k req/s instead of 66k on wsgi-hello). One thread per
# connection of the WSGI scenarios (50).
UWSGI_THREADS = 50


def _uwsgi_processes(n):
    def argv(ctx, ports, app):
        return ["uwsgi", "--plugin", "python3", "--master", "--processes", str(n),
                "--threads", str(UWSGI_THREADS), "--http11-socket", f"127.0.0.1:{ports['http']}",
                "--chdir", ctx.apps_dir, "--module", app, "--disable-logging", "--die-on-term",
                "--need-app", "--listen", "1024"]
    return argv


_uwsgi = _uwsgi_processes(1)


def _waitress(ctx, ports, app):
    return [PY, "-m", "waitress", f"--listen=127.0.0.1:{ports['http']}", "--threads=4", app]


def _config_server(binary, *args):
    def argv(ctx, ports, app):
        return [binary, *args]
    return argv


HTTPSD_NOTE = ("default flags (access log off is the default; 4 app threads), the same "
               "certificate and key as nginx and h2o; `--keep-alive 60` instead of 5 s so the "
               "idle-connection test's connections stay open (nginx: keepalive_timeout 60); h2 by "
               "ALPN on the TLS listener (`--http2`, on by default) for the h2-* scenarios; `--max-queue 1024` "
               "(like uWSGI's `--listen 1024`): h2-wsgi-hello has 500 requests in flight (50 "
               "connections x 10 streams), and with the default 64 most of them would be "
               "answered 503 by design")
SERVERS = {s.name: s for s in [
    Server("httpsd", "httpsd", True, ("http", "https"), True, _httpsd("--max-queue", "1024"),
           recommendation=HTTPSD_NOTE),
    Server("httpsd-t0", "httpsd --threads 0", True, ("http", "https"), True, _httpsd("--threads", "0"),
           recommendation="as httpsd, with `--threads 0`: the app runs on the event-loop thread"),
    # issue 15: the CPU-bound tails (cpu-tails) with other thread counts
    Server("httpsd-t1", "httpsd --threads 1", True, ("http", "https"), True, _httpsd("--threads", "1"),
           recommendation="as httpsd, with `--threads 1`: one app thread"),
    Server("httpsd-t16", "httpsd --threads 16", True, ("http", "https"), True,
           _httpsd("--threads", "16"), recommendation="as httpsd, with `--threads 16`"),
    Server("uwsgi", "uWSGI", False, ("http",), True, _uwsgi, procs=2,
           package="uwsgi-core",
           recommendation=(
               "`--http11-socket` (uWSGI speaking HTTP/1.1 with keep-alive itself, no router "
               "process), `--master`, 1 process with 50 threads, `--disable-logging`. uWSGI's "
               "docs give no formula (\"There is no magic rule for setting the number of "
               "processes or threads to use ... experiment\", Things to know); with one CPU, "
               "one process, and since `--http11-socket` holds a thread for as long as a "
               "keep-alive connection stays open, one thread per connection of the scenarios "
               "(50) — with none, its worker served one connection at a time while the others "
               "timed out (16k instead of 66k req/s on wsgi-hello). It neither sends nor "
               "honours `Connection: close`.")),
    Server("gunicorn-sync", "gunicorn sync", False, ("http",), True, _gunicorn("-k", "sync"),
           procs=4, package="gunicorn",
           recommendation=(
               "3 sync workers: gunicorn's docs recommend \"(2 x $num_cores) + 1 as the number "
               "of workers to start off with\" (Design, How many workers?), and the server has "
               "one core. The sync worker closes the connection after every response, even to "
               "a keep-alive request (no keep-alive support by design).")),
    Server("gunicorn-gthread", "gunicorn gthread", False, ("http",), True,
           _gunicorn("-k", "gthread", "--threads", "4"), procs=4, package="gunicorn",
           recommendation=(
               "3 gthread workers x 4 threads: (2 x cores) + 1 workers as above, and threads "
               "\"generally in the 2-4 x $(NUM_CORES) range\" (Settings, threads); keeps "
               "connections alive (2 s idle, its default).")),
    Server("waitress", "waitress", False, ("http",), True, _waitress, package="python3-waitress",
           recommendation="its defaults: 4 threads (`--threads=4`, the documented default), "
                          "one process"),
    Server("nginx", "nginx", False, ("http", "https"), False,
           _config_server("nginx", "-p", "@TMP@", "-c", "@CONF@", "-e", "@TMP@/@NAME@-error.log"),
           procs=2, config="nginx.conf.in", package="nginx",
           recommendation="1 worker, sendfile + tcp_nopush, access_log off, keepalive_requests "
                          "raised, ssl_session_cache, `listen ... ssl http2` (h2 by ALPN) "
                          "(bench/conf/nginx.conf.in); in the WSGI scenarios `return 200 "
                          "\"Hello, World!\"`, a ceiling, not a peer (in h2-wsgi-hello the "
                          "27-byte file)"),
    Server("h2o", "h2o", False, ("http", "https"), False, _config_server("h2o", "-c", "@CONF@"),
           procs=1, config="h2o.conf.in", package="h2o",
           recommendation="1 thread, file handler defaults, h2 by ALPN on the TLS listener "
                          "(its default) (bench/conf/h2o.conf.in)"),
    # The two-CPU scenarios (issue 11): the same servers with two workers each, taskset to both
    # CPUs. httpsd -w 1 is the default `httpsd` row spelt out, so the page can say which is which.
    Server("httpsd-w1", "httpsd -w 1", True, ("http", "https"), True, _httpsd("-w", "1"),
           procs=2, recommendation="as httpsd, `-w 1` spelt out (the default): a master and one "
                                   "worker process, 4 app threads under one GIL"),
    Server("httpsd-w2", "httpsd -w 2", True, ("http", "https"), True, _httpsd("-w", "2"),
           procs=3, recommendation=(
               "as httpsd, with `-w 2`: a master and 2 worker processes (one per CPU), each with "
               "its own SO_REUSEPORT listening socket (the kernel spreads connections between "
               "them) and 4 app threads")),
    Server("uwsgi-p2", "uWSGI --processes 2", False, ("http",), True, _uwsgi_processes(2),
           procs=3, package="uwsgi-core", recommendation=(
               "as uWSGI, with `--processes 2` (one per CPU) and still 50 threads each: its "
               "processes share one listening socket and each thread holds a keep-alive "
               "connection, so with fewer than 50 threads per process the connections one "
               "process took beyond its threads would wait (uWSGI's own rule is again only "
               "\"experiment\")")),
    Server("gunicorn-sync-w2", "gunicorn sync -w 2", False, ("http",), True,
           _gunicorn("-k", "sync", workers=2), procs=3, package="gunicorn", recommendation=(
               "2 sync workers (`-w 2`), one per CPU like httpsd -w 2 (issue 11 asks for this "
               "pairing; gunicorn's \"(2 x $num_cores) + 1\" would be 5, which adds no CPU for a "
               "CPU-bound app but lets more connections be served at once). Closes the "
               "connection after every response, as above.")),
    Server("nginx-w2", "nginx 2 workers", False, ("http", "https"), False,
           _config_server("nginx", "-p", "@TMP@", "-c", "@CONF@", "-e", "@TMP@/@NAME@-error.log"),
           procs=3, workers=2, config="nginx.conf.in", package="nginx",
           recommendation="as nginx, with `worker_processes 2` (one per CPU, what `auto` would "
                          "pick with both CPUs) and `listen ... reuseport`: a listening socket "
                          "per worker, like httpsd -w 2 (with one shared socket, one worker took "
                          "all 50 connections in some runs while the other sat idle)"),
    Server("h2o-t2", "h2o 2 threads", False, ("http", "https"), False,
           _config_server("h2o", "-c", "@CONF@"), procs=1, workers=2, config="h2o.conf.in",
           package="h2o", recommendation="as h2o, with `num-threads: 2` (its default, the number "
                                         "of CPU cores, with both CPUs)"),
]}


def port_is_free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class PortAllocator:
    def __init__(self, base):
        self.next = base

    def take(self):
        while not port_is_free(self.next):
            self.next += 1
        self.next += 1
        return self.next - 1


def http_get(url, timeout=2.0):
    """(status, body) or (None, error text); never raises. Certificates are not checked."""
    import ssl
    ctx = ssl._create_unverified_context()
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=ctx) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except Exception as e:  # noqa: BLE001 - any failure means "not ready"
        return None, str(e)


class Instance:
    """One running server: Server row + app + ports + the CPUs it is pinned to + process."""

    def __init__(self, server, app, ctx, ports, cpus):
        self.server, self.app, self.ctx, self.ports = server, app, ctx, ports
        self.cpus = tuple(cpus)
        self.proc = None
        self.log = os.path.join(ctx.tmp, f"{server.name}-{app or 'static'}.log")
        self.config_text = None
        self.argv = None

    @property
    def key(self):
        return (self.server.name, self.app, self.cpus)

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    def url(self, scheme, path):
        return f"{scheme}://127.0.0.1:{self.ports[scheme]}{path}"

    def _fill(self, text, conf_path=""):
        values = dict(NAME=self.server.name, WORKERS=self.server.workers,
                      REUSEPORT=" reuseport" if self.server.workers > 1 else "",  # nginx listen
                      TMP=self.ctx.tmp, WWW=self.ctx.www, CERT=self.ctx.cert, KEY=self.ctx.key,
                      NOFILE=self.ctx.nofile, WORKER_CONNECTIONS=min(self.ctx.nofile, 20000),
                      PORT_HTTP=self.ports.get("http"), PORT_HTTPS=self.ports.get("https"),
                      CONF=conf_path,
                      USER_LINE="user: root" if os.getuid() == 0 else "# (not root)")
        for k, v in values.items():
            text = text.replace(f"@{k}@", str(v))
        left = re.findall(r"@[A-Z_]+@", text)
        if left:
            raise RuntimeError(f"{self.server.name}: unfilled placeholders {sorted(set(left))}")
        return text

    def start(self, timeout=30.0):
        s, conf = self.server, ""
        if s.config:
            with open(os.path.join(BENCH, "conf", s.config)) as f:
                self.config_text = self._fill(f.read())
            conf = os.path.join(self.ctx.tmp, f"{s.name}.conf")
            with open(conf, "w") as f:
                f.write(self.config_text)
        module = APPS[self.app] if self.app else None
        self.argv = [self._fill(a, conf) for a in s.argv(self.ctx, self.ports, module)]
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        n = self.ctx.nofile
        with open(self.log, "w") as log:
            log.write("+ " + " ".join(self.argv) + "\n")
            log.flush()
            self.proc = subprocess.Popen(
                measure.pinned(self.cpus, ["prlimit", f"--nofile={n}:{n}", *self.argv]),
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.ctx.apps_dir, env=env, start_new_session=True)
        ready = "/" if self.app else "/static/f27.txt"
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{s.name} exited at startup (code {self.proc.returncode}):\n"
                                   + self.log_tail())
            code, _ = http_get(self.url("http", ready), timeout=1.0)
            if code == 200:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{s.name} does not answer 200 on {ready} after {timeout:.0f} s:\n"
                                   + self.log_tail())
            time.sleep(0.05)
        # prefork servers answer before all their workers exist: wait for the full tree
        # (taskset and prlimit exec the server: the Popen pid is the server's main process)
        while len(measure.tree_pids(self.pid)) < s.procs and time.monotonic() < deadline:
            time.sleep(0.05)
        if s.procs > 1:
            # each worker answers: fresh connections (new source ports) land on every worker of
            # an SO_REUSEPORT group or a shared socket sooner or later; one still starting
            # answers late, not never, since its queue waits for it
            for _ in range(4 * s.procs):
                left = max(1.0, deadline - time.monotonic())
                code, _ = http_get(self.url("http", ready), timeout=left)
                if code != 200:
                    raise RuntimeError(f"{s.name}: {ready} answered {code} after the start:\n"
                                       + self.log_tail())
        time.sleep(0.3)
        loose = {t: c for t, c in measure.affinity_of_tree(self.pid).items()
                 if c != frozenset(self.cpus)}
        if loose:
            raise RuntimeError(f"{s.name}: threads not pinned to CPU(s) "
                               f"{','.join(map(str, self.cpus))}: {loose}")

    def log_tail(self, n=30):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """TERM the whole tree, KILL what is left after 5 s."""
        if self.proc is None:
            return
        pids = measure.tree_pids(self.proc.pid)
        for p in pids:
            try:
                os.kill(p, signal.SIGTERM)
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        self.proc = None


class Pool:
    """The running instances, keyed by (server, app, CPUs); started on demand, stopped when a
    scenario no longer needs them (or fresh=True: a new process for every measurement)."""

    def __init__(self, ctx, ports):
        self.ctx, self.ports, self.running = ctx, ports, {}
        self.failed = {}  # (server, app) -> why it could not start

    def keep_only(self, keys):
        for k in [k for k in self.running if k not in keys]:
            self.running.pop(k).stop()

    @staticmethod
    def key(server_name, app, cpus):
        return (server_name, app if SERVERS[server_name].runs_apps else None, tuple(cpus))

    def get(self, server_name, app, cpus, fresh=False):
        """A started Instance pinned to cpus, or None when it cannot start (the reason is in
        self.failed)."""
        s = SERVERS[server_name]
        key = self.key(server_name, app, cpus)
        if fresh and key in self.running:
            self.running.pop(key).stop()
        inst = self.running.get(key)
        if inst and not inst.alive():
            self.failed[key] = f"exited unexpectedly:\n{inst.log_tail()}"
            self.running.pop(key)
            inst = None
        if inst is None and key not in self.failed:
            inst = Instance(s, key[1], self.ctx, {sc: self.ports.take() for sc in s.schemes}, cpus)
            try:
                inst.start()
                self.running[key] = inst
            except (RuntimeError, OSError) as e:
                inst.stop()
                self.failed[key] = str(e)
                inst = None
        return inst

    def stop_all(self):
        self.keep_only(set())
