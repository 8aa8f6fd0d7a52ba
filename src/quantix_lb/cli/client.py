"""The client commands' connection to a running server: the generated Connect client
(limiquantix.network.v1), the options every client command takes, and the server's
errors turned into messages and exit codes. Nothing of the server is imported here."""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
from connectrpc.code import Code
from connectrpc.errors import ConnectError
from google.protobuf.message import Message
from google.rpc import error_details_pb2

from limiquantix.network.v1 import network_pb2 as lbpb
from limiquantix.network.v1 import network_service_pb2 as svc
from limiquantix.network.v1.network_service_connect import LoadBalancerServiceClientSync
from quantix_lb.cli.output import FORMATS, Output

DEFAULT_URL = "http://127.0.0.1:8080"
_PAGE = 1000  # the server's largest page


class Failure(click.ClickException):
    """A request that failed: `quantix-lb: <message>` (and detail lines) on stderr, exit 1."""

    exit_code = 1

    def __init__(self, message: str, details: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.details = details

    def show(self, file: Any = None) -> None:
        click.echo(f"quantix-lb: {self.message}", err=True)
        for line in self.details:
            click.echo(f"  {line}", err=True)


def not_found(kind: str, ref: str, where: str = "") -> Failure:
    return Failure(f"NOT_FOUND: {kind} {ref!r} not found{where}")


def _unreachable_reason(exc: BaseException) -> str:
    """'Connection refused' out of pyqwest's 'error sending request ...: tcp connect error:
    Connection refused (os error 111)'."""
    text = str(exc.__cause__ or exc)
    last = text.rsplit(": ", 1)[-1]
    return re.sub(r"\s*\(os error \d+\)$", "", last) or text


class Api:
    """LoadBalancerService over Connect (binary), with the caller's bearer token."""

    def __init__(self, url: str, token: str | None, timeout: float, tls_ca: Path | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.headers = {"authorization": f"Bearer {token}"} if token else None
        http_client = None
        if tls_ca is not None:
            # connect-python's HTTP client; only a private CA needs a transport of our own.
            from pyqwest import SyncClient, SyncHTTPTransport

            http_client = SyncClient(SyncHTTPTransport(tls_ca_cert=tls_ca.read_bytes()))
        self.client = LoadBalancerServiceClientSync(self.url, http_client=http_client)

    def close(self) -> None:
        self.client.close()

    def call(self, rpc: str, request: Message) -> Any:
        """One unary RPC by its generated method name, e.g. call("get_load_balancer", req)."""
        method: Callable[..., Any] = getattr(self.client, rpc)
        return method(request, headers=self.headers, timeout_ms=int(self.timeout * 1000))

    def watch(self, request: svc.WatchLoadBalancersRequest) -> Iterator[svc.WatchLoadBalancersResponse]:
        """The WatchLoadBalancers stream: no deadline, it runs until stopped."""
        return self.client.watch_load_balancers(request, headers=self.headers)

    def get(self, lb_id: str) -> lbpb.LoadBalancer:
        return self.call("get_load_balancer", svc.GetLoadBalancerRequest(id=lb_id))

    def list_all(self, project: str = "", network: str = "", limit: int = 0) -> list[lbpb.LoadBalancer]:
        """Every visible load balancer (page after page), or the first `limit`."""
        found: list[lbpb.LoadBalancer] = []
        token = ""
        while True:
            page_size = min(_PAGE, limit - len(found)) if limit else _PAGE
            request = svc.ListLoadBalancersRequest(
                project_id=project, network_id=network, page_size=page_size, page_token=token
            )
            page: svc.ListLoadBalancersResponse = self.call("list_load_balancers", request)
            found.extend(page.load_balancers)
            token = page.next_page_token
            if not token or (limit and len(found) >= limit):
                return found[:limit] if limit else found

    def resolve(self, ref: str) -> lbpb.LoadBalancer:
        """A load balancer by id, else by its name when exactly one visible load balancer has it."""
        try:
            return self.get(ref)
        except ConnectError as exc:
            if exc.code not in (Code.NOT_FOUND, Code.INVALID_ARGUMENT):
                raise
        named = [lb for lb in self.list_all() if lb.name == ref]
        if not named:
            raise not_found("load balancer", ref)
        if len(named) > 1:
            ids = ", ".join(lb.id for lb in named)
            raise Failure(f"{len(named)} load balancers are named {ref!r} ({ids}): give an id")
        return named[0]

    def failure(self, exc: ConnectError) -> Failure:
        """The server's code, message and field violations, or why it could not be reached."""
        if isinstance(exc.__cause__, OSError):  # ConnectionError and friends: nothing answered
            return Failure(
                f"cannot reach the quantix-lb API at {self.url}: {_unreachable_reason(exc)}",
                ("(is `quantix-lb serve` running there? --url or $QUANTIX_LB_URL names it)",),
            )
        if exc.code == Code.DEADLINE_EXCEEDED:
            return Failure(f"DEADLINE_EXCEEDED: no answer from {self.url} within {self.timeout:g} s")
        details: list[str] = []
        for any_ in exc.details:
            bad = error_details_pb2.BadRequest()
            if any_.Is(bad.DESCRIPTOR) and any_.Unpack(bad):
                details += [f"{v.field}: {v.description}" for v in bad.field_violations]
        return Failure(f"{exc.code.name}: {exc.message}", tuple(details))


def api_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--url, --token, --tls-ca, --timeout and -o on a client command, which is called as
    f(api, out, **its own parameters); the server's errors become Failure (exit 1)."""

    @click.option(
        "-o",
        "--output",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="tables for people; json or yaml (proto3 JSON, snake_case, every field) for scripts",
    )
    @click.option(
        "--url",
        envvar="QUANTIX_LB_URL",
        default=DEFAULT_URL,
        show_default=True,
        show_envvar=True,
        metavar="URL",
        help="the API's HTTP address (Connect), as serve's --http-addr",
    )
    @click.option(
        "--token",
        envvar="QUANTIX_LB_TOKEN",
        show_envvar=True,
        metavar="TOKEN",
        help="bearer token, when serve has --auth-tokens",
    )
    @click.option(
        "--tls-ca",
        envvar="QUANTIX_LB_TLS_CA",
        show_envvar=True,
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="PEM CA bundle that signed the server's certificate (https URLs; default: the system's)",
    )
    @click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=30.0,
        show_default=True,
        metavar="SECONDS",
        help="how long to wait for each answer",
    )
    @functools.wraps(f)
    def wrapper(
        *, output: str, url: str, token: str | None, tls_ca: Path | None, timeout: float, **params: Any
    ) -> Any:
        api = Api(url, token, timeout, tls_ca)
        try:
            return f(api, Output(output), **params)
        except ConnectError as exc:
            raise api.failure(exc) from None
        finally:
            api.close()

    return wrapper


def complete_load_balancers(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of LB arguments: the names and ids the server lists (nothing when it
    cannot be asked quickly)."""
    from click.shell_completion import CompletionItem

    params = ctx.params
    url = params.get("url") or os.environ.get("QUANTIX_LB_URL") or DEFAULT_URL
    token = params.get("token") or os.environ.get("QUANTIX_LB_TOKEN")
    try:
        api = Api(url, token, 2.0, params.get("tls_ca"))
        lbs = api.list_all()
    except Exception:  # completion must never print a traceback into the shell
        return []
    items = []
    for lb in lbs:
        for word in (lb.name, lb.id):
            if word and word.startswith(incomplete):
                items.append(CompletionItem(word, help=lb.id if word == lb.name else lb.name))
    return items
