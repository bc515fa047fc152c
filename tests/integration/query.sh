#!/usr/bin/env bash
# podflame query and compact: two agents (NODE_NAME node-a and node-b) with
# kubelet-shaped Pods upload windows to a real S3-compatible server on
# loopback; query with each selector returns exactly the samples of the
# matching Pods (against the index lines and against go tool pprof
# -tagfocus on the downloaded windows), from S3 and from a file:// copy;
# --list, --top, --baseline; a corrupt object (reported, the rest merged);
# the server down. Then a generated fleet across an hour boundary, known
# totals, and rollups: the same profile with and without them. Ends with
# "query: N passed, N failed".
set -u
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/podflame-query.XXXXXX)
kubelet_root query
export PODFLAME_KUBE_CGROUP_ROOT=$kroot
export HOME=$work GOCACHE=$work/gocache PODFLAME_NODE_TOOLS="$top/tools/node"
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=podflame-test-secret
gen="$build/tools/fleet_gen"
pids=()

cleanup() {
    kill_and_reap KILL "${pids[@]}" ${s3pid:+"$s3pid"}
    remove_cgroups "$base"
    [ "$failed" -eq 0 ] && rm -rf "$work"
}
trap cleanup EXIT

need_root query cgroup2

# pprof_total [PPROF_OPTIONS] FILE...: the samples/count of the profiles
# (merged by go tool pprof), as go tool pprof -raw lists them
pprof_total() {
    go tool pprof -raw "$@" 2> /dev/null |
        awk '/^Samples:/ { s = 1; next } /^Locations/ { s = 0 } s && $1 ~ /^[0-9]+$/ && $2 ~ /:$/ { n += $1 } END { print n + 0 }'
}
# index_total DIR JS: sums, over the index lines under DIR, what the
# expression JS (of an index line j) gives
index_total() {
    node -e 'const fs = require("fs"), path = require("path");
        const f = new Function("j", "return " + process.argv[2]);
        let n = 0;
        const walk = (d) => { for (const e of fs.readdirSync(d, { withFileTypes: true })) {
            const p = path.join(d, e.name);
            if (e.isDirectory()) walk(p); else if (p.endsWith(".json")) n += f(JSON.parse(fs.readFileSync(p, "utf8"))); } };
        walk(process.argv[1]); console.log(n);' "$1" "$2"
}
# pods_total DIR REGEX: the samples of the Pods whose name matches REGEX
pods_total() { index_total "$1" "j.pods.filter((p) => /$2/.test(p.pod)).reduce((a, p) => a + p.samples, 0)"; }

# ---- two agents, two Pods of shop and one of kube-system ----
U1=3c1e2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c01 U2=3c1e2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c02
U3=3c1e2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c03
C1=$(container_id c1) C2=$(container_id c2) C3=$(container_id c3)
g1="$base/$(kube_cgroup systemd burstable "$U1" containerd "$C1")"
g2="$base/$(kube_cgroup systemd besteffort "$U2" containerd "$C2")"
g3="$base/$(kube_cgroup cgroupfs guaranteed "$U3" containerd "$C3")"
mkdir -p "$g1" "$g2" "$g3"
pod_logs "$work/log" shop checkout-7d9f8b6c5-x1y2z "$U1" app "$C1"
pod_logs "$work/log" shop cart-5c6d7e8f9a-q1w2e "$U2" app "$C2"
pod_logs "$work/log" kube-system coredns-6f7b8c9d0-abcde "$U3" coredns "$C3"
start_in_cgroup "$g1" -- "$cw" 600 wl_checkout
pids+=($!)
start_in_cgroup "$g2" -- "$cw" 600 wl_cart
pids+=($!)
start_in_cgroup "$g3" -- "$cw" 600 wl_dns
pids+=($!)

mkdir -p "$work/s3data"
start_s3 || give_up query "the S3 server starts"
ep=(--s3-endpoint "http://127.0.0.1:$s3port")
for n in node-a node-b; do
    NODE_NAME=$n "$pf" agent --output s3://profiles/fleet "${ep[@]}" --interval 2 -F 97 \
        --kubelet-log-dir "$work/log" --metrics-addr off --no-watch --spool-dir "$work/spool-$n" \
        2> "$work/agent-$n.log" &
    pids+=($!)
done
sleep 7
kill -TERM "${pids[@]: -2}"
wait "${pids[@]: -2}" 2> /dev/null
keys=$(s3keys fleet/)
check "two agents uploaded windows of node-a and node-b" \
    sh -c "echo '$keys' | grep -q '^fleet/node-a/.*\.pb\.gz$' && echo '$keys' | grep -q '^fleet/node-b/.*\.pb\.gz$'" ||
    tail -3 "$work"/agent-*.log
# a file:// copy of the bucket: the same windows under the same keys
for k in $keys; do
    mkdir -p "$work/copy/$(dirname "${k#fleet/}")"
    s3get "profiles/$k" > "$work/copy/${k#fleet/}"
done
s3=(s3://profiles/fleet "${ep[@]}")
file=("file://$work/copy")

# ---- selectors: exactly the matching Pods' samples ----
"$pf" query "${s3[@]}" --since 10m --pod 'checkout-*' -o "$work/checkout.pb.gz" 2> "$work/q1.err"
check "query --pod 'checkout-*' on S3 exits 0" test $? -eq 0 || cat "$work/q1.err"
go tool pprof -tags "$work/checkout.pb.gz" > "$work/q1.tags" 2> /dev/null
check "... go tool pprof reads it: only that Pod, from both nodes" \
    sh -c "grep -q 'checkout-7d9f8b6c5-x1y2z' '$work/q1.tags' && ! grep -q 'cart-5c6d7e8f9a' '$work/q1.tags' && grep -q node-a '$work/q1.tags' && grep -q node-b '$work/q1.tags'"
want=$(pods_total "$work/copy" '^checkout-')
got=$(pprof_total "$work/checkout.pb.gz")
check "... its samples are the index lines' ($got of $want)" test "$got" -eq "$want" -a "$want" -gt 20
tf=$(pprof_total -tagfocus=pod=checkout-7d9f8b6c5-x1y2z $(find "$work/copy" -name '*.pb.gz'))
check "... and go tool pprof -tagfocus's over every window ($tf)" test "$got" -eq "$tf"
"$pf" query "${file[@]}" --since 10m --pod 'checkout-*' -o "$work/checkout-file.folded" 2> /dev/null
"$pf" query "${s3[@]}" --since 10m --pod 'checkout-*' -o "$work/checkout-s3.folded" 2> /dev/null
check "file:// gives the same profile as S3" cmp -s "$work/checkout-s3.folded" "$work/checkout-file.folded"

"$pf" query "${s3[@]}" --since 10m --pod "$U2" -o "$work/uid.pb.gz" 2> /dev/null
check "--pod UID selects that Pod" test "$(pprof_total "$work/uid.pb.gz")" -eq "$(pods_total "$work/copy" '^cart-')"
"$pf" query "${s3[@]}" --since 10m -n shop --container app -o "$work/shop.pb.gz" 2> /dev/null
check "-n shop --container app: both shop Pods" \
    test "$(pprof_total "$work/shop.pb.gz")" -eq "$(pods_total "$work/copy" '^(checkout|cart)-')"
"$pf" query "${s3[@]}" --since 10m --node node-b -o "$work/nodeb.pb.gz" 2> /dev/null
go tool pprof -tags "$work/nodeb.pb.gz" > "$work/nodeb.tags" 2> /dev/null
check "--node node-b: that node's windows whole (Pods and the rest)" \
    sh -c "[ $(pprof_total "$work/nodeb.pb.gz") -eq $(index_total "$work/copy/node-b" j.samples) ] && ! grep -q node-a '$work/nodeb.tags'"
"$pf" query "${s3[@]}" --since 10m -n kube-system --top 5 > "$work/top.txt" 2> /dev/null
check "--top: the hottest functions and Pods as a table" \
    sh -c "grep -q '^  SELF%  TOTAL%  FUNCTION' '$work/top.txt' && grep -Eq '^ *[0-9.]+% +[0-9]+  kube-system/coredns-6f7b8c9d0-abcde' '$work/top.txt'"
"$pf" query "${s3[@]}" --since 10m --list > "$work/list.txt" 2> /dev/null
check "--list: every window of both nodes, with its Pods" \
    sh -c "grep -c '^20.*node-a .*yes' '$work/list.txt' | grep -qv '^0$' && grep -q 'node-b .*shop/checkout-7d9f8b6c5-x1y2z' '$work/list.txt'"
"$pf" query "${s3[@]}" --since 10m -n nosuch -o "$work/none.svg" 2> "$work/none.err"
check "a selection that matches nothing: exit 1, every window ruled out by its index line" \
    sh -c "[ $? -eq 1 ] && grep -q 'no window matched' '$work/none.err' && grep -Eq '([0-9]+) windows \(\1 ruled out' '$work/none.err' && [ ! -e '$work/none.svg' ]"
"$pf" query "${s3[@]}" --since 10m --pod 'checkout-*' --baseline -10m..now --top 5 -o "$work/diff.svg" > "$work/growth.txt" 2> /dev/null
check "--baseline: a differential flame graph and the functions that grew" \
    sh -c "grep -q 'Differential Flame Graph' '$work/diff.svg' && grep -q '^ BEFORE%' '$work/growth.txt'"
node "$top/tests/integration/svg-check.mjs" "$work/diff.svg" "$got" > "$work/svgcheck.txt" 2>&1
check "... the SVG is well-formed" test $? -eq 0 || cat "$work/svgcheck.txt"

# ---- a corrupt object in the range: reported, the rest merged ----
first=$(echo "$keys" | grep '^fleet/node-a/.*\.pb\.gz$' | head -1)
# a window of its own name: the first one's start, another end
bad="$(dirname "$first")/$(basename "$first" | cut -c1-16)-20991231T000000Z.pb.gz"
curl -sS --fail --aws-sigv4 "aws:amz:us-east-1:s3" -u "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
    -H "x-amz-content-sha256: $(printf 'not a profile' | sha256sum | cut -d' ' -f1)" \
    -X PUT --data-binary 'not a profile' "http://127.0.0.1:$s3port/profiles/$bad" > /dev/null
"$pf" query "${s3[@]}" --since 10m --pod 'checkout-*' -o "$work/again.pb.gz" 2> "$work/corrupt.err"
check "a corrupt window: exit 0 all the same" test $? -eq 0 || cat "$work/corrupt.err"
check "... it is named in a warning" grep -q 'warning: cannot read .*-20991231T000000Z\.pb\.gz: ' "$work/corrupt.err" || cat "$work/corrupt.err"
check "... and every other window merged" test "$(pprof_total "$work/again.pb.gz")" -eq "$got"

# ---- a generated fleet: known totals across an hour boundary; rollups ----
# 3 nodes x 90 one-minute windows, 10:30 to 12:00, in a directory and in S3
genopts=(--nodes 3 --windows 90 --start 2026-11-28T10:30:00Z --pods 6 --stacks 60 --seed 7)
"$gen" --output "file://$work/gen" "${genopts[@]}" --truth "$work/truth.json" 2> "$work/gen.err" &&
    "$gen" --output s3://profiles/gen "${ep[@]}" "${genopts[@]}" 2>> "$work/gen.err"
check "fleet_gen writes the fleet to file:// and to S3" test $? -eq 0 || tail -3 "$work/gen.err"
truth() { node -e 'const t = require(process.argv[1]); console.log(eval(process.argv[2]))' "$work/truth.json" "$1"; }
range=(--from 2026-11-28T10:30Z --until 2026-11-28T12:00Z)
gq() { # gq NAME URL... : query the generated fleet over the whole range
    local name=$1
    shift
    "$pf" query "$@" "${range[@]}" -o "$work/$name.pb.gz" 2> "$work/$name.err" &&
        "$pf" query "$@" "${range[@]}" -o "$work/$name.folded" 2>> "$work/$name.err"
}
gfile=("file://$work/gen")
gs3=(s3://profiles/gen "${ep[@]}")
gq all "${gfile[@]}"
check "over an hour boundary: every sample of the fleet ($(truth t.totals.samples))" \
    test "$(pprof_total "$work/all.pb.gz")" -eq "$(truth t.totals.samples)"
ns=$(truth 'Object.keys(t.totals.namespaces).sort()[0]')
wl=$(truth "Object.keys(t.totals.workloads).filter((k) => k.startsWith('$ns/')).sort()[0]")
wname=${wl##*/}
pod=$(truth "Object.keys(t.totals.pods).filter((k) => k.startsWith('$ns/')).sort()[0]")
gq ns "${gfile[@]}" -n "$ns"
check "-n $ns: the namespace's samples" test "$(pprof_total "$work/ns.pb.gz")" -eq "$(truth "t.totals.namespaces['$ns']")"
gq wl "${gfile[@]}" --workload "$wname"
check "--workload $wname: the workload's samples" \
    test "$(pprof_total "$work/wl.pb.gz")" -eq "$(truth "t.totals.workloads['$wl']")"
gq pod "${gfile[@]}" --pod "${pod#*/}"
check "--pod ${pod#*/}: the Pod's samples, its other windows skipped" \
    sh -c "[ $(pprof_total "$work/pod.pb.gz") -eq $(truth "t.totals.pods['$pod']") ] && grep -Eq '\(([1-9][0-9]*) ruled out' '$work/pod.err'"
gq node "${gfile[@]}" --node node-001
check "--node node-001: the node's samples" \
    test "$(pprof_total "$work/node.pb.gz")" -eq "$(truth "t.totals.nodes['node-001']")"
gq s3all "${gs3[@]}"
check "S3 gives the same profile as file://" cmp -s "$work/all.folded" "$work/s3all.folded"

"$pf" compact "${gfile[@]}" --from 2026-11-28T10:00Z --until 2026-11-28T12:00Z 2> "$work/compact.err"
check "compact rolls up the two closed hours" \
    sh -c "[ $? -eq 0 ] && grep -q '2 hours rolled up' '$work/compact.err' && [ -s '$work/gen/_rollup/2026/11/28/11/_manifest.json' ]" ||
    cat "$work/compact.err"
wkey=${wl#*/}
check "... one profile per namespace and workload" test -s "$work/gen/_rollup/2026/11/28/11/$ns/${wkey//\//_}.pb.gz" ||
    ls -R "$work/gen/_rollup" | head
for q in all ns wl pod node; do cp "$work/$q.folded" "$work/$q.windows.folded"; done
gq all "${gfile[@]}"
check "with rollups: the hour 11:00 read from its rollup" grep -q ' rollups of 1 hours' "$work/all.err"
check "... the same profile as from the windows" cmp -s "$work/all.windows.folded" "$work/all.folded"
for q in ns wl pod node; do
    case $q in ns) sel=(-n "$ns") ;; wl) sel=(--workload "$wname") ;; pod) sel=(--pod "${pod#*/}") ;; node) sel=(--node node-001) ;; esac
    gq "$q" "${gfile[@]}" "${sel[@]}"
    check "... and the same with ${sel[*]}" cmp -s "$work/$q.windows.folded" "$work/$q.folded"
done
range=(--from 2026-11-28T10:00Z --until 2026-11-28T12:00Z)
gq whole "${gfile[@]}" -n "$ns"
fetched=$(grep -o '[0-9]* objects read' "$work/whole.err" | head -1 | cut -d' ' -f1)
check "two whole hours of one namespace: a few rollup objects read ($fetched), not 270 windows" \
    sh -c "grep -q ' rollups of 2 hours' '$work/whole.err' && [ '$fetched' -le 20 ]"
gq whole-windows "${gfile[@]}" -n "$ns" --no-rollups
check "... the same profile as --no-rollups" cmp -s "$work/whole.folded" "$work/whole-windows.folded"
"$pf" compact "${gfile[@]}" --from 2026-11-28T10:00Z --until 2026-11-28T12:00Z 2> "$work/compact2.err"
check "compact again: the hours are already rolled up" grep -q '0 hours rolled up, 2 already were' "$work/compact2.err"
"$pf" compact "${gs3[@]}" --from 2026-11-28T10:00Z --until 2026-11-28T12:00Z 2> "$work/compact3.err"
gq s3whole "${gs3[@]}" -n "$ns"
check "rollups on S3: the same profile as on file://" \
    sh -c "grep -q ' rollups of 2 hours' '$work/s3whole.err' && cmp -s '$work/whole.folded' '$work/s3whole.folded'"

# ---- a folder of more than 1,000 keys: S3's pages and continuation tokens ----
"$gen" --output s3://profiles/dense "${ep[@]}" --nodes 1 --windows 700 --interval 1 \
    --start 2026-11-28T10:00:00Z --pods 2 --stacks 10 --truth "$work/dense.json" 2> "$work/dense.err"
"$pf" query s3://profiles/dense "${ep[@]}" --from 2026-11-28T10:00Z --until 2026-11-28T11:00Z \
    -o "$work/dense.pb.gz" 2> "$work/dense-q.err"
check "1,400 keys in one hour's folder: every page listed, every window read" \
    sh -c "grep -q '700 windows' '$work/dense-q.err' && [ $(pprof_total "$work/dense.pb.gz") -eq $(node -e 'console.log(require(process.argv[1]).totals.samples)' "$work/dense.json") ]" ||
    cat "$work/dense-q.err"
check "... through continuation tokens" grep -q 'GET /profiles?continuation-token=1000&delimiter=%2F&list-type=2&prefix=dense%2Fnode-000%2F2026%2F11%2F28%2F10%2F 200' "$work/s3.log"

# ---- bad input ----
"$pf" query "${s3[@]}" --since 1x 2> "$work/bad.err"
check "--since 1x: exit 2, one line" sh -c "[ $? -eq 2 ] && [ \$(wc -l < '$work/bad.err') -le 2 ] && grep -q 'no duration' '$work/bad.err'"
"$pf" query ftp://x 2> "$work/bad.err"
check "an unknown URL scheme: exit 2" sh -c "[ $? -eq 2 ] && grep -q 'file:///DIR or s3://BUCKET' '$work/bad.err'"
stop_s3
"$pf" query "${s3[@]}" --since 10m 2> "$work/down.err"
check "the server down: exit 1 and a clear error" \
    sh -c "[ $? -eq 1 ] && grep -q \"GET http://127.0.0.1:$s3port/profiles.*Couldn't connect\" '$work/down.err'" || cat "$work/down.err"
echo "query: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
