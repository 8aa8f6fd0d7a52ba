"""`quantix-lb serve` and `quantix-lb health-worker`: the processes that run on nodes.

Everything of the server is imported inside the commands, so that the client
commands (and `--help`) load none of it."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    import grpc

_PATH = click.Path(path_type=Path)
# Files are read by the server itself, with its own error messages.


@dataclass(frozen=True)
class LogSettings:
    """The global --log-format/--log-level, which go before the subcommand."""

    fmt: str = "console"
    level: str = "info"

    def configure(self) -> None:
        from quantix_lb import logs

        logs.configure(self.fmt, self.level)


@click.command("serve")
@click.option("--data-dir", type=_PATH, default=Path("data"), help="state directory (default ./data)")
@click.option("--grpc-addr", default="127.0.0.1:9090", show_default=True, help="gRPC HOST:PORT or unix:PATH")
@click.option(
    "--http-addr", default="127.0.0.1:8080", show_default=True, help="HTTP HOST:PORT for Connect and REST"
)
@click.option("--ovn-nb", default=None, help="OVN Northbound remote(s), comma-separated")
@click.option("--auth-tokens", type=_PATH, default=None, help="JSON file of bearer tokens")
@click.option("--insecure", is_flag=True, help="allow a non-loopback address without --auth-tokens")
@click.option(
    "--cors-origin",
    multiple=True,
    metavar="ORIGIN",
    help="browser origin allowed to call the API (repeatable, e.g. http://localhost:5173)",
)
@click.option(
    "--reconcile-interval",
    type=float,
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="seconds between full comparisons of the store with OVN",
)
@click.option(
    "--ovs-rundir",
    default=None,
    help="this node's OVS run directory, for the local worker's data-path statistics"
    " (default $OVS_RUNDIR, else /var/run/openvswitch)",
)
@click.option("--no-local-worker", is_flag=True, help="do not start the local health worker")
@click.option("--tls-cert", type=_PATH, default=None, help="PEM certificate (chain) for gRPC and HTTP")
@click.option("--tls-key", type=_PATH, default=None, help="PEM private key of --tls-cert")
@click.option(
    "--tls-ca",
    type=_PATH,
    default=None,
    help="PEM CA bundle: gRPC clients (health workers) must present a certificate it signed",
)
@click.option(
    "--allow-local-addresses",
    is_flag=True,
    help="allow loopback and link-local VIPs and members (development, with backends on this host)",
)
@click.option(
    "--probe-from-host",
    is_flag=True,
    help="the local worker probes members from this host's own network namespace"
    " (routed provider networks, loopback backends in development)",
)
@click.pass_obj
def serve(
    log: LogSettings,
    data_dir: Path,
    grpc_addr: str,
    http_addr: str,
    ovn_nb: str | None,
    auth_tokens: Path | None,
    insecure: bool,
    cors_origin: tuple[str, ...],
    reconcile_interval: float,
    ovs_rundir: str | None,
    no_local_worker: bool,
    tls_cert: Path | None,
    tls_key: Path | None,
    tls_ca: Path | None,
    allow_local_addresses: bool,
    probe_from_host: bool,
) -> None:
    """Run the control plane (gRPC, Connect, REST)."""
    log.configure()
    from quantix_lb.server import Settings, StartupError, run

    settings = Settings(
        data_dir=data_dir,
        grpc_addr=grpc_addr,
        http_addr=http_addr,
        ovn_nb=ovn_nb,
        auth_tokens=auth_tokens,
        insecure=insecure,
        cors_origins=cors_origin,
        local_worker=not no_local_worker,
        reconcile_interval=reconcile_interval,
        ovs_rundir=ovs_rundir,
        allow_local_addresses=allow_local_addresses,
        probe_from_host=probe_from_host,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_ca=tls_ca,
        log_format=log.fmt,
    )
    try:
        asyncio.run(run(settings))
    except (StartupError, ValueError) as exc:
        print(f"quantix-lb: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # Ctrl-C before the signal handlers were in place: a stop asked for
        sys.exit(0)


def _channel_credentials(
    tls_ca: Path | None, tls_cert: Path | None, tls_key: Path | None
) -> grpc.ChannelCredentials | None:
    import grpc

    if tls_ca is None:
        if tls_cert or tls_key:
            raise SystemExit("quantix-lb: --tls-cert and --tls-key go with --tls-ca")
        return None
    if bool(tls_cert) != bool(tls_key):
        raise SystemExit("quantix-lb: give --tls-cert and --tls-key together")
    try:
        return grpc.ssl_channel_credentials(
            root_certificates=tls_ca.read_bytes(),
            private_key=tls_key.read_bytes() if tls_key else None,
            certificate_chain=tls_cert.read_bytes() if tls_cert else None,
        )
    except OSError as exc:
        raise SystemExit(f"quantix-lb: cannot read TLS files: {exc}") from None


@click.command("health-worker")
@click.option("--control-plane", required=True, metavar="HOST:PORT", help="the control plane's gRPC address")
@click.option("--node-id", required=True, help="stable name of this node (targets are spread by it)")
@click.option(
    "--token-file", default=None, help="file holding the worker token (or $QUANTIX_LB_WORKER_TOKEN)"
)
@click.option("--capacity", type=int, default=0, help="targets this worker accepts (0: no limit)")
@click.option(
    "--project-budget",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="health checks per second each project may start on this worker (default 1000)",
)
@click.option(
    "--ovs-rundir",
    default=None,
    help="where this node's ovs-vswitchd keeps its control socket, for data-path statistics"
    " (default $OVS_RUNDIR, else /var/run/openvswitch)",
)
@click.option(
    "--probe-from-host",
    is_flag=True,
    help="probe members from this host's own network namespace instead of per-network probe ports"
    " (routed provider networks)",
)
@click.option("--no-stats", is_flag=True, help="do not report data-path statistics")
@click.option(
    "--tls-ca",
    type=_PATH,
    default=None,
    help="PEM CA bundle that signed the control plane's certificate (TLS)",
)
@click.option("--tls-cert", type=_PATH, default=None, help="PEM client certificate (with --tls-ca)")
@click.option("--tls-key", type=_PATH, default=None, help="PEM private key of --tls-cert")
@click.pass_obj
def health_worker(
    log: LogSettings,
    control_plane: str,
    node_id: str,
    token_file: str | None,
    capacity: int,
    project_budget: float | None,
    ovs_rundir: str | None,
    probe_from_host: bool,
    no_stats: bool,
    tls_ca: Path | None,
    tls_cert: Path | None,
    tls_key: Path | None,
) -> None:
    """Run a health-check worker against a control plane."""
    log.configure()
    import signal

    from quantix_lb.health.limits import PROJECT_BUDGET
    from quantix_lb.health.worker import HealthWorker, read_token
    from quantix_lb.stats.collector import StatsCollector

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        stats = None if no_stats else StatsCollector(ovs_rundir)
        worker = HealthWorker(
            control_plane,
            node_id,
            read_token(token_file),
            capacity,
            stats=stats,
            tls=_channel_credentials(tls_ca, tls_cert, tls_key),
            probe_from_host=probe_from_host,
            ovs_rundir=ovs_rundir,
            project_budget=project_budget or PROJECT_BUDGET,
        )
        await worker.run(stop)

    # Ctrl-C before the signal handlers are in place is a stop asked for, too.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
