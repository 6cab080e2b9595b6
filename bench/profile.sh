#!/bin/bash
# bench/profile.sh - `make bench-profile`: user-space instruction counts per
# operation, with valgrind's callgrind, for superd (workers = 1) and the
# ceiling, and superd's top functions; written to bench/RESULTS.md.
#
# Each server runs under callgrind (--trace-children=yes, so superd's worker
# has its own profile) twice per measurement: once for N_A operations and
# once for N_B.  Instructions per operation = (total of run B - total of
# run A) / (operations B - operations A), summed over all the server's
# processes: start-up, connection set-up and shutdown cancel out.
set -u

. "$(dirname "$0")/common.sh"
enter_namespaces "$0" "$@"
setup_loopback || exit 1
mkdir -p "$BIN/bench"
exec 9>"$BIN/bench/.lock"
if ! flock -n 9; then
    note "make bench is running (it holds $BUILD/bench/.lock): try again when it ends"
    exit 1
fi
setup_tmp

if ! command -v valgrind >/dev/null 2>&1 || ! command -v callgrind_annotate >/dev/null 2>&1; then
    note "valgrind is not installed (apt-get install valgrind)"
    exit 1
fi
for f in "$LG" "$REF" "$SUPERD"; do
    [ -x "$f" ] || { note "$f is missing: run make bench-profile"; exit 1; }
done
ulimit -n 65536 2>/dev/null
T0=$(date +%s)

# name | loadgen arguments | operations in run A | in run B
MEASUREMENTS=(
    "echo|-m echo -c 64 -s 64|5000|55000"
    "connect|-m connect -c 32 -s 64 -S 64|500|5500"
    "udp|-m udp -c 4 -w 8 -s 64|5000|55000"
    "daytime|-m daytime -c 32 -S 64|500|5500"
)

# total_ir DIR: instructions of every callgrind file in DIR
total_ir() {
    local f sum=0 v
    for f in "$1"/cg.*; do
        [ -f "$f" ] || continue
        v=$(awk '/^totals:/ { print $2; exit } /^summary:/ { s = $2 } END { if (s != "") print s }' "$f" | head -1)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}

# The biggest profile in DIR: the worker's (or the ceiling's only one).
biggest() {
    local f best= bestv=0 v
    for f in "$1"/cg.*; do
        v=$(awk '/^totals:/ { print $2; exit }' "$f")
        if [ "${v:-0}" -gt "$bestv" ]; then best=$f bestv=$v; fi
    done
    echo "$best"
}

# profile_run SERVER MEAS RUN N ARGS: one profiled run; sets R_OPS (the
# operations done), R_IR (instructions of all processes) and R_DIR.
profile_run() {
    local s=$1 m=$2 run=$3 n=$4 args=$5 dir line base
    R_OPS=0 R_IR=0 R_DIR=
    dir=$TMP/cg-$s-$m-$run
    mkdir -p "$dir"
    base=$((21000 + RANDOM % 1000 * 20))
    local vg=(valgrind --tool=callgrind --trace-children=yes "--callgrind-out-file=$dir/cg.%p")
    if [ "$s" = ref ]; then
        start_ref "ref-$m-$run" "$base" "${vg[@]}" || return 1
    else
        start_superd "superd-$m-$run" "$base" 1 "${vg[@]}" || return 1
    fi
    wait_port "$A_ECHO"
    local addr=$A_ECHO
    [ "$m" = udp ] && addr=$A_UDP
    [ "$m" = daytime ] && addr=$A_DAYTIME
    # shellcheck disable=SC2086
    line=$("$LG" -a "$addr" $args -N "$n" -d 120s)
    R_OPS=$(echo "$line" | sed -n 's/.* ops=\([0-9]*\).*/\1/p')
    R_OPS=${R_OPS:-0}
    STOP_WAIT=120 stop_server
    R_IR=$(total_ir "$dir")
    R_DIR=$dir
}

OUT=$TMP/profile.md
declare -A PER TOP INCL
for spec in "${MEASUREMENTS[@]}"; do
    IFS='|' read -r m args na nb <<< "$spec"
    for s in ref superd; do
        note "callgrind: $s, $m ($na and $nb operations)"
        profile_run "$s" "$m" A "$na" "$args"
        opsa=$R_OPS ira=$R_IR
        profile_run "$s" "$m" B "$nb" "$args"
        opsb=$R_OPS irb=$R_IR dirb=$R_DIR
        if [ "${opsb:-0}" -gt "${opsa:-0}" ] && [ "${irb:-0}" -gt 0 ]; then
            PER[$s|$m]=$(awk -v a="$ira" -v b="$irb" -v oa="$opsa" -v ob="$opsb" \
                         'BEGIN { printf "%.0f", (b - a) / (ob - oa) }')
        fi
        if [ "$s" = superd ] && [ -n "${dirb:-}" ]; then
            f=$(biggest "$dirb")
            [ -n "$f" ] && TOP[$m]=$(callgrind_annotate --inclusive=no --threshold=100 "$f" 2>/dev/null |
                awk '/^-+$/ { sep++; next }
                     sep >= 3 && NF && $1 ~ /^[0-9,]+$/ && !/PROGRAM TOTALS/ { print; if (++n == 5) exit }')
            # Where the time goes below the loop: superd's own functions,
            # inclusive of what they call, skipping the call chain above.
            [ -n "$f" ] && INCL[$m]=$(callgrind_annotate --inclusive=yes --threshold=100 "$f" 2>/dev/null |
                awk '$0 ~ /^ *[0-9,]+ \(.*core\/[a-z_]+\.c:[a-z_]+( \[.*)?$/ {
                         fn = $0
                         sub(/ \[.*$/, "", fn)
                         sub(/.*:/, "", fn)
                         if (fn ~ /^(main|master_run|spawn|worker_main|worker_run|loop_run_once)$/ || seen[fn]++)
                             next
                         print
                         if (++n == 6) exit
                     }')
        fi
    done
done

ir() { [ -n "${PER[$1|$2]:-}" ] && fmt_int "${PER[$1|$2]}" || echo "—"; }
fmt_int() { echo "$1" | sed -E ':a;s/^([0-9]+)([0-9]{3})/\1,\2/;ta'; }
rat() {
    local a=${PER[superd|$1]:-} b=${PER[ref|$1]:-}
    [ -n "$a" ] && [ -n "$b" ] && awk -v a="$a" -v b="$b" 'BEGIN { if (b > 0) printf " (%.2f×)", a / b }'
}

{
    echo "## Instruction counts (callgrind, $(date -u '+%Y-%m-%d %H:%M UTC'))"
    echo
    echo "Machine: $(machine_line). \`make bench-profile\`: valgrind $(valgrind --version | sed 's/valgrind-//'),"
    echo "superd: $BUILD/superd sha256 $(sha256sum "$SUPERD" | cut -c1-12), built $(date -u -r "$SUPERD" '+%Y-%m-%d %H:%M:%S UTC')."
    echo "User-space instructions per operation, all of the server's processes (the kernel,"
    echo "where most of the time goes, is not counted: see the CPU table above for that)."
    echo "Each figure is (run B − run A) / (operations B − operations A), so start-up,"
    echo "connection set-up and shutdown cancel out.  In parentheses: superd / ceiling."
    echo
    echo "| server | echo 64 B × 64 conns, per request | new connection (connect, echo 64 B, close) | UDP echo 64 B, per datagram | daytime, per connection |"
    echo "|---|---|---|---|---|"
    echo "| ceiling (refserver) | $(ir ref echo) | $(ir ref connect) | $(ir ref udp) | $(ir ref daytime) |"
    echo "| superd, workers = 1 | $(ir superd echo)$(rat echo) | $(ir superd connect)$(rat connect) | $(ir superd udp)$(rat udp) | $(ir superd daytime)$(rat daytime) |"
    for m in echo connect udp daytime; do
        [ -n "${TOP[$m]:-}" ] || continue
        echo
        echo "superd's top five functions by own instructions, $m (the worker's profile of run B,"
        echo "from \`callgrind_annotate --inclusive=no\`):"
        echo
        echo '```'
        echo "${TOP[$m]}"
        echo '```'
        echo
        echo "The same profile, superd's own functions below the event loop, inclusive of"
        echo "what they call:"
        echo
        echo '```'
        echo "${INCL[$m]}"
        echo '```'
    done
    echo
    echo "Took $(($(date +%s) - T0)) s."
} > "$OUT"
cat "$OUT"
put_section profile "$OUT"
note "profile written to bench/RESULTS.md"
