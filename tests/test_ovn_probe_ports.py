"""Health checks from inside each tenant network, through probe ports, on a real OVN data path.

Two networks use the same addresses (10.0.0.0/24, a backend at 10.0.0.11 on each). The
local worker of `serve` gets a probe port on each (a logical switch port the control plane
writes, bound by the worker in a namespace of its own on br-int) and checks each member in
its own network: the one whose server is down shows ERROR, the other ONLINE, and they swap
when their servers do. Nothing is probed from the host's namespace: a member on the host's
own address is unreachable from a probe port, one on loopback is refused. Ports and
namespaces go with the network's last monitored member and with the worker.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from builders import listener_json, member_json, spec_body
from conftest import Server, needs_ovn, wait_for
from quantix_lb.testing import ovn_testbed

pytestmark = [pytest.mark.ovn, needs_ovn]

NETS = {"net-pa": ("lr-pa", "0a:58:0a:00:00:01"), "net-pb": ("lr-pb", "0a:58:0a:00:00:02")}
MONITOR = {"type": "HTTP", "delay_ms": 200, "timeout_ms": 150, "max_retries": 2, "url_path": "/"}
TCP_MONITOR = {"type": "TCP", "delay_ms": 200, "timeout_ms": 150, "max_retries": 2}


class Bed:
    def __init__(self, stack: ovn_testbed.OvnStack, server: Server) -> None:
        self.stack = stack
        self.server = server
        self.http = httpx.Client(base_url=server.http_url, timeout=10)
        self.backends: dict[str, ovn_testbed.Host] = {}
        self.servers: dict[str, subprocess.Popen[bytes]] = {}

    def create(self, network: str, project: str, vip: str, monitor: dict, members: list[dict]) -> dict:
        body = spec_body(
            [listener_json("TCP")],
            [{"members": members, "health_monitor": monitor}],
            network_id=network,
            vip_address=vip,
            project_id=project,
        )
        resp = self.http.post("/api/v1/load-balancers", json=body)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def members(self, lb_id: str) -> list[dict]:
        lb = self.http.get(f"/api/v1/load-balancers/{lb_id}").json()
        return [m for pool in lb["spec"]["pools"] for m in pool["members"]]

    def status(self, lb_id: str) -> tuple[str, str]:
        (m,) = self.members(lb_id)
        return m["operating_status"], m.get("last_failure_reason", "")

    def wait_status(self, lb_id: str, want: str, timeout: float = 20.0) -> str:
        got: list[tuple[str, str]] = []

        def reached() -> bool:
            got.append(self.status(lb_id))
            return got[-1][0] == want

        try:
            wait_for(reached, timeout, f"{lb_id} {want}")
        except AssertionError:
            raise AssertionError(f"{lb_id}: wanted {want}, last {got[-1:]}\n{self.logs()}") from None
        return got[-1][1]

    def probe_ports(self) -> dict[str, str]:
        """Our probe ports in the NB: name -> its switch."""
        out = {}
        for net in NETS:
            for lsp in self.stack.nbctl("lsp-list", net).splitlines():
                name = lsp.split("(")[-1].rstrip(")")
                if name.startswith("qlb-probe-"):
                    out[name] = net
        return out

    def logs(self) -> str:
        return "".join(self.server.log_lines[-40:])


def probe_namespaces() -> list[str]:
    try:
        return sorted(n for n in os.listdir("/run/netns") if n.startswith("qlbprobe-"))
    except FileNotFoundError:
        return []


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    stack = ovn_testbed.OvnStack()
    server = None
    before = set(probe_namespaces())
    try:
        stack.start()
        backends, servers = {}, {}
        for net, (router, mac) in NETS.items():
            stack.add_switch(net, "10.0.0.0/24")
            stack.add_router(router)
            stack.connect_router(router, net, "10.0.0.1/24", mac)
            host = stack.add_host(net, f"be-{net[-1]}", "10.0.0.11/24", "10.0.0.1")
            backends[net] = host
        # Only net-pa's backend serves at first.
        servers["net-pa"] = stack.start_http_server(backends["net-pa"], 8080)
        data = tmp_path_factory.mktemp("probe")
        server = Server(
            data / "data", ["--ovn-nb", stack.nb_remote, "--ovs-rundir", str(stack.rundir)], local_worker=True
        ).start()
        bed = Bed(stack, server)
        bed.backends, bed.servers = backends, servers
        yield bed
        bed.http.close()
    finally:
        if server:
            server.stop()
        stack.stop()
        left = set(probe_namespaces()) - before
        for ns in left:  # never leave them, even when the test failed
            subprocess.run(["ip", "netns", "delete", ns], check=False)
        assert not left, f"probe namespaces left behind: {left}"


def test_same_addresses_on_two_networks_are_checked_each_in_its_own(bed: Bed) -> None:
    member = [member_json("10.0.0.11", 8080)]
    lb_a = bed.create("net-pa", "proj-pa", "10.0.0.100", MONITOR, member)
    lb_b = bed.create("net-pb", "proj-pb", "10.0.0.100", MONITOR, member)
    bed.wait_status(lb_a["id"], "ONLINE")
    reason = bed.wait_status(lb_b["id"], "ERROR")
    assert "refused" in reason, reason
    # One port per network, each on its own switch, bound by ovn-controller.
    ports = wait_for(lambda: len(bed.probe_ports()) == 2 and bed.probe_ports(), 10, "two probe ports")
    assert sorted(ports.values()) == sorted(NETS)
    for name in ports:
        assert bed.stack.nbctl("get", "Logical_Switch_Port", name, "up").strip() == "true"
    assert len(probe_namespaces()) == 2

    # They swap: each network's own backend decides its member's health.
    bed.servers["net-pb"] = bed.stack.start_http_server(bed.backends["net-pb"], 8080)
    bed.servers["net-pa"].kill()
    bed.servers["net-pa"].wait()
    bed.wait_status(lb_b["id"], "ONLINE")
    bed.wait_status(lb_a["id"], "ERROR")

    # The network's last monitored member gone: its port and namespace go too.
    assert bed.http.delete(f"/api/v1/load-balancers/{lb_b['id']}").status_code in (200, 204)
    wait_for(lambda: sorted(bed.probe_ports().values()) == ["net-pa"], 15, "net-pb's probe port removed")
    wait_for(lambda: len(probe_namespaces()) == 1, 15, "net-pb's namespace removed")
    assert bed.http.delete(f"/api/v1/load-balancers/{lb_a['id']}").status_code in (200, 204)


def test_ping_through_a_probe_port(bed: Bed) -> None:
    lb = bed.create(
        "net-pa", "proj-pa", "10.0.0.101", {"type": "PING", "delay_ms": 200, "timeout_ms": 150},
        [member_json("10.0.0.11", 8080)],
    )  # fmt: skip
    bed.wait_status(lb["id"], "ONLINE")
    assert bed.http.delete(f"/api/v1/load-balancers/{lb['id']}").status_code in (200, 204)


def _host_address() -> str | None:
    out = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True
    )
    for line in out.stdout.splitlines():
        return line.split()[3].split("/")[0]
    return None


def test_the_host_is_out_of_reach(bed: Bed) -> None:
    # Loopback is refused outright (serve has no --allow-local-addresses).
    body = spec_body([listener_json("TCP")], [{"members": [member_json("127.0.0.1", 22)],
                     "health_monitor": MONITOR}], network_id="net-pa", project_id="proj-pa")  # fmt: skip
    resp = bed.http.post("/api/v1/load-balancers", json=body)
    assert resp.status_code == 400, resp.text
    assert "spec.pools[0].members[0].address" in resp.text
    # The host's own address is no route at all from the probe port: never probed from the host.
    host = _host_address() or "192.0.2.1"
    lb = bed.create("net-pa", "proj-pa", "10.0.0.102", TCP_MONITOR, [member_json(host, 22)])
    reason = bed.wait_status(lb["id"], "ERROR")
    assert "unreachable" in reason, reason
    assert bed.http.delete(f"/api/v1/load-balancers/{lb['id']}").status_code in (200, 204)


def test_a_restarted_worker_reuses_its_ports_and_leaves_none_behind(bed: Bed, tmp_path: Path) -> None:
    lb = bed.create("net-pb", "proj-pb", "10.0.0.103", MONITOR, [member_json("10.0.0.11", 8080)])
    bed.wait_status(lb["id"], "ONLINE")
    ports, namespaces = bed.probe_ports(), probe_namespaces()
    (worker,) = bed.server.child_pids()[-1:]  # the local worker is started last
    os.kill(worker, signal.SIGKILL)
    wait_for(
        lambda: worker not in bed.server.child_pids() and len(bed.server.child_pids()) >= 2, 20, "respawn"
    )
    joined = lambda: sum('"health.worker_joined"' in line for line in list(bed.server.log_lines))  # noqa: E731
    wait_for(lambda: joined() >= 2, 20, "the new worker's session")
    # Same port, same namespace, and the member never left ONLINE.
    assert bed.probe_ports() == ports and probe_namespaces() == namespaces
    assert bed.status(lb["id"])[0] == "ONLINE"
    assert bed.http.delete(f"/api/v1/load-balancers/{lb['id']}").status_code in (200, 204)
