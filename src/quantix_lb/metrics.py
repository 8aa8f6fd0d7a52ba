"""Prometheus metrics: one private registry, the instruments, and its rendering for `/metrics`.

The registry belongs to this module, not to prometheus_client's global default,
so nothing else registered in the process shows up here (and tests that import
two copies of a collector do not collide).

Three kinds of figures:
- instruments updated where things happen (RPC latency in the dispatcher, NB
  transactions on the IDL thread, health transitions in the coordinator);
- callback gauges, read at scrape time from a function registered with
  `set_source` (workers connected, reconcile lag): figures someone already keeps;
- whole collectors added with `register_collector`, for figures owned elsewhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

# What generate_latest writes: the text exposition format 0.0.4.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

REGISTRY = CollectorRegistry()

RPC_DURATION = Histogram(
    "quantix_lb_rpc_duration_seconds",
    "Unary RPCs by method, transport (grpc, connect, rest) and google.rpc code name.",
    ("method", "transport", "code"),
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)
RPC_STREAMS = Counter(
    "quantix_lb_rpc_streams_total",
    "Streaming RPCs closed, by method, transport and code name.",
    ("method", "transport", "code"),
    registry=REGISTRY,
)
NB_TRANSACTION_DURATION = Histogram(
    "quantix_lb_ovn_nb_transaction_duration_seconds",
    "OVN Northbound transaction commits by outcome (ok, retry, error).",
    ("outcome",),
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
    registry=REGISTRY,
)
NB_COMMANDS = Counter(
    "quantix_lb_ovn_nb_commands_total", "NB commands committed by successful transactions.", registry=REGISTRY
)
HEALTH_TRANSITIONS = Counter(
    "quantix_lb_health_transitions_total",
    "Member health transitions accepted from workers, by the new state.",
    ("healthy",),
    registry=REGISTRY,
)

# Bound once: .labels() takes a lock and builds a key on every call.
_NB_OUTCOME = {outcome: NB_TRANSACTION_DURATION.labels(outcome) for outcome in ("ok", "retry", "error")}
_TRANSITIONS = {healthy: HEALTH_TRANSITIONS.labels(str(healthy).lower()) for healthy in (True, False)}
_rpc_children: dict[tuple[str, str, str], Histogram] = {}
_stream_children: dict[tuple[str, str, str], Counter] = {}


def observe_rpc(method: str, transport: str, code: str, seconds: float) -> None:
    key = (method, transport, code)
    child = _rpc_children.get(key)
    if child is None:  # a race here only binds the same child twice
        child = _rpc_children[key] = RPC_DURATION.labels(method, transport, code)
    child.observe(seconds)


def count_stream(method: str, transport: str, code: str) -> None:
    key = (method, transport, code)
    child = _stream_children.get(key)
    if child is None:
        child = _stream_children[key] = RPC_STREAMS.labels(method, transport, code)
    child.inc()


def observe_nb_transaction(outcome: str, seconds: float, commands: int) -> None:
    """One commit on the IDL thread; `commands` count only when it succeeded."""
    _NB_OUTCOME[outcome].observe(seconds)
    if outcome == "ok":
        NB_COMMANDS.inc(commands)


def count_transition(healthy: bool) -> None:
    _TRANSITIONS[healthy].inc()


# --- callback gauges ----------------------------------------------------------------

Source = Callable[[], float | None]  # None: no value yet (the gauge has no sample)

HEALTH_WORKERS = "quantix_lb_health_workers_connected"
FULL_PASS_DURATION = "quantix_lb_ovn_full_pass_duration_seconds"
FULL_PASS_AGE = "quantix_lb_ovn_full_pass_age_seconds"
PENDING = "quantix_lb_ovn_pending_load_balancers"
_SOURCE_HELP = {
    HEALTH_WORKERS: "Health workers with an open session.",
    FULL_PASS_DURATION: "How long the last full reconcile pass took (absent until the first).",
    FULL_PASS_AGE: "Seconds since the last full reconcile pass finished (absent until the first).",
    PENDING: "Load balancers waiting to be realized or checked in OVN Northbound (approximate).",
}


class _Sources(Collector):
    """One gauge per registered source, read when scraped."""

    def __init__(self) -> None:
        self._sources: dict[str, Source] = {}

    def set(self, name: str, fn: Source) -> None:
        if name not in _SOURCE_HELP:
            raise KeyError(f"unknown callback gauge {name!r}")
        self._sources[name] = fn

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for name, fn in list(self._sources.items()):
            family = GaugeMetricFamily(name, _SOURCE_HELP[name])
            value = fn()
            if value is not None:
                family.add_metric([], value)
            yield family


_sources = _Sources()
REGISTRY.register(_sources)


def set_source(name: str, fn: Source) -> None:
    """Reads gauge `name` (one of the names above) from `fn` at every scrape, on
    the event loop's thread; a later call replaces the function."""
    _sources.set(name, fn)


def register_collector(collector: Collector) -> None:
    """Adds figures owned elsewhere (e.g. per load balancer) to `/metrics`.

    `collector` is any object whose `collect()` returns or yields metric
    families (`prometheus_client.core.GaugeMetricFamily`, `CounterMetricFamily`,
    ...), named `quantix_lb_...`. It is called at every scrape on the event
    loop's thread, so it must be quick and must not block: read figures kept
    up to date elsewhere, do not fetch them. Register once per process (at
    start-up); a collector that raises fails the whole scrape."""
    REGISTRY.register(collector)


def render() -> tuple[bytes, str]:
    """The `/metrics` body and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE
