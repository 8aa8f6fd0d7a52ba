"""Tables of load balancers, their parts and statistics (openstack's column words)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from google.protobuf.message import Message

from limiquantix.network.v1 import network_pb2 as lbpb
from limiquantix.network.v1 import network_service_pb2 as svc
from quantix_lb.cli.output import field_table, table

HEALTHY = ("ONLINE", "NO_MONITOR")  # as LoadBalancerStats' `healthy` counts them
LIST_HEADERS = (
    "id", "name", "vip_address", "network", "project", "provisioning_status", "operating_status",
    "listeners", "healthy/members",
)  # fmt: skip


def proto_name(listener: lbpb.Listener) -> str:
    return lbpb.Listener.Protocol.Name(listener.protocol)


def endpoint(listener: lbpb.Listener) -> str:
    return f"{proto_name(listener)}:{listener.port}"


def members(lb: lbpb.LoadBalancer) -> list[tuple[lbpb.Pool, lbpb.PoolMember]]:
    return [(pool, m) for pool in lb.spec.pools for m in pool.members]


def list_row(lb: lbpb.LoadBalancer) -> list[str]:
    all_members = members(lb)
    healthy = sum(m.operating_status in HEALTHY for _, m in all_members)
    return [
        lb.id,
        lb.name,
        lb.status.vip_address or lb.spec.vip_address,
        lb.spec.network_id,
        lb.project_id,
        lb.status.provisioning_status,
        lb.status.operating_status,
        ",".join(endpoint(listener) for listener in lb.spec.listeners),
        f"{healthy}/{len(all_members)}",
    ]


def lb_list(lbs: Iterable[lbpb.LoadBalancer]) -> str:
    return table(LIST_HEADERS, (list_row(lb) for lb in lbs))


def _time(message: Message, field: str) -> str:
    return getattr(message, field).ToJsonString() if message.HasField(field) else ""


def _pool_name(lb: lbpb.LoadBalancer, pool_id: str) -> str:
    return next((p.name for p in lb.spec.pools if p.id == pool_id and p.name), pool_id)


def _pool_label(lb: lbpb.LoadBalancer, pool_id: str) -> str:
    name = next((p.name for p in lb.spec.pools if p.id == pool_id), "")
    return f"{pool_id} ({name})" if name and name != pool_id else pool_id


def monitor_summary(hm: lbpb.HealthMonitor) -> str:
    kind = lbpb.HealthMonitor.Type.Name(hm.type)
    every = f"{hm.delay_ms / 1000:g}" if hm.delay_ms else str(hm.delay)
    within = f"{hm.timeout_ms / 1000:g}" if hm.timeout_ms else str(hm.timeout)
    text = f"{kind} every {every}s, timeout {within}s, {hm.max_retries or 3} retries"
    if hm.type in (lbpb.HealthMonitor.HTTP, lbpb.HealthMonitor.HTTPS):
        text += f", {hm.http_method or 'GET'} {hm.url_path or '/'} -> {hm.expected_codes or '200'}"
    return text


def persistence_summary(pool: lbpb.Pool) -> str:
    if not pool.HasField("persistence") or pool.persistence.type == lbpb.SessionPersistence.NONE:
        return ""
    p = pool.persistence
    return f"{lbpb.SessionPersistence.Type.Name(p.type)}" + (f" ({p.timeout}s)" if p.timeout else "")


def weight(member: lbpb.PoolMember) -> int:
    return member.weight if member.HasField("weight") else 1


def admin_up(member: lbpb.PoolMember) -> bool:
    return member.admin_state_up if member.HasField("admin_state_up") else True


def lb_fields(lb: lbpb.LoadBalancer) -> list[tuple[str, Any]]:
    return [
        ("id", lb.id),
        ("name", lb.name),
        ("description", lb.description),
        ("project_id", lb.project_id),
        ("network_id", lb.spec.network_id),
        ("subnet_id", lb.spec.subnet_id),
        ("vip_address", lb.status.vip_address or lb.spec.vip_address),
        ("phase", lbpb.LoadBalancerStatus.Phase.Name(lb.status.phase)),
        ("provisioning_status", lb.status.provisioning_status),
        ("operating_status", lb.status.operating_status),
        ("error_message", lb.status.error_message),
        ("labels", "\n".join(f"{k}={v}" for k, v in sorted(lb.labels.items()))),
        ("listeners", "\n".join(listener.id for listener in lb.spec.listeners)),
        ("pools", "\n".join(pool.id for pool in lb.spec.pools)),
        ("created_at", _time(lb, "created_at")),
        ("updated_at", _time(lb, "updated_at")),
    ]


def listeners_table(lb: lbpb.LoadBalancer) -> str:
    return table(
        ("id", "name", "protocol", "port", "default_pool", "provisioning_status", "operating_status"),
        (
            [li.id, li.name, proto_name(li), li.port, _pool_name(lb, li.default_pool_id),
             li.provisioning_status, li.operating_status]
            for li in lb.spec.listeners
        ),
    )  # fmt: skip


def pools_table(lb: lbpb.LoadBalancer) -> str:
    return table(
        ("id", "name", "algorithm", "health_monitor", "persistence", "members", "provisioning_status",
         "operating_status"),
        (
            [p.id, p.name, lbpb.Pool.Algorithm.Name(p.algorithm),
             monitor_summary(p.health_monitor) if p.HasField("health_monitor") else "",
             persistence_summary(p), len(p.members), p.provisioning_status, p.operating_status]
            for p in lb.spec.pools
        ),
    )  # fmt: skip


def members_table(lb: lbpb.LoadBalancer) -> str:
    return table(
        ("id", "pool", "name", "address", "port", "weight", "admin_state_up", "drain", "operating_status",
         "last_failure_reason"),
        (
            [m.id, pool.name or pool.id, m.name, m.address, m.port, weight(m), admin_up(m), m.drain,
             m.operating_status, m.last_failure_reason]
            for pool, m in members(lb)
        ),
    )  # fmt: skip


def lb_show(lb: lbpb.LoadBalancer) -> str:
    """The load balancer's Field/Value table, then its listeners, pools and members."""
    parts = [field_table(lb_fields(lb))]
    for title, rows, render in (
        ("Listeners", lb.spec.listeners, listeners_table),
        ("Pools", lb.spec.pools, pools_table),
        ("Members", members(lb), members_table),
    ):
        parts.append(f"{title}:\n{render(lb)}" if rows else f"{title}: none")
    return "\n\n".join(parts)


def listener_show(lb: lbpb.LoadBalancer, li: lbpb.Listener) -> str:
    return field_table(
        [
            ("id", li.id),
            ("name", li.name),
            ("load_balancer_id", lb.id),
            ("protocol", proto_name(li)),
            ("port", li.port),
            ("default_pool_id", _pool_label(lb, li.default_pool_id)),
            ("provisioning_status", li.provisioning_status),
            ("operating_status", li.operating_status),
        ]
    )


def pool_show(lb: lbpb.LoadBalancer, pool: lbpb.Pool) -> str:
    used_by = [endpoint(li) for li in lb.spec.listeners if li.default_pool_id == pool.id]
    return field_table(
        [
            ("id", pool.id),
            ("name", pool.name),
            ("load_balancer_id", lb.id),
            ("algorithm", lbpb.Pool.Algorithm.Name(pool.algorithm)),
            ("protocol", lbpb.Listener.Protocol.Name(pool.protocol) if pool.HasField("protocol") else ""),
            ("listeners", ",".join(used_by)),
            (
                "health_monitor",
                monitor_summary(pool.health_monitor) if pool.HasField("health_monitor") else "",
            ),
            ("persistence", persistence_summary(pool)),
            ("members", "\n".join(f"{m.id} {m.address}:{m.port} {m.operating_status}" for m in pool.members)),
            ("provisioning_status", pool.provisioning_status),
            ("operating_status", pool.operating_status),
            ("status_reason", pool.status_reason),
        ]
    )


def member_show(lb: lbpb.LoadBalancer, pool: lbpb.Pool, m: lbpb.PoolMember) -> str:
    return field_table(
        [
            ("id", m.id),
            ("name", m.name),
            ("load_balancer_id", lb.id),
            ("pool_id", _pool_label(lb, pool.id)),
            ("address", m.address),
            ("port", m.port),
            ("weight", weight(m)),
            ("admin_state_up", admin_up(m)),
            ("drain", m.drain),
            ("subnet_id", m.subnet_id),
            ("provisioning_status", m.provisioning_status),
            ("operating_status", m.operating_status),
            ("last_failure_reason", m.last_failure_reason),
        ]
    )


# --- statistics ------------------------------------------------------------------------

NA = "n/a"  # a counter nobody measures: shown as such, never as 0


def _figure(message: Message, field: str) -> str:
    if not message.HasField(field):
        return NA
    value = getattr(message, field)
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def stats_show(lb: lbpb.LoadBalancer, stats: svc.LoadBalancerStats) -> str:
    """Totals, then per listener and per member."""
    totals = field_table(
        [
            ("load_balancer", f"{lb.id} ({lb.name})" if lb.name else lb.id),
            *(
                (f, _figure(stats, f))
                for f in ("active_connections", "total_connections", "requests", "requests_per_second",
                          "bytes_in", "bytes_out")
            ),
            ("sampled_at", _time(stats, "sampled_at")),
            ("unavailable_reason", stats.unavailable_reason),
        ]
    )  # fmt: skip
    by_listener = {li.id: li for li in lb.spec.listeners}
    listeners = table(
        ("listener", "endpoint", "active_connections", "total_connections", "requests_per_second",
         "bytes_in", "bytes_out"),
        (
            [s.listener_id, endpoint(by_listener[s.listener_id]) if s.listener_id in by_listener else "",
             *(_figure(s, f) for f in ("active_connections", "total_connections", "requests_per_second",
                                       "bytes_in", "bytes_out"))]
            for s in stats.listener_stats
        ),
    )  # fmt: skip
    pool_names = {p.id: p.name or p.id for p in lb.spec.pools}
    member_rows = table(
        ("pool", "member", "address", "port", "operating_status", "healthy", "active_connections",
         "total_connections", "bytes_in", "bytes_out"),
        (
            [pool_names.get(s.pool_id, s.pool_id), s.member_id, s.address, s.port, s.operating_status,
             s.healthy, *(_figure(s, f) for f in ("active_connections", "total_connections", "bytes_in",
                                                  "bytes_out"))]
            for s in stats.member_stats
        ),
    )  # fmt: skip
    return f"{totals}\n\nListeners:\n{listeners}\n\nMembers:\n{member_rows}"


# --- watch -----------------------------------------------------------------------------

_TYPE_WIDTH = max(len(n) for n in svc.WatchLoadBalancersResponse.Type.DESCRIPTOR.values_by_name)


def event_line(event: svc.WatchLoadBalancersResponse, names: dict[str, str]) -> str:
    """One line per event: type, id, name, status (STATS: the figures)."""
    kind = svc.WatchLoadBalancersResponse.Type.Name(event.type).ljust(_TYPE_WIDTH)
    if event.type == svc.WatchLoadBalancersResponse.STATS:
        s = event.stats
        figures = " ".join(
            f"{f}={_figure(s, f)}" for f in ("active_connections", "total_connections", "requests_per_second")
        )
        reason = f" ({s.unavailable_reason})" if s.unavailable_reason else ""
        return f"{kind}  {s.load_balancer_id}  {names.get(s.load_balancer_id) or '-'}  {figures}{reason}"
    if not event.HasField("load_balancer"):
        return kind.rstrip()
    lb = event.load_balancer
    status = f"{lb.status.provisioning_status}/{lb.status.operating_status}"
    return f"{kind}  {lb.id}  {lb.name or '-'}  {status}"
