#!/usr/bin/env bash
# Every Molecule scenario of extensions/molecule but those given as arguments
# (plan: `make plan-examples` runs it on both examples), one after the other in
# name order, as `molecule test --all` would, with the time each took. Stops
# at the first scenario that fails (its containers are destroyed by Molecule's
# own cleanup), with that scenario's status.
# usage: tools/molecule-all.sh [excluded scenario ...]
set -euo pipefail

cd "$(dirname "$0")/../extensions"
excluded=" $* "
began=$(date +%s)
for path in molecule/*/molecule.yml; do
  scenario=$(basename "$(dirname "$path")")
  if [[ "$excluded" == *" $scenario "* ]]; then
    continue
  fi
  started=$(date +%s)
  echo "== molecule scenario $scenario"
  molecule test -s "$scenario"
  echo "== molecule scenario $scenario took $(($(date +%s) - started)) s"
done
echo "== molecule: every scenario took $(($(date +%s) - began)) s"
