#!/usr/bin/env bash
# Build a systemd-capable Debian base image for the Molecule scenarios (and
# `make demo`) without any container registry: debootstrap a minimal root
# filesystem and `docker import` it. It ships in the collection: the `plan`
# scenario runs it on the user's machine when the image is missing.
# Where debootstrap cannot run (not root, not installed, no Debian mirror in
# apt's sources, as on a GitHub runner), the base is Docker Hub's
# debian:SUITE instead (PORTCULLIS_BASE_IMAGE_FROM names another, such as a
# registry mirror's copy), with the same packages installed by `docker build`.
# The image carries a label with a hash of its recipe (the suite, the
# flavour, the package lists and RECIPE_VERSION), so a re-run with an
# unchanged recipe returns at once and changing one flavour rebuilds only it.
# Bump RECIPE_VERSION when the way an image is built changes.
#
# usage: extensions/molecule/images/build-base-image.sh SUITE [FLAVOUR]
#   SUITE    bullseye | bookworm | trixie
#   FLAVOUR  firewalls: also the other firewalls and tools a real host runs
#            beside ours (a Docker engine with busybox for test containers,
#            Podman with the CNI network stack, ufw, firewalld, fail2ban), all
#            installed but not started at boot
#            edge: what an edge proxy and its tests use (nginx, certbot, the
#            pebble ACME test server, testssl.sh), nothing started at boot
#            monitoring: Prometheus (with promtool) and node-exporter, not
#            started at boot
set -euo pipefail

RECIPE_VERSION=2
suite=${1:?usage: $0 SUITE [FLAVOUR]}
flavour=${2:-}
image="localhost/portcullis-debian:${suite}${flavour:+-$flavour}"
packages=(
  python3 python3-apt systemd systemd-sysv dbus sudo iproute2 procps
  openssh-server openssh-client nftables iptables ca-certificates
  curl netcat-openbsd dnsmasq-base
)
extra=()
disabled=()
case "$flavour" in
  "") ;;
  firewalls)
    extra=(docker.io busybox-static podman containernetworking-plugins ufw firewalld fail2ban python3-systemd)
    disabled=(docker.service docker.socket containerd.service firewalld.service fail2ban.service)
    ;;
  edge)
    extra=(nginx certbot pebble testssl.sh)
    disabled=(nginx.service certbot.timer)
    ;;
  monitoring)
    extra=(prometheus prometheus-node-exporter)
    disabled=(prometheus.service prometheus-node-exporter.service)
    ;;
  *) echo "unknown flavour $flavour" >&2; exit 2 ;;
esac

recipe_hash=$(printf '%s\n' "$RECIPE_VERSION" "$suite" "$flavour" "${packages[@]}" "${extra[@]}" | sha256sum | cut -c1-16)
current=$(docker image inspect -f '{{ index .Config.Labels "org.portcullis.recipe" }}' "$image" 2>/dev/null || true)
if [[ "$current" == "$recipe_hash" ]]; then
  echo "base image $image is current"
  exit 0
fi

if [[ -n "$flavour" ]]; then
  # A flavour is the base image with more packages, installed in a container
  # of it (package scripts need a running system that debootstrap lacks) and
  # committed; installed but not started at boot, each test starts what it needs.
  "$0" "$suite"
  name="portcullis-build-${suite}-${flavour}-$$"
  trap 'docker rm -f "$name" >/dev/null 2>&1 || true' EXIT
  echo "building $image from localhost/portcullis-debian:${suite} (apt-get install ${extra[*]})"
  docker run --name "$name" "localhost/portcullis-debian:${suite}" /bin/sh -c "
    set -e
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends ${extra[*]} >/dev/null
    systemctl disable ${disabled[*]} >/dev/null 2>&1 || true
    mkdir -p /etc/docker && printf '{\"storage-driver\": \"vfs\"}\n' >/etc/docker/daemon.json
    apt-get clean && rm -rf /var/lib/apt/lists/* && touch -d @0 /var/lib/apt/lists
  " || { echo "installing ${extra[*]} into $image failed" >&2; exit 1; }
  docker commit --change 'CMD ["/sbin/init"]' \
    --change "LABEL org.portcullis.recipe=${recipe_hash}" "$name" "$image" >/dev/null
  echo "built $image (recipe $recipe_hash)"
  exit 0
fi

# Use the mirror apt is already configured with on this machine, when it is Debian.
mirror=""
if grep -qx 'ID=debian' /etc/os-release 2>/dev/null; then
  mirror=$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  if [[ -z "$mirror" ]]; then
    mirror=$(awk '$1 == "deb" && $3 !~ /security/ {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
  fi
fi

if [[ $EUID -ne 0 || -z "$mirror" ]] || ! command -v debootstrap >/dev/null; then
  # No debootstrap here: the same packages on Debian's own image, from a registry.
  from=${PORTCULLIS_BASE_IMAGE_FROM:-docker.io/library/debian:${suite}}
  echo "building $image from $from (debootstrap needs root, the debootstrap package and a Debian mirror in apt's sources)"
  printf '%s\n' \
    "FROM $from" \
    "RUN export DEBIAN_FRONTEND=noninteractive && apt-get update -q >/dev/null \\" \
    "    && apt-get install -y -q --no-install-recommends ${packages[*]} >/dev/null \\" \
    "    && (systemctl mask getty@tty1.service serial-getty@.service systemd-firstboot.service >/dev/null 2>&1 || true) \\" \
    "    && apt-get clean && rm -rf /var/lib/apt/lists/* && touch -d @0 /var/lib/apt/lists" \
    "LABEL org.portcullis.recipe=${recipe_hash}" \
    'CMD ["/sbin/init"]' | docker build -q -t "$image" - >/dev/null
  echo "built $image (recipe $recipe_hash)"
  exit 0
fi

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
