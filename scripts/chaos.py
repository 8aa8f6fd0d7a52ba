"""Chaos: kill -9 storms and Northbound outages against a real `serve`, and what survived.

Clients create, update and delete load balancers over gRPC as fast as they can while
the control plane is killed with SIGKILL at random moments and started again on the same
data dir, and while its Northbound is frozen (SIGSTOP: the NB answers nothing, as when
it is partitioned away) for a while. Afterwards, once everything has converged, it counts:

  acknowledged  operations the server answered with success
  lost          acknowledged creates or updates not found afterwards
  resurrected   acknowledged deletes found afterwards
  orphan rows   owned Load_Balancer rows in the NB that no stored load balancer wants
  missing rows  rows a stored load balancer wants that the NB lacks
  reads during outage / converged   reads answered while the NB was frozen, and the
                seconds until every load balancer was ACTIVE once it was back

    .venv/bin/python scripts/chaos.py [--storms 10] [--seconds 5] [--clients 8] [--outage 20]

Exits 1 if anything was lost, resurrected, orphaned or missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc

from limiquantix.network.v1 import network_pb2 as res
from limiquantix.network.v1 import network_service_pb2 as pb
from limiquantix.network.v1 import network_service_pb2_grpc as pb_grpc
from quantix_lb.testing.server import Server

NETWORKS = 8
PROJECT = "chaos"


@dataclass
class Ledger:
    """What the server acknowledged."""

    created: dict[str, float] = field(default_factory=dict)  # lb id -> when acknowledged
    deleted: set[str] = field(default_factory=set)
    maybe_deleted: set[str] = field(default_factory=set)  # a delete cut off: it may have happened
    descriptions: dict[str, int] = field(default_factory=dict)  # lb id -> last acknowledged update
    acknowledged: int = 0
    failed: int = 0  # errors and calls cut off by a kill (not acknowledged: either outcome is fine)


def create_request(n: int) -> pb.CreateLoadBalancerRequest:
    return pb.CreateLoadBalancerRequest(
        name=f"chaos-{n}",
        project_id=PROJECT,
        spec=res.LoadBalancerSpec(
            network_id=f"chaos-net-{n % NETWORKS}",
            vip_address=f"10.{100 + n // 60000}.{(n // 250) % 240}.{n % 250 + 1}",
            listeners=[res.Listener(protocol=res.Listener.TCP, port=80)],
            pools=[res.Pool(members=[res.PoolMember(address="10.0.0.10", port=8080)])],
        ),
    )


async def client(target: str, ledger: Ledger, numbers: iter, stop: asyncio.Event, seed: int) -> None:
    rng = random.Random(seed)
    mine: list[str] = []
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.LoadBalancerServiceStub(channel)
        while not stop.is_set():
            try:
                roll = rng.random()
                if roll < 0.5 or not mine:
                    lb = await stub.CreateLoadBalancer(create_request(next(numbers)), timeout=5)
                    ledger.created[lb.id] = time.monotonic()
                    mine.append(lb.id)
                elif roll < 0.8:
                    lb_id = rng.choice(mine)
                    version = ledger.descriptions.get(lb_id, 0) + 1
                    await stub.UpdateLoadBalancer(
                        pb.UpdateLoadBalancerRequest(id=lb_id, description=str(version)), timeout=5
                    )
                    ledger.descriptions[lb_id] = version
                else:
                    lb_id = mine.pop(rng.randrange(len(mine)))
                    ledger.maybe_deleted.add(lb_id)
                    await stub.DeleteLoadBalancer(pb.DeleteLoadBalancerRequest(id=lb_id), timeout=5)
                    ledger.deleted.add(lb_id)
                ledger.acknowledged += 1
            except grpc.RpcError:
                ledger.failed += 1
                await asyncio.sleep(0.05)  # the server is away: try again shortly


async def storm(server: Server, ledger: Ledger, numbers: iter, clients: int, seconds: float) -> None:
    """Clients busy; the server killed with SIGKILL at a random moment, then started again."""
    stop = asyncio.Event()
    tasks = [asyncio.create_task(client(server.grpc_addr, ledger, numbers, stop, i)) for i in range(clients)]
    await asyncio.sleep(random.uniform(0.3, 1.0) * seconds)
    assert server.proc is not None
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait()
    await asyncio.to_thread(server.start)
    await asyncio.sleep(random.uniform(0.3, 1.0) * seconds)
    stop.set()
    await asyncio.gather(*tasks)


def listing(server: Server) -> list[res.LoadBalancer]:
    found, token = [], ""
    while True:
        page = server.stub.ListLoadBalancers(
            pb.ListLoadBalancersRequest(project_id=PROJECT, page_size=1000, page_token=token), timeout=30
        )
        found.extend(page.load_balancers)
        token = page.next_page_token
        if not token:
            return found


def converge(server: Server, timeout: float) -> float:
    """Seconds until every load balancer is ACTIVE and every delete finished."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        lbs = listing(server)
        if all(lb.status.provisioning_status == "ACTIVE" for lb in lbs):
            return time.monotonic() - started
        time.sleep(0.1)
    raise TimeoutError(f"not converged within {timeout} s")


def owned_rows(server: Server) -> set[str]:
    """Names of the Load_Balancer rows quantix-lb owns in the embedded NB."""
    out = server.nbctl(
        "--format=json", "--columns=name", "find", "Load_Balancer", 'external_ids:"quantix:owner"=quantix-lb'
    )
    return {row[0] for row in json.loads(out)["data"]}


def nb_pid(server: Server) -> int:
    return int((server.data_dir / "ovn" / "ovsdb-server.pid").read_text())


def outage(server: Server, ledger: Ledger, numbers: iter, seconds: float) -> tuple[int, int, float]:
    """The NB frozen for `seconds`: reads keep being answered, writes are acknowledged
    (PENDING); once it is back, how long until everything is realized."""
    pid = nb_pid(server)
    os.kill(pid, signal.SIGSTOP)
    reads = misses = 0
    end = time.monotonic() + seconds

    def writes() -> None:  # each answered PENDING after the realize wait
        while time.monotonic() < end:
            try:
                lb = server.stub.CreateLoadBalancer(create_request(next(numbers)), timeout=5)
                ledger.created[lb.id] = time.monotonic()
                ledger.acknowledged += 1
            except grpc.RpcError:
                ledger.failed += 1

    writer = threading.Thread(target=writes)
    writer.start()
    try:
        while time.monotonic() < end:
            try:
                request = pb.ListLoadBalancersRequest(project_id=PROJECT, page_size=10)
                server.stub.ListLoadBalancers(request, timeout=2)
                reads += 1
            except grpc.RpcError:
                misses += 1
            time.sleep(0.01)
    finally:
        writer.join()
        os.kill(pid, signal.SIGCONT)
    return reads, misses, converge(server, 120)


def audit(server: Server, ledger: Ledger) -> dict[str, int]:
    lbs = {lb.id: lb for lb in listing(server)}
    lost = [i for i in ledger.created if i not in ledger.maybe_deleted and i not in lbs]
    lost += [i for i, v in ledger.descriptions.items() if i in lbs and int(lbs[i].description or 0) < v]
    resurrected = [i for i in ledger.deleted if i in lbs]
    wanted = {f"qlb-{li.id}" for lb in lbs.values() for li in lb.spec.listeners}
    rows = owned_rows(server)
    return {
        "acknowledged": ledger.acknowledged,
        "not acknowledged (cut off or refused)": ledger.failed,
        "load balancers": len(lbs),
        "lost": len(lost),
        "resurrected": len(resurrected),
        "orphan rows": len(rows - wanted),
        "missing rows": len(wanted - rows),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storms", type=int, default=10, help="kill -9 storms")
    parser.add_argument("--seconds", type=float, default=5.0, help="about how long each storm lasts")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--outage", type=float, default=20.0, help="seconds the NB stays frozen (0: none)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    random.seed(args.seed)
    data = Path(tempfile.mkdtemp(prefix="quantix-chaos-"))
    server = Server(data / "data")
    ledger = Ledger()
    numbers = iter(range(10**9))
    try:
        server.start()
        for _ in range(args.storms):
            asyncio.run(storm(server, ledger, numbers, args.clients, args.seconds))
        converged = converge(server, 120)
        figures: dict[str, float] = dict(audit(server, ledger))
        figures["seconds to converge after the storms"] = round(converged, 2)
        if args.outage > 0:
            reads, misses, back = outage(server, ledger, numbers, args.outage)
            figures.update(audit(server, ledger))
            figures[f"reads answered while the NB was frozen {args.outage:g} s"] = reads
            figures["reads refused meanwhile"] = misses
            figures["seconds to converge once the NB was back"] = round(back, 2)
    finally:
        server.stop()
        shutil.rmtree(data, ignore_errors=True)
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    bad = sum(int(figures[k]) for k in ("lost", "resurrected", "orphan rows", "missing rows"))
    return 1 if bad or figures.get("reads refused meanwhile", 0) else 0


if __name__ == "__main__":
    sys.exit(main())
