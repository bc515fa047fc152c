#!/usr/bin/env bash
# Complete user stacks: the known-shares chain workload built with frame
# pointers (GCC still gives leaves none: the frameless-leaf fix), as a PIE
# calling into a shared library, and without frame pointers (stack copies
# unwound with CFI, chosen by --unwind auto). Checks self shares against the truth
# (chain_leaf_a 60 %, chain_leaf_b 40 %) and that leaf samples carry the
# whole chain thread -> loop -> middle -> leaf.
# Ends with "unwind: N passed, N failed".
set -u
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/podflame-unwind.XXXXXX)
cleanup() { [ "$failed" -eq 0 ] && rm -rf "$work"; }
trap cleanup EXIT

need_root unwind

# self LEAF FILE: the leaf's share of all samples, in tenths of a percent
self() { awk -v leaf="$1" '{ n = $NF; t += n; if ($(NF - 1) ~ ("(^|;)" leaf "$")) m += n }
    END { printf "%d", t ? 1000 * m / t : 0 }' "$2"; }
# complete LEAF MIDDLE FILE: of the samples in LEAF, the per mille with the chain
complete() { awk -v leaf="$1" -v mid="$2" '{ n = $NF; s = $(NF - 1)
        if (s !~ ("(^|;)" leaf "$")) next
        t += n; if (index(s, "chain_thread;chain_loop;" mid ";" leaf) > 0) m += n }
    END { printf "%d", t ? 1000 * m / t : 0 }' "$3"; }
within() { [ "$1" -ge $(($2 - 30)) ] && [ "$1" -le $(($2 + 30)) ]; }

check_build() { # name, record options...
    local name=$1 f="$work/$1.folded" a b ca cb
    shift
    "$pf" record -F 999 --no-kernel --group-by none "$@" -o "$f" -- "$build/tests/$name" 3 \
        2> "$work/$name.err"
    a=$(self chain_leaf_a "$f")
    b=$(self chain_leaf_b "$f")
    check "$name: self shares leaf_a $((a / 10)).$((a % 10))% (60 +- 3), leaf_b $((b / 10)).$((b % 10))% (40 +- 3)" \
        sh -c "$(declare -f within); within $a 600 && within $b 400" || sort -k2 -nr "$f" | head -5
    ca=$(complete chain_leaf_a chain_middle_a "$f")
    cb=$(complete chain_leaf_b chain_middle_b "$f")
    check "$name: thread -> loop -> middle -> leaf in $((ca / 10)).$((ca % 10))% / $((cb / 10)).$((cb % 10))% of leaf samples (>= 95%)" \
        sh -c "[ $ca -ge 950 ] && [ $cb -ge 950 ]" || sort -k2 -nr "$f" | head -5
}

# the problem is real: frame pointers alone lose the frameless leaves' callers
if command -v perf > /dev/null; then
    perf record -q -F 999 -g -o "$work/perf.data" -- "$build/tests/chain-fp" 1 > /dev/null 2>&1
    perf script -i "$work/perf.data" 2> /dev/null | "$pf" collapse > "$work/perf.folded" 2> /dev/null
    pa=$(complete chain_leaf_a chain_middle_a "$work/perf.folded")
    check "perf record -g on the frame-pointer build loses the middle function ($((pa / 10))% of leaf_a samples have it)" \
        sh -c "grep -q chain_leaf_a '$work/perf.folded' && [ $pa -lt 500 ]"
else
    not_ok "perf is installed (tools/install-deps.sh), to show frame pointers alone lose the middle function"
fi

# auto (the default): frame pointers for the frame-pointer builds, no copies
check_build chain-fp
fp=$(sed -n 's/.*user stacks: \([0-9]*\) by frame pointers (\([0-9]*\) completed.*/\1 \2/p' "$work/chain-fp.err")
copies=$(sed -n 's/.* \([0-9]*\) from stack copies.*/\1/p' "$work/chain-fp.err")
check "chain-fp (auto): frame pointers with restored leaf callers; copies only until decided (${copies:-?})" \
    sh -c "set -- $fp; [ \${2:-0} -gt 0 ] && [ \$((${copies:-999999} * 50)) -lt \${1:-0} ] &&
           grep -q '; 0 processes without frame pointers' '$work/chain-fp.err'" || tail -3 "$work/chain-fp.err"
check_build chain-lib
# auto: stack copies for the build without frame pointers
check_build chain-nofp
check "chain-nofp: auto mode copies its stacks (1 process without frame pointers)" \
    grep -Eq '[1-9][0-9]* from stack copies .*; 1 process without frame pointers' "$work/chain-nofp.err" ||
    tail -3 "$work/chain-nofp.err"
# dwarf for everything, frame pointers or not
f="$work/dwarf-fp.folded"
"$pf" record -F 999 --no-kernel --group-by none --unwind dwarf -o "$f" -- "$build/tests/chain-fp" 3 2> /dev/null
ca=$(complete chain_leaf_a chain_middle_a "$f")
check "--unwind dwarf on the frame-pointer build: whole chain in $((ca / 10)).$((ca % 10))% of leaf_a samples" \
    test "$ca" -ge 950
# a stack deeper than the copy: cut short and counted, the sample kept
f="$work/deep.folded"
"$pf" record -F 499 --no-kernel --group-by none --unwind dwarf --stack-size 4096 -o "$f" \
    -- "$build/tests/chain-nofp" 2 100 2> "$work/deep.err"
total=$(awk '{ t += $NF } END { print t + 0 }' "$f")
short=$(sed -n 's/.*cut short: \([0-9]*\) copy too small.*/\1/p' "$work/deep.err")
check "a stack deeper than --stack-size: ${short:-0} samples counted as cut short, $total kept" \
    sh -c "[ '${short:-0}' -gt 0 ] && [ $total -ge 800 ] && grep -q 'chain_deep;chain_loop;chain_middle_a;chain_leaf_a' '$f'" ||
    tail -3 "$work/deep.err"

echo "unwind: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
