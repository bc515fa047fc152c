#!/usr/bin/env bash
# Runs each libFuzzer harness for SECONDS, two at a time (one a core here),
# from its seeds in tests/fuzz/corpus/NAME plus what earlier runs found in
# DIR/corpus-NAME. Prints one line per harness (executions, coverage)
# and "fuzz: N passed, N failed". A crash, leak, sanitizer
# report or timeout fails the harness; its input is kept as
# DIR/crash-NAME-* and printed as a command that replays it.
#
# usage: tests/fuzz/run.sh DIR SECONDS NAME...
set -u
dir=$1 secs=$2
shift 2
lanes=${FUZZ_JOBS:-2}
passed=0 failed=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

one() {
    local t=$1 log=$dir/fuzz-$1.log seeds=()
    mkdir -p "$dir/corpus-$t"
    # libFuzzer stops at a corpus directory that does not exist
    [ -d "tests/fuzz/corpus/$t" ] && seeds=("tests/fuzz/corpus/$t")
    # -close_fd_mask=3: the parsers' own messages stay quiet; sanitizer
    # reports still reach the log. -rss_limit_mb: a parser that allocates
    # without bound fails; -timeout: one that hangs fails.
    "$dir/fuzz_$t" -max_total_time="$secs" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -close_fd_mask=3 -print_final_stats=1 -artifact_prefix="$dir/crash-$t-" \
        "$dir/corpus-$t" "${seeds[@]}" > "$log" 2>&1
    echo $? > "$log.rc"
}

while [ $# -gt 0 ]; do
    batch=()
    for _ in $(seq "$lanes"); do
        [ $# -gt 0 ] || break
        batch+=("$1")
        shift
    done
    for t in "${batch[@]}"; do one "$t" & done
    wait
    for t in "${batch[@]}"; do
        log=$dir/fuzz-$t.log
        execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
        cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
        if [ "$(cat "$log.rc")" = 0 ] && [ -n "$execs" ]; then
            passed=$((passed + 1))
            echo "ok - fuzz $t: ${execs} executions in ${secs} s, ${cov:-cov: ?}"
        else
            failed=$((failed + 1))
            echo "not ok - fuzz $t (exit $(cat "$log.rc")):"
            grep -E '^==|SUMMARY|ERROR|runtime error|Test unit written|^    #[0-9]' "$log" | head -40
            # artifacts are named PREFIX{crash,leak,timeout,oom}-HASH
            for c in "$dir"/crash-"$t"-*; do
                [ -e "$c" ] && echo "  replay: $dir/fuzz_$t $c"
            done
        fi
    done
done
echo "fuzz: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
