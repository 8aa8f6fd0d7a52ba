"""The one supervisor of child processes: its restart policy (with a fake clock
and fake sleeps) and its handling of real, short-lived children."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from structlog.testing import capture_logs

from quantix_lb.proc import spawn
from quantix_lb.supervisor import RestartPolicy, Supervisor, exit_code

POLICY = RestartPolicy(first_delay=0.2, max_delay=10.0, healthy_after=30.0)


def child(code: int = 0, seconds: float = 0.0) -> subprocess.Popen[bytes]:
    """A child that exits with `code` after `seconds`."""
    return spawn([sys.executable, "-c", f"import time, sys; time.sleep({seconds}); sys.exit({code})"])


class Script:
    """A fake clock and fake sleeps: each run of a child lasts what `runs` says;
    the delays the supervisor waited are kept in `delays`."""

    def __init__(self, runs: list[float]) -> None:
        self.now = 0.0
        self.runs = iter(runs)
        self.delays: list[float] = []
        self._started = False

    def clock(self) -> float:
        # Called when a run starts and when it ends: the end comes `runs` later.
        if self._started:
            self.now += next(self.runs, 0.0)
        self._started = not self._started
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


def run(main: Callable[[], Awaitable[Any]]) -> Any:
    return asyncio.run(asyncio.wait_for(main(), 30))


async def until(predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.fixture
def logs() -> Iterator[list[dict[str, Any]]]:
    with capture_logs() as captured:
        yield captured


def events(logs: list[dict[str, Any]], name: str) -> list[dict[str, Any]]:
    return [e for e in logs if e["event"] == name]


# --- the policy ----------------------------------------------------------------------------


def test_the_delay_doubles_up_to_its_ceiling() -> None:
    highest = [POLICY.delay(n, uniform=lambda low, high: high) for n in range(1, 10)]
    assert highest == [0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 10.0, 10.0, 10.0]
    assert POLICY.delay(10_000, uniform=lambda low, high: high) == 10.0  # no overflow


def test_the_delay_is_jittered_within_the_upper_half() -> None:
    lowest = [POLICY.delay(n, uniform=lambda low, high: low) for n in (1, 2, 7)]
    assert lowest == [0.1, 0.2, 5.0]
    drawn = {POLICY.delay(3) for _ in range(50)}
    assert len(drawn) > 1 and all(0.4 <= d <= 0.8 for d in drawn)


# --- the supervisor ------------------------------------------------------------------------


def test_quick_exits_back_off_and_a_healthy_run_starts_again_from_the_shortest_delay(
    logs: list[dict[str, Any]],
) -> None:
    # Three quick crashes, one run of 40 s (healthy), then two quick crashes.
    script = Script([1.0, 1.0, 1.0, 40.0, 1.0, 1.0])
    policy = RestartPolicy(first_delay=0.2, max_delay=10.0, healthy_after=30.0)
    spawned: list[subprocess.Popen[bytes]] = []

    async def respawn() -> subprocess.Popen[bytes]:
        spawned.append(child(code=3))
        return spawned[-1]

    async def main() -> None:
        supervisor = Supervisor("test.child", respawn, policy=policy, clock=script.clock, sleep=script.sleep)
        supervisor.supervise(child(code=3))
        await until(lambda: len(script.delays) == 6, "six restarts")
        await supervisor.stop()

    run(main)
    ceilings = [min(10.0, 0.2 * 2**k) for k in range(3)] + [0.2, 0.4, 0.8]
    assert len(script.delays) == 6
    for delay, ceiling in zip(script.delays, ceilings, strict=True):
        assert ceiling / 2 <= delay <= ceiling, (script.delays, ceilings)
    exited = events(logs, "test.child_exited")
    assert [e["code"] for e in exited] == [3] * 6
    assert all(e["log_level"] == "error" for e in exited)
    assert [e["ran_s"] for e in exited] == [1.0, 1.0, 1.0, 40.0, 1.0, 1.0]
    started = events(logs, "test.child_started")
    assert [e.get("restarts") for e in started][:4] == [None, 1, 2, 3]
    assert started[0]["pid"] != started[1]["pid"]


def test_a_failure_to_spawn_is_logged_and_retried(logs: list[dict[str, Any]]) -> None:
    script = Script([1.0] * 10)
    attempts = 0

    async def respawn() -> subprocess.Popen[bytes]:
        nonlocal attempts
        attempts += 1
        if attempts <= 2:
            raise OSError("no such file: ovsdb-server")
        return child(seconds=60)

    async def main() -> subprocess.Popen[bytes]:
        supervisor = Supervisor("test.child", respawn, clock=script.clock, sleep=script.sleep)
        supervisor.supervise(child(code=1))
        await until(lambda: len(events(logs, "test.child_started")) == 2, "a child after two failures")
        proc = supervisor.proc
        assert proc is not None and proc.poll() is None
        await supervisor.stop(grace=5)
        return proc

    proc = run(main)
    assert proc.returncode is not None  # stop ended it
    failed = events(logs, "test.child_restart_failed")
    assert len(failed) == 2
    assert all(e["log_level"] == "error" and e["exc_info"] for e in failed)  # with the traceback
    # Each failed spawn counts as a failure: the delays keep growing.
    assert script.delays[1] > POLICY.first_delay / 2 and script.delays[2] >= 0.4


def test_a_stop_asked_for_is_neither_logged_nor_restarted(logs: list[dict[str, Any]]) -> None:
    respawned = 0

    async def respawn() -> subprocess.Popen[bytes]:
        nonlocal respawned
        respawned += 1
        return child(seconds=60)

    async def main() -> subprocess.Popen[bytes]:
        supervisor = Supervisor("test.child", respawn)
        first = child(seconds=60)
        supervisor.supervise(first)
        await supervisor.stop(grace=5)
        return first

    first = run(main)
    assert first.returncode == -15  # SIGTERM
    assert respawned == 0
    assert not events(logs, "test.child_exited")


def test_an_owner_that_retires_its_child_ends_it_itself(logs: list[dict[str, Any]]) -> None:
    """As the realizer does: retire, then end the child by its own protocol (here:
    from another thread); supervision ends with the child, quietly."""

    async def respawn() -> subprocess.Popen[bytes]:
        raise AssertionError("no restart after retire")

    async def main() -> None:
        supervisor = Supervisor("test.child", respawn)
        first = child(seconds=60)
        supervisor.supervise(first)
        supervisor.retire()
        ender = threading.Thread(target=lambda: (first.terminate(), first.wait()))
        ender.start()
        await asyncio.wait_for(supervisor.join(), 10)
        ender.join()

    run(main)
    assert not events(logs, "test.child_exited")


def test_restarts_are_spawned_on_the_event_loops_thread(logs: list[dict[str, Any]]) -> None:
    """The parent-death signal is tied to the spawning thread: it must be one that lives."""
    threads: list[int] = []

    async def respawn() -> subprocess.Popen[bytes]:
        threads.append(threading.get_ident())
        return child(seconds=60)

    async def main() -> None:
        supervisor = Supervisor("test.child", respawn, policy=RestartPolicy(first_delay=0.01))
        supervisor.supervise(child(code=0))
        await until(lambda: len(threads) == 1, "a restart")
        await supervisor.stop()

    run(main)
    assert threads == [threading.main_thread().ident]


def test_exit_code_while_another_thread_reaps_the_child() -> None:
    async def main() -> int:
        proc = child(code=7, seconds=0.2)
        reaper = threading.Thread(target=proc.wait)
        reaper.start()
        code = await asyncio.wait_for(exit_code(proc), 10)
        reaper.join()
        return code

    assert run(main) == 7


def test_children_sit_in_a_process_group_of_their_own() -> None:
    """So the terminal's Ctrl-C reaches serve alone, which stops them in order."""
    proc = child(seconds=60)
    try:
        assert os.getpgid(proc.pid) == proc.pid != os.getpgrp()
    finally:
        proc.kill()
        proc.wait()


def test_the_realizer_child_imports_only_what_realizing_needs() -> None:
    """Each module costs memory and start-up time in every realizer child: no store
    (sqlite-utils), metrics (prometheus_client) or API stack there."""
    probe = (
        "import sys, quantix_lb.ovn.child; "
        "print(' '.join(m for m in ('quantix_lb.store', 'sqlite_utils', 'quantix_lb.metrics', "
        "'prometheus_client', 'grpc', 'starlette', 'google.protobuf') if m in sys.modules))"
    )
    argv = [sys.executable, "-c", probe]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == []
