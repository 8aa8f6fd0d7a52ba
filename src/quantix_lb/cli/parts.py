"""`quantix-lb listener|pool|member add|update|remove`: the parts of a load balancer.

They name the load balancer (LB: id or name), then the part by id or name (a listener
also by PROTO:PORT, a member by ADDRESS:PORT). add and update print the part as the
server answered it; remove prints nothing."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click
from google.protobuf.message import Message

from limiquantix.network.v1 import network_pb2 as lbpb
from limiquantix.network.v1 import network_service_pb2 as svc
from quantix_lb.cli import specs, views
from quantix_lb.cli.client import Api, Failure, api_options, not_found
from quantix_lb.cli.lb import LB_HELP, lb_argument
from quantix_lb.cli.output import Output
from quantix_lb.cli.specs import Spec

P = TypeVar("P", bound=Message)


def _pick(kind: str, lb: lbpb.LoadBalancer, items: Sequence[P], ref: str, *keys: Callable[[P], Any]) -> P:
    """The one item whose id is `ref`, else the one a key (its name, its endpoint) gives as `ref`."""
    for item in items:
        if item.id == ref:  # type: ignore[attr-defined]
            return item
    for key in keys:
        hits = [item for item in items if key(item) == ref]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            ids = ", ".join(h.id for h in hits)  # type: ignore[attr-defined]
            raise Failure(f"{len(hits)} {kind}s of {lb.id} match {ref!r} ({ids}): give an id")
    raise not_found(kind, ref, f" in load balancer {lb.id}")


def find_listener(lb: lbpb.LoadBalancer, ref: str) -> lbpb.Listener:
    return _pick("listener", lb, lb.spec.listeners, ref, lambda li: li.name, views.endpoint)


def find_pool(lb: lbpb.LoadBalancer, ref: str) -> lbpb.Pool:
    return _pick("pool", lb, lb.spec.pools, ref, lambda p: p.name)


def find_member(lb: lbpb.LoadBalancer, pool: lbpb.Pool, ref: str) -> lbpb.PoolMember:
    where = specs.address_port(ref)  # ADDRESS:PORT, IPv6 in brackets
    return _pick(
        "member",
        lb,
        pool.members,
        ref,
        lambda m: m.name,
        lambda m: ref if (specs.canonical(m.address), m.port) == where else None,
    )


def _added(before: Sequence[Message], after: Sequence[P]) -> P:
    """The part the server added: the one whose id was not there before."""
    old = {item.id for item in before}  # type: ignore[attr-defined]
    (new,) = [item for item in after if item.id not in old]  # type: ignore[attr-defined]
    return new


def _nothing_to_change(*values: Any) -> None:
    if all(v is None or v is False or v == () for v in values):
        raise click.UsageError("nothing to change: give at least one option")


# --- listeners ---------------------------------------------------------------------------


@click.group("listener")
def listener_group() -> None:
    """Listeners: a protocol and port on the VIP, served by a pool."""


@listener_group.command("add", epilog=LB_HELP)
@lb_argument()
@click.argument("listener", metavar="PROTO:PORT[:POOL]", type=Spec("PROTO:PORT[:POOL]", specs.listener))
@click.option("--name", help="the listener's name")
@api_options
def listener_add(
    api: Api, out: Output, lb: str, listener: tuple[lbpb.Listener, str], name: str | None
) -> None:
    """Add a listener, e.g. `listener add web-lb TCP:443:web`.

    POOL is a pool's id or name; without it the load balancer's only pool serves it."""
    found = api.resolve(lb)
    new, pool_ref = listener
    if pool_ref:
        new.default_pool_id = find_pool(found, pool_ref).id
    if name:
        new.name = name
    after = api.call("add_listener", svc.AddListenerRequest(load_balancer_id=found.id, listener=new))
    added = _added(found.spec.listeners, after.spec.listeners)
    out.message(added, lambda: views.listener_show(after, added))


@listener_group.command("update", epilog=LB_HELP)
@lb_argument()
@click.argument("listener", metavar="LISTENER")
@click.option("--name", help="new name")
@click.option("--port", type=click.IntRange(min=0), help="new port")
@click.option("--pool", help="the pool that serves it (id or name)")
@api_options
def listener_update(
    api: Api, out: Output, lb: str, listener: str, name: str | None, port: int | None, pool: str | None
) -> None:
    """Change a listener's name, port or pool. LISTENER: id, name or PROTO:PORT."""
    _nothing_to_change(name, port, pool)
    found = api.resolve(lb)
    target = find_listener(found, listener)
    request = svc.UpdateListenerRequest(load_balancer_id=found.id, listener_id=target.id)
    if name is not None:
        request.name = name
    if port is not None:
        request.port = port
    if pool is not None:
        request.default_pool_id = find_pool(found, pool).id
    after = api.call("update_listener", request)
    updated = find_listener(after, target.id)
    out.message(updated, lambda: views.listener_show(after, updated))


@listener_group.command("remove", epilog=LB_HELP)
@lb_argument()
@click.argument("listener", metavar="LISTENER")
@api_options
def listener_remove(api: Api, out: Output, lb: str, listener: str) -> None:
    """Remove a listener (its pool stays). LISTENER: id, name or PROTO:PORT."""
    found = api.resolve(lb)
    target = find_listener(found, listener)
    api.call("remove_listener", svc.RemoveListenerRequest(load_balancer_id=found.id, listener_id=target.id))


# --- pools -------------------------------------------------------------------------------

_ALGORITHMS = ", ".join(lbpb.Pool.Algorithm.DESCRIPTOR.values_by_name)
_MONITOR_HELP = "TYPE[:KEY=VALUE,...], e.g. HTTP:delay=5,timeout=3,url_path=/health (see `lb create --help`)"


@click.group("pool")
def pool_group() -> None:
    """Pools: members, an algorithm, a health monitor and session persistence."""


@pool_group.command("add", epilog=LB_HELP)
@lb_argument()
@click.argument("name")
@click.option("--algorithm", type=Spec("ALGORITHM", specs.algorithm), help=_ALGORITHMS)
@click.option(
    "--protocol", type=Spec("PROTO", specs.protocol), help="the backend protocol (default: the listeners')"
)
@click.option("--health-monitor", type=Spec("TYPE[:KEY=VALUE,...]", specs.health_monitor), help=_MONITOR_HELP)
@click.option(
    "--persistence", type=Spec("TYPE[:TIMEOUT]", specs.persistence), help="SOURCE_IP[:SECONDS] or NONE"
)
@click.option(
    "--member",
    "members",
    multiple=True,
    type=Spec("ADDRESS:PORT[:WEIGHT]", specs.member),
    help="a member (repeatable)",
)
@api_options
def pool_add(
    api: Api,
    out: Output,
    lb: str,
    name: str,
    algorithm: int | None,
    protocol: int | None,
    health_monitor: lbpb.HealthMonitor | None,
    persistence: lbpb.SessionPersistence | None,
    members: tuple[lbpb.PoolMember, ...],
) -> None:
    """Add a pool named NAME, e.g. `pool add web-lb api --member 10.0.0.20:8080`."""
    found = api.resolve(lb)
    pool = lbpb.Pool(name=name, members=members)
    if algorithm is not None:
        pool.algorithm = algorithm  # type: ignore[assignment]
    if protocol is not None:
        pool.protocol = protocol  # type: ignore[assignment]
    if health_monitor is not None:
        pool.health_monitor.CopyFrom(health_monitor)
    if persistence is not None:
        pool.persistence.CopyFrom(persistence)
    after = api.call("add_pool", svc.AddPoolRequest(load_balancer_id=found.id, pool=pool))
    added = _added(found.spec.pools, after.spec.pools)
    out.message(added, lambda: views.pool_show(after, added))


@pool_group.command("update", epilog=LB_HELP)
@lb_argument()
@click.argument("pool", metavar="POOL")
@click.option("--name", help="new name")
@click.option("--algorithm", type=Spec("ALGORITHM", specs.algorithm), help=_ALGORITHMS)
@click.option(
    "--health-monitor",
    type=Spec("TYPE[:KEY=VALUE,...]", specs.health_monitor),
    help="replaces the health monitor: " + _MONITOR_HELP,
)
@click.option("--no-health-monitor", is_flag=True, help="remove the health monitor")
@click.option(
    "--persistence", type=Spec("TYPE[:TIMEOUT]", specs.persistence), help="SOURCE_IP[:SECONDS] or NONE"
)
@api_options
def pool_update(
    api: Api,
    out: Output,
    lb: str,
    pool: str,
    name: str | None,
    algorithm: int | None,
    health_monitor: lbpb.HealthMonitor | None,
    no_health_monitor: bool,
    persistence: lbpb.SessionPersistence | None,
) -> None:
    """Change a pool's name, algorithm, health monitor or persistence. POOL: id or name."""
    _nothing_to_change(name, algorithm, health_monitor, no_health_monitor, persistence)
    if health_monitor is not None and no_health_monitor:
        raise click.UsageError("give --health-monitor or --no-health-monitor, not both")
    found = api.resolve(lb)
    target = find_pool(found, pool)
    request = svc.UpdatePoolRequest(
        load_balancer_id=found.id, pool_id=target.id, remove_health_monitor=no_health_monitor
    )
    if name is not None:
        request.name = name
    if algorithm is not None:
        request.algorithm = algorithm  # type: ignore[assignment]
    if health_monitor is not None:
        request.health_monitor.CopyFrom(health_monitor)
    if persistence is not None:
        request.persistence.CopyFrom(persistence)
    after = api.call("update_pool", request)
    updated = find_pool(after, target.id)
    out.message(updated, lambda: views.pool_show(after, updated))


@pool_group.command("remove", epilog=LB_HELP)
@lb_argument()
@click.argument("pool", metavar="POOL")
@api_options
def pool_remove(api: Api, out: Output, lb: str, pool: str) -> None:
    """Remove a pool and its members (refused while a listener uses it). POOL: id or name."""
    found = api.resolve(lb)
    target = find_pool(found, pool)
    api.call("remove_pool", svc.RemovePoolRequest(load_balancer_id=found.id, pool_id=target.id))


# --- members -----------------------------------------------------------------------------


@click.group("member")
def member_group() -> None:
    """Members: the backends (address and port) of a pool."""


@member_group.command("add", epilog=LB_HELP)
@lb_argument()
@click.argument("pool", metavar="POOL")
@click.argument("member", metavar="ADDRESS:PORT[:WEIGHT]", type=Spec("ADDRESS:PORT[:WEIGHT]", specs.member))
@click.option("--name", help="the member's name")
@click.option("--weight", type=click.IntRange(min=0), help="0-256 (default 1; 0 takes no new connections)")
@click.option("--subnet", help="subnet_id (stored and echoed)")
@click.option("--disable", is_flag=True, help="admin state down: takes no traffic")
@click.option("--drain", is_flag=True, help="takes no new connections; established ones stay")
@api_options
def member_add(
    api: Api,
    out: Output,
    lb: str,
    pool: str,
    member: lbpb.PoolMember,
    name: str | None,
    weight: int | None,
    subnet: str | None,
    disable: bool,
    drain: bool,
) -> None:
    """Add a member to a pool, e.g. `member add web-lb web 10.0.0.12:8080`. POOL: id or name.

    IPv6 addresses go in brackets: [fd00::12]:8080."""
    found = api.resolve(lb)
    target = find_pool(found, pool)
    if name:
        member.name = name
    if weight is not None:
        member.weight = weight
    if subnet:
        member.subnet_id = subnet
    if disable:
        member.admin_state_up = False
    member.drain = drain
    request = svc.AddPoolMemberRequest(load_balancer_id=found.id, pool_id=target.id, member=member)
    after = api.call("add_pool_member", request)
    pool_after = find_pool(after, target.id)
    added = _added(target.members, pool_after.members)
    out.message(added, lambda: views.member_show(after, pool_after, added))


@member_group.command("update", epilog=LB_HELP)
@lb_argument()
@click.argument("pool", metavar="POOL")
@click.argument("member", metavar="MEMBER")
@click.option("--name", help="new name")
@click.option("--weight", type=click.IntRange(min=0), help="0-256 (0 takes no new connections)")
@click.option("--enable/--disable", "admin_state_up", default=None, help="admin state up or down")
@click.option("--drain/--no-drain", default=None, help="take no new connections (established ones stay)")
@api_options
def member_update(
    api: Api,
    out: Output,
    lb: str,
    pool: str,
    member: str,
    name: str | None,
    weight: int | None,
    admin_state_up: bool | None,
    drain: bool | None,
) -> None:
    """Change a member's name, weight, admin state or drain. MEMBER: id, name or ADDRESS:PORT.

    --disable wins over --drain, which wins over the weight."""
    _nothing_to_change(name, weight, admin_state_up, drain)
    found = api.resolve(lb)
    target_pool = find_pool(found, pool)
    target = find_member(found, target_pool, member)
    request = svc.UpdatePoolMemberRequest(
        load_balancer_id=found.id, pool_id=target_pool.id, member_id=target.id
    )
    for field, value in (
        ("name", name),
        ("weight", weight),
        ("admin_state_up", admin_state_up),
        ("drain", drain),
    ):
        if value is not None:
            setattr(request, field, value)
    after = api.call("update_pool_member", request)
    pool_after = find_pool(after, target_pool.id)
    updated = find_member(after, pool_after, target.id)
    out.message(updated, lambda: views.member_show(after, pool_after, updated))


@member_group.command("remove", epilog=LB_HELP)
@lb_argument()
@click.argument("pool", metavar="POOL")
@click.argument("member", metavar="MEMBER")
@api_options
def member_remove(api: Api, out: Output, lb: str, pool: str, member: str) -> None:
    """Remove a member from a pool. MEMBER: id, name or ADDRESS:PORT."""
    found = api.resolve(lb)
    target_pool = find_pool(found, pool)
    target = find_member(found, target_pool, member)
    request = svc.RemovePoolMemberRequest(
        load_balancer_id=found.id, pool_id=target_pool.id, member_id=target.id
    )
    api.call("remove_pool_member", request)
