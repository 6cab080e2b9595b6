# bench/tls.sh - sourced by bench/run.sh: the TLS rows.
#
# client (loadgen, tls://) -> TLS terminator -> the same echo: superd's echo
# plugin on a tls:// listener (workers = 1, the echo in-process), haproxy
# (one thread, `bind ... ssl crt`, tcp mode) and stunnel4, each from
# bench/deps/ (`make bench-deps`), both in front of a refserver echo of
# their own.  TLS 1.3 with an ECDSA P-256 certificate made here (openssl
# req).  Server CPU is the terminator's alone (its processes and their
# children), not the backend's: superd's figure includes its echo.
# shellcheck shell=bash

TLS_SERVERS=${BENCH_TLS:-superd haproxy stunnel}
[ "$TLS_SERVERS" = none ] && TLS_SERVERS=
TLS_IDLE=${BENCH_TLS_IDLE:-2000}
TLS_BACKEND=tcp://127.0.0.1:21907
TLS_BACKEND_PIDS=()

STUNNEL=$(anchor_bin usr/bin/stunnel4)
TLS_HAPROXY=$(anchor_bin usr/sbin/haproxy)

tls_port() {
    case $1 in superd) echo 22207 ;; haproxy) echo 22307 ;; stunnel) echo 22407 ;; esac
}

tls_label() {
    case $1 in
    superd) echo "superd, echo plugin on tls://, workers = 1" ;;
    haproxy) echo "haproxy $(dpkg-deb -f "$BENCH_DIR"/deps/debs/haproxy_*.deb Version 2>/dev/null), ssl crt, nbthread 1 → refserver" ;;
    stunnel) echo "stunnel4 $(dpkg-deb -f "$BENCH_DIR"/deps/debs/stunnel4_*.deb Version 2>/dev/null) → refserver" ;;
    esac
}

# Keep only the terminators whose binaries are there; make the certificate.
tls_present() {
    local s bin present= missing=
    for s in $TLS_SERVERS; do
        case $s in haproxy) bin=$TLS_HAPROXY ;; stunnel) bin=$STUNNEL ;; *) bin=x ;; esac
        if [ -n "$bin" ]; then present="$present $s"; else missing="$missing $s"; fi
    done
    TLS_SERVERS=$present
    [ -n "$missing" ] && NOTES+=("TLS terminators not measured (run \`make bench-deps\`):$missing.")
    [ -n "$TLS_SERVERS" ] || return 0
    mkdir -p "$TMP/tls"
    if ! openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
            -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
            -keyout "$TMP/tls/key.pem" -out "$TMP/tls/cert.pem" 2>/dev/null; then
        note "openssl req failed: no TLS rows"
        TLS_SERVERS=
        return 0
    fi
    cat "$TMP/tls/cert.pem" "$TMP/tls/key.pem" > "$TMP/tls/both.pem"
}

tls_start_backend() {
    : > "$TMP/tls-backend.log"
    "${PIN_SRV[@]}" "$REF" -l "echo=$TLS_BACKEND" 2>>"$TMP/tls-backend.log" &
    TLS_BACKEND_PIDS=($!)
    ALL_PIDS+=($!)
    wait_log "$TMP/tls-backend.log" "refserver: ready" 60
}

tls_stop_backend() {
    [ ${#TLS_BACKEND_PIDS[@]} -gt 0 ] && stop_pids "${TLS_BACKEND_PIDS[@]}"
    TLS_BACKEND_PIDS=()
}

# Start terminator NAME (tls_NAME): sets SRV_PIDS and A_ECHO, its address.
tls_start() {
    local s=${1#tls_} p
    p=$(tls_port "$s")
    A_ECHO=tls://127.0.0.1:$p
    : > "$TMP/tls-$s.log"
    case $s in
    superd)
        cat > "$TMP/tls-superd.ini" <<EOT
[superd]
plugin_dir = $BIN/plugins
workers = 1
shutdown_timeout = 1s
[echo]
plugin = echo
listen = $A_ECHO
tls_cert = $TMP/tls/cert.pem
tls_key = $TMP/tls/key.pem
EOT
        "${PIN_SRV[@]}" "$SUPERD" -c "$TMP/tls-superd.ini" 2>>"$TMP/tls-$s.log" &
        ;;
    haproxy)
        cat > "$TMP/tls-haproxy.cfg" <<EOT
global
    maxconn 7000
    nbthread 1
    ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
    mode tcp
    timeout connect 5s
    timeout client 5m
    timeout server 5m
listen tls
    bind 127.0.0.1:$p ssl crt $TMP/tls/both.pem
    server backend ${TLS_BACKEND#tcp://}
EOT
        LD_LIBRARY_PATH=$LIBDIR "${PIN_SRV[@]}" "$TLS_HAPROXY" -db -f "$TMP/tls-haproxy.cfg" \
            >>"$TMP/tls-$s.log" 2>&1 &
        ;;
    stunnel)
        cat > "$TMP/tls-stunnel.conf" <<EOT
foreground = yes
pid =
syslog = no
debug = 3
output = $TMP/tls-stunnel.out
[echo]
accept = 127.0.0.1:$p
connect = ${TLS_BACKEND#tcp://}
cert = $TMP/tls/cert.pem
key = $TMP/tls/key.pem
sslVersionMin = TLSv1.2
EOT
        LD_LIBRARY_PATH=$LIBDIR "${PIN_SRV[@]}" "$STUNNEL" "$TMP/tls-stunnel.conf" \
            >>"$TMP/tls-$s.log" 2>&1 &
        ;;
    esac
    SRV_PIDS=($!)
    ALL_PIDS+=($!)
    wait_port "tcp://127.0.0.1:$p" || { note "TLS terminator $s did not start:"; tail -5 "$TMP/tls-$s.log" >&2; return 1; }
}

# name | loadgen arguments
TLS_MEASUREMENTS=(
    "tls_full|-m connect -c 32 -s 64 -S 64"
    "tls_resume|-m connect -c 32 -s 64 -S 64 -T"
    "tls_echo64|-m echo -c 64 -s 64"
    "tls_stream|-m stream -c 4 -s 65536"
)

# One round: the backend and every terminator, each measurement against
# each in turn (the order turning by one each round).
tls_round() {
    side_round tls "$TLS_SERVERS" tls_start tls_start_backend tls_stop_backend A_TLS \
        TLS_MEASUREMENTS "the TLS backend"
}

# Memory per idle TLS connection, once per terminator.
tls_idle() {
    local s
    [ -n "$TLS_SERVERS" ] || return 0
    tls_start_backend || { tls_stop_backend; return 1; }
    for s in $TLS_SERVERS; do
        measure_idle "tls_$s" "$TLS_IDLE" 64
    done
    tls_stop_backend
}

# A cell: tcell SERVER MEAS FIELD KIND
tcell() {
    local v
    v=$(med "tls_$1" "$2" "$3")
    [ -z "$v" ] && { echo "—"; return; }
    case $4 in
    int) fmt "$v" ;;
    mb) fmt "$v" 1 ;;
    us) fmt_us "$v" ;;
    B) echo "$(fmt "$v") B" ;;
    esac
}

tls_report() {
    local s o v sv
    [ -n "$TLS_SERVERS" ] || return 0
    echo "### TLS: client → TLS terminator → echo"
    echo
    echo "TLS 1.3 (the client's and every server's default), ECDSA P-256 certificate, X25519."
    echo "superd serves the echo itself (its plugin); haproxy and stunnel4 pass the plaintext"
    echo "to a refserver echo of their own, whose CPU is not counted.  Full handshakes:"
    echo "\`-m connect -c 32 -s 64 -S 64\` on tls:// (connect, full handshake, echo 64 B,"
    echo "close_notify, close); resumed: the same with \`-T\` (each slot offers the session"
    echo "its last connection got: a TLS 1.3 ticket); echo 64 B: \`-m echo -c 64 -s 64\` on 64"
    echo "persistent TLS connections; bulk: \`-m stream -c 4 -s 65536\` (both ways, every byte"
    echo "checked; MB/s one way); idle: $TLS_IDLE TLS connections held, each having echoed one"
    echo "byte (RSS: the terminator's growth; MemAvailable: the machine's drop less the load"
    echo "generator's memory, so the kernel's part and the backend's are in it)."
    echo
    echo "| terminator | full handshakes/s | CPU µs per handshake | resumed/s | % resumed | CPU µs per resumed | echo 64 B req/s | CPU µs per request | bulk MB/s | CPU µs per MB | idle: RSS per conn | idle: MemAvailable drop per conn |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    for s in $TLS_SERVERS; do
        local pct=—
        v=$(med "tls_$s" tls_resume resumed)
        sv=$(med "tls_$s" tls_resume ops)
        [ -n "$v" ] && [ -n "$sv" ] && pct=$(awk -v a="$v" -v b="$sv" 'BEGIN { if (b > 0) printf "%.0f %%", 100 * a / b }')
        echo "| $(tls_label "$s") | $(tcell "$s" tls_full ops_s int) | $(tcell "$s" tls_full srv_cpu_us_op us)" \
             "| $(tcell "$s" tls_resume ops_s int) | $pct | $(tcell "$s" tls_resume srv_cpu_us_op us)" \
             "| $(tcell "$s" tls_echo64 ops_s int) | $(tcell "$s" tls_echo64 srv_cpu_us_op us)" \
             "| $(tcell "$s" tls_stream mb_s mb) | $(tcell "$s" tls_stream srv_cpu_us_mb us)" \
             "| $(tcell "$s" idle rss_per_conn B) | $(tcell "$s" idle mem_per_conn B) |"
    done
    echo
    [[ " $TLS_SERVERS " == *" superd "* ]] || return 0
    echo "superd ÷ each (CPU and memory: lower is better for superd; the issue asks ≤ 1.0× haproxy's"
    echo "CPU and idle memory, ≤ 0.7× stunnel's CPU)."
    echo
    echo "| superd ÷ | CPU per handshake | CPU per resumed | CPU per request | CPU per MB | idle RSS | idle MemAvailable | handshakes/s | req/s | MB/s |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    for o in $TLS_SERVERS; do
        [ "$o" = superd ] && continue
        echo -n "| $o"
        for v in "tls_full srv_cpu_us_op" "tls_resume srv_cpu_us_op" "tls_echo64 srv_cpu_us_op" \
                 "tls_stream srv_cpu_us_mb" "idle rss_per_conn" "idle mem_per_conn" \
                 "tls_full ops_s" "tls_echo64 ops_s" "tls_stream mb_s"; do
            # shellcheck disable=SC2086
            set -- $v
            sv=$(med tls_superd "$1" "$2")
            echo -n " | $(ratio_of "$sv" "$(med "tls_$o" "$1" "$2")")"
        done
        echo " |"
    done
    echo
}

# The TLS section of RESULTS.md, with its own date and run line.
tls_section() {
    local n v cmd=
    for v in BENCH_SERVERS BENCH_FORWARD BENCH_TLS BENCH_ROUNDS BENCH_DURATION BENCH_TLS_IDLE BENCH_PIN; do
        [ -n "${!v:-}" ] && cmd="$cmd$v=${!v} "
    done
    echo "## TLS side by side ($(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "Machine: $(machine_line)."
    echo "Run: \`${cmd}make bench\`, rounds: $ROUNDS, $DUR per measurement, medians;"
    echo "took ${ELAPSED} s in all."
    for n in "${NOTES[@]}"; do
        echo "$n"
    done
    echo
    tls_report
}
