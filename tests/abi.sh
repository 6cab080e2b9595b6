#!/bin/sh
# abi.sh - the plugin ABI as a plugin sees it:
#   - the superd_* functions the daemon exports are exactly those declared
#     in <superd/plugin.h>, and so are those the fake host library defines;
#   - a host of ABI 1.0 (BUILD/tests/superd-abi1.0: the daemon built with
#     SUPERD_HOST_ABI_MINOR=0, without the 1.1 functions) refuses a plugin
#     that calls a 1.1 function with the version line, not "undefined
#     symbol", and loads a plugin built for 1.0 with today's header;
#   - calling a 1.1 function in a plugin built for 1.0
#     (SUPERD_TARGET_MINOR=0) does not compile.
#
# Usage: sh tests/abi.sh BUILD     (from the repository root; `make check`
# runs it).  Only `superd -t` runs: no socket, no daemon left behind.
set -u
BUILD=${1:?usage: sh tests/abi.sh BUILD}
ROOT=$(pwd)
case $BUILD in
/*) B=$BUILD ;;
*) B=$ROOT/$BUILD ;;
esac
HOST10=$B/tests/superd-abi1.0
TP=$B/tests/plugins
CC=${CC:-cc}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/superd-abi.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
trap 'exit 1' HUP INT TERM
pass=0
fail=0

run() {
    if "$2" > "$tmp/out" 2>&1; then
        pass=$((pass + 1))
        echo "abi: ok   $1"
    else
        fail=$((fail + 1))
        echo "abi: FAIL $1"
        sed 's/^/    /' "$tmp/out"
    fi
}

expect() {
    if [ "$2" != "$3" ]; then
        printf '%s: got\n%s\nwanted\n%s\n' "$1" "$2" "$3"
        return 1
    fi
}

# The functions the header declares (comments stripped by the
# preprocessor), and those it marks as added in 1.1.
declared() {
    "$CC" -E -P -D_GNU_SOURCE -Iinclude include/superd/plugin.h |
        grep -oE '\<superd_[a-z0-9_]+ *\(' | sed 's/ *($//' | sort -u
}
declared_since_1_1() {
    "$CC" -E -P -D_GNU_SOURCE -Iinclude -DSUPERD_TARGET_MINOR=0 include/superd/plugin.h |
        tr '\n' ' ' | sed 's/;/;\n/g' | grep -E 'needs plugin ABI " *"1\.1"' |
        grep -oE '\<superd_[a-z0-9_]+ *\(' | sed 's/ *($//' | sort -u
}
# The dynamic symbols a binary defines, without libc's copy relocations
# (name@GLIBC_...).
dynamic() {
    nm -D --defined-only "$1" | awk 'NF == 3 && $3 !~ /@/ && $3 !~ /^_/ {print $3}' | sort -u
}

t_exports() {
    declared > "$tmp/declared"
    [ "$(wc -l < "$tmp/declared")" -ge 17 ] || { echo "too few declarations found:"; cat "$tmp/declared"; return 1; }
    dynamic "$B/superd" > "$tmp/superd"
    diff -u "$tmp/declared" "$tmp/superd" || { echo "(- header, + build/superd's dynamic symbols)"; return 1; }
}

t_fakehost_exports() {
    declared > "$tmp/declared"
    nm --defined-only "$B/libsuperd-fakehost.a" | awk '$2 == "T" && $3 ~ /^superd_/ {print $3}' |
        sort -u > "$tmp/fake"
    diff -u "$tmp/declared" "$tmp/fake" || { echo "(- header, + libsuperd-fakehost.a)"; return 1; }
}

# The 1.0 host exports the header's functions but those marked 1.1.
t_host10_exports() {
    declared_since_1_1 > "$tmp/new"
    expect "marked SUPERD_SINCE(1, 1)" "$(cat "$tmp/new")" "$(printf 'superd_conn_addr\nsuperd_connect\nsuperd_dgram_addr\nsuperd_dgram_hold\nsuperd_dgram_release\nsuperd_pause\nsuperd_resume\nsuperd_shutdown\nsuperd_timer_start\nsuperd_timer_stop\nsuperd_unwatch\nsuperd_watch\nsuperd_watch_set')" || return 1
    declared | grep -vxF -f "$tmp/new" > "$tmp/want"
    dynamic "$HOST10" > "$tmp/host10"
    diff -u "$tmp/want" "$tmp/host10"
}

# check HOST PLUGIN: `HOST -t` on a one-service configuration; sets $out
# (stderr and stdout) and returns its status.
check() {
    printf '[superd]\nworkers = 1\n\n[svc]\nplugin = %s\nlisten = tcp://127.0.0.1:7\n' "$2" > "$tmp/svc.ini"
    out=$(cd "$tmp" && "$1" -t -c svc.ini 2>&1)
}

t_refused_by_version() {
    nm -D "$TP/addrs.so" | grep -q ' w superd_conn_addr$' ||
        { echo "addrs.so does not reference superd_conn_addr weakly:"; nm -D "$TP/addrs.so"; return 1; }
    check "$HOST10" "$TP/addrs.so"
    status=$?
    expect "exit status" "$status" 1 &&
    expect "superd-abi1.0 -t" "$out" \
        "superd: svc.ini:5: [svc] plugin: $TP/addrs.so: built for plugin ABI 1.1, newer than this superd's 1.0"
}

t_loads_in_current() {
    check "$B/superd" "$TP/addrs.so" || { echo "$out"; return 1; }
    case $out in
    *"[svc] plugin addrs 1.1 $TP/addrs.so"*) ;;
    *) echo "$out"; return 1 ;;
    esac
}

t_10_plugin_loads() {
    check "$HOST10" "$TP/only10.so" || { echo "$out"; return 1; }
    case $out in
    *"[svc] plugin only10 1.0 $TP/only10.so"*"configuration OK"*) ;;
    *) echo "$out"; return 1 ;;
    esac
    check "$B/superd" "$TP/only10.so" || { echo "$out"; return 1; }
}

# Without the weak mark (what the header gave before 1.1), the same plugin
# never reaches the version check: this is what SUPERD_SINCE prevents.
t_strong_reference_fails() {
    "$CC" -D_GNU_SOURCE -Iinclude -DSUPERD_HOST_BUILD -std=c11 -fPIC -fvisibility=hidden -shared \
        tests/plugins/addrs.c -o "$tmp/strong.so" || return 1
    check "$HOST10" "$tmp/strong.so"
    case $out in
    *"undefined symbol: superd_"*"_addr"*) ;;
    *) echo "$out"; return 1 ;;
    esac
}

t_target_minor() {
    cat > "$tmp/too_new.c" <<'EOC'
#include <superd/plugin.h>
int use(struct superd_conn *c, struct sockaddr *sa, socklen_t *len);
int use(struct superd_conn *c, struct sockaddr *sa, socklen_t *len)
{
    return superd_conn_addr(c, SUPERD_ADDR_PEER, sa, len);
}
EOC
    if "$CC" -Iinclude -DSUPERD_TARGET_MINOR=0 -c "$tmp/too_new.c" -o "$tmp/too_new.o" 2> "$tmp/cc.err"; then
        echo "a 1.1 call compiled for SUPERD_TARGET_MINOR=0"
        return 1
    fi
    grep -q 'needs plugin ABI 1.1' "$tmp/cc.err" || { cat "$tmp/cc.err"; return 1; }
    "$CC" -Iinclude -c "$tmp/too_new.c" -o "$tmp/too_new.o" || return 1
}

for f in "$B/superd" "$HOST10" "$TP/addrs.so" "$TP/only10.so" "$B/libsuperd-fakehost.a"; do
    [ -e "$f" ] || { echo "abi: build $f first" >&2; exit 1; }
done
run "build/superd exports exactly the functions of <superd/plugin.h>" t_exports
run "libsuperd-fakehost.a defines exactly the functions of <superd/plugin.h>" t_fakehost_exports
run "a 1.0 host exports the header's functions but the 1.1 ones" t_host10_exports
run "a 1.0 host refuses a plugin using superd_conn_addr with the version line" t_refused_by_version
run "the current host loads that plugin" t_loads_in_current
run "a plugin built for 1.0 with today's header loads in a 1.0 host and today's" t_10_plugin_loads
run "without the weak mark, the 1.0 host fails with undefined symbol" t_strong_reference_fails
run "SUPERD_TARGET_MINOR=0: calling a 1.1 function does not compile" t_target_minor
echo "abi: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
