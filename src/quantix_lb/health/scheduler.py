"""Many targets, one asyncio loop: each target probed every `delay` seconds, state changes reported.

One scheduler task keeps a heap of (due time, target) and starts the probes that are due, so
10,000 targets cost one timer, not 10,000 sleeping tasks. TCP and plain-HTTP probes run as
loop callbacks (checks.start_probe), the others as short-lived tasks. At most one probe is in
flight per target.

Fair and bounded (one tenant cannot starve another's checks):

- Floor: a target's delay and timeout are never below `MIN_INTERVAL` (100 ms); the API refuses
  shorter ones, and anything shorter that reaches the prober (stored before the floor) is
  checked at the floor.
- Budget: each project may start at most `project_budget` checks per second here (a token
  bucket, `BURST` seconds deep; targets without a project, from a control plane that does
  not say, are not budgeted). A due check of a project whose bucket is empty waits in that
  project's own queue and the project sleeps on a timer until its next tokens; the heap goes
  on to the next due check at once, so one project's backlog never sits in front of another's
  checks (no head-of-line blocking), and its cost is O(1) per check it does start.
- Concurrency: at most `concurrency` probes in flight in all, and a project may start one
  only while its own in-flight probes plus everyone's stay below that cap. Alone, a project
  gets half of the permits; k busy ones get about cap/(k+1) each; and only a project with
  nothing in flight can take the last permit, so checks that hang until their timeout never
  lock another project out. Projects waiting for permits get them in turn (round robin),
  one check each.
- Backoff: a member already found unhealthy that keeps failing (any failure: a refusal, a
  timeout, a bad answer) is checked at twice the interval after each further failure, up to
  8 x delay and at most 30 s (never less than delay); the first success snaps it back to
  `delay`. Finding a member down is not slowed (the failures up to `max_retries` come at
  `delay`), finding it up again is, by at most the cap minus delay. A changed target
  starts over.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import heapq
import itertools
import math
import random
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import replace

import structlog

from quantix_lb.health.checks import ProbeResult, Target, probe, start_probe
from quantix_lb.health.limits import MIN_INTERVAL, PROJECT_BUDGET
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
# How many seconds of its budget a project may spend at once (the depth of its bucket):
# a burst as long as the shortest delay, so a project's evenly spread checks never wait.
BURST = MIN_INTERVAL
# A project out of tokens sleeps until it has this many seconds' worth (at least one token).
TOKEN_WAIT = 0.01
# Backoff of a member that stays down: the interval doubles up to 2**BACKOFF_STEPS x delay,
# and never beyond BACKOFF_CAP seconds (unless delay itself is longer).
BACKOFF_STEPS = 3
BACKOFF_CAP = 30.0

# Where a project with waiting checks is: nowhere (it has none), in the ready queue (it may
# start one when a permit comes free), or on a timer (until its next tokens).
_IDLE, _READY, _TIMER = 0, 1, 2


class _Project:
    """One project's bucket, probes in flight and queue of due checks held back."""

    __slots__ = ("in_flight", "name", "rate", "stamp", "state", "targets", "tokens", "waiting")

    def __init__(self, name: str, rate: float | None, tokens: float) -> None:
        self.name = name
        self.rate = rate  # its budget, checks/s (None: unlimited)
        self.tokens = tokens
        self.stamp = -math.inf  # when `tokens` was last topped up
        self.in_flight = 0
        self.targets = 0
        self.state = _IDLE
        # Due checks in the order they fell due, as (heap token, slot): stale ones are skipped.
        self.waiting: deque[tuple[int, _Slot]] = deque()


class _Slot:
    """One target's schedule and health."""

    __slots__ = (
        "backoff",
        "cancel",
        "charged",
        "health",
        "project",
        "removed",
        "started",
        "target",
        "task_backed",
        "token",
    )

    def __init__(self, target: Target, known: bool | None, project: _Project) -> None:
        self.target = target
        self.health = MemberHealth(target.max_retries, target.healthy_threshold, known)
        self.project = project
        # The project whose permit the in-flight probe holds (the target may move meanwhile).
        self.charged = project
        # The in-flight probe's cancel function, if one is in flight.
        self.cancel: Callable[[], object] | None = None
        self.task_backed = False
        self.started = 0.0
        # A heap entry is live only while its token matches: rescheduling or removing a
        # target bumps the token instead of searching the heap.
        self.token = 0
        self.removed = False
        self.backoff = 0  # doublings of the interval while the member stays down


class Prober:
    """Probes a changing set of targets; calls `on_transition(target_id, healthy, reason)`
    only when a target's state changes (see MemberHealth for the thresholds).

    Construction has no side effects; `start()` (inside a running loop) begins probing and
    `await stop()` ends it. The set of targets may be changed before, during and after.
    `probe_fn` replaces the probe (tests); it then runs as a task for every type.
    `on_result(target_id, result)`, if given, sees every probe's outcome (metrics,
    benchmarks); it runs on the hot path, so keep it cheap.

    `project_budget`: checks per second each project (Target.project) may start (None:
    unlimited; targets without a project are not budgeted); `min_interval`: the floor under
    delay and timeout (only tests lower it).
    """

    def __init__(
        self,
        on_transition: OnTransition,
        *,
        concurrency: int = 2000,
        project_budget: float | None = PROJECT_BUDGET,
        min_interval: float = MIN_INTERVAL,
        probe_fn: ProbeFn = probe,
        rng: random.Random | None = None,
        on_result: Callable[[str, ProbeResult], None] | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if project_budget is not None and not project_budget > 0:
            raise ValueError("project_budget must be a positive number of checks per second")
        if not min_interval >= 0:
            raise ValueError("min_interval must not be negative")
        self._on_transition = on_transition
        self._on_result = on_result
        self._probe = probe_fn
        self._callbacks = probe_fn is probe  # the real probe: use the callback form where it exists
        self._rng = rng or random.Random()
        self._concurrency = concurrency
        self._rate = None if project_budget is None or math.isinf(project_budget) else project_budget
        self._burst = max(1.0, (self._rate or 0.0) * BURST)
        # A project over its budget wakes the scheduler for a few tokens at a time, not for each.
        self._lump = min(self._burst, max(1.0, (self._rate or 0.0) * TOKEN_WAIT))
        self._floor = min_interval
        self._slots: dict[str, _Slot] = {}
        self._projects: dict[str, _Project] = {}
        self._heap: list[tuple[float, int, int, _Slot]] = []
        self._timers: list[tuple[float, int, _Project]] = []  # projects waiting for a token
        self._ready: deque[_Project] = deque()  # projects waiting for a permit, in turn
        self._seq = itertools.count()  # tie-breaker: slots themselves are not comparable
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake: asyncio.Future[None] | None = None
        self._wake_at = math.inf
        self._in_flight = 0
        self._raised: set[str] = set()  # projects already logged for a sub-floor monitor
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
        takes effect from its next probe); a changed one starts its backoff over."""
        target = self._floored(target)
        slot = self._slots.get(target.id)
        if slot is None:
            project = self._project(target.project)
            project.targets += 1
            slot = self._slots[target.id] = _Slot(target, known, project)
            if self._runner is not None:
                self._schedule(slot, self._now() + self._rng.random() * target.delay)
            return
        if slot.target == target:
            return
        old, slot.target = slot.target, target
        slot.health.reconfigure(target.max_retries, target.healthy_threshold)
        backed_off, slot.backoff = slot.backoff, 0
        moved = target.project != old.project
        if moved:
            self._leave(slot.project)
            slot.project = self._project(target.project)
            slot.project.targets += 1
        if (target.delay < old.delay or backed_off or moved) and slot.cancel is None and self._runner:
            # Do not let a long old delay (or backoff) postpone the first probe at the new one;
            # a check waiting in the old project's queue is dropped there and queued anew.
            self._schedule(slot, self._now() + self._rng.random() * target.delay)

    def remove(self, target_id: str) -> bool:
        """Stop probing a target (an in-flight probe is cancelled and not reported)."""
        slot = self._slots.pop(target_id, None)
        if slot is None:
            return False
        slot.removed = True
        slot.token += 1
        self._abort(slot)
        self._leave(slot.project)
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

    def _floored(self, target: Target) -> Target:
        floor = self._floor
        if target.delay >= floor and target.timeout >= floor:
            return target
        if target.project not in self._raised:
            self._raised.add(target.project)
            log.warning(
                "prober.raised_to_floor",
                project=target.project,
                target_id=target.id,
                delay=target.delay,
                timeout=target.timeout,
                floor=floor,
            )
        return replace(target, delay=max(target.delay, floor), timeout=max(target.timeout, floor))

    def _project(self, name: str) -> _Project:
        project = self._projects.get(name)
        if project is None:
            # No project: the control plane did not say whose (one older than budgets); a
            # tenant cannot name it (a load balancer's project_id is required).
            rate = self._rate if name else None
            project = self._projects[name] = _Project(name, rate, self._burst)
        return project

    def _leave(self, project: _Project) -> None:
        project.targets -= 1
        if not project.targets:
            # Its queue holds only stale entries now; the ready queue and timers drop it.
            project.waiting.clear()
            self._projects.pop(project.name, None)

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
        self._timers.clear()
        self._ready.clear()
        for project in self._projects.values():
            project.waiting.clear()
            project.state = _IDLE
        self._wake = None
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
        heap, timers, ready = self._heap, self._timers, self._ready
        while True:
            now = loop.time()
            horizon = now + COALESCE
            # Projects whose next token is due may start checks again.
            while timers and timers[0][0] <= horizon:
                project = heapq.heappop(timers)[2]
                project.state = _READY
                ready.append(project)
            # Checks held back go first, one per project in turn, while permits last.
            started = self._serve_ready(loop, now) if ready else 0
            # Then the checks falling due now. The fast path: the project has nothing
            # waiting, a permit and a token -> start it.
            burst, cap = self._burst, self._concurrency
            while started < BATCH and heap and heap[0][0] <= horizon:
                _, _, token, slot = heapq.heappop(heap)
                if token != slot.token:
                    continue  # removed or rescheduled since
                project = slot.project
                if project.state:  # checks of its own are waiting: keep their order
                    project.waiting.append((token, slot))
                    continue
                if project.in_flight + self._in_flight >= cap:  # its share of the permits is taken
                    project.waiting.append((token, slot))
                    project.state = _READY
                    ready.append(project)
                    continue
                rate = project.rate
                if rate is not None:
                    tokens = project.tokens + (now - project.stamp) * rate
                    if tokens > burst:
                        tokens = burst
                    project.stamp = now
                    if tokens < 1.0:
                        project.tokens = tokens
                        project.waiting.append((token, slot))
                        self._sleep_until_token(project, now)
                        continue
                    project.tokens = tokens - 1.0
                self._launch(loop, slot)
                started += 1
            if started >= BATCH:
                # Yield so that completions (and their timeouts) are handled meanwhile.
                await asyncio.sleep(0)
                continue
            self._wake = wake = loop.create_future()
            wake_at = heap[0][0] if heap else math.inf
            if timers and timers[0][0] < wake_at:
                wake_at = timers[0][0]
            self._wake_at = wake_at
            timer = loop.call_at(wake_at, _wake_up, wake) if wake_at < math.inf else None
            try:
                await wake
            finally:
                if timer is not None:
                    timer.cancel()
                self._wake_at = -math.inf  # awake: nobody needs to wake us

    def _serve_ready(self, loop: asyncio.AbstractEventLoop, now: float) -> int:
        """Start held-back checks, one per ready project per round, while any can start
        and the batch lasts; returns how many started. A project still without a permit
        stays in the queue: the next probe to end wakes the scheduler for it."""
        ready, cap = self._ready, self._concurrency
        started = 0
        progress = True
        while ready and progress and started < BATCH and self._in_flight < cap:
            progress = False
            for _ in range(len(ready)):
                if started >= BATCH:
                    break
                project = ready.popleft()
                waiting = project.waiting
                while waiting and waiting[0][0] != waiting[0][1].token:
                    waiting.popleft()  # removed or rescheduled while it waited
                if not waiting:
                    project.state = _IDLE
                    continue
                if project.in_flight + self._in_flight >= cap:
                    ready.append(project)
                    continue
                rate = project.rate
                if rate is not None:
                    tokens = min(self._burst, project.tokens + (now - project.stamp) * rate)
                    project.stamp = now
                    if tokens < 1.0:
                        project.tokens = tokens
                        self._sleep_until_token(project, now)
                        continue
                    project.tokens = tokens - 1.0
                self._launch(loop, waiting.popleft()[1])
                started += 1
                progress = True
                if waiting:
                    ready.append(project)  # back of the line: the others get a turn first
                else:
                    project.state = _IDLE
        return started

    def _sleep_until_token(self, project: _Project, now: float) -> None:
        project.state = _TIMER
        assert project.rate is not None
        due = now + (self._lump - project.tokens) / project.rate
        heapq.heappush(self._timers, (due, next(self._seq), project))

    def _launch(self, loop: asyncio.AbstractEventLoop, slot: _Slot) -> None:
        self.probes_started += 1
        self._in_flight += 1
        project = slot.charged = slot.project
        project.in_flight += 1
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
        task.add_done_callback(functools.partial(self._task_done, project))
        slot.cancel, slot.task_backed = task.cancel, True

    def _abort(self, slot: _Slot) -> None:
        cancel, slot.cancel = slot.cancel, None
        if cancel is not None:
            cancel()
            if not slot.task_backed:
                self._release(slot.charged)  # a cancelled callback probe never calls back

    def _release(self, project: _Project) -> None:
        self._in_flight -= 1
        project.in_flight -= 1
        if self._ready:
            wake = self._wake
            if wake is not None and not wake.done():
                wake.set_result(None)  # a permit for a check held back

    def _task_done(self, project: _Project, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self._release(project)

    def _callback_done(self, slot: _Slot, result: ProbeResult) -> None:
        self._release(slot.charged)
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
        health = slot.health
        was_down = health.state is False
        healthy = health.observe(result.ok)
        interval = slot.target.delay
        if result.ok:
            slot.backoff = 0
        elif was_down:
            # Down already and failing still: check it less often (see the module's docstring).
            if slot.backoff < BACKOFF_STEPS:
                slot.backoff += 1
            interval = min(interval * (1 << slot.backoff), max(interval, BACKOFF_CAP))
        # Fixed rate from the start of this probe; a probe slower than its interval is
        # followed by the next one at once, never by two at a time.
        self._schedule(slot, max(slot.started + interval, self._now()))
        if healthy is not None:
            try:
                self._on_transition(slot.target.id, healthy, result.reason)
            except Exception:
                log.exception("prober.on_transition_failed", target_id=slot.target.id)


def _wake_up(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)
