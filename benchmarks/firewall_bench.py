"""Firewall benchmark, side by side in one run: N rules applied to a fresh
container (cold) and applied again unchanged (re-run), with

- portcullis: portcullis.ports.firewall, one task holding the whole rule set
  (backend auto: nftables, as no manager is active);
- portcullis-forward: the same with half of the rules on the forwarded path
  (direction forward, as the registry makes them for ports Docker publishes),
  to see what governing published ports costs;
- portcullis-ufw: portcullis.ports.firewall with backend ufw (ufw enabled
  first, outside the timing);
- portcullis-firewalld: portcullis.ports.firewall with backend firewalld
  (firewalld started first, outside the timing);
- iptables: ansible.builtin.iptables, one task per rule, in a loop;
- ufw: community.general.ufw, one task per rule, in a loop (ufw enabled
  first, outside the timing);
- firewalld: ansible.posix.firewalld, one task per rule, in a loop (permanent
  and immediate, a rich rule for the rule's source; firewalld started first,
  outside the timing).

Every container is a systemd box of the firewalls image (Debian's ufw and
firewalld installed, neither active at boot), fresh for each tool and size.
Each run is a whole ansible-playbook over the docker connection; a playbook
with one ping task is timed the same way and subtracted as the fixed cost.
The load average is read before each run. On the unchanged run every module
the action plugins run is counted per host (callback_plugins/module_runs.py,
the firewall action plugin's confirmation included): our backends must stay
at one module execution per host, and the output says whether they did.

With --jobs N, N cells (a tool at a size) run at once, each on its own
container; they then share the cores, so the load before each run is in the
table and the ratios are of runs that overlapped in time.

Run with: make benchmark-firewall   (well over an hour with the default sizes;
BENCH_ARGS="--tools portcullis-ufw ufw --sizes 10 100" for a part of it)
"""

import argparse
import collections
import concurrent.futures
import datetime
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from bench_containers import remove_container, start_container

HERE = os.path.dirname(os.path.abspath(__file__))
IMAGE = "localhost/portcullis-debian:bookworm-firewalls"
CONTAINER = "portcullis-fwbench-target"
OURS = ("portcullis", "portcullis-forward", "portcullis-ufw", "portcullis-firewalld")
LOOPS = ("iptables", "ufw", "firewalld")
TOOLS = OURS + LOOPS
# What each tool is compared with in the ratio table: our default backend, and our backend for the same manager.
AGAINST = {"portcullis-forward": ("portcullis",), "portcullis-ufw": ("portcullis",),
           "portcullis-firewalld": ("portcullis",), "iptables": ("portcullis",),
           "ufw": ("portcullis", "portcullis-ufw"), "firewalld": ("portcullis", "portcullis-firewalld")}
# Outside the timing: the manager a tool works through, active before the first run.
SETUP = {
    "portcullis-ufw": "ufw --force enable >/dev/null",
    "ufw": "ufw --force enable >/dev/null",
    "portcullis-firewalld": "systemctl start firewalld && firewall-cmd --state >/dev/null",
    "firewalld": "systemctl start firewalld && firewall-cmd --state >/dev/null",
}


def sh(*argv):
    return subprocess.run(argv, check=True, capture_output=True, text=True)


def rules(count, forward=False):
    made = [{"port": 10000 + number, "source": "10.%d.%d.0/24" % (number // 250, number % 250)} for number in range(count)]
    if forward:
        for rule in made[1::2]:
            rule["direction"] = "forward"
    return made


def ours(backend=None):
    return """
- hosts: all
  gather_facts: false
  tasks:
    - portcullis.ports.firewall:
        rules: "{{ bench_rules }}"
""" + ("        backend: %s\n" % backend if backend else "")


PLAYS = {
    "ping": """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.builtin.ping:
""",
    "portcullis": ours(),
    "portcullis-forward": ours(),
    "portcullis-ufw": ours("ufw"),
    "portcullis-firewalld": ours("firewalld"),
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
    "firewalld": """
- hosts: all
  gather_facts: false
  tasks:
    - ansible.posix.firewalld:
        rich_rule: 'rule family="ipv4" source address="{{ item.source }}" port port="{{ item.port }}" protocol="tcp" accept'
        permanent: true
        immediate: true
        state: enabled
      loop: "{{ bench_rules }}"
""",
}


def load():
    with open("/proc/loadavg", encoding="ascii") as handle:
        return handle.read().strip()


class OutOfTime(Exception):
    """The --until time came during a run: it is stopped and not measured. ``seconds`` is how long it had run,
    ``modules`` how many module runs it had started on the host (a loop starts one per rule), when it ran at all."""

    def __init__(self, seconds=None, modules=None):
        super().__init__()
        self.seconds, self.modules = seconds, modules


def module_runs(path, container):
    per_host = collections.Counter()
    if os.path.exists(path):
        with open(path, encoding="utf-8") as handle:
            per_host.update(line.split("\t", 1)[0] for line in handle if line.strip())
    return per_host.get(container, 0)


def play(scratch, kind, count, deadline=None, container=CONTAINER):
    """Seconds of one ansible-playbook run, the changed count of its recap, the
    module runs per host and the one-minute load average before it."""
    playbook = os.path.join(scratch, kind + ".yml")
    with open(playbook, "w") as handle:
        handle.write(PLAYS[kind])
    variables = os.path.join(scratch, "rules.json")
    with open(variables, "w") as handle:
        json.dump({"bench_rules": rules(count, forward=kind == "portcullis-forward")}, handle)
    runs = os.path.join(scratch, "module-runs.txt")
    if os.path.exists(runs):
        os.remove(runs)
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
               ANSIBLE_CALLBACK_PLUGINS=os.path.join(HERE, "callback_plugins"),
               ANSIBLE_CALLBACKS_ENABLED="module_runs", PORTCULLIS_MODULE_RUNS=runs)
    before = float(load().split()[0])
    timeout = None
    if deadline is not None:
        timeout = (deadline - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
        if timeout <= 0:
            raise OutOfTime()
    started = time.perf_counter()
    # In a session of its own, so that a run stopped at the deadline goes with every worker it forked.
    process = subprocess.Popen(["ansible-playbook", "-i", container + ",", "-c", "community.docker.docker",
                                "-e", "ansible_python_interpreter=/usr/bin/python3", "-e", "@" + variables, playbook],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                               start_new_session=True)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as expired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise OutOfTime(time.perf_counter() - started, module_runs(runs, container)) from expired
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError("%s with %d rules failed:\n%s%s" % (kind, count, done.stdout[-3000:], done.stderr[-1000:]))
    changed = int(done.stdout.rsplit("changed=", 1)[1].split()[0])
    return {"seconds": elapsed, "changed": changed, "modules": module_runs(runs, container), "load": before}


def measure(scratch, tool, count, deadline, container=CONTAINER):
    """The fixed cost, the cold run and the re-run of ``tool`` with ``count``
    rules on a fresh container; a run stopped by the deadline stays None."""
    cell = {"baseline": None, "cold": None, "rerun": None, "stopped": None}
    start_container(container, image=IMAGE)
    try:
        if tool in SETUP:
            sh("docker", "exec", container, "sh", "-c", SETUP[tool])
        cell["baseline"] = statistics.median(play(scratch, "ping", 0, deadline, container)["seconds"] for _round in range(2))
        cell["cold"] = play(scratch, tool, count, deadline, container)
        cell["rerun"] = play(scratch, tool, count, deadline, container)
    except OutOfTime as stopped:
        if stopped.seconds is not None and cell["baseline"] is not None:
            cell["stopped"] = {"run": "re-run" if cell["cold"] else "cold", "seconds": stopped.seconds,
                               "modules": stopped.modules}
    finally:
        remove_container(container)
    return cell


def listed(values):
    """``--tools a,b c`` and ``--sizes 10,100 1000``: commas or spaces."""
    return [part for value in values for part in value.split(",") if part]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["10", "100", "1000"], help="rule counts (default 10 100 1000)")
    parser.add_argument("--tools", nargs="+", default=list(TOOLS), help="a subset of %s" % ", ".join(TOOLS))
    parser.add_argument("--until", metavar="HH:MM",
                        help="UTC: a cell (tool and size) not started by then is left out and listed as not measured")
    parser.add_argument("--jobs", type=int, default=1,
                        help="cells (a tool at a size) run at once, each on its own container (default 1)")
    args = parser.parse_args()
    if args.jobs < 1:
        parser.error("--jobs must be 1 or more, not %d" % args.jobs)
    sizes = [int(size) for size in listed(args.sizes)]
    unknown = sorted(set(listed(args.tools)) - set(TOOLS))
    if unknown:
        parser.error("unknown tools %s (known: %s)" % (", ".join(unknown), ", ".join(TOOLS)))
    tools = [tool for tool in TOOLS if tool in listed(args.tools)]
    deadline = None
    if args.until:
        hours, minutes = (int(part) for part in args.until.split(":"))
        now = datetime.datetime.now(datetime.timezone.utc)
        deadline = now.replace(hour=hours, minute=minutes, second=0, microsecond=0)
        if deadline <= now:
            deadline += datetime.timedelta(days=1)
    started = datetime.datetime.now(datetime.timezone.utc)
    load_at_start = load()
    results = {}
    skipped = []
    failures = []
    cells = [(tool, count) for count in sizes for tool in tools]
    if args.jobs > 1:
        # The longest cells first, so that the short ones fill the gaps instead of trailing at the end.
        cells.sort(key=lambda cell: (cell[0] not in LOOPS, -cell[1]))

    def run(cell):
        tool, count = cell
        if deadline and datetime.datetime.now(datetime.timezone.utc) >= deadline:
            return cell, None, None
        container = CONTAINER if args.jobs == 1 else "%s-%s-%d" % (CONTAINER, tool, count)
        scratch = tempfile.mkdtemp(prefix="fwbench-%s-%d-" % (tool, count))
        try:
            return cell, measure(scratch, tool, count, deadline, container), None
        except RuntimeError as error:
            return cell, None, str(error)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        for done in concurrent.futures.as_completed([pool.submit(run, cell) for cell in cells]):
            (tool, count), cell, error = done.result()
            if error is not None:
                failures.append((tool, count, error))
                print(error, file=sys.stderr)
                continue
            if cell is None:
                skipped.append((tool, count))
                continue
            if cell["rerun"] is None:
                # Stopped by the deadline: the cold run alone, when it finished, is kept.
                skipped.append((tool, count))
                results[(tool, count)] = cell
                print("%-20s %5d rules: stopped at the --until time (cold %s; %s)" % (
                    tool, count, "%.1f s" % cell["cold"]["seconds"] if cell["cold"] else "not measured",
                    stopped_text(cell)), file=sys.stderr, flush=True)
                continue
            results[(tool, count)] = cell
            print("%-20s %5d rules: cold %.1f s, re-run %.1f s (fixed cost %s s; changed %d then %d; "
                  "modules on the re-run %d; load %.2f / %.2f)"
                  % (tool, count, cell["cold"]["seconds"], cell["rerun"]["seconds"], seconds(cell["baseline"], digits=1),
                     cell["cold"]["changed"], cell["rerun"]["changed"], cell["rerun"]["modules"],
                     cell["cold"]["load"], cell["rerun"]["load"]), file=sys.stderr, flush=True)
    ended = datetime.datetime.now(datetime.timezone.utc)
    report(sizes, tools, results, skipped, failures,
           (started, ended, load_at_start, load(), os.cpu_count(), args.jobs))
    broken = [(tool, count) for (tool, count), cell in results.items()
              if tool in OURS and cell["rerun"] and (cell["rerun"]["modules"] != 1 or cell["rerun"]["changed"])]
    if broken or failures:
        wrong = broken + [(tool, count) for tool, count, _error in failures]
        raise SystemExit("not as required: %s" % ", ".join("%s at %d rules" % pair for pair in wrong))


def stopped_text(cell):
    stopped = cell.get("stopped")
    if not stopped:
        return "not started"
    return "its %s run stopped after %.1f s, %d module runs started" % (
        stopped["run"], stopped["seconds"], stopped["modules"])


def net(cell, run):
    return None if cell is None or cell[run] is None else cell[run]["seconds"] - cell["baseline"]


def seconds(value, count=1, digits=2):
    return "-" if value is None else "%.*f" % (digits, value / count)


def report(sizes, tools, results, skipped, failures, when):
    started, ended, load_at_start, load_at_end, cores, jobs = when
    print("## Firewall: whole rule set against one task per rule (seconds, fixed cost of a one-task play subtracted)")
    print()
    print("From %s to %s UTC, %s cores; /proc/loadavg at the start: %s; at the end: %s; %s."
          % (started.strftime("%Y-%m-%d %H:%M"), ended.strftime("%H:%M"), cores, load_at_start, load_at_end,
             "one cell at a time" if jobs == 1 else "%d cells at a time, each on its own container" % jobs))
    print()
    print("| rules | tool | cold apply | per rule | re-run unchanged | per rule | fixed cost | load before (cold / re-run)"
          " | changed on the re-run | module executions on the re-run |")
    print("|---:|---|---:|---:|---:|---:|---:|---|---:|---:|")
    for count in sizes:
        for tool in tools:
            cell = results.get((tool, count))
            if cell is None:
                print("| %d | %s | not measured | - | - | - | - | - | - | - |" % (count, tool))
                continue
            if cell["cold"] is None:
                print("| %d | %s | stopped, see below | - | - | - | %s | - | - | - |" % (
                    count, tool, seconds(cell["baseline"])))
                continue
            rerun = cell["rerun"]
            if rerun is None:
                modules = changed = rerun_load = "-"
            else:
                modules = "%d%s" % (rerun["modules"], (" (one: ok)" if rerun["modules"] == 1 else " (NOT one)")
                                    if tool in OURS else "")
                changed, rerun_load = str(rerun["changed"]), "%.2f" % rerun["load"]
            print("| %d | %s | %s | %s | %s | %s | %s | %.2f / %s | %s | %s |" % (
                count, tool, seconds(net(cell, "cold")), seconds(net(cell, "cold"), count, 4),
                seconds(net(cell, "rerun")), seconds(net(cell, "rerun"), count, 4), seconds(cell["baseline"]),
                cell["cold"]["load"], rerun_load, changed, modules))
    print()
    pairs = [(tool, against) for tool in tools for against in AGAINST.get(tool, ()) if against in tools]
    if pairs:
        print("Ratios, theirs / ours, of the times above (same run, fixed cost subtracted):")
        print()
        print("| rules | tool | against | cold | re-run unchanged |")
        print("|---:|---|---|---:|---:|")
        for count in sizes:
            for tool, against in pairs:
                theirs, mine = results.get((tool, count)), results.get((against, count))
                row = []
                for run in ("cold", "rerun"):
                    # Below 50 ms over the fixed cost our time is noise, and theirs below it has no ratio.
                    usable = (net(theirs, run) is not None and net(mine, run) is not None and net(mine, run) >= 0.05
                              and net(theirs, run) > 0)
                    row.append("%.2f" % (net(theirs, run) / net(mine, run)) if usable else "-")
                print("| %d | %s | %s | %s | %s |" % (count, tool, against, row[0], row[1]))
        print()
    ours_measured = [(tool, count) for (tool, count) in sorted(results) if tool in OURS and results[(tool, count)]["rerun"]]
    if ours_measured:
        wrong = [(tool, count) for tool, count in ours_measured if results[(tool, count)]["rerun"]["modules"] != 1]
        print("One module execution per host on the unchanged re-run, our backends: %s." % (
            "yes, in all %d cells measured" % len(ours_measured) if not wrong else
            "NO for " + ", ".join("%s at %d rules (%d)" % (tool, count, results[(tool, count)]["rerun"]["modules"])
                                  for tool, count in wrong)))
    if skipped:
        print("Not measured, or the cold run only (the --until time came first): %s." % ", ".join(
            "%s at %d rules" % pair for pair in skipped))
        for tool, count in skipped:
            cell = results.get((tool, count))
            if cell and cell.get("stopped"):
                print("- %s at %d rules: %s (a lower bound of that run: at least %.1f s over the fixed cost)."
                      % (tool, count, stopped_text(cell), cell["stopped"]["seconds"] - cell["baseline"]))
    for tool, count, error in failures:
        lines = [line for line in error.splitlines() if line.strip()]
        print("Failed: %s at %d rules: %s" % (tool, count, lines[-1] if lines else ""))


if __name__ == "__main__":
    main()
