"""The protobuf boundary: API messages in, domain types out.

`LoadBalancerApi` is what the transports call: one coroutine per RPC that
turns the request message into domain values, calls the rules
(`service.LoadBalancerCore`, which knows no protobuf) and turns the answer
into the response message. `HealthWorkerApi` does the same for the workers'
stream in front of `health.coordinator`. Incoming enums and the parts of the cloud's
contract an L4 data path cannot honour are checked here (as field
violations, never exceptions); every other rule lives in `model` and `service`.
"""

from __future__ import annotations

import asyncio
import enum
import functools
import itertools
import math
import sys
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any, TypeVar

import structlog
from google.protobuf.empty_pb2 import Empty
from google.protobuf.timestamp_pb2 import Timestamp

from limiquantix.network.v1 import network_pb2 as res
from limiquantix.network.v1 import network_service_pb2 as svc
from quantix.lb.v1 import health_worker_pb2 as wire
from quantix_lb import cachefile, documents, model
from quantix_lb.auth import Principal
from quantix_lb.errors import ApiError, Violation
from quantix_lb.health import coordinator as hc
from quantix_lb.model import Problems, field_path
from quantix_lb.realization import ViewKey, head_key, view_key
from quantix_lb.rules import Draft, MemberChange, PoolChange
from quantix_lb.service import Event, EventKind, Listed, LoadBalancerCore
from quantix_lb.stats.aggregate import LoadBalancerFigures, NodeReport, ReportedBackend, ReportedFrontend

log = structlog.get_logger(__name__)

E = TypeVar("E", bound=enum.Enum)
_PHASE = {
    model.ProvisioningStatus.PENDING_CREATE: res.LoadBalancerStatus.PENDING,
    model.ProvisioningStatus.PENDING_UPDATE: res.LoadBalancerStatus.PENDING,
    model.ProvisioningStatus.ACTIVE: res.LoadBalancerStatus.ACTIVE,
    model.ProvisioningStatus.ERROR: res.LoadBalancerStatus.ERROR,
    model.ProvisioningStatus.PENDING_DELETE: res.LoadBalancerStatus.DELETING,
}
_REALIZED_ONCE = (model.ProvisioningStatus.ACTIVE, model.ProvisioningStatus.PENDING_UPDATE)
_EVENT = {
    EventKind.EXISTING: svc.WatchLoadBalancersResponse.EXISTING,
    EventKind.SNAPSHOT_COMPLETE: svc.WatchLoadBalancersResponse.SNAPSHOT_COMPLETE,
    EventKind.CREATED: svc.WatchLoadBalancersResponse.CREATED,
    EventKind.UPDATED: svc.WatchLoadBalancersResponse.UPDATED,
    EventKind.DELETED: svc.WatchLoadBalancersResponse.DELETED,
    EventKind.STATS: svc.WatchLoadBalancersResponse.STATS,
}
_HEALTHY = (model.OperatingStatus.ONLINE, model.OperatingStatus.NO_MONITOR)
L7_ONLY = "needs an L7 proxy; OVN balances at Layer 4"


def enum_in(p: Problems, path: str, proto_enum: Any, number: int, target: type[E]) -> E | None:
    """A proto enum number as the domain enum of the same name (None after a violation)."""
    try:
        name = proto_enum.Name(number)
        return target(name)
    except ValueError:
        p.add(path, f"unknown value {number}; one of {', '.join(m.value for m in target)}")
        return None


def canonical_or_raw(text: str) -> str:
    """The canonical spelling of an IP address, or the text as given when it
    is none (validation then reports it with the field path)."""
    try:
        return model.canonical_ip(text)
    except ValueError:
        return text


def _seconds(whole: int, millis: int) -> float:
    return millis / 1000 if millis else float(whole)


def monitor_in(p: Problems, path: str, msg: res.HealthMonitor) -> model.HealthMonitor:
    kind = enum_in(p, field_path(path, "type"), res.HealthMonitor.Type, msg.type, model.MonitorType)
    http = kind in (model.MonitorType.HTTP, model.MonitorType.HTTPS)
    delay, timeout = _seconds(msg.delay, msg.delay_ms), _seconds(msg.timeout, msg.timeout_ms)
    if not delay:
        p.add(field_path(path, "delay"), "is required (whole seconds, or delay_ms)")
    if not timeout:
        p.add(field_path(path, "timeout"), "is required (whole seconds, or timeout_ms)")
    return model.HealthMonitor(
        id=model.new_id("hm"),
        type=kind or model.MonitorType.PING,
        # Stand-ins after a violation, so no second one follows from them.
        delay=delay or max(timeout, 1.0),
        timeout=timeout or min(delay or 1.0, 1.0),
        max_retries=msg.max_retries or 3,
        healthy_threshold=msg.healthy_threshold or 2,
        http_method=msg.http_method or ("GET" if http else ""),
        url_path=msg.url_path or ("/" if http else ""),
        expected_codes=msg.expected_codes or ("200" if http else ""),
        domain_name=msg.domain_name,
        tls_verify=msg.tls_verify,
    )


def persistence_in(p: Problems, path: str, msg: res.SessionPersistence) -> model.SessionPersistence:
    kind: model.PersistenceType | None = model.PersistenceType.NONE
    if msg.type in (res.SessionPersistence.HTTP_COOKIE, res.SessionPersistence.APP_COOKIE):
        name = res.SessionPersistence.Type.Name(msg.type)
        p.add(field_path(path, "type"), f"{name} persistence {L7_ONLY}; use SOURCE_IP")
    else:
        kind = enum_in(
            p, field_path(path, "type"), res.SessionPersistence.Type, msg.type, model.PersistenceType
        )
    if msg.cookie_name:
        p.add(field_path(path, "cookie_name"), f"only cookie persistence has a cookie, and it {L7_ONLY}")
    kind = kind or model.PersistenceType.NONE
    timeout = msg.timeout or (300 if kind is model.PersistenceType.SOURCE_IP else 0)
    return model.SessionPersistence(type=kind, timeout=timeout)


def member_in(msg: res.PoolMember) -> model.Member:
    up = msg.admin_state_up if msg.HasField("admin_state_up") else True
    return model.Member(
        id=model.new_id("mem"),
        name=msg.name,
        address=canonical_or_raw(msg.address),
        port=msg.port,
        weight=msg.weight if msg.HasField("weight") else 1,
        admin_state_up=up,
        drain=msg.drain,
        subnet_id=msg.subnet_id,
    )


def pool_in(p: Problems, path: str, msg: res.Pool) -> model.Pool:
    algorithm = enum_in(p, field_path(path, "algorithm"), res.Pool.Algorithm, msg.algorithm, model.Algorithm)
    protocol = (
        enum_in(p, field_path(path, "protocol"), res.Listener.Protocol, msg.protocol, model.Protocol)
        if msg.HasField("protocol")
        else None
    )
    return model.Pool(
        id=model.new_id("pool"),
        name=msg.name,
        algorithm=algorithm or model.Algorithm.ROUND_ROBIN,
        protocol=protocol,
        members=tuple(member_in(m) for m in msg.members),
        health_monitor=(
            monitor_in(p, field_path(path, "health_monitor"), msg.health_monitor)
            if msg.HasField("health_monitor")
            else None
        ),
        session_persistence=(
            persistence_in(p, field_path(path, "persistence"), msg.persistence)
            if msg.HasField("persistence")
            else None
        ),
    )


def listener_in(p: Problems, path: str, msg: res.Listener) -> tuple[model.Listener, model.Pool | None]:
    """The listener (its default_pool_id still the client's reference) and the
    pool it brings inline, if any."""
    if msg.HasField("tls"):
        p.add(field_path(path, "tls"), f"TLS termination {L7_ONLY}: use a TCP or HTTPS listener and"
              " terminate TLS on the members")  # fmt: skip
    if msg.connection_limit:
        p.add(field_path(path, "connection_limit"), "must be 0 (unlimited): OVN cannot cap connections")
    protocol = enum_in(p, field_path(path, "protocol"), res.Listener.Protocol, msg.protocol, model.Protocol)
    inline = None
    ref = msg.default_pool_id
    if msg.HasField("default_pool"):
        if ref:
            p.add(field_path(path, "default_pool"), "give default_pool_id or default_pool, not both")
        inline = pool_in(p, field_path(path, "default_pool"), msg.default_pool)
        ref = inline.id
    listener = model.Listener(
        id=model.new_id("lis"),
        name=msg.name,
        protocol=protocol or model.Protocol.TCP,
        port=msg.port,
        default_pool_id=ref,
    )
    return listener, inline


def _shorthand(p: Problems, name: str, flat: str, in_spec: str) -> tuple[str, str]:
    """A value given flat (the design document's shape) or in spec, and its path."""
    if flat and in_spec and flat != in_spec:
        p.add(name, f"contradicts spec.{name} ({in_spec!r})")
    return (in_spec, f"spec.{name}") if in_spec or not flat else (flat, name)


def create_in(req: svc.CreateLoadBalancerRequest) -> Draft:
    p = Problems()
    spec = req.spec
    network_id, network_path = _shorthand(p, "network_id", req.network_id, spec.network_id)
    vip, vip_path = _shorthand(p, "vip_address", req.vip_address, spec.vip_address)
    listeners_in, prefix = spec.listeners, "spec.listeners"
    if req.listeners:
        if spec.listeners:
            p.add("listeners", "give the listeners here or in spec.listeners, not both")
        listeners_in, prefix = req.listeners, "listeners"
    where = {"network_id": network_path, "vip_address": vip_path, "listeners": prefix}
    aliases: dict[str, str] = {}  # a pool's id as the client wrote it -> its new id
    pools = []
    for j, msg in enumerate(spec.pools):
        pool = pool_in(p, f"spec.pools[{j}]", msg)
        where[pool.id] = f"spec.pools[{j}]"
        if msg.id:
            aliases[msg.id] = pool.id
        pools.append(pool)
    listeners = []
    for i, msg in enumerate(listeners_in):
        path = f"{prefix}[{i}]"
        listener, inline = listener_in(p, path, msg)
        where[listener.id] = path
        if inline is not None:
            where[inline.id] = field_path(path, "default_pool")
            pools.append(inline)
        listeners.append(listener)
    return Draft(
        name=req.name,
        description=req.description,
        project_id=req.project_id,
        labels=tuple(sorted(req.labels.items())),
        network_id=network_id,
        subnet_id=spec.subnet_id,
        vip_address=canonical_or_raw(vip),
        listeners=tuple(listeners),
        pools=tuple(pools),
        where=where,
        aliases=aliases,
        problems=tuple(p.violations),
    )


# --- out ------------------------------------------------------------------------


def _ts(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def _out_enum(proto_enum: Any, value: enum.Enum) -> int:
    return proto_enum.Value(value.value)


def monitor_out(hm: model.HealthMonitor) -> res.HealthMonitor:
    return res.HealthMonitor(
        id=hm.id,
        type=_out_enum(res.HealthMonitor.Type, hm.type),
        # Whole seconds for the cloud's clients (rounded up); exact in the _ms fields.
        delay=math.ceil(hm.delay),
        timeout=math.ceil(hm.timeout),
        delay_ms=round(hm.delay * 1000),
        timeout_ms=round(hm.timeout * 1000),
        **_check_fields(hm),
    )


def probe_out(hm: model.HealthMonitor) -> wire.Probe:
    """A monitor as the health worker gets it: every default resolved."""
    return wire.Probe(
        type=wire.Probe.Type.Value(f"TYPE_{hm.type.value}"),
        delay=hm.delay,
        timeout=hm.timeout,
        **_check_fields(hm),
    )


_CHECK_FIELDS = (
    "max_retries",
    "healthy_threshold",
    "http_method",
    "url_path",
    "expected_codes",
    "domain_name",
    "tls_verify",
)


def _check_fields(hm: model.HealthMonitor) -> dict[str, Any]:
    """What the API's monitor and the worker's probe say alike."""
    return {name: getattr(hm, name) for name in _CHECK_FIELDS}


# Messages are built in place (`add`, nested fields set on the parent): a message passed
# to its parent's constructor is copied into it (serialized and parsed again), which took
# a third of an answer's ~100 us at 2 listeners x 10 members.


def _add_member(members: Any, m: model.Member) -> None:
    members.add(
        id=m.id,
        name=m.name,
        address=m.address,
        port=m.port,
        weight=m.weight,
        admin_state_up=m.admin_state_up,
        drain=m.drain,
        subnet_id=m.subnet_id,
        provisioning_status=m.provisioning_status.value,
        operating_status=m.operating_status.value,
        last_failure_reason=m.last_failure_reason,
    )


def _add_pool(pools: Any, pool: model.Pool) -> None:
    msg = pools.add(
        id=pool.id,
        name=pool.name,
        algorithm=_out_enum(res.Pool.Algorithm, pool.algorithm),
        provisioning_status=pool.provisioning_status.value,
        operating_status=pool.operating_status.value,
        status_reason=pool.status_reason,
    )
    for m in pool.members:
        _add_member(msg.members, m)
    if pool.protocol is not None:
        msg.protocol = _out_enum(res.Listener.Protocol, pool.protocol)
    if pool.health_monitor:
        msg.health_monitor.CopyFrom(monitor_out(pool.health_monitor))
    if pool.session_persistence:
        sp = pool.session_persistence
        msg.persistence.type = _out_enum(res.SessionPersistence.Type, sp.type)
        msg.persistence.timeout = sp.timeout


def _add_listener(listeners: Any, li: model.Listener) -> None:
    listeners.add(
        id=li.id,
        name=li.name,
        protocol=_out_enum(res.Listener.Protocol, li.protocol),
        port=li.port,
        default_pool_id=li.default_pool_id,
        provisioning_status=li.provisioning_status.value,
        operating_status=li.operating_status.value,
    )


def load_balancer_out(lb: model.LoadBalancer) -> res.LoadBalancer:
    status = lb.provisioning_status
    out = res.LoadBalancer(
        id=lb.id, name=lb.name, description=lb.description, project_id=lb.project_id, labels=dict(lb.labels)
    )
    spec = out.spec
    spec.network_id = lb.network_id
    spec.subnet_id = lb.subnet_id
    spec.vip_address = lb.vip_address
    for li in lb.listeners:
        _add_listener(spec.listeners, li)
    for pool in lb.pools:
        _add_pool(spec.pools, pool)
    st = out.status
    st.phase = _PHASE[status]
    st.provisioning_status = status.value
    st.operating_status = lb.operating_status.value
    st.vip_address = lb.vip_address if status in _REALIZED_ONCE else ""
    st.error_message = lb.status_reason if status is model.ProvisioningStatus.ERROR else ""
    out.created_at.FromNanoseconds(int(lb.created_at * 1e9))
    out.updated_at.FromNanoseconds(int(lb.updated_at * 1e9))
    return out


def _total(values: Iterable[int | None]) -> int | None:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def stats_out(lb: model.LoadBalancer, figures: LoadBalancerFigures | None) -> svc.LoadBalancerStats:
    """The figures as the API shows them: a counter nobody measures stays unset.
    At Layer 4 a request is a connection."""
    out = svc.LoadBalancerStats(load_balancer_id=lb.id)
    by_listener = {f.listener_id: f for f in figures.listeners} if figures else {}
    if figures is not None:
        _set_optional(
            out,
            total_connections=figures.total,
            requests=figures.total,
            active_connections=figures.active,
            bytes_in=figures.bytes_in,
            bytes_out=figures.bytes_out,
            requests_per_second=figures.requests_per_second,
        )
        if figures.sampled_at is not None:
            out.sampled_at.CopyFrom(_ts(figures.sampled_at))
        out.unavailable_reason = figures.unavailable_reason
    per_member: dict[str, list[Any]] = {}
    for li in lb.listeners:
        lf = by_listener.get(li.id)
        ls = out.listener_stats.add(listener_id=li.id)
        if lf is None:
            continue
        _set_optional(
            ls,
            active_connections=lf.active,
            total_connections=lf.total,
            requests_per_second=lf.requests_per_second,
            bytes_in=lf.bytes_in,
            bytes_out=lf.bytes_out,
        )
        for mf in lf.members:
            per_member.setdefault(mf.member_id, []).append(mf)
    served = {li.default_pool_id for li in lb.listeners}
    for pool in lb.pools:
        if pool.id not in served:
            continue
        for m in pool.members:
            ms = out.member_stats.add(
                pool_id=pool.id,
                member_id=m.id,
                address=m.address,
                port=m.port,
                healthy=m.operating_status in _HEALTHY,
                operating_status=m.operating_status.value,
            )
            found = per_member.get(m.id, [])
            if found:
                _set_optional(
                    ms,
                    active_connections=_total(f.active for f in found),
                    total_connections=_total(f.total for f in found),
                    bytes_in=_total(f.bytes_in for f in found),
                    bytes_out=_total(f.bytes_out for f in found),
                )
    return out


def _set_optional(message: Any, **fields: Any) -> None:
    for name, value in fields.items():
        if value is not None:
            setattr(message, name, value)


def _required(value: str, field: str) -> str:
    if not value:
        raise ApiError.invalid([Violation(field, "is required")])
    return value


# --- the RPCs -------------------------------------------------------------------------

ANSWERS_KEPT = 16_384  # load balancers whose latest answer stays encoded (~1.3 KB each)
Kept = tuple[str, ViewKey, bytes]  # load balancer id, its view's key, the answer encoded


@functools.cache
def answer_format() -> bytes:
    """What an answer's bytes follow from, besides its load balancer's document: the
    messages (the proto) and the code that builds a view and its message (model.py's
    `realized`, this module). Answers saved under another format are not used."""
    return cachefile.format_of(res.DESCRIPTOR.serialized_pb, model, sys.modules[__name__])


def anticipated_key(head: documents.Head) -> ViewKey:
    """`view_key` of the view a stored load balancer has once OVN holds it as stored:
    realized (ACTIVE), or still being deleted."""
    deleting = head.provisioning_status is model.ProvisioningStatus.PENDING_DELETE
    return head_key(head, None if deleting else "")


class Answers:
    """Each load balancer's latest answer, encoded once: a list, get or watch that
    finds the same view again copies its bytes (~5 µs) instead of building its
    messages field by field (~100 µs a load balancer of 2 listeners x 10 members).
    A view is keyed by what can change it (realization.view_key)."""

    def __init__(self, kept: int = ANSWERS_KEPT) -> None:
        self._limit = kept
        self._by_id: OrderedDict[str, tuple[ViewKey, bytes]] = OrderedDict()

    def message(self, lb: model.LoadBalancer) -> res.LoadBalancer:
        """A new message of `lb`, remembered encoded."""
        data = self._kept(lb)
        if data is not None:
            return res.LoadBalancer.FromString(data)
        message = load_balancer_out(lb)
        self._keep(lb, message.SerializeToString())
        return message

    def encoded(self, lb: model.LoadBalancer) -> bytes:
        data = self._kept(lb)
        if data is None:
            data = load_balancer_out(lb).SerializeToString()
            self._keep(lb, data)
        return data

    def listed(self, entry: Listed) -> bytes:
        """A listed load balancer's answer: decoded and built only when none of its key is kept."""
        data = self._find(entry.id, entry.key)
        return self.encoded(entry.view()) if data is None else data

    @staticmethod
    def anticipate(
        docs: Iterable[bytes],
        saved: Mapping[str, tuple[ViewKey, bytes]] | None = None,
        limit: int = ANSWERS_KEPT,
    ) -> list[Kept]:
        """The answers these stored load balancers (documents) will have once OVN holds
        them as stored, as after a restart (a PENDING_DELETE stays as it is): taken from
        `saved` (answercache.py) when it holds that very view, else encoded ahead. Any
        thread may call it, while the realizer reads the NB. Else the first list after a
        restart builds every answer (~1 s at 10,000)."""
        saved = saved or {}
        ahead: list[Kept] = []
        for doc in itertools.islice(docs, limit):
            head = documents.head(doc)
            key = anticipated_key(head)
            found = saved.get(head.id)
            if found is not None and found[0] == key:
                ahead.append((head.id, key, found[1]))
                continue
            lb = documents.load(doc)
            if lb.provisioning_status is not model.ProvisioningStatus.PENDING_DELETE:
                lb = model.realized(lb)
            ahead.append((head.id, key, load_balancer_out(lb).SerializeToString()))
        return ahead

    def kept(self) -> list[Kept]:
        """Every answer kept, least recently used first (for answercache.save)."""
        return [(lb_id, key, data) for lb_id, (key, data) in self._by_id.items()]

    def adopt(self, ahead: list[Kept]) -> None:
        """Keeps anticipated answers (on the event loop), under any kept since."""
        for lb_id, key, data in ahead:
            if len(self._by_id) >= self._limit:
                return
            if lb_id not in self._by_id:
                self._by_id[lb_id] = (key, data)
                self._by_id.move_to_end(lb_id, last=False)

    def _kept(self, lb: model.LoadBalancer) -> bytes | None:
        return self._find(lb.id, view_key(lb))

    def _find(self, lb_id: str, key: ViewKey) -> bytes | None:
        kept = self._by_id.get(lb_id)
        if kept is None or kept[0] != key:
            return None
        self._by_id.move_to_end(lb_id)
        return kept[1]

    def _keep(self, lb: model.LoadBalancer, data: bytes) -> None:
        self._by_id[lb.id] = (view_key(lb), data)
        self._by_id.move_to_end(lb.id)
        if len(self._by_id) > self._limit:
            self._by_id.popitem(last=False)


class LoadBalancerApi:
    """LoadBalancerService as the transports call it: message in, message out."""

    def __init__(self, core: LoadBalancerCore) -> None:
        self._core = core
        self._answers = Answers()
        self._out = self._answers.message

    async def anticipate(
        self, docs: Callable[[], Iterable[bytes]], saved: Mapping[str, tuple[ViewKey, bytes]]
    ) -> None:
        """Keeps the answers the stored load balancers will have once realized, found in
        `saved` or encoded, on a thread (see Answers.anticipate)."""
        stop = threading.Event()  # a cancelled wait leaves its thread running: tell it

        def encode() -> list[Kept]:
            return Answers.anticipate(itertools.takewhile(lambda _: not stop.is_set(), docs()), saved)

        try:
            ahead = await asyncio.to_thread(encode)
        finally:
            stop.set()
        self._answers.adopt(ahead)
        reused = sum(saved.get(lb_id, (None, None))[1] is data for lb_id, _, data in ahead)
        log.info("answers.anticipated", saved=reused, encoded=len(ahead) - reused)

    def answers_for_next_start(self, docs: Iterable[bytes]) -> list[Kept]:
        """What the next start will anticipate for these stored load balancers: each
        one's answer once realized, the one kept when it is that very view, else
        encoded now (when serve stops, for answercache.save)."""
        kept = {lb_id: (key, data) for lb_id, key, data in self._answers.kept()}
        return Answers.anticipate(docs, kept)

    async def get_load_balancer(self, req: svc.GetLoadBalancerRequest, who: Principal) -> res.LoadBalancer:
        return self._out(self._core.get(_required(req.id, "id"), who))

    async def get_load_balancer_stats(
        self, req: svc.GetLoadBalancerStatsRequest, who: Principal
    ) -> svc.LoadBalancerStats:
        return stats_out(*self._core.stats(_required(req.id, "id"), who))

    async def list_load_balancers(
        self, req: svc.ListLoadBalancersRequest, who: Principal
    ) -> svc.ListLoadBalancersResponse:
        page = self._core.list(req.project_id, req.network_id, req.page_size, req.page_token, who)
        out = svc.ListLoadBalancersResponse(
            next_page_token=page.next_page_token, total_count=page.total_count
        )
        for entry in page.load_balancers:
            out.load_balancers.add().MergeFromString(self._answers.listed(entry))
        return out

    async def watch_load_balancers(
        self, req: svc.WatchLoadBalancersRequest, who: Principal
    ) -> AsyncIterator[svc.WatchLoadBalancersResponse]:
        events = self._core.watch(req.project_id, req.network_id, req.include_stats, who)
        try:
            async for event in events:
                yield _event_out(event)
        finally:
            await events.aclose()

    async def create_load_balancer(
        self, req: svc.CreateLoadBalancerRequest, who: Principal
    ) -> res.LoadBalancer:
        # What conversion refuses is reported together with every other bad field.
        return self._out(await self._core.create(create_in(req), who))

    async def update_load_balancer(
        self, req: svc.UpdateLoadBalancerRequest, who: Principal
    ) -> res.LoadBalancer:
        _required(req.id, "id")
        mask = set(req.update_mask.paths) if req.HasField("update_mask") else None
        p = Problems()
        for path in sorted((mask or set()) - {"name", "description", "labels"}):
            p.add("update_mask", f"{path!r} cannot be updated here (name, description, labels)")
        p.raise_if_any()

        def wanted(name: str, present: bool) -> bool:
            return name in mask if mask is not None else present

        lb = await self._core.update(
            req.id,
            who,
            name=req.name if wanted("name", req.HasField("name")) else None,
            description=req.description if wanted("description", req.HasField("description")) else None,
            labels=tuple(sorted(req.labels.items())) if wanted("labels", bool(req.labels)) else None,
        )
        return self._out(lb)

    async def delete_load_balancer(self, req: svc.DeleteLoadBalancerRequest, who: Principal) -> Empty:
        await self._core.delete(_required(req.id, "id"), who)
        return Empty()

    async def add_listener(self, req: svc.AddListenerRequest, who: Principal) -> res.LoadBalancer:
        _required(req.load_balancer_id, "load_balancer_id")
        if not req.HasField("listener"):
            raise ApiError.invalid([Violation("listener", "is required")])
        p = Problems()
        listener, inline = listener_in(p, "listener", req.listener)
        p.raise_if_any()
        return self._out(await self._core.add_listener(req.load_balancer_id, listener, inline, who))

    async def update_listener(self, req: svc.UpdateListenerRequest, who: Principal) -> res.LoadBalancer:
        _required(req.load_balancer_id, "load_balancer_id")
        _required(req.listener_id, "listener_id")
        lb = await self._core.update_listener(
            req.load_balancer_id,
            req.listener_id,
            who,
            name=req.name if req.HasField("name") else None,
            port=req.port if req.HasField("port") else None,
            default_pool_id=req.default_pool_id if req.HasField("default_pool_id") else None,
        )
        return self._out(lb)

    async def remove_listener(self, req: svc.RemoveListenerRequest, who: Principal) -> res.LoadBalancer:
        _required(req.load_balancer_id, "load_balancer_id")
        _required(req.listener_id, "listener_id")
        return self._out(await self._core.remove_listener(req.load_balancer_id, req.listener_id, who))

    async def add_pool(self, req: svc.AddPoolRequest, who: Principal) -> res.LoadBalancer:
        _required(req.load_balancer_id, "load_balancer_id")
        if not req.HasField("pool"):
            raise ApiError.invalid([Violation("pool", "is required")])
        p = Problems()
        pool = pool_in(p, "pool", req.pool)
        p.raise_if_any()
        return self._out(await self._core.add_pool(req.load_balancer_id, pool, who))

    async def update_pool(self, req: svc.UpdatePoolRequest, who: Principal) -> res.LoadBalancer:
        _required(req.load_balancer_id, "load_balancer_id")
        _required(req.pool_id, "pool_id")
        p = Problems()
        if req.HasField("health_monitor") and req.remove_health_monitor:
            p.add("remove_health_monitor", "cannot be set together with health_monitor")
        change = PoolChange(
            name=req.name if req.HasField("name") else None,
            algorithm=(
                enum_in(p, "algorithm", res.Pool.Algorithm, req.algorithm, model.Algorithm)
                if req.HasField("algorithm")
                else None
            ),
            health_monitor=(
                monitor_in(p, "health_monitor", req.health_monitor)
                if req.HasField("health_monitor")
                else None
            ),
            remove_health_monitor=req.remove_health_monitor,
            persistence=(
                persistence_in(p, "persistence", req.persistence) if req.HasField("persistence") else None
            ),
        )
        p.raise_if_any()
        return self._out(await self._core.update_pool(req.load_balancer_id, req.pool_id, change, who))

    async def remove_pool(self, req: svc.RemovePoolRequest, who: Principal) -> res.LoadBalancer:
        _required(req.load_balancer_id, "load_balancer_id")
        _required(req.pool_id, "pool_id")
        return self._out(await self._core.remove_pool(req.load_balancer_id, req.pool_id, who))

    async def add_pool_member(self, req: svc.AddPoolMemberRequest, who: Principal) -> res.LoadBalancer:
        _required(req.load_balancer_id, "load_balancer_id")
        _required(req.pool_id, "pool_id")
        if not req.HasField("member"):
            raise ApiError.invalid([Violation("member", "is required")])
        member = member_in(req.member)
        return self._out(await self._core.add_member(req.load_balancer_id, req.pool_id, member, who))

    async def update_pool_member(self, req: svc.UpdatePoolMemberRequest, who: Principal) -> res.LoadBalancer:
        _required(req.load_balancer_id, "load_balancer_id")
        _required(req.pool_id, "pool_id")
        _required(req.member_id, "member_id")
        change = MemberChange(
            name=req.name if req.HasField("name") else None,
            weight=req.weight if req.HasField("weight") else None,
            admin_state_up=req.admin_state_up if req.HasField("admin_state_up") else None,
            drain=req.drain if req.HasField("drain") else None,
        )
        lb = await self._core.update_member(req.load_balancer_id, req.pool_id, req.member_id, change, who)
        return self._out(lb)

    async def remove_pool_member(self, req: svc.RemovePoolMemberRequest, who: Principal) -> res.LoadBalancer:
        _required(req.load_balancer_id, "load_balancer_id")
        _required(req.pool_id, "pool_id")
        _required(req.member_id, "member_id")
        lb = await self._core.remove_member(req.load_balancer_id, req.pool_id, req.member_id, who)
        return self._out(lb)


def _event_out(event: Event) -> svc.WatchLoadBalancersResponse:
    out = svc.WatchLoadBalancersResponse(type=_EVENT[event.kind])
    if event.kind is EventKind.STATS:
        assert event.load_balancer is not None
        out.stats.CopyFrom(stats_out(event.load_balancer, event.figures))
    elif event.load_balancer is not None:
        out.load_balancer.CopyFrom(load_balancer_out(event.load_balancer))
    return out


# --- the health workers' stream -------------------------------------------------------------


def _optional(msg: Any, name: str) -> Any:
    return getattr(msg, name) if msg.HasField(name) else None


def report_in(msg: wire.StatsReport) -> NodeReport:
    return NodeReport(
        available=msg.available,
        reason=msg.reason,
        epoch=msg.epoch,
        frontends=tuple(
            ReportedFrontend(
                key=(fs.frontend.protocol, fs.frontend.vip, fs.frontend.port),
                backends=tuple(
                    ReportedBackend(
                        b.address,
                        b.port,
                        b.active,
                        b.total,
                        _optional(b, "bytes_in"),
                        _optional(b, "bytes_out"),
                    )
                    for b in fs.backends
                ),
                bytes_in=_optional(fs, "bytes_in"),
            )
            for fs in msg.frontends
        ),
    )


def worker_message_in(msg: wire.SessionRequest) -> hc.WorkerMessage:
    kind = msg.WhichOneof("message")
    if kind == "hello":
        return hc.Hello(msg.hello.node_id, msg.hello.capacity, msg.hello.probe_ports)
    if kind == "transitions":
        return tuple(
            hc.Transition(t.member_id, t.healthy, t.reason, t.unchecked) for t in msg.transitions.transitions
        )
    if kind == "heartbeat":
        return hc.Heartbeat(msg.heartbeat.targets)
    if kind == "stats":
        return report_in(msg.stats)
    return None  # a kind this release does not know


def _target_out(a: hc.Assignment) -> wire.HealthTarget:
    t = a.target
    msg = wire.HealthTarget(
        member_id=t.member_id,
        address=t.address,
        port=t.port,
        probe=probe_out(t.monitor),
        project_id=t.project_id,
        network_id=t.network_id,
    )
    if a.last_healthy is not None:
        msg.last_healthy = a.last_healthy
    return msg


def control_message_out(message: hc.ControlMessage) -> wire.SessionResponse:
    if isinstance(message, hc.Snapshot):
        targets = [_target_out(a) for a in message.targets]
        snapshot = wire.TargetSnapshot(targets=targets, heartbeat_interval=message.heartbeat_interval)
        return wire.SessionResponse(snapshot=snapshot)
    if isinstance(message, hc.Delta):
        upserts = [_target_out(a) for a in message.upserts]
        return wire.SessionResponse(delta=wire.TargetDelta(upserts=upserts, removals=message.removals))
    if isinstance(message, hc.ProbePorts):
        ports = [
            wire.ProbePort(network_id=p.network_id, name=p.name, mac=p.mac, ip_cidr=p.ip_cidr, error=p.error)
            for p in message.ports
        ]
        return wire.SessionResponse(probe_ports=wire.ProbePorts(ports=ports))
    frontends = [wire.Frontend(protocol=p, vip=v, port=port) for p, v, port in message.keys]
    return wire.SessionResponse(
        stats_frontends=wire.StatsFrontends(frontends=frontends, interval=message.interval)
    )


class HealthWorkerApi:
    """HealthWorkerService as the transports call it, in front of the coordinator."""

    def __init__(self, coordinator: hc.HealthCoordinator) -> None:
        self._coordinator = coordinator

    async def session(
        self, requests: AsyncIterator[wire.SessionRequest], who: Principal
    ) -> AsyncIterator[wire.SessionResponse]:
        async def messages() -> AsyncIterator[hc.WorkerMessage]:
            async for request in requests:
                yield worker_message_in(request)

        async for message in self._coordinator.session(messages(), who):
            yield control_message_out(message)
