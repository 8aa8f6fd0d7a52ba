"""Between API messages and domain types (part of the service layer).

Incoming enums are checked here (an unset or unknown enum number is a field
violation, never an exception); every other rule lives in `model`.
"""

from __future__ import annotations

import enum
from typing import Any, TypeVar

from google.protobuf.timestamp_pb2 import Timestamp

from limiquantix.network.v1 import network_service_pb2 as pb
from quantix_lb import model
from quantix_lb.model import Problems
from quantix_lb.stats.aggregate import LoadBalancerFigures

E = TypeVar("E", bound=enum.Enum)


def enum_in(
    p: Problems, path: str, proto_enum: Any, number: int, target: type[E], default: E | None = None
) -> E | None:
    """Maps a proto enum number to the domain enum by name."""
    if number == 0:
        if default is None:
            p.add(path, f"is required (one of {', '.join(m.value for m in target)})")
        return default
    try:
        return target(proto_enum.Name(number))
    except ValueError:
        p.add(path, f"unknown value {number}; one of {', '.join(m.value for m in target)}")
        return default


def monitor_in(p: Problems, path: str, msg: pb.HealthMonitor) -> model.HealthMonitor:
    kind = enum_in(p, model.field_path(path, "type"), pb.HealthMonitor.Type, msg.type, model.MonitorType)
    http = kind in (model.MonitorType.HTTP, model.MonitorType.HTTPS)
    return model.HealthMonitor(
        id=model.new_id("hm"),
        type=kind or model.MonitorType.TCP,
        delay=msg.delay,
        timeout=msg.timeout,
        max_retries=msg.max_retries if msg.HasField("max_retries") else 3,
        healthy_threshold=msg.healthy_threshold if msg.HasField("healthy_threshold") else 2,
        http_method=msg.http_method or ("GET" if http else ""),
        url_path=msg.url_path or ("/" if http else ""),
        expected_codes=msg.expected_codes or ("200" if http else ""),
        domain_name=msg.domain_name,
        tls_verify=msg.tls_verify,
    )


def persistence_in(p: Problems, path: str, msg: pb.SessionPersistence) -> model.SessionPersistence:
    kind = enum_in(
        p,
        model.field_path(path, "type"),
        pb.SessionPersistence.Type,
        msg.type,
        model.PersistenceType,
        model.PersistenceType.NONE,
    )
    timeout = msg.timeout
    if kind is model.PersistenceType.SOURCE_IP and not timeout:
        timeout = 300
    return model.SessionPersistence(type=kind or model.PersistenceType.NONE, timeout=timeout)


def member_in(p: Problems, path: str, msg: pb.Member) -> model.Member:
    admin = enum_in(
        p,
        model.field_path(path, "admin_state"),
        pb.Member.AdminState,
        msg.admin_state,
        model.AdminState,
        model.AdminState.ONLINE,
    )
    return model.Member(
        id=model.new_id("mem"),
        name=msg.name,
        address=canonical_or_raw(msg.address),
        port=msg.port,
        weight=msg.weight if msg.HasField("weight") else 1,
        admin_state=admin or model.AdminState.ONLINE,
    )


def pool_in(p: Problems, path: str, msg: pb.Pool) -> model.Pool:
    algorithm = enum_in(
        p,
        model.field_path(path, "algorithm"),
        pb.Pool.Algorithm,
        msg.algorithm,
        model.Algorithm,
        model.Algorithm.ROUND_ROBIN,
    )
    return model.Pool(
        id=model.new_id("pool"),
        name=msg.name,
        algorithm=algorithm or model.Algorithm.ROUND_ROBIN,
        members=tuple(
            member_in(p, f"{model.field_path(path, 'members')}[{i}]", m) for i, m in enumerate(msg.members)
        ),
        health_monitor=(
            monitor_in(p, model.field_path(path, "health_monitor"), msg.health_monitor)
            if msg.HasField("health_monitor")
            else None
        ),
        session_persistence=(
            persistence_in(p, model.field_path(path, "session_persistence"), msg.session_persistence)
            if msg.HasField("session_persistence")
            else None
        ),
    )


def listener_in(p: Problems, path: str, msg: pb.Listener) -> model.Listener:
    protocol = enum_in(
        p, model.field_path(path, "protocol"), pb.Listener.Protocol, msg.protocol, model.Protocol
    )
    return model.Listener(
        id=model.new_id("lis"),
        name=msg.name,
        protocol=protocol or model.Protocol.TCP,
        port=msg.port,
        default_pool=pool_in(p, model.field_path(path, "default_pool"), msg.default_pool),
    )


def canonical_or_raw(text: str) -> str:
    """The canonical spelling of an IP address, or the text as given when it
    is none (validation then reports it with the field path)."""
    try:
        return model.canonical_ip(text)
    except ValueError:
        return text  # validation reports it with the field path


# --- out ------------------------------------------------------------------------


def _ts(seconds: float) -> Timestamp:
    ts = Timestamp()
    ts.FromNanoseconds(int(seconds * 1e9))
    return ts


def _out_enum(proto_enum: Any, value: enum.Enum) -> int:
    return proto_enum.Value(value.value)


def monitor_out(hm: model.HealthMonitor) -> pb.HealthMonitor:
    return pb.HealthMonitor(
        id=hm.id,
        type=_out_enum(pb.HealthMonitor.Type, hm.type),
        delay=hm.delay,
        timeout=hm.timeout,
        max_retries=hm.max_retries,
        healthy_threshold=hm.healthy_threshold,
        http_method=hm.http_method,
        url_path=hm.url_path,
        expected_codes=hm.expected_codes,
        domain_name=hm.domain_name,
        tls_verify=hm.tls_verify,
    )


def member_out(m: model.Member) -> pb.Member:
    return pb.Member(
        id=m.id,
        name=m.name,
        address=m.address,
        port=m.port,
        weight=m.weight,
        admin_state=_out_enum(pb.Member.AdminState, m.admin_state),
        provisioning_status=_out_enum(pb.Provisioning.Status, m.provisioning_status),
        operating_status=_out_enum(pb.Operating.Status, m.operating_status),
    )


def pool_out(pool: model.Pool) -> pb.Pool:
    msg = pb.Pool(
        id=pool.id,
        name=pool.name,
        algorithm=_out_enum(pb.Pool.Algorithm, pool.algorithm),
        members=[member_out(m) for m in pool.members],
        provisioning_status=_out_enum(pb.Provisioning.Status, pool.provisioning_status),
        operating_status=_out_enum(pb.Operating.Status, pool.operating_status),
        status_reason=pool.status_reason,
    )
    if pool.health_monitor:
        msg.health_monitor.CopyFrom(monitor_out(pool.health_monitor))
    if pool.session_persistence:
        sp = pool.session_persistence
        msg.session_persistence.CopyFrom(
            pb.SessionPersistence(type=_out_enum(pb.SessionPersistence.Type, sp.type), timeout=sp.timeout)
        )
    return msg


def listener_out(li: model.Listener) -> pb.Listener:
    return pb.Listener(
        id=li.id,
        name=li.name,
        protocol=_out_enum(pb.Listener.Protocol, li.protocol),
        port=li.port,
        default_pool=pool_out(li.default_pool),
        provisioning_status=_out_enum(pb.Provisioning.Status, li.provisioning_status),
        operating_status=_out_enum(pb.Operating.Status, li.operating_status),
    )


def load_balancer_out(lb: model.LoadBalancer) -> pb.LoadBalancer:
    return pb.LoadBalancer(
        id=lb.id,
        name=lb.name,
        description=lb.description,
        project_id=lb.project_id,
        network_id=lb.network_id,
        vip_address=lb.vip_address,
        listeners=[listener_out(li) for li in lb.listeners],
        provisioning_status=_out_enum(pb.Provisioning.Status, lb.provisioning_status),
        operating_status=_out_enum(pb.Operating.Status, lb.operating_status),
        created_at=_ts(lb.created_at),
        updated_at=_ts(lb.updated_at),
        status_reason=lb.status_reason,
    )


def stats_out(lb: model.LoadBalancer, figures: LoadBalancerFigures | None) -> pb.LoadBalancerStats:
    """The figures as the API shows them: a counter nobody measures stays unset."""
    out = pb.LoadBalancerStats(load_balancer_id=lb.id)
    by_listener = {f.listener_id: f for f in figures.listeners} if figures else {}
    if figures is not None:
        _set_optional(
            out,
            total_connections=figures.total,
            active_connections=figures.active,
            bytes_in=figures.bytes_in,
            bytes_out=figures.bytes_out,
            requests_per_second=figures.requests_per_second,
        )
        if figures.sampled_at is not None:
            out.sampled_at.CopyFrom(_ts(figures.sampled_at))
        out.unavailable_reason = figures.unavailable_reason
    for li in lb.listeners:
        lf = by_listener.get(li.id)
        by_member = {m.member_id: m for m in lf.members} if lf else {}
        ls = out.listeners.add(listener_id=li.id)
        if lf is not None:
            _set_optional(
                ls,
                connections=lf.active,
                total_connections=lf.total,
                requests_per_second=lf.requests_per_second,
                bytes_in=lf.bytes_in,
                bytes_out=lf.bytes_out,
            )
        for m in li.default_pool.members:
            ms = ls.members.add(member_id=m.id, status=_out_enum(pb.Operating.Status, m.operating_status))
            mf = by_member.get(m.id)
            if mf is not None:
                _set_optional(
                    ms,
                    connections=mf.active,
                    total_connections=mf.total,
                    bytes_in=mf.bytes_in,
                    bytes_out=mf.bytes_out,
                )
    return out


def _set_optional(message: Any, **fields: Any) -> None:
    for name, value in fields.items():
        if value is not None:
            setattr(message, name, value)
