"""Health checks end to end on a real OVN data path.

The worker runs in a network namespace with a port on the logical switch and
probes from there (--probe-from-host: its "host" is that namespace), and
reaches the control plane through a unix socket. (Probe ports, which a worker
on the node itself uses by default, are tested in test_ovn_probe_ports.py.)
Killing a backend's server takes it out of the OVN vips and every request
through the VIP still succeeds; restarting it brings it back. A PING monitor
does the same for a backend that stops answering ICMP echo.
"""

from __future__ import annotations

import collections
import sys
from collections.abc import Iterator

import pytest

from builders import listener_json, member_json, spec_body
from conftest import ServedBed, Server, needs_ovn
from quantix_lb.testing import ovn_testbed

pytestmark = [pytest.mark.ovn, needs_ovn]

NET = "net-hc"
VIP = "10.0.0.100"
PING_VIP = "10.0.0.101"
IGNORE_ECHO = "net.ipv4.icmp_echo_ignore_all"


class Bed(ServedBed):
    def __init__(self, stack: ovn_testbed.OvnStack, server: Server) -> None:
        super().__init__(stack, server)
        self.servers = {}

    def row_vips(self, lb: dict) -> str:
        """The vips of the load balancer's (only) listener's NB row."""
        (listener,) = lb["spec"]["listeners"]
        return self.stack.nbctl("get", "load_balancer", f"qlb-{listener['id']}", "vips")

    def create(self, vip: str, protocol: str, monitor: dict) -> dict:
        """A load balancer on port 80 over every backend's :8080, checked by `monitor`."""
        pool = {"members": [member_json(b.ip, 8080) for b in self.backends], "health_monitor": monitor}
        return self.api(
            "POST", "", spec_body([listener_json(protocol)], [pool], network_id=NET, vip_address=vip)
        )


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
                      "--control-plane", f"unix:{sock}", "--node-id", "hc",
                      "--probe-from-host")  # fmt: skip
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


def members_of(bed: Bed, lb_id: str) -> dict[str, dict]:
    """The load balancer's members as REST shows them, by address."""
    (pool,) = bed.api("GET", f"/{lb_id}")["spec"]["pools"]
    return {m["address"]: m for m in pool["members"]}


def member_statuses(bed: Bed, lb_id: str) -> dict[str, str]:
    return {address: m["operating_status"] for address, m in members_of(bed, lb_id).items()}


def test_dead_backend_leaves_the_vips_and_returns(bed: Bed) -> None:
    lb = bed.create(VIP, "HTTP", {"type": "HTTP", "delay_ms": 500, "timeout_ms": 250, "max_retries": 2})
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
        lambda: f"{victim.ip}:8080" not in bed.row_vips(lb), 5.0, message="the dead member out of vips"
    )
    dead = members_of(bed, lb["id"])[victim.ip]
    assert dead["operating_status"] == "ERROR"
    assert dead["last_failure_reason"] == "connection refused"
    results = bed.client.http_get(f"http://{VIP}/", count=30, timeout=2.0)
    assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
    assert collections.Counter(r.body for r in results).keys() == {"backend1", "backend3"}

    bed.servers[victim.name] = bed.stack.start_http_server(victim, 8080)
    ovn_testbed.wait_until(
        lambda: f"{victim.ip}:8080" in bed.row_vips(lb), 10.0, message="the member back in vips"
    )
    back = members_of(bed, lb["id"])[victim.ip]
    assert (back["operating_status"], back["last_failure_reason"]) == ("ONLINE", "connection refused")
    hits = {r.body for r in bed.client.http_get(f"http://{VIP}/", count=30, timeout=2.0)}
    assert hits == {"backend1", "backend2", "backend3"}


def test_backend_not_answering_ping_leaves_the_vips_and_returns(bed: Bed) -> None:
    # No "type": PING is the enum's zero, the default.
    lb = bed.create(PING_VIP, "TCP", {"delay_ms": 300, "timeout_ms": 200, "max_retries": 2})
    try:
        (pool,) = lb["spec"]["pools"]
        assert pool["health_monitor"]["type"] == "PING"
        everyone = [f"{b.ip}:8080" for b in bed.backends]
        ovn_testbed.wait_until(
            lambda: set(member_statuses(bed, lb["id"]).values()) == {"ONLINE"},
            15.0,
            message="every member ONLINE by ping",
        )
        ovn_testbed.wait_until(
            lambda: all(b in bed.row_vips(lb) for b in everyone), 5.0, message="every member in the vips"
        )

        victim = bed.backends[1]
        others = [f"{b.ip}:8080" for b in bed.backends if b is not victim]
        # The sysctl is the victim namespace's own: its HTTP server keeps serving.
        victim.run("sysctl", "-q", "-w", f"{IGNORE_ECHO}=1")
        try:
            ovn_testbed.wait_until(
                lambda: f"{victim.ip}:8080" not in bed.row_vips(lb),
                5.0,
                message="the silent member out of vips",
            )
            row = bed.row_vips(lb)
            assert all(b in row for b in others), row
            statuses = member_statuses(bed, lb["id"])
            assert statuses == {b.ip: "ERROR" if b is victim else "ONLINE" for b in bed.backends}
            reason = members_of(bed, lb["id"])[victim.ip]["last_failure_reason"]
            assert reason == "no echo reply within 0.2s"
            results = bed.client.http_get(f"http://{PING_VIP}/", count=30, timeout=2.0)
            assert all(r.ok for r in results), [r for r in results if not r.ok][:3]
            assert collections.Counter(r.body for r in results).keys() == {"backend1", "backend3"}
        finally:
            victim.run("sysctl", "-q", "-w", f"{IGNORE_ECHO}=0")

        ovn_testbed.wait_until(
            lambda: f"{victim.ip}:8080" in bed.row_vips(lb), 10.0, message="the member back in vips"
        )
        back = members_of(bed, lb["id"])[victim.ip]
        assert (back["operating_status"], back["last_failure_reason"]) == ("ONLINE", reason)
        assert all(b in bed.row_vips(lb) for b in everyone)
    finally:
        bed.api("DELETE", f"/{lb['id']}")
