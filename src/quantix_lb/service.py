"""The rules: one core behind every transport.

Each public coroutine is an RPC of LoadBalancerService, named in snake_case,
taking the request message and the calling Principal. Every check that depends
on stored state runs inside the store's write function, so a failed rule
writes nothing and two concurrent changes to one load balancer never race.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace

from google.protobuf.empty_pb2 import Empty

from limiquantix.network.v1 import network_service_pb2 as pb
from quantix_lb import model
from quantix_lb.auth import Principal
from quantix_lb.convert import (
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
from quantix_lb.store import Change, ChangeKind, Store, Tx
from quantix_lb.watch import WatchHub

DEFAULT_PAGE_SIZE = 50
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


class LoadBalancerCore:
    def __init__(self, store: Store, hub: WatchHub, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._hub = hub
        self._clock = clock

    # --- reads ------------------------------------------------------------------

    def _visible(self, lb_id: str, who: Principal) -> model.LoadBalancer:
        lb = self._store.get(_required(lb_id, "id"))
        # Another project's load balancer is indistinguishable from a missing one.
        if lb is None or not who.may_see(lb.project_id):
            raise ApiError.not_found("load balancer", lb_id)
        return lb

    async def get_load_balancer(self, req: pb.GetLoadBalancerRequest, who: Principal) -> pb.LoadBalancer:
        return load_balancer_out(self._visible(req.id, who))

    async def get_load_balancer_stats(
        self, req: pb.GetLoadBalancerStatsRequest, who: Principal
    ) -> pb.LoadBalancerStats:
        return stats_out(self._visible(req.id, who))

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
            load_balancers=[load_balancer_out(lb) for _, lb in rows],
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
        sub = self._hub.subscribe()
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
                        load_balancer=load_balancer_out(lb),
                    )
                if len(rows) < 500:
                    break
            yield pb.WatchLoadBalancersResponse(type=pb.WatchLoadBalancersResponse.SNAPSHOT_COMPLETE)
            async for change in changes:
                if wanted(change.load_balancer):
                    yield pb.WatchLoadBalancersResponse(
                        type=_EVENT[change.kind], load_balancer=load_balancer_out(change.load_balancer)
                    )
        finally:
            await changes.aclose()

    def publish(self, changes: list[Change]) -> None:
        self._hub.publish(changes)

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
        now = self._clock()
        lb = model.LoadBalancer(
            id=model.new_id("lb"),
            project_id=project,
            network_id=req.network_id,
            vip_address=_canonical(req.vip_address),
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
            _claim_frontends(tx, lb, paths.__getitem__)
            tx.insert(lb)
            return lb

        return load_balancer_out(await self._store.write(write))

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
            new = model.changed(old, change(old), now)
            _claim_frontends(tx, new, path_of)
            tx.update(new)
            return new

        return load_balancer_out(await self._store.write(write))

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

        def write(tx: Tx) -> None:
            lb = tx.get(lb_id)
            if lb is None or not who.may_see(lb.project_id):
                raise ApiError.not_found("load balancer", lb_id)
            tx.delete(lb)

        await self._store.write(write)
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


def _canonical(address: str) -> str:
    try:
        return model.canonical_ip(address)
    except ValueError:
        return address  # validation reports it


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
