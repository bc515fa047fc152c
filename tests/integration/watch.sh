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
v1cpu=$(awk '$0 ~ / - cgroup / && $NF ~ /(^|,)cpu(,|$)/ { print $5; exit }' /proc/self/mountinfo)
# the test's Pods live under this root, as under a kubelet's --cgroup-root
kubelet_root watch
export PODFLAME_KUBE_CGROUP_ROOT=$kroot
export HOME=$work GOCACHE=$work/gocache NODE_NAME=node-w
pids=()
hog=""

cleanup() {
    tmux kill-session -t "pftop$$" 2> /dev/null
    kill_and_reap KILL "${pids[@]}" ${hog:+"$hog"}
    sleep 0.3 # killed processes leave their cgroups as they are reaped
    remove_cgroups "$base" ${v1cpu:+"$v1cpu$kroot"}
    [ "$failed" -eq 0 ] && rm -rf "$work"
}
trap cleanup EXIT

need_root watch cgroup2

U1=1a2b3c4d-5e6f-4a7b-8c9d-0e1f2a3b4c5d
U2=2b3c4d5e-6f7a-4b8c-9d0e-1f2a3b4c5d6e
U3=3c4d5e6f-7a8b-4c9d-8e1f-2a3b4c5d6e7f
C1=$(container_id f1)
C2=$(container_id f2)
C3=$(container_id f3)
ctr1=$(kube_cgroup systemd burstable "$U1" containerd "$C1")
ctr2=$(kube_cgroup systemd besteffort "$U2" containerd "$C2")
ctr3=$(kube_cgroup systemd besteffort "$U3" containerd "$C3")
mkdir -p "$base/$ctr1" "$base/$ctr2" "$base/$ctr3"
pod_logs "$work/log" shop checkout-6b7c8d9e0f-h4j5k "$U1" app "$C1"
pod_logs "$work/log" batch worker-0 "$U2" main
pod_logs "$work/log" web frontend-7f8e9d "$U3" nginx

# the hog's CPU limit: half a CPU, in the v1 cpu controller (cgroup v2 here has no cpu controller)
if [ -n "$v1cpu" ]; then
    mkdir -p "$v1cpu$kroot/$ctr1"
    echo 50000 > "$v1cpu$kroot/${ctr1%/*}/cpu.cfs_quota_us"
fi
start_hog() {
    start_in_cgroup "$base/$ctr1" ${v1cpu:+"$v1cpu$kroot/$ctr1"} -- "$cw" 600 wl_hog
    hog=$!
}
start_hog
for ctr in "$ctr2" "$ctr3"; do
    start_in_cgroup "$base/$ctr" -- sh -c 'while :; do sleep 0.2; done'
    pids+=($!)
done

nfindings() { find "$work/$1" -name finding.json 2> /dev/null | wc -l; }
has_finding() { [ "$(nfindings "$1")" -ge 1 ]; }
port=$(random_port)

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
check "the capture is of wall time: the hog was throttled a good part of it, the verdict is the environment" \
    node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1]));
        const p = j.pods[0];
        process.exit(p.wall && p.wall.throttled > 25 && p.wall.running > 25 && p.verdict === "environment" &&
            p.waits.some((w) => w.state === "throttled" && w.frames.includes("func_a")) ? 0 : 1)' "$f" ||
    node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1])); console.log(JSON.stringify(j.pods[0].wall), j.pods[0].verdict)' "$f"
check "finding.md opens with that verdict, the limit to raise and the hog's hot function" \
    sh -c "head -1 '$d/finding.md' | grep 'The environment is slow' | grep 'throttled by its CPU limit' | grep -q 'func_a'" ||
    head -3 "$d/finding.md"
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
# control requests are rate-limited per source (5 at once, then 6 a minute):
# the bad ones come from another loopback address than podflame trigger's
bad=(--interface 127.0.0.2)
check "malformed JSON: 400" test "$(http_code "${bad[@]}" -d '{"pod":' "http://127.0.0.1:$port/trigger")" = 400
check "not a webhook: 400" test "$(http_code "${bad[@]}" -d '{"version":"4"}' "http://127.0.0.1:$port/alertmanager")" = 400
check "an oversized body: 413" \
    test "$(head -c 3000000 /dev/zero | http_code "${bad[@]}" --data-binary @- "http://127.0.0.1:$port/alertmanager")" = 413
check "each bad request is logged" test "$(grep -c -e 'malformed JSON' -e 'not an Alertmanager webhook' -e 'no Pod batch/nosuch-0' "$work/watch.log")" -ge 3
check "the watcher survived them" kill -0 "$watcher"

# alertmanager NAME PORT WATCHER_PORT [CREDENTIALS_FILE]: a real Alertmanager
# on 127.0.0.1:PORT (its config, data and log $work/NAME.yml, NAME, NAME.log)
# delivering each alert at once to the watcher's webhook, with the bearer
# token in CREDENTIALS_FILE if one is given; returns once it is ready
alertmanager() {
    local auth=""
    [ -z "${4:-}" ] || auth="
        http_config:
          authorization:
            credentials_file: $4"
    cat > "$work/$1.yml" << EOF
route:
  receiver: podflame
  group_by: [alertname]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: podflame
    webhook_configs:
      - url: http://127.0.0.1:$3/alertmanager
        send_resolved: false$auth
EOF
    prometheus-alertmanager --config.file="$work/$1.yml" --storage.path="$work/$1" \
        --web.listen-address="127.0.0.1:$2" --cluster.listen-address= > "$work/$1.log" 2>&1 &
    pids+=($!)
    wait_for 20 curl -sf "http://127.0.0.1:$2/-/ready" > /dev/null
}
# alert PORT LABELS: fires an alert with LABELS (a JSON object) at the Alertmanager on PORT
alert() {
    curl -s -XPOST -H 'Content-Type: application/json' "http://127.0.0.1:$1/api/v2/alerts" \
        -d "[{\"labels\": $2}]" > /dev/null
}

# a real Alertmanager delivering its webhook
amport=$((port + 1))
alertmanager am "$amport" "$port"
alert "$amport" '{"alertname": "FrontendSlow", "namespace": "web", "service": "frontend", "severity": "page"}'
check "Alertmanager's webhook leads to a finding for the alert's Pod" \
    wait_for 40 sh -c "ls '$work'/f1/*-external-frontend-7f8e9d/finding.json > /dev/null 2>&1" ||
    { tail -3 "$work/am.log"; tail -5 "$work/watch.log"; }
check "... naming the alert" sh -c "grep -q 'alert FrontendSlow' '$work'/f1/*-external-frontend-7f8e9d/finding.json"
kill -TERM "$watcher"; wait "$watcher"
check "podflame watch exits 0 on SIGTERM" test $? -eq 0

# ---- who may start a capture (#23) ----
# open to the network without a token: the control endpoints fail closed
wport=$((port + 2))
"$pf" watch --node-cpu 0 --pod-limit 0 --throttle 0 --findings-dir "$work/f3" \
    --kubelet-log-dir "$work/log" --listen "0.0.0.0:$wport" 2> "$work/open.log" &
w3=$!
pids+=($w3)
wait_for 20 curl -sf "http://127.0.0.1:$wport/healthz" > /dev/null
check "0.0.0.0 without --control-token-file: POST /trigger is 403" \
    test "$(http_code -d '{"pod": "worker-0", "namespace": "batch"}' "http://127.0.0.1:$wport/trigger")" = 403
check "... and POST /alertmanager 403" test "$(http_code -d '{"version": "4", "alerts": []}' "http://127.0.0.1:$wport/alertmanager")" = 403
check "... /healthz stays open (200)" test "$(http_code "http://127.0.0.1:$wport/healthz")" = 200
check "... the start-up line says so and names the option" \
    grep -q "answer 403 on 0.0.0.0:$wport: .*--control-token-file" "$work/open.log" || cat "$work/open.log"
check "... and no capture was started" test "$(nfindings f3)" -eq 0
kill -TERM "$w3"; wait "$w3"

# a token in a Secret volume's layout (token -> ..data/token, ..data -> ..v1)
secret=$work/secret
new_secret() { # VERSION TOKEN: writes ..VERSION and swaps ..data to it, as the kubelet does
    mkdir -p "$secret/..$1"
    echo "$2" > "$secret/..$1/token"
    ln -sfn "..$1" "$secret/..data_tmp"
    mv -T "$secret/..data_tmp" "$secret/..data"
}
tok1=first-$RANDOM$RANDOM tok2=second-$RANDOM$RANDOM
new_secret v1 "$tok1"
ln -s ..data/token "$secret/token"
"$pf" watch --node-cpu 0 --pod-limit 0 --throttle 0 --capture-hz 99 --capture-seconds 1 \
    --findings-dir "$work/f4" --kubelet-log-dir "$work/log" --listen "0.0.0.0:$wport" \
    --control-token-file "$secret/token" 2> "$work/auth.log" &
w4=$!
pids+=($w4)
wait_for 20 curl -sf "http://127.0.0.1:$wport/healthz" > /dev/null
curl -s -D "$work/401.hdr" -o /dev/null --interface 127.0.0.3 -d '{"pod": "worker-0", "namespace": "batch"}' \
    "http://127.0.0.1:$wport/trigger"
check "with a token file: no token, 401 with WWW-Authenticate: Bearer" \
    sh -c "head -1 '$work/401.hdr' | grep -q ' 401 ' && grep -qi '^WWW-Authenticate: Bearer realm=\"podflame\"' '$work/401.hdr'" ||
    cat "$work/401.hdr"
check "... a wrong token, 401" test "$(http_code --interface 127.0.0.3 -H 'Authorization: Bearer guess' \
    -d '{"pod": "worker-0", "namespace": "batch"}' "http://127.0.0.1:$wport/trigger")" = 401
"$pf" trigger --pod worker-0 -n batch --addr "127.0.0.1:$wport" > "$work/trig-nt.out" 2>&1
check "... podflame trigger without --token-file: exit 1, says to give it" \
    sh -c "[ $? -eq 1 ] && grep -q 'give the listener.s token with --token-file' '$work/trig-nt.out'" || cat "$work/trig-nt.out"
"$pf" trigger --pod worker-0 -n batch --addr "127.0.0.1:$wport" --token-file "$secret/token" > "$work/trig-t.out" 2>&1
check "... with --token-file, the capture starts" grep -q "capturing 1 Pod" "$work/trig-t.out" || cat "$work/trig-t.out"
check "... and its finding appears" wait_for 30 sh -c "ls '$work'/f4/*-external-worker-0/finding.json > /dev/null 2>&1"
# rotated like a Secret: the old token refused, the new one taken, no restart
new_secret v2 "$tok2"
check "rotated: the old token is refused (401)" test "$(http_code --interface 127.0.0.4 -H "Authorization: Bearer $tok1" \
    -d '{"pod": "nosuch-0", "namespace": "batch"}' "http://127.0.0.1:$wport/trigger")" = 401
check "... the new one is taken (404: no such Pod, past the check)" test "$(http_code --interface 127.0.0.4 -H "Authorization: Bearer $tok2" \
    -d '{"pod": "nosuch-0", "namespace": "batch"}' "http://127.0.0.1:$wport/trigger")" = 404
check "... by the same process" kill -0 "$w4"
# guessing is slowed: failed attempts count too
for _ in 1 2 3 4 5 6 7; do
    http_code --interface 127.0.0.5 -H 'Authorization: Bearer guess' -d '{}' "http://127.0.0.1:$wport/trigger"
    echo
done > "$work/rate.codes"
check "rate limit: 5 attempts from one source, then 429" \
    test "$(tr '\n' ' ' < "$work/rate.codes")" = "401 401 401 401 401 429 429 " || cat "$work/rate.codes"
curl -s -D "$work/429.hdr" -o /dev/null --interface 127.0.0.5 -H "Authorization: Bearer $tok2" -d '{}' \
    "http://127.0.0.1:$wport/trigger"
check "... even with the right token, with Retry-After" \
    sh -c "head -1 '$work/429.hdr' | grep -q ' 429 ' && grep -Eqi '^Retry-After: [0-9]+' '$work/429.hdr'" || cat "$work/429.hdr"
check "... while other sources are served" test "$(http_code --interface 127.0.0.6 -H "Authorization: Bearer $tok2" \
    -d '{"pod": "nosuch-0", "namespace": "batch"}' "http://127.0.0.1:$wport/trigger")" = 404
# a real Alertmanager with http_config.authorization.credentials_file
amport2=$((wport + 1))
alertmanager am2 "$amport2" "$wport" "$secret/token"
alert "$amport2" '{"alertname": "CheckoutSlow", "namespace": "shop", "app": "checkout", "severity": "page"}'
check "Alertmanager with authorization.credentials_file: its webhook starts a capture" \
    wait_for 40 sh -c "ls '$work'/f4/*-external-checkout-6b7c8d9e0f-h4j5k/finding.json > /dev/null 2>&1" ||
    { tail -3 "$work/am2.log"; tail -5 "$work/auth.log"; }
check "refusals are logged in one line each: status, endpoint, source" \
    sh -c "grep -q '401 to POST /trigger from 127.0.0.3: no bearer token' '$work/auth.log' &&
        grep -q '401 to POST /trigger from 127.0.0.4: wrong bearer token' '$work/auth.log'" || cat "$work/auth.log"
check "no token is in the log" sh -c "! grep -q -e '$tok1' -e '$tok2' '$work/auth.log'"
kill -TERM "$w4"; wait "$w4"
check "podflame watch with a token file exits 0 on SIGTERM" test $? -eq 0

# ---- the throttle rule, on its own ----
if [ -n "$v1cpu" ]; then
    "$pf" watch --node-cpu 0 --pod-limit 0 --throttle 25 --sustain 2 --capture-seconds 2 \
        --findings-dir "$work/f2" --kubelet-log-dir "$work/log" --listen off 2> "$work/watch2.log" &
    w2=$!
    check "a throttled Pod fires the throttle rule" wait_for 20 sh -c "grep -q '\"rule\": \"throttle\"' '$work'/f2/*/finding.json 2> /dev/null"
    ft=$(find "$work/f2" -name finding.json | head -1)
    wait_for 5 test -s "$(dirname "$ft")/finding.md" # written just after finding.json
    check "... its finding's verdict: the environment, its CPU limit, and the hog's hot function" \
        sh -c "grep -q '\"verdict\": \"environment\"' '$ft' &&
            head -1 '$(dirname "$ft")/finding.md' | grep 'throttled by its CPU limit' | grep -q func_a" ||
        head -3 "$(dirname "$ft")/finding.md"
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
check "podflame top: the hog's THR% beside its CPU (throttled by its limit)" \
    sh -c "grep -q 'THR%  *RUNQ%' '$work/top.txt' && echo '$first' | awk '{ exit !(\$4 + 0 >= 20) }'" ||
    cat "$work/top.txt"
check "... with its hottest function" sh -c "echo '$first' | grep -q 'func_a'"
tmux kill-session -t "pftop$$" 2> /dev/null
# a rate with trailing junk is refused, not read as its leading digits
rc=0
"$pf" top -F 10x > /dev/null 2> "$work/top-bad.err" || rc=$?
check "podflame top -F 10x: exit 2 and says why" \
    sh -c "[ $rc -eq 2 ] && grep -q -- \"--freq takes 1 to 1000000 Hz, not '10x'\" '$work/top-bad.err'" ||
    cat "$work/top-bad.err"

echo "watch: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
