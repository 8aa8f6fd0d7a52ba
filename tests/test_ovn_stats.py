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

import ovn_testbed
from conftest import QUANTIX_LB, ServedBed, Server, Watcher, needs_ovn
from limiquantix.network.v1 import network_service_pb2 as pb

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


class Bed(ServedBed):
    def create(self, vip: str, algorithm: str, admin: dict[str, str] | None = None) -> dict:
        members = [
            {"address": b.ip, "port": PORT, "admin_state": (admin or {}).get(b.name, "ONLINE")}
            for b in self.backends
        ]
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
        assert lb["provisioning_status"] == "ACTIVE", lb
        ovn_testbed.wait_until(
            lambda: self.client.http_get(f"http://{vip}/", count=1, timeout=1.0)[0].ok,
            10,
            message=f"{vip} to answer",
        )
        return lb

    def stats(self, lb: dict) -> dict:
        return self.api("GET", f"/{lb['id']}/stats")

    def member_ids(self, lb: dict) -> dict[str, str]:
        """backend name -> member id"""
        by_ip = {b.ip: b.name for b in self.backends}
        return {by_ip[m["address"]]: m["id"] for m in lb["listeners"][0]["default_pool"]["members"]}

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

    def set_admin(self, lb: dict, name: str, state: str) -> dict:
        pool = lb["listeners"][0]["default_pool"]
        member = self.member_ids(lb)[name]
        return self.api("PUT", f"/{lb['id']}/pools/{pool['id']}/members/{member}", {"admin_state": state})

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

        def matches() -> dict | None:
            s = bed.stats(lb)
            members = s["listeners"][0]["members"]
            got = {m["member_id"]: int(m.get("connections", -1)) for m in members}
            return s if int(s.get("active_connections", -1)) == 12 and got == want else None

        stats = ovn_testbed.wait_until(matches, 10, message="active connections per member as held")
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
    lb = bed.create("10.0.0.101", "LEAST_CONNECTIONS", {"backend2": "DRAIN", "backend3": "DRAIN"})
    holder = Holder(bed.client, "10.0.0.101", 80)
    try:
        assert bed.settled(holder.ask("open 15"))["backend1"] == 15
        bed.set_admin(lb, "backend2", "ONLINE")
        lb = bed.set_admin(lb, "backend3", "ONLINE")
        b1 = bed.member_ids(lb)["backend1"]

        def steered() -> bool:
            # backend1 is far above the others: it leaves the backend list.
            rows = bed.stack.nbctl("--bare", "--columns=vips", "list", "load_balancer").splitlines()
            vips = next((r for r in rows if "10.0.0.101:80" in r), "")
            return bed.backends[0].ip not in vips and bed.backends[1].ip in vips

        ovn_testbed.wait_until(steered, 10, message="backend1 steered out of the backend list")

        def b1_holds_all() -> bool:
            members = bed.stats(lb)["listeners"][0]["members"]
            return {m["member_id"]: int(m.get("connections", 0)) for m in members}[b1] == 15

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
        held = bed.settled(holder.ask("open 9"))
        assert held["backend2"] > 0, held  # dp_hash spreads 9 connections over all three
        bed.set_admin(lb, "backend2", "DRAIN")
        hits = bed.hits("10.0.0.102", 30)
        assert "backend2" not in hits, hits
        answered = collections.Counter(holder.ask("get"))
        assert answered == collections.Counter({k: v for k, v in held.items() if v}), (answered, held)
    finally:
        bed.release(holder, lb)
