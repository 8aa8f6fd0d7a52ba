"""The one owner of the Northbound IDL, and the reconciler it runs.

A dedicated thread loops idl.run -> reconcile step -> poller.block. Callers on
the event loop hand it desired load balancers (`offer`) and read an immutable
topology snapshot; results come back through `on_realized`.

Each step turns every load balancer that changed since the last step into
commands and commits them as ONE transaction (group commit). A full pass
compares every desired load balancer and every owned row: at start, after each
reconnect, when the topology changes and every FULL_INTERVAL seconds, so edits
made behind our back (ovn-nbctl) are repaired within seconds. Owned rows are
found by their external_ids; rows we do not own are never touched.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import structlog
from ovs import jsonrpc, poller, stream
from ovs.db import idl as ovs_idl

from quantix_lb import model
from quantix_lb.ovn import commands as cmd
from quantix_lb.ovn import translate
from quantix_lb.ovn.translate import LB_ID_KEY, LISTENER_ID_KEY, NETWORK_ID_KEY, OWNER, OWNER_KEY, Network

log = structlog.get_logger(__name__)

FULL_INTERVAL = 3.0
MAX_STEP = 1000  # load balancers per transaction
RETRY_DELAY = 0.2
COLUMNS = {
    "Load_Balancer": list(cmd.LB_COLUMNS),
    "Logical_Switch": ["name", "ports", "load_balancer", "other_config", "external_ids"],
    "Logical_Switch_Port": ["name", "type", "options", "addresses"],
    "Logical_Router": ["name", "ports", "load_balancer"],
    "Logical_Router_Port": ["name", "networks"],
}
_TOPOLOGY_TABLES = frozenset(
    {"Logical_Switch", "Logical_Switch_Port", "Logical_Router", "Logical_Router_Port"}
)


@dataclass(frozen=True)
class Realized:
    """The outcome of realizing one revision of a load balancer."""

    lb_id: str
    revision: int
    error: str = ""
    deleted: bool = False


@dataclass(frozen=True)
class Topology:
    networks: dict[str, Network]
    synced: bool = False  # False until the IDL has loaded the NB once


def fetch_schema(remote: str, timeout: float = 2.0) -> ovs_idl.SchemaHelper:
    """The NB schema as the server has it (a newer OVN may have more columns)."""
    last = "no remote"
    for one in _split_remotes(remote):
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


def _split_remotes(remote: str) -> list[str]:
    return [r.strip() for r in remote.split(",") if r.strip()]


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
        routers, addresses = [], set(used)
        for lsp in ls.ports:
            if lsp.type == "router":
                router = router_of_port.get(lsp.options.get("router-port", ""))
                if router is not None:
                    routers.append(router)
            for entry in lsp.addresses:
                addresses.update(part for part in entry.split()[1:] if part != "dynamic")
        net_id = ls.external_ids.get(NETWORK_ID_KEY, "")
        network = Network(
            network_id=ls.name,
            switch=ls.uuid,
            switch_name=ls.name,
            routers=tuple(sorted(set(routers))),
            subnet=ls.other_config.get("subnet"),
            used_addresses=frozenset(addresses),
            owned=ls.external_ids.get(OWNER_KEY) == OWNER,
        )
        if ls.name:
            networks[ls.name] = network
        if net_id:
            by_extid[net_id] = Network(**{**network.__dict__, "network_id": net_id})
    for net_id, network in by_extid.items():
        networks.setdefault(net_id, network)
    return networks


class _Idl(ovs_idl.Idl):
    """Forwards row notifications to the reconciler (same thread)."""

    def __init__(self, remote: str, helper: ovs_idl.SchemaHelper, hook: Callable[..., None]) -> None:
        super().__init__(remote, helper, leader_only=True)
        self._hook = hook

    def notify(self, event: str, row: ovs_idl.Row, updates: ovs_idl.Row | None = None) -> None:
        self._hook(event, row, updates)


class NbRealizer:
    def __init__(
        self,
        remote: str,
        *,
        create_networks: bool,
        on_realized: Callable[[list[Realized]], None],
        full_interval: float = FULL_INTERVAL,
    ) -> None:
        self.remote = remote
        self.create_networks = create_networks
        self._on_realized = on_realized
        self._full_interval = full_interval
        self._lock = threading.Lock()
        self._inbox: dict[str, model.LoadBalancer | None] = {}
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None
        self.topology = Topology({})
        # Owned only by the IDL thread:
        self._idl: _Idl | None = None
        self._desired: dict[str, model.LoadBalancer] = {}
        self._dirty: set[str] = set()
        self._owned: dict[str, dict[uuid.UUID, str]] = {}  # lb id -> row uuid -> listener id
        self._reported: dict[str, tuple[int, str]] = {}
        self._pending_reports: list[Realized] = []
        self._topology_dirty = True
        self._full_due = 0.0
        self._conn_seqno = -1
        self._synced = False
        self._retry_at = 0.0

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
        with self._lock:
            for lb in lbs:
                self._inbox[lb.id] = lb
        self._wake()

    def forget(self, lb_ids: Iterable[str]) -> None:
        """These load balancers are gone from the store: remove whatever is left."""
        with self._lock:
            for lb_id in lb_ids:
                self._inbox[lb_id] = None
        self._wake()

    def network(self, network_id: str) -> Network | None:
        return self.topology.networks.get(network_id)

    def _wake(self) -> None:
        if self._wake_w >= 0:
            with contextlib.suppress(BlockingIOError):  # already awake
                os.write(self._wake_w, b"x")

    # --- the IDL thread -------------------------------------------------------------------

    def _main(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set():
            try:
                helper = fetch_schema(self.remote)
            except (ConnectionError, OSError) as exc:
                log.warning("ovn.nb_unreachable", remote=self.remote, error=str(exc), retry_s=backoff)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            for table, columns in COLUMNS.items():
                helper.register_columns(table, columns)
            self._idl = _Idl(self.remote, helper, self._notify)
            break
        try:
            while not self._stopping.is_set():
                self._iterate()
        except Exception:
            log.exception("ovn.nb_thread_crashed")
            raise
        finally:
            if self._idl:
                self._idl.close()

    def _iterate(self) -> None:
        idl = self._idl
        assert idl is not None
        idl.run()
        session = idl._session  # python-ovs exposes no public connection seqno
        seqno = session.get_seqno()
        synced = session.is_connected() and idl.state == idl.IDL_S_MONITORING
        if seqno != self._conn_seqno:
            self._conn_seqno = seqno
            log.info("ovn.nb_connection", remote=idl.session_name(), connected=session.is_connected())
        if synced and not self._synced:
            self._full_due = 0.0  # (re)connected: compare everything
            self._topology_dirty = True
        self._synced = synced
        if synced and self._topology_dirty:
            self._topology_dirty = False
            self.topology = Topology(build_topology(idl), synced=True)
            self._full_due = min(self._full_due, time.monotonic() + 0.05)
        self._take_inbox()
        now = time.monotonic()
        if synced and now >= self._retry_at:
            full = now >= self._full_due
            if full:
                self._full_due = now + self._full_interval
                self._rebuild_owned(idl)
                self._dirty |= set(self._desired) | set(self._owned)
            if self._dirty:
                self._step(idl, full)
        p = poller.Poller()
        idl.wait(p)
        p.fd_wait(self._wake_r, poller.POLLIN)
        wake_at = self._full_due if not self._dirty else max(self._retry_at, now)
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
        for lb_id, lb in inbox.items():
            if lb is None:
                self._desired.pop(lb_id, None)
                self._reported.pop(lb_id, None)
            else:
                self._desired[lb_id] = lb
            self._dirty.add(lb_id)

    def _notify(self, event: str, row: ovs_idl.Row, updates: ovs_idl.Row | None) -> None:
        table = row._table.name
        if table == "Load_Balancer":
            ids = cmd.raw(row, "external_ids") or {}
            if ids.get(OWNER_KEY) != OWNER:
                return
            lb_id = ids.get(LB_ID_KEY, "")
            rows = self._owned.setdefault(lb_id, {})
            if event == ovs_idl.ROW_DELETE:
                rows.pop(row.uuid, None)
            else:
                rows[row.uuid] = ids.get(LISTENER_ID_KEY, "")
            self._dirty.add(lb_id)
        elif table in _TOPOLOGY_TABLES:
            # Our own attachments change only `load_balancer`; that is not topology.
            changed = set(updates._data) if updates is not None else {"*"}
            if changed - {"load_balancer"}:
                log.info("ovn.topology_changed", table=table, change=event, columns=sorted(changed))
                self._topology_dirty = True

    def _rebuild_owned(self, idl: ovs_idl.Idl) -> None:
        owned: dict[str, dict[uuid.UUID, str]] = {}
        for row in idl.tables["Load_Balancer"].rows.values():
            ids = cmd.raw(row, "external_ids") or {}
            if ids.get(OWNER_KEY) == OWNER:
                owned.setdefault(ids.get(LB_ID_KEY, ""), {})[row.uuid] = ids.get(LISTENER_ID_KEY, "")
        self._owned = owned

    def _step(self, idl: ovs_idl.Idl, full: bool) -> None:
        batch = sorted(self._dirty)[:MAX_STEP]
        attached: dict[uuid.UUID, set[uuid.UUID]] = {}

        def attached_to(dp: uuid.UUID) -> set[uuid.UUID]:
            if dp not in attached:
                row = cmd.datapath(idl, dp)
                attached[dp] = set(cmd.raw(row, "load_balancer") or ()) if row is not None else set()
            return attached[dp]

        plans: list[tuple[str, list[cmd.Command], Realized | None]] = []
        missing_networks: set[str] = set()
        for lb_id in batch:
            commands, outcome = self._plan(idl, lb_id, full, attached_to, missing_networks)
            plans.append((lb_id, commands, outcome))
        if missing_networks:
            self._commit(idl, [cmd.CreateSwitch(n) for n in sorted(missing_networks)])
            self._topology_dirty = True
            return  # realize those load balancers once the switches are known
        self._dirty.difference_update(batch)
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
                    self._report(outcome if one == "ok" else Realized(lb_id, outcome.revision, error=err))
            self._flush_reports()
            return
        for lb_id, _, outcome in plans:
            if outcome:
                self._report(outcome if status == "ok" else Realized(lb_id, outcome.revision, error=error))
        self._flush_reports()

    def _plan(
        self,
        idl: ovs_idl.Idl,
        lb_id: str,
        full: bool,
        attached_to: Callable[[uuid.UUID], set[uuid.UUID]],
        missing_networks: set[str],
    ) -> tuple[list[cmd.Command], Realized | None]:
        lb = self._desired.get(lb_id)
        rows = idl.tables["Load_Balancer"].rows
        have: dict[str, ovs_idl.Row] = {}
        extra: list[cmd.Command] = []
        for row_uuid, listener_id in list(self._owned.get(lb_id, {}).items()):
            row = rows.get(row_uuid)
            if row is None:
                continue
            if listener_id in have:  # a duplicate (copied by hand): keep one
                extra.append(cmd.DeleteLoadBalancer(row_uuid))
            else:
                have[listener_id] = row
        if lb is None:
            return extra + [cmd.DeleteLoadBalancer(r.uuid) for r in have.values()], None
        if lb.provisioning_status is model.ProvisioningStatus.PENDING_DELETE:
            deletes = [cmd.DeleteLoadBalancer(r.uuid) for r in have.values()]
            return extra + deletes, Realized(lb.id, lb.revision, deleted=True)
        network = self.topology.networks.get(lb.network_id)
        if network is None:
            if self.create_networks:
                missing_networks.add(lb.network_id)
                return [], None
            return [], Realized(
                lb.id, lb.revision, error=f"network {lb.network_id!r} is not known to OVN Northbound"
            )
        commands = extra
        for want in translate.desired_rows(lb):
            row = have.pop(want.listener_id, None)
            if row is None:
                commands.append(cmd.CreateLoadBalancer(want, network.datapaths))
                continue
            columns = cmd.drifted(row, want)
            if columns:
                commands.append(cmd.SetLoadBalancer(row.uuid, want, tuple(columns)))
            if full:
                commands.extend(
                    cmd.Attach(dp, row.uuid) for dp in network.datapaths if row.uuid not in attached_to(dp)
                )
        commands.extend(cmd.DeleteLoadBalancer(r.uuid) for r in have.values())
        return commands, Realized(lb.id, lb.revision)

    def _commit(self, idl: ovs_idl.Idl, commands: list[cmd.Command]) -> tuple[str, str]:
        if not commands:
            return "ok", ""
        txn = ovs_idl.Transaction(idl)
        for command in commands:
            command.run(txn, idl)
        started = time.perf_counter()
        status = txn.commit_block()
        ms = round((time.perf_counter() - started) * 1000, 2)
        if status in (ovs_idl.Transaction.SUCCESS, ovs_idl.Transaction.UNCHANGED):
            log.debug("ovn.txn", commands=len(commands), ms=ms)
            return "ok", ""
        if status == ovs_idl.Transaction.TRY_AGAIN:
            log.info("ovn.txn_retry", commands=len(commands), ms=ms)
            return "retry", ""
        error = txn.get_error() or ovs_idl.Transaction.status_to_string(status)
        log.warning("ovn.txn_failed", status=status, error=error, commands=len(commands))
        return "error", f"OVN Northbound rejected the change: {error}"

    def _report(self, outcome: Realized) -> None:
        key = (outcome.revision, outcome.error)
        if outcome.deleted or self._reported.get(outcome.lb_id) != key:
            self._reported[outcome.lb_id] = key
            self._pending_reports.append(outcome)

    def _flush_reports(self) -> None:
        reports, self._pending_reports = self._pending_reports, []
        if reports:
            self._on_realized(reports)
