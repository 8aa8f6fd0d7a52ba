"""The NB realizer in a process of its own.

The IDL's Python work (building transactions, parsing the NB's updates, the
reconciler's passes) would otherwise compete with the API for one GIL; in its
own process it runs on the other core. `RealizerProcess` has NbRealizer's
interface (contract.Realizer): desired load balancers and steering go to the
child over a pipe, outcomes, topology snapshots and status come back, as the
typed messages of contract.py.

If the child dies it is started again and given the whole desired state
(what was offered); the new child reconciles the NB against it like a restart does.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from multiprocessing.connection import Connection

import structlog

from quantix_lb import logs, metrics, model
from quantix_lb.ovn.contract import (
    Batch,
    Forget,
    FullPass,
    Init,
    NbTransaction,
    Offer,
    Outcomes,
    Realized,
    Status,
    Steer,
    Steering,
    Stop,
    Topology,
    TopologyChanged,
)
from quantix_lb.ovn.nb import NbRealizer
from quantix_lb.proc import with_parent_death_signal

log = structlog.get_logger(__name__)

RESTART_DELAY = 0.5
STATUS_EVERY = 1.0  # seconds between the child's status messages


class RealizerProcess:
    def __init__(
        self,
        remote: str,
        *,
        create_networks: bool,
        full_interval: float,
        log_format: str = "console",
    ) -> None:
        self.remote = remote
        self.create_networks = create_networks
        self.full_interval = full_interval
        self.log_format = log_format
        self.on_realized: Callable[[list[Realized]], None] = lambda outcomes: None
        self.topology = Topology()
        self.last_full_pass: FullPass | None = None
        self._child_pending = 0
        self._outbox: queue.SimpleQueue[Offer | Forget | Steer | None] = queue.SimpleQueue()
        self._offered: dict[str, model.LoadBalancer] = {}  # what each outcome refers to
        self._steering: dict[str, Steering] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._synced = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._threads: list[threading.Thread] = []

    # --- contract.Realizer ---------------------------------------------------------------

    # The desired state and the queue change together (under the lock), so the
    # queue replayed after a restart's snapshot ends in that same state.

    def offer(self, lbs: Iterable[model.LoadBalancer]) -> None:
        batch = list(lbs)
        if batch:
            with self._lock:
                self._offered.update((lb.id, lb) for lb in batch)
                self._outbox.put(Offer(batch))

    def forget(self, lb_ids: Iterable[str]) -> None:
        ids = list(lb_ids)
        if ids:
            with self._lock:
                for lb_id in ids:
                    self._offered.pop(lb_id, None)
                    self._steering.pop(lb_id, None)
                self._outbox.put(Forget(ids))

    def steer(self, lb_id: str, steering: Steering | None) -> None:
        with self._lock:
            if steering is None:
                self._steering.pop(lb_id, None)
            else:
                self._steering[lb_id] = steering
            self._outbox.put(Steer(lb_id, steering))

    def wait_synced(self, timeout: float) -> bool:
        """Whether the child has read the NB once (within `timeout` seconds)."""
        return self._synced.wait(timeout)

    def pending(self) -> int:
        return self._child_pending + self._outbox.qsize()

    # --- lifespan -----------------------------------------------------------------------------

    def start(self, lbs: Iterable[model.LoadBalancer]) -> None:
        """Starts the child with the whole desired state."""
        with self._lock:
            self._offered = {lb.id: lb for lb in lbs}
        self._spawn()
        for target, name in ((self._send_loop, "realizer-send"), (self._recv_loop, "realizer-recv")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._outbox.put(None)  # the sender flushes what is queued, then ends
        if self._threads:
            self._threads[0].join(5)
        self._stopping.set()
        proc, conn = self._proc, self._conn
        if conn is not None:
            with contextlib.suppress(OSError):
                conn.send(Stop())
        if proc is not None:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if conn is not None:
            conn.close()
        for thread in self._threads:
            thread.join(5)

    def _spawn(self) -> None:
        """A child, given the desired state first: it realizes nothing before it
        knows all of it (else its first full pass would delete the rest)."""
        mine, theirs = socket.socketpair()
        argv = [
            sys.executable, "-m", "quantix_lb.ovn.remote", "--fd", str(theirs.fileno()),
            "--remote", self.remote, "--full-interval", str(self.full_interval),
            "--log-format", self.log_format, *(["--create-networks"] if self.create_networks else []),
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            with_parent_death_signal(argv), pass_fds=[theirs.fileno()], stdin=subprocess.DEVNULL
        )
        theirs.close()
        conn = Connection(mine.detach())
        with self._lock:
            init = Init(list(self._offered.values()), dict(self._steering))
        conn.send(init)
        self._conn = conn
        log.info("ovn.realizer_started", pid=self._proc.pid)

    def _restart(self) -> None:
        """The child died: a new one, given everything desired again (from
        what was offered: the store is not read on this thread)."""
        delay = RESTART_DELAY
        while not self._stopping.is_set():
            try:
                if self._conn is not None:
                    self._conn.close()
                if self._proc is not None and self._proc.poll() is None:
                    self._proc.kill()
                if self._proc is not None:
                    self._proc.wait()
                if self._stopping.wait(delay):
                    return
                self._spawn()
                return
            except Exception:  # realization must not end for good: try again, slower
                log.exception("ovn.realizer_restart_failed", retry_s=delay)
                delay = min(delay * 2, 10.0)

    def _send_loop(self) -> None:
        while True:
            item = self._outbox.get()
            if item is None:
                return
            # What queued up meanwhile goes in one message.
            batch = [item]
            while not self._outbox.empty() and len(batch) < 1000:
                nxt = self._outbox.get()
                if nxt is None:
                    self._outbox.put(None)
                    break
                batch.append(nxt)
            # A batch is never dropped: if the child is gone, it goes to the next one
            # (after that one's snapshot, which it may repeat: offers are idempotent).
            while not self._stopping.is_set():
                conn = self._conn
                try:
                    if conn is not None:
                        conn.send(Batch(batch))
                        break
                except OSError:
                    pass
                while self._conn is conn and not self._stopping.wait(0.05):
                    pass

    def _recv_loop(self) -> None:
        while not self._stopping.is_set():
            conn = self._conn
            try:
                assert conn is not None
                message = conn.recv()
            except (EOFError, OSError):
                if self._stopping.is_set():
                    return
                code = self._proc.poll() if self._proc else None
                log.error("ovn.realizer_died", code=code, restart_in_s=RESTART_DELAY)
                self._restart()
                continue
            match message:
                case Outcomes(realized, transactions):
                    with self._lock:
                        outcomes = [self._with_load_balancer(o) for o in realized]
                    self._observe(transactions)
                    self.on_realized(outcomes)
                case TopologyChanged(topology):
                    self.topology = topology
                    self._synced.set()
                case Status(pending, full_pass, transactions):
                    self._child_pending = pending
                    if full_pass is not None:
                        self.last_full_pass = full_pass
                    self._observe(transactions)

    @staticmethod
    def _observe(transactions: list[NbTransaction]) -> None:
        for t in transactions:
            metrics.observe_nb_transaction(t.outcome, t.seconds, t.commands)

    def _with_load_balancer(self, outcome: Realized) -> Realized:
        lb = self._offered.get(outcome.lb_id)
        if lb is not None and lb.revision == outcome.revision:
            return replace(outcome, load_balancer=lb)
        return outcome


# --- the child ---------------------------------------------------------------------------------


def _child(args: argparse.Namespace) -> int:
    logs.configure(args.log_format)
    conn = Connection(args.fd)
    send_lock = threading.Lock()

    def send(message: Outcomes | TopologyChanged | Status) -> None:
        with send_lock:
            conn.send(message)

    realizer = NbRealizer(args.remote, create_networks=args.create_networks, full_interval=args.full_interval)
    transactions: list[NbTransaction] = []  # for the parent's metrics

    def observed() -> list[NbTransaction]:
        with send_lock:
            done, transactions[:] = list(transactions), []
        return done

    def realized(outcomes: list[Realized]) -> None:
        # The parent has its own copy of each load balancer: outcomes travel light.
        done = observed()
        send(Outcomes([replace(o, load_balancer=None) for o in outcomes], done))

    realizer.on_realized = realized

    def transaction(outcome: str, seconds: float, commands: int) -> None:
        with send_lock:
            transactions.append(NbTransaction(outcome, seconds, commands))

    realizer.on_transaction = transaction
    realizer.on_topology = lambda topology: send(TopologyChanged(topology))
    try:
        init = conn.recv()
    except (EOFError, OSError):
        return 0  # the control plane is gone before it said anything
    if not isinstance(init, Init):
        raise TypeError(f"the first message must be Init, not {type(init).__name__}")
    for lb_id, s in init.steering.items():
        realizer.steer(lb_id, s)
    realizer.start(init.load_balancers)
    stop = threading.Event()

    def status() -> None:
        # Every STATUS_EVERY, and soon after each full pass.
        last_pass, last_sent = None, 0.0
        while not stop.wait(0.1):
            if realizer.last_full_pass is last_pass and time.monotonic() - last_sent < STATUS_EVERY:
                continue
            last_pass, last_sent = realizer.last_full_pass, time.monotonic()
            send(Status(realizer.pending(), last_pass, observed()))

    threading.Thread(target=status, name="status", daemon=True).start()
    try:
        while True:
            message = conn.recv()
            if isinstance(message, Stop):
                break
            for item in message.items:
                match item:
                    case Offer(lbs):
                        realizer.offer(lbs)
                    case Forget(lb_ids):
                        realizer.forget(lb_ids)
                    case Steer(lb_id, steering):
                        realizer.steer(lb_id, steering)
    except (EOFError, OSError):
        pass  # the control plane is gone
    finally:
        stop.set()
        realizer.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quantix_lb.ovn.remote")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--remote", required=True)
    parser.add_argument("--full-interval", type=float, required=True)
    parser.add_argument("--create-networks", action="store_true")
    parser.add_argument("--log-format", default="console")
    args = parser.parse_args(argv)
    os.set_inheritable(args.fd, False)
    return _child(args)


if __name__ == "__main__":
    sys.exit(main())
