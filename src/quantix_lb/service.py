"""The service core: one behind every transport, in domain types only.

Each public method is one RPC of LoadBalancerService (`convert.LoadBalancerApi`
turns messages into the arguments and the answers into messages), taking the
calling Principal last. The core decides who sees what (tenancy), pages
listings and streams watches; the rules of each change are the pure functions
of `rules`, run inside the store's write function, so a failed rule writes
nothing and two concurrent changes to one load balancer never race. What OVN
holds, and so every status a client sees, comes from `Realization`.
"""

from __future__ import annotations

import base64
import binascii
import enum
import hashlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from quantix_lb import documents, model, rules
from quantix_lb.auth import Principal
from quantix_lb.errors import ApiError, Code, Violation
from quantix_lb.ovn.contract import Realizer
from quantix_lb.realization import Realization
from quantix_lb.rules import Draft, MemberChange, PoolChange
from quantix_lb.stats.aggregate import LoadBalancerFigures, StatsAggregator
from quantix_lb.store import ChangeKind, Store, Tx
from quantix_lb.watch import StatsChange, WatchHub

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
SNAPSHOT_PAGE = 500  # load balancers read at a time for a watch's snapshot


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


class Listed:
    """A load balancer of a page: its id and its view's key, read from its document's
    head; the rest is decoded (`view`) only by a caller that has no answer of that
    key at hand (a page of 1,000 decoded and viewed costs ~70 ms)."""

    __slots__ = ("_doc", "_realization", "id", "key")

    def __init__(self, doc: bytes, realization: Realization) -> None:
        self._doc, self._realization = doc, realization
        head = documents.head(doc)
        self.id, self.key = head.id, realization.key(head)

    def view(self) -> model.LoadBalancer:
        return self._realization.view(documents.load(self._doc))


@dataclass(frozen=True)
class Page:
    load_balancers: list[Listed]
    next_page_token: str
    total_count: int


_EVENT = {
    ChangeKind.CREATED: EventKind.CREATED,
    ChangeKind.UPDATED: EventKind.UPDATED,
    ChangeKind.DELETED: EventKind.DELETED,
}


class LoadBalancerCore:
    def __init__(
        self,
        store: Store,
        watchers: WatchHub,
        realizer: Realizer,
        realization: Realization,
        *,
        clock: Callable[[], float] = time.time,
        stats: StatsAggregator | None = None,
        local_ok: bool = False,
    ) -> None:
        # Loopback and link-local VIPs and members: a development choice of the operator.
        self.local_ok = local_ok
        self._store = store
        self._watchers = watchers
        self._realizer = realizer  # for the networks OVN knows
        self._realization = realization
        self._clock = clock
        self._stats = stats

    # --- reads ------------------------------------------------------------------

    def get(self, lb_id: str, who: Principal) -> model.LoadBalancer:
        lb = self._realization.get(lb_id)
        # Another project's load balancer is indistinguishable from a missing one.
        if lb is None or not who.may_see(lb.project_id):
            raise ApiError.not_found("load balancer", lb_id)
        return lb

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
        rows, total = self._store.list_documents(
            project_id=project, network_id=network_id, after=after, limit=size + 1
        )
        more = len(rows) > size
        rows = rows[:size]
        return Page(
            load_balancers=[Listed(doc, self._realization) for _, doc in rows],
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
        sub = self._watchers.subscribe(include_stats=include_stats)
        changes = sub.changes()
        try:
            after = 0
            while True:
                rows, _ = self._store.list(
                    project_id=project, network_id=network_id, after=after, limit=SNAPSHOT_PAGE
                )
                for seq, lb in rows:
                    after = seq
                    yield Event(EventKind.EXISTING, self._realization.view(lb))
                if len(rows) < SNAPSHOT_PAGE:
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

    # --- writes -----------------------------------------------------------------

    async def create(self, draft: Draft, who: Principal) -> model.LoadBalancer:
        project = draft.project_id
        if not who.admin:
            if project and project != who.project_id:
                raise ApiError(Code.PERMISSION_DENIED, f"token may not create in project {project!r}")
            project = who.project_id or ""
        new = rules.new_load_balancer(
            draft,
            project,
            self._realizer.topology,
            self._clock(),
            create_networks=self._realizer.create_networks,
            local_ok=self.local_ok,
        )

        def write(tx: Tx) -> model.LoadBalancer:
            lb = new.load_balancer
            recorded = tx.network_owner(lb.network_id)
            owner = rules.network_owner(new, recorded)
            if owner != recorded:
                tx.set_network_owner(lb.network_id, owner)
            if new.vip_from is not None:
                lb = rules.allocate_vip(new, tx.vips_in_network(lb.network_id))
            _claim_frontends(tx, lb, draft.where.__getitem__)
            tx.insert(lb)
            return lb

        return await self._realization.answer(await self._store.write(write))

    async def _change(
        self,
        lb_id: str,
        who: Principal,
        rule: Callable[[model.LoadBalancer], model.LoadBalancer],
        claim_path: str = "listener",
    ) -> model.LoadBalancer:
        """Applies `rule` to the load balancer inside a store write; a clash of
        VIP:ports is reported at `claim_path`."""
        now = self._clock()

        def write(tx: Tx) -> model.LoadBalancer:
            old = self._writable(tx, lb_id, who)
            # Changes apply to what clients see: the realized statuses, not the stored ones.
            current = self._realization.view(old)
            new = model.changed(current, rule(current), now)
            # Member and name changes keep the listeners' VIP:ports: nothing to claim again.
            claims = model.frontends(new) != model.frontends(old)
            if claims:
                _claim_frontends(tx, new, lambda _: claim_path)
            tx.update(new, claims=claims)
            return new

        return await self._realization.answer(await self._store.write(write))

    @staticmethod
    def _writable(tx: Tx, lb_id: str, who: Principal) -> model.LoadBalancer:
        lb = tx.get(lb_id)
        if lb is None or not who.may_see(lb.project_id):
            raise ApiError.not_found("load balancer", lb_id)
        if lb.provisioning_status is model.ProvisioningStatus.PENDING_DELETE:
            raise ApiError(Code.FAILED_PRECONDITION, f"load balancer {lb_id!r} is being deleted")
        return lb

    async def update(
        self,
        lb_id: str,
        who: Principal,
        *,
        name: str | None = None,
        description: str | None = None,
        labels: tuple[tuple[str, str], ...] | None = None,
    ) -> model.LoadBalancer:
        rules.check_update(name, description, labels)
        return await self._change(
            lb_id,
            who,
            lambda lb: rules.update_load_balancer(lb, name=name, description=description, labels=labels),
        )

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

        await self._realization.answer(await self._store.write(write))

    async def add_listener(
        self, lb_id: str, listener: model.Listener, inline: model.Pool | None, who: Principal
    ) -> model.LoadBalancer:
        return await self._change(
            lb_id, who, lambda lb: rules.add_listener(lb, listener, inline, local_ok=self.local_ok)
        )

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
        def rule(lb: model.LoadBalancer) -> model.LoadBalancer:
            return rules.update_listener(
                lb, listener_id, name=name, port=port, default_pool_id=default_pool_id
            )

        return await self._change(lb_id, who, rule, claim_path="port")

    async def remove_listener(self, lb_id: str, listener_id: str, who: Principal) -> model.LoadBalancer:
        return await self._change(lb_id, who, lambda lb: rules.remove_listener(lb, listener_id))

    async def add_pool(self, lb_id: str, pool: model.Pool, who: Principal) -> model.LoadBalancer:
        return await self._change(lb_id, who, lambda lb: rules.add_pool(lb, pool, local_ok=self.local_ok))

    async def update_pool(
        self, lb_id: str, pool_id: str, change: PoolChange, who: Principal
    ) -> model.LoadBalancer:
        rules.check_pool_change(change)
        return await self._change(lb_id, who, lambda lb: rules.update_pool(lb, pool_id, change))

    async def remove_pool(self, lb_id: str, pool_id: str, who: Principal) -> model.LoadBalancer:
        return await self._change(lb_id, who, lambda lb: rules.remove_pool(lb, pool_id))

    async def add_member(
        self, lb_id: str, pool_id: str, member: model.Member, who: Principal
    ) -> model.LoadBalancer:
        return await self._change(
            lb_id, who, lambda lb: rules.add_member(lb, pool_id, member, local_ok=self.local_ok)
        )

    async def update_member(
        self, lb_id: str, pool_id: str, member_id: str, change: MemberChange, who: Principal
    ) -> model.LoadBalancer:
        rules.check_member_change(change)
        return await self._change(lb_id, who, lambda lb: rules.update_member(lb, pool_id, member_id, change))

    async def remove_member(
        self, lb_id: str, pool_id: str, member_id: str, who: Principal
    ) -> model.LoadBalancer:
        return await self._change(lb_id, who, lambda lb: rules.remove_member(lb, pool_id, member_id))


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
    except (ValueError, KeyError, TypeError, OverflowError, RecursionError, binascii.Error):
        raise ApiError.invalid([Violation("page_token", "is not a token this server issued")]) from None
    if token_scope != scope:
        raise ApiError.invalid([Violation("page_token", "belongs to a listing with other filters")])
    return after
