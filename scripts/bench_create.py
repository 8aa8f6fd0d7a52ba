"""Benchmark: CreateLoadBalancer end to end, against the usual ways of writing OVN NB.

For each count of existing load balancers it measures, in the same run:
  quantix-lb   CreateLoadBalancer (1 listener, 2 members) through the gRPC API of a
               `serve` with its embedded NB on a unix socket; the answer comes after
               the NB transaction committed (provisioning_status ACTIVE)
  ovn-nbctl    `ovn-nbctl lb-add ... -- ls-lb-add ...` per load balancer (the seed's way)
  ovsdbapp     OpenStack's OVN library, one transaction per load balancer
  python-ovs   the raw IDL, one transaction per load balancer
with 1 and 16 concurrent clients, then the time of a cold start + full reconcile of
the largest data set and the server's peak RSS. Prints tables; takes a few minutes.

For quantix-lb it also prints the CPU each process spent per create (server,
its ovsdb-server, the benchmark's own gRPC client), and the same run measures a
gRPC server that does no work at all (echo), with the same client: the floor
that gRPC in Python sets on this machine.

    .venv/bin/python scripts/bench_create.py [--existing 0,1000,10000] [--creates 400]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
from ovs.db import idl as ovs_idl

from limiquantix.network.v1 import network_pb2 as res
from limiquantix.network.v1 import network_service_pb2 as pb
from limiquantix.network.v1 import network_service_pb2_grpc as pb_grpc
from quantix_lb.ovn.loop import fetch_schema
from quantix_lb.ovn.reconcile import COLUMNS
from quantix_lb.proc import cpu_seconds
from quantix_lb.testing import Server

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = "/usr/share/ovn/ovn-nb.ovsschema"
NET = "bench-net"


def vip(i: int) -> str:
    return f"172.{16 + i // 65000}.{(i // 250) % 260 % 256}.{i % 250 + 1}"


@dataclass(frozen=True)
class Shape:
    """What each created load balancer holds: TCP listeners on `ports`, all over one pool
    of `members` members (one OVN Load_Balancer row per listener)."""

    ports: tuple[int, ...] = (80,)
    members: int = 2

    @property
    def backends(self) -> list[str]:
        return [f"10.0.0.{10 + k}:8080" for k in range(self.members)]

    def argv(self) -> list[str]:
        """For a baseline's worker process (read back by `parse`)."""
        return ["--ports", ",".join(map(str, self.ports)), "--members", str(self.members)]

    @classmethod
    def parse(cls, ports: str, members: int) -> Shape:
        return cls(tuple(int(p) for p in ports.split(",")), members)


def request(i: int, shape: Shape = Shape()) -> pb.CreateLoadBalancerRequest:
    return pb.CreateLoadBalancerRequest(
        name=f"bench-{i}",
        project_id="bench",
        spec=res.LoadBalancerSpec(
            network_id=NET,
            vip_address=vip(i),
            listeners=[res.Listener(protocol=res.Listener.TCP, port=port) for port in shape.ports],
            pools=[
                res.Pool(
                    members=[
                        res.PoolMember(address=address, port=int(port))
                        for address, port in (b.split(":") for b in shape.backends)
                    ]
                )
            ],
        ),
    )


def summarize(latencies: list[float], seconds: float) -> dict[str, float]:
    latencies = sorted(latencies)
    return {
        "rate": len(latencies) / seconds,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "max": latencies[-1] * 1000,
    }


def run_clients(clients: int, total: int, one: Callable[[int], None], first: int) -> dict[str, float]:
    """`total` calls of one(i) spread over `clients` threads; latency per call."""
    latencies: list[float] = []
    lock = threading.Lock()
    counter = iter(range(first, first + total))

    def worker() -> None:
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            t = time.perf_counter()
            one(i)
            with lock:
                latencies.append(time.perf_counter() - t)

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        for f in [pool.submit(worker) for _ in range(clients)]:
            f.result()
    return summarize(latencies, time.perf_counter() - started)


# --- quantix-lb -------------------------------------------------------------------------


class Serve(Server):
    """`serve` with its embedded NB, as the tests start it (quantix_lb.testing)."""

    @property
    def converge_seconds(self) -> float:
        """From process start to the first full pass that found the NB in step."""
        return self.seen["ovn.converged"] - self.started_at

    def ovsdb_pid(self) -> int:
        return int((self.data_dir / "ovn" / "ovsdb-server.pid").read_text())

    def realizer_pid(self) -> int:
        """serve's child that owns the NB IDL: quantix_lb.ovn.child, or quantix_lb.ovn.remote
        in releases before the child had a module of its own (this script measures those too)."""
        for pid in self.child_pids():
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"quantix_lb.ovn.child" in cmdline or b"quantix_lb.ovn.remote" in cmdline:
                return pid
        raise RuntimeError("no realizer process")

    def peak_rss_mib(self) -> float:
        """The control plane's own processes: serve and its realizer."""
        assert self.proc
        total = 0.0
        for pid in (self.proc.pid, self.realizer_pid()):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1]) / 1024
        return total


async def _grpc_creates(
    addr: str, clients: int, first: int, total: int, check: bool, shape: Shape
) -> dict[str, float]:
    latencies: list[float] = []
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = pb_grpc.LoadBalancerServiceStub(channel)
        queue = iter(range(first, first + total))

        async def client() -> None:
            for i in queue:
                t = time.perf_counter()
                lb = await stub.CreateLoadBalancer(request(i, shape))
                latencies.append(time.perf_counter() - t)
                if check and lb.status.provisioning_status != "ACTIVE":
                    raise RuntimeError(f"create {i} answered {lb.status.provisioning_status}")

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(clients)))
        return summarize(latencies, time.perf_counter() - started)


def grpc_creates(
    addr: str, clients: int, first: int, total: int, check: bool = True, shape: Shape = Shape()
) -> dict[str, float]:
    return asyncio.run(_grpc_creates(addr, clients, first, total, check, shape))


def with_cpu(pids: dict[str, int], count: int, run: Callable[[], dict[str, float]]) -> dict[str, float]:
    """run()'s figures plus each process's CPU milliseconds per call ("self": this one)."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    mine = time.process_time()
    result = run()
    for name, pid in pids.items():
        result[f"cpu_{name}"] = (cpu_seconds(pid) - before[name]) * 1000 / count
    result["cpu_client"] = (time.process_time() - mine) * 1000 / count
    return result


def _echo_server(port_file: str) -> None:
    """A gRPC server with CreateLoadBalancer answering at once: no store, no OVN."""

    async def serve() -> None:
        async def create(request: pb.CreateLoadBalancerRequest, context: object) -> pb.LoadBalancer:
            return res.LoadBalancer(id="echo", name=request.name)

        handler = grpc.method_handlers_generic_handler(
            "limiquantix.network.v1.LoadBalancerService",
            {
                "CreateLoadBalancer": grpc.unary_unary_rpc_method_handler(
                    create,
                    request_deserializer=pb.CreateLoadBalancerRequest.FromString,
                    response_serializer=res.LoadBalancer.SerializeToString,
                )
            },
        )
        server = grpc.aio.server()
        server.add_generic_rpc_handlers((handler,))
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        Path(port_file).write_text(str(port))
        await server.wait_for_termination()

    asyncio.run(serve())


def echo_floor(work: Path, total: int, shape: Shape = Shape()) -> dict[str, float]:
    port_file = work / "echo.port"
    port_file.unlink(missing_ok=True)  # a previous echo server's port
    proc = subprocess.Popen([sys.executable, __file__, "--echo-server", str(port_file)])
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists() or not port_file.read_text():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("echo server did not start")
            time.sleep(0.05)
        addr = f"127.0.0.1:{port_file.read_text()}"
        grpc_creates(addr, 16, 0, 500, check=False, shape=shape)  # warm up
        return with_cpu(
            {"server": proc.pid}, total, lambda: grpc_creates(addr, 16, 0, total, check=False, shape=shape)
        )
    finally:
        proc.kill()
        proc.wait()


# --- baselines on a bare NB ------------------------------------------------------------------


class BareNb:
    def __init__(self, directory: Path) -> None:
        self.dir = directory
        self.remote = f"unix:{directory}/nb.sock"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.dir.mkdir(parents=True)
        subprocess.run(["ovsdb-tool", "create", str(self.dir / "nb.db"), SCHEMA], check=True)
        self.proc = subprocess.Popen(
            ["ovsdb-server", str(self.dir / "nb.db"), f"--remote=punix:{self.dir}/nb.sock",
             f"--unixctl={self.dir}/ctl", "--no-chdir"],
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while not (self.dir / "nb.sock").exists():
            if time.monotonic() > deadline:
                raise RuntimeError("ovsdb-server did not start")
            time.sleep(0.01)
        self.nbctl("ls-add", NET)

    def nbctl(self, *args: str) -> str:
        return subprocess.run(
            ["ovn-nbctl", f"--db={self.remote}", *args], check=True, capture_output=True, text=True
        ).stdout

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait()


class RawIdl:
    """python-ovs IDL on its own thread-less loop (callers serialize)."""

    def __init__(self, remote: str) -> None:
        helper = fetch_schema(remote)
        for table, columns in COLUMNS.items():
            helper.register_columns(table, columns)
        self.idl = ovs_idl.Idl(remote, helper)
        self.lock = threading.Lock()
        deadline = time.monotonic() + 30
        while self.idl.change_seqno == 0 or not self.idl.tables["Logical_Switch"].rows:
            self.idl.run()
            if time.monotonic() > deadline:
                raise RuntimeError("IDL did not sync")
            time.sleep(0.001)

    def create(self, indexes: range, shape: Shape = Shape()) -> None:
        backends = ",".join(shape.backends)
        with self.lock:
            ls = next(r for r in self.idl.tables["Logical_Switch"].rows.values() if r.name == NET)
            txn = ovs_idl.Transaction(self.idl)
            for i in indexes:
                for port in shape.ports:
                    lb = txn.insert(self.idl.tables["Load_Balancer"])
                    lb.name = f"raw-{i}-{port}"
                    lb.protocol = ["tcp"]
                    lb.vips = {f"{vip(i)}:{port}": backends}
                    ls.addvalue("load_balancer", lb.uuid)
            status = txn.commit_block()
            if status != ovs_idl.Transaction.SUCCESS:
                raise RuntimeError(f"raw IDL commit: {status} {txn.get_error()}")

    def close(self) -> None:
        self.idl.close()


def baseline(
    kind: str, remote: str, first: int, count: int, clients: int, shape: Shape = Shape()
) -> dict[str, float]:
    """Each baseline runs in a process of its own, as its users would run it."""
    out = subprocess.run(
        [sys.executable, __file__, "--worker", kind, "--remote", remote, "--first", str(first),
         "--count", str(count), "--clients", str(clients), *shape.argv()],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    return json.loads(out.stdout.splitlines()[-1])


def worker(kind: str, remote: str, first: int, count: int, clients: int, shape: Shape) -> dict[str, float]:
    if kind == "ovn-nbctl":

        def one(i: int) -> None:
            commands: list[str] = []
            for port in shape.ports:
                name = f"nbctl-{i}-{port}"
                commands += ["--", "lb-add", name, f"{vip(i)}:{port}", ",".join(shape.backends), "tcp",
                             "--", "ls-lb-add", NET, name]  # fmt: skip
            subprocess.run(["ovn-nbctl", f"--db={remote}", *commands], check=True, capture_output=True)

        return run_clients(clients, count, one, first)
    if kind == "ovsdbapp":
        from ovsdbapp.backend.ovs_idl import connection
        from ovsdbapp.schema.ovn_northbound import impl_idl

        conn = connection.Connection(connection.OvsdbIdl.from_server(remote, "OVN_Northbound"), timeout=120)
        api = impl_idl.OvnNbApiIdlImpl(conn)

        def via_ovsdbapp(i: int) -> None:
            with api.transaction(check_error=True) as txn:
                for port in shape.ports:
                    txn.add(api.lb_add(f"app-{i}-{port}", f"{vip(i)}:{port}", shape.backends))
                    txn.add(api.ls_lb_add(NET, f"app-{i}-{port}"))

        try:
            return run_clients(clients, count, via_ovsdbapp, first)
        finally:
            conn.stop()
    raw = RawIdl(remote)
    try:
        return run_clients(clients, count, lambda i: raw.create(range(i, i + 1), shape), first)
    finally:
        raw.close()


def baselines(
    directory: Path, existing: int, plan: list[tuple[str, int, tuple[int, ...]]], shape: Shape = Shape()
) -> list[tuple[str, int, int, dict[str, float]]]:
    """On a bare NB holding `existing` load balancers of `shape`: for each (kind, creates,
    client counts) of `plan`, that many creates with each number of clients."""
    rows = []
    bare = BareNb(directory)
    bare.start()
    try:
        raw = RawIdl(bare.remote)
        for start in range(0, existing, 1000):  # the existing ones, in bulk
            raw.create(range(start, min(existing, start + 1000)), shape)
        raw.close()
        first = existing
        for kind, count, client_counts in plan:
            for clients in client_counts:
                print(f"   {kind}, {clients} clients", file=sys.stderr, flush=True)
                measured = baseline(kind, bare.remote, first, count, clients, shape)
                rows.append((kind, existing, clients, measured))
                first += count
    finally:
        bare.stop()
    return rows


# --- the run ----------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--existing", default="0,1000,10000")
    parser.add_argument("--creates", type=int, default=400, help="creates per measurement")
    parser.add_argument("--nbctl-creates", type=int, default=100)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--echo-server", help=argparse.SUPPRESS)
    parser.add_argument("--remote", help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--clients", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ports", default="80", help=argparse.SUPPRESS)
    parser.add_argument("--members", type=int, default=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo_server:
        _echo_server(args.echo_server)
        return 0
    if args.worker:
        shape = Shape.parse(args.ports, args.members)
        print(json.dumps(worker(args.worker, args.remote, args.first, args.count, args.clients, shape)))
        return 0
    counts = [int(x) for x in args.existing.split(",")]
    work = Path(tempfile.mkdtemp(prefix="qlb-bench-"))
    rows: list[tuple[str, int, int, dict[str, float]]] = []
    cpu: list[tuple[str, dict[str, float]]] = []
    cold: list[tuple[str, float, float]] = []
    rss = 0.0
    try:
        for n in counts:
            print(f"== {n} existing load balancers", flush=True)
            data = work / f"serve-{n}"
            serve = Serve(data).start(timeout=60)
            try:
                if n:
                    grpc_creates(serve.grpc_addr, 32, 0, n, check=False)
                rows.append(("quantix-lb gRPC", n, 1, grpc_creates(serve.grpc_addr, 1, n, args.creates // 4)))
                first = n + args.creates // 4
                pids = {
                    "server": serve.proc.pid,
                    "realizer": serve.realizer_pid(),
                    "ovsdb": serve.ovsdb_pid(),
                }
                measured = with_cpu(
                    pids,
                    args.creates,
                    functools.partial(grpc_creates, serve.grpc_addr, 16, first, args.creates),
                )
                rows.append(("quantix-lb gRPC", n, 16, measured))
                cpu.append((f"quantix-lb, {n} existing", measured))
                rss = max(rss, serve.peak_rss_mib())
            finally:
                serve.stop(timeout=30)

            plan = [
                ("ovn-nbctl", args.nbctl_creates, (1, 16)),
                ("ovsdbapp", args.creates // 2, (1, 16)),
                ("python-ovs IDL", args.creates, (1,)),
            ]
            rows += baselines(work / f"bare-{n}", n, plan)
            print_table(rows)

        biggest = work / f"serve-{max(counts)}"
        total = max(counts) + args.creates // 4 + args.creates
        for label, wipe in (("restart, NB intact", False), ("restart, NB empty (rebuild every row)", True)):
            if wipe:
                shutil.rmtree(biggest / "ovn")
            serve = Serve(biggest).start(timeout=60)
            try:
                serve.wait_event("ovn.converged", 120)
                rss = max(rss, serve.peak_rss_mib())
                cold.append((label, total, serve.converge_seconds))
            finally:
                serve.stop(timeout=30)
        floor = echo_floor(work, args.creates * 4)
        rows.append(("gRPC echo, no work (floor)", 0, 16, floor))
        cpu.append(("gRPC echo, no work", floor))
        print_table(rows)
        print(
            "\n| 16 clients | creates/s | CPU ms/create: serve | realizer | ovsdb-server | client | total |"
        )
        print("|---|---|---|---|---|---|---|")
        for label, r in cpu:
            parts = [
                r.get("cpu_server", 0.0),
                r.get("cpu_realizer", 0.0),
                r.get("cpu_ovsdb", 0.0),
                r["cpu_client"],
            ]
            cells = " | ".join(f"{x:.2f}" for x in parts)
            print(f"| {label} | {r['rate']:.0f} | {cells} | {sum(parts):.2f} |")
        cores = os.cpu_count() or 1
        print(f"\n({cores} cores: at 1,000 creates/s all processes together have {cores:.0f} ms per create.)")
        print("\n| cold start + full reconcile | load balancers | seconds (process start to converged) |")
        print("|---|---|---|")
        for label, count, seconds in cold:
            print(f"| {label} | {count} | {seconds:.2f} |")
        print(f"\nserver peak RSS: {rss:.0f} MiB")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


def print_table(rows: list[tuple[str, int, int, dict[str, float]]]) -> None:
    nbctl = {(n, c): r["rate"] for name, n, c, r in rows if name == "ovn-nbctl"}
    print("\n| path | existing LBs | clients | creates/s | p50 ms | p99 ms | vs ovn-nbctl |")
    print("|---|---|---|---|---|---|---|")
    for name, n, clients, r in rows:
        base = nbctl.get((n, clients)) or nbctl.get((n, 1))
        ratio = f"{r['rate'] / base:.1f}x" if base else "-"
        print(f"| {name} | {n} | {clients} | {r['rate']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {ratio} |")
    sys.stdout.flush()


if __name__ == "__main__":
    os.chdir(ROOT)
    sys.exit(main())
