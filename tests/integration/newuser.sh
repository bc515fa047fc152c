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
    kill_and_reap TERM "${pids[@]}"
    sysctl -qw kernel.perf_event_max_sample_rate="$rate_was"
    rm -f /tmp/podflame-newuser-link.folded
    kill_and_reap KILL "${pids[@]}"
    remove_cgroups "${base:-}"
    [ "$failed" -eq 0 ] && rm -rf "$work"
}
trap cleanup EXIT
need_root newuser cgroup2
cd "$work" || exit 1

"$cw" 60 nu_wl > /dev/null &
wl=$!
pids+=($wl)
rec() { "$pf" record -F 199 -p "$wl" "$@"; }

# ---- output paths ----
mknod -m 666 null c 1 3
rec -d 1 -o null 2> /dev/null
check "a character device (a /dev/null) is written, not replaced" sh -c "[ $? -eq 0 ] && test -c null"
mkfifo fifo
(timeout 30 sh -c 'wc -c < fifo' > fifo.count) &
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
rc=$?
check "a symlink someone else planted in /tmp is not followed (status $rc)" \
    sh -c "[ $rc -ne 0 ] && cmp -s target.folded before.folded && grep -q 'does not follow it' planted.err"

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
    grep -q 'asked for 4000 Hz, the kernel delivered .* Hz a busy CPU .*kernel.perf_event_max_sample_rate is 1000 now' rate.err ||
    grep podflame: rate.err
rec -F 199 -d 1 -o ok.folded 2> ok.err
check "... and a rate it delivers is not" sh -c "! grep -q 'asked for' ok.err"

# ---- names and identity ----
"$pf" record -F 199 -p "$wl" -d 1 -o main.pb.gz 2> /dev/null
check "pprof's main binary is the recorded program" \
    sh -c "go tool pprof -top main.pb.gz 2> /dev/null | grep -q '^File: cpuwork'"
"$pf" record -F 99 -d 1 -o all.pb.gz 2> /dev/null
check "... and of a whole machine an executable, not a library or the kernel" \
    sh -c "go tool pprof -top all.pb.gz 2> /dev/null | grep '^File: ' | grep -Evq 'File: (\[|.*\.so|ld-linux)'"
cat > hot.js << 'JS'
function hotLoop(n) { let x = 1; for (let i = 0; i < n; i++) x = (x * 1103515245 + 12345) % 2147483648; return x; }
const end = Date.now() + Number(process.argv[2]) * 1000; let s = 0;
while (Date.now() < end) s += hotLoop(100000);
JS
node hot.js 5 > /dev/null &
js=$!
pids+=($js)
sleep 1
"$pf" record -F 199 -p "$js" -d 1 -o js.folded 2> js.err
check "Node.js without --perf-basic-prof: the summary names the process and the remedy" \
    grep -q "node (PID $js): .* samples in code without a name.*--perf-basic-prof" js.err ||
    grep podflame: js.err

# ---- a Go heap profile: several sample types ----
cat > heap.go << 'GO'
package main

import (
	"os"
	"runtime"
	"runtime/pprof"
)

var kept [][]byte

//go:noinline
func retain() {
	for i := 0; i < 64; i++ {
		kept = append(kept, make([]byte, 1<<20))
	}
}

func main() {
	runtime.MemProfileRate = 1
	retain()
	runtime.GC()
	f, _ := os.Create(os.Args[1])
	pprof.WriteHeapProfile(f)
	f.Close()
}
GO
export HOME=$work GOCACHE=$work/gocache GOPATH=$work/gopath GOFLAGS=-mod=mod GOTOOLCHAIN=local
if go run heap.go heap.pb.gz 2> go.err; then
    "$pf" convert heap.pb.gz heap.folded 2> /dev/null
    t=$(awk '/main.retain/ { s += $NF } END { print s + 0 }' heap.folded)
    check "a heap profile converts its last type, inuse_space, as pprof shows it ($t bytes)" \
        test "$t" -ge 67108864
    "$pf" convert --sample-type inuse_objects heap.pb.gz objs.folded 2> /dev/null
    t=$(awk '/main.retain/ { s += $NF } END { print s + 0 }' objs.folded)
    check "--sample-type inuse_objects: the 64 objects ($t)" test "$t" -ge 64 -a "$t" -lt 1000
    "$pf" flamegraph --sample-type alloc_space heap.pb.gz > heap.svg 2> /dev/null
    check "flamegraph --sample-type" xmllint --noout heap.svg
    "$pf" convert --sample-type bogus heap.pb.gz x.folded 2> st.err
    check "an unknown sample type lists those there are" \
        sh -c "[ $? -ne 0 ] && grep -q 'it has: alloc_objects alloc_space inuse_objects inuse_space' st.err"
else
    not_ok "go builds the heap profile writer" "$(tail -1 go.err)"
fi

# ---- small things ----
"$pf" record --bogus 2> bogus.err
check "an unknown option is prefixed 'podflame record:'" grep -q "^podflame record: unrecognized option '--bogus'" bogus.err
"$cw" 30 nu_two > /dev/null &
two=$!
pids+=($two)
"$pf" record -F 199 -p "$wl,$two" -d 1 -o two.folded 2> /dev/null
check "-p takes a comma list, as perf does" sh -c "grep -q '^nu_wl;' two.folded && grep -q '^nu_two;' two.folded"
"$pf" convert --help > convert.help
check "convert --help says it writes SVG" grep -q 'svg' convert.help
mkdir -p klog/pods/shop_web-0_0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9 klog/containers
"$pf" record -F 99 -p "$wl" -d 1 --kubelet-log-dir "$work/klog/pods" -o k1.folded 2> k1.err
"$pf" record -F 99 -p "$wl" -d 1 --kubelet-log-dir "$work" -o k2.folded 2> k2.err
check "--kubelet-log-dir: the pods/ directory itself is taken, an empty directory is warned of" \
    sh -c "! grep -q 'holds neither' k1.err && grep -q 'holds neither pods/ nor Pod directories' k2.err"
timeout 60 "$pf" top --iterations 1 --window 2 > top.out 2> top.err
check "top on a host without Pods shows its busiest processes" \
    sh -c "grep -q 'no Pods on this node' top.out && grep -q '^nu_wl ($wl)' top.out" || head -8 top.out

# ---- containers outside Kubernetes ----
# the runtimes' trees are taken only at the top of the hierarchy or under a
# root named here: the test's trees live under this one
kubelet_root newuser
export PODFLAME_KUBE_CGROUP_ROOT=$kroot
# in_cgroup REL NAME: a workload NAME in $base/REL; its pid in $ipid
in_cgroup() {
    mkdir -p "$base/$1"
    start_in_cgroup "$base/$1" -- "$cw" 30 "$2" > /dev/null
    ipid=$!
    pids+=($ipid)
}
if command -v podman > /dev/null; then
    # a real podman container's state (created, not started: starting one
    # needs rlimits this sandbox does not grant), then its cgroup's layout
    mkdir -p img && cp "$cw" img/cpuwork && tar -C img -cf img.tar cpuwork
    podman import -q img.tar "localhost/podflame-newuser-$$" > /dev/null 2>&1
    cid=$(podman create -q --network none --name "pfnu-$$" "localhost/podflame-newuser-$$" /cpuwork 5 2> podman.err)
    if [ -n "$cid" ]; then
        in_cgroup "machine.slice/libpod-$cid.scope" nu_podman
        "$pf" record -F 99 -p "$ipid" -d 1 --group-by container -o podman.folded 2> /dev/null
        check "a podman container: rooted at the name podman gave it" grep -q "^pfnu-$$;nu_podman;" podman.folded ||
            head -2 podman.folded
        "$pf" record -F 99 -p "$ipid" -d 1 -o podman.pb.gz 2> /dev/null
        "$pf" convert podman.pb.gz podman.txt --group-by container 2> /dev/null
        check "... labelled with its id and runtime" \
            sh -c "go tool pprof -raw podman.pb.gz 2> /dev/null | grep -q 'container_id:\[$cid\]' &&
                   go tool pprof -raw podman.pb.gz 2> /dev/null | grep -q 'runtime:\[podman\]'"
    else
        not_ok "podman creates a container" "$(tail -1 podman.err)"
    fi
    podman rm -f "pfnu-$$" > /dev/null 2>&1
    podman rmi -f "localhost/podflame-newuser-$$" > /dev/null 2>&1
else
    not_ok "podman is installed (tools/install-deps.sh)"
fi
did=$(printf 'fe%.0s' {1..32})
mkdir -p "docker/containers/$did"
echo '{"ID":"'"$did"'","Name":"/web-1","State":{"Running":true}}' > "docker/containers/$did/config.v2.json"
in_cgroup "system.slice/docker-$did.scope" nu_docker
PODFLAME_DOCKER_DIR="$work/docker" "$pf" record -F 99 -p "$ipid" -d 1 --group-by container -o docker.folded 2> /dev/null
check "a Docker container: rooted at its name from Docker's state" grep -q "^web-1;nu_docker;" docker.folded
PODFLAME_DOCKER_DIR="$work/docker" timeout 60 "$pf" top --iterations 1 --window 2 > ctop.out 2> /dev/null
check "top without Pods shows the container by name and runtime" grep -q '^web-1 \[docker\]' ctop.out ||
    head -8 ctop.out
in_cgroup 'machine.slice/machine-pf\x2dbox.scope' nu_nspawn
"$pf" record -F 99 -p "$ipid" -d 1 --group-by container -o nspawn.folded 2> /dev/null
check "a systemd-nspawn machine: rooted at the machine's name" grep -q "^pf-box;nu_nspawn;" nspawn.folded
in_cgroup "default/$did" nu_ctrd
"$pf" record -F 99 -p "$ipid" -d 1 --group-by container -o ctrd.folded 2> /dev/null
check "containerd's own: rooted at the short id" grep -q "^${did:0:12};nu_ctrd;" ctrd.folded
in_cgroup "user.slice/evil/system.slice/docker-$did.scope" nu_posing
PODFLAME_DOCKER_DIR="$work/docker" "$pf" record -F 99 -p "$ipid" -d 1 --group-by container -o posing.folded 2> /dev/null
check "a Docker tree inside a user's cgroup is no container" \
    sh -c "grep -q '^nu_posing;' posing.folded && ! grep -q 'web-1' posing.folded"

echo "newuser: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
