#!/usr/bin/env bash
# The Molecule scenario `plan` (extensions/molecule/plan) as a team runs it,
# on both examples: examples/riwi, then examples/nostromo. On Nostromo's
# containers, still up, a registry with one deliberately wrong rule must then
# fail the scenario's verify, naming the flow and no other: mother.internal
# opens PostgreSQL to everyone with a portcullis_firewall_extra_rules entry,
# which site.yml applies without complaint, so only the network shows it. The
# same registry adds a port Docker publishes (publish: dnat) on etl.internal,
# whose flow must hold: it gets a stand-in and answers the outsider.
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
echo "== plan scenario: examples/nostromo with one wrong rule must fail, naming the flow"
cp -r "$repo/examples/nostromo" "$scratch/wrong-rule"
cat >>"$scratch/wrong-rule/host_vars/mother.internal.yml" <<'EOF'
# The deliberately wrong rule: PostgreSQL opened to everyone, past the registry.
portcullis_firewall_extra_rules:
  - {port: postgresql, comment: opened by hand}
EOF
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
