"""The NB rows we own: which Load_Balancer rows belong to which load balancer,
and which of them were found equal to what we want.

Owned rows carry our external_ids; rows we do not own are never indexed, so
never touched. Kept by the IDL thread from the replica's notifications.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

from ovs.db import data
from ovs.db import idl as ovs_idl
from ovs.db import types as ovs_types

from quantix_lb.ovn import commands as cmd
from quantix_lb.ovn.compat import datum
from quantix_lb.ovn.translate import LB_ID_KEY, LISTENER_ID_KEY, OWNER, OWNER_KEY

Datums = dict[str, data.Datum]  # column -> datum


class OwnedRows:
    """Read directly by the reconciler (dict lookups in its hot loops);
    changed only through the methods."""

    def __init__(self) -> None:
        self.by_lb: dict[str, dict[uuid.UUID, str]] = {}  # lb id -> row -> listener id
        self.owner: dict[uuid.UUID, str] = {}  # row -> lb id
        # Owned row -> the mark (reconcile.Mark: a revision and steering) of the
        # wanted row it was last found equal to; any notification about the row
        # drops its entry.
        self.verified: dict[uuid.UUID, object] = {}

    def rebuild(self, rows: Iterable[ovs_idl.Row]) -> None:
        """From a complete replica (after every (re)connect)."""
        self.by_lb, self.owner, self.verified = {}, {}, {}
        for row in rows:
            ids = _external_ids(row)
            if ids.get(OWNER_KEY) == OWNER:
                lb_id = ids.get(LB_ID_KEY, "")
                self.by_lb.setdefault(lb_id, {})[row.uuid] = ids.get(LISTENER_ID_KEY, "")
                self.owner[row.uuid] = lb_id

    def changed(self, event: str, row: ovs_idl.Row) -> str | None:
        """A Load_Balancer row was notified about: the id of its load balancer if we own it."""
        ids = _external_ids(row)
        if ids.get(OWNER_KEY) != OWNER:
            return None
        lb_id = ids.get(LB_ID_KEY, "")
        rows = self.by_lb.setdefault(lb_id, {})
        self.verified.pop(row.uuid, None)
        if event == ovs_idl.ROW_DELETE:
            rows.pop(row.uuid, None)
            self.owner.pop(row.uuid, None)
        else:
            rows[row.uuid] = ids.get(LISTENER_ID_KEY, "")
            self.owner[row.uuid] = lb_id
        return lb_id

    def detached(self, idl: ovs_idl.Idl, datapath: ovs_idl.Row, diff: data.Datum) -> list[str]:
        """The load balancers whose rows a switch or router update stopped
        referencing while the rows live on: someone detached a row of ours
        (our own deletes remove the row too). `diff` is the update's diff of
        the load_balancer column (see compat.DiffIdl)."""
        after = datum(datapath, "load_balancer").values
        rows = idl.tables["Load_Balancer"].rows
        found = []
        for atom in diff.values:
            lb_id = self.owner.get(atom.value)
            if lb_id is not None and atom not in after and atom.value in rows:
                found.append(lb_id)
        return found

    def drift(self, row: ovs_idl.Row, wanted: object, mark: object, columns: Callable[[], Datums]) -> Datums:
        """Columns of an owned row that differ from what we want (`wanted`, whose
        datums `columns` builds; `mark` names the translation it is of).

        A row found equal to a row of this very mark, and not notified about since,
        needs no comparison and no datums: full passes stay cheap at 10,000 rows,
        and no datums are kept for rows in step. (Datum identity would not do:
        python-ovs applies map and set diffs in place.)"""
        if self.verified.get(row.uuid) is mark:
            return {}
        if cmd.holds(row, wanted):
            self.verified[row.uuid] = mark
            return {}
        drift = {c: d for c, d in columns().items() if datum(row, c) != d}
        if not drift:
            self.verified[row.uuid] = mark
        return drift


def _external_ids(row: ovs_idl.Row) -> dict[str, str]:
    """A row's external_ids, read from the replica's atoms (Datum.to_python costs
    calls per atom, and a restart reads every row)."""
    return {k.value: v.value for k, v in datum(row, "external_ids").values.items()}


def attached(idl: ovs_idl.Idl, dp: uuid.UUID, lb_row: uuid.UUID) -> bool:
    """Whether a switch or router references the row. The set's atoms hash like
    the UUIDs they hold: one lookup, no copy of 10,000 references."""
    row = cmd.datapath(idl, dp)
    return row is not None and data.Atom(ovs_types.UuidType, lb_row) in datum(row, "load_balancer").values
