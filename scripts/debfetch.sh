#!/bin/sh
# scripts/debfetch.sh - fetch Debian packages and unpack them into a tree of
# the build, never installing them: programs the tests run (prometheus,
# haproxy, stunnel4, tftpd-hpa ...) stay out of the system and start no
# daemon.  Downloads are kept in DIR/debs, so a second run needs no network.
#
#   sh scripts/debfetch.sh DIR PACKAGE...
#
# Unpacks into DIR/root.  Exit status: 0 when every package is there, 3 with
# one line "debfetch: cannot fetch PACKAGE..." when one cannot be had (no
# apt-get, no network, no such package): the caller skips and says so.
set -u
dir=$1
shift
mkdir -p "$dir/debs" "$dir/root"
missing=""
for p in "$@"; do
    ls "$dir/debs/${p}_"*.deb >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
        echo "debfetch: cannot fetch$missing: needs apt-get and dpkg-deb (Debian)" >&2
        exit 3
    fi
    # Downloading as root into a directory _apt cannot enter is fine.
    if ! (cd "$dir/debs" && apt-get download -qq -o APT::Sandbox::User=root $missing) \
            >/dev/null 2>&1; then
        if [ "$(id -u)" = 0 ]; then
            apt-get update -qq >/dev/null 2>&1
            (cd "$dir/debs" && apt-get download -qq -o APT::Sandbox::User=root $missing) \
                >/dev/null 2>&1
        fi
    fi
    for p in $missing; do
        if ! ls "$dir/debs/${p}_"*.deb >/dev/null 2>&1; then
            echo "debfetch: cannot fetch$missing (apt-get download failed: no network?)" >&2
            exit 3
        fi
    done
fi
for p in "$@"; do
    for deb in "$dir/debs/${p}_"*.deb; do
        stamp="$dir/root/.$(basename "$deb").unpacked"
        [ -e "$stamp" ] && continue
        dpkg-deb -x "$deb" "$dir/root" && touch "$stamp"
    done
done
exit 0
