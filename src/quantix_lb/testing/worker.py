"""A health worker's session, spoken by hand: what tests send and receive on the
internal worker protocol, without a prober."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator

import grpc

from quantix.lb.v1 import health_worker_pb2 as pb
from quantix.lb.v1 import health_worker_pb2_grpc as pb_grpc


class FakeWorker:
    """A worker session on its own thread: what it receives lands in `received`, its
    targets in `targets`. It says hello, then sends what it is given (`send`, `report`)
    and, every 0.3 s, a heartbeat, or the message `repeat` names."""

    def __init__(
        self,
        addr: str,
        node_id: str,
        token: str | None = None,
        heartbeat: bool = True,
        probe_ports: bool = False,
    ) -> None:
        self.channel = grpc.insecure_channel(addr)
        self.outgoing: queue.Queue[pb.SessionRequest | None] = queue.Queue()
        self.received: queue.Queue[pb.SessionResponse] = queue.Queue()
        self.targets: dict[str, pb.HealthTarget] = {}
        self.probe_ports: dict[str, pb.ProbePort] | None = None  # network -> its port, once named
        self.error: grpc.RpcError | None = None
        self.heartbeat = heartbeat
        self.repeated: pb.SessionRequest | None = None
        self._stop = threading.Event()
        self.outgoing.put(pb.SessionRequest(hello=pb.WorkerHello(node_id=node_id, probe_ports=probe_ports)))
        metadata = (("authorization", f"Bearer {token}"),) if token else ()
        self.call = pb_grpc.HealthWorkerServiceStub(self.channel).Session(self._requests(), metadata=metadata)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _requests(self) -> Iterator[pb.SessionRequest]:
        next_beat = 0.0
        while not self._stop.is_set():
            try:
                item = self.outgoing.get(timeout=0.05)
            except queue.Empty:
                item = None
                if (self.repeated or self.heartbeat) and time.monotonic() >= next_beat:
                    item = self.repeated or pb.SessionRequest(heartbeat=pb.Heartbeat())
                    next_beat = time.monotonic() + 0.3
            if item is not None:
                yield item

    def _read(self) -> None:
        try:
            for message in self.call:
                if message.WhichOneof("message") == "snapshot":
                    self.targets = {t.member_id: t for t in message.snapshot.targets}
                elif message.WhichOneof("message") == "delta":
                    for member_id in message.delta.removals:
                        self.targets.pop(member_id, None)
                    for t in message.delta.upserts:
                        self.targets[t.member_id] = t
                elif message.WhichOneof("message") == "probe_ports":
                    self.probe_ports = {p.network_id: p for p in message.probe_ports.ports}
                self.received.put(message)
        except grpc.RpcError as exc:
            self.error = exc

    def send(self, request: pb.SessionRequest) -> None:
        self.outgoing.put(request)

    def repeat(self, request: pb.SessionRequest) -> None:
        """Sent every 0.3 s from now on (it keeps the session alive, like a heartbeat)."""
        self.repeated = request

    def report(self, member_id: str, healthy: bool, reason: str = "test") -> None:
        t = pb.HealthTransition(member_id=member_id, healthy=healthy, reason=reason)
        self.send(pb.SessionRequest(transitions=pb.HealthTransitions(transitions=[t])))

    def close(self) -> None:
        self._stop.set()
        self.call.cancel()
        self.channel.close()
        self._reader.join(5)
