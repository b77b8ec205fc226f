"""Medians, ranges and ratios from a results file's raw runs (used by the runner when it writes a
results file and by report.py when it reads one, so both always agree)."""
import statistics

METRICS = {  # name -> (label, unit, higher is better)
    "req_per_s": ("req/s", "req/s", True),
    "req_per_server_cpu_s": ("requests per server CPU-second", "req per CPU-s", True),
    "p99_us": ("p99 latency", "µs", False),
    "kib_per_conn": ("RSS per connection", "KiB", False),
}
WRK_TOLERANCE = 0.10
CLIENT_BOUND_PCT = 95.0
IDLE_WORKER_SHARE = 0.10  # a worker with less of the workers' CPU time than this sat out the run


def _stats(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return dict(median=statistics.median(values), min=min(values), max=max(values))


def _latency(run, key, duration, timeout):
    """A latency percentile of an open-loop (--rate) run, counting the requests that never
    completed: when more than (100 - p) % of the scheduled requests did not complete (timed out,
    failed, or could not even be sent), the percentile is at least the timeout, so that is what
    is returned (with lower_bound set on the run)."""
    lat = (run.get("latency_us") or {}).get(key)
    if not run.get("target_rate") or lat is None:
        return lat
    scheduled = run["target_rate"] * duration
    missing = max(0.0, 1 - run.get("requests", 0) / scheduled) if scheduled else 0.0
    pct = {"p50": 50, "p99": 99, "p99_9": 99.9}.get(key, 100)
    if missing > 1 - pct / 100:
        run.setdefault("lower_bound", []).append(key)
        return max(lat, timeout * 1e6)
    return lat


def _metric(run, metric, duration, timeout):
    if metric == "p99_us":
        return _latency(run, "p99", duration, timeout)
    return run.get(metric)


def _procs(ok, workers):
    """Each server process's share of the tree's CPU time over the runs (the main process first;
    from server_cpu_by_proc, recorded in the two-CPU scenarios), or None. workers: how many of
    the main process's children are workers (the server row's procs - 1; h2o's children are
    helpers, 0); with two or more, idle_workers counts those that (almost) sat out."""
    total = {}
    for r in ok:
        for pid, s in r.get("server_cpu_by_proc") or ():
            total[pid] = total.get(pid, 0.0) + s
    cpu = sum(total.values())
    if len(total) < 2 or not cpu:
        return None
    shares = [s / cpu for s in total.values()]
    kids = shares[1:]
    return dict(shares=[round(x, 4) for x in shares], workers=workers,
                idle_workers=sum(1 for w in kids if workers > 1
                                 and w < IDLE_WORKER_SHARE * sum(kids)))


def target_summary(runs, metric, duration=1.0, timeout=2.0, workers=0):
    ok = [r for r in runs if not r.get("failed")]
    lat = lambda k: _stats([_latency(r, k, duration, timeout) for r in ok])
    s = dict(runs=len(runs), failed_runs=len(runs) - len(ok),
             failures=sorted({str(r["failed"])[:300] for r in runs if r.get("failed")}),
             req_per_server_cpu_s=_stats([r.get("req_per_server_cpu_s") for r in ok]),
             value=_stats([_metric(r, metric, duration, timeout) for r in ok]),
             req_per_s=_stats([r.get("req_per_s") for r in ok]),
             mib_per_s=_stats([r["bytes_per_s"] / 2**20 for r in ok if r.get("bytes_per_s")]),
             server_cpu_us_per_req=_stats([r.get("server_cpu_us_per_req") for r in ok]),
             server_cpu_pct=_stats([r.get("server_cpu_pct") for r in ok]),
             client_cpu_pct=_stats([r.get("client_cpu_pct") for r in ok]),
             p50_us=lat("p50"), p99_us=lat("p99"), p99_9_us=lat("p99_9"),
             mean_us=lat("mean"), max_us=lat("max"),  # h2load's (it has no percentiles)
             target_rate=_stats([r.get("target_rate") for r in ok]),
             contended_runs=[r["run"] for r in runs if r.get("contended")],
             procs=_procs(ok, workers),
             lower_bound=sorted({k for r in ok for k in r.get("lower_bound", ())}),
             status={}, errors={})
    for r in ok:
        for k, v in (r.get("status") or {}).items():
            s["status"][k] = s["status"].get(k, 0) + v
        for k, v in (r.get("errors") or {}).items():
            if v:
                s["errors"][k] = s["errors"].get(k, 0) + v
    cc = s["client_cpu_pct"]
    s["client_bound"] = bool(cc and cc["median"] >= CLIENT_BOUND_PCT)
    return s


def _wrk_why(sc, t, w, probe):
    """What is known to make wrk and httpsd-load disagree here."""
    why = []
    if t["errors"].get("timeout"):
        why.append("httpsd-load waits for requests in flight at the end (up to its timeout) and "
                   "counts that time; wrk's window ends on time and drops them: here "
                   f"{t['errors']['timeout']} requests never got an answer")
    if not sc.get("keepalive", True) and "ignores" in probe.get("note", ""):
        why.append("the server ignores `Connection: close`, so wrk's connections stay alive; "
                   "httpsd-load closes after each response")
    if (w.get("client_cpu_pct") or 0) >= CLIENT_BOUND_PCT:
        why.append(f"wrk's one thread was saturated ({w['client_cpu_pct']:.0f}% CPU)")
    if t["client_bound"]:
        why.append("httpsd-load's one process was saturated")
    if w.get("socket_errors"):
        why.append(f"wrk socket errors: {w['socket_errors']}")
    return "; ".join(why) or "not known"


def summarize(res):
    """{"targets": {"server scheme": summary}, "ratios": {...}, "behind": [...], "wrk": {...}}"""
    sc = res["scenario"]
    metric = sc["metric"]
    higher = METRICS[metric][2]
    keys = []
    for r in res["runs"]:
        k = f"{r['server']} {r['scheme']}"
        if k not in keys:
            keys.append(k)
    procs = {n: s.get("procs", 1) for n, s in res.get("servers", {}).items()}
    targets = {k: target_summary([r for r in res["runs"] if f"{r['server']} {r['scheme']}" == k],
                                 metric, res["settings"]["duration"],
                                 sc.get("timeout") or res["settings"].get("timeout", 2.0),
                                 procs.get(k.split(" ")[0], 1) - 1)
               for k in keys}
    for k, t in targets.items():
        exp = sc.get("expect_status", 200)
        # httpsd-load counts each status code, h2load each class ("2xx")
        bad = {c: n for c, n in t["status"].items() if n and c not in (str(exp), f"{exp // 100}xx")}
        t["unexpected_status"] = bad
    wrk = {}
    for w in res.get("wrk", []):
        k = f"{w['server']} {w['scheme']}"
        t = targets.get(k)
        if not w.get("result") or not t or not t["req_per_s"]:
            wrk[k] = dict(req_per_s=None, flagged=True, why=w.get("error", "wrk failed"))
            continue
        ours = t["req_per_s"]["median"]
        diff = w["result"]["requests_per_s"] / ours - 1 if ours else None
        wrk[k] = dict(req_per_s=w["result"]["requests_per_s"], diff=diff,
                      flagged=diff is None or abs(diff) > WRK_TOLERANCE,
                      client_cpu_pct=w.get("client_cpu_pct"),
                      server_cpu_us_per_req=w.get("server_cpu_us_per_req"),
                      non_2xx_3xx=w["result"].get("non_2xx_3xx"),
                      socket_errors=w["result"].get("socket_errors"))
        if wrk[k]["flagged"]:
            wrk[k]["why"] = _wrk_why(sc, t, wrk[k], res.get("probes", {}).get(k, {}))
    ratios, behind = {}, []
    ceiling = set(sc.get("ceiling", ()))
    for k, t in targets.items():
        server, scheme = k.split(" ")
        if not server.startswith("httpsd") or server in sc.get("reference", ()) or not t["value"]:
            continue
        for k2, t2 in targets.items():
            peer, scheme2 = k2.split(" ")
            if scheme2 != scheme or peer.startswith("httpsd") or not t2["value"]:
                continue
            a, b = t["value"]["median"], t2["value"]["median"]
            r = (a / b if higher else b / a) if a and b else None
            cpu = None
            if t["server_cpu_us_per_req"] and t2["server_cpu_us_per_req"] and metric != "kib_per_conn":
                cpu = t2["server_cpu_us_per_req"]["median"] / t["server_cpu_us_per_req"]["median"]
            overlap = (t["value"]["min"] <= t2["value"]["max"] and t2["value"]["min"] <= t["value"]["max"])
            ratios.setdefault(scheme, {}).setdefault(server, {})[peer] = dict(
                ratio=r, cpu_ratio=cpu, ranges_overlap=overlap, ceiling=peer in ceiling,
                at_least=bool(t2.get("lower_bound")) and not t.get("lower_bound"))
            if r is not None and r < 1.0 and peer not in ceiling:
                behind.append(dict(httpsd=server, peer=peer, scheme=scheme, ratio=r,
                                   cpu_ratio=cpu, ranges_overlap=overlap))
    return dict(metric=metric, higher_is_better=higher, targets=targets, ratios=ratios,
                behind=behind, wrk=wrk, thresholds=_thresholds(sc, targets, higher))


def _thresholds(sc, targets, higher):
    """The scenario's thresholds, per scheme: dict(server, other, scheme, minimum, ratio, met)
    (ratio and met None when either side has no value)."""
    out = []
    for server, other, minimum in sc.get("thresholds", ()):
        for scheme in sc["schemes"]:
            a, b = targets.get(f"{server} {scheme}"), targets.get(f"{other} {scheme}")
            x = a and a["value"] and a["value"]["median"]
            y = b and b["value"] and b["value"]["median"]
            r = (x / y if higher else y / x) if x and y else None
            out.append(dict(server=server, other=other, scheme=scheme, minimum=minimum, ratio=r,
                            met=None if r is None else r >= minimum))
    return out
