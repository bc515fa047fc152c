#!/usr/bin/env bash
# Hostile containers: every input a container controls, provoked for real
# (issue #24). A process running code from an anonymous page stands for a
# JIT; crafted ELF files (tests/integration/craft_elf.py) and objcopy'd
# binaries for what a container can map; a chroot for a container's root.
# Memory bounds are read from the unsanitized build's own summary (ASan's
# shadow and quarantine would measure ASan).
# usage: hostile.sh BUILD [PLAIN_BUILD]
set -u
. "$(dirname "$0")/lib.sh"
plain=$(cd "${2:-$top/build}" && pwd)
ppf="$plain/podflame"
js="$build/tests/jitspin"
craft="$top/tests/integration/craft_elf.py"
work=$(mktemp -d /tmp/podflame-hostile.XXXXXX)
# a kubelet --cgroup-root for the Pod identity checks, named to podflame only
# where a check says so
kubelet_root hostile
pids=()
maps=()
unset PODFLAME_KUBE_CGROUP_ROOT DEBUGINFOD_URLS

cleanup() {
    kill_and_reap KILL "${pids[@]}"
    rm -f "${maps[@]}"
    remove_cgroups "$base"
    [ "$failed" -eq 0 ] && rm -rf "$work"
}
trap cleanup EXIT

need_root hostile cgroup2
[ -x "$ppf" ] || give_up hostile "the plain build is there ($ppf)"

# spin NAME ARGS...: starts jitspin; its pid in $spid
spin() {
    local name=$1
    shift
    "$js" "$@" > "$work/$name.pid" &
    pids+=($!)
    wait_for 5 test -s "$work/$name.pid"
    spid=$(cat "$work/$name.pid")
}
# peak MiB and CPU seconds from a summary
peak_mib() { sed -n 's/.* \([0-9]*\) MiB peak RSS.*/\1/p' "$1" | tail -1; }
cpu_s() { sed -n 's/.*podflame used \([0-9.]*\) s CPU.*/\1/p' "$1" | tail -1; }
# timed NAME CMD...: runs CMD with a 60 s limit; its status in $rc, its milliseconds in $ms
timed() {
    local t0
    t0=$(date +%s%N)
    timeout 60 "$@"
    rc=$?
    ms=$((($(date +%s%N) - t0) / 1000000))
}

# ---- perf maps ----
spin fifo 30
maps+=("/tmp/perf-$spid.map")
mkfifo "/tmp/perf-$spid.map"
timed "$pf" record -p "$spid" -d 2 -o "$work/fifo.folded" 2> "$work/fifo.err"
check "a FIFO as perf map does not hang the recording (status $rc, ${ms} ms)" \
    test "$rc" -eq 0 -a "$ms" -lt 15000 || tail -3 "$work/fifo.err"
check "... and its samples are there" grep -q '^jitspin;' "$work/fifo.folded"

spin sparse 30
maps+=("/tmp/perf-$spid.map")
truncate -s 1G "/tmp/perf-$spid.map"
timed "$ppf" record -p "$spid" -d 2 -o "$work/sparse.folded" 2> "$work/sparse.err"
m=$(peak_mib "$work/sparse.err")
check "a sparse 1 GiB perf map without a newline: not read (${m} MiB, $(cpu_s "$work/sparse.err") s CPU)" \
    test "$rc" -eq 0 -a "${m:-999}" -lt 128 || tail -3 "$work/sparse.err"
check "... and reported" grep -q ' 1 perf maps over 256 MiB' "$work/sparse.err"

spin big 30
maps+=("/tmp/perf-$spid.map")
python3 -c '
import sys
with open(sys.argv[1], "w") as f:
    for i in range(1500000):
        f.write("%x 10 LazyCompile:*handler_%d /srv/app/routes/index.js:%d:17\n" % (0x100000000 + i * 16, i, i))
' "$work/big.map"
cp "$work/big.map" "/tmp/perf-$spid.map"
timed "$ppf" record -p "$spid" -d 2 -o "$work/big.folded" 2> "$work/big.err"
m=$(peak_mib "$work/big.err")
check "a perf map of 1.5 M valid lines ($(($(stat -c %s "/tmp/perf-$spid.map") >> 20)) MiB) stays bounded (${m} MiB)" \
    test "$rc" -eq 0 -a "${m:-999}" -lt 128 || tail -3 "$work/big.err"
check "... its oldest entries dropped at the entry cap, and reported" \
    grep -q ' 1 perf maps whose oldest entries went' "$work/big.err"

# ---- crafted binaries ----
for kind in symbomb symnames dwarfbomb; do
    python3 "$craft" "$kind" "$work/$kind.elf"
    spin "$kind" 30 "$work/$kind.elf" 0x1000
    timed "$ppf" record -p "$spid" -d 2 -o "$work/$kind.folded" 2> "$work/$kind.err"
    m=$(peak_mib "$work/$kind.err")
    check "$kind: the recording ends well (status $rc, ${m} MiB, $(cpu_s "$work/$kind.err") s CPU)" \
        test "$rc" -eq 0 -a "${m:-999}" -lt 128 || tail -3 "$work/$kind.err"
done
check "a symbol table of a million names for one 1 MB string: unnamed, counted" \
    sh -c "grep -q '^jitspin;symbomb.elf+0x1000 ' '$work/symbomb.folded' &&
           grep -q ' 1 symbol tables (those binaries unnamed)' '$work/symbomb.err'"
check "100,000 distinct 8 KB names: unnamed, counted" \
    sh -c "grep -q '^jitspin;symnames.elf+0x1000 ' '$work/symnames.folded' &&
           grep -q ' 1 symbol tables' '$work/symnames.err'"
check "a .debug_info inflating to 1 GiB is not inflated; the symbol still names the code" \
    sh -c "grep -q '^jitspin;hostile_spin ' '$work/dwarfbomb.folded' &&
           grep -q ' 1 debug files that would inflate too far' '$work/dwarfbomb.err'"

# ---- debug links ----
# a stripped binary whose .gnu_debuglink names a FIFO beside it
mkdir -p "$work/dl"
objcopy --strip-debug "$cw" "$work/dl/cpuwork"
echo x > "$work/dummy"
python3 "$craft" debuglink cpuwork.debug "$work/dummy" "$work/link-fifo"
objcopy --add-section .gnu_debuglink="$work/link-fifo" "$work/dl/cpuwork" "$work/dl/cpuwork-fifo"
mkfifo "$work/dl/cpuwork.debug"
timed "$pf" record -F 199 -o "$work/dlfifo.folded" -- "$work/dl/cpuwork-fifo" 2 2> "$work/dlfifo.err"
check "a debug link to a FIFO does not hang (status $rc, ${ms} ms)" \
    test "$rc" -eq 0 -a "$ms" -lt 20000 || tail -3 "$work/dlfifo.err"

# a binary without a build ID: its debug link is checked by CRC, over the
# whole candidate; a sparse 4 GiB one is not read. Static, so that the
# count of debug files is its alone (whether ld.so or libc was sampled
# changed it between runs).
gcc -O0 -g -static -Wl,--build-id=none "$top/tests/workloads/cpuwork.c" -o "$work/dl/nobid-full"
objcopy --only-keep-debug "$work/dl/nobid-full" "$work/dl/nobid.debug"
objcopy --strip-debug --add-gnu-debuglink="$work/dl/nobid.debug" "$work/dl/nobid-full" "$work/dl/nobid"
debug_files() { sed -n 's/.* \([0-9]*\) from debug files.*/\1/p' "$1"; }
"$pf" record -F 199 -o "$work/crc0.folded" -- "$work/dl/nobid" 1 2> "$work/crc0.err"
truncate -s 4G "$work/dl/nobid.debug"
timed "$pf" record -F 199 -o "$work/crc.folded" -- "$work/dl/nobid" 2 2> "$work/crc.err"
n0=$(debug_files "$work/crc0.err")
n1=$(debug_files "$work/crc.err")
check "a debug link checked by CRC is found ($n0 debug files), a sparse 4 GiB one is not read (status $rc, ${ms} ms, $n1)" \
    sh -c "[ $rc -eq 0 ] && [ $ms -lt 15000 ] && [ '${n0:-0}' -ge 1 ] && [ '${n1:-x}' = $((${n0:-0} - 1)) ]" ||
    grep binaries "$work/crc0.err" "$work/crc.err"

# a "container": its own mount namespace and root (pivot_root), a static
# binary whose debug link climbs out of that root to a debug file that
# matches it on the host; and, for comparison, one whose link stays inside
root="$work/root"
mkdir -p "$root/app"
gcc -static -O0 -g -fno-omit-frame-pointer "$top/tests/workloads/cpuwork.c" -o "$work/prog"
objcopy --only-keep-debug "$work/prog" "$work/prog.debug"
objcopy --strip-debug "$work/prog" "$root/app/prog"
python3 "$craft" debuglink "../../../../../..$work/prog.debug" "$work/prog.debug" "$work/link-out"
objcopy --add-section .gnu_debuglink="$work/link-out" "$root/app/prog" "$root/app/prog-escape"
cp "$work/prog.debug" "$root/app/prog.debug"
objcopy --add-gnu-debuglink="$root/app/prog.debug" "$root/app/prog" "$root/app/prog-inside"
for v in escape inside; do
    unshare --mount --propagation private sh -c \
        'mount --bind "$0" "$0" && cd "$0" && mkdir -p old && pivot_root . old && exec "$1" 4' \
        "$root" "/app/prog-$v" &
    pids+=($!)
    wait_for 5 grep -q " /app/prog-$v\$" "/proc/${pids[-1]}/maps"
    "$pf" record -p "${pids[-1]}" -d 1 -o "$work/chroot-$v.folded" 2> "$work/chroot-$v.err"
done
check "a debug link out of the container's root is not followed" \
    grep -q ' 0 from debug files' "$work/chroot-escape.err" || grep binaries "$work/chroot-escape.err"
check "... while one inside its root is" \
    grep -q ' 1 from debug files' "$work/chroot-inside.err" || grep binaries "$work/chroot-inside.err"
check "... and both are named from their symbol tables" \
    sh -c "grep -q ';func_a ' '$work/chroot-escape.folded' && grep -q ';func_a ' '$work/chroot-inside.folded'"

# ---- Pod identity ----
U=4d3c2b1a-0f9e-4d8c-a7b6-c5d4e3f2a1b0
C=$(container_id ab)
ctr="$base/$(kube_cgroup systemd besteffort "$U" containerd "$C")"
mkdir -p "$ctr"
pod_logs "$work/log" shop checkout-0 "$U" app "$C"
start_in_cgroup "$ctr" -- "$cw" 30
pids+=($!)
"$pf" record -p "${pids[-1]}" -d 1 --kubelet-log-dir "$work/log" -o "$work/fake.folded" 2> /dev/null
check "a kubelet-like tree in a cgroup the kubelet does not own is no Pod" \
    sh -c "grep -q '^cpuwork;' '$work/fake.folded' && ! grep -q 'shop/checkout-0' '$work/fake.folded'"
PODFLAME_KUBE_CGROUP_ROOT=$kroot \
    "$pf" record -p "${pids[-1]}" -d 1 --kubelet-log-dir "$work/log" -o "$work/real.folded" 2> /dev/null
check "... and is one under the kubelet's --cgroup-root (PODFLAME_KUBE_CGROUP_ROOT)" \
    grep -q '^shop/checkout-0;app;cpuwork;' "$work/real.folded"

# ---- names that are terminal escapes, in podflame top ----
spin esc 30
maps+=("/tmp/perf-$spid.map")
start=$(sed -n 's/^\([0-9a-f]*\)-.* rwxp .*/\1/p' "/proc/$spid/maps" | head -1)
printf '%s 2 evil\033[2J\033[41m\007name\n' "$start" > "/tmp/perf-$spid.map"
echo "$spid" > "$ctr/cgroup.procs"
PODFLAME_KUBE_CGROUP_ROOT=$kroot timeout 60 "$pf" top --iterations 1 --window 2 \
    --kubelet-log-dir "$work/log" > "$work/top.out" 2> "$work/top.err"
check "podflame top shows the name, escaped" grep -q 'evil\\x1b\[2J\\x1b\[41m\\x07name' "$work/top.out" ||
    cat -v "$work/top.out" "$work/top.err" | tail -5
check "... and sends the terminal no escape but its own two" \
    test "$(tr -cd '\033\007' < "$work/top.out" | wc -c)" -eq 2

# ---- the agent among all of that, and ever new binaries ----
# fresh hostile processes for the whole of the agent's run: the perf maps
# (FIFO, sparse, 1.5 M lines), the crafted binaries, then 1500 processes
# each running a binary of its own from a memfd, with its own build ID
for p in "${pids[@]}"; do
    kill -9 "$p" 2> /dev/null
    wait "$p" 2> /dev/null
done
pids=()
spin afifo 60
maps+=("/tmp/perf-$spid.map")
mkfifo "/tmp/perf-$spid.map"
spin asparse 60
maps+=("/tmp/perf-$spid.map")
truncate -s 1G "/tmp/perf-$spid.map"
spin abig 60
maps+=("/tmp/perf-$spid.map")
cp "$work/big.map" "/tmp/perf-$spid.map"
for kind in symbomb symnames dwarfbomb; do
    spin "a$kind" 60 "$work/$kind.elf" 0x1000
done
mport=$(random_port)
"$ppf" agent --output "file://$work/agent" --spool-dir "$work/spool" --interval 2 --grace 0 \
    --metrics-addr "127.0.0.1:$mport" --kubelet-log-dir "$work/log" --findings-dir "$work/findings" \
    -F 97 2> "$work/agent.log" &
agent=$!
pids+=($agent)
wait_for 10 curl -sf "http://127.0.0.1:$mport/healthz" > /dev/null
timed "$build/tests/memfdexec" 1500
check "1500 processes ran 1500 distinct binaries from memfds (${ms} ms)" test "$rc" -eq 0
sleep 6
curl -s "http://127.0.0.1:$mport/metrics" > "$work/metrics.txt"
parsed=$(awk '$1 == "podflame_symbolizer_binaries" { print $2 }' "$work/metrics.txt")
known=$(awk '$1 == "podflame_symbolizer_binaries_known" { print $2 }' "$work/metrics.txt")
hwm=$(awk '/^VmHWM:/ { print int($2 / 1024) }' "/proc/$agent/status")
check "the agent keeps at most 192 binaries parsed ($parsed)" test "${parsed:-999}" -le 192
check "... and forgets the ones no process maps ($known entries held)" test "${known:-9999}" -lt 600
check "... its peak RSS stays under 128 MiB (${hwm} MiB)" test "${hwm:-999}" -lt 128
check "... and /metrics counts what it refused" \
    awk '$1 == "podflame_symbolizer_refused_total" && $2 >= 4 { ok = 1 } END { exit !ok }' "$work/metrics.txt"
kill -TERM "$agent"
wait "$agent"
check "... and it exits cleanly" test $? -eq 0 || tail -5 "$work/agent.log"
check "findings and profiles are root's alone (0700 directories, 0600 files)" \
    sh -c "[ -z \"\$(find '$work/agent' \\( -type d ! -perm 0700 \\) -o \\( -type f ! -perm 0600 \\))\" ] &&
           [ -n \"\$(find '$work/agent' -type f -name '*.pb.gz')\" ]"

echo "hostile: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
