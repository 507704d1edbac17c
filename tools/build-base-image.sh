#!/usr/bin/env bash
# Build a systemd-capable Debian base image without any container registry:
# debootstrap a minimal root filesystem and `docker import` it.
# The image carries a label with a hash of its recipe, so a re-run with an
# unchanged recipe returns at once.
#
# usage: tools/build-base-image.sh SUITE   (bullseye | bookworm | trixie)
set -euo pipefail

suite=${1:?usage: $0 SUITE}
image="localhost/portcullis-debian:${suite}"
packages=(
  python3 python3-apt systemd systemd-sysv dbus sudo iproute2 procps
  openssh-server openssh-client nftables iptables ca-certificates
  curl netcat-openbsd
)

recipe_hash=$( { cat "$0"; printf '%s\n' "$suite" "${packages[@]}"; } | sha256sum | cut -c1-16)
current=$(docker image inspect -f '{{ index .Config.Labels "org.portcullis.recipe" }}' "$image" 2>/dev/null || true)
if [[ "$current" == "$recipe_hash" ]]; then
  echo "base image $image is current"
  exit 0
fi

# Use the mirror apt is already configured with on this machine.
mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
if [[ -z "$mirror" ]]; then
  mirror=$(awk '$1 == "deb" && $3 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
fi
: "${mirror:?no Debian mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list}"

rootfs=$(mktemp -d "/var/tmp/portcullis-rootfs-${suite}.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT

echo "building $image from $mirror (debootstrap, about a minute)"
packages_csv=$(IFS=,; echo "${packages[*]}")
debootstrap --variant=minbase --include="$packages_csv" "$suite" "$rootfs" "$mirror" >"$rootfs.log" 2>&1 || {
  tail -n 30 "$rootfs.log" >&2
  echo "debootstrap of $suite failed; full log: $rootfs.log" >&2
  exit 1
}
rm -f "$rootfs.log"

# Containers get their hostname and resolver from Docker; no getty on a console-less box.
rm -f "$rootfs/etc/hostname"
chroot "$rootfs" systemctl mask getty@tty1.service serial-getty@.service systemd-firstboot.service >/dev/null 2>&1 || true
chroot "$rootfs" apt-get clean
rm -rf "$rootfs"/var/lib/apt/lists/*
# No package lists ship in the image: date them at the epoch so that apt's
# cache_valid_time sees them as stale and refreshes them.
touch -d @0 "$rootfs/var/lib/apt/lists"

tar -C "$rootfs" -c . | docker import \
  --change 'CMD ["/sbin/init"]' \
  --change "LABEL org.portcullis.recipe=${recipe_hash}" \
  - "$image" >/dev/null
echo "built $image (recipe $recipe_hash)"
