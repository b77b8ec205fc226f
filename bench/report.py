#!/usr/bin/python3
"""Regenerate docs/BENCHMARKS.md, its charts (docs/bench/<scenario>.png) and the headline block
of README.md from the newest bench/results/<YYYYMMDD-HHMM>-<scenario>.json of each scenario.
Every figure comes from a results file; the only hand-written part is bench/analysis.md (the
causes of what is behind), included verbatim.

    /usr/bin/python3 bench/report.py          # also run at the end of bench/run
"""
import glob
import json
import os
import re
import sys

import scenarios
import servers
import summary

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
RESULTS = os.path.join(BENCH, "results")
PAGE = os.path.join(ROOT, "docs", "BENCHMARKS.md")
CHARTS = os.path.join(ROOT, "docs", "bench")
README = os.path.join(ROOT, "README.md")
ANALYSIS = os.path.join(BENCH, "analysis.md")
MARK_START, MARK_END = "<!-- bench:headline:start -->", "<!-- bench:headline:end -->"
FILE_RE = re.compile(r"^(\d{8}-\d{4}(?:\d\d)?)-(.+?)(\.profile)?\.json$")


def newest_results(profiles=False):
    """{scenario name: results dict} in the scenario table's order (the .profile.json files of
    `bench/run --perf` with profiles=True)."""
    found = {}
    for path in glob.glob(os.path.join(RESULTS, "*.json")):
        m = FILE_RE.match(os.path.basename(path))
        if m and m.group(2) in scenarios.SCENARIOS and bool(m.group(3)) == profiles:
            stamp = m.group(1).ljust(15, "0")
            if m.group(2) not in found or stamp > found[m.group(2)][0]:
                found[m.group(2)] = (stamp, path)
    out = {}
    for name in scenarios.SCENARIOS:
        if name in found:
            with open(found[name][1]) as f:
                res = json.load(f)
            res["_file"] = os.path.relpath(found[name][1], ROOT)
            if not profiles:  # recomputed: the same code for old files
                res["summary"] = summary.summarize(res)
            out[name] = res
    return out


# ---------------------------------------------------------------- formatting
def fnum(v, digits=0):
    if v is None:
        return "–"
    if digits == 0 and abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:,.{max(digits, 1 if abs(v) < 100 else 0)}f}"


def fus(us):
    if us is None:
        return "–"
    if us < 1000:
        return f"{us:.0f} µs"
    if us < 1e6:
        return f"{us / 1000:.1f} ms"
    return f"{us / 1e6:.2f} s"


def fratio(r):
    if r is None:
        return "–"
    return f"{r:.0f}×" if r >= 100 else f"{r:.1f}×" if r >= 10 else f"{r:.2f}×"


def fval(metric, v):
    if metric == "p99_us":
        return fus(v)
    if metric == "kib_per_conn":
        return f"{v:.2f}"
    return fnum(v)


def label(res, key):
    name, scheme = key.split(" ")
    lab = res["servers"].get(name, {}).get("label") or servers.SERVERS[name].label
    return lab + (f" ({scheme.upper()})" if len(res["scenario"]["schemes"]) > 1 else "")


def run_desc(res):
    st = res["settings"]
    s = f"{st['runs']} run{'s' if st['runs'] > 1 else ''}"
    if res["scenario"]["kind"] != "idle":
        s += f" × {st['duration']:g} s"
    return s + (" (`--quick`: a quick look, not for quoting)" if st.get("quick") else "")


# ---------------------------------------------------------------- charts
def chart(res, path):
    """A bar chart of the scenario's metric (median, min–max whiskers) per server and scheme."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    sc, summ = res["scenario"], res["summary"]
    metric = summ["metric"]
    keys = list(summ["targets"])
    schemes = [s for s in sc["schemes"] if any(k.endswith(" " + s) for k in keys)]
    names = []
    for k in keys:
        if k.split(" ")[0] not in names:
            names.append(k.split(" ")[0])
    if not names:
        return False
    fig, ax = plt.subplots(figsize=(max(6.0, 1.1 * len(names) * len(schemes) + 2), 3.8), dpi=100)
    width = 0.8 / len(names)
    palette = {"httpsd": "#1f5fa8", "httpsd-t0": "#5b9bd5", "httpsd-w2": "#1f5fa8",
               "httpsd-w1": "#5b9bd5"}
    others = ["#9a9a9a", "#c27c2c", "#6a9f58", "#a55194", "#8c6d31", "#d6616b"]
    ticks = []  # (x, label) of each bar when there is one group
    for i, name in enumerate(names):
        xs, ys, lo, hi, least = [], [], [], [], []
        for j, scheme in enumerate(schemes):
            t = summ["targets"].get(f"{name} {scheme}")
            if not t or not t["value"]:
                continue
            v = t["value"]
            xs.append(j + (i - (len(names) - 1) / 2) * width)
            ys.append(v["median"])
            lo.append(v["median"] - v["min"])
            hi.append(v["max"] - v["median"])
            least.append("≥ " if t.get("lower_bound") else "")
        if not xs:
            continue
        color = palette.get(name) or others[i % len(others)]
        ceiling = name in sc.get("ceiling", ())
        lab = res["servers"].get(name, {}).get("label", name) + (" (ceiling)" if ceiling else "")
        ticks.append((xs[0], lab))
        bars = ax.bar(xs, ys, width * 0.92, yerr=[lo, hi], capsize=3, color=color,
                      hatch="//" if ceiling else None, edgecolor="white" if not ceiling else "#555",
                      label=lab)
        for b, y, ge in zip(bars, ys, least):
            ax.annotate(ge + fval(metric, y).replace(" µs", "µs").replace(" ms", "ms"),
                        (b.get_x() + b.get_width() / 2, y), ha="center", va="bottom",
                        fontsize=7, xytext=(0, 2), textcoords="offset points")
    if len(schemes) > 1:
        ax.set_xticks(range(len(schemes)))
        ax.set_xticklabels([s.upper() for s in schemes])
        ax.legend(fontsize=7, ncol=min(4, len(names)), loc="upper center",
                  bbox_to_anchor=(0.5, -0.08), frameon=False)
    else:  # one group: the servers' names under their bars
        ax.set_xticks([x for x, _ in ticks])
        ax.set_xticklabels([t.replace(" (", "\n(") for _, t in ticks], fontsize=7)
    if metric == "p99_us":  # from tens of µs to a timeout: a log scale
        ax.set_yscale("log")
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: fus(y)))
    else:
        ax.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda y, _: f"{y:,.0f}"))
    mlabel, unit, higher = summary.METRICS[metric]
    ax.set_ylabel(f"{unit if metric == 'req_per_s' else mlabel} (median; whiskers: min–max)",
                  fontsize=8)
    ax.set_title(f"{sc['name']}: {sc['title']}\n{mlabel}, {'higher' if higher else 'lower'} is better"
                 f" — {res['stamp']}, {run_desc(res).split(' (')[0]}", fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)
    if metric != "p99_us":
        ax.set_ylim(0, ax.get_ylim()[1] * 1.1)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


# ---------------------------------------------------------------- tables
def target_notes(res, key, t):
    summ = res["summary"]
    notes = []
    pr = res["probes"].get(key, {})
    for n in (pr.get("note") or "").split("; ")[1:]:
        notes.append(n)
    if t["errors"]:
        notes.append("**errors: " + ", ".join(f"{k} {v:,}" for k, v in t["errors"].items()) + "**")
    if t.get("unexpected_status"):
        notes.append("**unexpected status: " + ", ".join(f"{k}×{v:,}" for k, v in t["unexpected_status"].items()) + "**")
    if t.get("lower_bound"):
        notes.append("**fewer than 99 % of the scheduled requests completed: "
                     + ", ".join(k.replace("_", ".") for k in t["lower_bound"])
                     + " shown as the timeout, a lower bound**")
    if t["failed_runs"]:
        why = " / ".join(f.replace("\n", " ").replace("|", "\\|") for f in t.get("failures", ()))
        notes.append(f"**{t['failed_runs']} run(s) failed" + (f": {why}" if why else "") + "**")
    if t["contended_runs"]:
        notes.append(f"contended run(s) {t['contended_runs']} (other work on a benchmark CPU)")
    if t["client_bound"]:
        notes.append("client-bound (httpsd-load's CPU saturated)")
    procs = t.get("procs")
    if procs:
        sh = [f"{100 * x:.0f}%" for x in procs["shares"]]
        if procs.get("workers"):
            notes.append(f"CPU by process: main {sh[0]}, workers {' / '.join(sh[1:])}")
        else:  # h2o: one process (its threads not split) and helper processes
            notes.append(f"CPU by process: main {sh[0]} (threads not split), helper processes "
                         f"{' / '.join(sh[1:])}")
        if procs["idle_workers"]:
            notes.append(f"**{procs['idle_workers']} worker(s) with under "
                         f"{100 * summary.IDLE_WORKER_SHARE:.0f}% of the workers' CPU time**")
    if key in res.get("after", {}):
        notes.append(f"**after the runs: {res['after'][key]}**")
    w = summ["wrk"].get(key)
    if w and w.get("flagged"):
        notes.append(f"wrk differs: {w.get('why', '')}")
    return "; ".join(notes)


def scenario_table(res):
    sc, summ = res["scenario"], res["summary"]
    metric, kind = summ["metric"], sc["kind"]
    httpsds = [n for n in sc["servers"] if n.startswith("httpsd")
               and n not in sc.get("reference", ())
               and any(k.startswith(n + " ") for k in summ["targets"])]
    two_cpus = sc.get("server_cpus", 1) > 1
    h2load = sc.get("client") == "h2load"  # no percentiles: its mean and max per request
    lat_keys = ("mean_us", "max_us") if h2load else ("p50_us", "p99_us")
    cols = ["server"]
    if kind == "idle":
        cols += ["KiB per connection (median)", "min – max", "connections",
                 "server RSS before → with them open (MiB)"]
    elif kind == "rate":
        cols += ["target req/s", "achieved req/s", "p50", "p99", "p99.9", "server CPU µs/req"]
    else:
        if metric != "req_per_s":
            cols += [f"{summary.METRICS[metric][0]} (median)", "min – max"]
        cols += ["req/s (median)", "min – max"]
        if sc.get("show_bytes"):
            cols.append("MiB/s")
        cols += ["server CPU µs/req"]
        if two_cpus:
            cols.append(f"server CPU (of {100 * sc['server_cpus']}%)")
        cols += ["client CPU"] + (["mean latency", "max latency"] if h2load else ["p50", "p99"])
    labels = {n: servers.SERVERS[n].label for n in httpsds}
    cols += [f"{labels[h]} ÷ this" for h in httpsds]
    if any(summ["wrk"].values()):
        cols.append("wrk -t1 req/s (vs median)")
    cols.append("notes")
    lines = ["| " + " | ".join(cols) + " |",
             "|" + "|".join("---" if c in ("server", "notes") else "---:" for c in cols) + "|"]
    for key, t in summ["targets"].items():
        name, scheme = key.split(" ")
        row = [f"**{label(res, key)}**" if name.startswith("httpsd") else label(res, key)]
        if name in sc.get("ceiling", ()):
            row[0] += " (ceiling)"
        if kind == "idle":
            v = t["value"]
            conns = [r.get("connections") for r in res["runs"]
                     if f"{r['server']} {r['scheme']}" == key and r.get("connections")]
            rss = [(r["rss_before_kib"], r["rss_after_kib"]) for r in res["runs"]
                   if f"{r['server']} {r['scheme']}" == key and "rss_after_kib" in r]
            mid = sorted(rss, key=lambda x: x[1] - x[0])[len(rss) // 2] if rss else None
            row += [fval(metric, v["median"]) if v else "–",
                    f"{v['min']:.2f} – {v['max']:.2f}" if v else "–",
                    f"{min(conns):,}" if conns else "–",
                    f"{mid[0] / 1024:.1f} → {mid[1] / 1024:.1f}" if mid else "–"]
        elif kind == "rate":
            tr, rq = t["target_rate"], t["req_per_s"]
            row += [fnum(tr["median"]) if tr else "–", fnum(rq["median"]) if rq else "–",
                    fus(t["p50_us"] and t["p50_us"]["median"]), fus(t["p99_us"] and t["p99_us"]["median"]),
                    fus(t["p99_9_us"] and t["p99_9_us"]["median"]),
                    fnum(t["server_cpu_us_per_req"] and t["server_cpu_us_per_req"]["median"], 1)]
        else:
            r = t["req_per_s"]
            if metric != "req_per_s":
                v = t["value"]
                row += [fnum(v["median"]) if v else "–", f"{fnum(v['min'])} – {fnum(v['max'])}" if v else "–"]
            row += [fnum(r["median"]) if r else "–", f"{fnum(r['min'])} – {fnum(r['max'])}" if r else "–"]
            if sc.get("show_bytes"):
                row.append(fnum(t["mib_per_s"] and t["mib_per_s"]["median"], 1))
            cpu = t["server_cpu_us_per_req"]
            cc = t["client_cpu_pct"]
            row.append(fnum(cpu and cpu["median"], 1))
            if two_cpus:
                sp = t.get("server_cpu_pct")
                row.append(f"{sp['median']:.0f}%" if sp else "–")
            row += [f"{cc['median']:.0f}%" if cc else "–"]
            row += [fus(t.get(k) and t[k]["median"]) for k in lat_keys]
        for h in httpsds:
            rr = summ["ratios"].get(scheme, {}).get(h, {}).get(name)
            if name.startswith("httpsd") or not rr:
                row.append("")
            else:
                cell = ("≥ " if rr.get("at_least") else "") + fratio(rr["ratio"])
                if rr.get("cpu_ratio") and kind != "idle":
                    cell += f" (CPU {fratio(rr['cpu_ratio'])})"
                row.append(cell)
        if "wrk -t1 req/s (vs median)" in cols:
            w = summ["wrk"].get(key)
            if not w:
                row.append("")
            elif w.get("req_per_s") is None:
                row.append("failed")
            else:
                row.append(f"{fnum(w['req_per_s'])} ({w['diff']:+.0%}){' ⚠' if w['flagged'] else ''}")
        row.append(target_notes(res, key, t))
        lines.append("| " + " | ".join(row) + " |")
    for key, why in res["na"].items():
        lines.append("| " + " | ".join([label(res, key)] + ["n/a"] + [""] * (len(cols) - 3) + [why.replace("\n", " ")[:300]]) + " |")
    return "\n".join(lines)


def tidy(arg):
    """A command-line word without this run's temp dir, pids and absolute build paths."""
    arg = re.sub(r"/tmp/httpsd-bench\.[^/\s]+", "$TMP", arg)
    arg = re.sub(r"\S*/bench/(apps|idle_conns\.py)", r"bench/\1", arg)
    return re.sub(r"^/\S*/(httpsd-load|httpsd)$", r"\1", arg)


def client_command(res):
    """(the command line of httpsd's first run, else of the first server's; that server's label)"""
    runs = [r for r in res["runs"] if r.get("argv")]
    first = next((r for r in runs if r["server"].startswith("httpsd")), runs[0] if runs else None)
    if not first:
        return None, None
    argv = [tidy(a) for a in first["argv"]]
    if argv and argv[0].endswith("python3"):
        argv = argv[1:]
    if "--pid" in argv:
        argv[argv.index("--pid") + 1] = "SERVER_PID"
    quoted = " ".join(f"'{a}'" if (" " in a or not a) else a for a in argv)
    who = res["servers"].get(first["server"], {}).get("label", first["server"])
    return f"taskset -c {res['settings']['client_cpu']} {quoted}", who


def ratio_words(r, higher):
    return f"{r:.2f}×"


def threshold_lines(res, link=False):
    """One line per threshold of the scenario, e.g.
    "- cpu-w2: httpsd -w 2 ÷ httpsd -w 1 = 1.93× (needs ≥ 1.8×: met)"."""
    sc, out = res["scenario"], []
    multi = len(sc["schemes"]) > 1
    for th in res["summary"].get("thresholds", ()):
        a, b = (res["servers"].get(n, {}).get("label") or servers.SERVERS[n].label
                for n in (th["server"], th["other"]))
        name = f"[{sc['name']}](#{sc['name']})" if link else sc["name"]
        scheme = f" {th['scheme'].upper()}" if multi else ""
        verdict = ("n/a (no value for both)" if th["met"] is None else
                   "met" if th["met"] else "**not met**")
        out.append(f"- {name}{scheme}: {a} ÷ {b} = {fratio(th['ratio'])} "
                   f"(needs ≥ {th['minimum']:.1f}×: {verdict})")
    return out


# ---------------------------------------------------------------- the page
def headline_rows(results):
    """(scenario, scheme, metric label, httpsd value, [(peer label, ratio)], goal met?)"""
    rows = []
    for name, res in results.items():
        sc, summ = res["scenario"], res["summary"]
        for scheme in sc["schemes"]:
            ratios = summ["ratios"].get(scheme, {})
            h = "httpsd" if "httpsd" in ratios else next(iter(ratios), None)
            if not h:
                continue
            peers = [(servers.SERVERS[p].label + (" (ceiling)" if r["ceiling"] else ""), r["ratio"],
                      r.get("at_least")) for p, r in ratios[h].items()]
            rows.append((name, scheme if len(sc["schemes"]) > 1 else "", h, peers,
                         summary.METRICS[summ["metric"]][0]))
    return rows


def headline_table(results, link_prefix=""):
    lines = ["| scenario | metric | httpsd vs each peer (× = httpsd better by) |", "|---|---|---|"]
    for name, scheme, h, peers, metric in headline_rows(results):
        cell = ", ".join(f"{p} **{fratio(r)}**" if r is not None and r < 1 else
                         f"{p} {'≥ ' if least else ''}{fratio(r)}" for p, r, least in peers)
        who = servers.SERVERS[h].label
        lines.append(f"| [{name}]({link_prefix}#{name}){' ' + scheme.upper() if scheme else ''}"
                     f"{'' if h == 'httpsd' else f' ({who})'} | {metric} | {cell} |")
    return "\n".join(lines)


def behind_section(results):
    out = []
    for name, res in results.items():
        sc, summ = res["scenario"], res["summary"]
        mlabel = summary.METRICS[summ["metric"]][0]
        for b in summ["behind"]:
            t = summ["targets"][f"{b['httpsd']} {b['scheme']}"]
            p = summ["targets"][f"{b['peer']} {b['scheme']}"]
            scheme = f" over {b['scheme'].upper()}" if len(sc["schemes"]) > 1 else ""
            line = (f"- **{name}**{scheme}: {servers.SERVERS[b['httpsd']].label} is at "
                    f"**{b['ratio']:.2f}×** {servers.SERVERS[b['peer']].label} on {mlabel} "
                    f"({fval(summ['metric'], t['value']['median'])} vs "
                    f"{fval(summ['metric'], p['value']['median'])})")
            extra = []
            if b.get("cpu_ratio"):
                extra.append(f"CPU per request {b['cpu_ratio']:.2f}× ({'cheaper' if b['cpu_ratio'] >= 1 else 'dearer'})")
            if b["ranges_overlap"]:
                extra.append("the min–max ranges overlap: within run-to-run noise")
            if t["client_bound"] or p["client_bound"]:
                extra.append("the load generator was saturated: the servers' CPU per request says more")
            if res["settings"].get("quick"):
                extra.append("a `--quick` result")
            out.append(line + (f"; {'; '.join(extra)}" if extra else "") + ".")
        for key, t in summ["targets"].items():  # every run of httpsd failed: no number at all
            name_, scheme = key.split(" ")
            if name_.startswith("httpsd") and name_ not in sc.get("reference", ()) \
                    and t["failed_runs"] and not t["value"]:
                where = f" over {scheme.upper()}" if len(sc["schemes"]) > 1 else ""
                out.append(f"- **{name}**{where}: every run of {servers.SERVERS[name_].label} "
                           "failed: " + " / ".join(t.get("failures", ()))[:300].replace("\n", " ")
                           + ".")
        for key, why in res.get("na", {}).items():  # httpsd could not do the scenario at all
            name_, scheme = key.split(" ")
            if name_.startswith("httpsd") and name_ not in sc.get("reference", ()):
                where = f" over {scheme.upper()}" if len(sc["schemes"]) > 1 else ""
                out.append(f"- **{name}**{where}: {servers.SERVERS[name_].label} is n/a: "
                           + why.replace("\n", " ")[:300] + ".")
    return out


def profile_section(prof):
    """Collapsed tables of where each server spent its CPU (from a .profile.json)."""
    L = [f"Profiles (`{prof['_file']}`, {prof['date']}; `perf record -g` on the server's "
         "processes during one extra, unmeasured run; self time):", ""]
    for key, p in prof["profiles"].items():
        if not p.get("top"):
            continue
        objs = ", ".join(f"{dso} {pc:.0f}%" for pc, dso, _ in p["by_object"][:6])
        L += [f"<details><summary>{label(prof, key)}: {objs}</summary>", "",
              "| % | object | symbol |", "|---:|---|---|"]
        L += [f"| {pc:.1f} | {dso} | `{sym}` |" for pc, dso, sym in p["top"]]
        L += ["", "</details>", ""]
    return L


def page(results, charts, profiles):
    any_res = next(iter(results.values()))
    L = ["# httpsd benchmarks", "",
         "> Generated by `bench/report.py` from the newest `bench/results/<date>-<scenario>.json` "
         "of each scenario — do not edit by hand. Reproduce with `./bench/run` (every scenario, "
         "about 35 minutes) or `./bench/run SCENARIO…`; `./bench/run --quick` is a "
         "two-minute look whose numbers are not for quoting.", "",
         "## How the numbers are made", "",
         "- **One machine, one run, the same client for every server.** Each server is pinned to "
         "CPU 0 and the load generator, `httpsd-load -p 1` (one process), to CPU 1 with "
         "`taskset`; every server gets the same files, app, certificate and requests.",
         *(["- **Two-CPU scenarios** (" + ", ".join(f"[{n}](#{n})" for n, r in results.items()
                                                   if r["scenario"].get("server_cpus", 1) > 1)
            + "): each server has both CPUs (`taskset -c 0,1`) and two workers (processes; h2o: "
            "threads), and the load generator stays on CPU 1, **sharing it with the servers** "
            "(the machine has two CPUs). Their tables add the servers' CPU use (of 200%) and "
            "each server process's share of the server's CPU time (to show that every worker "
            "worked)."] if any(r["scenario"].get("server_cpus", 1) > 1 for r in results.values())
           else []),
         *(["- **HTTP/2 scenarios** (" + ", ".join(f"[{n}](#{n})" for n, r in results.items()
                                                  if r["scenario"].get("client") == "h2load")
            + "): the load generator is `h2load -t 1 -c 50 -m 10` (nghttp2; 10 requests in "
            "flight per connection) over TLS, offering only h2 by ALPN, pinned to CPU 1 like "
            "httpsd-load; each server's answer is checked with `curl --http2` (h2 negotiated, "
            "status, exact body), and a run with any failed, errored or timed-out request or a "
            "non-2xx answer counts as failed, not as a number."]
           if any(r["scenario"].get("client") == "h2load" for r in results.values()) else []),
         "- **Interleaved runs**: run 1 of every server, then run 2 of every server, … so drift on "
         "the machine hits all alike. Tables give the median and the min – max over the runs.",
         "- **Checked before measured**: each server's answer to the scenario's request is "
         "checked (status and the exact body, or the multipart ranges) before any load; a server "
         "that cannot do a scenario is listed as *n/a* with the reason. The check is repeated "
         "after the runs.",
         "- **Server CPU µs/req**: utime + stime of the server's whole process tree (master, "
         "workers, threads; from `/proc/PID/stat`) over the run, divided by the requests. It "
         "includes loopback TCP work the kernel bills to the server's CPU. Where the client is "
         "saturated (client CPU ≈ 100%), two servers can show the same req/s and this column "
         "tells them apart.",
         "- **Quiet machine**: before each measurement the runner waits (up to 60 s) until both "
         "CPUs are under 10% busy; a run during which other work took more than 5% of either CPU "
         "is re-done once, then kept and flagged *contended*.",
         "- **wrk cross-check**: one `wrk -t1` run per scenario and server (same connections, "
         "headers and duration) in the first round; a difference of more than 10% from "
         "httpsd-load's median is flagged ⚠ with the reason where it is known.",
         "- **Ratios** (`httpsd ÷ this`): how many times better httpsd is than that server on the "
         "scenario's metric (req/s: higher is better; latency and memory: lower is better, so the "
         "ratio is theirs ÷ ours); above 1.00× httpsd is ahead. *(CPU …×)* is the same for server "
         "CPU per request. nginx `return 200` in the WSGI scenarios is a ceiling (a C server "
         "answering without an app), not a peer.", ""]
    # machine and versions
    m, v = any_res["machine"], any_res["versions"]
    L += ["## Machine and versions", "",
          "| | |", "|---|---|",
          f"| CPU | {m['cpu_model']}, {m['cpus']} CPUs{' (' + m['virtualization'] + ')' if m.get('virtualization') and m['virtualization'] != 'none' else ''} |",
          f"| kernel / OS | Linux {m['kernel']} / {m['os']} |",
          f"| memory | {m['memory_gib']} GiB |",
          f"| kTLS | {'kernel tls module loaded' if m.get('ktls_module') else 'no kernel tls module: TLS bodies are encrypted in user space by every server'} |"]
    for k in ("httpsd", "httpsd_git", "httpsd_load", "nginx", "h2o", "uwsgi", "gunicorn",
              "waitress", "flask", "python", "wrk", "h2load", "curl", "openssl"):
        if v.get(k):
            pkg = {"nginx": "nginx", "h2o": "h2o", "uwsgi": "uwsgi-core", "gunicorn": "gunicorn",
                   "waitress": "python3-waitress"}.get(k)
            deb = f" (Debian {v.get('debian:' + pkg)})" if pkg and v.get("debian:" + pkg) else ""
            L.append(f"| {k.replace('_', ' ')} | {v[k]}{deb} |")
    stamps = sorted({(r['stamp'], run_desc(r)) for r in results.values()})
    L += ["", "Results used (newest per scenario): " + "; ".join(
        f"`{s}` ({d})" for s, d in stamps) + ". Machine and versions above are those of the "
        "newest file; each scenario's file has its own.", ""]
    # headline
    L += ["## Headline", "", headline_table(results), "",
          "Bold: httpsd behind that server (see *Where httpsd is behind*).", ""]
    ths = [line for res in results.values() for line in threshold_lines(res, link=True)]
    if ths:
        L += ["Thresholds the scenarios are meant to show (the done-when of issues 11 and 13; "
              "the same run's medians):", ""] + ths + [""]
    # scenarios
    L += ["## Scenarios", ""]
    for name, res in results.items():
        sc = res["scenario"]
        L += [f"### {name}", "", f"**{sc['title']}.** " + (sc.get("note") or ""), "",
              f"`{res['_file']}`, {res['date']}, {run_desc(res)}; "
              + (f"servers on CPUs {','.join(map(str, sc['server_cpu_list']))}, the client on "
                 f"CPU {res['settings']['client_cpu']} (shared); "
                 if sc.get("server_cpus", 1) > 1 else "")
              + f"{sc['connections']:,} connections"
              + (f" × {sc['streams']} streams, HTTP/2" if sc.get("client") == "h2load" else "")
              + (", keep-alive" if sc["keepalive"] else
                                                      ", a new connection per request")
              + (f", {sc['method']} {sc['path']}" + (f" with a {sc['body_bytes']:,}-byte body" if sc["body_bytes"] else ""))
              + (f", headers {', '.join('`' + h + '`' for h in sc['headers'])}" if sc["headers"] else "") + ".", ""]
        cmd, who = client_command(res)
        if cmd:
            L += [f"Client command (the {who} run; every server gets the same with its own port"
                  + (", the ceiling its own path" if sc.get("ceiling_path") else "") + "):", "",
                  "```", cmd, "```", ""]
        L += [scenario_table(res), ""]
        ths = threshold_lines(res)
        if ths:
            L += ["Thresholds (medians of this run):", ""] + ths + [""]
        if res.get("rates"):
            L += ["Rates: 50 % of " + "; ".join(
                f"{label(res, k)} {fnum(r['max_req_per_s'])} req/s" for k, r in res["rates"].items())
                + f" (from {next(iter(res['rates'].values()))['source']}).", ""]
        if name in charts:
            L += [f"![{name}](bench/{name}.png)", ""]
        prof = profiles.get(name)
        if prof:
            L += profile_section(prof)
    # behind
    behind = behind_section(results)
    L += ["## Where httpsd is behind", ""]
    L += behind or ["Nowhere in these results: httpsd is ahead of every peer in every scenario."]
    L += ["", "WSGI scenarios count uWSGI, gunicorn and waitress as peers (nginx `return 200` is "
          "the ceiling); static, TLS, memory and HTTP/2 scenarios count nginx and h2o "
          "(h2-wsgi-hello: nginx serving the 27-byte file over h2 is the ceiling).", ""]
    if os.path.exists(ANALYSIS):
        with open(ANALYSIS) as f:
            L += [f.read().strip(), ""]
    # configurations
    L += ["## Server configurations", "",
          "Every server runs under `taskset -c 0 prlimit --nofile=N:N` (`taskset -c 0,1` in the "
          "two-CPU scenarios), from `bench/apps/` as its "
          "working directory; the exact command lines and filled-in config files of each run are "
          "in its results file.", ""]
    seen = {}
    for res in results.values():
        for name, s in res["servers"].items():
            seen.setdefault(name, s)
    for name in servers.SERVERS:
        if name not in seen:
            continue
        s = seen[name]
        argv = " ".join(tidy(a) for a in s["argv"])
        L += [f"- **{s['label']}**: {s['recommendation']}" +
              (f" Config: [`bench/conf/{s['config_template']}`](../bench/conf/{s['config_template']})."
               if s.get("config_template") else ""), f"  `{argv}`"]
    L += ["", "Apps: [`bench/apps/hello.py`](../bench/apps/hello.py) (bare WSGI: `/`, `/100k`, "
          "`/echo`, `/cpu`) and [`bench/apps/flaskapp.py`](../bench/apps/flaskapp.py).", ""]
    return "\n".join(L)


def update_readme(results):
    try:
        with open(README) as f:
            text = f.read()
    except OSError:
        return False
    if MARK_START not in text or MARK_END not in text:
        print(f"report.py: no {MARK_START} block in README.md: headline not updated", file=sys.stderr)
        return False
    stamps = sorted({r["stamp"] for r in results.values()})
    quick = any(r["settings"].get("quick") for r in results.values())
    block = (f"{MARK_START}\n"
             f"From `./bench/run` ({', '.join(stamps)}{'; includes `--quick` results' if quick else ''}); "
             "each cell is how many times better httpsd is than that server on the scenario's "
             "metric (below 1.00×, in bold, httpsd is behind). Tables, charts, commands and "
             "causes: [docs/BENCHMARKS.md](docs/BENCHMARKS.md).\n\n"
             + headline_table(results, "docs/BENCHMARKS.md") + f"\n{MARK_END}")
    new = re.sub(re.escape(MARK_START) + ".*?" + re.escape(MARK_END), lambda _: block, text, flags=re.S)
    if new != text:
        with open(README, "w") as f:
            f.write(new)
    return True


def main(argv):
    results = newest_results()
    if not results:
        print("report.py: no results in bench/results/ yet (run ./bench/run)", file=sys.stderr)
        return 1
    os.makedirs(CHARTS, exist_ok=True)
    charts = set()
    for name, res in results.items():
        if chart(res, os.path.join(CHARTS, f"{name}.png")):
            charts.add(name)
    with open(PAGE, "w") as f:
        f.write(page(results, charts, newest_results(profiles=True)))
    update_readme(results)
    print(f"report.py: {os.path.relpath(PAGE, ROOT)} from {len(results)} scenario(s), "
          f"{len(charts)} chart(s) in {os.path.relpath(CHARTS, ROOT)}/", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
