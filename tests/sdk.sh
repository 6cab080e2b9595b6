#!/bin/sh
# sdk.sh - tests of the plugin SDK and of installation:
#   - `make install DESTDIR=...` puts every file in place, `make uninstall`
#     removes them and keeps a superd.ini the user changed;
#   - superd.pc gives the installed paths and the ABI;
#   - the code in docs/plugins.md is docs/examples/, byte for byte, and every
#     `cc` command in the guide works against the installed SDK only;
#   - the guide's examples, built out of tree, are served by the built superd
#     on loopback as the guide says (lines answered; chargen's pattern,
#     bounded, kept going by on_drain);
#   - the installed plugin template builds, passes its CUnit test against the
#     installed fake host, and is served;
#   - an installed superd finds its installed plugins with no plugin_dir;
#   - the man pages are clean under `groff -ww -z` (skipped without groff).
#
# Usage: sh tests/sdk.sh BUILD      (from the repository root; `make check`
# runs it).  Environment: MAKE, PREFIX, SYSCONFDIR, and SAN=1 for the
# sanitizer build (out-of-tree code is then built with the sanitizers too,
# as the installed fake host is).  Everything runs on loopback, every wait
# is bounded, and the temporary directory is removed.
set -u
MAKEFLAGS=${MAKEFLAGS:-}

BUILD=${1:?usage: sh tests/sdk.sh BUILD}
# `make -n check` runs this line too, since it names $(MAKE): a dry run.
case ${MAKEFLAGS%% *} in
-* | '') ;;
*n*) echo "sdk: make -n: not run"; exit 0 ;;
esac
MAKE=${MAKE:-make}
PREFIX=${PREFIX:-/usr/local}
SYSCONFDIR=${SYSCONFDIR:-/etc}
SAN=${SAN:-}
ROOT=$(pwd)
case $BUILD in
/*) B=$BUILD ;;
*) B=$ROOT/$BUILD ;;
esac
SUPERD=$B/superd
CLIENT=$B/tests/sdk_client
GUIDE=$ROOT/docs/plugins.md
WARN="-std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2"
SANFLAGS=""
[ "$SAN" = 1 ] && SANFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/superd-sdk.XXXXXX") || exit 1
DEST=$tmp/root
server=""
pass=0
fail=0

stop_superd() {
    [ -n "$server" ] || return 0
    kill -TERM "$server" 2>/dev/null
    i=0
    while kill -0 "$server" 2>/dev/null && [ $i -lt 100 ]; do
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$server" 2>/dev/null; then
        echo "sdk: superd $server did not stop within 10 s: killed" >&2
        kill -KILL "$server" 2>/dev/null
    fi
    wait "$server" 2>/dev/null
    status=$?
    server=""
    return $status
}

cleanup() {
    stop_superd
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

# Installed paths resolve under DESTDIR: a pkg-config that takes the prefix
# from where the .pc file lies, first in PATH, so that the guide's commands
# run as written.
mkdir -p "$tmp/bin"
real_pkg_config=$(command -v pkg-config) || { echo "sdk: pkg-config not found" >&2; exit 1; }
printf '#!/bin/sh\nexec %s --define-prefix "$@"\n' "$real_pkg_config" > "$tmp/bin/pkg-config"
chmod +x "$tmp/bin/pkg-config"
PATH=$tmp/bin:$PATH
PKG_CONFIG_PATH=$DEST$PREFIX/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}
export PATH PKG_CONFIG_PATH

# ---- helpers ----

# run NAME FUNCTION: one test; its output is shown only when it fails.
run() {
    if "$2" > "$tmp/out" 2>&1; then
        pass=$((pass + 1))
        echo "sdk: ok   $1"
    else
        fail=$((fail + 1))
        echo "sdk: FAIL $1"
        sed 's/^/    /' "$tmp/out"
    fi
}

# The fenced block right after the line "<!-- MARKER -->" of the guide.
block() {
    awk -v m="<!-- $1 -->" '
        on && /^```$/ { exit }
        on { print; next }
        seen && /^```/ { on = 1; next }
        seen { exit }
        $0 == m { seen = 1 }
    ' "$GUIDE"
}

# expect WHAT GOT WANT
expect() {
    if [ "$2" != "$3" ]; then
        printf '%s: got\n%s\nwanted\n%s\n' "$1" "$2" "$3"
        return 1
    fi
}

# serve DIR NAME INI: write INI (its 127.0.0.1 ports replaced by a free
# one) as DIR/NAME.ini and serve it with $SERVE_BIN (default: the built
# superd); sets $port.  A port taken meanwhile is retried.
serve() {
    for attempt in 1 2 3; do
        port=$("$CLIENT" port) || return 1
        printf '%s\n' "$3" | sed "s/127\.0\.0\.1:[0-9]*/127.0.0.1:$port/g" > "$1/$2.ini"
        "${SERVE_BIN:-$SUPERD}" -c "$1/$2.ini" > "$1/$2.log" 2>&1 &
        server=$!
        i=0
        while [ $i -lt 200 ]; do
            # "superd: ready", not "already in use"
            grep -Eq '(^|[: ])ready($|[ :,.(])' "$1/$2.log" && return 0
            kill -0 "$server" 2>/dev/null || break
            sleep 0.05
            i=$((i + 1))
        done
        if grep -q 'in use' "$1/$2.log" && [ "$attempt" -lt 3 ]; then
            stop_superd
            continue
        fi
        echo "superd did not get ready:"
        cat "$1/$2.log"
        stop_superd
        return 1
    done
    return 1
}

# ---- tests ----

# Every file `make install` must put under DESTDIR.
installed_files() {
    echo "$SYSCONFDIR/superd/superd.ini"
    for f in sbin/superd include/superd/plugin.h include/superd/fakehost.h \
             lib/libsuperd-fakehost.a lib/pkgconfig/superd.pc \
             share/superd/superd-exports.list share/superd/plugin-template/Makefile \
             share/superd/plugin-template/plugin.c share/superd/plugin-template/test_plugin.c \
             share/doc/superd/plugins.md share/man/man8/superd.8 share/man/man5/superd.ini.5 \
             share/man/man3/superd-plugin.3; do
        echo "$PREFIX/$f"
    done
    for f in "$ROOT"/plugins/*.c; do
        f=${f##*/}
        echo "$PREFIX/lib/superd/${f%.c}.so"
    done
    for f in "$ROOT"/docs/examples/*.c; do
        echo "$PREFIX/share/doc/superd/examples/${f##*/}"
    done
}

t_install() {
    "$MAKE" --no-print-directory install DESTDIR="$DEST" BUILD="$BUILD" \
        PREFIX="$PREFIX" SYSCONFDIR="$SYSCONFDIR" > "$tmp/install.log" 2>&1 ||
        { cat "$tmp/install.log"; return 1; }
    r=0
    for f in $(installed_files); do
        [ -f "$DEST$f" ] || { echo "missing: $DEST$f"; r=1; }
    done
    [ -x "$DEST$PREFIX/sbin/superd" ] || { echo "superd is not executable"; r=1; }
    # The example configuration must not point into the build tree.
    if grep -n '^[[:space:]]*plugin_dir' "$DEST$SYSCONFDIR/superd/superd.ini"; then
        echo "the installed superd.ini sets plugin_dir"
        r=1
    fi
    # ... and it is a valid configuration.
    "$SUPERD" -t -c "$DEST$SYSCONFDIR/superd/superd.ini" > "$tmp/t.out" 2>&1 ||
        { cat "$tmp/t.out"; r=1; }
    return $r
}

# Installed files never point into the source tree: no relative link out
# of the guide, no core/, tests/ or build/ path, no "repository root".
t_no_source_paths() {
    r=0
    for f in "$SYSCONFDIR/superd/superd.ini" "$PREFIX/share/doc/superd/plugins.md" \
             "$PREFIX/include/superd/plugin.h" "$PREFIX/include/superd/fakehost.h" \
             "$PREFIX/share/superd/plugin-template/Makefile" "$PREFIX/share/man/man5/superd.ini.5" \
             "$PREFIX/share/man/man3/superd-plugin.3" "$PREFIX/share/man/man8/superd.8"; do
        # (the guide's "<!-- example: docs/... -->" markers are for tests/sdk.sh)
        if grep -v '^<!-- ' "$DEST$f" |
            grep -nE '\]\(\.\./|(^|[^a-z/.])(core|tests|sdk|build|conf|docs)/|repository root'; then
            echo "^ $f points into the source tree"
            r=1
        fi
    done
    # Every plugin the installed man page's example names is installed.
    for name in $(sed -n 's/^plugin = //p' "$DEST$PREFIX/share/man/man5/superd.ini.5"); do
        [ -f "$DEST$PREFIX/lib/superd/$name.so" ] ||
            { echo "superd.ini(5) names plugin $name, which is not installed"; r=1; }
    done
    return $r
}

t_pkgconfig() {
    abi=$(awk '$2 == "SUPERD_ABI_MAJOR" {M = $3} $2 == "SUPERD_ABI_MINOR" {m = $3}
               END {print M "." m}' "$ROOT/include/superd/plugin.h")
    expect "abi" "$(pkg-config --variable=abi superd)" "$abi" &&
    expect "cflags" "$(pkg-config --cflags superd | sed 's/ *$//')" "-I$DEST$PREFIX/include" &&
    expect "plugindir" "$(pkg-config --variable=plugindir superd)" "$DEST$PREFIX/lib/superd" &&
    libs=$(pkg-config --libs superd) &&
    case $libs in
    *-lsuperd-fakehost*--dynamic-list="$DEST$PREFIX"/share/superd/superd-exports.list*) ;;
    *) echo "libs: $libs"; return 1 ;;
    esac
}

# The guide shows docs/examples/ verbatim, and shows every one of them.
t_guide_code() {
    r=0
    for f in "$ROOT"/docs/examples/*.c; do
        rel=docs/examples/${f##*/}
        block "example: $rel" > "$tmp/block.c"
        if [ ! -s "$tmp/block.c" ]; then
            echo "docs/plugins.md does not show $rel"
            r=1
        elif ! cmp -s "$tmp/block.c" "$f"; then
            echo "docs/plugins.md differs from $rel:"
            diff "$tmp/block.c" "$f" | head -20
            r=1
        fi
    done
    return $r
}

# Every `cc` command of the guide, as written, in a directory holding only
# the examples and the template's test: the installed SDK is all it has.
t_guide_commands() {
    mkdir -p "$tmp/ex"
    cp "$ROOT"/docs/examples/*.c "$DEST$PREFIX/share/superd/plugin-template/test_plugin.c" "$tmp/ex/"
    grep '^cc .*pkg-config' "$GUIDE" > "$tmp/cc.txt"
    [ "$(wc -l < "$tmp/cc.txt")" -ge 4 ] || { echo "too few cc commands found"; return 1; }
    r=0
    while IFS= read -r cmd; do
        echo "+ $cmd $WARN $SANFLAGS"
        (cd "$tmp/ex" && eval "$cmd $WARN $SANFLAGS") || r=1
    done < "$tmp/cc.txt"
    for so in lineecho.so chargen.so ticker.so forwarder.so udpfwd.so test_lineecho; do
        [ -e "$tmp/ex/$so" ] || { echo "not built: $so"; r=1; }
    done
    # Hidden visibility: the descriptor is all a plugin exports.
    for so in lineecho.so chargen.so ticker.so forwarder.so udpfwd.so; do
        syms=$(nm -D --defined-only "$tmp/ex/$so" 2>/dev/null | awk '$2 != "A" && $3 !~ /^_/ {print $3}')
        expect "exports of $so" "$syms" "superd_plugin" || r=1
    done
    return $r
}

t_lineecho_unit() {
    out=$(cd "$tmp/ex" && ./test_lineecho ./lineecho.so) || { echo "$out"; return 1; }
    expect "test_lineecho" "$out" "test_lineecho: ok"
}

t_lineecho_served() {
    serve "$tmp/ex" lineecho "$(block 'config: lineecho')" || return 1
    got=$("$CLIENT" "$port" 'w:hello\nworld\r\nquit\nnot read\n' e) &&
    expect "four lines at once" "$got" "$(printf '1: hello\n2: world\nbye')" &&
    got=$("$CLIENT" "$port" 'w:par' s:200 'w:tial\nsec' s:100 'w:ond\n' 'w:quit\n' e) &&
    expect "lines split across reads" "$got" "$(printf '1: partial\n2: second\nbye')" &&
    long=$(printf '%0300d' 0) &&
    got=$("$CLIENT" "$port" "w:$long" e) &&
    expect "a line over max_line" "$got" "error: line too long" ||
        { cat "$tmp/ex/lineecho.log"; stop_superd; return 1; }
    stop_superd
}

t_chargen_served() {
    ini=$(block 'config: chargen')
    max=$(printf '%s\n' "$ini" | sed -n 's/^max_bytes *= *//p')
    [ -n "$max" ] || { echo "no max_bytes in the guide's chargen.ini"; return 1; }
    serve "$tmp/ex" chargen "$ini" || return 1
    # A reader that stops after 8 KiB: the pattern, and superd goes on.
    got=$("$CLIENT" -c "$port" r:8192) &&
    expect "8 KiB" "$got" "8192 bytes" &&
    # A slow reader with a small window: the socket fills, the plugin waits
    # for on_drain; all max_bytes arrive, in the pattern, then the close.
    got=$("$CLIENT" -t 20000 -b 4096 -c "$port" s:300 e) &&
    expect "slow reader" "$got" "$max bytes" &&
    got=$("$CLIENT" -t 20000 -c "$port" e) &&
    expect "fast reader" "$got" "$max bytes" ||
        { cat "$tmp/ex/chargen.log"; stop_superd; return 1; }
    stop_superd
}

# The guide's ticker, its interval shortened: each client its own count.
t_ticker_served() {
    serve "$tmp/ex" ticker "$(block 'config: ticker' | sed 's/^every = .*/every = 50/')" ||
        return 1
    got=$("$CLIENT" "$port" r:21) &&
    expect "three ticks" "$got" "$(printf 'tick 1\ntick 2\ntick 3')" ||
        { cat "$tmp/ex/ticker.log"; stop_superd; return 1; }
    stop_superd
}

# The guide's forwarder in front of the guide's echo backend (on
# 127.0.0.2, at a free port): bytes through, and back after the client's
# FIN (the half-close is passed on, the answer still comes).
t_forwarder_served() {
    p2=$("$CLIENT" port) || return 1
    serve "$tmp/ex" forwarder "$(block 'config: forwarder' | sed "s/127\.0\.0\.2:7007/127.0.0.2:$p2/")" ||
        return 1
    got=$("$CLIENT" "$port" 'w:through the forwarder\n' h e) &&
    expect "echoed through the forwarder" "$got" "through the forwarder" ||
        { cat "$tmp/ex/forwarder.log"; stop_superd; return 1; }
    stop_superd
}

t_template_test() {
    cp -r "$DEST$PREFIX/share/superd/plugin-template" "$tmp/tpl"
    # A fresh make, as a user's: nothing inherited from this build.
    MAKEFLAGS='' MAKELEVEL='' "$MAKE" -C "$tmp/tpl" CFLAGS="-O2 -g $SANFLAGS" LDFLAGS="$SANFLAGS" test
}

t_template_served() {
    serve "$tmp/tpl" myplugin "$(printf '[superd]\nworkers = 1\n\n[myplugin]\nplugin = ./myplugin.so\nlisten = tcp://127.0.0.1:7000\ngreeting = hello from the test\n')" ||
        return 1
    got=$("$CLIENT" "$port" w:abcde h e) &&
    expect "myplugin" "$got" "$(printf 'hello from the test\n5 bytes')" ||
        { cat "$tmp/tpl/myplugin.log"; stop_superd; return 1; }
    stop_superd
}

# A real (not DESTDIR) install into a prefix, from a build of its own: the
# installed superd must find the installed echo.so with no plugin_dir.
t_installed_lookup() {
    "$MAKE" --no-print-directory -s install BUILD="$tmp/build" PREFIX="$tmp/prefix" \
        SYSCONFDIR="$tmp/etc" SAN="$SAN" > "$tmp/build.log" 2>&1 ||
        { tail -20 "$tmp/build.log"; return 1; }
    mkdir -p "$tmp/run"
    ini=$(printf '[superd]\nworkers = 1\n\n[echo]\nplugin = echo\nlisten = tcp://127.0.0.1:7\n')
    printf '%s\n' "$ini" > "$tmp/run/echo.ini"
    out=$("$tmp/prefix/sbin/superd" -t -c "$tmp/run/echo.ini") || { echo "$out"; return 1; }
    case $out in
    *"plugin echo "*" $tmp/prefix/lib/superd/echo.so"*) ;;
    *) echo "superd -t: $out"; return 1 ;;
    esac
    SERVE_BIN=$tmp/prefix/sbin/superd serve "$tmp/run" echo "$ini" || return 1
    got=$("$CLIENT" "$port" 'w:ping\n' h e) &&
    expect "echo" "$got" "ping" || { stop_superd; return 1; }
    stop_superd
}

t_uninstall() {
    "$MAKE" --no-print-directory uninstall DESTDIR="$DEST" BUILD="$BUILD" \
        PREFIX="$PREFIX" SYSCONFDIR="$SYSCONFDIR" > "$tmp/uninstall.log" 2>&1 ||
        { cat "$tmp/uninstall.log"; return 1; }
    left=$(find "$DEST" -type f)
    [ -z "$left" ] || { echo "left behind:"; echo "$left"; return 1; }
    for d in "$PREFIX/lib/superd" "$PREFIX/include/superd" "$PREFIX/share/superd" \
             "$PREFIX/share/doc/superd" "$SYSCONFDIR/superd"; do
        [ ! -d "$DEST$d" ] || { echo "directory left behind: $DEST$d"; return 1; }
    done
}

# An existing superd.ini is never overwritten, nor removed once changed.
t_config_kept() {
    conf=$DEST$SYSCONFDIR/superd/superd.ini
    args="DESTDIR=$DEST BUILD=$BUILD PREFIX=$PREFIX SYSCONFDIR=$SYSCONFDIR"
    # shellcheck disable=SC2086
    "$MAKE" --no-print-directory install $args > "$tmp/i1.log" 2>&1 || { cat "$tmp/i1.log"; return 1; }
    echo "; changed by the user" >> "$conf"
    # shellcheck disable=SC2086
    "$MAKE" --no-print-directory install $args > "$tmp/i2.log" 2>&1 || { cat "$tmp/i2.log"; return 1; }
    grep -q 'changed by the user' "$conf" || { echo "superd.ini was overwritten"; return 1; }
    [ -f "$conf.example" ] || { echo "no superd.ini.example"; return 1; }
    grep -q 'keeping' "$tmp/i2.log" || { echo "install did not say it kept superd.ini"; return 1; }
    # shellcheck disable=SC2086
    "$MAKE" --no-print-directory uninstall $args > "$tmp/u.log" 2>&1 || { cat "$tmp/u.log"; return 1; }
    grep -q 'changed by the user' "$conf" || { echo "uninstall removed a changed superd.ini"; return 1; }
    [ ! -e "$conf.example" ] || { echo "superd.ini.example left behind"; return 1; }
    left=$(find "$DEST" -type f ! -path "$conf")
    [ -z "$left" ] || { echo "left behind:"; echo "$left"; return 1; }
}

t_man() {
    r=0
    for page in "$ROOT"/docs/superd.8 "$ROOT"/docs/superd.ini.5 "$ROOT"/docs/superd-plugin.3; do
        warnings=$(groff -ww -z -man "$page" 2>&1) || r=1
        [ -z "$warnings" ] || { echo "${page##*/}:"; echo "$warnings"; r=1; }
        if command -v man > /dev/null 2>&1; then
            warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 > "$tmp/man.txt") || r=1
            [ -z "$warnings" ] || { echo "man -l ${page##*/}:"; echo "$warnings"; r=1; }
            [ -s "$tmp/man.txt" ] || { echo "man -l ${page##*/} rendered nothing"; r=1; }
        fi
    done
    return $r
}

[ -x "$SUPERD" ] && [ -x "$CLIENT" ] || { echo "sdk: build $SUPERD and $CLIENT first" >&2; exit 1; }

run "make install DESTDIR: every file, and a valid superd.ini" t_install
run "installed files do not point into the source tree" t_no_source_paths
run "superd.pc: cflags, plugindir, abi, libs" t_pkgconfig
run "docs/plugins.md shows docs/examples/ verbatim" t_guide_code
run "the guide's cc commands build against the installed SDK only" t_guide_commands
run "test_lineecho passes against the installed fake host" t_lineecho_unit
run "lineecho, served: lines answered, partial lines kept, long lines refused" t_lineecho_served
run "chargen, served: the pattern, bounded, kept going by on_drain" t_chargen_served
run "ticker, served: a line per interval, from a timer" t_ticker_served
run "forwarder, served: to an echo backend and back, half-close passed on" t_forwarder_served
run "plugin template: make test against the installed fake host" t_template_test
run "plugin template, served" t_template_served
run "make uninstall DESTDIR: nothing left" t_uninstall
run "an existing superd.ini is kept by install and uninstall" t_config_kept
run "installed superd finds its installed plugins (no plugin_dir)" t_installed_lookup
if command -v groff > /dev/null 2>&1; then
    run "man pages: groff -ww -z and man -l are clean" t_man
else
    echo "sdk: skip man pages: groff is not installed (apt-get install groff-base)"
fi
echo "sdk: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
