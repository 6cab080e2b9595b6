# tests/superd_proc.sh - sourced by the shell tests that start superd
# themselves (realprog.sh, tlsscan.sh): stop it, bounded, and clean up on
# any exit.  The caller sets $tmp (its private directory), $wait_s (seconds
# superd gets after SIGTERM), $pid (superd's, once started; "" before), and
# defines fail MESSAGE.
pid=""
stop_superd() {
    [ -n "$pid" ] || return 0
    kill -TERM "$pid" 2>/dev/null
    n=0
    while kill -0 "$pid" 2>/dev/null && [ "$n" -lt $((wait_s * 10)) ]; do
        sleep 0.1
        n=$((n + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
        fail "superd still running $wait_s s after SIGTERM: killed"
        kill -KILL "$pid" 2>/dev/null
    fi
    wait "$pid" 2>/dev/null
    pid=""
}
cleanup() {
    stop_superd
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
