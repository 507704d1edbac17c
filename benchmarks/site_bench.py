"""playbooks/site.yml at scale, side by side in one run: 1 host and N hosts
(default 20), each a systemd container reached over SSH like a server.

Host 0 is the proxy (nginx publishes every app's domain); every other host
runs one app on 8080 (a python3 http.server stand-in) allowed from the proxy,
and SSH from the controller. Each size is run cold (fresh containers), then
again unchanged (which must report changed=0). The table gives the wall time
of the whole ansible-playbook run and that time divided by the host count.

Run with: make benchmark-site   (about 10 minutes with the default sizes)
"""

import argparse
import concurrent.futures
import json
import os
import re
import subprocess
import sys
import time

from bench_containers import remove_container, start_container

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(REPO, "build", "bench-site")
NETWORK = "portcullis-bench-site"
PREFIX = "172.30.92."
KEY = os.path.join(WORK, "id_ed25519")


def sh(*argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True)


def name_of(number):
    return "site-bench-%02d" % number


def prepare(number):
    """A booted server: deploy user with the key and sudo, sshd on, the app stand-in."""
    name = name_of(number)
    start_container(name, network=NETWORK, address=PREFIX + str(10 + number))
    sh("docker", "cp", KEY + ".pub", name + ":/tmp/deploy.pub")
    script = """
        useradd -m -s /bin/bash -G sudo deploy
        echo 'deploy ALL=(ALL) NOPASSWD: ALL' >/etc/sudoers.d/deploy && chmod 0440 /etc/sudoers.d/deploy
        install -d -m 0700 -o deploy -g deploy /home/deploy/.ssh
        install -m 0600 -o deploy -g deploy /tmp/deploy.pub /home/deploy/.ssh/authorized_keys
        systemctl enable --now ssh >/dev/null 2>&1
    """
    if number:
        script += "systemd-run --unit=app --working-directory=/srv python3 -m http.server 8080 >/dev/null\n"
    sh("docker", "exec", name, "bash", "-c", script)


def inventory(count):
    hosts = {}
    for number in range(count):
        services = [{"name": "ssh", "port": "ssh", "allow_from": [PREFIX + "1/32"]}]
        if number == 0:
            services += [{"name": "http", "port": "http", "expose": "public"},
                         {"name": "https", "port": "https", "expose": "public"}]
        else:
            services.append({"name": "app", "port": 8080, "domain": "app%02d.bench.test" % number,
                             "allow_from": ["proxies"]})
        hosts[name_of(number)] = {"ansible_host": PREFIX + str(10 + number), "portcullis_services": services}
    return {"all": {
        "vars": {"ansible_user": "deploy", "ansible_ssh_private_key_file": KEY,
                 "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
                 "ansible_python_interpreter": "/usr/bin/python3",
                 "portcullis_firewall_admin_sources": [PREFIX + "1/32"],
                 "portcullis_audit_report_dir": os.path.join(WORK, "port-map")},
        "hosts": hosts,
        "children": {"proxies": {"hosts": {name_of(0): {}}}},
    }}


def run_site(path, forks):
    start = time.monotonic()
    result = subprocess.run(["ansible-playbook", os.path.join(REPO, "playbooks", "site.yml"), "-i", path,
                             "-f", str(forks)], capture_output=True, text=True, check=False,
                            env=dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1"))
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-2000:])
        raise SystemExit("site.yml failed")
    changed = sum(int(value) for value in re.findall(r"changed=(\d+)", result.stdout.split("PLAY RECAP")[-1]))
    return elapsed, changed


def measure(count):
    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(prepare, range(count)))
    path = os.path.join(WORK, "inventory-%d.json" % count)
    with open(path, "w") as handle:
        json.dump(inventory(count), handle)
    cold, cold_changed = run_site(path, count)
    warm, warm_changed = run_site(path, count)
    if warm_changed:
        raise SystemExit("the second run on %d hosts reported changed=%d" % (count, warm_changed))
    for number in range(count):
        remove_container(name_of(number))
    return cold, warm


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default="1,20", help="host counts, comma separated")
    sizes = [int(item) for item in parser.parse_args().sizes.split(",")]
    os.makedirs(WORK, exist_ok=True)
    if not os.path.exists(KEY):
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", KEY)
    subprocess.run(["docker", "network", "create", "--subnet", PREFIX + "0/24", "--gateway", PREFIX + "1", NETWORK],
                   capture_output=True, check=False)
    results = {}
    for count in sizes:
        print("site.yml on %d host(s)..." % count, file=sys.stderr)
        results[count] = measure(count)
    print("## playbooks/site.yml over SSH, forks = hosts (%d cores)\n" % os.cpu_count())
    print("| hosts | first run | per host | second run (changed=0) | per host |")
    print("|---:|---:|---:|---:|---:|")
    for count in sizes:
        cold, warm = results[count]
        print("| %d | %.1f s | %.1f s | %.1f s | %.1f s |" % (count, cold, cold / count, warm, warm / count))
    if len(sizes) > 1:
        small, large = sizes[0], sizes[-1]
        print("\n%d hosts took %.1fx the wall time of %d (first run), %.1fx (second run)." % (
            large, results[large][0] / results[small][0], small, results[large][1] / results[small][1]))


if __name__ == "__main__":
    main()
