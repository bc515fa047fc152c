#!/usr/bin/env bash
# make test: unit tests, then integration tests (root: they load the real BPF
# program). Ends with one "N passed, N failed" line for the whole suite.
set -u
build=${1:-build/asan}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

tests/run-unit.sh "$build" | tee -a "$log"
tests/integration/run.sh "$build" | tee -a "$log"

read -r runs passed failed < <(awk '/^(unit|integration): [0-9]+ passed, [0-9]+ failed$/ \
    { n++; p += $2; f += $4 } END { print n + 0, p + 0, f + 0 }' "$log")
if [ "$runs" -ne 2 ]; then
    echo "a test runner did not finish"
    failed=$((${failed:-0} + 1))
fi
echo
echo "podflame: ${passed:-0} passed, ${failed:-0} failed"
[ "${failed:-1}" -eq 0 ]
