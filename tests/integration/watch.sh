#!/usr/bin/env bash
# The saturation watcher on an emulated node: a CPU hog in one Pod held to
# half a CPU by a real CFS quota (the v1 cpu controller beside cgroup v2, as
# on a hybrid host), two quiet Pods. The watcher fires once and its finding
# names the hog, its hot function and code path; the capture validates; the
# cooldown holds. Then external triggers: podflame trigger, a real
# Alertmanager delivering its webhook, bad requests; and podflame top in
# tmux. Ends with "watch: N passed, N failed".
set -u
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/podflame-watch.XXXXXX)
cgmount=$(awk '$0 ~ / - cgroup2 / { print $5; exit }' /proc/self/mountinfo)
v1cpu=$(awk '$0 ~ / - cgroup / && $NF ~ /(^|,)cpu(,|$)/ { print $5; exit }' /proc/self/mountinfo)
rel="podflame-watch-$$"
# the test's Pods live under this root, as under a kubelet's --cgroup-root
export PODFLAME_KUBE_CGROUP_ROOT="/$rel"
export HOME=$work GOCACHE=$work/gocache NODE_NAME=node-w
pids=()
hog=""

cleanup() {
    for p in "${pids[@]}" $hog; do kill -9 "$p" 2>/dev/null; done
    tmux kill-session -t "pftop$$" 2> /dev/null
# a rate with trailing junk is refused, not read as its leading digits
rc=0
"$pf" top -F 10x > /dev/null 2> "$work/top-bad.err" || rc=$?
check "podflame top -F 10x: exit 2 and says why" \
    sh -c "[ $rc -eq 2 ] && grep -q -- \"--freq takes 1 to 100000 Hz, not '10x'\" '$work/top-bad.err'" ||
    cat "$work/top-bad.err"
    wait 2>/dev/null
    sleep 0.3 # killed processes leave their cgroups as they are reaped
    for root in "$cgmount" "$v1cpu"; do
        [ -n "$root" ] && [ -d "$root/$rel" ] && find "$root/$rel" -depth -type d -exec rmdir {} \; 2>/dev/null
    done
    [ "$failed" -eq 0 ] && rm -rf "$work"
}
trap cleanup EXIT

[ "$(id -u)" -eq 0 ] && [ -n "$cgmount" ] || give_up watch "runs as root with a cgroup2 mount"

U1=1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d
U2=2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e
U3=3c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f
C1=$(printf 'f1%.0s' {1..32})
C2=$(printf 'f2%.0s' {1..32})
C3=$(printf 'f3%.0s' {1..32})
pod1="$rel/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${U1//-/_}.slice"
pod2="$rel/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${U2//-/_}.slice"
pod3="$rel/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${U3//-/_}.slice"
mkdir -p "$cgmount/$pod1/cri-containerd-$C1.scope" "$cgmount/$pod2/cri-containerd-$C2.scope" \
    "$cgmount/$pod3/cri-containerd-$C3.scope"
mkdir -p "$work/log/pods/shop_checkout-6b7c8d9e0f-h4j5k_$U1/app" \
    "$work/log/pods/batch_worker-0_$U2/main" "$work/log/pods/web_frontend-7f8e9d_$U3/nginx" \
    "$work/log/containers"
touch "$work/log/containers/checkout-6b7c8d9e0f-h4j5k_shop_app-$C1.log"

# the hog's CPU limit: half a CPU, in the v1 cpu controller (cgroup v2 here has no cpu controller)
if [ -n "$v1cpu" ]; then
    mkdir -p "$v1cpu/$pod1/cri-containerd-$C1.scope"
    echo 50000 > "$v1cpu/$pod1/cpu.cfs_quota_us"
fi
start_hog() {
    sh -c "echo \$\$ > '$cgmount/$pod1/cri-containerd-$C1.scope/cgroup.procs' &&
           { [ -z '$v1cpu' ] || echo \$\$ > '$v1cpu/$pod1/cri-containerd-$C1.scope/cgroup.procs'; } &&
           exec '$cw' 600 wl_hog" &
    hog=$!
}
start_hog
for spec in "$pod2/cri-containerd-$C2.scope:quiet_w" "$pod3/cri-containerd-$C3.scope:quiet_f"; do
    sh -c "echo \$\$ > '$cgmount/${spec%:*}/cgroup.procs' && exec sh -c 'while :; do sleep 0.2; done'" &
    pids+=($!)
done

nfindings() { find "$work/$1" -name finding.json 2> /dev/null | wc -l; }
has_finding() { [ "$(nfindings "$1")" -ge 1 ]; }
port=$((20000 + RANDOM % 20000))

# ---- the pod-limit rule: one finding, the hog first, its hot code ----
"$pf" watch --node-cpu 0 --throttle 0 --pod-limit 80 --sustain 3 --cooldown 120 \
    --capture-hz 199 --capture-seconds 3 --findings-dir "$work/f1" --kubelet-log-dir "$work/log" \
    --listen "127.0.0.1:$port" 2> "$work/watch.log" &
watcher=$!
pids+=($watcher)
check "a Pod at its CPU limit fires the watcher" wait_for 90 has_finding f1 ||
    tail -5 "$work/watch.log"
f=$(find "$work/f1" -name finding.json | head -1)
d=$(dirname "$f")
check "the rule was pod-limit" grep -q '"rule": "pod-limit"' "$f"
check "the finding names the hog Pod first" \
    node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1]));
        process.exit(j.pods[0].pod === "checkout-6b7c8d9e0f-h4j5k" && j.pods[0].namespace === "shop" &&
            j.pods[0].limit_cpus === 0.5 && j.pods.length === 3 ? 0 : 1)' "$f" || head -40 "$f"
check "its hot function (func_a) is among its top 3" \
    node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1]));
        process.exit(j.pods[0].hot_functions.slice(0, 3).some((h) => h.name === "func_a") ? 0 : 1)' "$f"
check "with its code path, root to leaf (main ... func_a)" \
    node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1]));
        const p = j.pods[0].hot_paths.map((x) => x.frames);
        process.exit(p.some((f) => f.at(-1) === "func_a" && f.includes("main") && f.indexOf("main") < f.length - 1) ? 0 : 1)' "$f"
check "the node CPU timeline is in the finding" \
    node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1]));
        process.exit(j.node_cpu.timeline.length >= 3 && j.node_cpu.cpus >= 1 ? 0 : 1)' "$f"
check "finding.md links the pprof and the flame graph" \
    sh -c "grep -q 'checkout-6b7c8d9e0f-h4j5k' '$d/finding.md' && grep -q '(capture.svg)' '$d/finding.md' && grep -q 'func_a' '$d/finding.md'"
check "the linked flame graph is well-formed SVG" xmllint --noout "$d/capture.svg"
check "the linked pprof reads in go tool pprof" sh -c "go tool pprof -top '$d/capture.pb.gz' 2> /dev/null | grep -q func_a"
# the hog stops: the incident ends; it starts again within the cooldown: no second finding
kill "$hog"; wait "$hog" 2> /dev/null
sleep 7
start_hog
sleep 6
check "no second finding within the cooldown" test "$(nfindings f1)" -eq 1
check "the watcher said which rule fired, once" test "$(grep -c 'pod-limit fired' "$work/watch.log")" -eq 1

# ---- external triggers ----
"$pf" trigger --pod worker-0 -n batch --reason "checking" --addr "127.0.0.1:$port" > "$work/trig.out" 2>&1
check "podflame trigger asks for a capture" grep -q "capturing 1 Pod" "$work/trig.out" || cat "$work/trig.out"
check "... and its finding appears" wait_for 20 sh -c "ls -d '$work'/f1/*-external-worker-0 > /dev/null 2>&1 && test -s '$work'/f1/*-external-worker-0/finding.md"
"$pf" trigger --pod nosuch-0 -n batch --addr "127.0.0.1:$port" > "$work/trig2.out" 2>&1
check "an unknown Pod: exit 1 and a clear message" \
    sh -c "[ $? -eq 1 ] && grep -q 'no Pod batch/nosuch-0 on this node' '$work/trig2.out'"
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check "malformed JSON: 400" test "$(code -d '{"pod":' "http://127.0.0.1:$port/trigger")" = 400
check "not a webhook: 400" test "$(code -d '{"version":"4"}' "http://127.0.0.1:$port/alertmanager")" = 400
check "an oversized body: 413" \
    test "$(head -c 3000000 /dev/zero | code --data-binary @- "http://127.0.0.1:$port/alertmanager")" = 413
check "each bad request is logged" test "$(grep -c -e 'malformed JSON' -e 'not an Alertmanager webhook' -e 'no Pod batch/nosuch-0' "$work/watch.log")" -ge 3
check "the watcher survived them" kill -0 "$watcher"

# a real Alertmanager delivering its webhook
amport=$((port + 1))
cat > "$work/am.yml" << EOF
route:
  receiver: podflame
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: podflame
    webhook_configs:
      - url: http://127.0.0.1:$port/alertmanager
        send_resolved: false
EOF
prometheus-alertmanager --config.file="$work/am.yml" --storage.path="$work/am" \
    --web.listen-address="127.0.0.1:$amport" --cluster.listen-address= > "$work/am.log" 2>&1 &
pids+=($!)
wait_for 20 curl -sf "http://127.0.0.1:$amport/-/ready" > /dev/null
curl -s -XPOST -H 'Content-Type: application/json' "http://127.0.0.1:$amport/api/v2/alerts" \
    -d '[{"labels": {"alertname": "FrontendSlow", "namespace": "web", "service": "frontend", "severity": "page"}}]' > /dev/null
check "Alertmanager's webhook leads to a finding for the alert's Pod" \
    wait_for 40 sh -c "ls '$work'/f1/*-external-frontend-7f8e9d/finding.json > /dev/null 2>&1" ||
    { tail -3 "$work/am.log"; tail -5 "$work/watch.log"; }
check "... naming the alert" sh -c "grep -q 'alert FrontendSlow' '$work'/f1/*-external-frontend-7f8e9d/finding.json"
kill -TERM "$watcher"; wait "$watcher"
check "podflame watch exits 0 on SIGTERM" test $? -eq 0

# ---- the throttle rule, on its own ----
if [ -n "$v1cpu" ]; then
    "$pf" watch --node-cpu 0 --pod-limit 0 --throttle 25 --sustain 2 --capture-seconds 1 \
        --findings-dir "$work/f2" --kubelet-log-dir "$work/log" --listen off 2> "$work/watch2.log" &
    w2=$!
    check "a throttled Pod fires the throttle rule" wait_for 20 sh -c "grep -q '\"rule\": \"throttle\"' '$work'/f2/*/finding.json 2> /dev/null"
    kill -TERM "$w2"; wait "$w2"
else
    not_ok "a v1 cpu controller for CFS quotas"
fi

# ---- podflame top in tmux ----
tmux new-session -d -s "pftop$$" -x 180 -y 40 "$pf top --kubelet-log-dir '$work/log' 2> '$work/top.err'"
sleep 4
tmux capture-pane -p -t "pftop$$" > "$work/top.txt"
first=$(grep -A1 '^POD' "$work/top.txt" | tail -1)
check "podflame top: the hog Pod on top" sh -c "echo '$first' | grep -q 'shop/checkout-6b7c8d9e0f-h4j5k'" ||
    cat "$work/top.txt" "$work/top.err"
check "... with its hottest function" sh -c "echo '$first' | grep -q 'func_a'"
tmux kill-session -t "pftop$$" 2> /dev/null
# a rate with trailing junk is refused, not read as its leading digits
rc=0
"$pf" top -F 10x > /dev/null 2> "$work/top-bad.err" || rc=$?
check "podflame top -F 10x: exit 2 and says why" \
    sh -c "[ $rc -eq 2 ] && grep -q -- \"--freq takes 1 to 100000 Hz, not '10x'\" '$work/top-bad.err'" ||
    cat "$work/top-bad.err"

echo "watch: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
