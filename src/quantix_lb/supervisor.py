"""One supervisor for the control plane's child processes.

The local health worker, the embedded Northbound and the realizer process are
each spawned first by their owner (a failure then is a start-up error) and
handed to a `Supervisor`, which watches the child from the event loop. When it
exits unasked, the exit is logged with its code and a new child is spawned
after a jittered, doubling delay; a child that stayed up `healthy_after`
seconds starts the back-off again from the shortest delay. A failure to spawn
is logged and retried the same way: supervision never gives up. Restarts are
spawned on the event loop's thread, because the parent-death signal
(`proc.with_parent_death_signal`) is tied to the thread that spawned.

The policy is a few lines of arithmetic rather than tenacity's or backoff's:
both retry a call until it succeeds, while a supervised child never
"succeeds" and the reset depends on how long the previous run lasted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from quantix_lb.proc import terminate

log = structlog.get_logger(__name__)

POLL_INTERVAL = 0.2  # seconds, where the kernel has no pidfd


@dataclass(frozen=True)
class RestartPolicy:
    first_delay: float = 0.2  # seconds before the first restart
    max_delay: float = 10.0
    healthy_after: float = 30.0  # a run this long starts the back-off again from first_delay

    def delay(self, failures: int, uniform: Callable[[float, float], float] = random.uniform) -> float:
        """Seconds before the restart after `failures` failures in a row (1, 2, ...):
        doubling up to max_delay, then drawn from its upper half, so children
        that died together do not all come back in step."""
        ceiling = min(self.max_delay, self.first_delay * 2.0 ** min(max(failures, 1) - 1, 64))
        return uniform(ceiling / 2, ceiling)


async def exit_code(proc: subprocess.Popen[Any]) -> int:
    """Waits for the child's exit without a thread: the loop watches its pidfd."""
    code = proc.poll()
    if code is not None:
        return code
    try:
        pidfd = os.pidfd_open(proc.pid)
    except (AttributeError, OSError):  # no pidfd (Linux < 5.3): poll
        while (code := proc.poll()) is None:
            await asyncio.sleep(POLL_INTERVAL)
        return code
    try:
        while (code := proc.poll()) is None:
            await _readable(pidfd)  # at once, and for good, once the child has exited
            if proc.poll() is None:  # another thread is reaping it just now
                await asyncio.sleep(0.01)
        return code
    finally:
        os.close(pidfd)


async def _readable(fd: int) -> None:
    loop = asyncio.get_running_loop()
    ready: asyncio.Future[None] = loop.create_future()
    loop.add_reader(fd, lambda: ready.done() or ready.set_result(None))
    try:
        await ready
    finally:
        loop.remove_reader(fd)


class Supervisor:
    """Keeps one child process running (see the module's docstring).

    `respawn` makes a new child (and waits until it is ready, if it has such a
    step); it runs on the event loop. Log events: `<name>_started` (pid and
    `fields`), `<name>_exited` (code, seconds it ran, the delay before the
    restart) and `<name>_restart_failed` (the exception), at error level.
    """

    def __init__(
        self,
        name: str,
        respawn: Callable[[], Awaitable[subprocess.Popen[Any]]],
        *,
        policy: RestartPolicy = RestartPolicy(),  # frozen: one shared default is safe
        fields: Mapping[str, Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.name = name
        self.policy = policy
        self.restarts = 0
        self._respawn = respawn
        self._fields = dict(fields or {})
        self._clock = clock
        self._sleep = sleep
        self._proc: subprocess.Popen[Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._retired = False
        self._failures = 0  # in a row, since the last healthy run

    @property
    def proc(self) -> subprocess.Popen[Any] | None:
        """The current child (None before `supervise`)."""
        return self._proc

    def supervise(self, first: subprocess.Popen[Any]) -> None:
        """Watches `first`, spawned by the owner, and its successors (on the loop's thread)."""
        self._proc = first
        log.info(f"{self.name}_started", pid=first.pid, **self._fields)
        self._task = asyncio.get_running_loop().create_task(self._watch(first), name=f"supervise {self.name}")
        self._task.add_done_callback(self._ended)

    def retire(self) -> None:
        """From now on an exit is asked for: neither logged nor restarted. Any thread."""
        self._retired = True

    async def stop(self, grace: float = 5.0) -> None:
        """Retires the child and ends it: SIGTERM, SIGKILL after `grace` seconds."""
        self.retire()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await terminate(self._proc, grace)

    async def join(self) -> None:
        """Returns once supervision has ended (after `retire` and the child's exit)."""
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _ended(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:  # never silently
            log.error(f"{self.name}_supervision_failed", exc_info=exc)

    async def _watch(self, proc: subprocess.Popen[Any]) -> None:
        while True:
            started = self._clock()
            code = await exit_code(proc)
            if self._retired:
                return
            ran = self._clock() - started
            self._failures = 1 if ran >= self.policy.healthy_after else self._failures + 1
            delay = self.policy.delay(self._failures)
            log.error(
                f"{self.name}_exited",
                pid=proc.pid,
                code=code,
                ran_s=round(ran, 2),
                restart_in_s=round(delay, 2),
            )
            respawned = await self._restart(delay)
            if respawned is None:
                return
            proc = respawned

    async def _restart(self, delay: float) -> subprocess.Popen[Any] | None:
        """A new child after `delay`, however many tries it takes; None once retired."""
        while True:
            await self._sleep(delay)
            if self._retired:
                return None
            try:
                proc = await self._respawn()
            except Exception:
                self._failures += 1
                delay = self.policy.delay(self._failures)
                log.exception(f"{self.name}_restart_failed", retry_s=round(delay, 2))
                continue
            if self._retired:  # asked to stop while it started: this one goes too
                await terminate(proc)
                return None
            self._proc = proc
            self.restarts += 1
            log.info(f"{self.name}_started", pid=proc.pid, restarts=self.restarts, **self._fields)
            return proc
