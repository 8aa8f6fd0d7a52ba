"""Fair and bounded health checks: the 100 ms floor, per-project budgets and permits, backoff.

The prober runs on a real asyncio loop with a counting probe_fn (when each probe started,
per target and project). Bounds on rates are checked over windows measured on the loop's
clock, lower bounds on gaps are tight (the scheduler never starts a probe more than
COALESCE early; see EARLY), upper bounds are generous: a loaded machine only makes probes late.
The floor through every transport: tests/test_validation.py.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any

import pytest

from quantix_lb import model
from quantix_lb.health.checks import ProbeResult, Target
from quantix_lb.health.limits import MIN_INTERVAL
from quantix_lb.health.scheduler import BACKOFF_STEPS, BURST, COALESCE, Prober

DEADLINE = 20.0  # no single test may hang longer than this
# How much shorter than its interval a measured gap may be: the scheduler starts a probe up
# to COALESCE early, and the probe's task may run a little after its launch (on a loaded
# machine, the previous one's later than the next one's).
EARLY = COALESCE + 0.01


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    async def bounded() -> Any:
        async with asyncio.timeout(DEADLINE):
            return await coro

    return asyncio.run(bounded())


class Probe:
    """A probe_fn that records every start and answers `ok[target id]` (default up) after
    `hang[project]` seconds (default at once)."""

    def __init__(self) -> None:
        self.ok: dict[str, bool] = defaultdict(lambda: True)
        self.hang: dict[str, float] = {}
        self.calls: dict[str, list[float]] = defaultdict(list)
        self.by_project: dict[str, list[float]] = defaultdict(list)
        self.seen: dict[str, Target] = {}
        self.in_flight: dict[str, int] = defaultdict(int)
        self.max_in_flight: dict[str, int] = defaultdict(int)
        self.total = 0
        self.max_total = 0
        self._tick = asyncio.Event()

    async def __call__(self, t: Target) -> ProbeResult:
        now = asyncio.get_running_loop().time()
        self.calls[t.id].append(now)
        self.by_project[t.project].append(now)
        self.seen[t.id] = t
        self.in_flight[t.project] += 1
        self.total += 1
        self.max_in_flight[t.project] = max(self.max_in_flight[t.project], self.in_flight[t.project])
        self.max_total = max(self.max_total, self.total)
        self._tick.set()
        try:
            if self.hang.get(t.project):
                await asyncio.sleep(self.hang[t.project])
        finally:
            self.in_flight[t.project] -= 1
            self.total -= 1
        ok = self.ok[t.id]
        return ProbeResult(ok, "up" if ok else "down", 0.0)

    async def until(self, pred: Callable[[], bool], timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            while not pred():
                self._tick.clear()
                await self._tick.wait()


async def window(seconds: float) -> tuple[float, float]:
    """A measuring window on the loop's clock: (start, end)."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.sleep(seconds)
    return start, loop.time()


def within(times: list[float], span: tuple[float, float]) -> list[float]:
    return [t for t in times if span[0] <= t < span[1]]


def target(id: str, delay: float, project: str = "", **kw: Any) -> Target:
    kw = {"max_retries": 2, "healthy_threshold": 2, "timeout": delay, **kw}
    return Target(id=id, address="192.0.2.1", port=80, type="TCP", delay=delay, project=project, **kw)


# -- the floor --------------------------------------------------------------------------------


def _violations(hm: model.HealthMonitor) -> list[tuple[str, str]]:
    p = model.Problems()
    model.check_monitor(p, "hm", hm)
    return [(v.field, v.description) for v in p.violations]


def test_the_model_refuses_a_monitor_below_the_floor_naming_the_millisecond_field() -> None:
    def monitor(delay: float, timeout: float) -> model.HealthMonitor:
        return model.HealthMonitor(id="hm-1", type=model.MonitorType.TCP, delay=delay, timeout=timeout)

    floor = "must be at least 100 ms"
    assert MIN_INTERVAL == 0.1
    assert _violations(monitor(0.1, 0.1)) == []
    assert _violations(monitor(0.099, 0.099)) == [("hm.delay_ms", floor), ("hm.timeout_ms", floor)]
    assert _violations(monitor(5e-324, 5e-324)) == [("hm.delay_ms", floor), ("hm.timeout_ms", floor)]
    assert _violations(monitor(1.0, 0.05)) == [("hm.timeout_ms", floor)]
    # A timeout over the delay is that rule's violation, not a second one about the floor.
    assert _violations(monitor(0.05, 0.5)) == [
        ("hm.delay_ms", floor),
        ("hm.timeout", "must be greater than 0 and at most delay"),
    ]


def test_a_target_below_the_floor_is_probed_at_the_floor() -> None:
    """Monitors stored before the floor existed reach the prober unvalidated: it checks
    them at the floor, and passes a target at or above it through untouched."""

    async def main() -> None:
        probe = Probe()
        p = Prober(on_transition=lambda *_: None, probe_fn=probe)
        fast = target("fast", 0.001, timeout=5e-324)
        at_floor = target("at-floor", MIN_INTERVAL)
        p.set_targets([fast, at_floor])
        p.start()
        try:
            await probe.until(lambda: len(probe.calls["fast"]) >= 5)
            p.set_targets([fast, at_floor])  # a resync with the same stored values changes nothing
            await probe.until(lambda: len(probe.calls["fast"]) >= 7)
            assert (probe.seen["fast"].delay, probe.seen["fast"].timeout) == (MIN_INTERVAL, MIN_INTERVAL)
            assert probe.seen["at-floor"] is at_floor
            gaps = [b - a for a, b in itertools.pairwise(probe.calls["fast"])]
            assert min(gaps) >= MIN_INTERVAL - EARLY, gaps
        finally:
            await p.stop()

    run(main())


def test_prober_arguments_are_checked() -> None:
    for kw in ({"project_budget": 0}, {"project_budget": -1.0}, {"min_interval": -0.1}, {"concurrency": 0}):
        with pytest.raises(ValueError):
            Prober(on_transition=lambda *_: None, **kw)


# -- budgets ----------------------------------------------------------------------------------


def test_a_project_starts_at_most_its_budget_per_second() -> None:
    async def main() -> None:
        probe = Probe()
        budget = 200.0
        p = Prober(on_transition=lambda *_: None, probe_fn=probe, project_budget=budget, min_interval=0)
        # 100 targets every 10 ms: 10,000 checks/s asked for.
        p.set_targets(target(f"t{i}", 0.01, project="greedy") for i in range(100))
        p.start()
        try:
            await probe.until(lambda: len(probe.by_project["greedy"]) >= 1)
            span = await window(1.0)
            started = len(within(probe.by_project["greedy"], span))
            seconds = span[1] - span[0]
            # A token bucket: at most its depth plus the rate over the window (+1 for the edges).
            assert started <= budget * seconds + budget * BURST + 3, started
            assert started >= 0.5 * budget * seconds, started  # and the project does get its budget
        finally:
            await p.stop()

    run(main())


def test_targets_without_a_project_are_not_budgeted() -> None:
    """A control plane that does not say whose a target is (one older than budgets) must not
    have all of a worker's checks squeezed into one project's budget."""

    async def main() -> None:
        probe = Probe()
        budget = 100.0
        p = Prober(on_transition=lambda *_: None, probe_fn=probe, project_budget=budget, min_interval=0)
        p.set_targets(target(f"t{i}", 0.01) for i in range(20))  # 2,000 checks/s asked
        p.start()
        try:
            await probe.until(lambda: len(probe.by_project[""]) >= 1)
            span = await window(0.5)
            assert len(within(probe.by_project[""], span)) > 3 * (budget * 0.5 + budget * BURST)
        finally:
            await p.stop()

    run(main())


def test_a_greedy_project_over_its_budget_does_not_slow_a_quiet_one() -> None:
    async def main() -> None:
        probe = Probe()
        budget, quiet_delay = 300.0, 0.05
        p = Prober(on_transition=lambda *_: None, probe_fn=probe, project_budget=budget, min_interval=0)
        greedy = [target(f"g{i}", 0.01, project="greedy") for i in range(500)]  # 50,000/s asked
        quiet = [target(f"q{i}", quiet_delay, project="quiet") for i in range(3)]
        p.set_targets([*greedy, *quiet])
        p.start()
        try:
            await probe.until(lambda: all(len(probe.calls[q.id]) >= 2 for q in quiet))
            span = await window(1.5)
            seconds = span[1] - span[0]
            assert len(within(probe.by_project["greedy"], span)) <= budget * seconds + budget * BURST + 3
            for q in quiet:
                starts = within(probe.calls[q.id], span)
                # Its own rate (30 in 1.5 s), give or take a loaded machine; never faster.
                assert 0.7 * seconds / quiet_delay <= len(starts) <= seconds / (quiet_delay - COALESCE) + 2, (
                    starts
                )
                gaps = [b - a for a, b in itertools.pairwise(starts)]
                assert sorted(gaps)[len(gaps) // 2] <= 1.5 * quiet_delay, gaps  # the median
        finally:
            await p.stop()

    run(main())


def test_checks_that_hang_do_not_take_every_permit() -> None:
    """Two projects whose probes hang (until their timeout, here: forever) cannot fill the
    concurrency cap: each stops at its share and a third project keeps probing."""

    async def main() -> None:
        probe = Probe()
        probe.hang = {"hang1": 60.0, "hang2": 60.0}
        cap = 20
        p = Prober(
            on_transition=lambda *_: None,
            probe_fn=probe,
            concurrency=cap,
            project_budget=None,
            min_interval=0,
        )
        p.set_targets(
            [
                *(target(f"a{i}", 0.01, project="hang1") for i in range(50)),
                *(target(f"b{i}", 0.01, project="hang2") for i in range(50)),
                target("q", 0.01, project="quiet"),
            ]
        )
        p.start()
        try:
            await probe.until(lambda: probe.in_flight["hang1"] + probe.in_flight["hang2"] >= cap - 7)
            await probe.until(lambda: len(probe.calls["q"]) >= 20)  # would wait forever if locked out
            assert probe.max_total <= cap and p.in_flight <= cap
            # a + (a + b) < cap for each: about cap/3 apiece, never the whole cap.
            assert max(probe.max_in_flight["hang1"], probe.max_in_flight["hang2"]) <= cap // 2
        finally:
            await p.stop()
        assert p.in_flight == 0

    run(main())


def test_one_project_alone_gets_half_the_permits_and_they_come_back() -> None:
    async def main() -> None:
        probe = Probe()
        probe.hang = {"slow": 0.05}
        p = Prober(
            on_transition=lambda *_: None, probe_fn=probe, concurrency=10, project_budget=None, min_interval=0
        )
        p.set_targets(target(f"s{i}", 0.01, project="slow") for i in range(30))
        p.start()
        try:
            await probe.until(lambda: len(probe.by_project["slow"]) >= 40)
            assert probe.max_in_flight["slow"] == 5  # p + p < 10
        finally:
            await p.stop()

    run(main())


def test_a_target_moving_to_another_project_is_charged_there() -> None:
    async def main() -> None:
        probe = Probe()
        p = Prober(on_transition=lambda *_: None, probe_fn=probe, project_budget=50.0, min_interval=0)
        t = target("t", 0.01, project="one")
        p.upsert(t)
        p.start()
        try:
            await probe.until(lambda: len(probe.by_project["one"]) >= 3)
            p.upsert(replace(t, project="two"))
            await probe.until(lambda: len(probe.by_project["two"]) >= 3)
            count = len(probe.by_project["one"])
            await probe.until(lambda: len(probe.by_project["two"]) >= 6)
            assert len(probe.by_project["one"]) <= count + 1  # at most the probe in flight at the move
        finally:
            await p.stop()

    run(main())


# -- backoff ----------------------------------------------------------------------------------


def test_a_member_that_stays_down_is_checked_less_often_and_snaps_back() -> None:
    async def main() -> None:
        probe = Probe()
        seen: list[tuple[bool, int]] = []  # (healthy, probes started by then)
        delay = 0.05
        cap = delay * 2**BACKOFF_STEPS  # 8 x delay; 30 s is far

        def on_transition(target_id: str, healthy: bool, reason: str) -> None:
            seen.append((healthy, len(probe.calls["m"])))

        p = Prober(on_transition=on_transition, probe_fn=probe, min_interval=0)
        p.upsert(target("m", delay, max_retries=3, healthy_threshold=2))
        p.start()
        try:
            await probe.until(lambda: seen == [(True, 2)])
            probe.ok["m"] = False
            down_from = len(probe.calls["m"])
            await probe.until(lambda: len(seen) == 2)
            assert seen[1][0] is False
            # Detection is not slowed: three failures at `delay` (exactly max_retries probes).
            assert seen[1][1] - down_from == 3
            detect = probe.calls["m"][down_from - 1 : seen[1][1]]
            assert all(b - a <= 1.6 * delay for a, b in itertools.pairwise(detect)), detect
            # Then each further failure doubles the interval, up to the cap.
            at = seen[1][1]
            await probe.until(lambda: len(probe.calls["m"]) >= at + 5)
            gaps = [b - a for a, b in itertools.pairwise(probe.calls["m"][at - 1 : at + 5])]
            # (The failure that found it down is followed by one at `delay`.)
            want = [delay, 2 * delay, 4 * delay, cap, cap]
            assert all(g >= w - EARLY for g, w in zip(gaps, want, strict=True)), (gaps, want)
            assert all(g <= w + 0.1 for g, w in zip(gaps, want, strict=True)), (gaps, want)
            # A resync with the same target keeps the backoff.
            p.set_targets([target("m", delay, max_retries=3, healthy_threshold=2)])
            n = len(probe.calls["m"])
            await probe.until(lambda: len(probe.calls["m"]) >= n + 1)
            assert probe.calls["m"][-1] - probe.calls["m"][-2] >= cap - EARLY
            # Up again: found within the cap, and the first success snaps the interval back.
            probe.ok["m"] = True
            await probe.until(lambda: len(seen) == 3)
            assert seen[2][0] is True
            up = probe.calls["m"][seen[2][1] - 2 : seen[2][1]]
            assert up[1] - up[0] <= 1.6 * delay, up
        finally:
            await p.stop()

    run(main())


def test_a_changed_target_starts_its_backoff_over() -> None:
    async def main() -> None:
        probe = Probe()
        delay = 0.05
        cap = delay * 2**BACKOFF_STEPS
        probe.ok["m"] = False
        p = Prober(on_transition=lambda *_: None, probe_fn=probe, min_interval=0)
        p.upsert(target("m", delay, max_retries=1))
        p.start()
        try:
            # Down at the first failure; backed off to the cap after three more.
            await probe.until(lambda: len(probe.calls["m"]) >= 5)
            calls = probe.calls["m"]
            assert calls[-1] - calls[-2] >= cap - EARLY
            loop = asyncio.get_running_loop()
            edited = loop.time()
            p.upsert(target("m", delay, max_retries=1, healthy_threshold=3))  # the monitor edited
            n = len(calls)
            await probe.until(lambda: len(calls) >= n + 2)
            # At once (within one delay of the edit), then backing off from 2 x delay again.
            assert calls[n] - edited <= delay + 0.05, calls[n] - edited
            assert 2 * delay - EARLY <= calls[n + 1] - calls[n] <= 2 * delay + 0.1
        finally:
            await p.stop()

    run(main())
