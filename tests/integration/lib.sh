# Helpers shared by the integration suites: each suite counts its checks in
# $passed and $failed and ends with "NAME: N passed, N failed".
# shellcheck shell=bash
passed=0
failed=0
# every suite takes the build directory as its first argument
build=$(cd "${1:-build}" && pwd)
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
pf="$build/podflame"
cw="$build/tests/cpuwork"
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1${2:+: $2}"; }
# check NAME COMMAND...: passes when COMMAND succeeds; returns its verdict
# so that a caller can print diagnostics: check ... || cat log
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name"; return 1; fi
}
# give_up SUITE WHAT: a precondition WHAT failed; ends the suite with its summary
give_up() {
    not_ok "$2"
    echo "$1: $passed passed, $failed failed"
    exit 1
}
# wait_for SECONDS COMMAND...: polls COMMAND every 0.2 s
wait_for() {
    local t=$(($1 * 5)); shift
    while [ $t -gt 0 ]; do "$@" && return 0; sleep 0.2; t=$((t - 1)); done
    return 1
}
# kill_and_reap SIGNAL PID...: sends SIGNAL (TERM, KILL) to each PID, then
# waits for every background job of the suite
kill_and_reap() {
    local sig=$1 p
    shift
    for p in "$@"; do kill "-$sig" "$p" 2> /dev/null; done
    wait 2> /dev/null
}
# need_root SUITE [cgroup2]: gives up unless the suite runs as root and, with
# cgroup2, on a machine with a cgroup v2 mount
need_root() {
    if [ "${2:-}" = cgroup2 ]; then
        [ "$(id -u)" -eq 0 ] && [ -n "$cgmount" ] || give_up "$1" "runs as root with a cgroup2 mount"
    else
        [ "$(id -u)" -eq 0 ] || give_up "$1" "runs as root"
    fi
}
# random_port: a port for a listener of the test's own (20000 to 39999)
random_port() { echo $((20000 + RANDOM % 20000)); }
# http_code CURL_ARGS...: the HTTP status of a request, as curl reports it
http_code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }

# ---- an emulated Kubernetes node ----
# the cgroup v2 mount point; empty on a machine without one
cgmount=$(awk '$0 ~ / - cgroup2 / { print $5; exit }' /proc/self/mountinfo)
# kubelet_root NAME: the suite's own kubelet --cgroup-root, /podflame-NAME-PID,
# in $kroot (give it to podflame as PODFLAME_KUBE_CGROUP_ROOT), and its
# directory under the cgroup2 mount in $base; remove_cgroups "$base" at exit
kubelet_root() {
    kroot="/podflame-$1-$$"
    base="$cgmount$kroot"
}
# container_id XY: a 64-hex-digit container ID, XY repeated
container_id() {
    local i id=""
    for i in {1..32}; do id+=$1; done
    echo "$id"
}
# kube_cgroup DRIVER QOS UID [RUNTIME ID]: the cgroup path, under the
# kubelet's root, the kubelet gives a Pod (DRIVER systemd or cgroupfs; QOS
# burstable, besteffort or guaranteed) or, with RUNTIME (containerd or crio)
# and a container ID, one of its containers
kube_cgroup() {
    local pod ctr=""
    case $1/$2 in
        systemd/guaranteed) pod="kubepods.slice/kubepods-pod${3//-/_}.slice" ;;
        systemd/*) pod="kubepods.slice/kubepods-$2.slice/kubepods-$2-pod${3//-/_}.slice" ;;
        cgroupfs/guaranteed) pod="kubepods/pod$3" ;;
        cgroupfs/*) pod="kubepods/$2/pod$3" ;;
    esac
    case $1/${4:-} in
        */) ;;
        systemd/containerd) ctr="/cri-containerd-$5.scope" ;;
        systemd/crio) ctr="/crio-$5.scope" ;;
        cgroupfs/*) ctr="/$5" ;;
    esac
    echo "$pod$ctr"
}
# pod_logs LOGDIR NS POD UID CONTAINER [ID]: the Pod's entries in a kubelet
# log tree (LOGDIR/pods/NS_POD_UID/CONTAINER and, given the container's ID,
# LOGDIR/containers/POD_NS_CONTAINER-ID.log), as in /var/log
pod_logs() {
    mkdir -p "$1/pods/$2_$3_$4/$5" "$1/containers"
    if [ -n "${6:-}" ]; then touch "$1/containers/$3_$2_$5-$6.log"; fi
}
# start_in_cgroup CGROUP_DIR... -- COMMAND...: runs COMMAND in the
# background inside every CGROUP_DIR: its shell joins them before it execs
# COMMAND (no sample of it falls outside), and it is in them when this
# returns; its PID in $!
start_in_cgroup() {
    local dirs=() d pid
    while [ "$1" != -- ]; do dirs+=("$1"); shift; done
    shift
    sh -c 'while [ "$1" != -- ]; do echo $$ > "$1/cgroup.procs" || exit 1; shift; done; shift; exec "$@"' \
        sh "${dirs[@]}" -- "$@" &
    pid=$!
    for d in "${dirs[@]}"; do echo "$pid" > "$d/cgroup.procs"; done 2> /dev/null
}
# remove_cgroups DIR...: removes the cgroup trees at DIR, deepest first (their
# processes must have been killed and reaped)
remove_cgroups() {
    local d
    for d in "$@"; do
        if [ -d "$d" ]; then find "$d" -depth -type d -exec rmdir {} + 2> /dev/null; fi
    done
}

# ---- the S3-compatible server on loopback (s3rver behind a SigV4 check) ----
# start_s3 serves bucket "profiles" from $work/s3data on $s3port (a free
# one the first time, the same one again after stop_s3); its pid in $s3pid.
# Needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY set.
s3port=""
s3pid=""
start_s3() {
    rm -f "$work/s3.port"
    node "$top/tests/integration/s3-server.mjs" "$work/s3data" profiles "$AWS_ACCESS_KEY_ID" \
        "$AWS_SECRET_ACCESS_KEY" "$work/s3.port" "$work/s3.log" $s3port 2> "$work/s3.err" &
    s3pid=$!
    wait_for 20 test -s "$work/s3.port" || { cat "$work/s3.err"; return 1; }
    s3port=$(cat "$work/s3.port")
}
stop_s3() { kill "$s3pid" 2> /dev/null; wait "$s3pid" 2> /dev/null; s3pid=""; }
s3get() { # PATH -> stdout, signed like any S3 client
    curl -sS --fail --aws-sigv4 "aws:amz:us-east-1:s3" -u "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" \
        -H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
        "http://127.0.0.1:$s3port/$1"
}
s3keys() { # PREFIX: keys under it, sorted
    s3get "profiles?list-type=2" | grep -o '<Key>[^<]*</Key>' | sed 's/<[^>]*>//g' | grep "^$1" | sort
}
