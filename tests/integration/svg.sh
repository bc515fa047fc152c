#!/usr/bin/env bash
# Flame graphs: well-formed SVG (xmllint), box widths proportional to counts,
# every flamegraph.pl option, differential graphs, record -o .svg, and a real
# browser (Debian's Chromium, driven by playwright-core) zooming and
# searching. Ends with "svg: N passed, N failed".
set -u
. "$(dirname "$0")/lib.sh"
fx=${PODFLAME_FIXTURES:-$top/../shared/fixtures/flamegraph-perf}
export PODFLAME_NODE_TOOLS="$top/tools/node"
work=$(mktemp -d /tmp/podflame-svg.XXXXXX)
trap '[ "$failed" -eq 0 ] && rm -rf "$work"' EXIT
sum() { awk '{ s += $NF } END { print s + 0 }' "$@"; }
svgcheck() { node "$top/tests/integration/svg-check.mjs" "$1" "$2" > "$work/check.txt" 2>&1 || { cat "$work/check.txt"; return 1; }; }

# every fixture's folded output renders, well-formed, widths exact
for f in "$fx"/results/*-collapsed-all.txt; do
    name=$(basename "$f" .txt)
    "$pf" flamegraph "$f" -o "$work/$name.svg" 2> "$work/err" &&
        xmllint --noout "$work/$name.svg" 2>> "$work/err" && svgcheck "$work/$name.svg" "$(sum "$f")"
    check "flamegraph $name: valid, widths proportional to counts" test $? -eq 0
done

# the known small graph, in the browser
printf 'main;a;b 30\nmain;a;c 20\nmain;d 40\nother;b 10\n' > "$work/small.folded"
"$pf" flamegraph "$work/small.folded" -o "$work/small.svg"
if [ -x /usr/bin/chromium ]; then
    timeout 120 node "$top/tests/integration/svg-browser.mjs" "$work/small.svg" a 50 > "$work/b1.txt" 2>&1
    check "Chromium: click zooms a to full width, search matches 50%" test $? -eq 0 || cat "$work/b1.txt"
    timeout 120 node "$top/tests/integration/svg-browser.mjs" "$work/small.svg" b 40 > "$work/b2.txt" 2>&1
    check "Chromium: b appears twice, search counts 40% once" test $? -eq 0 || cat "$work/b2.txt"
else
    not_ok "Debian chromium is installed (tools/install-deps.sh)"
fi

# every option gives a valid SVG with the same total
opts=("--title T&<x>" "--subtitle sub" "--width 800" "--height 20" "--minwidth 2" "--fonttype Courier"
      "--fontsize 9" "--countname ms" "--nametype Frame:" "--hash" "--random" "--reverse" "--inverted"
      "--flamechart" "--negate" "--notes n&b" "--total 1000")
for pal in hot mem io wakeup chain java js perl red green blue aqua yellow purple orange; do opts+=("--colors $pal"); done
bad=""
for o in "${opts[@]}"; do
    read -r flag val <<< "$o"
    # shellcheck disable=SC2086
    if ! "$pf" flamegraph "$flag" ${val:+"$val"} "$fx/results/perf-java-stacks-01-collapsed-all.txt" > "$work/o.svg" 2> "$work/err" ||
        ! xmllint --noout "$work/o.svg" 2> /dev/null; then
        bad="$bad $flag"
    fi
done
check "all ${#opts[@]} option settings give valid SVG" test -z "$bad" || echo "failing:$bad"
"$pf" flamegraph --inverted "$work/small.folded" | grep -q '>Icicle Graph<'
check "--inverted is titled Icicle Graph" test $? -eq 0
"$pf" flamegraph --total 1000 "$work/small.folded" > "$work/t.svg"
# 100 samples drawn as if there were 1000: svg-check must find the frames
# narrower than 100 samples would make them, not fail for another reason
svgcheck "$work/t.svg" 100 > /dev/null 2>&1
check "--total scales widths down (svg-check: a frame's width is off)" \
    sh -c "[ $? -ne 0 ] && grep -q \"a frame's width is off\" '$work/check.txt'" || cat "$work/check.txt"
"$pf" flamegraph --reverse "$work/small.folded" | grep -q 'data-name="b"><title>b (40 samples'
check "--reverse puts leaves at the root" test $? -eq 0
(cd "$work" && "$pf" flamegraph --cp small.folded > /dev/null && "$pf" flamegraph --cp --colors blue small.folded > cp2.svg)
check "--cp writes palette.map and keeps colours" \
    sh -c "grep -q '^main->rgb(' '$work/palette.map' && grep -q \"\$(sed -n 's/^main->//p' '$work/palette.map')\" '$work/cp2.svg'"
"$pf" flamegraph --colors nosuch "$work/small.folded" > /dev/null 2> "$work/err"
check "unknown palette: exit 2 and says so" sh -c "[ $? -eq 2 ] && grep -q 'bad value' '$work/err'"

# malformed lines: counted, skipped, graph still drawn
printf 'a;b 3\nno count\na;c x\n\n# comment\na;d 2\n' > "$work/bad.folded"
"$pf" flamegraph "$work/bad.folded" -o "$work/bad.svg" 2> "$work/err"
check "malformed lines reported with the first line number" \
    sh -c "[ $? -eq 0 ] && grep -q 'skipped 2 malformed lines (first: line 2)' '$work/err' && xmllint --noout '$work/bad.svg'"
printf 'a;\xff\xfe bad;\xe2\x82 cut 2\nb;\xc3\xa9t\xc3\xa9 3\n' > "$work/utf8.folded"
"$pf" flamegraph --width 200 "$work/utf8.folded" > "$work/utf8.svg" 2> /dev/null
check "invalid UTF-8 in names: still valid XML, good UTF-8 kept" \
    sh -c "xmllint --noout '$work/utf8.svg' && grep -q 'été' '$work/utf8.svg' && grep -q '&#xfffd;' '$work/utf8.svg'"
# random bytes, ten times: each must give a valid SVG (a failing input is
# kept in $work, which is not removed when a check fails)
bad=0
for i in 1 2 3 4 5 6 7 8 9 10; do
    head -c 100000 /dev/urandom > "$work/random.bin"
    "$pf" flamegraph "$work/random.bin" > "$work/random.svg" 2> "$work/random.err"
    rc=$?
    # a valid SVG of whatever parsed, or (nothing parsed) one line and status 1
    if ! { [ $rc -eq 0 ] && xmllint --noout "$work/random.svg" 2> /dev/null; } &&
        ! { [ $rc -eq 1 ] && grep -q 'no stacks in it' "$work/random.err" &&
            [ "$(wc -l < "$work/random.err")" -eq 1 ]; }; then
        bad=$((bad + 1))
        cp "$work/random.bin" "$work/random-failed-$i.bin"
    fi
done
check "random bytes (10 inputs): no crash; a valid SVG or a one-line error" test "$bad" -eq 0

# differential graphs
printf 'main;a 50\nmain;b 50\n' > "$work/before.folded"
printf 'main;a 150\nmain;b 30\nmain;c 20\n' > "$work/after.folded"
"$pf" diff "$work/before.folded" "$work/after.folded" -o "$work/diff.svg" 2> "$work/err"
check "diff writes a valid SVG" sh -c "[ $? -eq 0 ] && xmllint --noout '$work/diff.svg'"
check "diff: a grew (red), b shrank (blue)" sh -c \
    "grep -o 'data-name=\"a\">.*</g>' '$work/diff.svg' | grep -q 'fill=\"rgb(255,' &&
     grep -o 'data-name=\"b\">.*</g>' '$work/diff.svg' | grep -q ',255)\"'"
"$pf" diff "$work/before.folded" "$work/after.folded" -o "$work/diff.folded"
check "diff -o .folded: before normalized to after's total" \
    test "$(cat "$work/diff.folded")" = "$(printf 'main;a 100 150\nmain;b 100 30\nmain;c 0 20')"
"$pf" diff --no-normalize "$work/before.folded" "$work/after.folded" -o "$work/raw.folded"
check "diff --no-normalize keeps raw counts" grep -q '^main;a 50 150$' "$work/raw.folded"
"$pf" flamegraph "$work/diff.folded" > "$work/diff2.svg" && xmllint --noout "$work/diff2.svg"
check "flamegraph reads two-column (difffolded) input" grep -q '%; +' "$work/diff2.svg"

# record straight to SVG
if [ "$(id -u)" -eq 0 ]; then
    "$pf" record -F 499 -o "$work/rec.svg" -- "$cw" 1 wl_svg 2> /dev/null
    check "record -o out.svg writes a valid flame graph" sh -c "xmllint --noout '$work/rec.svg' && grep -q 'data-name=\"wl_svg' '$work/rec.svg'"
else
    not_ok "record -o out.svg writes a valid flame graph (needs root: not run)"
fi

echo "svg: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
