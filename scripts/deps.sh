#!/bin/sh
# Make sure the Debian -dev packages superd builds with are present.
# As root on Debian/Ubuntu, install what is missing with apt-get and say so;
# anywhere else, stop with one line that names the packages.
# Usage: scripts/deps.sh [test|check]
#   test   also what the tests need
#   check  never install: name what is missing and fail (plain `make`)
set -eu

need="libinih-dev:inih libssl-dev:openssl"
[ "${1:-}" = test ] && need="$need libcunit1-dev:cunit"
install=yes
[ "${1:-}" = check ] && install=no

missing=""
for pair in $need; do
    pkg=${pair%%:*}
    pc=${pair#*:}
    pkg-config --exists "$pc" 2>/dev/null || missing="$missing $pkg"
done
command -v pkg-config >/dev/null 2>&1 || missing="pkg-config$missing"

# The fuzz targets (make fuzz-ci, part of `make test`) need clang and its
# libFuzzer and sanitizer runtimes, which Debian packages apart from clang
# (libclang-rt-dev, only recommended): try linking a trivial fuzzer.
# valgrind is for tests/valgrind.sh, which skips itself without it, so
# valgrind alone is installed when we can but never stops the build.
optional=""
fuzzer_links() {
    tmp=$(mktemp -d) || return 1
    printf '%s\n' '#include <stddef.h>' '#include <stdint.h>' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);' \
        'int LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }' \
        > "$tmp/f.c"
    clang -fsanitize=fuzzer,address,undefined "$tmp/f.c" -o "$tmp/f" >/dev/null 2>&1
    ok=$?
    rm -rf "$tmp"
    return $ok
}
if [ "${1:-}" = test ]; then
    if ! command -v clang >/dev/null 2>&1; then
        missing="$missing clang libclang-rt-dev"
    elif ! fuzzer_links; then
        missing="$missing libclang-rt-dev"
    fi
    command -v valgrind >/dev/null 2>&1 || optional="valgrind"
    # The TLS tests make their certificates with the openssl program.
    command -v openssl >/dev/null 2>&1 || missing="$missing openssl"
    # tests/classic.sh speaks to the classic services with a python3 probe.
    command -v python3 >/dev/null 2>&1 || missing="$missing python3"
fi
if [ -n "$optional" ] && [ -z "$missing" ] && ! { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; }; then
    echo "superd: $optional is not installed: tests/valgrind.sh will be skipped (apt-get install $optional)" >&2
    exit 0
fi
missing="$missing${optional:+ $optional}"
[ -z "$missing" ] && exit 0

if [ "$install" = yes ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "superd: installing missing packages with apt-get:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    # The package lists may be absent or stale on a fresh machine.
    apt-get update -qq >/dev/null || true
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null
    exit 0
fi
echo "superd: missing packages:$missing (install them with: apt-get install$missing, or make deps as root)" >&2
exit 1
