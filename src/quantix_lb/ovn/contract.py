"""The realizer contract: what the control plane hands the OVN side and what comes back.

Two realizers implement `Realizer`: `nb.NbRealizer` (the IDL owner, in this
process) and `remote.RealizerProcess` (the same in a child process, over a
pipe carrying the typed messages below). `FakeRealizer` realizes everything at
once, in memory, for tests of the rules that need no OVN.

Threads: `on_realized` and `on_topology` are called on the realizer's own
thread; the control plane hops to its event loop itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from quantix_lb import model
from quantix_lb.ovn.translate import Network

# Listener id -> member id -> entries in the listener's backend list (LEAST_CONNECTIONS).
Steering = Mapping[str, Mapping[str, int]]


@dataclass(frozen=True)
class Realized:
    """The outcome of realizing one revision of a load balancer."""

    lb_id: str
    revision: int
    error: str = ""
    deleted: bool = False


@dataclass(frozen=True)
class ProbePortRow:
    """A logical switch port a health worker probes one network from."""

    name: str
    network_id: str
    node_id: str
    mac: str
    ip: str

    @property
    def addresses(self) -> str:
        return f"{self.mac} {self.ip}"


@dataclass(frozen=True)
class FullPass:
    """The last complete comparison of every load balancer with the NB."""

    finished: float  # wall clock
    seconds: float
    load_balancers: int
    commands: int  # NB commands it took to repair what it found (including concurrent changes)


@dataclass(frozen=True)
class Topology:
    networks: dict[str, Network] = field(default_factory=dict)
    synced: bool = False  # False until the NB has been read once


@dataclass(frozen=True)
class NbTransaction:
    """One NB commit, for the metrics: outcome ok / retry / error."""

    outcome: str
    seconds: float
    commands: int


class Realizer(Protocol):
    """What the control plane needs of the OVN side."""

    create_networks: bool  # an unknown network is created on first use (embedded NB)
    topology: Topology
    last_full_pass: FullPass | None
    on_realized: Callable[[list[Realized]], None]

    def start(self, lbs: Iterable[model.LoadBalancer]) -> None:
        """Starts realizing, knowing the whole desired state first."""

    def stop(self) -> None: ...

    def offer(self, lbs: Iterable[model.LoadBalancer]) -> None:
        """The latest desired state of these load balancers."""

    def forget(self, lb_ids: Iterable[str]) -> None:
        """These load balancers left the store: remove whatever is left of them."""

    def steer(self, lb_id: str, steering: Steering | None) -> None:
        """LEAST_CONNECTIONS backend lists for a load balancer (None: plain weights)."""

    def set_probe_ports(self, ports: Iterable[ProbePortRow]) -> None:
        """The whole desired set of health workers' probe ports."""

    def wait_synced(self, timeout: float) -> bool:
        """Whether the NB has been read once, waiting up to `timeout` seconds."""

    def pending(self) -> int:
        """Load balancers not yet realized or checked (approximate)."""


# --- the pipe between RealizerProcess and its child ----------------------------------------


@dataclass(frozen=True)
class Init:
    """The child's first message: the whole desired state, as stored documents
    compressed by the parent (desired.packed: the parent never holds them all
    decoded, and the child decodes each only when it plans it)."""

    load_balancers: list[tuple[str, int, str, bytes]]  # desired.Packed
    steering: dict[str, Steering]
    probe_ports: tuple[ProbePortRow, ...] = ()


@dataclass(frozen=True)
class Offer:
    """The latest desired state of these load balancers, as documents (documents.encode's:
    cheaper to write and read than pickled records, and kept as they are until planned)."""

    documents: list[bytes]


@dataclass(frozen=True)
class Forget:
    lb_ids: list[str]


@dataclass(frozen=True)
class Steer:
    lb_id: str
    steering: Steering | None


@dataclass(frozen=True)
class ProbePorts:
    ports: tuple[ProbePortRow, ...]


@dataclass(frozen=True)
class Batch:
    """Changes queued at the same moment, in order."""

    items: list[Offer | Forget | Steer | ProbePorts]


@dataclass(frozen=True)
class Stop:
    pass


ToChild = Init | Batch | Stop


@dataclass(frozen=True)
class Outcomes:
    realized: list[Realized]  # without their load balancers: the parent has its own copies
    transactions: list[NbTransaction]


@dataclass(frozen=True)
class TopologyChanged:
    topology: Topology


@dataclass(frozen=True)
class Status:
    pending: int
    full_pass: FullPass | None
    transactions: list[NbTransaction]


ToParent = Outcomes | TopologyChanged | Status


# --- for tests ----------------------------------------------------------------------------


class FakeRealizer:
    """Realizes every offer at once (or fails the load balancers named in
    `errors`), in memory; networks are created on first use."""

    def __init__(self) -> None:
        self.create_networks = True
        self.topology = Topology(synced=True)
        self.last_full_pass: FullPass | None = None
        self.on_realized: Callable[[list[Realized]], None] = lambda outcomes: None
        self.errors: dict[str, str] = {}  # lb id -> the error its realization reports
        self.steering: dict[str, Steering] = {}
        self.desired: dict[str, model.LoadBalancer] = {}
        self.probe_ports: tuple[ProbePortRow, ...] = ()
        self._synced = threading.Event()

    def start(self, lbs: Iterable[model.LoadBalancer]) -> None:
        self._synced.set()
        self.offer(lbs)

    def stop(self) -> None:
        pass

    def offer(self, lbs: Iterable[model.LoadBalancer]) -> None:
        outcomes = []
        for lb in lbs:
            gone = lb.provisioning_status is model.ProvisioningStatus.PENDING_DELETE
            if gone:
                self.desired.pop(lb.id, None)
            else:
                self.desired[lb.id] = lb
            error = "" if gone else self.errors.get(lb.id, "")
            outcomes.append(Realized(lb.id, lb.revision, error, deleted=gone))
        if outcomes:
            self.on_realized(outcomes)

    def forget(self, lb_ids: Iterable[str]) -> None:
        for lb_id in lb_ids:
            self.desired.pop(lb_id, None)
            self.steering.pop(lb_id, None)

    def steer(self, lb_id: str, steering: Steering | None) -> None:
        if steering is None:
            self.steering.pop(lb_id, None)
        else:
            self.steering[lb_id] = steering

    def set_probe_ports(self, ports: Iterable[ProbePortRow]) -> None:
        self.probe_ports = tuple(ports)

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def pending(self) -> int:
        return 0
