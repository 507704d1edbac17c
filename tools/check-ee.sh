#!/usr/bin/env bash
# The execution environment's build context (execution-environment.yml, written
# by `ansible-builder create`) checked the way the image build uses it, without
# a container: the galaxy stage's requirements install this collection offline
# from the context, and the builder stage's introspection finds the Python and
# system requirements the collection declares in meta/execution-environment.yml.
# usage: tools/check-ee.sh CONTEXT
set -euo pipefail

context=${1:?usage: $0 CONTEXT}
build="$context/_build"
fail() { echo "execution environment: $*" >&2; exit 1; }

[[ -s "$context/Containerfile" ]] || fail "no Containerfile in $context"
grep -qE '^FROM .+ AS base$' "$context/Containerfile" || fail "the Containerfile has no base stage"
grep -q 'ansible-galaxy collection install .*-r requirements.yml' "$context/Containerfile" \
  || fail "the Containerfile installs no collections"
[[ -s "$build/requirements.yml" ]] || fail "no galaxy requirements in $build"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The galaxy stage: ansible-galaxy in /build (a copy of _build), signatures off as there, and
# no collection installed yet (one in a configured path would make it skip the install).
(cd "$build" && ANSIBLE_GALAXY_DISABLE_GPG_VERIFY=1 ANSIBLE_COLLECTIONS_PATH="$scratch/collections" \
   ansible-galaxy collection install -r requirements.yml --collections-path "$scratch/collections") \
  >"$scratch/galaxy.log" 2>&1 || { cat "$scratch/galaxy.log" >&2; fail "the galaxy requirements do not install"; }
installed="$scratch/collections/ansible_collections/portcullis/ports"
[[ -f "$installed/MANIFEST.json" ]] || fail "the galaxy requirements do not install portcullis.ports"

# The builder stage: the introspection script of the context over what the galaxy stage installed.
python "$build/scripts/introspect.py" introspect "$scratch/collections" \
  --write-pip="$scratch/requirements.txt" --write-bindep="$scratch/bindep.txt" >"$scratch/introspect.log" 2>&1 \
  || { cat "$scratch/introspect.log" >&2; fail "introspection of the installed collection fails"; }

# Every entry the collection declares (the files its meta/execution-environment.yml names)
# reaches the files the image installs from.
declared() { sed -e 's/[[:space:]]*#.*//' -e '/^[[:space:]]*$/d' "$installed/$1"; }
for pair in "python requirements.txt" "system bindep.txt"; do
  read -r kind generated <<<"$pair"
  declaration=$(python -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["dependencies"][sys.argv[2]])' \
    "$installed/meta/execution-environment.yml" "$kind") || fail "meta/execution-environment.yml declares no $kind requirements"
  [[ -f "$installed/$declaration" ]] || fail "$declaration, named in meta/execution-environment.yml, is not in the collection"
  entries=$(declared "$declaration")
  count=0
  while IFS= read -r entry; do
    [[ -n "$entry" ]] || continue
    grep -qxF "$entry  # from collection portcullis.ports" "$scratch/$generated" 2>/dev/null \
      || fail "$kind requirement '$entry' ($declaration) is not in the image's $generated"
    count=$((count + 1))
  done <<<"$entries"
  echo "$kind requirements declared by portcullis.ports ($declaration) and found by introspection: $count"
done
echo "the build context in $context installs portcullis.ports $(python -c 'import json,sys; print(json.load(open(sys.argv[1]))["collection_info"]["version"])' "$installed/MANIFEST.json")"
