#!/bin/sh
# Make sure the Debian -dev packages superd builds with are present.
# As root on Debian/Ubuntu, install what is missing with apt-get and say so;
# anywhere else, stop with one line that names the packages.
# Usage: scripts/deps.sh [test]   ("test" adds what the tests need)
set -eu

need="libinih-dev:inih"
[ "${1:-}" = test ] && need="$need libcunit1-dev:cunit"

missing=""
for pair in $need; do
    pkg=${pair%%:*}
    pc=${pair#*:}
    pkg-config --exists "$pc" 2>/dev/null || missing="$missing $pkg"
done
command -v pkg-config >/dev/null 2>&1 || missing="pkg-config$missing"
[ -z "$missing" ] && exit 0

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "superd: installing missing packages with apt-get:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    # The package lists may be absent or stale on a fresh machine.
    apt-get update -qq >/dev/null || true
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
    exit 0
fi
echo "superd: missing packages:$missing (install them with: apt-get install$missing)" >&2
exit 1
