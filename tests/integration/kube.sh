#!/usr/bin/env bash
# Pod identity on an emulated node: cgroup v2 hierarchies shaped like
# kubelet's (systemd driver, cgroupfs driver, the three QoS classes) and a
# kubelet log tree, with CPU workloads inside the "containers". Checks the
# labels and Pod roots in folded, pprof and speedscope output.
# Ends with "kube: N passed, N failed".
set -u
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/podflame-kube.XXXXXX)
# the test's Pods live under this root, as under a kubelet's --cgroup-root
kubelet_root kube
export PODFLAME_KUBE_CGROUP_ROOT=$kroot
export HOME=$work GOCACHE=$work/gocache PODFLAME_NODE_TOOLS="$top/tools/node"
pids=()

cleanup() {
    kill_and_reap TERM "${pids[@]}"
    remove_cgroups "$base"
    [ "$failed" -eq 0 ] && rm -rf "$work"
}
trap cleanup EXIT

need_root kube cgroup2

U1=6a3e9c7b-0f1e-4c1d-9c2a-8b7e6d5c4b3a
U2=0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9
U3=9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a
C1=$(container_id c1)
C2=$(container_id d2)
C3=$(container_id e3)
# systemd driver, Burstable, containerd
g1="$base/$(kube_cgroup systemd burstable "$U1" containerd "$C1")"
# cgroupfs driver, BestEffort
g2="$base/$(kube_cgroup cgroupfs besteffort "$U2" containerd "$C2")"
# systemd driver, Guaranteed (no QoS level), CRI-O; the log tree does not name it
g3="$base/$(kube_cgroup systemd guaranteed "$U3" crio "$C3")"
mkdir -p "$g1" "$g2" "$g3"
pod_logs "$work/log" shop checkout-7d9f8b6c5d-x2k4p "$U1" app "$C1"
pod_logs "$work/log" batch worker-0 "$U2" main "$C2"

for spec in "$g1:wl_shop" "$g2:wl_batch" "$g3:wl_guar"; do
    start_in_cgroup "${spec%:*}" -- "$cw" 90 "${spec#*:}"
    pids+=($!)
done
sleep 0.5

NODE_NAME=node-7 "$pf" record -F 299 -d 2 --kubelet-log-dir "$work/log" -o "$work/k.pb.gz" 2> "$work/rec.err"
check "record on the emulated node" test -s "$work/k.pb.gz" || cat "$work/rec.err"
"$pf" convert "$work/k.pb.gz" "$work/pod.folded" --group-by pod 2> /dev/null
check "systemd/burstable Pod: namespace/pod, container, process roots" grep -q "^shop/checkout-7d9f8b6c5d-x2k4p;app;wl_shop;.*func_a " "$work/pod.folded"
check "cgroupfs/besteffort Pod named from the log tree" grep -q "^batch/worker-0;main;wl_batch;" "$work/pod.folded"
check "a Pod without names is rooted at its UID" grep -q "^$U3;wl_guar;" "$work/pod.folded"
check "host processes keep process roots" sh -c "test -s '$work/pod.folded' && ! grep -q '^shop/.*;wl_batch' '$work/pod.folded'"
"$pf" convert "$work/k.pb.gz" "$work/ctr.folded" --group-by container 2> /dev/null
check "--group-by container: namespace/pod/container roots" grep -q "^shop/checkout-7d9f8b6c5d-x2k4p/app;wl_shop;" "$work/ctr.folded"

# the labels themselves, as go tool pprof reads them
# -tags prints "key: Total ..." then one "time (pct): value" line per value
go tool pprof -tags "$work/k.pb.gz" 2> /dev/null |
    awk '/^ *[a-z_]+: Total/ { key = $1; sub(/:$/, "", key); next }
         NF && key { sub(/^[^)]*\): /, ""); print key, $0 }' > "$work/tags.txt"
for tag in "pod checkout-7d9f8b6c5d-x2k4p" "namespace shop" "container app" "qos burstable" \
           "qos besteffort" "qos guaranteed" "workload deployment/checkout" \
           "workload statefulset/worker" "pod_uid $U3" "container_id $C1" "node node-7"; do
    check "go tool pprof -tags: $tag" grep -qx "$tag" "$work/tags.txt"
done

"$pf" convert --group-by pod "$work/k.pb.gz" "$work/k.speedscope.json" 2> /dev/null
node "$top/tests/integration/speedscope-check.mjs" "$work/k.speedscope.json" > /dev/null 2>&1
check "speedscope: one profile per Pod, schema-valid" \
    sh -c "[ $? -eq 0 ] && grep -q '\"name\":\"shop/checkout-7d9f8b6c5d-x2k4p\"' '$work/k.speedscope.json'"

# filters: which workloads each selection keeps (roots of the folded output)
roots() { cut -d';' -f1 "$1" | sort -u | tr '\n' ' '; }
filter() { # expected roots, then record options
    local want=$1; shift
    "$pf" record -F 299 -d 1.5 --kubelet-log-dir "$work/log" --group-by process "$@" \
        -o "$work/f.folded" 2> "$work/f.err"
    check "record $* keeps: $want" test "$(roots "$work/f.folded")" = "$want " || cat "$work/f.err"
}
filter "wl_shop" --pod checkout-7d9f8b6c5d-x2k4p
filter "wl_guar" --pod "$U3"
filter "wl_batch" -n batch
filter "wl_batch wl_shop" -n shop -n batch
filter "wl_shop" --container app
filter "wl_batch" -n batch --container main

# a Pod that starts while recording is picked up
U4=1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d
C4=$(container_id f4)
g4="$base/$(kube_cgroup systemd burstable "$U4" containerd "$C4")"
"$pf" record -F 299 -d 4 --kubelet-log-dir "$work/log" --pod late-0 -o "$work/late.folded" 2> "$work/late.err" &
rec=$!
sleep 1.5
mkdir -p "$g4"
pod_logs "$work/log" shop late-0 "$U4" web "$C4"
start_in_cgroup "$g4" -- "$cw" 2 wl_late
pids+=($!)
wait "$rec"
check "a Pod created mid-recording is picked up" grep -q "^shop/late-0;web;wl_late;" "$work/late.folded" || cat "$work/late.err"
check "the filter waited for it, then counted it" \
    sh -c "grep -q 'no Pod matches the filters yet' '$work/late.err' && grep -q '1 cgroup matched' '$work/late.err'"

# a Pod removed while recording keeps what was sampled before
U5=5f4e3d2c-1b0a-4998-8776-655443322110
C5=$(container_id a5)
g5="$base/$(kube_cgroup cgroupfs burstable "$U5" containerd "$C5")"
g5p=${g5%/*}
mkdir -p "$g5"
pod_logs "$work/log" shop gone-0 "$U5" job "$C5"
# the workload starts once sampling has: under load, loading the BPF program
# can take longer than the workload lives
"$pf" record -F 499 -d 4 --kubelet-log-dir "$work/log" -o "$work/gone.folded" 2> "$work/gone.err" &
rec=$!
wait_for 20 grep -q "podflame: sampling" "$work/gone.err"
start_in_cgroup "$g5" -- "$cw" 1.2 wl_gone
gone=$!
wait "$gone"
rmdir "$g5" "$g5p"
wait "$rec"
check "a removed Pod keeps its samples and names" grep -q "^shop/gone-0;job;wl_gone;.*func_a " "$work/gone.folded" || cat "$work/gone.err"

# --kube-api: a real HTTPS server on loopback stands in for the API server;
# the kubelet log tree is empty, so every name and label comes from the API
api="$work/api"
mkdir -p "$api/sa" "$work/nolog"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=kubernetes \
    -addext "subjectAltName=IP:127.0.0.1" -keyout "$api/key.pem" -out "$api/sa/ca.crt" 2> /dev/null
echo "s3cr3t-token" > "$api/sa/token"
cat > "$api/pods.json" << JSON
[{"metadata": {"name": "ledger-5c6d7e8f9a-abcde", "namespace": "pay", "uid": "$U3",
   "labels": {"app": "ledger", "pod-template-hash": "5c6d7e8f9a", "tier": "backend"},
   "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "ledger-5c6d7e8f9a",
                        "uid": "x", "controller": true}]},
  "spec": {"nodeName": "node-7"},
  "status": {"containerStatuses": [{"name": "db", "containerID": "cri-o://$C3"}]}},
 {"metadata": {"name": "checkout-7d9f8b6c5d-x2k4p", "namespace": "shop", "uid": "$U1",
   "labels": {"app": "checkout"}},
  "status": {"containerStatuses": [{"name": "app", "containerID": "containerd://$C1"}]}}]
JSON
start_api() { # HIDE_FIRST
    rm -f "$api/port"
    node "$top/tests/integration/fake-kube-api.mjs" "$api/sa/ca.crt" "$api/key.pem" s3cr3t-token \
        node-7 "$api/pods.json" "$api/port" "$api/requests.log" "$1" &
    apipid=$!
    pids+=($apipid)
    wait_for 5 test -s "$api/port"
}
kube_api() { # output, then record options
    local out=$1
    shift
    NODE_NAME=node-7 KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT="$(cat "$api/port")" \
        PODFLAME_KUBE_SA_DIR="$api/sa" "$pf" record -F 299 --kubelet-log-dir "$work/nolog" \
        --kube-api "$@" -o "$out" 2> "$out.err"
}

env -u KUBERNETES_SERVICE_HOST "$pf" record --kube-api -d 1 -o "$work/x.folded" 2> "$work/x.err"
rc=$?
check "--kube-api outside a cluster: one clear line, no output" \
    sh -c "[ $rc -ne 0 ] && [ ! -e '$work/x.folded' ] &&
           grep -qx 'podflame record: --kube-api: not in a cluster: KUBERNETES_SERVICE_HOST is not set' '$work/x.err'"

# the first list comes back empty: the unknown Pods' samples ask for another
start_api 1
kube_api "$work/api.pb.gz" -d 4
check "--kube-api: record succeeds" test -s "$work/api.pb.gz" || cat "$work/api.pb.gz.err"
go tool pprof -tags "$work/api.pb.gz" 2> /dev/null |
    awk '/^ *[A-Za-z0-9_./-]+: Total/ { key = $1; sub(/:$/, "", key); next }
         NF && key { sub(/^[^)]*\): /, ""); print key, $0 }' > "$work/apitags.txt"
for tag in "pod ledger-5c6d7e8f9a-abcde" "namespace pay" "container db" "workload deployment/ledger" \
           "k8s.pod.label.app ledger" "k8s.pod.label.tier backend" "k8s.pod.label.app checkout" \
           "pod checkout-7d9f8b6c5d-x2k4p" "container app" "qos guaranteed"; do
    check "--kube-api labels: $tag" grep -qx "$tag" "$work/apitags.txt" || cat "$work/api.pb.gz.err"
done
check "--kube-api: paged lists of this node's Pods; an unknown Pod asks again early" \
    sh -c "grep -q 'fieldSelector=spec.nodeName%3Dnode-7&limit=500&continue=page-1 200' '$api/requests.log' &&
           [ \$(grep -vc 'continue=' '$api/requests.log') -ge 2 ]"
"$pf" convert --group-by pod "$work/api.pb.gz" "$work/api.folded" 2> /dev/null
check "--kube-api: samples taken before the API listed their Pod are named too" \
    sh -c "grep -q '^pay/ledger-5c6d7e8f9a-abcde;db;wl_guar;' '$work/api.folded' && ! grep -q '^$U3' '$work/api.folded'"
check "--kube-api: the summary counts the API's Pods" grep -q "kube-api: 2 Pods on this node" "$work/api.pb.gz.err"

# Pod filters match names only the API knows
kube_api "$work/apif.folded" -d 1.5 --group-by process -n pay
check "--kube-api: -n matches a namespace only the API names" \
    test "$(roots "$work/apif.folded")" = "wl_guar " || cat "$work/apif.folded.err"

# a token the server refuses: a warning in the server's words, samples kept
echo "wrong" > "$api/sa/token"
kube_api "$work/apibad.folded" -d 1
check "--kube-api: a refused token is reported and the recording goes on" \
    sh -c "grep -q 'kube-api: HTTP 401: Unauthorized; retrying every 30 s' '$work/apibad.folded.err' && [ -s '$work/apibad.folded' ]" ||
    cat "$work/apibad.folded.err"
kill "$apipid" 2> /dev/null

echo "kube: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
