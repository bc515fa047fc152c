#!/usr/bin/env bash
# The image and the DaemonSet's security context, run for real without a
# cluster: tools/deploy/build-rootfs.sh builds the image's filesystem
# (debootstrap, the Dockerfile's package list, cached), tools/deploy/oci-spec.py
# turns the manifest's Pod template into an OCI runtime spec, runc runs it.
# The agent inside samples a workload on the host in a kubelet-shaped cgroup,
# names its frames through /proc/PID/root, labels its Pod, uploads windows
# to s3rver on loopback, answers /healthz and /metrics and stops on SIGTERM
# within the grace period. Then each added capability is removed in turn,
# and the runtime's default seccomp profile replaces Unconfined.
#   deploy.sh BUILD [PLAIN_BUILD]   (the image holds PLAIN_BUILD/podflame, as
#   the Dockerfile builds it: no sanitizers). Ends with "deploy: N passed, ...".
set -u
. "$(dirname "$0")/lib.sh"
plain=$(cd "${2:-$top/build}" && pwd)
manifest=$top/tools/deploy/daemonset.yaml
skipped=0
# A skip checked nothing: like a unit test's, it fails the run unless
# PODFLAME_ALLOW_SKIPS=1 (a machine that lacks what it needs, knowingly).
skip_fails() {
    [ "${PODFLAME_ALLOW_SKIPS:-0}" = 1 ] || not_ok "skipped: $1 (a skip fails unless PODFLAME_ALLOW_SKIPS=1)"
}
skip() {
    echo "# SKIP deploy: $1"
    skip_fails "$1"
    echo "deploy: $passed passed, $failed failed, 1 skipped"
    [ "$failed" -eq 0 ]
    exit
}
[ "$(id -u)" -eq 0 ] || skip "runc and debootstrap need root"
command -v runc > /dev/null || skip "runc is missing (apt-get install runc)"
command -v debootstrap > /dev/null || skip "debootstrap is missing (apt-get install debootstrap)"
[ -n "$cgmount" ] || skip "no cgroup2 mount for the emulated Pods"
/usr/bin/python3 -c 'import yaml' 2> /dev/null || skip "python3-yaml is missing (apt-get install python3-yaml)"

work=$(mktemp -d /tmp/podflame-deploy.XXXXXX)
kubelet_root deploy
export HOME=$work GOCACHE=$work/gocache PODFLAME_NODE_TOOLS="$top/tools/node"
pids=()
s3pid=""
ctrs=()
cleanup() {
    local c
    for c in "${ctrs[@]}"; do runc kill "$c" KILL 2> /dev/null; runc delete -f "$c" 2> /dev/null; done
    kill_and_reap KILL "${pids[@]}" ${s3pid:+"$s3pid"}
    remove_cgroups "$base"
    # runc removes its containers' cgroups, not their parent (another run's may still be there)
    rmdir /sys/fs/cgroup/*/podflame-oci 2> /dev/null
    rm -rf "$app"
    [ "$failed" -eq 0 ] && rm -rf "$work"
}
trap cleanup EXIT

# ---- the image ----
t0=$(date +%s)
nice "$top/tools/deploy/build-rootfs.sh" "$plain/podflame" "$work/rootfs" > /dev/null 2> "$work/rootfs.log"
check "the image's filesystem builds from the Dockerfile's package list ($(($(date +%s) - t0)) s)" \
    test -x "$work/rootfs/usr/local/bin/podflame" || { cat "$work/rootfs.log"; give_up deploy "no image"; }
check "... and the agent runs from it with the image's libraries only" \
    sh -c "chroot '$work/rootfs' /usr/local/bin/podflame agent --check-config > /dev/null"
check "the Dockerfile reads the same package list" \
    grep -q 'COPY tools/deploy/runtime-packages.txt' "$top/tools/deploy/Dockerfile"

# ---- the emulated node: a Pod with a CPU workload, its log tree, S3 ----
U1=9c8b7a65-4321-4fed-8cba-0987654321fe
C1=$(container_id d4)
g1="$base/$(kube_cgroup systemd burstable "$U1" containerd "$C1")"
mkdir -p "$g1"
pod_logs "$work/log" shop checkout-6f7d8c9b5a-z9x8c "$U1" app "$C1"
# the Pod's application as a container's usually is: its own user, its files
# in a directory only that user may enter, outside the agent's filesystem
# (only /proc/PID/root or /proc/PID/map_files reach it)
app=/tmp/podflame-deploy-app.$$
mkdir -p "$app"
cp "$cw" "$app/cpuwork"
chown -R 4321:4321 "$app"
chmod 0700 "$app"
start_in_cgroup "$g1" -- setpriv --reuid 4321 --regid 4321 --clear-groups "$app/cpuwork" 600 wl_checkout
pids+=($!)
wpid=$!
# a second Pod whose binary was deleted after it started (an update in place):
# only /proc/PID/map_files opens it
U2=0a1b2c3d-4e5f-4061-8273-94a5b6c7d8e9
C2=$(container_id e5)
g2="$base/$(kube_cgroup systemd besteffort "$U2" containerd "$C2")"
mkdir -p "$g2"
pod_logs "$work/log" shop ledger-7a8b9c0d1e-k3j4h "$U2" app "$C2"
cp "$cw" "$app/ledger"
chown 4321:4321 "$app/ledger"
start_in_cgroup "$g2" -- setpriv --reuid 4321 --regid 4321 --clear-groups "$app/ledger" 600 wl_ledger
pids+=($!)
sleep 0.5
rm -f "$app/ledger"

export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=podflame-test-secret
mkdir -p "$work/s3data"
node "$top/tests/integration/s3-server.mjs" "$work/s3data" profiles "$AWS_ACCESS_KEY_ID" \
    "$AWS_SECRET_ACCESS_KEY" "$work/s3.port" "$work/s3.log" 2> "$work/s3.err" &
s3pid=$!
wait_for 20 test -s "$work/s3.port" || { cat "$work/s3.err"; give_up deploy "the S3 server starts"; }
s3port=$(cat "$work/s3.port")
s3get() {
    curl -sS --fail --aws-sigv4 "aws:amz:us-east-1:s3" -u "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
        "http://127.0.0.1:$s3port/$1"
}
s3keys() { s3get "profiles?list-type=2" | grep -o "<Key>[^<]*</Key>" | sed "s/<[^>]*>//g" | grep "^$1" | sort; }

# run_agent NAME SECONDS [oci-spec.py options]: the DaemonSet's agent container,
# its spec from the manifest, run by runc for SECONDS (or until it exits), then
# SIGTERM as the kubelet sends it. Sets rc (its exit status), stop_s (seconds
# from SIGTERM to exit), mport; its log in $work/NAME.log, windows under
# s3://profiles/NAME/node-d/.
run_agent() {
    local name=$1 secs=$2 id t
    shift 2
    id="podflame-deploy-$$-$name"
    mport=$(random_port)
    mkdir -p "$work/spool-$name"
    /usr/bin/python3 "$top/tools/deploy/oci-spec.py" "$manifest" "$work/rootfs" "$work/b-$name" \
        --field spec.nodeName=node-d \
        --secret podflame-s3:AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" \
        --secret podflame-s3:AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" \
        --secret podflame-control:token=deploy-test-token \
        --host-path /var/log/pods="$work/log/pods" --host-path /var/log/containers="$work/log/containers" \
        --host-path /var/lib/podflame="$work/spool-$name" \
        --set-arg=--metrics-addr=127.0.0.1:"$mport" \
        --env PODFLAME_OUTPUT="s3://profiles/$name" --env PODFLAME_S3_ENDPOINT="http://127.0.0.1:$s3port" \
        --env PODFLAME_S3_REGION=us-east-1 \
        --env PODFLAME_KUBE_API=false --env PODFLAME_INTERVAL=3 --env PODFLAME_FREQ=97 \
        --env PODFLAME_KUBE_CGROUP_ROOT="$kroot" "$@" 2> "$work/$name.spec.err" ||
        { cat "$work/$name.spec.err"; rc=125; stop_s=0; return; }
    ctrs+=("$id")
    runc run --bundle "$work/b-$name" "$id" < /dev/null > "$work/$name.out" 2> "$work/$name.log" &
    local rpid=$!
    t=$((secs * 5))
    while [ $t -gt 0 ] && kill -0 "$rpid" 2> /dev/null; do sleep 0.2; t=$((t - 1)); done
    curl -s -m 2 "http://127.0.0.1:$mport/healthz" > "$work/$name.healthz"
    curl -s -m 2 "http://127.0.0.1:$mport/metrics" > "$work/$name.metrics"
    t=$(date +%s%N)
    runc kill "$id" TERM 2> /dev/null
    wait "$rpid"
    rc=$?
    stop_s=$((($(date +%s%N) - t) / 1000000000))
    runc delete -f "$id" 2> /dev/null
}
declare -A row said
# named NAME POD: 1 when the windows in S3 name POD's functions (func_a..d)
named() {
    local k
    for k in $(s3keys "$1/node-d/" | grep '\.pb\.gz$'); do
        s3get "profiles/$k" > "$work/dl.pb.gz" || continue
        go tool pprof -tagfocus "pod=$2" -top -nodecount 200 "$work/dl.pb.gz" 2> /dev/null
    done | grep -Eq ' func_[abcd]$' && echo 1 || echo 0
}
metric() { awk -v m="$1" '$1 == m { print int($2) }' "$2"; }

# ---- the manifest as it is ----
run_agent full 14
grace=$(awk '/terminationGracePeriodSeconds/ { print $2 }' "$manifest")
check "the agent runs under the manifest's security context and exits 0 on SIGTERM" test "$rc" -eq 0 ||
    tail -20 "$work/full.log" | sed 's/^/# /'
check "... within the grace period (${stop_s} s of ${grace} s)" test "$stop_s" -lt "$grace"
check "/healthz answers ok" grep -qx ok "$work/full.healthz"
check "/metrics counts samples and written windows" \
    test "$(metric podflame_samples_total "$work/full.metrics")" -gt 0 -a \
    "$(metric podflame_windows_written_total "$work/full.metrics")" -gt 0
check "... and no upload failures" test "$(metric podflame_upload_failures_total "$work/full.metrics")" -eq 0
keys=$(s3keys full/node-d/ | grep '\.pb\.gz$')
check "windows uploaded to s3://profiles/full/node-d/ (NODE_NAME from the Downward API)" \
    test "$(echo "$keys" | grep -c .)" -ge 2 || tail -20 "$work/full.log"
: > "$work/full.tags"
: > "$work/full.top"
# other processes of this host run too: what is checked is the test's Pods' samples
for k in $keys; do
    s3get "profiles/$k" > "$work/dl.pb.gz" || continue
    go tool pprof -tagfocus pod=checkout-6f7d8c9b5a-z9x8c -tags "$work/dl.pb.gz" >> "$work/full.tags" 2> /dev/null
done
# "KEY: Total ..." then "  ... (100%): VALUE": KEY VALUE pairs
grep -A1 '^ *[a-z_]*: Total' "$work/full.tags" | grep -v '^--' | paste - - | awk '{ print $1, $NF }' |
    sort -u > "$work/full.labels"
check "the workload's samples carry its Pod's labels (namespace, container, qos, node, ConfigMap's label)" \
    sh -c "grep -qx 'namespace: shop' '$work/full.labels' && grep -qx 'container: app' '$work/full.labels' &&
        grep -qx 'qos: burstable' '$work/full.labels' && grep -qx 'node: node-d' '$work/full.labels' &&
        grep -qx 'cluster: prod-eu' '$work/full.labels'" || sed 's/^/# /' "$work/full.labels"
check "its frames are named through /proc/PID/root (a binary outside the image, another user's)" \
    test "$(named full checkout-6f7d8c9b5a-z9x8c)" = 1
check "... and a deleted binary's through /proc/PID/map_files" \
    test "$(named full ledger-7a8b9c0d1e-k3j4h)" = 1
check "the spool is empty after a clean stop" sh -c "[ -z \"\$(ls -A '$work/spool-full/spool')\" ]"
kill -0 "$wpid" 2> /dev/null
check "the workload ran on, outside the container" test $? -eq 0


# ---- least privilege: each capability of the manifest removed in turn ----
caps=$(/usr/bin/python3 -c 'import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "DaemonSet":
        print(" ".join(d["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"]["add"]))' "$manifest")
echo "# capability matrix (removed: exit status, samples, names of the Pods' frames checkout/ledger, what the agent said)"
for c in $caps; do
    run_agent "no-$c" 7 --drop-cap "$c"
    row[$c]="rc=$rc samples=$(metric podflame_samples_total "$work/no-$c.metrics") checkout=$(named "no-$c" checkout-6f7d8c9b5a-z9x8c) ledger=$(named "no-$c" ledger-7a8b9c0d1e-k3j4h)"
    said[$c]=$(grep -m1 'missing\|without' "$work/no-$c.log")
    echo "# $c: ${row[$c]}: ${said[$c]}"
done
# what was measured (README, "Capabilities"), checked: cap_run CAP ROW_RE SAID_RE
cap_run() { echo "${row[$1]-}" | grep -Eq "$2" && echo "${said[$1]-}" | grep -q "$3"; }
for c in BPF PERFMON; do
    check "without $c the agent does not start, and names $c" cap_run "$c" '^rc=[1-9]' "refused.*missing CAP_$c"
done
check "without SYS_PTRACE it samples on, names no frame of another user's process, and says so" \
    cap_run SYS_PTRACE '^rc=0 samples=[1-9][0-9]* checkout=0 ledger=0' 'without CAP_SYS_PTRACE'
check "without DAC_READ_SEARCH: the same (the binaries are in a directory only their user enters)" \
    cap_run DAC_READ_SEARCH '^rc=0 samples=[1-9][0-9]* checkout=0 ledger=0' 'without CAP_DAC_READ_SEARCH'
check "without CHECKPOINT_RESTORE a deleted binary is not named, one on disk is, and it says so" \
    cap_run CHECKPOINT_RESTORE '^rc=0 samples=[1-9][0-9]* checkout=1 ledger=0' 'without CAP_CHECKPOINT_RESTORE'
if [ "$(cat /proc/sys/kernel/kptr_restrict)" = 0 ]; then
    check "without SYSLOG (kptr_restrict=0 here: kernel symbols readable anyway) nothing else changes, and it says so" \
        cap_run SYSLOG '^rc=0 samples=[1-9][0-9]* checkout=1 ledger=1' 'without CAP_SYSLOG'
fi
check "the manifest asks for no capability that nothing needed (SYS_RESOURCE: BPF memory is the cgroup's)" \
    sh -c "! echo '$caps' | grep -qw SYS_RESOURCE"

# ---- seccomp: the runtime's default profile instead of Unconfined ----
run_agent seccomp-default 7 --seccomp runtime-default
check "under the runtime's default seccomp profile the agent does not start" test "$rc" -ne 0
check "... and says a seccomp filter refuses bpf(), not a capability" \
    grep -q 'although CAP_BPF and CAP_PERFMON are held: a seccomp filter' "$work/seccomp-default.log" ||
    tail -3 "$work/seccomp-default.log" | sed 's/^/# /'

# ---- the manifest against the Kubernetes API's schema, offline ----
tools=$top/tools/node
if [ -d "$tools/node_modules/kubernetes-models" ] && [ -d "$tools/node_modules/yaml" ]; then
    node "$top/tools/deploy/validate-manifest.mjs" "$tools" "$manifest" > "$work/schema.out" 2>&1
    check "every object of the manifest is valid against the Kubernetes API schema (kubernetes-models)" \
        test $? -eq 0 -a "$(grep -c '^valid ' "$work/schema.out")" -eq "$(grep -c '^kind:' "$manifest")" ||
        sed 's/^/# /' "$work/schema.out"
    sed 's/hostPID: true/hostPID: "yes"/' "$manifest" > "$work/bad.yaml"
    node "$top/tools/deploy/validate-manifest.mjs" "$tools" "$work/bad.yaml" > "$work/schema-bad.out" 2>&1
    check "... and the validator is not blind: hostPID: \"yes\" is refused" \
        grep -q 'invalid DaemonSet podflame:.*hostPID must be boolean' "$work/schema-bad.out" ||
        sed 's/^/# /' "$work/schema-bad.out"
    node "$top/tools/deploy/validate-manifest.mjs" "$tools" "$top/tools/deploy/compact-cronjob.yaml" \
        > "$work/schema-cron.out" 2>&1
    check "podflame compact's CronJob is valid too" grep -qx 'valid CronJob podflame-compact' "$work/schema-cron.out" ||
        sed 's/^/# /' "$work/schema-cron.out"
else
    echo "# SKIP schema validation: kubernetes-models is not in tools/node/node_modules (run tools/install-deps.sh)"
    skip_fails "schema validation: kubernetes-models is missing (run tools/install-deps.sh)"
    skipped=$((skipped + 1))
fi
sed 's/readOnlyRootFilesystem:/readOnlyRootFilesystm:/' "$manifest" > "$work/typo.yaml"
/usr/bin/python3 "$top/tools/deploy/oci-spec.py" "$work/typo.yaml" "$work/rootfs" "$work/b-typo" \
    --field spec.nodeName=n 2> "$work/typo.err"
check "a misspelt securityContext field is refused, not ignored" \
    grep -q 'unknown securityContext fields: readOnlyRootFilesystm' "$work/typo.err"

echo "deploy: $passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
