#!/usr/bin/env bash
# Static-file benchmark: httpsd vs nginx vs h2o, plain HTTP and HTTPS, several scenarios.
#
#   bench/static.sh                      # all scenarios, 3 interleaved runs of 10 s per (server, scheme)
#   QUICK=1 bench/static.sh              # 1 run of 3 s each
#   SCENARIOS="1m 304" bench/static.sh   # only these scenarios (default: all)
#   IDLE=1 bench/static.sh               # ... then also RSS per idle keep-alive connection
#   IDLE=only bench/static.sh            # only the idle-connection part
#   SERVERS="nginx h2o" bench/static.sh  # skip httpsd (or any server)
#   HTTPSD_BIN=/path/to/httpsd bench/static.sh   # use this binary, do not build
#
# Scenarios (all files live in one static dir, served by every server at /static/...):
#   small   GET of a 27-byte file (f27.txt), wrk -c$CONNS
#   1m      GET of a 1 MiB file (f1m.bin), keep-alive, wrk -c$CONNS_1M; req/s and GiB/s
#   100m    GET of a 100 MiB file (f100m.bin), wrk -c$CONNS_100M; req/s and GiB/s
#   304     GET of f27.txt with If-None-Match: <that server's own ETag> (fetched with curl first;
#           every server must answer 304 to it, or the script stops), wrk -c$CONNS
#   range2  GET of a 100 KiB file (f100k.bin) with Range: bytes=0-99,5000-5099, wrk -c$CONNS; a
#           server that does not answer 206 multipart/byteranges (checked with curl) is skipped
#           for this scenario and the table says so
# GiB/s is wrk's Transfer/sec (wrk's "GB" is 2^30 bytes; it counts every byte wrk read, headers
# included). For the big files wrk (one thread, one core) has to read and, over HTTPS, decrypt
# every byte: the "wrk cpu" column says when the client, not the server, was the limit.
#
# Other knobs (environment): RUNS (3), DURATION (10, seconds), CONNS (50), CONNS_1M (16),
# CONNS_100M (4), SCHEMES ("http https"),
# WARMUP (1, seconds per pair before the measured runs; 0 = none), SERVER_CPU (0), CLIENT_CPU (1),
# BASE_PORT (18000: httpsd +80/+443, nginx +1080/+1443, h2o +2080/+2443), IDLE_N (10000),
# IDLE_SERVERS ("httpsd nginx"), KEEP_TMP (0; 1 keeps the temp dir with logs and wrk outputs).
# For a shared machine: before each measurement wait up to WAIT_QUIET (60) s until both CPUs are
# below QUIET_PCT (10) % busy, and re-run a measurement up to RETRIES (2) times when the server
# was kept waiting for its CPU more than 5% of the time (run_delay); a run still noisy after the
# retries is kept and flagged in the table.
#
# Each server is pinned to SERVER_CPU with taskset, wrk (-t1) to CLIENT_CPU. For every run the
# server's CPU time (utime+stime of all its processes, from /proc/PID/stat) is read before and
# after, and divided by the number of requests wrk reports. Over loopback, part of the receiving
# side's TCP work runs in softirq on the sender's CPU and is billed to the server. Results: one
# table per scenario on stdout and the raw numbers in bench/results/static-<date>.json. Every
# process started here is stopped on exit.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")

QUICK=${QUICK:-0}
if [[ $QUICK == 1 ]]; then
    RUNS=${RUNS:-1}
    DURATION=${DURATION:-3}
fi
RUNS=${RUNS:-3}
DURATION=${DURATION:-10}
CONNS=${CONNS:-50}
CONNS_1M=${CONNS_1M:-16}
CONNS_100M=${CONNS_100M:-4}
ALL_SCENARIOS="small 1m 100m 304 range2"
SCENARIOS=${SCENARIOS:-$ALL_SCENARIOS}
WARMUP=${WARMUP:-1}
SERVERS=${SERVERS:-"httpsd nginx h2o"}
SCHEMES=${SCHEMES:-"http https"}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
BASE_PORT=${BASE_PORT:-18000}
IDLE=${IDLE:-0}
IDLE_N=${IDLE_N:-10000}
IDLE_SERVERS=${IDLE_SERVERS:-"httpsd nginx"}
KEEP_TMP=${KEEP_TMP:-0}
WAIT_QUIET=${WAIT_QUIET:-60}
QUIET_PCT=${QUIET_PCT:-10}
RETRIES=${RETRIES:-2}
PY=/usr/bin/python3
PAYLOAD='This is a 27 byte payload.'   # + "\n" = 27 bytes

log() { printf '%s\n' "$*" >&2; }
die() { log "static.sh: error: $*"; exit 1; }

for s in $SERVERS; do
    case $s in httpsd|nginx|h2o) ;; *) die "unknown server '$s' in SERVERS (httpsd nginx h2o)";; esac
done
for s in $SCHEMES; do
    case $s in http|https) ;; *) die "unknown scheme '$s' in SCHEMES (http https)";; esac
done
for sc in $SCENARIOS; do
    [[ " $ALL_SCENARIOS " == *" $sc "* ]] || die "unknown scenario '$sc' in SCENARIOS ($ALL_SCENARIOS)"
done
for v in RUNS DURATION CONNS CONNS_1M CONNS_100M WARMUP WAIT_QUIET QUIET_PCT RETRIES IDLE_N BASE_PORT; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer"
done
has_server() { [[ " $SERVERS " == *" $1 "* ]]; }
has_scenario() { [[ " $SCENARIOS " == *" $1 "* ]]; }

# ---------------------------------------------------------------- 1. dependencies
need_pkgs=()
command -v wrk >/dev/null || need_pkgs+=(wrk)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v openssl >/dev/null || need_pkgs+=(openssl)
[[ -x $PY ]] || need_pkgs+=(python3)
{ command -v taskset && command -v prlimit; } >/dev/null || need_pkgs+=(util-linux)
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
H2O=$(command -v h2o || echo /usr/bin/h2o)
has_server nginx && { [[ -x $NGINX ]] || need_pkgs+=(nginx-light); }
has_server h2o && { [[ -x $H2O ]] || need_pkgs+=(h2o); }
if has_server httpsd && [[ -z ${HTTPSD_BIN:-} ]]; then
    command -v meson >/dev/null || need_pkgs+=(meson)
    command -v ninja >/dev/null || need_pkgs+=(ninja-build)
    command -v pkg-config >/dev/null || need_pkgs+=(pkg-config)
    command -v cc >/dev/null || need_pkgs+=(gcc)
    [[ -e /usr/include/openssl/ssl.h ]] || need_pkgs+=(libssl-dev)
    [[ -d /usr/share/llhttp ]] || need_pkgs+=(node-llhttp)
fi
if ((${#need_pkgs[@]})); then
    if [[ $(id -u) == 0 ]]; then
        log "installing: ${need_pkgs[*]}"
        export DEBIAN_FRONTEND=noninteractive
        apt-get install -y --no-install-recommends "${need_pkgs[@]}" \
            || { apt-get update && apt-get install -y --no-install-recommends "${need_pkgs[@]}"; }
        NGINX=$(command -v nginx || echo /usr/sbin/nginx)
        H2O=$(command -v h2o || echo /usr/bin/h2o)
    else
        log "missing packages; run:"
        log "  sudo apt-get install -y ${need_pkgs[*]}"
        exit 1
    fi
fi

# ---------------------------------------------------------------- 2. build httpsd (release)
HTTPSD=
if has_server httpsd; then
    if [[ -n ${HTTPSD_BIN:-} ]]; then
        HTTPSD=$HTTPSD_BIN
    else
        [[ -f $ROOT/meson.build ]] || die "no $ROOT/meson.build yet: set HTTPSD_BIN=/path/to/httpsd or SERVERS=\"nginx h2o\""
        if [[ ! -f $ROOT/build-release/build.ninja ]]; then
            log "meson setup build-release --buildtype=release"
            (cd "$ROOT" && meson setup build-release --buildtype=release >&2)
        fi
        # ninja rebuilds only what is stale (no-op when build-release/httpsd is up to date)
        ninja -C "$ROOT/build-release" >&2 || die "build failed"
        HTTPSD=$ROOT/build-release/httpsd
    fi
    [[ -x $HTTPSD ]] || die "httpsd binary '$HTTPSD' is not executable"
fi

# ---------------------------------------------------------------- 3. temp dir, payload, cert
TMP=$(mktemp -d /tmp/httpsd-bench.XXXXXX)
chmod 755 "$TMP"          # nginx's worker runs as 'nobody' when started by root
declare -A PID=()          # server name -> pid of its main process
STARTED_PIDS=()            # every server pid ever started (for the exit trap)

tree_pids() {              # pid and all its descendants
    local root=$1 f rest pid ppid
    declare -A kids=()
    for f in /proc/[0-9]*/stat; do
        read -r rest 2>/dev/null <"$f" || continue
        pid=${f#/proc/}; pid=${pid%/stat}
        rest=${rest##*) }          # drop "pid (comm) "
        ppid=${rest#* }; ppid=${ppid%% *}
        kids[$ppid]+=" $pid"
    done
    local queue=("$root") out=() p
    while ((${#queue[@]})); do
        p=${queue[0]}; queue=("${queue[@]:1}")
        [[ -d /proc/$p ]] || continue
        out+=("$p")
        # shellcheck disable=SC2206
        [[ -n ${kids[$p]:-} ]] && queue+=(${kids[$p]})
    done
    echo "${out[@]:-}"
}

stop_pid() {               # TERM the process tree, KILL what is left after 5 s
    local pid=$1 pids i
    pids=$(tree_pids "$pid")
    [[ -n $pids ]] || return 0
    # shellcheck disable=SC2086
    kill -TERM $pids 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    # shellcheck disable=SC2086
    kill -KILL $pids 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${STARTED_PIDS[@]}"; do stop_pid "$p"; done
    if [[ $KEEP_TMP == 1 || $rc != 0 ]]; then
        log "temp dir kept: $TMP"
    else
        rm -rf "$TMP"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$TMP/www/static" "$TMP/nginx-tmp" "$TMP/wrk"
printf '%s\n' "$PAYLOAD" >"$TMP/www/static/f27.txt"
chmod 644 "$TMP/www/static/f27.txt"
[[ $(stat -c %s "$TMP/www/static/f27.txt") == 27 ]] || die "payload is not 27 bytes"
# the bigger files (random bytes; .bin = application/octet-stream for every server, so httpsd
# looks for no precompressed sidecar), in the same dir, only when a scenario needs them
declare -A SC_FILE=([small]=f27.txt [1m]=f1m.bin [100m]=f100m.bin [304]=f27.txt [range2]=f100k.bin)
declare -A FILE_SIZE=([f27.txt]=27 [f1m.bin]=1048576 [f100m.bin]=104857600 [f100k.bin]=102400)
for sc in $SCENARIOS; do
    f=${SC_FILE[$sc]}
    [[ -e $TMP/www/static/$f ]] && continue
    head -c "${FILE_SIZE[$f]}" /dev/urandom >"$TMP/www/static/$f"
    chmod 644 "$TMP/www/static/$f"
done

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null || die "openssl req failed"

# fd limit for the servers (and idle_conns.py): 65536, or the hard limit if lower
HARD_NOFILE=$(ulimit -Hn)
NOFILE=65536
[[ $HARD_NOFILE != unlimited ]] && ((HARD_NOFILE < NOFILE)) && NOFILE=$HARD_NOFILE
WORKER_CONNECTIONS=$((NOFILE < 20000 ? NOFILE : 20000))
if [[ $IDLE != 0 ]] && ((NOFILE < IDLE_N + 100)); then
    die "fd hard limit $NOFILE too low for IDLE_N=$IDLE_N"
fi

declare -A PORT_HTTP=([httpsd]=$((BASE_PORT + 80)) [nginx]=$((BASE_PORT + 1080)) [h2o]=$((BASE_PORT + 2080)))
declare -A PORT_HTTPS=([httpsd]=$((BASE_PORT + 443)) [nginx]=$((BASE_PORT + 1443)) [h2o]=$((BASE_PORT + 2443)))
port_of() { if [[ $2 == https ]]; then echo "${PORT_HTTPS[$1]}"; else echo "${PORT_HTTP[$1]}"; fi; }
url_of() { echo "$2://127.0.0.1:$(port_of "$1" "$2")/static/${3:-f27.txt}"; }   # url_of NAME SCHEME [FILE]

fill_template() {          # template -> output, replacing @NAME@ placeholders
    local user_line='# (not root: no user directive)'
    [[ $(id -u) == 0 ]] && user_line='user: root'
    sed -e "s|@TMP@|$TMP|g" -e "s|@WWW@|$TMP/www|g" \
        -e "s|@CERT@|$TMP/cert.pem|g" -e "s|@KEY@|$TMP/key.pem|g" \
        -e "s|@NOFILE@|$NOFILE|g" -e "s|@WORKER_CONNECTIONS@|$WORKER_CONNECTIONS|g" \
        -e "s|@PORT_HTTP@|$3|g" -e "s|@PORT_HTTPS@|$4|g" -e "s|@USER_LINE@|$user_line|g" \
        "$1" >"$2"
    ! grep -n '@[A-Z_]*@' "$2" >&2 || die "unfilled placeholder in $2"
}

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------- 4. servers
start_server() {
    local name=$1 ph=${PORT_HTTP[$1]} ps=${PORT_HTTPS[$1]} cmd=() p
    for p in "$ph" "$ps"; do port_busy "$p" && die "port $p (for $name) is already in use; set BASE_PORT"; done
    case $name in
        httpsd)
            cmd=("$HTTPSD" -b "http://127.0.0.1:$ph" -b "https://127.0.0.1:$ps"
                 --certfile "$TMP/cert.pem" --keyfile "$TMP/key.pem"
                 --static "/static=$TMP/www/static" --keep-alive 60) ;;
        nginx)
            fill_template "$BENCH_DIR/nginx.conf.in" "$TMP/nginx.conf" "$ph" "$ps"
            cmd=("$NGINX" -p "$TMP" -c "$TMP/nginx.conf" -e "$TMP/nginx-error.log") ;;
        h2o)
            fill_template "$BENCH_DIR/h2o.conf.in" "$TMP/h2o.conf" "$ph" "$ps"
            cmd=("$H2O" -c "$TMP/h2o.conf") ;;
    esac
    taskset -c "$SERVER_CPU" prlimit --nofile="$NOFILE:$NOFILE" "${cmd[@]}" >>"$TMP/$name.out" 2>&1 &
    PID[$name]=$!
    STARTED_PIDS+=("$!")
    local i code url scheme
    for scheme in http https; do
        url=$(url_of "$name" "$scheme")
        for ((i = 0; ; i++)); do
            kill -0 "${PID[$name]}" 2>/dev/null || { cat "$TMP/$name.out" "$TMP/$name-error.log" >&2 2>/dev/null || true; die "$name exited at startup"; }
            code=$(curl -sk --http1.1 -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
            [[ $code == 200 ]] && break
            ((i < 100)) || { cat "$TMP/$name.out" >&2; die "$name does not answer 200 on $url (last: $code)"; }
            sleep 0.1
        done
    done
}

stop_server() { stop_pid "${PID[$1]}"; unset "PID[$1]"; }

# STAT_TICKS: utime+stime (fields 14, 15 of /proc/PID/stat, clock ticks) summed over the server's
# processes; STAT_DELAY_NS: run-queue wait (schedstat field 2) summed over all their threads
server_stats() {
    local p s t f
    STAT_TICKS=0 STAT_DELAY_NS=0
    for p in $(tree_pids "$1"); do
        read -r s 2>/dev/null <"/proc/$p/stat" || continue
        s=${s##*) }
        read -ra f <<<"$s"          # f[0] is field 3 (state): utime = field 14, stime = 15
        STAT_TICKS=$((STAT_TICKS + f[11] + f[12]))
        for t in /proc/"$p"/task/*/schedstat; do
            read -ra f 2>/dev/null <"$t" || continue
            STAT_DELAY_NS=$((STAT_DELAY_NS + f[1]))
        done
    done
}
# CHILD_TICKS: cutime+cstime of this shell (CPU time of its reaped children, i.e. wrk)
child_ticks() {
    local s f
    read -r s <"/proc/$$/stat"
    s=${s##*) }
    read -ra f <<<"$s"
    CHILD_TICKS=$((f[13] + f[14]))
}
rss_kib() {
    local total=0 p v
    for p in $(tree_pids "$1"); do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status" 2>/dev/null || true)
        total=$((total + ${v:-0}))
    done
    echo "$total"
}
# "busy idle" jiffies of one CPU from /proc/stat
cpu_jiffies() {
    awk -v c="cpu$1" '$1 == c { idle = $5 + $6; t = 0; for (i = 2; i <= 9; i++) t += $i; print t - idle, idle }' /proc/stat
}
pct() {                    # pct "b0 i0" "b1 i1" -> busy % over the interval (from /proc/stat)
    local a b
    read -ra a <<<"$1"; read -ra b <<<"$2"
    awk -v db=$((b[0] - a[0])) -v di=$((b[1] - a[1])) 'BEGIN { t = db + di; printf "%.0f", t ? 100 * db / t : 0 }'
}

CLK_TCK=$(getconf CLK_TCK)
RAW=$TMP/raw.tsv
: >"$RAW"
TLSINFO=$TMP/tls.tsv
: >"$TLSINFO"

check_server() {           # the body must be the payload; record headers size and TLS parameters
    local name=$1 scheme url body hdr_bytes tls
    for scheme in $SCHEMES; do
        url=$(url_of "$name" "$scheme")
        body=$(curl -sk --http1.1 --max-time 5 "$url") || die "$name: curl $url failed"
        [[ $body == "$PAYLOAD" ]] || die "$name: unexpected body from $url: '$body'"
        hdr_bytes=$(curl -sk --http1.1 --max-time 5 -D - -o /dev/null "$url" | wc -c)
        tls=
        if [[ $scheme == https ]]; then
            tls=$(openssl s_client -connect "127.0.0.1:$(port_of "$name" https)" -servername localhost </dev/null 2>/dev/null \
                | sed -n 's/^New, \(.*\), Cipher is \(.*\)$/\1 \2/p' | head -1)
        fi
        printf '%s\t%s\t%s\t%s\n' "$name" "$scheme" "$hdr_bytes" "${tls:--}" >>"$TLSINFO"
        log "  $name $scheme: 200, 27-byte body, response head $hdr_bytes bytes${tls:+, $tls}"
    done
}

declare -A ETAG=()         # "server scheme" -> that server's ETag for f27.txt (scenario 304)
declare -A SKIP=()         # "scenario server" -> why that server is skipped in that scenario
RANGE2='bytes=0-99,5000-5099'
sc_conns() { case $1 in 1m) echo "$CONNS_1M";; 100m) echo "$CONNS_100M";; *) echo "$CONNS";; esac; }
sc_wrk_args() {            # sc_wrk_args SCENARIO NAME SCHEME -> WRK_ARGS (extra wrk options)
    WRK_ARGS=()
    case $1 in
        1m) WRK_ARGS=(--timeout 10s) ;;
        100m) WRK_ARGS=(--timeout 60s) ;;
        304) WRK_ARGS=(-H "If-None-Match: ${ETAG["$2 $3"]}") ;;
        range2) WRK_ARGS=(-H "Range: $RANGE2") ;;
    esac
}

run_wrk() {                # run_wrk RUN SCENARIO NAME SCHEME DURATION [record]
    local run=$1 scenario=$2 name=$3 scheme=$4 dur=$5 record=${6:-1}
    local url pid out t0 d0 t1 d1 w0 w1 start end conns
    url=$(url_of "$name" "$scheme" "${SC_FILE[$scenario]}")
    conns=$(sc_conns "$scenario")
    sc_wrk_args "$scenario" "$name" "$scheme"
    pid=${PID[$name]}
    out=$TMP/wrk/$scenario-$run-$name-$scheme.txt
    server_gone() {
        kill -0 "$pid" 2>/dev/null && return 1
        log "--- last lines of $name's output ($TMP/$name.out):"
        tail -n 20 "$TMP/$name.out" >&2
        die "$name (pid $pid) exited during the benchmark ($scenario, $scheme, run $run)"
    }
    kill -0 "$pid" 2>/dev/null || server_gone
    server_stats "$pid"; t0=$STAT_TICKS; d0=$STAT_DELAY_NS
    child_ticks; w0=$CHILD_TICKS
    start=$EPOCHREALTIME
    if ! taskset -c "$CLIENT_CPU" wrk -t1 -c"$conns" -d"${dur}s" --latency "${WRK_ARGS[@]}" "$url" >"$out" 2>&1; then
        cat "$out" >&2
        server_gone || true
        die "wrk failed for $name $scheme ($scenario)"
    fi
    end=$EPOCHREALTIME
    child_ticks; w1=$CHILD_TICKS
    server_stats "$pid"; t1=$STAT_TICKS; d1=$STAT_DELAY_NS
    kill -0 "$pid" 2>/dev/null || server_gone
    ((record)) || return 0

    local reqs rps non2xx sockerr lat50 lat90 lat99 bytes xfer ticks us wall cpus cpuc wait errs=""
    reqs=$(sed -n 's/^ *\([0-9][0-9]*\) requests in .*/\1/p' "$out")
    xfer=$(sed -n 's/^Transfer\/sec: *\([0-9.]*[KMGTP]*B\).*/\1/p' "$out")
    bytes=$(sed -n 's/^ *[0-9][0-9]* requests in [^,]*, \(.*\) read$/\1/p' "$out")
    rps=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$out")
    non2xx=$(sed -n 's/^ *Non-2xx or 3xx responses: *\([0-9]*\).*/\1/p' "$out")
    sockerr=$(sed -n 's/^ *Socket errors: *\(.*\)$/\1/p' "$out")
    lat50=$(awk '$1 == "50%" {print $2}' "$out")
    lat90=$(awk '$1 == "90%" {print $2}' "$out")
    lat99=$(awk '$1 == "99%" {print $2}' "$out")
    [[ -n $reqs && -n $rps && -n $xfer && $reqs -gt 0 ]] || { cat "$out" >&2; die "cannot parse wrk output for $name $scheme ($scenario)"; }
    ticks=$((t1 - t0))
    us=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.2f", t * 1e6 / hz / n }')
    wall=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
    # server CPU time / wall time (100% = the server's core was saturated), wrk's CPU time / wall
    # time (100% = client-bound), and the time the server's threads were runnable but waiting for
    # the CPU (run_delay from /proc/PID/task/TID/schedstat: other work on the server's core)
    cpus=$(awk -v t="$ticks" -v hz="$CLK_TCK" -v w="$wall" 'BEGIN { printf "%.0f", 100 * t / hz / w }')
    cpuc=$(awk -v t="$((w1 - w0))" -v hz="$CLK_TCK" -v w="$wall" 'BEGIN { printf "%.0f", 100 * t / hz / w }')
    wait=$(awk -v d="$((d1 - d0))" -v w="$wall" 'BEGIN { printf "%.1f", 100 * d / 1e9 / w }')
    if awk -v x="$wait" 'BEGIN { exit !(x > 5) }'; then
        if ((${ATTEMPT:-0} < RETRIES)); then
            log "  run $run  $scenario $name $scheme: server waited for its CPU ${wait}% of the time (other load): discarded, retrying"
            return 2
        fi
        errs+=" the server waited for its CPU ${wait}% of the time (other load; noisy run);"
    fi
    [[ -n $non2xx ]] && errs+=" non-2xx/3xx: $non2xx;"
    [[ -n $sockerr ]] && errs+=" socket errors: $sockerr;"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
        "$scenario" "$run" "$name" "$scheme" "$dur" "$reqs" "$rps" "$ticks" "$us" "${non2xx:-0}" "${sockerr:--}" \
        "$lat50" "$lat90" "$lat99" "$cpus" "$cpuc" "$wait" "$wall" "$bytes" "$xfer" "$conns" >>"$RAW"
    printf '  run %s  %-6s %-6s %-5s %10.0f req/s %9s/s %9s µs CPU/req  p50 %-8s p99 %-8s server cpu %3s%%  wrk cpu %3s%%  server runq wait %s%%\n' \
        "$run" "$scenario" "$name" "$scheme" "$rps" "$xfer" "$us" "$lat50" "$lat99" "$cpus" "$cpuc" "$wait" >&2
    if [[ -n $errs ]]; then
        log "  WARNING: $scenario $name $scheme run $run:$errs"
        { grep -E 'Non-2xx|Socket errors' "$out" || true; } | sed 's/^/    wrk: /' >&2
    fi
}

# per-scenario checks with curl before measuring; one line per (server, scheme) in RESPINFO:
# scenario, server, scheme, status, response bytes (head + body), note
RESPINFO=$TMP/responses.tsv
: >"$RESPINFO"
prepare_scenario() {
    local scenario=$1 name scheme url file size w code dl hb etag ctype note
    file=${SC_FILE[$scenario]}; size=${FILE_SIZE[$file]}
    for name in $SERVERS; do
        for scheme in $SCHEMES; do
            url=$(url_of "$name" "$scheme" "$file")
            note=
            case $scenario in
                small|1m|100m)
                    w=$(curl -sk --http1.1 --max-time 120 -D "$TMP/hdr" -o "$TMP/body" -w '%{http_code} %{size_download}' "$url") \
                        || die "$name: curl $url failed"
                    read -r code dl <<<"$w"
                    [[ $code == 200 && $dl == "$size" ]] || die "$name $scheme: $url answered $code with $dl bytes (want 200, $size bytes)"
                    cmp -s "$TMP/body" "$TMP/www/static/$file" || die "$name $scheme: body of $url differs from the file"
                    note="200, $size-byte body" ;;
                304)
                    etag=$(curl -sk --http1.1 --max-time 5 -D - -o /dev/null "$url" | tr -d '\r' | sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' | head -1)
                    [[ -n $etag ]] || die "$name $scheme: no ETag header on $url"
                    ETAG["$name $scheme"]=$etag
                    w=$(curl -sk --http1.1 --max-time 5 -H "If-None-Match: $etag" -D "$TMP/hdr" -o "$TMP/body" -w '%{http_code} %{size_download}' "$url") \
                        || die "$name: curl $url failed"
                    read -r code dl <<<"$w"
                    [[ $code == 304 ]] || die "$name $scheme: answered $code, not 304, to If-None-Match: $etag on $url; scenario 304 cannot be measured"
                    note="304 to If-None-Match: $etag" ;;
                range2)
                    w=$(curl -sk --http1.1 --max-time 5 -H "Range: $RANGE2" -D "$TMP/hdr" -o "$TMP/body" -w '%{http_code} %{size_download}' "$url") \
                        || die "$name: curl $url failed"
                    read -r code dl <<<"$w"
                    ctype=$(tr -d '\r' <"$TMP/hdr" | sed -n 's/^[Cc]ontent-[Tt]ype: *//p' | head -1)
                    if [[ $code == 206 && $ctype == multipart/byteranges* ]] \
                        && grep -qa "bytes 0-99/$size" "$TMP/body" && grep -qa "bytes 5000-5099/$size" "$TMP/body"; then
                        note="206 multipart/byteranges, $dl-byte body"
                    else
                        SKIP["$scenario $name $scheme"]="answered $code ${ctype:-(no Content-Type)}, $dl-byte body: no 206 multipart/byteranges"
                        note="SKIPPED: ${SKIP["$scenario $name $scheme"]}"
                    fi ;;
            esac
            hb=$(wc -c <"$TMP/hdr")
            printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$scenario" "$name" "$scheme" "$code" "$((hb + dl))" "$note" >>"$RESPINFO"
            log "  $scenario $name $scheme: $note; response $((hb + dl)) bytes (head $hb)"
        done
    done
    rm -f "$TMP/hdr" "$TMP/body"
}
skipped() { [[ -n ${SKIP["$1 $2 $3"]:-} ]]; }   # skipped SCENARIO SERVER SCHEME

# wait (at most WAIT_QUIET s) until both benchmark CPUs are idle: a shared machine runs other work
wait_quiet() {
    local t0=$SECONDS a0 a1 x y
    ((WAIT_QUIET > 0)) || return 0
    while :; do
        a0=$(cpu_jiffies "$SERVER_CPU"); a1=$(cpu_jiffies "$CLIENT_CPU")
        sleep 0.5
        x=$(pct "$a0" "$(cpu_jiffies "$SERVER_CPU")"); y=$(pct "$a1" "$(cpu_jiffies "$CLIENT_CPU")")
        ((x <= QUIET_PCT && y <= QUIET_PCT)) && return 0
        if ((SECONDS - t0 >= WAIT_QUIET)); then
            log "  (CPUs still busy after ${WAIT_QUIET}s: cpu$SERVER_CPU $x%, cpu$CLIENT_CPU $y%; measuring anyway)"
            return 0
        fi
    done
}

# ---------------------------------------------------------------- 5. throughput runs
busy0=$(cpu_jiffies "$SERVER_CPU"); busy1=$(cpu_jiffies "$CLIENT_CPU")
sleep 1
b0=$(pct "$busy0" "$(cpu_jiffies "$SERVER_CPU")"); b1=$(pct "$busy1" "$(cpu_jiffies "$CLIENT_CPU")")
BG_LOAD="cpu$SERVER_CPU ${b0}%, cpu$CLIENT_CPU ${b1}%"
log "background load before start (1 s): $BG_LOAD"
((b0 > 10 || b1 > 10)) && log "WARNING: the benchmark CPUs are busy with something else; results will be noisy"

log "starting servers: $SERVERS (server CPU $SERVER_CPU, client CPU $CLIENT_CPU, fd limit $NOFILE)"
for s in $SERVERS; do
    start_server "$s"
    check_server "$s"
done

if [[ $IDLE != only ]]; then
    for scenario in $SCENARIOS; do
        log ""
        log "=== scenario $scenario: /static/${SC_FILE[$scenario]}, wrk -t1 -c$(sc_conns "$scenario")"
        prepare_scenario "$scenario"
        if ((WARMUP > 0)); then
            log "warm-up: ${WARMUP}s per (server, scheme)"
            for scheme in $SCHEMES; do for s in $SERVERS; do
                skipped "$scenario" "$s" "$scheme" || run_wrk 0 "$scenario" "$s" "$scheme" "$WARMUP" 0
            done; done
        fi
        log "measuring: $RUNS run(s) x ${DURATION}s, interleaved"
        for ((run = 1; run <= RUNS; run++)); do
            for scheme in $SCHEMES; do
                for s in $SERVERS; do
                    skipped "$scenario" "$s" "$scheme" && continue
                    for ((attempt = 0; ; attempt++)); do
                        wait_quiet
                        rc=0
                        ATTEMPT=$attempt run_wrk "$run" "$scenario" "$s" "$scheme" "$DURATION" || rc=$?
                        ((rc == 2)) || break
                    done
                done
            done
        done
    done
fi

# ---------------------------------------------------------------- 7. idle keep-alive connections
IDLE_JSON=$TMP/idle.jsonl
: >"$IDLE_JSON"
if [[ $IDLE != 0 ]]; then
    # each measurement gets a freshly started server, so memory freed by an earlier test and kept
    # by the allocator does not hide the cost of the next one
    for s in $IDLE_SERVERS; do
        has_server "$s" || { log "idle: skipping $s (not in SERVERS)"; continue; }
        for scheme in $SCHEMES; do
            stop_server "$s"
            start_server "$s"
            tls_flag=()
            [[ $scheme == https ]] && tls_flag=(--tls)
            log "idle: $s $scheme, $IDLE_N connections"
            taskset -c "$CLIENT_CPU" prlimit --nofile="$NOFILE:$NOFILE" \
                "$PY" "$BENCH_DIR/idle_conns.py" --pid "${PID[$s]}" --port "$(port_of "$s" "$scheme")" \
                "${tls_flag[@]}" -n "$IDLE_N" --path /static/f27.txt --name "$s" \
                --json "$IDLE_JSON" >&2 || die "idle_conns.py failed for $s $scheme"
        done
    done
fi

for s in "${!PID[@]}"; do stop_server "$s"; done

# ---------------------------------------------------------------- 6. summary + JSON
mkdir -p "$BENCH_DIR/results"
STAMP=$(date +%Y%m%d-%H%M%S)
JSON_OUT=$BENCH_DIR/results/static-$STAMP.json
versions() {
    printf 'nginx\t%s\n' "$("$NGINX" -v 2>&1 | head -1)"
    printf 'h2o\t%s\n' "$("$H2O" --version 2>&1 | head -1)"
    printf 'wrk\t%s\n' "$(wrk --version 2>&1 | head -1 | sed 's/ *Copyright.*//')"
    printf 'openssl\t%s\n' "$(openssl version)"
    [[ -n $HTTPSD ]] && printf 'httpsd\t%s\n' "$("$HTTPSD" --version 2>&1 | head -1 || true)"
    printf 'httpsd_git\t%s\n' "$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo none)$(if git -C "$ROOT" status --porcelain 2>/dev/null | grep -q .; then echo '+dirty'; fi)"
    printf 'kernel\t%s\n' "$(uname -r)"
    printf 'cpu\t%s\n' "$(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1)"
    printf 'nproc\t%s\n' "$(nproc)"
}
versions >"$TMP/versions.tsv"

"$PY" - "$RAW" "$TLSINFO" "$IDLE_JSON" "$TMP/versions.tsv" "$JSON_OUT" "$TMP/wrk" "$RESPINFO" <<PYEOF
import json, statistics, sys, datetime, os, re
raw, tlsinfo, idle_path, vers_path, out, wrk_dir, respinfo = sys.argv[1:8]
params = dict(runs=$RUNS, duration_s=$DURATION, connections=$CONNS, connections_1m=$CONNS_1M,
              connections_100m=$CONNS_100M, wrk_threads=1, scenarios="$SCENARIOS".split(),
              servers="$SERVERS".split(), schemes="$SCHEMES".split(), server_cpu=$SERVER_CPU,
              client_cpu=$CLIENT_CPU, clk_tck=$CLK_TCK, payload_bytes=27, url_path="/static/f27.txt",
              fd_limit=$NOFILE, wait_quiet_s=$WAIT_QUIET, quiet_pct=$QUIET_PCT, retries=$RETRIES,
              idle_connections=$IDLE_N if "$IDLE" != "0" else None,
              background_load_before="$BG_LOAD")
SCEN = {
    "small":  dict(file="f27.txt",   file_bytes=27,        conns=$CONNS,      headers=[],
                   title="27-byte file"),
    "1m":     dict(file="f1m.bin",   file_bytes=1048576,   conns=$CONNS_1M,   headers=[],
                   title="1 MiB file, keep-alive"),
    "100m":   dict(file="f100m.bin", file_bytes=104857600, conns=$CONNS_100M, headers=[],
                   title="100 MiB file, keep-alive"),
    "304":    dict(file="f27.txt",   file_bytes=27,        conns=$CONNS,      headers=["If-None-Match: <the server's own ETag>"],
                   title="conditional GET of the 27-byte file, If-None-Match: <own ETag> -> 304"),
    "range2": dict(file="f100k.bin", file_bytes=102400,    conns=$CONNS,      headers=["Range: $RANGE2"],
                   title="two-part multi-range GET ($RANGE2) of a 100 KiB file -> 206 multipart/byteranges"),
}
BIG = ("1m", "100m")

def lat_us(s):
    if not s: return None
    for suf, mul in (("us", 1), ("ms", 1e3), ("s", 1e6), ("m", 60e6)):
        if s.endswith(suf):
            return round(float(s[:-len(suf)]) * mul, 1)
    return None

def wrk_bytes(s):          # wrk's format_binary: "%.2f" + K/M/G/T/P + "B", powers of 1024
    m = re.fullmatch(r"([0-9.]+)([KMGTP]?)B", s or "")
    if not m: return None
    return float(m.group(1)) * 1024 ** " KMGTP".index(m.group(2) or " ")

cols = "scenario run server scheme duration_s requests req_per_s cpu_ticks cpu_us_per_req non2xx socket_errors lat50 lat90 lat99 server_cpu_pct wrk_cpu_pct server_runq_wait_pct wall_s bytes_read transfer_per_s connections".split()
runs = []
for line in open(raw):
    r = dict(zip(cols, line.rstrip("\n").split("\t")))
    for k in ("run", "duration_s", "requests", "cpu_ticks", "non2xx", "server_cpu_pct", "wrk_cpu_pct", "connections"):
        r[k] = int(r[k])
    for k in ("req_per_s", "cpu_us_per_req", "server_runq_wait_pct", "wall_s"):
        r[k] = float(r[k])
    for k in ("lat50", "lat90", "lat99"):
        r[k + "_us"] = lat_us(r.pop(k))
    b = wrk_bytes(r["transfer_per_s"])
    r["transfer_bytes_per_s"] = b
    r["gib_per_s"] = None if b is None else b / 2**30
    if r["socket_errors"] == "-": r["socket_errors"] = None
    with open(os.path.join(wrk_dir, f"{r['scenario']}-{r['run']}-{r['server']}-{r['scheme']}.txt")) as f:
        r["wrk_output"] = f.read()
    runs.append(r)

tls = {}
for line in open(tlsinfo):
    name, scheme, hdr, t = line.rstrip("\n").split("\t")
    tls[f"{name} {scheme}"] = dict(response_bytes=int(hdr) + 27, tls=None if t == "-" else t)
resp = {}
for line in open(respinfo):
    sc, name, scheme, code, nbytes, note = line.rstrip("\n").split("\t")
    resp[(sc, name, scheme)] = dict(status=int(code), response_bytes=int(nbytes), note=note,
                                   skipped=note[len("SKIPPED: "):] if note.startswith("SKIPPED: ") else None)
versions = dict(l.rstrip("\n").split("\t", 1) for l in open(vers_path) if "\t" in l)
idle = [json.loads(l) for l in open(idle_path) if l.strip()]

servers, schemes = params["servers"], params["schemes"]

def summarize(scn):
    summary = {}
    for sc in schemes:
        for sv in servers:
            rs = [r for r in runs if r["scenario"] == scn and r["server"] == sv and r["scheme"] == sc]
            if not rs: continue
            rps = [r["req_per_s"] for r in rs]; cpu = [r["cpu_us_per_req"] for r in rs]
            gib = [r["gib_per_s"] for r in rs if r["gib_per_s"] is not None]
            med = lambda k: statistics.median([r[k] for r in rs if r[k] is not None]) if any(r[k] is not None for r in rs) else None
            summary[f"{sv} {sc}"] = dict(
                server=sv, scheme=sc, runs=len(rs), req_per_s_median=statistics.median(rps),
                req_per_s_min=min(rps), req_per_s_max=max(rps),
                gib_per_s_median=statistics.median(gib) if gib else None,
                gib_per_s_min=min(gib) if gib else None, gib_per_s_max=max(gib) if gib else None,
                cpu_us_per_req_median=statistics.median(cpu), cpu_us_per_req_min=min(cpu), cpu_us_per_req_max=max(cpu),
                lat50_us_median=med("lat50_us"), lat99_us_median=med("lat99_us"),
                server_cpu_pct_median=statistics.median([r["server_cpu_pct"] for r in rs]),
                wrk_cpu_pct_median=statistics.median([r["wrk_cpu_pct"] for r in rs]),
                server_runq_wait_pct_max=max(r["server_runq_wait_pct"] for r in rs),
                non2xx_total=sum(r["non2xx"] for r in rs),
                socket_errors=[r["socket_errors"] for r in rs if r["socket_errors"]],
                noisy_runs=[r["run"] for r in rs if r["server_runq_wait_pct"] > 5])
    return summary

def pairwise(summary, big):   # httpsd / nginx and httpsd / h2o, per scheme (GiB/s for the big files)
    out = {}
    for sc in schemes:
        me = summary.get(f"httpsd {sc}")
        if not me: continue
        for o in ("nginx", "h2o"):
            ot = summary.get(f"{o} {sc}")
            if not ot: continue
            d = dict(req_per_s=me["req_per_s_median"] / ot["req_per_s_median"],
                     cpu_us_per_req=me["cpu_us_per_req_median"] / ot["cpu_us_per_req_median"])
            if big and me["gib_per_s_median"] and ot["gib_per_s_median"]:
                d["gib_per_s"] = me["gib_per_s_median"] / ot["gib_per_s_median"]
            out[f"{sc} httpsd/{o}"] = d
    return out

def best_of(summary):      # the original small-file summary: httpsd / best of the others
    ratios = {}
    for sc in schemes:
        me = summary.get(f"httpsd {sc}")
        others = [summary[f"{o} {sc}"] for o in ("nginx", "h2o") if f"{o} {sc}" in summary]
        if not me or not others: continue
        best_rps = max(others, key=lambda s: s["req_per_s_median"])
        best_cpu = min(others, key=lambda s: s["cpu_us_per_req_median"])
        ratios[sc] = dict(req_per_s=me["req_per_s_median"] / best_rps["req_per_s_median"], req_per_s_best=best_rps["server"],
                          cpu_us_per_req=me["cpu_us_per_req_median"] / best_cpu["cpu_us_per_req_median"], cpu_best=best_cpu["server"])
    return ratios

def fmt_lat(us):
    if us is None: return "-"
    if us < 1000: return f"{us:.0f}us"
    if us < 1e6: return f"{us/1000:.2f}ms"
    return f"{us/1e6:.2f}s"

scenarios = {}
for scn in params["scenarios"]:
    d = SCEN[scn]
    summary = summarize(scn)
    skipped = {f"{sv} {sc}": v["skipped"] for (s_, sv, sc), v in resp.items() if s_ == scn and v["skipped"]}
    scenarios[scn] = dict(title=d["title"], url_path="/static/" + d["file"], file_bytes=d["file_bytes"],
                          connections=d["conns"], request_headers=d["headers"],
                          responses={f"{sv} {sc}": v for (s_, sv, sc), v in resp.items() if s_ == scn},
                          skipped=skipped, summary=summary, ratios_httpsd_vs=pairwise(summary, scn in BIG))
    if not summary and not skipped: continue
    big = scn in BIG
    print()
    print(f"=== {scn}: {d['title']}; /static/{d['file']}, wrk -t1 -c{d['conns']} -d{params['duration_s']}s, "
          f"{params['runs']} interleaved run(s); server on cpu{params['server_cpu']}, wrk on cpu{params['client_cpu']}")
    print()
    gcol = f" {'GiB/s':>6}  {'(min – max)':<13}" if big else ""
    hdr = (f"{'server':<7} {'scheme':<6} {'req/s median':>12}  {'(min – max)':<21}{gcol} {'CPU µs/req':>10}  {'p50':>7} {'p99':>8}  "
           f"{'srv cpu':>7} {'wrk cpu':>7} {'srv wait':>8}  {'resp B':>9}  errors / notes")
    print(hdr); print("-" * len(hdr))
    for sc in schemes:
        for sv in servers:
            rinfo = resp.get((scn, sv, sc), {})
            if rinfo.get("skipped"):
                print(f"{sv:<7} {sc:<6} {'SKIPPED':>12}  {rinfo['skipped']}")
                continue
            s = summary.get(f"{sv} {sc}")
            if not s: continue
            errs = []
            if s["non2xx_total"]: errs.append(f"non-2xx/3xx {s['non2xx_total']}")
            if s["socket_errors"]: errs.append("socket errors: " + " | ".join(s["socket_errors"]))
            nd = 1 if s["req_per_s_max"] < 100 else 0
            rng = f"({s['req_per_s_min']:,.{nd}f} – {s['req_per_s_max']:,.{nd}f})"
            g = ""
            if big:
                g = (f" {s['gib_per_s_median']:>6.2f}  ({s['gib_per_s_min']:.2f} – {s['gib_per_s_max']:.2f})".ljust(23)
                     if s["gib_per_s_median"] is not None else f" {'-':>6}  {'':<13}")
            rb = rinfo.get("response_bytes", tls.get(f"{sv} {sc}", {}).get("response_bytes", ""))
            if s["noisy_runs"]: errs.append(f"server waited for its CPU >5% in run(s) {s['noisy_runs']}: noisy")
            if s["wrk_cpu_pct_median"] >= 95: errs.append("wrk's CPU saturated: client-bound")
            print(f"{sv:<7} {sc:<6} {s['req_per_s_median']:>12,.{nd}f}  {rng:<21}{g} {s['cpu_us_per_req_median']:>10.2f}  "
                  f"{fmt_lat(s['lat50_us_median']):>7} {fmt_lat(s['lat99_us_median']):>8}  {s['server_cpu_pct_median']:>6}% {s['wrk_cpu_pct_median']:>6}% {s['server_runq_wait_pct_max']:>7.1f}%  "
                  f"{rb:>9}  {'; '.join(errs) if errs else 'none'}")
    for k, r in scenarios[scn]["ratios_httpsd_vs"].items():
        g = f", GiB/s {r['gib_per_s']:.2f}" if "gib_per_s" in r else ""
        print(f"  {k:<20} req/s {r['req_per_s']:.2f}{g}, CPU/req {r['cpu_us_per_req']:.2f}")
    if scn == "small":
        for sc, r in best_of(summary).items():
            print(f"  httpsd / best-of(nginx, h2o), {sc:<5}: req/s {r['req_per_s']:.2f} (best {r['req_per_s_best']}), "
                  f"CPU/req {r['cpu_us_per_req']:.2f} (lowest {r['cpu_best']})")
    print("  [ratios of medians; req/s and GiB/s: higher is better for httpsd; CPU/req: lower is better]")

if scenarios:
    print()
    print("(medians over runs; srv cpu = server CPU time / wall time, 100% = its core saturated; wrk cpu = the same for wrk,\n"
          " ~100% = client-bound; srv wait = largest share of wall time the server was runnable but waiting for its CPU\n"
          " (other load on the machine); resp B = bytes per response, head + body, as curl saw it; GiB/s = wrk's\n"
          " Transfer/sec, 2^30 bytes; CPU µs/req includes the loopback TCP work billed to the server's core)")
    tl = [f"{k}: {v['tls']}" for k, v in tls.items() if v["tls"]]
    if tl: print("TLS negotiated (openssl s_client defaults, like wrk): " + "; ".join(tl))
if idle:
    print()
    print(f"idle keep-alive connections (each after one request), server RSS (VmRSS, all its processes)")
    hdr = f"{'server':<7} {'scheme':<6} {'conns':>6} {'RSS before':>11} {'RSS after':>11} {'KiB/conn':>9}  {'still open':>10}"
    print(hdr); print("-" * len(hdr))
    for r in idle:
        print(f"{r['server']:<7} {r['scheme']:<6} {r['connections']:>6} {r['rss_before_kib']:>8} KiB {r['rss_after_kib']:>8} KiB "
              f"{r['kib_per_conn']:>9.2f}  {r['still_open']:>10}")
small = scenarios.get("small", {}).get("summary", {})
json.dump(dict(date=datetime.datetime.now().astimezone().isoformat(timespec="seconds"), params=params,
               versions=versions, responses=tls, runs=runs,
               summary=small, ratios_httpsd_vs_best=best_of(small),   # the 27-byte scenario, as before
               scenarios=scenarios, idle=idle), open(out, "w"), indent=1)
print()
print(f"raw numbers: {out}")
PYEOF
