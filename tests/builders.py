"""Test objects, built in one place.

- JSON bodies as a REST or Connect client writes them (`spec_body`, `pool_json`, ...) and
  the request messages made from them (`create_request`);
- readers of a LoadBalancer message (`pools`, `pool_of`, `members`, `statuses`);
- domain objects for the pure tests (`m_member`, `m_pool`, `m_listener`, `m_lb`).
"""

from __future__ import annotations

import copy
import uuid
from typing import Any

from google.protobuf import json_format

from conftest import SEED_BODY
from limiquantix.network.v1 import network_pb2 as res
from limiquantix.network.v1 import network_service_pb2 as pb
from quantix_lb import model


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# --- JSON bodies (snake_case, enum names) ---------------------------------------------------


def member_json(address: str, port: int = 8080, **fields: Any) -> dict[str, Any]:
    return {"address": address, "port": port, **fields}


def pool_json(*addresses: str, port: int = 8080, **fields: Any) -> dict[str, Any]:
    """A pool of members on `port` at `addresses` (plus any Pool field)."""
    return {"members": [member_json(a, port) for a in addresses], **fields}


def listener_json(protocol: str = "TCP", port: int = 80, **fields: Any) -> dict[str, Any]:
    return {"protocol": protocol, "port": port, **fields}


def spec_body(
    listeners: list[dict[str, Any]] | None = None,
    pools: list[dict[str, Any]] | None = None,
    *,
    network_id: str | None = None,
    vip_address: str = "192.168.1.100",
    **fields: Any,
) -> dict[str, Any]:
    """A create body in the cloud's shape: one TCP:80 listener on one pool of two members
    by default, in a network of its own."""
    spec: dict[str, Any] = {
        "network_id": network_id or uniq("net"),
        "vip_address": vip_address,
        "listeners": [listener_json()] if listeners is None else listeners,
        "pools": [pool_json("10.0.0.10", "10.0.0.11")] if pools is None else pools,
    }
    return {"name": "web-lb", "project_id": "proj-123", **fields, "spec": spec}


def seed_body(**fields: Any) -> dict[str, Any]:
    """The design document's curl body (the flat shorthand), in a network of its own."""
    body: dict[str, Any] = copy.deepcopy(SEED_BODY)
    body["network_id"] = uniq("net")
    body.update(fields)
    return body


def create_request(body: dict[str, Any] | None = None, **fields: Any) -> pb.CreateLoadBalancerRequest:
    """A CreateLoadBalancerRequest from a JSON body (default: `spec_body(**fields)`)."""
    return json_format.ParseDict(
        body if body is not None else spec_body(**fields), pb.CreateLoadBalancerRequest()
    )


def message(kind: type[Any], body: dict[str, Any]) -> Any:
    return json_format.ParseDict(body, kind())


# --- reading a LoadBalancer message ---------------------------------------------------------


def pools(lb: res.LoadBalancer) -> list[res.Pool]:
    return list(lb.spec.pools)


def listeners(lb: res.LoadBalancer) -> list[res.Listener]:
    return list(lb.spec.listeners)


def pool_of(lb: res.LoadBalancer, listener: res.Listener | int = 0) -> res.Pool:
    """The pool serving a listener (or the listener at that index)."""
    li = lb.spec.listeners[listener] if isinstance(listener, int) else listener
    return next(p for p in lb.spec.pools if p.id == li.default_pool_id)


def members(lb: res.LoadBalancer) -> list[res.PoolMember]:
    return [m for p in lb.spec.pools for m in p.members]


def statuses(lb: res.LoadBalancer, kind: str = "provisioning_status") -> set[str]:
    """Every status word of one kind in the tree: load balancer, listeners, pools, members."""
    found = {getattr(lb.status, kind)}
    found |= {getattr(li, kind) for li in lb.spec.listeners}
    found |= {getattr(p, kind) for p in lb.spec.pools}
    found |= {getattr(m, kind) for m in members(lb)}
    return found


def operating(lb: res.LoadBalancer) -> tuple[str, list[tuple[str, str, list[str]]]]:
    """Operating statuses: (load balancer, [(listener, its pool, [the pool's members])])."""
    return (
        lb.status.operating_status,
        [
            (
                li.operating_status,
                pool_of(lb, li).operating_status,
                [m.operating_status for m in pool_of(lb, li).members],
            )
            for li in lb.spec.listeners
        ],
    )


def config_only(lb: res.LoadBalancer) -> res.LoadBalancer:
    """The load balancer without its statuses: what a client asked for, to compare a
    pending state with the realized one."""
    out = res.LoadBalancer()
    out.CopyFrom(lb)
    out.ClearField("status")
    for msg in (*out.spec.listeners, *out.spec.pools, *(m for p in out.spec.pools for m in p.members)):
        for name in ("provisioning_status", "operating_status", "status_reason", "last_failure_reason"):
            if name in msg.DESCRIPTOR.fields_by_name:
                msg.ClearField(name)
    return out


# --- domain objects -----------------------------------------------------------------------


def m_monitor(**fields: Any) -> model.HealthMonitor:
    base: dict[str, Any] = {
        "id": "hm-1",
        "type": model.MonitorType.HTTP,
        "delay": 5.0,
        "timeout": 3.0,
        "http_method": "GET",
        "url_path": "/health",
        "expected_codes": "200",
    }
    return model.HealthMonitor(**{**base, **fields})


def m_member(i: int = 1, **fields: Any) -> model.Member:
    return model.Member(**{"id": f"mem-{i}", "address": f"10.0.0.{i}", "port": 8080, **fields})


def m_pool(i: int = 1, *members: model.Member, **fields: Any) -> model.Pool:
    return model.Pool(id=f"pool-{i}", members=tuple(members), **fields)


def m_listener(
    i: int = 1,
    protocol: model.Protocol = model.Protocol.TCP,
    port: int = 80,
    pool: str = "pool-1",
    **fields: Any,
) -> model.Listener:
    return model.Listener(id=f"lis-{i}", protocol=protocol, port=port, default_pool_id=pool, **fields)


def m_lb(
    *listeners: model.Listener, pools: tuple[model.Pool, ...] | None = None, **fields: Any
) -> model.LoadBalancer:
    """A load balancer; its pools default to one empty pool per pool id its listeners name."""
    if pools is None:
        pools = tuple(model.Pool(id=pid) for pid in dict.fromkeys(li.default_pool_id for li in listeners))
    base: dict[str, Any] = {
        "id": "lb-1",
        "project_id": "proj-1",
        "network_id": "net-1",
        "vip_address": "192.168.1.100",
        "created_at": 1700000000.25,
        "updated_at": 1700000000.25,
    }
    return model.LoadBalancer(**{**base, **fields}, listeners=tuple(listeners), pools=tuple(pools))
