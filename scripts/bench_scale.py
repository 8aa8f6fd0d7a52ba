"""Benchmark: issue 14's figures at scale, in one run, each beside its goal.

Load balancers of 2 TCP listeners (80, 443) over one pool of 10 members, on a `serve`
with its embedded NB (gRPC on loopback, as bench_create.py starts it):

1. creates  `--size` of them with 16 in flight, in blocks of 1,000: rate, p50, p99, max
            and the CPU ms per create of serve, its realizer and ovsdb-server per block
            (GC stalls show as the p99 of the later blocks).
2. memory   at `--size` (the goals' 10,000): VmRSS and VmHWM of serve, realizer and
            ovsdb-server after the creates, and after a restart on the same data dir (at the
            first correct list, and settled: the NB compacted, a trim round later); the
            restart's cold start: process start to /readyz 200 and to the first full,
            correct list (every load balancer listed, none PENDING_*).
3. lists    ListLoadBalancers pages of 50 and 1,000 over gRPC, Connect (JSON, binary) and
            REST, one call at a time, walking the pages: client p50/p99, and the server's p50
            from quantix_lb_rpc_duration_seconds (the delta of its buckets over each run).
4. window   at `--size` existing, a measured window of `--window` more creates (the
            headline); the no-op grpc.aio echo server (bench_create.echo_floor) with the same
            client and requests, just before and just after the window, is the floor.
5. baselines ovn-nbctl, ovsdbapp and the raw python-ovs IDL writing the same rows (one
            Load_Balancer per listener) to a bare NB holding `--size` load balancers.
6. a summary: each goal of issue 14, its target, the measured value, met or not.

Figures go to stdout, progress to stderr. About 5 minutes at the default size on 2 cores.

    .venv/bin/python scripts/bench_scale.py [--size 10000] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import math
import os
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
from bench_create import Serve, Shape, baselines, echo_floor, grpc_creates, summarize, with_cpu
from prometheus_client.parser import text_string_to_metric_families

from limiquantix.network.v1 import network_service_pb2 as pb
from limiquantix.network.v1 import network_service_pb2_grpc as pb_grpc
from limiquantix.network.v1.network_service_connect import LoadBalancerServiceClientSync
from quantix_lb import gctune

ROOT = Path(__file__).resolve().parent.parent
SHAPE = Shape(ports=(80, 443), members=10)
IN_FLIGHT = 16
BLOCK = 1000
MB = 1e6  # the memory goal is in MB (10^6 bytes); /proc reports KiB
PROCESSES = ("server", "realizer", "ovsdb")  # bench_create.with_cpu's names: serve is "server"
TRANSPORTS = ("grpc", "connect-json", "connect-binary", "rest")


def note(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def out(text: str = "") -> None:
    print(text, flush=True)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


# --- processes --------------------------------------------------------------------------


def _start_time(pid: int) -> str | None:
    """The kernel's start time of `pid` (field 22 of /proc/PID/stat), None once it is gone:
    tells the process we saw from a later one with the same pid."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]


class Reaper:
    """serve's children by pid, killed at the end if serve's own stop left them behind."""

    def __init__(self) -> None:
        self._seen: dict[int, str] = {}

    def remember(self, pids: list[int]) -> None:
        for pid in pids:
            started = _start_time(pid)
            if started:
                self._seen[pid] = started

    def reap(self) -> None:
        for pid, started in self._seen.items():
            if _start_time(pid) == started:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self._seen.clear()


def pids_of(serve: Serve) -> dict[str, int]:
    assert serve.proc
    return {"server": serve.proc.pid, "realizer": serve.realizer_pid(), "ovsdb": serve.ovsdb_pid()}


def memory(pids: dict[str, int]) -> dict[str, tuple[float, float]]:
    """(VmRSS, VmHWM) in MB per process."""
    figures = {}
    for name, pid in pids.items():
        fields = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
        )
        rss, hwm = (int(fields[key].split()[0]) * 1024 / MB for key in ("VmRSS", "VmHWM"))
        figures[name] = (rss, hwm)
    return figures


# --- creates ----------------------------------------------------------------------------


def creates(serve: Serve, first: int, count: int) -> dict[str, float]:
    """`count` creates with IN_FLIGHT in flight, each answered ACTIVE, with CPU per create."""
    return with_cpu(
        pids_of(serve),
        count,
        functools.partial(grpc_creates, serve.grpc_addr, IN_FLIGHT, first, count, True, SHAPE),
    )


def rate(r: dict[str, float]) -> str:
    """Creates per second, with a decimal where it is small."""
    return f"{r['rate']:.0f}" if r["rate"] >= 10 else f"{r['rate']:.1f}"


def cpu_cells(r: dict[str, float]) -> str:
    parts = [r.get(f"cpu_{name}", 0.0) for name in PROCESSES]
    return " | ".join(f"{x:.2f}" for x in parts) + f" | {sum(parts):.2f}"


# --- lists ------------------------------------------------------------------------------

Page = Callable[[int, str], tuple[int, str]]  # (page_size, token) -> (listed, next token)


@contextlib.contextmanager
def list_clients(serve: Serve) -> Iterator[dict[str, Page]]:
    """One client per transport, as a user of each would write it."""
    channel = grpc.insecure_channel(serve.grpc_addr)
    stub = pb_grpc.LoadBalancerServiceStub(channel)
    connect_json = LoadBalancerServiceClientSync(serve.http_url, proto_json=True, timeout_ms=30000)
    connect_binary = LoadBalancerServiceClientSync(serve.http_url, proto_json=False, timeout_ms=30000)
    rest = httpx.Client(base_url=serve.http_url, timeout=30)

    def via_grpc(size: int, token: str) -> tuple[int, str]:
        request = pb.ListLoadBalancersRequest(page_size=size, page_token=token)
        page = stub.ListLoadBalancers(request, timeout=30)
        return len(page.load_balancers), page.next_page_token

    def via_connect(client: LoadBalancerServiceClientSync) -> Page:
        def call(size: int, token: str) -> tuple[int, str]:
            page = client.list_load_balancers(pb.ListLoadBalancersRequest(page_size=size, page_token=token))
            return len(page.load_balancers), page.next_page_token

        return call

    def via_rest(size: int, token: str) -> tuple[int, str]:
        params = {"page_size": str(size), **({"page_token": token} if token else {})}
        reply = rest.get("/api/v1/load-balancers", params=params)
        reply.raise_for_status()
        body = reply.json()
        return len(body["load_balancers"]), body["next_page_token"]

    try:
        yield {
            "grpc": via_grpc,
            "connect-json": via_connect(connect_json),
            "connect-binary": via_connect(connect_binary),
            "rest": via_rest,
        }
    finally:
        rest.close()
        connect_binary.close()
        connect_json.close()
        channel.close()


def rpc_buckets(http_url: str, method: str, transport: str) -> dict[float, float]:
    """Cumulative bucket counts (upper bound in seconds -> calls) of one method on one
    transport, summed over result codes, from /metrics."""
    text = httpx.get(f"{http_url}/metrics", timeout=30).text
    buckets: dict[float, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "quantix_lb_rpc_duration_seconds":
            continue
        for sample in family.samples:
            labels = sample.labels
            if (
                sample.name.endswith("_bucket")
                and labels.get("method") == method
                and labels.get("transport") == transport
            ):
                le = float(labels["le"])
                buckets[le] = buckets.get(le, 0.0) + sample.value
    return buckets


@dataclass(frozen=True)
class Quantile:
    seconds: float  # linear within its bucket, as Prometheus's histogram_quantile
    low: float  # the bucket it falls in
    high: float


def bucket_quantile(q: float, before: dict[float, float], after: dict[float, float]) -> Quantile | None:
    """The q-quantile of the calls observed between two scrapes."""
    delta = sorted((le, after[le] - before.get(le, 0.0)) for le in after)
    if not delta or delta[-1][1] <= 0:
        return None
    rank = q * delta[-1][1]
    low, below = 0.0, 0.0
    for le, count in delta:
        if count >= rank:
            if math.isinf(le):
                return Quantile(low, low, le)
            return Quantile(low + (le - low) * (rank - below) / max(count - below, 1e-9), low, le)
        low, below = le, count
    return None


@dataclass(frozen=True)
class ListRun:
    transport: str
    page_size: int
    p50: float  # client side, ms
    p99: float
    server: Quantile | None


def list_run(
    serve: Serve, transport: str, page: Page, page_size: int, calls: int, warm_up: int = 3
) -> ListRun:
    """`calls` pages one after the other, walking the listing (from the start again at its
    end), so the pages come from everywhere in the store."""
    token = ""
    for _ in range(warm_up):
        _, token = page(page_size, token)
    server_transport = transport.split("-")[0]  # the metric's label: grpc, connect, rest
    before = rpc_buckets(serve.http_url, "ListLoadBalancers", server_transport)
    latencies = []
    for _ in range(calls):
        started = time.perf_counter()
        listed, token = page(page_size, token)
        latencies.append(time.perf_counter() - started)
        if listed != page_size and token:
            raise RuntimeError(f"{transport}: a page of {listed} before the last, asked for {page_size}")
    after = rpc_buckets(serve.http_url, "ListLoadBalancers", server_transport)
    client = summarize(latencies, sum(latencies))
    return ListRun(transport, page_size, client["p50"], client["p99"], bucket_quantile(0.5, before, after))


def full_list(page: Page) -> int:
    listed, token = page(1000, "")
    while token:
        more, token = page(1000, token)
        listed += more
    return listed


def correct_list(stub: pb_grpc.LoadBalancerServiceStub, total: int, deadline: float) -> tuple[int, int]:
    """Every load balancer through the API, pages of 1,000, none PENDING_*: a page that
    holds some is asked again (nothing writes meanwhile, so what a page showed realized
    stays so). Returns (PENDING_* in the first page, pages asked again)."""
    listed = again = 0
    first_pending: int | None = None
    token = ""
    while True:
        page = stub.ListLoadBalancers(
            pb.ListLoadBalancersRequest(page_size=1000, page_token=token), timeout=30
        )
        pending = sum(lb.status.provisioning_status.startswith("PENDING_") for lb in page.load_balancers)
        if first_pending is None:
            first_pending = pending
        if pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"a page still holds {pending} PENDING_* load balancers")
            again += 1
            time.sleep(0.01)
            continue
        listed += len(page.load_balancers)
        token = page.next_page_token
        if not token:
            break
    if listed != total:
        raise RuntimeError(f"listed {listed} load balancers, created {total}")
    return first_pending or 0, again


@dataclass
class ColdStart:
    readyz: float = 0.0  # s from process start
    readyz_body: str = ""
    pending_at_ready: int = 0  # PENDING_* in the first page listed after /readyz answered 200
    pages_again: int = 0  # pages asked again for holding PENDING_* ones
    correct: float = 0.0  # s from process start to the end of the first correct list
    converged: float = 0.0  # s to the realizer's ovn.converged (its first full pass in step)


def cold_start(serve: Serve, total: int, timeout: float = 120.0) -> ColdStart:
    serve.start(timeout=timeout)
    found = ColdStart()
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=10) as http:
        while True:
            reply = http.get(f"{serve.http_url}/readyz")
            if reply.status_code == 200:
                found.readyz = time.monotonic() - serve.started_at
                found.readyz_body = reply.text
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"/readyz not 200 within {timeout} s: {reply.text}")
            time.sleep(0.005)
    found.pending_at_ready, found.pages_again = correct_list(serve.stub, total, deadline)
    found.correct = time.monotonic() - serve.started_at
    serve.wait_event("ovn.converged", timeout)
    found.converged = serve.converge_seconds
    return found


# --- the run ----------------------------------------------------------------------------


@dataclass
class Goal:
    name: str
    target: str
    measured: str
    met: bool | None  # None: not measured

    @property
    def verdict(self) -> str:
        return "not measured" if self.met is None else "met" if self.met else "NOT met"


def ms(q: Quantile | None) -> str:
    if q is None:
        return "n/a"
    high = "inf" if math.isinf(q.high) else f"{q.high * 1000:g}"
    return f"{q.seconds * 1000:.1f} ({q.low * 1000:g}-{high})"


def print_memory(label: str, figures: dict[str, tuple[float, float]]) -> float:
    rss = sum(r for r, _ in figures.values())
    hwm = sum(h for _, h in figures.values())
    cells = " | ".join(f"{figures[n][0]:.0f} / {figures[n][1]:.0f}" for n in PROCESSES)
    out(f"| {label} | {cells} | {rss:.0f} / {hwm:.0f} |")
    return rss


def run(args: argparse.Namespace, work: Path, reaper: Reaper) -> list[Goal]:
    size, window = args.size, args.window
    goals: list[Goal] = []
    out(f"# bench_scale: {size:,} load balancers of {len(SHAPE.ports)} listeners x {SHAPE.members} members")
    out(f"\n{os.cpu_count()} cores; load average at start {load()} (1, 5, 15 min)")
    data = work / "serve"
    serve = Serve(data)
    try:
        note("starting serve (embedded NB)")
        serve.start(timeout=60)
        reaper.remember(serve.child_pids())

        # 1. creates, in blocks, up to `size`
        out(f"\n## Creates, {IN_FLIGHT} in flight, blocks of {BLOCK:,} (CPU ms per create)\n")
        out("| existing | creates/s | p50 ms | p99 ms | max ms | serve | realizer | ovsdb-server | total |")
        out("|---|---|---|---|---|---|---|---|---|")
        block_rows = []
        for first in range(0, size, BLOCK):
            count = min(BLOCK, size - first)
            note(f"creates {first:,}-{first + count:,}")
            r = creates(serve, first, count)
            block_rows.append(r)
            out(
                f"| {first:,} | {r['rate']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.1f} | "
                f"{cpu_cells(r)} |"
            )
        # 2. memory at `size` after the creates, the restart (cold start), memory again
        total = size
        out(f"\n## Memory at {total:,} load balancers, MB (VmRSS / VmHWM)\n")
        out("| when | serve | realizer | ovsdb-server | sum |")
        out("|---|---|---|---|---|")
        after_creates = print_memory("after the creates", memory(pids_of(serve)))
        note("restarting serve on the same data dir")
        serve.stop(timeout=60)
        cold = cold_start(serve, total)
        reaper.remember(serve.child_pids())
        at_first_list = print_memory("after a restart (first correct list)", memory(pids_of(serve)))
        # Settled: the embedded NB compacted after the realizer's first pass, and serve's
        # collector has had a round that hands freed heap back (gctune.TRIM_EVERY).
        serve.wait_event("ovn.embedded_nb_compacted", 120)
        time.sleep(gctune.INTERVAL * gctune.TRIM_EVERY)
        after_restart = print_memory("after a restart, settled", memory(pids_of(serve)))

        # 3. lists
        note("lists")
        runs: list[ListRun] = []
        with list_clients(serve) as clients:
            for transport in TRANSPORTS:
                for page_size, calls in ((50, args.list_calls), (1000, args.big_list_calls)):
                    note(f"lists: {transport}, pages of {page_size}")
                    runs.append(list_run(serve, transport, clients[transport], page_size, calls))
            listed = full_list(clients["grpc"])
        after_lists = print_memory("after the list runs", memory(pids_of(serve)))
        out(
            f"\nrestart - creates: {after_restart - after_creates:+.0f} MB VmRSS "
            f"({(after_restart / after_creates - 1) * 100:+.0f} %)"
        )
        out(f"\n## Cold start at {total:,} load balancers (seconds from process start)\n")
        out("| /readyz 200 | first full, correct list | realizer converged (ovn.converged) |")
        out("|---|---|---|")
        out(f"| {cold.readyz:.2f} | {cold.correct:.2f} | {cold.converged:.2f} |")
        out(
            f"\n/readyz said {cold.readyz_body}; the first page of 1,000 after it held "
            f"{cold.pending_at_ready:,} PENDING_*; pages asked again until none did: {cold.pages_again}."
        )
        nb_read = '"ovn_northbound":"read"' in cold.readyz_body.replace(" ", "")
        lean_goals = [
            Goal(f"Lean at {total:,} x 2 x 10, after creating", "≤ 300 MB", f"{after_creates:.0f} MB",
                 after_creates <= 300),
            Goal("Lean, after a restart (the same)", "≤ 300 MB, ≈ after creating",
                 f"{after_restart:.0f} MB settled ({after_restart - after_creates:+.0f}); "
                 f"{at_first_list:.0f} at the first correct list, {after_lists:.0f} after the lists",
                 after_restart <= 300),
            Goal(f"Cold start to a correct list at {total:,}", "≤ 5 s", f"{cold.correct:.2f} s",
                 cold.correct <= 5),
            Goal("Readiness waits for the first full NB read", "/readyz 200 only once read",
                 f"first 200 at {cold.readyz:.2f} s: {'NB read' if nb_read else cold.readyz_body}", nb_read),
        ]  # fmt: skip

        out(f"\n## ListLoadBalancers at {listed:,}, one call at a time, ms\n")
        out("server: p50 from quantix_lb_rpc_duration_seconds, interpolated in its bucket (bounds in ms);")
        out("it times the dispatcher (the core's work), not the transport's decoding or encoding.\n")
        out("| transport | page | calls | client p50 | client p99 | server p50 (bucket) |")
        out("|---|---|---|---|---|---|")
        for r in runs:
            calls = args.list_calls if r.page_size == 50 else args.big_list_calls
            out(f"| {r.transport} | {r.page_size} | {calls} | {r.p50:.1f} | {r.p99:.1f} | {ms(r.server)} |")
        for page_size, target in ((50, 0.010), (1000, 0.150)):
            of_size = [r for r in runs if r.page_size == page_size]
            servers = [r.server for r in of_size if r.server is not None]
            worst = max(of_size, key=lambda r: r.server.seconds if r.server else math.inf)
            slowest_client = max(of_size, key=lambda r: r.p50)
            measured = (
                f"worst server p50 {ms(worst.server)} ({worst.transport}); "
                f"client p50 up to {slowest_client.p50:.1f} ({slowest_client.transport})"
            )
            met = None if len(servers) < len(of_size) else all(q.seconds <= target for q in servers)
            lean_goals.append(
                Goal(f"List page of {page_size:,}, every transport", f"p50 ≤ {target * 1000:.0f} ms (server)",
                     measured, met)
            )  # fmt: skip
        # 4. the measured window at `size` existing (after the restart: a served NB of that size)
        # The floor on each side of the window: other work on the machine moves it.
        note("echo floor, before the window")
        floors = [echo_floor(work, 4 * window, SHAPE)]
        note(f"measured window: {window:,} creates at {size:,} existing")
        headline = creates(serve, size, window)
        note("echo floor, after the window")
        floors.append(echo_floor(work, 4 * window, SHAPE))
        floor_rate = statistics.mean(f["rate"] for f in floors)
        ratio = headline["rate"] / floor_rate
        floor_rows = [("gRPC echo, no work (floor), before", floors[0]), ("the same, after", floors[1])]
        out(f"\n## Headline: {window:,} creates at {size:,} existing, {IN_FLIGHT} in flight\n")
        columns = "path | creates/s | p50 ms | p99 ms | max ms | CPU ms/create: serve | realizer | ovsdb"
        out(f"| {columns} | total | client |\n" + "|---" * 10 + "|")
        for label, r in [("quantix-lb gRPC", headline), *floor_rows]:
            out(
                f"| {label} | {r['rate']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['max']:.1f} | "
                f"{cpu_cells(r)} | {r['cpu_client']:.2f} |"
            )
        out(f"\ncreates/s ÷ floor (the mean of the two, {floor_rate:.0f}/s): {ratio:.2f}")
        worst_block = max(block_rows, key=lambda r: r["p99"])
        goals += [
            Goal(f"Throughput at {size:,}", "≥ 1,000 creates/s", f"{headline['rate']:.0f}/s",
                 headline["rate"] >= 1000),
            Goal("Throughput vs grpc.aio floor", "≥ 0.5", f"{ratio:.2f} (floor {floor_rate:.0f}/s)",
                 ratio >= 0.5),
            Goal(f"Create p99 at {size:,} (no GC stalls)", "≤ 60 ms",
                 f"{headline['p99']:.1f} ms (worst block p99 {worst_block['p99']:.1f}, max "
                 f"{max(r['max'] for r in [*block_rows, headline]):.0f})", headline["p99"] <= 60),
        ]  # fmt: skip

        goals += lean_goals
    finally:
        serve.stop(timeout=60)
        reaper.reap()

    # 5. baselines on a bare NB of the same size and shape
    note(f"baselines: seeding a bare NB with {size:,} load balancers")
    plan = [
        ("ovn-nbctl", args.slow_creates, (1, IN_FLIGHT)),
        ("ovsdbapp", args.slow_creates, (1, IN_FLIGHT)),
        ("python-ovs IDL", args.raw_creates, (1,)),
    ]
    rows = baselines(work / "bare", size, plan, SHAPE)
    out(f"\n## Create rate beside the floor and the baselines, at {size:,} existing\n")
    out("| path | in flight | creates | creates/s | p50 ms | p99 ms | quantix-lb ÷ it |")
    out("|---|---|---|---|---|---|---|")
    table = [
        ("quantix-lb gRPC (headline)", IN_FLIGHT, window, headline),
        *((label, IN_FLIGHT, 4 * window, r) for label, r in floor_rows),
        *((kind, clients, len_of(plan, kind), r) for kind, _, clients, r in rows),
    ]
    for label, clients, count, r in table:
        out(
            f"| {label} | {clients} | {count:,} | {rate(r)} | {r['p50']:.1f} | {r['p99']:.1f} | "
            f"{headline['rate'] / r['rate']:.2f} |"
        )
    return goals


def len_of(plan: list[tuple[str, int, tuple[int, ...]]], kind: str) -> int:
    return next(count for name, count, _ in plan if name == kind)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=10_000, help="load balancers created before the window")
    parser.add_argument("--quick", action="store_true", help="a 1,000 run (--size 1000 --window 1000)")
    parser.add_argument("--window", type=int, default=2000, help="the measured creates at --size existing")
    parser.add_argument("--list-calls", type=int, default=50, help="calls per transport, pages of 50")
    parser.add_argument("--big-list-calls", type=int, default=20, help="calls per transport, pages of 1,000")
    parser.add_argument("--raw-creates", type=int, default=200, help="raw python-ovs IDL creates")
    parser.add_argument(
        "--slow-creates", type=int, default=20, help="ovn-nbctl and ovsdbapp creates (~2/s at 10,000)"
    )
    args = parser.parse_args()
    if args.quick:
        args.size, args.window = 1000, 1000
    # SIGTERM unwinds like Ctrl-C: every finally below stops what it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work = Path(tempfile.mkdtemp(prefix="qlb-scale-"))
    reaper = Reaper()
    started = time.monotonic()
    try:
        goals = run(args, work, reaper)
    except KeyboardInterrupt:
        note("interrupted: everything started is stopped")
        return 130
    finally:
        reaper.reap()
        shutil.rmtree(work, ignore_errors=True)
    out(f"\n## Issue 14 goals ({args.size:,} load balancers)\n")
    out("| goal | target | measured | verdict |")
    out("|---|---|---|---|")
    for g in goals:
        out(f"| {g.name} | {g.target} | {g.measured} | {g.verdict} |")
    out(f"\nload average at the end {load()}; {time.monotonic() - started:.0f} s in all")
    return 0


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
