#!/bin/sh
# bench/deps.sh - `make bench-deps`: fetch the anchors the benchmark compares
# superd with, and unpack them under bench/deps/root.  They are never
# installed: xinetd and the two inetds conflict as packages, and the
# benchmark runs each from its unpacked tree with a private configuration.
set -eu
cd "$(dirname "$0")"

# libwrap0: xinetd and openbsd-inetd link against it.
# haproxy, rinetd, socat: the forwarders compared with the forward plugin;
# liblua5.3-0, libopentracing*: libraries haproxy links against.
# stunnel4: a TLS terminator compared with superd's tls:// listeners (bench/tls.sh).
pkgs="xinetd openbsd-inetd inetutils-inetd ucspi-tcp libwrap0 haproxy rinetd socat liblua5.3-0 libopentracing-c-wrapper0 libopentracing1 stunnel4"

command -v apt-get >/dev/null 2>&1 && command -v dpkg-deb >/dev/null 2>&1 || {
    echo "bench-deps: needs apt-get and dpkg-deb (Debian or Ubuntu)" >&2
    exit 1
}
rm -rf deps/debs deps/root
mkdir -p deps/debs deps/root
cd deps/debs
# Downloading as root into a directory _apt cannot enter is fine: say so.
if ! apt-get download -o APT::Sandbox::User=root $pkgs; then
    if [ "$(id -u)" = 0 ]; then
        echo "bench-deps: apt-get update, then again" >&2
        apt-get update -qq
        apt-get download -o APT::Sandbox::User=root $pkgs
    else
        echo "bench-deps: apt-get download failed; as root, run apt-get update first" >&2
        exit 1
    fi
fi
for deb in *.deb; do
    dpkg-deb -x "$deb" ../root
done
echo "bench-deps: unpacked into bench/deps/root:"
for deb in *.deb; do
    echo "  $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)"
done
