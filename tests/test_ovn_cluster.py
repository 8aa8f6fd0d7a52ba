"""A clustered (raft) Northbound: serve takes every member's remote and writes
through the leader; when the leader dies, it moves to the new one."""

from __future__ import annotations

import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from conftest import Server
from quantix_lb.testing import free_ports, ovn_testbed

SCHEMA = Path("/usr/share/ovn/ovn-nb.ovsschema")
pytestmark = pytest.mark.skipif(
    not (shutil.which("ovsdb-server") or Path("/usr/sbin/ovsdb-server").exists()) or not SCHEMA.exists(),
    reason="ovsdb-server and the OVN NB schema are needed",
)
NET = "net-raft"


class Cluster:
    def __init__(self, directory: Path, size: int = 3) -> None:
        self.dir = directory
        self.size = size
        self.procs: dict[int, subprocess.Popen[bytes]] = {}
        # Raft peers talk over loopback TCP; clients use the unix sockets.
        self.raft = [f"tcp:127.0.0.1:{p}" for p in free_ports(size)]

    def sock(self, i: int) -> Path:
        return self.dir / f"nb{i}.sock"

    @property
    def remotes(self) -> str:
        return ",".join(f"unix:{self.sock(i)}" for i in range(self.size))

    def create(self) -> None:
        tool = shutil.which("ovsdb-tool") or "/usr/bin/ovsdb-tool"
        subprocess.run(
            [tool, "create-cluster", str(self.dir / "nb0.db"), str(SCHEMA), self.raft[0]], check=True
        )
        for i in range(1, self.size):
            subprocess.run(
                [
                    tool,
                    "join-cluster",
                    str(self.dir / f"nb{i}.db"),
                    "OVN_Northbound",
                    self.raft[i],
                    self.raft[0],
                ],
                check=True,
            )

    def start(self, i: int) -> None:
        server = shutil.which("ovsdb-server") or "/usr/sbin/ovsdb-server"
        self.procs[i] = subprocess.Popen(
            [server, str(self.dir / f"nb{i}.db"), f"--remote=punix:{self.sock(i)}",
             f"--unixctl={self.dir / f'nb{i}.ctl'}", f"--log-file={self.dir / f'nb{i}.log'}", "--no-chdir"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def status(self, i: int) -> str:
        return subprocess.run(
            ["ovs-appctl", "-t", str(self.dir / f"nb{i}.ctl"), "cluster/status", "OVN_Northbound"],
            capture_output=True, text=True,
        ).stdout  # fmt: skip

    def joined(self, i: int) -> bool:
        out = self.status(i)
        return "Status: cluster member" in out and "Entries not yet applied: 0" in out

    def role(self, i: int) -> str:
        out = subprocess.run(
            ["ovs-appctl", "-t", str(self.dir / f"nb{i}.ctl"), "cluster/status", "OVN_Northbound"],
            capture_output=True, text=True,
        ).stdout  # fmt: skip
        return next(
            (line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Role")), ""
        )

    def leader(self, timeout: float = 20.0) -> int:
        def find() -> list[int]:  # a list, so that member 0 counts as found
            return [i for i, p in self.procs.items() if p.poll() is None and self.role(i) == "leader"]

        return ovn_testbed.wait_until(find, timeout, message="a raft leader")[0]

    def nbctl(self, *args: str) -> str:
        return subprocess.run(
            ["ovn-nbctl", "--no-leader-only", f"--db={self.remotes}", *args],
            check=True, capture_output=True, text=True, timeout=30,
        ).stdout  # fmt: skip

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path / "raft")
    c.dir.mkdir()
    try:
        c.create()
        for i in range(c.size):
            c.start(i)
        # Every member joined and up to date (a leader killed before that may leave no majority).
        ovn_testbed.wait_until(
            lambda: (
                sorted(c.role(i) for i in range(c.size)) == ["follower", "follower", "leader"]
                and all(c.joined(i) for i in range(c.size))
            ),
            30.0,
            message="all three members in the cluster",
        )
        c.nbctl("ls-add", NET)
        yield c
    finally:
        c.stop()


def _create(http: httpx.Client, vip: str) -> dict:
    body = {
        "project_id": "p", "network_id": NET, "vip_address": vip,
        "listeners": [{"protocol": "TCP", "port": 80,
                       "default_pool": {"members": [{"address": "10.1.0.10", "port": 8080}]}}],
    }  # fmt: skip
    resp = http.post("/api/v1/load-balancers", json=body)
    assert resp.status_code == 201, resp.text
    return resp.json()


def test_writes_follow_the_raft_leader(cluster: Cluster, tmp_path: Path) -> None:
    server = Server(tmp_path / "data", ["--ovn-nb", cluster.remotes]).start()
    try:
        http = httpx.Client(base_url=server.http_url, timeout=15)
        first = _create(http, "10.1.0.100")
        assert first["status"]["provisioning_status"] == "ACTIVE", first

        old = cluster.leader()
        cluster.procs[old].send_signal(signal.SIGKILL)
        cluster.procs[old].wait()
        new = cluster.leader(timeout=40.0)
        assert new != old

        # Written while the service finds the new leader: acknowledged, realized soon after.
        second = _create(http, "10.1.0.101")
        ovn_testbed.wait_until(
            lambda: (
                http.get(f"/api/v1/load-balancers/{second['id']}").json()["status"]["provisioning_status"]
                == "ACTIVE"
            ),
            20.0,
            message="the second load balancer to be realized through the new leader",
        )
        names = cluster.nbctl("--bare", "--columns=name", "list", "load_balancer").split()
        assert f"qlb-{first['spec']['listeners'][0]['id']}" in names
        assert f"qlb-{second['spec']['listeners'][0]['id']}" in names
        http.close()
    finally:
        server.stop()
