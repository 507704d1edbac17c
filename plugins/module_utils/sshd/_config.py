# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""sshd configuration as data: rendering, crypto profiles, parsing of
sshd_config files and of ``sshd -T`` output, the lockout guard's reasoning
and the moduli filter. Plain Python, no Ansible imports, so the module and the
unit tests share it. Everything that touches the host is in ``_sshd``."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
import ipaddress
import re

from ansible_collections.portcullis.ports.plugins.module_utils import _values

MANAGED_HEADER = (
    "# Managed by portcullis.ports (sshd_hardening). Local edits are replaced on the next run.\n"
    "# sshd keeps the first value it reads for a keyword: this file is read first.\n"
)
BLOCK_BEGIN = "# BEGIN portcullis.ports sshd_hardening"
BLOCK_END = "# END portcullis.ports sshd_hardening"
MATCH_BEGIN = "# BEGIN portcullis.ports sshd_hardening (Match blocks)"
MATCH_END = "# END portcullis.ports sshd_hardening (Match blocks)"

# Preference order of each profile; what the installed sshd does not list in
# `ssh -Q` is dropped. Post-quantum hybrids come first where sshd has them.
PQ_KEX = ["mlkem768x25519-sha256", "sntrup761x25519-sha512", "sntrup761x25519-sha512@openssh.com"]
CLASSIC_KEX = ["curve25519-sha256", "curve25519-sha256@libssh.org"]
COMPATIBLE_KEX_EXTRA = ["diffie-hellman-group16-sha512", "diffie-hellman-group18-sha512",
                        "diffie-hellman-group-exchange-sha256"]
CIPHERS = ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
           "aes256-ctr", "aes192-ctr", "aes128-ctr"]
MACS = ["hmac-sha2-512-etm@openssh.com", "hmac-sha2-256-etm@openssh.com", "umac-128-etm@openssh.com"]
HOST_KEY_ALGORITHMS = ["ssh-ed25519", "ssh-ed25519-cert-v01@openssh.com",
                       "rsa-sha2-512", "rsa-sha2-512-cert-v01@openssh.com",
                       "rsa-sha2-256", "rsa-sha2-256-cert-v01@openssh.com"]
PROFILES = ("modern", "compatible")
# "none" leaves the crypto keywords to sshd's defaults.
PROFILE_CHOICES = PROFILES + ("none",)
HOST_KEY_KINDS = ("ed25519", "rsa")
LAYOUTS = ("auto", "dropin", "main")
# The sshd keyword each algorithm list goes to, and the `ssh -Q` query that lists what sshd knows.
CRYPTO_KEYWORDS = (
    ("KexAlgorithms", "kex"),
    ("Ciphers", "cipher"),
    ("MACs", "mac"),
    ("HostKeyAlgorithms", "key-sig"),
)

MATCH_CRITERIA = ("User", "Group", "Host", "LocalAddress", "LocalPort", "Address", "RDomain", "All")
YES_NO_ALIASES = {"without-password": "prohibit-password"}
# Keywords whose value sshd -T prints in seconds.
TIME_KEYWORDS = {"logingracetime", "clientaliveinterval", "rekeylimit"}
# Keywords that may appear several times; sshd -T prints one line per value.
MULTI_KEYWORDS = {"port", "listenaddress", "hostkey", "allowusers", "allowgroups", "denyusers",
                  "denygroups", "acceptenv", "subsystem", "setenv", "permitopen", "permitlisten"}
# Space-separated lists in sshd_config.
WORD_LIST_KEYWORDS = {"allowusers", "allowgroups", "denyusers", "denygroups", "acceptenv",
                      "authorizedkeysfile", "authenticationmethods"}
_TIME_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_KEYWORD = _values.pattern(r"[A-Za-z][A-Za-z0-9]*")
# Printable ASCII but the quote, which sshd_config cannot escape, and the comment sign.
_SAFE_VALUE = _values.pattern(r'[\x20-\x7e]*')
_TIME = _values.pattern(r"([0-9]+[smhdw]?)+")


class SshdConfigError(Exception):
    pass


def openssh_version(text):
    """(major, minor) from `ssh -V` or `sshd -V` output, e.g. 'OpenSSH_9.2p1 Debian'."""
    match = re.search(r"OpenSSH_([0-9]+)\.([0-9]+)", text or "")
    if not match:
        raise SshdConfigError("cannot read the OpenSSH version from %r" % (text or "").strip()[:80])
    return int(match.group(1)), int(match.group(2))


def choose_crypto(profile, supported, overrides=None):
    """The algorithm lists for a profile, keeping only what sshd supports.

    ``supported`` maps a `ssh -Q` query name to the set it printed.
    ``overrides`` maps a keyword (``KexAlgorithms``...) to an explicit list.
    Returns (settings, dropped): dropped names the algorithms left out
    because the installed sshd does not know them.
    """
    if profile not in PROFILES:
        raise SshdConfigError("unknown crypto profile %r: choose one of %s" % (profile, ", ".join(PROFILES)))
    overrides = overrides or {}
    pq = [name for name in PQ_KEX if name in supported.get("kex", ())]
    kex = list(pq)
    if profile == "compatible" or not pq:
        # No post-quantum hybrid in this sshd (OpenSSH < 8.5): curve25519 is the best it has.
        kex += CLASSIC_KEX
    if profile == "compatible":
        kex += COMPATIBLE_KEX_EXTRA
    wanted = {"KexAlgorithms": kex, "Ciphers": CIPHERS, "MACs": MACS, "HostKeyAlgorithms": HOST_KEY_ALGORITHMS}
    settings, dropped = {}, []
    for keyword, query in CRYPTO_KEYWORDS:
        explicit = overrides.get(keyword)
        names = list(explicit) if explicit else wanted[keyword]
        known = supported.get(query, ())
        kept = [name for name in names if name in known]
        if explicit:
            dropped += ["%s %s" % (keyword, name) for name in names if name not in known]
        if not kept:
            raise SshdConfigError("none of the %s %s is supported by the installed sshd"
                                  % (keyword, ", ".join(names)))
        settings[keyword] = kept
    return settings, dropped


def check_value(keyword, value):
    """Refuse what cannot be written safely as one sshd_config argument list."""
    if isinstance(value, bool):
        return
    text = str(value)
    if not _SAFE_VALUE.fullmatch(text) or '"' in text or "#" in text:
        raise SshdConfigError("%s: value %r is refused: only printable ASCII without quotes or '#' may be "
                              "written to sshd_config" % (keyword, text))
    if not text.strip():
        raise SshdConfigError("%s: the value is empty" % keyword)


def check_keyword(keyword):
    if not isinstance(keyword, str) or not _KEYWORD.fullmatch(keyword):
        raise SshdConfigError("%r is not an sshd_config keyword" % (keyword,))
    if keyword.lower() in ("match", "include"):
        raise SshdConfigError("%s cannot be set as an option: use the Match blocks (match_blocks)" % keyword
                              if keyword.lower() == "match" else
                              "Include cannot be set as an option: the module manages the includes")


def format_value(keyword, value):
    """One sshd_config value: yes/no for booleans, lists joined the way sshd reads them."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        if not value:
            raise SshdConfigError("%s: the list is empty" % keyword)
        for item in value:
            check_value(keyword, item)
            if " " in str(item) or "," in str(item) and keyword.lower() in WORD_LIST_KEYWORDS:
                raise SshdConfigError("%s: list item %r may not contain a space%s"
                                      % (keyword, item, " or a comma" if keyword.lower() in WORD_LIST_KEYWORDS else ""))
        separator = " " if keyword.lower() in WORD_LIST_KEYWORDS else ","
        return separator.join(str(item) for item in value)
    check_value(keyword, value)
    return str(value)


def setting_lines(settings, indent=""):
    """Lines for a settings mapping; multi-valued keywords take a list of values,
    one line each (Port, ListenAddress, HostKey)."""
    lines = []
    for keyword, value in settings.items():
        check_keyword(keyword)
        if value is None:
            continue
        if keyword.lower() in MULTI_KEYWORDS - WORD_LIST_KEYWORDS and isinstance(value, (list, tuple)):
            for item in value:
                lines.append("%s%s %s" % (indent, keyword, format_value(keyword, item)))
        else:
            lines.append("%s%s %s" % (indent, keyword, format_value(keyword, value)))
    return lines


def match_line(criteria):
    """`Match ...` from a mapping of criterion to pattern(s), or a string of them."""
    if isinstance(criteria, str):
        check_value("Match", criteria)
        words = criteria.split()
        if not words:
            raise SshdConfigError("a Match block has empty criteria")
        pairs = [words[0]] if words[0].lower() == "all" else words
        for word in pairs[::2]:
            if word.lower() not in [name.lower() for name in MATCH_CRITERIA]:
                raise SshdConfigError("Match criterion %r is unknown: use %s" % (word, ", ".join(MATCH_CRITERIA)))
        return "Match " + criteria.strip()
    if not isinstance(criteria, dict) or not criteria:
        raise SshdConfigError("a Match block needs criteria, e.g. {User: alice}")
    parts = []
    for name, patterns in criteria.items():
        canonical = next((known for known in MATCH_CRITERIA if known.lower() == str(name).lower()), None)
        if canonical is None:
            raise SshdConfigError("Match criterion %r is unknown: use %s" % (name, ", ".join(MATCH_CRITERIA)))
        if canonical == "All":
            parts.append("All")
            continue
        if isinstance(patterns, (list, tuple)):
            patterns = ",".join(str(item) for item in patterns)
        check_value("Match " + canonical, patterns)
        if " " in str(patterns):
            raise SshdConfigError("Match %s %r: separate patterns with commas, not spaces" % (canonical, patterns))
        parts.append("%s %s" % (canonical, patterns))
    return "Match " + " ".join(parts)


def match_lines(blocks):
    lines = []
    for index, block in enumerate(blocks or []):
        if not isinstance(block, dict) or "criteria" not in block or not isinstance(block.get("settings"), dict):
            raise SshdConfigError("Match block %d needs criteria and a settings mapping" % (index + 1))
        if not block["settings"]:
            raise SshdConfigError("Match block %d (%s) has no settings" % (index + 1, block["criteria"]))
        lines.append(match_line(block["criteria"]))
        lines += setting_lines(block["settings"], indent="    ")
    return lines


def render_dropin(settings, blocks):
    """The whole drop-in file: top-level settings, then the Match blocks, which
    must come last (a Match block runs to the next Match or the end of file)."""
    body = setting_lines(settings)
    matches = match_lines(blocks)
    text = MANAGED_HEADER + "\n".join(body) + "\n"
    if matches:
        text += "\n" + "\n".join(matches) + "\n"
    return text


def parse_config(text):
    """Directives of one sshd_config file: (line number, keyword, arguments, match)
    where match is the Match line in effect or None at top level."""
    directives = []
    current_match = None
    for number, raw in enumerate((text or "").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = re.split(r"[\s=]+", line, maxsplit=1)
        keyword = parts[0]
        args = parts[1].strip() if len(parts) > 1 else ""
        if keyword.lower() == "match":
            current_match = args
            directives.append((number, "Match", args, None))
            continue
        directives.append((number, keyword, args, current_match))
    return directives


def _strip_block(text, begin, end):
    lines = (text or "").splitlines(True)
    out, skipping = [], False
    for line in lines:
        if line.strip() == begin:
            skipping = True
            continue
        if skipping and line.strip() == end:
            skipping = False
            continue
        if not skipping:
            out.append(line)
    return "".join(out)


def place_include_first(main_text, include_glob):
    """The main file with `Include <glob>` as its first directive, so the drop-ins
    are read before anything the main file sets. An existing Include of that glob
    elsewhere is moved, never doubled (a doubled Include reads every drop-in twice)."""
    lines = (main_text or "").splitlines(True)
    first = next((line for line in lines if line.strip() and not line.strip().startswith("#")), None)
    if first is not None and _is_include_of(first, include_glob):
        return main_text
    kept = [line for line in lines if not _is_include_of(line, include_glob)]
    kept.insert(_after_leading_comments(kept), "Include %s\n" % include_glob)
    return "".join(kept)


def _after_leading_comments(lines):
    """Where the first directive may go: after the file's header comments."""
    index = 0
    while index < len(lines) and lines[index].strip().startswith("#"):
        index += 1
    return index


def _is_include_of(line, include_glob):
    words = line.split()
    return len(words) >= 2 and words[0].lower() == "include" and include_glob in words[1:]


def render_main_block(main_text, settings, blocks):
    """For an sshd without Include: our settings in a marked block at the top of
    the main file (first value wins), our Match blocks in a marked block at the end."""
    text = _strip_block(_strip_block(main_text, BLOCK_BEGIN, BLOCK_END), MATCH_BEGIN, MATCH_END)
    top = BLOCK_BEGIN + "\n" + MANAGED_HEADER + "\n".join(setting_lines(settings)) + "\n" + BLOCK_END + "\n"
    lines = text.splitlines(True)
    insert_at = _after_leading_comments(lines)
    result = "".join(lines[:insert_at]) + top + "".join(lines[insert_at:])
    matches = match_lines(blocks)
    if matches:
        if not result.endswith("\n"):
            result += "\n"
        result += MATCH_BEGIN + "\n" + "\n".join(matches) + "\n" + MATCH_END + "\n"
    return result


# Older names sshd still reads for a keyword.
KEYWORD_ALIASES = {"challengeresponseauthentication": "kbdinteractiveauthentication",
                   "pubkeyacceptedkeytypes": "pubkeyacceptedalgorithms",
                   "hostbasedacceptedkeytypes": "hostbasedacceptedalgorithms"}


def canonical_keyword(keyword):
    """The keyword's current name, lower case (an alias to what it stands for)."""
    return KEYWORD_ALIASES.get(keyword.lower(), keyword.lower())


def without_own_blocks(text):
    """The text with this role's marked blocks blanked (line numbers kept)."""
    lines, inside = [], False
    for line in (text or "").splitlines():
        if line.strip() in (BLOCK_BEGIN, MATCH_BEGIN):
            inside = True
        lines.append("#" if inside else line)
        if line.strip() in (BLOCK_END, MATCH_END):
            inside = False
    return "\n".join(lines) + "\n"


def conflicts(files, settings):
    """Directives in other files that set one of our keywords (or an alias of
    it) to another value, at top level or inside a Match block:
    [(path, line, keyword, their value, our value, Match criteria or None)]."""
    ours = dict((canonical_keyword(keyword), (keyword, normalize(keyword, format_for_compare(keyword, value))))
                for keyword, value in settings.items() if value is not None)
    found = []
    for path, text in files:
        for number, keyword, args, match in parse_config(text):
            key = canonical_keyword(keyword)
            if key not in ours or key in MULTI_KEYWORDS:
                continue
            name, our_value = ours[key]
            if normalize(name, args) != our_value:
                found.append((path, number, keyword if key == keyword.lower() else "%s (%s)" % (keyword, name), args,
                              our_value, match))
    return found


def format_for_compare(keyword, value):
    if isinstance(value, (list, tuple)) and keyword.lower() in MULTI_KEYWORDS - WORD_LIST_KEYWORDS:
        return " ".join(format_value(keyword, item) for item in value)
    return format_value(keyword, value)


def parse_seconds(text):
    """sshd's time format (`90`, `1m30s`, `2h`) in seconds."""
    text = str(text).strip().lower()
    if not text:
        raise SshdConfigError("empty time value")
    total = 0
    for number, unit in re.findall(r"([0-9]+)([smhdw]?)", text):
        total += int(number) * _TIME_UNITS[unit]
    if not _TIME.fullmatch(text):
        raise SshdConfigError("%r is not an sshd time value (like 30, 1m or 1h30m)" % text)
    return total


def normalize(keyword, value):
    """A value the way `sshd -T` prints it, for comparison."""
    key = keyword.lower()
    text = str(value).strip()
    if key in TIME_KEYWORDS and _TIME.fullmatch(text.lower()):
        return str(parse_seconds(text))
    if key in WORD_LIST_KEYWORDS:
        return " ".join(text.split())
    text = text.lower() if text.lower() in ("yes", "no") or key in ("loglevel",) else text
    return YES_NO_ALIASES.get(text, text)


def parse_effective(text):
    """`sshd -T` output: keyword (lowercase) to its list of printed values."""
    effective = {}
    for line in (text or "").splitlines():
        parts = line.strip().split(None, 1)
        if not parts:
            continue
        effective.setdefault(parts[0].lower(), []).append(parts[1] if len(parts) > 1 else "")
    return effective


def effective_value(effective, keyword):
    """One keyword's effective value as a normalized string; several lines joined with spaces."""
    key = keyword.lower()
    if key == "pubkeyacceptedalgorithms" and key not in effective:
        key = "pubkeyacceptedkeytypes"
    values = effective.get(key)
    if values is None:
        return None
    return normalize(keyword, " ".join(values))


def mismatches(effective, settings):
    """[(keyword, wanted, effective)] for settings sshd does not end up with."""
    found = []
    for keyword, value in settings.items():
        if value is None:
            continue
        key = keyword.lower()
        wanted = normalize(keyword, format_for_compare(keyword, value))
        got = effective_value(effective, keyword)
        if key == "listenaddress":
            # sshd -T prints each address with its port (0.0.0.0:22, [::]:22); ours may carry one (host:port).
            got = [split_listen_address(item) for item in effective.get(key, [])]
            missing = [item for item in wanted.split()
                       if not any(_listen_covers(split_listen_address(item), bound) for bound in got)]
            if missing:
                found.append((keyword, wanted, " ".join(effective.get(key, []))))
            continue
        if key in MULTI_KEYWORDS | WORD_LIST_KEYWORDS:
            # Repeated lines or space-separated words: the order does not matter, nor a value another file repeats
            # (Port 2222 in a drop-in the admin wrote beside ours: sshd still listens on 2222 only).
            if sorted(set(wanted.split())) != sorted(set((got or "").split())):
                found.append((keyword, wanted, got))
            continue
        if got is None or wanted.lower() != got.lower():
            found.append((keyword, wanted, got))
    return found


def _strip_brackets(address):
    return address.strip("[]")


def _listen_covers(wanted, bound):
    return wanted[0] == bound[0] and wanted[1] in (None, bound[1])


def split_listen_address(item):
    """A ListenAddress value as sshd reads it: (host, port or None).

    ``host``, ``host:port``, ``[host]:port``, ``[host]``; an address with two
    or more colons and no brackets is a bare IPv6 address (no port). A
    trailing ``rdomain NAME`` is ignored. A bad port is refused, named."""
    text = str(item).split()[0] if str(item).split() else ""
    if not text:
        raise SshdConfigError("ListenAddress: the value is empty")
    if "[" not in text and text.count(":") >= 2:
        return text, None
    if text.startswith("["):
        host, closed, rest = text[1:].partition("]")
        if not closed or rest not in ("",) and not rest.startswith(":"):
            raise SshdConfigError("ListenAddress %r: write [address]:port" % (item,))
        port = rest[1:] if rest else None
    else:
        host, colon, port = text.partition(":")
        port = port if colon else None
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise SshdConfigError("ListenAddress %r: %r is not a port number (1-65535)" % (item, port))
    if not host:
        raise SshdConfigError("ListenAddress %r: no address" % (item,))
    return host, (str(int(port)) if port is not None else None)


def listen_streams(ports, addresses):
    """systemd ListenStream= values for a socket-activated sshd that listens
    like these Port and ListenAddress values: the ports alone when no address
    is given (systemd's dual-stack socket), else each address with its own
    port or, without one, with every Port."""
    ports = [str(port) for port in ports or ["22"]]
    if not addresses:
        return ports
    streams = []
    for item in addresses:
        host, port = split_listen_address(item)
        for number in [port] if port else ports:
            stream = "[%s]:%s" % (host, number) if ":" in host else "%s:%s" % (host, number)
            if stream not in streams:
                streams.append(stream)
    return streams


def setter_of(files, keyword):
    """Where a keyword gets its effective value for a session: a Match block
    that sets it (Match overrides the top level), else the first top-level
    setting, in files read in sshd's order."""
    first = None
    for path, text in files:
        for number, name, args, match in parse_config(text):
            if canonical_keyword(name) != canonical_keyword(keyword):
                continue
            if match is not None:
                return "%s line %d (%s %s, inside Match %s)" % (path, number, name, args, match)
            if first is None:
                first = "%s line %d (%s %s)" % (path, number, name, args)
    return first


def _patterns_match(patterns, user, host, address):
    """sshd's user@host patterns for AllowUsers/DenyUsers: does any match?"""
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern[1:] if negated else pattern
        user_pattern, _sep, host_pattern = body.partition("@")
        matched = fnmatch.fnmatchcase(user, user_pattern)
        if matched and host_pattern:
            matched = _host_matches(host_pattern, host, address)
        if matched:
            return not negated
    return False


def _host_matches(pattern, host, address):
    if "/" in pattern and address:
        try:
            return ipaddress.ip_address(address) in ipaddress.ip_network(pattern, strict=False)
        except ValueError:
            return False
    return any(fnmatch.fnmatchcase(candidate, pattern) for candidate in (host, address) if candidate)


def lockout_reasons(effective, user, groups, address, host=None, key_types=None, server=None, session_key=None,
                    account=None, exists=None, previous=None, offered=None):
    """Why the next session of ``user`` (in ``groups``, connecting from
    ``address``) would fail under the effective configuration for that very
    session (``sshd -T -C`` with the user, the address and the local end);
    empty when nothing stops it.

    ``key_types`` are the types of the keys the user's AuthorizedKeysFile
    holds under the new configuration, or None when sshd finds keys another
    way (AuthorizedKeysCommand). ``server`` is (address, port) the session
    reached sshd on, when known. ``session_key`` is (type, fingerprint) of the
    key the session logged in with, from sshd's log, when known; ``account``
    holds the user's ``shell``, ``home`` and the ``fingerprints`` of the keys
    the new AuthorizedKeysFile holds; ``exists(path)`` tells whether a file
    exists on the host; ``previous`` is the effective configuration serving
    the session now, when known; ``offered`` lists the keys the controller's
    next login offers, in order ({fingerprint, type, origin}), when known.
    """
    reasons = []
    host = host or address
    if server:
        reasons += _listen_reasons(effective, server[0], str(server[1]))

    def values(keyword):
        return " ".join(effective.get(keyword, [])).split()

    deny_users = values("denyusers")
    if deny_users and _patterns_match(deny_users, user, host, address):
        reasons.append("DenyUsers (%s) matches %s" % (" ".join(deny_users), user))
    allow_users = values("allowusers")
    if allow_users and not _patterns_match(allow_users, user, host, address):
        reasons.append("AllowUsers (%s) does not match %s from %s" % (" ".join(allow_users), user, address))
    deny_groups = values("denygroups")
    denied = [group for group in groups if any(fnmatch.fnmatchcase(group, pattern) for pattern in deny_groups)]
    if denied:
        reasons.append("DenyGroups (%s) matches %s's group %s" % (" ".join(deny_groups), user, ", ".join(denied)))
    allow_groups = values("allowgroups")
    if allow_groups and not any(fnmatch.fnmatchcase(group, pattern) for group in groups for pattern in allow_groups):
        reasons.append("AllowGroups (%s) matches none of %s's groups (%s)"
                       % (" ".join(allow_groups), user, ", ".join(groups) or "none"))
    root_login = (effective_value(effective, "PermitRootLogin") or "")
    if user == "root" and root_login in ("no", "forced-commands-only"):
        reasons.append("PermitRootLogin is %s and Ansible connects as root" % root_login)
    reasons += _session_reasons(effective, account, exists)
    pubkey = effective_value(effective, "PubkeyAuthentication") == "yes"
    password = effective_value(effective, "PasswordAuthentication") == "yes"
    methods = values("authenticationmethods")
    if methods and methods != ["any"]:
        # The session proves one key; a chain asking for publickey twice needs a second one.
        usable = [chain for chain in methods if [step.split(":")[0] for step in chain.split(",")] == ["publickey"]]
        if not usable:
            reasons.append("AuthenticationMethods %s has no chain one public key satisfies (the session logged in "
                           "with one key)" % " ".join(methods))
    if not pubkey:
        reasons.append("PubkeyAuthentication is no" + ("" if password else " and so is PasswordAuthentication"))
    elif not password:
        reasons += _key_reasons(effective, user, key_types, session_key, account, previous)
        reasons += offer_reasons(effective, user, offered, account, session_key)
    return reasons


def offer_reasons(effective, user, offered, account=None, session_key=None):
    """The next login offers its keys one by one; sshd counts each it refuses
    and disconnects when the count reaches MaxAuthTries ("Too many
    authentication failures"). The key that logs in must come earlier."""
    tries = effective_value(effective, "MaxAuthTries")
    if not offered or tries is None or not tries.isdigit():
        return []
    authorized = set((account or {}).get("fingerprints") or [])
    if not authorized and session_key:
        authorized = {session_key[1]}
    position = next((index for index, key in enumerate(offered, 1) if key.get("fingerprint") in authorized), None)
    if position is None or position <= int(tries):
        return []
    before = offered[:position - 1]
    origins = {}
    for key in before:
        origin = "the ssh-agent" if key["origin"].startswith("ssh-agent") else key["origin"]
        origins[origin] = origins.get(origin, 0) + 1
    sources = ", ".join("%d from %s" % (count, origin) for origin, count in origins.items())
    return ["the controller's next login offers %s's key as key %d, after %d keys sshd refuses (%s), and "
            "MaxAuthTries %s disconnects at the %s refusal (Too many authentication failures): allow at least %d "
            "(the role's portcullis_sshd_max_auth_tries), or have the controller offer that key first "
            "(IdentitiesOnly=yes with its key file)"
            % (user, position, len(before), sources, tries, _ordinal(int(tries)), position)]


def _ordinal(number):
    return "%d%s" % (number, {1: "st", 2: "nd", 3: "rd"}.get(number if number < 20 else number % 10, "th"))


def _session_reasons(effective, account, exists):
    """What would end the session right after the login."""
    reasons = []
    force = effective_value(effective, "ForceCommand")
    if force and force.lower() != "none":
        reasons.append("ForceCommand %s would run instead of every command Ansible sends" % force)
    sessions = effective_value(effective, "MaxSessions")
    if sessions is not None and sessions.strip() == "0":
        reasons.append("MaxSessions 0 allows no session at all")
    chroot = effective_value(effective, "ChrootDirectory")
    if chroot and chroot.lower() != "none" and account:
        root = chroot.replace("%h", account.get("home", "")).replace("%u", account.get("user", "")).replace("%%", "%")
        missing = [path for path in (account.get("shell"), "/usr/bin/python3")
                   if path and not (exists and exists(root.rstrip("/") + path))]
        if missing:
            reasons.append("ChrootDirectory %s has no %s inside, so neither the login shell nor Ansible's modules "
                           "would run" % (chroot, " or ".join(missing)))
    return reasons


def _key_reasons(effective, user, key_types, session_key, account, previous=None):
    """The key the session used must still be found and accepted."""
    accepted = set((effective_value(effective, "PubkeyAcceptedAlgorithms") or "").split(","))
    if session_key is not None:
        key_type, fingerprint = session_key
        fingerprints = (account or {}).get("fingerprints")
        if fingerprints is not None and key_types is not None and fingerprint not in fingerprints:
            files = " ".join(effective.get("authorizedkeysfile", []))
            return ["the key this session logged in with (%s %s) is not in AuthorizedKeysFile (%s)"
                    % (key_type, fingerprint, files)]
        if accepted != {""} and not _key_accepted(LOG_KEY_TYPES.get(key_type, key_type), accepted):
            return ["the key this session logged in with is %s, which PubkeyAcceptedAlgorithms (%s) no longer allows"
                    % (key_type, ",".join(sorted(accepted)))]
        before = set((effective_value(previous, "PubkeyAcceptedAlgorithms") or "").split(",")) if previous else set()
        if key_type == "RSA" and "ssh-rsa" in before and accepted != {""} and "ssh-rsa" not in accepted:
            # sshd's log names the key (RSA), not the signature: a client that signs only with SHA-1 (ssh-rsa),
            # which the serving configuration accepts, would be refused from now on.
            return ["the session logged in with an RSA key while ssh-rsa (SHA-1 signatures) is accepted, and "
                    "PubkeyAcceptedAlgorithms (%s) would no longer accept it: a client that signs only with ssh-rsa "
                    "is locked out (if the controller signs with rsa-sha2-256 or -512, apply with lockout_guard off "
                    "and rollback_timeout)" % ",".join(sorted(accepted))]
        return []
    if key_types is None:
        return []
    if not key_types:
        return ["%s has no authorized key in AuthorizedKeysFile (%s) and password logins are off"
                % (user, " ".join(effective.get("authorizedkeysfile", [])))]
    if accepted != {""} and not any(_key_accepted(key_type, accepted) for key_type in key_types):
        return ["none of %s's authorized keys (%s) is of a type PubkeyAcceptedAlgorithms allows"
                % (user, ", ".join(sorted(set(key_types))))]
    return []


# How sshd's log names a key's type ("Accepted publickey for u from a port p ssh2: ED25519 SHA256:...").
LOG_KEY_TYPES = {"ED25519": "ssh-ed25519", "RSA": "ssh-rsa", "ECDSA": "ecdsa-sha2-", "DSA": "ssh-dss",
                 "ED25519-SK": "sk-ssh-ed25519@openssh.com", "ECDSA-SK": "sk-ecdsa-sha2-nistp256@openssh.com"}
_ACCEPTED = _values.pattern(r".*Accepted publickey for (\S+) from (\S+) port ([0-9]+) ssh2: (\S+) (SHA256:\S+).*")


def session_key(log_lines, user, address, port):
    """(type, fingerprint) of the key a session (user from address:port)
    logged in with, from sshd's log lines; None when not found."""
    found = None
    for line in log_lines:
        match = _ACCEPTED.fullmatch(line.strip())
        if match and match.group(1) == user and match.group(2) == address and match.group(3) == str(port):
            found = (match.group(4), match.group(5))
    return found


def _listen_reasons(effective, address, port):
    """sshd must keep listening where the session came in: the same port, and
    an address of the session's family that covers its local address (sshd
    binds :: for IPv6 only, 0.0.0.0 for IPv4 only). A ListenAddress with its
    own port (host:port) listens on that port only, whatever Port says."""
    ports = effective.get("port", [])
    listening = effective.get("listenaddress", [])
    bound = [split_listen_address(item) for item in listening]
    served = sorted(set(bound_port for _host, bound_port in bound if bound_port) |
                    (set(ports) if any(bound_port is None for _host, bound_port in bound) or not bound else set()),
                    key=lambda value: int(value) if value.isdigit() else 0)
    if served and port not in served:
        return ["sshd would stop listening on port %s, the one Ansible is connected to (new: %s); listen on both "
                "during the move (the role's portcullis_sshd_previous_port), then point ansible_port at the new one"
                % (port, ", ".join(served))]
    if not listening or not address:
        return []
    try:
        local = ipaddress.ip_address(_strip_brackets(address))
    except ValueError:
        return []
    for item in listening:
        bound, bound_port = split_listen_address(item)
        if bound_port not in (None, port):
            continue
        try:
            bound = ipaddress.ip_address(bound)
        except ValueError:
            continue
        if bound.version == local.version and (bound.is_unspecified or bound == local):
            return []
    return ["sshd would no longer listen on %s port %s, where Ansible is connected (it would listen on %s; :: is "
            "IPv6 only and 0.0.0.0 IPv4 only for sshd)" % (local, port, ", ".join(listening))]


def _key_accepted(key_type, accepted):
    # An ssh-rsa key signs with rsa-sha2-256/512 when those are allowed.
    if key_type == "ssh-rsa":
        return bool({"ssh-rsa", "rsa-sha2-256", "rsa-sha2-512"} & accepted)
    if key_type.endswith("-"):  # a family the log names without its curve (ECDSA)
        return any(item.startswith(key_type) for item in accepted)
    return key_type in accepted


_KEY_TYPE = _values.pattern(r"ssh-[a-z0-9-]+|ecdsa-sha2-[a-z0-9-]+|sk-[a-z0-9@.-]+|[a-z0-9-]+-cert-v01@openssh\.com")


def authorized_key_types(text):
    """The key types of an authorized_keys file (options before the type are skipped)."""
    types = []
    for line in (text or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        for word in _split_key_line(line):
            if _KEY_TYPE.fullmatch(word):
                types.append(word)
                break
    return types


def _split_key_line(line):
    # Options may hold quoted strings with spaces (command="..."); keep them whole.
    return re.findall(r'(?:[^\s"]|"[^"]*")+', line)


def expand_keys_path(pattern, user, home):
    """AuthorizedKeysFile tokens %h %u %% and relative paths (from the home)."""
    path = pattern.replace("%%", "\0").replace("%h", home).replace("%u", user).replace("\0", "%")
    if not path.startswith("/"):
        path = home.rstrip("/") + "/" + path
    return path


def filter_moduli(text, min_bits):
    """The moduli file without groups smaller than min_bits. The size column
    counts from zero (3071 for a 3072-bit prime). Returns (text, removed)."""
    kept, removed = [], 0
    for line in (text or "").splitlines(True):
        fields = line.split()
        if line.lstrip().startswith("#") or len(fields) < 7:
            kept.append(line)
            continue
        try:
            size = int(fields[4])
        except ValueError:
            kept.append(line)
            continue
        if size + 1 < min_bits:
            removed += 1
        else:
            kept.append(line)
    return "".join(kept), removed


def moduli_entries(text):
    return sum(1 for line in (text or "").splitlines() if line.strip() and not line.lstrip().startswith("#"))


def unknown_options(sshd_output):
    """Keywords sshd -t called bad, deprecated or unsupported."""
    found = []
    for pattern in (r"Bad configuration option: (\S+)", r"Deprecated option (\S+)", r"Unsupported option (\S+)"):
        found += re.findall(pattern, sshd_output or "")
    return found
