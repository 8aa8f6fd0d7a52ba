"""The rules: one core behind every transport, in domain types only.

Each public method is one RPC of LoadBalancerService (`convert.LoadBalancerApi`
turns messages into the arguments and the answers into messages), taking the
calling Principal last. Every check that depends on stored state runs inside
the store's write function, so a failed rule writes nothing and two
concurrent changes to one load balancer never race.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import enum
import hashlib
import ipaddress
import json
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from quantix_lb import model
from quantix_lb.auth import Principal
from quantix_lb.errors import ApiError, Code, Violation
from quantix_lb.model import Problems, field_path
from quantix_lb.ovn import translate
from quantix_lb.ovn.contract import Realized, Topology
from quantix_lb.ovn.translate import Network
from quantix_lb.stats.aggregate import FrontendKey, LoadBalancerFigures, StatsAggregator
from quantix_lb.store import Change, ChangeKind, Store, Tx
from quantix_lb.watch import StatsChange, WatchHub

DEFAULT_PAGE_SIZE = 50
REALIZE_WAIT = 2.0  # seconds a mutating RPC waits for OVN before answering
MAX_PAGE_SIZE = 1000


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


class EventKind(enum.Enum):
    EXISTING = "EXISTING"
    SNAPSHOT_COMPLETE = "SNAPSHOT_COMPLETE"
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"
    STATS = "STATS"


@dataclass(frozen=True)
class Event:
    kind: EventKind
    load_balancer: model.LoadBalancer | None = None
    figures: LoadBalancerFigures | None = None  # STATS


@dataclass(frozen=True)
class Page:
    load_balancers: list[model.LoadBalancer]
    next_page_token: str
    total_count: int


_EVENT = {
    ChangeKind.CREATED: EventKind.CREATED,
    ChangeKind.UPDATED: EventKind.UPDATED,
    ChangeKind.DELETED: EventKind.DELETED,
}


def _claim_frontends(tx: Tx, lb: model.LoadBalancer, path_of: Callable[[str], str]) -> None:
    """A VIP:protocol:port is unique within a network (OVN could not tell two apart)."""
    for fe in model.frontends(lb):
        owner = tx.frontend_owner(fe)
        if owner and owner[0] != lb.id:
            raise ApiError(
                Code.ALREADY_EXISTS,
                f"{path_of(fe.listener_id)}: {fe.vip_address} port {fe.port}/{fe.l4_protocol}"
                f" is already in use on network {fe.network_id!r}",
            )


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


class Realizer(Protocol):
    """What the core needs of the OVN side (ovn.nb.NbRealizer)."""

    create_networks: bool
    topology: Topology


class LoadBalancerCore:
    def __init__(
        self,
        store: Store,
        hub: WatchHub,
        realizer: Realizer,
        *,
        realize_wait: float = REALIZE_WAIT,
        clock: Callable[[], float] = time.time,
        stats: StatsAggregator | None = None,
    ) -> None:
        self._store = store
        self._stats = stats
        self._stats_touched: set[str] = set()  # load balancers with fresh figures, not yet published
        self._stats_published: dict[str, LoadBalancerFigures] = {}
        self._stats_nodes = 0  # workers with fresh figures at the last publish
        self._hub = hub
        self._realizer = realizer
        self._realize_wait = realize_wait
        self._clock = clock
        self._waiters: dict[str, list[tuple[int, asyncio.Future[None]]]] = {}
        self._realized: dict[str, tuple[int, str]] = {}  # lb id -> (revision OVN holds, error)
        self._tasks: set[asyncio.Future[None]] = set()

    # --- reads ------------------------------------------------------------------

    def _visible(self, lb_id: str, who: Principal) -> model.LoadBalancer:
        lb = self._store.get(lb_id)
        # Another project's load balancer is indistinguishable from a missing one.
        if lb is None or not who.may_see(lb.project_id):
            raise ApiError.not_found("load balancer", lb_id)
        return lb

    def get(self, lb_id: str, who: Principal) -> model.LoadBalancer:
        return self._view(self._visible(lb_id, who))

    def stats(self, lb_id: str, who: Principal) -> tuple[model.LoadBalancer, LoadBalancerFigures | None]:
        lb = self.get(lb_id, who)
        return lb, self._stats.figures(lb) if self._stats else None

    def _project_filter(self, requested: str, who: Principal) -> str:
        """The project a listing covers: any for an admin, the token's own otherwise."""
        if who.admin:
            return requested
        if requested and requested != who.project_id:
            raise ApiError(Code.PERMISSION_DENIED, f"token may not list project {requested!r}")
        return who.project_id or ""

    def list(self, project_id: str, network_id: str, page_size: int, page_token: str, who: Principal) -> Page:
        project = self._project_filter(project_id, who)
        if page_size < 0:
            raise ApiError.invalid([Violation("page_size", "must not be negative")])
        size = min(page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        scope = hashlib.sha256(f"{project}\0{network_id}".encode()).hexdigest()[:16]
        after = _decode_token(page_token, scope)
        rows, total = self._store.list(project_id=project, network_id=network_id, after=after, limit=size + 1)
        more = len(rows) > size
        rows = rows[:size]
        return Page(
            load_balancers=[self._view(lb) for _, lb in rows],
            next_page_token=_encode_token(rows[-1][0], scope) if more else "",
            total_count=total,
        )

    async def watch(
        self, project_id: str, network_id: str, include_stats: bool, who: Principal
    ) -> AsyncIterator[Event]:
        project = self._project_filter(project_id, who)

        def wanted(lb: model.LoadBalancer) -> bool:
            return (not project or lb.project_id == project) and (
                not network_id or lb.network_id == network_id
            )

        # Subscribe before the snapshot so nothing falls between the two: a change
        # committed during the snapshot may arrive twice (EXISTING, then its own
        # event); every event carries the whole load balancer, so applying both is safe.
        sub = self._hub.subscribe(include_stats=include_stats)
        changes = sub.changes()
        try:
            after = 0
            while True:
                rows, _ = self._store.list(project_id=project, network_id=network_id, after=after, limit=500)
                for seq, lb in rows:
                    after = seq
                    yield Event(EventKind.EXISTING, self._view(lb))
                if len(rows) < 500:
                    break
            yield Event(EventKind.SNAPSHOT_COMPLETE)
            async for change in changes:
                if isinstance(change, StatsChange):
                    if include_stats and wanted(change.load_balancer):
                        yield Event(EventKind.STATS, change.load_balancer, change.figures)
                elif wanted(change.load_balancer):
                    yield Event(_EVENT[change.kind], change.load_balancer)
        finally:
            await changes.aclose()

    def stats_touched(self, frontends: set[FrontendKey]) -> None:
        """Aggregator subscriber: these frontends have a fresh sample."""
        if self._stats is not None and self._hub.wants_stats():
            self._stats_touched |= self._stats.load_balancers_of(frontends)

    def publish_stats(self) -> None:
        """Called about once a second: fresh figures that changed go to watchers."""
        touched, self._stats_touched = self._stats_touched, set()
        nodes = self._stats.nodes() if self._stats is not None else 0
        if nodes != self._stats_nodes:  # figures came or went without any new sample
            self._stats_nodes = nodes
            touched |= set(self._stats_published)
        if self._stats is None or not self._hub.wants_stats():
            self._stats_published.clear()
            return
        events: list[Change] = []
        for lb_id in touched:
            lb = self._store.get(lb_id)
            if lb is None:
                self._stats_published.pop(lb_id, None)
                continue
            lb = self._view(lb)
            figures = self._stats.figures(lb)
            # The sampling time alone is no news.
            if replace(figures, sampled_at=None) != self._stats_published.get(lb_id):
                self._stats_published[lb_id] = replace(figures, sampled_at=None)
                events.append(StatsChange(lb, figures))
        if events:
            self._hub.publish(events)

    def publish(self, changes: list[Change]) -> None:
        """Committed changes, as clients see them, to every watcher."""
        if not len(self._hub):
            return
        self._hub.publish([replace(c, load_balancer=self._view(c.load_balancer)) for c in changes])

    def _view(self, lb: model.LoadBalancer) -> model.LoadBalancer:
        """The stored load balancer with its realization applied.

        Whether OVN holds a revision is kept in memory, not written back: it is
        what the reconciler finds, and it finds it again after a restart (until
        then the load balancer honestly shows PENDING_*)."""
        outcome = self._realized.get(lb.id)
        if outcome is None or outcome[0] != lb.revision:
            return lb
        if lb.provisioning_status is model.ProvisioningStatus.PENDING_DELETE:
            return lb
        return model.realized(lb, outcome[1])

    # --- realization ---------------------------------------------------------------

    async def _realized_answer(self, lb: model.LoadBalancer) -> model.LoadBalancer:
        """Waits briefly for OVN to hold this revision, then answers with the
        status the load balancer has by then (later changes come via Watch)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (lb.revision, waiter)
        self._waiters.setdefault(lb.id, []).append(entry)
        try:
            # The outcome may have arrived before this coroutine resumed after the write.
            if not self._is_realized(lb):
                await asyncio.wait_for(waiter, self._realize_wait)
        except TimeoutError:
            pass
        finally:
            waiters = self._waiters.get(lb.id, [])
            if entry in waiters:
                waiters.remove(entry)
            if not waiters:
                self._waiters.pop(lb.id, None)
        return self._view(lb)

    def _is_realized(self, lb: model.LoadBalancer) -> bool:
        if lb.provisioning_status is model.ProvisioningStatus.PENDING_DELETE:
            return self._store.get(lb.id) is None
        outcome = self._realized.get(lb.id)
        return outcome is not None and outcome[0] >= lb.revision

    def apply_realized(self, outcomes: list[Realized]) -> None:
        """Records what OVN now holds (ACTIVE, or ERROR with the reason) and
        tells watchers; a finished delete leaves the store."""
        deleted = [o for o in outcomes if o.deleted]
        for outcome in outcomes:
            if outcome.deleted:
                self._realized.pop(outcome.lb_id, None)
            else:
                self._realized[outcome.lb_id] = (outcome.revision, outcome.error)
        if deleted:
            self._spawn(self._finish_deletes(deleted))
        self.publish(
            [
                Change(ChangeKind.UPDATED, o.load_balancer)
                for o in outcomes
                if o.load_balancer and not o.deleted
            ]
        )
        self._wake(o for o in outcomes if not o.deleted)

    async def _finish_deletes(self, outcomes: list[Realized]) -> None:
        def write(tx: Tx) -> None:
            for outcome in outcomes:
                lb = tx.get(outcome.lb_id)
                if lb is not None and lb.revision == outcome.revision:
                    tx.delete(lb)

        try:
            await self._store.write(write)
        finally:
            self._wake(outcomes)

    def _wake(self, outcomes: Iterable[Realized]) -> None:
        for outcome in outcomes:
            for revision, waiter in self._waiters.get(outcome.lb_id, []):
                if revision <= outcome.revision and not waiter.done():
                    waiter.set_result(None)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Waits for background store writes (finished deletes) at shutdown."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=2)

    # --- writes -----------------------------------------------------------------

    async def create(self, draft: Draft, who: Principal) -> model.LoadBalancer:
        project = draft.project_id
        if not who.admin:
            if project and project != who.project_id:
                raise ApiError(Code.PERMISSION_DENIED, f"token may not create in project {project!r}")
            project = who.project_id or ""
        where = draft.where
        p = Problems(list(draft.problems))
        unknown: ApiError | None = None
        try:
            network = self._network(draft.network_id, where.get("network_id", "spec.network_id"))
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
        subnet = network.subnet if network is not None and network.subnet_id else None
        if draft.vip_address and subnet and not _in_subnet(draft.vip_address, subnet):
            p.add(vip_path, f"is not in subnet {network.subnet_id!r} ({network.subnet})")
        unresolved = len(p.violations)
        listeners = tuple(
            replace(
                li,
                default_pool_id=resolve_pool(
                    p,
                    draft.pools,
                    li.default_pool_id,
                    field_path(where[li.id], "default_pool_id"),
                    draft.aliases,
                ),
            )
            for li in draft.listeners
        )
        now = self._clock()
        lb = model.LoadBalancer(
            id=model.new_id("lb"),
            project_id=project,
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
        model.check_load_balancer(p, lb, where)
        p.raise_if_any()
        if unknown is not None:
            raise unknown

        def write(tx: Tx) -> model.LoadBalancer:
            new = lb
            if allocate and network:
                vip = translate.free_vip(network, tx.vips_in_network(lb.network_id))
                if vip is None:
                    raise ApiError(
                        Code.RESOURCE_EXHAUSTED,
                        f"{vip_path}: no free address left in {network.subnet} of network {lb.network_id!r}",
                    )
                new = replace(lb, vip_address=vip)
            _claim_frontends(tx, new, where.__getitem__)
            tx.insert(new)
            return new

        return await self._realized_answer(await self._store.write(write))

    def _network(self, network_id: str, path: str) -> Network | None:
        """The network as OVN knows it. With an external Northbound an unknown
        network is refused; the embedded one creates it on first use."""
        topology = self._realizer.topology
        network = topology.networks.get(network_id)
        if network is None and network_id and not self._realizer.create_networks:
            if not topology.synced:
                raise ApiError(Code.UNAVAILABLE, "OVN Northbound is not reachable yet; retry shortly")
            raise ApiError(
                Code.FAILED_PRECONDITION,
                f"{path}: network {network_id!r} is not known to OVN Northbound (no Logical_Switch"
                " with that name or with external_ids:quantix:network-id)",
            )
        return network

    async def _change(
        self,
        lb_id: str,
        who: Principal,
        change: Callable[[model.LoadBalancer], model.LoadBalancer],
        path_of: Callable[[str], str] = lambda _: "listener",
    ) -> model.LoadBalancer:
        now = self._clock()

        def write(tx: Tx) -> model.LoadBalancer:
            old = tx.get(lb_id)
            if old is None or not who.may_see(old.project_id):
                raise ApiError.not_found("load balancer", lb_id)
            if old.provisioning_status is model.ProvisioningStatus.PENDING_DELETE:
                raise ApiError(Code.FAILED_PRECONDITION, f"load balancer {lb_id!r} is being deleted")
            # Changes apply to what clients see: the realized statuses, not the stored ones.
            current = self._view(old)
            new = model.changed(current, change(current), now)
            # Member and name changes keep the listeners' VIP:ports: nothing to claim again.
            claims = model.frontends(new) != model.frontends(old)
            if claims:
                _claim_frontends(tx, new, path_of)
            tx.update(new, claims=claims)
            return new

        return await self._realized_answer(await self._store.write(write))

    async def update(
        self,
        lb_id: str,
        who: Principal,
        *,
        name: str | None = None,
        description: str | None = None,
        labels: tuple[tuple[str, str], ...] | None = None,
    ) -> model.LoadBalancer:
        p = Problems()
        model.check_name(p, "name", name or "")
        model.check_name(p, "description", description or "", model.MAX_DESCRIPTION)
        model.check_labels(p, "labels", labels or ())
        p.raise_if_any()

        def change(lb: model.LoadBalancer) -> model.LoadBalancer:
            return replace(
                lb,
                name=lb.name if name is None else name,
                description=lb.description if description is None else description,
                labels=lb.labels if labels is None else labels,
            )

        return await self._change(lb_id, who, change)

    async def delete(self, lb_id: str, who: Principal) -> None:
        now = self._clock()

        def write(tx: Tx) -> model.LoadBalancer:
            lb = tx.get(lb_id)
            if lb is None or not who.may_see(lb.project_id):
                raise ApiError.not_found("load balancer", lb_id)
            if lb.provisioning_status is model.ProvisioningStatus.PENDING_DELETE:
                return lb  # already on its way out
            # Its rows leave OVN first; the store forgets it once they are gone.
            new = model.deleting(lb, now)
            tx.update(new, claims=False)
            return new

        await self._realized_answer(await self._store.write(write))

    async def add_listener(
        self, lb_id: str, listener: model.Listener, inline: model.Pool | None, who: Principal
    ) -> model.LoadBalancer:
        where = {listener.id: "listener", "listeners": "listener", "pools": "listener.default_pool"}
        if inline is not None:
            where[inline.id] = "listener.default_pool"

        def change(lb: model.LoadBalancer) -> model.LoadBalancer:
            p = Problems()
            version = model.vip_version(lb)
            model.check_listener(p, "listener", listener)
            pools = lb.pools
            if inline is not None:
                model.check_pool(p, "listener.default_pool", inline, version)
                pools = (*pools, inline)
            pool_id = resolve_pool(p, pools, listener.default_pool_id, "listener.default_pool_id")
            p.raise_if_any()
            new = replace(
                lb, listeners=(*lb.listeners, replace(listener, default_pool_id=pool_id)), pools=pools
            )
            model.check_structure(p, new, where)
            p.raise_if_any()
            return new

        return await self._change(lb_id, who, change, lambda _: "listener")

    async def update_listener(
        self,
        lb_id: str,
        listener_id: str,
        who: Principal,
        *,
        name: str | None = None,
        port: int | None = None,
        default_pool_id: str | None = None,
    ) -> model.LoadBalancer:
        def change(lb: model.LoadBalancer) -> model.LoadBalancer:
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

        return await self._change(lb_id, who, change, lambda _: "port")

    async def remove_listener(self, lb_id: str, listener_id: str, who: Principal) -> model.LoadBalancer:
        def change(lb: model.LoadBalancer) -> model.LoadBalancer:
            lb.listener(listener_id)
            return replace(lb, listeners=tuple(li for li in lb.listeners if li.id != listener_id))

        return await self._change(lb_id, who, change)

    async def add_pool(self, lb_id: str, pool: model.Pool, who: Principal) -> model.LoadBalancer:
        def change(lb: model.LoadBalancer) -> model.LoadBalancer:
            p = Problems()
            model.check_pool(p, "pool", pool, model.vip_version(lb))
            new = replace(lb, pools=(*lb.pools, pool))
            model.check_structure(p, new, {pool.id: "pool", "pools": "pool"})
            p.raise_if_any()
            return new

        return await self._change(lb_id, who, change)

    async def update_pool(
        self, lb_id: str, pool_id: str, change: PoolChange, who: Principal
    ) -> model.LoadBalancer:
        p = Problems()
        model.check_name(p, "name", change.name or "")
        if change.health_monitor:
            model.check_monitor(p, "health_monitor", change.health_monitor)
        if change.persistence:
            model.check_persistence(p, "persistence", change.persistence)
        p.raise_if_any()

        def apply(lb: model.LoadBalancer) -> model.LoadBalancer:
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

        return await self._change(lb_id, who, apply)

    async def remove_pool(self, lb_id: str, pool_id: str, who: Principal) -> model.LoadBalancer:
        def change(lb: model.LoadBalancer) -> model.LoadBalancer:
            lb.pool(pool_id)
            users = lb.listeners_of(pool_id)
            if users:
                names = ", ".join(li.name or li.id for li in users)
                raise ApiError(
                    Code.FAILED_PRECONDITION,
                    f"pool {pool_id!r} serves listener {names}: point it at another pool or remove it first",
                )
            return replace(lb, pools=tuple(pool for pool in lb.pools if pool.id != pool_id))

        return await self._change(lb_id, who, change)

    async def add_member(
        self, lb_id: str, pool_id: str, member: model.Member, who: Principal
    ) -> model.LoadBalancer:
        def change(lb: model.LoadBalancer) -> model.LoadBalancer:
            pool = lb.pool(pool_id)
            p = Problems()
            model.check_member(p, "member", member, model.vip_version(lb))
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

        return await self._change(lb_id, who, change)

    async def update_member(
        self, lb_id: str, pool_id: str, member_id: str, change: MemberChange, who: Principal
    ) -> model.LoadBalancer:
        p = Problems()
        if change.weight is not None and not 0 <= change.weight <= model.MAX_WEIGHT:
            p.add("weight", f"must be from 0 to {model.MAX_WEIGHT}")
        model.check_name(p, "name", change.name or "")
        p.raise_if_any()

        def apply(lb: model.LoadBalancer) -> model.LoadBalancer:
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

        return await self._change(lb_id, who, apply)

    async def remove_member(
        self, lb_id: str, pool_id: str, member_id: str, who: Principal
    ) -> model.LoadBalancer:
        def change(lb: model.LoadBalancer) -> model.LoadBalancer:
            pool = lb.pool(pool_id)
            pool.member(member_id)
            members = tuple(m for m in pool.members if m.id != member_id)
            return model.replace_pool(lb, replace(pool, members=members))

        return await self._change(lb_id, who, change)


def _in_subnet(address: str, subnet: str) -> bool:
    try:
        return ipaddress.ip_address(address) in ipaddress.ip_network(subnet, strict=False)
    except ValueError:
        return True  # a bad address is reported by validation, with its path


def _first_host(network: Network) -> str:
    return str(next(ipaddress.ip_network(network.subnet or "", strict=False).hosts()))


# Page tokens are opaque to clients: a position plus the filters it belongs to.
def _encode_token(after: int, scope: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"a": after, "s": scope}).encode()).decode()


def _decode_token(token: str, scope: str) -> int:
    if not token:
        return 0
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        after, token_scope = int(data["a"]), data["s"]
        if not 0 <= after < 2**63:  # a SQLite integer
            raise ValueError(after)
    except (ValueError, KeyError, TypeError, OverflowError, binascii.Error):
        raise ApiError.invalid([Violation("page_token", "is not a token this server issued")]) from None
    if token_scope != scope:
        raise ApiError.invalid([Violation("page_token", "belongs to a listing with other filters")])
    return after
