#!/usr/bin/env bash
# Install what is missing, build, and serve the demo app (wsgiapp.py) and the demo site
# (./static under /static/) on https://localhost:8443/.
# Extra arguments go to httpsd (e.g. ./run.sh -b http://127.0.0.1:8080).
set -euo pipefail
cd "$(dirname "$0")"
. scripts/deps.sh
ensure_packages "${BUILD_PACKAGES[@]}"
build_dir build --buildtype=release "$(python_option python3)"
echo "serving wsgiapp.py at https://localhost:8443/ and ./static at /static/ (Ctrl-C to stop)" >&2
exec build/httpsd -b 127.0.0.1:8443 --static /static=static --access-logfile - "$@" \
    wsgiapp:application
