"""Fan-out of committed changes to WatchLoadBalancers streams."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from quantix_lb import model
from quantix_lb.errors import ApiError, Code
from quantix_lb.stats.aggregate import LoadBalancerFigures
from quantix_lb.store import Change


@dataclass(frozen=True)
class StatsChange:
    """Fresh statistics of a load balancer (for watchers that asked for them)."""

    load_balancer: model.LoadBalancer
    figures: LoadBalancerFigures


QUEUE_LIMIT = 4096


class Subscription:
    """One stream's queue of changes. It is its own async iterator so that
    `aclose()` unsubscribes even when iteration never started (a stream that
    ends during its snapshot must not stay subscribed)."""

    def __init__(self, hub: WatchHub, include_stats: bool = False) -> None:
        self._hub = hub
        self.include_stats = include_stats  # StatsChange items only for those who asked
        # None wakes a waiting reader after close().
        self._queue: asyncio.Queue[Change | StatsChange | None] = asyncio.Queue(QUEUE_LIMIT)
        self.overflowed = False
        self.closed = False

    def offer(self, change: Change | StatsChange) -> None:
        try:
            self._queue.put_nowait(change)
        except asyncio.QueueFull:
            # A stalled reader must not hold memory or slow writers: end its stream.
            self.overflowed = True

    def close(self) -> None:
        """Ends the stream (the server is stopping): the reader gets UNAVAILABLE."""
        self.closed = True
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)

    def changes(self) -> Subscription:
        return self

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> Change | StatsChange:
        while True:
            if self.closed:
                raise ApiError(Code.UNAVAILABLE, "server is shutting down; reconnect")
            if self.overflowed and self._queue.empty():
                raise ApiError(Code.ABORTED, "watch fell behind the changes; reconnect")
            change = await self._queue.get()
            if change is not None:
                return change

    async def aclose(self) -> None:
        self._hub.unsubscribe(self)


class WatchHub:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()
        self._closed = False

    def subscribe(self, include_stats: bool = False) -> Subscription:
        sub = Subscription(self, include_stats)
        if self._closed:
            sub.close()
        else:
            self._subscriptions.add(sub)
        return sub

    def __len__(self) -> int:
        return len(self._subscriptions)

    def wants_stats(self) -> bool:
        return any(sub.include_stats for sub in self._subscriptions)

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.discard(sub)

    def publish(self, changes: Sequence[Change | StatsChange]) -> None:
        has_stats = any(isinstance(c, StatsChange) for c in changes)
        for sub in list(self._subscriptions):
            for change in changes:
                if not has_stats or sub.include_stats or not isinstance(change, StatsChange):
                    sub.offer(change)

    def close(self) -> None:
        """Ends every open stream so shutdown does not wait on idle watchers."""
        self._closed = True
        for sub in list(self._subscriptions):
            sub.close()
        self._subscriptions.clear()
