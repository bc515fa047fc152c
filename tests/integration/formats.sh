#!/usr/bin/env bash
# Formats checked by the ecosystem's own readers: go tool pprof and protoc
# read podflame's pprof; podflame reads a profile written by Go's
# runtime/pprof; speedscope's published schema accepts podflame's speedscope
# files; conversions round-trip. Ends with "formats: N passed, N failed".
set -u
. "$(dirname "$0")/lib.sh"
proto_dir=/usr/share/gocode/src/github.com/google/pprof/proto
export PODFLAME_NODE_TOOLS="$top/tools/node"
work=$(mktemp -d /tmp/podflame-fmt.XXXXXX)
export HOME=$work GOCACHE=$work/gocache GOPATH=$work/gopath GOFLAGS=-mod=mod GOTOOLCHAIN=local
trap '[ "$failed" -eq 0 ] && rm -rf "$work"' EXIT
sum_folded() { awk '{ s += $NF } END { print s + 0 }' "$1"; }

# a real recording, in every format
"$cw" 15 fmt_wl & wl=$!  # outlives the three recordings on a loaded machine
sleep 0.3
"$pf" record -F 999 -d 3 -p "$wl" -o "$work/rec.pb.gz" 2> "$work/rec.err"
check "record writes .pb.gz" test -s "$work/rec.pb.gz"
"$pf" record -F 499 -d 1 -p "$wl" -o "$work/rec2.speedscope.json" 2> /dev/null
node "$top/tests/integration/speedscope-check.mjs" "$work/rec2.speedscope.json" > /dev/null 2>&1
check "record writes .speedscope.json that speedscope's schema accepts" test $? -eq 0
"$pf" record -F 499 -d 1 -p "$wl" -o "$work/rec3.txt" 2> /dev/null
check "record writes .txt as folded" grep -q "^fmt_wl;.*func_a [0-9]*$" "$work/rec3.txt"
kill "$wl" 2>/dev/null; wait "$wl" 2>/dev/null
"$pf" convert "$work/rec.pb.gz" "$work/rec.folded" 2> /dev/null
total=$(sum_folded "$work/rec.folded")
check "pprof -> folded has the samples ($total)" test "$total" -ge 2500

# go tool pprof reads it and agrees on totals and the top function
go tool pprof -raw "$work/rec.pb.gz" > "$work/raw.txt" 2> "$work/raw.err"
check "go tool pprof -raw accepts podflame's pprof" test $? -eq 0
go_total=$(awk '/^Samples:/ { s = 1; next } s && /^ *[0-9]+ +[0-9]+: / { t += $1 } /^Locations/ { s = 0 } END { print t + 0 }' "$work/raw.txt")
check "go tool pprof counts the same samples ($go_total = $total)" test "$go_total" = "$total"
go tool pprof -top -nodecount=1 "$work/rec.pb.gz" > "$work/top.txt" 2> /dev/null
check "go tool pprof -top: func_a is the hottest" sh -c "tail -1 '$work/top.txt' | grep -q ' func_a\$'"
check "go tool pprof shows the build id and command" \
    sh -c "grep -q '^Build ID: [0-9a-f]\\{40\\}' '$work/top.txt' && grep -q 'podflame record' '$work/top.txt'"

# protoc decodes the ungzipped bytes with the reference profile.proto
gzip -dc "$work/rec.pb.gz" > "$work/rec.pb"
protoc --decode=perftools.profiles.Profile -I "$proto_dir" "$proto_dir/profile.proto" \
    < "$work/rec.pb" > "$work/decoded.txt" 2> "$work/protoc.err"
check "protoc --decode accepts it" sh -c "[ $? -eq 0 ] && grep -q 'string_table: \"func_a\"' '$work/decoded.txt'"
check "sample types samples/count and cpu/nanoseconds" \
    sh -c "protoc --decode_raw < '$work/rec.pb' > /dev/null && grep -q 'period: 1001001' '$work/decoded.txt'"

# a profile written by Go's runtime/pprof
if go build -o "$work/goprof" "$top/tests/workloads/goprof.go" 2> "$work/gobuild.err"; then
    "$work/goprof" "$work/go.pprof"
    "$pf" convert "$work/go.pprof" "$work/go.folded" 2> "$work/goconv.err"
    check "reads runtime/pprof's profile" test $? -eq 0
    leaf=$(awk '{ n = $NF; sub(/ [0-9]+$/, ""); k = split($0, f, ";"); self[f[k]] += n }
        END { for (x in self) print self[x], x }' "$work/go.folded" | sort -rn | head -1 | cut -d' ' -f2)
    check "its hottest function is main.hotLoop ($leaf)" test "$leaf" = "main.hotLoop"
    "$pf" convert "$work/go.pprof" "$work/go2.pb.gz" && go tool pprof -raw "$work/go2.pb.gz" > /dev/null 2>&1
    check "runtime/pprof -> podflame -> go tool pprof" test $? -eq 0
else
    not_ok "go build of the runtime/pprof workload" "$(head -3 "$work/gobuild.err")"
fi

# speedscope
"$pf" convert "$work/rec.pb.gz" "$work/rec.speedscope.json" 2> /dev/null
ns_total=$(awk '{ s += $NF } END { printf "%.0f\n", s * 1001001 }' "$work/rec.folded")
node "$top/tests/integration/speedscope-check.mjs" "$work/rec.speedscope.json" "$ns_total" > "$work/ss.txt" 2>&1
check "speedscope's schema accepts the recording, weights sum to CPU time" test $? -eq 0
"$pf" convert "$work/rec.folded" "$work/fold.speedscope.json" 2> /dev/null
node "$top/tests/integration/speedscope-check.mjs" "$work/fold.speedscope.json" "$total" > "$work/ss2.txt" 2>&1
check "speedscope from folded: counts as weights" test $? -eq 0

# round trips through the CLI
"$pf" convert "$work/rec.folded" "$work/rt.pb.gz" && "$pf" convert "$work/rt.pb.gz" "$work/rt.folded"
check "folded -> pprof -> folded is identical" cmp -s "$work/rec.folded" "$work/rt.folded"
"$pf" convert "$work/rec.pb.gz" - --to pprof > "$work/stdout.pb.gz" && "$pf" convert - "$work/stdin.folded" < "$work/stdout.pb.gz"
check "stdin/stdout, with format detection" cmp -s "$work/rec.folded" "$work/stdin.folded"

# corrupt input: one line, exit 1, no crash
head -c 100 "$work/rec.pb.gz" > "$work/trunc.pb.gz"
"$pf" convert "$work/trunc.pb.gz" "$work/x.folded" 2> "$work/c1.err"; rc=$?
check "truncated gzip: exit 1, one line" sh -c "[ $rc -eq 1 ] && [ \$(wc -l < '$work/c1.err') -eq 1 ] && grep -q 'truncated gzip' '$work/c1.err'"
check "no output file is left behind" test ! -e "$work/x.folded"
printf '\x0a\x02\x08\x05\x32\x00' > "$work/badidx.pb"
"$pf" convert --from pprof "$work/badidx.pb" "$work/x.folded" 2> "$work/c2.err"; rc=$?
check "string index out of range is reported" sh -c "[ $rc -eq 1 ] && grep -q 'string index 5 out of range' '$work/c2.err'"
printf 'a;b 1\nnot a stack\na;c x\n' > "$work/bad.folded"
"$pf" convert "$work/bad.folded" "$work/ok.pb.gz" 2> "$work/c3.err"; rc=$?
check "malformed folded lines: counted with the first line number" \
    sh -c "[ $rc -eq 0 ] && grep -q 'skipped 2 malformed lines (first: line 2' '$work/c3.err'"

echo "formats: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
