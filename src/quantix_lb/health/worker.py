"""The health-check worker process. It knows only the proto.

It opens HealthWorkerService.Session, says hello, receives its targets (a
snapshot, then deltas), probes them with a Prober and sends only state
changes, plus a heartbeat every interval. When the stream breaks it
reconnects with backoff; probe state is kept across reconnects, so nothing
flaps, and whatever changed while it was away is reported on the new session.

Members are probed from inside their own network: the control plane gives the
worker a probe port per network (a logical switch port), the worker binds it
in a namespace of its own on the node's br-int (probeports.py), as OVN's
metadata agent reaches tenant networks, and opens that network's probes
there. A member whose network has no usable port is reported unchecked, with
the reason. `probe_from_host` (the operator's choice, for routed provider
networks) probes from the worker's own namespace instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
from collections.abc import AsyncIterator, Iterable

import grpc
import structlog

from quantix.lb.v1 import health_worker_pb2 as pb
from quantix.lb.v1 import health_worker_pb2_grpc as pb_grpc
from quantix_lb.health.checks import Target
from quantix_lb.health.limits import PROJECT_BUDGET
from quantix_lb.health.probeports import PortBinder, PortSpec, State
from quantix_lb.health.scheduler import Prober
from quantix_lb.stats.collector import StatsCollector

log = structlog.get_logger(__name__)
MAX_BACKOFF = 5.0


def target_in(msg: pb.HealthTarget) -> Target:
    probe = msg.probe
    return Target(
        id=msg.member_id,
        address=msg.address,
        port=msg.port,
        type=pb.Probe.Type.Name(probe.type).removeprefix("TYPE_"),
        delay=probe.delay,
        timeout=probe.timeout,
        max_retries=probe.max_retries or 3,
        healthy_threshold=probe.healthy_threshold or 2,
        http_method=probe.http_method or "GET",
        url_path=probe.url_path or "/",
        expected_codes=probe.expected_codes or "200",
        host_header=probe.domain_name,
        tls_verify=probe.tls_verify,
        project=msg.project_id,
    )


def _last_known(msg: pb.HealthTarget) -> bool | None:
    return msg.last_healthy if msg.HasField("last_healthy") else None


class HealthWorker:
    def __init__(
        self,
        control_plane: str,
        node_id: str,
        token: str | None = None,
        capacity: int = 0,
        stats: StatsCollector | None = None,
        tls: grpc.ChannelCredentials | None = None,
        *,
        probe_from_host: bool = False,
        ovs_rundir: str | None = None,
        project_budget: float | None = PROJECT_BUDGET,
    ) -> None:
        self.control_plane = control_plane
        self.tls = tls  # None: plaintext (loopback, a unix socket)
        self.node_id = node_id
        self.token = token
        self.capacity = capacity
        self._pending: dict[str, pb.HealthTransition] = {}
        self._wake = asyncio.Event()
        self._prober: Prober | None = None
        # Data-path statistics ride on the same session (None: not reported).
        self._stats = stats
        self._stats_interval = 0.0  # 0 until the control plane names the frontends
        self._stats_report: pb.StatsReport | None = None
        self._stats_readable: bool | None = None
        self._project_budget = project_budget
        # Every assigned member: its target (from the host's namespace), network and
        # last known state; the prober holds those whose network has a ready port.
        self._assigned: dict[str, tuple[Target, str, bool | None]] = {}
        self._unchecked: dict[str, str] = {}  # member -> the reason last reported
        self._ports = (
            None if probe_from_host else PortBinder(node_id, self._port_changed, ovs_rundir=ovs_rundir)
        )

    def _on_transition(self, member_id: str, healthy: bool, reason: str) -> None:
        # Only the latest state of a member matters if several queue up.
        self._pending[member_id] = pb.HealthTransition(member_id=member_id, healthy=healthy, reason=reason)
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        self._prober = Prober(on_transition=self._on_transition, project_budget=self._project_budget)
        self._prober.start()
        backoff = 0.1
        try:
            while not stop.is_set():
                try:
                    await self._session(stop)
                    backoff = 0.1
                except grpc.aio.AioRpcError as exc:
                    log.warning("worker.session_failed", code=exc.code().name, detail=exc.details())
                except (TimeoutError, OSError) as exc:
                    log.warning("worker.session_failed", error=str(exc))
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(backoff):
                        await stop.wait()
                backoff = min(backoff * 2, MAX_BACKOFF)
        finally:
            await self._prober.stop()
            if self._ports is not None:
                await self._ports.stop()

    async def _session(self, stop: asyncio.Event) -> None:
        metadata = (("authorization", f"Bearer {self.token}"),) if self.token else ()
        channel = (
            grpc.aio.secure_channel(self.control_plane, self.tls)
            if self.tls is not None
            else grpc.aio.insecure_channel(self.control_plane)
        )
        async with channel:
            call = pb_grpc.HealthWorkerServiceStub(channel).Session(metadata=metadata)
            await call.write(
                pb.SessionRequest(
                    hello=pb.WorkerHello(
                        node_id=self.node_id, capacity=self.capacity, probe_ports=self._ports is not None
                    )
                )
            )
            first = await call.read()
            if first is grpc.aio.EOF or first.WhichOneof("message") != "snapshot":
                raise OSError("the control plane sent no target snapshot")
            interval = first.snapshot.heartbeat_interval or 0.5
            self._apply_snapshot(first.snapshot)
            log.info(
                "worker.connected", control_plane=self.control_plane, targets=len(first.snapshot.targets)
            )
            loop = asyncio.get_running_loop()
            sender = loop.create_task(self._send(call, interval))
            reader = loop.create_task(self._read(call))
            stopper = loop.create_task(stop.wait())
            sampler = loop.create_task(self._sample())
            try:
                # Whichever ends first: the stream (either side), or our own stop.
                done, _ = await asyncio.wait(
                    {sender, reader, stopper, sampler}, return_when=asyncio.FIRST_COMPLETED
                )
                for task in done & {sender, reader, sampler}:
                    task.result()  # a broken stream raises here and the session is retried
            finally:
                for task in (sender, reader, stopper, sampler):
                    task.cancel()
                call.cancel()

    async def _read(self, call: grpc.aio.StreamStreamCall) -> None:
        async for message in self._messages(call):
            kind = message.WhichOneof("message")
            if kind == "snapshot":
                self._apply_snapshot(message.snapshot)
            elif kind == "delta":
                self._apply_delta(message.delta)
            elif kind == "probe_ports" and self._ports is not None:
                self._ports.set_ports(
                    PortSpec(p.network_id, p.name, p.mac, p.ip_cidr, p.error)
                    for p in message.probe_ports.ports
                )
            elif kind == "stats_frontends" and self._stats is not None:
                self._stats.set_frontends(message.stats_frontends.frontends)
                self._stats_interval = message.stats_frontends.interval or 1.0

    async def _messages(self, call: grpc.aio.StreamStreamCall) -> AsyncIterator[pb.SessionResponse]:
        while True:
            message = await call.read()
            if message is grpc.aio.EOF:
                raise OSError("the control plane closed the session")
            yield message

    def _assign(self, messages: Iterable[pb.HealthTarget]) -> list[str]:
        """Records targets the prober accepts; one bad target must not stop the others."""
        found = []
        for msg in messages:
            try:
                self._assigned[msg.member_id] = (target_in(msg), msg.network_id, _last_known(msg))
                found.append(msg.member_id)
            except ValueError as exc:
                log.error("worker.bad_target", member=msg.member_id, error=str(exc))
        return found

    def _drop(self, member_id: str) -> None:
        assert self._prober is not None
        self._assigned.pop(member_id, None)
        self._unchecked.pop(member_id, None)
        self._prober.remove(member_id)
        self._pending.pop(member_id, None)

    def _place(self, member_id: str) -> None:
        """Probes a member from its network's probe port once that is ready; reports
        it unchecked while the port cannot be had."""
        assert self._prober is not None
        target, network_id, last = self._assigned[member_id]
        if self._ports is None:
            self._prober.upsert(target, last)
            return
        status = self._ports.status(network_id)
        if status.state is State.READY:
            if self._unchecked.pop(member_id, None) is not None:
                last = None  # it starts over: the first decision is news
            self._prober.upsert(dataclasses.replace(target, netns=status.netns), last)
            return
        self._prober.remove(member_id)
        if status.state is State.FAILED and self._unchecked.get(member_id) != status.reason:
            self._unchecked[member_id] = status.reason
            self._pending[member_id] = pb.HealthTransition(
                member_id=member_id, healthy=False, reason=status.reason, unchecked=True
            )
            self._wake.set()

    def _port_changed(self, network_id: str) -> None:
        for member_id in [m for m, (_, net, _) in self._assigned.items() if net == network_id]:
            self._place(member_id)

    def _apply_snapshot(self, snapshot: pb.TargetSnapshot) -> None:
        assert self._prober is not None
        wanted = {t.member_id for t in snapshot.targets}
        for member_id in [m for m in self._assigned if m not in wanted]:
            self._drop(member_id)
        for member_id in self._assign(snapshot.targets):
            self._place(member_id)
        # What changed while we were away is news to the control plane.
        for member_id, (_, _, last) in self._assigned.items():
            now = self._prober.state(member_id)
            if now is not None and now != last:
                self._on_transition(member_id, now, "state kept across reconnect")

    def _apply_delta(self, delta: pb.TargetDelta) -> None:
        assert self._prober is not None
        for member_id in delta.removals:
            self._drop(member_id)
        for member_id in self._assign(delta.upserts):
            self._place(member_id)
            # The control plane shows another state than the one we know (e.g. a member
            # back from draining shows none): tell it ours.
            now, last = self._prober.state(member_id), self._assigned[member_id][2]
            if now is not None and now != last:
                self._on_transition(member_id, now, "state kept")

    async def _sample(self) -> None:
        """Reads the node's data path every interval (in a thread: it waits on
        ovs-vswitchd); the sender passes the report on."""
        if self._stats is None:
            return await asyncio.Event().wait()  # nothing to do for the session's life
        loop = asyncio.get_running_loop()
        while True:
            if not self._stats_interval:
                await asyncio.sleep(0.1)
                continue
            started = loop.time()
            report = await loop.run_in_executor(None, self._stats.sample)
            if report.available != self._stats_readable:
                self._stats_readable = report.available
                if report.available:
                    log.info("worker.stats_readable", ovs_rundir=self._stats.rundir)
                else:
                    log.warning("worker.stats_unreadable", reason=report.reason)
            self._stats_report = report
            self._wake.set()
            await asyncio.sleep(max(0.0, self._stats_interval - (loop.time() - started)))

    async def _send(self, call: grpc.aio.StreamStreamCall, interval: float) -> None:
        loop = asyncio.get_running_loop()
        next_beat = loop.time()
        while True:
            if self._stats_report is not None:
                report, self._stats_report = self._stats_report, None
                await call.write(pb.SessionRequest(stats=report))
            if self._pending:
                batch, self._pending = list(self._pending.values()), {}
                await call.write(pb.SessionRequest(transitions=pb.HealthTransitions(transitions=batch)))
            if loop.time() >= next_beat:
                assert self._prober is not None
                await call.write(pb.SessionRequest(heartbeat=pb.Heartbeat(targets=len(self._prober))))
                next_beat = loop.time() + interval
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, next_beat - loop.time())):
                    await self._wake.wait()


def read_token(path: str | None) -> str | None:
    if path:
        with open(path) as f:
            return f.read().strip()
    return os.environ.get("QUANTIX_LB_WORKER_TOKEN") or None
