#!/usr/bin/env bash
# The Molecule scenario `plan` (extensions/molecule/plan) as a team runs it,
# on both examples: examples/riwi, then examples/nostromo. Its converge is
# site.yml; its verify runs the shipped playbooks port_plan.yml and
# reachability.yml (vantages: every host, and the outsider) on the example's
# containers. On Nostromo's containers, still up, a deviation only the network
# shows must then fail the scenario's verify, naming the flow and no other: a
# rule inserted by hand after the firewall converge, in the collection's own
# firewall table on mother.internal, accepts PostgreSQL from anywhere; verify
# runs without converging again. Before that, a registry that adds a port
# Docker publishes (publish: dnat) on etl.internal is converged: its flow must
# hold (it gets a stand-in and answers the outsider).
# Run by `make plan-examples` (the collection installed in ANSIBLE_COLLECTIONS_PATH).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo/extensions"
# The examples connect to names (sii.cl) this machine may not resolve: inside
# the containers they resolve to the outsider.
export PORTCULLIS_PLAN_RESOLVE=outsider
scratch=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-plan.XXXXXX")
trap 'molecule destroy -s plan >/dev/null 2>&1 || true; rm -rf "$scratch"' EXIT

took() { echo "== plan scenario: $1 took $(($(date +%s) - $2)) s"; }

started=$(date +%s)
echo "== plan scenario: examples/riwi"
PORTCULLIS_INVENTORY="$repo/examples/riwi/inventory.yml" PORTCULLIS_PORT_MAP_DIR="$scratch/riwi" \
  molecule test -s plan
took examples/riwi "$started"

started=$(date +%s)
echo "== plan scenario: examples/nostromo (containers kept for the wrong rule)"
export PORTCULLIS_INVENTORY="$repo/examples/nostromo/inventory.yml" PORTCULLIS_PORT_MAP_DIR="$scratch/nostromo"
molecule destroy -s plan
molecule test -s plan --destroy never
took examples/nostromo "$started"

started=$(date +%s)
echo "== plan scenario: examples/nostromo with one rule inserted by hand must fail verify, naming the flow"
cp -r "$repo/examples/nostromo" "$scratch/wrong-rule"
# portcullis_services is the file's last key: this item joins its list.
cat >>"$scratch/wrong-rule/host_vars/etl.internal.yml" <<'EOF'
  # A dashboard Docker publishes (docker run -p 8081:80): its flow must hold.
  - {name: dashboard, port: 8081, expose: public, publish: dnat}
EOF
export PORTCULLIS_INVENTORY="$scratch/wrong-rule/inventory.yml"
# The same containers and hosts: the new stand-in, then the firewall, the one play whose result differs.
molecule prepare -s plan --force
molecule converge -s plan -- --tags firewall
dashboard=$(docker exec portcullis-plan-outsider curl -sS --max-time 5 http://etl.internal:8081/) || {
  echo "FAILED: the outsider cannot reach the dashboard etl.internal publishes (publish: dnat, expose: public)" >&2
  exit 1
}
echo "the outsider reaches the published dashboard: $dashboard"
# The deliberately wrong rule, by hand, after the converge and past the registry: PostgreSQL accepted from anywhere,
# first in the input chain of the firewall module's own table. The containers have nftables, which the module's
# auto backend picks: table inet portcullis (plugins/module_utils/firewall/_backends.py).
mother=portcullis-plan-mother.internal
docker exec "$mother" nft list chain inet portcullis input >/dev/null || {
  echo "FAILED: $mother has no chain input in table inet portcullis (not the nftables backend?): nowhere to put the rule" >&2
  exit 1
}
docker exec "$mother" nft insert rule inet portcullis input tcp dport 5432 accept comment '"opened by hand"'
echo "inserted by hand on mother.internal: $(docker exec "$mother" nft list chain inet portcullis input | grep -F "opened by hand" | sed "s/^[[:space:]]*//")"
# Verify only: a converge would take the rule out again.
if ANSIBLE_FORCE_COLOR=0 PY_COLORS=0 molecule verify -s plan --no-command-borders >"$scratch/verify.log" 2>&1; then
  cat "$scratch/verify.log"
  echo "FAILED: the scenario's verify passed with the wrong rule" >&2
  exit 1
fi
flow='from the outsider 172.30.90.254: mother.internal:5432/tcp postgresql internal, open only to connects_to from '
flow+='etl.internal, orchestrator.internal: not to 172.30.90.254 [172.30.90.13]: expected closed, got open (connected)'
if ! grep -qF "\"Flows that differ from the registry: 1\", \"$flow\"" "$scratch/verify.log"; then
  cat "$scratch/verify.log"
  echo "FAILED: verify failed, but not naming exactly the flow the wrong rule opens:" >&2
  echo "  $flow" >&2
  exit 1
fi
echo "verify failed as it must, naming the flow:"
echo "  $flow"
took "the wrong rule" "$started"
