"""What OVN holds of each load balancer: the one source of status truth.

The store keeps a load balancer's desired state with PENDING_* statuses; which
revision OVN holds (and whether it refused it) is kept here, in memory, not
written back: it is what the reconciler finds, and it finds it again after a
restart (until then the load balancer honestly shows PENDING_*). Everything
clients see passes through `view`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from dataclasses import replace
from typing import Any

from quantix_lb import documents, model
from quantix_lb.ovn.contract import Realized
from quantix_lb.store import Change, ChangeKind, Store, Tx
from quantix_lb.watch import WatchHub

# What can change a load balancer's view: its stored revision (every stored change bumps
# it) and what OVN made of that revision (its status and reason).
ViewKey = tuple[int, str, str]


def view_key(lb: model.LoadBalancer) -> ViewKey:
    """The key of a load balancer as clients see it (see `Realization.view`)."""
    return (lb.revision, lb.provisioning_status.value, lb.status_reason)


def head_key(head: documents.Head, error: str | None) -> ViewKey:
    """`view_key` of the view of the stored load balancer with this head, without
    decoding the rest of its document: as stored (`error` None), or realized, OVN
    having taken its revision ('') or refused it (why)."""
    if error is None:
        return (head.revision, head.provisioning_status.value, head.status_reason)
    status = model.ProvisioningStatus.ERROR if error else model.ProvisioningStatus.ACTIVE
    return (head.revision, status.value, error)


REALIZE_WAIT = 2.0  # seconds a mutating RPC waits for OVN before answering
DRAIN_WAIT = 2.0  # seconds shutdown waits for finished deletes to leave the store


class Realization:
    """Runs on the event loop; `view` may also be called on the store's writer thread."""

    def __init__(self, store: Store, watchers: WatchHub, *, wait: float = REALIZE_WAIT) -> None:
        self._store = store
        self._watchers = watchers
        self._wait = wait
        self._held: dict[str, tuple[int, str]] = {}  # lb id -> (revision OVN holds, error)
        self._waiters: dict[str, list[tuple[int, asyncio.Future[None]]]] = {}
        self._tasks: set[asyncio.Future[None]] = set()

    def view(self, lb: model.LoadBalancer) -> model.LoadBalancer:
        """The stored load balancer as clients see it: realized once OVN holds its revision."""
        error = self._held_error(lb.id, lb.revision, lb.provisioning_status)
        return lb if error is None else model.realized(lb, error)

    def key(self, head: documents.Head) -> ViewKey:
        """`view_key(self.view(lb))` of the stored load balancer with this head,
        without decoding the rest of its document."""
        return head_key(head, self._held_error(head.id, head.revision, head.provisioning_status))

    def _held_error(self, lb_id: str, revision: int, status: model.ProvisioningStatus) -> str | None:
        """What OVN made of this revision ('' or why it refused it) when its view is the
        realized one; None while it shows as stored (not held yet, or being deleted)."""
        held = self._held.get(lb_id)
        if held is None or held[0] != revision or status is model.ProvisioningStatus.PENDING_DELETE:
            return None
        return held[1]

    def get(self, lb_id: str) -> model.LoadBalancer | None:
        """A stored load balancer as clients see it."""
        lb = self._store.get(lb_id)
        return None if lb is None else self.view(lb)

    def publish(self, changes: list[Change]) -> None:
        """Committed changes, as clients see them, to every watcher (a store subscriber)."""
        if not len(self._watchers):
            return
        self._watchers.publish([replace(c, load_balancer=self.view(c.load_balancer)) for c in changes])

    async def answer(self, lb: model.LoadBalancer) -> model.LoadBalancer:
        """Waits briefly for OVN to hold this revision, then answers with the
        status the load balancer has by then (later changes come via Watch)."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (lb.revision, waiter)
        self._waiters.setdefault(lb.id, []).append(entry)
        try:
            # The outcome may have arrived before this coroutine resumed after the write.
            if not self._holds(lb):
                await asyncio.wait_for(waiter, self._wait)
        except TimeoutError:
            pass
        finally:
            waiters = self._waiters.get(lb.id, [])
            if entry in waiters:
                waiters.remove(entry)
            if not waiters:
                self._waiters.pop(lb.id, None)
        return self.view(lb)

    def _holds(self, lb: model.LoadBalancer) -> bool:
        if lb.provisioning_status is model.ProvisioningStatus.PENDING_DELETE:
            return self._store.get(lb.id) is None
        held = self._held.get(lb.id)
        return held is not None and held[0] >= lb.revision

    def apply(self, outcomes: list[Realized]) -> None:
        """Records what OVN now holds (ACTIVE, or ERROR with the reason) and
        tells watchers; a finished delete leaves the store."""
        deleted = [o for o in outcomes if o.deleted]
        for outcome in outcomes:
            if outcome.deleted:
                self._held.pop(outcome.lb_id, None)
            else:
                self._held[outcome.lb_id] = (outcome.revision, outcome.error)
        if deleted:
            self._spawn(self._finish_deletes(deleted))
        if len(self._watchers):
            # Outcomes name a revision, not its load balancer: read it back for watchers.
            changes = []
            for o in outcomes:
                lb = None if o.deleted else self._store.get(o.lb_id)
                if lb is not None and lb.revision == o.revision:
                    changes.append(Change(ChangeKind.UPDATED, lb))
            self.publish(changes)
        self._wake(o for o in outcomes if not o.deleted)

    async def _finish_deletes(self, outcomes: list[Realized]) -> None:
        def write(tx: Tx) -> None:
            for outcome in outcomes:
                lb = tx.get(outcome.lb_id)
                if lb is not None and lb.revision == outcome.revision:
                    tx.delete(lb)

        try:
            await self._store.write(write)
        finally:
            self._wake(outcomes)

    def _wake(self, outcomes: Iterable[Realized]) -> None:
        for outcome in outcomes:
            for revision, waiter in self._waiters.get(outcome.lb_id, []):
                if revision <= outcome.revision and not waiter.done():
                    waiter.set_result(None)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Waits for background store writes (finished deletes) at shutdown."""
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=DRAIN_WAIT)
