#!/usr/bin/env bash
# Symbolization throughput: 100k addresses in a large binary with DWARF,
# podflame cold (open + parse + every lookup) and warm (the same addresses
# again), against `addr2line -f -i -e` (binutils) and `eu-addr2line -f -i -e`
# (elfutils) on the same addresses in the same run. Also compares podflame's
# whole inline chain (functions and lines) with addr2line's, address by
# address.
#
# The binary: CPython's libpython3.11.so as pyenv builds it on these
# machines (-O3 -g: 23 MB, 9 MB of .debug_info, heavy inlining). Another can
# be given as BINARY=path.
#
# usage: tools/bench/symbolize.sh [BUILD]
set -eu
build=${1:-build}
n=${N:-100000}
work=$(mktemp -d /tmp/podflame-symbench.XXXXXX)
trap 'rm -rf "$work"' EXIT
bin=${BINARY:-$(ls /root/.pyenv/versions/3.11*/lib/libpython3.11.so.1.0 2> /dev/null | head -1)}
if [ -z "$bin" ] || ! readelf -S "$bin" | grep -q debug_info; then
    echo "symbolize.sh: give BINARY=path to a large binary with DWARF" >&2
    exit 2
fi

# N addresses spread over .text, fixed seed: the same list every run
read -r start size < <(readelf -SW "$bin" | awk '{ for (i = 1; i < NF; i++) if ($i == ".text") { print $(i + 2), $(i + 4); exit } }')
python3 - "$start" "$size" "$n" > "$work/addrs" << 'PY'
import random, sys
start, size, n = int(sys.argv[1], 16), int(sys.argv[2], 16), int(sys.argv[3])
rng = random.Random(42)
for _ in range(n):
    print("%x" % (start + rng.randrange(size)))
PY

timed() { # label, then a command reading $work/addrs on stdin; prints seconds and peak RSS
    local label=$1
    shift
    # both addr2lines exit 1 when some address has no name
    /usr/bin/time -f "%e %M" -o "$work/time" "$@" < "$work/addrs" > "$work/$label.out" || true
    read -r secs rss < <(tail -1 "$work/time")
    echo "$secs $rss"
}

read -r count named cold warm rss < <("$build/tools/symbolize_bench" "$bin" "$work/addrs" "$work/pf.names")
read -r a2l_s a2l_rss < <(timed addr2line addr2line -f -i -e "$bin")
read -r eu_s eu_rss < <(timed eu eu-addr2line -f -i -e "$bin")

# addr2line -a -f -i: per address, "0xADDR" then function and file:line
# pairs for the inline chain, innermost first
addr2line -a -f -i -e "$bin" < "$work/addrs" | awk '
    /^0x[0-9a-f]+$/ { if (NR > 1) print chain; chain = ""; f = ""; next }
    f == "" { f = $0; next }
    { line = $0; sub(/ \(discriminator [0-9]+\)$/, "", line); sub(/.*:/, "", line)
      if (line == "?") line = 0
      chain = chain (chain == "" ? "" : ";") f ":" line; f = "" }
    END { print chain }' > "$work/a2l.chains" || true
agree=$(paste -d'\t' "$work/pf.names" "$work/a2l.chains" |
    awk -F'\t' '$1 == $2 { a++ } END { printf "%.1f", 100 * a / NR }')

echo "binary: $bin ($(stat -c %s "$bin") bytes), $count addresses, $named named by podflame"
printf '%-28s %10s %12s %10s\n' tool seconds "addr/s" "peak RSS"
printf '%-28s %10.3f %12.0f %7d MiB\n' "podflame cold" "$cold" "$(echo "$count / $cold" | bc -l)" $((rss / 1024))
printf '%-28s %10.3f %12.0f %10s\n' "podflame warm" "$warm" "$(echo "$count / $warm" | bc -l)" "(same)"
printf '%-28s %10.3f %12.0f %7d MiB\n' "addr2line -f -i" "$a2l_s" "$(echo "$count / $a2l_s" | bc -l)" $((a2l_rss / 1024))
printf '%-28s %10.3f %12.0f %7d MiB\n' "eu-addr2line -f -i" "$eu_s" "$(echo "$count / $eu_s" | bc -l)" $((eu_rss / 1024))
echo "warm vs addr2line: $(echo "$a2l_s / $warm" | bc -l | xargs printf '%.0f')x faster (target >= 50x)"
echo "cold vs eu-addr2line: $(echo "$eu_s / $cold" | bc -l | xargs printf '%.2f')x (target >= 1)"
echo "the same inline chain (functions and lines) as addr2line -i for $agree% of addresses"
