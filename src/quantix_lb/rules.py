"""The rules of every change, as pure functions on the domain model.

Each function takes a load balancer as clients see it and returns it changed, or
raises the ApiError the client gets (with the request's field paths). No
protobuf, no store, no I/O: `service.LoadBalancerCore` runs them inside its
store writes, and tests call them directly. The `check_*` functions judge a
request on its own; the core calls them before looking for the load balancer,
so a request's own mistakes are told first.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from msgspec.structs import replace

from quantix_lb import model
from quantix_lb.errors import ApiError, Code, Violation
from quantix_lb.model import Problems, field_path
from quantix_lb.ovn import translate
from quantix_lb.ovn.contract import Topology
from quantix_lb.ovn.translate import Network


@dataclass(frozen=True)
class Draft:
    """A new load balancer as a create request gives it. A listener's
    default_pool_id is still the client's reference (a pool id or name, or
    empty); `where` maps each part's id, and "network_id" / "vip_address", to
    the request path it came from; `aliases` maps pool ids as the client
    wrote them to the ids the pools got."""

    name: str
    description: str
    project_id: str
    labels: tuple[tuple[str, str], ...]
    network_id: str
    subnet_id: str
    vip_address: str
    listeners: tuple[model.Listener, ...]
    pools: tuple[model.Pool, ...]
    where: Mapping[str, str] = field(default_factory=dict)
    aliases: Mapping[str, str] = field(default_factory=dict)
    # What converting the request already refused (unknown enums, what only an L7
    # proxy could do): reported together with every other bad field.
    problems: tuple[Violation, ...] = ()


@dataclass(frozen=True)
class PoolChange:
    """UpdatePool: None leaves a field as it is."""

    name: str | None = None
    algorithm: model.Algorithm | None = None
    health_monitor: model.HealthMonitor | None = None
    remove_health_monitor: bool = False
    persistence: model.SessionPersistence | None = None


@dataclass(frozen=True)
class MemberChange:
    """UpdatePoolMember: None leaves a field as it is."""

    name: str | None = None
    weight: int | None = None
    admin_state_up: bool | None = None
    drain: bool | None = None


@dataclass(frozen=True)
class NewLoadBalancer:
    """A checked new load balancer. With `allocate` its VIP is a stand-in of the
    subnet's family: the store write picks a free address (`allocate_vip`)."""

    load_balancer: model.LoadBalancer
    network: Network | None = None  # as OVN knows it (None: created on first use)
    allocate: bool = False
    vip_path: str = "spec.vip_address"
    network_path: str = "spec.network_id"

    @property
    def vip_from(self) -> Network | None:
        """The network whose subnet the VIP comes from, when it is allocated."""
        return self.network if self.allocate else None


# --- the load balancer ---------------------------------------------------------------


def network_not_found(path: str, network_id: str) -> ApiError:
    """The same answer for a network that does not exist and for another project's:
    a tenant learns nothing of what other projects hold."""
    return ApiError(
        Code.NOT_FOUND,
        f"{path}: network {network_id!r} not found (an OVN Logical_Switch of that name or"
        " external_ids:quantix:network-id, that this project owns or is shared)",
    )


def may_use_network(project_id: str, owner: str, shared_with: frozenset[str] = frozenset()) -> bool:
    """A network belongs to one project; an operator may share it with others."""
    return not owner or project_id == owner or project_id in shared_with


def find_network(
    topology: Topology, network_id: str, path: str, project_id: str, *, create_networks: bool
) -> Network | None:
    """The network as OVN knows it. With an external Northbound an unknown
    network is refused; the embedded one creates it on first use (None).
    A network the Northbound gives another project is not found."""
    network = topology.networks.get(network_id)
    if network is None and network_id and not create_networks:
        if not topology.synced:
            raise ApiError(Code.UNAVAILABLE, "OVN Northbound is not reachable yet; retry shortly")
        raise network_not_found(path, network_id)
    if network is not None and not may_use_network(project_id, network.project_id, network.shared_with):
        raise network_not_found(path, network_id)
    return network


def new_load_balancer(
    draft: Draft,
    project_id: str,
    topology: Topology,
    now: float,
    *,
    create_networks: bool,
    local_ok: bool = False,
) -> NewLoadBalancer:
    """The load balancer a create request makes in `project_id`, every bad field told at once."""
    where = draft.where
    p = Problems(list(draft.problems))
    unknown: ApiError | None = None
    try:
        network = find_network(
            topology,
            draft.network_id,
            where.get("network_id", "spec.network_id"),
            project_id,
            create_networks=create_networks,
        )
    except ApiError as exc:  # told after the request's own mistakes
        network, unknown = None, exc
        if not draft.vip_address:  # no VIP to check without the network's subnet
            p.raise_if_any()
            raise
    subnet_id = draft.subnet_id
    if network is not None and network.subnet_id:
        # The Northbound names this network's subnet: the request must agree.
        if subnet_id and subnet_id != network.subnet_id:
            p.add("spec.subnet_id", f"network {draft.network_id!r} has subnet {network.subnet_id!r}")
        subnet_id = network.subnet_id
    allocate = not draft.vip_address and network is not None and bool(network.subnet)
    vip_path = where.get("vip_address", "spec.vip_address")
    # Checked only against a subnet the Northbound names.
    subnet = network.subnet if network is not None and network.subnet_id else None
    if draft.vip_address and subnet and not _in_subnet(draft.vip_address, subnet):
        p.add(vip_path, f"is not in subnet {subnet_id!r} ({subnet})")
    in_use = network is not None and draft.vip_address in network.used_addresses
    unresolved = len(p.violations)
    listeners = tuple(
        replace(
            li,
            default_pool_id=resolve_pool(
                p, draft.pools, li.default_pool_id, field_path(where[li.id], "default_pool_id"), draft.aliases
            ),
        )
        for li in draft.listeners
    )
    lb = model.LoadBalancer(
        id=model.new_id("lb"),
        project_id=project_id,
        network_id=draft.network_id,
        subnet_id=subnet_id,
        # A stand-in of the subnet's family until the write picks a free address.
        vip_address=_first_host(network) if allocate and network else draft.vip_address,
        name=draft.name,
        description=draft.description,
        labels=draft.labels,
        listeners=listeners,
        pools=draft.pools,
        created_at=now,
        updated_at=now,
    )
    if len(p.violations) > unresolved:  # a pool unresolved: the structure checks would repeat it
        p.raise_if_any()
    model.check_load_balancer(p, lb, where, local_ok=local_ok)
    p.raise_if_any()
    if unknown is not None:
        raise unknown
    if in_use:
        raise ApiError(
            Code.ALREADY_EXISTS,
            f"{vip_path}: {draft.vip_address} is the address of a port on network {draft.network_id!r}",
        )
    network_path = where.get("network_id", "spec.network_id")
    return NewLoadBalancer(lb, network, allocate, vip_path, network_path)


def network_owner(new: NewLoadBalancer, recorded: str | None) -> str:
    """The project that owns the new load balancer's network, given the owner the
    store recorded: the Northbound's word (external_ids:quantix:project-id) first,
    then the first project that used it (this one, if none has). Another project's
    network is not found."""
    lb, network = new.load_balancer, new.network
    named = network.project_id if network is not None else ""
    shared = network.shared_with if network is not None else frozenset()
    owner = named or recorded or lb.project_id
    if not may_use_network(lb.project_id, owner, shared):
        raise network_not_found(new.network_path, lb.network_id)
    return owner


def allocate_vip(new: NewLoadBalancer, taken: Iterable[str]) -> model.LoadBalancer:
    """The new load balancer on the lowest free address of its subnet (`taken`: the
    network's VIPs in the store)."""
    lb, network = new.load_balancer, new.vip_from
    if network is None:
        return lb
    vip = translate.free_vip(network, taken)
    if vip is None:
        raise ApiError(
            Code.RESOURCE_EXHAUSTED,
            f"{new.vip_path}: no free address left in {network.subnet} of network {lb.network_id!r}",
        )
    return replace(lb, vip_address=vip)


def check_update(
    name: str | None, description: str | None, labels: tuple[tuple[str, str], ...] | None
) -> None:
    p = Problems()
    model.check_name(p, "name", name or "")
    model.check_name(p, "description", description or "", model.MAX_DESCRIPTION, text=True)
    model.check_labels(p, "labels", labels or ())
    p.raise_if_any()


def update_load_balancer(
    lb: model.LoadBalancer,
    *,
    name: str | None = None,
    description: str | None = None,
    labels: tuple[tuple[str, str], ...] | None = None,
) -> model.LoadBalancer:
    """UpdateLoadBalancer: None leaves a field as it is."""
    check_update(name, description, labels)
    return replace(
        lb,
        name=lb.name if name is None else name,
        description=lb.description if description is None else description,
        labels=lb.labels if labels is None else labels,
    )


# --- listeners -----------------------------------------------------------------------


def resolve_pool(
    p: Problems, pools: Iterable[model.Pool], ref: str, path: str, aliases: Mapping[str, str] | None = None
) -> str:
    """The id of the pool a listener names: by id (or the id the client gave it
    in the same request), else by name; without a reference, the only pool."""
    pools = list(pools)
    if not ref:
        if len(pools) == 1:
            return pools[0].id
        p.add(
            path,
            "is required: the load balancer has no pool to serve the listener"
            if not pools
            else f"is required: the load balancer has {len(pools)} pools",
        )
        return ""
    target = (aliases or {}).get(ref, ref)
    found = [pool for pool in pools if pool.id == target] or [pool for pool in pools if pool.name == ref]
    if len(found) == 1:
        return found[0].id
    if found:
        p.add(path, f"{ref!r} names {len(found)} pools; use a pool id")
    else:
        p.add(path, f"no pool with id or name {ref!r} in this load balancer")
    return ""


def add_listener(
    lb: model.LoadBalancer,
    listener: model.Listener,
    inline: model.Pool | None = None,
    *,
    local_ok: bool = False,
) -> model.LoadBalancer:
    """AddListener, with the pool given inline (`inline`) or named by default_pool_id."""
    where = {listener.id: "listener", "listeners": "listener", "pools": "listener.default_pool"}
    if inline is not None:
        where[inline.id] = "listener.default_pool"
    p = Problems()
    model.check_listener(p, "listener", listener)
    pools = lb.pools
    if inline is not None:
        model.check_pool(p, "listener.default_pool", inline, model.vip_version(lb), local_ok=local_ok)
        pools = (*pools, inline)
    pool_id = resolve_pool(p, pools, listener.default_pool_id, "listener.default_pool_id")
    p.raise_if_any()
    new = replace(lb, listeners=(*lb.listeners, replace(listener, default_pool_id=pool_id)), pools=pools)
    model.check_structure(p, new, where)
    p.raise_if_any()
    return new


def update_listener(
    lb: model.LoadBalancer,
    listener_id: str,
    *,
    name: str | None = None,
    port: int | None = None,
    default_pool_id: str | None = None,
) -> model.LoadBalancer:
    """UpdateListener: None leaves a field as it is; a listener keeps its protocol."""
    old = lb.listener(listener_id)
    p = Problems()
    pool_id = old.default_pool_id
    if default_pool_id is not None:
        pool_id = resolve_pool(p, lb.pools, default_pool_id, "default_pool_id")
    listener = replace(
        old,
        name=old.name if name is None else name,
        port=old.port if port is None else port,
        default_pool_id=pool_id,
    )
    model.check_name(p, "name", listener.name)
    model.check_port(p, "port", listener.port)
    p.raise_if_any()
    new = model.replace_listener(lb, listener)
    # A listener keeps its protocol: a clash comes from the pool it now names.
    model.check_structure(p, new, {listener.id: ""}, pool_field="default_pool_id")
    p.raise_if_any()
    return new


def remove_listener(lb: model.LoadBalancer, listener_id: str) -> model.LoadBalancer:
    lb.listener(listener_id)
    return replace(lb, listeners=tuple(li for li in lb.listeners if li.id != listener_id))


# --- pools ---------------------------------------------------------------------------


def add_pool(lb: model.LoadBalancer, pool: model.Pool, *, local_ok: bool = False) -> model.LoadBalancer:
    p = Problems()
    model.check_pool(p, "pool", pool, model.vip_version(lb), local_ok=local_ok)
    new = replace(lb, pools=(*lb.pools, pool))
    model.check_structure(p, new, {pool.id: "pool", "pools": "pool"})
    p.raise_if_any()
    return new


def check_pool_change(change: PoolChange) -> None:
    p = Problems()
    model.check_name(p, "name", change.name or "")
    if change.health_monitor:
        model.check_monitor(p, "health_monitor", change.health_monitor)
    if change.persistence:
        model.check_persistence(p, "persistence", change.persistence)
    p.raise_if_any()


def update_pool(lb: model.LoadBalancer, pool_id: str, change: PoolChange) -> model.LoadBalancer:
    check_pool_change(change)
    pool = lb.pool(pool_id)
    monitor = None if change.remove_health_monitor else change.health_monitor or pool.health_monitor
    return model.replace_pool(
        lb,
        replace(
            pool,
            name=pool.name if change.name is None else change.name,
            algorithm=change.algorithm or pool.algorithm,
            health_monitor=monitor,
            session_persistence=change.persistence or pool.session_persistence,
        ),
    )


def remove_pool(lb: model.LoadBalancer, pool_id: str) -> model.LoadBalancer:
    """RemovePool: a pool serving a listener stays (FAILED_PRECONDITION)."""
    lb.pool(pool_id)
    users = lb.listeners_of(pool_id)
    if users:
        names = ", ".join(li.name or li.id for li in users)
        raise ApiError(
            Code.FAILED_PRECONDITION,
            f"pool {pool_id!r} serves listener {names}: point it at another pool or remove it first",
        )
    return replace(lb, pools=tuple(pool for pool in lb.pools if pool.id != pool_id))


# --- members -------------------------------------------------------------------------


def add_member(
    lb: model.LoadBalancer, pool_id: str, member: model.Member, *, local_ok: bool = False
) -> model.LoadBalancer:
    pool = lb.pool(pool_id)
    p = Problems()
    model.check_member(p, "member", member, model.vip_version(lb), local_ok=local_ok)
    if len(pool.members) >= model.MAX_MEMBERS:
        p.add("member", f"at most {model.MAX_MEMBERS} members per pool")
    p.raise_if_any()
    for m in pool.members:
        if (m.address, m.port) == (member.address, member.port):
            raise ApiError(
                Code.ALREADY_EXISTS,
                f"member: {m.address} port {m.port} is already member {m.id} of pool {pool.id}",
            )
    return model.replace_pool(lb, replace(pool, members=(*pool.members, member)))


def check_member_change(change: MemberChange) -> None:
    p = Problems()
    if change.weight is not None and not 0 <= change.weight <= model.MAX_WEIGHT:
        p.add("weight", f"must be from 0 to {model.MAX_WEIGHT}")
    model.check_name(p, "name", change.name or "")
    p.raise_if_any()


def update_member(
    lb: model.LoadBalancer, pool_id: str, member_id: str, change: MemberChange
) -> model.LoadBalancer:
    check_member_change(change)
    pool = lb.pool(pool_id)
    old = pool.member(member_id)
    member = replace(
        old,
        name=old.name if change.name is None else change.name,
        weight=old.weight if change.weight is None else change.weight,
        admin_state_up=old.admin_state_up if change.admin_state_up is None else change.admin_state_up,
        drain=old.drain if change.drain is None else change.drain,
    )
    return model.replace_pool(lb, model.replace_member(pool, member))


def remove_member(lb: model.LoadBalancer, pool_id: str, member_id: str) -> model.LoadBalancer:
    pool = lb.pool(pool_id)
    pool.member(member_id)
    return model.replace_pool(lb, replace(pool, members=tuple(m for m in pool.members if m.id != member_id)))


def _in_subnet(address: str, subnet: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(subnet, strict=False)
    except ValueError:
        return True  # a bad address is reported by validation, with its path


def _first_host(network: Network) -> str:
    return str(next(ipaddress.ip_network(network.subnet or "", strict=False).hosts()))
