"""The NB realizer in a process of its own.

The IDL's Python work (building transactions, parsing the NB's updates, the
reconciler's passes) would otherwise compete with the API for one GIL; in its
own process it runs on the other core. `RealizerProcess` has NbRealizer's
interface (contract.Realizer): desired load balancers and steering go to the
child over a pipe, outcomes, topology snapshots and status come back, as the
typed messages of contract.py.

If the child dies the supervisor (supervisor.py) starts another, which is
given the whole desired state (read from the store again: the control plane
keeps no copy of it) before anything else; it reconciles the NB against it
like a restart does.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

import structlog

from quantix_lb import documents, metrics, model
from quantix_lb.ovn.contract import (
    Batch,
    Forget,
    FullPass,
    Init,
    NbTransaction,
    Offer,
    Outcomes,
    ProbePortRow,
    ProbePorts,
    Realized,
    Status,
    Steer,
    Steering,
    Stop,
    Topology,
    TopologyChanged,
)
from quantix_lb.ovn.desired import packed
from quantix_lb.proc import spawn
from quantix_lb.supervisor import Supervisor

log = structlog.get_logger(__name__)

_NEW_CHILD = object()  # in the outbox: a new child waits for its Init


@dataclass(frozen=True)
class _Child:
    proc: subprocess.Popen[bytes]
    conn: Connection  # our end of its pipe


class RealizerProcess:
    def __init__(
        self,
        remote: str,
        *,
        create_networks: bool,
        full_interval: float,
        log_format: str = "console",
        desired: Callable[[], Iterable[bytes]] = tuple,
        verified_file: Path | None = None,
    ) -> None:
        self.remote = remote
        self.verified_file = verified_file  # what each child verified, for the next (child.py)
        self.create_networks = create_networks
        self.full_interval = full_interval
        self.log_format = log_format
        self.on_realized: Callable[[list[Realized]], None] = lambda outcomes: None
        self.topology = Topology()
        # Called on the pipe's thread with each new topology snapshot.
        self.on_topology: Callable[[Topology], None] = lambda topology: None
        self.last_full_pass: FullPass | None = None
        self._probe_ports: tuple[ProbePortRow, ...] = ()
        self._child_pending = 0
        self._outbox: queue.SimpleQueue[Offer | Forget | Steer | object | None] = queue.SimpleQueue()
        # The whole desired state for a new child's Init: the store's documents,
        # read when it is sent. Decoded copies kept here would cost ~60 MB at 10,000.
        self._desired = desired
        self._steering: dict[str, Steering] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._synced = threading.Event()
        self._child: _Child | None = None  # the current one; the pipe threads follow it
        self._threads: list[threading.Thread] = []
        self._supervisor = Supervisor("ovn.realizer", self._respawn)

    # --- contract.Realizer ---------------------------------------------------------------

    # A new child's Init is a snapshot of the store taken when it is sent; offers
    # queued before it may follow it again. They are queued in commit order, so the
    # child ends in the latest state whatever it got twice (offers are idempotent).

    def offer(self, lbs: Iterable[model.LoadBalancer]) -> None:
        batch = [documents.encode(lb) for lb in lbs]
        if batch:
            self._outbox.put(Offer(batch))

    def forget(self, lb_ids: Iterable[str]) -> None:
        ids = list(lb_ids)
        if ids:
            with self._lock:
                for lb_id in ids:
                    self._steering.pop(lb_id, None)
                self._outbox.put(Forget(ids))

    def steer(self, lb_id: str, steering: Steering | None) -> None:
        with self._lock:
            if steering is None:
                self._steering.pop(lb_id, None)
            else:
                self._steering[lb_id] = steering
            self._outbox.put(Steer(lb_id, steering))

    def set_probe_ports(self, ports: Iterable[ProbePortRow]) -> None:
        with self._lock:
            self._probe_ports = tuple(ports)
            self._outbox.put(ProbePorts(self._probe_ports))

    def wait_synced(self, timeout: float) -> bool:
        """Whether the child has read the NB once (within `timeout` seconds)."""
        return self._synced.wait(timeout)

    def pending(self) -> int:
        return self._child_pending + self._outbox.qsize()

    # --- lifespan -----------------------------------------------------------------------------

    def start(self, lbs: Iterable[model.LoadBalancer] = ()) -> None:
        """Starts the child (on the event loop's thread). Each child's Init is read
        from `desired` (the store), so `lbs` (contract.Realizer's) is not needed."""
        first = self._spawn()
        for target, name in ((self._send_loop, "realizer-send"), (self._recv_loop, "realizer-recv")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        self._supervisor.supervise(first)

    def stop(self) -> None:
        self._supervisor.retire()  # the child's exit from here on is ours: no restart
        self._outbox.put(None)  # the sender flushes what is queued, then ends
        if self._threads:
            self._threads[0].join(5)
        self._stopping.set()
        child = self._child
        if child is not None:
            with contextlib.suppress(OSError):
                child.conn.send(Stop())
            try:
                child.proc.wait(10)
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
            child.conn.close()
        for thread in self._threads:
            thread.join(5)

    def _spawn(self) -> subprocess.Popen[bytes]:
        """A child and its end of the pipe (on the event loop's thread: see
        proc.spawn). The sender gives it the desired state before anything else:
        it realizes nothing before it knows all of it (else its first full pass
        would delete the rest)."""
        mine, theirs = socket.socketpair()
        argv = [
            sys.executable, "-m", "quantix_lb.ovn.child", "--fd", str(theirs.fileno()),
            "--remote", self.remote, "--full-interval", str(self.full_interval),
            "--log-format", self.log_format, *(["--create-networks"] if self.create_networks else []),
            *(["--verified-file", str(self.verified_file)] if self.verified_file else []),
        ]  # fmt: skip
        try:
            proc = spawn(argv, pass_fds=[theirs.fileno()])
        except BaseException:
            mine.close()
            raise
        finally:
            theirs.close()
        self._child = _Child(proc, Connection(mine.detach()))
        self._outbox.put(_NEW_CHILD)  # wakes the sender for the Init
        return proc

    async def _respawn(self) -> subprocess.Popen[bytes]:
        """After the child died: a new one, given everything desired again (from
        what was offered: the store is not read off the event loop)."""
        return self._spawn()

    def _init(self) -> Init:
        """On the sender's thread."""
        # Compressed here, on the other core, while the child reads the NB.
        load_balancers = [packed(doc) for doc in self._desired()]
        with self._lock:
            return Init(load_balancers, dict(self._steering), self._probe_ports)

    def _send_loop(self) -> None:
        initialized: Connection | None = None  # the connection that had its Init
        while True:
            item = self._outbox.get()
            if item is None:
                return
            # What queued up meanwhile goes in one message.
            batch = [] if item is _NEW_CHILD else [item]
            while not self._outbox.empty() and len(batch) < 1000:
                nxt = self._outbox.get()
                if nxt is None:
                    self._outbox.put(None)
                    break
                if nxt is not _NEW_CHILD:
                    batch.append(nxt)
            # A batch is never dropped: if the child is gone, it goes to the next one
            # (after that one's Init, which it may repeat: offers are idempotent).
            while not self._stopping.is_set():
                child = self._child
                try:
                    if child is not None:
                        if child.conn is not initialized:
                            child.conn.send(self._init())
                            initialized = child.conn
                        if batch:
                            child.conn.send(Batch(batch))
                        break
                except OSError:
                    pass
                self._wait_for_another(child)

    def _recv_loop(self) -> None:
        while not self._stopping.is_set():
            child = self._child
            assert child is not None  # start() spawned the first
            try:
                message = child.conn.recv()
            except (EOFError, OSError):
                self._child_gone(child)
                continue
            match message:
                case Outcomes(realized, transactions):
                    self._observe(transactions)
                    self.on_realized(realized)
                case TopologyChanged(topology):
                    self.topology = topology
                    self._synced.set()
                    self.on_topology(topology)
                case Status(pending, full_pass, transactions):
                    self._child_pending = pending
                    if full_pass is not None:
                        self.last_full_pass = full_pass
                    self._observe(transactions)

    def _child_gone(self, child: _Child) -> None:
        """Its pipe broke: that child is of no use any more. The supervisor logs
        its exit and starts the next one; this thread waits for that one's pipe."""
        if self._stopping.is_set():
            return
        if child.proc.poll() is None:
            child.proc.kill()  # alive but deaf
        child.conn.close()
        self._wait_for_another(child)

    def _wait_for_another(self, child: _Child | None) -> None:
        while self._child is child and not self._stopping.wait(0.05):
            pass

    @staticmethod
    def _observe(transactions: list[NbTransaction]) -> None:
        for t in transactions:
            metrics.observe_nb_transaction(t.outcome, t.seconds, t.commands)
