"""`quantix-lb lb list|show|create|update|delete`."""

from __future__ import annotations

from typing import IO, Any

import click
from google.protobuf import json_format

from limiquantix.network.v1 import network_pb2 as lbpb
from limiquantix.network.v1 import network_service_pb2 as svc
from quantix_lb.cli import specs, views
from quantix_lb.cli.client import Api, api_options, complete_load_balancers
from quantix_lb.cli.output import Output
from quantix_lb.cli.specs import Spec

LB_HELP = "LB is a load balancer's id, or its name where no other visible load balancer has it."


def lb_argument(**kwargs: Any) -> Any:
    return click.argument("lb", metavar="LB", shell_complete=complete_load_balancers, **kwargs)


@click.group("lb")
def lb_group() -> None:
    """Load balancers: list, show, create, update, delete."""


@lb_group.command("list")
@click.option("--project", default="", help="only this project's load balancers")
@click.option("--network", default="", help="only load balancers on this network")
@click.option("--limit", type=click.IntRange(min=0), default=0, help="at most this many (0: all)")
@api_options
def lb_list(api: Api, out: Output, project: str, network: str, limit: int) -> None:
    """List load balancers (every page).

    The members column counts the healthy ones (ONLINE or NO_MONITOR) of all."""
    lbs = api.list_all(project, network, limit)
    out.message(lbs, lambda: views.lb_list(lbs))


@lb_group.command("show", epilog=LB_HELP)
@lb_argument()
@api_options
def lb_show(api: Api, out: Output, lb: str) -> None:
    """Show a load balancer with its listeners, pools and members."""
    found = api.resolve(lb)
    out.message(found, lambda: views.lb_show(found))


CREATE_EPILOG = """\b
Example (the README's load balancer):
  quantix-lb lb create --name web-lb --project proj-123 \\
      --network net-456 --vip 192.168.1.100 \\
      --pool web:ROUND_ROBIN \\
      --member web:10.0.0.10:8080 --member web:10.0.0.11:8080:2 \\
      --health-monitor web:HTTP:delay=5,timeout=3,max_retries=3,url_path=/health \\
      --listener TCP:80:web

\b
Or from a file (JSON or YAML, snake_case or camelCase), flags on top:
  quantix-lb lb create -f web-lb.yaml --name web-lb-2 --vip 192.168.1.101

\b
PROTO is TCP, HTTP, HTTPS, UDP or SCTP; ALGORITHM is ROUND_ROBIN (default),
WEIGHTED_ROUND_ROBIN, LEAST_CONNECTIONS, SOURCE_IP or SOURCE_IP_PORT; TYPE is
PING, TCP, HTTP, HTTPS or UDP_CONNECT, and KEY any HealthMonitor field (delay,
timeout, max_retries, healthy_threshold, http_method, url_path, expected_codes,
domain_name, tls_verify, delay_ms, timeout_ms; delay=0.5 means 500 ms). IPv6
members go in brackets: web:[fd00::10]:8080. A listener without :POOL takes the
only pool."""


def _read_spec(stream: IO[str] | None) -> svc.CreateLoadBalancerRequest:
    request = svc.CreateLoadBalancerRequest()
    if stream is None:
        return request
    import yaml

    try:
        body = yaml.safe_load(stream)  # YAML is a superset of JSON
    except yaml.YAMLError as exc:
        raise click.BadParameter(f"not JSON or YAML: {exc}", param_hint="'--file'") from None
    if not isinstance(body, dict):
        raise click.BadParameter("must hold one object (a CreateLoadBalancerRequest)", param_hint="'--file'")
    try:
        return json_format.ParseDict(body, request)
    except json_format.ParseError as exc:
        raise click.BadParameter(str(exc), param_hint="'--file'") from None


def _pool_named(request: svc.CreateLoadBalancerRequest, name: str, flag: str) -> lbpb.Pool:
    for pool in request.spec.pools:
        if pool.name == name:
            return pool
    raise click.BadParameter(f"no pool {name!r}: declare it with --pool {name}[:ALGORITHM]", param_hint=flag)


@lb_group.command("create", epilog=CREATE_EPILOG)
@click.option(
    "-f",
    "--file",
    "spec_file",
    type=click.File("r"),
    help="the whole CreateLoadBalancerRequest, JSON or YAML ('-': stdin); the flags add to it",
)
@click.option("--name", help="the load balancer's name")
@click.option("--description", help="free text")
@click.option("--project", help="project_id")
@click.option("--network", help="network_id: the tenant network of the VIP")
@click.option("--subnet", help="subnet_id of the VIP")
@click.option("--vip", help="VIP address (default: allocated from the network's subnet)")
@click.option("--label", "labels", multiple=True, type=Spec("KEY=VALUE", specs.label), help="(repeatable)")
@click.option(
    "--listener",
    "listeners",
    multiple=True,
    type=Spec("PROTO:PORT[:POOL]", specs.listener),
    help="a listener on the VIP, served by the pool of that name (repeatable)",
)
@click.option(
    "--pool",
    "pools",
    multiple=True,
    type=Spec("NAME[:ALGORITHM]", specs.pool),
    help="a pool (repeatable)",
)
@click.option(
    "--member",
    "members",
    multiple=True,
    type=Spec("POOL:ADDRESS:PORT[:WEIGHT]", specs.pool_member),
    help="a member of a pool declared with --pool (repeatable)",
)
@click.option(
    "--health-monitor",
    "monitors",
    multiple=True,
    type=Spec("POOL:TYPE[:KEY=VALUE,...]", specs.pool_monitor),
    help="the health monitor of a pool (repeatable, one per pool)",
)
@api_options
def lb_create(
    api: Api,
    out: Output,
    spec_file: IO[str] | None,
    name: str | None,
    description: str | None,
    project: str | None,
    network: str | None,
    subnet: str | None,
    vip: str | None,
    labels: tuple[tuple[str, str], ...],
    listeners: tuple[tuple[lbpb.Listener, str], ...],
    pools: tuple[lbpb.Pool, ...],
    members: tuple[tuple[str, lbpb.PoolMember], ...],
    monitors: tuple[tuple[str, lbpb.HealthMonitor], ...],
) -> None:
    """Create a load balancer with its listeners, pools, members and health monitors.

    Pools are named in the request (--pool); listeners (PROTO:PORT:POOL), members and health
    monitors name them. The server assigns the ids."""
    request = _read_spec(spec_file)
    for field, value in (("name", name), ("description", description), ("project_id", project)):
        if value is not None:
            setattr(request, field, value)
    # The file may use the flat shorthand (network_id, vip_address at the top): keep it in step.
    for field, value in (("network_id", network), ("vip_address", vip)):
        if value is not None:
            setattr(request.spec, field, value)
            if getattr(request, field):
                setattr(request, field, value)
    if subnet is not None:
        request.spec.subnet_id = subnet
    request.labels.update(dict(labels))
    request.spec.pools.extend(pools)
    for pool_name, member in members:
        _pool_named(request, pool_name, "'--member'").members.append(member)
    for pool_name, monitor in monitors:
        _pool_named(request, pool_name, "'--health-monitor'").health_monitor.CopyFrom(monitor)
    for listener, pool_name in listeners:
        if pool_name:
            _pool_named(request, pool_name, "'--listener'")
            listener.default_pool_id = pool_name  # a pool of the same request, by name
        request.spec.listeners.append(listener)
    created = api.call("create_load_balancer", request)
    out.message(created, lambda: views.lb_show(created))


@lb_group.command("update", epilog=LB_HELP)
@lb_argument()
@click.option("--name", help="new name")
@click.option("--description", help="new description ('' clears it)")
@click.option(
    "--label", "labels", multiple=True, type=Spec("KEY=VALUE", specs.label), help="set a label (repeatable)"
)
@click.option("--remove-label", "removed", multiple=True, metavar="KEY", help="remove a label (repeatable)")
@click.option("--clear-labels", is_flag=True, help="remove every label (before --label)")
@api_options
def lb_update(
    api: Api,
    out: Output,
    lb: str,
    name: str | None,
    description: str | None,
    labels: tuple[tuple[str, str], ...],
    removed: tuple[str, ...],
    clear_labels: bool,
) -> None:
    """Change a load balancer's name, description or labels (the others stay)."""
    found = api.resolve(lb)
    request = svc.UpdateLoadBalancerRequest(id=found.id)
    paths = []
    if name is not None:
        request.name = name
        paths.append("name")
    if description is not None:
        request.description = description
        paths.append("description")
    if labels or removed or clear_labels:
        new_labels = {} if clear_labels else dict(found.labels)
        for key in removed:
            new_labels.pop(key, None)
        new_labels.update(dict(labels))
        request.labels.update(new_labels)
        paths.append("labels")
    if not paths:
        raise click.UsageError("nothing to change: give --name, --description or labels")
    # The mask says exactly what changes, so an empty description or label set clears.
    request.update_mask.paths.extend(paths)
    updated = api.call("update_load_balancer", request)
    out.message(updated, lambda: views.lb_show(updated))


@lb_group.command("delete", epilog=LB_HELP)
@lb_argument(nargs=-1, required=True)
@api_options
def lb_delete(api: Api, out: Output, lb: tuple[str, ...]) -> None:
    """Delete load balancers with everything under them."""
    for ref in lb:
        api.call("delete_load_balancer", svc.DeleteLoadBalancerRequest(id=api.resolve(ref).id))
