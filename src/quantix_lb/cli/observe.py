"""`quantix-lb stats LB [--watch]` and `quantix-lb watch`: WatchLoadBalancers as it streams."""

from __future__ import annotations

import queue
import sys
import threading
import time
from collections.abc import Iterator

import click
from connectrpc.code import Code
from connectrpc.errors import ConnectError

from limiquantix.network.v1 import network_pb2 as lbpb
from limiquantix.network.v1 import network_service_pb2 as svc
from quantix_lb.cli import views
from quantix_lb.cli.client import Api, Failure, api_options
from quantix_lb.cli.lb import LB_HELP, lb_argument
from quantix_lb.cli.output import Output, to_dict

Event = svc.WatchLoadBalancersResponse
_END = object()


def _stream(api: Api, request: svc.WatchLoadBalancersRequest) -> Iterator[Event]:
    """The stream's events, read on a thread of their own so that Ctrl-C stops the command
    at once (the main thread waits on a queue, not inside the HTTP client)."""
    events: queue.Queue[object] = queue.Queue()

    def pump() -> None:
        try:
            for event in api.watch(request):
                events.put(event)
        except BaseException as exc:  # the stream's end travels to the main thread
            events.put(exc)
        else:
            events.put(_END)

    threading.Thread(target=pump, name="watch", daemon=True).start()
    while True:
        try:
            item = events.get(timeout=0.5)
        except queue.Empty:
            continue
        if item is _END:
            raise Failure(f"the server at {api.url} ended the watch stream")
        if isinstance(item, BaseException):
            raise item
        yield item  # type: ignore[misc]


def _until_interrupted(run: Iterator[None]) -> None:
    """Runs a watch until Ctrl-C, which ends it quietly with exit 0."""
    try:
        for _ in run:
            pass
    except KeyboardInterrupt:
        click.echo("", err=True)


@click.command("stats", epilog=LB_HELP)
@lb_argument()
@click.option(
    "-w",
    "--watch",
    is_flag=True,
    help="redraw whenever the figures change (WatchLoadBalancers), until Ctrl-C",
)
@api_options
def stats(api: Api, out: Output, lb: str, watch: bool) -> None:
    """Show a load balancer's traffic statistics: totals, per listener, per member.

    Counters the data path does not measure show as n/a, and unavailable_reason says why
    (no health worker reports, or the data path is unreadable); json and yaml leave them out."""
    found = api.resolve(lb)
    live = None
    if watch:  # subscribed before the first read, so that no change falls in between
        request = svc.WatchLoadBalancersRequest(
            project_id=found.project_id, network_id=found.spec.network_id, include_stats=True
        )
        live = _stream(api, request)
    figures = _read_stats(api, found.id)
    if live is None:
        out.message(figures, lambda: views.stats_show(found, figures))
        return
    _until_interrupted(_redraw(api, out, found, figures, live))


def _read_stats(api: Api, lb_id: str) -> svc.LoadBalancerStats:
    return api.call("get_load_balancer_stats", svc.GetLoadBalancerStatsRequest(id=lb_id))


def _redraw(
    api: Api, out: Output, lb: lbpb.LoadBalancer, figures: svc.LoadBalancerStats, live: Iterator[Event]
) -> Iterator[None]:
    """Shows the figures, then again on every STATS event of the load balancer and on every
    change of it (its listeners and members are the rows)."""
    clear = out.is_table and sys.stdout.isatty()
    while True:
        if not out.is_table:
            out.message(figures, stream=True)
        else:
            if clear:
                click.clear()
            else:
                click.echo()
            click.echo(f"{time.strftime('%H:%M:%S')}  redrawn on every change; Ctrl-C stops")
            click.echo(views.stats_show(lb, figures))
        for event in live:
            if event.type == Event.STATS and event.stats.load_balancer_id == lb.id:
                figures = event.stats
                break
            if event.HasField("load_balancer") and event.load_balancer.id == lb.id:
                if event.type == Event.DELETED:
                    click.echo(f"load balancer {lb.id} was deleted", err=True)
                    return
                lb = event.load_balancer  # listeners and members may have changed: new rows
                try:
                    figures = _read_stats(api, lb.id)
                except ConnectError as exc:
                    if exc.code != Code.NOT_FOUND:
                        raise
                    continue  # deleted meanwhile: its DELETED event follows
                break
        yield


@click.command("watch")
@click.option("--project", default="", help="only this project's load balancers")
@click.option("--network", default="", help="only load balancers on this network")
@click.option("--stats", "include_stats", is_flag=True, help="also STATS events (figures as they change)")
@api_options
def watch(api: Api, out: Output, project: str, network: str, include_stats: bool) -> None:
    """Print load balancer events as they happen, until Ctrl-C.

    One line per event: type, id, name, provisioning/operating status. First every
    visible load balancer as EXISTING, then SNAPSHOT_COMPLETE, then CREATED, UPDATED and
    DELETED as they commit. -o json prints one JSON object per line, -o yaml one document
    per event."""
    request = svc.WatchLoadBalancersRequest(
        project_id=project, network_id=network, include_stats=include_stats
    )

    def run() -> Iterator[None]:
        names: dict[str, str] = {}
        for event in _stream(api, request):
            if event.HasField("load_balancer"):
                names[event.load_balancer.id] = event.load_balancer.name
            if out.is_table:
                click.echo(views.event_line(event, names))
            else:
                out.data(to_dict(event), stream=True)
            yield

    _until_interrupted(run())
