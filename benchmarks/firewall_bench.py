"""Firewall benchmark, side by side in one run: N rules applied to a fresh
container (cold) and applied again unchanged (re-run), with

- portcullis.ports.firewall: one task holding the whole rule set;
- the same with half of the rules on the forwarded path (direction forward,
  as the registry makes them for ports Docker publishes), to see what
  governing published ports costs;
- ansible.builtin.iptables: one task per rule, in a loop;
- community.general.ufw: one task per rule, in a loop (ufw installed and
  enabled first, outside the timing).

Each run is a whole ansible-playbook over the docker connection; a playbook
with one ping task is timed the same way and subtracted as the fixed cost.

Run with: make benchmark-firewall   (about 35 minutes with the default sizes)
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from bench_containers import remove_container, start_container

TOOLS = ("portcullis", "portcullis-forward", "iptables", "ufw")


def sh(*argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True)


def rules(count, forward=False):
    made = [{"port": 10000 + number, "source": "10.%d.%d.0/24" % (number // 250, number % 250)} for number in range(count)]
    if forward:
        for rule in made[1::2]:
            rule["direction"] = "forward"
    return made


PLAYS = {
    "ping": """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.ping:
""",
    "portcullis": """
- hosts: all
  gather_facts: false
  tasks:
    - portcullis.ports.firewall:
        rules: "{{ bench_rules }}"
""",
    "portcullis-forward": """
- hosts: all
  gather_facts: false
  tasks:
    - portcullis.ports.firewall:
        rules: "{{ bench_rules }}"
""",
    "iptables": """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.iptables:
        chain: INPUT
        protocol: tcp
        source: "{{ item.source }}"
        destination_port: "{{ item.port }}"
        jump: ACCEPT
      loop: "{{ bench_rules }}"
""",
    "ufw": """
- hosts: all
  gather_facts: false
  tasks:
    - community.general.ufw:
        rule: allow
        proto: tcp
        from_ip: "{{ item.source }}"
        to_port: "{{ item.port }}"
      loop: "{{ bench_rules }}"
""",
}


def play(scratch, container, kind, count):
    playbook = os.path.join(scratch, kind + ".yml")
    with open(playbook, "w") as handle:
        handle.write(PLAYS[kind])
    variables = os.path.join(scratch, "rules.json")
    with open(variables, "w") as handle:
        json.dump({"bench_rules": rules(count, forward=kind == "portcullis-forward")}, handle)
    started = time.perf_counter()
    done = subprocess.run(["ansible-playbook", "-i", container + ",", "-c", "community.docker.docker",
                           "-e", "ansible_python_interpreter=/usr/bin/python3", "-e", "@" + variables, playbook],
                          capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit("%s with %d rules failed:\n%s" % (kind, count, done.stdout[-3000:]))
    changed = int(done.stdout.rsplit("changed=", 1)[1].split()[0])
    return elapsed, changed


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000")
    parser.add_argument("--tools", default=",".join(TOOLS), help="a subset of %s" % ", ".join(TOOLS))
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    tools = [tool for tool in TOOLS if tool in args.tools.split(",")]
    container = "portcullis-fw-bench"
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        try:
            for count in sizes:
                for tool in tools:
                    start_container(container)
                    if tool == "ufw":
                        sh("docker", "exec", container, "sh", "-c",
                           "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ufw >/dev/null"
                           " && ufw --force enable")
                    baseline = statistics.median(play(scratch, container, "ping", 0)[0] for _round in range(2))
                    cold, cold_changed = play(scratch, container, tool, count)
                    rerun, rerun_changed = play(scratch, container, tool, count)
                    results[(tool, count)] = (baseline, cold, rerun, cold_changed, rerun_changed)
                    print("%-10s %5d rules: cold %.1f s, re-run %.1f s (fixed cost %.1f s; changed %d then %d)"
                          % (tool, count, cold, rerun, baseline, cold_changed, rerun_changed), file=sys.stderr)
        finally:
            remove_container(container)

    print("## Firewall: whole rule set against one task per rule (seconds, fixed cost of a one-task play subtracted)")
    print()
    print("| rules | tool | cold apply | per rule | re-run unchanged | per rule | re-run reports changed |")
    print("|---|---|---|---|---|---|---|")
    for count in sizes:
        for tool in tools:
            baseline, cold, rerun, _cold_changed, rerun_changed = results[(tool, count)]
            print("| %d | %s | %.2f | %.4f | %.2f | %.4f | %s |" % (
                count, tool, cold - baseline, (cold - baseline) / count, rerun - baseline, (rerun - baseline) / count,
                "yes" if rerun_changed else "no"))
    print()
    others = [tool for tool in tools if tool != "portcullis"]
    if "portcullis" not in tools or not others:
        return
    print("| rules | %s |" % " | ".join("%s / portcullis, cold | re-run" % tool for tool in others))
    print("|---|%s" % "---|---|" * len(others))
    for count in sizes:
        ours = results[("portcullis", count)]
        row = [str(count)]
        for tool in others:
            theirs = results[(tool, count)]
            for position in (1, 2):
                ratio = (theirs[position] - theirs[0]) / max(ours[position] - ours[0], 0.001)
                row.append("%.2f" % ratio if tool == "portcullis-forward" else "%.0f" % ratio)
        print("| %s |" % " | ".join(row))


if __name__ == "__main__":
    main()
