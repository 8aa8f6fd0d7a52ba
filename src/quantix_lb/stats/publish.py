"""Statistics for watchers: fresh figures that changed, about once a second."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from quantix_lb import model
from quantix_lb.stats.aggregate import FrontendKey, LoadBalancerFigures, StatsAggregator
from quantix_lb.watch import StatsChange, WatchHub


class StatsPublisher:
    """Publishes STATS events to the watchers that asked for them, each load
    balancer's figures only when they changed since the last publication."""

    def __init__(
        self,
        stats: StatsAggregator,
        watchers: WatchHub,
        current: Callable[[str], model.LoadBalancer | None],
    ) -> None:
        """`current`: a load balancer as clients see it, None once it is gone."""
        self._stats = stats
        self._watchers = watchers
        self._current = current
        self._touched: set[str] = set()  # load balancers with fresh figures, not yet published
        self._published: dict[str, LoadBalancerFigures] = {}  # without their sampling time
        self._nodes = 0  # workers with fresh figures at the last publication

    def touched(self, frontends: set[FrontendKey]) -> None:
        """Aggregator subscriber: these frontends have a fresh sample."""
        if self._watchers.wants_stats():
            self._touched |= self._stats.load_balancers_of(frontends)

    def publish(self) -> None:
        """Called about once a second: fresh figures that changed go to watchers."""
        touched, self._touched = self._touched, set()
        nodes = self._stats.nodes()
        if nodes != self._nodes:  # figures came or went without any new sample
            self._nodes = nodes
            touched |= set(self._published)
        if not self._watchers.wants_stats():
            self._published.clear()
            return
        events: list[StatsChange] = []
        for lb_id in touched:
            lb = self._current(lb_id)
            if lb is None:
                self._published.pop(lb_id, None)
                continue
            figures = self._stats.figures(lb)
            # The sampling time alone is no news.
            news = replace(figures, sampled_at=None)
            if news != self._published.get(lb_id):
                self._published[lb_id] = news
                events.append(StatsChange(lb, figures))
        if events:
            self._watchers.publish(events)
