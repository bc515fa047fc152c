#!/usr/bin/env bash
# Time off the CPU (record --event offcpu|wall) against workloads whose waits
# are known: a thread whose wall time splits 30/20/30/20 between spinning,
# nanosleep, a pipe and a vfork-style child; a hog held to a quarter of a
# CPU by a real CFS quota (the v1 cpu controller beside cgroup v2), in a
# kubelet-shaped Pod; two hogs pinned to one CPU; a thread still asleep when
# the recording stops; a Pod removed while its thread was away. Outputs are
# read by go tool pprof and xmllint. Ends with "offcpu: N passed, N failed".
set -u
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/podflame-offcpu.XXXXXX)
ww="$build/tests/waitwork"
v1cpu=$(awk '$0 ~ / - cgroup / && $NF ~ /(^|,)cpu(,|$)/ { print $5; exit }' /proc/self/mountinfo)
kubelet_root offcpu
export PODFLAME_KUBE_CGROUP_ROOT=$kroot
export HOME=$work GOCACHE=$work/gocache
pids=()

cleanup() {
    kill_and_reap KILL "${pids[@]}"
    sleep 0.3 # killed processes leave their cgroups as they are reaped
    remove_cgroups "$base" ${v1cpu:+"$v1cpu$kroot"}
    [ "$failed" -eq 0 ] && rm -rf "$work"
}
trap cleanup EXIT

need_root offcpu cgroup2

# shares FOLDED ROOT: each state's and each function's share (%) of the
# stacks whose first frame is ROOT, as "name pct" lines, and "total NS"
cat > "$work/shares.py" << 'EOF'
import collections, sys
states = ("runqueue", "throttled", "blocked", "sleeping")
funcs = ("spin_cpu", "nap", "wait_pipe", "wait_child", "func_a", "func_b", "func_c", "func_d")
total, by = 0, collections.Counter()
for line in open(sys.argv[1]):
    stack, v = line.rstrip("\n").rsplit(" ", 1)
    frames = stack.split(";")
    if frames[0] != sys.argv[2]:
        continue
    v = int(v)
    total += v
    leaf = frames[-1][1:-1] if frames[-1].startswith("[") else ""
    by[leaf if leaf in states else "running"] += v
    for f in funcs:
        if f in frames:
            by[f] += v
            if leaf in states:
                by[f + "/" + leaf] += v
print("total", total)
for k, v in sorted(by.items()):
    print(k, round(100.0 * v / total, 1) if total else 0)
EOF
shares() { python3 "$work/shares.py" "$@"; }
# near FILE NAME WANT TOL: NAME's share in FILE is WANT within TOL points
near() {
    awk -v n="$2" -v w="$3" -v t="$4" '$1 == n { v = $2 } END { d = v - w; exit !(v != "" && d <= t && -d <= t) }' "$1"
}
share() { awk -v n="$2" '$1 == n { print $2 }' "$1"; }

# ---- the wall-clock split of one thread ----
"$ww" 30 &
wpid=$!
pids+=("$wpid")
sleep 0.5
"$pf" record --event wall -F 999 -p "$wpid" -d 4 -o "$work/wall.pb.gz" 2> "$work/wall.err"
check "record --event wall writes a pprof" test -s "$work/wall.pb.gz" || cat "$work/wall.err"
"$pf" convert --group-by thread "$work/wall.pb.gz" "$work/wall.folded" 2> /dev/null
shares "$work/wall.folded" "ww-worker-$wpid/$wpid" > "$work/wall.shares"
for want in "running 30" "sleeping 50" "blocked 20" "spin_cpu 30" "nap 20" "wait_pipe 30" "wait_child 20"; do
    set -- $want
    check "wall time: $1 holds $2% of the thread's ($(share "$work/wall.shares" "$1")%)" \
        near "$work/wall.shares" "$1" "$2" 3 || cat "$work/wall.shares"
done
check "... the nap is [sleeping], the child's wait [blocked], the pipe [sleeping]" \
    sh -c "awk '\$1 ~ /^(nap\\/sleeping|wait_child\\/blocked|wait_pipe\\/sleeping)\$/ && \$2 > 15' '$work/wall.shares' | wc -l | grep -qx 3"
tot=$(share "$work/wall.shares" total)
check "... and the thread's wall time is the recording's (${tot} ns in 4 s)" \
    test "${tot:-0}" -gt 3800000000 -a "${tot:-0}" -lt 4200000000

# the ecosystem's reader: four sample types, wall the default
go tool pprof -raw "$work/wall.pb.gz" > "$work/wall.raw" 2> "$work/wall.raw.err"
check "go tool pprof reads it: samples/count cpu/nanoseconds off_cpu/nanoseconds wall/nanoseconds" \
    grep -q "samples/count cpu/nanoseconds off_cpu/nanoseconds wall/nanoseconds" "$work/wall.raw" ||
    head -5 "$work/wall.raw" "$work/wall.raw.err"
go tool pprof -top "$work/wall.pb.gz" > "$work/wall.top" 2>&1
check "... opens wall time by default" grep -q "^Type: wall" "$work/wall.top" || head -5 "$work/wall.top"
go tool pprof -top -sample_index=off_cpu -tagfocus state=blocked "$work/wall.pb.gz" > "$work/off.top" 2>&1
check "... off_cpu with -tagfocus state=blocked: the child's wait" grep -q "wait_child" "$work/off.top" ||
    head -20 "$work/off.top"

# the SVG: wall time, in durations
"$pf" convert "$work/wall.pb.gz" "$work/wall.svg" 2> /dev/null
check "the SVG is a wall-time flame graph" grep -q "Wall Time Flame Graph" "$work/wall.svg"
check "... whose frames show durations, not samples" \
    sh -c "grep -q '<title>wait_pipe ([0-9.]* [mµ]*s, [0-9.]*%)</title>' '$work/wall.svg' && ! grep -q ' samples, ' '$work/wall.svg'"
check "... and is well-formed XML" xmllint --noout "$work/wall.svg"

# --min-block and --state
"$pf" record --event offcpu --min-block 25ms -p "$wpid" -d 2 -o "$work/min.folded" 2> "$work/min.err"
check "--min-block 25ms drops the 20 ms naps and keeps the 30 ms pipe waits" \
    sh -c "! grep -q ';nap;.*\\[sleeping\\]' '$work/min.folded' && grep -q ';wait_pipe;.*\\[sleeping\\]' '$work/min.folded'" ||
    cut -c1-200 "$work/min.folded"
check "... and counts what it dropped" grep -Eq "dropped [1-9][0-9]* shorter" "$work/min.err" || cat "$work/min.err"
"$pf" record --event offcpu --state blocked -p "$wpid" -d 2 -o "$work/blocked.folded" 2> "$work/blocked.err"
check "--state blocked keeps only [blocked]" \
    sh -c "test -s '$work/blocked.folded' && ! grep -v '\\[blocked\\] [0-9]*\$' '$work/blocked.folded'"
"$pf" record --state blocked -d 1 -o "$work/x.folded" 2> "$work/state.err"
rc=$?
check "--state without --event offcpu|wall: one clear line, status 2 ($rc)" \
    sh -c "[ $rc -eq 2 ] && head -1 '$work/state.err' | grep -q 'add --event'"
kill "$wpid"

# ---- a Pod held to a quarter of a CPU ----
U1=4d5e6f7a-8b9c-4d0e-9f1a-2b3c4d5e6f7a
C1=$(container_id e1)
ctr1=$(kube_cgroup cgroupfs burstable "$U1" containerd "$C1")
mkdir -p "$base/$ctr1"
pod_logs "$work/log" shop hog-0 "$U1" app "$C1"
if [ -n "$v1cpu" ]; then
    mkdir -p "$v1cpu$kroot/$ctr1"
    echo 25000 > "$v1cpu$kroot/$ctr1/cpu.cfs_quota_us"
    start_in_cgroup "$base/$ctr1" "$v1cpu$kroot/$ctr1" -- "$cw" 60 wl_hog
    hog=$!
    pids+=("$hog")
    sleep 0.5
    throttled_ns() { awk '$1 == "throttled_time" { print $2 }' "$v1cpu$kroot/$ctr1/cpu.stat"; }
    "$pf" record --event wall -F 999 --kubelet-log-dir "$work/log" --pod hog-0 -d 4 \
        -o "$work/hog.folded" 2> "$work/hog.err" &
    rec=$!
    for _ in $(seq 1000); do grep -q "podflame: sampling" "$work/hog.err" && break; sleep 0.01; done
    t0=$(throttled_ns)
    sleep 4
    t1=$(throttled_ns)
    wait "$rec"
    shares "$work/hog.folded" shop/hog-0 > "$work/hog.shares"
    check "throttled: [throttled] holds 75% of the hog's wall time ($(share "$work/hog.shares" throttled)%)" \
        near "$work/hog.shares" throttled 75 5 || cat "$work/hog.shares" "$work/hog.err"
    check "... under the hog's functions" \
        sh -c "grep -q '^shop/hog-0;app;wl_hog;.*func_a.*;\\[throttled\\] ' '$work/hog.folded'"
    ours=$(awk '/\[throttled\] [0-9]+$/ { s += $NF } END { printf "%.0f", s }' "$work/hog.folded")
    theirs=$((t1 - t0))
    check "... and agrees with the cgroup's cpu.stat within 10% (podflame $((ours / 1000000)) ms, cpu.stat $((theirs / 1000000)) ms)" \
        awk -v a="$ours" -v b="$theirs" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(b > 0 && d <= 0.1 * b) }'
    kill "$hog"
else
    not_ok "a v1 cpu controller for CFS quotas"
fi

# ---- two hogs pinned to one CPU ----
taskset -c 0 "$cw" 30 wl_pin1 &
p1=$!
taskset -c 0 "$cw" 30 wl_pin2 &
p2=$!
pids+=("$p1" "$p2")
sleep 0.5
"$pf" record --event wall -F 999 -p "$p1" -p "$p2" -d 3 --group-by process -o "$work/pin.folded" 2> "$work/pin.err"
for w in wl_pin1 wl_pin2; do
    shares "$work/pin.folded" "$w" > "$work/$w.shares"
    check "runqueue: $w pinned beside another hog waits half its time ($(share "$work/$w.shares" runqueue)%)" \
        near "$work/$w.shares" runqueue 50 5 || cat "$work/$w.shares"
done
kill "$p1" "$p2"

# ---- a thread still away at the stop; a Pod removed while its thread was away ----
U2=5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b
C2=$(container_id e2)
ctr2=$(kube_cgroup cgroupfs besteffort "$U2" containerd "$C2")
mkdir -p "$base/$ctr2"
pod_logs "$work/log" shop gone-0 "$U2" job "$C2"
mkfifo "$work/go1" "$work/go2"
cp "$(command -v sleep)" "$work/napper" # a name of its own on the whole machine
sh -c "read x < '$work/go1'; exec '$work/napper' 60" &
s1=$!
start_in_cgroup "$base/$ctr2" -- sh -c "read x < '$work/go2'; exec sleep 60"
s2=$!
pids+=("$s1" "$s2")
"$pf" record --event offcpu --kubelet-log-dir "$work/log" -d 3 -o "$work/away.folded" 2> "$work/away.err" &
rec=$!
wait_for 20 grep -q "podflame: sampling" "$work/away.err"
echo > "$work/go1"
echo > "$work/go2"
sleep 1
kill -KILL "$s2"
wait "$s2" 2> /dev/null
sleep 0.3
rmdir "$base/$ctr2" "$base/${ctr2%/*}"
wait "$rec"
slept=$(awk '/^napper;.*nanosleep.*\[sleeping\] [0-9]+$/ { s += $NF } END { printf "%.0f", s }' "$work/away.folded")
check "a thread still asleep at the stop counts until the stop ($((slept / 1000000)) ms of about 2900)" \
    test "${slept:-0}" -gt 2400000000 -a "${slept:-0}" -lt 3100000000 || grep '^napper;' "$work/away.folded"
check "a Pod removed while its thread was away keeps its time and names" \
    grep -q "^shop/gone-0;job;sleep;.*\[sleeping\] " "$work/away.folded"
check "the summary says what was kept and dropped" \
    grep -Eq "off the CPU: [0-9.]+ s in [0-9]+ intervals of 1 ms or more; dropped [0-9]+ shorter" "$work/away.err"

echo "offcpu: $passed passed, $failed failed"
