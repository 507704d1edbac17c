#!/usr/bin/env bash
# The fast loop: the unit tests straight from this tree with pytest (no root,
# no Docker, no copy), two workers. The test of the bundled netbase table
# needs Debian's /etc/services, which `make units` extracts from the netbase
# package; it is left out here, and `make units` (in `make test`) runs it.
# usage: tools/quick-units.sh [pytest arguments]
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
scratch=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-quick.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/ansible_collections/portcullis"
ln -s "$repo" "$scratch/ansible_collections/portcullis/ports"
cd "$scratch/ansible_collections/portcullis/ports"
PYTHONPATH="$scratch${PYTHONPATH:+:$PYTHONPATH}" exec python -m pytest -q -p no:cacheprovider --import-mode=importlib \
  -n 2 -k "not netbase" tests/unit "$@"
