"""Benchmark: does a greedy tenant delay another tenant's health transitions? (loopback only)

One Prober (this process, one asyncio loop, real probes over real loopback sockets) checks
two projects:

  quiet   a few TCP members (delay 0.2 s, timeout 0.1 s, max_retries 2, healthy_threshold 2),
          served by a child process that the benchmark tells to close all of their listeners
          and, later, to open them again, over and over
  greedy  2,000 TCP members at the 100 ms floor: 20,000 checks/s of demand against a budget
          of 1,000/s; its members accept (a child process accepting and closing), or refuse
          (nothing listens on their ports: they go down and back off)

and reports, per scenario, the quiet members' transition latencies: from the moment their
listeners close to the prober's unhealthy transition ("down"), and from the moment they
reopen to the healthy one ("up"), p50 / p99 / max in ms over every member and cycle;
checks/s started per project; and this process's CPU. The scenarios: quiet alone; with the
greedy tenant under the default budget (accepting, and refusing); and, for comparison, the
greedy tenant without a budget (what a worker did before budgets).

Bounds (the detection time the monitor itself implies, at worst): down within
max_retries x delay + timeout (the listener closes just after a check; refusals come at once,
so the timeout is slack), up within the backoff cap (8 x delay: the members were down for a
while) + (healthy_threshold - 1) x delay. The goal: quiet's p99s within their bounds + 100 ms
with the greedy tenant present.

    .venv/bin/python scripts/bench_fairness.py [--cycles 15] [--greedy 2000] [--budget 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import selectors
import socket
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_health import server as accepting_server

from quantix_lb.health.checks import ProbeResult, Target
from quantix_lb.health.scheduler import BACKOFF_STEPS, PROJECT_BUDGET, Prober
from quantix_lb.testing import free_ports

QUIET_DELAY, QUIET_TIMEOUT, QUIET_RETRIES, QUIET_THRESHOLD = 0.2, 0.1, 2, 2
GREEDY_DELAY, GREEDY_TIMEOUT = 0.1, 0.1
DOWN_BOUND = QUIET_RETRIES * QUIET_DELAY + QUIET_TIMEOUT
# Up: the next check may be a backed-off one (a member down for a while is checked every
# 8 x delay), then healthy_threshold - 1 more at delay.
UP_BOUND = QUIET_DELAY * 2**BACKOFF_STEPS + (QUIET_THRESHOLD - 1) * QUIET_DELAY
SLACK = 0.1  # the goal: p99 within the bound + 100 ms


# -- the quiet members' backend (a child process) ----------------------------------------------


def _bind(port: int) -> socket.socket:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(128)
    s.setblocking(False)
    return s


def serve_quiet(n: int) -> None:
    """Accept and close on n listeners; on stdin, "stop" closes them all and "start" opens
    them again on the same ports (below the ephemeral range, so no probe's source port can
    take one meanwhile); each command is acknowledged with one line."""
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    listeners: list[socket.socket] = []
    port = random.randrange(10_000, low - 1000)
    while len(listeners) < n:
        port += 1
        try:
            listeners.append(_bind(port))
        except OSError:
            continue
    ports = [s.getsockname()[1] for s in listeners]
    sel = selectors.DefaultSelector()
    for s in listeners:
        sel.register(s, selectors.EVENT_READ)
    sel.register(sys.stdin, selectors.EVENT_READ)
    print(json.dumps(ports), flush=True)
    while True:
        for key, _ in sel.select():
            if key.fileobj is sys.stdin:
                command = sys.stdin.readline().strip()
                if not command:
                    return  # the benchmark is gone
                if command == "stop":
                    for s in listeners:
                        sel.unregister(s)
                        s.close()
                    listeners = []
                elif command == "start" and not listeners:
                    listeners = [_bind(p) for p in ports]
                    for s in listeners:
                        sel.register(s, selectors.EVENT_READ)
                print(command, flush=True)
                continue
            listener: socket.socket = key.fileobj  # type: ignore[assignment]
            while True:
                try:
                    conn, _ = listener.accept()
                except OSError:
                    break
                conn.close()


class QuietBackend:
    def __init__(self, proc: asyncio.subprocess.Process, ports: list[int]) -> None:
        self.proc = proc
        self.ports = ports

    @classmethod
    async def start(cls, n: int) -> QuietBackend:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--serve-quiet",
            str(n),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None
        return cls(proc, json.loads(await proc.stdout.readline()))

    async def command(self, what: str) -> None:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"{what}\n".encode())
        await self.proc.stdin.drain()
        if (await self.proc.stdout.readline()).decode().strip() != what:
            raise RuntimeError(f"the quiet backend did not {what}")

    async def close(self) -> None:
        if self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()


# -- one scenario -------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    down: list[float] = field(default_factory=list)
    up: list[float] = field(default_factory=list)
    started: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    cpu: float = 0.0
    missed: int = 0  # transitions not seen within the deadline


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


async def scenario(
    name: str,
    quiet: QuietBackend,
    greedy_ports: list[int],
    n_greedy: int,
    budget: float | None,
    cycles: int,
) -> Result:
    loop = asyncio.get_running_loop()
    result = Result(name)
    changed = asyncio.Event()
    last: dict[str, tuple[bool, float]] = {}
    counting = False

    def on_transition(target_id: str, healthy: bool, reason: str) -> None:
        if target_id.startswith("quiet-"):
            last[target_id] = (healthy, loop.time())
            changed.set()

    def on_result(target_id: str, r: ProbeResult) -> None:
        if counting:
            result.started[target_id.partition("-")[0]] += 1

    prober = Prober(on_transition=on_transition, on_result=on_result, project_budget=budget)
    quiet_ids = [f"quiet-{i}" for i in range(len(quiet.ports))]
    targets = [
        Target(
            qid,
            "127.0.0.1",
            port,
            "TCP",
            QUIET_DELAY,
            QUIET_TIMEOUT,
            QUIET_RETRIES,
            QUIET_THRESHOLD,
            project="quiet",
        )
        for qid, port in zip(quiet_ids, quiet.ports, strict=True)
    ]
    targets += [
        Target(
            f"greedy-{i}",
            "127.0.0.1",
            greedy_ports[i % len(greedy_ports)],
            "TCP",
            GREEDY_DELAY,
            GREEDY_TIMEOUT,
            3,
            2,
            project="greedy",
        )
        for i in range(n_greedy)
    ]
    prober.set_targets(targets)

    async def all_quiet(healthy: bool, since: float) -> list[float]:
        """Wait for every quiet member's transition to `healthy` after `since`; their times."""
        deadline = loop.time() + 5.0
        while True:
            seen = [last.get(q) for q in quiet_ids]
            if all(s is not None and s[0] is healthy and s[1] >= since for s in seen):
                return [s[1] - since for s in seen if s is not None]
            if loop.time() > deadline:
                result.missed += sum(1 for s in seen if not (s and s[0] is healthy and s[1] >= since))
                return [s[1] - since for s in seen if s and s[0] is healthy and s[1] >= since]
            changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), max(0.0, deadline - loop.time()))

    rng = random.Random(1)
    prober.start()
    try:
        await all_quiet(True, 0.0)
        await asyncio.sleep(1.0)  # the greedy tenant's first round is spread over its delay
        counting = True
        t0, cpu0 = loop.time(), time.process_time()
        for _ in range(cycles):
            # At a random phase of the quiet members' schedule.
            await asyncio.sleep(rng.random() * QUIET_DELAY)
            stopped = loop.time()  # before the command: conservative by its round trip
            await quiet.command("stop")
            result.down += await all_quiet(False, stopped)
            await asyncio.sleep(rng.random() * QUIET_DELAY)
            started = loop.time()
            await quiet.command("start")
            result.up += await all_quiet(True, started)
        counting = False
        result.seconds = loop.time() - t0
        result.cpu = time.process_time() - cpu0
    finally:
        await prober.stop()
        if quiet.proc.returncode is None:
            await quiet.command("start")
    return result


def print_rows(rows: list[Result], head: bool = True) -> None:
    title = (
        f"{'scenario':<34}{'down p50':>9}{'p99':>7}{'max':>7}{'up p50':>8}{'p99':>7}{'max':>7}"
        f"{'quiet/s':>9}{'greedy/s':>9}{'CPU %':>7}{'missed':>7}"
    )
    if head:
        print(title)
        print("-" * len(title))
    for r in rows:
        ms = [1000 * f(v, q) for v in (r.down, r.up) for f, q in ((pct, 0.5), (pct, 0.99), (pct, 1.0))]
        print(
            f"{r.name:<34}{ms[0]:>9.0f}{ms[1]:>7.0f}{ms[2]:>7.0f}{ms[3]:>8.0f}{ms[4]:>7.0f}{ms[5]:>7.0f}"
            f"{r.started['quiet'] / r.seconds:>9.0f}{r.started['greedy'] / r.seconds:>9.0f}"
            f"{100 * r.cpu / r.seconds:>7.0f}{r.missed:>7}",
            flush=True,
        )


def report(rows: list[Result], n_quiet: int) -> None:
    print_rows(rows)
    base = rows[0]
    print(
        f"\nbounds: down {1000 * DOWN_BOUND:.0f} ms (max_retries x delay + timeout), "
        f"up {1000 * UP_BOUND:.0f} ms (8 x delay + (healthy_threshold - 1) x delay); goal: p99s within "
        f"them + {1000 * SLACK:.0f} ms with the greedy tenant; {n_quiet} quiet members x "
        f"{len(base.down) // max(1, n_quiet)} cycles"
    )
    for r in rows[1:]:
        down, up = pct(r.down, 0.99), pct(r.up, 0.99)
        met = down <= DOWN_BOUND + SLACK and up <= UP_BOUND + SLACK and not r.missed
        print(
            f"{r.name}: down p99 x{down / pct(base.down, 0.99):.2f}, up p99 x{up / pct(base.up, 0.99):.2f} "
            f"of quiet alone; goal {'met' if met else 'NOT met'}"
        )


async def bench(args: argparse.Namespace) -> list[Result]:
    quiet = await QuietBackend.start(args.quiet)
    rows: list[Result] = []
    try:
        with accepting_server("tcp", 200) as (accepting, _):
            refusing = free_ports(200)
            runs = [
                ("quiet alone", [], 0, args.budget),
                (f"+ greedy accepting, budget {args.budget:g}/s", accepting, args.greedy, args.budget),
                (f"+ greedy refusing, budget {args.budget:g}/s", refusing, args.greedy, args.budget),
                ("+ greedy accepting, no budget", accepting, args.greedy, None),
            ]
            print_rows([])
            for name, ports, n, budget in runs:
                rows.append(await scenario(name, quiet, ports, n, budget, args.cycles))
                print_rows(rows[-1:], head=False)
    finally:
        await quiet.close()
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=15, help="stop/start cycles of the quiet members")
    parser.add_argument("--quiet", type=int, default=10, help="quiet members")
    parser.add_argument("--greedy", type=int, default=2000, help="greedy members (at the 100 ms floor)")
    parser.add_argument("--budget", type=float, default=PROJECT_BUDGET, help="checks/s per project")
    parser.add_argument("--serve-quiet", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_quiet:
        serve_quiet(args.serve_quiet)
        return 0
    print(f"one Prober, loopback, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n")
    rows = asyncio.run(bench(args))
    print("\nsummary")
    report(rows, args.quiet)
    return 0


if __name__ == "__main__":
    sys.exit(main())
