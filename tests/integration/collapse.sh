#!/usr/bin/env bash
# podflame collapse against stackcollapse-perf.pl's own results: every input
# of shared/fixtures/flamegraph-perf with every option, byte for byte; plus
# malformed input. Ends with "collapse: N passed, N failed".
set -u
. "$(dirname "$0")/lib.sh"
fx=${PODFLAME_FIXTURES:-$top/../shared/fixtures/flamegraph-perf}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

n=0
for input in "$fx"/*.txt; do
    name=$(basename "$input" .txt)
    [ "$name" = README ] && continue
    for opt in pid tid kernel jit all addrs; do
        want="$fx/results/$name-collapsed-$opt.txt"
        n=$((n + 1))
        if "$pf" collapse "--$opt" "$input" > "$work/out" 2> "$work/err" && cmp -s "$work/out" "$want"; then
            ok "collapse --$opt $name"
        else
            not_ok "collapse --$opt $name: $(diff "$work/out" "$want" | head -3 | cut -c1-120)"
        fi
    done
done
[ "$n" -eq 42 ] && ok "all 42 fixture cases present" || not_ok "fixture cases found: $n of 42 (in $fx)"

# stdin, and malformed lines: reported with their count, never fatal
printf 'prog 12 [000] 1.0: cycles:\n\tffff01 leaf (/bin/prog)\n   garbage here\n\tffff02 main (/bin/prog)\n\n\x01\x02 junk\n' \
    | "$pf" collapse > "$work/m.out" 2> "$work/m.err"
[ $? -eq 0 ] && [ "$(cat "$work/m.out")" = "prog;main;leaf 1" ] && ok "collapse reads stdin" || not_ok "collapse reads stdin"
grep -q "skipped 2 unrecognized lines (first: line 3)" "$work/m.err" && ok "unrecognized lines counted with the first line number" \
    || not_ok "unrecognized lines counted: $(cat "$work/m.err")"
"$pf" collapse /nonexistent 2> "$work/e.err"
[ $? -eq 1 ] && grep -q "cannot open /nonexistent" "$work/e.err" && ok "missing input is a clear error" || not_ok "missing input is a clear error"
head -c 20000 "$fx/perf-iperf-stacks-pidtid-01.txt" | "$pf" collapse > /dev/null 2>&1
[ $? -eq 0 ] && ok "truncated input ends cleanly" || not_ok "truncated input ends cleanly"
head -c 300000 /dev/urandom | "$pf" collapse > /dev/null 2>&1
[ $? -eq 0 ] && ok "random bytes end cleanly" || not_ok "random bytes end cleanly"

echo "collapse: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
