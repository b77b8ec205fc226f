"""Measuring on a shared Linux box: process trees, CPU time, a quiet-machine wait, and the load
generators: httpsd-load (the measurement), wrk (the cross-check) and h2load (the measurement of
the HTTP/2 scenarios, h2-*).

Everything here reads /proc: the server's CPU time is utime+stime of its whole process tree
(all threads, plus children it reaped), so a prefork server's master and workers are billed
together; the client's is the rusage of the children this process waited for.
"""
import collections
import json
import os
import re
import resource
import subprocess
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def tree_pids(root):
    """root and all its descendants (a snapshot of /proc)."""
    kids = collections.defaultdict(list)
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                s = f.read()
        except OSError:
            continue
        kids[int(s[s.rindex(")") + 2:].split()[1])].append(int(d))
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        if os.path.exists(f"/proc/{p}"):
            out.append(p)
            todo.extend(kids.get(p, ()))
    return out


def tree_ticks_by_pid(root):
    """{pid: CPU clock ticks} of a process tree: utime+stime+cutime+cstime of each member."""
    out = {}
    for p in tree_pids(root):
        try:
            with open(f"/proc/{p}/stat") as f:
                s = f.read()
        except OSError:
            continue
        f = s[s.rindex(")") + 2:].split()  # f[0] is field 3 (state)
        out[p] = int(f[11]) + int(f[12]) + int(f[13]) + int(f[14])
    return out


def tree_ticks(root):
    """CPU clock ticks of a process tree: utime+stime+cutime+cstime of every member."""
    return sum(tree_ticks_by_pid(root).values())


def tree_rss_kib(root):
    total = 0
    for p in tree_pids(root):
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def affinity_of_tree(root):
    """{pid: allowed CPUs} for every thread of the tree that is not pinned to one CPU set."""
    out = {}
    for p in tree_pids(root):
        try:
            for t in os.listdir(f"/proc/{p}/task"):
                out[int(t)] = frozenset(os.sched_getaffinity(int(t)))
        except OSError:
            pass
    return out


def cpu_jiffies():
    """{cpu number: (busy, idle)} in clock ticks, from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *v = line.split()
                v = [int(x) for x in v[:8]]
                idle = v[3] + v[4]
                out[int(name[3:])] = (sum(v) - idle, idle)
    return out


def busy_pct(a, b, cpu):
    db, di = b[cpu][0] - a[cpu][0], b[cpu][1] - a[cpu][1]
    return 100.0 * db / (db + di) if db + di else 0.0


def wait_quiet(cpus, pct, max_wait, sample):
    """Wait until every CPU in cpus was at most pct % busy over one sample (seconds), for at most
    max_wait seconds. Returns (waited seconds, quiet?, {cpu: last busy %})."""
    t0 = time.monotonic()
    while True:
        a = cpu_jiffies()
        time.sleep(sample)
        b = cpu_jiffies()
        busy = {c: round(busy_pct(a, b, c), 1) for c in cpus}
        waited = time.monotonic() - t0
        if all(v <= pct for v in busy.values()):
            return waited, True, busy
        if waited >= max_wait:
            return waited, False, busy


class CpuMeter:
    """Server tree CPU, client (children of this process) CPU and the busy time of the
    benchmark CPUs around one measurement; other_pct = the busy time of a benchmark CPU that
    neither the server nor the client accounts for (other work on the machine). When the server
    has the client's CPU too (server_cpus holds client_cpu), the two share it, so the other work
    is the busy time of all the server's CPUs less both (in % of one CPU, key "shared_cpus").
    by_proc: the server's CPU time per process (the main one first), to see that every worker
    of a prefork server worked."""

    def __init__(self, server_pid, server_cpus, client_cpu):
        if isinstance(server_cpus, int):
            server_cpus = (server_cpus,)
        self.pid, self.scpus, self.ccpu = server_pid, tuple(server_cpus), client_cpu

    def __enter__(self):
        self.t0 = time.monotonic()
        self.p0 = tree_ticks_by_pid(self.pid) if self.pid else {}
        self.s0 = sum(self.p0.values())
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.c0 = r.ru_utime + r.ru_stime
        self.j0 = cpu_jiffies()
        return self

    def __exit__(self, *exc):
        self.wall = time.monotonic() - self.t0
        p1 = tree_ticks_by_pid(self.pid) if self.pid else {}
        self.server_s = (sum(p1.values()) - self.s0) / CLK_TCK
        # a process that exited during the run is missing from p1 (its time moved to its
        # parent's cutime when reaped, if it was)
        self.by_proc = [[p, round((t - self.p0.get(p, 0)) / CLK_TCK, 3)] for p, t in p1.items()]
        r = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.client_s = r.ru_utime + r.ru_stime - self.c0
        j1 = cpu_jiffies()
        busy = lambda c: (j1[c][0] - self.j0[c][0]) / CLK_TCK
        if self.ccpu in self.scpus:
            both = sum(busy(c) for c in self.scpus) - self.server_s - self.client_s
            self.other_pct = {"shared_cpus": max(0.0, round(100 * both / self.wall, 1))}
        else:
            server = sum(busy(c) for c in self.scpus) - self.server_s
            client = busy(self.ccpu) - self.client_s
            self.other_pct = {
                "server_cpu": max(0.0, round(100 * server / self.wall, 1)),
                "client_cpu": max(0.0, round(100 * client / self.wall, 1)),
            }
        return False

    def record(self, requests, active_s=None):
        """CPU per request; CPU % of the time the load ran (active_s, the load generator's own
        duration without its start-up, when known; else the whole wall time)."""
        n = max(1, requests)
        t = active_s or self.wall
        extra = {}
        if len(self.scpus) > 1:  # the two-CPU scenarios: did every worker take part?
            extra["server_cpu_by_proc"] = self.by_proc
        return dict(
            wall_s=round(self.wall, 3),
            server_cpu_s=round(self.server_s, 3),
            server_cpu_pct=round(100 * self.server_s / t, 1),
            server_cpu_us_per_req=round(self.server_s * 1e6 / n, 2),
            req_per_server_cpu_s=round(requests / self.server_s, 1) if self.server_s else None,
            client_cpu_pct=round(100 * self.client_s / t, 1),
            client_cpu_us_per_req=round(self.client_s * 1e6 / n, 2),
            other_load_pct=self.other_pct,
            **extra,
        )


def pinned(cpus, argv):
    """argv under taskset; cpus: one CPU number or a sequence of them."""
    if isinstance(cpus, int):
        cpus = (cpus,)
    return ["taskset", "-c", ",".join(map(str, cpus))] + list(argv)


def run_httpsd_load(binary, cpu, url, conns, duration, *, keepalive=True, method="GET",
                    headers=(), body_file=None, rate=None, timeout=None):
    """Run httpsd-load -p 1 --json pinned to cpu. Returns (argv, parsed JSON or None, stderr)."""
    argv = [binary, "-q", "--json", "-p", "1", "-c", str(conns), "-d", f"{duration:g}s", "-k"]
    if not keepalive:
        argv.append("--no-keepalive")
    if method != "GET":
        argv += ["-m", method]
    for h in headers:
        argv += ["-H", h]
    if body_file:
        argv += ["--body-file", body_file]
    if rate:
        argv += ["--rate", f"{rate:.0f}"]
    if timeout:
        argv += ["--timeout", f"{timeout:g}s"]
    argv.append(url)
    p = subprocess.run(pinned(cpu, argv), capture_output=True, text=True)
    try:
        out = json.loads(p.stdout)
    except ValueError:
        out = None
    return argv, out, p.stderr.strip()


H2LOAD_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6}


def _h2load_time(text):
    """h2load's "2.17ms" / "288us" / "1.05s" -> seconds (None when not one of those)."""
    m = re.fullmatch(r"([\d.]+)(s|ms|us|µs)", text.strip())
    return float(m.group(1)) * H2LOAD_UNITS[m.group(2)] if m else None


def parse_h2load(out):
    """The numbers of one h2load run's output (nghttp2 1.52's format), or (None, why) when a
    line it must print is missing. Returns (dict, None): requests_per_s (h2load's own: succeeded
    requests over the main duration), requests (succeeded), counts (total/started/done/
    succeeded/failed/errored/timeout), status classes ({"2xx": n, ...}), total/header/data bytes,
    latency_us (mean/max/min/sd of "time for request"), protocol (ALPN; None when h2load printed
    none: no TLS, or nothing negotiated)."""
    fin = re.search(r"^finished in ([\d.]+(?:s|ms|us|µs)), ([\d.]+) req/s", out, re.M)
    req = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                    r"(\d+) failed, (\d+) errored, (\d+) timeout", out, re.M)
    st = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", out, re.M)
    tr = re.search(r"^traffic: \S+ \((\d+)\) total, \S+ \((\d+)\) headers.*?, \S+ \((\d+)\) data",
                   out, re.M)
    missing = [n for n, m in (("finished", fin), ("requests", req), ("status codes", st),
                              ("traffic", tr)) if not m]
    if missing:
        return None, f"h2load printed no {', '.join(missing)} line"
    counts = dict(zip(("total", "started", "done", "succeeded", "failed", "errored", "timeout"),
                      map(int, req.groups())))
    r = dict(duration_s=_h2load_time(fin.group(1)), requests_per_s=float(fin.group(2)),
             requests=counts["succeeded"], counts=counts,
             status={f"{c}xx": int(n) for c, n in zip("2345", st.groups())},
             bytes_total=int(tr.group(1)), bytes_headers=int(tr.group(2)),
             bytes_data=int(tr.group(3)))
    lat = re.search(r"^time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", out, re.M)
    if lat:
        v = [_h2load_time(x) for x in lat.groups()]
        if None not in v:
            r["latency_us"] = {k: round(x * 1e6, 1) for k, x in zip(("min", "max", "mean", "sd"), v)}
    proto = re.search(r"^Application protocol: (\S+)", out, re.M)
    r["protocol"] = proto.group(1) if proto else None
    return r, None


def h2load_problems(r, expect_status=200):
    """Why a parsed h2load run is not a measurement (a list; empty when it is one): nothing
    succeeded, another protocol than h2, failed/errored/timed-out requests, or answers outside
    the expected status class."""
    why = []
    if r["protocol"] is None:  # h2load says nothing more in its timing-based mode
        why.append("h2 not negotiated: no connection got as far as ALPN h2 (refused, TLS "
                   "failed, or the server selected no h2)")
    elif r["protocol"] != "h2":
        why.append(f"h2 not negotiated (ALPN selected {r['protocol']})")
    c = r["counts"]
    bad = {k: c[k] for k in ("failed", "errored", "timeout") if c[k]}
    if bad:
        why.append("requests " + ", ".join(f"{k} {v:,}" for k, v in bad.items()))
    exp = f"{expect_status // 100}xx"
    other = {k: v for k, v in r["status"].items() if v and k != exp}
    if other:
        why.append("status " + ", ".join(f"{k}×{v:,}" for k, v in other.items())
                   + f" (expected {expect_status})")
    if not c["succeeded"]:
        why.append("no request succeeded")
    return why


def run_h2load(cpu, url, conns, streams, duration, *, expect_status=200, headers=(),
               timeout=None):
    """h2load -t 1 over TLS with ALPN h2 only (no fallback to HTTP/1.1), pinned to cpu, for
    `duration` seconds. Returns (argv, parsed dict or None, output). The dict has "failed"
    (text) when the run is not a measurement (h2load_problems); None when h2load did not run
    to the end or its output could not be parsed (the reason is in the output's last line)."""
    argv = ["h2load", "-t", "1", "-c", str(conns), "-m", str(streams),
            "-D", f"{max(1, round(duration * 1000))}ms", "--npn-list=h2"]
    for h in headers:
        argv += ["-H", h]
    argv.append(url)
    limit = duration + 60 + 2 * (timeout or 0)
    try:
        p = subprocess.run(pinned(cpu, argv), capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired as e:
        out = ((e.stdout or b"").decode(errors="replace") if isinstance(e.stdout, bytes)
               else e.stdout or "")
        return argv, None, out + f"\nh2load did not finish within {limit:g} s"
    out = p.stdout + p.stderr
    r, why = parse_h2load(p.stdout)
    if r is None:
        return argv, None, out + f"\n{why} (exit code {p.returncode})"
    problems = h2load_problems(r, expect_status)
    if p.returncode != 0:
        problems.append(f"exit code {p.returncode}")
    if problems:
        r["failed"] = "h2load: " + "; ".join(problems)
    return argv, r, out


def wrk_script(tmp, method, body_file):
    """A wrk Lua script that sends method with the file's bytes as the body (wrk has no option)."""
    path = os.path.join(tmp, f"wrk-{method.lower()}.lua")
    with open(path, "w") as f:
        f.write(f'wrk.method = "{method}"\n'
                f'local f = io.open("{body_file}", "rb")\nwrk.body = f:read("*a")\nf:close()\n'
                'wrk.headers["Content-Type"] = "application/octet-stream"\n')
    return path


def run_wrk(cpu, url, conns, duration, *, keepalive=True, headers=(), script=None, timeout=None):
    """wrk -t1, pinned. Returns (argv, dict with req/s etc. or None, raw output)."""
    argv = ["wrk", "-t1", f"-c{conns}", f"-d{max(1, round(duration))}s", "--latency"]
    if not keepalive:
        argv += ["-H", "Connection: close"]
    for h in headers:
        argv += ["-H", h]
    if script:
        argv += ["-s", script]
    if timeout:
        argv += ["--timeout", f"{timeout:g}s"]
    argv.append(url)
    p = subprocess.run(pinned(cpu, argv), capture_output=True, text=True)
    out = p.stdout + p.stderr
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(\w+),", out, re.M)
    rps = re.search(r"^Requests/sec:\s*([\d.]+)", out, re.M)
    if p.returncode != 0 or not m or not rps:
        return argv, None, out
    non2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", out)
    sockerr = re.search(r"Socket errors:\s*(.*)", out)
    return argv, dict(requests=int(m.group(1)), requests_per_s=float(rps.group(1)),
                      non_2xx_3xx=int(non2xx.group(1)) if non2xx else 0,
                      socket_errors=sockerr.group(1).strip() if sockerr else None), out


def perf_record(pids, path, seconds):
    """Start `perf record -g` on the given processes (all their threads) for `seconds`.
    Returns the Popen; wait for it, then perf_top(path)."""
    return subprocess.Popen(["perf", "record", "-q", "-F", "1999", "-g", "-o", path,
                             "-p", ",".join(str(p) for p in pids), "--", "sleep", f"{seconds:g}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def perf_top(path, limit=25, min_pct=0.8, sort="dso,symbol"):
    """The hottest entries of a perf.data (self time, all threads): [(percent, dso, symbol)]
    (symbol "" when sorting by dso only)."""
    p = subprocess.run(["perf", "report", "-i", path, "--stdio", "--no-children", "-g", "none",
                        "--sort", sort, "--percent-limit", str(min_pct)],
                       capture_output=True, text=True)
    out = []
    for line in p.stdout.splitlines():
        line = re.sub(r"(\s+-)+\s*$", "", line)  # empty IPC columns
        m = re.match(r"\s*([\d.]+)%\s+(\S+)(?:\s+\[[.k]\]\s+(.*\S))?\s*$", line)
        if m and not line.lstrip().startswith("#"):
            out.append((float(m.group(1)), m.group(2), m.group(3) or ""))
    return out[:limit]
