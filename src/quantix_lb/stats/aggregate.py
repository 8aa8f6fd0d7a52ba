"""Data-path statistics in the control plane: the workers' samples, summed over nodes.

Each worker reports, about once a second, per frontend (protocol, VIP, port)
and backend (address, port): the connections open now, the distinct
connections it has seen, and byte counters when its data path keeps them.
Here those figures are summed over the nodes and mapped onto load balancers,
listeners and members (a backend is a member by address and port).

- A node whose last report is older than STALE_AFTER no longer counts for
  open connections (nobody knows them); what it counted in totals stays.
- A worker that restarts counts from zero again: its report carries a new
  epoch (or, from a worker without one, a total goes down), and the old
  count is kept as an offset.
- A figure nobody measures is None (unavailable), never zero.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from quantix_lb import model

STALE_AFTER = 5.0  # seconds without a report before a node's figures stop counting
STATS_WINDOW = 10.0  # seconds over which requests_per_second is measured

FrontendKey = tuple[str, str, int]  # protocol, VIP, port
BackendKey = tuple[str, int]  # address, port


@dataclass(frozen=True, slots=True)
class ReportedBackend:
    """One backend of a frontend on one node, as its worker reports it."""

    address: str
    port: int
    active: int  # connections open now
    total: int  # distinct connections seen since the worker began watching
    bytes_in: int | None = None
    bytes_out: int | None = None


@dataclass(frozen=True, slots=True)
class ReportedFrontend:
    key: FrontendKey
    backends: tuple[ReportedBackend, ...]
    bytes_in: int | None = None  # client-to-VIP bytes from the balancing flows


@dataclass(frozen=True, slots=True)
class NodeReport:
    """One worker's sample of its node's data path."""

    available: bool
    reason: str = ""
    frontends: tuple[ReportedFrontend, ...] = ()
    epoch: int = 0  # random per worker process: a new value means the counts start over


@dataclass(frozen=True)
class MemberFigures:
    member_id: str
    active: int | None
    total: int | None
    bytes_in: int | None
    bytes_out: int | None


@dataclass(frozen=True)
class ListenerFigures:
    listener_id: str
    active: int | None
    total: int | None
    bytes_in: int | None
    bytes_out: int | None
    requests_per_second: float | None
    members: tuple[MemberFigures, ...]


@dataclass(frozen=True)
class LoadBalancerFigures:
    load_balancer_id: str
    active: int | None
    total: int | None
    bytes_in: int | None
    bytes_out: int | None
    requests_per_second: float | None
    listeners: tuple[ListenerFigures, ...]
    sampled_at: float | None  # wall clock of the newest report used
    unavailable_reason: str = ""


@dataclass
class _Counts:
    """One (frontend, backend) on one node, with the offsets of its restarts."""

    active: int = 0
    total: int = 0
    bytes_in: int | None = None
    bytes_out: int | None = None
    offset_total: int = 0
    offset_in: int = 0
    offset_out: int = 0

    def take(self, b: ReportedBackend) -> None:
        if b.total < self.total:  # the worker started over
            self.offset_total += self.total
            self.offset_in += self.bytes_in or 0
            self.offset_out += self.bytes_out or 0
        self.active = b.active
        self.total = b.total
        self.bytes_in = b.bytes_in
        self.bytes_out = b.bytes_out

    @property
    def all_total(self) -> int:
        return self.offset_total + self.total

    @property
    def all_in(self) -> int | None:
        return None if self.bytes_in is None else self.offset_in + self.bytes_in

    @property
    def all_out(self) -> int | None:
        return None if self.bytes_out is None else self.offset_out + self.bytes_out


@dataclass
class _FlowBytes:
    """A frontend's client-to-VIP bytes on one node, from its OpenFlow counters."""

    value: int = 0
    offset: int = 0

    def take(self, value: int) -> None:
        if value < self.value:  # flows were reinstalled, or the worker started over
            self.offset += self.value
        self.value = value

    @property
    def total(self) -> int:
        return self.offset + self.value


@dataclass
class _Node:
    reported: float = 0.0  # monotonic
    reported_wall: float = 0.0
    available: bool = False
    reason: str = ""
    counts: dict[FrontendKey, dict[BackendKey, _Counts]] = field(default_factory=dict)
    flow_bytes: dict[FrontendKey, _FlowBytes] = field(default_factory=dict)
    epoch: int = 0

    def start_over(self) -> None:
        """The worker restarted: what it counted so far becomes the offsets."""
        for per_backend in self.counts.values():
            for c in per_backend.values():
                c.offset_total, c.total = c.all_total, 0
                c.offset_in, c.offset_out = c.all_in or 0, c.all_out or 0
                c.bytes_in = c.bytes_out = None
                c.active = 0
        for f in self.flow_bytes.values():
            f.offset, f.value = f.total, 0


@dataclass
class _Sum:
    active: int | None = None
    total: int | None = None
    bytes_in: int | None = None
    bytes_out: int | None = None

    def add(self, c: _Counts, fresh: bool) -> None:
        self.total = (self.total or 0) + c.all_total
        if fresh:
            self.active = (self.active or 0) + c.active
        if c.all_in is not None:
            self.bytes_in = (self.bytes_in or 0) + c.all_in
        if c.all_out is not None:
            self.bytes_out = (self.bytes_out or 0) + c.all_out

    def merge(self, other: _Sum) -> None:
        for name in ("active", "total", "bytes_in", "bytes_out"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if theirs is not None:
                setattr(self, name, (mine or 0) + theirs)


def frontend_key(lb: model.LoadBalancer, listener: model.Listener) -> FrontendKey:
    return (listener.protocol.l4, lb.vip_address, listener.port)


class StatsAggregator:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._nodes: dict[str, _Node] = {}
        self._history: dict[FrontendKey, deque[tuple[float, int]]] = {}
        self._frontends: dict[FrontendKey, set[str]] = {}  # -> load balancers using it
        self._network_of: dict[str, str] = {}  # load balancer -> network
        self._of_lb: dict[str, tuple[FrontendKey, ...]] = {}
        self._listeners: list[Callable[[set[FrontendKey]], None]] = []

    # --- what the workers watch -----------------------------------------------------

    def update(self, lbs: Iterable[model.LoadBalancer], deleted: Iterable[str] = ()) -> bool:
        """Keeps the frontends to report in step with the store; True when
        the set changed (the workers need the new one)."""
        changed = False
        for lb_id in deleted:
            changed |= self._set(lb_id, ())
        for lb in lbs:
            keys: tuple[FrontendKey, ...] = ()
            if lb.provisioning_status is not model.ProvisioningStatus.PENDING_DELETE:
                keys = tuple(frontend_key(lb, li) for li in lb.listeners)
                self._network_of[lb.id] = lb.network_id
            changed |= self._set(lb.id, keys)
        return changed

    def _set(self, lb_id: str, keys: tuple[FrontendKey, ...]) -> bool:
        old = self._of_lb.get(lb_id, ())
        if old == keys:
            return False
        changed = False
        # Only what went away is forgotten: a listener added beside others keeps their figures.
        for key in set(old) - set(keys):
            users = self._frontends[key]
            users.discard(lb_id)
            if not users:
                changed = True
                del self._frontends[key]
                self._history.pop(key, None)
                for node in self._nodes.values():
                    node.counts.pop(key, None)
                    node.flow_bytes.pop(key, None)
        for key in set(keys) - set(old):
            changed |= key not in self._frontends
            self._frontends.setdefault(key, set()).add(lb_id)
        if keys:
            self._of_lb[lb_id] = keys
        else:
            self._of_lb.pop(lb_id, None)
            self._network_of.pop(lb_id, None)
        return changed

    def _shared(self, key: FrontendKey) -> bool:
        """The same VIP:port on several networks: one node's conntrack cannot
        tell their connections apart, so neither figure is shown."""
        return len({self._network_of.get(lb_id) for lb_id in self._frontends.get(key, ())}) > 1

    def frontends_seen(self) -> set[FrontendKey]:
        """Frontends some node has seen a connection of."""
        return {key for node in self._nodes.values() for key in node.counts}

    def load_balancers_of(self, keys: set[FrontendKey]) -> set[str]:
        return {lb_id for key in keys for lb_id in self._frontends.get(key, ())}

    def frontends(self) -> list[FrontendKey]:
        """Every VIP:port a worker should report on."""
        return sorted(self._frontends)

    # --- reports ---------------------------------------------------------------------

    def subscribe(self, callback: Callable[[set[FrontendKey]], None]) -> None:
        """callback(frontends) after each report, with the frontends it touched."""
        self._listeners.append(callback)

    def report(self, node_id: str, report: NodeReport, wall: float | None = None) -> None:
        now = self._clock()
        node = self._nodes.setdefault(node_id, _Node())
        node.reported, node.reported_wall = now, wall if wall is not None else time.time()
        node.available, node.reason = report.available, report.reason
        if report.epoch and report.epoch != node.epoch:  # (an unreadable report carries none)
            if node.epoch:
                node.start_over()
            node.epoch = report.epoch
        touched: set[FrontendKey] = set()
        seen: set[FrontendKey] = set()
        for fs in report.frontends:
            key = fs.key
            if key not in self._frontends:
                continue  # a frontend deleted since the worker's last update
            seen.add(key)
            per_backend = node.counts.setdefault(key, {})
            for b in fs.backends:
                per_backend.setdefault((b.address, b.port), _Counts()).take(b)
            if fs.bytes_in is not None:
                node.flow_bytes.setdefault(key, _FlowBytes()).take(fs.bytes_in)
            touched.add(key)
        # Frontends left out have nothing open on this node now.
        for key, per_backend in node.counts.items():
            if key not in seen:
                for c in per_backend.values():
                    if c.active:
                        c.active = 0
                        touched.add(key)
        for key in node.counts:
            self._remember(key, now)
        for callback in self._listeners:
            callback(touched)

    def forget_node(self, node_id: str) -> None:
        """The worker left; its totals stay, its open connections are unknown."""
        node = self._nodes.get(node_id)
        if node:
            node.reported = float("-inf")

    def _remember(self, key: FrontendKey, now: float) -> None:
        total = sum(c.all_total for node in self._nodes.values() for c in node.counts.get(key, {}).values())
        history = self._history.setdefault(key, deque())
        history.append((now, total))
        while len(history) > 2 and history[1][0] <= now - STATS_WINDOW:
            history.popleft()

    # --- figures ---------------------------------------------------------------------

    def _fresh_nodes(self) -> list[_Node]:
        now = self._clock()
        return [n for n in self._nodes.values() if now - n.reported <= STALE_AFTER and n.available]

    def unavailable_reason(self) -> str:
        now = self._clock()
        fresh = [n for n in self._nodes.values() if now - n.reported <= STALE_AFTER]
        if not fresh:
            return "no health worker reports data-path statistics"
        if not any(n.available for n in fresh):
            return "; ".join(sorted({n.reason or "data path unreadable" for n in fresh}))
        return ""

    def requests_per_second(self, key: FrontendKey) -> float | None:
        history = self._history.get(key)
        if not history:
            return 0.0 if key in self._frontends else None  # no connection seen yet
        if len(history) < 2:
            return None
        (t0, n0), (t1, n1) = history[0], history[-1]
        if t1 - t0 < 0.5 or self._clock() - t1 > STALE_AFTER:
            return None  # not measured long enough, or no longer measured
        return max(0, n1 - n0) / (t1 - t0)

    def _sum(self, key: FrontendKey, backend: BackendKey | None, fresh_ids: set[int]) -> _Sum:
        """Figures of a frontend (or one backend of it) over the nodes; open
        connections only from the nodes in `fresh_ids`."""
        out = _Sum()
        for node in self._nodes.values():
            per_backend = node.counts.get(key)
            if not per_backend:
                continue
            counts = per_backend.values() if backend is None else [per_backend.get(backend)]
            for c in counts:
                if c is not None:
                    out.add(c, id(node) in fresh_ids)
        return out

    def _flow_bytes_in(self, key: FrontendKey) -> int | None:
        found = [n.flow_bytes[key].total for n in self._nodes.values() if key in n.flow_bytes]
        return sum(found) if found else None

    def figures(self, lb: model.LoadBalancer) -> LoadBalancerFigures:
        fresh = self._fresh_nodes()
        fresh_ids = {id(n) for n in fresh}
        reason = self.unavailable_reason()
        if reason:
            return LoadBalancerFigures(lb.id, None, None, None, None, None, (), None, reason)
        listeners = []
        whole = _Sum(active=0, total=0)
        rps_total: float | None = 0.0
        shared = [li for li in lb.listeners if self._shared(frontend_key(lb, li))]
        for listener in lb.listeners:
            key = frontend_key(lb, listener)
            if listener in shared:
                nothing = tuple(
                    MemberFigures(m.id, None, None, None, None) for m in lb.pool_of(listener).members
                )
                listeners.append(ListenerFigures(listener.id, None, None, None, None, None, nothing))
                continue
            lsum = self._sum(key, None, fresh_ids)
            if lsum.bytes_in is None:  # no conntrack accounting: the balancing flows' counters
                lsum.bytes_in = self._flow_bytes_in(key)
            if lsum.active is None:
                lsum.active = 0
            if lsum.total is None:
                lsum.total = 0
            whole.merge(lsum)
            rps = self.requests_per_second(key)
            rps_total = None if rps is None or rps_total is None else rps_total + rps
            members = []
            for m in lb.pool_of(listener).members:
                msum = self._sum(key, (m.address, m.port), fresh_ids)
                members.append(
                    MemberFigures(m.id, msum.active or 0, msum.total or 0, msum.bytes_in, msum.bytes_out)
                )
            listeners.append(
                ListenerFigures(
                    listener.id, lsum.active, lsum.total, lsum.bytes_in, lsum.bytes_out, rps, tuple(members)
                )
            )
        sampled = max((n.reported_wall for n in fresh), default=None)
        if shared:
            # Some of the load balancer is not measured: no sum for the whole of it.
            reason = (
                "VIP:port also used on another network; the data path cannot tell their connections apart"
            )
            return LoadBalancerFigures(lb.id, None, None, None, None, None, tuple(listeners), sampled, reason)
        return LoadBalancerFigures(
            lb.id,
            whole.active,
            whole.total,
            whole.bytes_in,
            whole.bytes_out,
            rps_total if lb.listeners else None,
            tuple(listeners),
            sampled,
        )

    def member_active(self, lb: model.LoadBalancer, listener: model.Listener) -> dict[str, int] | None:
        """Open connections per member of a listener, or None without fresh figures."""
        fresh_ids = {id(n) for n in self._fresh_nodes()}
        key = frontend_key(lb, listener)
        if not fresh_ids or self._shared(key):
            return None
        return {
            m.id: self._sum(key, (m.address, m.port), fresh_ids).active or 0
            for m in lb.pool_of(listener).members
        }

    def nodes(self) -> int:
        return len(self._fresh_nodes())
