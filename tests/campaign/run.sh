#!/usr/bin/env bash
# The reliability campaign of issue 14 (docs/RELIABILITY.md): installs the tools from Debian,
# builds httpsd and httpsd-load in release mode (build-campaign/) and in debug mode for valgrind
# (build-campaign-debug/), then runs tests/campaign/campaign.py: one line per scenario, a JSON
# and a markdown report, exit status 1 if any scenario failed.
#
#   tests/campaign/run.sh                          # everything, 20-minute soak (~31 min)
#   tests/campaign/run.sh --quick                  # shorter measurements, 1-minute soak
#   tests/campaign/run.sh --only slow-body half-close
#   tests/campaign/run.sh --soak-minutes 60 --report /tmp/campaign
#   tests/campaign/run.sh --help
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=scripts/deps.sh
. scripts/deps.sh

case " $* " in
*" -h "* | *" --help "*) exec /usr/bin/python3 tests/campaign/campaign.py "$@" ;;
esac

CAMPAIGN_PACKAGES=(slowhttptest testssl.sh valgrind util-linux procps openssl)
ensure_packages python3 "${BUILD_PACKAGES[@]}" "${CAMPAIGN_PACKAGES[@]}"

build_dir build-campaign --buildtype=release -Dpython=/usr/bin/python3
build_dir build-campaign-debug --buildtype=debug -Dpython=/usr/bin/python3

# 5,000 idle connections need about 10,100 descriptors on each side
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt 20000 ]; then
    echo "campaign: note: the hard fd limit is $(ulimit -Hn); the idle scenario needs 20000" >&2
fi
exec /usr/bin/python3 tests/campaign/campaign.py "$@"
