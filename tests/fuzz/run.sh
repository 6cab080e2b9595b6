#!/bin/sh
# tests/fuzz/run.sh - run the libFuzzer targets, each for a bounded time.
#
#   sh tests/fuzz/run.sh BUILD SECONDS TARGET...     (from the repository root)
#
# For each TARGET (config, addr, cidr, plugins): copy the seeds of
# tests/fuzz/corpus/TARGET into the scratch corpus BUILD/fuzz/corpus/TARGET
# (which keeps what earlier runs found; the repository's corpus is never
# written to), run BUILD/fuzz/fuzz_TARGET on it for SECONDS seconds with the
# dictionary tests/fuzz/TARGET.dict if there is one, and keep its output in
# BUILD/fuzz/TARGET.log.  A crash, leak, sanitizer report, timeout or
# violated invariant stops that target; its input is saved under
# BUILD/fuzz/artifacts/TARGET/ and the command to reproduce it is printed.
# Exit status: 0 when every target ran clean, 1 otherwise.
set -u

if [ $# -lt 3 ]; then
    echo "usage: sh tests/fuzz/run.sh BUILD SECONDS TARGET..." >&2
    exit 2
fi
build=$1
secs=$2
shift 2
case $secs in
    ''|*[!0-9]*) echo "fuzz: SECONDS must be a whole number, not '$secs'" >&2; exit 2 ;;
esac

passed=0
failed=0
for t in "$@"; do
    bin=$build/fuzz/fuzz_$t
    corpus=$build/fuzz/corpus/$t
    art=$build/fuzz/artifacts/$t
    log=$build/fuzz/$t.log
    if [ ! -x "$bin" ]; then
        echo "fuzz: $t: $bin is not built" >&2
        failed=$((failed + 1))
        continue
    fi
    mkdir -p "$corpus" "$art"
    if [ -d "tests/fuzz/corpus/$t" ]; then
        cp tests/fuzz/corpus/"$t"/* "$corpus"/
    fi
    set -- -max_total_time="$secs" -timeout=25 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$art/"
    if [ -f "tests/fuzz/$t.dict" ]; then
        set -- "$@" -dict="tests/fuzz/$t.dict"
    fi
    echo "fuzz: $t: $secs s on $corpus"
    : >"$build/fuzz/$t.start"
    # libFuzzer stops itself after -max_total_time; timeout(1) is the
    # backstop should one input hang past -timeout's own handler.
    ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
        timeout -k 10 $((secs + 120)) "$bin" "$@" "$corpus" >"$log" 2>&1
    rc=$?
    # "#1234 DONE cov: 812 ft: 2345 corp: 150/9Kb ..." and the final stats.
    done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -n 1)
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log" | tail -n 1)
    cov=$(printf '%s\n' "$done_line" | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
    ft=$(printf '%s\n' "$done_line" | sed -n 's/.*ft: \([0-9]*\).*/\1/p')
    corp=$(printf '%s\n' "$done_line" | sed -n 's/.*corp: \([0-9]*\).*/\1/p')
    if [ "$rc" -eq 0 ] && [ -n "$done_line" ]; then
        echo "fuzz: $t: ok: ${execs:-?} runs, ${rate:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}," \
             "corpus ${corp:-?}, peak RSS ${rss:-?} MB"
        passed=$((passed + 1))
    else
        echo "fuzz: $t: FAILED (exit status $rc); the end of $log:" >&2
        tail -n 40 "$log" >&2
        find "$art" -type f -newer "$build/fuzz/$t.start" | while read -r a; do
            echo "fuzz: $t: reproduce with: $bin $a" >&2
        done
        failed=$((failed + 1))
    fi
    rm -f "$build/fuzz/$t.start"
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
