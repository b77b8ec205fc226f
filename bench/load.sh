#!/usr/bin/env bash
# Load-client benchmark: httpsd-load -p1 vs wrk -t1 vs h2load --h1 -t1, against nginx
# `return 200` (one worker), over HTTP and HTTPS, keep-alive.
#
#   bench/load.sh                     # 3 interleaved runs of 10 s per (tool, scheme)
#   DURATION=5 RUNS=5 bench/load.sh   # other lengths
#   SCHEMES=http bench/load.sh        # one scheme only
#   LOAD_BIN=/path/to/httpsd-load bench/load.sh   # use this binary, do not build
#
# nginx is pinned to SERVER_CPU (0) with taskset, each client to CLIENT_CPU (1); every client
# uses CONNS (50) connections. The server is the bottleneck by design (one core each), so a
# client that reaches the same req/s as wrk is at least as fast as wrk: it keeps nginx as busy.
# Runs are interleaved (wrk, h2load, httpsd-load, wrk, ...) so that drift on a shared machine
# hits every tool alike; the table shows medians and the ratio of httpsd-load to each peer.
# Before each run the script waits up to WAIT_QUIET (60) s for both CPUs to be below QUIET_PCT
# (15) % busy; a run started on a busy machine is flagged "contended" in the JSON and the table.
# Req/s swings with anything else running on a shared machine; CPU time per request does much
# less, so each run also records the client's CPU µs per request (user+sys from /usr/bin/time)
# and nginx's (utime+stime from /proc/PID/stat), each divided by the requests that tool
# completed.
# Results: a table on stdout and bench/results/load-<date>.json.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
SCHEMES=${SCHEMES:-"http https"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
PORT=${PORT:-18700}
WAIT_QUIET=${WAIT_QUIET:-60}
QUIET_PCT=${QUIET_PCT:-15}
PY=/usr/bin/python3

log() { printf '%s\n' "$*" >&2; }
die() { log "load.sh: error: $*"; exit 1; }
for v in RUNS DURATION CONNS PORT WAIT_QUIET QUIET_PCT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer"
done

# ---------------------------------------------------------------- dependencies
. "$ROOT/scripts/deps.sh"
ensure_packages wrk nghttp2-client nginx openssl util-linux python3 time
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# ---------------------------------------------------------------- httpsd-load (release build)
if [[ -n ${LOAD_BIN:-} ]]; then
    LOAD=$LOAD_BIN
else
    ensure_packages "${BUILD_PACKAGES[@]}"
    if [[ ! -f $ROOT/build-release/build.ninja ]]; then
        (cd "$ROOT" && meson setup build-release --buildtype=release >&2)
    fi
    ninja -C "$ROOT/build-release" >&2 || die "build failed"
    LOAD=$ROOT/build-release/httpsd-load
fi
[[ -x $LOAD ]] || die "httpsd-load binary '$LOAD' is not executable"

# ---------------------------------------------------------------- nginx
TMP=$(mktemp -d /tmp/httpsd-loadbench.XXXXXX)
chmod 755 "$TMP"
NGINX_PID=
cleanup() {
    [[ -n $NGINX_PID ]] && kill "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
    [[ ${KEEP_TMP:-0} == 1 ]] && log "kept $TMP" || rm -rf "$TMP"
}
trap cleanup EXIT

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
cat >"$TMP/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
error_log $TMP/error.log warn;
pid $TMP/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 100000000;
    client_body_temp_path $TMP/body;
    proxy_temp_path $TMP/proxy;
    fastcgi_temp_path $TMP/fastcgi;
    uwsgi_temp_path $TMP/uwsgi;
    scgi_temp_path $TMP/scgi;
    server {
        listen 127.0.0.1:$PORT;
        location / { return 200 "ok\n"; }
    }
    server {
        listen 127.0.0.1:$((PORT + 1)) ssl;
        ssl_certificate $TMP/cert.pem;
        ssl_certificate_key $TMP/key.pem;
        ssl_protocols TLSv1.2 TLSv1.3;
        location / { return 200 "ok\n"; }
    }
}
EOF
taskset -c "$SERVER_CPU" "$NGINX" -c "$TMP/nginx.conf" -p "$TMP" -e "$TMP/error.log" &
NGINX_PID=$!
for _ in $(seq 50); do
    bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" 2>/dev/null && break
    sleep 0.1
done

# ---------------------------------------------------------------- helpers
busy_pct() { # busiest-CPU utilisation over one second, in percent (integer)
    $PY - <<'PY'
import time
def read():
    out = {}
    for l in open("/proc/stat"):
        if l.startswith("cpu") and l[3].isdigit():
            f = [int(x) for x in l.split()[1:]]
            out[l.split()[0]] = (sum(f), f[3] + f[4])
    return out
a = read(); time.sleep(1); b = read()
print(max(int(100 * (1 - (b[c][1] - a[c][1]) / max(1, b[c][0] - a[c][0]))) for c in a))
PY
}

wait_quiet() { # returns 0 when quiet, 1 when it stayed busy for WAIT_QUIET seconds
    local waited=0 pct
    while :; do
        pct=$(busy_pct)
        ((pct < QUIET_PCT)) && return 0
        ((waited >= WAIT_QUIET)) && { log "machine still busy (${pct}% on a CPU): running anyway"; return 1; }
        log "machine busy (${pct}% on a CPU), waiting..."
        sleep 4
        waited=$((waited + 5))
    done
}

url_for() { [[ $1 == https ]] && echo "https://127.0.0.1:$((PORT + 1))/" || echo "http://127.0.0.1:$PORT/"; }

nginx_cpu() { awk '{print $14 + $15}' "/proc/$NGINX_PID/stat"; } # clock ticks

run_tool() { # tool scheme -> prints "req/s requests client_cpu_s nginx_ticks"
    local url out t0 t1 n rps
    url=$(url_for "$2")
    t0=$(nginx_cpu)
    case $1 in
    wrk)
        out=$(/usr/bin/time -f "CPU %U %S" -o "$TMP/time" \
            taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${DURATION}s" "$url")
        rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
        n=$(awk '/requests in/ {print $1}' <<<"$out") ;;
    h2load)
        out=$(/usr/bin/time -f "CPU %U %S" -o "$TMP/time" \
            taskset -c "$CLIENT_CPU" h2load --h1 -t1 -c"$CONNS" -D"$DURATION" "$url")
        grep -q " 0 failed, 0 errored" <<<"$out" || log "h2load reported errors: $(grep '^requests:' <<<"$out")"
        rps=$(awk '/^finished in/ {print $4}' <<<"$out")
        n=$(awk '/^requests:/ {print $8}' <<<"$out") ;;
    httpsd-load)
        out=$(/usr/bin/time -f "CPU %U %S" -o "$TMP/time" \
            taskset -c "$CLIENT_CPU" "$LOAD" -q -k -p1 -c"$CONNS" -d"${DURATION}s" --json "$url")
        read -r rps n < <($PY -c 'import json,sys; r=json.loads(sys.stdin.read()); assert sum(r["errors"].values())==0, r["errors"]; print(r["requests_per_s"], r["requests"])' <<<"$out") ;;
    esac
    t1=$(nginx_cpu)
    echo "$rps $n $(awk '/^CPU/ {print $2 + $3}' "$TMP/time") $((t1 - t0))"
}

# ---------------------------------------------------------------- runs
TOOLS="wrk h2load httpsd-load"
RESULTS=$TMP/results.txt
: >"$RESULTS"
log "httpsd-load $("$LOAD" --version | awk '{print $2}'), $(wrk -v 2>&1 | head -1 | awk '{print $1, $2}'), $(h2load --version | head -1)"
log "nginx on CPU $SERVER_CPU, clients on CPU $CLIENT_CPU, -c $CONNS, ${DURATION}s, $RUNS runs"
for scheme in $SCHEMES; do
    for tool in $TOOLS; do # warm-up, not recorded
        DURATION=1 run_tool "$tool" "$scheme" >/dev/null
    done
    for run in $(seq "$RUNS"); do
        for tool in $TOOLS; do
            contended=0
            wait_quiet || contended=1
            read -r rps n ccpu nticks < <(run_tool "$tool" "$scheme")
            log "$scheme run $run $tool: $rps req/s, $n requests, client CPU ${ccpu}s$( ((contended)) && echo ' (contended)')"
            echo "$scheme $tool $run $rps $contended $n $ccpu $nticks" >>"$RESULTS"
        done
    done
done

# ---------------------------------------------------------------- table + JSON
mkdir -p "$BENCH_DIR/results"
OUT=$BENCH_DIR/results/load-$(date -u +%Y%m%d-%H%M%S).json
$PY - "$RESULTS" "$OUT" "$DURATION" "$CONNS" "$RUNS" "$(getconf CLK_TCK)" <<'PY'
import json, statistics, sys, time
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
out, dur, conns, runs = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
hz = int(sys.argv[6])
res = {}
for scheme, tool, run, rps, cont, n, ccpu, nticks in rows:
    r = res.setdefault(scheme, {}).setdefault(tool, {
        "runs": [], "client_cpu_us_per_req": [], "nginx_cpu_us_per_req": [], "contended_runs": 0})
    r["runs"].append(float(rps))
    r["client_cpu_us_per_req"].append(float(ccpu) * 1e6 / max(1, int(n)))
    r["nginx_cpu_us_per_req"].append(int(nticks) / hz * 1e6 / max(1, int(n)))
    r["contended_runs"] += int(cont)
for scheme in res:
    for tool, r in res[scheme].items():
        r["median"] = statistics.median(r["runs"])
        r["client_cpu_median"] = statistics.median(r["client_cpu_us_per_req"])
        r["nginx_cpu_median"] = statistics.median(r["nginx_cpu_us_per_req"])
tools = ("wrk", "h2load", "httpsd-load")
print("| scheme | wrk -t1 req/s | h2load --h1 req/s | httpsd-load -p1 req/s | vs wrk | vs h2load "
      "| client CPU µs/req (wrk / h2load / httpsd-load) | nginx CPU µs/req (same order) |")
print("|---|---|---|---|---|---|---|---|")
for scheme, r in res.items():
    w, h, l = (r[t]["median"] for t in tools)
    cc = " / ".join("%.2f" % r[t]["client_cpu_median"] for t in tools)
    nc = " / ".join("%.2f" % r[t]["nginx_cpu_median"] for t in tools)
    flag = " (contended)" if any(x["contended_runs"] for x in r.values()) else ""
    print("| %s%s | %.0f | %.0f | %.0f | %.3f× | %.3f× | %s | %s |"
          % (scheme, flag, w, h, l, l / w, l / h, cc, nc))
    r["ratio_vs_wrk"] = l / w
    r["ratio_vs_h2load"] = l / h
json.dump({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "duration_s": dur,
           "connections": conns, "runs": runs, "server": "nginx return 200, 1 worker, CPU 0",
           "client_cpu": 1, "results": res}, open(out, "w"), indent=1)
print("results: " + out)
PY
