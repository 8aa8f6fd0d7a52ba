"""Many targets, one asyncio loop: each target probed every `delay` seconds, state changes reported.

One scheduler task keeps a heap of (due time, target) and starts the probes that are due, so
10,000 targets cost one timer, not 10,000 sleeping tasks. TCP and plain-HTTP probes run as
loop callbacks (checks.start_probe), the others as short-lived tasks. At most one probe is in
flight per target and at most `concurrency` in all (a counting semaphore: when it is full,
due probes wait and start late rather than pile up).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import itertools
import math
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping

import structlog

from quantix_lb.health.checks import ProbeResult, Target, probe, start_probe
from quantix_lb.health.state import MemberHealth

log = structlog.get_logger(__name__)

OnTransition = Callable[[str, bool, str], None]
ProbeFn = Callable[[Target], Awaitable[ProbeResult]]

# Probes due within this much of each other start in one wake-up of the scheduler:
# at 10,000 probes/s that bounds wake-ups to ~1,000/s, at the cost of starting up to 1 ms early.
COALESCE = 0.001
# After this many starts in a row the scheduler yields, so that completions (and their
# timeouts) are handled while a large backlog is being started.
BATCH = 256


class _Slot:
    """One target's schedule and health."""

    __slots__ = ("cancel", "health", "removed", "started", "target", "task_backed", "token")

    def __init__(self, target: Target, known: bool | None) -> None:
        self.target = target
        self.health = MemberHealth(target.max_retries, target.healthy_threshold, known)
        # The in-flight probe's cancel function, if one is in flight.
        self.cancel: Callable[[], object] | None = None
        self.task_backed = False
        self.started = 0.0
        # A heap entry is live only while its token matches: rescheduling or removing a
        # target bumps the token instead of searching the heap.
        self.token = 0
        self.removed = False


class Prober:
    """Probes a changing set of targets; calls `on_transition(target_id, healthy, reason)`
    only when a target's state changes (see MemberHealth for the thresholds).

    Construction has no side effects; `start()` (inside a running loop) begins probing and
    `await stop()` ends it. The set of targets may be changed before, during and after.
    `probe_fn` replaces the probe (tests); it then runs as a task for every type.
    `on_result(target_id, result)`, if given, sees every probe's outcome (metrics,
    benchmarks); it runs on the hot path, so keep it cheap.
    """

    def __init__(
        self,
        on_transition: OnTransition,
        *,
        concurrency: int = 2000,
        probe_fn: ProbeFn = probe,
        rng: random.Random | None = None,
        on_result: Callable[[str, ProbeResult], None] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        self._on_transition = on_transition
        self._on_result = on_result
        self._probe = probe_fn
        self._callbacks = probe_fn is probe  # the real probe: use the callback form where it exists
        self._rng = rng or random.Random()
        self._concurrency = concurrency
        self._slots: dict[str, _Slot] = {}
        self._heap: list[tuple[float, int, int, _Slot]] = []
        self._seq = itertools.count()  # tie-breaker: slots themselves are not comparable
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake: asyncio.Future[None] | None = None
        self._wake_at = math.inf
        self._permit: asyncio.Future[None] | None = None
        self._in_flight = 0
        self.probes_started = 0
        self.probes_completed = 0

    # -- the set of targets -------------------------------------------------------------

    def set_targets(self, targets: Iterable[Target], known: Mapping[str, bool | None] | None = None) -> None:
        """Make `targets` the full set: targets that stay keep their state and schedule,
        removed ones stop, new ones start from `known[id]` (None: unknown)."""
        wanted = {t.id: t for t in targets}
        for target_id in [i for i in self._slots if i not in wanted]:
            self.remove(target_id)
        for target in wanted.values():
            self.upsert(target, known.get(target.id) if known else None)

    def upsert(self, target: Target, known: bool | None = None) -> None:
        """Add a target, or update one in place. `known` is the state a new target starts
        from; an existing target keeps its own state, counts and schedule (a new delay
        takes effect from its next probe)."""
        slot = self._slots.get(target.id)
        if slot is None:
            slot = self._slots[target.id] = _Slot(target, known)
            if self._runner is not None:
                self._schedule(slot, self._now() + self._rng.random() * target.delay)
            return
        if slot.target == target:
            return
        old, slot.target = slot.target, target
        slot.health.reconfigure(target.max_retries, target.healthy_threshold)
        if target.delay < old.delay and slot.cancel is None and self._runner is not None:
            # Do not let a long old delay postpone the first probe at the new, shorter one.
            self._schedule(slot, self._now() + self._rng.random() * target.delay)

    def remove(self, target_id: str) -> bool:
        """Stop probing a target (an in-flight probe is cancelled and not reported)."""
        slot = self._slots.pop(target_id, None)
        if slot is None:
            return False
        slot.removed = True
        slot.token += 1
        self._abort(slot)
        return True

    def state(self, target_id: str) -> bool | None:
        """True healthy, False unhealthy, None unknown (or no such target)."""
        slot = self._slots.get(target_id)
        return slot.health.state if slot else None

    def states(self) -> dict[str, bool | None]:
        return {target_id: slot.health.state for target_id, slot in self._slots.items()}

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, target_id: object) -> bool:
        return target_id in self._slots

    @property
    def in_flight(self) -> int:
        return self._in_flight

    # -- running ------------------------------------------------------------------------

    def start(self) -> None:
        """Begin probing; each target's first probe comes after a random jitter in
        [0, delay) so that a large set does not fire at once."""
        if self._runner is not None:
            raise RuntimeError("Prober already started")
        self._loop = asyncio.get_running_loop()
        self._heap.clear()
        now = self._loop.time()
        for slot in self._slots.values():
            self._schedule(slot, now + self._rng.random() * slot.target.delay)
        self._runner = self._loop.create_task(self._run(), name="quantix-lb-prober")

    async def stop(self) -> None:
        """Stop probing; in-flight probes are cancelled. Targets and their states are
        kept; `start()` may be called again."""
        runner, self._runner = self._runner, None
        if runner is None:
            return
        runner.cancel()
        for slot in self._slots.values():
            self._abort(slot)
        with contextlib.suppress(asyncio.CancelledError):
            await runner
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._heap.clear()
        self._wake = self._permit = None
        self._wake_at = math.inf

    def _now(self) -> float:
        assert self._loop is not None
        return self._loop.time()

    def _schedule(self, slot: _Slot, due: float) -> None:
        slot.token += 1
        heapq.heappush(self._heap, (due, next(self._seq), slot.token, slot))
        if due < self._wake_at and self._wake is not None and not self._wake.done():
            self._wake.set_result(None)  # the scheduler sleeps past this one: wake it

    async def _run(self) -> None:
        loop = self._loop
        assert loop is not None
        heap = self._heap
        while True:
            horizon = loop.time() + COALESCE
            started = 0
            while heap and heap[0][0] <= horizon:
                if self._in_flight >= self._concurrency:
                    # Full: wait for a completion; the due probes start late, none are lost.
                    self._permit = loop.create_future()
                    await self._permit
                    horizon = loop.time() + COALESCE
                    continue
                if started >= BATCH:
                    await asyncio.sleep(0)
                    horizon, started = loop.time() + COALESCE, 0
                    continue
                _, _, token, slot = heapq.heappop(heap)
                if token == slot.token:  # else removed or rescheduled since
                    self._launch(loop, slot)
                    started += 1
            self._wake = wake = loop.create_future()
            self._wake_at = heap[0][0] if heap else math.inf
            timer = loop.call_at(self._wake_at, _wake_up, wake) if heap else None
            try:
                await wake
            finally:
                if timer is not None:
                    timer.cancel()
                self._wake_at = -math.inf  # awake: nobody needs to wake us

    def _launch(self, loop: asyncio.AbstractEventLoop, slot: _Slot) -> None:
        self.probes_started += 1
        self._in_flight += 1
        slot.started = loop.time()
        if self._callbacks:
            cancel = start_probe(slot.target, functools.partial(self._callback_done, slot))
            if cancel is not None:
                slot.cancel, slot.task_backed = cancel, False
                return
        task = loop.create_task(self._run_probe(slot))
        self._tasks.add(task)
        # The permit comes back in a done callback, not in _run_probe: a task cancelled
        # before its first step never runs its body.
        task.add_done_callback(self._task_done)
        slot.cancel, slot.task_backed = task.cancel, True

    def _abort(self, slot: _Slot) -> None:
        cancel, slot.cancel = slot.cancel, None
        if cancel is not None:
            cancel()
            if not slot.task_backed:
                self._release()  # a cancelled callback probe never calls back

    def _release(self) -> None:
        self._in_flight -= 1
        permit = self._permit
        if permit is not None and not permit.done():
            permit.set_result(None)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._release()

    def _callback_done(self, slot: _Slot, result: ProbeResult) -> None:
        self._release()
        self._complete(slot, result)

    async def _run_probe(self, slot: _Slot) -> None:
        try:
            result = await self._probe(slot.target)
        except Exception as exc:  # probe() never raises; an injected probe_fn might
            result = ProbeResult(False, f"probe error: {exc!r}", self._now() - slot.started)
        self._complete(slot, result)

    def _complete(self, slot: _Slot, result: ProbeResult) -> None:
        slot.cancel = None
        self.probes_completed += 1
        if slot.removed or self._runner is None:
            return
        if self._on_result is not None:
            self._on_result(slot.target.id, result)
        # Fixed rate from the start of this probe; a probe slower than its delay is followed
        # by the next one at once, never by two at a time.
        self._schedule(slot, max(slot.started + slot.target.delay, self._now()))
        healthy = slot.health.observe(result.ok)
        if healthy is not None:
            try:
                self._on_transition(slot.target.id, healthy, result.reason)
            except Exception:
                log.exception("prober.on_transition_failed", target_id=slot.target.id)


def _wake_up(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
