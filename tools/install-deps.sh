#!/usr/bin/env bash
# Installs every build, test and benchmark dependency of podflame from
# Debian's packages. Idempotent: installs only what is missing.
set -euo pipefail

pkgs=(
    # build
    make gcc g++ clang llvm bpftool libbpf-dev libelf-dev libdw-dev libunwind-dev zlib1g-dev
    libiberty-dev libdebuginfod1 libdebuginfod-dev
    pkg-config libpcre2-dev libcurl4-openssl-dev libjansson-dev libmicrohttpd-dev libssl-dev
    # tests, linters and the ecosystem's own readers of our outputs
    libcmocka-dev valgrind cppcheck clang-format clang-tidy procps util-linux time openssl
    golang-go protobuf-compiler golang-github-google-pprof-dev nodejs libxml2-utils chromium
    debuginfod binutils elfutils openjdk-17-jdk-headless prometheus prometheus-alertmanager curl tmux
    podman runc
    # the agent's image without Docker and its manifest turned into a runtime spec (deploy.sh)
    debootstrap python3-yaml
    # fuzzing (libFuzzer runtime for clang) and the capability check of the fault tests
    libclang-rt-14-dev libcap2-bin python3
    # benchmarks: the tools podflame is measured against
    linux-perf bpftrace
)

missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: all ${#pkgs[@]} Debian packages present"
else
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "install-deps: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# npm: readers of our outputs used by the tests (versions pinned in
# tools/node/package.json), installed into tools/node/node_modules.
node_dir="$(cd "$(dirname "$0")" && pwd)/node"
if ! (cd "$node_dir" && node -e 'for (const d of Object.keys(require("./package.json").dependencies)) require.resolve(d + "/package.json")' 2>/dev/null); then
    if command -v npm > /dev/null; then
        echo "install-deps: npm install in $node_dir"
        (cd "$node_dir" && npm install --no-audit --no-fund --loglevel=error)
    else
        echo "install-deps: npm is missing: the speedscope tests will fail" >&2
        exit 1
    fi
fi
