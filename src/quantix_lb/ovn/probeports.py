"""Health workers' probe ports: the desired Logical_Switch_Ports against the NB's.

There are few (one per network and worker node), so every comparison looks at
all of them; it runs when the desired set or the topology changes. Only ports
carrying our probe marker (translate.PROBE_NODE_KEY) are ever touched.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ovs.db import idl as ovs_idl

from quantix_lb.ovn import commands as cmd
from quantix_lb.ovn.contract import ProbePortRow
from quantix_lb.ovn.translate import PROBE_NODE_KEY, Network


def probe_port_commands(
    idl: ovs_idl.Idl, desired: Mapping[str, ProbePortRow], networks: Mapping[str, Network]
) -> list[cmd.Command]:
    """What makes the NB's probe ports exactly `desired` (by port name)."""
    have: dict[str, tuple[ovs_idl.Row, ovs_idl.Row]] = {}
    commands: list[cmd.Command] = []
    for ls in idl.tables["Logical_Switch"].rows.values():
        for lsp in ls.ports:
            if PROBE_NODE_KEY not in lsp.external_ids:
                continue
            want = desired.get(lsp.name)
            network = networks.get(want.network_id) if want else None
            if network is None or network.switch != ls.uuid or lsp.name in have:
                commands.append(cmd.DeleteProbePort(ls.uuid, lsp.uuid))
            else:
                have[lsp.name] = (ls, lsp)
    for name, want in desired.items():
        network = networks.get(want.network_id)
        if network is None:
            continue  # the control plane tells the worker why; nothing to write
        found = have.get(name)
        if found is None:
            commands.append(
                cmd.CreateProbePort(network.switch, name, want.node_id, want.network_id, want.addresses)
            )
        elif list(found[1].addresses) != [want.addresses] or list(found[1].port_security) != [want.addresses]:
            commands.append(cmd.SetProbePortAddresses(found[1].uuid, want.addresses))
    return commands


def by_name(ports: Iterable[ProbePortRow]) -> dict[str, ProbePortRow]:
    return {p.name: p for p in ports}
