"""Least connections on top of OVN's hashing: how often to list each member.

OVN picks a backend for a NEW connection by hashing over the entries of the
VIP's backend list, one OpenFlow select bucket per entry; live connections stay
on their backend through conntrack when the list changes. So a pool's new
connections can be steered by how many times each member is listed.

The controller fills up the least loaded members first ("water filling" on
connections / weight): it expects some new long-lived connections before the
next sample (twice the recent rise of the open count, at least one per member)
and gives each member the share that brings the members' loads as close
together as possible after them. Members already above that level get no
entry. The rise, not the arrival rate, is what adds load: most connections may
close before the next sample. A pool whose loads are within one connection
(per unit of weight) keeps its plain weighted list, and a list is rewritten
only when a member joins or leaves it, or a share moves by SHARE_STEP (at most
every SHARE_EVERY): each write makes OVN replace the VIP's flows and select group.

Granularity: the list follows the live counts one sample period (about a
second) plus NB-to-flows propagation behind; within that window new
connections follow the last list.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from quantix_lb import model
from quantix_lb.ovn import translate
from quantix_lb.ovn.contract import Steering
from quantix_lb.stats.aggregate import FrontendKey, StatsAggregator, frontend_key

# listener id -> member id -> backend-list entries

SLOTS_PER_MEMBER = 32  # entries per unit of weight before reduction (fine enough shares)
MAX_SLOTS = 256  # the translation's cap on a backend list
HEADROOM = 2.0  # arrivals expected = HEADROOM x measured, so bursts spread
GROWTH_SAMPLES = 5  # samples over which the rise of open connections is averaged
SHARE_STEP = 0.1  # a listed member's share must move this much to rewrite the list
SHARE_EVERY = 5.0  # seconds between rewrites that only move shares
BALANCED_SPREAD = 0.1  # loads this close (relative to the mean) count as balanced


@dataclass(frozen=True)
class Load:
    member_id: str
    weight: int  # > 0: only members that may take new connections
    active: int  # connections open now


def water_level(loads: Sequence[Load], arrivals: float) -> dict[str, float]:
    """How many of `arrivals` new connections each member should take so that
    max(active / weight) afterwards is as small as possible."""
    if not loads:
        return {}
    ordered = sorted(loads, key=lambda m: m.active / m.weight)
    # Raise the level across members in order of load until the arrivals are used up.
    weight_sum, active_sum, level = 0, 0, 0.0
    for i, m in enumerate(ordered):
        weight_sum += m.weight
        active_sum += m.active
        level = (arrivals + active_sum) / weight_sum
        nxt = ordered[i + 1].active / ordered[i + 1].weight if i + 1 < len(ordered) else math.inf
        if level <= nxt:
            break
    return {m.member_id: max(0.0, level * m.weight - m.active) for m in loads}


def repetitions(loads: Sequence[Load], arrivals: float) -> dict[str, int]:
    """Backend-list entries per member (0: not listed), at least one in all."""
    if not loads:
        return {}
    g = math.gcd(*[m.weight for m in loads])
    # A multiple of the weights' sum: equal loads give exactly the weighted list.
    slots = min(MAX_SLOTS, SLOTS_PER_MEMBER * sum(m.weight // g for m in loads))
    expected = max(arrivals * HEADROOM, float(len(loads)))
    share = water_level(loads, expected)
    total = sum(share.values()) or 1.0
    exact = {k: v * slots / total for k, v in share.items()}
    reps = {k: math.floor(v) for k, v in exact.items()}
    # Largest remainders fill the slots left; anyone with a share gets an entry.
    left = slots - sum(reps.values())
    for k in sorted(exact, key=lambda k: exact[k] - reps[k], reverse=True)[: max(0, left)]:
        reps[k] += 1
    for k, v in share.items():
        if v > 0 and reps[k] == 0:
            reps[k] = 1
    if not any(reps.values()):
        reps[loads[0].member_id] = 1
    # The entries given to small shares may overrun the cap: the largest give back.
    for _ in range(sum(reps.values()) - MAX_SLOTS):
        biggest = max(reps, key=reps.__getitem__)
        reps[biggest] -= 1
    return _reduced(reps)


def _reduced(reps: dict[str, int]) -> dict[str, int]:
    """Divides by the common factor: the same shares in fewer buckets."""
    g = math.gcd(*[v for v in reps.values() if v]) or 1
    return {k: v // g for k, v in reps.items()}


class SteeringController:
    """Re-weights LEAST_CONNECTIONS pools on every fresh sample.

    It hands the realizer backend-list entries per member (`steer`), only when
    they change, and withdraws them (plain weights again) when no worker
    reports fresh figures."""

    def __init__(
        self,
        stats: StatsAggregator,
        steer: Callable[[str, Steering | None], None],
        period: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.period = period  # seconds between samples: arrivals are expected per period
        self._stats = stats
        self._steer = steer
        self._lbs: dict[str, model.LoadBalancer] = {}  # with a LEAST_CONNECTIONS pool
        self._by_frontend: dict[FrontendKey, set[str]] = {}
        self._applied: dict[str, Steering] = {}
        self._open: dict[tuple[str, str], deque[int]] = {}  # open connections, last samples
        self._written: dict[str, float] = {}  # load balancer -> when its lists were last handed over
        self._clock = clock
        self.changes = 0  # steering updates handed to the realizer

    def update(self, lbs: Iterable[model.LoadBalancer], deleted: Iterable[str] = ()) -> None:
        for lb_id in deleted:
            self._drop(lb_id)
            self._written.pop(lb_id, None)
        for lb in lbs:
            steered = [li for li, pool in lb.served() if pool.algorithm is model.Algorithm.LEAST_CONNECTIONS]
            if not steered or lb.provisioning_status is model.ProvisioningStatus.PENDING_DELETE:
                self._drop(lb.id)
                continue
            # A new revision keeps the lists and history it had: a health
            # transition rewrites only what it changes (who may be listed).
            self._unindex(lb.id)
            self._lbs[lb.id] = lb
            for li in steered:
                self._by_frontend.setdefault(frontend_key(lb, li), set()).add(lb.id)
            self._apply(lb)

    def _unindex(self, lb_id: str) -> model.LoadBalancer | None:
        lb = self._lbs.pop(lb_id, None)
        if lb is None:
            return None
        for li in lb.listeners:
            ids = self._by_frontend.get(frontend_key(lb, li))
            if ids is not None:
                ids.discard(lb_id)
                if not ids:
                    del self._by_frontend[frontend_key(lb, li)]
        return lb

    def _drop(self, lb_id: str) -> None:
        if self._unindex(lb_id) is None:
            return
        for key in [k for k in self._open if k[0] == lb_id]:
            del self._open[key]
        if self._applied.pop(lb_id, None) is not None:
            self._steer(lb_id, None)

    def on_sample(self, touched: set[FrontendKey]) -> None:
        ids = {lb_id for key in touched for lb_id in self._by_frontend.get(key, ())}
        for lb_id in ids:
            self._apply(self._lbs[lb_id], sampled=True)

    def check_fresh(self) -> None:
        """Called periodically: without fresh figures, back to plain weights."""
        if self._stats.nodes():
            return
        for lb_id in list(self._applied):
            del self._applied[lb_id]
            self.changes += 1
            self._steer(lb_id, None)

    def _apply(self, lb: model.LoadBalancer, sampled: bool = False) -> None:
        steering = self.steering_of(lb, sampled)
        if steering == self._applied.get(lb.id):
            return
        self._written[lb.id] = self._clock()
        self.changes += 1
        if steering is None:
            self._applied.pop(lb.id, None)
        else:
            self._applied[lb.id] = steering
        self._steer(lb.id, steering)

    def _pool_active(self, lb: model.LoadBalancer, pool: model.Pool) -> dict[str, int] | None:
        """Open connections per member over every listener the pool serves: a
        member's load is all of it, whichever VIP:port it came through."""
        total: dict[str, int] = {}
        for listener in lb.listeners_of(pool.id):
            counts = self._stats.member_active(lb, listener)
            if counts is None:
                return None
            for member_id, n in counts.items():
                total[member_id] = total.get(member_id, 0) + n
        return total

    def steering_of(self, lb: model.LoadBalancer, sampled: bool = False) -> Steering | None:
        """The backend lists for the LEAST_CONNECTIONS listeners that need
        steering (a balanced pool keeps its plain weighted list), or None
        without fresh figures. `sampled`: called for a fresh sample."""
        out: dict[str, Mapping[str, int]] = {}
        previous = self._applied.get(lb.id, {})
        for li in lb.listeners:
            pool = lb.pool_of(li)
            if pool.algorithm is not model.Algorithm.LEAST_CONNECTIONS:
                continue
            active = self._pool_active(lb, pool)
            if active is None:
                return None
            loads = [Load(m.id, m.weight, active.get(m.id, 0)) for m in pool.members if translate.eligible(m)]
            history = self._open.setdefault((lb.id, li.id), deque(maxlen=GROWTH_SAMPLES + 1))
            if sampled:
                history.append(sum(m.active for m in loads))
            old = previous.get(li.id)
            recent = self._clock() - self._written.get(lb.id, float("-inf")) < SHARE_EVERY
            if not loads or balanced(loads):
                if old is not None and recent:
                    out[li.id] = old  # back to plain hashing, but not right after a write
                continue
            reps = repetitions(loads, growth(history))
            # Shares alone move at most every SHARE_EVERY; who is listed changes at once.
            keep = old is not None and (close_enough(old, reps) or (recent and same_members(old, reps)))
            out[li.id] = old if keep else reps
        return out or None


def balanced(loads: Sequence[Load]) -> bool:
    """Loads within one connection, or BALANCED_SPREAD of the mean, of each other
    (per unit of weight): plain weighted hashing serves, and the NB is left alone."""
    per_weight = [m.active / m.weight for m in loads]
    mean = sum(per_weight) / len(per_weight)
    return max(per_weight) - min(per_weight) <= max(1 / min(m.weight for m in loads), BALANCED_SPREAD * mean)


def growth(history: Sequence[int]) -> float:
    """New long-lived connections per sample: the mean rise of the open count.

    Not the arrival rate: most connections may close before the next sample
    and never add to a member's load; spreading for them would undo the
    steering."""
    rises = [max(0, b - a) for a, b in itertools.pairwise(history)]
    return sum(rises) / len(rises) if rises else 0.0


def same_members(old: Mapping[str, int], new: Mapping[str, int]) -> bool:
    return {k for k, v in old.items() if v} == {k for k, v in new.items() if v}


def close_enough(old: Mapping[str, int], new: Mapping[str, int]) -> bool:
    """The same members listed and no share moved by SHARE_STEP: not worth an
    NB write (each one makes OVN replace the VIP's flows and group)."""
    if not same_members(old, new):
        return False
    total_old, total_new = sum(old.values()), sum(new.values())
    return all(
        abs(old.get(k, 0) / total_old - new.get(k, 0) / total_new) < SHARE_STEP
        for k in old.keys() | new.keys()
    )
