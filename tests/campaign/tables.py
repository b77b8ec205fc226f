#!/usr/bin/python3
"""Prints the figure tables of docs/RELIABILITY.md from one or more campaign reports
(results.json written by tests/campaign/run.sh), so the page is refreshed from a run, never
typed by hand:

    tests/campaign/tables.py tests/campaign/results/<stamp>/results.json [more.json ...]

A scenario present in several reports is taken from the last one given.
"""
import json
import re
import sys


def fmt(v, nd=2):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.{nd}f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def verdict(r):
    return "PASS" if r["pass"] else "**FAIL**"


def attacks(rs):
    rows = ["| scenario | attack | legit requests | errors | p50 ms | p99 ms | RSS MiB before / peak / after | fds before / peak / after | result |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in rs:
        if not r.get("legit") or r["name"].startswith(("fd-", "soak", "valgrind")):
            continue
        lg, rss, fd = r["legit"], r["rss_mib"], r["fds"]
        at = r.get("attack") or {}
        if "max_connected" in at:
            a = f"{at['max_connected']:,} connected at most, {at['closed_at_end']:,} closed by the server by the end"
        elif "attacks" in at:
            a = f"{at['attacks']:,} clients ({at['attacks'] / at['duration_s']:,.0f}/s)"
        elif "still_open" in at:
            a = (f"{at['responded']:,} open, {at['still_open']:,} still open at the end; "
                 f"{r['held']['kib_per_conn']} KiB each")
        else:
            a = ""
        rows.append(f"| {r['name']} | {a} | {fmt(lg['requests'])} | {lg['errors']} | {fmt(lg['p50_ms'])} | "
                    f"{fmt(lg['p99_ms'])} | {rss['before']} / {rss['peak']} / {rss['after']} | "
                    f"{fd['before']} / {fd['peak']} / {fd['after']} | {verdict(r)} |")
    return "\n".join(rows)


def fd_exhaustion(r):
    at, lg, ld = r["attack"], r["legit"], r.get("legit_during") or {}
    return "\n".join([
        "| figure | value |", "|---|---|",
        f"| clients served while 1,000 were held (status counts) | {at.get('responded')} ({at.get('statuses')}) |",
        f"| held clients closed by the server (keep-alive 5 s) | {at.get('closed_early')} |",
        f"| still connecting or waiting at the end of the hold | {at.get('states_at_end')} |",
        f"| legit client during the exhaustion (3 s, not judged) | {ld.get('requests')} requests, {ld.get('errors')} errors {ld.get('error_kinds') or ''} |",
        f"| first 200 on a new connection after the clients went | {r['recovery_s']} s |",
        f"| legit client after ({lg['requests']:,} requests) | {lg['errors']} errors, p50 {lg['p50_ms']} ms, p99 {lg['p99_ms']} ms |",
        f"| RSS MiB before / peak / after | {r['rss_mib']['before']} / {r['rss_mib']['peak']} / {r['rss_mib']['after']} |",
        f"| fds before / peak / after | {r['fds']['before']} / {r['fds']['peak']} / {r['fds']['after']} |",
        f"| result | {verdict(r)} |"])


def testssl(r):
    rows = ["| id | severity | finding | accepted because |", "|---|---|---|---|"]
    for f in r["findings"]:
        rows.append(f"| {f['id']} | {f['severity']} | {f['finding']} | {f['accepted'] or '**not accepted**'} |")
    rows.append("")
    rows.append(f"All severities: {r['counts']}; testssl.sh ran {r['duration_s']} s. Result: {verdict(r)}.")
    return "\n".join(rows)


def soak(r):
    g = r.get("growth", {})
    rows = ["| load (each `httpsd-load` runs the whole soak) | requests | errors | p50 ms | p99 ms | notes |",
            "|---|---|---|---|---|---|"]
    for l in r["loads"]:
        if "requests" in l:
            note = ""
            if l.get("tls_full") or l.get("tls_resumed"):
                note = f"TLS handshakes: {fmt(l.get('tls_full'))} full, {fmt(l.get('tls_resumed'))} resumed"
            st = ", ".join(f"{k}: {v:,}" for k, v in l["status"].items())
            rows.append(f"| {l['label']} | {fmt(l['requests'])} | {l['errors']} | {fmt(l['p50_ms'])} | "
                        f"{fmt(l['p99_ms'])} | {st}{'; ' + note if note else ''} |")
        elif l.get("result"):
            res = l["result"]
            rows.append(f"| {l['label']} | {fmt(res.get('aborts'))} aborted | {sum((res.get('failed') or {}).values())} "
                        f"| | | {', '.join(f'{k} {v}' for k, v in sorted(res.get('by_kind', {}).items()))} |")
        else:
            rows.append(f"| {l['label']} | failed | | | | {l.get('failed', '')[:200]} |")
    rows += ["", "| figure | value |", "|---|---|",
             f"| warm-up excluded | first {r['warmup_s']:g} s |",
             f"| RSS MiB: start / end of the measured part (median of {g.get('window_samples')} samples each) / max | "
             f"{g.get('rss_mib_start')} / {g.get('rss_mib_end')} / {g.get('rss_mib_max')} |",
             f"| RSS growth after warm-up | {g.get('rss_pct')} % |",
             f"| RSS growth over the second half of the soak (not judged: the shape of the curve) | {second_half(r)} |",
             f"| fds: start / end / max | {g.get('fds_start')} / {g.get('fds_end')} / {g.get('fds_max')} |",
             f"| fd growth after warm-up | {g.get('fds_pct')} % |",
             f"| idle before / after the soak: RSS MiB, fds | {r['idle']['rss_mib_before']} / {r['idle']['rss_mib_after']}, "
             f"{r['idle']['fds_before']} / {r['idle']['fds_after']} |",
             f"| CPU busy during the soak (both CPUs, everything) | {r.get('cpu_busy_pct_during')} |",
             f"| result | {verdict(r)} |"]
    return "\n".join(rows)


def second_half(r):
    """RSS growth from the middle of the soak to its end, medians of the same windows."""
    g = r.get("growth") or {}
    k = g.get("window_samples") or 1
    end = r.get("soak_s") or 60 * float(re.match(r"([\d.]+)-minute", r["title"]).group(1))
    post = [s for s in r["samples"] if r["warmup_s"] <= s[0] <= end]
    if len(post) < 4 * k:
        return "–"
    mid = len(post) // 2
    med = lambda xs: sorted(xs)[len(xs) // 2]
    a, b = med([s[1] for s in post[mid:mid + k]]), med([s[1] for s in post[-k:]])
    return f"{a / 1024:.1f} -> {b / 1024:.1f} MiB ({100.0 * (b - a) / a:+.2f} %)"


def soak_samples(r):
    """One sample a minute (all of them are in results.json)."""
    rows = ["| t (s) | RSS MiB | fds |", "|---|---|---|"]
    last = None
    for t, rss, fds in r["samples"]:
        if last is not None and t - last < 59 and t != r["samples"][-1][0]:
            continue
        last = t
        rows.append(f"| {t:.0f} | {rss / 1024:.1f} | {fds} |")
    return "\n".join(rows)


def valgrind(r):
    m = r["memcheck"]
    lines = ["| figure | value |", "|---|---|",
             f"| requests served under valgrind | {fmt(r['requests_total'])} |",
             f"| memcheck errors (occurrences / contexts) | {m['errors']} / {m['contexts']} |",
             f"| contexts inside CPython on its own values (origin in libpython) | {m['cpython_internal_contexts']} |",
             f"| other contexts (httpsd or origin outside libpython) | {len(m['other_contexts'])} |",
             f"| definitely / indirectly / possibly lost (bytes in blocks) | {m['definitely_lost']} / {m['indirectly_lost']} / {m['possibly_lost']} |",
             f"| still reachable at exit | {m['still_reachable']} |",
             f"| unhandled syscalls | {', '.join(m['unhandled_syscalls']) or 'none'} |",
             f"| server exit code | {r['server']['exit_code']} |",
             f"| result | {verdict(r)} |"]
    return "\n".join(lines)


def overview(rs):
    rows = ["| scenario | result | headline |", "|---|---|---|"]
    for r in rs:
        rows.append(f"| {r['name']} | {verdict(r)} | {(r.get('headline') or '').replace('|', '/')} |")
    return "\n".join(rows)


def main(paths):
    by = {}
    meta = None
    for p in paths:
        with open(p) as f:
            doc = json.load(f)
        meta = meta or doc
        for r in doc["results"]:
            by[r["name"]] = r
    rs = list(by.values())
    print("## Overview\n")
    print(overview(rs))
    print("\n## Attacks\n")
    print(attacks(rs))
    if "fd-exhaustion-http" in by:
        print("\n## fd exhaustion\n")
        print(fd_exhaustion(by["fd-exhaustion-http"]))
    if "testssl" in by:
        print("\n## testssl\n")
        print(testssl(by["testssl"]))
    if "soak" in by:
        print("\n## soak\n")
        print(soak(by["soak"]))
        print("\n### soak samples\n")
        print(soak_samples(by["soak"]))
    if "valgrind" in by:
        print("\n## valgrind\n")
        print(valgrind(by["valgrind"]))


if __name__ == "__main__":
    main(sys.argv[1:])
