#!/usr/bin/env bash
# The Molecule scenario `site` with playbooks/site.yml under Mitogen's
# mitogen_linear strategy (PyPI mitogen, in requirements-dev.txt): check
# mode, converge, the unchanged run (idempotence), verify from outside and
# the side effects (the unchanged run's budgets, the canary, the vantage).
# Molecule's own create and destroy playbooks (docker driver, async tasks)
# run under the default strategy: Mitogen does not carry them.
# Run by `make site-mitogen` (the collection installed in ANSIBLE_COLLECTIONS_PATH).
set -euo pipefail

strategies=$(python -c 'import ansible_mitogen, os; print(os.path.join(os.path.dirname(ansible_mitogen.__file__), "plugins", "strategy"))')
cd "$(dirname "$0")/../extensions"
trap 'molecule destroy -s site >/dev/null 2>&1 || true' EXIT
molecule destroy -s site >/dev/null
molecule create -s site
molecule prepare -s site
for step in check converge idempotence verify side-effect; do
  echo "== site scenario, $step, under mitogen_linear"
  args=("$step" -s site)
  if [[ $step == check ]]; then
    args=(converge -s site -- --check)
  fi
  ANSIBLE_STRATEGY_PLUGINS=$strategies ANSIBLE_STRATEGY=mitogen_linear molecule "${args[@]}"
done
molecule cleanup -s site
