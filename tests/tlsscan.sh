#!/bin/sh
# tests/tlsscan.sh - sslscan (Debian's package, unpacked into build-deps/,
# never installed) against a superd tls:// listener on 127.0.0.1 with the
# default TLS keys and an ECDSA P-256 test certificate (tests/tls_certs.sh).
# Asserts from sslscan's own report:
#   - SSLv2, SSLv3, TLSv1.0, TLSv1.1 disabled; TLSv1.2 and TLSv1.3 enabled;
#   - "Session renegotiation not supported";
#   - no weak cipher: every accepted cipher has at least 128 bits, none is
#     NULL, anonymous, EXPORT, RC4, (3)DES, IDEA, SEED or CBC with a SHA-1
#     MAC, and sslscan colours none of them red or yellow (its own label
#     for weak and medium: it is run once with colours for that).
# Prints sslscan's summary (protocols, renegotiation, ciphers).
#
#   sh tests/tlsscan.sh [BUILD]          (from the repository root)
#
# Skipped with one line when sslscan cannot be had (no cache, no network).
# Loopback only; every wait is bounded; the daemon is always stopped.
set -u

build=${1:-build}
here=$(pwd)
case $build in
    /*) ;;
    *) build=$here/$build ;;
esac
superd=$build/superd
deps=${SUPERD_TEST_DEPS:-$here/build-deps/root}
deps=${deps%/root}
wait_s=20

failed=0
passed=0
ok() { echo "tlsscan: ok: $*"; passed=$((passed + 1)); }
fail() { echo "tlsscan: FAIL: $*" >&2; failed=$((failed + 1)); }

if [ ! -x "$superd" ]; then
    echo "tlsscan: $superd is not built (run make check)" >&2
    exit 1
fi
if ! sh "$here/scripts/debfetch.sh" "$deps" sslscan >/dev/null 2>&1; then
    echo "tlsscan: skipped: sslscan cannot be had (apt-get download failed: no network?)"
    exit 0
fi
sslscan=$deps/root/usr/bin/sslscan
if [ ! -x "$sslscan" ] || ldd "$sslscan" 2>/dev/null | grep -q 'not found'; then
    echo "tlsscan: skipped: $sslscan is missing or lacks a library (ldd)"
    exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/superd-tlsscan.XXXXXX") || exit 1
. "$here/tests/superd_proc.sh"

if ! sh "$here/tests/tls_certs.sh" "$tmp/certs"; then
    echo "tlsscan: FAIL: tests/tls_certs.sh could not make the certificates" >&2
    exit 1
fi

# A free port: the kernel picks one; superd binds it right after.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' \
       2>/dev/null) || port=24443
cat > "$tmp/superd.ini" <<EOF
[superd]
plugin_dir = $build/plugins
workers = 1
shutdown_timeout = 1s

[echo]
plugin = echo
listen = tls://127.0.0.1:$port
tls_cert = $tmp/certs/a.pem
tls_key = $tmp/certs/a.key
EOF
"$superd" -c "$tmp/superd.ini" 2>"$tmp/superd.log" &
pid=$!
n=0
until grep -q 'superd: ready' "$tmp/superd.log" 2>/dev/null; do
    n=$((n + 1))
    if [ "$n" -gt $((wait_s * 10)) ] || ! kill -0 "$pid" 2>/dev/null; then
        echo "tlsscan: FAIL: superd did not start:" >&2
        tail -5 "$tmp/superd.log" >&2
        exit 1
    fi
    sleep 0.1
done

# --no-groups --no-heartbleed: not what is asserted, and each costs
# dozens of handshakes.
scan() {
    timeout 120 "$sslscan" --no-groups --no-heartbleed --no-check-certificate "$@" \
        "127.0.0.1:$port" > "$tmp/scan.out" 2>&1
}
if ! scan --no-colour; then
    fail "sslscan failed or timed out (status $?):"
    cat "$tmp/scan.out" >&2
    exit 1
fi
out=$tmp/scan.out
cp "$out" "$tmp/plain.out"

echo "tlsscan: $(head -1 "$out") ($(sed -n 2p "$out")); summary:"
sed -n '/SSL\/TLS Protocols:/,/SSL Certificate:/p' "$out" | grep -v '^ *SSL Certificate:' \
    | sed 's/^/    /'

for p in SSLv2 SSLv3 TLSv1.0 TLSv1.1; do
    if grep -Eq "^$p +disabled" "$out"; then ok "$p disabled"; else fail "$p not reported disabled"; fi
done
for p in TLSv1.2 TLSv1.3; do
    if grep -Eq "^$p +enabled" "$out"; then ok "$p enabled"; else fail "$p not reported enabled"; fi
done
if grep -q '^Session renegotiation not supported' "$out"; then
    ok "session renegotiation not supported"
else
    fail "renegotiation: $(grep -i 'renegotiation' "$out" | grep -v ':$' | head -1)"
fi

# The cipher lines: "Accepted  TLSv1.2  128 bits  NAME ...".
grep -E '^(Preferred|Accepted) ' "$out" > "$tmp/ciphers"
if [ -s "$tmp/ciphers" ]; then
    ok "$(wc -l < "$tmp/ciphers") ciphers accepted"
else
    fail "sslscan lists no accepted cipher"
fi
weak=$(awk '$4 != "bits" || $3 + 0 < 128 { print }' "$tmp/ciphers")
[ -z "$weak" ] && ok "no cipher under 128 bits" || fail "ciphers under 128 bits: $weak"
# Anonymous (ADH, AECDH, anon), NULL, EXPORT, RC4, DES and 3DES, IDEA,
# SEED, and TLS 1.2 CBC suites with a SHA-1 MAC (names ending in -SHA).
weak=$(awk '{ print $5 }' "$tmp/ciphers" \
       | grep -E 'NULL|anon|ADH|AECDH|EXP|RC4|DES|IDEA|SEED|-SHA$|MD5')
[ -z "$weak" ] && ok "no NULL/anonymous/EXPORT/RC4/DES/3DES/CBC-SHA1 cipher" \
    || fail "weak ciphers accepted: $(echo $weak)"

# sslscan's own labels: red (31, 41 background) for weak, yellow (33) for
# medium.  Its colours are on only when it is not told --no-colour.
if scan; then
    labelled=$(grep -E '^(.\[[0-9;]*m)?(Preferred|Accepted)' "$tmp/scan.out" \
               | grep -E "$(printf '\033')\[(1;)?(31|33|41|43)m")
    [ -z "$labelled" ] && ok "sslscan labels no accepted cipher red or yellow" \
        || fail "sslscan labels ciphers weak: $(printf '%s' "$labelled" | sed 's/\x1b\[[0-9;]*m//g')"
else
    fail "sslscan (with colours) failed or timed out"
fi

stop_superd
echo "tlsscan: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
