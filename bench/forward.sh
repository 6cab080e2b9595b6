# bench/forward.sh - sourced by bench/run.sh: the forwarding rows.
#
# client (loadgen) -> forwarder -> echo backend (a refserver of its own):
# superd's forward plugin (workers = 1), haproxy in tcp mode with one
# thread, with and without splice (`option splice-auto`), rinetd, socat
# (`TCP-LISTEN,fork,reuseaddr`), each from bench/deps/ (`make bench-deps`),
# and the client straight to a refserver as the ceiling.  Server CPU is the
# forwarder's alone (its processes and their children), not the backend's.
# shellcheck shell=bash

FWD_SERVERS=${BENCH_FORWARD:-direct superd haproxy haproxy_splice rinetd socat}
[ "$FWD_SERVERS" = none ] && FWD_SERVERS=
FWD_IDLE=${BENCH_FWD_IDLE:-5000}
# socat forks a process per connection: as few as the forking anchors get.
FWD_SOCAT_IDLE=${BENCH_ANCHOR_IDLE:-1000}
FWD_BACKEND=tcp://127.0.0.1:21107
FWD_BACKEND_PIDS=()

HAPROXY=$(anchor_bin usr/sbin/haproxy)
RINETD=$(anchor_bin usr/sbin/rinetd)
SOCAT=$(anchor_bin usr/bin/socat)

fwd_port() {
    case $1 in
    direct) echo 21807 ;; superd) echo 21207 ;; haproxy) echo 21307 ;;
    haproxy_splice) echo 21407 ;; rinetd) echo 21507 ;; socat) echo 21607 ;;
    esac
}

fwd_label() {
    case $1 in
    direct) echo "no forwarder: the client straight to the backend (ceiling)" ;;
    superd) echo "superd forward, workers = 1" ;;
    haproxy) echo "haproxy $(dpkg-deb -f "$BENCH_DIR"/deps/debs/haproxy_*.deb Version 2>/dev/null), tcp mode, nbthread 1" ;;
    haproxy_splice) echo "haproxy, the same with option splice-auto" ;;
    rinetd) echo "rinetd $(dpkg-deb -f "$BENCH_DIR"/deps/debs/rinetd_*.deb Version 2>/dev/null)" ;;
    socat) echo "socat $(dpkg-deb -f "$BENCH_DIR"/deps/debs/socat_*.deb Version 2>/dev/null), TCP-LISTEN,fork" ;;
    esac
}

# Keep only the forwarders whose binaries are there.
fwd_present() {
    local s bin present= missing=
    for s in $FWD_SERVERS; do
        case $s in
        haproxy | haproxy_splice) bin=$HAPROXY ;; rinetd) bin=$RINETD ;; socat) bin=$SOCAT ;;
        *) bin=x ;;
        esac
        if [ -n "$bin" ]; then present="$present $s"; else missing="$missing $s"; fi
    done
    FWD_SERVERS=$present
    [ -n "$missing" ] && NOTES+=("Forwarders not measured (run \`make bench-deps\`):$missing.")
}

fwd_start_backend() {
    : > "$TMP/fwd-backend.log"
    "${PIN_SRV[@]}" "$REF" -l "echo=$FWD_BACKEND" 2>>"$TMP/fwd-backend.log" &
    FWD_BACKEND_PIDS=($!)
    ALL_PIDS+=($!)
    wait_log "$TMP/fwd-backend.log" "refserver: ready" 60
}

fwd_stop_backend() {
    [ ${#FWD_BACKEND_PIDS[@]} -gt 0 ] && stop_pids "${FWD_BACKEND_PIDS[@]}"
    FWD_BACKEND_PIDS=()
}

# Start forwarder NAME (fwd_NAME): sets SRV_PIDS and A_ECHO, its address.
fwd_start() {
    local s=${1#fwd_} p
    p=$(fwd_port "$s")
    A_ECHO=tcp://127.0.0.1:$p
    : > "$TMP/fwd-$s.log"
    case $s in
    direct)
        "${PIN_SRV[@]}" "$REF" -l "echo=$A_ECHO" 2>>"$TMP/fwd-$s.log" &
        ;;
    superd)
        cat > "$TMP/fwd-superd.ini" <<EOF
[superd]
plugin_dir = $BIN/plugins
workers = 1
shutdown_timeout = 1s
[fwd]
plugin = forward
listen = $A_ECHO
to = $FWD_BACKEND
EOF
        "${PIN_SRV[@]}" "$SUPERD" -c "$TMP/fwd-superd.ini" 2>>"$TMP/fwd-$s.log" &
        ;;
    haproxy | haproxy_splice)
        cat > "$TMP/fwd-$s.cfg" <<EOF
global
    # haproxy raises RLIMIT_NOFILE to 2 maxconn + 14 (and a pipe per 4 for splice):
    # within a hard limit of 20,000
    maxconn 7000
    nbthread 1
defaults
    mode tcp
    timeout connect 5s
    timeout client 5m
    timeout server 5m
$( [ "$s" = haproxy_splice ] && echo "    option splice-auto")
listen fwd
    bind 127.0.0.1:$p
    server backend ${FWD_BACKEND#tcp://}
EOF
        LD_LIBRARY_PATH=$LIBDIR "${PIN_SRV[@]}" "$HAPROXY" -db -f "$TMP/fwd-$s.cfg" \
            >>"$TMP/fwd-$s.log" 2>&1 &
        ;;
    rinetd)
        echo "127.0.0.1 $p 127.0.0.1 ${FWD_BACKEND##*:}" > "$TMP/fwd-rinetd.conf"
        "${PIN_SRV[@]}" "$RINETD" -f -c "$TMP/fwd-rinetd.conf" >>"$TMP/fwd-$s.log" 2>&1 &
        ;;
    socat)
        "${PIN_SRV[@]}" "$SOCAT" "TCP-LISTEN:$p,bind=127.0.0.1,fork,reuseaddr,backlog=4096" \
            "TCP:${FWD_BACKEND#tcp://}" >>"$TMP/fwd-$s.log" 2>&1 &
        ;;
    esac
    SRV_PIDS=($!)
    ALL_PIDS+=($!)
    wait_port "$A_ECHO" || { note "forwarder $s did not start:"; tail -5 "$TMP/fwd-$s.log" >&2; return 1; }
}

# name | loadgen arguments
FWD_MEASUREMENTS=(
    "fwd_echo64|-m echo -c 64 -s 64"
    "fwd_connect|-m connect -c 32 -s 64 -S 64"
    "fwd_stream|-m stream -c 4 -s 65536"
)

# One round: the backend and every forwarder, each measurement against
# each forwarder in turn (the order turning by one each round).
fwd_round() {
    side_round fwd "$FWD_SERVERS" fwd_start fwd_start_backend fwd_stop_backend A_FWD \
        FWD_MEASUREMENTS "the forwarding backend"
}

# Memory per idle forwarded connection, once per forwarder.
fwd_idle() {
    local s
    [ -n "$FWD_SERVERS" ] || return 0
    fwd_start_backend || { fwd_stop_backend; return 1; }
    for s in $FWD_SERVERS; do
        measure_idle "fwd_$s" "$([ "$s" = socat ] && echo "$FWD_SOCAT_IDLE" || echo "$FWD_IDLE")" 64
    done
    fwd_stop_backend
}

# A cell: value, then its ratio to the ceiling's.  fcell SERVER MEAS FIELD KIND
fcell() {
    local s=$1 m=$2 f=$3 kind=$4 v r out
    v=$(med "fwd_$s" "$m" "$f")
    [ -z "$v" ] && { echo "—"; return; }
    r=$(med fwd_direct "$m" "$f")
    case $kind in
    int) out=$(fmt "$v") ;;
    mb) out=$(fmt "$v" 1) ;;
    us) out=$(fmt_us "$v") ;;
    B) echo "$(fmt "$v") B"; return ;;
    esac
    [ "$s" != direct ] && out="$out$(ratio "$v" "$r")"
    echo "$out"
}

fwd_report() {
    local s o v sv
    [ -n "$FWD_SERVERS" ] || return 0
    echo "### Forwarding: client → forwarder → echo backend"
    echo
    echo "The backend is a refserver echo of its own, on the servers' CPUs; server CPU is"
    echo "the forwarder's alone (all its processes, socat's forked children included)."
    echo "Echo 64 B: \`-m echo -c 64 -s 64\` (64 persistent connections); new connections:"
    echo "\`-m connect -c 32 -s 64 -S 64\` (connect, echo 64 B, close); bulk:"
    echo "\`-m stream -c 4 -s 65536\` (both ways at once, every byte checked; MB/s counts"
    echo "one direction); idle: $FWD_IDLE connections ($FWD_SOCAT_IDLE to socat, a process"
    echo "each) held through the forwarder, each having echoed one byte (RSS: the"
    echo "forwarder's growth; MemAvailable: the machine's drop less the load generator's"
    echo "memory, so the kernel's part of all four sockets and the backend's are in it;"
    echo "noisy on a busy machine).  In parentheses: the ratio to the client straight to"
    echo "the backend."
    echo
    echo "| forwarder | echo 64 B, req/s | CPU µs per request | new connections/s | CPU µs per connection | bulk MB/s | CPU µs per MB | idle: RSS per connection | idle: MemAvailable drop per connection |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for s in $FWD_SERVERS; do
        echo "| $(fwd_label "$s") | $(fcell "$s" fwd_echo64 ops_s int) | $(fcell "$s" fwd_echo64 srv_cpu_us_op us)" \
             "| $(fcell "$s" fwd_connect ops_s int) | $(fcell "$s" fwd_connect srv_cpu_us_op us)" \
             "| $(fcell "$s" fwd_stream mb_s mb) | $(fcell "$s" fwd_stream srv_cpu_us_mb us)" \
             "| $(fcell "$s" idle rss_per_conn B) | $(fcell "$s" idle mem_per_conn B) |"
    done
    echo
    [[ " $FWD_SERVERS " == *" superd "* ]] || return 0
    echo "superd forward ÷ each (CPU and memory: lower is better for superd; rates: higher is)."
    echo
    echo "| superd ÷ | req/s | CPU per request | connections/s | CPU per connection | bulk MB/s | CPU per MB | idle RSS | idle MemAvailable |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for o in $FWD_SERVERS; do
        case $o in superd | direct) continue ;; esac
        echo -n "| $o"
        for v in "fwd_echo64 ops_s" "fwd_echo64 srv_cpu_us_op" "fwd_connect ops_s" \
                 "fwd_connect srv_cpu_us_op" "fwd_stream mb_s" "fwd_stream srv_cpu_us_mb" \
                 "idle rss_per_conn" "idle mem_per_conn"; do
            # shellcheck disable=SC2086
            set -- $v
            sv=$(med fwd_superd "$1" "$2")
            echo -n " | $(ratio_of "$sv" "$(med "fwd_$o" "$1" "$2")")"
        done
        echo " |"
    done
    echo
}

# The forwarding section of RESULTS.md, with its own date and run line (a
# run may measure only these: BENCH_SERVERS=none).
fwd_section() {
    local n v cmd=
    for v in BENCH_SERVERS BENCH_FORWARD BENCH_ROUNDS BENCH_DURATION BENCH_FWD_IDLE BENCH_PIN; do
        [ -n "${!v:-}" ] && cmd="$cmd$v=${!v} "
    done
    echo "## Forwarding side by side ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "Machine: $(machine_line)."
    echo "Run: \`${cmd}make bench\`, rounds: $ROUNDS, $DUR per measurement, medians;"
    echo "took ${ELAPSED} s in all."
    for n in "${NOTES[@]}"; do
        echo "$n"
    done
    echo
    fwd_report
}
