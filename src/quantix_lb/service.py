"""The rules: one core behind every transport.

Each public coroutine is an RPC of LoadBalancerService, named in snake_case,
taking the request message and the calling Principal. Every check that depends
on stored state runs inside the store's write function, so a failed rule
writes nothing and two concurrent changes to one load balancer never race.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import ipaddress
import json
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import replace
from typing import Any, Protocol

from google.protobuf.empty_pb2 import Empty

from limiquantix.network.v1 import network_service_pb2 as pb
from quantix_lb import model
from quantix_lb.auth import Principal
from quantix_lb.convert import (
    canonical_or_raw,
    enum_in,
    listener_in,
    load_balancer_out,
    member_in,
    monitor_in,
    persistence_in,
    stats_out,
)
from quantix_lb.errors import ApiError, Code, Violation
from quantix_lb.model import Problems
from quantix_lb.ovn import translate
from quantix_lb.ovn.nb import Realized, Topology
from quantix_lb.ovn.translate import Network
from quantix_lb.stats.aggregate import FrontendKey, LoadBalancerFigures, StatsAggregator
from quantix_lb.store import Change, ChangeKind, Store, Tx
from quantix_lb.watch import StatsChange, WatchHub

DEFAULT_PAGE_SIZE = 50
REALIZE_WAIT = 2.0  # seconds a mutating RPC waits for OVN before answering
MAX_PAGE_SIZE = 1000
_EVENT = {
    ChangeKind.CREATED: pb.WatchLoadBalancersResponse.CREATED,
    ChangeKind.UPDATED: pb.WatchLoadBalancersResponse.UPDATED,
    ChangeKind.DELETED: pb.WatchLoadBalancersResponse.DELETED,
}


def _required(value: str, field: str) -> str:
    if not value:
        raise ApiError.invalid([Violation(field, "is required")])
    return value


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
        lb = self._store.get(_required(lb_id, "id"))
        # Another project's load balancer is indistinguishable from a missing one.
        if lb is None or not who.may_see(lb.project_id):
            raise ApiError.not_found("load balancer", lb_id)
        return lb

    async def get_load_balancer(self, req: pb.GetLoadBalancerRequest, who: Principal) -> pb.LoadBalancer:
        return load_balancer_out(self._view(self._visible(req.id, who)))

    async def get_load_balancer_stats(
        self, req: pb.GetLoadBalancerStatsRequest, who: Principal
    ) -> pb.LoadBalancerStats:
        lb = self._view(self._visible(req.id, who))
        return stats_out(lb, self._stats.figures(lb) if self._stats else None)

    def _project_filter(self, requested: str, who: Principal) -> str:
        """The project a listing covers: any for an admin, the token's own otherwise."""
        if who.admin:
            return requested
        if requested and requested != who.project_id:
            raise ApiError(Code.PERMISSION_DENIED, f"token may not list project {requested!r}")
        return who.project_id or ""

    async def list_load_balancers(
        self, req: pb.ListLoadBalancersRequest, who: Principal
    ) -> pb.ListLoadBalancersResponse:
        project = self._project_filter(req.project_id, who)
        if req.page_size < 0:
            raise ApiError.invalid([Violation("page_size", "must not be negative")])
        size = min(req.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        scope = hashlib.sha256(f"{project}\0{req.network_id}".encode()).hexdigest()[:16]
        after = _decode_token(req.page_token, scope)
        rows, total = self._store.list(
            project_id=project, network_id=req.network_id, after=after, limit=size + 1
        )
        more = len(rows) > size
        rows = rows[:size]
        return pb.ListLoadBalancersResponse(
            load_balancers=[load_balancer_out(self._view(lb)) for _, lb in rows],
            next_page_token=_encode_token(rows[-1][0], scope) if more else "",
            total_count=total,
        )

    async def watch_load_balancers(
        self, req: pb.WatchLoadBalancersRequest, who: Principal
    ) -> AsyncIterator[pb.WatchLoadBalancersResponse]:
        project = self._project_filter(req.project_id, who)

        def wanted(lb: model.LoadBalancer) -> bool:
            return (not project or lb.project_id == project) and (
                not req.network_id or lb.network_id == req.network_id
            )

        # Subscribe before the snapshot so nothing falls between the two: a change
        # committed during the snapshot may arrive twice (EXISTING, then its own
        # event); every event carries the whole load balancer, so applying both is safe.
        sub = self._hub.subscribe(include_stats=req.include_stats)
        changes = sub.changes()
        try:
            after = 0
            while True:
                rows, _ = self._store.list(
                    project_id=project, network_id=req.network_id, after=after, limit=500
                )
                for seq, lb in rows:
                    after = seq
                    yield pb.WatchLoadBalancersResponse(
                        type=pb.WatchLoadBalancersResponse.EXISTING,
                        load_balancer=load_balancer_out(self._view(lb)),
                    )
                if len(rows) < 500:
                    break
            yield pb.WatchLoadBalancersResponse(type=pb.WatchLoadBalancersResponse.SNAPSHOT_COMPLETE)
            async for change in changes:
                if isinstance(change, StatsChange):
                    if req.include_stats and wanted(change.load_balancer):
                        yield pb.WatchLoadBalancersResponse(
                            type=pb.WatchLoadBalancersResponse.STATS,
                            stats=stats_out(change.load_balancer, change.figures),
                        )
                elif wanted(change.load_balancer):
                    yield pb.WatchLoadBalancersResponse(
                        type=_EVENT[change.kind], load_balancer=load_balancer_out(change.load_balancer)
                    )
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

    # --- writes -----------------------------------------------------------------

    async def create_load_balancer(
        self, req: pb.CreateLoadBalancerRequest, who: Principal
    ) -> pb.LoadBalancer:
        p = Problems()
        project = req.project_id
        if not who.admin:
            if project and project != who.project_id:
                raise ApiError(Code.PERMISSION_DENIED, f"token may not create in project {project!r}")
            project = who.project_id or ""
        network = self._network(req.network_id)
        allocate = not req.vip_address and network is not None and bool(network.subnet)
        now = self._clock()
        lb = model.LoadBalancer(
            id=model.new_id("lb"),
            project_id=project,
            network_id=req.network_id,
            # A stand-in of the subnet's family until the write picks a free address.
            vip_address=_first_host(network) if allocate and network else canonical_or_raw(req.vip_address),
            name=req.name,
            description=req.description,
            listeners=tuple(listener_in(p, f"listeners[{i}]", li) for i, li in enumerate(req.listeners)),
            created_at=now,
            updated_at=now,
        )
        model.check_load_balancer(p, lb)
        p.raise_if_any()
        paths = {li.id: f"listeners[{i}]" for i, li in enumerate(lb.listeners)}

        def write(tx: Tx) -> model.LoadBalancer:
            new = lb
            if allocate and network:
                vip = translate.free_vip(network, tx.vips_in_network(lb.network_id))
                if vip is None:
                    raise ApiError(
                        Code.RESOURCE_EXHAUSTED,
                        f"vip_address: no free address left in {network.subnet} of network {lb.network_id!r}",
                    )
                new = replace(lb, vip_address=vip)
            _claim_frontends(tx, new, paths.__getitem__)
            tx.insert(new)
            return new

        return await self._realized_answer(await self._store.write(write))

    def _network(self, network_id: str) -> Network | None:
        """The network as OVN knows it. With an external Northbound an unknown
        network is refused; the embedded one creates it on first use."""
        topology = self._realizer.topology
        network = topology.networks.get(network_id)
        if network is None and network_id and not self._realizer.create_networks:
            if not topology.synced:
                raise ApiError(Code.UNAVAILABLE, "OVN Northbound is not reachable yet; retry shortly")
            raise ApiError(
                Code.FAILED_PRECONDITION,
                f"network_id: network {network_id!r} is not known to OVN Northbound (no Logical_Switch"
                " with that name or with external_ids:quantix:network-id)",
            )
        return network

    # --- realization ---------------------------------------------------------------

    async def _realized_answer(self, lb: model.LoadBalancer) -> pb.LoadBalancer:
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
        return load_balancer_out(self._view(lb))

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

    async def _change(
        self,
        lb_id: str,
        who: Principal,
        change: Callable[[model.LoadBalancer], model.LoadBalancer],
        path_of: Callable[[str], str] = lambda _: "listener",
    ) -> pb.LoadBalancer:
        _required(lb_id, "load_balancer_id")
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

    async def update_load_balancer(
        self, req: pb.UpdateLoadBalancerRequest, who: Principal
    ) -> pb.LoadBalancer:
        p = Problems()
        model.check_name(p, "name", req.name)
        model.check_name(p, "description", req.description, model.MAX_DESCRIPTION)
        p.raise_if_any()

        def change(lb: model.LoadBalancer) -> model.LoadBalancer:
            return replace(
                lb,
                name=req.name if req.HasField("name") else lb.name,
                description=req.description if req.HasField("description") else lb.description,
            )

        _required(req.id, "id")
        return await self._change(req.id, who, change)

    async def delete_load_balancer(self, req: pb.DeleteLoadBalancerRequest, who: Principal) -> Empty:
        lb_id = _required(req.id, "id")

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
        return Empty()

    async def add_listener(self, req: pb.AddListenerRequest, who: Principal) -> pb.LoadBalancer:
        if not req.HasField("listener"):
            raise ApiError.invalid([Violation("listener", "is required")])

        def change(lb: model.LoadBalancer) -> model.LoadBalancer:
            p = Problems()
            listener = listener_in(p, "listener", req.listener)
            model.check_listener(p, "listener", listener, model.vip_version(lb))
            new = replace(lb, listeners=(*lb.listeners, listener))
            if len(new.listeners) > model.MAX_LISTENERS:
                p.add("listener", f"at most {model.MAX_LISTENERS} listeners per load balancer")
            model.check_unique_listeners(p, new, {listener.id: "listener.port"})
            p.raise_if_any()
            return new

        return await self._change(req.load_balancer_id, who, change)

    async def update_listener(self, req: pb.UpdateListenerRequest, who: Principal) -> pb.LoadBalancer:
        _required(req.listener_id, "listener_id")
        p = Problems()
        if req.HasField("health_monitor") and req.remove_health_monitor:
            p.add("remove_health_monitor", "cannot be set together with health_monitor")
        monitor = (
            monitor_in(p, "health_monitor", req.health_monitor) if req.HasField("health_monitor") else None
        )
        persistence = (
            persistence_in(p, "session_persistence", req.session_persistence)
            if req.HasField("session_persistence")
            else None
        )
        algorithm = (
            enum_in(p, "algorithm", pb.Pool.Algorithm, req.algorithm, model.Algorithm)
            if req.HasField("algorithm")
            else None
        )
        p.raise_if_any()

        def change(lb: model.LoadBalancer) -> model.LoadBalancer:
            old = lb.listener(req.listener_id)
            pool = old.default_pool
            pool = replace(
                pool,
                algorithm=algorithm or pool.algorithm,
                health_monitor=None if req.remove_health_monitor else monitor or pool.health_monitor,
                session_persistence=persistence or pool.session_persistence,
            )
            listener = replace(
                old,
                name=req.name if req.HasField("name") else old.name,
                port=req.port if req.HasField("port") else old.port,
                default_pool=pool,
            )
            checks = Problems()
            model.check_name(checks, "name", listener.name)
            model.check_port(checks, "port", listener.port)
            if monitor:
                model.check_monitor(checks, "health_monitor", monitor)
            if persistence:
                model.check_persistence(checks, "session_persistence", persistence)
            new = model.replace_listener(lb, listener)
            model.check_unique_listeners(checks, new, {listener.id: "port"})
            checks.raise_if_any()
            return new

        return await self._change(req.load_balancer_id, who, change, lambda _: "port")

    async def remove_listener(self, req: pb.RemoveListenerRequest, who: Principal) -> pb.LoadBalancer:
        _required(req.listener_id, "listener_id")

        def change(lb: model.LoadBalancer) -> model.LoadBalancer:
            lb.listener(req.listener_id)
            return replace(lb, listeners=tuple(li for li in lb.listeners if li.id != req.listener_id))

        return await self._change(req.load_balancer_id, who, change)

    async def add_pool_member(self, req: pb.AddPoolMemberRequest, who: Principal) -> pb.LoadBalancer:
        _required(req.pool_id, "pool_id")
        if not req.HasField("member"):
            raise ApiError.invalid([Violation("member", "is required")])

        def change(lb: model.LoadBalancer) -> model.LoadBalancer:
            _, pool = lb.pool(req.pool_id)
            p = Problems()
            member = member_in(p, "member", req.member)
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

        return await self._change(req.load_balancer_id, who, change)

    async def update_pool_member(self, req: pb.UpdatePoolMemberRequest, who: Principal) -> pb.LoadBalancer:
        _required(req.pool_id, "pool_id")
        _required(req.member_id, "member_id")
        p = Problems()
        admin = (
            enum_in(p, "admin_state", pb.Member.AdminState, req.admin_state, model.AdminState)
            if req.HasField("admin_state")
            else None
        )
        if req.HasField("weight") and not 0 <= req.weight <= model.MAX_WEIGHT:
            p.add("weight", f"must be from 0 to {model.MAX_WEIGHT}")
        model.check_name(p, "name", req.name)
        p.raise_if_any()

        def change(lb: model.LoadBalancer) -> model.LoadBalancer:
            _, pool = lb.pool(req.pool_id)
            old = model.member(pool, req.member_id)
            member = replace(
                old,
                name=req.name if req.HasField("name") else old.name,
                weight=req.weight if req.HasField("weight") else old.weight,
                admin_state=admin or old.admin_state,
            )
            return model.replace_pool(lb, model.replace_member(pool, member))

        return await self._change(req.load_balancer_id, who, change)

    async def remove_pool_member(self, req: pb.RemovePoolMemberRequest, who: Principal) -> pb.LoadBalancer:
        _required(req.pool_id, "pool_id")
        _required(req.member_id, "member_id")

        def change(lb: model.LoadBalancer) -> model.LoadBalancer:
            _, pool = lb.pool(req.pool_id)
            model.member(pool, req.member_id)
            members = tuple(m for m in pool.members if m.id != req.member_id)
            return model.replace_pool(lb, replace(pool, members=members))

        return await self._change(req.load_balancer_id, who, change)


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
