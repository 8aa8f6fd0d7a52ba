"""Statistics from the data path and LEAST_CONNECTIONS, through the public API.

A private OVN (userspace datapath) with a client and three backends in their
own namespaces; `serve --ovn-nb <the stack's NB>` and a `health-worker` that
reads the stack's OVS (--ovs-rundir). The test holds connections open itself
and checks the figures against what it holds and what the backends see.
"""

from __future__ import annotations

import collections
import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import QUANTIX_LB, ServedBed, Server, Watcher, needs_ovn
from limiquantix.network.v1 import network_service_pb2 as pb
from quantix_lb.testing import ovn_testbed

pytestmark = [pytest.mark.ovn, needs_ovn]

NET = "net-stats"
PORT = 8080

# Runs in the client's namespace. "open N" opens N connections to the VIP,
# holds them and prints their client ports; "get" sends one request on each held connection and prints the
# answering backends (the server closes them after answering); "quit" ends.
_HOLDER = r"""
import json, socket, sys
host, port = sys.argv[1], int(sys.argv[2])
held = []
for line in sys.stdin:
    cmd = line.split()
    if cmd[0] == "open":
        for _ in range(int(cmd[1])):
            held.append(socket.create_connection((host, port), timeout=5))
        print(json.dumps([s.getsockname()[1] for s in held]), flush=True)
    elif cmd[0] == "get":
        names = []
        for s in held:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := s.recv(4096):
                data += chunk
            names.append(data.split(b"\r\n\r\n", 1)[-1].decode().strip())
            s.close()
        held = []
        print(json.dumps(names), flush=True)
    elif cmd[0] == "quit":
        break
"""


class Holder:
    def __init__(self, host: ovn_testbed.Host, vip: str, port: int) -> None:
        self.proc = host.popen(
            sys.executable, "-u", "-c", _HOLDER, vip, str(port),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        self.ports: set[int] = set()

    def ask(self, line: str) -> Any:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline()
        assert answer, f"holder died on {line!r}"
        result = json.loads(answer)
        if line.startswith("open"):
            self.ports |= set(result)
        return result

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


def pool_of(lb: dict, listener: int = 0) -> dict[str, Any]:
    """The pool serving a listener of a REST answer."""
    pool_id = lb["spec"]["listeners"][listener]["default_pool_id"]
    return next(p for p in lb["spec"]["pools"] if p["id"] == pool_id)


def member_active(stats: dict) -> dict[str, int]:
    """member id -> open connections (summed over the listeners its pool serves); -1 unset."""
    return {m["member_id"]: int(m.get("active_connections", -1)) for m in stats["member_stats"]}


def listener_figures(stats: dict, field: str) -> dict[str, int]:
    """listener id -> one of its figures; -1 unset."""
    return {li["listener_id"]: int(li.get(field, -1)) for li in stats["listener_stats"]}


class Bed(ServedBed):
    def create(self, vip: str, algorithm: str, drained: tuple[str, ...] = ()) -> dict:
        """The design document's body (default_pool inline): TCP 80 to every backend,
        `drained` ones with drain set."""
        members = [{"address": b.ip, "port": PORT, "drain": b.name in drained} for b in self.backends]
        pool = {"algorithm": algorithm, "members": members}
        lb = self.api(
            "POST",
            "",
            {
                "project_id": "proj-stats",
                "network_id": NET,
                "vip_address": vip,
                "listeners": [{"protocol": "TCP", "port": 80, "default_pool": pool}],
            },
        )
        assert lb["status"]["provisioning_status"] == "ACTIVE", lb
        self.wait_answering(f"http://{vip}/")
        return lb

    def wait_answering(self, url: str) -> None:
        ovn_testbed.wait_until(
            lambda: self.client.http_get(url, count=1, timeout=1.0)[0].ok, 10, message=f"{url} to answer"
        )

    def stats(self, lb: dict) -> dict:
        return self.api("GET", f"/{lb['id']}/stats")

    def member_ids(self, lb: dict, listener: int = 0) -> dict[str, str]:
        """backend name -> member id, in the pool of a listener"""
        by_ip = {b.ip: b.name for b in self.backends}
        return {by_ip[m["address"]]: m["id"] for m in pool_of(lb, listener)["members"]}

    def established(self, backend: ovn_testbed.Host, client_ports: set[int]) -> int:
        """Connections from these client ports the backend holds (earlier tests may
        leave some behind: a FIN sent after its load balancer is gone is lost)."""
        out = backend.run("ss", "-Htn", "state", "established", f"( sport = :{PORT} )").stdout
        return sum(int(line.split()[-1].rsplit(":", 1)[1]) in client_ports for line in out.splitlines())

    def settled(self, client_ports: list[int]) -> dict[str, int]:
        """Held connections per backend, once the backends accepted them all (a
        busy server may still have some in its accept queue)."""
        ports = set(client_ports)

        def counts() -> dict[str, int] | None:
            found = {b.name: self.established(b, ports) for b in self.backends}
            return found if sum(found.values()) == len(ports) else None

        return ovn_testbed.wait_until(counts, 10, message=f"{len(ports)} connections at the backends")

    def release(self, holder: Holder, lb: dict) -> None:
        """Closes the held connections and waits until the backends saw them
        close before deleting the load balancer: a FIN sent once it is gone is
        lost, and the backend would hold the connection forever."""
        holder.close()
        ovn_testbed.wait_until(
            lambda: not any(self.established(b, holder.ports) for b in self.backends),
            10,
            message="held connections closed at the backends",
        )
        self.api("DELETE", f"/{lb['id']}")

    def set_drain(self, lb: dict, name: str, drain: bool) -> dict:
        pool = pool_of(lb)
        member = self.member_ids(lb)[name]
        after = self.api("PUT", f"/{lb['id']}/pools/{pool['id']}/members/{member}", {"drain": drain})
        assert after["status"]["provisioning_status"] == "ACTIVE", after["status"]
        return after

    def hits(self, vip: str, count: int) -> collections.Counter[str]:
        results = self.client.http_get(f"http://{vip}/", count=count, timeout=2.0)
        assert all(r.ok for r in results), results
        return collections.Counter(r.body for r in results)


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bed]:
    stack = ovn_testbed.OvnStack()
    server = None
    worker: subprocess.Popen[bytes] | None = None
    try:
        stack.start()
        ovn_testbed.lb_topology(stack, NET, http_port=PORT)
        server = Server(tmp_path_factory.mktemp("stats") / "data", ["--ovn-nb", stack.nb_remote]).start()
        worker = subprocess.Popen(
            [
                *QUANTIX_LB, "health-worker", "--control-plane", server.grpc_addr,
                "--node-id", "stats-node", "--ovs-rundir", str(stack.rundir),
            ],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        yield Bed(stack, server)
    finally:
        if worker is not None:
            worker.terminate()
            try:
                worker.wait(10)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        if server:
            server.stop()
        stack.stop()


def test_stats_count_what_the_client_holds_and_makes(bed: Bed) -> None:
    lb = bed.create("10.0.0.100", "ROUND_ROBIN")
    holder = Holder(bed.client, "10.0.0.100", 80)
    live = Watcher(bed.server, "grpc", pb.WatchLoadBalancersRequest(include_stats=True))
    plain = Watcher(bed.server, "connect")
    try:
        live.snapshot()
        plain.snapshot()
        per_backend = bed.settled(holder.ask("open 12"))
        ids = bed.member_ids(lb)
        want = {ids[name]: n for name, n in per_backend.items()}

        listener = lb["spec"]["listeners"][0]["id"]

        def matches() -> dict | None:
            s = bed.stats(lb)
            return (
                s
                if int(s.get("active_connections", -1)) == 12
                and listener_figures(s, "active_connections") == {listener: 12}
                and member_active(s) == want
                else None
            )

        stats = ovn_testbed.wait_until(matches, 10, message="active connections per member as held")
        assert {(m["pool_id"], m["address"], m["port"], m["healthy"]) for m in stats["member_stats"]} == {
            (pool_of(lb)["id"], b.ip, PORT, True) for b in bed.backends
        }
        # The userspace datapath's conntrack counts no bytes; nothing counts the reply direction.
        assert "bytes_out" not in stats
        # One connection per readiness probe of create() and the 12 held ones.
        before = int(stats["total_connections"])
        assert before >= 12

        assert sum(bed.hits("10.0.0.100", 20).values()) == 20

        def counted() -> dict | None:
            s = bed.stats(lb)
            # Client bytes come from the OpenFlow counters of the VIP's flow, a little later.
            return s if int(s["total_connections"]) >= before + 20 and int(s.get("bytes_in", 0)) else None

        after = ovn_testbed.wait_until(counted, 10, message="20 more connections counted")
        assert int(after["total_connections"]) == before + 20
        assert int(after["requests"]) == before + 20  # at Layer 4 a request is a connection
        # One listener: its figures are the load balancer's; its members' totals add up to them.
        assert listener_figures(after, "total_connections") == {listener: before + 20}
        assert sum(int(m["total_connections"]) for m in after["member_stats"]) == before + 20
        assert after["requests_per_second"] > 0
        assert int(after["active_connections"]) == 12  # the short ones are closed
        # The same figures on /metrics.
        text = bed.http.get("/metrics").text
        assert (
            f'quantix_lb_active_connections{{load_balancer_id="{lb["id"]}",project_id="proj-stats"}} 12.0'
            in text
        )
        # A dashboard watching with include_stats sees the figures move live.
        live.until(
            lambda e: (
                e.type == pb.WatchLoadBalancersResponse.STATS
                and e.stats.load_balancer_id == lb["id"]
                and e.stats.total_connections == before + 20
            )
        )
        bed.api("PUT", f"/{lb['id']}", {"description": "watched"})  # an ordinary event for both
        changed = plain.until(lambda e: e.type == pb.WatchLoadBalancersResponse.UPDATED)
        assert all(e.type != pb.WatchLoadBalancersResponse.STATS for e in changed)
    finally:
        bed.release(holder, lb)


def test_least_connections_steers_new_connections_away_from_a_loaded_member(bed: Bed) -> None:
    # Only backend1 takes the long connections; then the others join.
    lb = bed.create("10.0.0.101", "LEAST_CONNECTIONS", drained=("backend2", "backend3"))
    holder = Holder(bed.client, "10.0.0.101", 80)
    try:
        assert bed.settled(holder.ask("open 15"))["backend1"] == 15
        bed.set_drain(lb, "backend2", False)
        lb = bed.set_drain(lb, "backend3", False)
        b1 = bed.member_ids(lb)["backend1"]

        def steered() -> bool:
            # backend1 is far above the others: it leaves the backend list.
            rows = bed.stack.nbctl("--bare", "--columns=vips", "list", "load_balancer").splitlines()
            vips = next((r for r in rows if "10.0.0.101:80" in r), "")
            return bed.backends[0].ip not in vips and bed.backends[1].ip in vips

        ovn_testbed.wait_until(steered, 10, message="backend1 steered out of the backend list")

        def b1_holds_all() -> bool:
            return member_active(bed.stats(lb))[b1] == 15

        ovn_testbed.wait_until(b1_holds_all, 10, message="the stats showing backend1's 15 connections")
        hits = bed.hits("10.0.0.101", 30)
        assert hits["backend1"] == 0 and hits["backend2"] + hits["backend3"] == 30, hits
        # The held connections were never disturbed.
        assert holder.ask("get") == ["backend1"] * 15
    finally:
        bed.release(holder, lb)


def test_drain_takes_no_new_connections_and_keeps_the_live_ones(bed: Bed) -> None:
    lb = bed.create("10.0.0.102", "ROUND_ROBIN")
    holder = Holder(bed.client, "10.0.0.102", 80)
    try:
        # dp_hash spreads connections over all three; 9 miss backend2 2.6% of the time, so
        # open 9 more (the holder answers with every port it holds) until it has some.
        held = bed.settled(holder.ask("open 9"))
        for _ in range(4):
            if held["backend2"]:
                break
            held = bed.settled(holder.ask("open 9"))
        assert held["backend2"] > 0, held
        drained = bed.set_drain(lb, "backend2", True)
        stats = bed.stats(drained)
        assert {m["member_id"]: (m["healthy"], m["operating_status"]) for m in stats["member_stats"]}[
            bed.member_ids(lb)["backend2"]
        ] == (False, "DRAINING"), stats["member_stats"]
        hits = bed.hits("10.0.0.102", 30)
        assert "backend2" not in hits, hits
        answered = collections.Counter(holder.ask("get"))
        assert answered == collections.Counter({k: v for k, v in held.items() if v}), (answered, held)
    finally:
        bed.release(holder, lb)


def test_a_shared_pool_sums_its_members_over_the_listeners(bed: Bed) -> None:
    """One pool behind TCP 80 and TCP 8080 (the spec form): listener_stats count each
    port's connections, member_stats one entry per member with both ports' connections."""
    vip = "10.0.0.103"
    spec = {
        "network_id": NET,
        "vip_address": vip,
        "listeners": [
            {"name": "http", "protocol": "TCP", "port": 80, "default_pool_id": "web"},
            {"name": "alt", "protocol": "TCP", "port": 8080, "default_pool_id": "web"},
        ],
        "pools": [{"name": "web", "members": [{"address": b.ip, "port": PORT} for b in bed.backends]}],
    }
    lb = bed.api("POST", "", {"project_id": "proj-stats", "spec": spec})
    assert lb["status"]["provisioning_status"] == "ACTIVE", lb
    http, alt = (li["id"] for li in lb["spec"]["listeners"])
    (web,) = lb["spec"]["pools"]
    on_80, on_8080 = Holder(bed.client, vip, 80), Holder(bed.client, vip, 8080)
    try:
        bed.wait_answering(f"http://{vip}/")
        bed.wait_answering(f"http://{vip}:8080/")
        ids = bed.member_ids(lb)
        held_80 = bed.settled(on_80.ask("open 6"))
        held_8080 = bed.settled(on_8080.ask("open 9"))
        want = {ids[b.name]: held_80[b.name] + held_8080[b.name] for b in bed.backends}
        assert sum(want.values()) == 15

        def matches() -> dict | None:
            s = bed.stats(lb)
            return (
                s
                if listener_figures(s, "active_connections") == {http: 6, alt: 9}
                and member_active(s) == want
                and int(s.get("active_connections", -1)) == 15
                else None
            )

        stats = ovn_testbed.wait_until(matches, 10, message="open connections per listener and per member")
        # One entry per member of the pool, however many listeners it serves.
        assert sorted((m["pool_id"], m["member_id"]) for m in stats["member_stats"]) == sorted(
            (web["id"], m["id"]) for m in web["members"]
        )
        totals = listener_figures(stats, "total_connections")
        assert min(totals.values()) > 0 and sum(totals.values()) == int(stats["total_connections"])
        assert sum(int(m["total_connections"]) for m in stats["member_stats"]) == int(
            stats["total_connections"]
        )
    finally:
        for holder in (on_80, on_8080):
            holder.close()
        ports = on_80.ports | on_8080.ports
        ovn_testbed.wait_until(
            lambda: not any(bed.established(b, ports) for b in bed.backends),
            10,
            message="held connections closed at the backends",
        )
        bed.api("DELETE", f"/{lb['id']}")
