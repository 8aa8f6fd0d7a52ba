"""Real packets through a VIP that `quantix-lb serve` realized in a private OVN.

One OVN stack per module (NB, SB, northd, userspace OVS, ovn-controller), a
switch named after the network, a router on it (it answers ARP for VIPs), a
client and three backends in their own network namespaces. Everything goes
through the public REST API of a running `serve --ovn-nb <the stack's NB>`.
"""

from __future__ import annotations

import collections
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import ServedBed, Server, needs_ovn
from quantix_lb.testing import ovn_testbed

pytestmark = [pytest.mark.ovn, needs_ovn]

NET = "net-e2e"
HTTP_PORT = 8080
UDP_PORT = 9000
OWNED = "external_ids:quantix\\:owner=quantix-lb"


def pool_of(lb: dict, listener: int = 0) -> dict[str, Any]:
    """The pool serving a listener of a REST answer."""
    pool_id = lb["spec"]["listeners"][listener]["default_pool_id"]
    return next(p for p in lb["spec"]["pools"] if p["id"] == pool_id)


def member_at(pool: dict, backend: ovn_testbed.Host) -> dict[str, Any]:
    return next(m for m in pool["members"] if m["address"] == backend.ip)


class Bed(ServedBed):
    def create(self, vip: str, listeners: list[dict]) -> dict:
        """The design document's body: flat network_id/vip_address, default_pool inline."""
        lb = self.api(
            "POST",
            "",
            {"project_id": "proj-e2e", "network_id": NET, "vip_address": vip, "listeners": listeners},
        )
        assert lb["status"]["provisioning_status"] == "ACTIVE", lb
        return lb

    def create_spec(self, vip: str, listeners: list[dict], pools: list[dict]) -> dict:
        """The cloud's body: spec.listeners naming spec.pools with default_pool_id."""
        spec = {"network_id": NET, "vip_address": vip, "listeners": listeners, "pools": pools}
        lb = self.api("POST", "", {"project_id": "proj-e2e", "spec": spec})
        assert lb["status"]["provisioning_status"] == "ACTIVE", lb
        return lb

    def members(self, *backends: ovn_testbed.Host, weights: tuple[int, ...] = ()) -> list[dict]:
        out = []
        for i, b in enumerate(backends):
            m = {"address": b.ip, "port": HTTP_PORT}
            if weights:
                m["weight"] = weights[i]
            out.append(m)
        return out

    def hits(self, url: str, count: int) -> collections.Counter[str]:
        results = self.client.http_get(url, count=count, timeout=2.0)
        failed = [r for r in results if not r.ok]
        assert not failed, f"{len(failed)}/{count} requests failed: {failed[:3]}\n{self.stack.log_tails()}"
        return collections.Counter(r.body for r in results)

    def wait_serving(self, url: str, timeout: float = 10.0) -> None:
        """The NB commit is done when the API answers; flows follow within ms."""
        ovn_testbed.wait_until(
            lambda: self.client.http_get(url, count=1, timeout=1.0)[0].ok, timeout, message=f"{url} to answer"
        )

    def owned_rows(self) -> list[str]:
        return self.stack.nbctl("--bare", "--columns=_uuid", "find", "load_balancer", OWNED).split()

    def row(self, listener_id: str) -> tuple[str, dict[str, str]]:
        """The _uuid and vips of a listener's Load_Balancer row."""
        out = json.loads(
            self.stack.nbctl(
                "--format=json", "--columns=_uuid,vips", "find", "load_balancer", f"name=qlb-{listener_id}"
            )
        )
        ((uuid, vips),) = out["data"]
        assert uuid[0] == "uuid" and vips[0] == "map", out
        return uuid[1], dict(vips[1])

    def listed(self, listener_id: str) -> set[str]:
        """The backend addresses a listener's row lists."""
        (backends,) = self.row(listener_id)[1].values()
        return {b.rsplit(":", 1)[0] for b in backends.split(",") if b}


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    stack = ovn_testbed.OvnStack()
    server = None
    try:
        stack.start()
        ovn_testbed.lb_topology(stack, NET, http_port=HTTP_PORT, udp_port=UDP_PORT)
        server = Server(tmp_path_factory.mktemp("e2e") / "data", ["--ovn-nb", stack.nb_remote]).start()
        bed = Bed(stack, server)
        yield bed
        bed.http.close()
    finally:
        if server:
            server.stop()
        stack.stop()


@pytest.fixture
def lb(bed: Bed) -> Iterator[dict]:
    lb = bed.create(
        "10.0.0.100",
        [{"protocol": "HTTP", "port": 80, "default_pool": {"members": bed.members(*bed.backends)}}],
    )
    bed.wait_serving("http://10.0.0.100/")
    yield lb
    bed.http.delete(f"/api/v1/load-balancers/{lb['id']}")


def test_vip_reaches_every_member(bed: Bed, lb: dict) -> None:
    hits = bed.hits("http://10.0.0.100/", 30)
    assert set(hits) == {"backend1", "backend2", "backend3"}, hits


def test_removed_member_gets_no_new_connections_until_added_back(bed: Bed, lb: dict) -> None:
    pool = pool_of(lb)
    gone = member_at(pool, bed.backends[2])
    after = bed.api("DELETE", f"/{lb['id']}/pools/{pool['id']}/members/{gone['id']}")
    assert [m["address"] for m in pool_of(after)["members"]] == [b.ip for b in bed.backends[:2]]
    hits = bed.hits("http://10.0.0.100/", 30)
    assert "backend3" not in hits and set(hits) == {"backend1", "backend2"}, hits

    bed.api(
        "POST", f"/{lb['id']}/pools/{pool['id']}/members", {"address": bed.backends[2].ip, "port": HTTP_PORT}
    )
    hits = bed.hits("http://10.0.0.100/", 30)
    assert set(hits) == {"backend1", "backend2", "backend3"}, hits


def test_drained_member_takes_no_new_connections(bed: Bed, lb: dict) -> None:
    pool = pool_of(lb)
    path = f"/{lb['id']}/pools/{pool['id']}/members/{member_at(pool, bed.backends[0])['id']}"
    drained = member_at(pool_of(bed.api("PUT", path, {"drain": True})), bed.backends[0])
    assert (drained["drain"], drained["operating_status"]) == (True, "DRAINING"), drained
    assert "backend1" not in bed.hits("http://10.0.0.100/", 20)
    back = member_at(pool_of(bed.api("PUT", path, {"drain": False})), bed.backends[0])
    assert back["drain"] is False and back["operating_status"] != "DRAINING", back
    assert "backend1" in bed.hits("http://10.0.0.100/", 30)


def test_weights_one_to_three_split_new_connections(bed: Bed) -> None:
    lb = bed.create(
        "10.0.0.102",
        [{"protocol": "TCP", "port": 80,
          "default_pool": {"members": bed.members(bed.backends[0], bed.backends[1], weights=(1, 3))}}],
    )  # fmt: skip
    try:
        bed.wait_serving("http://10.0.0.102/")
        hits = bed.hits("http://10.0.0.102/", 200)
        share = hits["backend1"] / 200
        # 25% expected; OVN hashes each connection, so allow for chance (p < 1e-4 outside).
        assert 0.13 <= share <= 0.37, hits
        assert hits["backend1"] + hits["backend2"] == 200
    finally:
        bed.api("DELETE", f"/{lb['id']}")


def test_second_vip_and_udp_listener_side_by_side(bed: Bed, lb: dict) -> None:
    second = bed.create(
        "10.0.0.101",
        [
            {"protocol": "TCP", "port": 80, "default_pool": {"members": bed.members(bed.backends[0])}},
            {"protocol": "UDP", "port": 53,
             "default_pool": {"members": [{"address": b.ip, "port": UDP_PORT} for b in bed.backends]}},
        ],
    )  # fmt: skip
    try:
        bed.wait_serving("http://10.0.0.101/")
        assert set(bed.hits("http://10.0.0.101/", 10)) == {"backend1"}
        assert set(bed.hits("http://10.0.0.100/", 30)) == {"backend1", "backend2", "backend3"}
        replies = bed.client.udp_request("10.0.0.101", 53, count=30, timeout=1.0)
        assert all(r.ok for r in replies), replies[:3]
        assert {r.body for r in replies} == {"backend1", "backend2", "backend3"}
    finally:
        bed.api("DELETE", f"/{second['id']}")


def test_pool_shared_by_two_listeners(bed: Bed) -> None:
    """One pool of the three backends behind TCP 80 and TCP 8080 of one VIP (the spec
    form: both listeners name the pool with default_pool_id). A change of the pool
    reaches both listeners' rows and traffic; moving one listener to another pool
    (UpdateListener default_pool_id) changes that listener only."""
    vip = "10.0.0.104"
    lb = bed.create_spec(
        vip,
        [
            {"name": "http", "protocol": "TCP", "port": 80, "default_pool_id": "web"},
            {"name": "alt", "protocol": "TCP", "port": 8080, "default_pool_id": "web"},
        ],
        [{"name": "web", "members": bed.members(*bed.backends)}],
    )
    try:
        (web,) = lb["spec"]["pools"]
        http, alt = (li["id"] for li in lb["spec"]["listeners"])
        assert [li["default_pool_id"] for li in lb["spec"]["listeners"]] == [web["id"], web["id"]]
        urls = {http: f"http://{vip}/", alt: f"http://{vip}:8080/"}
        every = {b.ip for b in bed.backends}
        assert (bed.listed(http), bed.listed(alt)) == (every, every)
        for url in urls.values():
            bed.wait_serving(url)
            hits = bed.hits(url, 30)
            assert set(hits) == {"backend1", "backend2", "backend3"}, (url, hits)

        # A member removed from the shared pool leaves both rows and both ports.
        gone = member_at(web, bed.backends[2])
        after = bed.api("DELETE", f"/{lb['id']}/pools/{web['id']}/members/{gone['id']}")
        assert after["status"]["provisioning_status"] == "ACTIVE", after["status"]
        kept = {bed.backends[0].ip, bed.backends[1].ip}
        assert (bed.listed(http), bed.listed(alt)) == (kept, kept)
        for url in urls.values():
            hits = bed.hits(url, 30)
            assert set(hits) == {"backend1", "backend2"}, (url, hits)

        # A second pool (POST .../pools), then the 8080 listener moves to it.
        added = bed.api(
            "POST", f"/{lb['id']}/pools", {"name": "solo", "members": bed.members(bed.backends[2])}
        )
        (solo,) = [p for p in added["spec"]["pools"] if p["name"] == "solo"]
        http_row = bed.row(http)
        moved = bed.api("PUT", f"/{lb['id']}/listeners/{alt}", {"default_pool_id": solo["id"]})
        assert moved["status"]["provisioning_status"] == "ACTIVE", moved["status"]
        assert {li["id"]: li["default_pool_id"] for li in moved["spec"]["listeners"]} == {
            http: web["id"],
            alt: solo["id"],
        }
        assert bed.listed(alt) == {bed.backends[2].ip}
        assert bed.row(http) == http_row  # the 80 listener's row is untouched
        assert set(bed.hits(urls[alt], 20)) == {"backend3"}
        assert set(bed.hits(urls[http], 30)) == {"backend1", "backend2"}

        # The shared pool now serves one listener: a change of it no longer reaches 8080.
        bed.api(
            "POST",
            f"/{lb['id']}/pools/{web['id']}/members",
            {"address": bed.backends[2].ip, "port": HTTP_PORT},
        )
        assert (bed.listed(http), bed.listed(alt)) == (every, {bed.backends[2].ip})
        assert set(bed.hits(urls[http], 30)) == {"backend1", "backend2", "backend3"}
        assert set(bed.hits(urls[alt], 20)) == {"backend3"}
    finally:
        bed.api("DELETE", f"/{lb['id']}")


def test_deleted_row_is_restored_and_traffic_flows(bed: Bed, lb: dict) -> None:
    listener = lb["spec"]["listeners"][0]["id"]
    bed.stack.nbctl("lb-del", f"qlb-{listener}")
    started = time.monotonic()
    ovn_testbed.wait_until(
        lambda: f"qlb-{listener}" in bed.stack.nbctl("--bare", "--columns=name", "list", "load_balancer"),
        5.0,
        message="the deleted row to be restored",
    )
    assert time.monotonic() - started < 5.0
    bed.wait_serving("http://10.0.0.100/")
    assert set(bed.hits("http://10.0.0.100/", 30)) == {"backend1", "backend2", "backend3"}


def test_nb_restart_reconnects_and_converges(bed: Bed, lb: dict) -> None:
    pool = pool_of(lb)
    gone = member_at(pool, bed.backends[1])
    label = "ovsdb-server-nb"
    bed.stack.restart_nb()
    # A change made right after the restart is realized once the service is back on the NB.
    answer = bed.api("DELETE", f"/{lb['id']}/pools/{pool['id']}/members/{gone['id']}")
    assert answer["status"]["provisioning_status"] in ("ACTIVE", "PENDING_UPDATE"), label
    ovn_testbed.wait_until(
        lambda: bed.api("GET", f"/{lb['id']}")["status"]["provisioning_status"] == "ACTIVE",
        10.0,
        message="ACTIVE",
    )
    vips = bed.stack.nbctl(
        "--bare", "--columns=vips", "find", "load_balancer", f"name=qlb-{lb['spec']['listeners'][0]['id']}"
    )
    assert bed.backends[1].ip not in vips and bed.backends[0].ip in vips, vips
    hits = bed.hits("http://10.0.0.100/", 30)
    assert set(hits) == {"backend1", "backend3"}, hits


def test_delete_removes_vip_and_every_owned_row(bed: Bed) -> None:
    lb = bed.create(
        "10.0.0.103",
        [{"protocol": "TCP", "port": 80, "default_pool": {"members": bed.members(*bed.backends)}}],
    )
    bed.wait_serving("http://10.0.0.103/")
    bed.api("DELETE", f"/{lb['id']}")
    assert bed.http.get(f"/api/v1/load-balancers/{lb['id']}").status_code == 404
    assert not [r for r in bed.owned_rows() if lb["id"] in bed.stack.nbctl("list", "load_balancer", r)]
    result = bed.client.http_get("http://10.0.0.103/", count=1, timeout=1.0)[0]
    assert not result.ok, result


def test_unknown_network_is_not_found_and_writes_nothing(bed: Bed) -> None:
    before = bed.http.get("/api/v1/load-balancers").json()["total_count"]
    resp = bed.http.post(
        "/api/v1/load-balancers",
        json={"project_id": "p", "network_id": "no-such-net", "vip_address": "10.9.0.1"},
    )
    assert resp.status_code == 404, resp.text
    assert resp.json()["code"] == "NOT_FOUND"
    assert bed.http.get("/api/v1/load-balancers").json()["total_count"] == before


def test_vip_is_allocated_from_the_network_subnet(bed: Bed) -> None:
    bed.stack.nbctl("set", "logical_switch", NET, "other_config:subnet=10.0.0.0/24")
    pool = {"members": bed.members(bed.backends[2])}
    listeners = [{"protocol": "TCP", "port": 80, "default_pool": pool}]
    body = {"project_id": "proj-e2e", "network_id": NET, "listeners": listeners}

    def created() -> dict | None:
        # The service learns the subnet from the NB a moment after it is set; until
        # then a create without vip_address is refused (and writes nothing).
        resp = bed.http.post("/api/v1/load-balancers", json=body)
        return resp.json() if resp.status_code == 201 else None

    lb = ovn_testbed.wait_until(created, 10, message="a VIP allocated from the new subnet")
    try:
        vip = lb["spec"]["vip_address"]
        assert lb["status"]["vip_address"] == vip, lb["status"]
        taken = {"10.0.0.1", "10.0.0.2", "10.0.0.11", "10.0.0.12", "10.0.0.13"}
        assert vip.startswith("10.0.0.") and vip not in taken, vip
        bed.wait_serving(f"http://{vip}/")
        assert set(bed.hits(f"http://{vip}/", 5)) == {"backend3"}
    finally:
        bed.api("DELETE", f"/{lb['id']}")
