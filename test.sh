#!/usr/bin/env bash
# Install what is missing, build (normal + ASan/UBSan), run the unit tests, the fuzz-corpus
# replay and the black-box suite against both builds. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"
. scripts/deps.sh
ensure_packages "${BUILD_PACKAGES[@]}" python3-pytest python3-flask python3-django curl openssl \
    util-linux chromium clang-format nginx haproxy python3-h2 nghttp2-client
set -e
# playwright-core drives Debian's Chromium for the demo-site test (no browser download).
if [ ! -d tests/browser/node_modules/playwright-core ]; then
    command -v npm >/dev/null || ensure_packages npm
    (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
# The tests drive apps with Debian's Python (Flask, Django from apt): embed that one.
PYOPT=$(python_option /usr/bin/python3)
build_dir build "$PYOPT"
build_dir build-asan -Db_sanitize=address,undefined -Db_lundef=false --buildtype=debug "$PYOPT"
set +e

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:halt_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
export LSAN_OPTIONS="suppressions=$PWD/tests/lsan.supp"
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

echo "== unit tests (normal, asan)"
meson test -C build --suite unit --print-errorlogs >"$results/unit.log" 2>&1; unit_rc=$?
meson test -C build-asan --suite unit --print-errorlogs >>"$results/unit.log" 2>&1 || unit_rc=1
grep -E "^(Ok|Fail|Expected Fail|Unexpected Pass|Skipped|Timeout):" "$results/unit.log" | sort | uniq -c
[ $unit_rc -ne 0 ] && cat "$results/unit.log"

pytest_run() { # name binary
    echo "== integration tests ($1)"
    HTTPSD_BIN="$PWD/$2" /usr/bin/python3 -m pytest tests/integration -q -p no:cacheprovider \
        --junitxml="$results/$1.xml" "${PYTEST_ARGS[@]}"
}
PYTEST_ARGS=("$@")
pytest_run normal build/httpsd
pytest_run asan build-asan/httpsd

/usr/bin/python3 - "$results" "$unit_rc" "$results/unit.log" <<'PY'
import glob, re, sys, xml.etree.ElementTree as ET
results, unit_rc, unit_log = sys.argv[1], int(sys.argv[2]), sys.argv[3]
passed = failed = skipped = 0
for f in glob.glob(results + "/*.xml"):
    for s in ET.parse(f).getroot().iter("testsuite"):
        t, fl, er, sk = (int(s.get(k, 0)) for k in ("tests", "failures", "errors", "skipped"))
        passed += t - fl - er - sk; failed += fl + er; skipped += sk
log = open(unit_log).read()
ok = len(re.findall(r"^Ok:\s+(\d+)", log, re.M)) and sum(int(x) for x in re.findall(r"^Ok:\s+(\d+)", log, re.M))
bad = sum(int(x) for x in re.findall(r"^(?:Fail|Timeout|Unexpected Pass):\s+(\d+)", log, re.M))
passed += ok; failed += bad + (1 if unit_rc and not bad else 0)
if len(glob.glob(results + "/*.xml")) < 2: failed += 1  # a suite that did not run at all
print(f"{passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
