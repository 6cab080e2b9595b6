# bench/common.sh - sourced by bench/run.sh and bench/profile.sh: where the
# binaries are, the private namespaces, servers started and always stopped.
# shellcheck shell=bash

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$BENCH_DIR")
BUILD=${BUILD:-build}
BIN=$ROOT/$BUILD
LG=$BIN/bench/loadgen
REF=$BIN/bench/refserver
SUPERD=$BIN/superd
DEPS=$BENCH_DIR/deps/root

note() { printf 'bench: %s\n' "$*" >&2; }

# Re-run the calling script inside private namespaces: a network namespace
# (only loopback exists, nothing can leave it, no DNS server to stall on),
# and as root also mount and PID namespaces (every process the benchmark
# starts dies with it).  Falls back with a note.
enter_namespaces() {
    [ -n "${SUPERD_BENCH_NS:-}" ] && return 0
    if unshare --net --mount --pid --fork --kill-child --mount-proc true 2>/dev/null; then
        run_inside private "$@" -- unshare --net --mount --pid --fork --kill-child --mount-proc
    fi
    if unshare --net true 2>/dev/null; then
        run_inside net "$@" -- unshare --net
    fi
    if unshare --user --map-root-user --net true 2>/dev/null; then
        run_inside userns "$@" -- unshare --user --map-root-user --net
    fi
    note "note: unshare is not permitted here: running on the host's loopback," \
         "outside a private network namespace"
    export SUPERD_BENCH_NS=host
}

# run_inside NAME SCRIPT ARGS... -- UNSHARE...: run the script again under
# unshare, pass on INT, TERM and HUP (unshare --fork ignores them), exit
# with its status.  Never returns.
run_inside() {
    local name=$1 script=$2 args=() cmd=() pid rc
    shift 2
    while [ $# -gt 0 ] && [ "$1" != -- ]; do
        args+=("$1")
        shift
    done
    shift
    cmd=("$@")
    # Job control: the child gets its own process group, with INT not
    # ignored, and this shell forwards what it receives.
    set -m
    "${cmd[@]}" env SUPERD_BENCH_NS="$name" bash "$script" "${args[@]}" &
    pid=$!
    forward() {
        local c kids
        kids=$(cat /proc/"$pid"/task/*/children 2>/dev/null)
        # With --fork the script is unshare's child; without, it is $pid.
        for c in ${kids:-$pid}; do
            kill -"$1" "$c" 2>/dev/null
        done
    }
    trap 'forward INT' INT
    trap 'forward TERM' TERM
    trap 'forward HUP' HUP
    while :; do
        wait "$pid"
        rc=$?
        kill -0 "$pid" 2>/dev/null || break
    done
    exit "$rc"
}

# Bring up loopback in the new namespace.
setup_loopback() {
    [ "$SUPERD_BENCH_NS" = host ] && return 0
    if command -v ip >/dev/null 2>&1; then
        ip link set lo up
    elif command -v ifconfig >/dev/null 2>&1; then
        ifconfig lo up
    else
        note "cannot bring lo up (no ip or ifconfig)"
        return 1
    fi
}

# Processes to stop at the end, whatever happens.
ALL_PIDS=()
TMP=

stop_pids() {
    local p alive i
    [ $# -eq 0 ] && return 0
    kill -TERM "$@" 2>/dev/null
    # STOP_WAIT seconds (5) before SIGKILL: a server under valgrind needs more.
    for i in $(seq 1 $((${STOP_WAIT:-5} * 20))); do
        alive=
        for p in "$@"; do
            kill -0 "$p" 2>/dev/null && alive=1
        done
        [ -z "$alive" ] && break
        sleep 0.05
    done
    kill -KILL "$@" 2>/dev/null
    # Reap the ones that are our children; others are not ours to wait on.
    for p in "$@"; do
        wait "$p" 2>/dev/null
    done
    return 0
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM HUP
    if [ ${#ALL_PIDS[@]} -gt 0 ]; then
        stop_pids "${ALL_PIDS[@]}"
    fi
    [ -n "$TMP" ] && rm -rf "$TMP"
    exit "$rc"
}

setup_tmp() {
    TMP=$(mktemp -d /tmp/superd-bench.XXXXXX)
    trap cleanup EXIT
    trap 'note interrupted; exit 130' INT
    trap 'note terminated; exit 143' TERM
    trap 'note hung up; exit 129' HUP
}

# Wait for a line in a log file: wait_log FILE TEXT [SECONDS]
wait_log() {
    local i n=$(( ${3:-10} * 50 ))
    for i in $(seq 1 "$n"); do
        grep -q -- "$2" "$1" 2>/dev/null && return 0
        sleep 0.02
    done
    return 1
}

# Connect to a stream address until it answers: wait_port ADDRESS
wait_port() {
    "$LG" -m probe -a "$1" -d 10s >/dev/null
}

# A superd configuration serving echo, discard and daytime on the ports
# BASE+7, BASE+9, BASE+13: write_superd_conf FILE BASE WORKERS(or "")
write_superd_conf() {
    local f=$1 b=$2 workers=$3 name
    name=$(basename "$f" .ini)
    {
        echo "[superd]"
        echo "plugin_dir = $BIN/plugins"
        [ -n "$workers" ] && echo "workers = $workers"
        echo "shutdown_timeout = 1s"
        echo "[echo]"
        echo "plugin = echo"
        echo "listen = tcp://127.0.0.1:$((b + 7)) tcp://[::1]:$((b + 7))"
        echo "listen = udp://127.0.0.1:$((b + 7)) udp://[::1]:$((b + 7))"
        echo "listen = unix:$TMP/$name-echo.sock unix-dgram:$TMP/$name-echo.dgram"
        # The load generator is one source driving thousands of replies a
        # second: over the default loop budget (100 replies/s per source).
        echo "udp_reply_rate = off"
        echo "[discard]"
        echo "plugin = discard"
        echo "listen = tcp://127.0.0.1:$((b + 9))"
        echo "[daytime]"
        echo "plugin = daytime"
        echo "listen = tcp://127.0.0.1:$((b + 13))"
        # The exec row: the same cat the anchors run, one per connection.
        echo "[execcat]"
        echo "program = /bin/cat"
        echo "listen = tcp://127.0.0.1:$((b + 17))"
    } > "$f"
}

# The addresses of a server on BASE (see write_superd_conf): set_addrs NAME BASE
set_addrs() {
    A_ECHO=tcp://127.0.0.1:$(($2 + 7))
    A_ECHO6=tcp://[::1]:$(($2 + 7))
    A_UNIX=unix:$TMP/$1-echo.sock
    A_UDP=udp://127.0.0.1:$(($2 + 7))
    A_UDP6=udp://[::1]:$(($2 + 7))
    A_UDGRAM=unix-dgram:$TMP/$1-echo.dgram
    A_DISCARD=tcp://127.0.0.1:$(($2 + 9))
    A_DAYTIME=tcp://127.0.0.1:$(($2 + 13))
    A_EXECCAT=tcp://127.0.0.1:$(($2 + 17))
}

# Start superd on a configuration and wait for "ready"; sets SRV_PIDS.
# start_superd NAME BASE WORKERS [superd prefix command...]
start_superd() {
    local name=$1 base=$2 workers=$3
    shift 3
    write_superd_conf "$TMP/$name.ini" "$base" "$workers"
    set_addrs "$name" "$base"
    : > "$TMP/$name.log"
    "$@" "$SUPERD" -c "$TMP/$name.ini" 2>>"$TMP/$name.log" &
    SRV_PIDS=($!)
    ALL_PIDS+=($!)
    if ! wait_log "$TMP/$name.log" "superd: ready" 60; then
        note "$name did not start:"
        tail -5 "$TMP/$name.log" >&2
        return 1
    fi
}

# Start the ceiling with the same services; sets SRV_PIDS.
# start_ref NAME BASE [prefix command...]
start_ref() {
    local name=$1 base=$2
    shift 2
    set_addrs "$name" "$base"
    : > "$TMP/$name.log"
    # cat: the floor of the exec row (a program per connection).
    "$@" "$REF" -l "echo=$A_ECHO" -l "echo=$A_ECHO6" -l "echo=$A_UDP" -l "echo=$A_UDP6" \
        -l "echo=$A_UNIX" -l "echo=$A_UDGRAM" -l "discard=$A_DISCARD" \
        -l "daytime=$A_DAYTIME" -l "cat=$A_EXECCAT" 2>>"$TMP/$name.log" &
    SRV_PIDS=($!)
    ALL_PIDS+=($!)
    if ! wait_log "$TMP/$name.log" "refserver: ready" 60; then
        note "$name did not start:"
        tail -5 "$TMP/$name.log" >&2
        return 1
    fi
}

stop_server() {
    [ ${#SRV_PIDS[@]} -gt 0 ] && stop_pids "${SRV_PIDS[@]}"
    SRV_PIDS=()
}

# Replace (or add) one marked section of bench/RESULTS.md (or of
# $BENCH_RESULTS, for trial runs):
# put_section NAME FILE-WITH-CONTENT
put_section() {
    local name=$1 content=$2 out=${BENCH_RESULTS:-$BENCH_DIR/RESULTS.md}
    if [ ! -f "$out" ]; then
        {
            echo "# superd benchmark results"
            echo
            echo "Written by \`make bench\` (the tables) and \`make bench-profile\` (the"
            echo "instruction counts); see [bench/README.md](README.md) for what each"
            echo "figure means and how it is measured."
        } > "$out"
    fi
    awk -v name="$name" -v content="$content" '
        function emit(   line) {
            print "<!-- " name ":begin -->"
            while ((getline line < content) > 0)
                print line
            print "<!-- " name ":end -->"
            done = 1
        }
        $0 == "<!-- " name ":begin -->" { skip = 1; emit(); next }
        $0 == "<!-- " name ":end -->" { skip = 0; next }
        !skip { print }
        END { if (!done) { print ""; emit() } }
    ' "$out" > "$out.tmp" && mv "$out.tmp" "$out"
}

# One round of a side table (forwarders, TLS terminators): start the
# backend and every server named in SERVERS (as PREFIX_NAME, with START),
# run each measurement of the array named MEASUREMENTS ("name|loadgen
# arguments") against each server in turn, the order turning by one each
# round, then stop them all.  The servers' address goes under ADDRKEY.
# side_round PREFIX SERVERS START BACKEND_START BACKEND_STOP ADDRKEY MEASUREMENTS WHAT
side_round() {
    local prefix=$1 servers=$2 start=$3 bstart=$4 bstop=$5 key=$6 what=$8
    local -n specs=$7
    local s spec m args live=() order=() i n
    [ -n "$servers" ] || return 0
    "$bstart" || { note "$what did not start"; "$bstop"; return 1; }
    for s in $servers; do
        if ! "$start" "${prefix}_$s"; then
            stop_server
            continue
        fi
        ADDR[${prefix}_$s|$key]=$A_ECHO
        PIDS[${prefix}_$s]="${SRV_PIDS[*]}"
        live+=("${prefix}_$s")
    done
    n=${#live[@]}
    for ((i = 0; i < n; i++)); do
        order+=("${live[$(((i + ROUND - 1) % n))]}")
    done
    for spec in "${specs[@]}"; do
        IFS='|' read -r m args <<< "$spec"
        for s in "${order[@]}"; do
            # shellcheck disable=SC2086
            measure "$s" "$m" "$key" $args
        done
    done
    for s in "${live[@]}"; do
        # shellcheck disable=SC2086
        stop_pids ${PIDS[$s]}
    done
    "$bstop"
}

machine_line() {
    local cpu kernel distro
    cpu=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
    kernel=$(uname -sr)
    distro=$( (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") || echo unknown)
    echo "nproc $(nproc), ${cpu:-unknown CPU}, $kernel, $distro," \
         "$(awk '/^MemTotal/ { printf "%.1f GiB RAM", $2 / 1048576 }' /proc/meminfo)"
}
