"""Every use of python-ovs internals, in one place, checked at import.

python-ovs documents its IDL, not the attributes under it; quantix-lb reads
a few of them because the documented paths cost milliseconds per row at
10,000 load balancers (see each function). A python-ovs release that renames
one must fail here, at import, naming what is missing, not silently: an
override of a renamed private method would simply never be called.
Supported: the versions pyproject.toml pins (`ovs>=3.1,<4.1`).
"""

from __future__ import annotations

import inspect
import sys
import uuid
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

import ovs.json
import ovs.version
from ovs.db import data
from ovs.db import error as ovs_error
from ovs.db import idl as ovs_idl
from ovs.db import types as ovs_types
from ovs.jsonrpc import Connection
from ovs.unixctl import client as ovs_unixctl

from quantix_lb.interning import Interned

VERSION: str = ovs.version.VERSION

# Called with each row notification: the IDL, the event, the table's name, the
# row, and for an update the changed columns (the diff of each, see DiffIdl).
RowHook = Callable[[ovs_idl.Idl, str, str, ovs_idl.Row, Mapping[str, data.Datum] | None], None]


class OvsIncompatible(ImportError):
    """The installed python-ovs lacks an internal quantix-lb relies on."""


def _params(function: Any) -> list[str] | None:
    try:
        return list(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return None


def _names(function: Any) -> tuple[str, ...]:
    """The attribute names a function's code reads or stores."""
    code = getattr(function, "__code__", None)
    return code.co_names if code is not None else ()


def missing(idl_module: ModuleType = ovs_idl, unixctl_module: ModuleType = ovs_unixctl) -> list[str]:
    """What this module relies on and the given python-ovs modules lack."""
    found: list[str] = []
    idl_cls = getattr(idl_module, "Idl", None)
    txn_cls = getattr(idl_module, "Transaction", None)
    row_cls = getattr(idl_module, "Row", None)
    if idl_cls is None or txn_cls is None or row_cls is None:
        return ["ovs.db.idl.Idl, Transaction and Row"]
    apply_diff = getattr(idl_cls, "_Idl__apply_diff", None)
    if _params(apply_diff) != ["self", "table", "row", "row_diff"]:
        found.append("Idl.__apply_diff(self, table, row, row_diff) (DiffIdl overrides it)")
    if "_Idl__apply_diff" not in _names(getattr(idl_cls, "_Idl__process_update2", None)):
        found.append("Idl.__process_update2 calling __apply_diff (else DiffIdl's override is never called)")
    if _params(getattr(idl_cls, "_Idl__row_update", None)) != ["self", "table", "row", "row_json"]:
        found.append("Idl.__row_update(self, table, row, row_json) (DiffIdl overrides it)")
    for private in ("_Idl__row_update", "_Idl__add_default"):
        if private not in _names(getattr(idl_cls, "_Idl__process_update2", None)):
            found.append(
                f"Idl.__process_update2 calling {private[4:]} (else DiffIdl's override is never called)"
            )
    if _params(getattr(idl_cls, "_Idl__add_default", None)) != ["self", "table", "row_update"]:
        found.append("Idl.__add_default(self, table, row_update) (DiffIdl overrides it)")
    if _params(getattr(idl_cls, "_Idl__column_name", None)) != ["self", "column"]:
        found.append("Idl.__column_name(self, column) (DiffIdl's __add_default)")
    if "readonly" not in _names(getattr(idl_cls, "__init__", None)):
        found.append("Idl.readonly (DiffIdl's __add_default)")
    if _params(getattr(idl_cls, "notify", None)) != ["self", "event", "row", "updates"]:
        found.append("Idl.notify(self, event, row, updates)")
    if "_session" not in _names(getattr(idl_cls, "__init__", None)):
        found.append("Idl._session (is_synced)")
    if not hasattr(idl_cls, "IDL_S_MONITORING"):
        found.append("Idl.IDL_S_MONITORING (is_synced)")
    if _params(getattr(txn_cls, "_write", None)) != ["self", "row", "column", "datum"]:
        found.append("Transaction._write(self, row, column, datum) (write)")
    try:
        attrs = vars(row_cls(None, None, uuid.UUID(int=0), {}))
    except Exception as exc:  # any failure means Row is not what we know
        attrs = {}
        found.append(f"Row(idl, table, uuid, data) ({exc})")
    found.extend(f"Row.{name} (datum, DiffIdl)" for name in ("_data", "_table") if name not in attrs)
    client_cls = getattr(unixctl_module, "UnixctlClient", None)
    if "_conn" not in _names(getattr(client_cls, "__init__", None)):
        found.append("ovs.unixctl.client.UnixctlClient._conn (unixctl_connection)")
    return found


def require(version: str = VERSION, **modules: ModuleType) -> None:
    """Raises OvsIncompatible, naming the version and what it lacks, if anything is missing."""
    lacking = missing(**modules)
    if lacking:
        raise OvsIncompatible(
            f"python-ovs {version} lacks what quantix-lb relies on: {'; '.join(lacking)}."
            " Install a version within the pin in pyproject.toml, or port quantix_lb/ovn/compat.py."
        )


require()


# --- rows and transactions ------------------------------------------------------------------


def datum(row: ovs_idl.Row, column: str) -> data.Datum:
    """A column of the replica as OVSDB holds it.

    python-ovs rebuilds and re-validates a column on every attribute read,
    which costs milliseconds across thousands of rows; the replica's datum is
    enough for rows we are not changing in an open transaction."""
    found = row._data.get(column) if row._data else None
    if found is None:  # the replica leaves out columns that hold their default
        found = data.Datum.default(row._table.columns[column].type)
    return found


def write(txn: ovs_idl.Transaction, row: ovs_idl.Row, column: str, value: data.Datum) -> None:
    """Sets a column to a datum built and validated once per revision.

    Row.__setattr__ would rebuild and re-validate the value and probe the old
    one through the slow attribute path on every write."""
    txn._write(row, row._table.columns[column], value)


def is_synced(idl: ovs_idl.Idl) -> bool:
    """Connected and monitoring: the replica is complete. (has_ever_connected
    stays true across a reconnect; python-ovs has no public test of a live one.)"""
    return idl._session.is_connected() and idl.state == idl.IDL_S_MONITORING


def has_c_json_parser() -> bool:
    return ovs.json.PARSER == ovs.json.PARSER_C


def unixctl_connection(client: ovs_unixctl.UnixctlClient) -> Connection:
    """The JSON-RPC connection of a unixctl client (for a transaction with a deadline)."""
    return client._conn


def _plain_string(base: ovs_types.BaseType | None) -> bool:
    return base is None or (
        base.type is ovs_types.StringType
        and base.enum is None
        and base.min_length == 0
        and base.max_length == sys.maxsize
    )


def plain_strings(column_type: ovs_types.Type) -> bool:
    """A string, string set or string map the schema does not constrain."""
    return _plain_string(column_type.key) and _plain_string(column_type.value)


# One shared Atom per string while it stays in the pool. A row's keys and most of
# its values (owner, project, network, protocol) repeat across thousands of rows:
# shared, they cost nothing per row (~30 MB of objects at 24,000 rows). Atoms are
# never changed in place (Datum.diff replaces them), so sharing is safe.
_atom: Interned[str, data.Atom] = Interned(lambda value: data.Atom(ovs_types.StringType, value))


def parse_datum(column_type: ovs_types.Type, json: Any, plain: bool) -> data.Datum:
    """A column's datum from the NB's JSON. Plain-string columns (`plain`: names,
    vips, options, external_ids, most of what a Load_Balancer row holds) are built
    directly: Datum.from_json checks every atom against its type, ~15 atoms a row,
    half of the ~5 s the first read of 20,000 rows took. Anything else, or JSON
    not of the plain shape, takes python-ovs's own path (which raises on what is wrong)."""
    if plain:
        if type(json) is str and column_type.value is None:
            return data.Datum(column_type, {_atom(json): None})
        if type(json) is list and len(json) == 2 and json[0] == "map" and column_type.value is not None:
            values = {}
            for pair in json[1]:
                if type(pair) is not list or len(pair) != 2:
                    break
                key, value = pair
                if type(key) is not str or type(value) is not str:
                    break
                values[_atom(key)] = _atom(value)
            else:
                if len(values) == len(json[1]) and column_type.n_min <= len(values) <= column_type.n_max:
                    return data.Datum(column_type, values)
    return data.Datum.from_json(column_type, json)


class DiffIdl(ovs_idl.Idl):
    """An IDL that hands each row notification to one hook, with the table's
    name and, for an update, each changed column's DIFF instead of a copy of
    its old value: copying and comparing a switch's 10,000 load_balancer
    references cost milliseconds per commit. For a set, the atoms of the diff
    that the new value lacks are the removed ones. (Over the old `monitor`
    method python-ovs hands old values instead; that reading holds for them too.)"""

    def __init__(self, remote: str, helper: ovs_idl.SchemaHelper, hook: RowHook) -> None:
        super().__init__(remote, helper, leader_only=True)
        self.__hook = hook
        # Per column: its type and whether parse_datum may build it directly
        # (IdlColumn reaches its type through __getattr__, per read).
        self.__types: dict[Any, tuple[ovs_types.Type, bool]] = {}
        self.__required: dict[str, list[tuple[str, Any]]] = {}  # table -> (column, default JSON)

    def _Idl__add_default(self, table: Any, row_update: dict[str, Any]) -> None:
        """python-ovs's own, with the table's required scalar columns found once."""
        required = self.__required.get(table.name)
        if required is None:
            readonly = self.readonly.get(table.name, ())
            required = self.__required[table.name] = [
                (column.name, self._Idl__column_name(column))
                for column in table.columns.values()
                if column.type.n_min != 0 and not column.type.is_map() and column.name not in readonly
            ]
        for name, default in required:
            if name not in row_update:
                row_update[name] = default

    def _Idl__row_update(self, table: Any, row: ovs_idl.Row, row_json: dict[str, Any]) -> bool:
        """python-ovs's own, with parse_datum, and without building a default
        datum for each column of a new row only to compare it. It empties
        `row_json` (python-ovs reads it no more)."""
        changed = False
        columns = table.columns
        for name, datum_json in row_json.items():
            column = columns.get(name)
            if column is None:
                continue
            typed = self.__types.get(column)
            if typed is None:
                typed = self.__types[column] = (column.type, plain_strings(column.type))
            try:
                datum = parse_datum(typed[0], datum_json, typed[1])
            except ovs_error.Error:
                continue
            old = row._data.get(name)  # dict.get: an absent column is not built
            if old is None or datum != old:
                row._data[name] = datum
                changed = changed or column.alert
        # Its JSON is garbage now: freed row by row, the NB's first reply (~1 M small
        # objects at 10,000 load balancers) leaves its memory to the next rows' datums
        # instead of holes among them (the realizer held ~20 MB more after a restart).
        row_json.clear()
        return changed

    def notify(self, event: str, row: ovs_idl.Row, updates: ovs_idl.Row | None = None) -> None:
        self.__hook(self, event, row._table.name, row, None if updates is None else updates._data)

    def _Idl__apply_diff(self, table: Any, row: ovs_idl.Row, row_diff: dict[str, Any]) -> dict[str, Any]:
        """python-ovs's own, except that it returns the diffs (see the class)."""
        diffs: dict[str, Any] = {}
        for name, diff_json in row_diff.items():
            column = table.columns.get(name)
            if column is None:
                continue
            try:
                diff = data.Datum.from_json(column.type, diff_json)
            except ovs_error.Error:
                continue
            diffs[name] = diff
            # An absent column reads as a fresh default the row does not hold:
            # store the result even when the diff was applied in place.
            row._data[name] = row._data[name].diff(diff)
        return diffs
