#!/usr/bin/env bash
# Builds the agent image's runtime filesystem without a Docker engine:
# debootstrap a minimal Debian 12, install exactly the Dockerfile's runtime
# packages (tools/deploy/runtime-packages.txt, read by both), then copy in the
# binary built by the Dockerfile's build-stage command (make build/podflame on
# Debian 12). The Debian part is cached under $PODFLAME_ROOTFS_CACHE
# (default /var/cache/podflame-rootfs), keyed by the package list's sha256:
# only a change to the list debootstraps again.
#
#   tools/deploy/build-rootfs.sh [BINARY] [OUT]
#     BINARY  default build/podflame
#     OUT     default build/rootfs (the image: cached Debian + the binary)
# Prints OUT's path on its last line.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-build/podflame}
out=${2:-build/rootfs}
list=$here/runtime-packages.txt
cache=${PODFLAME_ROOTFS_CACHE:-/var/cache/podflame-rootfs}
mirror=${PODFLAME_DEBIAN_MIRROR:-http://deb.debian.org/debian}

die() { echo "build-rootfs: $*" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot); run it as root"
command -v debootstrap > /dev/null || die "debootstrap is missing: apt-get install debootstrap (tools/install-deps.sh installs it)"
[ -x "$bin" ] || die "$bin is missing: run make $bin first"

pkgs=$(grep -v '^[[:space:]]*\(#\|$\)' "$list" | tr -s ' \n' ',' | sed 's/,$//')
key=$(sha256sum "$list" | cut -c1-16)
base=$cache/$key
if [ ! -f "$base/.complete" ]; then
    rm -rf "$base" "$base.tmp"
    mkdir -p "$cache"
    start=$(date +%s)
    echo "build-rootfs: debootstrap bookworm with $pkgs into $base (once per package list)" >&2
    # minbase: essential + apt, like debian:bookworm-slim; --include: the
    # Dockerfile's runtime stage (apt-get install --no-install-recommends)
    debootstrap --variant=minbase --include="$pkgs" bookworm "$base.tmp" "$mirror" > "$cache/$key.log" 2>&1 ||
        die "debootstrap failed (see $cache/$key.log): is $mirror reachable?"
    # what the Dockerfile's 'rm -rf /var/lib/apt/lists/*' and the slim image leave out
    rm -rf "$base.tmp"/var/lib/apt/lists/* "$base.tmp"/var/cache/apt/*.bin "$base.tmp"/var/cache/apt/archives/*.deb
    for p in $(echo "$pkgs" | tr ',' ' '); do
        chroot "$base.tmp" dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
            die "package $p is not installed in the rootfs"
    done
    touch "$base.tmp/.complete"
    mv "$base.tmp" "$base"
    echo "build-rootfs: debootstrap took $(($(date +%s) - start)) s" >&2
fi

# the image: the cached Debian, then COPY --from=build ... /usr/local/bin/podflame
rm -rf "$out"
mkdir -p "$(dirname "$out")"
cp -a "$base" "$out"
rm -f "$out/.complete"
install -m 0755 "$bin" "$out/usr/local/bin/podflame"
# every library the binary needs must come from the image, not the host
missing=$(chroot "$out" /usr/bin/ldd /usr/local/bin/podflame 2>&1 | grep 'not found' || true)
[ -z "$missing" ] || die "libraries missing from the image: $missing (add their packages to $list)"
echo "$out"
