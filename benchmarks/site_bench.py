"""playbooks/site.yml against the stack of public roles it replaces, side by
side in one run, on N fresh hosts each (default N = 5, 10, 20 and 50).

Every host is a systemd container from the same base image, reached over SSH
as a sudo user, forks = N. Host 0 is the proxy (it publishes every other
host's app under its own domain, TLS, 80 -> 443); every other host runs one
app on 8080 (a python3 http.server stand-in) allowed from the proxy only, and
SSH from the controller only. For each N and each stack the hosts are fresh:
the stack is run cold, then again unchanged.

- portcullis: ``playbooks/site.yml`` (audit, sshd, firewall, nginx, metrics,
  port map); the unchanged run must report changed=0.
- anchor: ``../shared/anchors/anchor_site.yml`` (dev-sec ssh_hardening,
  community.general.ufw one item per rule, geerlingguy.nginx with
  hand-written vhosts), given the same ports, sources and upstreams.
- mitogen: ``playbooks/site.yml`` again, under Mitogen's ``mitogen_linear``
  strategy (PyPI ``mitogen``, in requirements-dev.txt), on its own fresh
  hosts.

Both run with the same ``ansible.cfg`` (the one shipped in examples/, with
pipelining). The table gives wall times, the ratio portcullis / anchor, the
load average of the machine before each run, and the module executions per
host on the unchanged run, counted by benchmarks/callback_plugins/module_count.py.

Run with: make benchmark-site   (BENCH_ARGS="--sizes 5,10" for a shorter run)
"""

import argparse
import concurrent.futures
import json
import os
import re
import resource
import subprocess
import sys
import time

from bench_containers import check_inotify, remove_container, start_container

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
ANCHORS = os.path.join(os.path.dirname(REPO), "shared", "anchors")
WORK = os.path.join(REPO, "build", "bench-site")
NETWORK = "portcullis-bench-site"
PREFIX = "172.30.92."
CONTROLLER = PREFIX + "1"
KEY = os.path.join(WORK, "id_ed25519")
STACKS = ("portcullis", "anchor", "mitogen")


def sh(*argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True)


def name_of(number):
    return "site-bench-%02d" % number


def address_of(number):
    return PREFIX + str(10 + number)


def prepare(number):
    """A booted server: deploy user with the key and sudo, sshd on, the app stand-in."""
    name = name_of(number)
    start_container(name, network=NETWORK, address=address_of(number))
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


def domain_of(number):
    return "app%02d.bench.test" % number


def portcullis_vars(number):
    services = [{"name": "ssh", "port": "ssh", "allow_from": [CONTROLLER + "/32"]}]
    if number == 0:
        services += [{"name": "http", "port": "http", "expose": "public"},
                     {"name": "https", "port": "https", "expose": "public"}]
    else:
        services.append({"name": "app", "port": 8080, "domain": domain_of(number), "allow_from": ["proxies"]})
    return {"portcullis_services": services}


def anchor_vars(number, count):
    """The same plan written out by hand, the way the public roles take it."""
    rules = [{"port": "22", "proto": "tcp", "from_ip": CONTROLLER + "/32"}]
    if number == 0:
        rules += [{"port": "80", "proto": "tcp", "from_ip": "any"}, {"port": "443", "proto": "tcp", "from_ip": "any"}]
        vhosts = []
        for app in range(1, count):
            vhosts.append({"listen": "80", "server_name": domain_of(app), "filename": "%s-http.conf" % domain_of(app),
                           "return": "301 https://$host$request_uri"})
            vhosts.append({"listen": "443 ssl", "server_name": domain_of(app), "filename": "%s.conf" % domain_of(app),
                           "extra_parameters": (
                               "ssl_certificate /etc/ssl/anchor/bench.crt;\n"
                               "ssl_certificate_key /etc/ssl/anchor/bench.key;\n"
                               "location / {\n"
                               "    proxy_pass http://%s:8080;\n"
                               "    proxy_set_header Host $host;\n"
                               "    proxy_set_header X-Real-IP $remote_addr;\n"
                               "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
                               "    proxy_set_header X-Forwarded-Proto $scheme;\n"
                               "}" % address_of(app))})
        return {"anchor_ufw_rules": rules, "anchor_nginx_vhosts": vhosts}
    rules.append({"port": "8080", "proto": "tcp", "from_ip": address_of(0) + "/32"})
    return {"anchor_ufw_rules": rules}


def inventory(count, stack):
    hosts = {}
    for number in range(count):
        host = {"ansible_host": address_of(number)}
        host.update(anchor_vars(number, count) if stack == "anchor" else portcullis_vars(number))
        hosts[name_of(number)] = host
    common = {"ansible_user": "deploy", "ansible_ssh_private_key_file": KEY,
              "ansible_ssh_common_args": "-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null",
              "ansible_python_interpreter": "/usr/bin/python3"}
    if stack != "anchor":
        common.update({"portcullis_firewall_admin_sources": [CONTROLLER + "/32"],
                       "portcullis_audit_report_dir": os.path.join(WORK, "port-map")})
    else:
        common.update({"anchor_cert_dir": WORK, "nginx_listen_ipv6": False})
    return {"all": {"vars": common, "hosts": hosts, "children": {"proxies": {"hosts": {name_of(0): {}}}}}}


def mitogen_strategies():
    """The directory of Mitogen's strategy plugins, in the environment that runs Ansible."""
    import ansible_mitogen  # pylint: disable=import-outside-toplevel
    return os.path.join(os.path.dirname(ansible_mitogen.__file__), "plugins", "strategy")


def machine_busy_seconds():
    """CPU seconds all cores spent busy since boot (/proc/stat: every field but idle and iowait)."""
    with open("/proc/stat") as handle:
        fields = [int(value) for value in handle.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def run(stack, path, forks, label):
    playbook = (os.path.join(ANCHORS, "anchor_site.yml") if stack == "anchor"
                else os.path.join(REPO, "playbooks", "site.yml"))
    counts = os.path.join(WORK, "modules-%s-%s.json" % (stack, label))
    # Own SSH control sockets per run: a master kept from the other stack's run must not serve this one.
    control = os.path.join(WORK, "cp-%s-%s" % (stack, label))
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", ANSIBLE_SSH_CONTROL_PATH_DIR=control,
               ANSIBLE_CONFIG=os.path.join(REPO, "examples", "ansible.cfg"),
               # Fresh hosts every time (the SSH arguments say so too; Mitogen's own SSH reads only this setting).
               ANSIBLE_HOST_KEY_CHECKING="False",
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, "callback_plugins"),
               ANSIBLE_CALLBACKS_ENABLED="module_count", PORTCULLIS_MODULE_COUNT=counts,
               ANSIBLE_ROLES_PATH=os.path.join(ANCHORS, "roles"))
    if stack == "mitogen":
        env.update(ANSIBLE_STRATEGY_PLUGINS=mitogen_strategies(), ANSIBLE_STRATEGY="mitogen_linear")
    load = os.getloadavg()[0]
    before_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    before_machine = machine_busy_seconds()
    start = time.monotonic()
    result = subprocess.run(["ansible-playbook", playbook, "-i", path, "-f", str(forks)],
                            capture_output=True, text=True, check=False, env=env)
    elapsed = time.monotonic() - start
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    controller_cpu = ((after_children.ru_utime + after_children.ru_stime)
                      - (before_children.ru_utime + before_children.ru_stime))
    machine_cpu = machine_busy_seconds() - before_machine
    with open(os.path.join(WORK, "log-%s-%s.txt" % (stack, label)), "w") as handle:
        handle.write(result.stdout + result.stderr)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-4000:] + result.stderr[-2000:])
        raise SystemExit("%s failed (%s run, %d hosts)" % (playbook, label, forks))
    changed = sum(int(value) for value in re.findall(r"changed=(\d+)", result.stdout.split("PLAY RECAP")[-1]))
    with open(counts) as handle:
        executions = json.load(handle)
    return {"seconds": elapsed, "changed": changed, "load": load,
            "controller_cpu": controller_cpu, "machine_cpu": machine_cpu,
            "executions": {host: entry["executions"] for host, entry in executions.items()},
            "evaluations": {host: entry.get("evaluations", 0) for host, entry in executions.items()},
            "evaluations_once": {host: entry.get("evaluations_once", 0) for host, entry in executions.items()}}


def measure(count, stack):
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(prepare, range(count)))
    except BaseException:
        for number in range(count):
            remove_container(name_of(number))
        raise
    path = os.path.join(WORK, "inventory-%s-%d.json" % (stack, count))
    with open(path, "w") as handle:
        json.dump(inventory(count, stack), handle)
    try:
        cold = run(stack, path, count, "cold-%d" % count)
        warm = run(stack, path, count, "unchanged-%d" % count)
    finally:
        for number in range(count):
            remove_container(name_of(number))
    if stack != "anchor" and warm["changed"]:
        raise SystemExit("the unchanged site.yml run on %d hosts reported changed=%d" % (count, warm["changed"]))
    return cold, warm


def per_host(executions, proxy):
    """Module executions on the proxy and on one app host."""
    apps = [value for host, value in executions.items() if host != proxy]
    return "%d / %s" % (executions.get(proxy, 0), max(apps) if apps else "-")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default="5,10,20,50", help="host counts, comma separated")
    parser.add_argument("--stacks", default=",".join(STACKS), help="portcullis, anchor, mitogen, comma separated")
    options = parser.parse_args()
    sizes = [int(item) for item in options.sizes.split(",")]
    stacks = [item for item in options.stacks.split(",") if item]
    check_inotify(max(sizes))
    os.makedirs(WORK, exist_ok=True)
    if not os.path.exists(KEY):
        sh("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", KEY)
    if not os.path.exists(os.path.join(WORK, "bench.crt")):
        sh("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=bench.test",
           "-keyout", os.path.join(WORK, "bench.key"), "-out", os.path.join(WORK, "bench.crt"))
    subprocess.run(["docker", "network", "create", "--subnet", PREFIX + "0/24", "--gateway", CONTROLLER, NETWORK],
                   capture_output=True, check=False)
    results = {}
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    for count in sizes:
        for stack in stacks:
            print("%s on %d host(s)..." % (stack, count), file=sys.stderr)
            results[count, stack] = measure(count, stack)
            # Kept as it goes, so a run that stops later still has what it measured.
            with open(os.path.join(WORK, "results.json"), "w") as handle:
                json.dump({"%d %s" % key: value for key, value in results.items()}, handle, indent=1)
    proxy = name_of(0)
    print("## playbooks/site.yml against the anchor stack (%s, %d cores, forks = hosts)\n"
          % (started, os.cpu_count()))
    print("| hosts | stack | cold | unchanged | load before (cold / unchanged) "
          "| module executions per host, unchanged (proxy / app) "
          "| task evaluations per host, unchanged (proxy / app; + run_once ones on the first host) "
          "| CPU seconds, unchanged (controller / whole machine) | changed on the unchanged run |")
    print("|---:|---|---:|---:|---|---|---|---|---:|")
    for count in sizes:
        for stack in stacks:
            cold, warm = results[count, stack]
            print("| %d | %s | %.1f s | %.1f s | %.2f / %.2f | %s | %s | %s | %d |" % (
                count, stack, cold["seconds"], warm["seconds"], cold["load"], warm["load"],
                per_host(warm["executions"], proxy), "%s + %d" % (per_host(warm.get("evaluations", {}), proxy),
                                                                  max(warm.get("evaluations_once", {0: 0}).values())),
                "%.1f / %.1f" % (warm.get("controller_cpu", 0), warm.get("machine_cpu", 0)), warm["changed"]))
    for ours, theirs in (("portcullis", "anchor"), ("mitogen", "anchor"), ("mitogen", "portcullis")):
        if ours not in stacks or theirs not in stacks:
            continue
        print("\n| hosts | cold, %s / %s | unchanged, %s / %s |" % (ours, theirs, ours, theirs))
        print("|---:|---:|---:|")
        for count in sizes:
            mine, other = results[count, ours], results[count, theirs]
            print("| %d | %.2f | %.2f |" % (count, mine[0]["seconds"] / other[0]["seconds"],
                                            mine[1]["seconds"] / other[1]["seconds"]))


if __name__ == "__main__":
    main()
