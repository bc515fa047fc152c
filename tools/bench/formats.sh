#!/usr/bin/env bash
# Format throughput (tools/bench/formats_bench.c) and pprof size against Go's
# own encoder: `go tool pprof -proto` re-encodes the same profile.
# usage: tools/bench/formats.sh BUILD_DIR [NSAMPLES [NSTACKS]]
set -eu
build=${1:-build}
work=$(mktemp -d /tmp/podflame-fbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
"$build/tools/formats_bench" "$work/bench" "${2:-1000000}" "${3:-100000}"
export HOME=$work GOCACHE=$work/gocache
start=$(date +%s.%N)
go tool pprof -proto "$work/bench.pb.gz" > "$work/go.pb.gz" 2> /dev/null
end=$(date +%s.%N)
ours=$(stat -c %s "$work/bench.pb.gz")
theirs=$(stat -c %s "$work/go.pb.gz")
awk -v o="$ours" -v t="$theirs" -v s="$start" -v e="$end" 'BEGIN {
    printf "go tool pprof -proto (read + re-encode): %.2f s, %d bytes\n", e - s, t
    printf "size podflame / go: %.3f\n", o / t }'
