"""The worker's side of statistics: this node's connection tracking, as a StatsReport.

The control plane names the frontends (VIP:ports) to report on; each sample
reads the conntrack table from ovs-vswitchd (userspace or kernel datapath
alike), keeps the entries whose original destination is one of them and
reports per backend the connections open now and those seen so far. It also reports per
frontend the bytes and packets from clients to the VIP, from the bridge's OpenFlow flows
(stats/openflow.py: dumped at most 2% of the time, the last counters in between); left
unset when they cannot be read.
`sample()` blocks on ovs-vswitchd: call it from a thread.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterable

import structlog

from quantix.lb.v1 import health_worker_pb2 as pb
from quantix_lb.stats.conntrack import (
    ConntrackParser,
    ConntrackTracker,
    Frontend,
    OvsUnavailable,
    find_datapath,
    ovs_rundir,
    read_conntrack,
)
from quantix_lb.stats.openflow import FlowCounters

log = structlog.get_logger(__name__)


class StatsCollector:
    def __init__(self, rundir: str | None = None) -> None:
        self.rundir = ovs_rundir(rundir)
        self._parser = ConntrackParser()
        self._tracker = ConntrackTracker()
        self._flows = FlowCounters(self.rundir)
        # Replaced whole (never mutated) so a sample in a thread sees one consistent set.
        self._frontends: frozenset[Frontend] = frozenset()
        self._vips: frozenset[str] = frozenset()
        self._datapath: str | None = None
        self._sampling = threading.Lock()
        # Tells the control plane when counting started over (a new process).
        self.epoch = random.getrandbits(63) or 1

    def set_frontends(self, frontends: Iterable[pb.Frontend]) -> None:
        found = set()
        for f in frontends:
            try:
                found.add(Frontend(f.protocol, f.vip, f.port))
            except ValueError:
                continue  # a frontend this data path cannot carry is never seen
        self._frontends = frozenset(found)
        self._vips = frozenset(f.vip for f in found)

    def sample(self) -> pb.StatsReport:
        # One sample at a time: a cancelled session's sample may still be running
        # in its thread when the next session starts one.
        with self._sampling:
            try:
                return self._sample()
            except Exception as exc:  # an unreadable answer must not end the worker
                log.exception("stats.sample_failed")
                return pb.StatsReport(available=False, reason=f"node data path unreadable: {exc}")

    def _sample(self) -> pb.StatsReport:
        frontends, vips = self._frontends, self._vips
        try:
            # The datapath is looked up once, and again only after a failure.
            self._datapath = self._datapath or find_datapath(self.rundir)
            text = read_conntrack(self.rundir, datapath=self._datapath)
        except OvsUnavailable as exc:
            self._datapath = None
            return pb.StatsReport(available=False, reason=f"node data path unreadable: {exc}")
        conns = self._parser.parse(text, orig_dst=vips)
        samples = self._tracker.sample(conns, frontends, time.monotonic())
        flows: dict[Frontend, tuple[int, int]] | None = {}
        if frontends:
            try:
                flows = self._flows.sample(frontends)
            except OvsUnavailable:
                flows = None  # client bytes unknown this time; the connections still count
        report = pb.StatsReport(available=True, epoch=self.epoch)
        for frontend, fs in samples.items():
            counters = flows.get(frontend) if flows is not None else None
            if not fs.total and not fs.active and not (counters and counters[1]):
                continue  # nothing seen yet: absent means zero
            out = report.frontends.add()
            out.frontend.protocol, out.frontend.vip, out.frontend.port = (
                frontend.protocol,
                frontend.vip,
                frontend.port,
            )
            if counters is not None:  # unset: unreadable, or no flow balances it on this node
                out.bytes_in, out.packets_in = counters
            for backend, bs in fs.backends.items():
                b = out.backends.add(
                    address=backend.address, port=backend.port, active=bs.active, total=bs.total
                )
                if bs.bytes_in is not None:
                    b.bytes_in = bs.bytes_in
                if bs.bytes_out is not None:
                    b.bytes_out = bs.bytes_out
        return report
