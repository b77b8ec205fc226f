#!/usr/bin/env bash
# fuzz/campaign.sh [--minutes M] [--jobs J] [--report FILE] [--build DIR] [TARGET...]
#
# A fuzzing campaign (issue 14): builds the libFuzzer targets under ASan+UBSan (build-fuzz/),
# runs each TARGET (default: every target meson built) for M minutes (default 10) over a
# working copy of fuzz/corpus/<target>/ with fuzz/dict/<target>.dict, then
#   - merges the inputs that reach new edges back into fuzz/corpus/<target>/ (a merge against
#     the committed corpus on edge coverage only, so it stays small),
#   - copies every crash/leak/timeout/oom artifact (minimised when it can be) into
#     fuzz/corpus/<target>/ as crash-<sha1> etc., where the normal build's replay_<target>
#     test (./test.sh) replays it from then on,
#   - prints a summary table (and writes it to FILE with --report), and exits 1 if any target
#     crashed.
# J targets run at once (default 1). To share a machine, wrap it: taskset -c 1 nice -n 10 ...
# Working files (logs, working corpora, artifacts) are left in <build>/campaign/<target>/.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=scripts/deps.sh
. scripts/deps.sh

usage() {
    sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit "${1:-2}"
}

MINUTES=10
JOBS=1
REPORT=
BUILD=build-fuzz
TARGETS=()
while [ $# -gt 0 ]; do
    case $1 in
    --minutes) MINUTES=${2:?--minutes needs a value}; shift 2 ;;
    --minutes=*) MINUTES=${1#*=}; shift ;;
    --jobs) JOBS=${2:?--jobs needs a value}; shift 2 ;;
    --jobs=*) JOBS=${1#*=}; shift ;;
    --report) REPORT=${2:?--report needs a file}; shift 2 ;;
    --report=*) REPORT=${1#*=}; shift ;;
    --build) BUILD=${2:?--build needs a directory}; shift 2 ;;
    --build=*) BUILD=${1#*=}; shift ;;
    -h | --help) usage 0 ;;
    -*) echo "campaign.sh: unknown option $1" >&2; usage ;;
    *) TARGETS+=("$1"); shift ;;
    esac
done
[[ $MINUTES =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "campaign.sh: bad --minutes '$MINUTES'" >&2; exit 2; }
[[ $JOBS =~ ^[1-9][0-9]*$ ]] || { echo "campaign.sh: bad --jobs '$JOBS'" >&2; exit 2; }
SECONDS_PER_TARGET=$(awk -v m="$MINUTES" 'BEGIN { s = int(m * 60 + 0.5); print s < 1 ? 1 : s }')

# clang with its compiler-rt (libFuzzer and the sanitizer runtimes), llvm-symbolizer for the
# stack traces, clang-format for the formatting test of the same build.
ensure_packages "${BUILD_PACKAGES[@]}" clang llvm
CLANG_MAJOR=$(clang -dumpversion | cut -d. -f1)
ensure_packages "libclang-rt-$CLANG_MAJOR-dev"

echo "== building $BUILD (clang $(clang -dumpversion), ASan+UBSan, libFuzzer)"
export CC=clang
build_dir "$BUILD" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false \
    "$(python_option /usr/bin/python3)" || { echo "campaign.sh: build failed" >&2; exit 1; }

if [ ${#TARGETS[@]} -eq 0 ]; then
    for src in fuzz/fuzz_*.c; do
        t=${src#fuzz/fuzz_}
        t=${t%.c}
        [ -x "$BUILD/fuzz_$t" ] && TARGETS+=("$t")
    done
fi
for t in "${TARGETS[@]}"; do
    [ -x "$BUILD/fuzz_$t" ] || { echo "campaign.sh: no target $BUILD/fuzz_$t" >&2; exit 2; }
    [ -d "fuzz/corpus/$t" ] || { echo "campaign.sh: no corpus fuzz/corpus/$t" >&2; exit 2; }
done

# Longest input per target: a little over what the code under test can still tell apart.
max_len() {
    case $1 in
    http1) echo 40960 ;; # past the 32 KiB request-head cap (fr-limits-headers-total-40k)
    http2) echo 40960 ;; # a 32 KiB header list in HEADERS + CONTINUATION frames
    load_resp) echo 8192 ;;
    path | cfg) echo 4096 ;;
    range) echo 1024 ;; # 8 size bytes + a Range value; more than 16 ranges is one answer
    *) echo 4096 ;;
    esac
}

# Any report is fatal, with its stack; leaks are checked (CPython's are suppressed).
export ASAN_OPTIONS=halt_on_error=1:print_stacktrace=1:detect_leaks=1:symbolize=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:symbolize=1
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp:print_suppressions=0"

CAMPAIGN=$BUILD/campaign
mkdir -p "$CAMPAIGN"

count_files() { find "$1" -maxdepth 1 -type f ! -name '.*' | wc -l; }

# copy_seeds FROM TO: the corpus without its findings (crash-*, leak-*, timeout-*, oom-*):
# those are replayed by replay_<target>; fed to libFuzzer while still unfixed they would stop
# every later run of the target at its first input.
copy_seeds() {
    find "$1" -maxdepth 1 -type f ! -name '.*' ! -name 'crash-*' ! -name 'leak-*' \
        ! -name 'timeout-*' ! -name 'oom-*' -exec cp -t "$2" {} +
}

# run_target T: fuzz, merge, collect artifacts; facts go to $CAMPAIGN/T/result.
run_target() {
    local t=$1
    local bin=$BUILD/fuzz_$t work=$CAMPAIGN/$t
    local dict=() len start end before after crashes=0 a kind sha min
    rm -rf "$work"
    mkdir -p "$work/corpus" "$work/artifacts"
    copy_seeds "fuzz/corpus/$t" "$work/corpus"
    [ -f "fuzz/dict/$t.dict" ] && dict=(-dict="fuzz/dict/$t.dict")
    len=$(max_len "$t")
    before=$(count_files "fuzz/corpus/$t")
    echo "== $t: fuzzing for $SECONDS_PER_TARGET s (log: $work/fuzz.log)"
    start=$(date +%s)
    "$bin" "${dict[@]}" -max_len="$len" -timeout=10 -rss_limit_mb=2048 \
        -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/fuzz.log" 2>&1
    echo "$?" >"$work/fuzz.rc"
    end=$(date +%s)

    # Artifacts: minimise crashes and leaks (timeouts and OOMs would take too long), then
    # commit them under their content's name so replay_<t> runs them from now on.
    for a in "$work"/artifacts/*; do
        [ -f "$a" ] || continue
        kind=$(basename "$a")
        kind=${kind%%-*}
        case $kind in
        crash | leak | timeout | oom) ;;
        *) continue ;; # slow-unit-*: worth a look, not a failure
        esac
        crashes=$((crashes + 1))
        min=$a
        if [ "$kind" = crash ] || [ "$kind" = leak ]; then
            "$bin" -minimize_crash=1 -max_total_time=120 -timeout=10 -artifact_prefix="$work/min-" \
                -exact_artifact_path="$work/min" "$a" >"$work/minimize-$(basename "$a").log" 2>&1
            [ -s "$work/min" ] && min=$work/min
        fi
        sha=$(sha1sum "$min" | cut -d' ' -f1)
        cp "$min" "fuzz/corpus/$t/$kind-$sha"
        rm -f "$work/min"
        # the sanitizer report of the committed input, for the summary
        "$bin" -timeout=10 -rss_limit_mb=2048 -artifact_prefix="$work/report-" \
            "fuzz/corpus/$t/$kind-$sha" \
            >"$work/$kind-$sha.txt" 2>&1
        echo "fuzz/corpus/$t/$kind-$sha" >>"$work/crashes"
    done

    # New inputs that reach edges the committed corpus does not: merged into a copy of it
    # (-set_cover_merge: a greedy minimum set; -use_counters=0: edges, not hit counts, so the
    # committed corpus grows by the hundred, not by the thousand); what the merge added is
    # copied back under libFuzzer's names (the content's SHA-1).
    mkdir -p "$work/merged"
    copy_seeds "fuzz/corpus/$t" "$work/merged"
    "$bin" -set_cover_merge=1 -use_counters=0 -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$work/merge-" -merge_control_file="$work/merge.ctl" "$work/merged" "$work/corpus" \
        >"$work/merge.log" 2>&1 || echo "== $t: merge failed (see $work/merge.log)" >&2
    for a in "$work"/merged/*; do
        [ -e "fuzz/corpus/$t/${a##*/}" ] || cp "$a" "fuzz/corpus/$t/"
    done
    after=$(count_files "fuzz/corpus/$t")

    # The last status line ("#N DONE cov: C ft: F corp: ...") and the final stats.
    local status execs rate cov ft
    status=$(grep -E '^#[0-9]+.*cov: ' "$work/fuzz.log" | tail -n 1)
    cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")
    ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/fuzz.log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$work/fuzz.log" | tail -n 1)
    [ -n "$execs" ] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' <<<"$status")
    printf '%s %s %s %s %s %s %s %s %s\n' "$t" \
        "$(awk -v s=$((end - start)) 'BEGIN { printf "%.1f", s / 60 }')" \
        "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$before" "$after" "$crashes" \
        >"$work/result"
    echo "== $t: done ($((end - start)) s, $crashes crash(es), corpus $before -> $after)"
}

STARTED=$(date -u '+%Y-%m-%d %H:%M UTC')
running=0
for t in "${TARGETS[@]}"; do
    if [ "$running" -ge "$JOBS" ]; then
        wait -n
        running=$((running - 1))
    fi
    run_target "$t" &
    running=$((running + 1))
done
wait

# The summary: a Markdown table, so docs can quote it as it is.
summary=$(mktemp)
trap 'rm -f "$summary"' EXIT
total=0
{
    echo "Fuzz campaign of $STARTED: commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')," \
        "clang $(clang -dumpversion), ASan+UBSan, $MINUTES min per target, $JOBS at a time," \
        "$(nproc) CPU(s) available."
    echo
    echo "| target | minutes | execs | exec/s | cov | ft | corpus before | corpus after | crashes |"
    echo "|---|--:|--:|--:|--:|--:|--:|--:|--:|"
    for t in "${TARGETS[@]}"; do
        if [ -f "$CAMPAIGN/$t/result" ]; then
            read -r name mins execs rate cov ft before after crashes <"$CAMPAIGN/$t/result"
        else
            name=$t mins='?' execs='?' rate='?' cov='?' ft='?' before='?' after='?' crashes=1
        fi
        echo "| $name | $mins | $execs | $rate | $cov | $ft | $before | $after | $crashes |"
        [ "$crashes" = 0 ] || total=$((total + 1))
    done
    echo
    if [ "$total" -eq 0 ]; then
        echo "No crash, leak, timeout or OOM."
    else
        echo "Findings (committed as replay regressions):"
        for t in "${TARGETS[@]}"; do
            [ -f "$CAMPAIGN/$t/crashes" ] || continue
            while read -r f; do
                echo
                echo "- \`$f\` ($(stat -c %s "$f") bytes):"
                echo '```'
                # the first report line and its stack (up to 16 frames)
                awk '!on && /ERROR: |runtime error: |FUZZ_ASSERT|[Tt]imeout|out-of-memory/ { on = 1 }
                    on { if (/^ +#[0-9]+ /) n++; else if (n) exit; print; if (n >= 16) exit }' \
                    "$CAMPAIGN/$t/$(basename "$f").txt" | cut -c 1-200
                echo '```'
            done <"$CAMPAIGN/$t/crashes"
        done
    fi
} >"$summary"
cat "$summary"
[ -n "$REPORT" ] && cp "$summary" "$REPORT"
[ "$total" -eq 0 ]
