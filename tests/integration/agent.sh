#!/usr/bin/env bash
# podflame agent: windows to file:// and to a real S3-compatible server on
# loopback (s3rver behind a front that checks every AWS SigV4 signature),
# validated with go tool pprof; wrong credentials; the server down for two
# intervals; kill -9 in the middle of an upload; SIGTERM; a bounded spool;
# a real Prometheus scraping /metrics. Ends with "agent: N passed, N failed".
set -u
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/podflame-agent.XXXXXX)
# the test's Pods live under this root, as under a kubelet's --cgroup-root
kubelet_root agent
export PODFLAME_KUBE_CGROUP_ROOT=$kroot
export HOME=$work GOCACHE=$work/gocache PODFLAME_NODE_TOOLS="$top/tools/node" NODE_NAME=node-a
pids=()
s3pid=""

cleanup() {
    kill_and_reap KILL "${pids[@]}" ${s3pid:+"$s3pid"}
    remove_cgroups "$base"
    [ "$failed" -eq 0 ] && rm -rf "$work"
}
trap cleanup EXIT

need_root agent cgroup2

# an emulated Pod with a CPU workload, so windows carry Pod labels
U1=7b1e2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d
C1=$(container_id a1)
g1="$base/$(kube_cgroup systemd burstable "$U1" containerd "$C1")"
mkdir -p "$g1"
pod_logs "$work/log" shop cart-5c6d7e8f9a-q1w2e "$U1" app "$C1"
start_in_cgroup "$g1" -- "$cw" 600 wl_cart
pids+=($!)

# pprof_ok FILE: go tool pprof reads it and finds samples' types
pprof_ok() { go tool pprof -raw "$1" 2> /dev/null | grep -q '^PeriodType: cpu nanoseconds'; }
# runs the agent in the background; its pid in $agent
start_agent() { # LOG, then options
    local log=$1; shift
    "$pf" agent --kubelet-log-dir "$work/log" --findings-dir "$work/findings" --metrics-addr off -F 97 "$@" 2> "$log" &
    agent=$!
    log_of_agent=$log
}
# start_prometheus NAME PORT: a real Prometheus on 127.0.0.1:PORT, configured
# by $work/NAME.yml; its data in $work/NAME, its log in $work/NAME.log
start_prometheus() {
    prometheus --config.file="$work/$1.yml" --storage.tsdb.path="$work/$1" \
        --web.listen-address="127.0.0.1:$2" > "$work/$1.log" 2>&1 &
    pids+=($!)
}
stop_agent() { # SIGTERM; a crash shows its log (the sanitizers' report)
    local rc
    kill -TERM "$agent" 2> /dev/null
    wait "$agent"
    rc=$?
    [ $rc -eq 0 ] || { echo "# agent exited with $rc:"; tail -40 "$log_of_agent" | sed 's/^/# /'; }
    return $rc
}

# ---- file:// : layout, index lines, labels, --split-by pod, precedence ----
cat > "$work/agent.conf" << EOF
# a config file: the environment and the command line win over it
interval = 30
output = file://$work/wrong
label = team=from-config
split-by = pod
EOF
PODFLAME_INTERVAL=2 PODFLAME_LABEL=cluster=lab \
    start_agent "$work/file.log" --config "$work/agent.conf" --output "file://$work/out" \
    --spool-dir "$work/spool-file"
sleep 5.5
stop_agent
check "agent on file:// exits 0 on SIGTERM" test $? -eq 0 || cat "$work/file.log"
check "the environment wins over the config file (interval 2 s)" grep -q "a profile every 2 s to file://$work/out" "$work/file.log"
objs=$(find "$work/out" -name '*.pb.gz' -path "*/node-a/*" ! -path '*/shop/*' | sort)
check "keys: PREFIX/NODE/YYYY/MM/DD/HH/<start>-<end>.pb.gz" \
    sh -c "echo '$objs' | head -1 | grep -Eq '/out/node-a/[0-9]{4}/[0-9]{2}/[0-9]{2}/[0-9]{2}/[0-9]{8}T[0-9]{6}Z-[0-9]{8}T[0-9]{6}Z\.pb\.gz$'"
check "at least three windows in 5.5 s at 2 s" test "$(echo "$objs" | wc -l)" -ge 3
bad=0
for o in $objs; do pprof_ok "$o" || bad=$((bad + 1)); done
check "every window reads in go tool pprof" test "$bad" -eq 0
last=$(echo "$objs" | tail -1)
go tool pprof -raw "$last" > "$work/raw.txt" 2> /dev/null
check "time_nanos and duration_nanos are set" sh -c "grep -q '^Time: ' '$work/raw.txt' && grep -Eq '^Duration: [0-9.]+' '$work/raw.txt'"
mid=$(echo "$objs" | sed -n 2p)
go tool pprof -tags "$mid" > "$work/tags.txt" 2> /dev/null
check "Pod labels on the samples" sh -c "grep -q 'cart-5c6d7e8f9a-q1w2e' '$work/tags.txt' && grep -q 'shop' '$work/tags.txt'"
check "--label: the environment's list replaces the file's" sh -c "grep -q 'cluster' '$work/tags.txt' && ! grep -q 'from-config' '$work/tags.txt'"
idx=${mid%.pb.gz}.json
check "index line: node, window, Pods, samples, lost" \
    node -e 'const j = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
        const ok = j.node === "node-a" && j.start < j.end && j.samples > 0 && j.lost === 0 &&
            j.pods.some((p) => p.pod === "cart-5c6d7e8f9a-q1w2e" && p.namespace === "shop" && p.samples > 0) &&
            j.key.endsWith(".pb.gz") && j.labels.cluster === "lab";
        process.exit(ok ? 0 : 1)' "$idx" || cat "$idx"
pod=$(find "$work/out" -path '*/shop/cart-5c6d7e8f9a-q1w2e.pb.gz' | sort | sed -n 2p)
check "--split-by pod: one profile per Pod under <window>/NS/POD" test -n "$pod"
if [ -n "$pod" ]; then
    go tool pprof -tags "$pod" > "$work/podtags.txt" 2> /dev/null
    check "... with only that Pod's samples" grep -Eq '\( *100%\): wl_cart' "$work/podtags.txt"
else
    not_ok "... with only that Pod's samples" "there is no Pod profile to read"
fi
check "the spool is empty after a clean stop" sh -c "[ -d '$work/spool-file' ] && [ -z \"\$(ls -A '$work/spool-file')\" ]"

# ---- --off-cpu: windows of wall time ----
# a thread of the Pod that sleeps and wakes, beside its CPU hog
start_in_cgroup "$g1" -- sh -c 'while :; do sleep 0.05; done'
napper=$!
start_agent "$work/offcpu.log" --off-cpu --interval 2 --no-watch --output "file://$work/offcpu" \
    --spool-dir "$work/spool-offcpu"
sleep 4.5
stop_agent
check "agent --off-cpu exits 0 on SIGTERM" test $? -eq 0 || cat "$work/offcpu.log"
kill "$napper"
wins=$(find "$work/offcpu" -name '*.pb.gz' | sort)
go tool pprof -raw $(echo "$wins" | tail -1) > "$work/offcpu.raw" 2> /dev/null
check "... its windows carry cpu, off_cpu and wall nanoseconds" \
    grep -q "samples/count cpu/nanoseconds off_cpu/nanoseconds wall/nanoseconds" "$work/offcpu.raw" ||
    head -5 "$work/offcpu.raw"
for w in $wins; do go tool pprof -tags "$w" 2> /dev/null | grep -A8 '^ *state:'; done > "$work/offcpu.tags"
check "... and the state of each sample (the hog running, the napper sleeping)" \
    sh -c "grep -q ': running\$' '$work/offcpu.tags' && grep -q ': sleeping\$' '$work/offcpu.tags'" ||
    head -30 "$work/offcpu.tags"

# ---- --check-config: the settings in effect, in the file's own format ----
"$pf" agent --config "$work/agent.conf" --check-config -F 49 --label x=y --node-cpu 75 \
    --ca-file /etc/ssl/certs/ca-certificates.crt > "$work/effective.conf"
check "--check-config prints what file and command line made (freq 49, node-cpu 75)" \
    sh -c "grep -qx 'freq = 49' '$work/effective.conf' && grep -qx 'node-cpu = 75' '$work/effective.conf' && grep -qx 'label = x=y' '$work/effective.conf'"
"$pf" agent --config "$work/effective.conf" --check-config > "$work/effective2.conf"
check "... and its output, read back as a config file, gives the same settings" \
    cmp -s "$work/effective.conf" "$work/effective2.conf"

# ---- bad settings: one clear line, exit 2 ----
echo "intervall = 5" > "$work/bad.conf"
"$pf" agent --config "$work/bad.conf" 2> "$work/bad.err"
check "a misspelt setting names file and line" sh -c "[ $? -eq 2 ] && grep -q 'bad.conf:1: unknown setting .intervall.' '$work/bad.err'"
"$pf" agent --output ftp://x --spool-dir "$work/s0" 2> "$work/bad.err"
check "an unknown URL scheme is a clear error" grep -q "use file:///DIR or s3://BUCKET/PREFIX" "$work/bad.err"
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY "$pf" agent --output s3://b --spool-dir "$work/s0" 2> "$work/bad.err"
check "S3 without credentials is a clear error" grep -q "no S3 credentials" "$work/bad.err"

# ---- S3 ----
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=podflame-test-secret
mkdir -p "$work/s3data"
check "the S3 server starts" start_s3
s3opts=(--output s3://profiles/fleet --s3-endpoint "http://127.0.0.1:$s3port" --interval 2)

start_agent "$work/s3.agent.log" "${s3opts[@]}" --spool-dir "$work/spool-s3"
sleep 4.5
stop_agent
keys=$(s3keys fleet/node-a/)
check "windows uploaded to s3://profiles/fleet/node-a/..." test "$(echo "$keys" | grep -c '\.pb\.gz$')" -ge 2 || tail "$work/s3.agent.log"
check "each with its index object" test "$(echo "$keys" | grep -c '\.json$')" -eq "$(echo "$keys" | grep -c '\.pb\.gz$')"
bad=0
for k in $(echo "$keys" | grep '\.pb\.gz$'); do
    s3get "profiles/$k" > "$work/dl.pb.gz" && pprof_ok "$work/dl.pb.gz" || bad=$((bad + 1))
done
check "every downloaded window reads in go tool pprof" test "$bad" -eq 0
lastwin=$(grep -o 'window [0-9TZ-]*' "$work/s3.agent.log" | tail -1 | cut -d' ' -f2)
check "SIGTERM: the last, partial window is uploaded" sh -c "echo '$keys' | grep -q '$lastwin.pb.gz'"
check "every request was signed right (SigV4 checked)" sh -c "test -s '$work/s3.log' && ! grep -q ' 403$' '$work/s3.log'"

# virtual-hosted addressing: BUCKET.s3.localhost
start_agent "$work/vh.log" --output s3://profiles/vh --s3-endpoint "http://s3.localhost:$s3port" \
    --s3-addressing virtual --interval 2 --spool-dir "$work/spool-vh"
sleep 2.5
stop_agent
check "virtual-hosted URLs (BUCKET.s3.localhost) work too" test -n "$(s3keys vh/node-a/ | grep '\.pb\.gz$')" || tail -3 "$work/vh.log"

# wrong credentials: a clear error, and the windows wait in the spool
AWS_SECRET_ACCESS_KEY=not-the-secret start_agent "$work/creds.log" "${s3opts[@]}" \
    --output s3://profiles/creds --spool-dir "$work/spool-creds" --grace 1
sleep 3
stop_agent
check "wrong credentials: a clear error" grep -q "HTTP 403 SignatureDoesNotMatch.*check the S3 credentials" "$work/creds.log"
check "... the secret is in no message" sh -c "! grep -q 'not-the-secret' '$work/creds.log'"
spooled=$(ls "$work/spool-creds" | grep -c '\.entry$')
check "... and the windows stay in the spool ($spooled)" test "$spooled" -ge 2
check "... none reached the bucket" test -z "$(s3keys creds/)"
start_agent "$work/creds2.log" "${s3opts[@]}" --output s3://profiles/creds --spool-dir "$work/spool-creds"
wait_for 15 sh -c "[ \$(ls '$work/spool-creds' | grep -c '\.entry$') -eq 0 ]"
stop_agent
check "restarted with the right key: the spool is uploaded" test "$(s3keys creds/ | grep -c '\.pb\.gz$')" -ge "$spooled"

# the server down for two intervals: every window arrives, none twice
: > "$work/s3.log"
start_agent "$work/down.log" "${s3opts[@]}" --output s3://profiles/down --spool-dir "$work/spool-down"
wait_for 10 grep -q 'PUT /profiles/down/.*json 200' "$work/s3.log"
stop_s3
sleep 4.2
check "the server comes back on its port" start_s3
wait_for 20 sh -c "grep -q 'uploads work again' '$work/down.log'"
sleep 2.5
stop_agent
wins=$(grep -o 'window [0-9TZ-]*' "$work/down.log" | cut -d' ' -f2 | sort)
got=$(s3keys down/ | grep '\.pb\.gz$' | sed 's|.*/||; s|\.pb\.gz$||' | sort)
check "server down for two intervals: all $(echo "$wins" | wc -l) windows arrived" test "$wins" = "$got" ||
    { echo "windows: $wins"; echo "objects: $got"; }
check "... failures were retried with backoff" grep -q "upload failed (.*retrying in" "$work/down.log"
check "... and none was stored twice" sh -c "! grep 'PUT /profiles/down/.*pb.gz 200' '$work/s3.log' | sort | uniq -d | grep -q ."
starts=$(for k in $(s3keys down/ | grep '\.json$'); do s3get "profiles/$k"; done |
    node -e 'const l = require("fs").readFileSync(0, "utf8").trim().split("\n").map(JSON.parse)
        .sort((a, b) => (a.start < b.start ? -1 : 1));
        let gaps = 0; for (let i = 1; i < l.length; i++) if (l[i].start !== l[i - 1].end) gaps++;
        console.log(gaps)')
check "... windows follow each other without a gap" test "$starts" = 0

# kill -9 in the middle of an upload, then restart: nothing lost or corrupt
echo 3000 > "$work/s3data/.delay-ms"
start_agent "$work/k1.log" "${s3opts[@]}" --output s3://profiles/kill --spool-dir "$work/spool-kill"
sleep 2.8
kill -9 "$agent"
wait "$agent" 2> /dev/null
rm -f "$work/s3data/.delay-ms"
n1=$(grep -c 'window .*spooled' "$work/k1.log")
check "kill -9 while a PUT was held: the window is still in the spool" test "$(ls "$work/spool-kill" | grep -c '\.entry$')" -ge 1
start_agent "$work/k2.log" "${s3opts[@]}" --output s3://profiles/kill --spool-dir "$work/spool-kill"
sleep 2.5
stop_agent
wins=$(cat "$work/k1.log" "$work/k2.log" | grep -o 'window [0-9TZ-]*' | cut -d' ' -f2 | sort)
got=$(s3keys kill/ | grep '\.pb\.gz$' | sed 's|.*/||; s|\.pb\.gz$||' | sort)
check "restart resumes the spool: all windows of both runs arrived ($n1 before the kill)" test "$wins" = "$got" ||
    { echo "windows: $wins"; echo "objects: $got"; }
bad=0
for k in $(s3keys kill/ | grep '\.pb\.gz$'); do
    s3get "profiles/$k" > "$work/dl.pb.gz" && pprof_ok "$work/dl.pb.gz" || bad=$((bad + 1))
done
check "... and none is corrupt" test "$bad" -eq 0
check "... the spool holds no temporary file" sh -c "[ -z \"\$(ls -A '$work/spool-kill')\" ]"

# a bounded spool: with the server gone, the oldest windows go, counted
stop_s3
# (a workload runs, so that windows have stacks to fill the spool with,
# and the check waits for the drop rather than for a fixed time)
"$cw" 20 > /dev/null &
fill=$!
start_agent "$work/full.log" "${s3opts[@]}" --output s3://profiles/full --interval 1 \
    --spool-dir "$work/spool-full" --spool-max-bytes 6K --metrics-addr 127.0.0.1:0 --grace 0
wait_for 20 grep -q "spool over 6144 bytes: dropped" "$work/full.log"
stop_agent
kill "$fill" 2> /dev/null
wait "$fill" 2> /dev/null
check "a full spool drops its oldest windows and says so" grep -q "spool over 6144 bytes: dropped" "$work/full.log"
sz=$(du -sb "$work/spool-full" | cut -f1)
check "... and stays under its limit ($sz bytes)" test "$sz" -le $((6144 + 4096))

# /metrics, /healthz, and a real Prometheus scraping them
mport=$(random_port)
start_agent "$work/m.log" --output "file://$work/mout" --interval 2 --spool-dir "$work/spool-m" \
    --metrics-addr "127.0.0.1:$mport"
wait_for 10 curl -sf "http://127.0.0.1:$mport/healthz" > /dev/null
check "/healthz says ok" sh -c "curl -sf http://127.0.0.1:$mport/healthz | grep -qx ok"
curl -s "http://127.0.0.1:$mport/metrics" > "$work/metrics.txt"
for m in podflame_samples_total podflame_lost_samples_total podflame_windows_written_total \
         podflame_upload_failures_total podflame_spool_bytes podflame_symbolizer_binaries \
         process_cpu_seconds_total process_resident_memory_bytes; do
    check "/metrics has $m" grep -q "^$m [0-9]" "$work/metrics.txt"
done
head -c 2000000 /dev/zero | http_code --data-binary @- "http://127.0.0.1:$mport/metrics" > "$work/big.code"
check "an oversized request body is refused (413)" grep -qx 413 "$work/big.code"
check "only GET (405 for POST)" test "$(http_code -X POST "http://127.0.0.1:$mport/metrics")" = 405
pport=$((mport + 1))
cat > "$work/prom.yml" << EOF
global: { scrape_interval: 1s }
scrape_configs:
  - job_name: podflame
    static_configs: [ { targets: ["127.0.0.1:$mport"] } ]
EOF
start_prometheus prom "$pport"
query() {
    curl -s "http://127.0.0.1:$pport/api/v1/query?query=podflame_windows_written_total" |
        grep -q '"__name__":"podflame_windows_written_total".*"value":\[[0-9.]*,"[1-9]'
}
check "Prometheus scrapes the agent: podflame_windows_written_total > 0 in its API" wait_for 40 query ||
    tail -5 "$work/prom.log"
stop_agent

# ---- who may start a capture (#23) ----
# open to the network without a token: the control endpoints fail closed
aport=$(random_port)
start_agent "$work/open.log" --output "file://$work/aout" --spool-dir "$work/spool-open" \
    --metrics-addr "0.0.0.0:$aport"
wait_for 20 curl -sf "http://127.0.0.1:$aport/healthz" > /dev/null
check "0.0.0.0 without a token: POST /trigger is refused (403)" \
    test "$(http_code -d '{"pod": "cart-5c6d7e8f9a-q1w2e", "namespace": "shop"}' "http://127.0.0.1:$aport/trigger")" = 403
check "... and POST /alertmanager (403)" \
    test "$(http_code -d '{"version": "4", "alerts": []}' "http://127.0.0.1:$aport/alertmanager")" = 403
check "... while GET /metrics answers (200)" test "$(http_code "http://127.0.0.1:$aport/metrics")" = 200
check "... and the start-up line says so and names --control-token-file" \
    grep -q "answer 403 on 0.0.0.0:$aport: .*--control-token-file" "$work/open.log" || cat "$work/open.log"
stop_agent

# tokens, TLS and a control listener of its own: the metrics one open to the
# network, the control one on loopback; the control token from the
# environment, TLS from the config file
mkdir -p "$work/sec"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/sec/key.pem" -out "$work/sec/cert.pem" \
    -days 1 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2> /dev/null
ctok=control-$RANDOM$RANDOM-token mtok=metrics-$RANDOM$RANDOM-token
echo "$ctok" > "$work/sec/control"
echo "$mtok" > "$work/sec/metrics"
printf 'tls-cert = %s\ntls-key = %s\nmetrics-token-file = %s\n' "$work/sec/cert.pem" \
    "$work/sec/key.pem" "$work/sec/metrics" > "$work/tls.conf"
cport=$((aport + 1))
PODFLAME_CONTROL_TOKEN_FILE="$work/sec/control" "$pf" agent --config "$work/tls.conf" \
    --control-addr "127.0.0.1:$cport" --metrics-addr "0.0.0.0:$aport" --check-config > "$work/tls.eff"
check "--check-config: control-token-file (environment), tls-cert and metrics-token-file (file), control-addr" \
    sh -c "grep -qx 'control-token-file = $work/sec/control' '$work/tls.eff' && grep -qx 'tls-cert = $work/sec/cert.pem' '$work/tls.eff' &&
        grep -qx 'metrics-token-file = $work/sec/metrics' '$work/tls.eff' && grep -qx 'control-addr = 127.0.0.1:$cport' '$work/tls.eff'" ||
    cat "$work/tls.eff"
PODFLAME_CONTROL_TOKEN_FILE="$work/sec/control" start_agent "$work/tls.log" --config "$work/tls.conf" \
    --output "file://$work/aout" --spool-dir "$work/spool-tls" --metrics-addr "0.0.0.0:$aport" \
    --control-addr "127.0.0.1:$cport"
tls=(--cacert "$work/sec/cert.pem")
wait_for 20 curl -sf "${tls[@]}" "https://127.0.0.1:$aport/healthz" > /dev/null
check "TLS: /healthz over https, checked against the certificate, no token needed" \
    test "$(http_code "${tls[@]}" "https://127.0.0.1:$aport/healthz")" = 200 || tail -3 "$work/tls.log"
check "... plain http to it gets no answer" sh -c "! curl -sf -m 3 http://127.0.0.1:$aport/healthz > /dev/null"
check "--metrics-token-file: /metrics without the token is 401" \
    test "$(http_code "${tls[@]}" "https://127.0.0.1:$aport/metrics")" = 401
curl -s "${tls[@]}" -H "Authorization: Bearer $mtok" "https://127.0.0.1:$aport/metrics" > "$work/tls-metrics.txt"
check "... and with it, the metrics" grep -q '^podflame_samples_total ' "$work/tls-metrics.txt"
check "--control-addr: the metrics listener answers 404 for /trigger, even with the token" \
    test "$(http_code "${tls[@]}" -H "Authorization: Bearer $ctok" -d '{}' "https://127.0.0.1:$aport/trigger")" = 404
check "... and the control listener 404 for /metrics" \
    test "$(http_code "${tls[@]}" -H "Authorization: Bearer $mtok" "https://127.0.0.1:$cport/metrics")" = 404
check "... which takes no control request without the token, even on loopback (401)" \
    test "$(http_code "${tls[@]}" -d '{"pod": "x"}' "https://127.0.0.1:$cport/trigger")" = 401
"$pf" trigger --pod nosuch-0 -n shop --addr "https://127.0.0.1:$cport" --cacert "$work/sec/cert.pem" \
    --token-file "$work/sec/control" > "$work/tls-trig.out" 2>&1
check "podflame trigger --addr https://... --cacert --token-file gets through to the watcher" \
    grep -q 'no Pod shop/nosuch-0 on this node' "$work/tls-trig.out" || cat "$work/tls-trig.out"
PODFLAME_CONTROL_TOKEN_FILE="$work/sec/control" "$pf" trigger --pod nosuch-1 -n shop \
    --addr "https://127.0.0.1:$cport" --insecure > "$work/tls-trig2.out" 2>&1
check "... and with PODFLAME_CONTROL_TOKEN_FILE and --insecure" \
    grep -q 'no Pod shop/nosuch-1 on this node' "$work/tls-trig2.out" || cat "$work/tls-trig2.out"
"$pf" trigger --pod nosuch-2 -n shop --addr "https://127.0.0.1:$cport" > "$work/tls-trig3.out" 2>&1
check "... but not without the CA: a certificate error, exit 1" \
    sh -c "[ $? -eq 1 ] && grep -qi 'certificate' '$work/tls-trig3.out'" || cat "$work/tls-trig3.out"
# a real Prometheus scraping over https with authorization.credentials_file
ppport=$((cport + 1))
cat > "$work/prom-tls.yml" << EOF
global: { scrape_interval: 1s }
scrape_configs:
  - job_name: podflame
    scheme: https
    tls_config: { ca_file: $work/sec/cert.pem }
    authorization: { credentials_file: $work/sec/metrics }
    static_configs: [ { targets: ["127.0.0.1:$aport"] } ]
EOF
start_prometheus prom-tls "$ppport"
query_tls() {
    curl -s "http://127.0.0.1:$ppport/api/v1/query?query=up" | grep -q '"value":\[[0-9.]*,"1"\]'
}
check "Prometheus scrapes https /metrics with authorization.credentials_file (up = 1)" \
    wait_for 40 query_tls || tail -5 "$work/prom-tls.log"
check "no token in the agent's log" sh -c "! grep -q -e '$ctok' -e '$mtok' '$work/tls.log'"
check "... nor in /metrics" sh -c "! grep -q -e '$ctok' -e '$mtok' '$work/tls-metrics.txt'"
check "the refusals are logged: status, endpoint, source" \
    grep -q "401 to POST /trigger from 127.0.0.1: no bearer token" "$work/tls.log" || cat "$work/tls.log"
stop_agent
check "... and it stops cleanly (exit 0)" test $? -eq 0

echo "agent: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
