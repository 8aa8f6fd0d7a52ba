"""The networks OVN Northbound knows, read from the replica's switches and routers."""

from __future__ import annotations

import ipaddress
import uuid
from dataclasses import replace

from ovs.db import idl as ovs_idl

from quantix_lb.ovn.translate import (
    NETWORK_ID_KEY,
    OWNER,
    OWNER_KEY,
    PROBE_NODE_KEY,
    PROJECT_ID_KEY,
    SHARED_WITH_KEY,
    SUBNET_ID_KEY,
    Network,
)

# The tables a topology is built from; a change to them (other than to the
# load_balancer column) means the topology is read again.
TABLES = frozenset({"Logical_Switch", "Logical_Switch_Port", "Logical_Router", "Logical_Router_Port"})


def build_topology(idl: ovs_idl.Idl) -> dict[str, Network]:
    """Networks by id: a switch is found by its name and by quantix:network-id."""
    router_of_port: dict[str, uuid.UUID] = {}
    cidrs_of_port: dict[str, list[str]] = {}
    used: set[str] = set()
    for lr in idl.tables["Logical_Router"].rows.values():
        for lrp in lr.ports:
            router_of_port[lrp.name] = lr.uuid
            cidrs_of_port[lrp.name] = list(lrp.networks)
            used.update(n.split("/")[0] for n in lrp.networks)
    networks: dict[str, Network] = {}
    by_extid: dict[str, Network] = {}
    for ls in idl.tables["Logical_Switch"].rows.values():
        routers, addresses = set(), set(used)
        router_cidrs: list[str] = []
        probes: list[tuple[str, str]] = []
        for lsp in ls.ports:
            if lsp.type == "router":
                peer = lsp.options.get("router-port", "")
                router = router_of_port.get(peer)
                if router is not None:
                    routers.add(router)
                    router_cidrs += cidrs_of_port.get(peer, [])
            for entry in lsp.addresses:
                addresses.update(part for part in entry.split()[1:] if part != "dynamic")
            if PROBE_NODE_KEY in lsp.external_ids and lsp.addresses:
                probes.append((lsp.name, lsp.addresses[0]))
        network = Network(
            network_id=ls.name,
            switch=ls.uuid,
            switch_name=ls.name,
            routers=tuple(sorted(routers)),
            subnet=ls.other_config.get("subnet"),
            subnet_id=ls.external_ids.get(SUBNET_ID_KEY, ""),
            project_id=ls.external_ids.get(PROJECT_ID_KEY, ""),
            shared_with=frozenset(p for p in ls.external_ids.get(SHARED_WITH_KEY, "").split(",") if p),
            used_addresses=frozenset(addresses),
            owned=ls.external_ids.get(OWNER_KEY) == OWNER,
            probe_subnet=ls.other_config.get("subnet") or _network_of(router_cidrs),
            probe_ports=tuple(sorted(probes)),
        )
        if ls.name:
            networks[ls.name] = network
        net_id = ls.external_ids.get(NETWORK_ID_KEY, "")
        if net_id:
            by_extid[net_id] = replace(network, network_id=net_id)
    for net_id, network in by_extid.items():
        networks.setdefault(net_id, network)
    return networks


def _network_of(cidrs: list[str]) -> str | None:
    """The subnet a router port on the switch serves ("10.0.0.1/24" -> "10.0.0.0/24")."""
    for cidr in sorted(cidrs):
        try:
            return str(ipaddress.ip_interface(cidr).network)
        except ValueError:
            continue
    return None
