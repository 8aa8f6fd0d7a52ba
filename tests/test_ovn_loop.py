"""The IDL loop against a real ovsdb-server that starts after it."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from structlog.testing import capture_logs

from builders import m_lb, m_listener, m_member, m_pool
from quantix_lb import model
from quantix_lb.ovn.contract import Realized
from quantix_lb.ovn.embedded import _schema
from quantix_lb.ovn.nb import NbRealizer

OVSDB_TOOL = shutil.which("ovsdb-tool") or "/usr/bin/ovsdb-tool"
OVSDB_SERVER = shutil.which("ovsdb-server") or "/usr/sbin/ovsdb-server"
OVSDB_CLIENT = shutil.which("ovsdb-client") or "/usr/bin/ovsdb-client"


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.01)


def nb_transact(sock: Path, *operations: dict[str, object]) -> list[dict[str, object]]:
    """One OVN_Northbound transaction by hand (ovsdb-client), as someone else would."""
    out = subprocess.run(
        [OVSDB_CLIENT, "transact", f"unix:{sock}", json.dumps(["OVN_Northbound", *operations])],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


def lb_protocol(sock: Path, where: list[object]) -> object:
    """The protocol column of the one Load_Balancer row `where` selects."""
    (result,) = nb_transact(
        sock, {"op": "select", "table": "Load_Balancer", "where": where, "columns": ["protocol"]}
    )
    return result["rows"][0]["protocol"]  # type: ignore[index]


def test_the_first_connect_waits_for_a_unix_socket_that_appears_later(tmp_path: Path) -> None:
    db, sock = tmp_path / "nb.db", tmp_path / "nb.sock"
    subprocess.run([OVSDB_TOOL, "create", str(db), _schema()], check=True)
    realizer = NbRealizer(f"unix:{sock}", create_networks=True)
    server = None
    with capture_logs() as logs:
        realizer.connect()
        try:
            wait_for(lambda: "ovn.nb_socket_awaited" in [e["event"] for e in logs], 5, "socket wait")
            time.sleep(0.3)  # the NB starts well after the realizer asked for it
            server = subprocess.Popen(
                [OVSDB_SERVER, str(db), f"--remote=punix:{sock}", f"--unixctl={tmp_path / 'ctl'}"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            assert realizer.wait_synced(10)
        finally:
            realizer.stop()
            if server is not None:
                server.terminate()
                server.wait(10)
    assert [e for e in logs if e["event"] == "ovn.nb_unreachable"] == []


def test_rows_of_the_first_read_are_not_changes_but_later_edits_are(tmp_path: Path) -> None:
    """The rows a (re)connect's first read brings are indexed once the replica is complete
    and compared by the full pass, beside the changes: not marked changed one by one
    (at 10,000 load balancers a create after a restart queued behind them all)."""
    db, sock = tmp_path / "nb.db", tmp_path / "nb.sock"
    subprocess.run([OVSDB_TOOL, "create", str(db), _schema()], check=True)

    def owned(lb_id: str) -> dict[str, object]:
        ids = [["quantix:owner", "quantix-lb"], ["quantix:lb-id", lb_id], ["quantix:listener-id", "li"]]
        row = {"name": f"qlb-{lb_id}", "protocol": "tcp", "external_ids": ["map", ids]}
        return {"op": "insert", "table": "Load_Balancer", "row": row}

    ops = json.dumps(["OVN_Northbound", owned("lb-1"), owned("lb-2")])
    subprocess.run([OVSDB_TOOL, "transact", str(db), ops], check=True, capture_output=True)
    server = subprocess.Popen(
        [OVSDB_SERVER, str(db), f"--remote=punix:{sock}", f"--unixctl={tmp_path / 'ctl'}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    realizer = NbRealizer(f"unix:{sock}", create_networks=True)
    reconciler = realizer._reconciler
    try:
        realizer.connect()
        assert realizer.wait_synced(10)
        wait_for(lambda: set(reconciler._index.by_lb) == {"lb-1", "lb-2"}, 5, "the rows indexed")
        assert reconciler._dirty == set()
        # An edit by someone else once the replica is complete is a change (drift).
        nb_transact(
            sock,
            {
                "op": "update",
                "table": "Load_Balancer",
                "where": [["name", "==", "qlb-lb-2"]],
                "row": {"protocol": "udp"},
            },
        )
        wait_for(lambda: reconciler._dirty == {"lb-2"}, 5, "the edit marked as drift")
    finally:
        realizer.stop()
        server.terminate()
        server.wait(10)


def test_rows_just_committed_are_verified_without_a_full_pass(tmp_path: Path) -> None:
    """A create's rows are compared with the replica right after its transaction: the
    next full pass finds them settled by their mark instead of planning the load balancer
    again (at 10,000 that re-planning held creates back ~30 ms a step after each pass).
    A later edit by someone else still unverifies the row."""
    db, sock = tmp_path / "nb.db", tmp_path / "nb.sock"
    subprocess.run([OVSDB_TOOL, "create", str(db), _schema()], check=True)
    server = subprocess.Popen(
        [OVSDB_SERVER, str(db), f"--remote=punix:{sock}", f"--unixctl={tmp_path / 'ctl'}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # No full pass after the first (empty) one while the test looks.
    realizer = NbRealizer(f"unix:{sock}", create_networks=True, full_interval=600)
    reconciler = realizer._reconciler
    realized: list[Realized] = []
    realizer.on_realized = realized.extend
    pool = m_pool(1, m_member(id="mem-1", address="10.0.0.10", port=8080))
    lb = m_lb(m_listener(1, model.Protocol.TCP, 80), m_listener(2, model.Protocol.TCP, 443), pools=(pool,))
    try:
        realizer.connect()
        assert realizer.wait_synced(10)
        realizer.start()
        realizer.offer([lb])
        wait_for(lambda: any(o.lb_id == lb.id for o in realized), 10, "the create realized")
        assert [(o.lb_id, o.revision, o.error) for o in realized] == [(lb.id, lb.revision, "")]
        mark = reconciler._wants.mark(lb.id)
        rows = reconciler._index.by_lb[lb.id]
        assert mark is not None and len(rows) == 2
        assert {row: reconciler._index.verified.get(row) for row in rows} == {row: mark for row in rows}

        # A later edit by someone else is noticed: the load balancer is planned again and
        # its row repaired (which verifies it again at once: the repair is what lasts).
        edited = next(iter(rows))
        planned = reconciler.planned
        where = [["_uuid", "==", ["uuid", str(edited)]]]
        nb_transact(
            sock, {"op": "update", "table": "Load_Balancer", "where": where, "row": {"protocol": "udp"}}
        )
        wait_for(
            lambda: reconciler.planned > planned and lb_protocol(sock, where) == "tcp", 5, "the edit repaired"
        )
    finally:
        realizer.stop()
        server.terminate()
        server.wait(10)


def test_a_restart_takes_what_the_last_realizer_verified(tmp_path: Path) -> None:
    """A realizer saves each load balancer it verified (revision, digest of its rows);
    the next one's first full pass takes a load balancer whose rows still hash to that
    digest as realized, untranslated, and plans one whose rows someone changed meanwhile.
    The desired state comes before the NB's first read, as in the child: the first
    topology then must not mark every load balancer changed (it queued them all)."""
    db, sock = tmp_path / "nb.db", tmp_path / "nb.sock"
    subprocess.run([OVSDB_TOOL, "create", str(db), _schema()], check=True)

    def nb() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [OVSDB_SERVER, str(db), f"--remote=punix:{sock}", f"--unixctl={tmp_path / 'ctl'}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    # Maps and sets of several entries (selection fields, affinity), and a row that rejects.
    sticky = m_pool(
        1,
        m_member(1, address="10.0.0.10"),
        m_member(2, address="10.0.0.11", weight=3),
        algorithm=model.Algorithm.SOURCE_IP_PORT,
        session_persistence=model.SessionPersistence(type=model.PersistenceType.SOURCE_IP, timeout=60),
    )
    kept = m_lb(m_listener(1, port=80), m_listener(2, port=443), pools=(sticky,), id="lb-kept")
    empty = m_pool(2)
    edited = m_lb(
        m_listener(3, port=80, pool="pool-2"), pools=(empty,), id="lb-edited", vip_address="192.168.1.101"
    )

    def realize(realizer: NbRealizer) -> tuple[list[Realized], subprocess.Popen[bytes]]:
        """The NB starts only once the realizer waits for it and knows what it wants."""
        realized: list[Realized] = []
        realizer.on_realized = realized.extend
        realizer.connect()
        realizer.start([kept, edited])
        server = nb()
        wait_for(lambda: {o.lb_id for o in realized} == {kept.id, edited.id}, 10, "both realized")
        return realized, server

    def stopped(server: subprocess.Popen[bytes]) -> None:
        server.terminate()
        server.wait(10)
        sock.unlink(missing_ok=True)

    first = NbRealizer(f"unix:{sock}", create_networks=True, full_interval=600)
    _, server = realize(first)
    try:
        assert first.verified_state() == []  # not while its loop runs
        first.stop()
    finally:
        stopped(server)
    saved = first.verified_state()
    assert sorted((lb_id, revision) for lb_id, revision, _ in saved) == [(edited.id, 1), (kept.id, 1)]

    # Meanwhile someone edits a row of one of them.
    edit = {"op": "update", "table": "Load_Balancer", "where": [["name", "==", "qlb-lis-3"]]}
    edit["row"] = {"protocol": "udp"}
    subprocess.run([OVSDB_TOOL, "transact", str(db), json.dumps(["OVN_Northbound", edit])], check=True)

    second = NbRealizer(f"unix:{sock}", create_networks=True, full_interval=600)
    second.adopt_saved(lambda: saved)
    reconciler = second._reconciler
    outcomes, server = realize(second)
    try:
        assert sorted((o.lb_id, o.error) for o in outcomes) == [(edited.id, ""), (kept.id, "")]
        # Only the edited one was planned (with the first topology marking every load
        # balancer changed, both were).
        assert (reconciler.adopted, reconciler.planned) == (1, 1)
        mark = reconciler._wants.mark(kept.id)
        assert mark is not None and mark.digest == {i: d for i, _, d in saved}[kept.id]

        wait_for(
            lambda: lb_protocol(sock, [["name", "==", "qlb-lis-3"]]) == "tcp", 10, "the edited row repaired"
        )
    finally:
        second.stop()
        stopped(server)
    assert sorted(second.verified_state()) == sorted(saved)
