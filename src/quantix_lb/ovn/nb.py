"""The one owner of the Northbound IDL, and the reconciler it runs.

A dedicated thread loops idl.run -> reconcile step -> poller.block. Callers on
the event loop hand it desired load balancers (`offer`, `forget`) and read an
immutable topology snapshot; outcomes come back through `on_realized`.

Each step turns every load balancer that changed since the last step into
small commands and commits them as ONE transaction (group commit).

Drift is found two ways. Events: a change to an owned Load_Balancer row, or an
owned row dropped from a switch or router, marks its load balancer for
repair at once. Full passes: at start, after every reconnect, when the
topology changes and every FULL_INTERVAL seconds, every desired load balancer
and every owned row are compared. Notifications caused by our own commits are
not treated as drift, so a change someone makes during one of our commits
waits for the next full pass. Owned rows carry our external_ids; rows we do
not own are never touched.
"""

from __future__ import annotations

import contextlib
import errno
import itertools
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

import ovs.json
import structlog
from ovs import jsonrpc, poller, stream
from ovs.db import data
from ovs.db import error as ovs_error
from ovs.db import idl as ovs_idl
from ovs.db import types as ovs_types

from quantix_lb import metrics, model
from quantix_lb.ovn import commands as cmd
from quantix_lb.ovn import translate
from quantix_lb.ovn.contract import FullPass, Realized, Steering, Topology
from quantix_lb.ovn.translate import (
    LB_ID_KEY,
    LISTENER_ID_KEY,
    NETWORK_ID_KEY,
    OWNER,
    OWNER_KEY,
    SUBNET_ID_KEY,
    Network,
)

log = structlog.get_logger(__name__)

FULL_INTERVAL = 5.0
MAX_STEP = 1000  # load balancers per transaction
SWEEP_STEP = 200  # load balancers of a full pass checked beside pending changes
RETRY_DELAY = 0.2
COLUMNS = {
    "Load_Balancer": list(cmd.LB_COLUMNS),
    "Logical_Switch": ["name", "ports", "load_balancer", "other_config", "external_ids"],
    "Logical_Switch_Port": ["name", "type", "options", "addresses"],
    "Logical_Router": ["name", "ports", "load_balancer"],
    "Logical_Router_Port": ["name", "networks"],
}
_SHARED_COLUMNS = frozenset({"protocol", "selection_fields", "options"})
_STRING_COLUMNS = frozenset({"name", "vips", "external_ids"})
_TOPOLOGY_TABLES = frozenset(
    {"Logical_Switch", "Logical_Switch_Port", "Logical_Router", "Logical_Router_Port"}
)


def fetch_schema(remote: str, timeout: float = 2.0) -> ovs_idl.SchemaHelper:
    """The NB schema as the server has it (a newer OVN may have more columns)."""
    last = "no remote"
    for one in [r.strip() for r in remote.split(",") if r.strip()]:
        error, strm = stream.Stream.open_block(stream.Stream.open(one), int(timeout * 1000))
        if error:
            last = f"{one}: {os.strerror(error)}"
            continue
        rpc = jsonrpc.Connection(strm)
        try:
            error, reply = rpc.transact_block(
                jsonrpc.Message.create_request("get_schema", ["OVN_Northbound"])
            )
        finally:
            rpc.close()
        if error or reply is None or reply.error:
            last = f"{one}: {os.strerror(error) if error else reply and reply.error}"
            continue
        return ovs_idl.SchemaHelper(schema_json=reply.result)
    raise ConnectionError(f"cannot read the OVN_Northbound schema ({last})")


def build_topology(idl: ovs_idl.Idl) -> dict[str, Network]:
    """Networks by id: a switch is found by its name and by quantix:network-id."""
    router_of_port: dict[str, uuid.UUID] = {}
    used: set[str] = set()
    for lr in idl.tables["Logical_Router"].rows.values():
        for lrp in lr.ports:
            router_of_port[lrp.name] = lr.uuid
            used.update(n.split("/")[0] for n in lrp.networks)
    networks: dict[str, Network] = {}
    by_extid: dict[str, Network] = {}
    for ls in idl.tables["Logical_Switch"].rows.values():
        routers, addresses = set(), set(used)
        for lsp in ls.ports:
            if lsp.type == "router":
                router = router_of_port.get(lsp.options.get("router-port", ""))
                if router is not None:
                    routers.add(router)
            for entry in lsp.addresses:
                addresses.update(part for part in entry.split()[1:] if part != "dynamic")
        network = Network(
            network_id=ls.name,
            switch=ls.uuid,
            switch_name=ls.name,
            routers=tuple(sorted(routers)),
            subnet=ls.other_config.get("subnet"),
            subnet_id=ls.external_ids.get(SUBNET_ID_KEY, ""),
            used_addresses=frozenset(addresses),
            owned=ls.external_ids.get(OWNER_KEY) == OWNER,
        )
        if ls.name:
            networks[ls.name] = network
        net_id = ls.external_ids.get(NETWORK_ID_KEY, "")
        if net_id:
            by_extid[net_id] = replace(network, network_id=net_id)
    for net_id, network in by_extid.items():
        networks.setdefault(net_id, network)
    return networks


def _attached(idl: ovs_idl.Idl, dp: uuid.UUID, lb_row: uuid.UUID) -> bool:
    """Whether a switch or router references the row. The set's atoms hash like
    the UUIDs they hold: one lookup, no copy of 10,000 references."""
    row = cmd.datapath(idl, dp)
    return row is not None and data.Atom(ovs_types.UuidType, lb_row) in cmd.datum(row, "load_balancer").values


class _Idl(ovs_idl.Idl):
    """Forwards row notifications to the reconciler (same thread)."""

    def __init__(self, remote: str, helper: ovs_idl.SchemaHelper, hook: Callable[..., None]) -> None:
        super().__init__(remote, helper, leader_only=True)
        self._hook = hook

    def notify(self, event: str, row: ovs_idl.Row, updates: ovs_idl.Row | None = None) -> None:
        self._hook(event, row, updates)

    def _Idl__apply_diff(self, table: Any, row: ovs_idl.Row, row_diff: dict[str, Any]) -> dict[str, Any]:
        """python-ovs's own, except that what it hands to notify() as the old
        row holds each changed column's DIFF, not a copy of its old value:
        copying and comparing a switch's 10,000 load_balancer references cost
        milliseconds per commit. For a set, the atoms of the diff that the
        new value lacks are the removed ones."""
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


@dataclass(frozen=True)
class _Want:
    """The translation of one revision: per listener, each column as the datum
    OVSDB holds, built (and validated) once."""

    revision: int
    deleting: bool
    rows: dict[str, dict[str, data.Datum]]
    steering: Steering | None = None


# listener id -> member id -> backend-list entries (LEAST_CONNECTIONS pools)
class NbRealizer:
    def __init__(
        self,
        remote: str,
        *,
        create_networks: bool,
        on_realized: Callable[[list[Realized]], None] | None = None,
        full_interval: float = FULL_INTERVAL,
    ) -> None:
        self.remote = remote
        self.create_networks = create_networks
        # Called on the IDL thread with each step's outcomes; set before start().
        self.on_realized = on_realized or (lambda outcomes: None)
        # Called on the IDL thread with each new topology snapshot, and with
        # each transaction's outcome, seconds and commands (for the metrics).
        self.on_topology: Callable[[Topology], None] = lambda topology: None
        self.on_transaction: Callable[[str, float, int], None] = metrics.observe_nb_transaction
        self._full_interval = full_interval
        self._lock = threading.Lock()
        self._inbox: dict[str, model.LoadBalancer | None] = {}
        self._steer_inbox: dict[str, Steering | None] = {}
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None
        self.topology = Topology()
        # Owned by the IDL thread from here on.
        self._idl: _Idl | None = None
        self._desired: dict[str, model.LoadBalancer] = {}
        self._steering: dict[str, Steering] = {}
        self._wanted: dict[str, _Want] = {}
        self._datums: dict[tuple[str, Any], data.Datum] = {}
        self._dirty: set[str] = set()  # changed or drifted: realized first
        self._sweep: set[str] = set()  # the rest of the running full pass
        self._check_attach: set[str] = set()
        self._owned: dict[str, dict[uuid.UUID, str]] = {}  # lb id -> row -> listener id
        self._row_owner: dict[uuid.UUID, str] = {}
        # Owned row -> the wanted datums it was last found equal to; any
        # notification about the row drops its entry.
        self._verified: dict[uuid.UUID, dict[str, data.Datum]] = {}
        self._reported: dict[str, tuple[int, str]] = {}
        self._reports: list[Realized] = []
        self._committing = False
        self._topology_dirty = True
        self._full_due = 0.0
        self._retry_at = 0.0
        self._synced = False
        self._converging: float | None = None  # since when the first full pass after a sync runs
        self._commands = 0  # NB commands committed, ever
        self._full_pass: tuple[float, int] | None = None  # (started, commands then) of the pass running
        self.last_full_pass: FullPass | None = None

    # --- called from other threads ----------------------------------------------------

    def start(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(target=self._main, name="ovn-nb", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake()
        if self._thread:
            self._thread.join(10)
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def offer(self, lbs: Iterable[model.LoadBalancer]) -> None:
        """The latest desired state of these load balancers."""
        self._post((lb.id, lb) for lb in lbs)

    def forget(self, lb_ids: Iterable[str]) -> None:
        """These load balancers are gone from the store: remove whatever is left."""
        self._post((lb_id, None) for lb_id in lb_ids)

    def pending(self) -> int:
        """Load balancers not yet realized or checked: changed, drifted, left
        in the running full pass, or not yet taken from the inbox. Approximate
        (one may be counted twice, the sets change as they are read); it only
        reads lengths, so any thread may call it."""
        return len(self._dirty) + len(self._sweep) + len(self._inbox)

    def steer(self, lb_id: str, steering: Steering | None) -> None:
        """Backend-list entries for the LEAST_CONNECTIONS pools of a load
        balancer (None: back to plain weights). Not stored: it follows the
        live statistics and is written to the NB only when the list changes."""
        with self._lock:
            wake = not self._inbox and not self._steer_inbox
            self._steer_inbox[lb_id] = steering
        if wake:
            self._wake()

    def _post(self, items: Iterable[tuple[str, model.LoadBalancer | None]]) -> None:
        with self._lock:
            before = len(self._inbox) + len(self._steer_inbox)
            self._inbox.update(items)
            # One wake-up per inbox the thread has not taken yet is enough.
            wake = before == 0 and len(self._inbox) > 0
        if wake:
            self._wake()

    def _wake(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(BlockingIOError):  # already awake
                os.write(self._wake_w, b"x")

    # --- the IDL thread -------------------------------------------------------------------

    def _main(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                self._idl = self._connect()
                while not self._stopping.is_set():
                    self._iterate()
                    backoff = 0.1
            except (ConnectionError, OSError) as exc:
                log.warning("ovn.nb_unreachable", remote=self.remote, error=str(exc), retry_s=backoff)
            except Exception:
                # A bug must not end realization for good: start over from a fresh replica.
                log.exception("ovn.nb_loop_failed", retry_s=backoff)
            finally:
                if self._idl:
                    self._idl.close()
                    self._idl = None
                    self._synced = False
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, 5.0)

    def _connect(self) -> _Idl:
        if ovs.json.PARSER != ovs.json.PARSER_C:
            log.warning("ovn.slow_json", detail="python-ovs has no C JSON parser (see scripts/setup)")
        helper = fetch_schema(self.remote)
        for table, columns in COLUMNS.items():
            helper.register_columns(table, columns)
        return _Idl(self.remote, helper, self._notify)

    def _iterate(self) -> None:
        idl = self._idl
        assert idl is not None
        idl.run()
        synced = idl._session.is_connected() and idl.state == idl.IDL_S_MONITORING
        if synced != self._synced:
            log.info("ovn.nb_connection", remote=idl.session_name(), synced=synced)
            if synced:  # (re)connected: compare everything
                self._converging = time.monotonic()
                self._full_due = 0.0
                self._topology_dirty = True
                self._rebuild_owned(idl)
            self._synced = synced
        if synced and self._topology_dirty:
            self._refresh_topology(idl)
        self._take_inbox()
        now = time.monotonic()
        if synced and now >= self._retry_at:
            if now >= self._full_due:
                self._full_due = now + self._full_interval
                self._sweep = set(self._desired) | set(self._owned)
                self._full_pass = (now, self._commands)
            if self._dirty or self._sweep:
                self._step(idl)
            if self._full_pass is not None and not self._dirty and not self._sweep:
                started, commands = self._full_pass
                self._full_pass = None
                self.last_full_pass = FullPass(
                    finished=time.time(),
                    seconds=time.monotonic() - started,
                    load_balancers=len(self._desired),
                    commands=self._commands - commands,
                )
                log.info(
                    "ovn.full_pass",
                    load_balancers=len(self._desired),
                    commands=self._commands - commands,
                    seconds=round(self.last_full_pass.seconds, 3),
                )
            if self._converging is not None and not self._dirty and not self._sweep:
                log.info(
                    "ovn.converged",
                    load_balancers=len(self._desired),
                    seconds=round(time.monotonic() - self._converging, 3),
                )
                self._converging = None
        p = poller.Poller()
        idl.wait(p)
        p.fd_wait(self._wake_r, poller.POLLIN)
        wake_at = max(self._retry_at, now) if self._dirty or self._sweep else self._full_due
        p.timer_wait(max(0, int((wake_at - time.monotonic()) * 1000)))
        p.block()
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        except OSError as exc:
            if exc.errno != errno.EBADF:
                raise

    def _take_inbox(self) -> None:
        with self._lock:
            inbox, self._inbox = self._inbox, {}
            steer, self._steer_inbox = self._steer_inbox, {}
        for lb_id, steering in steer.items():
            if steering is None:
                if self._steering.pop(lb_id, None) is None:
                    continue
            else:
                self._steering[lb_id] = steering
            if lb_id in self._desired:
                self._dirty.add(lb_id)
        for lb_id, lb in inbox.items():
            if lb is None:
                self._desired.pop(lb_id, None)
                self._steering.pop(lb_id, None)
                self._wanted.pop(lb_id, None)
                self._reported.pop(lb_id, None)
                self._dirty.add(lb_id)
                continue
            old = self._desired.get(lb_id)
            self._desired[lb_id] = lb
            # The same revision again (a re-offer after a restart): nothing new to realize.
            if old is None or old.revision != lb.revision or lb_id not in self._reported:
                self._dirty.add(lb_id)

    def _refresh_topology(self, idl: ovs_idl.Idl) -> None:
        self._topology_dirty = False
        old = self.topology.networks
        new = build_topology(idl)
        first = not self.topology.synced
        self.topology = Topology(new, synced=True)
        changed = {n for n in old.keys() | new.keys() if old.get(n) != new.get(n)}
        if changed or first:
            self.on_topology(self.topology)
        if changed:
            affected = {i for i, lb in self._desired.items() if lb.network_id in changed}
            self._dirty |= affected
            self._check_attach |= affected

    def _notify(self, event: str, row: ovs_idl.Row, updates: ovs_idl.Row | None) -> None:
        table = row._table.name
        if table == "Load_Balancer":
            ids = cmd.raw(row, "external_ids")
            if ids.get(OWNER_KEY) != OWNER:
                return
            lb_id = ids.get(LB_ID_KEY, "")
            rows = self._owned.setdefault(lb_id, {})
            self._verified.pop(row.uuid, None)
            if event == ovs_idl.ROW_DELETE:
                rows.pop(row.uuid, None)
                self._row_owner.pop(row.uuid, None)
            else:
                rows[row.uuid] = ids.get(LISTENER_ID_KEY, "")
                self._row_owner[row.uuid] = lb_id
            if not self._committing:
                self._dirty.add(lb_id)
        elif table in _TOPOLOGY_TABLES:
            changed = set(updates._data) if updates is not None else {"*"}
            if "load_balancer" in changed and event == ovs_idl.ROW_UPDATE:
                # References removed while the row they name lives on: someone
                # detached a row of ours (our own deletes remove the row too).
                # `updates` holds the diff (see _Idl).
                after = row._data["load_balancer"].values
                assert self._idl is not None
                rows = self._idl.tables["Load_Balancer"].rows
                for atom in updates._data["load_balancer"].values:
                    lb_id = self._row_owner.get(atom.value)
                    if lb_id is not None and atom not in after and atom.value in rows:
                        self._dirty.add(lb_id)
                        self._check_attach.add(lb_id)
            if changed - {"load_balancer"}:
                self._topology_dirty = True

    def _rebuild_owned(self, idl: ovs_idl.Idl) -> None:
        self._owned, self._row_owner, self._verified = {}, {}, {}
        for row in idl.tables["Load_Balancer"].rows.values():
            ids = cmd.raw(row, "external_ids")
            if ids.get(OWNER_KEY) == OWNER:
                lb_id = ids.get(LB_ID_KEY, "")
                self._owned.setdefault(lb_id, {})[row.uuid] = ids.get(LISTENER_ID_KEY, "")
                self._row_owner[row.uuid] = lb_id

    def _want(self, idl: ovs_idl.Idl, lb: model.LoadBalancer) -> _Want:
        deleting = lb.provisioning_status is model.ProvisioningStatus.PENDING_DELETE
        cached = self._wanted.get(lb.id)
        steering = self._steering.get(lb.id)
        if (
            cached
            and cached.revision == lb.revision
            and cached.deleting == deleting
            and cached.steering is steering
        ):
            return cached
        rows = {
            row.listener_id: {c: self._datum(idl, c, getattr(row, c)) for c in cmd.LB_COLUMNS}
            for row in translate.desired_rows(lb, steering)
        }
        want = _Want(lb.revision, deleting, rows, steering)
        self._wanted[lb.id] = want
        return want

    def _datum(self, idl: ovs_idl.Idl, column: str, value: Any) -> data.Datum:
        """Builds (and validates) a column's datum; the few values shared by
        many rows (protocol, selection fields, options) are built once."""
        shared = column in _SHARED_COLUMNS
        key = (column, value)
        if shared and key in self._datums:
            return self._datums[key]
        column_type = idl.tables["Load_Balancer"].columns[column].type
        if column in _STRING_COLUMNS:
            # Unconstrained strings in the schema: build the atoms directly,
            # python-ovs's validating path costs a tenth of a millisecond a row.
            return cmd.string_datum(column_type, value)
        built = data.Datum.from_python(column_type, cmd.column_value(column, value), cmd.as_uuid)
        if shared:
            self._datums[key] = built
        return built

    def _settled(self, idl: ovs_idl.Idl, lb_id: str) -> bool:
        """Whether a full pass may skip this load balancer: its revision was
        reported, and each of its rows is the very one verified since its last
        notification and is attached where it belongs."""
        lb = self._desired.get(lb_id)
        want = self._wanted.get(lb_id)
        owned = self._owned.get(lb_id)
        if lb is None or want is None or not owned or want.revision != lb.revision or want.deleting:
            return False
        if self._reported.get(lb_id) != (lb.revision, "") or len(owned) != len(want.rows):
            return False
        network = self.topology.networks.get(lb.network_id)
        if network is None:
            return False
        for row_uuid, listener_id in owned.items():
            if self._verified.get(row_uuid) is not want.rows.get(listener_id):
                return False
            if not all(_attached(idl, dp, row_uuid) for dp in network.datapaths):
                return False
        return True

    def _drift(self, row: ovs_idl.Row, columns: dict[str, data.Datum]) -> dict[str, data.Datum]:
        """Columns of an owned row that differ from what we want.

        A row found equal to these very datums, and not notified about since,
        needs no comparison: full passes stay cheap at 10,000 rows. (Datum
        identity would not do: python-ovs applies map and set diffs in place.)"""
        if self._verified.get(row.uuid) is columns:
            return {}
        drift = {c: d for c, d in columns.items() if cmd.datum(row, c) != d}
        if not drift:
            self._verified[row.uuid] = columns
        return drift

    def _step(self, idl: ovs_idl.Idl) -> None:
        # Changes first; a full pass goes on in slices beside them, so a
        # create does not wait behind a pass over 10,000 load balancers.
        batch = list(itertools.islice(self._dirty, MAX_STEP))
        self._dirty.difference_update(batch)
        swept = list(itertools.islice(self._sweep, SWEEP_STEP if batch else MAX_STEP))
        self._sweep.difference_update(swept)
        self._check_attach.update(swept)
        batch.extend(lb_id for lb_id in swept if lb_id not in self._dirty and not self._settled(idl, lb_id))
        batch = list(dict.fromkeys(batch))

        plans: list[tuple[str, list[cmd.Command], Realized | None]] = []
        missing_networks: set[str] = set()
        for lb_id in batch:
            check = lb_id in self._check_attach
            self._check_attach.discard(lb_id)
            commands, outcome = self._plan(idl, lb_id, check, missing_networks)
            plans.append((lb_id, commands, outcome))
        if missing_networks:
            self._commit(idl, [cmd.CreateSwitch(n) for n in sorted(missing_networks)])
            self._topology_dirty = True
            self._dirty.update(batch)  # realize them once the switches are known
            return
        status, error = self._commit(idl, [c for _, commands, _ in plans for c in commands])
        if status == "retry":
            self._dirty.update(batch)
            self._retry_at = time.monotonic() + RETRY_DELAY
            return
        if status == "error" and len(plans) > 1:
            # One bad load balancer must not hold back the others: go one by one.
            for lb_id, commands, outcome in plans:
                one, err = self._commit(idl, commands)
                if one == "retry":
                    self._dirty.add(lb_id)
                    self._retry_at = time.monotonic() + RETRY_DELAY
                elif outcome:
                    self._report(outcome if one == "ok" else replace(outcome, error=err))
        else:
            for _, _, outcome in plans:
                if outcome:
                    self._report(outcome if status == "ok" else replace(outcome, error=error))
        reports, self._reports = self._reports, []
        if reports:
            self.on_realized(reports)

    def _plan(
        self,
        idl: ovs_idl.Idl,
        lb_id: str,
        check_attach: bool,
        missing_networks: set[str],
    ) -> tuple[list[cmd.Command], Realized | None]:
        lb = self._desired.get(lb_id)
        rows = idl.tables["Load_Balancer"].rows
        have: dict[str, ovs_idl.Row] = {}
        commands: list[cmd.Command] = []
        for row_uuid, listener_id in list(self._owned.get(lb_id, {}).items()):
            row = rows.get(row_uuid)
            if row is None:
                continue
            if listener_id in have:  # a duplicate (copied by hand): keep one
                commands.append(cmd.DeleteLoadBalancer(row_uuid))
            else:
                have[listener_id] = row
        if lb is None:
            return commands + [cmd.DeleteLoadBalancer(r.uuid) for r in have.values()], None
        want = self._want(idl, lb)
        if want.deleting:
            deletes = [cmd.DeleteLoadBalancer(r.uuid) for r in have.values()]
            return commands + deletes, Realized(lb.id, lb.revision, deleted=True, load_balancer=lb)
        network = self.topology.networks.get(lb.network_id)
        if network is None:
            if self.create_networks:
                missing_networks.add(lb.network_id)
                return [], None
            reason = f"network {lb.network_id!r} is not known to OVN Northbound"
            return [], Realized(lb.id, lb.revision, error=reason, load_balancer=lb)
        datapaths = network.datapaths
        for listener_id, columns in want.rows.items():
            row = have.pop(listener_id, None)
            if row is None:
                commands.append(cmd.CreateLoadBalancer(columns, datapaths))
                continue
            drift = self._drift(row, columns)
            if drift:
                commands.append(cmd.SetLoadBalancer(row.uuid, drift))
            if check_attach:
                commands.extend(
                    cmd.Attach(dp, row.uuid) for dp in datapaths if not _attached(idl, dp, row.uuid)
                )
        commands.extend(cmd.DeleteLoadBalancer(r.uuid) for r in have.values())
        return commands, Realized(lb.id, lb.revision, load_balancer=lb)

    def _commit(self, idl: ovs_idl.Idl, commands: list[cmd.Command]) -> tuple[str, str]:
        if not commands:
            return "ok", ""
        txn = ovs_idl.Transaction(idl)
        for command in commands:
            command.run(txn, idl)
        started = time.perf_counter()
        self._committing = True
        try:
            status = txn.commit_block()
        finally:
            self._committing = False
        seconds = time.perf_counter() - started
        ms = round(seconds * 1000, 2)
        if status in (ovs_idl.Transaction.SUCCESS, ovs_idl.Transaction.UNCHANGED):
            self._commands += len(commands)
            self.on_transaction("ok", seconds, len(commands))
            log.debug("ovn.txn", commands=len(commands), ms=ms)
            return "ok", ""
        if status == ovs_idl.Transaction.TRY_AGAIN:
            self.on_transaction("retry", seconds, 0)
            log.info("ovn.txn_retry", commands=len(commands), ms=ms)
            return "retry", ""
        self.on_transaction("error", seconds, 0)
        error = txn.get_error() or ovs_idl.Transaction.status_to_string(status)
        log.warning("ovn.txn_failed", status=status, error=error, commands=len(commands))
        return "error", f"OVN Northbound rejected the change: {error}"

    def _report(self, outcome: Realized) -> None:
        key = (outcome.revision, outcome.error)
        if outcome.deleted or self._reported.get(outcome.lb_id) != key:
            self._reported[outcome.lb_id] = key
            self._reports.append(outcome)
