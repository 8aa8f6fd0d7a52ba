"""The SQLite store across restarts, kill -9 and SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest

from conftest import QUANTIX_LB, ROOT, Server, Watcher
from limiquantix.network.v1 import network_service_pb2 as pb
from quantix_lb import server as server_module
from quantix_lb.store import MIGRATIONS

DB_NAME = "quantix-lb.db"


def create_request(network_id: str, vip: str, members: int = 2, project_id: str = "proj-1"):
    return pb.CreateLoadBalancerRequest(
        name=f"lb-{vip}",
        description="kept across restarts",
        project_id=project_id,
        network_id=network_id,
        vip_address=vip,
        listeners=[
            pb.Listener(
                name="web",
                protocol=pb.Listener.TCP,
                port=80,
                default_pool=pb.Pool(
                    algorithm=pb.Pool.LEAST_CONNECTIONS,
                    members=[
                        pb.Member(address=f"10.9.0.{i + 10}", port=8080, weight=i + 1) for i in range(members)
                    ],
                    health_monitor=pb.HealthMonitor(
                        type=pb.HealthMonitor.HTTP, delay=0.5, timeout=0.25, url_path="/healthz"
                    ),
                    session_persistence=pb.SessionPersistence(
                        type=pb.SessionPersistence.SOURCE_IP, timeout=60
                    ),
                ),
            )
        ],
    )


def list_all(stub, **filters) -> list[pb.LoadBalancer]:
    found: list[pb.LoadBalancer] = []
    token = ""
    while True:
        page = stub.ListLoadBalancers(
            pb.ListLoadBalancersRequest(page_size=1000, page_token=token, **filters), timeout=10
        )
        found.extend(page.load_balancers)
        token = page.next_page_token
        if not token:
            return found


def test_state_survives_restart(make_server: Callable[..., Server]):
    srv = make_server()
    stub = srv.stub
    lbs = [
        stub.CreateLoadBalancer(create_request("net-a", f"192.0.2.{i}", members=i), timeout=10)
        for i in (1, 2, 3)
    ]
    ipv6 = stub.CreateLoadBalancer(
        pb.CreateLoadBalancerRequest(
            project_id="proj-2",
            network_id="net-b",
            vip_address="2001:db8::0:1",
            listeners=[
                pb.Listener(
                    protocol=pb.Listener.UDP,
                    port=53,
                    default_pool=pb.Pool(members=[pb.Member(address="2001:db8::53", port=53)]),
                )
            ],
        ),
        timeout=10,
    )
    first, second, third = lbs
    # Changes of every kind, so the stored documents are not just what Create wrote.
    stub.AddListener(
        pb.AddListenerRequest(
            load_balancer_id=first.id,
            listener=pb.Listener(
                protocol=pb.Listener.UDP,
                port=5353,
                default_pool=pb.Pool(
                    algorithm=pb.Pool.SOURCE_IP, members=[pb.Member(address="10.9.1.1", port=5353)]
                ),
            ),
        ),
        timeout=10,
    )
    pool = second.listeners[0].default_pool
    stub.AddPoolMember(
        pb.AddPoolMemberRequest(
            load_balancer_id=second.id, pool_id=pool.id, member=pb.Member(address="10.9.2.2", port=9090)
        ),
        timeout=10,
    )
    stub.UpdatePoolMember(
        pb.UpdatePoolMemberRequest(
            load_balancer_id=second.id,
            pool_id=pool.id,
            member_id=pool.members[0].id,
            weight=0,
            admin_state=pb.Member.DRAIN,
        ),
        timeout=10,
    )
    stub.UpdateLoadBalancer(pb.UpdateLoadBalancerRequest(id=first.id, name="renamed"), timeout=10)
    stub.DeleteLoadBalancer(pb.DeleteLoadBalancerRequest(id=third.id), timeout=10)

    before = {lb.id: lb for lb in list_all(stub)}
    assert set(before) == {first.id, second.id, ipv6.id}
    assert before[first.id].name == "renamed"
    assert len(before[first.id].listeners) == 2
    drained = before[second.id].listeners[0].default_pool.members[0]
    assert (drained.admin_state, drained.weight) == (pb.Member.DRAIN, 0)
    gets = {lb_id: stub.GetLoadBalancer(pb.GetLoadBalancerRequest(id=lb_id), timeout=10) for lb_id in before}
    assert gets == before

    assert srv.stop() == 0
    srv.start()
    stub = srv.stub

    after = list_all(stub)
    assert [lb.id for lb in after] == list(before), "same load balancers in the same (creation) order"
    assert {lb.id: lb for lb in after} == before
    for lb_id, lb in before.items():
        assert stub.GetLoadBalancer(pb.GetLoadBalancerRequest(id=lb_id), timeout=10) == lb
    assert [lb.id for lb in list_all(stub, project_id="proj-2")] == [ipv6.id]
    assert [lb.id for lb in list_all(stub, network_id="net-a")] == [first.id, second.id]
    with pytest.raises(grpc.RpcError) as info:
        stub.GetLoadBalancer(pb.GetLoadBalancerRequest(id=third.id), timeout=10)
    assert info.value.code() == grpc.StatusCode.NOT_FOUND

    # The uniqueness index came back too: a taken VIP:port is still taken, the
    # deleted load balancer's is free again.
    with pytest.raises(grpc.RpcError) as info:
        stub.CreateLoadBalancer(create_request("net-a", "192.0.2.1"), timeout=10)
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
    reused = stub.CreateLoadBalancer(create_request("net-a", "192.0.2.3"), timeout=10)
    assert [lb.id for lb in list_all(stub)] == [*before, reused.id]


def test_acknowledged_writes_survive_kill_9(make_server: Callable[..., Server]):
    srv = make_server()
    stub = srv.stub
    acknowledged: list[str] = []
    failed: list[grpc.RpcError] = []
    lock = threading.Lock()
    enough = threading.Event()
    writers = 16

    def writer(n: int) -> None:
        i = 0
        while True:
            i += 1
            req = create_request(f"net-{n}", f"10.{n}.{i // 250}.{i % 250 + 1}", members=1)
            try:
                lb = stub.CreateLoadBalancer(req, timeout=10)
            except grpc.RpcError as err:
                with lock:
                    failed.append(err)
                return
            with lock:
                acknowledged.append(lb.id)
                if len(acknowledged) >= 200:
                    enough.set()

    threads = [threading.Thread(target=writer, args=(n,), daemon=True) for n in range(writers)]
    for t in threads:
        t.start()
    try:
        assert enough.wait(30), f"only {len(acknowledged)} creates acknowledged"
    finally:
        assert srv.proc is not None
        srv.proc.kill()  # SIGKILL while the writers keep writing (and so ends them on failure)
        srv.proc.wait(10)
        for t in threads:
            t.join(15)
    assert not any(t.is_alive() for t in threads)
    with lock:
        acked = list(acknowledged)
    # Each writer stopped at its first error, the call in flight when the server died.
    assert len(failed) == writers
    assert all(err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED) for err in failed)
    assert srv.stop() == -signal.SIGKILL

    srv.start()
    stored = {lb.id: lb for lb in list_all(srv.stub)}
    lost = [lb_id for lb_id in acked if lb_id not in stored]
    assert not lost, f"{len(lost)} of {len(acked)} acknowledged creates lost"
    # Whatever else made it (answered or not) is whole.
    assert len(stored) >= len(acked)
    assert all(len(lb.listeners[0].default_pool.members) == 1 for lb in stored.values())


def test_sigterm_exits_cleanly_with_open_watch_streams(make_server: Callable[..., Server]):
    srv = make_server()
    srv.stub.CreateLoadBalancer(create_request("net-a", "192.0.2.1"), timeout=10)
    watchers = [Watcher(srv, "grpc"), Watcher(srv, "connect")]
    try:
        for watcher in watchers:
            assert len(watcher.snapshot()) == 1
        assert srv.proc is not None
        started = time.monotonic()
        srv.proc.send_signal(signal.SIGTERM)
        code = srv.proc.wait(15)
        took = time.monotonic() - started
        # Idle watchers must not hold shutdown to the transports' grace periods.
        assert took < 4, f"SIGTERM took {took:.1f} s with open watch streams"
        assert code == 0
        for watcher in watchers:
            err = watcher.error(timeout=5)
            code_name = err.code().name if isinstance(err, grpc.RpcError) else err.code.name
            assert code_name == "UNAVAILABLE", err
    finally:
        for watcher in watchers:
            watcher.close()
        srv.stop()
    text = "".join(srv.log_lines)
    assert '"serve.stopped"' in text
    assert "Traceback" not in text, text


def test_sigint_and_sigterm_exit_zero(make_server: Callable[..., Server]):
    srv = make_server()
    srv.stub.ListLoadBalancers(pb.ListLoadBalancersRequest(), timeout=10)
    assert srv.stop(signal.SIGINT) == 0
    srv.start()
    assert srv.stop(signal.SIGTERM) == 0
    assert "Traceback" not in "".join(srv.log_lines)


def test_database_schema(make_server: Callable[..., Server], tmp_path: Path):
    data_dir = tmp_path / "schema"
    srv = make_server(data_dir=data_dir)
    srv.stub.CreateLoadBalancer(create_request("net-a", "192.0.2.1"), timeout=10)
    assert srv.stop() == 0
    srv.start()  # a second start must not migrate again
    assert srv.stop() == 0
    assert sum('"store.migrated"' in line for line in srv.log_lines) == len(MIGRATIONS)

    db = sqlite3.connect(f"file:{data_dir / DB_NAME}?mode=ro", uri=True)
    try:
        assert db.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
        versions = [row[0] for row in db.execute("SELECT version FROM schema_migrations ORDER BY version")]
        assert versions[0] == 1
        assert versions == [version for version, _ in MIGRATIONS]
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"schema_migrations", "load_balancers", "frontends"} <= tables
        assert db.execute("SELECT count(*) FROM load_balancers").fetchone()[0] == 1
        assert db.execute("SELECT count(*) FROM frontends").fetchone()[0] == 1
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()


def _refused(data_dir: Path) -> str:
    """Runs `serve` on `data_dir`, expecting a one-line refusal."""
    cmd = [*QUANTIX_LB, "serve", "--data-dir", str(data_dir), "--grpc-addr", "127.0.0.1:0"]
    result = subprocess.run(
        [*cmd, "--http-addr", "127.0.0.1:0"], capture_output=True, text=True, timeout=20, cwd=ROOT
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("quantix-lb:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_unusable_data_dir_is_a_clear_start_up_error(tmp_path: Path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    line = _refused(blocker / "data")
    assert str(blocker / "data") in line


def test_corrupt_database_is_a_clear_start_up_error_and_left_alone(tmp_path: Path):
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    garbage = b"this is not an SQLite database" * 100
    (data_dir / DB_NAME).write_bytes(garbage)
    line = _refused(data_dir)
    assert "store" in line
    assert (data_dir / DB_NAME).read_bytes() == garbage


def test_http_connections_get_tcp_nodelay():
    """Keep-alive HTTP answers are written in pieces; with Nagle on, each waits ~40 ms for an ACK."""

    async def main() -> None:
        sock = server_module._bind("127.0.0.1", 0)
        nodelay: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            nodelay.set_result(
                writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            )
            writer.close()

        listener = await asyncio.start_server(accepted, sock=sock)
        try:
            _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
            assert await asyncio.wait_for(nodelay, 5)
            writer.close()
        finally:
            listener.close()
            await listener.wait_closed()

    asyncio.run(main())
