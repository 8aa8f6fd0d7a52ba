"""What `serve` writes to its embedded OVN Northbound, read back with ovn-nbctl.

Without --ovn-nb, `serve` runs its own ovsdb-server with the OVN NB schema; its unix
socket is DATA_DIR/ovn/nb.sock. Every load balancer becomes one Load_Balancer row per
listener, owned through external_ids and attached to the Logical_Switch of its network
(created on first use in embedded mode). A mutating RPC answers once the NB transaction has
committed, so the rows are checked right after the answer; repairs of changes made behind
the service's back are polled for with a deadline.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from google.protobuf import json_format
from msgspec import structs

from builders import m_lb, m_listener, m_member, m_pool, pool_of, spec_body
from conftest import SEED_BODY, Server
from limiquantix.network.v1 import network_pb2 as res
from limiquantix.network.v1 import network_service_pb2 as pb
from quantix_lb import model
from quantix_lb.store import Store
from quantix_lb.testing.server import NBCTL

OVSDB_TOOL = shutil.which("ovsdb-tool") or "/usr/bin/ovsdb-tool"
pytestmark = pytest.mark.skipif(
    not Path(NBCTL).exists(), reason="ovn-nbctl not installed (apt package ovn-central)"
)

OWNER = {"quantix:owner": "quantix-lb"}
VIP = "192.168.1.100:80"
M1, M2 = "10.0.0.10:8080", "10.0.0.11:8080"
REPAIR_WITHIN = 5.0  # seconds (issue 3: drift is repaired within 5 s)
T = TypeVar("T")


# --- reading the Northbound -------------------------------------------------------------


def _decode(value: Any) -> Any:
    """OVSDB JSON notation to Python: maps to dicts, sets to frozensets, uuids to strings."""
    if isinstance(value, list) and len(value) == 2 and isinstance(value[0], str):
        tag, body = value
        if tag == "map":
            return {_decode(k): _decode(v) for k, v in body}
        if tag == "set":
            return frozenset(_decode(v) for v in body)
        if tag in ("uuid", "named-uuid"):
            return body
    return value


def as_set(value: Any) -> frozenset:
    """A set column: OVSDB writes a one-element set as the bare element."""
    return value if isinstance(value, frozenset) else frozenset({value})


class Nb:
    """ovn-nbctl against one server's embedded Northbound."""

    def __init__(self, srv: Server) -> None:
        self.srv = srv
        self.db = srv.data_dir / "ovn" / "nb.db"

    def ctl(self, *args: str) -> str:
        return self.srv.nbctl(*args)

    def rows(self, table: str) -> list[dict[str, Any]]:
        out = json.loads(self.ctl("--format=json", "list", table))
        return [{h: _decode(v) for h, v in zip(out["headings"], row, strict=True)} for row in out["data"]]

    def lbs(self) -> list[dict[str, Any]]:
        return self.rows("Load_Balancer")

    def owned(self) -> list[dict[str, Any]]:
        return [r for r in self.lbs() if r["external_ids"].get("quantix:owner") == "quantix-lb"]

    def lb(self, uuid: str) -> dict[str, Any] | None:
        return next((r for r in self.lbs() if r["_uuid"] == uuid), None)

    def switches(self) -> list[dict[str, Any]]:
        return self.rows("Logical_Switch")

    def switch(self, name: str) -> dict[str, Any]:
        (ls,) = [s for s in self.switches() if s["name"] == name]
        return ls

    def attached(self, name: str) -> frozenset:
        return as_set(self.switch(name)["load_balancer"])


def content(row: dict[str, Any]) -> dict[str, Any]:
    """A Load_Balancer row's columns that the service manages."""
    return {
        "name": row["name"],
        "protocol": row["protocol"],
        "vips": row["vips"],
        "options": row["options"],
        "selection_fields": as_set(row["selection_fields"]),
        "external_ids": row["external_ids"],
    }


def wait_for(check: Callable[[], T], timeout: float, what: str) -> tuple[T, float]:
    """Polls `check` until it returns something truthy; returns it and the seconds taken."""
    start = time.monotonic()
    while True:
        value = check()
        elapsed = time.monotonic() - start
        if value:
            return value, elapsed
        assert elapsed < timeout, f"{what}: not within {timeout} s"
        time.sleep(0.02)


# --- the API side -------------------------------------------------------------------------


def create(srv: Server, body: dict[str, Any]) -> res.LoadBalancer:
    lb = srv.stub.CreateLoadBalancer(json_format.ParseDict(body, pb.CreateLoadBalancerRequest()), timeout=10)
    assert lb.status.provisioning_status == "ACTIVE", lb.status
    return lb


def create_seed(srv: Server, **fields: Any) -> res.LoadBalancer:
    """The design document's body (the flat shorthand, default_pool inline)."""
    return create(srv, copy.deepcopy(SEED_BODY) | fields)


def get(srv: Server, lb_id: str) -> res.LoadBalancer:
    return srv.stub.GetLoadBalancer(pb.GetLoadBalancerRequest(id=lb_id), timeout=10)


def update_member(srv: Server, lb: res.LoadBalancer, index: int, **fields: Any) -> res.LoadBalancer:
    """UpdatePoolMember on member `index` of the first pool."""
    target = lb.spec.pools[0]
    req = json_format.ParseDict(fields, pb.UpdatePoolMemberRequest())
    req.load_balancer_id, req.pool_id, req.member_id = lb.id, target.id, target.members[index].id
    after = srv.stub.UpdatePoolMember(req, timeout=10)
    assert after.status.provisioning_status == "ACTIVE", after.status
    return after


def expected_row(lb: res.LoadBalancer, listener: int = 0, **columns: Any) -> dict[str, Any]:
    li = lb.spec.listeners[listener]
    row = {
        "name": f"qlb-{li.id}",
        "protocol": "tcp",
        "vips": {VIP: f"{M1},{M2}"},
        "options": {},
        "selection_fields": frozenset(),
        "external_ids": OWNER
        | {
            "quantix:lb-id": lb.id,
            "quantix:listener-id": li.id,
            "quantix:project-id": lb.project_id,
            "quantix:network-id": lb.spec.network_id,
        },
    }
    return row | columns


# --- tests ----------------------------------------------------------------------------------


def test_the_realizer_starts_while_the_embedded_nb_loads_and_waits_for_its_socket(server: Server) -> None:
    """Started beside the NB (not after it listens), the realizer's first connect waits
    for the socket instead of failing and backing off with a warning."""
    server.wait_event("ovn.nb_connection", 10)
    assert server.seen["ovn.realizer_started"] < server.seen["ovn.embedded_nb_started"]
    unreachable = [line for line in server.log_lines if "ovn.nb_unreachable" in line]
    assert not unreachable, unreachable


def test_seed_load_balancer_becomes_an_owned_row_on_its_network(server: Server) -> None:
    nb = Nb(server)
    assert (nb.lbs(), nb.switches()) == ([], [])  # a fresh embedded Northbound

    with httpx.Client(base_url=server.http_url, timeout=15) as http:
        created = http.post("/api/v1/load-balancers", json=SEED_BODY)
    assert created.status_code == 201, created.text
    lb = json_format.ParseDict(created.json(), res.LoadBalancer())
    assert lb.status.provisioning_status == "ACTIVE"
    # The inline default_pool became the load balancer's one pool, which the listener names.
    assert [p.id for p in lb.spec.pools] == [lb.spec.listeners[0].default_pool_id]

    # The unknown network became a Logical_Switch marked as ours ...
    (ls,) = nb.switches()
    assert ls["name"] == "net-456"
    assert ls["external_ids"] == OWNER | {"quantix:network-id": "net-456", "quantix:project-id": "proj-123"}
    # ... carrying the one Load_Balancer row of the one listener.
    (row,) = nb.lbs()
    assert content(row) == expected_row(lb)
    assert row["name"] == f"qlb-{lb.spec.listeners[0].id}"
    assert row["vips"] == {"192.168.1.100:80": "10.0.0.10:8080,10.0.0.11:8080"}
    assert as_set(ls["load_balancer"]) == {row["_uuid"]}


def test_members_weights_and_admin_states_shape_the_vips(server: Server) -> None:
    nb = Nb(server)
    lb = create_seed(server)
    (row,) = nb.owned()
    uuid = row["_uuid"]

    def vips_and_options() -> tuple[str, dict[str, str]]:
        (only,) = nb.owned()
        assert only["_uuid"] == uuid  # changed in place, never replaced
        assert content(only) | {"vips": {}, "options": {}} == expected_row(lb) | {"vips": {}, "options": {}}
        assert nb.attached("net-456") == {uuid}
        (key,) = only["vips"]
        assert key == VIP
        return only["vips"][VIP], only["options"]

    # Weights 1:3: the second backend is listed three times (one bucket per entry).
    update_member(server, lb, 1, weight=3)
    assert vips_and_options() == (f"{M1},{M2},{M2},{M2}", {})
    update_member(server, lb, 0, weight=2)  # 2:3 has no common divisor
    assert vips_and_options() == (f"{M1},{M1},{M2},{M2},{M2}", {})
    update_member(server, lb, 1, weight=6)  # 2:6 lists as 1:3
    assert vips_and_options() == (f"{M1},{M2},{M2},{M2}", {})

    # Members that may not take new connections are not listed.
    update_member(server, lb, 0, drain=True)
    assert vips_and_options() == (M2, {})
    update_member(server, lb, 0, drain=False, weight=0)
    assert vips_and_options() == (M2, {})
    update_member(server, lb, 0, weight=1)
    assert vips_and_options() == (f"{M1},{M2},{M2},{M2},{M2},{M2},{M2}", {})

    pool = pool_of(lb)
    after = server.stub.RemovePoolMember(
        pb.RemovePoolMemberRequest(load_balancer_id=lb.id, pool_id=pool.id, member_id=pool.members[0].id),
        timeout=10,
    )
    assert after.status.provisioning_status == "ACTIVE"
    assert vips_and_options() == (M2, {})

    # No eligible member left: the VIP rejects instead of silently dropping.
    lb = after
    update_member(server, lb, 0, admin_state_up=False)
    assert vips_and_options() == ("", {"reject": "true"})
    update_member(server, lb, 0, admin_state_up=True)
    assert vips_and_options() == (M2, {})
    server.stub.RemovePoolMember(
        pb.RemovePoolMemberRequest(load_balancer_id=lb.id, pool_id=pool.id, member_id=pool.members[1].id),
        timeout=10,
    )
    assert vips_and_options() == ("", {"reject": "true"})
    server.stub.AddPoolMember(
        pb.AddPoolMemberRequest(
            load_balancer_id=lb.id, pool_id=pool.id, member=res.PoolMember(address="10.0.0.10", port=8080)
        ),
        timeout=10,
    )
    assert vips_and_options() == (M1, {})


def test_a_pool_shared_by_two_listeners_fills_both_rows(server: Server) -> None:
    """One pool behind TCP 80 and TCP 8080 (the spec form, default_pool_id naming the
    pool): one row per listener, both listing the pool; a change of the pool changes
    both rows in place; pointing one listener at another pool changes only its row."""
    nb = Nb(server)
    m3 = "10.0.0.12:8080"
    lb = create(
        server,
        {
            "name": "shared",
            "project_id": "proj-123",
            "spec": {
                "network_id": "net-456",
                "vip_address": "192.168.1.100",
                "listeners": [
                    {"name": "http", "protocol": "TCP", "port": 80, "default_pool_id": "web"},
                    {"name": "alt", "protocol": "TCP", "port": 8080, "default_pool_id": "web"},
                ],
                "pools": [
                    {"name": "web", "members": [
                        {"address": "10.0.0.10", "port": 8080}, {"address": "10.0.0.11", "port": 8080}]},
                    {"name": "spare", "members": [{"address": "10.0.0.12", "port": 8080}]},
                ],
            },
        },
    )  # fmt: skip
    web, spare = lb.spec.pools
    assert [li.default_pool_id for li in lb.spec.listeners] == [web.id, web.id]
    alt_vip = "192.168.1.100:8080"

    def rows() -> dict[str, dict[str, Any]]:
        """Listener index -> its owned row."""
        by_listener = {r["external_ids"]["quantix:listener-id"]: r for r in nb.owned()}
        assert len(by_listener) == len(nb.owned())
        return {i: by_listener[li.id] for i, li in enumerate(lb.spec.listeners) if li.id in by_listener}

    first = rows()
    assert content(first[0]) == expected_row(lb, 0)
    assert content(first[1]) == expected_row(lb, 1, vips={alt_vip: f"{M1},{M2}"})
    assert nb.attached("net-456") == {first[0]["_uuid"], first[1]["_uuid"]}

    # A member of the shared pool changes: both rows follow, in place.
    lb = update_member(server, lb, 1, weight=3)
    now = rows()
    assert {i: r["_uuid"] for i, r in now.items()} == {i: r["_uuid"] for i, r in first.items()}
    assert now[0]["vips"] == {VIP: f"{M1},{M2},{M2},{M2}"}
    assert now[1]["vips"] == {alt_vip: f"{M1},{M2},{M2},{M2}"}

    # The 8080 listener moves to the other pool: only its row changes.
    lb = server.stub.UpdateListener(
        pb.UpdateListenerRequest(
            load_balancer_id=lb.id, listener_id=lb.spec.listeners[1].id, default_pool_id=spare.id
        ),
        timeout=10,
    )
    assert lb.status.provisioning_status == "ACTIVE"
    assert [li.default_pool_id for li in lb.spec.listeners] == [web.id, spare.id]
    moved = rows()
    assert content(moved[0]) == content(now[0])
    assert content(moved[1]) == expected_row(lb, 1, vips={alt_vip: m3})
    assert moved[1]["_uuid"] == now[1]["_uuid"]

    # Removing the 80 listener removes its row only; its pool stays on the load balancer.
    lb = server.stub.RemoveListener(
        pb.RemoveListenerRequest(load_balancer_id=lb.id, listener_id=lb.spec.listeners[0].id), timeout=10
    )
    assert [p.id for p in lb.spec.pools] == [web.id, spare.id]
    (left,) = nb.owned()
    assert left["_uuid"] == moved[1]["_uuid"]
    assert content(left) == expected_row(lb, 0, vips={alt_vip: m3})
    assert nb.attached("net-456") == {left["_uuid"]}


def test_delete_leaves_no_owned_row(server: Server) -> None:
    nb = Nb(server)
    seed = create_seed(server)
    other = create_seed(
        server,
        network_id="net-789",
        listeners=[
            SEED_BODY["listeners"][0],
            {
                "protocol": "UDP",
                "port": 53,
                "default_pool": {"members": [{"address": "10.0.0.20", "port": 53}]},
            },
        ],
    )
    assert sorted(r["external_ids"]["quantix:lb-id"] for r in nb.owned()) == sorted(
        [seed.id, other.id, other.id]
    )
    udp = next(r for r in nb.owned() if r["protocol"] == "udp")
    assert content(udp) == expected_row(other, 1, protocol="udp", vips={"192.168.1.100:53": "10.0.0.20:53"})
    assert len(nb.attached("net-789")) == 2

    server.stub.DeleteLoadBalancer(pb.DeleteLoadBalancerRequest(id=seed.id), timeout=10)
    assert {r["external_ids"]["quantix:lb-id"] for r in nb.owned()} == {other.id}
    assert nb.attached("net-456") == frozenset()

    server.stub.DeleteLoadBalancer(pb.DeleteLoadBalancerRequest(id=other.id), timeout=10)
    assert (
        nb.ctl(
            "--bare", "--columns=_uuid", "find", "Load_Balancer", 'external_ids:"quantix:owner"=quantix-lb'
        )
        == ""
    )
    assert nb.lbs() == []
    assert all(as_set(ls["load_balancer"]) == frozenset() for ls in nb.switches())


def test_drift_behind_the_services_back_is_repaired(server: Server) -> None:
    nb = Nb(server)
    lb = create_seed(server)
    (row,) = nb.owned()
    want = expected_row(lb)

    def repaired(uuid: str | None = None) -> dict[str, Any] | None:
        """The one owned row once it is as wanted and attached (and `uuid` if given)."""
        rows = nb.owned()
        if len(rows) != 1 or content(rows[0]) != want or (uuid and rows[0]["_uuid"] != uuid):
            return None
        return rows[0] if nb.attached("net-456") == {rows[0]["_uuid"]} else None

    # Deleted with ovn-nbctl: created again (a new row) and attached.
    nb.ctl("lb-del", row["_uuid"])
    row, _ = wait_for(repaired, REPAIR_WITHIN, "deleted row restored")
    uuid = row["_uuid"]

    # Columns edited in place: set back on the same row.
    for edit in (
        ["set", "Load_Balancer", uuid, 'vips={"192.168.1.100:80"="10.9.9.9:80"}'],
        ["set", "Load_Balancer", uuid, "options:reject=true"],
        ["set", "Load_Balancer", uuid, "protocol=udp"],
        ["set", "Load_Balancer", uuid, "selection_fields=ip_src"],
        ["remove", "Load_Balancer", uuid, "external_ids", '"quantix:project-id"'],
        ["add", "Load_Balancer", uuid, "vips", '"192.168.1.100:81"="10.9.9.9:81"'],
    ):
        nb.ctl(*edit)
        wait_for(lambda: repaired(uuid), REPAIR_WITHIN, f"{edit} reverted")

    # Detached from its switch: attached again.
    nb.ctl("ls-lb-del", "net-456", uuid)
    wait_for(lambda: repaired(uuid), REPAIR_WITHIN, "row re-attached to net-456")

    # None of this was a change of the load balancer: still ACTIVE, as answered.
    assert server.stub.GetLoadBalancer(pb.GetLoadBalancerRequest(id=lb.id), timeout=10) == lb


def test_in_place_edit_of_a_row_already_verified_is_repaired(make_server: Any) -> None:
    """A full pass remembers rows found as wanted; an edit made later (python-ovs
    applies map diffs in place) must still be noticed and reverted."""
    server = make_server("--reconcile-interval", "0.3")
    nb = Nb(server)
    lb = create_seed(server)
    (row,) = nb.owned()

    def passes() -> int:
        return sum('"ovn.full_pass"' in line for line in list(server.log_lines))

    seen = passes()
    wait_for(lambda: passes() >= seen + 2 or None, 10, "two full passes over the row")
    for edit in (
        ["add", "Load_Balancer", row["_uuid"], "vips", '"192.168.1.100:81"="10.9.9.9:81"'],
        ["set", "Load_Balancer", row["_uuid"], "options:reject=true"],
    ):
        nb.ctl(*edit)
        wait_for(
            lambda: [content(r) for r in nb.owned()] == [expected_row(lb)] or None,
            REPAIR_WITHIN,
            f"{edit} reverted",
        )


def test_foreign_rows_are_never_touched(server: Server) -> None:
    nb = Nb(server)
    lb = create_seed(server)
    (ours,) = nb.owned()
    # In one transaction, by hand: a foreign row on our switch (even named like ours), and an
    # orphan that carries our marker for a load balancer that does not exist.
    nb.ctl(
        "--id=@f", "create", "Load_Balancer", f"name=qlb-{lb.spec.listeners[0].id}", "protocol=tcp",
        'vips={"192.168.1.100:81"="10.9.9.9:81"}', "external_ids:team=ops",
        "--", "add", "Logical_Switch", "net-456", "load_balancer", "@f",
        "--", "--id=@o", "create", "Load_Balancer", "name=qlb-orphan", "protocol=tcp",
        'vips={"192.168.1.100:82"="10.9.9.9:82"}',
        'external_ids:"quantix:owner"=quantix-lb', 'external_ids:"quantix:lb-id"=lb-gone',
        'external_ids:"quantix:listener-id"=lis-gone',
        "--", "add", "Logical_Switch", "net-456", "load_balancer", "@o",
    )  # fmt: skip
    (foreign,) = [r for r in nb.lbs() if r["external_ids"] == {"team": "ops"}]
    assert content(foreign) == {
        "name": f"qlb-{lb.spec.listeners[0].id}",
        "protocol": "tcp",
        "vips": {"192.168.1.100:81": "10.9.9.9:81"},
        "options": {},
        "selection_fields": frozenset(),
        "external_ids": {"team": "ops"},
    }

    def orphan_gone() -> bool:
        return [r["_uuid"] for r in nb.owned()] == [ours["_uuid"]]

    wait_for(orphan_gone, REPAIR_WITHIN, "orphan row of ours deleted")
    assert nb.lb(foreign["_uuid"]) == foreign
    assert nb.attached("net-456") == {ours["_uuid"], foreign["_uuid"]}

    # Changing and deleting our load balancer leaves the foreign row as it is.
    update_member(server, lb, 1, weight=3)
    assert nb.lb(foreign["_uuid"]) == foreign
    server.stub.DeleteLoadBalancer(pb.DeleteLoadBalancerRequest(id=lb.id), timeout=10)
    assert nb.owned() == []
    assert nb.lbs() == [foreign]
    assert nb.attached("net-456") == {foreign["_uuid"]}


def transact_offline(db: Path, *ops: dict[str, Any]) -> None:
    """Changes the embedded NB's database file while no server has it open."""
    done = subprocess.run(
        [OVSDB_TOOL, "transact", str(db), json.dumps(["OVN_Northbound", *ops])],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and '"error"' not in done.stdout, done.stdout + done.stderr


def test_restart_keeps_rows_and_reconciles_what_changed_meanwhile(server: Server) -> None:
    nb = Nb(server)
    lb = create_seed(server)
    (row,) = nb.owned()
    uuid = row["_uuid"]

    # A plain restart: same rows, no duplicates, the load balancer ACTIVE (again: the
    # start-up pass finds it realized). Stopping compacted the NB's file (the create's
    # transactions came after the start's compaction) and split its snapshot: the start
    # replays the schema, the row of ours (it references nothing), then the switch.
    server.stop()
    log = subprocess.run(["ovsdb-tool", "show-log", str(nb.db)], capture_output=True, text=True, check=True)
    assert [line.split(":")[0] for line in log.stdout.splitlines() if line.startswith("record")] == [
        "record 0",  # the schema
        "record 1",  # the load balancer's row
        "record 2",  # the switch that references it
    ]
    server.start()
    assert wait_for(lambda: get(server, lb.id) == lb, REPAIR_WITHIN, "ACTIVE after restart")
    lb = update_member(server, lb, 1, weight=3)  # realized after the start-up pass
    (row,) = nb.owned()
    assert row["_uuid"] == uuid
    assert content(row) == expected_row(lb, vips={VIP: f"{M1},{M2},{M2},{M2}"})
    assert [s["name"] for s in nb.switches()] == ["net-456"]
    assert nb.attached("net-456") == {uuid}

    # While it is down, its row is edited, a foreign row and an orphan of ours appear: the
    # start-up pass repairs and deletes what is ours and leaves the foreign row alone.
    server.stop()
    tampered = {"vips": ["map", [[VIP, "10.9.9.9:80"]]]}
    foreign_row = {
        "name": "foreign",
        "protocol": "udp",
        "vips": ["map", [["192.168.1.100:53", "10.9.9.9:53"]]],
    }
    orphan_ids = ["map", [["quantix:owner", "quantix-lb"], ["quantix:lb-id", "lb-gone"]]]
    orphan_row = {"name": "qlb-orphan", "external_ids": orphan_ids}
    both = ["set", [["named-uuid", "f"], ["named-uuid", "o"]]]
    transact_offline(
        nb.db,
        {
            "op": "update",
            "table": "Load_Balancer",
            "where": [["_uuid", "==", ["uuid", uuid]]],
            "row": tampered,
        },
        {"op": "insert", "table": "Load_Balancer", "uuid-name": "f", "row": foreign_row},
        {"op": "insert", "table": "Load_Balancer", "uuid-name": "o", "row": orphan_row},
        {
            "op": "mutate",
            "table": "Logical_Switch",
            "where": [["name", "==", "net-456"]],
            "mutations": [["load_balancer", "insert", both]],
        },
    )
    server.start()
    want = expected_row(lb, vips={VIP: f"{M1},{M2},{M2},{M2}"})

    def reconciled() -> bool:
        rows = nb.owned()
        return len(rows) == 1 and rows[0]["_uuid"] == uuid and content(rows[0]) == want

    wait_for(reconciled, REPAIR_WITHIN, "start-up reconcile")
    (foreign,) = [r for r in nb.lbs() if r["name"] == "foreign"]
    assert (foreign["protocol"], foreign["vips"], foreign["external_ids"]) == (
        "udp",
        {"192.168.1.100:53": "10.9.9.9:53"},
        {},
    )
    assert nb.attached("net-456") == {uuid, foreign["_uuid"]}
    assert len(nb.lbs()) == 2
    assert [s["name"] for s in nb.switches()] == ["net-456"]
    assert wait_for(lambda: get(server, lb.id) == lb, REPAIR_WITHIN, "ACTIVE after restart")
    assert lb.status.provisioning_status == "ACTIVE"


def test_a_killed_realizer_process_is_restarted_and_converges(server: Server) -> None:
    """The realizer runs in a child process; kill -9 it: a new one takes over,
    repairs what changed meanwhile, and writes go on."""
    nb = Nb(server)
    first = create_seed(server)
    kept = create_seed(server, vip_address="192.168.1.102")
    kept_row = next(r["_uuid"] for r in nb.owned() if r["external_ids"]["quantix:lb-id"] == kept.id)

    def realizer_pids() -> list[int]:
        return [
            json.loads(line)["pid"] for line in list(server.log_lines) if '"ovn.realizer_started"' in line
        ]

    (pid,) = realizer_pids()
    os.kill(pid, signal.SIGKILL)
    row = next(r for r in nb.owned() if r["external_ids"]["quantix:lb-id"] == first.id)
    nb.ctl("lb-del", row["_uuid"])  # while no realizer runs
    wait_for(lambda: len(realizer_pids()) == 2 or None, 10, "a new realizer process")
    second = create_seed(server, vip_address="192.168.1.101")
    assert second.status.provisioning_status == "ACTIVE"
    every = sorted([first.id, kept.id, second.id])
    wait_for(
        lambda: sorted(r["external_ids"]["quantix:lb-id"] for r in nb.owned()) == every or None,
        REPAIR_WITHIN,
        "every load balancer realized",
    )
    # The new process knew the whole desired state before it touched the NB: the
    # untouched load balancer kept its very row (not deleted and made again).
    assert kept_row in {r["_uuid"] for r in nb.owned()}


def test_the_subnet_the_northbound_names_is_honoured(server: Server) -> None:
    """A switch that names its subnet (external_ids:quantix:subnet-id beside
    other_config:subnet): spec.subnet_id must agree, a given VIP must lie in it, an
    allocated one comes from it, and the load balancer shows the subnet's id."""
    nb = Nb(server)
    nb.ctl("ls-add", "net-sub", "--", "set", "logical_switch", "net-sub",
           "other_config:subnet=10.20.0.0/24", 'external_ids:"quantix:subnet-id"=sub-1')  # fmt: skip
    body = {"project_id": "p", "spec": {"network_id": "net-sub", "listeners": [{"port": 80}], "pools": [{}]}}

    def create(**spec: Any) -> httpx.Response:
        request = copy.deepcopy(body)
        request["spec"].update(spec)
        with httpx.Client(base_url=server.http_url, timeout=15) as http:
            return http.post("/api/v1/load-balancers", json=request)

    # Once the service has read the switch, the VIP comes from its subnet.
    allocated, _ = wait_for(
        lambda: (r := create()).status_code == 201 and r.json()["spec"]["subnet_id"] == "sub-1" and r.json(),
        10,
        "a load balancer on the named subnet",
    )
    assert allocated["spec"]["vip_address"] == "10.20.0.1"
    assert allocated["status"]["provisioning_status"] == "ACTIVE"

    def violation(response: httpx.Response) -> tuple[int, list[str]]:
        details = response.json()["details"][0]["field_violations"]
        return response.status_code, [v["field"] for v in details]

    assert violation(create(subnet_id="sub-2")) == (400, ["spec.subnet_id"])
    assert violation(create(subnet_id="sub-1", vip_address="10.99.0.5")) == (400, ["spec.vip_address"])
    inside = create(subnet_id="sub-1", vip_address="10.20.0.77")
    assert inside.status_code == 201, inside.text
    assert inside.json()["spec"]["subnet_id"] == "sub-1"


def _poison(data_dir: Path, *lbs: model.LoadBalancer) -> None:
    """Writes load balancers straight into the store, past the API's validation: values
    an older release let through, which the NB refuses."""

    async def write() -> None:
        store = Store(data_dir / "quantix-lb.db")
        store.open()
        try:
            await store.write(lambda tx: [tx.insert(lb) for lb in lbs])
        finally:
            store.close()

    asyncio.run(write())


def test_a_change_the_nb_refuses_does_not_hold_back_the_others(server: Server) -> None:
    """Issue 9: one NUL byte in a network or project id stopped realization for everyone.
    Now the NB's refusal fails only the load balancer responsible (ERROR, with the NB's
    reason), across restarts, and every other change is realized."""
    before = create_seed(server)
    server.stop()
    now = time.time()
    base = m_lb(m_listener(), pools=(m_pool(1, m_member(10)),), created_at=now, updated_at=now)
    bad_network = structs.replace(base, id="lb-poison-net", network_id="net\x00x")
    bad_project = structs.replace(
        base, id="lb-poison-project", project_id="p\x00q", vip_address="192.168.1.7"
    )
    _poison(server.data_dir, bad_network, bad_project)
    server.start()

    # A new load balancer, in a new network and in the seed's, is realized as always.
    with httpx.Client(base_url=server.http_url, timeout=15) as http:
        for network in ("net-after", "net-456"):
            body = spec_body(network_id=network, vip_address="192.168.1.50")
            created = http.post("/api/v1/load-balancers", json=body)
            assert created.status_code == 201, created.text
            assert created.json()["status"]["provisioning_status"] == "ACTIVE", created.json()["status"]
    assert wait_for(lambda: get(server, before.id).status.provisioning_status == "ACTIVE", 10, "seed ACTIVE")

    def refused(lb_id: str) -> res.LoadBalancerStatus | None:
        status = get(server, lb_id).status
        return status if status.provisioning_status == "ERROR" else None

    for lb_id in (bad_network.id, bad_project.id):
        status, _ = wait_for(lambda lb_id=lb_id: refused(lb_id), 10, f"{lb_id} ERROR")
        assert status.phase == res.LoadBalancerStatus.ERROR
        assert "null" in status.error_message.lower(), status.error_message

    # Deleting one finishes as for any other load balancer.
    for lb_id in (bad_network.id, bad_project.id):
        server.stub.DeleteLoadBalancer(pb.DeleteLoadBalancerRequest(id=lb_id), timeout=10)
    remaining = {lb.id for lb in server.stub.ListLoadBalancers(pb.ListLoadBalancersRequest()).load_balancers}
    assert not remaining & {bad_network.id, bad_project.id}
