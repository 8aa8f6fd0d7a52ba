"""Load-balancer and member figures for Prometheus (/metrics).

Only load balancers whose frontends have seen a connection are listed: the
others have nothing to show but zeros, and 10,000 idle ones would bloat every
scrape. Figures a data path cannot provide (bytes on the userspace datapath)
are left out, never exported as zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from quantix_lb import model
from quantix_lb.stats.aggregate import StatsAggregator
from quantix_lb.stats.steering import SteeringController

_LB = ["load_balancer_id", "project_id"]
_MEMBER = ["load_balancer_id", "listener_id", "member_id"]


class LoadBalancerMetrics(Collector):
    def __init__(
        self,
        stats: StatsAggregator,
        load_balancer: Callable[[str], model.LoadBalancer | None],
        steering: SteeringController,
    ) -> None:
        self._stats = stats
        self._load_balancer = load_balancer
        self._steering = steering

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        nodes = GaugeMetricFamily(
            "quantix_lb_stats_nodes", "Workers whose data-path statistics are fresh and readable."
        )
        nodes.add_metric([], self._stats.nodes())
        yield nodes
        steer = CounterMetricFamily(
            "quantix_lb_steering_updates",
            "LEAST_CONNECTIONS backend lists handed to the realizer (it writes only real changes).",
        )
        steer.add_metric([], self._steering.changes)
        yield steer

        active = GaugeMetricFamily("quantix_lb_active_connections", "Connections open now.", labels=_LB)
        total = CounterMetricFamily("quantix_lb_connections", "Connections seen.", labels=_LB)
        rps = GaugeMetricFamily(
            "quantix_lb_requests_per_second", "New connections per second (10 s window).", labels=_LB
        )
        bytes_in = CounterMetricFamily("quantix_lb_bytes_in", "Bytes from clients.", labels=_LB)
        bytes_out = CounterMetricFamily("quantix_lb_bytes_out", "Bytes to clients.", labels=_LB)
        m_active = GaugeMetricFamily(
            "quantix_lb_member_active_connections", "Connections open now to a member.", labels=_MEMBER
        )
        m_total = CounterMetricFamily(
            "quantix_lb_member_connections", "Connections seen by a member.", labels=_MEMBER
        )
        # Nothing measured at all: export nothing rather than zeros.
        measured = not self._stats.unavailable_reason()
        seen = self._stats.load_balancers_of(self._stats.frontends_seen()) if measured else set()
        for lb_id in sorted(seen):
            lb = self._load_balancer(lb_id)
            if lb is None:
                continue
            fig = self._stats.figures(lb)
            if fig.unavailable_reason:
                continue  # this one cannot be measured (its VIP:port is shared with another network)
            labels = [lb.id, lb.project_id]
            for family, value in (
                (active, fig.active),
                (total, fig.total),
                (rps, fig.requests_per_second),
                (bytes_in, fig.bytes_in),
                (bytes_out, fig.bytes_out),
            ):
                if value is not None:
                    family.add_metric(labels, value)
            for lf in fig.listeners:
                for mf in lf.members:
                    member = [lb.id, lf.listener_id, mf.member_id]
                    if mf.active is not None:
                        m_active.add_metric(member, mf.active)
                    if mf.total is not None:
                        m_total.add_metric(member, mf.total)
        yield from (active, total, rps, bytes_in, bytes_out, m_active, m_total)
