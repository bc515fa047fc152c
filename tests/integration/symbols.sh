#!/usr/bin/env bash
# Symbolization as production needs it: DWARF with inlined frames and
# file:line; stripped binaries whose debug info sits beside them
# (.gnu_debuglink), under a build-id tree, or on a real debuginfod server on
# loopback; C++ demangling; a binary only another mount namespace can see;
# a deleted binary; JIT code of Node.js and Java through their perf maps.
# Ends with "symbols: N passed, N failed".
set -u
. "$(dirname "$0")/lib.sh"
work=$(mktemp -d /tmp/podflame-sym.XXXXXX)
export HOME=$work GOCACHE=$work/gocache DEBUGINFOD_CACHE_PATH=$work/dcache
unset DEBUGINFOD_URLS
inl="$build/tests/inlined"
src="$top/tests/workloads/inlined.c"
pids=()

cleanup() {
    kill_and_reap TERM "${pids[@]}"
    # the JITs' perf maps (Node.js, Java) are written to the host's /tmp
    for p in "${pids[@]}"; do rm -f "/tmp/perf-$p.map"; done
    [ "$failed" -eq 0 ] && rm -rf "$work"
}
trap cleanup EXIT

need_root symbols

# record [options...] -- PROGRAM ARGS: profiles the program for its life
rec() { "$pf" record -F 499 --no-kernel --group-by none "$@" 2>> "$work/rec.err"; }
# share FILE PATTERN: the percentage of samples whose stack matches PATTERN
share() { awk -v pat="$2" '{ n = $NF; t += n; if ($0 ~ pat) m += n } END { printf "%d", t ? 100 * m / t : 0 }' "$1"; }
chain=';main;inl_outer;inl_stage_\[i\];inl_mix_\[i\] [0-9]+$'

# -- DWARF in the binary: the inline chain and its source lines
rec -o "$work/inl.pb.gz" -- "$inl" 1.5
"$pf" convert "$work/inl.pb.gz" "$work/inl.folded" 2> /dev/null
s=$(share "$work/inl.folded" "$chain")
check "inlined functions expand into their own frames (${s}% main;inl_outer;inl_stage_[i];inl_mix_[i])" \
    test "$s" -ge 90 || head -5 "$work/inl.folded"
hot=$(grep -n '/\* HOT \*/' "$src" | cut -d: -f1)
mix=$(grep -n '/\* CALL-MIX \*/' "$src" | cut -d: -f1)
stage=$(grep -n '/\* CALL-STAGE \*/' "$src" | cut -d: -f1)
go tool pprof -top -lines "$work/inl.pb.gz" > "$work/lines.txt" 2> /dev/null
check "pprof: the hot line inl_mix inlined.c:$hot, marked inline" \
    grep -Eq " inl_mix .*tests/workloads/inlined.c:$hot \(inline\)" "$work/lines.txt"
check "pprof: the call sites inl_stage inlined.c:$mix and inl_outer inlined.c:$stage" \
    sh -c "grep -Eq ' inl_stage .*inlined.c:$mix \(inline\)' '$work/lines.txt' &&
           grep -Eq ' inl_outer .*inlined.c:$stage\$' '$work/lines.txt'" || cat "$work/lines.txt"

# -- stripped copies; the debug file (a) by debuglink, (b) in a build-id
# tree, (c) on a debuginfod server
id=$(readelf -n "$inl" | awk '/Build ID/ { print $3 }')
mkdir -p "$work/a" "$work/b" "$work/c" "$work/tree/.build-id/${id:0:2}" "$work/srv"
objcopy --only-keep-debug "$inl" "$work/inlined.debug"
objcopy --strip-all --add-gnu-debuglink="$work/inlined.debug" "$inl" "$work/a/inlined"
cp "$work/inlined.debug" "$work/a/"
objcopy --strip-all "$inl" "$work/b/inlined"
cp "$work/b/inlined" "$work/c/inlined"
cp "$work/inlined.debug" "$work/tree/.build-id/${id:0:2}/${id:2}.debug"
cp "$work/inlined.debug" "$work/srv/"
check "the stripped copies have no symbols" sh -c "! nm '$work/b/inlined' 2>&1 | grep -q inl_outer"

rec -o "$work/none.folded" -- "$work/b/inlined" 1
check "stripped, no debug info: module+offset frames" grep -Eq ';inlined\+0x[0-9a-f]+ [0-9]+$' "$work/none.folded"

rec -o "$work/a.folded" -- "$work/a/inlined" 1
s=$(share "$work/a.folded" "$chain")
check "stripped, debug file by .gnu_debuglink: same names (${s}%)" test "$s" -ge 90

rec --debug-dir "$work/tree" -o "$work/b.folded" -- "$work/b/inlined" 1
s=$(share "$work/b.folded" "$chain")
check "stripped, debug file in a --debug-dir build-id tree: same names (${s}%)" test "$s" -ge 90

port=""
for try in 1 2 3 4 5; do
    p=$(random_port)
    debuginfod -F -p "$p" -d "$work/dfd.sqlite" -t 1 "$work/srv" > "$work/debuginfod.log" 2>&1 &
    dpid=$!
    for _ in $(seq 100); do
        curl -sf -o /dev/null "http://127.0.0.1:$p/buildid/$id/debuginfo" && port=$p && break
        kill -0 "$dpid" 2> /dev/null || break
        sleep 0.1
    done
    [ -n "$port" ] && break
    kill "$dpid" 2> /dev/null
    wait "$dpid" 2> /dev/null
done
pids+=($dpid)
check "debuginfod serves the debug file" test -n "$port" || tail -5 "$work/debuginfod.log"
: > "$work/rec.err"
rec --debuginfod "http://127.0.0.1:$port" -o "$work/c.folded" -- "$work/c/inlined" 1
s=$(share "$work/c.folded" "$chain")
check "stripped, debug info from debuginfod: same names (${s}%)" test "$s" -ge 90
check "the summary counts the download" grep -Eq '[1-9][0-9]* from debuginfod' "$work/rec.err"
check "debuginfod's download is cached locally" test -s "$DEBUGINFOD_CACHE_PATH/$id/debuginfo"
kill "$dpid" 2> /dev/null
wait "$dpid" 2> /dev/null
rec --debuginfod "http://127.0.0.1:$port" --debuginfod-timeout 2 -o "$work/c2.folded" -- "$work/c/inlined" 1
s=$(share "$work/c2.folded" "$chain")
check "with the server gone, the local cache still names it (${s}%)" test "$s" -ge 90

# a server that accepts and never answers: each binary without local debug
# info waits the timeout once (not debuginfod's default 90 s), and the
# binary falls back to module+offset
node -e 'const s = require("net").createServer(() => {}).listen(0, "127.0.0.1",
    () => require("fs").writeFileSync(process.argv[1], String(s.address().port)))' "$work/slowport" &
slow=$!
pids+=($slow)
wait_for 5 test -s "$work/slowport"
rm -rf "$DEBUGINFOD_CACHE_PATH"
start=$(date +%s%N)
# (frame pointers: with stack copies, a process that exits while its
# binaries' lookups wait has only its leaf; see the unwind suite)
rec --unwind fp --debuginfod "http://127.0.0.1:$(cat "$work/slowport")" --debuginfod-timeout 1 -d 1 \
    -o "$work/slow.folded" -- "$work/c/inlined" 3
took=$((($(date +%s%N) - start) / 1000000))
check "a silent debuginfod server costs at most its timeout (${took} ms for a 1 s recording)" \
    test "$took" -lt 10000
check "... and the frames fall back to module+offset" \
    grep -Eq ';inlined\+0x[0-9a-f]+ [0-9]+$' "$work/slow.folded"
kill "$slow" 2> /dev/null

# -- C++ names, demangled unless asked not to
rec -o "$work/cxx.folded" -- "$build/tests/cxxwork" 1
check "C++: namespaces, templates and overloads demangled" \
    grep -q ';main;shop::price(unsigned long, double);shop::Cart<unsigned long>::checkout(unsigned long, int) ' "$work/cxx.folded"
rec --no-demangle -o "$work/cxxm.folded" -- "$build/tests/cxxwork" 1
check "--no-demangle keeps the mangled names" grep -q ';main;_ZN4shop5priceEmd;_ZN4shop4CartImE8checkoutEmi ' "$work/cxxm.folded"

# -- a binary only another mount namespace can see
mkdir -p "$work/nsroot"
unshare -m --propagation private sh -c "mount -t tmpfs podflame '$work/nsroot' && cp '$inl' '$work/nsroot/' &&
    exec '$work/nsroot/inlined' 3 inl_ns" &
nspid=$!
pids+=($nspid)
sleep 0.5
check "the binary is not visible from here" test ! -e "$work/nsroot/inlined"
rec -p "$nspid" -d 1 -o "$work/ns.folded"
s=$(share "$work/ns.folded" "$chain")
check "another mount namespace's binary is named (${s}%)" test "$s" -ge 90

# -- a binary deleted after it started
mkdir -p "$work/del"
cp "$inl" "$work/del/inlined"
"$work/del/inlined" 3 inl_del &
delpid=$!
pids+=($delpid)
sleep 0.3
rm "$work/del/inlined"
check "the binary shows as deleted" grep -q 'inlined (deleted)' "/proc/$delpid/maps"
rec -p "$delpid" -d 1 -o "$work/del.folded"
s=$(share "$work/del.folded" "$chain")
check "a deleted binary is named through map_files (${s}%)" test "$s" -ge 90

# -- JIT: Node.js --perf-basic-prof
cat > "$work/hot.js" << 'JS'
function hotLoop(n) {
  let x = 1;
  for (let i = 0; i < n; i++) x = (x * 1103515245 + 12345) % 2147483648;
  return x;
}
const end = Date.now() + Number(process.argv[2]) * 1000;
let s = 0;
while (Date.now() < end) s += hotLoop(100000);
console.log(s > 0 ? 'done' : '');
JS
# (in $work: V8 leaves its isolate log in the current directory)
(cd "$work" && exec node --perf-basic-prof "$work/hot.js" 3 > /dev/null) &
jspid=$!
pids+=($jspid)
sleep 1
rec -p "$jspid" -d 1 -o "$work/js.folded"
check "Node.js: the hot JavaScript function, marked _[j]" \
    grep -Eq ';JS:\*?hotLoop [^;]*hot\.js[^;]*_\[j\] [0-9]+$' "$work/js.folded" || tail -3 "$work/js.folded"

# -- JIT in a "container": its own PID and mount namespaces and a private
# /tmp, so its map is /tmp/perf-<its namespaced PID>.map inside its root
unshare --pid --fork --mount --propagation private sh -c \
    "mount -t tmpfs podflame /tmp && exec node --perf-basic-prof -e \"\$0\" - 4" "$(cat "$work/hot.js")" \
    > /dev/null 2>&1 &
upid=$!
pids+=($upid)
sleep 1.5
cpid=$(pgrep -P "$upid" | head -1)
check "the container's process has its own PID and /tmp" \
    sh -c "[ -n '$cpid' ] && grep -Eq '^NSpid:[[:space:]]+$cpid[[:space:]]+1\$' /proc/$cpid/status && [ ! -e /tmp/perf-1.map ] &&
           [ -s /proc/$cpid/root/tmp/perf-1.map ]"
rec -p "$cpid" -d 1 -o "$work/cjs.folded"
check "JIT in a container: named from /proc/PID/root/tmp/perf-NSPID.map" \
    grep -Eq ';JS:\*?hotLoop[^;]*_\[j\] [0-9]+$' "$work/cjs.folded" || tail -3 "$work/cjs.folded"

# -- JIT: Java, with the map written by jcmd Compiler.perfmap
if command -v javac > /dev/null && command -v jcmd > /dev/null; then
    cat > "$work/Hot.java" << 'JAVA'
public class Hot {
    static long hotMethod(long x, int n) {
        for (int i = 0; i < n; i++) x = x * 6364136223846793005L + 1442695040888963407L;
        return x;
    }
    public static void main(String[] args) {
        long end = System.currentTimeMillis() + Long.parseLong(args[0]) * 1000, x = 1;
        while (System.currentTimeMillis() < end) x = hotMethod(x, 1000000);
        System.out.println(x == 42 ? "!" : "done");
    }
}
JAVA
    javac -d "$work" "$work/Hot.java"
    java -XX:+PreserveFramePointer -cp "$work" Hot 6 > /dev/null &
    jpid=$!
    pids+=($jpid)
    sleep 2
    jcmd "$jpid" Compiler.perfmap > "$work/jcmd.log" 2>&1
    rec -p "$jpid" -d 1 -o "$work/java.folded"
    check "Java: the hot method from jcmd Compiler.perfmap, marked _[j]" \
        grep -Eq ';[^;]*Hot\.hotMethod\(long, int\)_\[j\] [0-9]+$' "$work/java.folded" ||
        { cat "$work/jcmd.log"; tail -3 "$work/java.folded"; }
else
    not_ok "Java: javac and jcmd are installed (tools/install-deps.sh)"
fi

echo "symbols: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
