"""The design document's curl examples, verbatim, against a running server: the create
(its flat body still accepted; the answer in the cloud's shape) and the stats."""

import json
import shutil
import subprocess
from typing import Any

import pytest

from conftest import SEED_BODY, Server, wait_for
from quantix.lb.v1 import health_worker_pb2 as wire
from quantix_lb.testing.worker import FakeWorker

SEED_CURL_DATA = (
    '{"name":"web-lb","project_id":"proj-123","network_id":"net-456","vip_address":"192.168.1.100",'
    '"listeners":[{"protocol":"TCP","port":80,"default_pool":{"algorithm":"ROUND_ROBIN","members":'
    '[{"address":"10.0.0.10","port":8080,"weight":1},{"address":"10.0.0.11","port":8080,"weight":1}],'
    '"health_monitor":{"type":"HTTP","delay":5,"timeout":3,"max_retries":3,"http_method":"GET",'
    '"url_path":"/health","expected_codes":"200"}}}]}'
)
needs_curl = pytest.mark.skipif(not shutil.which("curl"), reason="curl not installed")


def curl(*args: str) -> tuple[int, Any]:
    """Runs curl; returns the HTTP status and the JSON body."""
    out = subprocess.run(
        ["curl", "-sS", *args, "-w", "\n%{http_code}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout
    body, _, status = out.rpartition("\n")
    return int(status), json.loads(body)


def create_with_seed_curl(server: Server) -> dict[str, Any]:
    status, lb = curl(
        "-X",
        "POST",
        f"{server.http_url}/api/v1/load-balancers",
        "-H",
        "Content-Type: application/json",
        "-d",
        SEED_CURL_DATA,
    )
    assert status == 201, lb
    return lb


def stats_curl(server: Server, lb_id: str) -> dict[str, Any]:
    status, stats = curl(f"{server.http_url}/api/v1/load-balancers/{lb_id}/stats")
    assert status == 200, stats
    return stats


def figures_of(stats: dict[str, Any], *keys: str) -> tuple[int, ...]:
    return tuple(int(stats[key]) for key in keys)


def test_seed_body_matches_curl_example():
    assert json.loads(SEED_CURL_DATA) == SEED_BODY


@needs_curl
def test_seed_curl_example_verbatim(server):
    lb = create_with_seed_curl(server)
    assert lb["id"].startswith("lb-")
    assert (lb["name"], lb["project_id"]) == ("web-lb", "proj-123")
    # Realized in the embedded OVN Northbound before the answer.
    status = lb["status"]
    assert (status["phase"], status["provisioning_status"]) == ("ACTIVE", "ACTIVE")
    assert status["vip_address"] == "192.168.1.100"
    spec = lb["spec"]
    assert (spec["network_id"], spec["vip_address"]) == ("net-456", "192.168.1.100")
    # The flat body's inline default_pool became a pool of the load balancer, which the
    # listener names; the input-only shorthand is not echoed.
    (listener,) = spec["listeners"]
    assert listener["id"].startswith("lis-")
    assert (listener["protocol"], listener["port"]) == ("TCP", 80)
    assert "default_pool" not in listener
    (pool,) = spec["pools"]
    assert pool["id"].startswith("pool-")
    assert listener["default_pool_id"] == pool["id"]
    assert pool["algorithm"] == "ROUND_ROBIN"
    assert pool["provisioning_status"] == listener["provisioning_status"] == "ACTIVE"
    monitor = pool["health_monitor"]
    assert monitor["id"].startswith("hm-")
    assert (monitor["type"], monitor["delay"], monitor["timeout"], monitor["max_retries"]) == (
        "HTTP",
        5,
        3,
        3,
    )
    assert (monitor["http_method"], monitor["url_path"], monitor["expected_codes"]) == (
        "GET",
        "/health",
        "200",
    )
    assert [(m["address"], m["port"], m["weight"]) for m in pool["members"]] == [
        ("10.0.0.10", 8080, 1),
        ("10.0.0.11", 8080, 1),
    ]
    assert all(m["id"].startswith("mem-") for m in pool["members"])
    assert all(m["admin_state_up"] and m["provisioning_status"] == "ACTIVE" for m in pool["members"])

    # The same load balancer when read back.
    status_code, again = curl(f"{server.http_url}/api/v1/load-balancers/{lb['id']}")
    assert status_code == 200
    assert again == lb


@needs_curl
def test_stats_curl_example(server):
    lb = create_with_seed_curl(server)
    (listener,) = lb["spec"]["listeners"]
    (pool,) = lb["spec"]["pools"]
    members = {m["address"]: m for m in pool["members"]}

    # No worker reports: the counters are left out (never a made-up zero) and the reason says why.
    stats = stats_curl(server, lb["id"])
    assert stats["load_balancer_id"] == lb["id"]
    assert "no health worker" in stats["unavailable_reason"]
    for key in ("active_connections", "total_connections", "requests", "requests_per_second"):
        assert key not in stats, key
    assert [s["listener_id"] for s in stats["listener_stats"]] == [listener["id"]]
    assert [(s["pool_id"], s["member_id"], s["address"], s["port"]) for s in stats["member_stats"]] == [
        (pool["id"], m["id"], m["address"], 8080) for m in pool["members"]
    ]
    assert all("operating_status" in s and "healthy" in s for s in stats["member_stats"])

    # A worker reports the VIP's connections: the figures show per load balancer,
    # listener and member.
    backends = [
        wire.BackendStats(address="10.0.0.10", port=8080, active=2, total=5),
        wire.BackendStats(address="10.0.0.11", port=8080, active=1, total=3),
    ]
    frontend = wire.Frontend(protocol="tcp", vip="192.168.1.100", port=80)
    report = wire.StatsReport(
        available=True, frontends=[wire.FrontendStats(frontend=frontend, backends=backends)], epoch=7
    )
    worker = FakeWorker(server.grpc_addr, "smoke-node")
    worker.repeat(wire.SessionRequest(stats=report))
    try:
        # requests_per_second needs the totals over some time (two samples 0.5 s apart).
        stats = wait_for(
            lambda: (s := stats_curl(server, lb["id"])).get("requests_per_second") is not None and s,
            what="measured stats",
        )
    finally:
        worker.close()
    assert stats["unavailable_reason"] == ""
    # uint64 counters are JSON strings in proto3 JSON.
    assert figures_of(stats, "active_connections", "total_connections", "requests") == (3, 8, 8)
    assert stats["requests_per_second"] == 0  # the totals did not move
    assert stats["sampled_at"]
    (ls,) = stats["listener_stats"]
    assert ls["listener_id"] == listener["id"]
    assert figures_of(ls, "active_connections", "total_connections") == (3, 8)
    assert ls["requests_per_second"] == 0
    by_member = {s["member_id"]: s for s in stats["member_stats"]}
    assert set(by_member) == {m["id"] for m in members.values()}
    for address, active, total in (("10.0.0.10", 2, 5), ("10.0.0.11", 1, 3)):
        figures = by_member[members[address]["id"]]
        assert (figures["pool_id"], figures["address"], figures["port"]) == (pool["id"], address, 8080)
        assert figures_of(figures, "active_connections", "total_connections") == (active, total)


def test_serve_starts_with_a_relative_data_dir(tmp_path):
    """The README's run command uses ./data: relative paths must work, embedded NB included."""
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "quantix_lb", "--log-format", "json", "serve", "--data-dir", "data",
         "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--no-local-worker"],
        cwd=tmp_path, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            if '"serve.ready"' in line:
                break
        else:
            raise AssertionError("serve exited before it was ready")
        assert (tmp_path / "data" / "ovn" / "nb.sock").exists()
    finally:
        proc.terminate()
        proc.wait(15)
