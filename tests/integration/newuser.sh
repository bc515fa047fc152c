#!/usr/bin/env bash
# What a new user hit (issue #16), each provoked as they did: output paths
# that are devices, FIFOs, symlinks or another user's directory; errors
# that came after the recording; input with nothing usable; a sampling rate
# the kernel did not deliver. Ends with "newuser: N passed, N failed".
set -u
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/podflame-newuser.XXXXXX)
pids=()
rate_was=$(cat /proc/sys/kernel/perf_event_max_sample_rate)
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2> /dev/null; done
    wait 2> /dev/null
    sysctl -qw kernel.perf_event_max_sample_rate="$rate_was"
    rm -f /tmp/podflame-newuser-link.folded
    [ "$failed" -eq 0 ] && rm -rf "$work"
}
trap cleanup EXIT
[ "$(id -u)" -eq 0 ] || give_up newuser "runs as root"
cd "$work" || exit 1

"$cw" 60 nu_wl > /dev/null &
wl=$!
pids+=($wl)
rec() { "$pf" record -F 199 -p "$wl" "$@"; }

# ---- output paths ----
mknod -m 666 null c 1 3
rec -d 1 -o null 2> /dev/null
check "a character device (a /dev/null) is written, not replaced" test -c null
mkfifo fifo
(wc -c < fifo > fifo.count) &
rec -d 1 -o fifo 2> /dev/null
wait $!
check "a FIFO is written to its reader ($(cat fifo.count) bytes), not replaced" \
    sh -c "test -p fifo && test \$(cat fifo.count) -gt 0"
echo old > target.folded
ln -s target.folded link.folded
rec -d 1 -o link.folded 2> /dev/null
check "a symlink: its target is written, the link stays" \
    sh -c "test -L link.folded && grep -q 'nu_wl;' target.folded"
ln -s "$work/target.folded" /tmp/podflame-newuser-link.folded
chown -h nobody /tmp/podflame-newuser-link.folded
cp target.folded before.folded
rec -d 1 -o /tmp/podflame-newuser-link.folded 2> planted.err
check "a symlink someone else planted in /tmp is not followed (status $?)" \
    sh -c "cmp -s target.folded before.folded && grep -q 'does not follow it' planted.err"

t0=$(date +%s%N)
rec -d 5 -o /nonexistent/dir/x.folded 2> missing.err
rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
check "a missing directory fails before sampling (status $rc, ${ms} ms), naming the path" \
    sh -c "[ $rc -ne 0 ] && [ $ms -lt 1000 ] && grep -q 'cannot write /nonexistent/dir/x.folded: no directory /nonexistent/dir' missing.err"
mkdir other
chown nobody other
rec -d 1 -o other/x.svg 2> other.err
check "another user's directory: written although root's powers are dropped" \
    sh -c "[ $? -eq 0 ] && xmllint --noout other/x.svg" || cat other.err
rec -d 1 -o x.unknownext 2> ext.err
check "an unknown extension is an error listing the known ones" \
    sh -c "[ $? -eq 2 ] && grep -q '.speedscope.json' ext.err && [ ! -e x.unknownext ]"

# ---- input with nothing usable ----
head -c 300000 /dev/urandom | base64 > data.b64
"$pf" convert data.b64 out.folded 2> b64.err
check "garbage in: a non-zero exit and what was expected" \
    sh -c "[ $? -ne 0 ] && grep -q 'no samples in it; expected folded stacks' b64.err && [ ! -e out.folded ]"
rec -d 1 -o rec.pb.gz 2> /dev/null
"$pf" convert rec.pb.gz y.speedscope.json --from perf-script 2> from.err
check "pprof read as perf script: an error, no empty profile" \
    sh -c "[ $? -ne 0 ] && [ ! -e y.speedscope.json ] && grep -q \"expected 'perf script' output\" from.err"
"$pf" flamegraph data.b64 > g.svg 2> g.err
check "flamegraph of garbage: an error" sh -c "[ $? -eq 1 ] && grep -q 'no stacks in it' g.err"

# ---- a rate the kernel does not deliver ----
# lowering the kernel's ceiling while sampling makes it throttle the events
rec -F 4000 -d 4 -o rate.folded 2> rate.err &
r=$!
wait_for 20 grep -q 'podflame: sampling' rate.err
sysctl -qw kernel.perf_event_max_sample_rate=1000
wait $r
sysctl -qw kernel.perf_event_max_sample_rate="$rate_was"
check "a rate the kernel did not deliver is reported with the reason" \
    grep -q 'asked for 4000 Hz, the kernel delivered .* Hz a CPU .*kernel.perf_event_max_sample_rate is 1000 now' rate.err ||
    grep podflame: rate.err
rec -F 199 -d 1 -o ok.folded 2> ok.err
check "... and a rate it delivers is not" sh -c "! grep -q 'asked for' ok.err"

echo "newuser: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
