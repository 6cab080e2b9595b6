#!/bin/bash
# bench/run.sh - the side-by-side benchmark behind `make bench`.
#
# Starts the servers on high loopback ports (the ceiling, superd with
# workers = 1 and with the default workers = auto, and the anchors that
# `make bench-deps` unpacked into bench/deps/), runs each measurement with
# build/bench/loadgen against each server in turn, stops them, and does
# that BENCH_ROUNDS times; prints medians as tables and writes them to
# bench/RESULTS.md.  Then memory per idle connection and start-up time.
# Nothing here asserts a timing: it measures and reports.
#
# Environment: BENCH_DURATION (per measurement, default 1s), BENCH_ROUNDS
# (3), BENCH_IDLE (idle connections for superd and the ceiling, 10000),
# BENCH_ANCHOR_IDLE (for the forking anchors, one process each, 1000),
# BENCH_SERVERS (which to run, default all that are present),
# BENCH_RESULTS (the file to write instead of bench/RESULTS.md), BENCH_PIN
# (0: do not pin the load generator and the servers to separate CPUs).
set -u

. "$(dirname "$0")/common.sh"
enter_namespaces "$0" "$@"

DUR=${BENCH_DURATION:-1s}
ROUNDS=${BENCH_ROUNDS:-3}
IDLE=${BENCH_IDLE:-10000}
ANCHOR_IDLE=${BENCH_ANCHOR_IDLE:-1000}
SERVERS=${BENCH_SERVERS:-ref superd1 superd xinetd obsd inetutils tcpserver}
# BENCH_SERVERS=none: only the forwarding rows (BENCH_FORWARD, bench/forward.sh).
[ "$SERVERS" = none ] && SERVERS=
T0=$(date +%s)

setup_loopback || exit 1
mkdir -p "$BIN/bench"
# One benchmark at a time: two would share the CPUs and measure each other.
exec 9>"$BIN/bench/.lock"
if ! flock -n 9; then
    note "another make bench is running (it holds $BUILD/bench/.lock): try again when it ends"
    exit 1
fi
setup_tmp
RAW=$TMP/raw.txt
: > "$RAW"
for f in "$LG" "$REF" "$SUPERD"; do
    [ -x "$f" ] || { note "$f is missing: run make bench"; exit 1; }
done

# Room for 10,000 connections on each side, and a 1,000-listener superd.
ulimit -Hn 1048576 2>/dev/null
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

# CPU the whole machine spent outside idle (user, nice, system), and what
# this run's own processes spent: the difference is other work, which
# makes every figure noisier.
busy_ticks() {
    # user nice system irq softirq: a process's own time includes the
    # softirq work done in its context, which /proc/stat counts apart.
    awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat
}
own_ticks() {
    "$LG" -m tree -p $$ | sed -n 's/.*cpu_ticks=\([0-9]*\).*/\1/p'
}
BUSY0=$(busy_ticks)
OWN0=$(own_ticks)
# Which superd was measured; a rebuild during the run would mix two.
superd_id() {
    echo "$(sha256sum "$SUPERD" | cut -c1-12), built $(date -u -r "$SUPERD" '+%Y-%m-%d %H:%M:%S UTC')"
}
SUPERD_ID0=$(superd_id)

NOTES=()
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)
if awk -v l="${LOAD%% *}" 'BEGIN { exit !(l > 0.5) }'; then
    note "warning: the machine is busy (load average $LOAD): the figures will be noisy"
    NOTES+=("Load average at the start: $LOAD: other work was running, so the figures are noisier than they should be.")
else
    NOTES+=("Load average at the start: $LOAD.")
fi
case $SUPERD_BENCH_NS in
private) ;;
host) NOTES+=("Not in a private network namespace (unshare was refused): measured on the host's loopback.") ;;
*) NOTES+=("In a private network namespace ($SUPERD_BENCH_NS), without mount and PID namespaces.") ;;
esac

# ---- the anchors, from bench/deps/ ----

LIBDIR=$(dirname "$(find "$DEPS" -name 'libwrap.so.0' 2>/dev/null | head -1)" 2>/dev/null)
anchor_bin() {
    local b=$DEPS/$1
    [ -x "$b" ] || return 1
    if LD_LIBRARY_PATH=$LIBDIR ldd "$b" 2>/dev/null | grep -q 'not found'; then
        return 1
    fi
    echo "$b"
}

# The inetds find their built-in services by name (echo, discard, daytime),
# so each runs in a mount namespace of its own where /etc/services maps
# those names to its high ports, and /run (where openbsd-inetd writes its
# pid file) is a private tmpfs.  Nothing outside that process sees either.
PRIVATE_MOUNTS=
if unshare --mount sh -c 'mount -t tmpfs tmpfs /mnt' 2>/dev/null && [ -f /etc/services ]; then
    PRIVATE_MOUNTS=1
fi
# with_services FILE COMMAND...: exec COMMAND there (so that the pid of a
# backgrounded `with_services ... &` is the server's own).
with_services() {
    local services=$1
    shift
    exec unshare --mount sh -c \
        'mount --bind "$0" /etc/services && mount -t tmpfs tmpfs /run && exec "$@"' \
        "$services" "$@"
}
write_services() {
    local b=$2
    printf 'echo\t%d/tcp\necho\t%d/udp\ndiscard\t%d/tcp\ndiscard\t%d/udp\ndaytime\t%d/tcp\ndaytime\t%d/udp\nexeccat\t%d/tcp\n' \
        $((b + 7)) $((b + 7)) $((b + 9)) $((b + 9)) $((b + 13)) $((b + 13)) $((b + 17)) > "$1"
}

start_xinetd() {
    local b=$1 name=xinetd svc
    set_addrs "$name" "$b"
    A_ECHO6='' A_UNIX='' A_UDP6='' A_UDGRAM=''
    {
        cat <<EOF
defaults
{
	instances	= UNLIMITED
	per_source	= UNLIMITED
	cps		= 100000000 1
	log_type	= FILE /dev/null
	log_on_success	=
	log_on_failure	=
}
EOF
        for svc in "echo stream tcp no $((b + 7))" "echo dgram udp yes $((b + 7))" \
                   "discard stream tcp no $((b + 9))" "daytime stream tcp no $((b + 13))"; do
            set -- $svc
            cat <<EOF
service $1
{
	type		= INTERNAL UNLISTED
	id		= $1-$2
	socket_type	= $2
	protocol	= $3
	wait		= $4
	user		= root
	port		= $5
	bind		= 127.0.0.1
}
EOF
        done
        # The exec row: /bin/cat per connection, as superd's [execcat].
        cat <<EOF
service execcat
{
	type		= UNLISTED
	socket_type	= stream
	protocol	= tcp
	wait		= no
	user		= root
	server		= /bin/cat
	port		= $((b + 17))
	bind		= 127.0.0.1
}
EOF
    } > "$TMP/xinetd.conf"
    LD_LIBRARY_PATH=$LIBDIR "${PIN_SRV[@]}" "$XINETD" -f "$TMP/xinetd.conf" -dontfork -stayalive \
        -pidfile "$TMP/xinetd.pid" >>"$TMP/$name.log" 2>&1 &
    SRV_PIDS=($!)
    ALL_PIDS+=($!)
    wait_port "$A_ECHO"
}

# openbsd-inetd never answers UDP from 127.0.0.0/8 (its loop guard), so its
# UDP echo is measured over IPv6.
start_obsd() {
    local b=$1 name=obsd
    set_addrs "$name" "$b"
    A_ECHO6='' A_UNIX='' A_UDGRAM=''
    A_UDP=$A_UDP6 A_UDP6=''
    write_services "$TMP/$name.services" "$b"
    cat > "$TMP/$name.conf" <<EOF
127.0.0.1:echo	stream	tcp	nowait.100000000	root	internal
[::1]:echo	dgram	udp6	wait	root	internal
127.0.0.1:discard	stream	tcp	nowait.100000000	root	internal
127.0.0.1:daytime	stream	tcp	nowait.100000000	root	internal
127.0.0.1:execcat	stream	tcp	nowait.100000000	root	/bin/cat	cat
EOF
    with_services "$TMP/$name.services" "${PIN_SRV[@]}" env LD_LIBRARY_PATH="$LIBDIR" "$OBSD" -i \
        -R 100000000 -q 4096 "$TMP/$name.conf" >>"$TMP/$name.log" 2>&1 &
    SRV_PIDS=($!)
    ALL_PIDS+=($!)
    wait_port "$A_ECHO"
}

start_inetutils() {
    local b=$1 name=inetutils i
    set_addrs "$name" "$b"
    A_ECHO6='' A_UNIX='' A_UDP6='' A_UDGRAM=''
    A_EXECCAT=''
    write_services "$TMP/$name.services" "$b"
    cat > "$TMP/$name.conf" <<EOF
127.0.0.1:echo	stream	tcp	nowait	root	internal
127.0.0.1:echo	dgram	udp	wait	root	internal
127.0.0.1:discard	stream	tcp	nowait	root	internal
127.0.0.1:daytime	stream	tcp	nowait	root	internal
EOF
    # It detaches (its -d would log every connection): the pid file names it.
    # Its throttle is lifted with -R (a per-service "nowait.N" as large
    # would throttle it instead).
    rm -f "$TMP/$name.pid"
    (with_services "$TMP/$name.services" "${PIN_SRV[@]}" "$INETUTILS" -R 100000000 \
        --pidfile="$TMP/$name.pid" "$TMP/$name.conf" >>"$TMP/$name.log" 2>&1)
    for i in $(seq 1 250); do
        [ -s "$TMP/$name.pid" ] && break
        sleep 0.02
    done
    SRV_PIDS=($(cat "$TMP/$name.pid" 2>/dev/null))
    [ ${#SRV_PIDS[@]} -gt 0 ] || return 1
    ALL_PIDS+=("${SRV_PIDS[@]}")
    wait_port "$A_ECHO"
}

# tcpserver runs a program per connection: cat for echo, dd for discard,
# date for daytime.  -c lifts the 40-connection limit, -b the backlog of 20;
# -H -R -l 0: no DNS or ident look-ups.
start_tcpserver() {
    local b=$1 name=tcpserver
    set_addrs "$name" "$b"
    A_ECHO6='' A_UNIX='' A_UDP='' A_UDP6='' A_UDGRAM=''
    # Its echo is cat already: the exec row measures the same service.
    A_EXECCAT=$A_ECHO
    SRV_PIDS=()
    "${PIN_SRV[@]}" "$TCPSERVER" -c 20000 -b 4096 -H -R -l 0 127.0.0.1 $((b + 7)) cat >>"$TMP/$name.log" 2>&1 &
    SRV_PIDS+=($!)
    "${PIN_SRV[@]}" "$TCPSERVER" -c 20000 -b 4096 -H -R -l 0 127.0.0.1 $((b + 9)) \
        dd of=/dev/null bs=64k status=none >>"$TMP/$name.log" 2>&1 &
    SRV_PIDS+=($!)
    "${PIN_SRV[@]}" "$TCPSERVER" -c 20000 -b 4096 -H -R -l 0 127.0.0.1 $((b + 13)) date >>"$TMP/$name.log" 2>&1 &
    SRV_PIDS+=($!)
    ALL_PIDS+=("${SRV_PIDS[@]}")
    wait_port "$A_ECHO" && wait_port "$A_DISCARD" && wait_port "$A_DAYTIME"
}

XINETD=$(anchor_bin usr/sbin/xinetd)
OBSD=$(anchor_bin usr/sbin/inetd)
INETUTILS=$(anchor_bin usr/sbin/inetutils-inetd)
TCPSERVER=$(anchor_bin usr/bin/tcpserver)
if [ -z "$PRIVATE_MOUNTS" ]; then
    [ -n "$OBSD$INETUTILS" ] && NOTES+=("openbsd-inetd and inetutils-inetd skipped: their built-in services need a private /etc/services (a mount namespace), which was refused.")
    OBSD='' INETUTILS=
fi
present=
missing=
for s in $SERVERS; do
    case $s in
    xinetd) bin=$XINETD ;; obsd) bin=$OBSD ;; inetutils) bin=$INETUTILS ;;
    tcpserver) bin=$TCPSERVER ;; *) bin=x ;;
    esac
    if [ -n "$bin" ]; then present="$present $s"; else missing="$missing $s"; fi
done
SERVERS=${present# }
[ -n "$missing" ] && NOTES+=("Not measured (run \`make bench-deps\` to unpack the anchors):$missing.")

label() {
    case $1 in
    ref) echo "ceiling (refserver)" ;;
    superd1) echo "superd, workers = 1" ;;
    superd) echo "superd, workers = auto ($(nproc))" ;;
    xinetd) echo "xinetd $(dpkg-deb -f "$BENCH_DIR"/deps/debs/xinetd_*.deb Version 2>/dev/null)" ;;
    obsd) echo "openbsd-inetd" ;;
    inetutils) echo "inetutils-inetd" ;;
    tcpserver) echo "tcpserver (ucspi-tcp)" ;;
    esac
}

base_of() {
    case $1 in
    ref) echo 20100 ;; superd1) echo 20200 ;; superd) echo 20300 ;; xinetd) echo 20400 ;;
    obsd) echo 20500 ;; inetutils) echo 20600 ;; tcpserver) echo 20700 ;;
    esac
}

# On two cores or more, the load generator gets CPU 0 and each server the
# others, so neither runs on the other's core (BENCH_PIN=0: no pinning).
# superd with workers = auto stays unpinned: that is its default.
PIN_LG=()
PIN_SRV=()
if [ "${BENCH_PIN:-1}" != 0 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
    PIN_LG=(taskset -c 0)
    PIN_SRV=(taskset -c "1-$(($(nproc) - 1))")
    NOTES+=("Load generator pinned to CPU 0, each server to CPUs 1-$(($(nproc) - 1)) (superd with workers = auto unpinned: its default).")
fi

start_server() {
    local s=$1 b
    b=$(base_of "$s")
    case $s in
    ref) start_ref ref "$b" "${PIN_SRV[@]}" ;;
    superd1) start_superd superd1 "$b" 1 "${PIN_SRV[@]}" ;;
    superd) start_superd superd "$b" "" ;;
    xinetd) start_xinetd "$b" ;;
    obsd) start_obsd "$b" ;;
    inetutils) start_inetutils "$b" ;;
    tcpserver) start_tcpserver "$b" ;;
    fwd_*) fwd_start "$s" ;;
    tls_*) tls_start "$s" ;;
    esac
}

. "$BENCH_DIR/forward.sh"
fwd_present
. "$BENCH_DIR/tls.sh"
tls_present

# Every server of a round runs at once, each on its own ports; what one
# needs to be measured is kept here by server name.
declare -A ADDR PIDS

start_all() {
    local s v
    LIVE=
    for s in $SERVERS; do
        if ! start_server "$s"; then
            note "round $ROUND: $s did not start; skipped"
            stop_server
            continue
        fi
        for v in A_ECHO A_ECHO6 A_UNIX A_UDP A_UDP6 A_UDGRAM A_DISCARD A_DAYTIME A_EXECCAT; do
            ADDR[$s|$v]=${!v}
        done
        PIDS[$s]="${SRV_PIDS[*]}"
        LIVE="$LIVE $s"
    done
}

stop_all() {
    local s pids=()
    for s in $LIVE; do
        # shellcheck disable=SC2206
        pids+=(${PIDS[$s]})
    done
    [ ${#pids[@]} -gt 0 ] && stop_pids "${pids[@]}"
    LIVE=
}

# One measurement: measure SERVER NAME ADDRESS-VARIABLE LOADGEN-ARGS...;
# appends its line to the raw file.  An address the server does not serve
# is skipped.
measure() {
    local s=$1 m=$2 addr=${ADDR[$1|$3]:-} line p t pids=()
    shift 3
    [ -n "$addr" ] || return 0
    for p in ${PIDS[$s]}; do
        pids+=(-p "$p")
    done
    t=$(date +%s%N)
    line=$("${PIN_LG[@]}" "$LG" -d "$DUR" -l "round=$ROUND server=$s meas=$m" -a "$addr" \
           "${pids[@]}" "$@" 2>>"$TMP/loadgen.err")
    [ -n "$line" ] && echo "$line wall_ms=$((($(date +%s%N) - t) / 1000000))" >> "$RAW"
}

# name | address | loadgen arguments | servers (empty: all)
MEASUREMENTS=(
    "echo64|A_ECHO|-m echo -c 64 -s 64|"
    "echo16k|A_ECHO|-m echo -c 4 -s 16384|"
    "connect|A_ECHO|-m connect -c 32 -s 64 -S 64|"
    "udp|A_UDP|-m udp -c 4 -w 32 -s 64|"
    "daytime|A_DAYTIME|-m daytime -c 32 -S 64|"
    "execcat|A_EXECCAT|-m connect -c 32 -s 64 -S 64|ref superd1 superd xinetd obsd tcpserver"
    "discard|A_DISCARD|-m discard -c 4 -s 65536|"
    "stream|A_ECHO|-m stream -c 4 -s 65536|"
    "echo64_tcp6|A_ECHO6|-m echo -c 64 -s 64|ref superd1"
    "echo64_unix|A_UNIX|-m echo -c 64 -s 64|ref superd1"
    "udp6|A_UDP6|-m udp -c 4 -w 32 -s 64|ref superd1"
    "unixdgram|A_UDGRAM|-m udp -c 4 -w 32 -s 64|ref superd1"
)

# A round: start every server, then each measurement against each server
# back to back (the order of the servers turns by one each round, so none
# is always first), then stop them all.
run_round() {
    local spec m var args only s order=() i n
    start_all
    # shellcheck disable=SC2206
    local live=($LIVE)
    n=${#live[@]}
    for ((i = 0; i < n; i++)); do
        order+=("${live[$(((i + ROUND - 1) % n))]}")
    done
    for spec in "${MEASUREMENTS[@]}"; do
        IFS='|' read -r m var args only <<< "$spec"
        for s in "${order[@]}"; do
            if [ -n "$only" ] && [[ " $only " != *" $s "* ]]; then
                continue
            fi
            # shellcheck disable=SC2086
            measure "$s" "$m" "$var" $args
        done
    done
    stop_all
}

# ---- memory per idle connection ----

# Sum of VmRSS (KiB) of the server's processes and their descendants.
tree_rss() {
    local p args=()
    for p in "${SRV_PIDS[@]}"; do
        args+=(-p "$p")
    done
    "$LG" -m tree "${args[@]}" | sed -n 's/.*rss_kb=\([0-9]*\).*/\1/p'
}

# The median of three readings of a /proc/meminfo field, 0.1 s apart:
# other work on the machine moves these.
meminfo3() {
    local i
    for i in 1 2 3; do
        awk -v k="$1:" '$1 == k { print $2 }' /proc/meminfo
        [ "$i" -lt 3 ] && sleep 0.1
    done | sort -n | sed -n 2p
}

# measure_idle SERVER N CONCURRENCY: N idle connections (each echoes one
# byte first, so the server has surely accepted and served it), then RSS
# and MemAvailable.
measure_idle() {
    local s=$1 n=$2 conc=$3 rss0 rss1 mem0 mem1 slab0 slab1 lgpid lganon line i
    start_server "$s" || { stop_server; return 1; }
    sleep 0.3
    rss0=$(tree_rss)
    mem0=$(meminfo3 MemAvailable)
    slab0=$(meminfo3 Slab)
    rm -f "$TMP/idle.ready"
    # Bounded: a server that stops accepting costs at most 30 s.
    "${PIN_LG[@]}" "$LG" -m idle -a "$A_ECHO" -n "$n" -c "$conc" -s 1 -S 64 -d 30s \
        -R "$TMP/idle.ready" \
        -l "round=$ROUND server=$s meas=idle" > "$TMP/idle.out" 2>>"$TMP/loadgen.err" &
    lgpid=$!
    ALL_PIDS+=($lgpid)
    for i in $(seq 1 1500); do
        [ -f "$TMP/idle.ready" ] && break
        kill -0 "$lgpid" 2>/dev/null || break
        sleep 0.02
    done
    sleep 0.5
    rss1=$(tree_rss)
    mem1=$(meminfo3 MemAvailable)
    slab1=$(meminfo3 Slab)
    lganon=$(awk '/^RssAnon:/ { print $2 }' "/proc/$lgpid/status" 2>/dev/null)
    kill -TERM "$lgpid" 2>/dev/null
    wait "$lgpid" 2>/dev/null
    line=$(cat "$TMP/idle.out")
    echo "$line rss0_kb=$rss0 rss1_kb=$rss1 memavail0_kb=$mem0 memavail1_kb=$mem1 slab0_kb=$slab0 slab1_kb=$slab1 loadgen_anon_kb=${lganon:-0}" >> "$RAW"
    stop_server
}

# ---- start-up with 1,000 listeners ----

write_big_conf() {
    local f=$1 workers=$2 i p plugin
    {
        echo "[superd]"
        echo "plugin_dir = $BIN/plugins"
        [ -n "$workers" ] && echo "workers = $workers"
        echo "shutdown_timeout = 1s"
        # 100 services of 10 listeners: superd counts (and limits) at most
        # 128 services (docs/configuration.md).
        for i in $(seq 0 99); do
            p=$((30000 + i)); q=$((30200 + i))
            case $((i % 3)) in 0) plugin="echo" ;; 1) plugin="discard" ;; 2) plugin="daytime" ;; esac
            echo "[svc$i]"
            echo "plugin = $plugin"
            echo "listen = tcp://127.0.0.1:$p tcp://[::1]:$p udp://127.0.0.1:$p udp://[::1]:$p"
            echo "listen = tcp://127.0.0.1:$q tcp://[::1]:$q udp://127.0.0.1:$q udp://[::1]:$q"
            echo "udp_reply_rate = off"   # see write_superd_conf
            echo "listen = unix:$TMP/big/s$i.sock unix:$TMP/big/t$i.sock"
        done
    } > "$f"
}

# The same superd (workers = 1) serving 1,000 listeners: what a datagram
# and a request cost when there are many listeners.
measure_many() {
    local pid
    "${PIN_SRV[@]}" "$SUPERD" -c "$TMP/big1.ini" 2>>"$TMP/big.log" &
    pid=$!
    ALL_PIDS+=($pid)
    PIDS[superd1big]=$pid
    ADDR[superd1big|A_ECHO]=tcp://127.0.0.1:30000
    ADDR[superd1big|A_UDP]=udp://127.0.0.1:30000
    if wait_log "$TMP/big.log" "superd: ready" 30; then
        ROUND=1
        measure superd1big echo64 A_ECHO -m echo -c 64 -s 64
        measure superd1big udp A_UDP -m udp -c 4 -w 32 -s 64
    fi
    stop_pids "$pid"
}

measure_startup() {
    local r
    mkdir -p "$TMP/big"
    write_big_conf "$TMP/big1.ini" 1
    write_big_conf "$TMP/bigauto.ini" ""
    for r in $(seq 1 "$ROUNDS"); do
        "$LG" -m spawn -r "superd: ready" -d 30s -l "round=$r server=superd1 meas=startup" \
            -- "$SUPERD" -c "$TMP/big1.ini" >> "$RAW"
        "$LG" -m spawn -r "superd: ready" -d 30s -l "round=$r server=superd meas=startup" \
            -- "$SUPERD" -c "$TMP/bigauto.ini" >> "$RAW"
        "$LG" -m spawn -d 30s -l "round=$r server=superd meas=check" \
            -- "$SUPERD" -t -c "$TMP/bigauto.ini" >> "$RAW"
    done
}

# ---- go ----

note "servers: ${SERVERS:-none}; forwarders: ${FWD_SERVERS:-none}; TLS: ${TLS_SERVERS:-none}; $ROUNDS rounds of $DUR per measurement"
for ROUND in $(seq 1 "$ROUNDS"); do
    note "round $ROUND of $ROUNDS (memory: $IDLE idle connections to superd and the ceiling)"
    run_round
    fwd_round
    tls_round
    for s in $SERVERS; do
        case $s in ref | superd1 | superd) measure_idle "$s" "$IDLE" 256 ;; esac
    done
done
note "memory: $ANCHOR_IDLE idle connections to each anchor"
ROUND=1
for s in $SERVERS; do
    case $s in
    ref | superd1 | superd) ;;
    # Forking servers with small listen backlogs (inetutils: 10): gently.
    *) measure_idle "$s" "$ANCHOR_IDLE" 8 ;;
    esac
done
note "memory: $FWD_IDLE idle connections through each forwarder"
fwd_idle
note "memory: $TLS_IDLE idle TLS connections to each TLS terminator"
tls_idle
if [ -n "$SERVERS" ]; then
    note "start-up with 1,000 listeners"
    measure_startup
    measure_many
fi
ELAPSED=$(($(date +%s) - T0))
cp "$RAW" "$BIN/bench/raw.txt"
SUPERD_ID1=$(superd_id)
NOTES+=("superd measured: $BUILD/superd sha256 $SUPERD_ID0.")
if [ "$SUPERD_ID1" != "$SUPERD_ID0" ]; then
    note "warning: $BUILD/superd was rebuilt during the run: the figures mix two builds"
    NOTES+=("Warning: $BUILD/superd was rebuilt during the run (now $SUPERD_ID1): the figures mix two builds; run it again.")
fi
OTHER=$(awk -v b="$(($(busy_ticks) - BUSY0))" -v o="$(($(own_ticks) - OWN0))" \
            -v hz="$(getconf CLK_TCK)" -v t="$ELAPSED" -v n="$(nproc)" \
            'BEGIN { s = (b - o) / hz; if (s < 0) s = 0
                     pct = t > 0 ? 100 * s / (t * n) : 0
                     printf "%.0f s of CPU (%.0f %% of the machine)", s, pct }')
NOTES+=("Other work on the machine during the run (CPU not used by the run's own processes): $OTHER.")

# ---- the tables ----

. "$BENCH_DIR/report.sh"
OUT=$TMP/report.md
if [ -n "$SERVERS" ]; then
    make_report > "$OUT"
    cat "$OUT"
    put_section bench "$OUT"
fi
if [ -n "$FWD_SERVERS" ]; then
    load_medians
    fwd_section > "$OUT"
    cat "$OUT"
    put_section forward "$OUT"
fi
if [ -n "$TLS_SERVERS" ]; then
    load_medians
    tls_section > "$OUT"
    cat "$OUT"
    put_section tls "$OUT"
fi
note "done in ${ELAPSED} s; tables written to bench/RESULTS.md, raw lines to $BUILD/bench/raw.txt"
