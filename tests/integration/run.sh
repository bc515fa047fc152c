#!/usr/bin/env bash
# Integration tests: load the real BPF program (as root), profile real
# workloads with known CPU shares, in real cgroup v2 directories, and check
# what podflame writes. Ends with "integration: N passed, N failed".
set -u
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/podflame-it.XXXXXX)
cgtest=""
bg_pids=()

cleanup() {
    kill_and_reap TERM "${bg_pids[@]}"
    # the workloads were killed and reaped above: the cgroups are empty;
    # remove the deepest first
    if [ -n "$cgtest" ]; then
        remove_cgroups "$cgtest"
        [ -d "$cgtest" ] && echo "warning: could not remove $cgtest" >&2
    fi
    rm -rf "$work"
}
trap cleanup EXIT


# Self share of each leaf function among one root's samples, as "func pct".
shares() { # file root
    awk -v root="$2" '{
        n = $NF; stack = $0; sub(/ [0-9]+$/, "", stack)
        split(stack, f, ";"); if (f[1] != root) next
        total += n; leaf = f[length(f)]; self[leaf] += n
    } END { for (l in self) printf "%s %.2f\n", l, 100 * self[l] / total }' "$1"
}

within() { # actual expected tolerance
    awk -v a="$1" -v e="$2" -v t="$3" 'BEGIN { d = a - e; if (d < 0) d = -d; exit !(d <= t) }'
}

start_bg() { "$@" & bg_pids+=($!); }

if [ "$(id -u)" -ne 0 ]; then
    echo "integration tests load BPF programs and must run as root"
    echo "integration: 0 passed, 1 failed"
    exit 1
fi

# ---- known CPU shares: 50/30/10/10 within 3 percentage points ----
# One recording of the share workload; sets $share_report and returns 0 when
# every function's share is within 3 points of what the workload measured.
record_shares() {
    local out=$work/shares.folded pid bad=0
    # the workload measures its own functions' CPU time: the truth, which
    # a busy VM can move a few points off the nominal 50/30/10/10
    CPUWORK_TRUTH=$work/truth.txt start_bg "$cw" 8 shares_wl; pid=$!
    sleep 0.3
    if ! "$pf" record -F 999 -d 4 -p "$pid" -o "$out" 2> "$work/shares.err"; then
        share_report="record failed: $(cat "$work/shares.err")"; return 2
    fi
    kill "$pid"; wait "$pid" 2> /dev/null
    shares "$out" shares_wl > "$work/shares.txt"
    share_total=$(awk '{ s += $NF } END { print s + 0 }' "$out")
    share_report=""
    for spec in func_a:50 func_b:30 func_c:10 func_d:10; do
        local fn=${spec%:*} want got
        want=$(awk -v f="$fn" '$1 == f { print $2 }' "$work/truth.txt")
        got=$(awk -v f="$fn" '$1 == f { print $2 }' "$work/shares.txt")
        share_report="$share_report $fn ${got:-0}/${want:-?}"
        { [ -n "$got" ] && [ -n "$want" ] && within "$got" "$want" 3; } || bad=1
    done
    return $bad
}

test_shares() {
    local out=$work/shares.folded first=""
    # A second recording when the first misses: about one run in five on this
    # VM has moved 3-4 points from func_c to func_b (not explained yet); both
    # are reported, and two misses in a row fail.
    local rc
    record_shares; rc=$?
    if [ $rc -eq 1 ]; then
        first=" (first recording missed:$share_report)"
        record_shares; rc=$?
    fi
    [ $rc -eq 2 ] && { not_ok "record -p on the share workload" "$share_report"; return; }
    check "enough samples for a 3-point bound ($share_total)" test "$share_total" -ge 2500
    check "self shares within 3 points of the workload's own measure (got/measured %):$share_report$first" \
        test -z "$(echo "$share_report" | awk '{ for (i = 1; i <= NF; i += 2) { split($(i + 1), v, "/"); d = v[1] - v[2]; if (d < 0) d = -d; if (d > 3 || v[2] == "?") print "bad" } }')"
    check "caller chain main;run_round;func_a" grep -q ";main;run_round;func_a " "$out"
    check "-p keeps only that process" test -z "$(awk -F';' '$1 != "shares_wl"' "$out")"
    local summary lost samples
    summary=$(grep -E "^podflame: [0-9]+ samples, " "$work/shares.err")
    samples=$(echo "$summary" | sed -nE 's/^podflame: ([0-9]+) samples.*/\1/p')
    lost=$(echo "$summary" | sed -nE 's/.* lost ([0-9]+) \(count map full [0-9]+, stack collisions [0-9]+ user\/[0-9]+ kernel, stack errors [0-9]+\).*/\1/p')
    check "summary line reports samples and loss by cause" test -n "$lost" -a -n "$samples" || echo "  $summary"
    check "loss under 1% of samples (${lost:-?} of ${samples:-?})" test "${lost:-1}" -le $(( ${samples:-0} / 100 )) || echo "  $summary"
}

# ---- whole machine; podflame never samples itself ----
test_system_wide() {
    local out=$work/all.folded
    start_bg "$cw" 5 sysw_wl
    # time in the kernel for certain (syscalls), not only what the machine
    # happens to do meanwhile
    start_bg timeout 4 dd if=/dev/zero of=/dev/null bs=64
    sleep 0.3
    "$pf" record -F 499 -d 2 -o "$out" 2> "$work/all.err"
    check "system-wide record exits 0" test $? -eq 0
    check "system-wide sees the workload" grep -q "^sysw_wl;.*;func_a " "$out"
    check "podflame does not sample itself" test -z "$(grep -E '^podflame[;-]' "$out")"
    check "kernel frames are marked _[k]" grep -q '_\[k\]' "$out"
    check "summary names the event and CPUs" grep -qE "(cycles|cpu-clock) at 499 Hz on [0-9]+ CPU" "$work/all.err"
}

# ---- --cgroup isolates one cgroup v2 directory (and its descendants) ----
test_cgroup() {
    if [ -z "$cgmount" ]; then not_ok "cgroup2 mount found in mountinfo"; return; fi
    cgtest="$cgmount/podflame-it-$$"
    mkdir -p "$cgtest/a/inner" "$cgtest/b" || { not_ok "create test cgroups"; return; }
    start_in_cgroup "$cgtest/a/inner" -- "$cw" 8 cgwork_a
    bg_pids+=($!)
    start_in_cgroup "$cgtest/b" -- "$cw" 8 cgwork_b
    bg_pids+=($!)
    sleep 0.5
    "$pf" record -F 499 -d 2 --cgroup "podflame-it-$$/a" -o "$work/cga.folded" 2> "$work/cga.err"
    check "--cgroup (relative) records" test $? -eq 0
    check "--cgroup a sees the process in a/inner" grep -q "^cgwork_a;" "$work/cga.folded"
    check "--cgroup a excludes cgroup b" test -z "$(grep -v '^cgwork_a;' "$work/cga.folded")"
    "$pf" record -F 499 -d 2 --cgroup "$cgtest/b" -o "$work/cgb.folded" 2> /dev/null
    check "--cgroup (absolute) b sees only b" \
        test "$(cut -d';' -f1 "$work/cgb.folded" | sort -u)" = "cgwork_b"
    "$pf" record -F 499 -d 2 --cgroup "podflame-it-$$" --cgroup "/no-such-unused" -o "$work/cgp.folded" 2> "$work/cgp.err"
    check "--cgroup that does not exist is a clear error" grep -q "no-such-unused: No such file" "$work/cgp.err"
    "$pf" record -F 499 -d 2 --cgroup "podflame-it-$$" -o "$work/cgp.folded" 2> /dev/null
    check "--cgroup parent covers both children" \
        test "$(cut -d';' -f1 "$work/cgp.folded" | sort -u | tr '\n' ' ')" = "cgwork_a cgwork_b "
}

# ---- -- COMMAND runs and profiles a command and its children ----
test_command() {
    local out=$work/cmd.folded
    "$pf" record -F 999 -o "$out" -- "$cw" 1.5 2> "$work/cmd.err"
    check "record -- COMMAND exits 0" test $? -eq 0
    check "command's samples are recorded" grep -q "^cpuwork;.*;main;run_round;func_b " "$out"
    check "only the command is recorded" test -z "$(grep -v '^cpuwork;' "$out" | tee "$work/cmd.others")"
    [ -s "$work/cmd.others" ] && head -5 "$work/cmd.others"
    "$pf" record -F 999 -o "$work/cmd2.folded" -- sh -c "'$cw' 1 child_one; '$cw' 1 child_two" 2> /dev/null
    check "children of the command are followed" \
        sh -c "grep -q '^child_one;' '$work/cmd2.folded' && grep -q '^child_two;' '$work/cmd2.folded'"
    "$pf" record -o "$work/none.folded" -- /nonexistent/prog 2> "$work/cmd3.err"
    check "a command that cannot run is a clear error" \
        sh -c "[ $? -eq 1 ] && grep -q 'cannot run /nonexistent/prog: No such file' '$work/cmd3.err'"
}

# ---- Ctrl-C ends the recording and still writes a complete file ----
test_sigint() {
    local out=$work/int.folded pid rc
    start_bg "$cw" 6 sigint_wl
    "$pf" record -F 499 -o "$out" 2> "$work/int.err" &
    pid=$!
    sleep 2.5
    kill -INT "$pid"
    wait "$pid"; rc=$?
    check "SIGINT: exit 0" test $rc -eq 0 || { echo "exit $rc"; tail -40 "$work/int.err"; }
    check "SIGINT: output has the workload" grep -q "^sigint_wl;.*func_a " "$out"
    check "SIGINT: every line is complete" test -z "$(grep -vE '^.+ [0-9]+$' "$out")"
    check "SIGINT: no temporary file left" test -z "$(ls "$work" | grep '\.tmp\.')"
    check "SIGINT: summary printed" grep -q "stopped by signal 2" "$work/int.err"
}

# ---- a process that exits mid-recording keeps its names ----
test_exited_process() {
    local out=$work/exit.folded pid
    "$pf" record -F 999 -d 3 -o "$out" 2> /dev/null &
    pid=$!
    sleep 0.5
    "$cw" 1 shortlived
    wait "$pid"
    check "exited process is named" grep -q "^shortlived;.*;main;run_round;func_a " "$out"
}

test_options() {
    local pid
    start_bg "$cw" 6 opt_wl; pid=$!
    sleep 0.3
    "$pf" record -F 499 -d 1.5 -p "$pid" --no-kernel --group-by pid -o - > "$work/opt.folded" 2> /dev/null
    check "-o - writes to stdout" grep -q "func_a " "$work/opt.folded"
    check "--group-by pid roots are comm-PID" test "$(cut -d';' -f1 "$work/opt.folded" | sort -u)" = "opt_wl-$pid"
    check "--no-kernel has no kernel frames" test -z "$(grep '_\[k\]' "$work/opt.folded")"
    "$pf" record -F 499 -d 1 -p "$pid" --group-by thread -o "$work/thr.folded" 2> /dev/null
    check "--group-by thread roots are comm-PID/TID" grep -q "^opt_wl-$pid/$pid;" "$work/thr.folded"
}

test_errors() {
    local err=$work/err.txt rc
    "$pf" record -F 0 -d 1 2> "$err"; rc=$?
    check "bad frequency: exit 2 and says why" sh -c "[ $rc -eq 2 ] && grep -q -- '--freq takes 1 to 1000000 Hz' '$err'"
    "$pf" record -F 200000 -d 1 -o "$work/x.folded" 2> "$err"; rc=$?
    check "frequency above the kernel's limit is explained" \
        sh -c "[ $rc -eq 1 ] && grep -q 'perf_event_max_sample_rate' '$err'"
    "$pf" record -d 1 -p 4194300 2> "$err"; rc=$?
    check "unknown PID: exit 1 and says so" sh -c "[ $rc -eq 1 ] && grep -q 'no such process: 4194300' '$err'"
    "$pf" record -d 1 -o x.perf-script 2> "$err"; rc=$?
    check "an unwritable format is explained" sh -c "[ $rc -eq 2 ] && grep -q 'cannot write perf-script' '$err'"
    "$pf" record -d 1 --format bogus 2> "$err"; rc=$?
    check "an unknown format is explained" sh -c "[ $rc -eq 2 ] && grep -q \"unknown format 'bogus'\" '$err'"
    "$pf" record --bogus 2> "$err"; rc=$?
    check "unknown option: exit 2" test $rc -eq 2
    "$pf" frobnicate 2> "$err"; rc=$?
    check "unknown command: exit 2" sh -c "[ $rc -eq 2 ] && grep -q \"unknown command 'frobnicate'\" '$err'"
    "$pf" record --help > "$err"; rc=$?
    check "record --help teaches" sh -c "[ $rc -eq 0 ] && grep -q 'examples:' '$err'"
    if command -v setpriv > /dev/null; then
        (cd "$work" && setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
            "$pf" record -d 1 -o -) > /dev/null 2> "$err"; rc=$?
        check "no privileges: exit 1 and names the capabilities" \
            sh -c "[ $rc -eq 1 ] && grep -q 'CAP_BPF and CAP_PERFMON' '$err'"
    else
        not_ok "setpriv (util-linux) is installed for the privilege test"
    fi
}

chmod 755 "$work"
test_shares
test_system_wide
test_cgroup
test_command
test_sigint
test_exited_process
test_options
test_errors

echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
