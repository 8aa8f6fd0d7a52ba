"""The embedded NB's file split from one snapshot into small transactions (ovn/dbfile.py),
read back by the real ovsdb-tool."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from quantix_lb.ovn import dbfile
from quantix_lb.ovn.embedded import _schema

OVSDB_TOOL = shutil.which("ovsdb-tool") or "/usr/bin/ovsdb-tool"
TABLES = ("Load_Balancer", "Load_Balancer_Health_Check", "Logical_Switch")


def tool(*args: str) -> str:
    return subprocess.run([OVSDB_TOOL, *args], capture_output=True, text=True, check=True).stdout


def transact(db: Path, *ops: dict[str, Any]) -> list[Any]:
    result = json.loads(tool("transact", str(db), json.dumps(["OVN_Northbound", *ops])))
    assert not any("error" in r for r in result if r), result
    return result


def rows(db: Path) -> dict[str, list[dict[str, Any]]]:
    """Every row of the tables used here, as ovsdb-tool reads the file (sorted by UUID;
    without _version, which each load draws anew)."""
    ops = [{"op": "select", "table": t, "where": []} for t in TABLES]
    for op in ops:
        op["columns"] = list(_columns(op["table"]))
    result = json.loads(tool("query", str(db), json.dumps(["OVN_Northbound", *ops])))
    return {
        t: sorted(r["rows"], key=lambda row: row["_uuid"][1]) for t, r in zip(TABLES, result, strict=True)
    }


def _columns(table: str) -> list[str]:
    return ["_uuid", *json.loads(Path(_schema()).read_text())["tables"][table]["columns"]]


def record_count(db: Path) -> int:
    return sum(line.startswith("record") for line in tool("show-log", str(db)).splitlines())


def lb(name: str, **columns: Any) -> dict[str, Any]:
    row = {"name": name, "protocol": "tcp", "vips": ["map", [[f"10.0.0.1:{len(name)}", "10.1.0.1:80"]]]}
    return {"op": "insert", "table": "Load_Balancer", "row": {**row, **columns}}


@pytest.fixture
def snapshot_db(tmp_path: Path) -> Path:
    """250 plain load balancers, one that holds a health check (a strong reference to a
    non-root row), one named after the word uuid, and a switch that holds them all
    (weak references), compacted into [schema, snapshot]."""
    db = tmp_path / "nb.db"
    tool("create", str(db), _schema())
    transact(db, *(lb(f"plain-{i}") for i in range(250)))
    check = {"vip": "10.0.0.1:80"}
    transact(
        db,
        {"op": "insert", "table": "Load_Balancer_Health_Check", "uuid-name": "hc", "row": check},
        lb("checked", health_check=["named-uuid", "hc"]),
        lb("uuid"),
    )
    uuids = [r["_uuid"] for r in rows(db)["Load_Balancer"]]
    switch = {"name": "net", "load_balancer": ["set", uuids]}
    transact(db, {"op": "insert", "table": "Logical_Switch", "row": switch})
    tool("compact", str(db))
    assert record_count(db) == 2
    return db


def test_a_snapshot_is_split_into_small_transactions_holding_the_same_rows(snapshot_db: Path) -> None:
    before, mode = rows(snapshot_db), snapshot_db.stat().st_mode

    written = dbfile.split_snapshot(snapshot_db, rows_per_record=100)

    # The schema; the 250 plain rows in 3; the rest in one last record: the referencing
    # rows, the health check they reference, and "uuid" (its name holds the word).
    assert written == record_count(snapshot_db) == 1 + 3 + 1
    assert rows(snapshot_db) == before
    assert snapshot_db.stat().st_mode == mode
    assert not snapshot_db.with_name("nb.db.split").exists()
    bodies = [json.loads(body) for body in dbfile.records(snapshot_db.read_bytes())]
    last = bodies[-1]
    assert set(last) >= {"Load_Balancer", "Load_Balancer_Health_Check", "Logical_Switch"}
    assert sorted(row["name"] for row in last["Load_Balancer"].values()) == ["checked", "uuid"]
    assert all(len(body.get("Load_Balancer", {})) <= 100 for body in bodies[1:-1])
    # Each with the snapshot's own metadata (ovsdb-tool's has no _is_diff; ovsdb-server's has).
    assert all(set(body) == {"Load_Balancer", "_date"} for body in bodies[1:-1])


def test_a_log_of_transactions_is_left_as_it_is(snapshot_db: Path) -> None:
    transact(snapshot_db, lb("later"))  # [schema, snapshot, transaction]
    raw = snapshot_db.read_bytes()
    assert dbfile.split_snapshot(snapshot_db) == 0
    assert snapshot_db.read_bytes() == raw


def test_a_damaged_file_is_refused_and_left_as_it_is(snapshot_db: Path) -> None:
    raw = snapshot_db.read_bytes()
    snapshot_db.write_bytes(raw[:-10])
    with pytest.raises(ValueError, match="truncated or damaged"):
        dbfile.split_snapshot(snapshot_db)
    assert snapshot_db.read_bytes() == raw[:-10]
    snapshot_db.write_bytes(b"garbage\n" + raw)
    with pytest.raises(ValueError, match="not an OVSDB record header at offset 0"):
        dbfile.split_snapshot(snapshot_db)


def test_a_record_is_what_ovsdb_tool_reads(tmp_path: Path) -> None:
    """The header's length counts the JSON and its newline; the SHA-1 covers both."""
    db = tmp_path / "nb.db"
    tool("create", str(db), _schema())
    schema, *_ = dbfile.records(db.read_bytes())
    assert dbfile.record(schema.rstrip(b"\n")) == db.read_bytes()
