"""The control plane's side of health checking, driven by workers that speak the internal
worker protocol (quantix.lb.v1.HealthWorkerService) directly, with no real probes: targets,
transitions and their reasons, auth and failover."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from builders import listener_json, member_json, spec_body
from conftest import Server, wait_for
from limiquantix.network.v1 import network_service_pb2 as api_pb
from quantix.lb.v1 import health_worker_pb2 as pb
from quantix_lb.testing.worker import FakeWorker

# Sub-second monitors are written in milliseconds; the worker gets seconds.
MONITOR = {"type": "HTTP", "delay_ms": 500, "timeout_ms": 250, "max_retries": 2, "url_path": "/health"}


def make_lb(
    http: httpx.Client, members: int = 3, vip: str = "192.168.7.10", monitor: dict | None = None
) -> dict:
    pool = {
        "members": [member_json(f"10.7.0.{i + 10}") for i in range(members)],
        "health_monitor": MONITOR if monitor is None else monitor,
    }
    body = spec_body([listener_json("HTTP")], [pool], network_id="net-health", vip_address=vip)
    resp = http.post("/api/v1/load-balancers", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def the_pool(lb: dict) -> dict:
    """The (only) pool of a load balancer as REST shows it."""
    (pool,) = lb["spec"]["pools"]
    return pool


def member_view(http: httpx.Client, lb_id: str, member_id: str) -> dict:
    got = http.get(f"/api/v1/load-balancers/{lb_id}").json()
    return next(m for m in the_pool(got)["members"] if m["id"] == member_id)


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
    members = {m["id"]: m for m in the_pool(lb)["members"]}
    worker = FakeWorker(server.grpc_addr, "node-a")
    try:
        wait_for(lambda: set(worker.targets) == set(members), what="the snapshot of every member")
        for member_id, target in worker.targets.items():
            assert (target.address, target.port) == (members[member_id]["address"], 8080)
            assert target.probe.type == pb.Probe.TYPE_HTTP and target.probe.url_path == "/health"
            assert (target.probe.delay, target.probe.timeout, target.probe.max_retries) == (0.5, 0.25, 2)
            assert not target.HasField("last_healthy")  # never checked yet

        sick = next(iter(members))
        assert member_view(http, lb["id"], sick)["last_failure_reason"] == ""
        worker.report(sick, False, "connection refused")

        wait_for(
            lambda: member_view(http, lb["id"], sick)["operating_status"] == "ERROR", what="the member ERROR"
        )
        # The worker's reason reaches the API, on every transport.
        assert member_view(http, lb["id"], sick)["last_failure_reason"] == "connection refused"
        got = server.stub.GetLoadBalancer(api_pb.GetLoadBalancerRequest(id=lb["id"]), timeout=10)
        (grpc_member,) = [m for p in got.spec.pools for m in p.members if m.id == sick]
        assert (grpc_member.operating_status, grpc_member.last_failure_reason) == (
            "ERROR",
            "connection refused",
        )
        wait_for(lambda: members[sick]["address"] not in nb_vips(server), what="the member to leave the vips")

        def active() -> dict | None:
            got = http.get(f"/api/v1/load-balancers/{lb['id']}").json()
            return got if got["status"]["provisioning_status"] == "ACTIVE" else None

        got = wait_for(active, what="ACTIVE")
        assert the_pool(got)["operating_status"] == "DEGRADED"
        assert got["status"]["operating_status"] == "DEGRADED"
        others = [m for m in the_pool(got)["members"] if m["id"] != sick]
        assert {m["last_failure_reason"] for m in others} == {""}

        worker.report(sick, True, "HTTP 200")
        wait_for(
            lambda: member_view(http, lb["id"], sick)["operating_status"] == "ONLINE",
            what="the member ONLINE",
        )
        # Back ONLINE, the member still tells why it last failed.
        assert member_view(http, lb["id"], sick)["last_failure_reason"] == "connection refused"
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
        name = f"qlb-{lb['spec']['listeners'][0]['id']}"

        def options() -> str:
            return subprocess.run(
                ["ovn-nbctl", f"--db=unix:{sock}", "get", "load_balancer", name, "options"],
                capture_output=True, text=True, check=True,
            ).stdout  # fmt: skip

        wait_for(lambda: "reject" in options(), what="reject=true with no healthy member")
        got = http.get(f"/api/v1/load-balancers/{lb['id']}").json()
        assert the_pool(got)["operating_status"] == "ERROR"
        assert {m["last_failure_reason"] for m in the_pool(got)["members"]} == {"test"}
    finally:
        worker.close()


def test_targets_are_spread_and_move_when_a_worker_goes_silent(plane) -> None:  # type: ignore[no-untyped-def]
    server, http = plane
    lb = make_lb(http, members=12, vip="192.168.7.12")
    path = f"/api/v1/load-balancers/{lb['id']}"
    members = {m["id"] for m in the_pool(lb)["members"]}
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
        wait_for(lambda: member_view(http, lb["id"], theirs)["operating_status"] == "ONLINE", what="ONLINE")
        updated_before = http.get(path).json()["updated_at"]

        # b never heartbeats: within 2 s its members move to a.
        started = time.monotonic()
        wait_for(lambda: set(a.targets) == members, timeout=3.0, what="b's targets to move to a")
        assert time.monotonic() - started < 2.5
        # Moving targets marks nothing down: no member changed state.
        assert http.get(path).json()["updated_at"] == updated_before
        moved = a.targets[theirs]
        assert moved.HasField("last_healthy") and moved.last_healthy is True
        # Members never checked move without a state.
        assert not any(t.HasField("last_healthy") for m, t in a.targets.items() if m != theirs)
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
    pool = {"members": [member_json("10.7.0.20", 8443)], "health_monitor": monitor}
    body = spec_body(
        [listener_json("HTTPS", 443)], [pool], network_id="net-health", vip_address="192.168.7.13"
    )
    resp = http.post("/api/v1/load-balancers", json=body)
    assert resp.status_code == 201, resp.text
    got = the_pool(resp.json())["health_monitor"]
    assert (got["domain_name"], got["tls_verify"]) == ("api.example", True)
    worker = FakeWorker(server.grpc_addr, "node-a")
    try:
        (target,) = wait_for(lambda: list(worker.targets.values()), what="the target")
        assert target.probe.type == pb.Probe.TYPE_HTTPS
        assert target.probe.domain_name == "api.example" and target.probe.tls_verify
    finally:
        worker.close()

    # A Host header means nothing to a TCP check: refused, at its path in either body shape.
    tcp = {"type": "TCP", "delay": 1, "timeout": 1, "domain_name": "api.example"}
    bad_pool = {"members": [member_json("10.7.0.21", 8443)], "health_monitor": tcp}
    bad = spec_body(
        [listener_json("HTTPS", 443)], [bad_pool], network_id="net-health", vip_address="192.168.7.14"
    )
    flat = {
        "project_id": "p", "network_id": "net-health", "vip_address": "192.168.7.14",
        "listeners": [{"protocol": "HTTPS", "port": 443, "default_pool": bad_pool}],
    }  # fmt: skip
    for request, where in (
        (bad, "spec.pools[0].health_monitor.domain_name"),
        (flat, "listeners[0].default_pool.health_monitor.domain_name"),
    ):
        resp = http.post("/api/v1/load-balancers", json=request)
        assert resp.status_code == 400, resp.text
        violation = resp.json()["details"][0]["field_violations"][0]
        assert violation["field"] == where


def test_a_monitor_without_a_type_pings_and_its_milliseconds_reach_the_worker(plane) -> None:  # type: ignore[no-untyped-def]
    server, http = plane
    # PING is the enum's zero: a monitor that names no type pings.
    lb = make_lb(http, members=2, vip="192.168.7.15", monitor={"delay_ms": 300, "timeout_ms": 150})
    shown = the_pool(lb)["health_monitor"]
    assert (shown["type"], shown["delay_ms"], shown["timeout_ms"]) == ("PING", 300, 150)
    worker = FakeWorker(server.grpc_addr, "node-a")
    try:
        targets = wait_for(lambda: list(worker.targets.values()) if len(worker.targets) == 2 else None)
        for target in targets:
            assert target.probe.type == pb.Probe.TYPE_PING
            assert (target.probe.delay, target.probe.timeout) == (0.3, 0.15)
            # Defaults arrive resolved.
            assert (target.probe.max_retries, target.probe.healthy_threshold) == (3, 2)
    finally:
        worker.close()
