# Helpers shared by the integration suites: each suite counts its checks in
# $passed and $failed and ends with "NAME: N passed, N failed".
# shellcheck shell=bash
passed=0
failed=0
# every suite takes the build directory as its first argument
build=$(cd "${1:-build}" && pwd)
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pf="$build/podflame"
cw="$build/tests/cpuwork"
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1${2:+: $2}"; }
# check NAME COMMAND...: passes when COMMAND succeeds; returns its verdict
# so that a caller can print diagnostics: check ... || cat log
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name"; return 1; fi
}
# give_up SUITE WHAT: a precondition WHAT failed; ends the suite with its summary
give_up() {
    not_ok "$2"
    echo "$1: $passed passed, $failed failed"
    exit 1
}
# wait_for SECONDS COMMAND...: polls COMMAND every 0.2 s
wait_for() {
    local t=$(($1 * 5)); shift
    while [ $t -gt 0 ]; do "$@" && return 0; sleep 0.2; t=$((t - 1)); done
    return 1
}
