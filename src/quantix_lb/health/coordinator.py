"""The control plane's side of health checking.

Targets are exactly the members of pools that have a health monitor (never any
other address: a monitor cannot be turned into a port scanner). They are
spread over the connected workers by rendezvous hashing on the worker's node
id, so a worker joining or leaving moves only its share. A worker that misses
its heartbeats for HEARTBEAT_TIMEOUT loses its targets to the others; members
keep their last known state while they move (the new worker starts from it),
so losing a worker never marks members down.

A transition reported by the member's current worker is written to the store
(member operating status ONLINE or ERROR, a new revision), which the OVN
reconciler realizes (the member leaves or rejoins the vips) and watchers see.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass, field

import structlog

from quantix_lb import metrics, model
from quantix_lb.auth import Principal
from quantix_lb.errors import ApiError, Code
from quantix_lb.stats.aggregate import FrontendKey, NodeReport, StatsAggregator
from quantix_lb.store import Change, ChangeKind, Store, Tx

log = structlog.get_logger(__name__)

HEARTBEAT_INTERVAL = 0.5
HEARTBEAT_TIMEOUT = 1.5  # with the 0.25 s sweep: targets move within 2 s
HELLO_TIMEOUT = 10.0
STATS_INTERVAL = 1.0  # seconds between a worker's statistics reports
FRONTENDS_EVERY = 1.0  # at most one new frontend set per second to the workers
_KNOWN = {model.OperatingStatus.ONLINE: True, model.OperatingStatus.ERROR: False}


@dataclass(frozen=True)
class Target:
    member_id: str
    lb_id: str
    address: str
    port: int
    monitor: model.HealthMonitor


# --- what crosses the worker stream (convert.HealthWorkerApi puts it on the wire) ---------


@dataclass(frozen=True)
class Hello:
    node_id: str
    capacity: int = 0  # targets the worker is willing to check (0: no limit)


@dataclass(frozen=True)
class Transition:
    member_id: str
    healthy: bool
    reason: str = ""


@dataclass(frozen=True)
class Heartbeat:
    targets: int = 0


# From a worker: a hello first, then transitions, heartbeats and data-path samples.
WorkerMessage = Hello | tuple[Transition, ...] | Heartbeat | NodeReport | None


@dataclass(frozen=True)
class Assignment:
    """A member for a worker to check, with the last state known of it."""

    target: Target
    last_healthy: bool | None = None


@dataclass(frozen=True)
class Snapshot:
    targets: tuple[Assignment, ...]
    heartbeat_interval: float


@dataclass(frozen=True)
class Delta:
    upserts: tuple[Assignment, ...] = ()
    removals: tuple[str, ...] = ()


@dataclass(frozen=True)
class Frontends:
    keys: tuple[FrontendKey, ...]
    interval: float


# To a worker.
ControlMessage = Snapshot | Delta | Frontends


def targets_of(lb: model.LoadBalancer) -> dict[str, Target]:
    """The members to check: every member of a monitored pool that may carry traffic."""
    if lb.provisioning_status is model.ProvisioningStatus.PENDING_DELETE:
        return {}
    found = {}
    for pool in lb.pools:
        if pool.health_monitor is None:
            continue
        for m in pool.members:
            if m.admin_state is not model.AdminState.OFFLINE:
                found[m.id] = Target(m.id, lb.id, m.address, m.port, pool.health_monitor)
    return found


def rendezvous(node_ids: Iterable[str], member_id: str) -> str | None:
    """The node that owns a member: highest hash of (node, member) wins."""
    best, best_score = None, b""
    for node in node_ids:
        score = hashlib.blake2b(f"{node}\0{member_id}".encode(), digest_size=8).digest()
        if best is None or score > best_score:
            best, best_score = node, score
    return best


@dataclass(eq=False)
class _Worker:
    session: int
    node_id: str
    last_seen: float
    outbox: asyncio.Queue[ControlMessage | None] = field(default_factory=asyncio.Queue)


class HealthCoordinator:
    def __init__(
        self,
        store: Store,
        clock: Callable[[], float] = time.monotonic,
        stats: StatsAggregator | None = None,
        stats_interval: float = STATS_INTERVAL,
    ) -> None:
        self._store = store
        self._clock = clock
        # Workers also report data-path statistics on the same stream.
        self._stats = stats
        self._stats_interval = stats_interval
        self._frontends_dirty = False
        self._frontends_sent = float("-inf")
        self._targets: dict[str, Target] = {}
        self._by_lb: dict[str, set[str]] = {}
        self._status: dict[str, model.OperatingStatus] = {}  # last known ONLINE / ERROR
        self._workers: dict[int, _Worker] = {}
        self._owner: dict[str, int] = {}  # member id -> session
        self._sessions = itertools.count(1)
        self._sweeper: asyncio.Task[None] | None = None

    # --- lifespan -------------------------------------------------------------------

    def start(self) -> None:
        self._update(self._store.all())
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    async def stop(self) -> None:
        if self._sweeper:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for worker in list(self._workers.values()):
            worker.outbox.put_nowait(None)

    def workers(self) -> int:
        """Workers with an open session."""
        return len(self._workers)

    # --- desired targets, from the store ----------------------------------------------

    def on_changes(self, changes: list[Change]) -> None:
        """Store subscriber: keeps targets in step with committed changes."""
        deleted = [c.load_balancer.id for c in changes if c.kind is ChangeKind.DELETED]
        self._update([c.load_balancer for c in changes if c.kind is not ChangeKind.DELETED], deleted)

    def _update(self, lbs: Iterable[model.LoadBalancer], deleted: Iterable[str] = ()) -> None:
        touched: set[str] = set()
        for lb_id in deleted:
            for member_id in self._by_lb.pop(lb_id, set()):
                self._targets.pop(member_id, None)
                self._status.pop(member_id, None)
                touched.add(member_id)
        for lb in lbs:
            wanted = targets_of(lb)
            for member_id in self._by_lb.get(lb.id, set()) - wanted.keys():
                self._targets.pop(member_id, None)
                self._status.pop(member_id, None)
                touched.add(member_id)
            for member_id, target in wanted.items():
                if self._targets.get(member_id) != target:
                    self._targets[member_id] = target
                    touched.add(member_id)
            self._by_lb[lb.id] = set(wanted)
            for m in (m for pool in lb.pools for m in pool.members if m.id in wanted):
                if m.operating_status in _KNOWN:
                    self._status[m.id] = m.operating_status
        if touched:
            self._assign(touched)

    # --- assignment ------------------------------------------------------------------

    def _assign(self, member_ids: Iterable[str]) -> None:
        """(Re)places members on workers and sends each worker its changes."""
        by_node = {w.node_id: w for w in self._workers.values()}
        upserts: dict[int, list[Assignment]] = {}
        removals: dict[int, list[str]] = {}
        for member_id in member_ids:
            old = self._owner.get(member_id)
            target = self._targets.get(member_id)
            node = rendezvous(by_node, member_id) if target else None
            new = by_node[node].session if node else None
            if old is not None and old != new and old in self._workers:
                removals.setdefault(old, []).append(member_id)
            if new is None:
                self._owner.pop(member_id, None)
                continue
            assert target is not None
            self._owner[member_id] = new
            upserts.setdefault(new, []).append(self._assignment(target))
        for session in upserts.keys() | removals.keys():
            delta = Delta(tuple(upserts.get(session, ())), tuple(removals.get(session, ())))
            self._workers[session].outbox.put_nowait(delta)

    def _assignment(self, target: Target) -> Assignment:
        return Assignment(target, _KNOWN.get(self._status.get(target.member_id)))

    def _join(self, worker: _Worker) -> None:
        self._workers[worker.session] = worker
        nodes = [w.node_id for w in self._workers.values()]
        moving = [m for m in self._targets if rendezvous(nodes, m) == worker.node_id]
        # The newcomer's share leaves its old owners; it gets everything it owns in one snapshot.
        for member_id in moving:
            old = self._owner.get(member_id)
            if old is not None and old in self._workers and old != worker.session:
                self._workers[old].outbox.put_nowait(Delta(removals=(member_id,)))
            self._owner[member_id] = worker.session
        snapshot = Snapshot(tuple(self._assignment(self._targets[m]) for m in moving), HEARTBEAT_INTERVAL)
        worker.outbox.put_nowait(snapshot)
        if self._stats is not None:
            worker.outbox.put_nowait(self._frontends_message())
        log.info("health.worker_joined", node=worker.node_id, targets=len(moving), workers=len(self._workers))

    def _leave(self, worker: _Worker, why: str) -> None:
        if self._workers.pop(worker.session, None) is None:
            return
        worker.outbox.put_nowait(None)
        if self._stats is not None:
            self._stats.forget_node(worker.node_id)
        orphans = [m for m, s in self._owner.items() if s == worker.session]
        for member_id in orphans:
            self._owner.pop(member_id, None)
        self._assign(orphans)
        log.info("health.worker_left", node=worker.node_id, why=why, moved=len(orphans))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            now = self._clock()
            for worker in list(self._workers.values()):
                if now - worker.last_seen > HEARTBEAT_TIMEOUT:
                    self._leave(worker, "missed heartbeats")
            if self._frontends_dirty and now - self._frontends_sent >= FRONTENDS_EVERY:
                self._frontends_dirty = False
                self._frontends_sent = now
                message = self._frontends_message()
                for worker in self._workers.values():
                    worker.outbox.put_nowait(message)

    # --- statistics ------------------------------------------------------------------------

    def frontends_changed(self) -> None:
        """The set of VIP:ports to report on changed; workers get it shortly."""
        self._frontends_dirty = True

    def _frontends_message(self) -> Frontends:
        assert self._stats is not None
        return Frontends(tuple(self._stats.frontends()), self._stats_interval)

    # --- the worker stream ---------------------------------------------------------------

    async def session(
        self, requests: AsyncIterator[WorkerMessage], who: Principal
    ) -> AsyncIterator[ControlMessage]:
        if who.role not in ("worker", "admin"):
            raise ApiError(Code.PERMISSION_DENIED, "the worker stream needs a worker token")
        try:
            async with asyncio.timeout(HELLO_TIMEOUT):
                first = await anext(requests)
        except (TimeoutError, StopAsyncIteration):
            raise ApiError(Code.INVALID_ARGUMENT, "a session starts with a hello") from None
        if not isinstance(first, Hello) or not first.node_id:
            raise ApiError(
                Code.INVALID_ARGUMENT, "hello.node_id: a session starts with a hello naming the node"
            )
        worker = _Worker(next(self._sessions), first.node_id, self._clock())
        for other in [w for w in self._workers.values() if w.node_id == worker.node_id]:
            self._leave(other, "replaced by a new session")  # a reconnect of the same node
        self._join(worker)
        reader = asyncio.get_running_loop().create_task(self._read(worker, requests))
        try:
            while (message := await worker.outbox.get()) is not None:
                yield message
        finally:
            reader.cancel()
            self._leave(worker, "stream closed")

    async def _read(self, worker: _Worker, requests: AsyncIterator[WorkerMessage]) -> None:
        try:
            async for request in requests:
                worker.last_seen = self._clock()
                if isinstance(request, tuple):
                    await self._apply(worker, request)
                elif isinstance(request, NodeReport) and self._stats is not None:
                    self._stats.report(worker.node_id, request)
        except Exception as exc:  # the stream broke: the session ends with it
            log.info("health.worker_stream_error", node=worker.node_id, error=str(exc))
        finally:
            worker.outbox.put_nowait(None)

    async def _apply(self, worker: _Worker, transitions: Iterable[Transition]) -> None:
        # Only the member's current worker speaks for it (a late report from a worker
        # that lost the member is stale).
        accepted = [t for t in transitions if self._owner.get(t.member_id) == worker.session]
        if not accepted:
            return
        now = time.time()

        def write(tx: Tx) -> None:
            by_lb: dict[str, list[Transition]] = {}
            for t in accepted:
                target = self._targets.get(t.member_id)
                if target:
                    by_lb.setdefault(target.lb_id, []).append(t)
            for lb_id, items in by_lb.items():
                lb = tx.get(lb_id)
                if lb is None:
                    continue
                new = model.with_health(lb, {t.member_id: (t.healthy, t.reason) for t in items}, now)
                if new is not lb:
                    tx.update(new, claims=False)

        for t in accepted:
            metrics.count_transition(t.healthy)
            log.info(
                "health.transition",
                member=t.member_id,
                healthy=t.healthy,
                reason=t.reason,
                node=worker.node_id,
            )
        await self._store.write(write)
