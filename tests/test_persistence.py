"""The SQLite store across restarts, kill -9 and SIGTERM, and the upgrade of a data dir
the previous release wrote."""

from __future__ import annotations

import asyncio
import json
import math
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from builders import (
    config_only,
    create_request,
    listener_json,
    member_json,
    operating,
    pool_json,
    pool_of,
    spec_body,
)
from conftest import QUANTIX_LB, ROOT, Server, Watcher, wait_for
from lbclients import open_all
from limiquantix.network.v1 import network_pb2 as res
from limiquantix.network.v1 import network_service_pb2 as pb
from quantix_lb import server as server_module
from quantix_lb.store import MIGRATIONS

DB_NAME = "quantix-lb.db"


def lb_request(network_id: str, vip: str, members: int = 2, project_id: str = "proj-1"):
    """A load balancer with a bit of everything: weights, a sub-second HTTP monitor,
    LEAST_CONNECTIONS and SOURCE_IP persistence."""
    pool = {
        "name": "web-pool",
        "algorithm": "LEAST_CONNECTIONS",
        "members": [member_json(f"10.9.0.{i + 10}", 8080, weight=i + 1) for i in range(members)],
        "health_monitor": {"type": "HTTP", "delay_ms": 500, "timeout_ms": 250, "url_path": "/healthz"},
        "persistence": {"type": "SOURCE_IP", "timeout": 60},
    }
    body = spec_body(
        [listener_json(name="web")],
        [pool],
        network_id=network_id,
        vip_address=vip,
        name=f"lb-{vip}",
        description="kept across restarts",
        project_id=project_id,
    )
    return create_request(body)


def list_all(stub, **filters) -> list[res.LoadBalancer]:
    found: list[res.LoadBalancer] = []
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
        stub.CreateLoadBalancer(lb_request("net-a", f"192.0.2.{i}", members=i), timeout=10) for i in (1, 2, 3)
    ]
    ipv6 = stub.CreateLoadBalancer(
        create_request(
            spec_body(
                [listener_json("UDP", 53)],
                [pool_json("2001:db8::53", port=53)],
                network_id="net-b",
                vip_address="2001:db8::0:1",
                project_id="proj-2",
            )
        ),
        timeout=10,
    )
    assert ipv6.spec.vip_address == "2001:db8::1"  # stored in canonical form
    first, second, third = lbs
    # Changes of every kind, so the stored documents are not just what Create wrote.
    stub.AddListener(
        pb.AddListenerRequest(
            load_balancer_id=first.id,
            listener=res.Listener(
                protocol=res.Listener.UDP,
                port=5353,
                default_pool=res.Pool(
                    algorithm=res.Pool.SOURCE_IP, members=[res.PoolMember(address="10.9.1.1", port=5353)]
                ),
            ),
        ),
        timeout=10,
    )
    # A pool no listener uses (yet) is kept too.
    stub.AddPool(
        pb.AddPoolRequest(
            load_balancer_id=first.id,
            pool=res.Pool(name="spare", members=[res.PoolMember(address="10.9.3.3", port=80, weight=5)]),
        ),
        timeout=10,
    )
    pool = pool_of(second)
    stub.AddPoolMember(
        pb.AddPoolMemberRequest(
            load_balancer_id=second.id, pool_id=pool.id, member=res.PoolMember(address="10.9.2.2", port=9090)
        ),
        timeout=10,
    )
    stub.UpdatePoolMember(
        pb.UpdatePoolMemberRequest(
            load_balancer_id=second.id, pool_id=pool.id, member_id=pool.members[0].id, weight=0, drain=True
        ),
        timeout=10,
    )
    stub.UpdatePool(
        pb.UpdatePoolRequest(
            load_balancer_id=second.id,
            pool_id=pool.id,
            algorithm=res.Pool.SOURCE_IP,
            remove_health_monitor=True,
        ),
        timeout=10,
    )
    stub.UpdateLoadBalancer(
        pb.UpdateLoadBalancerRequest(id=first.id, name="renamed", labels={"tier": "web"}), timeout=10
    )
    stub.DeleteLoadBalancer(pb.DeleteLoadBalancerRequest(id=third.id), timeout=10)

    before = {lb.id: lb for lb in list_all(stub)}
    assert set(before) == {first.id, second.id, ipv6.id}
    assert before[first.id].name == "renamed"
    assert dict(before[first.id].labels) == {"tier": "web"}
    assert len(before[first.id].spec.listeners) == 2
    assert [p.name for p in before[first.id].spec.pools] == ["web-pool", "", "spare"]
    drained = pool_of(before[second.id]).members[0]
    assert (drained.drain, drained.admin_state_up, drained.weight) == (True, True, 0)
    assert pool_of(before[second.id]).algorithm == res.Pool.SOURCE_IP
    assert not pool_of(before[second.id]).HasField("health_monitor")
    monitor = pool_of(before[first.id]).health_monitor
    assert (monitor.delay_ms, monitor.timeout_ms) == (500, 250)
    gets = {lb_id: stub.GetLoadBalancer(pb.GetLoadBalancerRequest(id=lb_id), timeout=10) for lb_id in before}
    assert gets == before

    assert srv.stop() == 0
    assert (srv.data_dir / "answers.cache").is_file()
    srv.start()
    stub = srv.stub
    # The answers the stop saved were taken for the first list, none encoded again.
    anticipated = srv.wait_event("answers.anticipated", 10)
    assert (anticipated["saved"], anticipated["encoded"]) == (3, 0)
    # What the realizer verified was saved too: its successor took all 3 untranslated.
    assert (srv.data_dir / "verified.cache").is_file()
    adopted = srv.wait_event("ovn.saved_state_adopted", 10)
    assert (adopted["adopted"], adopted["saved"], adopted["planned"]) == (3, 3, 0)

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
        stub.CreateLoadBalancer(lb_request("net-a", "192.0.2.1"), timeout=10)
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
    reused = stub.CreateLoadBalancer(lb_request("net-a", "192.0.2.3"), timeout=10)
    assert [lb.id for lb in list_all(stub)] == [*before, reused.id]

    # A change, then a stop that saves nothing (kill -9): the answer saved for the older
    # revision is not taken, nor any for a load balancer created since.
    stub.UpdateLoadBalancer(pb.UpdateLoadBalancerRequest(id=first.id, name="again"), timeout=10)
    assert srv.stop(signal.SIGKILL) == -signal.SIGKILL
    srv.start()
    anticipated = srv.wait_event("answers.anticipated", 10)
    assert (anticipated["saved"], anticipated["encoded"]) == (2, 2)
    assert {lb.id: lb.name for lb in list_all(srv.stub)} == {
        first.id: "again",
        second.id: before[second.id].name,
        ipv6.id: before[ipv6.id].name,
        reused.id: reused.name,
    }


def test_the_stop_saves_the_answers_the_next_start_needs(make_server: Callable[..., Server]):
    """A load balancer never listed since its create is saved too: the stop encodes the
    answer it will have once realized, so the next start encodes none."""
    srv = make_server()
    created = srv.stub.CreateLoadBalancer(lb_request("net-a", "192.0.2.9"), timeout=10)
    assert srv.stop() == 0
    srv.start()
    anticipated = srv.wait_event("answers.anticipated", 10)
    assert (anticipated["saved"], anticipated["encoded"]) == (1, 0)
    (listed,) = list_all(srv.stub)
    assert listed.id == created.id and listed.status.provisioning_status == "ACTIVE"
    assert srv.stub.GetLoadBalancer(pb.GetLoadBalancerRequest(id=created.id), timeout=10) == listed


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
            req = lb_request(f"net-{n}", f"10.{n}.{i // 250}.{i % 250 + 1}", members=1)
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
    assert all(len(pool_of(lb).members) == 1 for lb in stored.values())


def test_sigterm_exits_cleanly_with_open_watch_streams(make_server: Callable[..., Server]):
    srv = make_server()
    srv.stub.CreateLoadBalancer(lb_request("net-a", "192.0.2.1"), timeout=10)
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
    srv.stub.CreateLoadBalancer(lb_request("net-a", "192.0.2.1"), timeout=10)
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
        (doc,) = [json.loads(row[0]) for row in db.execute("SELECT doc FROM load_balancers")]
        assert doc["v"] == 2
        assert [li["default_pool_id"] for li in doc["listeners"]] == [p["id"] for p in doc["pools"]]
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


# --- a data dir the previous release wrote --------------------------------------------
#
# Written here by hand with sqlite3, as that release did (its store.py and model.py at the
# commit before the cloud's contract): its schema, and its load balancer documents, in
# which each listener held its pool inline as `default_pool` and there was no "v" key.

PREVIOUS_SCHEMA = [
    'CREATE TABLE "schema_migrations" ("version" INTEGER PRIMARY KEY, "applied_at" TEXT)',
    """CREATE TABLE load_balancers (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        project_id TEXT NOT NULL,
        network_id TEXT NOT NULL,
        doc TEXT NOT NULL)""",
    "CREATE INDEX load_balancers_project ON load_balancers (project_id, seq)",
    "CREATE INDEX load_balancers_network ON load_balancers (network_id, seq)",
    """CREATE TABLE frontends (
        network_id TEXT NOT NULL,
        vip_address TEXT NOT NULL,
        l4_protocol TEXT NOT NULL,
        port INTEGER NOT NULL,
        load_balancer_id TEXT NOT NULL
            REFERENCES load_balancers (id) ON DELETE CASCADE,
        listener_id TEXT NOT NULL,
        PRIMARY KEY (network_id, vip_address, l4_protocol, port))""",
    "CREATE INDEX frontends_lb ON frontends (load_balancer_id)",
]
LEAST_CONNECTIONS_NOTE = (
    "LEAST_CONNECTIONS: new connections are steered to the least loaded members from the data path's"
    " live connection counts, about a second behind; without fresh statistics OVN hashes by weight"
)


def old_id(prefix: str, n: int) -> str:
    return f"{prefix}-00000000-0000-4000-8000-{n:012d}"


def old_member(n: int, address: str, port: int, **fields: Any) -> dict[str, Any]:
    return {
        "id": old_id("mem", n),
        "address": address,
        "port": port,
        "name": "",
        "weight": 1,
        "admin_state": "ONLINE",
        "provisioning_status": "ACTIVE",
        "operating_status": "OFFLINE",
        **fields,
    }


def old_pool(n: int, members: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "id": old_id("pool", n),
        "name": "",
        "algorithm": "ROUND_ROBIN",
        "members": members,
        "health_monitor": None,
        "session_persistence": None,
        "provisioning_status": "ACTIVE",
        "operating_status": "ONLINE",
        "status_reason": "",
        **fields,
    }


def old_listener(n: int, protocol: str, port: int, pool: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "id": old_id("lis", n),
        "protocol": protocol,
        "port": port,
        "default_pool": pool,
        "name": "",
        "provisioning_status": "ACTIVE",
        "operating_status": "ONLINE",
        **fields,
    }


def old_load_balancer(n: int, listeners: list[dict[str, Any]], **fields: Any) -> dict[str, Any]:
    return {
        "id": old_id("lb", n),
        "project_id": "proj-old",
        "network_id": "net-old-a",
        "vip_address": "192.0.2.10",
        "created_at": 1700000000.25 + n,
        "updated_at": 1700000100.5 + n,
        "name": "",
        "description": "",
        "listeners": listeners,
        "provisioning_status": "PENDING_UPDATE",
        "operating_status": "ONLINE",
        "status_reason": "",
        "revision": 2,
        **fields,
    }


# Two listeners; an HTTP monitor with sub-second timing, a DRAIN member, SOURCE_IP
# persistence; members the health checks had found ONLINE.
OLD_WEB = old_load_balancer(
    1,
    [
        old_listener(
            1,
            "HTTP",
            80,
            old_pool(
                1,
                [
                    old_member(1, "10.20.0.1", 8080, name="a", weight=3, operating_status="ONLINE"),
                    old_member(2, "10.20.0.2", 8080, admin_state="DRAIN"),
                ],
                name="web-pool",
                algorithm="LEAST_CONNECTIONS",
                health_monitor={
                    "id": old_id("hm", 1),
                    "type": "HTTP",
                    "delay": 0.5,
                    "timeout": 0.25,
                    "max_retries": 4,
                    "healthy_threshold": 3,
                    "http_method": "HEAD",
                    "url_path": "/healthz",
                    "expected_codes": "200-299",
                    "domain_name": "example.com",
                    "tls_verify": False,
                },
                session_persistence={"type": "SOURCE_IP", "timeout": 60},
                status_reason=LEAST_CONNECTIONS_NOTE,
            ),
            name="web",
        ),
        old_listener(
            2,
            "UDP",
            53,
            old_pool(
                2, [old_member(3, "10.20.0.3", 53, operating_status="NO_MONITOR")], algorithm="SOURCE_IP_PORT"
            ),
        ),
    ],
    name="web",
    description="written by the previous release",
)
# Never realized (PENDING_CREATE), IPv6, another project and network; one member found
# unhealthy, one administratively down; a TCP monitor; persistence NONE.
OLD_V6 = old_load_balancer(
    2,
    [
        old_listener(
            3,
            "TCP",
            443,
            old_pool(
                3,
                [
                    old_member(
                        4,
                        "2001:db8::20",
                        8443,
                        weight=2,
                        provisioning_status="PENDING_CREATE",
                        operating_status="ERROR",
                    ),
                    old_member(
                        5, "2001:db8::21", 8443, admin_state="OFFLINE", provisioning_status="PENDING_CREATE"
                    ),
                ],
                name="tls",
                algorithm="SOURCE_IP",
                health_monitor={
                    "id": old_id("hm", 2),
                    "type": "TCP",
                    "delay": 5.0,
                    "timeout": 3.0,
                    "max_retries": 3,
                    "healthy_threshold": 2,
                    "http_method": "",
                    "url_path": "",
                    "expected_codes": "",
                    "domain_name": "",
                    "tls_verify": False,
                },
                session_persistence={"type": "NONE", "timeout": 0},
                provisioning_status="PENDING_CREATE",
                operating_status="OFFLINE",
            ),
            provisioning_status="PENDING_CREATE",
            operating_status="OFFLINE",
        )
    ],
    project_id="proj-old-2",
    network_id="net-old-b",
    vip_address="2001:db8::10",
    provisioning_status="PENDING_CREATE",
    operating_status="OFFLINE",
    revision=3,
)
# Every listener removed (which removed their pools, then).
OLD_EMPTY = old_load_balancer(3, [], vip_address="192.0.2.11", revision=5)
OLD_DOCS = [OLD_WEB, OLD_V6, OLD_EMPTY]


def old_frontends(doc: dict[str, Any]) -> list[tuple[Any, ...]]:
    l4 = {"UDP": "udp", "SCTP": "sctp"}
    return [
        (
            doc["network_id"],
            doc["vip_address"],
            l4.get(li["protocol"], "tcp"),
            li["port"],
            doc["id"],
            li["id"],
        )
        for li in doc["listeners"]
    ]


def write_previous_release(data_dir: Path, docs: list[dict[str, Any]]) -> None:
    data_dir.mkdir(parents=True)
    db = sqlite3.connect(data_dir / DB_NAME, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("BEGIN")
        for sql in PREVIOUS_SCHEMA:
            db.execute(sql)
        db.execute("INSERT INTO schema_migrations VALUES (1, '2025-06-01 12:00:00')")
        for doc in docs:
            db.execute(
                "INSERT INTO load_balancers (id, project_id, network_id, doc) VALUES (?, ?, ?, ?)",
                (doc["id"], doc["project_id"], doc["network_id"], json.dumps(doc, separators=(",", ":"))),
            )
            db.executemany("INSERT INTO frontends VALUES (?, ?, ?, ?, ?, ?)", old_frontends(doc))
        db.execute("COMMIT")
    finally:
        db.close()


def _timestamp(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def expected_view(doc: dict[str, Any]) -> res.LoadBalancer:
    """What the API must show for an old document, statuses aside: its pools moved to
    spec.pools (same ids, in listener order), each listener naming its own."""

    def member(m: dict[str, Any]) -> res.PoolMember:
        return res.PoolMember(
            id=m["id"],
            address=m["address"],
            port=m["port"],
            name=m["name"],
            weight=m["weight"],
            admin_state_up=m["admin_state"] != "OFFLINE",
            drain=m["admin_state"] == "DRAIN",
        )

    def pool(p: dict[str, Any]) -> res.Pool:
        out = res.Pool(
            id=p["id"], name=p["name"], algorithm=p["algorithm"], members=[member(m) for m in p["members"]]
        )
        if (hm := p["health_monitor"]) is not None:
            out.health_monitor.CopyFrom(
                res.HealthMonitor(
                    id=hm["id"],
                    type=hm["type"],
                    # Whole seconds (rounded up) for the cloud's clients, exact in milliseconds.
                    delay=math.ceil(hm["delay"]),
                    timeout=math.ceil(hm["timeout"]),
                    delay_ms=round(hm["delay"] * 1000),
                    timeout_ms=round(hm["timeout"] * 1000),
                    max_retries=hm["max_retries"],
                    healthy_threshold=hm["healthy_threshold"],
                    http_method=hm["http_method"],
                    url_path=hm["url_path"],
                    expected_codes=hm["expected_codes"],
                    domain_name=hm["domain_name"],
                    tls_verify=hm["tls_verify"],
                )
            )
        if (sp := p["session_persistence"]) is not None:
            out.persistence.CopyFrom(res.SessionPersistence(type=sp["type"], timeout=sp["timeout"]))
        return out

    return res.LoadBalancer(
        id=doc["id"],
        name=doc["name"],
        description=doc["description"],
        project_id=doc["project_id"],
        spec=res.LoadBalancerSpec(
            network_id=doc["network_id"],
            vip_address=doc["vip_address"],
            listeners=[
                res.Listener(
                    id=li["id"],
                    name=li["name"],
                    protocol=li["protocol"],
                    port=li["port"],
                    default_pool_id=li["default_pool"]["id"],
                )
                for li in doc["listeners"]
            ],
            pools=[pool(li["default_pool"]) for li in doc["listeners"]],
        ),
        created_at=_timestamp(doc["created_at"]),
        updated_at=_timestamp(doc["updated_at"]),
    )


def realized_views(srv: Server, count: int) -> list[res.LoadBalancer] | None:
    """Every load balancer, once `count` are stored and OVN holds them all."""
    lbs = list_all(srv.stub)
    if len(lbs) == count and all(lb.status.provisioning_status == "ACTIVE" for lb in lbs):
        return lbs
    return None


def stored(data_dir: Path) -> tuple[list[int], list[dict[str, Any]], list[tuple[Any, ...]]]:
    """The database as it is: migration versions, documents, frontend rows."""
    db = sqlite3.connect(f"file:{data_dir / DB_NAME}?mode=ro", uri=True)
    try:
        versions = [row[0] for row in db.execute("SELECT version FROM schema_migrations ORDER BY version")]
        docs = [json.loads(row[0]) for row in db.execute("SELECT doc FROM load_balancers ORDER BY seq")]
        fronts = sorted(db.execute("SELECT * FROM frontends").fetchall())
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("PRAGMA foreign_key_check").fetchall() == []
        return versions, docs, fronts
    finally:
        db.close()


def migrations_logged(srv: Server) -> list[int]:
    return [
        json.loads(line)["version"]
        for line in srv.log_lines
        if '"store.migrated"' in line and line.startswith("{")
    ]


def test_previous_release_data_dir_is_migrated(make_server: Callable[..., Server], tmp_path: Path):
    """Migration 2 moves each listener's inline pool to the load balancer's pools, once;
    every view shows the old data in the new shape, and changes work on it."""
    data_dir = tmp_path / "previous"
    write_previous_release(data_dir, OLD_DOCS)
    web_id, v6_id, empty_id = (doc["id"] for doc in OLD_DOCS)
    srv = make_server(data_dir=data_dir)
    assert migrations_logged(srv) == [2, 3]

    # Every view: List, Get (on every transport), the filters, Watch, Stats.
    views = wait_for(lambda: realized_views(srv, len(OLD_DOCS)), what="the migrated load balancers realized")
    assert [config_only(lb) for lb in views] == [expected_view(doc) for doc in OLD_DOCS]
    clients = open_all(srv)
    try:
        for api in next(clients).values():
            for lb in views:
                assert api.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id)) == lb, api.name
    finally:
        clients.close()
    assert [lb.id for lb in list_all(srv.stub, project_id="proj-old-2")] == [v6_id]
    assert [lb.id for lb in list_all(srv.stub, network_id="net-old-a")] == [web_id, empty_id]
    watcher = Watcher(srv, "grpc")
    try:
        assert watcher.snapshot() == views
    finally:
        watcher.close()
    web, v6, empty = views
    stats = srv.stub.GetLoadBalancerStats(pb.GetLoadBalancerStatsRequest(id=web_id), timeout=10)
    assert [s.listener_id for s in stats.listener_stats] == [li.id for li in web.spec.listeners]
    assert [(s.pool_id, s.member_id, s.address, s.port) for s in stats.member_stats] == [
        (p.id, m.id, m.address, m.port) for p in web.spec.pools for m in p.members
    ]
    assert not srv.stub.GetLoadBalancerStats(
        pb.GetLoadBalancerStatsRequest(id=empty_id), timeout=10
    ).member_stats

    # The members' states came along: health as last checked, DRAIN, admin down.
    assert operating(web) == (
        "ONLINE",
        [("ONLINE", "ONLINE", ["ONLINE", "DRAINING"]), ("ONLINE", "ONLINE", ["NO_MONITOR"])],
    )
    assert operating(v6) == ("ERROR", [("ERROR", "ERROR", ["ERROR", "OFFLINE"])])
    assert pool_of(web).status_reason == LEAST_CONNECTIONS_NOTE
    assert (empty.spec.listeners, empty.spec.pools) == ([], [])

    # The store: migrations 2 and 3 recorded, every document rewritten as version 2, the
    # VIP:port claims as they were.
    versions, docs, fronts = stored(data_dir)
    assert versions == [1, 2, 3]
    assert [doc["v"] for doc in docs] == [2, 2, 2]
    for doc, old in zip(docs, OLD_DOCS, strict=True):
        assert all("default_pool" not in li for li in doc["listeners"])
        assert [p["id"] for p in doc["pools"]] == [li["default_pool"]["id"] for li in old["listeners"]]
        assert [li["default_pool_id"] for li in doc["listeners"]] == [p["id"] for p in doc["pools"]]
    assert fronts == sorted(f for doc in OLD_DOCS for f in old_frontends(doc))

    # A restart keeps it, and does not migrate again.
    assert srv.stop() == 0
    srv.start()
    assert migrations_logged(srv) == [2, 3]
    assert wait_for(lambda: realized_views(srv, len(OLD_DOCS)), what="realized after restart") == views
    assert stored(data_dir)[:2] == (versions, docs)

    # Changes work on the migrated load balancers.
    stub = srv.stub
    web_pool, dns_pool = web.spec.pools
    added = stub.AddPoolMember(
        pb.AddPoolMemberRequest(
            load_balancer_id=web_id,
            pool_id=web_pool.id,
            member=res.PoolMember(address="10.20.0.9", port=8080),
        ),
        timeout=10,
    )
    assert added.status.provisioning_status == "ACTIVE"
    assert [li.default_pool_id for li in added.spec.listeners] == [web_pool.id, dns_pool.id]
    assert [m.address for m in pool_of(added).members] == ["10.20.0.1", "10.20.0.2", "10.20.0.9"]
    assert pool_of(added).members[:2] == web_pool.members[:2]
    assert config_only(added).spec.pools[1] == config_only(web).spec.pools[1]
    on_v6 = stub.AddPoolMember(
        pb.AddPoolMemberRequest(
            load_balancer_id=v6_id,
            pool_id=pool_of(v6).id,
            member=res.PoolMember(address="2001:db8::22", port=8443),
        ),
        timeout=10,
    )
    assert [m.address for m in pool_of(on_v6).members] == ["2001:db8::20", "2001:db8::21", "2001:db8::22"]
    # The old claims still hold: the web VIP:port is taken on its network, and the network
    # belongs to the project whose load balancers were on it (migration 3).
    with pytest.raises(grpc.RpcError) as info:
        stub.CreateLoadBalancer(
            create_request(
                spec_body(network_id="net-old-a", vip_address="192.0.2.10", project_id="proj-old")
            ),
            timeout=10,
        )
    assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
    with pytest.raises(grpc.RpcError) as info:
        stub.CreateLoadBalancer(
            create_request(spec_body(network_id="net-old-a", vip_address="192.0.2.99", project_id="other")),
            timeout=10,
        )
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    # As in this release: removing a listener keeps its (migrated) pool, which can then go.
    without_dns = stub.RemoveListener(
        pb.RemoveListenerRequest(load_balancer_id=web_id, listener_id=web.spec.listeners[1].id), timeout=10
    )
    assert [p.id for p in without_dns.spec.pools] == [web_pool.id, dns_pool.id]
    without_pool = stub.RemovePool(
        pb.RemovePoolRequest(load_balancer_id=web_id, pool_id=dns_pool.id), timeout=10
    )
    assert [p.id for p in without_pool.spec.pools] == [web_pool.id]
    _, docs, fronts = stored(data_dir)
    assert [doc["v"] for doc in docs] == [2, 2, 2]
    assert (docs[0]["id"], [p["id"] for p in docs[0]["pools"]]) == (web_id, [web_pool.id])
    assert len(docs[0]["pools"][0]["members"]) == 3
    assert [f[5] for f in fronts if f[4] == web_id] == [web.spec.listeners[0].id]
