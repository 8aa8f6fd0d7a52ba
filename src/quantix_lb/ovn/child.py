"""The realizer's child process (`python -m quantix_lb.ovn.child`): owns the NB
IDL (NbRealizer) and speaks contract.py's messages with RealizerProcess
(remote.py) over the pipe it inherits.

It imports only what realizing needs (no store, metrics or API): every module
costs memory and start-up time in each child.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from multiprocessing.connection import Connection
from pathlib import Path

import structlog

from quantix_lb import cachefile, gctune, logs
from quantix_lb.ovn.contract import (
    Forget,
    Init,
    NbTransaction,
    Offer,
    Outcomes,
    ProbePorts,
    Realized,
    Status,
    Steer,
    Stop,
    TopologyChanged,
)
from quantix_lb.ovn.nb import NbRealizer, verified_format

log = structlog.get_logger(__name__)
# (load balancer id, revision, digest of its rows): see NbRealizer.verified_state
Verified = tuple[str, int, bytes]

STATUS_EVERY = 1.0  # seconds between status messages
START_GC_AFTER = 60.0  # seconds: the collector runs from the first full pass, or from then


def run(args: argparse.Namespace) -> int:
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
        send(Outcomes(outcomes, observed()))

    realizer.on_realized = realized

    def transaction(outcome: str, seconds: float, commands: int) -> None:
        with send_lock:
            transactions.append(NbTransaction(outcome, seconds, commands))

    realizer.on_transaction = transaction
    realizer.on_topology = lambda topology: send(TopologyChanged(topology))
    gctune.pause()  # until the first full pass (or START_GC_AFTER): see gctune.pause
    started = time.monotonic()
    realizer.connect()  # the NB is read while the control plane sends what it wants
    try:
        init = conn.recv()
    except (EOFError, OSError):
        realizer.stop()
        return 0  # the control plane is gone before it said anything
    if not isinstance(init, Init):
        raise TypeError(f"the first message must be Init, not {type(init).__name__}")
    for lb_id, s in init.steering.items():
        realizer.steer(lb_id, s)
    realizer.set_probe_ports(init.probe_ports)
    verified = Path(args.verified_file) if args.verified_file else None
    if verified is not None:
        realizer.adopt_saved(lambda: cachefile.load(verified, verified_format(), Verified, "ovn.verified"))
    realizer.start(packed=init.load_balancers)
    del init
    stop = threading.Event()

    def status() -> None:
        # Every STATUS_EVERY, and soon after each full pass.
        last_pass, last_sent, collecting = None, 0.0, False
        while not stop.wait(0.1):
            if realizer.last_full_pass is not last_pass or time.monotonic() - last_sent >= STATUS_EVERY:
                first = last_pass is None and realizer.last_full_pass is not None
                last_pass, last_sent = realizer.last_full_pass, time.monotonic()
                send(Status(realizer.pending(), last_pass, observed()))
                if first:
                    gctune.settle()  # the replica is read and compared: the rest was start-up's
            # From the first full pass (the replica is long-lived: full collections must not
            # walk it), or once the NB has been away for long: cyclic garbage must not pile up.
            if not collecting and (last_pass is not None or time.monotonic() - started > START_GC_AFTER):
                collecting = True
                gctune.keep_frozen(stop)

    threading.Thread(target=status, name="status", daemon=True).start()
    try:
        while True:
            message = conn.recv()
            if isinstance(message, Stop):
                break
            for item in message.items:
                match item:
                    case Offer(documents):
                        realizer.offer_documents(documents)
                    case Forget(lb_ids):
                        realizer.forget(lb_ids)
                    case Steer(lb_id, steering):
                        realizer.steer(lb_id, steering)
                    case ProbePorts(ports):
                        realizer.set_probe_ports(ports)
    except (EOFError, OSError):
        pass  # the control plane is gone
    finally:
        stop.set()
        realizer.stop()
        if verified is not None:
            _save_verified(realizer, verified)
    return 0


def _save_verified(realizer: NbRealizer, path: Path) -> None:
    """For the next realizer's first full pass (see NbRealizer.adopt_saved)."""
    try:
        saved = cachefile.save(path, verified_format(), realizer.verified_state())
    except OSError as exc:
        log.warning("ovn.verified_not_saved", path=str(path), error=str(exc))
        return
    log.info("ovn.verified_saved", load_balancers=saved)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="quantix_lb.ovn.child")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--remote", required=True)
    parser.add_argument("--full-interval", type=float, required=True)
    parser.add_argument("--create-networks", action="store_true")
    parser.add_argument("--log-format", default="console")
    parser.add_argument("--verified-file", help="what this realizer verified in the NB, kept for the next")
    args = parser.parse_args(argv)
    os.set_inheritable(args.fd, False)
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
