#!/usr/bin/env bash
# Install what is missing, build, and serve the demo site on https://localhost:8443/static/.
# Extra arguments go to httpsd (e.g. ./run.sh -b http://127.0.0.1:8080).
set -euo pipefail
cd "$(dirname "$0")"
. scripts/deps.sh
ensure_packages "${BUILD_PACKAGES[@]}"
build_dir build --buildtype=release
echo "serving ./static at https://localhost:8443/static/index.html (Ctrl-C to stop)" >&2
exec build/httpsd -b 127.0.0.1:8443 --static /static=static --access-logfile - "$@"
