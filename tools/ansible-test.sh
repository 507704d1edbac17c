#!/usr/bin/env bash
# Run ansible-test from a real ansible_collections/portcullis/ports directory
# (ansible-test rejects a symlinked path) outside this git work tree (inside
# it, ansible-test lists files with git and the copy would be ignored).
# usage: tools/ansible-test.sh sanity|units [ansible-test options]
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-ansible-test.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
tree="$scratch/ansible_collections/portcullis/ports"
mkdir -p "$tree"
rsync -a --delete \
  --exclude .git --exclude .venv --exclude build --exclude .cache \
  --exclude .pytest_cache --exclude .hypothesis --exclude '*.tar.gz' \
  "$repo/" "$tree/"

# Sanity tests that make their own virtualenv bootstrap pip with get-pip.py
# (pip 24.2 for ansible-core 2.19), which cannot be downloaded here: seed the
# cache with a stand-in that uses the ensurepip bundled with Python, then
# installs the requested packages from PyPI.
cache="$HOME/.ansible/test/cache"
mkdir -p "$cache"
cat >"$cache/get_pip_24_2.py" <<'PY'
import subprocess
import sys

# get-pip's own switches mean nothing to pip install.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}
subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
packages = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check"] + packages)
PY

# Data the unit tests read that is not kept in git (extracted from Debian
# packages by the Makefile): copied next to the tests that use it.
if [[ -n "${PORTCULLIS_TEST_TABLES:-}" ]]; then
  cp "$PORTCULLIS_TEST_TABLES"/netbase-services* "$tree/tests/unit/plugins/module_utils/ports/"
fi

cd "$tree"
python_version=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
command=$1
shift
case "$command" in
  sanity) ansible-test sanity --python "$python_version" --color no "$@" ;;
  units) ansible-test units --local --python "$python_version" --color no "$@" ;;
  *) echo "usage: $0 sanity|units" >&2; exit 2 ;;
esac
