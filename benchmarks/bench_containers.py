"""Containers for the benchmarks: systemd boxes from the locally built base image."""

import subprocess
import time

IMAGE = "localhost/portcullis-debian:bookworm"


def start_container(name, network=None, address=None):
    """(Re)start container ``name`` (on ``network`` at ``address`` when given)
    and wait until systemd has booted it."""
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    placement = (["--network", network] if network else []) + (["--ip", address] if address else [])
    subprocess.run(["docker", "run", "-d", "--name", name, "--hostname", name] + placement +
                   ["--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
                    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                    "--tmpfs", "/run", "--tmpfs", "/run/lock", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro", IMAGE],
                   capture_output=True, text=True, check=True)
    # Up to two minutes: twenty containers booting at once on two loaded cores take a while.
    for _attempt in range(240):
        state = subprocess.run(["docker", "exec", name, "systemctl", "is-system-running"],
                               capture_output=True, text=True, check=False).stdout.strip()
        if state in ("running", "degraded"):
            return
        time.sleep(0.5)
    raise SystemExit("container %s did not finish booting" % name)


def remove_container(name):
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
