"""Benchmark: CPU cost of the conntrack statistics collector at 10,000 tracked connections.

What a per-node worker pays once a second: read (`dpctl/dump-conntrack` over ovs-vswitchd's
unixctl socket, python-ovs), parse and track (`ConntrackTracker.sample`). Figures are this
process's CPU time (time.process_time), the median over the samples; "% core" is that cost
at one sample per second. Parse is measured two ways:

  cold  parse_conntrack(): every line parsed (the first sample, or a table that changed)
  warm  ConntrackParser().parse(orig_dst=VIPs): lines unchanged since the previous dump are
        looked up, and only entries to a VIP are kept (what a worker would run)

1. synthetic: the userspace datapath's line format (as read_conntrack asks for it: no -s),
   10,000 connections through one VIP, 80% ESTABLISHED, 5% replaced between samples; with
   each connection's second entry in its backend's zone (20,000 lines) and without.
2. real (root, OVN packages): a private OvnStack (quantix_lb/testing/ovn_testbed.py) with a VIP on three
   backends, each a tiny asyncio server that accepts and holds; a client in its namespace
   opens --connections TCP connections through the VIP and holds them. Then --samples
   rounds one second apart. ovs-vswitchd's own CPU per dump is reported too (its CPU during
   the sampling minus an idle window of the same length), and the read's wall time.

    .venv/bin/python scripts/bench_stats.py [--connections 10000] [--samples 10] [--synthetic-only] [--no-gc]

The cyclic GC is a large share: a cold sample allocates tens of thousands of objects, and
the full collections this triggers walk the parser's cache and the tracker too (--no-gc
shows the difference; a worker may gc.freeze() its long-lived state or raise thresholds).
"""

from __future__ import annotations

import argparse
import gc
import json
import queue
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from quantix_lb.proc import cpu_seconds
from quantix_lb.stats.conntrack import (
    ConntrackParser,
    ConntrackTracker,
    Frontend,
    parse_conntrack,
    read_conntrack,
)
from quantix_lb.testing import ovn_testbed

VIP, VIP_PORT, HOLD_PORT = "10.0.0.100", 80, 9100
FRONTENDS = [Frontend("tcp", VIP, VIP_PORT)]
T = TypeVar("T")

# Backend: accept and hold every connection (never reads, never closes).
_HOLD_SERVER = r"""
import asyncio, resource, sys
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]  # raising the hard limit may be denied
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
held = []
async def main():
    port = int(sys.argv[1])
    server = await asyncio.start_server(lambda r, w: held.append(w), "0.0.0.0", port, backlog=4096)
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""

# Client: open N connections to host:port, at most C connecting at once; report progress as
# JSON lines on stdout, then hold them all until stdin closes.
_CLIENT = r"""
import asyncio, json, resource, sys, time
hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
host, port, n, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
held, errors = [], []
async def one(sem):
    async with sem:
        for _ in range(3):
            try:
                held.append(await asyncio.wait_for(asyncio.open_connection(host, port), 10))
                return
            except (OSError, asyncio.TimeoutError) as exc:
                errors.append(repr(exc))
async def main():
    sem = asyncio.Semaphore(conc)
    started = time.monotonic()
    tasks = [asyncio.create_task(one(sem)) for _ in range(n)]
    while not all(t.done() for t in tasks):
        await asyncio.sleep(1)
        print(json.dumps({"open": len(held), "errors": len(errors)}), flush=True)
    print(json.dumps({"done": len(held), "errors": len(errors), "seconds": time.monotonic() - started,
                      "first_errors": errors[:3]}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())
"""


@dataclass
class Row:
    scenario: str
    lines: int
    vip_conns: int
    read_ms: float | None
    parse_ms: float
    track_ms: float

    @property
    def total_ms(self) -> float:
        return (self.read_ms or 0.0) + self.parse_ms + self.track_ms


def cpu_ms(fn: Callable[..., T], *args: Any, **kwargs: Any) -> tuple[float, T]:
    """(this process's CPU ms, result) of fn(*args, **kwargs)."""
    started = time.process_time()
    result = fn(*args, **kwargs)
    return (time.process_time() - started) * 1000, result


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# -- synthetic ------------------------------------------------------------------------------


def line(sport: int, backend: str, state: str, zone: int, dst: str, dport: int) -> str:
    """One entry as the userspace datapath prints it without -s."""
    mark = "mark=2," if dst == VIP else ""
    return (
        f"tcp,orig=(src=10.0.0.2,dst={dst},sport={sport},dport={dport}),"
        f"reply=(src={backend},dst=10.0.0.2,sport={HOLD_PORT},dport={sport}),"
        f"zone={zone},{mark}protoinfo=(state={state})"
    )


def synthetic_table(conns: dict[int, tuple[str, str]], backend_zone: bool) -> str:
    """Dump text for {sport: (backend, state)}: each VIP entry and, if asked, the same
    connection's entry in its backend's zone."""
    out = []
    for sport, (backend, state) in conns.items():
        out.append(line(sport, backend, state, 5, VIP, VIP_PORT))
        if backend_zone:
            zone = 6 + int(backend.rsplit(".", 1)[1]) - 11
            out.append(line(sport, backend, state, zone, backend, HOLD_PORT))
    return "\n".join(out) + "\n"


def bench_synthetic(n: int, samples: int) -> list[Row]:
    backends = ["10.0.0.11", "10.0.0.12", "10.0.0.13"]
    rows = []
    for backend_zone in (False, True):
        conns = {20000 + i: (backends[i % 3], "ESTABLISHED" if i % 5 else "TIME_WAIT") for i in range(n)}
        next_port = 20000 + n
        parser, cold_tracker, warm_tracker = ConntrackParser(), ConntrackTracker(), ConntrackTracker()
        timings: dict[str, list[float]] = {k: [] for k in ("cold", "cold_track", "warm", "warm_track")}
        lines = 0
        for i in range(samples + 1):
            text = synthetic_table(conns, backend_zone)
            lines = text.count("\n")
            cold_ms, cold = cpu_ms(parse_conntrack, text)
            cold_track_ms, _ = cpu_ms(cold_tracker.sample, cold, FRONTENDS, float(i))
            warm_ms, warm = cpu_ms(parser.parse, text, orig_dst={VIP})
            warm_track_ms, result = cpu_ms(warm_tracker.sample, warm, FRONTENDS, float(i))
            if i:  # the first round fills parser and trackers: steady state from then on
                for key, ms in zip(timings, (cold_ms, cold_track_ms, warm_ms, warm_track_ms), strict=True):
                    timings[key].append(ms)
            for sport in list(conns)[: n // 20]:  # 5% churn
                del conns[sport]
                conns[next_port] = (backends[next_port % 3], "ESTABLISHED")
                next_port += 1
        assert result[FRONTENDS[0]].total >= n
        what = "VIP + backend-zone entries" if backend_zone else "VIP entries only"
        rows.append(
            Row(
                f"synthetic, {what}, cold",
                lines,
                n,
                None,
                median(timings["cold"]),
                median(timings["cold_track"]),
            )
        )
        rows.append(
            Row(
                f"synthetic, {what}, warm",
                lines,
                n,
                None,
                median(timings["warm"]),
                median(timings["warm_track"]),
            )
        )
    return rows


# -- real data path -------------------------------------------------------------------------


def read_json_lines(
    proc: subprocess.Popen[bytes],
    until: Callable[[dict], bool],
    timeout: float,
    stack: ovn_testbed.OvnStack | None = None,
) -> dict:
    """JSON lines from proc's stdout until one satisfies `until` (or `timeout`).

    Lines are read on a thread: select() on a buffered pipe misses lines already
    in the buffer (the last one would wait out the timeout). With `stack`, a dead
    data path ends the wait at once (DatapathDied, with ovs-vswitchd's log line)."""
    assert proc.stdout is not None
    stdout = proc.stdout
    lines: queue.SimpleQueue[bytes] = queue.SimpleQueue()
    threading.Thread(target=lambda: [lines.put(raw) for raw in stdout], daemon=True).start()
    deadline = time.monotonic() + timeout
    last: dict = {}
    while (left := deadline - time.monotonic()) > 0:
        if stack is not None:
            stack.check_datapath()
        try:
            raw = lines.get(timeout=min(left, 1.0))
        except queue.Empty:
            continue
        last = json.loads(raw)
        print(f"  client: {last}", flush=True)
        if until(last):
            return last
    return last


def bench_real(n: int, samples: int, concurrency: int) -> tuple[list[Row], dict[str, object]]:
    notes: dict[str, object] = {}
    stack = ovn_testbed.OvnStack()
    client_proc = None
    try:
        stack.start()
        topo = ovn_testbed.lb_topology(stack, "net-bench", backends=3)
        for b in topo.backends:
            b.popen(sys.executable, "-c", _HOLD_SERVER, str(HOLD_PORT))
        for b in topo.backends:
            ovn_testbed.wait_until(
                lambda b=b: b.run("ss", "-Hltn", f"sport = :{HOLD_PORT}").stdout.strip(),
                10.0,
                message=f"hold server on {b.name}",
            )
        members = ",".join(f"{b.ip}:{HOLD_PORT}" for b in topo.backends)
        stack.nbctl(
            "lb-add", "bench", f"{VIP}:{VIP_PORT}", members, "tcp",
            "--", "ls-lb-add", "net-bench", "bench", "--", "lr-lb-add", "lr0", "bench",
        )  # fmt: skip
        stack.nbctl("--wait=hv", "sync")
        vswitchd = int((stack.rundir / "ovs-vswitchd.pid").read_text())

        print(f"opening {n} connections through {VIP}:{VIP_PORT} ...", flush=True)
        client_proc = topo.client.popen(
            sys.executable, "-c", _CLIENT, VIP, str(VIP_PORT), str(n), str(concurrency),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            notes["client"] = read_json_lines(
                client_proc, lambda m: "done" in m, timeout=max(120.0, n / 20), stack=stack
            )
            stack.check_datapath()
        except ovn_testbed.DatapathDied as exc:
            notes["data path"] = f"died while connections were opened:\n{exc}"
            return [], notes

        parser, cold_tracker, warm_tracker = ConntrackParser(), ConntrackTracker(), ConntrackTracker()
        idle_from = cpu_seconds(vswitchd) * 1000
        time.sleep(samples)  # vswitchd's own idle CPU, over a window as long as the sampling
        idle = cpu_seconds(vswitchd) * 1000 - idle_from

        timings: dict[str, list[float]] = {
            k: [] for k in ("read", "read_wall", "cold", "cold_track", "warm", "warm_track")
        }
        lines = active = 0
        busy_from = cpu_seconds(vswitchd) * 1000
        for i in range(samples + 1):
            tick = time.monotonic()
            try:
                read_ms, text = cpu_ms(read_conntrack, stack.rundir)
            except Exception:  # OvsUnavailable, or a timeout: a dead vswitchd explains either
                died = stack.datapath_death()
                if died is None:
                    raise
                notes["data path"] = f"died while sampling:\n{died}"
                return [], notes
            read_wall = (time.monotonic() - tick) * 1000
            cold_ms, cold = cpu_ms(parse_conntrack, text)
            cold_track_ms, _ = cpu_ms(cold_tracker.sample, cold, FRONTENDS, float(i))
            warm_ms, warm = cpu_ms(parser.parse, text, orig_dst={VIP})
            warm_track_ms, result = cpu_ms(warm_tracker.sample, warm, FRONTENDS, float(i))
            lines, active = text.count("\n"), result[FRONTENDS[0]].active
            if i:
                values = (read_ms, read_wall, cold_ms, cold_track_ms, warm_ms, warm_track_ms)
                for key, ms in zip(timings, values, strict=True):
                    timings[key].append(ms)
            time.sleep(max(0.0, 1.0 - (time.monotonic() - tick)))
        busy = cpu_seconds(vswitchd) * 1000 - busy_from
        notes["vswitchd_cpu_ms_per_dump"] = round((busy - idle * (samples + 1) / samples) / (samples + 1), 1)
        notes["vswitchd_idle_cpu_ms_per_s"] = round(idle / samples, 1)
        notes["read_wall_ms_median"] = round(median(timings["read_wall"]), 1)
        read = median(timings["read"])
        label = f"real, {n} opened, {active} active"
        return [
            Row(
                f"{label}, cold", lines, active, read, median(timings["cold"]), median(timings["cold_track"])
            ),
            Row(
                f"{label}, warm", lines, active, read, median(timings["warm"]), median(timings["warm_track"])
            ),
        ], notes
    finally:
        if client_proc is not None and client_proc.poll() is None:
            client_proc.kill()
            client_proc.wait(10)
        stack.stop()


def calibration_ms() -> float:
    """CPU ms of 10 million additions in a Python loop, to compare machines (and to see other
    load on a shared one): a few hundred ms on a current desktop CPU."""
    started = time.process_time()
    x = 0
    for i in range(10_000_000):
        x += i
    return (time.process_time() - started) * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=10_000)
    ap.add_argument("--samples", type=int, default=10)
    ap.add_argument("--concurrency", type=int, default=64, help="connections being opened at once")
    ap.add_argument("--synthetic-only", action="store_true")
    ap.add_argument("--no-gc", action="store_true", help="disable the cyclic GC, to see its share")
    args = ap.parse_args()
    if args.no_gc:
        gc.disable()

    print(f"calibration: 10M-iteration Python loop = {calibration_ms():.0f} ms CPU here", flush=True)
    rows = bench_synthetic(args.connections, args.samples)
    notes: dict[str, object] = {}
    missing = ovn_testbed.missing_prerequisites()
    if args.synthetic_only or missing:
        if missing:
            print("real data path skipped: " + "; ".join(missing))
    else:
        real, notes = bench_real(args.connections, args.samples, args.concurrency)
        rows += real

    cols = ("lines", "VIP conns", "read", "parse", "track", "total", "% core")
    head = f"{'scenario':50} " + " ".join(f"{c:>{max(7, len(c))}}" for c in cols)
    print("\nCPU ms per sample (median), this process\n" + head + "\n" + "-" * len(head))
    for r in rows:
        read = f"{r.read_ms:7.1f}" if r.read_ms is not None else f"{'-':>7}"
        print(
            f"{r.scenario:50} {r.lines:7d} {r.vip_conns:9d} {read} {r.parse_ms:7.1f} {r.track_ms:7.1f}"
            f" {r.total_ms:7.1f} {r.total_ms / 10:6.1f}%"
        )
    for key, value in notes.items():
        print(f"{key}: {value}")
    # The machine's speed (and other load on it) moves every figure: measured before and after.
    print(f"calibration again: {calibration_ms():.0f} ms")


if __name__ == "__main__":
    main()
