"""Where each health worker probes a network from: a probe port per (node, network).

Pure planning for the control plane (the coordinator asks, the realizer writes).
A port's name and MAC follow from the node and the network, so a restarted
control plane or worker finds the same port again; its address is kept once
given (from the NB after a restart), else the highest free address of the
network's subnet (VIPs are allocated from the bottom).
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from quantix_lb.ovn.contract import ProbePortRow
from quantix_lb.ovn.translate import Network

PORT_PREFIX = "qlb-probe-"
# How far down from the top of a subnet to look for a free address.
SEARCH = 4096


@dataclass(frozen=True)
class ProbePort:
    """One worker's port on one network, or why it cannot have one (`error`)."""

    network_id: str
    name: str
    mac: str = ""
    ip_cidr: str = ""  # address/prefix length
    error: str = ""

    def row(self, node_id: str) -> ProbePortRow:
        return ProbePortRow(self.name, self.network_id, node_id, self.mac, self.ip_cidr.split("/")[0])


def port_name(node_id: str, network_id: str) -> str:
    digest = hashlib.blake2b(f"{node_id}\0{network_id}".encode(), digest_size=6).hexdigest()
    return PORT_PREFIX + digest


def port_mac(name: str) -> str:
    """Locally administered and unicast (0a:...), from the port's name."""
    digest = hashlib.blake2b(name.encode(), digest_size=5).digest()
    return "0a:" + ":".join(f"{b:02x}" for b in digest)


def plan(
    wanted: Iterable[tuple[str, str]],
    networks: Mapping[str, Network],
    vips: Mapping[str, Iterable[str]],
    previous: Mapping[str, ProbePort],
) -> dict[tuple[str, str], ProbePort]:
    """A port for each wanted (node, network). `vips`: addresses of load balancers
    by network; `previous`: the last plan's ports by name (kept while they fit)."""
    out: dict[tuple[str, str], ProbePort] = {}
    chosen: dict[str, set[str]] = {}  # network -> addresses given in this plan
    for node_id, network_id in sorted(set(wanted)):
        name = port_name(node_id, network_id)
        network = networks.get(network_id)
        if network is None:
            out[node_id, network_id] = ProbePort(
                network_id, name, error=f"network {network_id!r} is not known to OVN Northbound"
            )
            continue
        if not network.probe_subnet:
            error = (
                f"network {network_id!r} has no subnet in OVN Northbound (other_config:subnet, or a"
                " router port) to give a probe port an address"
            )
            out[node_id, network_id] = ProbePort(network_id, name, error=error)
            continue
        subnet = ipaddress.ip_network(network.probe_subnet, strict=False)
        taken = chosen.setdefault(network_id, set())
        ip = _kept(name, subnet, network, previous, taken)
        if ip is None:
            used = set(network.used_addresses) | set(vips.get(network_id, ())) | taken
            ip = _highest_free(subnet, used)
        if ip is None:
            error = f"no free address left in {subnet} of network {network_id!r} for a probe port"
            out[node_id, network_id] = ProbePort(network_id, name, error=error)
            continue
        taken.add(ip)
        out[node_id, network_id] = ProbePort(network_id, name, port_mac(name), f"{ip}/{subnet.prefixlen}")
    return out


def _kept(
    name: str,
    subnet: ipaddress.IPv4Network | ipaddress.IPv6Network,
    network: Network,
    previous: Mapping[str, ProbePort],
    taken: set[str],
) -> str | None:
    """The port's address from the last plan, else from the NB, while it is in the subnet."""
    candidates = []
    if name in previous and previous[name].ip_cidr:
        candidates.append(previous[name].ip_cidr.split("/")[0])
    candidates += [addresses.split()[-1] for port, addresses in network.probe_ports if port == name]
    for ip in candidates:
        try:
            if ipaddress.ip_address(ip) in subnet and ip not in taken:
                return ip
        except ValueError:
            continue
    return None


def _highest_free(subnet: ipaddress.IPv4Network | ipaddress.IPv6Network, used: set[str]) -> str | None:
    last = min(subnet.num_addresses - 1, SEARCH)
    for i in range(2, last + 1):  # -1 is the broadcast address (IPv4), the network's own is 0
        ip = str(subnet[-i])
        if ip not in used:
            return ip
    return None
