# -*- coding: utf-8 -*-
"""On the monitored host: the textfile directory and portcullis.prom as
node-exporter (user prometheus) reads them - readable whatever the umask of
the run that wrote them, one series per label set - the timer's code, run as
root, racing the prometheus user who owns /var/lib/prometheus, and the
exporter the role installs listening where the registry declares it."""

import time

import pytest

testinfra_hosts = ["portcullis-metrics-host"]

DIRECTORY = "/var/lib/prometheus/textfile"
VICTIM = "/etc/portcullis-victim"
ATTACKER = "/tmp/portcullis-swap-attack.py"
COUNT = "/tmp/portcullis-swap-attack.count"
# The ExecStart of portcullis-port-metrics.service (the role's defaults), run directly: systemd refuses a unit
# started more than 5 times in 10 seconds, and the race below runs it 30 times.
REFRESH = ("env PYTHONPATH=/usr/local/lib/portcullis PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 "
           "/usr/local/sbin/portcullis-port-metrics /etc/portcullis/port-metrics.json")

# Run as prometheus: take the textfile directory over (its parent is prometheus's), then, woken by inotify, replace
# each temporary file root creates in it by a symlink to VICTIM, before root's chmod. Writes how many it replaced.
SWAP_ATTACK = r'''
import ctypes, os, select, struct, sys, time

directory, target, count_path = sys.argv[1], sys.argv[2], sys.argv[3]
if os.stat(directory).st_uid != os.getuid():
    os.rename(directory, directory + ".root")
    os.mkdir(directory, 0o755)
libc = ctypes.CDLL(None, use_errno=True)
watch = libc.inotify_init()
libc.inotify_add_watch(watch, directory.encode(), 0x100)  # IN_CREATE
swapped = set()
with open(count_path, "w") as out:
    out.write("0\n")
while True:
    if not select.select([watch], [], [], 1)[0]:
        continue
    data = os.read(watch, 65536)
    offset = 0
    while offset < len(data):
        length = struct.unpack_from("iIII", data, offset)[3]
        name = data[offset + 16:offset + 16 + length].rstrip(b"\0").decode()
        offset += 16 + length
        if name.startswith(".portcullis") and name not in swapped:
            path = os.path.join(directory, name)
            try:
                os.unlink(path)
                os.symlink(target, path)
            except OSError:
                continue
            swapped.add(name)
            with open(count_path, "w") as out:
                out.write("%d\n" % len(swapped))
'''


def owner_and_mode(host, path):
    """``(user, octal mode)`` of ``path`` (stat itself: testinfra's file module is imported lazily)."""
    out = host.run("stat -c '%%U %%a' %s" % path)
    assert out.rc == 0, out.stderr
    user, mode = out.stdout.split()
    return user, int(mode, 8)


def scrape(host):
    out = host.run("curl -sf http://172.30.83.10:9100/metrics")
    assert out.rc == 0, out.stderr
    return out.stdout


def test_the_textfile_directory_is_readable_by_node_exporter_though_the_run_had_umask_027(host):
    assert host.run("su root -c umask").stdout.strip() == "0027"
    assert owner_and_mode(host, DIRECTORY) == ("root", 0o755)
    assert owner_and_mode(host, DIRECTORY + "/portcullis.prom") == ("root", 0o644)
    assert host.run("runuser -u prometheus -- cat %s/portcullis.prom" % DIRECTORY).rc == 0
    metrics = scrape(host)
    assert "node_textfile_scrape_error 0" in metrics.splitlines()
    assert "portcullis_audit_timestamp_seconds " in metrics


def test_a_textfile_directory_node_exporter_cannot_read_fails_the_timer_naming_it(host):
    assert host.run("chmod 0750 %s" % DIRECTORY).rc == 0
    try:
        out = host.run(REFRESH)
        assert out.rc != 0 and "%s is not readable by prometheus" % DIRECTORY in out.stderr, out.stderr
    finally:
        assert host.run("chmod 0755 %s" % DIRECTORY).rc == 0
    assert host.run(REFRESH).rc == 0


def test_workers_sharing_a_port_on_both_families_are_one_series_node_exporter_collects(host):
    # Three sockets: two IPv4 ones (SO_REUSEPORT, two processes) and an IPv6 one, none of them gunicorn's.
    assert len(host.run("ss -Htln 'sport = :8000'").stdout.splitlines()) == 3
    assert host.run(REFRESH).rc == 0
    series = [line for line in scrape(host).splitlines()
              if line.startswith("portcullis_port_held_by_other_process_info{") and 'port="8000"' in line]
    # node-exporter serves one of the repeated lines, and logs the rest at every scrape.
    log = host.run("journalctl -u prometheus-node-exporter.service --no-pager").stdout
    assert "was collected before" not in log, log
    assert series == ['portcullis_port_held_by_other_process_info{port="8000",process="reuseport-worke",'
                      'protocol="tcp",service="api"} 1'], series


@pytest.fixture
def attacked(host):
    """The prometheus user racing the timer (a transient unit), and a root-owned file it wants to be 0644."""
    try:
        assert host.run("install -m 0600 /dev/null %s" % VICTIM).rc == 0
        assert host.run("cat > %s <<'EOF'\n%s\nEOF" % (ATTACKER, SWAP_ATTACK)).rc == 0
        assert host.run("systemd-run --unit portcullis-swap-attack --uid prometheus --collect /usr/bin/python3 "
                        "%s %s %s %s" % (ATTACKER, DIRECTORY, VICTIM, COUNT)).rc == 0
        deadline = time.time() + 20
        while time.time() < deadline and host.run("test -e %s" % COUNT).rc != 0:
            time.sleep(0.2)
        assert owner_and_mode(host, DIRECTORY)[0] == "prometheus"
        yield
    finally:
        host.run("systemctl stop portcullis-swap-attack.service")
        # The root-owned directory back in place of the attacker's, when it was taken over.
        host.run("if [ -d %s.root ]; then rm -rf %s && mv %s.root %s; fi" % ((DIRECTORY,) * 4))
        host.run("rm -f %s %s %s" % (VICTIM, ATTACKER, COUNT))
    assert host.run(REFRESH).rc == 0


def test_the_prometheus_user_cannot_have_the_timer_chmod_a_root_file(host, attacked):
    # The timer's command, 30 times (its failures, such as a temporary file found replaced, do not stop the loop).
    out = host.run("for run in $(seq 30); do %s 2>/dev/null; "
                   "[ \"$(stat -c %%a %s)\" = 600 ] || { echo \"0644 after run $run\"; break; }; done"
                   % (REFRESH, VICTIM))
    assert out.stdout.strip() == "", out.stdout
    assert owner_and_mode(host, VICTIM) == ("root", 0o600)
    # The race was run: the attacker replaced temporary files (none of them made root chmod the victim).
    assert int(host.run("cat %s" % COUNT).stdout.strip()) > 0


def test_the_exporter_the_role_installs_listens_where_the_registry_declares_it_and_is_no_drift(host):
    listening = sorted(line.split()[3] for line in host.run("ss -Htln 'sport = :9100'").stdout.splitlines())
    assert listening == ["172.30.83.10:9100"], listening
    metrics = scrape(host).splitlines()
    assert "portcullis_undeclared_listeners 0" in metrics
    assert not [line for line in metrics if line.startswith(("portcullis_exposure_mismatch_info{",
                                                             "portcullis_undeclared_listener_info{"))], metrics
