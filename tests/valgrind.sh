#!/bin/sh
# tests/valgrind.sh - one start-serve-stop cycle of the real daemon under
# valgrind, and no leak or memory error in any of its processes.
#
#   sh tests/valgrind.sh [BUILD]          (from the repository root)
#
# Starts BUILD/superd under memcheck with a configuration in a temporary
# directory (one worker; echo on a free 127.0.0.1 TCP port and on a unix
# socket; plugin_dir = BUILD/plugins), waits for "superd: ready", does an
# echo round trip on each listener, reloads with SIGHUP and does them again,
# then stops it with SIGTERM.  valgrind follows every process (the master,
# the plugin-check children, the workers) and writes one log per process.
# The test fails if any of them reports a memory error or a definite or
# indirect leak, if superd does not exit 0, or if its socket file is left.
# Needs BUILD/tests/sdk_client (built by `make check`); the unix socket
# round trip uses python3 and is skipped without it.  Skipped, with a
# message, when valgrind is not installed or BUILD is a sanitizer build.
# Loopback only; every wait is bounded; the directory is removed.
set -u

build=${1:-build}
here=$(pwd)
case $build in
    /*) ;;
    *) build=$here/$build ;;
esac
superd=$build/superd
client=$build/tests/sdk_client
# Generous: the first start under memcheck is slow.
start_s=60
stop_s=60

if ! command -v valgrind >/dev/null 2>&1; then
    echo "valgrind: skipped: valgrind is not installed (apt-get install valgrind)"
    echo "valgrind: 0 passed, 0 failed, 1 skipped"
    exit 0
fi
for f in "$superd" "$client"; do
    if [ ! -x "$f" ]; then
        echo "valgrind: $f is not built (run make check)" >&2
        echo "valgrind: 0 passed, 1 failed"
        exit 1
    fi
done
if grep -q AddressSanitizer "$superd"; then
    echo "valgrind: skipped: $superd is a sanitizer build (ASan and valgrind do not mix)"
    echo "valgrind: 0 passed, 0 failed, 1 skipped"
    exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/superd-valgrind.XXXXXX") || exit 1
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

failures=""
fail() {
    echo "valgrind: FAIL: $*" >&2
    failures="$failures x"
}

# Wait until FILE has a line containing TEXT, for at most SECONDS, while
# superd lives.  0 when seen.
wait_for() {
    n=0
    while [ "$n" -lt $(($3 * 10)) ]; do
        grep -q "$2" "$1" 2>/dev/null && return 0
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
        n=$((n + 1))
    done
    return 1
}

# An echo round trip over TCP and, with python3, over the unix socket.
round_trip() {
    msg="hello valgrind $1"
    got=$("$client" -t 20000 "$port" "w:$msg" h e) || fail "$1: TCP echo failed"
    [ "$got" = "$msg" ] || fail "$1: TCP echo sent '$msg', got '$got'"
    if command -v python3 >/dev/null 2>&1; then
        got=$(python3 - "$tmp/echo.sock" "$msg" <<'EOF'
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(20)
s.connect(sys.argv[1])
s.sendall(sys.argv[2].encode())
s.shutdown(socket.SHUT_WR)
out = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    out += b
sys.stdout.write(out.decode())
EOF
) || fail "$1: unix socket echo failed"
        [ "$got" = "$msg" ] || fail "$1: unix socket echo sent '$msg', got '$got'"
    elif [ "$1" = start ]; then
        echo "valgrind: python3 not found: the unix socket round trip is skipped"
    fi
}

port=$("$client" port) || { echo "valgrind: no free port" >&2; exit 1; }
cat >"$tmp/superd.ini" <<EOF
[superd]
plugin_dir = $build/plugins
workers = 1
log = stderr
log_level = info
shutdown_timeout = 5s

[echo]
plugin = echo
listen = tcp://127.0.0.1:$port
listen = unix:echo.sock
EOF

echo "valgrind: superd -c $tmp/superd.ini (echo on 127.0.0.1:$port and $tmp/echo.sock)"
valgrind --leak-check=full --errors-for-leak-kinds=definite,indirect \
    --show-leak-kinds=definite,indirect --error-exitcode=99 --trace-children=yes \
    --num-callers=30 --keep-debuginfo=yes --log-file="$tmp/vg.%p" \
    "$superd" -c "$tmp/superd.ini" 2>"$tmp/superd.err" &
pid=$!

if wait_for "$tmp/superd.err" "superd: ready" "$start_s"; then
    round_trip start
    kill -HUP "$pid"
    if wait_for "$tmp/superd.err" "superd: reload done" "$start_s"; then
        round_trip reload
    else
        fail "no 'superd: reload done' within $start_s s of SIGHUP"
    fi
else
    fail "no 'superd: ready' within $start_s s"
fi

status=""
if kill -TERM "$pid" 2>/dev/null; then
    n=0
    while kill -0 "$pid" 2>/dev/null && [ "$n" -lt $((stop_s * 10)) ]; do
        sleep 0.1
        n=$((n + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        fail "superd still running $stop_s s after SIGTERM: killed"
        kill -KILL "$pid" 2>/dev/null
    fi
fi
wait "$pid"
status=$?
pid=""
[ "$status" -eq 0 ] || fail "superd exited with status $status (99: valgrind found errors)"
[ -e "$tmp/echo.sock" ] && fail "the unix socket file was left behind"

# One log per process.  A log without an ERROR SUMMARY is a process that
# was killed before valgrind could check it.
nproc=0
for log in "$tmp"/vg.*; do
    [ -f "$log" ] || continue
    nproc=$((nproc + 1))
    errors=$(sed -n 's/.*ERROR SUMMARY: \([0-9][0-9]*\) errors.*/\1/p' "$log" | tail -n 1)
    lost=$(grep -E '(definitely|indirectly) lost: [1-9]' "$log")
    if [ -z "$errors" ]; then
        fail "process ${log##*.}: no ERROR SUMMARY (killed?)"
        cat "$log" >&2
    elif [ "$errors" -ne 0 ] || [ -n "$lost" ]; then
        fail "process ${log##*.}: $errors errors${lost:+, leaks}"
        cat "$log" >&2
    fi
done
# The master, its plugin check, a worker; the reload adds a check and a worker.
[ "$nproc" -ge 3 ] || fail "only $nproc valgrind logs: processes not followed"

if [ -n "$failures" ]; then
    echo "valgrind: superd's log:" >&2
    cat "$tmp/superd.err" >&2
    echo "valgrind: 0 passed, 1 failed"
    exit 1
fi
echo "valgrind: $nproc processes checked: no errors, no definite or indirect leaks; exit status 0"
echo "valgrind: 1 passed, 0 failed"
