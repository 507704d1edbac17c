# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The forward part of the managers' backends (ufw, firewalld): forwarded
and published-container traffic governed as the iptables backend governs it,
by its own chains PORTCULLIS-FORWARD (hooked from DOCKER-USER) and
PORTCULLIS-PREROUTING (mangle), written by ``_backends.IptablesForward``.

Why: Docker publishes ports with iptables(-nft) DNAT rules and passes every
forwarded packet through DOCKER-USER first, then accepts it in its own
FORWARD rules; firewalld's zones and policies and ufw's route rules do not
see those packets first (the "Docker ignores ufw" problem). DOCKER-USER is
the one place all four backends can govern them. The manager stays in
charge of input and output.

A manager's backend is ``WithForward`` before the class that speaks the
manager's language: its text is the manager's, then, only when there is
something forward to say (a forward rule, the ``forward`` or ``dnat`` policy
drop), ``HEADER`` and the chains' text. Its plans carry both parts (the
manager's first); a failure of either puts both back (the orchestrator
applies the rollback plan, which holds both). At boot the manager loads its
own rules and the iptables backend's unit mechanism loads the forward chains.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.portcullis.ports.plugins.module_utils.firewall import _backends as backends

HEADER = "# forwarded and published traffic (iptables chains PORTCULLIS-FORWARD, PORTCULLIS-PREROUTING)"
# The forward part of a rollback plan when there was none before: removed when the plan runs.
REMOVE = "remove"
FORWARD_KEYS = ("forward", "prerouting")
# After a manager's reload that flushed every iptables chain: how long the container runtimes may take to make
# theirs again (Docker does when firewalld signals its reload over D-Bus), and how often the table is read, seconds.
SETTLE_SECONDS = 20
SETTLE_STEP = 0.5
# How many times the forward chains are written again when a runtime's rules landed above their jumps meanwhile.
HOOK_ATTEMPTS = 5


def needed(rules, policy):
    """Whether there is something forward to say."""
    return any(rule.chain == "forward" for rule in rules) or policy["forward"] == "drop" or policy["dnat"] == "drop"


def join(manager, forward):
    """The composite text: the manager's part, then the forward part when there is one."""
    if forward is None:
        return manager
    manager = manager or ""
    return "%s%s%s\n%s" % (manager, "" if not manager or manager.endswith("\n") else "\n", HEADER, forward)


def split(text):
    """``(manager part, forward part or None)`` of a composite text."""
    if text is None:
        return None, None
    if text.startswith(HEADER + "\n"):
        return "", text[len(HEADER) + 1:]
    marker = "\n%s\n" % HEADER
    if marker in text:
        manager, forward = text.split(marker, 1)
        return manager + "\n", forward
    return text, None


def dropin_path(service):
    return "/etc/systemd/system/%s.d/50-portcullis-forward.conf" % service


def dropin(systemctl):
    """A manager's service drop-in: each time it starts or reloads (and
    flushes every iptables chain), the forward chains' unit runs again."""
    again = "ExecStartPost=-%s --no-block restart %s" % (systemctl, backends.BOOT_UNIT)
    return "\n".join(["# %s" % backends.MARKER[2:],
                      "# It flushes every iptables chain when it starts or reloads: load the chains",
                      "# PORTCULLIS-FORWARD and PORTCULLIS-PREROUTING again (%s waits until it has)." % backends.BOOT_UNIT,
                      "[Service]", again, again.replace("ExecStartPost", "ExecReload"), ""])


class WithForward:
    """Mixed in before a manager's backend class: the manager's methods are
    reached through ``super()``, the forward part through ``self.forward``
    (None when iptables is not installed, or when another scope governs
    those chains)."""

    # A manager that flushes every iptables chain when it starts or reloads (firewalld): the forward unit is bound to
    # its service, and the forward chains are written after the manager's own reload.
    flushes_iptables = None
    # The command that returns once that manager has started (and flushed).
    flushed_when = None

    def __init__(self, *args, **kwargs):
        super(WithForward, self).__init__(*args, **kwargs)
        self.forward_needed = False
        try:
            self.forward = backends.IptablesForward(self.runner)
            if self.flushes_iptables:
                self.forward.bound_to = (self.flushes_iptables, self.flushed_when)
            self.forward_missing = None
        except backends.BackendError as error:
            self.forward, self.forward_missing = None, str(error)

    def iptables_chains(self):
        return self.forward.iptables_chains() if self.forward is not None else ()

    def cede(self, claimed):
        if self.forward is not None and set(claimed) & set(self.forward.iptables_chains()):
            self.forward = None
            self.forward_missing = "another scope governs the chains PORTCULLIS-FORWARD and PORTCULLIS-PREROUTING"

    def _forward(self):
        if self.forward is None:
            raise backends.BackendError(
                "with backend %s, forward rules and the forward and dnat policies are enforced in the iptables chains "
                "PORTCULLIS-FORWARD and PORTCULLIS-PREROUTING (hooked from DOCKER-USER, which Docker passes "
                "forwarded packets through first), and %s" % (self.name, self.forward_missing))
        return self.forward

    def render(self, rules, policy, defaults):
        manager = super(WithForward, self).render(rules, policy, defaults)
        self.forward_needed = needed(rules, policy)
        self.forward_unenforced = False
        if self.forward_needed and self.forward is None and policy["forward"] == "accept" and \
                not any(rule.chain == "forward" for rule in rules):
            # Only the dnat policy (drop by default) and no iptables: no runtime publishes through it here.
            self.forward_needed, self.forward_unenforced = False, True
        if not self.forward_needed:
            return manager
        return join(manager, self._forward().render(rules, policy, defaults))

    def limits(self, policy):
        warnings = super(WithForward, self).limits(policy)
        if self.forward_needed and self.forward is not None:
            warnings += self.forward.limits(policy)
            if self.flushes_iptables:
                warnings.append("%s flushes every iptables chain when it reloads: a reload run by hand (%s) "
                                "removes the chains PORTCULLIS-FORWARD and PORTCULLIS-PREROUTING, and with them the "
                                "forward rules and the dnat policy, until the next run writes them again (a restart "
                                "of %s loads them again at once)" % (self.name, "firewall-cmd --reload",
                                                                     self.flushes_iptables))
        if getattr(self, "forward_unenforced", False):
            warnings.append("with backend %s the dnat policy drop is enforced in the iptables chains "
                            "PORTCULLIS-FORWARD and PORTCULLIS-PREROUTING, and %s: it is not enforced here (a "
                            "runtime that publishes ports through iptables, as Docker does, needs iptables)"
                            % (self.name, self.forward_missing))
        return warnings

    def live(self):
        manager = super(WithForward, self).live()
        forward = self.forward.live() if self.forward is not None else None
        return join(manager, forward)

    def listing(self, live):
        manager, forward = split(live)
        text = super(WithForward, self).listing(manager)
        return join(text, self.forward.listing(forward)) if forward is not None and self.forward is not None else text

    def apply_plan(self, rules, policy, defaults, desired):
        manager, forward = split(desired)
        plan = {"manager": super(WithForward, self).apply_plan(rules, policy, defaults, manager), "forward": None}
        if forward is not None:
            plan["forward"] = {"tables": self._forward().ruleset(rules, policy, defaults)}
        elif self.forward is not None:
            plan["forward"] = REMOVE
        return plan

    def remove_plan(self):
        manager = super(WithForward, self).live()
        return {"manager": super(WithForward, self).remove_plan() if manager else None,
                "forward": REMOVE if self.forward is not None else None}

    def rollback_plan(self, previous_listing):
        manager, forward = split(previous_listing)
        plan = {"manager": super(WithForward, self).rollback_plan(manager), "forward": None}
        if self.forward is not None:
            plan["forward"] = REMOVE if forward is None else {"tables": self._previous(forward), "listing": forward}
        return plan

    def _previous(self, listing):
        """The forward chains' lines in a live() text, as ruleset() gives them (the hooks are made again)."""
        sections = self.forward.sections(listing)
        return dict((version, dict((table, [line for line in lines if line.startswith("-A PORTCULLIS-")])
                                   for table, lines in sections.get(version, {}).items()))
                    for version in (4, 6))

    def _forward_plan(self, plan):
        """The forward part's iptables-restore input as the chains are now
        (REMOVE: what removes the chains found), made when the plan runs:
        after the manager's part, which may have flushed them (firewalld's
        reload flushes every iptables chain)."""
        forward = plan.get("forward")
        if not forward or self.forward is None:
            return None
        if forward == REMOVE:
            return self.forward.removal_transaction()
        return self.forward.transaction(forward["tables"])

    def check(self, plan):
        if plan.get("manager") is not None:
            super(WithForward, self).check(plan["manager"])
        forward = self._forward_plan(plan)
        if forward:
            self.forward.check(forward)

    def apply(self, plan):
        """The manager's part first, then the forward chains; when either
        fails the orchestrator applies the rollback plan, which puts both back.
        After a reload that flushed every iptables chain (firewalld), the
        runtimes that had chains (Docker) make theirs again asynchronously:
        the forward chains are written once they have, and again while a
        runtime's rule lands above their jumps."""
        reloaded = plan.get("manager") is not None and self.flushes_iptables and self.forward is not None
        runtimes = self._runtime_chains() if reloaded else {}
        if plan.get("manager") is not None:
            super(WithForward, self).apply(plan["manager"])
        if reloaded:
            self._settle(runtimes)
        forward = self._forward_plan(plan)
        if not forward:
            return
        self.forward.apply(forward)
        if not reloaded:
            return
        for _attempt in range(HOOK_ATTEMPTS):
            misplaced = self._misplaced_jumps()
            if not misplaced:
                return
            time.sleep(1)
            self.forward.apply(self._forward_plan(plan))
        if self._misplaced_jumps():
            self.apply_warnings.append(
                "after %s's reload, another tool keeps putting rules that accept above the jumps to the forward "
                "chains (%s): the next run reports it and moves them back" % (self.name, "; ".join(misplaced)))

    def _filter_tables(self):
        return dict((version, self.forward.read_table(version, "filter")) for version in (4, 6))

    def _runtime_chains(self):
        """Per family, whether a container runtime's chains (Docker's) are there."""
        return dict((version, ":DOCKER " in text or ":DOCKER\n" in text)
                    for version, text in self._filter_tables().items())

    def _settle(self, runtimes):
        """Wait (at most SETTLE_SECONDS) until the runtimes whose chains were
        there before the reload have made them again, and the filter table
        reads the same twice in a row."""
        deadline, previous = time.monotonic() + SETTLE_SECONDS, None
        while time.monotonic() < deadline:
            tables = self._filter_tables()
            back = all(":DOCKER " in tables[version] or ":DOCKER\n" in tables[version]
                       for version, present in runtimes.items() if present)
            if back and tables == previous:
                return
            previous = tables
            time.sleep(SETTLE_STEP)

    def _misplaced_jumps(self):
        """The forward chains' jumps that are missing, doubled, or below a rule that accepts."""
        found = []
        for version in (4, 6):
            for table in ("filter", "mangle"):
                for chain, target, count, preceding in self.forward.jump_status(self.forward.read_table(version, table),
                                                                                table):
                    if count != 1 or preceding:
                        found.append("IPv%d %s -> %s" % (version, chain, target))
        return found

    def boot_files(self, rules, policy, defaults, desired):
        """The forward chains' boot files (the manager loads its own rules at
        boot); listed whenever this backend governs those chains, so that
        files from an earlier run are found and removed."""
        files = dict(super(WithForward, self).boot_files(rules, policy, defaults, desired))
        if self.forward is not None:
            files.update(self.forward.boot_files(rules, policy, defaults, desired))
        else:
            # Listed also when another scope governs the chains: files from an earlier run are found, and removed.
            files.update((path, "") for path in backends.IptablesForward.boot_paths.values())
        if self.flushes_iptables:
            files[dropin_path(self.flushes_iptables)] = dropin(self.runner.which("systemctl") or "/bin/systemctl")
        return files

    def boot_unit(self):
        """The iptables backend's unit for the forward chains, or None when
        there is nothing forward to load (the manager boots its own rules)."""
        if self.forward_needed and self.forward is not None:
            return self.forward.boot_unit()
        return super(WithForward, self).boot_unit()

    def restore_script(self, plan, directory, token):
        files, script = {}, ""
        if plan.get("manager") is not None:
            files, script = super(WithForward, self).restore_script(plan["manager"], directory, token)
        forward = plan.get("forward")
        rehook = False
        if forward == REMOVE:
            # At the timer's time the chains are there only when this run made them.
            forward = self.forward.rollback_transaction(None) if self.forward_needed and self.forward else None
        elif forward:
            forward = self.forward.rollback_transaction(forward["listing"])
            # The manager's part above reloads it: one that flushes every iptables chain (firewalld) took the
            # chains and their jumps, and the runtimes make theirs again meanwhile.
            rehook = bool(self.flushes_iptables) and plan.get("manager") is not None
        if forward:
            more, text = self.forward.restore_script(forward, directory, token + ".forward")
            files.update(more)
            script += self.forward.rehook_script(text) if rehook else text
        return files, script
