#!/usr/bin/env bash
# Extract one file from a Debian package, fetched with apt (no install), and
# record where it came from next to it (DEST.source).
# usage: tools/debian-file.sh PACKAGE[=VERSION] PATH_IN_PACKAGE DEST
set -euo pipefail

spec=${1:?usage: $0 PACKAGE[=VERSION] PATH DEST}
inside=${2:?usage: $0 PACKAGE[=VERSION] PATH DEST}
dest=${3:?usage: $0 PACKAGE[=VERSION] PATH DEST}
package=${spec%%=*}

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
# apt's sandbox user cannot write here; the download works without it.
if ! apt-get download -q -o APT::Sandbox::User=root "$spec" >download.log 2>&1; then
  apt-get update -q >/dev/null 2>&1 || true
  apt-get download -q -o APT::Sandbox::User=root "$spec" >download.log 2>&1 || {
    cat download.log >&2
    echo "could not download the Debian package $spec" >&2
    exit 1
  }
fi
deb=$(ls ./*.deb)
version=$(dpkg-deb -f "$deb" Version)
dpkg-deb -x "$deb" root
[[ -f "root/${inside#/}" ]] || { echo "$spec has no /${inside#/}" >&2; exit 1; }
cd - >/dev/null
mkdir -p "$(dirname "$dest")"
cp "$scratch/root/${inside#/}" "$dest"
codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-debian}")
echo "Debian $codename package $package $version, /${inside#/}" >"$dest.source"
