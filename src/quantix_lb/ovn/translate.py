"""Pure translation: a load balancer in, the OVN Northbound rows it needs out.

One Load_Balancer row per listener. OVN has no weights and no per-member admin
state, so both are expressed in the `vips` backend list:

- Only members that may take new connections are listed: admin ONLINE, weight
  above 0 and not found unhealthy (operating status ERROR).
- A backend repeated in a vips value gets one OpenFlow select bucket per
  repetition, so a member of weight w is listed w/g times (g = gcd of the
  listed weights). The list is capped at MAX_BACKEND_ENTRIES; beyond that each
  member gets round(w * cap / total) entries, at least one.
- ROUND_ROBIN is OVN's default selection: a hash over the packet (dp_hash), so
  connections spread evenly in aggregate rather than strictly in turn.
- With no member listed the VIP rejects (TCP RST / ICMP unreachable) instead of
  silently dropping.
"""

from __future__ import annotations

import functools
import ipaddress
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from quantix_lb import model
from quantix_lb.interning import Interned

OWNER_KEY = "quantix:owner"
OWNER = "quantix-lb"
LB_ID_KEY = "quantix:lb-id"
LISTENER_ID_KEY = "quantix:listener-id"
PROJECT_ID_KEY = "quantix:project-id"
NETWORK_ID_KEY = "quantix:network-id"
PROBE_NODE_KEY = "quantix:probe-node"  # on a Logical_Switch_Port: a health worker's probe port
SUBNET_ID_KEY = "quantix:subnet-id"  # on a Logical_Switch: the id of its other_config:subnet
# On a Logical_Switch: the project that owns the network (PROJECT_ID_KEY), and the
# projects an operator shares it with (comma-separated).
SHARED_WITH_KEY = "quantix:shared-with"
MAX_BACKEND_ENTRIES = 256

Pairs = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class LbRow:
    """The desired content of one OVN Load_Balancer row."""

    name: str
    protocol: str
    vips: Pairs
    selection_fields: tuple[str, ...]
    options: Pairs
    external_ids: Pairs

    @property
    def listener_id(self) -> str:
        return dict(self.external_ids)[LISTENER_ID_KEY]


def endpoint(address: str, port: int) -> str:
    """OVN's spelling of address:port; IPv6 addresses go in brackets."""
    if ":" in address:  # canonical IPv6 (addresses are validated and canonical)
        return f"[{address}]:{port}"
    return f"{address}:{port}"


def eligible(member: model.Member) -> bool:
    # admin_state ONLINE, read from its two flags (the property costs a call per member).
    return (
        member.admin_state_up
        and not member.drain
        and member.weight > 0
        and member.operating_status is not model.OperatingStatus.ERROR
    )


def repetitions(weights: list[int], cap: int = MAX_BACKEND_ENTRIES) -> list[int]:
    """How many times each member is listed so buckets follow the weights."""
    if not weights:
        return []
    if min(weights) == max(weights):
        return [1] * len(weights)  # equal weights (the common case): once each
    g = math.gcd(*weights)
    reps = [w // g for w in weights]
    total = sum(reps)
    if total <= cap:
        return reps
    return [max(1, round(w * cap / sum(weights))) for w in weights]


def backends(pool: model.Pool, steering: Mapping[str, int] | None = None) -> str:
    """The vips value: eligible members, each listed as often as its weight
    asks, or, for a LEAST_CONNECTIONS pool with live figures, as often as
    the steering controller asks (see stats/steering.py)."""
    members = [m for m in pool.members if eligible(m)]
    reps = repetitions([m.weight for m in members])
    if steering is not None and pool.algorithm is model.Algorithm.LEAST_CONNECTIONS:
        steered = [steering.get(m.id, 0) for m in members]
        if any(steered):  # never reject because of steering
            reps = steered
    if all(n == 1 for n in reps):  # the common case: each member once
        return ",".join([endpoint(m.address, m.port) for m in members])
    return ",".join(
        entry for m, n in zip(members, reps, strict=True) for entry in [endpoint(m.address, m.port)] * n
    )


_OWNER_PAIR = (OWNER_KEY, OWNER)
# One tuple for a (key, value) that thousands of rows hold (a project, a network).
_shared_pair: Interned[tuple[str, str], tuple[str, str]] = Interned(lambda pair: pair)


def selection_fields(algorithm: model.Algorithm) -> tuple[str, ...]:
    # The NB schema names only ip_src/ip_dst; OVN applies them to IPv6 VIPs too.
    if algorithm is model.Algorithm.SOURCE_IP:
        return ("ip_src",)
    if algorithm is model.Algorithm.SOURCE_IP_PORT:
        return ("ip_dst", "ip_src", "tp_dst", "tp_src")
    return ()  # ROUND_ROBIN, and LEAST_CONNECTIONS (steered by the backend list)


def listener_row(
    lb: model.LoadBalancer,
    listener: model.Listener,
    pool: model.Pool,
    steering: Mapping[str, int] | None = None,
    members: str | None = None,
) -> LbRow:
    """`members`: the pool's backends value when the caller has it already."""
    if members is None:
        members = backends(pool, steering)
    options: dict[str, str] = {}
    if not members:
        options["reject"] = "true"
    sp = pool.session_persistence
    if sp and sp.type is model.PersistenceType.SOURCE_IP:
        options["affinity_timeout"] = str(sp.timeout)
    # In key order (as OVSDB and `holds` read a map); the pairs many rows have alike are shared.
    external_ids = (
        (LB_ID_KEY, lb.id),
        (LISTENER_ID_KEY, listener.id),
        _shared_pair((NETWORK_ID_KEY, lb.network_id)),
        _OWNER_PAIR,
        _shared_pair((PROJECT_ID_KEY, lb.project_id)),
    )
    return LbRow(
        name=f"qlb-{listener.id}",
        protocol=listener.protocol.l4,
        vips=((endpoint(lb.vip_address, listener.port), members),),
        selection_fields=selection_fields(pool.algorithm),
        options=tuple(sorted(options.items())),
        external_ids=external_ids,
    )


def unstorable(lb: model.LoadBalancer) -> str:
    """Why OVSDB cannot take this load balancer's rows ('' when it can). Its JSON
    parser refuses null bytes, and ovsdb-server answers one by dropping the
    connection: a change carrying one would be retried forever and hold back
    every change committed with it. Validation refuses them today; stores
    written before may still hold them."""
    named = [("network_id", lb.network_id), ("project_id", lb.project_id), ("id", lb.id)]
    named += [("listener id", li.id) for li in lb.listeners]
    for name, value in named:
        if "\x00" in value:
            return f"OVN Northbound refuses null bytes in strings: {name} {value!r}"
    return ""


def desired_rows(
    lb: model.LoadBalancer, steering: Mapping[str, Mapping[str, int]] | None = None
) -> tuple[LbRow, ...]:
    """Nothing is wanted of a load balancer that is being deleted. `steering`:
    listener id -> member id -> entries, for LEAST_CONNECTIONS pools."""
    if lb.provisioning_status is model.ProvisioningStatus.PENDING_DELETE:
        return ()
    steering = steering or {}
    plain: dict[str, str] = {}  # pool id -> backends: a pool's listeners list the same members
    rows = []
    for li, pool in lb.served():
        steer = steering.get(li.id)
        if steer is None:
            members = plain.get(pool.id)
            if members is None:
                members = plain[pool.id] = backends(pool)
        else:
            members = backends(pool, steer)
        rows.append(listener_row(lb, li, pool, steer, members))
    return tuple(rows)


@dataclass(frozen=True)
class Network:
    """A tenant network as OVN knows it: its switch and the routers on it."""

    network_id: str
    switch: uuid.UUID  # Logical_Switch
    switch_name: str
    routers: tuple[uuid.UUID, ...] = ()  # Logical_Routers connected to the switch
    subnet: str | None = None
    subnet_id: str = ""  # the cloud's id of `subnet`, when the switch names it
    project_id: str = ""  # the owner, when the switch names one
    shared_with: frozenset[str] = frozenset()
    used_addresses: frozenset[str] = frozenset()
    owned: bool = False  # created by us (embedded mode)
    # Where a probe port's address comes from: `subnet`, else a router port's network.
    probe_subnet: str | None = None
    probe_ports: tuple[tuple[str, str], ...] = ()  # our probe ports on it: (name, "MAC IP")

    @functools.cached_property
    def datapaths(self) -> frozenset[uuid.UUID]:
        """Where the rows go: the switch, and every router so the VIP answers ARP
        and routed clients reach it."""
        return frozenset((self.switch, *self.routers))


def free_vip(network: Network, taken: Iterable[str]) -> str | None:
    """The lowest host address of the network's subnet that nothing uses."""
    if not network.subnet:
        return None
    subnet = ipaddress.ip_network(network.subnet, strict=False)
    used = set(network.used_addresses) | set(taken)
    for host in subnet.hosts():
        if str(host) not in used:
            return str(host)
    return None
