#!/usr/bin/env bash
# The collection as a user gets it: installed from the built tarball, used by
# full name from a directory that is not the source tree. Every plugin must
# have documentation ansible-doc can show, and the filters must answer.
# usage: tools/check-installed.sh COLLECTIONS_PATH
set -euo pipefail

export ANSIBLE_COLLECTIONS_PATH=${1:?usage: $0 COLLECTIONS_PATH}
installed="$ANSIBLE_COLLECTIONS_PATH/ansible_collections/portcullis/ports"
[[ -f "$installed/MANIFEST.json" ]] || { echo "no installed collection at $installed" >&2; exit 1; }

elsewhere=$(mktemp -d)
trap 'rm -rf "$elsewhere"' EXIT
cd "$elsewhere"

plugins=0
# Filters are documented by sidecar files named after them; modules in their own files.
for doc in "$installed"/plugins/filter/*.yml; do
  name=$(basename "$doc" .yml)
  ansible-doc -t filter "portcullis.ports.$name" | grep -q "portcullis.ports.$name" \
    || { echo "ansible-doc shows nothing for filter portcullis.ports.$name" >&2; exit 1; }
  plugins=$((plugins + 1))
done
for module in "$installed"/plugins/modules/*.py; do
  [[ -e "$module" ]] || continue
  name=$(basename "$module" .py)
  ansible-doc -t module "portcullis.ports.$name" | grep -q "portcullis.ports.$name" \
    || { echo "ansible-doc shows nothing for module portcullis.ports.$name" >&2; exit 1; }
  plugins=$((plugins + 1))
done
for role in "$installed"/roles/*/; do
  [[ -d "$role" ]] || continue
  name=$(basename "$role")
  ansible-doc -t role "portcullis.ports.$name" | grep -q "portcullis.ports.$name" \
    || { echo "ansible-doc shows nothing for role portcullis.ports.$name" >&2; exit 1; }
  plugins=$((plugins + 1))
done
echo "ansible-doc documents all $plugins plugins and roles"

cat >contract.yml <<'YAML'
- name: The filter contract, by full name, from the installed collection
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Filters answer as documented
      ansible.builtin.assert:
        quiet: true
        that:
          - "'ssh' | portcullis.ports.service_port == 22"
          - "'PostgreSQL' | portcullis.ports.service_port == 5432"
          - "8080 | portcullis.ports.service_port == 8080"
          - "'8080' | portcullis.ports.service_port == 8080"
          - "'monitoring' | portcullis.ports.port_range == '9000-9999'"
          - "'monitoring' | portcullis.ports.port_range(policy={'monitoring': '19000-19999'}) == '19000-19999'"
          - "['ssh', 'http', 'monitoring', 8080, '6000-6010'] | portcullis.ports.port_ranges == ['22', '80', '6000-6010', '8080', '9000-9999']"
          - "[80, 81, 82] | portcullis.ports.port_ranges == ['80-82']"
          - "['ssh', 80, 81] | portcullis.ports.port_syntax('nft') == '{ 22, 80-81 }'"

    - name: A bad value fails with its name in the message
      block:
        - name: Resolve a misspelt service
          ansible.builtin.debug:
            msg: "{{ 'postgressql' | portcullis.ports.service_port }}"
        - name: Not reached
          ansible.builtin.fail:
            msg: a misspelt service name was accepted
      rescue:
        - name: The message names the value and the close match
          ansible.builtin.assert:
            quiet: true
            that:
              - "'postgressql' in ansible_failed_result.msg"
              - "'did you mean postgresql' in ansible_failed_result.msg"
YAML
ansible-playbook -i localhost, -c local contract.yml >playbook.log 2>&1 || { cat playbook.log >&2; exit 1; }
grep -q "failed=0" playbook.log || { cat playbook.log >&2; exit 1; }
echo "filters work by full name from $elsewhere"

# The firewall role used on its own, in check mode, on this machine: a plan that cannot be made, or the removed
# port policy variable, stops it at its first task (the package step), naming the value, before anything is
# installed or asked of the host.
cat >inventory.yml <<'YAML'
all:
  hosts:
    localhost:
      ansible_connection: local
      ansible_python_interpreter: "{{ ansible_playbook_python }}"
      portcullis_address: 10.0.0.1
      portcullis_services:
        - {name: api, port: 4100, allow_from: [monitorng]}
    monitoring-1:
      portcullis_address: 10.0.0.2
  children:
    monitoring:
      hosts:
        monitoring-1:
YAML
cat >firewall-alone.yml <<'YAML'
- name: The firewall role alone stops before its package step on a wrong plan
  hosts: localhost
  gather_facts: false
  tasks:
    - name: A plan that cannot be made (an allow_from nobody has)
      block:
        - name: Run the role
          ansible.builtin.include_role:
            name: portcullis.ports.firewall
        - name: Not reached
          ansible.builtin.fail:
            msg: the role went on with a plan that cannot be made
      rescue:
        - name: It stopped at the package step, naming the value
          ansible.builtin.assert:
            quiet: true
            that:
              - "'monitorng' in ansible_failed_result.msg"
              - "ansible_failed_task.name is search('Install the wanted packages')"
    - name: The removed port policy variable
      block:
        - name: Run the role
          ansible.builtin.include_role:
            name: portcullis.ports.firewall
          vars:
            portcullis_services: [{name: api, port: 4100, allow_from: [monitoring]}]
            portcullis_firewall_port_policy: {monitoring: 9100-9199}
        - name: Not reached
          ansible.builtin.fail:
            msg: portcullis_firewall_port_policy was ignored without a word
      rescue:
        - name: It names the variable and the one that replaces it
          ansible.builtin.assert:
            quiet: true
            that:
              - "'portcullis_firewall_port_policy was removed' in ansible_failed_result.msg"
              - "'portcullis_port_policy' in ansible_failed_result.msg"
              - "ansible_failed_task.name is search('Install the wanted packages')"
YAML
ansible-playbook -i inventory.yml --check firewall-alone.yml >firewall.log 2>&1 || { cat firewall.log >&2; exit 1; }
grep -q "failed=0" firewall.log || { cat firewall.log >&2; exit 1; }
echo "the firewall role alone stops on a wrong plan before its package step"
