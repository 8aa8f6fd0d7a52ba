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

Workers that use probe ports get one per network they have targets on
(probeplan.py): the coordinator plans them, the realizer writes them as
Logical_Switch_Ports, and the worker binds them in namespaces of its own. A
member a worker cannot check (no port possible, no OVS on its node) is reported
unchecked and shows NO_MONITOR with the reason; it stays in the vips.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field

import structlog

from quantix_lb import metrics, model
from quantix_lb.auth import Principal
from quantix_lb.errors import ApiError, Code
from quantix_lb.health.probeplan import ProbePort, plan
from quantix_lb.ovn.contract import ProbePortRow
from quantix_lb.ovn.translate import Network
from quantix_lb.stats.aggregate import FrontendKey, NodeReport, StatsAggregator
from quantix_lb.store import Change, ChangeKind, Store, Tx

log = structlog.get_logger(__name__)

HEARTBEAT_INTERVAL = 0.5
HEARTBEAT_TIMEOUT = 1.5  # with the 0.25 s sweep: targets move within 2 s
HELLO_TIMEOUT = 10.0
STATS_INTERVAL = 1.0  # seconds between a worker's statistics reports
FRONTENDS_EVERY = 1.0  # at most one new frontend set per second to the workers
# A worker's probe ports outlive its session this long: a reconnect (or a restart of
# the worker) finds them still bound instead of unbinding and binding them again.
PORT_GRACE = 30.0
_KNOWN = {model.OperatingStatus.ONLINE: True, model.OperatingStatus.ERROR: False}


@dataclass(frozen=True)
class Target:
    member_id: str
    lb_id: str
    address: str
    port: int
    monitor: model.HealthMonitor
    project_id: str = ""
    network_id: str = ""
    # A change of admin state sends the target again, with the state the store now
    # shows (none while drained or off): the worker then reports what it knows.
    admin: str = ""


# --- what crosses the worker stream (convert.HealthWorkerApi puts it on the wire) ---------


@dataclass(frozen=True)
class Hello:
    node_id: str
    capacity: int = 0  # targets the worker is willing to check (0: no limit)
    probe_ports: bool = False  # it probes from a port per network (else from its host)


@dataclass(frozen=True)
class Transition:
    member_id: str
    healthy: bool
    reason: str = ""
    unchecked: bool = False  # the worker cannot check it at all; reason says why


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


@dataclass(frozen=True)
class ProbePorts:
    """The whole set of the worker's probe ports."""

    ports: tuple[ProbePort, ...]


# To a worker.
ControlMessage = Snapshot | Delta | Frontends | ProbePorts


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
                found[m.id] = Target(
                    m.id,
                    lb.id,
                    m.address,
                    m.port,
                    pool.health_monitor,
                    lb.project_id,
                    lb.network_id,
                    m.admin_state.value,
                )
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
    probe_ports: bool = False
    outbox: asyncio.Queue[ControlMessage | None] = field(default_factory=asyncio.Queue)
    ports_sent: tuple[ProbePort, ...] | None = None


class HealthCoordinator:
    def __init__(
        self,
        store: Store,
        clock: Callable[[], float] = time.monotonic,
        stats: StatsAggregator | None = None,
        stats_interval: float = STATS_INTERVAL,
        networks: Callable[[], Mapping[str, Network]] = dict,
        realize_probe_ports: Callable[[list[ProbePortRow]], None] = lambda rows: None,
    ) -> None:
        self._store = store
        # The NB's networks now, and where the planned probe ports go to be written.
        self._networks = networks
        self._realize_probe_ports = realize_probe_ports
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
        self._owned_net: dict[str, str] = {}  # member id -> its network, as counted in _nets
        self._nets: dict[int, Counter[str]] = {}  # session -> targets it owns per network
        self._vips: dict[str, tuple[str, str]] = {}  # lb id -> (network, VIP)
        self._ports: dict[tuple[str, str], ProbePort] = {}  # (node, network) -> its probe port
        self._rows: list[ProbePortRow] | None = None  # last handed to the realizer
        self._ports_dirty = False
        self._lingering: dict[str, tuple[float, frozenset[str]]] = {}  # node -> (until, its networks)
        self._sessions = itertools.count(1)
        self._sweeper: asyncio.Task[None] | None = None

    # --- lifespan -------------------------------------------------------------------

    def start(self) -> None:
        self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    def load(self, lbs: Iterable[model.LoadBalancer]) -> None:
        """Stored load balancers' targets, at start (serve reads the store once for
        everything it keeps)."""
        self._update(lbs)

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
            self._vips.pop(lb_id, None)
            for member_id in self._by_lb.pop(lb_id, set()):
                self._targets.pop(member_id, None)
                self._status.pop(member_id, None)
                touched.add(member_id)
        for lb in lbs:
            self._vips[lb.id] = (lb.network_id, lb.vip_address)
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
                else:  # drained, off, unchecked or not yet checked: the store knows no health
                    self._status.pop(m.id, None)
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
            self._own(member_id, new)
            if new is None:
                continue
            assert target is not None
            upserts.setdefault(new, []).append(self._assignment(target))
        self._refresh_ports()
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
            self._own(member_id, worker.session)
        snapshot = Snapshot(tuple(self._assignment(self._targets[m]) for m in moving), HEARTBEAT_INTERVAL)
        worker.outbox.put_nowait(snapshot)
        self._ports_dirty = True
        self._refresh_ports()
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
            self._own(member_id, None)
        nets = self._nets.pop(worker.session, None)
        if worker.probe_ports and nets:
            self._lingering[worker.node_id] = (self._clock() + PORT_GRACE, frozenset(nets))
        self._ports_dirty = True
        self._assign(orphans)
        log.info("health.worker_left", node=worker.node_id, why=why, moved=len(orphans))

    # --- probe ports -------------------------------------------------------------------------

    def _own(self, member_id: str, session: int | None) -> None:
        """Records who checks a member, counting each session's targets per network:
        a network's first target or last one changes the probe ports."""
        old = self._owner.pop(member_id, None)
        old_net = self._owned_net.pop(member_id, None)
        if old is not None and old_net is not None:
            counts = self._nets.get(old)
            if counts is not None:
                counts[old_net] -= 1
                if counts[old_net] <= 0:
                    del counts[old_net]
                    self._ports_dirty = True
        if session is None:
            return
        target = self._targets.get(member_id)
        network = target.network_id if target else ""
        self._owner[member_id] = session
        self._owned_net[member_id] = network
        counts = self._nets.setdefault(session, Counter())
        if not counts[network]:
            self._ports_dirty = True
        counts[network] += 1

    def topology_changed(self) -> None:
        """The NB's networks changed: a network may have become able (or unable) to
        hold a probe port."""
        self._ports_dirty = True
        self._refresh_ports()

    def _refresh_ports(self) -> None:
        """Plans the probe ports again when their inputs changed; the realizer gets
        the whole set and each worker its own, both only when they changed."""
        if not self._ports_dirty:
            return
        self._ports_dirty = False
        workers = [w for w in self._workers.values() if w.probe_ports]
        wanted = [(w.node_id, net) for w in workers for net in self._nets.get(w.session, ())]
        active = {w.node_id for w in self._workers.values()}
        for node, (_, nets) in self._lingering.items():
            if node not in active:
                wanted += [(node, net) for net in nets]
        if not wanted and not self._ports and self._rows is None:
            return  # no worker uses probe ports: nothing to write, ever
        vips: dict[str, list[str]] = {}
        for network_id, vip in self._vips.values():
            vips.setdefault(network_id, []).append(vip)
        previous = {p.name: p for p in self._ports.values()}
        self._ports = plan(wanted, self._networks(), vips, previous)
        rows = sorted((p.row(node) for (node, _), p in self._ports.items() if not p.error), key=_by_name)
        if rows != self._rows:
            self._rows = rows
            self._realize_probe_ports(rows)
        for worker in workers:
            ports = tuple(p for (node, _), p in sorted(self._ports.items()) if node == worker.node_id)
            if ports != worker.ports_sent:
                worker.ports_sent = ports
                worker.outbox.put_nowait(ProbePorts(ports))

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(0.25)
            now = self._clock()
            for worker in list(self._workers.values()):
                if now - worker.last_seen > HEARTBEAT_TIMEOUT:
                    self._leave(worker, "missed heartbeats")
            expired = [node for node, (until, _) in self._lingering.items() if until <= now]
            for node in expired:
                del self._lingering[node]
            if expired:
                self._ports_dirty = True
                self._refresh_ports()
            # With no worker nobody listens (one that joins gets the whole list then):
            # at 10,000 load balancers the list is 20,000 sorted keys.
            if self._frontends_dirty and self._workers and now - self._frontends_sent >= FRONTENDS_EVERY:
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
        worker = _Worker(next(self._sessions), first.node_id, self._clock(), first.probe_ports)
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
                health = {t.member_id: (None if t.unchecked else t.healthy, t.reason) for t in items}
                new = model.with_health(lb, health, now)
                if new is not lb:
                    tx.update(new, claims=False)

        for t in accepted:
            if t.unchecked:
                log.warning("health.unchecked", member=t.member_id, reason=t.reason, node=worker.node_id)
                continue
            metrics.count_transition(t.healthy)
            log.info(
                "health.transition",
                member=t.member_id,
                healthy=t.healthy,
                reason=t.reason,
                node=worker.node_id,
            )
        await self._store.write(write)


def _by_name(row: ProbePortRow) -> str:
    return row.name
