# portcullis.ports — every target does its own set-up on a fresh Debian
# machine (as root): Debian packages, Docker engine, virtualenv, base images.
#
#   make demo   run playbooks/site.yml against local containers and show the result
#   make test   yamllint, ansible-lint, changelog lint, the CI files teams copy,
#               ansible-test sanity and units, the built collection from any
#               directory, the execution environment's build context, Molecule

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

VENV := $(CURDIR)/.venv
BUILD := $(CURDIR)/build
COLLECTIONS := $(BUILD)/collections
VERSION := $(shell awk '/^version:/ {print $$2}' galaxy.yml)
TARBALL := $(BUILD)/portcullis-ports-$(VERSION).tar.gz
# Debian releases the Molecule scenarios run on (sshd_hardening uses all three).
SUITES ?= bullseye bookworm trixie
# Builds a base image; it ships in the collection, where the plan scenario runs it.
BASE_IMAGE := extensions/molecule/images/build-base-image.sh

# The PATH without the virtualenv: what creates it must not run its own python.
HOST_PATH := $(PATH)
export PATH := $(VENV)/bin:$(PATH)
# Everything that runs Ansible here uses the collection as built and installed
# from the tarball, the way users get it.
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export ANSIBLE_FORCE_COLOR ?= 1
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help test demo host venv images collection lint workflows sanity units quick promtool installed ee molecule \
        changelog requirements service-tables cdn-ranges role-docs benchmark benchmark-firewall benchmark-site \
        benchmark-plan clean

help:
	@echo "make demo    site.yml against local containers, then what it enforced"
	@echo "make test    lint, sanity, unit tests, installed collection, EE build context, Molecule"

test: lint workflows sanity units promtool installed ee molecule plan-examples
	@echo "make test: all checks passed"

host:
	@tools/ensure-host.sh

# The virtualenv is rebuilt when what it is made from changes: the stamp is named after the content of its recipe,
# not compared by time, so a fresh checkout or a git worktree sharing VENV= reuses it instead of clearing it under
# another run.
VENV_STAMP := $(VENV)/.installed-$(shell cat requirements-dev.txt tools/ensure-host.sh | sha256sum | cut -c1-16)

$(VENV_STAMP):
	@tools/ensure-host.sh
	@echo "creating the virtualenv $(VENV)"
	@PATH="$(HOST_PATH)" python3 -m venv --clear $(VENV)
	@$(VENV)/bin/pip install -q -r requirements-dev.txt 2> >(grep -v "is ignored: it is neither a file" >&2)
	@touch $@

venv: $(VENV_STAMP)

images: host
	@for suite in $(SUITES); do $(BASE_IMAGE) $$suite; done
	@$(BASE_IMAGE) bookworm firewalls
	@$(BASE_IMAGE) bookworm edge
	@$(BASE_IMAGE) trixie edge
	@$(BASE_IMAGE) bookworm monitoring

# Built and installed every time: it takes a second and is never stale.
collection: venv
	@mkdir -p $(BUILD)
	@ansible-galaxy collection build --force --output-path $(BUILD) >/dev/null
	@ansible-galaxy collection install --force -p $(COLLECTIONS) $(TARBALL) >/dev/null
	@echo "built $(TARBALL) and installed it into $(COLLECTIONS)"

lint: venv collection
	@echo "== yamllint"
	@yamllint --strict .
	@echo "== ansible-lint (production profile)"
	@ansible-lint --profile production
	@echo "== changelog fragments"
	@antsibull-changelog lint
	@echo "== generated README tables (role variables, registry keys) and role defaults"
	@python tools/role_docs.py --check

# The CI files teams copy (examples/ci/): GitHub's and GitLab's schemas, bundled
# with check-jsonschema (no network), yamllint's default rules (what a team's
# `yamllint --strict .` applies without a config of its own), then needs,
# shellcheck of every script and the pinned versions (tools/check_ci_examples.py).
CI_GITHUB := examples/ci/github-actions.yml
CI_GITLAB := examples/ci/gitlab-ci.yml
workflows: venv host
	@echo "== CI examples: schemas, yamllint defaults, needs, shellcheck, pins"
	@check-jsonschema --builtin-schema vendor.github-workflows $(CI_GITHUB)
	@check-jsonschema --builtin-schema custom.github-workflows-require-timeout $(CI_GITHUB)
	@check-jsonschema --builtin-schema vendor.gitlab-ci $(CI_GITLAB)
	@yamllint --strict -d default $(CI_GITHUB) $(CI_GITLAB)
	@python tools/check_ci_examples.py $(CI_GITHUB) $(CI_GITLAB)

sanity: venv host
	@echo "== ansible-test sanity"
	@tools/ansible-test.sh sanity

# The netbase /etc/services the bundled table was made from (its version is
# in the table's SOURCE), for the unit test that resolves every name in it.
NETBASE_VERSION := $(shell sed -n 's/^SOURCE = .*package netbase \([^,]*\),.*/\1/p' plugins/module_utils/ports/_netbase_services.py)
TEST_TABLES := $(BUILD)/test-tables
$(TEST_TABLES)/netbase-services: plugins/module_utils/ports/_netbase_services.py
	@tools/debian-file.sh netbase=$(NETBASE_VERSION) etc/services $@

units: venv host $(TEST_TABLES)/netbase-services
	@echo "== ansible-test units"
	@PORTCULLIS_TEST_TABLES=$(TEST_TABLES) tools/ansible-test.sh units

# The fast loop for developers, without root or Docker: the unit tests with pytest straight from the tree (the
# netbase table test, which needs a file extracted from a Debian package, is left to `make units`).
quick:
	@test -x $(VENV)/bin/pytest || { python3 -m venv $(VENV) && $(VENV)/bin/pip install -q -r requirements-dev.txt; }
	@tools/quick-units.sh

# The shipped alert rules: promtool (Debian's, in the monitoring image) checks them and runs their unit tests. The
# edge rules are a template of nginx_proxy (thresholds are role variables): rendered first with the role's defaults.
EDGE_RULES := $(BUILD)/prometheus/portcullis-edge-rules.yml
promtool: venv images
	@echo "== promtool check rules, promtool test rules"
	@mkdir -p $(dir $(EDGE_RULES))
	@ANSIBLE_LOCALHOST_WARNING=false ansible localhost -c local -o -m ansible.builtin.template \
	  -a "src=roles/nginx_proxy/templates/portcullis-edge-rules.yml.j2 dest=$(EDGE_RULES) mode=0644" \
	  -e @roles/nginx_proxy/defaults/main.yml >/dev/null
	@docker run --rm -v $(CURDIR):/src:ro -w /src localhost/portcullis-debian:bookworm-monitoring sh -c \
	  'promtool check rules roles/port_metrics/files/portcullis-rules.yml && promtool test rules tests/prometheus/rules_test.yml \
	   && promtool check rules build/prometheus/portcullis-edge-rules.yml && promtool test rules tests/prometheus/edge_rules_test.yml'

installed: collection
	@echo "== the installed collection, from another directory"
	@tools/check-installed.sh $(COLLECTIONS)

# The execution environment for AWX / Automation Controller (execution-environment.yml): ansible-builder
# writes its build context from the tarball just built (no image is built here: no registry to pull the
# base from), then the context is checked the way the image build uses it.
EE_CONTEXT := $(BUILD)/ee-context
ee: collection
	@echo "== ansible-builder create (the execution environment's build context)"
	@rm -rf $(EE_CONTEXT) $(BUILD)/ee
	@mkdir -p $(BUILD)/ee
	@cp $(TARBALL) $(BUILD)/ee/portcullis-ports.tar.gz
	@ansible-builder create -f execution-environment.yml -c $(EE_CONTEXT) --output-filename Containerfile
	@tools/check-ee.sh $(EE_CONTEXT)

# Every scenario but plan, which needs an inventory (PORTCULLIS_INVENTORY): plan-examples runs it.
molecule: venv images collection
	@echo "== molecule"
	@tools/molecule-all.sh plan

# The plan scenario as teams run it, on both examples, and a wrong rule that must fail it.
.PHONY: plan-examples
plan-examples: venv images collection
	@echo "== molecule plan: examples/riwi, examples/nostromo, a registry with one wrong rule"
	@tools/plan-examples.sh

# The site scenario with site.yml under Mitogen's mitogen_linear strategy (examples/ansible.cfg documents it,
# off). Not in make test: Mitogen gave no gain here, so the 7 minutes go to the checks of what is enforced; run it
# before changing the recommendation or the pinned mitogen.
.PHONY: site-mitogen
site-mitogen: venv images collection
	@echo "== molecule site under mitogen_linear"
	@tools/site-mitogen.sh

# The demo's containers are bookworm only.
demo: venv host collection
	@$(BASE_IMAGE) bookworm
	@tools/demo.sh

# The README tables written from meta/argument_specs.yml and the registry model.
role-docs: venv
	@python tools/role_docs.py

changelog: venv
	@antsibull-changelog release

requirements:
	@python3 -m venv --clear $(BUILD)/requirements-venv
	@$(BUILD)/requirements-venv/bin/pip install -q -r requirements-dev.in
	@{ echo "# Development and test environment, pinned. Regenerate: make requirements"; \
	   echo "# (installs requirements-dev.in into a scratch venv and freezes it)."; \
	   $(BUILD)/requirements-venv/bin/pip freeze; } > requirements-dev.txt
	@echo "requirements-dev.txt updated"

# The networks CDNs connect from (nginx real-IP), as they publish them; needs the web.
cdn-ranges: venv
	@python tools/update_cdn_ranges.py

# Refresh the bundled service tables: Debian's /etc/services (netbase) and
# its copy of the IANA registry (libwireshark-data), as this machine's apt has them.
service-tables: host
	@tools/debian-file.sh netbase etc/services $(BUILD)/tables/netbase-services
	@tools/debian-file.sh libwireshark-data usr/share/wireshark/services $(BUILD)/tables/iana-services
	@python3 tools/update_service_tables.py netbase $(BUILD)/tables/netbase-services \
	  --source "$$(cat $(BUILD)/tables/netbase-services.source)"
	@python3 tools/update_service_tables.py iana $(BUILD)/tables/iana-services \
	  --source "$$(cat $(BUILD)/tables/iana-services.source)"

clean:
	rm -rf $(BUILD) .pytest_cache .hypothesis

# Side-by-side measurements (not part of make test): see benchmarks/.
benchmark: venv images collection
	@python benchmarks/ports_bench.py --collections $(COLLECTIONS) | tee $(BUILD)/benchmark.md

benchmark-firewall: venv images collection
	@python benchmarks/firewall_bench.py $(BENCH_ARGS) | tee $(BUILD)/benchmark-firewall.md

benchmark-site: venv images collection
	@python benchmarks/site_bench.py $(BENCH_ARGS) | tee $(BUILD)/benchmark-site.md

# The network plan of a generated inventory against the planners before it (CPU time, in-process; no containers).
benchmark-plan: venv
	@python benchmarks/plan_bench.py $(BENCH_ARGS) | tee $(BUILD)/benchmark-plan.md
