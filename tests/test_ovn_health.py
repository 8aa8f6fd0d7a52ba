"""Health checks end to end on a real OVN data path.

The worker runs in a network namespace with a port on the logical switch (as
it would in a deployment, like OVN's metadata agent), and reaches the control
plane through a unix socket. Killing a backend's server takes it out of the
OVN vips and every request through the VIP still succeeds; restarting it
brings it back.
"""

from __future__ import annotations

import collections
import sys
from collections.abc import Iterator

import pytest

import ovn_testbed
from conftest import ServedBed, Server, needs_ovn

pytestmark = [pytest.mark.ovn, needs_ovn]

NET = "net-hc"
VIP = "10.0.0.100"


class Bed(ServedBed):
    def __init__(self, stack: ovn_testbed.OvnStack, server: Server) -> None:
        super().__init__(stack, server)
        self.servers = {}

    def vips(self) -> str:
        return self.stack.nbctl("--bare", "--columns=vips", "list", "load_balancer")


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    stack = ovn_testbed.OvnStack()
    server = None
    try:
        stack.start()
        topo = ovn_testbed.lb_topology(stack, NET, extra={"hc": "10.0.0.5"})
        checker, servers = topo.extra["hc"], topo.servers
        data = tmp_path_factory.mktemp("hc")
        sock = data / "grpc.sock"
        server = Server(
            data / "data", ["--ovn-nb", stack.nb_remote, "--no-local-worker", "--grpc-addr", f"unix:{sock}"]
        ).start()
        # The worker sits on the tenant network, in its own namespace.
        checker.popen(sys.executable, "-m", "quantix_lb", "health-worker",
                      "--control-plane", f"unix:{sock}", "--node-id", "hc")  # fmt: skip
        bed = Bed(stack, server)
        bed.servers = servers
        ovn_testbed.wait_until(
            lambda: any('"health.worker_joined"' in line for line in list(server.log_lines)),
            15.0,
            message="the worker's session",
        )
        yield bed
        bed.http.close()
    finally:
        if server:
            server.stop()
        stack.stop()


def member_statuses(bed: Bed, lb_id: str) -> dict[str, str]:
    pool = bed.http.get(f"/api/v1/load-balancers/{lb_id}").json()["listeners"][0]["default_pool"]
    return {m["address"]: m["operating_status"] for m in pool["members"]}


def test_dead_backend_leaves_the_vips_and_returns(bed: Bed) -> None:
    body = {
        "project_id": "p", "network_id": NET, "vip_address": VIP,
        "listeners": [{"protocol": "HTTP", "port": 80, "default_pool": {
            "members": [{"address": b.ip, "port": 8080} for b in bed.backends],
            "health_monitor": {"type": "HTTP", "delay": 0.5, "timeout": 0.25, "max_retries": 2}}}],
    }  # fmt: skip
    lb = bed.http.post("/api/v1/load-balancers", json=body).json()
    ovn_testbed.wait_until(
        lambda: set(member_statuses(bed, lb["id"]).values()) == {"ONLINE"},
        15.0,
        message="every member ONLINE",
    )
    victim = bed.backends[1]
    proc = bed.servers[victim.name]
    proc.kill()
    proc.wait()
    ovn_testbed.wait_until(
        lambda: f"{victim.ip}:8080" not in bed.vips(), 5.0, message="the dead member out of vips"
    )
    assert member_statuses(bed, lb["id"])[victim.ip] == "ERROR"
    results = bed.client.http_get(f"http://{VIP}/", count=30, timeout=2.0)
    assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
    assert collections.Counter(r.body for r in results).keys() == {"backend1", "backend3"}

    bed.servers[victim.name] = bed.stack.start_http_server(victim, 8080)
    ovn_testbed.wait_until(lambda: f"{victim.ip}:8080" in bed.vips(), 10.0, message="the member back in vips")
    assert member_statuses(bed, lb["id"])[victim.ip] == "ONLINE"
    hits = {r.body for r in bed.client.http_get(f"http://{VIP}/", count=30, timeout=2.0)}
    assert hits == {"backend1", "backend2", "backend3"}
