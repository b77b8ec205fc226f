#!/usr/bin/env bash
# WSGI benchmark (issue 4): httpsd vs uWSGI vs gunicorn, with nginx `return 200` as the ceiling of
# a C server on this box. One client (wrk -t1 -c$CONNS) on CLIENT_CPU, every server on SERVER_CPU.
#
#   bench/wsgi.sh                                # 3 interleaved runs x 10 s per (scenario, server)
#   QUICK=1 bench/wsgi.sh                        # 1 run x 3 s (to try the script, not to quote)
#   SERVERS="httpsd0 nginx" SCENARIOS=hello bench/wsgi.sh
#   HTTPSD_BIN=/path/to/httpsd bench/wsgi.sh     # default: build/httpsd (never built here)
#
# Servers (all of a scenario's servers run at once, idle while another is measured):
#   httpsd0           httpsd --threads 0: the app runs on the event-loop thread
#   httpsd            httpsd with its default app threads (4), all on the same CPU as its loop
#   uwsgi             Debian's uWSGI 2.0 + python3 plugin, see UWSGI_OPTS below
#   gunicorn-sync     gunicorn 20.1 -w 1 -k sync: closes every connection after one response,
#                     even to keep-alive requests (that is how its sync worker works)
#   gunicorn-gthread  gunicorn 20.1 -w 1 -k gthread --threads 4 (keep-alive capable)
#   nginx             `return 200 "Hello, World!"`, 1 worker (bench/wsgi/nginx.conf.in); no app,
#                     only in the hello scenarios
# Scenarios:
#   hello        GET / of bench/wsgi/hello.py (bare WSGI, 13-byte body, Content-Length), keep-alive
#   hello-close  the same, every request with "Connection: close" (a new TCP connection each)
#   flask        GET / of bench/wsgi/flaskapp.py (Flask hello route), keep-alive; no nginx
# Before measuring, every server must answer curl with 200 and exactly "Hello, World!" (else the
# script stops); the table notes a server that closes connections in a keep-alive scenario, and
# one that does not send "Connection: close" in hello-close (wrk would then keep the connection:
# that run would not measure what the scenario says).
#
# Knobs: RUNS (3), DURATION (10 s), QUICK (1: RUNS=1 DURATION=3), CONNS (50), WARMUP (1 s per
# server and scenario), SERVER_CPU (0), CLIENT_CPU (1), BASE_PORT (19500; servers take +0..+5),
# KEEP_TMP (0; 1 keeps the temp dir with server logs and wrk outputs). Shared machine: before each
# measurement wait up to WAIT_QUIET (60) s for both CPUs to be under QUIET_PCT (10) % busy, and redo
# a run up to RETRIES (2) times when other work took > 5% of either CPU during it (the CPU's busy
# time in /proc/stat minus the server's, resp. wrk's, own CPU time); a run still noisy is kept and
# flagged. (Run-queue wait is no use here: a threaded server's threads queue for its one CPU.)
#
# Server CPU µs/request: utime+stime (/proc/PID/stat) of the server's whole process tree (all
# threads; gunicorn/uWSGI/nginx masters and workers), after minus before, / requests wrk counted.
# Loopback TCP work done in softirq on the server's CPU is billed to it. Results: markdown tables
# on stdout, raw numbers in bench/results/wsgi-<date>.json. Every process started here is stopped
# on exit.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
APPS=$BENCH_DIR/wsgi
PY=/usr/bin/python3                     # Debian's Python for everything (flask, gunicorn, uWSGI's plugin)

if [[ ${QUICK:-0} == 1 ]]; then RUNS=${RUNS:-1}; DURATION=${DURATION:-3}; fi
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
WARMUP=${WARMUP:-1}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BASE_PORT=${BASE_PORT:-19500}
KEEP_TMP=${KEEP_TMP:-0}
WAIT_QUIET=${WAIT_QUIET:-60}
QUIET_PCT=${QUIET_PCT:-10}
RETRIES=${RETRIES:-2}
ALL_SERVERS="httpsd0 httpsd uwsgi gunicorn-sync gunicorn-gthread nginx"
ALL_SCENARIOS="hello hello-close flask"
SERVERS=${SERVERS:-$ALL_SERVERS}
SCENARIOS=${SCENARIOS:-$ALL_SCENARIOS}
BODY='Hello, World!'

log() { printf '%s\n' "$*" >&2; }
die() { log "wsgi.sh: error: $*"; exit 1; }
for s in $SERVERS; do [[ " $ALL_SERVERS " == *" $s "* ]] || die "unknown server '$s' (SERVERS: $ALL_SERVERS)"; done
for s in $SCENARIOS; do [[ " $ALL_SCENARIOS " == *" $s "* ]] || die "unknown scenario '$s' (SCENARIOS: $ALL_SCENARIOS)"; done
for v in RUNS DURATION CONNS WARMUP SERVER_CPU CLIENT_CPU BASE_PORT WAIT_QUIET QUIET_PCT RETRIES; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer"
done
((RUNS > 0 && DURATION > 0)) || die "RUNS and DURATION must be > 0"
has() { [[ " $1 " == *" $2 "* ]]; }     # has LIST WORD

# ---------------------------------------------------------------- dependencies, httpsd binary
pkgs=(wrk curl util-linux python3)
has "$SERVERS" nginx && ! command -v nginx >/dev/null && [[ ! -x /usr/sbin/nginx ]] && pkgs+=(nginx)
has "$SERVERS" uwsgi && pkgs+=(uwsgi-core uwsgi-plugin-python3)
[[ $SERVERS == *gunicorn* ]] && pkgs+=(gunicorn)
has "$SCENARIOS" flask && pkgs+=(python3-flask)
# shellcheck source=scripts/deps.sh
. "$ROOT/scripts/deps.sh"
ensure_packages "${pkgs[@]}"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

HTTPSD=${HTTPSD_BIN:-$ROOT/build/httpsd}
if [[ $SERVERS == *httpsd* ]]; then
    # build/ belongs to whoever is building it: never rebuilt here; wait (2 min) if it is missing
    # or mid-link (not executable / --version fails)
    for ((i = 0; ; i++)); do
        [[ -x $HTTPSD ]] && "$HTTPSD" --version >/dev/null 2>&1 && break
        ((i < 60)) || die "no working httpsd at $HTTPSD (set HTTPSD_BIN, or build it)"
        ((i == 0)) && log "waiting for $HTTPSD (missing or being rebuilt)..."
        sleep 2
    done
fi

# ---------------------------------------------------------------- servers
# Ports: one per server, fixed offsets from BASE_PORT (static.sh uses 18000+).
declare -A PORT=([httpsd0]=$BASE_PORT [httpsd]=$((BASE_PORT + 1)) [uwsgi]=$((BASE_PORT + 2))
                 [gunicorn-sync]=$((BASE_PORT + 3)) [gunicorn-gthread]=$((BASE_PORT + 4)) [nginx]=$((BASE_PORT + 5)))
# uWSGI, one worker speaking HTTP/1.1 itself: --http11-socket (keep-alive; no separate --http
# router process in front), --master with --processes 1 (the master only supervises; it is pinned
# and billed with the worker), no threads (one request at a time, like gunicorn sync),
# --disable-logging (no per-request log line), --die-on-term (2.0 reloads on SIGTERM otherwise),
# --need-app (fail instead of answering 500s), listen queue 1024 (default 100). Seen here: its
# worker keeps serving one keep-alive connection while the others wait (-c1 ~ -c50), and it
# neither sends nor honours "Connection: close" (the table flags that in hello-close).
UWSGI_OPTS=(--plugin python3 --master --processes 1 --disable-logging --die-on-term --need-app --listen 1024)
# gunicorn: one worker, no access log (its default), log level warning. gthread keeps idle
# keep-alive connections 2 s (its default; wrk never leaves them idle).
GUNICORN_OPTS=(-w 1 --log-level warning)

TMP=$(mktemp -d /tmp/httpsd-wsgi-bench.XXXXXX)
chmod 755 "$TMP"                        # nginx's worker runs as nobody when started by root
mkdir -p "$TMP/nginx-tmp" "$TMP/wrk"
declare -A PID=()                       # server -> pid of its main process
STARTED_PIDS=()

tree_pids() {                           # pid and all its descendants
    local root=$1 f rest pid ppid queue p out=()
    declare -A kids=()
    for f in /proc/[0-9]*/stat; do
        read -r rest 2>/dev/null <"$f" || continue
        pid=${f#/proc/}; pid=${pid%/stat}
        rest=${rest##*) }; ppid=${rest#* }; ppid=${ppid%% *}
        kids[$ppid]+=" $pid"
    done
    queue=("$root")
    while ((${#queue[@]})); do
        p=${queue[0]}; queue=("${queue[@]:1}")
        [[ -d /proc/$p ]] || continue
        out+=("$p")
        # shellcheck disable=SC2206
        [[ -n ${kids[$p]:-} ]] && queue+=(${kids[$p]})
    done
    echo "${out[@]:-}"
}
stop_pid() {                            # TERM the tree, KILL what is left after 5 s
    local pid=$1 pids i
    pids=$(tree_pids "$pid")
    [[ -n $pids ]] || return 0
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${STARTED_PIDS[@]}"; do stop_pid "$p"; done
    if [[ $KEEP_TMP == 1 || $rc != 0 ]]; then log "temp dir kept: $TMP"; else rm -rf "$TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

url_of() { echo "http://127.0.0.1:${PORT[$1]}/"; }

start_server() {                        # start_server NAME APP(hello|flask)
    local name=$1 app=$2 port=${PORT[$1]} mod cmd=() i code logf=$TMP/$1-$2.log
    [[ $app == hello ]] && mod=hello:application || mod=flaskapp:app
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && die "port $port (for $name) is already in use; set BASE_PORT"
    case $name in
        httpsd0) cmd=("$HTTPSD" -b "http://127.0.0.1:$port" --threads 0 --chdir "$APPS" "$mod") ;;
        httpsd) cmd=("$HTTPSD" -b "http://127.0.0.1:$port" --chdir "$APPS" "$mod") ;;
        uwsgi) cmd=(uwsgi "${UWSGI_OPTS[@]}" --http11-socket "127.0.0.1:$port" --chdir "$APPS" --module "$mod") ;;
        gunicorn-sync) cmd=("$PY" -m gunicorn "${GUNICORN_OPTS[@]}" -k sync -b "127.0.0.1:$port" --chdir "$APPS" "$mod") ;;
        gunicorn-gthread) cmd=("$PY" -m gunicorn "${GUNICORN_OPTS[@]}" -k gthread --threads 4 -b "127.0.0.1:$port" --chdir "$APPS" "$mod") ;;
        nginx)
            sed -e "s|@TMP@|$TMP|g" -e "s|@PORT@|$port|g" "$APPS/nginx.conf.in" >"$TMP/nginx.conf"
            cmd=("$NGINX" -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log") ;;
    esac
    # the whole tree inherits the CPU affinity; no Python environment leaks in from the caller
    echo "+ ${cmd[*]}" >"$logf"
    taskset -c "$SERVER_CPU" env -u PYTHONPATH -u PYTHONHOME -u VIRTUAL_ENV "${cmd[@]}" >>"$logf" 2>&1 &
    PID[$name]=$!
    STARTED_PIDS+=("$!")
    for ((i = 0; ; i++)); do
        kill -0 "${PID[$name]}" 2>/dev/null || { tail -n 30 "$logf" >&2; die "$name ($app) exited at startup: ${cmd[*]}"; }
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$(url_of "$name")" || true)
        [[ $code == 200 ]] && break
        ((i < 300)) || { tail -n 30 "$logf" >&2; die "$name ($app) does not answer 200 on $(url_of "$name") after 30 s (last: $code)"; }
        sleep 0.1
    done
    sleep 0.5                           # let prefork servers finish spawning their workers
    local p t bad=
    for p in $(tree_pids "${PID[$name]}"); do
        for t in /proc/"$p"/task/*/status; do
            [[ $(awk '/^Cpus_allowed_list:/ {print $2}' "$t" 2>/dev/null) == "$SERVER_CPU" ]] || bad+=" $p"
        done
    done
    [[ -z $bad ]] || die "$name: processes not pinned to CPU $SERVER_CPU:$bad"
    log "  started $name ($app) on port $port: pids $(tree_pids "${PID[$name]}")"
}
stop_server() {
    local name=$1 app=$2
    stop_pid "${PID[$name]}"; unset "PID[$name]"
    # anything httpsd logged beyond its startup lines is worth a look; so are connections it still
    # had open at shutdown (every client closed its connections at least a second ago)
    local n
    n=$(sed -n 's/.*draining \([0-9][0-9]*\) connections.*/\1/p' "$TMP/$name-$app.log" | tail -n 1)
    if [[ $name == httpsd* && ${n:-0} -gt 0 ]]; then
        log "  NOTE: $name ($app) still had $n connection(s) open at shutdown, after all clients had gone (stuck requests?)"
        echo "$name-$app: $n connections open at shutdown" >>"$TMP/httpsd-log-issues"
    fi
    if [[ $name == httpsd* ]] && grep -qiE 'error|warn|critical|traceback|exception|abort' "$TMP/$name-$app.log"; then
        log "  NOTE: $name ($app) logged:"; grep -iE 'error|warn|critical|traceback|exception|abort' "$TMP/$name-$app.log" | tail -n 20 | sed 's/^/    /' >&2
        echo "$name-$app: logged warnings/errors" >>"$TMP/httpsd-log-issues"
    fi
}

# ---------------------------------------------------------------- measuring
CLK_TCK=$(getconf CLK_TCK)
server_stats() {                        # STAT_TICKS (utime+stime), STAT_DELAY_NS (run-queue wait) of the tree
    local p s t f
    STAT_TICKS=0 STAT_DELAY_NS=0
    for p in $(tree_pids "$1"); do
        read -r s 2>/dev/null <"/proc/$p/stat" || continue
        s=${s##*) }; read -ra f <<<"$s"  # f[0] = field 3: utime = f[11], stime = f[12]
        STAT_TICKS=$((STAT_TICKS + f[11] + f[12]))
        for t in /proc/"$p"/task/*/schedstat; do
            read -ra f 2>/dev/null <"$t" || continue
            STAT_DELAY_NS=$((STAT_DELAY_NS + f[1]))
        done
    done
}
child_ticks() { local s f; read -r s <"/proc/$$/stat"; s=${s##*) }; read -ra f <<<"$s"; CHILD_TICKS=$((f[13] + f[14])); }
cpu_jiffies() { awk -v c="cpu$1" '$1 == c { idle = $5 + $6; t = 0; for (i = 2; i <= 9; i++) t += $i; print t - idle, idle }' /proc/stat; }
pct() { local a b; read -ra a <<<"$1"; read -ra b <<<"$2"
        awk -v db=$((b[0] - a[0])) -v di=$((b[1] - a[1])) 'BEGIN { t = db + di; printf "%.0f", t ? 100 * db / t : 0 }'; }
wait_quiet() {                          # at most WAIT_QUIET s, until both CPUs are idle enough
    local t0=$SECONDS a0 a1 x y
    ((WAIT_QUIET > 0)) || return 0
    while :; do
        a0=$(cpu_jiffies "$SERVER_CPU"); a1=$(cpu_jiffies "$CLIENT_CPU"); sleep 0.5
        x=$(pct "$a0" "$(cpu_jiffies "$SERVER_CPU")"); y=$(pct "$a1" "$(cpu_jiffies "$CLIENT_CPU")")
        ((x <= QUIET_PCT && y <= QUIET_PCT)) && return 0
        if ((SECONDS - t0 >= WAIT_QUIET)); then
            log "  (CPUs still busy after ${WAIT_QUIET}s: cpu$SERVER_CPU $x%, cpu$CLIENT_CPU $y%; measuring anyway)"
            BUSY_RUNS=$((BUSY_RUNS + 1)); return 0
        fi
    done
}
BUSY_RUNS=0

wrk_hdrs() { WRK_HDRS=(); [[ $1 == hello-close ]] && WRK_HDRS=(-H "Connection: close"); return 0; }

RESP=$TMP/responses.tsv; : >"$RESP"
check_response() {                      # check_response SCENARIO SERVER [again]: exact body or stop
    local sc=$1 name=$2 again=${3:-} url code hb conn cl note=
    url=$(url_of "$name"); wrk_hdrs "$sc"
    code=$(curl -s --http1.1 --max-time 5 "${WRK_HDRS[@]}" -D "$TMP/hdr" -o "$TMP/body" -w '%{http_code}' "$url") \
        || die "$name ($sc): curl $url failed"
    [[ $code == 200 ]] || die "$name ($sc): $url answered $code, not 200"
    [[ $(<"$TMP/body") == "$BODY" && $(stat -c %s "$TMP/body") == "${#BODY}" ]] \
        || die "$name ($sc): $url body is '$(head -c 200 "$TMP/body")' ($(stat -c %s "$TMP/body") bytes), not '$BODY'"
    hb=$(stat -c %s "$TMP/hdr")
    conn=keep-alive
    tr -d '\r' <"$TMP/hdr" | grep -qix 'connection: *close' && conn=close
    cl=$(tr -d '\r' <"$TMP/hdr" | sed -n 's/^[Cc]ontent-[Ll]ength: *//p' | head -1)
    [[ $cl == "${#BODY}" ]] || note+="no Content-Length: 13 (${cl:-none}); "
    if [[ $sc == hello-close && $conn != close ]]; then
        note+="NO 'Connection: close' in its response: wrk kept connections alive, not a close run; "
    elif [[ $sc != hello-close && $conn == close ]]; then
        note+="closes every connection (answers keep-alive requests with Connection: close); "
    fi
    [[ -z $again ]] || return 0
    printf '%s\t%s\t%s\t%s\t%s\n' "$sc" "$name" "$((hb + ${#BODY}))" "$conn" "${note%; }" >>"$RESP"
    log "  $sc $name: 200 '$BODY', response $((hb + ${#BODY})) bytes, connection: $conn${note:+; ${note%; }}"
}

RAW=$TMP/raw.tsv; : >"$RAW"
run_wrk() {                             # run_wrk RUN SCENARIO SERVER DURATION [record]; 2 = noisy, redo
    local run=$1 sc=$2 name=$3 dur=$4 record=${5:-1} pid=${PID[$3]} out t0 t1 d0 d1 w0 w1 start end c0 c1 k0 k1
    out=$TMP/wrk/$sc-$run-$name.txt; wrk_hdrs "$sc"
    kill -0 "$pid" 2>/dev/null || { tail -n 30 "$TMP/$name-"*.log >&2; die "$name (pid $pid) is gone before $sc run $run"; }
    server_stats "$pid"; t0=$STAT_TICKS; d0=$STAT_DELAY_NS; child_ticks; w0=$CHILD_TICKS
    c0=$(cpu_jiffies "$SERVER_CPU"); k0=$(cpu_jiffies "$CLIENT_CPU")
    start=$EPOCHREALTIME
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"${dur}s" --latency "${WRK_HDRS[@]}" "$(url_of "$name")" >"$out" 2>&1 \
        || { cat "$out" >&2; die "wrk failed against $name ($sc)"; }
    end=$EPOCHREALTIME
    c1=$(cpu_jiffies "$SERVER_CPU"); k1=$(cpu_jiffies "$CLIENT_CPU")
    child_ticks; w1=$CHILD_TICKS; server_stats "$pid"; t1=$STAT_TICKS; d1=$STAT_DELAY_NS
    kill -0 "$pid" 2>/dev/null || { tail -n 30 "$TMP/$name-"*.log >&2; die "$name (pid $pid) died during $sc run $run (wrk output: $out)"; }
    ((record)) || return 0
    local reqs rps non2xx sockerr lat50 lat99 wall us cpus cpuc wait other0 other1 errs=
    reqs=$(sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p' "$out")
    rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$out")
    non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$out")
    sockerr=$(sed -n 's/^ *Socket errors: *\(.*\)$/\1/p' "$out")
    lat50=$(awk '$1 == "50%" {print $2}' "$out"); lat99=$(awk '$1 == "99%" {print $2}' "$out")
    [[ -n $reqs && -n $rps && $reqs -gt 0 ]] || { cat "$out" >&2; die "cannot parse wrk output for $name ($sc)"; }
    wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
    us=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')
    cpus=$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v w="$wall" 'BEGIN { printf "%.0f", 100 * t / hz / w }')
    cpuc=$(awk -v t=$((w1 - w0)) -v hz="$CLK_TCK" -v w="$wall" 'BEGIN { printf "%.0f", 100 * t / hz / w }')
    # run-queue wait of the server's threads (for a threaded server, mostly its own threads
    # queueing for the one CPU: informative only)
    wait=$(awk -v d=$((d1 - d0)) -v w="$wall" 'BEGIN { printf "%.1f", 100 * d / 1e9 / w }')
    # other load: busy time of the server's CPU not spent by the server, of wrk's CPU not by wrk
    other0=$(awk -v a="${c0% *}" -v b="${c1% *}" -v t=$((t1 - t0)) -v hz="$CLK_TCK" -v w="$wall" \
        'BEGIN { x = 100 * (b - a - t) / hz / w; printf "%.1f", x < 0 ? 0 : x }')
    other1=$(awk -v a="${k0% *}" -v b="${k1% *}" -v t=$((w1 - w0)) -v hz="$CLK_TCK" -v w="$wall" \
        'BEGIN { x = 100 * (b - a - t) / hz / w; printf "%.1f", x < 0 ? 0 : x }')
    if awk -v x="$other0" -v y="$other1" 'BEGIN { exit !(x > 5 || y > 5) }'; then
        if ((${ATTEMPT:-0} < RETRIES)); then
            log "  run $run $sc $name: other work on the benchmark CPUs (cpu$SERVER_CPU $other0%, cpu$CLIENT_CPU $other1%): redoing"
            return 2
        fi
        errs+=" noisy: other work on cpu$SERVER_CPU $other0%, cpu$CLIENT_CPU $other1%;"
    fi
    [[ -n $non2xx ]] && errs+=" non-2xx/3xx: $non2xx;"
    [[ -n $sockerr ]] && errs+=" socket errors: $sockerr;"
    printf '%s\t' "$sc" "$run" "$name" "$dur" "$reqs" "$rps" "$((t1 - t0))" "$us" "${non2xx:-0}" "${sockerr:--}" \
        "$lat50" "$lat99" "$cpus" "$cpuc" "$wait" "$other0" "$other1" >>"$RAW"
    echo "$wall" >>"$RAW"
    printf '  run %s %-11s %-16s %9.0f req/s %8s µs CPU/req  p50 %-8s p99 %-8s srv cpu %3s%%  wrk cpu %3s%%  other load %s%% / %s%%\n' \
        "$run" "$sc" "$name" "$rps" "$us" "$lat50" "$lat99" "$cpus" "$cpuc" "$other0" "$other1" >&2
    [[ -z $errs ]] || log "  WARNING: $sc $name run $run:$errs"
    return 0
}

a0=$(cpu_jiffies "$SERVER_CPU"); a1=$(cpu_jiffies "$CLIENT_CPU"); sleep 1
BG_LOAD="cpu$SERVER_CPU $(pct "$a0" "$(cpu_jiffies "$SERVER_CPU")")%, cpu$CLIENT_CPU $(pct "$a1" "$(cpu_jiffies "$CLIENT_CPU")")%"
log "background load before start (1 s): $BG_LOAD"

for app in hello flask; do
    scs=(); for sc in $SCENARIOS; do [[ $sc == "$app"* ]] && scs+=("$sc"); done
    ((${#scs[@]})) || continue
    servers=(); for s in $SERVERS; do [[ $app == flask && $s == nginx ]] || servers+=("$s"); done
    ((${#servers[@]})) || continue
    log ""; log "=== app $app: starting ${servers[*]} (server cpu $SERVER_CPU, wrk cpu $CLIENT_CPU)"
    for s in "${servers[@]}"; do start_server "$s" "$app"; done
    for sc in "${scs[@]}"; do
        wrk_hdrs "$sc"; log ""; log "=== scenario $sc: wrk -t1 -c$CONNS ${WRK_HDRS[*]}"
        for s in "${servers[@]}"; do check_response "$sc" "$s"; done
        if ((WARMUP > 0)); then
            log "warm-up: ${WARMUP}s each"
            for s in "${servers[@]}"; do run_wrk 0 "$sc" "$s" "$WARMUP" 0; done
        fi
        log "measuring: $RUNS run(s) x ${DURATION}s, interleaved"
        for ((run = 1; run <= RUNS; run++)); do
            for s in "${servers[@]}"; do
                for ((attempt = 0; ; attempt++)); do
                    wait_quiet
                    rc=0; ATTEMPT=$attempt run_wrk "$run" "$sc" "$s" "$DURATION" || rc=$?
                    ((rc == 2)) || break
                done
            done
        done
        for s in "${servers[@]}"; do check_response "$sc" "$s" again; done
    done
    sleep 1                             # let the servers see the last clients' FINs
    for s in "${servers[@]}"; do stop_server "$s" "$app"; done
done

# ---------------------------------------------------------------- report
mkdir -p "$BENCH_DIR/results"
JSON_OUT=$BENCH_DIR/results/wsgi-$(date +%Y%m%d-%H%M%S).json
{
    printf 'httpsd\t%s\n' "$("$HTTPSD" --version 2>&1 | head -1 || true)"
    printf 'httpsd_git\t%s\n' "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -q . && echo +dirty)"
    printf 'uwsgi\t%s\n' "$(uwsgi --version 2>/dev/null || echo -)"
    printf 'gunicorn\t%s\n' "$("$PY" -m gunicorn --version 2>/dev/null || echo -)"
    printf 'flask\t%s\n' "$(dpkg-query -W -f='${Version}' python3-flask 2>/dev/null || echo -)"
    printf 'nginx\t%s\n' "$("$NGINX" -v 2>&1 | head -1)"
    printf 'wrk\t%s\n' "$(wrk --version 2>&1 | head -1 | sed 's/ *Copyright.*//')"
    printf 'python\t%s\n' "$("$PY" -V 2>&1)"
    printf 'kernel\t%s\n' "$(uname -r)"
    printf 'cpu\t%s\n' "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
} >"$TMP/versions.tsv"
touch "$TMP/httpsd-log-issues"

"$PY" - "$RAW" "$RESP" "$TMP/versions.tsv" "$TMP/wrk" "$JSON_OUT" "$TMP/httpsd-log-issues" <<PYEOF
import json, statistics as st, sys, datetime, os
raw, resp_path, vers_path, wrk_dir, out, log_issues = sys.argv[1:7]
params = dict(runs=$RUNS, duration_s=$DURATION, connections=$CONNS, wrk_threads=1, warmup_s=$WARMUP,
              servers="$SERVERS".split(), scenarios="$SCENARIOS".split(), server_cpu=$SERVER_CPU,
              client_cpu=$CLIENT_CPU, clk_tck=$CLK_TCK, wait_quiet_s=$WAIT_QUIET, quiet_pct=$QUIET_PCT,
              retries=$RETRIES, background_load_before="$BG_LOAD", runs_started_on_busy_cpus=$BUSY_RUNS,
              uwsgi_opts="${UWSGI_OPTS[*]}", gunicorn_opts="${GUNICORN_OPTS[*]}")
TITLE = {"hello": "bare WSGI hello (13 bytes), keep-alive",
         "hello-close": "bare WSGI hello, every request with Connection: close",
         "flask": "Flask hello route, keep-alive"}
def lat_us(s):
    for suf, mul in (("us", 1), ("ms", 1e3), ("s", 1e6), ("m", 60e6)):
        if s and s.endswith(suf):
            try: return round(float(s[:-len(suf)]) * mul, 1)
            except ValueError: return None
    return None
cols = "scenario run server duration_s requests req_per_s cpu_ticks cpu_us_per_req non2xx socket_errors lat50 lat99 server_cpu_pct wrk_cpu_pct server_runq_wait_pct other_load_server_cpu_pct other_load_client_cpu_pct wall_s".split()
runs = []
for line in open(raw):
    r = dict(zip(cols, line.rstrip("\n").split("\t")))
    for k in ("run", "duration_s", "requests", "cpu_ticks", "non2xx", "server_cpu_pct", "wrk_cpu_pct"): r[k] = int(r[k])
    for k in ("req_per_s", "cpu_us_per_req", "server_runq_wait_pct", "other_load_server_cpu_pct", "other_load_client_cpu_pct", "wall_s"): r[k] = float(r[k])
    for k in ("lat50", "lat99"): r[k + "_us"] = lat_us(r.pop(k))
    if r["socket_errors"] == "-": r["socket_errors"] = None
    r["wrk_output"] = open(os.path.join(wrk_dir, f"{r['scenario']}-{r['run']}-{r['server']}.txt")).read()
    runs.append(r)
resp = {}
for line in open(resp_path):
    sc, sv, nbytes, conn, note = line.rstrip("\n").split("\t")
    resp[(sc, sv)] = dict(response_bytes=int(nbytes), connection=conn, note=note)
versions = dict(l.rstrip("\n").split("\t", 1) for l in open(vers_path) if "\t" in l)
def fmt_lat(us):
    if us is None: return "-"
    return f"{us:.0f}us" if us < 1000 else f"{us/1000:.1f}ms" if us < 1e6 else f"{us/1e6:.2f}s"

scenarios = {}
for scn in params["scenarios"]:
    summ = {}
    for sv in params["servers"]:
        rs = [r for r in runs if r["scenario"] == scn and r["server"] == sv]
        if not rs: continue
        rps = [r["req_per_s"] for r in rs]; cpu = [r["cpu_us_per_req"] for r in rs]
        med = lambda k: st.median([r[k] for r in rs if r[k] is not None]) if any(r[k] is not None for r in rs) else None
        summ[sv] = dict(runs=len(rs), req_per_s_median=st.median(rps), req_per_s_min=min(rps), req_per_s_max=max(rps),
                        cpu_us_per_req_median=st.median(cpu), cpu_us_per_req_min=min(cpu), cpu_us_per_req_max=max(cpu),
                        lat50_us_median=med("lat50_us"), lat99_us_median=med("lat99_us"),
                        server_cpu_pct_median=st.median(r["server_cpu_pct"] for r in rs),
                        wrk_cpu_pct_median=st.median(r["wrk_cpu_pct"] for r in rs),
                        server_runq_wait_pct_max=max(r["server_runq_wait_pct"] for r in rs),
                        other_load_pct_max=max(max(r["other_load_server_cpu_pct"], r["other_load_client_cpu_pct"]) for r in rs),
                        non2xx_total=sum(r["non2xx"] for r in rs),
                        socket_errors=[f"run {r['run']}: {r['socket_errors']}" for r in rs if r["socket_errors"]],
                        noisy_runs=[r["run"] for r in rs if max(r["other_load_server_cpu_pct"], r["other_load_client_cpu_pct"]) > 5],
                        **resp.get((scn, sv), {}))
    for sv, s in summ.items():
        for ref in ("nginx", "uwsgi"):
            s[f"req_per_s_vs_{ref}"] = s["req_per_s_median"] / summ[ref]["req_per_s_median"] if ref in summ else None
            s[f"cpu_us_per_req_vs_{ref}"] = s["cpu_us_per_req_median"] / summ[ref]["cpu_us_per_req_median"] if ref in summ else None
    scenarios[scn] = dict(title=TITLE[scn], summary=summ)
    if not summ: continue
    print(f"\n### {scn}: {TITLE[scn]}\n")
    hdr = ' -H "Connection: close"' if scn == "hello-close" else ""
    print(f"wrk -t1 -c{params['connections']} -d{params['duration_s']}s{hdr}, "
          f"{params['runs']} interleaved run(s); server on cpu{params['server_cpu']}, wrk on cpu{params['client_cpu']}\n")
    print("| server | req/s (median) | min – max | CPU µs/req | × nginx | × uwsgi | p99 | srv CPU | wrk CPU | resp B | conn | notes |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
    for sv, s in summ.items():
        notes = []
        if s.get("note"): notes.append(s["note"])
        if s["non2xx_total"]: notes.append(f"**non-2xx/3xx: {s['non2xx_total']}**")
        if s["socket_errors"]: notes.append("**socket errors: " + "; ".join(s["socket_errors"]) + "**")
        if s["noisy_runs"]: notes.append(f"noisy run(s) {s['noisy_runs']} (other work >5% on a benchmark CPU)")
        if s["wrk_cpu_pct_median"] >= 95: notes.append("wrk's CPU saturated: client-bound")
        x = lambda v: "-" if v is None else f"{v:.2f}"
        print(f"| {sv} | {s['req_per_s_median']:,.0f} | {s['req_per_s_min']:,.0f} – {s['req_per_s_max']:,.0f} | "
              f"{s['cpu_us_per_req_median']:.1f} | {x(s['req_per_s_vs_nginx'])} | {x(s['req_per_s_vs_uwsgi'])} | "
              f"{fmt_lat(s['lat99_us_median'])} | {s['server_cpu_pct_median']:.0f}% | {s['wrk_cpu_pct_median']:.0f}% | "
              f"{s.get('response_bytes', '-')} | {s.get('connection', '-')} | {'; '.join(notes)} |")

goals = []
h = scenarios.get("hello", {}).get("summary", {})
def goal(text, ok, value):
    goals.append(dict(goal=text, met=ok, value=value))
ng, uw = h.get("nginx"), h.get("uwsgi")
for sv, frac in (("httpsd0", 0.9), ("httpsd", 0.6)):
    s = h.get(sv)
    if not s: continue
    if ng: goal(f"{sv} hello keep-alive req/s >= {frac}x nginx", s["req_per_s_vs_nginx"] >= frac, round(s["req_per_s_vs_nginx"], 3))
    if sv == "httpsd0": goal("httpsd0 hello keep-alive <= 10 us CPU/req", s["cpu_us_per_req_median"] <= 10, s["cpu_us_per_req_median"])
    if uw: goal(f"{sv} hello keep-alive req/s >= 3x uwsgi", s["req_per_s_vs_uwsgi"] >= 3, round(s["req_per_s_vs_uwsgi"], 3))
if goals:
    print("\n### issue 4 goals (hello, keep-alive; medians)\n")
    for g in goals:
        noisy = [sv for sv in ("httpsd0", "httpsd", "nginx", "uwsgi") if sv in g["goal"] and h.get(sv, {}).get("noisy_runs")]
        g["noisy"] = noisy
        print(f"- {'MET' if g['met'] else 'NOT MET'}: {g['goal']} (measured {g['value']})"
              + (f" -- noisy runs of {', '.join(noisy)}" if noisy else ""))
issues = [l.strip() for l in open(log_issues) if l.strip()]
if issues: print("\n**httpsd problems seen** (details on stderr): " + "; ".join(issues))
if params["runs_started_on_busy_cpus"]:
    print(f"\n{params['runs_started_on_busy_cpus']} measurement(s) started while the CPUs were still busy with other work: treat as noisy")
print("\n(CPU µs/req: the server's whole process tree, utime+stime, incl. loopback TCP softirq billed to its CPU; "
      "srv CPU / wrk CPU: CPU time / wall time, 100% = that core saturated; × = ratio of medians; "
      "resp B = head + body bytes as curl saw them; conn = what the server's response said about the connection)")
if any(sc in scenarios and "uwsgi" in scenarios[sc]["summary"] for sc in ("hello", "flask")):
    print("(uWSGI 2.0 --http11-socket: its one worker serves one keep-alive connection at a time, the others wait;"
          " wrk -c1 and -c50 give it the same req/s)")
json.dump(dict(date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"), params=params,
               versions=versions, scenarios=scenarios, goals=goals, httpsd_log_issues=issues, runs=runs),
          open(out, "w"), indent=1)
print(f"\nraw numbers: {out}")
PYEOF
