#!/bin/sh
# tests/classic.sh - the classic services as the originals answer them and
# as superd answers them on superd-import's output of the same files.
#
# Debian's xinetd.d files (echo, daytime, chargen, time; stream and dgram)
# and openbsd-inetd's inetd.conf internal lines, as the packages ship them,
# with only what a test needs changed: the services switched on (they ship
# `disable = yes` / commented out) and bound to 127.0.0.1 (xinetd `bind =`,
# inetd `127.0.0.1:` before the name) on free high ports (a private
# /etc/services in a mount namespace maps the names there, as bench/run.sh
# does; the xinetd *-udp files name `port = 7` ... `port = 37`, rewritten).
# Then:
#
#   xinetd and openbsd-inetd from the unpacked packages (never installed,
#   never daemons of the machine: foreground, in that namespace), and
#   superd on `superd-import` of each tree (run in its own namespace so the
#   names resolve to superd's ports), and tests/classic_probe.py asks both
#   the same: echo the same bytes; daytime one line each, parsed to the
#   same time within 2 s (formats differ: noted); time 4 bytes big-endian
#   since 1900 within 2 s; chargen the RFC 864 pattern (stream: the first
#   lines compared; dgram: 0-512 bytes of it).  TCP and UDP for xinetd;
#   TCP for openbsd-inetd (its shipped file has no UDP line for these, and
#   it never answers UDP from 127.0.0.0/8).
#
#   sh tests/classic.sh [BUILD]          (from the repository root)
#
# Skipped, with one line saying why, where the packages cannot be had,
# python3 is missing or a mount namespace is refused.  Every wait is
# bounded; every daemon started is stopped, by its pid.
set -u

build=${1:-build}
here=$(pwd)
case $build in /*) ;; *) build=$here/$build ;; esac
superd=$build/superd
import=$build/superd-import
deps=${SUPERD_TEST_DEPS:-$here/build-deps/root}
deps=${deps%/root}
probe="$here/tests/classic_probe.py"

passed=0
failed=0
fail() { echo "classic: FAIL: $*" >&2; failed=$((failed + 1)); }
skip_all() { echo "classic: skipped: $*"; exit 0; }

for f in "$superd" "$import"; do
    [ -x "$f" ] || { echo "classic: FAIL: $f is not built (run make build)" >&2; exit 1; }
done
command -v python3 >/dev/null 2>&1 || skip_all "no python3 (the probe is tests/classic_probe.py)"
if [ "$(id -u)" != 0 ] || [ ! -f /etc/services ] || ! unshare --mount sh -c 'mount -t tmpfs tmpfs /mnt' 2>/dev/null; then
    skip_all "no private mount namespace (needs root and unshare): the originals find their ports by name in /etc/services"
fi
if ! sh "$here/scripts/debfetch.sh" "$deps" xinetd openbsd-inetd libwrap0 >/dev/null 2>&1; then
    skip_all "xinetd, openbsd-inetd or libwrap0 cannot be had (scripts/debfetch.sh: no network or no apt-get)"
fi
root=$deps/root
xinetd=$root/usr/sbin/xinetd
inetd=$root/usr/sbin/inetd
obsd_deb=$(ls "$deps"/debs/openbsd-inetd_*.deb | head -n 1)
libdir=$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu

tmp=$(mktemp -d "${TMPDIR:-/tmp}/superd-classic.XXXXXX") || exit 1
pids=""
stop_all() {
    for p in $pids; do kill -TERM "$p" 2>/dev/null; done
    n=0
    for p in $pids; do
        while kill -0 "$p" 2>/dev/null && [ $n -lt 30 ]; do sleep 0.1; n=$((n + 1)); done
        kill -0 "$p" 2>/dev/null && { fail "pid $p still running 3 s after SIGTERM: killed"; kill -KILL "$p"; }
        wait "$p" 2>/dev/null
    done
    pids=""
}
trap 'stop_all; rm -rf "$tmp"' EXIT
trap 'exit 1' INT TERM HUP

bases=$(python3 "$probe" ports 4) || skip_all "no four free port ranges on 127.0.0.1"
set -- $bases
bx=$1 bxs=$2 bo=$3 bos=$4

# services FILE BASE: the classic names on BASE+7, +9, +13, +19, +37.
services() {
    for s in echo:7 discard:9 daytime:13 chargen:19 time:37; do
        n=${s%%:*} o=${s##*:}
        printf '%s\t%d/tcp\n%s\t%d/udp\n' "$n" $((${2} + o)) "$n" $((${2} + o))
    done > "$1"
}
# in_ns SERVICES COMMAND...: run COMMAND (exec'd: same pid) with SERVICES
# as its /etc/services and a private /run.
in_ns() {
    svc=$1
    shift
    exec unshare --mount sh -c \
        'mount --bind "$0" /etc/services && mount -t tmpfs tmpfs /run && exec "$@"' "$svc" "$@"
}

# ---- xinetd's files ----
# xtree DIR BASE: Debian's xinetd.conf and the four services' files, on.
# (superd-import reads the shipped includedir under DIR with -r; xinetd
# has no such option: its copy names DIR's.)
xtree() {
    mkdir -p "$1/etc/xinetd.d"
    cp "$root/etc/xinetd.conf" "$1/etc/xinetd.conf"
    sed "s|^includedir /etc/xinetd.d|includedir $1/etc/xinetd.d|" "$root/etc/xinetd.conf" > "$1/xinetd.conf"
    for s in echo daytime chargen time; do
        for f in "$root/etc/xinetd.d/$s" "$root/etc/xinetd.d/$s-udp"; do
            [ -f "$f" ] || continue
            sed -e 's/disable\([[:space:]]*\)= yes/disable\1= no/' \
                -e "s/port\\([[:space:]]*\\)= 7\$/port\\1= $(($2 + 7))/" \
                -e "s/port\\([[:space:]]*\\)= 13\$/port\\1= $(($2 + 13))/" \
                -e "s/port\\([[:space:]]*\\)= 19\$/port\\1= $(($2 + 19))/" \
                -e "s/port\\([[:space:]]*\\)= 37\$/port\\1= $(($2 + 37))/" \
                -e 's/^{/{\n\tbind\t\t= 127.0.0.1/' "$f" > "$1/etc/xinetd.d/${f##*/}"
        done
    done
}
xtree "$tmp/x" "$bx"
xtree "$tmp/xs" "$bxs"
services "$tmp/x.services" "$bx"
services "$tmp/xs.services" "$bxs"

# ---- openbsd-inetd's inetd.conf (written by its preinst) ----
mkdir -p "$tmp/obsd.ctl"
dpkg-deb -e "$obsd_deb" "$tmp/obsd.ctl"
sed -n '/cat <<EOF > \/etc\/inetd.conf/,/^EOF/p' "$tmp/obsd.ctl/preinst" | sed '1d;$d' |
    sed 's/^#\(\(echo\|discard\|daytime\|time\|chargen\)[[:space:]]\)/127.0.0.1:\1/' > "$tmp/o.conf"
grep -q '^127.0.0.1:echo' "$tmp/o.conf" || fail "openbsd-inetd's preinst has no echo line any more"
services "$tmp/o.services" "$bo"
services "$tmp/os.services" "$bos"

# ---- superd-import, each in its own ports' namespace ----
(in_ns "$tmp/xs.services" "$import" -r "$tmp/xs" "$tmp/xs/etc/xinetd.conf") > "$tmp/xs.ini" 2> "$tmp/xs.err" ||
    fail "superd-import of the xinetd files: $(cat "$tmp/xs.err")"
(in_ns "$tmp/os.services" "$import" "$tmp/o.conf") > "$tmp/os.ini" 2> "$tmp/os.err" ||
    fail "superd-import of openbsd-inetd's inetd.conf: $(cat "$tmp/os.err")"
[ "$(grep -c "^listen = tcp://127.0.0.1:[0-9]* udp://127.0.0.1:[0-9]*$" "$tmp/xs.ini")" -eq 4 ] ||
    fail "superd-import of the xinetd files: not 4 tcp+udp listen lines: $(cat "$tmp/xs.ini")"

# ---- start the four daemons ----
(in_ns "$tmp/x.services" env LD_LIBRARY_PATH="$libdir" "$xinetd" -f "$tmp/x/xinetd.conf" \
    -dontfork -stayalive -pidfile "$tmp/xinetd.pid") > "$tmp/xinetd.log" 2>&1 &
pids="$pids $!"
(in_ns "$tmp/o.services" env LD_LIBRARY_PATH="$libdir" "$inetd" -i "$tmp/o.conf") > "$tmp/inetd.log" 2>&1 &
pids="$pids $!"
"$superd" -c "$tmp/xs.ini" > "$tmp/superd-x.log" 2>&1 &
pids="$pids $!"
"$superd" -c "$tmp/os.ini" > "$tmp/superd-o.log" 2>&1 &
pids="$pids $!"

ready() { # NAME LOG PORT...
    name=$1 log=$2
    shift 2
    python3 "$probe" wait "$@" > "$tmp/wait.out" || {
        fail "$name did not listen: $(cat "$tmp/wait.out"); its log: $(cat "$log")"
        return 1
    }
}
up=1
ready xinetd "$tmp/xinetd.log" $((bx + 7)) $((bx + 13)) $((bx + 19)) $((bx + 37)) || up=""
ready openbsd-inetd "$tmp/inetd.log" $((bo + 7)) $((bo + 13)) $((bo + 19)) $((bo + 37)) || up=""
ready "superd (xinetd's)" "$tmp/superd-x.log" $((bxs + 7)) $((bxs + 13)) $((bxs + 19)) $((bxs + 37)) || up=""
ready "superd (openbsd-inetd's)" "$tmp/superd-o.log" $((bos + 7)) $((bos + 13)) $((bos + 19)) $((bos + 37)) || up=""

# compare ORIG BASE_ORIG BASE_SUPERD SERVICE:OFFSET PROTO...
compare() {
    orig=$1 bo_=$2 bs_=$3 svc=${4%%:*} off=${4##*:}
    shift 4
    for proto in "$@"; do
        if python3 "$probe" compare "$orig" superd "$svc" "$proto" $((bo_ + off)) $((bs_ + off)) > "$tmp/cmp.out" 2>&1; then
            passed=$((passed + 1))
        else
            failed=$((failed + 1))
        fi
        sed 's/^/classic: /' "$tmp/cmp.out"
    done
}
if [ -n "$up" ]; then
    for s in echo:7 daytime:13 time:37 chargen:19; do
        compare xinetd "$bx" "$bxs" "$s" tcp udp
        compare openbsd-inetd "$bo" "$bos" "$s" tcp
    done
fi
stop_all
for log in superd-x superd-o; do
    if grep -q -i 'error\|refused\|crash' "$tmp/$log.log"; then
        fail "$log logged: $(grep -i 'error\|refused\|crash' "$tmp/$log.log" | head -n 3)"
    fi
done

echo "classic: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
