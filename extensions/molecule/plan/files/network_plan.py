# Copyright: (c) 2026, portcullis.ports contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where the plan scenario's containers go: one per inventory host, and an
outsider, on one Docker network.

Reads JSON on stdin:
  hosts               the inventory's host names, in inventory order
  portcullis_address  {host: its portcullis_address, or null}
  ansible_host        {host: its ansible_host, or null}
  subnet    the scenario's own /24 (PORTCULLIS_PLAN_SUBNET) for the mapped case
  networks  [{"name", "subnets": [CIDR, ...]}, ...] the Docker networks that exist
  routes    this machine's IPv4 routes, as `ip -j -4 route show table all` gives them
  network   the name of the scenario's network
  prefix    the prefix of the containers' names
and writes the plan as JSON on stdout:
  mode      "inventory" when every host's address (portcullis_address, or an
            IP ansible_host) is an IPv4 address of one /24 that is none of
            this machine's own networks: the containers get those addresses,
            the network is that /24. "mapped" otherwise: the containers get
            addresses of the scenario's subnet, in inventory order from .10,
            and the inventory sees them as portcullis_address.
  why       why the addresses are mapped (empty for "inventory")
  subnet, gateway
  hosts     {name: {"container", "address"}}
  outsider  {"container", "address"}: on the same network, in no inventory
A network that would overlap another Docker network is an error naming it
(exit 1): nothing of another's is removed. One this machine routes to (its
LAN, a VPN; not Docker's bridges) is never used: the inventory's addresses
are then mapped, and the scenario's subnet overlapping one is an error.
"""

from __future__ import absolute_import, division, print_function

import ipaddress
import json
import re
import sys

# Docker: [a-zA-Z0-9][a-zA-Z0-9_.-]*
UNSAFE = re.compile(r"[^a-zA-Z0-9_.-]")


def container_name(prefix, host):
    return prefix + UNSAFE.sub("-", host)


def inventory_address(host):
    """The host's one IPv4 address as the inventory gives it, or (None, why)."""
    value = host.get("portcullis_address")
    source = "portcullis_address"
    if value in (None, "", []):
        value, source = host.get("ansible_host"), "ansible_host"
    if isinstance(value, list):
        if len(value) != 1:
            return None, "%s has %s %s (not one address)" % (host["name"], source, value)
        value = value[0]
    if value in (None, ""):
        return None, "%s has no ansible_host" % host["name"]
    try:
        network = ipaddress.ip_network(str(value), strict=True)
    except ValueError:
        return None, "%s has %s %s (not an IP address)" % (host["name"], source, value)
    if network.version != 4 or network.num_addresses != 1:
        return None, "%s has %s %s (not one IPv4 address)" % (host["name"], source, value)
    return network.network_address, None


def keep_inventory_addresses(hosts):
    """(network, {name: address}) when the inventory's addresses fit one /24, else (None, why)."""
    addresses = {}
    for host in hosts:
        address, why = inventory_address(host)
        if address is None:
            return None, why
        addresses[host["name"]] = address
    networks = set(ipaddress.ip_network("%s/24" % address, strict=False) for address in addresses.values())
    if len(networks) != 1:
        return None, "the addresses are in %d /24 networks (%s)" % (
            len(networks), ", ".join(sorted(str(network) for network in networks)))
    network = networks.pop()
    seen = {}
    for name, address in addresses.items():
        if address in (network.network_address, network.broadcast_address):
            return None, "%s has %s, the network's own address" % (name, address)
        if address in seen:
            return None, "%s and %s both have %s" % (seen[address], name, address)
        seen[address] = name
    return network, addresses


# Interfaces whose routes are Docker's networks (checked by name, with their subnets) or the loopback.
NOT_THE_MACHINES = re.compile(r"^(lo|docker[0-9]*|br-[0-9a-f]+|veth.*)$")


def own_networks(routes):
    """(network, what) for each network this machine routes to outside Docker, and each gateway."""
    found = []
    for route in routes:
        if NOT_THE_MACHINES.match(route.get("dev", "")):
            continue
        for value in (route.get("dst"), route.get("gateway"), route.get("prefsrc")):
            if not value or value == "default":
                continue
            try:
                network = ipaddress.ip_network(value, strict=False)
            except ValueError:
                continue
            if network.version == 4 and not network.is_multicast:
                found.append((network, "%s on %s" % (value, route.get("dev", "?"))))
    return found


def overlapping(network, owned):
    for other, what in owned:
        if other.overlaps(network):
            return what
    return None


def plan(data):
    hosts = [{"name": name, "portcullis_address": data.get("portcullis_address", {}).get(name),
              "ansible_host": data.get("ansible_host", {}).get(name)} for name in data["hosts"]]
    if not hosts:
        raise ValueError("the inventory has no hosts")
    owned = own_networks(data.get("routes", []))
    network, addresses = keep_inventory_addresses(hosts)
    why = ""
    if network is not None:
        clash = overlapping(network, owned)
        if clash:
            network, addresses = None, "their network %s is this machine's own (%s)" % (network, clash)
    if network is None:
        why = addresses
        network = ipaddress.ip_network(data["subnet"], strict=True)
        free = list(network.hosts())[9:]  # .10 onwards; .1 is the gateway
        if len(free) < len(hosts) + 1:
            raise ValueError("the subnet %s has room for %d hosts, the inventory has %d"
                             % (network, len(free) - 1, len(hosts)))
        addresses = dict((host["name"], free[index]) for index, host in enumerate(hosts))
        clash = overlapping(network, owned)
        if clash:
            raise ValueError("the subnet %s for the containers is this machine's own (%s): "
                             "set PORTCULLIS_PLAN_SUBNET to a free /24"
                             % (network, clash))
    taken = set(addresses.values())
    free = [address for address in network.hosts() if address not in taken]
    if len(free) < 2:
        raise ValueError("%s has no room left for the gateway and the outsider" % network)
    # The gateway (the controller's address on the network) is .1 when no host has it; the outsider the highest free.
    gateway, outsider = free[0], free[-1]
    for other in data.get("networks", []):
        if other["name"] == data["network"]:
            continue
        for subnet in other.get("subnets", []):
            try:
                theirs = ipaddress.ip_network(subnet, strict=False)
            except ValueError:
                continue
            if theirs.version == 4 and theirs.overlaps(network):
                raise ValueError(
                    "the Docker network %s (%s) overlaps %s, the network the plan scenario needs for %s: "
                    "remove that network or stop what uses it (the scenario removes nothing of others)%s"
                    % (other["name"], theirs, network,
                       "the inventory's addresses" if not why else "its containers",
                       "" if not why else ", or set PORTCULLIS_PLAN_SUBNET to a free /24"))
    prefix = data["prefix"]
    names = {prefix + "outsider": "the outsider"}
    for host in hosts:
        name = container_name(prefix, host["name"])
        if name in names:
            raise ValueError("hosts %s and %s would both be the container %s" % (names[name], host["name"], name))
        names[name] = host["name"]
    return {
        "mode": "mapped" if why else "inventory",
        "why": why,
        "network": data["network"],
        "subnet": str(network),
        "gateway": str(gateway),
        "hosts": dict((host["name"], {"container": container_name(prefix, host["name"]),
                                      "address": str(addresses[host["name"]])}) for host in hosts),
        "outsider": {"container": prefix + "outsider", "address": str(outsider)},
    }


def main():
    try:
        result = plan(json.load(sys.stdin))
    except (ValueError, KeyError) as error:
        sys.stderr.write("%s\n" % error)
        return 1
    json.dump(result, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
