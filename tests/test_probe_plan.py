"""Probe ports: the pure plan (names, MACs, addresses) and the control plane's side of it
against a real embedded Northbound, with a worker session spoken by hand."""

from __future__ import annotations

import uuid

import httpx

from builders import listener_json, pool_json, spec_body
from conftest import Server, wait_for
from quantix_lb.health.probeplan import ProbePort, plan, port_mac, port_name
from quantix_lb.ovn.translate import Network
from quantix_lb.testing.worker import FakeWorker

MONITOR = {"type": "TCP", "delay_ms": 500, "timeout_ms": 200}


def network(name: str = "net-1", subnet: str | None = "10.0.0.0/24", **fields) -> Network:  # type: ignore[no-untyped-def]
    return Network(name, uuid.uuid4(), name, probe_subnet=subnet, **fields)


def test_names_and_macs_follow_from_node_and_network() -> None:
    name = port_name("node-1", "net-1")
    assert (
        name == port_name("node-1", "net-1") != port_name("node-2", "net-1") != port_name("node-1", "net-2")
    )
    assert name.startswith("qlb-probe-") and len(name) == len("qlb-probe-") + 12
    mac = port_mac(name)
    assert mac == port_mac(name) and mac.startswith("0a:")  # locally administered, unicast
    assert int(mac.split(":")[0], 16) & 0b11 == 0b10


def test_the_highest_free_address_avoiding_ports_vips_and_each_other() -> None:
    net = network(used_addresses=frozenset({"10.0.0.254", "10.0.0.1"}))
    got = plan([("a", "net-1"), ("b", "net-1")], {"net-1": net}, {"net-1": ["10.0.0.253"]}, {})
    assert {p.ip_cidr for p in got.values()} == {"10.0.0.252/24", "10.0.0.251/24"}
    assert all(not p.error and p.mac for p in got.values())


def test_an_address_once_given_is_kept() -> None:
    net = network()
    first = plan([("a", "net-1")], {"net-1": net}, {}, {})[("a", "net-1")]
    # The port now exists: its own address shows as used, and the plan keeps it.
    now = network(used_addresses=frozenset({first.ip_cidr.split("/")[0]}))
    again = plan([("a", "net-1")], {"net-1": now}, {}, {first.name: first})[("a", "net-1")]
    assert again == first
    # After a restart of the control plane, from the Northbound's row.
    nb = network(
        used_addresses=frozenset({"10.0.0.77"}), probe_ports=((first.name, f"{first.mac} 10.0.0.77"),)
    )
    assert plan([("a", "net-1")], {"net-1": nb}, {}, {})[("a", "net-1")].ip_cidr == "10.0.0.77/24"


def test_networks_that_cannot_have_a_port_say_why() -> None:
    full = network("net-full", "10.9.0.0/30", used_addresses=frozenset({"10.9.0.1", "10.9.0.2"}))
    got = plan(
        [("a", "net-gone"), ("a", "net-nosub"), ("a", "net-full")],
        {"net-nosub": network("net-nosub", None), "net-full": full},
        {},
        {},
    )
    assert "not known to OVN Northbound" in got[("a", "net-gone")].error
    assert "has no subnet" in got[("a", "net-nosub")].error
    assert "no free address left in 10.9.0.0/30" in got[("a", "net-full")].error
    assert all(isinstance(p, ProbePort) and not p.ip_cidr for p in got.values())


def _lb(http: httpx.Client, network_id: str, project: str, vip: str) -> dict:
    body = spec_body(
        [listener_json("TCP")],
        [pool_json("10.0.0.10", health_monitor=MONITOR)],
        network_id=network_id,
        vip_address=vip,
        project_id=project,
    )
    resp = http.post("/api/v1/load-balancers", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def probe_rows(server: Server) -> list[str]:
    out = server.nbctl("--bare", "--columns=name,addresses", "find", "Logical_Switch_Port",
                       "external_ids:quantix\\:probe-node=node-p")  # fmt: skip
    return out.split()


def test_the_control_plane_writes_a_port_per_network_and_takes_it_away(server: Server) -> None:
    worker = FakeWorker(server.grpc_addr, "node-p", probe_ports=True)
    try:
        with httpx.Client(base_url=server.http_url, timeout=10) as http:
            lb = _lb(http, "net-sub", "proj-s", "10.0.0.100")
            # Each target says whose it is (budgets) and where it lives (its probe port).
            (target,) = wait_for(lambda: list(worker.targets.values()), 10, "the worker's target")
            assert (target.project_id, target.network_id) == ("proj-s", "net-sub")

            # The embedded network has no subnet yet: the worker is told why (first, for a moment,
            # that the network is unknown, until the realizer has created its switch).
            def error() -> str:
                port = (worker.probe_ports or {}).get("net-sub")
                return port.error if port else ""

            wait_for(lambda: "has no subnet" in error(), 10, "the ports message: no subnet")
            assert probe_rows(server) == []
            # With a subnet the port is written, with port security, on that switch.
            server.nbctl("set", "Logical_Switch", "net-sub", "other_config:subnet=10.0.0.0/24")
            wait_for(lambda: worker.probe_ports["net-sub"].ip_cidr == "10.0.0.254/24", 10, "an address")
            port = worker.probe_ports["net-sub"]
            assert port.name == port_name("node-p", "net-sub") and port.mac == port_mac(port.name)
            wait_for(lambda: probe_rows(server), 10, "the port's row")
            assert probe_rows(server) == [port.name, port.mac, "10.0.0.254"]
            security = server.nbctl("get", "Logical_Switch_Port", port.name, "port_security")
            assert f"{port.mac} 10.0.0.254" in security
            # The address is taken: a VIP may not use it (once serve has read the new row).
            body = spec_body([listener_json("TCP")], [pool_json("10.0.0.10")], network_id="net-sub",
                             vip_address="10.0.0.254", project_id="proj-s")  # fmt: skip

            def refused() -> httpx.Response | None:
                resp = http.post("/api/v1/load-balancers", json=body)
                if resp.status_code == 201:  # not yet known: undo, ask again
                    http.delete(f"/api/v1/load-balancers/{resp.json()['id']}")
                    return None
                return resp

            taken = wait_for(refused, 10, "the port's address refused as a VIP")
            assert taken.status_code == 409 and "is the address of a port" in taken.text, taken.text
            # The network's last monitored member gone: so is its port.
            assert http.delete(f"/api/v1/load-balancers/{lb['id']}").status_code in (200, 204)
            wait_for(lambda: worker.probe_ports == {}, 10, "an empty ports message")
            wait_for(lambda: probe_rows(server) == [], 10, "the port's row removed")
    finally:
        worker.close()
