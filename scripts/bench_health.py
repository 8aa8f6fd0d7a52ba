"""Benchmark: capacity of one health-check Prober (one process, one asyncio loop) on loopback.

The servers run in child processes, so this process's CPU (time.process_time) is the
prober's alone: TCP listeners on a few hundred ports that accept and close, and tiny HTTP
servers that answer 200. Many target ids share those ports. Each row runs one Prober over
a set of targets and reports, over a measured window after a warm-up:

  offered/s    targets / delay, the rate the schedule asks for
  checks/s     probes completed per second
  ok %         probes that succeeded (timeouts or refusals would show here)
  p50/p99 ms   probe latency (connect, request, status line)
  CPU %        this process, of one core (user + system); (sys) the kernel's part, which on
               loopback includes the server side of every handshake
  checks/CPU-s checks per second of CPU: what one core sustains at this load
  server CPU % the child serving the targets, to see whether it was the bottleneck

Issue targets: >= 5,000 TCP and >= 2,000 HTTP checks/s at <= 1 core, and the CPU at
10,000 TCP targets with a 1 s delay. As root it repeats the TCP and HTTP rates with the
servers in a network namespace of their own and every check's socket opened in it (as
through a probe port: netns.socket_in, two setns calls per check), beside the same rows
from the prober's own namespace. Takes about a minute; loopback only.

    .venv/bin/python scripts/bench_health.py [--window 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import selectors
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from quantix_lb.health.checks import ProbeResult, Target
from quantix_lb.health.scheduler import Prober
from quantix_lb.proc import cpu_seconds

PROJECTS = 50
HTTP_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"


# -- servers (child processes) ---------------------------------------------------------------


def serve_tcp(n_ports: int) -> None:
    """Accept and close, on n_ports listeners: a plain selector loop costs the least CPU."""
    sel = selectors.DefaultSelector()
    ports = []
    for _ in range(n_ports):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(4096)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        ports.append(s.getsockname()[1])
    print(json.dumps(ports), flush=True)
    while True:
        for key, _ in sel.select():
            listener: socket.socket = key.fileobj  # type: ignore[assignment]
            while True:
                try:
                    conn, _ = listener.accept()
                except ConnectionAbortedError:
                    continue  # reset before we got to it
                except OSError:
                    break  # BlockingIOError: drained (or EMFILE: try again on the next round)
                conn.close()


class _Http(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buf = b""

    def data_received(self, data: bytes) -> None:
        self.buf += data
        if b"\r\n\r\n" in self.buf:
            self.transport.write(HTTP_RESPONSE)
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        pass


async def serve_http(n_ports: int) -> None:
    loop = asyncio.get_running_loop()
    servers = [await loop.create_server(_Http, "127.0.0.1", 0, backlog=4096) for _ in range(n_ports)]
    print(json.dumps([s.sockets[0].getsockname()[1] for s in servers]), flush=True)
    await asyncio.Event().wait()


@contextmanager
def server(kind: str, n_ports: int, netns: str = "") -> Iterator[tuple[list[int], int]]:
    inside = ["ip", "netns", "exec", netns] if netns else []
    proc = subprocess.Popen(
        [*inside, sys.executable, __file__, "--serve", kind, "--ports", str(n_ports)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ports = json.loads(proc.stdout.readline())
        yield ports, proc.pid
    finally:
        proc.terminate()
        proc.wait(5)


# -- the measurement ---------------------------------------------------------------------------


@dataclass
class Row:
    kind: str
    targets: int
    delay: float
    checks_per_s: float
    ok_pct: float
    p50_ms: float
    p99_ms: float
    cpu_pct: float
    sys_pct: float
    server_cpu_pct: float

    @property
    def offered(self) -> float:
        return self.targets / self.delay

    @property
    def per_cpu_s(self) -> float:
        return self.checks_per_s / (self.cpu_pct / 100) if self.cpu_pct else 0.0


async def measure(
    kind: str,
    ports: list[int],
    server_pid: int,
    n: int,
    delay: float,
    timeout: float,
    window: float,
    netns: str = "",
) -> Row:
    loop = asyncio.get_running_loop()
    results: list[ProbeResult] = []
    measuring = False

    def on_result(target_id: str, r: ProbeResult) -> None:
        if measuring:
            results.append(r)

    prober = Prober(on_transition=lambda *_: None, on_result=on_result)
    # Many target ids share each port; each is its own schedule and its own connection. The
    # targets belong to PROJECTS projects, each within its default budget: the per-project
    # accounting is on the measured path, its throttling is not (bench_fairness.py is).
    prober.set_targets(
        Target(
            f"{kind}-{i}",
            "127.0.0.1",
            ports[i % len(ports)],
            kind,
            delay,
            timeout,
            3,
            2,
            project=f"project-{i % PROJECTS}",
            netns=f"/run/netns/{netns}" if netns else "",
        )
        for i in range(n)
    )
    prober.start()
    try:
        await asyncio.sleep(delay + 1.0)  # the first round is spread over one delay: let it settle
        measuring = True
        t0, cpu0, sys0, srv0 = loop.time(), time.process_time(), os.times().system, cpu_seconds(server_pid)
        await asyncio.sleep(window)
        measuring = False
        wall = loop.time() - t0
        cpu, srv = time.process_time() - cpu0, cpu_seconds(server_pid) - srv0
        sys_cpu = os.times().system - sys0
    finally:
        await prober.stop()
    lat = sorted(r.latency for r in results) or [0.0]
    return Row(
        kind=kind + (" (probe port)" if netns else ""),
        targets=n,
        delay=delay,
        checks_per_s=len(results) / wall,
        ok_pct=100 * sum(r.ok for r in results) / max(1, len(results)),
        p50_ms=1000 * statistics.median(lat),
        p99_ms=1000 * lat[min(len(lat) - 1, int(len(lat) * 0.99))],
        cpu_pct=100 * cpu / wall,
        sys_pct=100 * sys_cpu / wall,
        server_cpu_pct=100 * srv / wall,
    )


def print_table(rows: list[Row], head: bool = True) -> None:
    title = (
        f"{'check':<19}{'targets':>8}{'delay s':>8}{'offered/s':>10}{'checks/s':>10}{'ok %':>7}"
        f"{'p50 ms':>8}{'p99 ms':>8}{'CPU %':>7}{'(sys)':>7}{'checks/CPU-s':>13}{'server CPU %':>13}"
    )
    if head:
        print(title)
        print("-" * len(title))
    for r in rows:
        print(
            f"{r.kind:<19}{r.targets:>8}{r.delay:>8g}{r.offered:>10.0f}{r.checks_per_s:>10.0f}{r.ok_pct:>7.1f}"
            f"{r.p50_ms:>8.2f}{r.p99_ms:>8.2f}{r.cpu_pct:>7.0f}{r.sys_pct:>7.0f}{r.per_cpu_s:>13.0f}"
            f"{r.server_cpu_pct:>13.0f}"
        )


async def bench(window: float) -> list[Row]:
    rows = []
    print_table([])
    with server("tcp", 200) as (ports, pid):
        # The rate: 5,000 TCP checks/s.
        rows.append(await measure("TCP", ports, pid, 5_000, 1.0, 0.5, window / 2))
        print_table(rows[-1:], head=False)
        # The question: CPU at 10,000 targets every second.
        rows.append(await measure("TCP", ports, pid, 10_000, 1.0, 0.5, window))
        print_table(rows[-1:], head=False)
    with server("http", 100) as (ports, pid):
        # The rate: 2,000 HTTP checks/s.
        rows.append(await measure("HTTP", ports, pid, 2_000, 1.0, 0.5, window / 2))
        print_table(rows[-1:], head=False)
        # Offered far above capacity: the loop saturates one core; checks/s is the ceiling.
        rows.append(await measure("HTTP", ports, pid, 10_000, 0.5, 0.5, window / 2))
        print_table(rows[-1:], head=False)
    if os.geteuid() == 0:
        with namespace() as ns:
            for kind, n_ports, n in (("tcp", 200, 5_000), ("http", 100, 2_000)):
                with server(kind, n_ports, ns) as (ports, pid):
                    rows.append(await measure(kind.upper(), ports, pid, n, 1.0, 0.5, window / 2, ns))
                    print_table(rows[-1:], head=False)
    return rows


@contextmanager
def namespace() -> Iterator[str]:
    """A network namespace with only loopback up: the targets' network, seen from outside."""
    name = f"qlbbench-{os.getpid()}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--window", type=float, default=10.0, help="seconds measured per row")
    parser.add_argument("--serve", choices=["tcp", "http"], help=argparse.SUPPRESS)
    parser.add_argument("--ports", type=int, default=100, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve == "tcp":
        serve_tcp(args.ports)
        return 0
    if args.serve == "http":
        asyncio.run(serve_http(args.ports))
        return 0
    print(f"one Prober, loopback, {os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n")
    rows = asyncio.run(bench(args.window))
    print("\nsummary")
    print_table(rows)
    tcp, http = rows[0], rows[2]
    for r, want in ((tcp, 5000), (http, 2000)):
        met = r.checks_per_s >= 0.98 * want and r.cpu_pct <= 100 and r.ok_pct == 100
        print(
            f"{r.kind} >= {want:,}/s at <= 1 core: {'met' if met else 'NOT met'} "
            f"({r.checks_per_s:,.0f}/s at {r.cpu_pct:.0f}% of a core)"
        )
    big = rows[1]
    print(
        f"10,000 TCP targets every 1 s: {big.cpu_pct:.0f}% of a core, {big.checks_per_s:,.0f} checks/s "
        f"of {big.offered:,.0f} offered"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
