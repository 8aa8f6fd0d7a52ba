"""The reconciler: desired load balancers in, small NB commands out.

It runs on the IDL loop's thread (see loop.py). Each step turns every load
balancer that changed since the last step into small commands and commits
them as ONE transaction (group commit).

Drift is found two ways. Events: a change to an owned Load_Balancer row, or an
owned row dropped from a switch or router, marks its load balancer for
repair at once. Full passes: at start, after every reconnect, when the
topology changes and every FULL_INTERVAL seconds, every desired load balancer
and every owned row are compared. Notifications caused by our own commits are
not treated as drift, so a change someone makes during one of our commits
waits for the next full pass. Owned rows carry our external_ids; rows we do
not own are never touched (see index.py).
"""

from __future__ import annotations

import collections
import functools
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import structlog
from ovs.db import data
from ovs.db import idl as ovs_idl

from quantix_lb import model
from quantix_lb.ovn import commands as cmd
from quantix_lb.ovn import topology as topo
from quantix_lb.ovn import translate
from quantix_lb.ovn.contract import FullPass, ProbePortRow, Realized, Steering, Topology
from quantix_lb.ovn.desired import Desired
from quantix_lb.ovn.index import OwnedRows, attached
from quantix_lb.ovn.probeports import by_name, probe_port_commands

log = structlog.get_logger(__name__)
# What one load balancer (or network) needs: its key, its commands, its outcome once committed.
Plan = tuple[str, list[cmd.Command], Realized | None]

FULL_INTERVAL = 5.0
MAX_STEP = 1000  # load balancers per transaction
SWEEP_STEP = 200  # load balancers of a full pass checked beside pending changes
RETRY_DELAY = 0.2
# Desired records packed per turn, while changes are pending and when idle (~50 us each).
PACK_STEP = 64
PACK_IDLE_STEP = 1000
# What the reconciler reads of the replica.
COLUMNS = {
    "Load_Balancer": list(cmd.LB_COLUMNS),
    "Logical_Switch": ["name", "ports", "load_balancer", "other_config", "external_ids"],
    "Logical_Switch_Port": ["name", "type", "options", "addresses", "port_security", "external_ids"],
    "Logical_Router": ["name", "ports", "load_balancer"],
    "Logical_Router_Port": ["name", "networks"],
}
_SHARED_COLUMNS = frozenset({"protocol", "selection_fields", "options"})
_STRING_COLUMNS = frozenset({"name", "vips", "external_ids"})


class Inbox:
    """Desired changes from any thread, taken by the IDL thread in one go;
    the latest word about a load balancer wins."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._initial: dict[str, Desired] | None = None  # the whole desired state, until taken
        self._lbs: dict[str, Desired | None] = {}  # None: forget it
        self._steering: dict[str, Steering | None] = {}
        self._probe_ports: tuple[ProbePortRow, ...] | None = None  # None: no news

    def post_initial(self, desired: Iterable[Desired]) -> None:
        """The whole desired state at start, before any change is posted. It is taken
        in one go with the changes posted since (applied after it): from then on a
        full pass may remove what is not desired."""
        initial = {d.id: d for d in desired}
        with self._lock:
            self._initial = initial

    def post(self, items: Iterable[tuple[str, Desired | None]]) -> bool:
        """Whether the taker needs a wake-up: one per inbox not yet taken is enough."""
        with self._lock:
            before = len(self._lbs) + len(self._steering)
            self._lbs.update(items)
            return before == 0 and len(self._lbs) > 0

    def steer(self, lb_id: str, steering: Steering | None) -> bool:
        with self._lock:
            wake = not self._lbs and not self._steering
            self._steering[lb_id] = steering
        return wake

    def set_probe_ports(self, ports: Iterable[ProbePortRow]) -> bool:
        with self._lock:
            wake = not self._lbs and not self._steering and self._probe_ports is None
            self._probe_ports = tuple(ports)
        return wake

    def take_probe_ports(self) -> tuple[ProbePortRow, ...] | None:
        with self._lock:
            ports, self._probe_ports = self._probe_ports, None
        return ports

    def take(
        self,
    ) -> tuple[dict[str, Desired] | None, dict[str, Desired | None], dict[str, Steering | None]]:
        """(the initial state if not taken yet, changes, steering)"""
        with self._lock:
            initial, self._initial = self._initial, None
            lbs, self._lbs = self._lbs, {}
            steering, self._steering = self._steering, {}
        return initial, lbs, steering

    def __len__(self) -> int:
        return len(self._lbs) + len(self._initial or ())


@dataclass(frozen=True, slots=True)
class Mark:
    """What a load balancer's rows are verified against (OwnedRows.verified): a
    revision and steering, so the same translation row for row, and how many rows
    it has. Kept per load balancer, one object while they stay, instead of the
    translation (~20 MB of rows at 10,000 load balancers)."""

    revision: int
    deleting: bool
    steering: Steering | None
    rows: int
    digest: bytes  # of the rows' content (commands.content_digest), kept across a restart


@dataclass(frozen=True)
class Want:
    """The translation of one revision: per listener, its row. The datums OVSDB
    holds are built from it when a row is written or compared (Wants.columns),
    not kept: at 10,000 load balancers they cost ~45 MB."""

    mark: Mark
    rows: dict[str, translate.LbRow]

    @property
    def deleting(self) -> bool:
        return self.mark.deleting


class Wants:
    """Each load balancer's Mark, kept while its revision and steering stay, and
    the datums many rows share (protocol, selection fields, options)."""

    def __init__(self) -> None:
        self._marks: dict[str, Mark] = {}
        self._shared: dict[tuple[str, Any], data.Datum] = {}

    def mark(self, lb_id: str) -> Mark | None:
        return self._marks.get(lb_id)

    def drop(self, lb_id: str) -> None:
        self._marks.pop(lb_id, None)

    def of(self, idl: ovs_idl.Idl, lb: model.LoadBalancer, steering: Steering | None) -> Want:
        """The translation, made afresh (planning is rare once in step: full passes
        check marks), with the load balancer's Mark."""
        deleting = lb.provisioning_status is model.ProvisioningStatus.PENDING_DELETE
        rows = {row.listener_id: row for row in translate.desired_rows(lb, steering)}
        mark = self._marks.get(lb.id)
        if (
            mark is None
            or mark.revision != lb.revision
            or mark.deleting != deleting
            or mark.steering is not steering
            or mark.rows != len(rows)
        ):
            digest = cmd.content_digest(cmd.wanted_content(row) for row in rows.values())
            mark = self._marks[lb.id] = Mark(lb.revision, deleting, steering, len(rows), digest)
        return Want(mark, rows)

    def adopt(self, lb_id: str, mark: Mark) -> None:
        """A mark found to hold in the NB without a translation (Reconciler._adopt)."""
        self._marks[lb_id] = mark

    def columns(self, idl: ovs_idl.Idl, row: translate.LbRow) -> dict[str, data.Datum]:
        """The row's columns as the datums OVSDB holds (built and validated)."""
        columns = idl.tables["Load_Balancer"].columns
        return {c: self._datum(columns, c, getattr(row, c)) for c in cmd.LB_COLUMNS}

    def _datum(self, columns: Mapping[str, Any], column: str, value: Any) -> data.Datum:
        """Builds (and validates) a column's datum; shared values are built once."""
        shared = column in _SHARED_COLUMNS
        key = (column, value)
        if shared and key in self._shared:
            return self._shared[key]
        column_type = columns[column].type
        if column in _STRING_COLUMNS:
            # Unconstrained strings in the schema: build the atoms directly,
            # python-ovs's validating path costs a tenth of a millisecond a row.
            return cmd.string_datum(column_type, value)
        built = data.Datum.from_python(column_type, cmd.column_value(column, value), cmd.as_uuid)
        if shared:
            self._shared[key] = built
        return built


class Committer:
    """Commits commands as one transaction; counts them and reports each
    transaction (outcome, seconds, commands) to `on_transaction`."""

    def __init__(self) -> None:
        self.on_transaction: Callable[[str, float, int], None] = lambda outcome, seconds, commands: None
        self.ours = False  # inside a commit: the notifications are about our own change
        self.commands = 0  # NB commands committed, ever

    def commit(self, idl: ovs_idl.Idl, commands: list[cmd.Command]) -> tuple[str, str]:
        """("ok" | "retry" | "error", the error)."""
        if not commands:
            return "ok", ""
        txn = ovs_idl.Transaction(idl)
        for command in commands:
            command.run(txn, idl)
        started = time.perf_counter()
        self.ours = True
        try:
            status = txn.commit_block()
        finally:
            self.ours = False
        seconds = time.perf_counter() - started
        ms = round(seconds * 1000, 2)
        if status in (ovs_idl.Transaction.SUCCESS, ovs_idl.Transaction.UNCHANGED):
            self.commands += len(commands)
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


class FullPasses:
    """When the next full pass is due, the one running, the last finished."""

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self.due = 0.0  # time.monotonic
        self.last: FullPass | None = None
        self._running: tuple[float, int] | None = None  # (started, commands then)
        self._converging: float | None = None  # since when the first pass after a sync runs

    def resynced(self) -> None:
        """Everything is compared at once, and its end logged as convergence."""
        self._converging = time.monotonic()
        self.due = 0.0

    def begin(self, now: float, commands: int) -> bool:
        """Whether a pass begins now."""
        if now < self.due:
            return False
        self.due = now + self.interval
        self._running = (now, commands)
        return True

    def caught_up(self, load_balancers: int, commands: int) -> None:
        """Nothing is left to check: the running pass, if any, is complete."""
        if self._running is not None:
            started, before = self._running
            self._running = None
            self.last = FullPass(
                finished=time.time(),
                seconds=time.monotonic() - started,
                load_balancers=load_balancers,
                commands=commands - before,
            )
            log.info(
                "ovn.full_pass",
                load_balancers=load_balancers,
                commands=commands - before,
                seconds=round(self.last.seconds, 3),
            )
        if self._converging is not None:
            log.info(
                "ovn.converged",
                load_balancers=load_balancers,
                seconds=round(time.monotonic() - self._converging, 3),
            )
            self._converging = None


class Reconciler:
    """The IDL loop's task (loop.IdlTask). Everything here is the IDL thread's,
    except `pending`, which only reads lengths."""

    def __init__(
        self,
        inbox: Inbox,
        *,
        create_networks: bool,
        full_interval: float = FULL_INTERVAL,
        on_topology: Callable[[Topology], None] = lambda topology: None,
    ) -> None:
        self.create_networks = create_networks
        self.on_realized: Callable[[list[Realized]], None] = lambda outcomes: None
        self.topology = Topology()
        self.committer = Committer()
        self.passes = FullPasses(full_interval)
        self._on_topology = on_topology
        self._inbox = inbox
        self._index = OwnedRows()
        self._wants = Wants()
        self._desired: dict[str, Desired] = {}
        self._unpacked: list[Desired] = []  # planned, not yet packed
        self._steering: dict[str, Steering] = {}
        self._dirty: set[str] = set()  # changed or drifted: realized first
        # The rest of the running full pass, in order. Not a set: a set drained from its
        # front keeps its table, and every step's slice scanned it (~0.3 ms at 10,000).
        self._sweep: collections.deque[str] = collections.deque()
        self._check_attach: set[str] = set()
        self._reported: dict[str, tuple[int, str]] = {}  # lb id -> (revision, error) last reported
        self._reports: list[Realized] = []  # not yet handed to on_realized
        self._topology_dirty = True
        self._retry_at = 0.0
        # None until the control plane names the probe ports: until then the NB's
        # are left alone (a restart must not take the workers' ports away).
        self._probe_ports: dict[str, ProbePortRow] | None = None
        self._probe_dirty = False
        self._desired_known = False  # until the inbox's initial state is taken, nothing is written
        # What the last run found in the NB (verified.cache): lb id -> (revision, digest of
        # its rows). Taken once, by the first full pass; then empty.
        self._saved: dict[str, tuple[int, bytes]] = {}
        self._saved_count: int | None = None
        self._load_saved: Callable[[], Iterable[tuple[str, int, bytes]]] | None = None
        self.adopted = 0  # load balancers the first pass found as saved, untranslated
        self.planned = 0  # load balancers planned (decoded, translated, compared)
        # Whether the replica was complete at the start of this turn: the rows a
        # (re)connect's first read notifies about are no changes (`synced` indexes
        # them all, and the full pass it starts compares them a slice at a time).
        self._replica_complete = False

    def adopt_saved(self, load: Callable[[], Iterable[tuple[str, int, bytes]]]) -> None:
        """What a previous run verified (verified_state), before the loop starts: the first
        full pass takes a load balancer at that revision whose rows hash to that digest as
        realized, without decoding and translating it (a third of that pass at 10,000).
        Loaded when that pass begins, after the NB's first read: loaded before it, its
        ~3 MB, freed after the pass, were holes among the replica's objects."""
        self._load_saved = load

    def verified_state(self) -> list[tuple[str, int, bytes]]:
        """(lb id, revision, digest) of each load balancer whose rows are verified as its
        latest revision without steering (for adopt_saved); once the loop has stopped."""
        found = []
        for lb_id in self._desired:
            mark = self._verified_mark(lb_id)
            if mark is not None and mark.steering is None:
                found.append((lb_id, mark.revision, mark.digest))
        return found

    def pending(self) -> int:
        """Load balancers changed, drifted or left in the running full pass
        (approximate: the sets change as they are read)."""
        return len(self._dirty) + len(self._sweep)

    # --- loop.IdlTask ---------------------------------------------------------------------

    def synced(self, idl: ovs_idl.Idl) -> None:
        self.passes.resynced()
        self._topology_dirty = True
        self._index.rebuild(idl.tables["Load_Balancer"].rows.values())

    def run(self, idl: ovs_idl.Idl, synced: bool) -> float | None:
        self._replica_complete = synced
        if synced and self._topology_dirty:
            self._refresh_topology(idl)
        self._take(*self._inbox.take())
        ports = self._inbox.take_probe_ports()
        if ports is not None:
            self._probe_ports, self._probe_dirty = by_name(ports), True
        if not synced or not self._desired_known:
            return None  # until the replica is complete again, and we know what we want
        now = time.monotonic()
        if now >= self._retry_at and self._probe_dirty:
            self._sync_probe_ports(idl)
        if now >= self._retry_at:
            if self.passes.begin(now, self.committer.commands):
                if self._load_saved is not None:
                    saved, self._load_saved = self._load_saved(), None
                    self._saved = {lb_id: (revision, digest) for lb_id, revision, digest in saved}
                    self._saved_count = len(self._saved)
                self._sweep = collections.deque(
                    dict.fromkeys(itertools.chain(self._desired, self._index.by_lb))
                )
            if self._dirty or self._sweep:
                self._step(idl)
            if not self._dirty and not self._sweep:
                self.passes.caught_up(len(self._desired), self.committer.commands)
                if self._saved_count is not None:  # the first full pass is over
                    log.info(
                        "ovn.saved_state_adopted",
                        adopted=self.adopted,
                        saved=self._saved_count,
                        planned=self.planned,
                    )
                    self._saved, self._saved_count = {}, None
        busy = self._dirty or self._sweep or self._probe_dirty
        if self._unpacked:
            self._pack(PACK_STEP if busy else PACK_IDLE_STEP)
            if self._unpacked and not busy:
                return now  # more to pack: soon, a slice at a time
        return max(self._retry_at, now) if busy else self.passes.due

    def notify(
        self,
        idl: ovs_idl.Idl,
        event: str,
        table: str,
        row: ovs_idl.Row,
        changes: Mapping[str, data.Datum] | None,
    ) -> None:
        if table == "Load_Balancer":
            if not self._replica_complete:
                return
            lb_id = self._index.changed(event, row)
            if lb_id is not None and not self.committer.ours:
                self._dirty.add(lb_id)
        elif table in topo.TABLES:
            changed = changes.keys() if changes is not None else {"*"}
            if "load_balancer" in changed and event == ovs_idl.ROW_UPDATE:
                assert changes is not None
                for lb_id in self._index.detached(idl, row, changes["load_balancer"]):
                    self._dirty.add(lb_id)
                    self._check_attach.add(lb_id)
            if changed - {"load_balancer"}:
                self._topology_dirty = True

    # --- the desired state ----------------------------------------------------------------

    def _take(
        self,
        initial: dict[str, Desired] | None,
        lbs: dict[str, Desired | None],
        steering: dict[str, Steering | None],
    ) -> None:
        if initial is not None:
            # Not marked changed: the first full pass compares them all (one is due
            # at every sync), a slice at a time beside the changes that come meanwhile,
            # so a create after a restart does not wait behind 10,000 comparisons.
            self._desired.update(initial)
            self._desired_known = True
        for lb_id, one in steering.items():
            if one is None:
                if self._steering.pop(lb_id, None) is None:
                    continue
            else:
                self._steering[lb_id] = one
            if lb_id in self._desired:
                self._dirty.add(lb_id)
        for lb_id, lb in lbs.items():
            if lb is None:
                self._desired.pop(lb_id, None)
                self._steering.pop(lb_id, None)
                self._wants.drop(lb_id)
                self._reported.pop(lb_id, None)
                self._dirty.add(lb_id)
                continue
            old = self._desired.get(lb_id)
            self._desired[lb_id] = lb
            # The same revision again (a re-offer after a restart): nothing new to realize.
            if old is None or old.revision != lb.revision or lb_id not in self._reported:
                self._dirty.add(lb_id)

    def _pack(self, count: int) -> None:
        """Packs records planned earlier (off the path of the changes that planned them)."""
        packing, self._unpacked = self._unpacked[:count], self._unpacked[count:]
        for entry in packing:
            entry.pack()

    def _refresh_topology(self, idl: ovs_idl.Idl) -> None:
        self._topology_dirty = False
        old = self.topology.networks
        new = topo.build_topology(idl)
        first = not self.topology.synced
        self.topology = Topology(new, synced=True)
        changed = {n for n in old.keys() | new.keys() if old.get(n) != new.get(n)}
        if changed or first:
            self._on_topology(self.topology)
            self._probe_dirty = True  # a probe port dropped by hand, or its network appeared
        # Not on the first topology: every network is new then, yet nothing changed. The
        # full pass a sync starts compares every load balancer, attachments included
        # (marked changed, all 10,000 queued ahead of a create after a restart).
        if changed and not first:
            affected = {i for i, lb in self._desired.items() if lb.network_id in changed}
            self._dirty |= affected
            self._check_attach |= affected

    def _sync_probe_ports(self, idl: ovs_idl.Idl) -> None:
        self._probe_dirty = False
        if self._probe_ports is None:
            return
        commands = probe_port_commands(idl, self._probe_ports, self.topology.networks)
        if not commands:
            return
        status, error = self.committer.commit(idl, commands)
        if status == "retry":
            self._probe_dirty = True
            self._retry_at = time.monotonic() + RETRY_DELAY
        elif status == "error":
            log.error("ovn.probe_ports_refused", error=error, ports=sorted(self._probe_ports))
        self._topology_dirty = True  # the new ports' addresses are in use now

    # --- a step ---------------------------------------------------------------------------

    def _settled(self, idl: ovs_idl.Idl, lb_id: str) -> bool:
        """Whether a full pass may skip this load balancer: its rows are verified
        (`_verified_mark`) and attached where they belong."""
        lb = self._desired.get(lb_id)
        if lb is not None and lb_id in self._saved and self._wants.mark(lb_id) is None:
            return self._adopt(idl, lb)
        network = None if lb is None else self.topology.networks.get(lb.network_id)
        if network is None or self._verified_mark(lb_id) is None:
            return False
        return all(attached(idl, dp, row) for row in self._index.by_lb[lb_id] for dp in network.datapaths)

    def _verified_mark(self, lb_id: str) -> Mark | None:
        """The mark of a load balancer whose latest revision was reported realized and
        each of whose rows is the very one verified since its last notification."""
        lb = self._desired.get(lb_id)
        mark = self._wants.mark(lb_id)
        owned = self._index.by_lb.get(lb_id)
        if lb is None or mark is None or not owned or mark.revision != lb.revision or mark.deleting:
            return None
        if self._reported.get(lb_id) != (lb.revision, "") or len(owned) != mark.rows:
            return None
        verified = self._index.verified
        return mark if all(verified.get(row_uuid) is mark for row_uuid in owned) else None

    def _adopt(self, idl: ovs_idl.Idl, lb: Desired) -> bool:
        """Whether the NB holds this load balancer as the last run saved it (adopt_saved):
        the same revision, no steering, every row of ours attached where it belongs and
        their content hashing to the saved digest. Then it is realized as it stands."""
        revision, digest = self._saved.pop(lb.id)
        owned = self._index.by_lb.get(lb.id)
        network = self.topology.networks.get(lb.network_id)
        if lb.revision != revision or lb.id in self._steering or not owned or network is None:
            return False
        rows = idl.tables["Load_Balancer"].rows
        contents = []
        for row_uuid in owned:
            row = rows.get(row_uuid)
            content = None if row is None else cmd.held_content(row)
            if content is None or not all(attached(idl, dp, row_uuid) for dp in network.datapaths):
                return False
            contents.append(content)
        if cmd.content_digest(contents) != digest:
            return False
        mark = Mark(revision, False, None, len(owned), digest)
        self._wants.adopt(lb.id, mark)
        for row_uuid in owned:
            self._index.verified[row_uuid] = mark
        self._report(Realized(lb.id, revision))
        self.adopted += 1
        return True

    def _step(self, idl: ovs_idl.Idl) -> None:
        # Changes first; a full pass goes on in slices beside them, so a
        # create does not wait behind a pass over 10,000 load balancers.
        batch = list(itertools.islice(self._dirty, MAX_STEP))
        self._dirty.difference_update(batch)
        swept = [
            self._sweep.popleft() for _ in range(min(len(self._sweep), SWEEP_STEP if batch else MAX_STEP))
        ]
        self._check_attach.update(swept)
        batch.extend(lb_id for lb_id in swept if lb_id not in self._dirty and not self._settled(idl, lb_id))
        batch = list(dict.fromkeys(batch))

        plans: list[Plan] = []
        wants: dict[str, Want] = {}
        missing_networks: dict[str, str] = {}  # network -> the project of its first load balancer
        for lb_id in batch:
            check = lb_id in self._check_attach
            self._check_attach.discard(lb_id)
            commands, outcome, want = self._plan(idl, lb_id, check, missing_networks)
            plans.append((lb_id, commands, outcome))
            if want is not None:
                wants[lb_id] = want
        if missing_networks:
            self._create_networks(idl, batch, missing_networks)
        else:
            for status, error, group in self._commit_isolating(idl, plans):
                if status == "retry":
                    self._dirty.update(lb_id for lb_id, _, _ in group)
                    self._retry_at = time.monotonic() + RETRY_DELAY
                    continue
                for _, _, outcome in group:
                    if outcome:
                        self._report(outcome if status == "ok" else replace(outcome, error=error))
                if status == "ok":
                    self._verify_committed(idl, group, wants)
        reports, self._reports = self._reports, []
        if reports:
            self.on_realized(reports)

    def _commit_isolating(self, idl: ovs_idl.Idl, plans: list[Plan]) -> Iterator[tuple[str, str, list[Plan]]]:
        """Commits the plans as one transaction; when the NB refuses it, halves
        the batch until the plans it refuses stand alone, so one poisoned change
        never holds back the others (log2 of the batch more commits per bad one).
        Yields (outcome, error, plans) per transaction."""
        status, error = self.committer.commit(idl, [c for _, commands, _ in plans for c in commands])
        if status != "error" or len(plans) == 1:
            yield status, error, plans
            return
        half = len(plans) // 2
        yield from self._commit_isolating(idl, plans[:half])
        yield from self._commit_isolating(idl, plans[half:])

    def _create_networks(self, idl: ovs_idl.Idl, batch: list[str], networks: Mapping[str, str]) -> None:
        """The switches of networks first seen (embedded NB); the batch is realized
        once they are known. A network the NB refuses fails only its own load balancers."""
        creates: list[Plan] = [
            (name, [cmd.CreateSwitch(name, project)], None) for name, project in sorted(networks.items())
        ]
        refused: dict[str, str] = {}
        for status, error, group in self._commit_isolating(idl, creates):
            if status == "error":
                refused.update((name, error) for name, _, _ in group)
        self._topology_dirty = True
        for lb_id in batch:
            lb = self._desired.get(lb_id)
            if lb is not None and lb.network_id in refused:
                error = f"network {lb.network_id!r}: {refused[lb.network_id]}"
                self._report(Realized(lb.id, lb.revision, error=error))
            else:
                self._dirty.add(lb_id)  # realized once the switches are known

    def _verify_committed(self, idl: ovs_idl.Idl, group: list[Plan], wants: Mapping[str, Want]) -> None:
        """Marks the rows a transaction just wrote verified when the replica holds what
        their plan wanted (someone may have changed them meanwhile: compared, not assumed).
        Else the next full pass plans every new load balancer again (~150 us each),
        in slices that held creates back for ~30 ms a step."""
        rows = idl.tables["Load_Balancer"].rows
        verified = self._index.verified
        for lb_id, commands, outcome in group:
            want = wants.get(lb_id)
            if want is None or outcome is None or not commands:
                continue  # nothing written: its plan compared every row (index.drift)
            for row_uuid, listener_id in self._index.by_lb.get(lb_id, {}).items():
                row, wanted = rows.get(row_uuid), want.rows.get(listener_id)
                if row is not None and wanted is not None and cmd.holds(row, wanted):
                    verified[row_uuid] = want.mark

    def _plan(
        self,
        idl: ovs_idl.Idl,
        lb_id: str,
        check_attach: bool,
        missing_networks: dict[str, str],
    ) -> tuple[list[cmd.Command], Realized | None, Want | None]:
        """The commands that realize a load balancer, its outcome once they are committed,
        and the translation they are of (None when no row is to hold it)."""
        self.planned += 1
        entry = self._desired.get(lb_id)
        lb = None if entry is None else entry.load()
        if entry is not None and not entry.packed:
            self._unpacked.append(entry)
        rows = idl.tables["Load_Balancer"].rows
        have: dict[str, ovs_idl.Row] = {}
        commands: list[cmd.Command] = []
        for row_uuid, listener_id in list(self._index.by_lb.get(lb_id, {}).items()):
            row = rows.get(row_uuid)
            if row is None:
                continue
            if listener_id in have:  # a duplicate (copied by hand): keep one
                commands.append(cmd.DeleteLoadBalancer(row_uuid))
            else:
                have[listener_id] = row
        if lb is None:
            return commands + [cmd.DeleteLoadBalancer(r.uuid) for r in have.values()], None, None
        want = self._wants.of(idl, lb, self._steering.get(lb.id))
        if want.deleting:
            deletes = [cmd.DeleteLoadBalancer(r.uuid) for r in have.values()]
            return commands + deletes, Realized(lb.id, lb.revision, deleted=True), None
        unstorable = translate.unstorable(lb)
        if unstorable:
            deletes = [cmd.DeleteLoadBalancer(r.uuid) for r in have.values()]
            return commands + deletes, Realized(lb.id, lb.revision, error=unstorable), None
        network = self.topology.networks.get(lb.network_id)
        if network is None:
            if self.create_networks:
                missing_networks.setdefault(lb.network_id, lb.project_id)
                return [], None, None
            reason = f"network {lb.network_id!r} is not known to OVN Northbound"
            return [], Realized(lb.id, lb.revision, error=reason), None
        datapaths = network.datapaths
        drift = self._index.drift
        for listener_id, wanted in want.rows.items():
            row = have.pop(listener_id, None)
            if row is None:
                commands.append(cmd.CreateLoadBalancer(self._wants.columns(idl, wanted), datapaths))
                continue
            changed = drift(row, wanted, want.mark, functools.partial(self._wants.columns, idl, wanted))
            if changed:
                commands.append(cmd.SetLoadBalancer(row.uuid, changed))
            if check_attach:
                commands.extend(
                    cmd.Attach(dp, row.uuid) for dp in datapaths if not attached(idl, dp, row.uuid)
                )
        commands.extend(cmd.DeleteLoadBalancer(r.uuid) for r in have.values())
        return commands, Realized(lb.id, lb.revision), want

    def _report(self, outcome: Realized) -> None:
        key = (outcome.revision, outcome.error)
        if outcome.deleted or self._reported.get(outcome.lb_id) != key:
            self._reported[outcome.lb_id] = key
            self._reports.append(outcome)
