#!/usr/bin/env bash
# make demo: containers stand in for the Nostromo servers (examples/nostromo),
# playbooks/site.yml runs against them over SSH, then the result is proven:
# the port map, what is reachable from outside and inside the network, and a
# second run that changes nothing.
# Expects the virtualenv, base image and installed collection (make does that).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"
image=localhost/portcullis-debian:bookworm
network=portcullis-demo
subnet=172.30.90.0/24
work=build/demo
key=$work/id_ed25519
declare -A address=([nginx]=172.30.90.10 [sevastopol]=172.30.90.11 [orchestrator]=172.30.90.12
                    [mother]=172.30.90.13 [etl]=172.30.90.14 [outsider]=172.30.90.50 [internet]=172.30.90.60)
# The applications the registry describes, as stand-ins answering HTTP on their ports.
declare -A stand_in=([sevastopol]=4321 [orchestrator]=8000 [mother]=5432 [etl]=9999)
servers=(nginx sevastopol orchestrator mother etl)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
in_container() { docker exec "nostromo-demo-$1" bash -c "$2"; }

step "1/6 containers for the Nostromo servers on $subnet, with SSH for a deploy user"
mkdir -p "$work"
[[ -f $key ]] || ssh-keygen -q -t ed25519 -N "" -C portcullis-demo -f "$key"
docker network inspect "$network" >/dev/null 2>&1 ||
  docker network create --subnet "$subnet" --gateway 172.30.90.1 "$network" >/dev/null
for name in "${servers[@]}" outsider; do
  container=nostromo-demo-$name
  docker rm -f "$container" >/dev/null 2>&1 || true
  docker run -d --name "$container" --hostname "$name.internal" --network "$network" --ip "${address[$name]}" \
    --cap-add SYS_ADMIN --cap-add NET_ADMIN \
    --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
    --tmpfs /run --tmpfs /run/lock -v /sys/fs/cgroup:/sys/fs/cgroup:ro "$image" >/dev/null
done
for name in "${servers[@]}"; do
  docker exec "nostromo-demo-$name" systemctl is-system-running --wait >/dev/null 2>&1 || true
  docker cp "$key.pub" "nostromo-demo-$name:/tmp/deploy.pub"
  in_container "$name" '
    id deploy >/dev/null 2>&1 || useradd -m -s /bin/bash -G sudo deploy
    echo "deploy ALL=(ALL) NOPASSWD: ALL" >/etc/sudoers.d/deploy && chmod 0440 /etc/sudoers.d/deploy
    install -d -m 0700 -o deploy -g deploy /home/deploy/.ssh
    install -m 0600 -o deploy -g deploy /tmp/deploy.pub /home/deploy/.ssh/authorized_keys
    systemctl enable --now ssh >/dev/null 2>&1'
  if [[ -n ${stand_in[$name]:-} ]]; then
    port=${stand_in[$name]}
    in_container "$name" "mkdir -p /srv/api && echo '$name.internal stand-in' | tee /srv/index.html >/srv/api/index.html
      echo ok >/srv/health
      systemd-run --unit=stand-in-$port --working-directory=/srv python3 -m http.server $port >/dev/null"
  fi
  echo "  $name.internal  ${address[$name]}${stand_in[$name]:+  (stand-in app on ${stand_in[$name]})}"
done
echo "  outsider        ${address[outsider]}  (in no registry: probes from outside)"
# The Internet as the servers see it: a DNS server (sii.cl is this container;
# other names are forwarded) and web servers on 80, 443 and 8080, plus 5432.
docker rm -f nostromo-demo-internet >/dev/null 2>&1 || true
docker run -d --name nostromo-demo-internet --hostname internet --network "$network" --ip "${address[internet]}" \
  --entrypoint /bin/sh "$image" -c "
    dnsmasq --listen-address=${address[internet]} --bind-interfaces --address=/sii.cl/${address[internet]} \
      --server=127.0.0.11 --no-resolv --no-hosts
    cd /srv && echo 'the internet' >index.html
    for port in 80 443 8080 5432; do python3 -m http.server \$port >/dev/null 2>&1 & done
    wait" >/dev/null
for name in "${servers[@]}"; do
  in_container "$name" "echo 'nameserver ${address[internet]}' >/etc/resolv.conf"
done
echo "  internet        ${address[internet]}  (DNS for the servers, sii.cl, web servers on 80, 443, 8080, 5432)"
echo "  etl.internal's stand-in on 9999 is in no table: drift for the port map to find"

# The example inventory as it is, plus how this controller reaches the containers.
cat >"$work/ssh.yml" <<EOF
all:
  vars:
    ansible_user: deploy
    ansible_ssh_private_key_file: $repo/$key
    ansible_ssh_common_args: -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10
    ansible_python_interpreter: /usr/bin/python3
    portcullis_audit_report_dir: $repo/$work/port-map
EOF
run_site() {
  ANSIBLE_FORCE_COLOR=1 ansible-playbook playbooks/site.yml -i examples/nostromo/inventory.yml -i "$work/ssh.yml"
}

step "2/6 ansible-playbook playbooks/site.yml -i examples/nostromo/inventory.yml (over SSH as deploy)"
run_site

step "3/6 the port map ($work/port-map/port-map.md, and .html)"
cat "$work/port-map/port-map.md"

step "4/6 from the outsider (${address[outsider]}), which no registry allows: only nginx answers"
failures=0
probe() {  # probe FROM TARGET PORT EXPECTED
  local from=$1 target=$2 port=$3 expected=$4 result
  if docker exec "nostromo-demo-$from" nc -z -w 3 "${address[$target]}" "$port" 2>/dev/null; then
    result=open
  else
    result=refused
  fi
  local mark=ok
  [[ $result == "$expected" ]] || { mark="UNEXPECTED"; failures=$((failures + 1)); }
  printf '  %-12s -> %-13s %-5s %-8s %s\n' "$from" "$target" "$port" "$result" "$mark"
}
probe outsider nginx 80 open
probe outsider nginx 443 open
probe outsider nginx 22 refused
probe outsider sevastopol 4321 refused
probe outsider orchestrator 8000 refused
probe outsider mother 5432 refused
# One name, two services by path; api.nostromo.cl is an alias, www redirects to app.
declare -A backend=([app.nostromo.cl/]=sevastopol [app.nostromo.cl/api/]=orchestrator [api.nostromo.cl/api/]=orchestrator)
for route in app.nostromo.cl/ app.nostromo.cl/api/ api.nostromo.cl/api/; do
  domain=${route%%/*}
  answer=$(docker exec nostromo-demo-outsider curl -sk --max-time 5 --resolve "$domain:443:${address[nginx]}" \
             "https://$route" || true)
  mark=ok
  [[ $answer == "${backend[$route]}.internal stand-in" ]] || { mark=UNEXPECTED; failures=$((failures + 1)); }
  printf '  https://%-21s via nginx: %-32s %s\n' "$route" "${answer:-no answer}" "$mark"
done
answer=$(docker exec nostromo-demo-outsider curl -sk --max-time 5 -o /dev/null -w '%{http_code} %{redirect_url}' \
           --resolve "www.nostromo.cl:443:${address[nginx]}" "https://www.nostromo.cl/a?b=1" || true)
mark=ok
[[ $answer == "301 https://app.nostromo.cl/a?b=1" ]] || { mark=UNEXPECTED; failures=$((failures + 1)); }
printf '  https://%-21s redirect:  %-32s %s\n' "www.nostromo.cl/a?b=1" "${answer:-no answer}" "$mark"

step "5/6 inside the network: only the planned paths"
probe etl mother 5432 open
probe orchestrator mother 5432 open
probe sevastopol orchestrator 8000 open
probe nginx sevastopol 4321 open
probe sevastopol mother 5432 refused
probe etl orchestrator 8000 refused

# SSH answers the admin network only (this controller); ask it which logins it offers.
methods=$(ssh -v -o BatchMode=yes -o PubkeyAuthentication=no -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null \
            -o ConnectTimeout=5 "deploy@${address[nginx]}" true 2>&1 |
          tr -d '\r' | sed -n 's/^debug1: Authentications that can continue: //p' | head -n 1 || true)
mark=ok
[[ $methods == publickey ]] || { mark=UNEXPECTED; failures=$((failures + 1)); }
printf '  sshd on nginx offers the controller: %-20s %s\n' "${methods:-nothing}" "$mark"
step "5b/6 out of the network: the outbound table, output drop on every server"
probe orchestrator internet 443 open      # Orchestrator -> SII websites (sii.cl), 443
probe orchestrator internet 8080 refused  # no row for 8080
probe mother internet 80 open             # every server -> Internet 80/443, package downloads
probe mother internet 443 open
probe sevastopol internet 5432 refused    # stopped by sevastopol's own output rules
for name in "${servers[@]}"; do
  answer=$(in_container "$name" "getent hosts sii.cl | cut -d' ' -f1" || true)
  mark=ok
  [[ $answer == "${address[internet]}" ]] || { mark=UNEXPECTED; failures=$((failures + 1)); }
  printf '  %-12s resolves sii.cl: %-16s %s\n' "$name" "${answer:-nothing}" "$mark"
done
((failures == 0)) || { echo "$failures reachability checks did not match the plan" >&2; exit 1; }

step "6/6 the second run changes nothing"
log=$work/second-run.log
run_site >"$log" 2>&1 || { tail -n 40 "$log"; echo "the second run failed; its log: $log" >&2; exit 1; }
grep -A10 'PLAY RECAP' "$log"
if grep -E 'changed=[1-9]|failed=[1-9]|unreachable=[1-9]' "$log" >/dev/null; then
  echo "the second run was not idempotent" >&2
  exit 1
fi
echo "changed=0 on every host"

printf '\nThe containers keep running (nostromo-demo-*); remove them with:\n'
printf '  docker rm -f %s; docker network rm %s\n' "$(printf 'nostromo-demo-%s ' "${servers[@]}" outsider internet)" "$network"
