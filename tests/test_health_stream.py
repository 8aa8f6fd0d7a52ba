"""The control plane's side of health checking, driven by workers that speak the
proto directly (no real probes): targets, transitions, auth and failover."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from conftest import Server, wait_for
from limiquantix.network.v1 import network_service_pb2 as pb
from limiquantix.network.v1 import network_service_pb2_grpc as pb_grpc


class FakeWorker:
    """A worker session on its own thread: what it receives lands in `received`."""

    def __init__(self, addr: str, node_id: str, token: str | None = None, heartbeat: bool = True) -> None:
        self.channel = grpc.insecure_channel(addr)
        self.outgoing: queue.Queue[pb.SessionRequest | None] = queue.Queue()
        self.received: queue.Queue[pb.SessionResponse] = queue.Queue()
        self.targets: dict[str, pb.HealthTarget] = {}
        self.error: grpc.RpcError | None = None
        self.heartbeat = heartbeat
        self._stop = threading.Event()
        self.outgoing.put(pb.SessionRequest(hello=pb.WorkerHello(node_id=node_id)))
        metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.call = pb_grpc.HealthWorkerServiceStub(self.channel).Session(self._requests(), metadata=metadata)
        threading.Thread(target=self._read, daemon=True).start()

    def _requests(self) -> Iterator[pb.SessionRequest]:
        next_beat = 0.0
        while not self._stop.is_set():
            try:
                item = self.outgoing.get(timeout=0.05)
            except queue.Empty:
                item = None
                if self.heartbeat and time.monotonic() >= next_beat:
                    item = pb.SessionRequest(heartbeat=pb.Heartbeat())
                    next_beat = time.monotonic() + 0.3
            if item is not None:
                yield item

    def _read(self) -> None:
        try:
            for message in self.call:
                if message.WhichOneof("message") == "snapshot":
                    self.targets = {t.member_id: t for t in message.snapshot.targets}
                else:
                    for member_id in message.delta.removals:
                        self.targets.pop(member_id, None)
                    for t in message.delta.upserts:
                        self.targets[t.member_id] = t
                self.received.put(message)
        except grpc.RpcError as exc:
            self.error = exc

    def report(self, member_id: str, healthy: bool) -> None:
        t = pb.HealthTransition(member_id=member_id, healthy=healthy, reason="test")
        self.outgoing.put(pb.SessionRequest(transitions=pb.HealthTransitions(transitions=[t])))

    def close(self) -> None:
        self._stop.set()
        self.call.cancel()
        self.channel.close()


MONITOR = {"type": "HTTP", "delay": 0.5, "timeout": 0.25, "max_retries": 2, "url_path": "/health"}


def make_lb(http: httpx.Client, members: int = 3, vip: str = "192.168.7.10") -> dict:
    body = {
        "project_id": "p", "network_id": "net-health", "vip_address": vip,
        "listeners": [{"protocol": "HTTP", "port": 80, "default_pool": {
            "members": [{"address": f"10.7.0.{i + 10}", "port": 8080} for i in range(members)],
            "health_monitor": MONITOR}}],
    }  # fmt: skip
    resp = http.post("/api/v1/load-balancers", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


@pytest.fixture
def plane(make_server) -> Iterator[tuple[Server, httpx.Client]]:  # type: ignore[no-untyped-def]
    server = make_server("--no-local-worker")
    with httpx.Client(base_url=server.http_url, timeout=10) as http:
        yield server, http


def nb_vips(server: Server) -> str:
    sock = server.data_dir / "ovn" / "nb.sock"
    return subprocess.run(
        ["ovn-nbctl", f"--db=unix:{sock}", "--bare", "--columns=vips", "list", "load_balancer"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip


def test_worker_gets_exactly_the_members_and_transitions_reach_ovn(plane) -> None:  # type: ignore[no-untyped-def]
    server, http = plane
    lb = make_lb(http)
    pool = lb["listeners"][0]["default_pool"]
    members = {m["id"]: m for m in pool["members"]}
    worker = FakeWorker(server.grpc_addr, "node-a")
    try:
        wait_for(lambda: set(worker.targets) == set(members), what="the snapshot of every member")
        for member_id, target in worker.targets.items():
            assert (target.address, target.port) == (members[member_id]["address"], 8080)
            assert target.monitor.url_path == "/health" and target.monitor.delay == 0.5
            assert target.last_status == pb.Operating.STATUS_UNSPECIFIED  # never checked yet

        sick = next(iter(members))
        worker.report(sick, False)

        def member_status() -> str:
            got = http.get(f"/api/v1/load-balancers/{lb['id']}").json()
            m = next(m for m in got["listeners"][0]["default_pool"]["members"] if m["id"] == sick)
            return m["operating_status"]

        wait_for(lambda: member_status() == "ERROR", what="the member to be ERROR")
        got = http.get(f"/api/v1/load-balancers/{lb['id']}").json()
        wait_for(lambda: members[sick]["address"] not in nb_vips(server), what="the member to leave the vips")

        def active() -> dict | None:
            got = http.get(f"/api/v1/load-balancers/{lb['id']}").json()
            return got if got["provisioning_status"] == "ACTIVE" else None

        got = wait_for(active, what="ACTIVE")
        assert got["listeners"][0]["default_pool"]["operating_status"] == "DEGRADED"
        assert got["operating_status"] == "DEGRADED"

        worker.report(sick, True)
        wait_for(lambda: member_status() == "ONLINE", what="the member to be ONLINE")
        wait_for(lambda: members[sick]["address"] in nb_vips(server), what="the member to rejoin the vips")
    finally:
        worker.close()


def test_all_members_down_rejects(plane) -> None:  # type: ignore[no-untyped-def]
    server, http = plane
    lb = make_lb(http, members=2, vip="192.168.7.11")
    worker = FakeWorker(server.grpc_addr, "node-a")
    try:
        wait_for(lambda: len(worker.targets) == 2, what="targets")
        for member_id in list(worker.targets):
            worker.report(member_id, False)
        sock = server.data_dir / "ovn" / "nb.sock"
        name = f"qlb-{lb['listeners'][0]['id']}"

        def options() -> str:
            return subprocess.run(
                ["ovn-nbctl", f"--db=unix:{sock}", "get", "load_balancer", name, "options"],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip

        wait_for(lambda: "reject" in options(), what="reject=true with no healthy member")
        got = http.get(f"/api/v1/load-balancers/{lb['id']}").json()
        assert got["listeners"][0]["default_pool"]["operating_status"] == "ERROR"
    finally:
        worker.close()


def test_targets_are_spread_and_move_when_a_worker_goes_silent(plane) -> None:  # type: ignore[no-untyped-def]
    server, http = plane
    lb = make_lb(http, members=12, vip="192.168.7.12")
    path = f"/api/v1/load-balancers/{lb['id']}"
    members = {m["id"] for m in lb["listeners"][0]["default_pool"]["members"]}
    a = FakeWorker(server.grpc_addr, "node-a")
    b = FakeWorker(server.grpc_addr, "node-b", heartbeat=False)
    try:

        def split() -> bool:
            ta, tb = set(a.targets), set(b.targets)
            return bool(ta and tb) and ta | tb == members and not ta & tb

        # Rendezvous hashing gives each worker a share (with 12 members, both get some).
        wait_for(split, what="members split over both workers")
        # b reports one of its members healthy: that state must travel with the member.
        theirs = next(iter(b.targets))
        b.report(theirs, True)

        def online() -> bool:
            pool = http.get(path).json()["listeners"][0]["default_pool"]
            return any(m["id"] == theirs and m["operating_status"] == "ONLINE" for m in pool["members"])

        wait_for(online, what="ONLINE")
        updated_before = http.get(path).json()["updated_at"]

        # b never heartbeats: within 2 s its members move to a.
        started = time.monotonic()
        wait_for(lambda: set(a.targets) == members, timeout=3.0, what="b's targets to move to a")
        assert time.monotonic() - started < 2.5
        # Moving targets marks nothing down: no member changed state.
        assert http.get(path).json()["updated_at"] == updated_before
        assert a.targets[theirs].last_status == pb.Operating.ONLINE
    finally:
        a.close()
        b.close()


def test_tenant_token_cannot_open_the_worker_stream(make_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps({"tok-p": {"project_id": "p"}, "tok-w": {"role": "worker"}}))
    server = make_server("--no-local-worker", "--auth-tokens", str(tokens))
    tenant = FakeWorker(server.grpc_addr, "node-t", token="tok-p")
    nobody = FakeWorker(server.grpc_addr, "node-n")
    good = FakeWorker(server.grpc_addr, "node-w", token="tok-w")
    try:
        wait_for(lambda: tenant.error is not None and nobody.error is not None, what="both refused")
        assert tenant.error.code() == grpc.StatusCode.PERMISSION_DENIED
        assert nobody.error.code() == grpc.StatusCode.UNAUTHENTICATED
        wait_for(lambda: not good.received.empty(), what="the worker's snapshot")
        assert good.error is None
    finally:
        for w in (tenant, nobody, good):
            w.close()


def test_host_header_and_tls_verification_reach_the_worker(plane) -> None:  # type: ignore[no-untyped-def]
    server, http = plane
    monitor = {**MONITOR, "type": "HTTPS", "domain_name": "api.example", "tls_verify": True}
    body = {
        "project_id": "p", "network_id": "net-health", "vip_address": "192.168.7.13",
        "listeners": [{"protocol": "HTTPS", "port": 443, "default_pool": {
            "members": [{"address": "10.7.0.20", "port": 8443}], "health_monitor": monitor}}],
    }  # fmt: skip
    resp = http.post("/api/v1/load-balancers", json=body)
    assert resp.status_code == 201, resp.text
    got = resp.json()["listeners"][0]["default_pool"]["health_monitor"]
    assert (got["domain_name"], got["tls_verify"]) == ("api.example", True)
    worker = FakeWorker(server.grpc_addr, "node-a")
    try:
        (target,) = wait_for(lambda: list(worker.targets.values()), what="the target")
        assert target.monitor.domain_name == "api.example" and target.monitor.tls_verify
    finally:
        worker.close()

    bad = {**body, "vip_address": "192.168.7.14"}
    tcp = {"type": "TCP", "delay": 1, "timeout": 1, "domain_name": "api.example"}
    pool = {"members": [{"address": "10.7.0.21", "port": 8443}], "health_monitor": tcp}
    bad["listeners"] = [{**body["listeners"][0], "default_pool": pool}]
    resp = http.post("/api/v1/load-balancers", json=bad)
    assert resp.status_code == 400, resp.text
    violation = resp.json()["details"][0]["field_violations"][0]
    assert violation["field"] == "listeners[0].default_pool.health_monitor.domain_name"
