"""NbRealizer: the realizer of contract.py on a Northbound IDL in this process.

Three parts, each in a module of its own:
  loop.IdlLoop          the one thread that owns the IDL: run, wait, block, reconnect
  index.OwnedRows       which Load_Balancer rows are ours, and which were verified
  reconcile.Reconciler  desired state -> small commands, one transaction a step; full passes
Callers on any thread hand it desired load balancers (`offer`, `forget`,
`steer`) through an inbox and read an immutable topology snapshot; outcomes
come back through `on_realized`, on the IDL thread.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable

from quantix_lb import cachefile, documents, model
from quantix_lb.ovn import commands as cmd
from quantix_lb.ovn import translate
from quantix_lb.ovn.contract import FullPass, ProbePortRow, Realized, Steering, Topology
from quantix_lb.ovn.desired import Desired, Packed
from quantix_lb.ovn.loop import IdlLoop
from quantix_lb.ovn.reconcile import COLUMNS, FULL_INTERVAL, Inbox, Reconciler


def verified_format() -> bytes:
    """What a saved digest follows from besides a load balancer's document: the
    translation (translate.py, and model.py and documents.py that it reads) and the
    rows' canonical content (commands.py). A digest saved under another is not used."""
    return cachefile.format_of(b"verified.cache 1", translate, cmd, model, documents)


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
        # Called on the IDL thread with each new topology snapshot.
        self.on_topology: Callable[[Topology], None] = lambda topology: None
        self._synced = threading.Event()
        self._inbox = Inbox()
        self._reconciler = Reconciler(
            self._inbox,
            create_networks=create_networks,
            full_interval=full_interval,
            on_topology=self._topology_changed,
        )
        if on_realized is not None:
            self._reconciler.on_realized = on_realized
        self._loop = IdlLoop(remote, COLUMNS, self._reconciler)

    @property
    def create_networks(self) -> bool:
        return self._reconciler.create_networks

    @property
    def topology(self) -> Topology:
        return self._reconciler.topology

    @property
    def last_full_pass(self) -> FullPass | None:
        return self._reconciler.passes.last

    @property
    def on_realized(self) -> Callable[[list[Realized]], None]:
        """Called on the IDL thread with each step's outcomes; set before start()."""
        return self._reconciler.on_realized

    @on_realized.setter
    def on_realized(self, callback: Callable[[list[Realized]], None]) -> None:
        self._reconciler.on_realized = callback

    @property
    def on_transaction(self) -> Callable[[str, float, int], None]:
        """Called on the IDL thread with each NB transaction's outcome, seconds
        and commands (for the metrics)."""
        return self._reconciler.committer.on_transaction

    @on_transaction.setter
    def on_transaction(self, callback: Callable[[str, float, int], None]) -> None:
        self._reconciler.committer.on_transaction = callback

    def connect(self) -> None:
        """Starts reading the NB (and telling its topology) before the desired
        state is known: the first read of a large NB takes seconds, and the
        control plane is meanwhile reading its store. Nothing is realized yet."""
        self._loop.start()

    def start(self, lbs: Iterable[model.LoadBalancer] = (), packed: Iterable[Packed] = ()) -> None:
        """Starts realizing, given the whole desired state first (else the first
        full pass would delete the rows of the rest): records, or an Init's
        documents (compressed by the control plane). Changes are offered after."""
        self._inbox.post_initial(itertools.chain(map(Desired, lbs), map(Desired.of_packed, packed)))
        if self._loop.running:
            self._loop.wake()
        else:
            self._loop.start()

    def stop(self) -> None:
        self._loop.stop()

    def adopt_saved(self, load: Callable[[], Iterable[tuple[str, int, bytes]]]) -> None:
        """What a previous realizer verified in the NB (`verified_state`, read by `load`
        when the first full pass begins), before start: that pass takes each load balancer
        the NB still holds so without translating it (Reconciler.adopt_saved)."""
        self._reconciler.adopt_saved(load)

    def verified_state(self) -> list[tuple[str, int, bytes]]:
        """Each load balancer verified in the NB at its latest revision: (id, revision,
        digest of its rows), for the next realizer; empty unless the loop has stopped."""
        return self._reconciler.verified_state() if self._loop.finished else []

    def offer(self, lbs: Iterable[model.LoadBalancer]) -> None:
        """The latest desired state of these load balancers."""
        self._post(map(Desired, lbs))

    def offer_documents(self, documents: Iterable[bytes]) -> None:
        """The same, as stored documents (documents.encode's): decoded only when planned."""
        self._post(map(Desired.of_document, documents))

    def _post(self, desired: Iterable[Desired]) -> None:
        if self._inbox.post((d.id, d) for d in desired):
            self._loop.wake()

    def forget(self, lb_ids: Iterable[str]) -> None:
        """These load balancers are gone from the store: remove whatever is left."""
        if self._inbox.post((lb_id, None) for lb_id in lb_ids):
            self._loop.wake()

    def steer(self, lb_id: str, steering: Steering | None) -> None:
        """Backend-list entries for the LEAST_CONNECTIONS pools of a load
        balancer (None: back to plain weights). Not stored: it follows the
        live statistics and is written to the NB only when the list changes."""
        if self._inbox.steer(lb_id, steering):
            self._loop.wake()

    def set_probe_ports(self, ports: Iterable[ProbePortRow]) -> None:
        """The whole desired set of health workers' probe ports."""
        if self._inbox.set_probe_ports(ports):
            self._loop.wake()

    def wait_synced(self, timeout: float) -> bool:
        """Whether the NB has been read once, waiting up to `timeout` seconds."""
        return self._synced.wait(timeout)

    def pending(self) -> int:
        """Load balancers not yet realized or checked: changed, drifted, left
        in the running full pass, or not yet taken from the inbox. Approximate
        (one may be counted twice); it only reads lengths, so any thread may call it."""
        return self._reconciler.pending() + len(self._inbox)

    def _topology_changed(self, topology: Topology) -> None:
        self._synced.set()
        self.on_topology(topology)
