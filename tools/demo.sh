#!/usr/bin/env bash
# make demo: start a local container standing in for the Riwi server of the
# seeds, run playbooks/site.yml against it, and show the result.
# Expects the virtualenv, base image and installed collection (make does that).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
container=portcullis-demo-riwi
image=localhost/portcullis-debian:bookworm

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1/3 container $container stands in for the server 'riwi'"
if [[ "$(docker inspect -f '{{.State.Running}}' "$container" 2>/dev/null || true)" != "true" ]]; then
  docker rm -f "$container" >/dev/null 2>&1 || true
  docker run -d --name "$container" --hostname riwi \
    --cap-add SYS_ADMIN --cap-add NET_ADMIN \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --tmpfs /run --tmpfs /run/lock -v /sys/fs/cgroup:/sys/fs/cgroup:ro \
    "$image" >/dev/null
fi
docker exec "$container" systemctl is-system-running --wait >/dev/null 2>&1 || true
echo "running: $(docker exec "$container" sh -c '. /etc/os-release; echo "$PRETTY_NAME"')"
# Drift to find: a service someone started by hand, in no table.
if ! docker exec "$container" systemctl is-active --quiet demo-stray; then
  docker exec "$container" systemd-run --unit=demo-stray --working-directory=/tmp \
    python3 -m http.server 9999 --bind 127.0.0.1 >/dev/null
  for _ in $(seq 1 20); do  # 9999 is 270F in the kernel's table
    docker exec "$container" grep -q ':270F ' /proc/net/tcp && break
    sleep 0.5
  done
  echo "started an undeclared listener on 127.0.0.1:9999 (python3 -m http.server)"
fi

step "2/3 ansible-playbook playbooks/site.yml -i examples/riwi/inventory.yml"
ansible-playbook playbooks/site.yml -i examples/riwi/inventory.yml \
  -e ansible_connection=community.docker.docker -e ansible_host="$container" \
  -e ansible_python_interpreter=/usr/bin/python3

step "3/3 what a bad registry entry does: it stops the run and names the value"
if ansible-playbook playbooks/site.yml -i examples/riwi/inventory.yml \
     -e ansible_connection=community.docker.docker -e ansible_host="$container" \
     -e '{"portcullis_services": [{"name": "db", "port": "postgressql"}]}' >/tmp/portcullis-demo-bad.log 2>&1; then
  echo "unexpected: a misspelt service name was accepted" >&2
  exit 1
fi
grep -o "portcullis.ports.port_ranges: unknown port 'postgressql'[^\"]*" /tmp/portcullis-demo-bad.log | head -n 1

printf '\nThe container keeps running; remove it with: docker rm -f %s\n' "$container"
