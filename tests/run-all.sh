#!/usr/bin/env bash
# make test: unit tests, then integration tests (root: they load the real BPF
# program). Ends with one "N passed, N failed, N skipped" line for the whole
# suite. A skipped unit test is counted as skipped, not passed, and fails the
# run unless PODFLAME_ALLOW_SKIPS=1 (see tests/run-unit.sh).
set -u
build=${1:-build/asan}
plain=${2:-build} # unsanitized build, for valgrind
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
log=$(mktemp)
trap 'rm -f "$log"' EXIT

tests/run-unit.sh "$build" | tee -a "$log"
tests/integration/run.sh "$build" | tee -a "$log"
tests/integration/collapse.sh "$build" | tee -a "$log"
tests/integration/formats.sh "$build" | tee -a "$log"
tests/integration/svg.sh "$build" | tee -a "$log"
tests/integration/kube.sh "$build" | tee -a "$log"
tests/integration/symbols.sh "$build" | tee -a "$log"
tests/integration/unwind.sh "$build" | tee -a "$log"
tests/integration/agent.sh "$build" | tee -a "$log"
tests/integration/query.sh "$build" | tee -a "$log"
tests/integration/offcpu.sh "$build" | tee -a "$log"
tests/integration/watch.sh "$build" | tee -a "$log"
tests/integration/faults.sh "$build" | tee -a "$log"
tests/integration/hostile.sh "$build" "$plain" | tee -a "$log"
tests/integration/newuser.sh "$build" | tee -a "$log"
tests/integration/deploy.sh "$build" "$plain" | tee -a "$log"

# valgrind memcheck on the readers' unit tests (ASan and valgrind don't mix)
vp=0 vf=0
for t in test_escape test_folded test_kube test_pprof test_perfscript test_procmaps test_symbolize test_agent test_watch test_access test_opts test_window test_rules test_query; do
    if PODFLAME_UNDER_VALGRIND=1 PODFLAME_TEST_DIR="$plain/tests" valgrind -q --error-exitcode=99 --leak-check=full \
        --errors-for-leak-kinds=definite "$plain/tests/$t" > "$log.vg" 2>&1; then
        vp=$((vp + 1)); echo "ok - valgrind $t"
    else
        vf=$((vf + 1)); echo "not ok - valgrind $t"; tail -30 "$log.vg"
    fi
done
rm -f "$log.vg"
echo "valgrind: $vp passed, $vf failed" | tee -a "$log"

# a short run of every fuzz harness (make fuzz runs them longer)
# shellcheck disable=SC2086
tests/fuzz/run.sh build/fuzz "${FUZZ_SMOKE_SECONDS:-20}" ${FUZZ_TARGETS:?} | tee -a "$log"

read -r runs passed failed skipped < <(awk '/^(unit|integration|collapse|formats|svg|kube|symbols|unwind|agent|query|offcpu|watch|faults|hostile|newuser|deploy|valgrind|fuzz): [0-9]+ passed, [0-9]+ failed(, [0-9]+ skipped)?$/ \
    { n++; p += $2; f += $4; s += $6 } END { print n + 0, p + 0, f + 0, s + 0 }' "$log")
if [ "$runs" -ne 18 ]; then
    echo "a test runner did not finish"
    failed=$((${failed:-0} + 1))
fi
echo
echo "podflame: ${passed:-0} passed, ${failed:-0} failed, ${skipped:-0} skipped"
[ "${failed:-1}" -eq 0 ]
