#!/usr/bin/env bash
# Make a fresh Debian machine (as root) ready to build and test the collection:
# the Debian packages we need, and a running Docker engine. Idempotent and
# quick when everything is already there.
set -euo pipefail

packages=(python3-venv docker.io debootstrap rsync git shellcheck openssh-client)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  log=$(mktemp)
  if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "could not install: ${missing[*]}" >&2
    exit 1
  fi
  rm -f "$log"
fi

if ! docker info >/dev/null 2>&1; then
  echo "starting the Docker engine"
  if command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
    systemctl start docker
  else
    mkdir -p /var/log
    # A session of its own: killing the process group of whatever ran this script (a CI step, a shell job) must
    # not take the engine, and every container, with it. The log is appended to, so the last stop stays readable.
    setsid nohup dockerd >>/var/log/portcullis-dockerd.log 2>&1 < /dev/null &
  fi
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && break
    sleep 1
  done
  docker info >/dev/null 2>&1 || {
    echo "the Docker engine did not start; see /var/log/portcullis-dockerd.log" >&2
    exit 1
  }
fi
