# -*- coding: utf-8 -*-
# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The public keys the controller's next SSH login will offer, in the order
the OpenSSH client offers them, for the sshd guard to hold against
MaxAuthTries. Controller-only: it reads the client's resolved configuration
(``ssh -G`` with the arguments Ansible's connection uses) and the agent's
keys (``ssh-add -L``); it never connects to the host.

The client's order (OpenSSH's ``pubkey_prepare``): agent keys that are also
identity files, in the agent's order; then the other agent keys, unless
IdentitiesOnly; then the remaining identity files (and their certificates)
in the configuration's order. Identity files that do not exist are skipped
without a request."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import hashlib
import struct


def parse_client_config(text):
    """``ssh -G`` output to {keyword (lower case): [values]} (a value may hold spaces)."""
    config = {}
    for line in (text or "").splitlines():
        keyword, _sep, value = line.strip().partition(" ")
        if keyword:
            config.setdefault(keyword.lower(), []).append(value.strip())
    return config


def fingerprint(blob):
    """The SHA256 fingerprint of a public key blob (bytes), as ssh-keygen -l prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")


def public_key_line(line):
    """(type, blob) of a public key line (``ssh-ed25519 AAAA... comment``), or None."""
    words = (line or "").split()
    if len(words) < 2:
        return None
    try:
        blob = base64.b64decode(words[1].encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return None
    return words[0], blob


def private_key_public_blob(data):
    """The public key blob stored unencrypted in an ``openssh-key-v1`` private
    key (the client reads it without the passphrase), or None for other formats."""
    text = data.decode("ascii", "replace") if isinstance(data, bytes) else (data or "")
    begin, end = "-----BEGIN OPENSSH PRIVATE KEY-----", "-----END OPENSSH PRIVATE KEY-----"
    if begin not in text or end not in text:
        return None
    body = "".join(text.split(begin, 1)[1].split(end, 1)[0].split())
    try:
        raw = base64.b64decode(body)
    except (binascii.Error, ValueError):
        return None
    magic = b"openssh-key-v1\0"
    if not raw.startswith(magic):
        return None
    offset = len(magic)
    try:
        for _field in ("cipher", "kdf", "kdf options"):
            (length,) = struct.unpack(">I", raw[offset:offset + 4])
            offset += 4 + length
        (count,) = struct.unpack(">I", raw[offset:offset + 4])
        offset += 4
        if count < 1:
            return None
        (length,) = struct.unpack(">I", raw[offset:offset + 4])
        blob = raw[offset + 4:offset + 4 + length]
    except struct.error:
        return None
    return blob if len(blob) == length else None


def expand_path(path, home, user=None, host=None):
    """``~`` and the few tokens ``ssh -G`` leaves in IdentityFile (%d home, %u local user, %h, %%)."""
    if path.startswith("~/") or path == "~":
        path = home + path[1:]
    return (path.replace("%%", "\0").replace("%d", home).replace("%u", user or "")
            .replace("%h", host or "").replace("\0", "%"))


def read_identity(path):
    """(type or None, fingerprint or None) of an identity file as the client
    would offer it, or None when the client skips it (no such file)."""
    public = _read_text(path + ".pub")
    parsed = public_key_line(public.splitlines()[0]) if public and public.strip() else None
    if parsed:
        return parsed[0], fingerprint(parsed[1])
    data = _read_bytes(path)
    if data is None:
        return None
    blob = private_key_public_blob(data)
    if blob is None:
        # An older private key format: offered, but which key it is stays unknown without the passphrase.
        return None, None
    return _blob_type(blob), fingerprint(blob)


def _blob_type(blob):
    try:
        (length,) = struct.unpack(">I", blob[:4])
        return blob[4:4 + length].decode("ascii")
    except (struct.error, UnicodeDecodeError):
        return None


def _read_text(path):
    data = _read_bytes(path)
    return data.decode("utf-8", "replace") if data is not None else None


def _read_bytes(path):
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except (IOError, OSError):
        return None


def agent_socket(config, environ):
    """The agent the client asks (IdentityAgent, else SSH_AUTH_SOCK), or None for none."""
    value = (config.get("identityagent") or [""])[0]
    if value.lower() == "none":
        return None
    if not value or value == "SSH_AUTH_SOCK":
        return environ.get("SSH_AUTH_SOCK") or None
    if value.startswith("$"):
        return environ.get(value.lstrip("$").strip("{}")) or None
    return expand_path(value, environ.get("HOME", "/"))


def agent_keys(text):
    """``ssh-add -L`` output to [(type, fingerprint, comment)], in the agent's order."""
    keys = []
    for line in (text or "").splitlines():
        parsed = public_key_line(line)
        if parsed:
            keys.append((parsed[0], fingerprint(parsed[1]), " ".join(line.split()[2:])))
    return keys


def offered_keys(config, agent, read=read_identity, home="/"):
    """[{fingerprint, type, origin}] the client offers, in its order.

    ``config`` is ``parse_client_config`` output, ``agent`` is ``agent_keys``
    output ([] when no agent answers), ``read(path)`` is ``read_identity``.
    A key whose fingerprint is unknown (an old private key format) has
    fingerprint None: it still takes a try."""
    identities_only = (config.get("identitiesonly") or ["no"])[0].lower() == "yes"
    files = []
    paths = [expand_path(path, home) for path in config.get("identityfile", [])]
    for path in paths:
        found = read(path)
        if found is None:
            continue
        files.append({"type": found[0], "fingerprint": found[1], "origin": "identity file %s" % path})
        certificate = read(path + "-cert")
        if certificate is not None and certificate[1]:
            files.append({"type": certificate[0], "fingerprint": certificate[1],
                          "origin": "certificate %s-cert.pub" % path})
    for path in config.get("certificatefile", []):
        path = expand_path(path, home)
        found = read(path[:-4] if path.endswith(".pub") else path)
        if found is not None and found[1]:
            files.append({"type": found[0], "fingerprint": found[1], "origin": "certificate %s" % path})
    preferred, others = [], []
    for key_type, key_fingerprint, comment in agent:
        match = next((item for item in files if item["fingerprint"] == key_fingerprint), None)
        if match is not None:
            files.remove(match)
            preferred.append(match)
        elif not identities_only:
            others.append({"type": key_type, "fingerprint": key_fingerprint,
                           "origin": "ssh-agent" + (" (%s)" % comment if comment else "")})
    return preferred + others + files
