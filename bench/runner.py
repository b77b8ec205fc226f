#!/usr/bin/python3
"""bench/run's orchestrator: starts the servers (bench/servers.py) pinned to one CPU, drives each
scenario (bench/scenarios.py) with httpsd-load (h2load for the HTTP/2 scenarios) pinned to the
other, interleaving the servers run by run, cross-checks with wrk, and writes bench/results/<YYYYMMDD-HHMM>-<scenario>.json; then
report.py turns the newest results into docs/BENCHMARKS.md. Stdlib only (matplotlib in report.py).
The two-CPU scenarios (server_cpus=2) pin the servers to both CPUs; httpsd-load stays on
CLIENT_CPU and shares it with them.

Called by bench/run after it installed the packages and built httpsd; run it directly only with
HTTPSD_BUILD pointing at a release build directory.
"""
import argparse
import datetime
import glob
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import measure
import scenarios
import servers
import summary

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
RESULTS = os.path.join(BENCH, "results")
SERVER_CPU, CLIENT_CPU = 0, 1
QUICK_DURATION = 0.75


def server_cpus(sc):
    """The CPUs a scenario's servers are pinned to: SERVER_CPU, or both (CLIENT_CPU shared with
    the load generator) for server_cpus=2."""
    return (SERVER_CPU,) if sc.server_cpus == 1 else (SERVER_CPU, CLIENT_CPU)


class Settings:
    def __init__(self, a):
        q = a.quick
        self.quick = q
        self.runs = a.runs or (1 if q else 3)
        self.duration = a.duration or (QUICK_DURATION if q else 5.0)
        self.warmup = 0 if q else 1.0
        self.wrk = not (q or a.no_wrk)
        self.retries = 0 if q else 1          # redo a contended measurement once
        self.quiet_pct = 10.0                 # both CPUs at most this busy before measuring
        self.quiet_max_wait = 2.0 if q else 60.0
        self.quiet_sample = 0.05 if q else 0.5
        self.timeout = 1.0 if q else 2.0      # per request, unless the scenario says otherwise
        self.idle_connections = 2000 if q else None  # None: the scenario's (10,000)
        self.idle_settle = 0.5 if q else 1.0          # seconds before each RSS reading
        self.contended_pct = 5.0              # other work on a benchmark CPU during a run

    def as_dict(self):
        return dict(vars(self), server_cpu=SERVER_CPU, client_cpu=CLIENT_CPU)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def sh(*argv):
    """First line of a command's output (stdout or stderr), or None."""
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    out = (p.stdout.strip() or p.stderr.strip()).splitlines()
    return out[0].strip() if out else None


def dpkg_version(pkg):
    return sh("dpkg-query", "-W", "-f=${Version}", pkg)


def machine_info():
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo")
                  if l.startswith("model name")), platform.processor())
    mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
    return dict(cpu_model=model, cpus=os.cpu_count(), kernel=platform.release(),
                os=sh("sh", "-c", ". /etc/os-release && echo $PRETTY_NAME"),
                memory_gib=round(mem / 2**20, 1), virtualization=sh("systemd-detect-virt"),
                ktls_module=os.path.exists("/sys/module/tls"))


def versions(build):
    git = sh("git", "-C", ROOT, "rev-parse", "--short", "HEAD")
    dirty = sh("git", "-C", ROOT, "status", "--porcelain", "--", "src", "meson.build")
    v = dict(httpsd=sh(os.path.join(build, "httpsd"), "--version"),
             httpsd_git=(git or "?") + ("+dirty" if dirty else ""),
             httpsd_load=sh(os.path.join(build, "httpsd-load"), "--version"),
             nginx=sh("nginx", "-v"), h2o=sh("h2o", "--version"),
             uwsgi=sh("uwsgi", "--version"),
             gunicorn=sh(servers.PY, "-m", "gunicorn", "--version"),
             waitress=dpkg_version("python3-waitress"), flask=dpkg_version("python3-flask"),
             python=sh(servers.PY, "--version"), wrk=sh("wrk", "--version"),
             h2load=sh("h2load", "--version"),
             curl=(sh("curl", "--version") or "").split(" (")[0] or None,
             openssl=sh("openssl", "version"), matplotlib=dpkg_version("python3-matplotlib"))
    for s in servers.SERVERS.values():
        if s.package:
            v[f"debian:{s.package}"] = dpkg_version(s.package)
    return v


def make_files(tmp):
    """The static files, the upload body and a certificate, in a fresh temp dir."""
    www = os.path.join(tmp, "www", "static")
    os.makedirs(www)
    os.makedirs(os.path.join(tmp, "nginx-tmp"))
    paths = {}
    for key, (name, size) in scenarios.FILES.items():
        path = os.path.join(tmp if key == "upload" else www, name)
        with open(path, "wb") as f:
            if name.endswith(".txt"):
                f.write(b"This is a 27 byte payload.\n"[:size])
            else:
                for off in range(0, size, 1 << 20):
                    f.write(os.urandom(min(1 << 20, size - off)))
        os.chmod(path, 0o644)
        paths[key] = path
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-days", "30", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                    "-keyout", key, "-out", cert], check=True, capture_output=True)
    os.chmod(key, 0o644)  # nginx's workers run as nobody when started as root
    return scenarios.Files(paths), os.path.dirname(www), cert, key


class Target:
    """One (server, scheme) of a scenario that passed its probe."""

    def __init__(self, inst, scheme, headers, path):
        self.inst, self.scheme, self.headers, self.path = inst, scheme, headers, path
        self.name = inst.server.name
        self.key = f"{self.name} {scheme}"
        self.rate = None


def procs_split(rec):
    """"  procs 1%/50%/49%": each server process's share of the tree's CPU time (the main
    process first), for the two-CPU scenarios' log lines."""
    by = rec.get("server_cpu_by_proc")
    total = sum(s for _, s in by or ())
    if not by or len(by) < 2 or not total:
        return ""
    return "  procs " + "/".join(f"{100 * s / total:.0f}%" for _, s in by)


class Runner:
    def __init__(self, st, ctx, pool, files, build, stamp, info, perf=False):
        self.st, self.ctx, self.pool, self.files = st, ctx, pool, files
        self.perf = perf
        self.load = os.path.join(build, "httpsd-load")
        self.stamp, self.info = stamp, info
        self.done = {}  # scenario name -> results of this invocation
        self.count = 0

    # ------------------------------------------------------------------ set-up of a scenario
    def targets(self, sc, res, names, fresh=False, schemes=None):
        """Start (or reuse) the scenario's servers and probe them; record n/a reasons."""
        schemes = schemes or sc.schemes
        cpus = server_cpus(sc)
        if not fresh:
            self.pool.keep_only({self.pool.key(n, sc.app, cpus) for n in names})
        out = []
        for name in names:
            inst = self.pool.get(name, sc.app, cpus, fresh=fresh)
            key = self.pool.key(name, sc.app, cpus)
            if inst is None:
                for scheme in schemes:
                    res["na"][f"{name} {scheme}"] = "could not start: " + self.pool.failed[key][:500]
                continue
            srv = servers.SERVERS[name]
            res["servers"][name] = dict(label=srv.label, argv=inst.argv, config=inst.config_text,
                                        config_template=srv.config,
                                        recommendation=srv.recommendation, procs=srv.procs,
                                        cpus=list(inst.cpus))
            for scheme in schemes:
                k = f"{name} {scheme}"
                if scheme not in inst.ports:
                    res["na"][k] = f"no {scheme.upper()} listener ({srv.label} serves plain HTTP here)"
                    continue
                pr = scenarios.probe(sc, inst, scheme, self.files)
                res["probes"][k] = pr
                if pr["ok"]:
                    out.append(Target(inst, scheme, pr["headers"], pr["path"]))
                    log(f"  probe {k}: {pr['note']}")
                else:
                    res["na"][k] = pr["reason"]
                    log(f"  probe {k}: n/a: {pr['reason']}")
        return out

    # ------------------------------------------------------------------ one measurement
    def quiet(self):
        st = self.st
        return measure.wait_quiet((SERVER_CPU, CLIENT_CPU), st.quiet_pct, st.quiet_max_wait,
                                  st.quiet_sample)

    def load_args(self, sc, t, duration, rate=None):
        body = self.files.paths[sc.body_file] if sc.body_file else None
        return dict(url=t.inst.url(t.scheme, t.path), conns=sc.connections, duration=duration,
                    keepalive=sc.keepalive, method=sc.method, headers=t.headers, body_file=body,
                    rate=rate, timeout=sc.timeout or self.st.timeout)

    def run_client(self, sc, t, duration, rate=None):
        """One closed-loop (or --rate) load run with the scenario's client. Returns (argv, a dict
        in httpsd-load's JSON terms or None, error text); the dict has "failed" when h2load's
        run is not a measurement (failed/errored requests, non-2xx, no h2)."""
        if sc.client != "h2load":
            return measure.run_httpsd_load(self.load, CLIENT_CPU,
                                           **self.load_args(sc, t, duration, rate))
        a = self.load_args(sc, t, duration)
        argv, r, out = measure.run_h2load(CLIENT_CPU, a["url"], sc.connections, sc.streams,
                                          duration, expect_status=sc.expect_status,
                                          headers=a["headers"], timeout=a["timeout"])
        if r is None:
            return argv, None, out[-2000:]
        c = r["counts"]
        r["errors"] = {k: c[k] for k in ("failed", "errored", "timeout")}
        r["errors_total"] = sum(r["errors"].values())
        r["bytes_per_s"] = r["bytes_total"] / duration
        r["h2load"] = dict(counts=c, protocol=r["protocol"], bytes_total=r["bytes_total"],
                           bytes_headers=r["bytes_headers"], bytes_data=r["bytes_data"],
                           streams=sc.streams)
        return argv, r, ""

    def measure(self, sc, t, run):
        st = self.st
        for attempt in range(st.retries + 1):
            waited, quiet, busy = self.quiet()
            rec = dict(server=t.name, scheme=t.scheme, run=run, attempt=attempt + 1,
                       quiet_wait_s=round(waited, 1), busy_before_pct=busy)
            if not t.inst.alive():
                rec["failed"] = "server exited:\n" + t.inst.log_tail()
                return rec
            with measure.CpuMeter(t.inst.pid, t.inst.cpus, CLIENT_CPU) as m:
                argv, out, err = self.run_client(sc, t, st.duration, t.rate)
            rec["argv"] = argv
            if out is None:
                rec["failed"] = err or f"{sc.client} printed no results"
            else:
                for k in ("requests", "duration_s", "requests_per_s", "bytes_per_s", "latency_us",
                          "status", "errors", "errors_total", "target_rate", "connects",
                          "tls_full", "tls_resumed", "h2load", "failed"):
                    if k in out:
                        rec[k] = out[k]
                rec["req_per_s"] = rec.pop("requests_per_s")
                if err:
                    rec["stderr"] = err[:2000]
            rec.update(m.record(rec.get("requests", 0), rec.get("duration_s")))
            rec["contended"] = (not quiet or
                                max(rec["other_load_pct"].values()) > st.contended_pct)
            if not t.inst.alive():
                rec["failed"] = "server exited during the run:\n" + t.inst.log_tail()
            if not rec["contended"] or rec.get("failed"):
                break
            log(f"    contended (other work {rec['other_load_pct']}): "
                + ("redoing" if attempt < st.retries else "kept, flagged"))
        self.count += 1
        if rec.get("failed"):
            log(f"  [{self.count}] {sc.name} run {run} {t.key}: FAILED: {rec['failed'][:300]}")
        else:
            lat = rec.get("latency_us") or {}
            tail = "p99" if "p99" in lat else "mean"
            log(f"  [{self.count}] {sc.name} run {run} {t.key:<22} {rec['req_per_s']:>10,.0f} req/s "
                f"{rec.get('bytes_per_s', 0) / 2**20:>8.1f} MiB/s  srv {rec['server_cpu_us_per_req']:>7.1f} µs/req "
                f"({rec['server_cpu_pct']:.0f}%)  client {rec['client_cpu_pct']:.0f}%  "
                f"{tail} {lat.get(tail, 0):,.0f} µs" + procs_split(rec)
                + ("  CONTENDED" if rec["contended"] else ""))
        return rec

    def profile(self, sc, t):
        """One extra run (not counted) with perf recording the server's processes."""
        path = os.path.join(self.ctx.tmp, "perf.data")
        self.quiet()
        rec = measure.perf_record(measure.tree_pids(t.inst.pid), path, self.st.duration)
        time.sleep(0.2)  # perf attached before the load starts
        _, out, _ = self.run_client(sc, t, self.st.duration, t.rate)
        err = rec.communicate()[1]
        top, dsos = measure.perf_top(path), measure.perf_top(path, sort="dso", min_pct=0.5)
        log(f"      perf {t.key}: " + ", ".join(f"{p:.1f}% {dso}" for p, dso, _ in dsos[:4]))
        return dict(top=top, by_object=dsos, requests=out and out["requests"],
                    req_per_s=out and out["requests_per_s"], error=None if top else err[-500:])

    def wrk_check(self, sc, t):
        a = self.load_args(sc, t, self.st.duration)
        script = measure.wrk_script(self.ctx.tmp, sc.method, a["body_file"]) if a["body_file"] else None
        self.quiet()
        with measure.CpuMeter(t.inst.pid, t.inst.cpus, CLIENT_CPU) as m:
            argv, out, raw = measure.run_wrk(CLIENT_CPU, a["url"], sc.connections, self.st.duration,
                                             keepalive=sc.keepalive, headers=t.headers,
                                             script=script, timeout=a["timeout"])
        w = dict(server=t.name, scheme=t.scheme, argv=argv, result=out, output=raw[-3000:],
                 **m.record(out["requests"] if out else 0))
        if out is None:
            w["error"] = "wrk failed: " + raw[-300:]
        log(f"      wrk {t.key}: " + (f"{out['requests_per_s']:,.0f} req/s" if out else w["error"]))
        return w

    # ------------------------------------------------------------------ the latency scenario
    def rates(self, sc, res, targets):
        """50 % of each server's median wsgi-hello req/s: from this invocation, else the newest
        results file, else a short closed-loop measurement now."""
        src = self.done.get("wsgi-hello")
        origin = "this run's wsgi-hello"
        if src is None:
            files = sorted(f for f in glob.glob(os.path.join(RESULTS, "*-wsgi-hello.json"))
                           if re.fullmatch(r"\d{8}-\d{4}(\d\d)?-wsgi-hello\.json",
                                           os.path.basename(f)))  # not h2-wsgi-hello
            if files:
                with open(files[-1]) as f:
                    src = json.load(f)
                origin = os.path.basename(files[-1])
        maxima = {}
        if src:
            for k, t in src["summary"]["targets"].items():
                if t["req_per_s"]:
                    maxima[k] = (t["req_per_s"]["median"], origin)
        for t in targets:
            if t.key not in maxima:
                hello = scenarios.SCENARIOS["wsgi-hello"]
                _, out, err = measure.run_httpsd_load(self.load, CLIENT_CPU, **self.load_args(
                    hello, t, max(1.0, self.st.duration / 2)))
                if out and out["requests"]:
                    maxima[t.key] = (out["requests_per_s"], "a closed-loop run just before")
            if t.key in maxima:
                t.rate = max(1.0, 0.5 * maxima[t.key][0])
                res["rates"][t.key] = dict(max_req_per_s=maxima[t.key][0], source=maxima[t.key][1],
                                           target_rate=t.rate)
            else:
                res["na"][t.key] = "no maximum req/s to take 50 % of"
        return [t for t in targets if t.rate]

    # ------------------------------------------------------------------ scenarios
    def new_result(self, sc, names):
        d = {k: v for k, v in vars(sc).items()}
        d["body_bytes"] = scenarios.FILES[sc.body_file][1] if sc.body_file else 0
        d["servers"] = list(names)
        d["server_cpu_list"] = list(server_cpus(sc))
        return dict(scenario=d, stamp=self.stamp,
                    date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
                    settings=self.st.as_dict(), argv=sys.argv[1:], **self.info,
                    servers={}, probes={}, na={}, rates={}, runs=[], wrk=[], after={},
                    profiles={})

    def run_load(self, sc, res, names):
        targets = self.targets(sc, res, names)
        if sc.kind == "rate":
            targets = self.rates(sc, res, targets)
        if self.perf:  # profiles only, nothing measured
            for t in targets:
                res["profiles"][t.key] = self.profile(sc, t)
            return
        if self.st.warmup:
            for t in targets:
                self.run_client(sc, t, self.st.warmup, t.rate)
        for run in range(1, self.st.runs + 1):
            for scheme in sc.schemes:
                for t in [t for t in targets if t.scheme == scheme]:
                    res["runs"].append(self.measure(sc, t, run))
                    if run == 1 and self.st.wrk and sc.wrk:
                        res["wrk"].append(self.wrk_check(sc, t))
        for t in targets:  # still answering correctly after the load?
            pr = scenarios.probe(sc, t.inst, t.scheme, self.files) if t.inst.alive() else \
                dict(ok=False, reason="server exited")
            if not pr["ok"]:
                res["after"][t.key] = pr["reason"]
                log(f"  after the runs, {t.key}: {pr['reason']}")

    def run_idle(self, sc, res, names):
        self.pool.keep_only(set())
        for run in range(1, self.st.runs + 1):
            for scheme in sc.schemes:
                for name in names:
                    k = f"{name} {scheme}"
                    if k in res["na"]:
                        continue
                    t = self.targets(sc, res, [name], fresh=True, schemes=[scheme])
                    if t:
                        res["runs"].append(self.idle_once(sc, t[0], run))
        self.pool.keep_only(set())

    def idle_once(self, sc, t, run):
        waited, quiet, busy = self.quiet()
        out = os.path.join(self.ctx.tmp, "idle.jsonl")
        if os.path.exists(out):
            os.unlink(out)
        n = self.ctx.nofile
        argv = [servers.PY, os.path.join(BENCH, "idle_conns.py"), "--pid", str(t.inst.pid),
                "--port", str(t.inst.ports[t.scheme]),
                "-n", str(self.st.idle_connections or sc.connections),
                "--settle", str(self.st.idle_settle), "--path", sc.path, "--name", t.name,
                "--json", out]
        if sc.client == "h2load":  # an HTTP/2 scenario: the connections speak h2
            argv.append("--h2")
        elif t.scheme == "https":
            argv.append("--tls")
        t0 = time.monotonic()
        p = subprocess.run(measure.pinned(CLIENT_CPU, ["prlimit", f"--nofile={n}:{n}", *argv]),
                           capture_output=True, text=True)
        rec = dict(server=t.name, scheme=t.scheme, run=run, argv=argv, quiet_wait_s=round(waited, 1),
                   contended=not quiet, wall_s=round(time.monotonic() - t0, 1),
                   output=(p.stdout + p.stderr)[-2000:])
        try:
            with open(out) as f:
                rec.update(json.loads(f.read().splitlines()[-1]))
        except (OSError, ValueError, IndexError):
            rec["failed"] = "idle_conns.py: " + (p.stdout + p.stderr)[-500:]
        if rec.get("failed") and not isinstance(rec["failed"], str):
            rec["failed_connections"] = rec.pop("failed")  # idle_conns' count of failed connects
        self.count += 1
        log(f"  [{self.count}] {sc.name} run {run} {t.key}: "
            + (rec["failed"] if isinstance(rec.get("failed"), str) else
               f"{rec['kib_per_conn']:.2f} KiB/conn ({rec['connections']} conns, "
               f"{rec['still_open']} still open)"))
        return rec

    def run(self, sc, names):
        cpus = server_cpus(sc)
        log(f"== {sc.name}: {sc.title}" + (
            "" if cpus == (SERVER_CPU,) else
            f" [servers on CPUs {','.join(map(str, cpus))}, httpsd-load on CPU {CLIENT_CPU}: "
            "shared]"))
        t0 = time.monotonic()
        res = self.new_result(sc, names)
        if self.perf and sc.kind == "idle":
            log("   (no profile for an idle-connection scenario)")
            return None
        (self.run_idle if sc.kind == "idle" else self.run_load)(sc, res, names)
        res["server_logs"] = {f"{i.server.name}": i.log_tail(15) for i in self.pool.running.values()
                              if i.server.is_httpsd}
        res["summary"] = summary.summarize(res)
        res["wall_s"] = round(time.monotonic() - t0, 1)
        kind = ".profile" if self.perf else ""
        path = os.path.join(RESULTS, f"{self.stamp}-{sc.name}{kind}.json")
        with open(path + ".tmp", "w") as f:
            json.dump(res, f, indent=1)
        os.replace(path + ".tmp", path)
        self.done[sc.name] = res
        log(f"   -> {os.path.relpath(path, ROOT)}")
        return res


def parse_args(argv):
    p = argparse.ArgumentParser(
        prog="bench/run",
        description="Benchmark httpsd side by side with nginx, h2o, uWSGI, gunicorn and waitress: "
                    "servers on CPU 0 (on CPUs 0 and 1 in the two-CPU scenarios, *-w2), "
                    "httpsd-load on CPU 1, servers interleaved run by run; "
                    "raw results in bench/results/, the page in docs/BENCHMARKS.md.",
        epilog=f"--quick: 1 run of {QUICK_DURATION:g} s per measurement (not 3 s: 3 s would not "
               "fit the whole default selection in 2 minutes), 2,000 instead of 10,000 idle "
               "connections, a 1 s request timeout, no warm-up, no wrk cross-check, at most 2 s "
               "of waiting for a quiet machine; numbers for a quick look only, never for the published page. "
               "Default: 3 runs of 5 s, 1 s warm-up, one wrk -t1 run per (scenario, server).")
    p.add_argument("scenarios", nargs="*", metavar="SCENARIO", help="default: all (see --list)")
    p.add_argument("--quick", action="store_true", help="a quick look (see below)")
    p.add_argument("--runs", type=int, help="runs per (scenario, server) (default 3; quick 1)")
    p.add_argument("--duration", type=float, help="seconds per measurement (default 5)")
    p.add_argument("--servers", help="comma-separated subset of: " + ", ".join(servers.SERVERS))
    p.add_argument("--list", action="store_true", help="print the scenario names and exit")
    p.add_argument("--no-wrk", action="store_true", help="skip the wrk cross-check")
    p.add_argument("--no-report", action="store_true", help="do not regenerate docs/BENCHMARKS.md")
    p.add_argument("--keep-tmp", action="store_true", help="keep the temp dir (server logs)")
    p.add_argument("--perf", action="store_true",
                   help="profile instead of measuring: one run per server under `perf record "
                        "-g`, the hottest symbols and objects into "
                        "bench/results/<date>-<scenario>.profile.json (shown on the page next "
                        "to the newest measurement; not counted in it)")
    a = p.parse_args(argv)
    unknown = [s for s in a.scenarios if s not in scenarios.SCENARIOS]
    if unknown:
        p.error(f"unknown scenario(s) {', '.join(unknown)}; see --list")
    if a.servers:
        bad = [s for s in a.servers.split(",") if s not in servers.SERVERS]
        if bad:
            p.error(f"unknown server(s) {', '.join(bad)}; known: {', '.join(servers.SERVERS)}")
    if (a.runs is not None and a.runs < 1) or (a.duration is not None and a.duration <= 0):
        p.error("--runs and --duration must be positive")
    return a


def main(argv):
    a = parse_args(argv)
    if a.list:
        for s in scenarios.SCENARIOS.values():
            print(f"{s.name:<18} {s.title}")
        return 0
    t_start = time.monotonic()
    st = Settings(a)
    build = os.environ.get("HTTPSD_BUILD", os.path.join(ROOT, "build-release"))
    chosen = [scenarios.SCENARIOS[n] for n in scenarios.SCENARIOS
              if not a.scenarios or n in a.scenarios]
    only = set(a.servers.split(",")) if a.servers else None
    if os.cpu_count() < 2:
        log("bench/run needs 2 CPUs (server on CPU 0, load generator on CPU 1)")
        return 1

    tmp = tempfile.mkdtemp(prefix="httpsd-bench.")
    os.chmod(tmp, 0o755)  # nginx's workers run as nobody when started as root
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    hard = measure.resource.getrlimit(measure.resource.RLIMIT_NOFILE)[1]
    nofile = 65536 if hard == measure.resource.RLIM_INFINITY else min(hard, 65536)
    pool = None
    try:
        files, www, cert, key = make_files(tmp)
        ctx = servers.Ctx(httpsd=os.path.join(build, "httpsd"), tmp=tmp, www=www, cert=cert,
                          key=key, nofile=nofile)
        pool = servers.Pool(ctx, servers.PortAllocator(19700))
        info = dict(machine=machine_info(), versions=versions(build))
        os.makedirs(RESULTS, exist_ok=True)
        stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M")
        if glob.glob(os.path.join(RESULTS, f"{stamp}-*.json")):
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
        runner = Runner(st, ctx, pool, files, build, stamp, info, perf=a.perf)
        log(f"bench/run: {len(chosen)} scenario(s), {st.runs} run(s) x {st.duration:g} s"
            f"{', quick' if st.quick else ''}; servers on CPU {SERVER_CPU}, httpsd-load on CPU "
            f"{CLIENT_CPU}; temp dir {tmp}")
        for sc in chosen:
            names = [n for n in sc.servers if not only or n in only]
            if names:
                runner.run(sc, names)
    except KeyboardInterrupt:
        log("interrupted: stopping the servers (results of finished scenarios are kept)")
        return 130
    finally:
        if pool:
            pool.stop_all()
        if a.keep_tmp:
            log(f"temp dir kept: {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    wall = time.monotonic() - t_start
    log(f"bench/run: done in {wall:.0f} s ({wall / 60:.1f} min)")
    if not a.no_report:
        import report
        return report.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
