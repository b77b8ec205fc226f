# shellcheck shell=bash
# ensure_packages PKG...: install the missing Debian packages (as root), or print the exact
# apt-get line and exit when not root. Sourced by run.sh, test.sh and bench scripts.
ensure_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing Debian packages; run:" >&2
        echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
        exit 1
    fi
    echo "installing: ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

BUILD_PACKAGES=(meson ninja-build pkg-config gcc libc6-dev libssl-dev node-llhttp python3-dev
    libnghttp2-dev)

# The Python whose embedding API is linked: $PYTHON, else the caller's default.
python_option() { # default-interpreter
    local py=${PYTHON:-$1}
    local path
    path=$(command -v "$py") || { echo "no Python interpreter '$py'" >&2; exit 1; }
    echo "-Dpython=$path"
}

# build_dir DIR [meson options...]: configure once (options re-applied later), then build
# incrementally.
build_dir() {
    local dir=$1
    shift
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >/dev/null
    elif [ $# -gt 0 ]; then
        # --reconfigure, not `meson configure`: a build dir made before an option was added to
        # meson.options must learn it
        meson setup --reconfigure "$dir" "$@" >/dev/null
    fi
    ninja -C "$dir" >/dev/null
}
