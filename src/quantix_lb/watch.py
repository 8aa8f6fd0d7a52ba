"""Fan-out of committed changes to WatchLoadBalancers streams."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from quantix_lb.errors import ApiError, Code
from quantix_lb.store import Change

QUEUE_LIMIT = 4096


class Subscription:
    def __init__(self, hub: WatchHub) -> None:
        self._hub = hub
        self._queue: asyncio.Queue[Change] = asyncio.Queue(QUEUE_LIMIT)
        self.overflowed = False

    def offer(self, change: Change) -> None:
        try:
            self._queue.put_nowait(change)
        except asyncio.QueueFull:
            # A stalled reader must not hold memory or slow writers: end its stream.
            self.overflowed = True

    async def changes(self) -> AsyncIterator[Change]:
        try:
            while True:
                if self.overflowed and self._queue.empty():
                    raise ApiError(Code.ABORTED, "watch fell behind the changes; reconnect")
                yield await self._queue.get()
        finally:
            self._hub.unsubscribe(self)


class WatchHub:
    def __init__(self) -> None:
        self._subscriptions: set[Subscription] = set()

    def subscribe(self) -> Subscription:
        sub = Subscription(self)
        self._subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.discard(sub)

    def publish(self, changes: list[Change]) -> None:
        for sub in list(self._subscriptions):
            for change in changes:
                sub.offer(change)
