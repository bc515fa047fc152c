#!/usr/bin/env bash
# Runs every cmocka unit test binary in BUILD/tests; prints cmocka's output
# and a final "unit: N passed, N failed" line. Exit status 1 if any failed.
set -u
build=${1:-build}
export PODFLAME_TEST_DIR="$build/tests"
passed=0 failed=0
for t in "$build"/tests/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1)
    rc=$?
    printf '%s\n' "$out"
    p=$(printf '%s\n' "$out" | sed -n 's/.*\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    f=$(printf '%s\n' "$out" | sed -n 's/.*\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    # a crash (sanitizer report, signal) fails the binary even if cmocka said nothing
    if [ $rc -ne 0 ] && [ "${f:-0}" -eq 0 ]; then
        echo "$(basename "$t"): exited with status $rc"
        failed=$((failed + 1))
    fi
done
echo "unit: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
