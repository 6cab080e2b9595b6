# bench/report.sh - sourced by bench/run.sh: medians of the raw loadgen
# lines, printed as the Markdown tables of bench/RESULTS.md.
# shellcheck shell=bash

# "server meas field" -> median over the rounds, for every numeric field;
# idle lines also get per-connection figures.
declare -A M
load_medians() {
    local k v
    while read -r k v; do
        M[$k]=$v
    done < <(awk '
        {
            delete f
            for (i = 1; i <= NF; i++) {
                eq = index($i, "=")
                if (eq) f[substr($i, 1, eq - 1)] = substr($i, eq + 1)
            }
            if (!("server" in f) || !("meas" in f)) next
            if (f["meas"] == "idle" && f["ops"] > 0) {
                f["rss_per_conn"] = (f["rss1_kb"] - f["rss0_kb"]) * 1024 / f["ops"]
                f["mem_per_conn"] = (f["memavail0_kb"] - f["memavail1_kb"] - f["loadgen_anon_kb"]) * 1024 / f["ops"]
                f["slab_per_conn"] = (f["slab1_kb"] - f["slab0_kb"]) * 1024 / f["ops"]
            }
            if (f["meas"] == "udp" || f["meas"] == "udp6" || f["meas"] == "unixdgram")
                f["lost_pct"] = (f["ops"] + f["lost"]) > 0 ? 100 * f["lost"] / (f["ops"] + f["lost"]) : 0
            for (k in f) {
                if (k == "server" || k == "meas" || k == "round" || k == "target" || k == "mode") continue
                key = f["server"] " " f["meas"] " " k
                n[key]++
                v[key, n[key]] = f[k] + 0
            }
        }
        END {
            for (key in n) {
                c = n[key]
                for (i = 1; i <= c; i++) a[i] = v[key, i]
                for (i = 2; i <= c; i++) {       # insertion sort: c is small
                    x = a[i]
                    for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]
                    a[j + 1] = x
                }
                med = c % 2 ? a[(c + 1) / 2] : (a[c / 2] + a[c / 2 + 1]) / 2
                print key, med
                print key "_min", a[1]
                print key "_max", a[c]
            }
        }' "$RAW" | awk '{ k = $1 " " $2 " " $3; print k "\t" $4 }' | tr ' ' '|')
}

med() { echo "${M[$1|$2|$3]:-}"; }

# 1234567.8 -> 1,234,568 (or with $2 decimals)
fmt() {
    local v=$1 d=${2:-0}
    [ -z "$v" ] && { echo "—"; return; }
    LC_ALL=C printf "%.${d}f" "$v" | sed -E ':a;s/^(-?[0-9]+)([0-9]{3})/\1,\2/;ta'
}

# Digits worth showing for a CPU time in µs.
fmt_us() {
    local v=$1
    [ -z "$v" ] && { echo "—"; return; }
    if awk -v v="$v" 'BEGIN { exit !(v >= 100) }'; then fmt "$v" 0
    elif awk -v v="$v" 'BEGIN { exit !(v >= 10) }'; then fmt "$v" 1
    else fmt "$v" 2; fi
}

ratio() {
    local v=$1 r=$2
    [ -z "$v" ] || [ -z "$r" ] && return
    awk -v v="$v" -v r="$r" 'BEGIN { if (r > 0) printf " (%.2f×)", v / r }'
}

# A cell: value, then its ratio to the ceiling's.  cell SERVER MEAS FIELD KIND
cell() {
    local s=$1 m=$2 f=$3 kind=$4 v r out
    v=$(med "$s" "$m" "$f")
    [ -z "$v" ] && { echo "—"; return; }
    r=$(med ref "$m" "$f")
    case $kind in
    int) out=$(fmt "$v") ;;
    mb) out=$(fmt "$v" 1) ;;
    us) out=$(fmt_us "$v") ;;
    esac
    # A zero rate, or too little CPU for a clock tick, has no CPU per
    # operation worth showing.
    if [ "$kind" = us ] && { [ "$(med "$s" "$m" ops)" = 0 ] || [ "$(med "$s" "$m" srv_cpu_ms)" = 0 ]; }; then
        echo "—"
        return
    fi
    [ "$s" != ref ] && out="$out$(ratio "$v" "$r")"
    echo "$out"
}

udp_cell() {
    local s=$1 m=$2 c lost
    c=$(cell "$s" "$m" ops_s int)
    [ "$c" = "—" ] && { echo "—"; return; }
    lost=$(med "$s" "$m" lost_pct)
    if [ -n "$lost" ] && awk -v l="$lost" 'BEGIN { exit !(l >= 0.05) }'; then
        c="$c, $(fmt "$lost" 1) % lost"
    fi
    [ "$s" = obsd ] && [ "$m" = udp ] && c="$c (IPv6)"
    echo "$c"
}

# ratio_of A B: "A/B×", or "—".
ratio_of() {
    [ -z "$1" ] || [ -z "$2" ] && { echo "—"; return; }
    awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else printf "—" }'
}

# The exec row: connect, 64 B through /bin/cat run per connection, close;
# superd's ratios to each anchor running the same cat.
exec_table() {
    local s rate cpu r1 c1 f1 name
    r1=$(med superd1 execcat ops_s)
    c1=$(med superd1 execcat srv_cpu_us_op)
    f1=$(med ref execcat srv_cpu_us_op)
    [ -z "$r1" ] && return
    echo "### Exec: \`cat\` per connection"
    echo
    echo "\`-m connect -c 32 -s 64 -S 64\` against a service that runs \`/bin/cat\` for each"
    echo "connection: superd's \`program = /bin/cat\` (as root, so started by its spawner with vfork),"
    echo "xinetd's \`server = /bin/cat\`, openbsd-inetd's \`nowait ... /bin/cat cat\` line,"
    echo "tcpserver's \`cat\` (its echo row).  The floor is refserver's \`cat\` service:"
    echo "accept4, posix_spawn /bin/cat (clone with CLONE_VM | CLONE_VFORK) on the socket,"
    echo "close, reap on SIGCHLD: the cost of running cat at all.  Server CPU counts every"
    echo "process of the server, the cats included.  Ratios: superd, workers = 1, to the"
    echo "server of the row (connections/s: higher is better for superd; CPU: lower is),"
    echo "and each row's CPU to the floor's."
    echo
    echo "| server | connections/s | superd1 ÷ this | server CPU per connection, µs | superd1 ÷ this | CPU ÷ the floor |"
    echo "|---|---|---|---|---|---|"
    for s in $SERVERS; do
        rate=$(med "$s" execcat ops_s)
        [ -z "$rate" ] && continue
        cpu=$(med "$s" execcat srv_cpu_us_op)
        name=$(label "$s")
        [ "$s" = ref ] && name="floor (refserver: posix_spawn cat)"
        echo "| $name | $(fmt "$rate") | $(ratio_of "$r1" "$rate") | $(fmt_us "$cpu")" \
             "| $(ratio_of "$c1" "$cpu") | $(ratio_of "$cpu" "$f1") |"
    done
    echo
}

make_report() {
    load_medians
    local s d
    d=$(date -u '+%Y-%m-%d %H:%M UTC')
    echo "## Side by side ($d)"
    echo
    echo "Machine: $(machine_line)."
    echo "Run: \`make bench\`, rounds: $ROUNDS, $DUR per measurement, medians.  Each round starts"
    echo "every server afresh (each on its own ports) and runs each measurement against"
    echo "every server in turn, back to back; one load generator process"
    echo "(\`build/bench/loadgen\`), which needs a whole core of its own."
    echo "Took ${ELAPSED} s."
    for n in "${NOTES[@]}"; do
        echo "$n"
    done
    echo
    echo "### Rates"
    echo
    echo "In parentheses: the ratio to the ceiling in the same run (higher is better)."
    echo
    echo "| server | echo 64 B × 64 conns, req/s | echo 16 KiB × 4 conns, MB/s | new connections/s | UDP echo 64 B, replies/s | daytime, conns/s | bulk to discard, MB/s | bulk through echo, MB/s |"
    echo "|---|---|---|---|---|---|---|---|"
    for s in $SERVERS; do
        echo "| $(label "$s") | $(cell "$s" echo64 ops_s int) | $(cell "$s" echo16k mb_s mb)" \
             "| $(cell "$s" connect ops_s int) | $(udp_cell "$s" udp) | $(cell "$s" daytime ops_s int)" \
             "| $(cell "$s" discard mb_s mb) | $(cell "$s" stream mb_s mb) |"
    done
    echo
    echo "### Server CPU per operation, µs"
    echo
    echo "utime + stime of all the server's processes (and the children they reaped),"
    echo "read from /proc before and after each measurement, divided by the operations."
    echo "In parentheses: the ratio to the ceiling (lower is better)."
    echo
    echo "| server | echo 64 B | echo 16 KiB | new connection | UDP echo | daytime | discard, per MB | through echo, per MB |"
    echo "|---|---|---|---|---|---|---|---|"
    for s in $SERVERS; do
        echo "| $(label "$s") | $(cell "$s" echo64 srv_cpu_us_op us) | $(cell "$s" echo16k srv_cpu_us_op us)" \
             "| $(cell "$s" connect srv_cpu_us_op us) | $(cell "$s" udp srv_cpu_us_op us)" \
             "| $(cell "$s" daytime srv_cpu_us_op us) | $(cell "$s" discard srv_cpu_us_mb us)" \
             "| $(cell "$s" stream srv_cpu_us_mb us) |"
    done
    echo
    exec_table
    echo "### Latency and the load generator"
    echo
    echo "Request latency seen by the client (µs), and the client's own CPU use: near 100 %"
    echo "means the client, not the server, set the rate."
    echo
    echo "| server | echo 64 B p50 | p99 | echo 16 KiB p50 | p99 | new connection p50 | p99 | client CPU, echo 64 B | client CPU, new connections |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for s in $SERVERS; do
        echo "| $(label "$s") | $(fmt "$(med "$s" echo64 p50_us)") | $(fmt "$(med "$s" echo64 p99_us)")" \
             "| $(fmt "$(med "$s" echo16k p50_us)") | $(fmt "$(med "$s" echo16k p99_us)")" \
             "| $(fmt "$(med "$s" connect p50_us)") | $(fmt "$(med "$s" connect p99_us)")" \
             "| $(fmt "$(med "$s" echo64 cli_cpu_pct)") % | $(fmt "$(med "$s" connect cli_cpu_pct)") % |"
    done
    echo
    echo "### The other families (superd, workers = 1, and the ceiling)"
    echo
    echo "Rate, then server CPU µs per operation; ratios to the ceiling."
    echo
    echo "| server | echo 64 B tcp6, req/s | CPU µs | echo 64 B unix, req/s | CPU µs | UDP6 echo, replies/s | CPU µs | unix-dgram echo, replies/s | CPU µs |"
    echo "|---|---|---|---|---|---|---|---|---|"
    for s in $SERVERS; do
        case $s in ref | superd1) ;; *) continue ;; esac
        echo "| $(label "$s") | $(cell "$s" echo64_tcp6 ops_s int) | $(cell "$s" echo64_tcp6 srv_cpu_us_op us)" \
             "| $(cell "$s" echo64_unix ops_s int) | $(cell "$s" echo64_unix srv_cpu_us_op us)" \
             "| $(udp_cell "$s" udp6) | $(cell "$s" udp6 srv_cpu_us_op us)" \
             "| $(udp_cell "$s" unixdgram) | $(cell "$s" unixdgram srv_cpu_us_op us) |"
    done
    echo
    echo "How the anchors run: each from the Debian package unpacked by \`make bench-deps\`,"
    echo "with a private configuration on high ports and its throttles lifted.  xinetd,"
    echo "openbsd-inetd and inetutils-inetd serve echo, discard and daytime with their"
    echo "built-in services (forking a process per echo or discard connection, not for"
    echo "daytime or datagrams); tcpserver runs \`cat\`, \`dd of=/dev/null\` and \`date\`."
    echo "Their echo 16 KiB crawls because their forked echo writes in pieces and meets"
    echo "Nagle's algorithm and delayed ACKs (about 44 ms per request).  openbsd-inetd never"
    echo "answers datagrams from 127.0.0.0/8 (its loop guard), so its UDP echo is measured"
    echo "over ::1.  inetutils-inetd sleeps a second whenever SIGCHLD interrupts its select"
    echo "(seen with strace), so after its forked children exit it stalls, and its figures"
    echo "swing from run to run; a 0 there is that stall, not a failure of the client."
    echo
    echo "### Memory per idle connection"
    echo
    echo "Idle TCP connections held open (each echoed one byte first, so the server has"
    echo "accepted and served it); superd and the ceiling in every round (medians), the"
    echo "anchors once.  RSS: the growth of the VmRSS of all the server's"
    echo "processes (for a forking server this counts the pages its children share once per"
    echo "child).  MemAvailable: the drop in /proc/meminfo's MemAvailable, less the load"
    echo "generator's own anonymous memory: the server's memory plus the kernel's for both"
    echo "ends of each connection (socket buffers, sockets, epoll entries); the ratio is"
    echo "this one's.  Slab: the growth of the kernel's slab caches alone (both ends), a"
    echo "steadier view of the kernel's part when other work moves MemAvailable."
    echo
    echo "| server | connections | RSS per connection | MemAvailable drop per connection | ratio to the ceiling | slab growth per connection |"
    echo "|---|---|---|---|---|---|"
    local r v
    r=$(med ref idle mem_per_conn)
    for s in $SERVERS; do
        v=$(med "$s" idle mem_per_conn)
        [ -z "$v" ] && continue
        echo "| $(label "$s") | $(fmt "$(med "$s" idle ops)")$( [ "$(med "$s" idle errors)" != 0 ] && echo " ($(med "$s" idle errors) failed)")" \
             "| $(fmt "$(med "$s" idle rss_per_conn)") B | $(fmt "$v") B" \
             "| $( [ "$s" = ref ] && echo 1 || ratio "$v" "$r" | tr -d ' ()')" \
             "| $(fmt "$(med "$s" idle slab_per_conn)") B |"
    done
    echo
    echo "### Start-up with 1,000 listeners"
    echo
    echo "100 services (echo, discard, daytime in turn), each on two ports of tcp4, tcp6, udp4,"
    echo "udp6 and two unix sockets.  From exec to the \`superd: ready\` line on stderr; \`-t\` from"
    echo "exec to exit."
    echo
    echo "| command | median ms | min–max ms |"
    echo "|---|---|---|"
    echo "| \`superd -c\` (workers = 1), to ready | $(fmt "$(med superd1 startup ms)" 1) | $(fmt "$(med superd1 startup ms_min)" 1)–$(fmt "$(med superd1 startup ms_max)" 1) |"
    echo "| \`superd -c\` (workers = auto), to ready | $(fmt "$(med superd startup ms)" 1) | $(fmt "$(med superd startup ms_min)" 1)–$(fmt "$(med superd startup ms_max)" 1) |"
    echo "| \`superd -t\` | $(fmt "$(med superd check ms)" 1) | $(fmt "$(med superd check ms_min)" 1)–$(fmt "$(med superd check ms_max)" 1) |"
    echo
    echo "The same configuration served (workers = 1), one round: server CPU per operation"
    echo "against the first service, beside the 8-listener figures above."
    echo
    echo "| listeners | echo 64 B, µs | UDP echo, µs |"
    echo "|---|---|---|"
    echo "| 8 | $(fmt_us "$(med superd1 echo64 srv_cpu_us_op)") | $(fmt_us "$(med superd1 udp srv_cpu_us_op)") |"
    echo "| 1,000 | $(fmt_us "$(med superd1big echo64 srv_cpu_us_op)") | $(fmt_us "$(med superd1big udp srv_cpu_us_op)") |"
}
