"""One small command per Northbound change; a step composes them into one transaction."""

from __future__ import annotations

import hashlib
import random
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from ovs.db import data
from ovs.db import idl as ovs_idl
from ovs.db import types as ovs_types

from quantix_lb.ovn.compat import datum, write
from quantix_lb.ovn.translate import NETWORK_ID_KEY, OWNER, OWNER_KEY, PROBE_NODE_KEY, PROJECT_ID_KEY

LB_COLUMNS = ("name", "protocol", "vips", "selection_fields", "options", "external_ids")


class Command(Protocol):
    def run(self, txn: ovs_idl.Transaction, idl: ovs_idl.Idl) -> None: ...


_SCALAR_SETS = frozenset({"protocol"})  # optional scalars: a set of at most one
_SETS = frozenset({"selection_fields"})
_MAPS = frozenset({"vips", "options", "external_ids"})


def column_value(column: str, value: Any) -> Any:
    """An LbRow column's value in python-ovs's form (optional scalars are lists)."""
    if column in _SCALAR_SETS:
        return [value]
    if column in _SETS:
        return list(value)
    if column in _MAPS:
        return dict(value)
    return value


Content = tuple[Any, ...]  # a Load_Balancer row's columns, in LB_COLUMNS order, canonical


def wanted_content(wanted: Any) -> Content:
    """A translate.LbRow's columns in one canonical form: maps and sets sorted (see
    `held_content`, which reads the same form from a replica row)."""
    return tuple(
        tuple(sorted(getattr(wanted, c))) if c in _MAPS or c in _SETS else getattr(wanted, c)
        for c in LB_COLUMNS
    )


def held_content(row: ovs_idl.Row) -> Content | None:
    """A replica row's columns in `wanted_content`'s form, read from its atoms; None when
    a scalar column holds no single value (no wanted row is like that). To compare a row
    with a wanted one, `holds` stays: it builds nothing and stops early (a third faster)."""
    held = row._data or {}
    content: list[Any] = []
    for column in LB_COLUMNS:
        found = held.get(column)
        if column in _MAPS:
            pairs = found.values.items() if found is not None else ()
            content.append(tuple(sorted((k.value, v.value) for k, v in pairs)))
        elif column in _SETS:
            keys = found.values if found is not None else ()
            content.append(tuple(sorted(k.value for k in keys)))
        else:
            values = (found if found is not None else datum(row, column)).values
            if len(values) != 1:
                return None
            content.append(next(iter(values)).value)
    return tuple(content)


def content_digest(contents: Iterable[Content]) -> bytes:
    """One load balancer's rows, in any order, as 16 bytes."""
    return hashlib.blake2b(repr(sorted(contents)).encode(), digest_size=16).digest()


def holds(row: ovs_idl.Row, wanted: Any) -> bool:
    """Whether the replica's row holds exactly `wanted` (a translate.LbRow), read
    from its atoms: building and validating the datums to compare costs ~5x more,
    and the first full pass after a start compares every row (so a set or map the
    replica leaves out, as empty, is not built as its default)."""
    held = row._data or {}
    for column in LB_COLUMNS:
        value = getattr(wanted, column)
        found = held.get(column)
        if column in _MAPS or column in _SETS:
            values = found.values if found is not None else {}
            if len(values) != len(value):
                return False
            if not values:
                continue
            if column in _MAPS:
                if {k.value: v.value for k, v in values.items()} != dict(value):
                    return False
            elif {k.value for k in values} != set(value):
                return False
        else:  # a scalar, or an optional scalar (a set of at most one)
            values = (found if found is not None else datum(row, column)).values
            if len(values) != 1 or next(iter(values)).value != value:
                return False
    return True


def string_datum(column_type: ovs_types.Type, value: str | tuple[tuple[str, str], ...]) -> data.Datum:
    """A string or string-map column's datum, built without python-ovs's
    per-atom validation (for columns the schema does not constrain)."""
    string = ovs_types.StringType
    if isinstance(value, str):
        return data.Datum(column_type, {data.Atom(string, value): None})
    return data.Datum(column_type, {data.Atom(string, k): data.Atom(string, v) for k, v in value})


def as_uuid(value: Any) -> Any:
    return value.uuid if isinstance(value, ovs_idl.Row) else value


def datapath(idl: ovs_idl.Idl, dp_uuid: uuid.UUID) -> ovs_idl.Row | None:
    for table in ("Logical_Switch", "Logical_Router"):
        row = idl.tables[table].rows.get(dp_uuid)
        if row is not None:
            return row
    return None


@dataclass(frozen=True)
class CreateLoadBalancer:
    columns: dict[str, data.Datum]
    datapaths: frozenset[uuid.UUID]

    def run(self, txn: ovs_idl.Transaction, idl: ovs_idl.Idl) -> None:
        # python-ovs would draw the row's UUID from os.urandom.
        lb = txn.insert(
            idl.tables["Load_Balancer"], new_uuid=uuid.UUID(int=random.getrandbits(128), version=4)
        )
        for column, value in self.columns.items():
            write(txn, lb, column, value)
        for dp_uuid in self.datapaths:
            dp = datapath(idl, dp_uuid)
            if dp is not None:
                dp.addvalue("load_balancer", lb.uuid)


@dataclass(frozen=True)
class SetLoadBalancer:
    lb_uuid: uuid.UUID
    columns: dict[str, data.Datum]

    def run(self, txn: ovs_idl.Transaction, idl: ovs_idl.Idl) -> None:
        lb = idl.tables["Load_Balancer"].rows.get(self.lb_uuid)
        if lb is not None:
            for column, value in self.columns.items():
                write(txn, lb, column, value)


@dataclass(frozen=True)
class DeleteLoadBalancer:
    """Logical_Switch/Router hold weak references: deleting the row detaches it."""

    lb_uuid: uuid.UUID

    def run(self, txn: ovs_idl.Transaction, idl: ovs_idl.Idl) -> None:
        lb = idl.tables["Load_Balancer"].rows.get(self.lb_uuid)
        if lb is not None:
            lb.delete()


@dataclass(frozen=True)
class Attach:
    datapath: uuid.UUID
    lb_uuid: uuid.UUID

    def run(self, txn: ovs_idl.Transaction, idl: ovs_idl.Idl) -> None:
        dp = datapath(idl, self.datapath)
        if dp is not None:
            dp.addvalue("load_balancer", self.lb_uuid)


@dataclass(frozen=True)
class CreateSwitch:
    """Embedded mode only: a network first used by a load balancer, marked as ours
    and as its project's."""

    network_id: str
    project_id: str

    def run(self, txn: ovs_idl.Transaction, idl: ovs_idl.Idl) -> None:
        ls = txn.insert(idl.tables["Logical_Switch"])
        ls.name = self.network_id
        ls.external_ids = {OWNER_KEY: OWNER, NETWORK_ID_KEY: self.network_id, PROJECT_ID_KEY: self.project_id}


@dataclass(frozen=True)
class CreateProbePort:
    """A health worker's port on a network: its MAC and address, and port security
    so that nothing else can be sent from it."""

    switch: uuid.UUID
    name: str
    node_id: str
    network_id: str
    addresses: str  # "MAC IP"

    def run(self, txn: ovs_idl.Transaction, idl: ovs_idl.Idl) -> None:
        ls = idl.tables["Logical_Switch"].rows.get(self.switch)
        if ls is None:
            return
        lsp = txn.insert(idl.tables["Logical_Switch_Port"])
        lsp.name = self.name
        lsp.addresses = [self.addresses]
        lsp.port_security = [self.addresses]
        lsp.external_ids = {OWNER_KEY: OWNER, PROBE_NODE_KEY: self.node_id, NETWORK_ID_KEY: self.network_id}
        ls.addvalue("ports", lsp.uuid)


@dataclass(frozen=True)
class SetProbePortAddresses:
    lsp: uuid.UUID
    addresses: str

    def run(self, txn: ovs_idl.Transaction, idl: ovs_idl.Idl) -> None:
        lsp = idl.tables["Logical_Switch_Port"].rows.get(self.lsp)
        if lsp is not None:
            lsp.addresses = [self.addresses]
            lsp.port_security = [self.addresses]


@dataclass(frozen=True)
class DeleteProbePort:
    switch: uuid.UUID
    lsp: uuid.UUID

    def run(self, txn: ovs_idl.Transaction, idl: ovs_idl.Idl) -> None:
        ls = idl.tables["Logical_Switch"].rows.get(self.switch)
        if ls is not None:
            ls.delvalue("ports", self.lsp)
        lsp = idl.tables["Logical_Switch_Port"].rows.get(self.lsp)
        if lsp is not None:
            lsp.delete()
