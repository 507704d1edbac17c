"""Containers for the benchmarks: systemd boxes from the locally built base image."""

import subprocess
import time

IMAGE = "localhost/portcullis-debian:bookworm"
# inotify instances one booted systemd container of IMAGE holds (systemd, journald, udev...): 7 counted on
# 2026-11-30 from /proc/PID/fd of each container's processes, rounded up. They count against root's
# fs.inotify.max_user_instances on the Docker host (128 by default), shared by every container.
INOTIFY_PER_CONTAINER = 8
INOTIFY_LIMIT = "/proc/sys/fs/inotify/max_user_instances"


def check_inotify(count):
    """Stop before starting ``count`` containers that the host's inotify limit would not let boot (systemd in
    the 19th or so fails with the default 128, and the run dies minutes later on a boot timeout)."""
    try:
        with open(INOTIFY_LIMIT, encoding="ascii") as handle:
            limit = int(handle.read())
    except (OSError, ValueError):
        return
    needed = count * INOTIFY_PER_CONTAINER
    if limit < needed:
        raise SystemExit("fs.inotify.max_user_instances is %d: %d systemd containers need about %d (%d each); "
                         "raise it first, for example `sysctl -w fs.inotify.max_user_instances=%d`"
                         % (limit, count, needed, INOTIFY_PER_CONTAINER, max(8192, needed)))


def start_container(name, network=None, address=None, image=IMAGE):
    """(Re)start container ``name`` from ``image`` (on ``network`` at ``address``
    when given) and wait until systemd has booted it."""
    subprocess.run(["docker", "rm", "-f", name], capture_output=True, check=False)
    placement = (["--network", network] if network else []) + (["--ip", address] if address else [])
    subprocess.run(["docker", "run", "-d", "--name", name, "--hostname", name] + placement +
                   ["--cap-add", "SYS_ADMIN", "--cap-add", "NET_ADMIN",
                    "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                    "--tmpfs", "/run", "--tmpfs", "/run/lock", "-v", "/sys/fs/cgroup:/sys/fs/cgroup:ro", image],
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
