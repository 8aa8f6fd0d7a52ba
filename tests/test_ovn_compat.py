"""ovn/compat.py: the python-ovs internals quantix-lb relies on are checked at import, loudly."""

from __future__ import annotations

import copy
import types
import uuid
from dataclasses import replace
from pathlib import Path

import ovs.version
import pytest
from ovs.db import data
from ovs.db import error as ovs_error
from ovs.db import idl as ovs_idl

from quantix_lb.ovn import compat

NB_SCHEMA = Path("/usr/share/ovn/ovn-nb.ovsschema")


def test_the_installed_python_ovs_has_everything() -> None:
    assert compat.missing() == []
    compat.require()  # what the import did
    assert compat.VERSION == ovs.version.VERSION


def _stub(**changes: dict[str, object]) -> types.ModuleType:
    """ovs.db.idl with some of its classes' attributes removed or replaced
    (a name mapped to None is removed)."""
    stub = types.ModuleType("stub_idl")
    for name in ("Idl", "Transaction", "Row"):
        cls = getattr(ovs_idl, name)
        attrs = {k: v for k, v in vars(cls).items() if k not in ("__dict__", "__weakref__")}
        for key, value in changes.get(name, {}).items():
            if value is None:
                attrs.pop(key, None)
            else:
                attrs[key] = value
        setattr(stub, name, type(name, cls.__bases__, attrs))
    return stub


def test_a_renamed_private_method_fails_loudly_with_the_version() -> None:
    # The silent failure this guards against: python-ovs renames __apply_diff
    # and DiffIdl's override is simply never called.
    stub = _stub(Idl={"_Idl__apply_diff": None})
    with pytest.raises(compat.OvsIncompatible) as failed:
        compat.require("9.9.9", idl_module=stub)
    message = str(failed.value)
    assert "python-ovs 9.9.9" in message
    assert "__apply_diff" in message
    assert isinstance(failed.value, ImportError)


def test_a_changed_signature_or_a_missing_attribute_is_named() -> None:
    def write(self: object, row: object, column: object) -> None: ...

    def row_init(self: object, idl: object, table: object, uuid: object, data: object) -> None:
        self.__dict__["_data"] = data  # and no _table

    stub = _stub(Transaction={"_write": write}, Row={"__init__": row_init})
    lacking = compat.missing(idl_module=stub)
    assert any("Transaction._write" in m for m in lacking)
    assert any("Row._table" in m for m in lacking)
    assert not any("Row._data" in m for m in lacking)
    assert not any("__apply_diff" in m for m in lacking)


def test_a_missing_unixctl_connection_is_named() -> None:
    stub = types.ModuleType("stub_unixctl")
    stub.UnixctlClient = type("UnixctlClient", (), {"__init__": lambda self, conn: None})
    assert compat.missing(unixctl_module=stub) == [
        "ovs.unixctl.client.UnixctlClient._conn (unixctl_connection)"
    ]


@pytest.mark.skipif(not NB_SCHEMA.exists(), reason="needs the OVN NB schema (ovn-common)")
def test_diff_idl_hands_notify_the_diff_of_an_update() -> None:
    """The override is really called: an update's notification carries the
    column's diff (what a switch lost), not a copy of its old value."""
    helper = ovs_idl.SchemaHelper(location=str(NB_SCHEMA))
    helper.register_columns("Logical_Switch", ["name", "load_balancer"])
    notices: list[tuple[str, str, object]] = []

    def hook(idl: ovs_idl.Idl, event: str, table: str, row: ovs_idl.Row, changes: object) -> None:
        notices.append((event, table, changes))

    idl = compat.DiffIdl("unix:/nonexistent", helper, hook)
    try:
        switch, kept, dropped = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        refs = ["set", [["uuid", str(kept)], ["uuid", str(dropped)]]]
        parse = idl._Idl__parse_update  # python-ovs's entry for a monitor update
        parse({"Logical_Switch": {str(switch): {"insert": {"name": "ls", "load_balancer": refs}}}}, "update2")
        parse(
            {"Logical_Switch": {str(switch): {"modify": {"load_balancer": ["uuid", str(dropped)]}}}},
            "update2",
        )
        row = idl.tables["Logical_Switch"].rows[switch]
        assert {a.value for a in compat.datum(row, "load_balancer").values} == {kept}
        assert [(e, t) for e, t, _ in notices] == [
            (ovs_idl.ROW_CREATE, "Logical_Switch"),
            (ovs_idl.ROW_UPDATE, "Logical_Switch"),
        ]
        changes = notices[1][2]
        assert isinstance(changes, dict) and set(changes) == {"load_balancer"}
        assert {a.value for a in changes["load_balancer"].values} == {dropped}
    finally:
        idl.close()


def _read(idl: ovs_idl.Idl, update: dict[str, object]) -> dict[str, object]:
    idl._Idl__parse_update(update, "update2")
    return {
        name: {c: compat.datum(row, c) for c in ("name", "protocol", "vips", "selection_fields", "options")}
        for name, row in ((r.name, r) for r in idl.tables["Load_Balancer"].rows.values())
    }


def test_diff_idl_reads_rows_as_python_ovs_does() -> None:
    """DiffIdl builds plain-string columns itself (parse_datum) and fills defaults from
    its own list: every datum equals the one python-ovs's own IDL builds."""
    columns = ["name", "protocol", "vips", "selection_fields", "options", "external_ids"]
    rows = {
        str(uuid.uuid4()): {
            "initial": {
                "name": "lb-1",
                "protocol": "udp",
                "vips": ["map", [["10.0.0.5:53", "10.0.1.1:53,10.0.1.2:53"], ["[2001:db8::5]:53", ""]]],
                "selection_fields": ["set", ["ip_src", "tp_src"]],
                "options": ["map", [["reject", "true"]]],
                "external_ids": ["map", [["quantix-lb:id", "lb-1"], ["ünï", "côdé"]]],
            }
        },
        # Columns holding their defaults are left out, as the server sends them.
        str(uuid.uuid4()): {"initial": {"name": "lb-2", "vips": ["map", []]}},
    }
    read = []
    given = {compat.DiffIdl: copy.deepcopy(rows), ovs_idl.Idl: rows}
    for cls in (compat.DiffIdl, ovs_idl.Idl):
        helper = ovs_idl.SchemaHelper(location=str(NB_SCHEMA))
        helper.register_columns("Load_Balancer", columns)
        idl = (
            compat.DiffIdl("unix:/nonexistent", helper, lambda *_: None)
            if cls is compat.DiffIdl
            else cls("unix:/nonexistent", helper)
        )
        try:
            read.append(_read(idl, {"Load_Balancer": given[cls]}))
        finally:
            idl.close()
    ours, theirs = read
    assert set(ours) == {"lb-1", "lb-2"}
    assert ours == theirs
    # DiffIdl drops each row's JSON once read (the first reply's memory goes to the next rows).
    assert all(update["initial"] == {} for update in given[compat.DiffIdl].values())


def test_parse_datum_leaves_anything_not_plain_to_python_ovs() -> None:
    helper = ovs_idl.SchemaHelper(location=str(NB_SCHEMA))
    helper.register_all()
    table = helper.get_idl_schema().tables["Load_Balancer"]
    vips, protocol = table.columns["vips"].type, table.columns["protocol"].type
    assert compat.plain_strings(vips) and not compat.plain_strings(protocol)
    good = ["map", [["10.0.0.5:80", "10.0.1.1:80"]]]
    assert compat.parse_datum(vips, good, True) == data.Datum.from_json(vips, good)
    for bad in (["map", [["k"]]], ["map", [["k", 1]]], ["map", [["k", "a"], ["k", "b"]]], ["set", []], 5):
        with pytest.raises(ovs_error.Error):
            compat.parse_datum(vips, bad, True)
    with pytest.raises(ovs_error.Error):
        compat.parse_datum(protocol, "sctp-ish", False)  # an enum python-ovs checks


def test_parse_datum_shares_the_atoms_of_repeated_strings_within_a_bounded_pool(monkeypatch) -> None:
    helper = ovs_idl.SchemaHelper(location=str(NB_SCHEMA))
    helper.register_all()
    ids = helper.get_idl_schema().tables["Load_Balancer"].columns["external_ids"].type

    def parsed(lb: str) -> dict[str, data.Atom]:
        datum = compat.parse_datum(
            ids, ["map", [["quantix:owner", "quantix-lb"], ["quantix:lb-id", lb]]], True
        )
        assert datum == data.Datum.from_json(
            ids, ["map", [["quantix:owner", "quantix-lb"], ["quantix:lb-id", lb]]]
        )
        return {f"{k.value}={v.value}": (k, v) for k, v in datum.values.items()}

    one, two = parsed("lb-1"), parsed("lb-2")
    owner_one, owner_two = one["quantix:owner=quantix-lb"], two["quantix:owner=quantix-lb"]
    assert owner_one[0] is owner_two[0] and owner_one[1] is owner_two[1]  # one key and value for both rows
    assert one["quantix:lb-id=lb-1"][0] is two["quantix:lb-id=lb-2"][0]
    monkeypatch.setattr(compat._atom, "limit", 8)
    for i in range(100):
        parsed(f"lb-{i}")
    assert len(compat._atom) <= 8  # strings seen once cycle out


@pytest.mark.parametrize("private", ["_Idl__row_update", "_Idl__add_default", "_Idl__column_name"])
def test_each_overridden_or_borrowed_private_is_checked(private: str) -> None:
    lacking = compat.missing(idl_module=_stub(Idl={private: None}))
    assert any(private.removeprefix("_Idl") in m for m in lacking), lacking


def test_holds_reads_a_row_as_the_datums_would_compare() -> None:
    """commands.holds (the full pass's fast comparison) agrees with building the
    wanted datums and comparing them, for a row in step and for each kind of drift."""
    from quantix_lb.ovn import commands as cmd
    from quantix_lb.ovn import translate
    from quantix_lb.ovn.reconcile import COLUMNS, Wants

    helper = ovs_idl.SchemaHelper(location=str(NB_SCHEMA))
    helper.register_columns("Load_Balancer", COLUMNS["Load_Balancer"])
    idl = compat.DiffIdl("unix:/nonexistent", helper, lambda *_: None)
    wanted = translate.LbRow(
        name="qlb-lis-1",
        protocol="tcp",
        vips=(("10.0.0.5:80", "10.0.1.1:8080,10.0.1.2:8080"),),
        selection_fields=("ip_dst", "ip_src"),
        options=(("reject", "true"),),
        external_ids=(("quantix:lb-id", "lb-1"), ("quantix:owner", "quantix-lb")),
    )
    in_step = {
        "name": "qlb-lis-1",
        "protocol": "tcp",
        "vips": ["map", [["10.0.0.5:80", "10.0.1.1:8080,10.0.1.2:8080"]]],
        "selection_fields": ["set", ["ip_src", "ip_dst"]],
        "options": ["map", [["reject", "true"]]],
        "external_ids": ["map", [["quantix:owner", "quantix-lb"], ["quantix:lb-id", "lb-1"]]],
    }
    drifted = [
        {"name": "qlb-lis-2"},
        {"protocol": "udp"},
        {"protocol": ["set", []]},
        {"vips": ["map", [["10.0.0.5:80", "10.0.1.1:8080"]]]},
        {"vips": ["map", []]},
        {"selection_fields": ["set", ["ip_src"]]},
        {"options": ["map", []]},
        {"options": ["map", [["reject", "false"]]]},
        {"external_ids": ["map", [["quantix:owner", "quantix-lb"], ["quantix:lb-id", "lb-2"]]]},
    ]
    wants = Wants()
    try:
        for i, columns in enumerate([in_step, *({**in_step, **d} for d in drifted)]):
            row_uuid = uuid.UUID(int=i + 1)
            # A copy: DiffIdl empties each row's JSON once read.
            initial = copy.deepcopy(columns)
            idl._Idl__parse_update({"Load_Balancer": {str(row_uuid): {"initial": initial}}}, "update2")
            row = idl.tables["Load_Balancer"].rows[row_uuid]
            datums = wants.columns(idl, wanted)
            same = all(compat.datum(row, c) == d for c, d in datums.items())
            assert cmd.holds(row, wanted) is same is (i == 0), columns
        # Columns holding their defaults are left out of the replica, as the server sends
        # them: empty sets and maps compare as empty, whichever side is empty.
        bare = replace(wanted, selection_fields=(), options=())
        sparse = {c: v for c, v in in_step.items() if c not in ("selection_fields", "options")}
        for i, (want, columns) in enumerate([(bare, sparse), (wanted, sparse), (bare, in_step)], 100):
            row_uuid = uuid.UUID(int=i)
            initial = copy.deepcopy(columns)
            idl._Idl__parse_update({"Load_Balancer": {str(row_uuid): {"initial": initial}}}, "update2")
            row = idl.tables["Load_Balancer"].rows[row_uuid]
            same = all(compat.datum(row, c) == d for c, d in wants.columns(idl, want).items())
            assert cmd.holds(row, want) is same is (i == 100), (want, columns)
    finally:
        idl.close()
