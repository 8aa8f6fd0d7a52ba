"""Command line: `quantix-lb serve`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

import grpc

from quantix_lb import logs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quantix-lb", description="Layer-4 load balancing on OVN.")
    parser.add_argument("--log-format", choices=("console", "json"), default="console")
    parser.add_argument("--log-level", default="info")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the control plane (gRPC, Connect, REST)")
    serve.add_argument("--data-dir", type=Path, default=Path("data"), help="state directory (default ./data)")
    serve.add_argument(
        "--grpc-addr", default="127.0.0.1:9090", help="gRPC HOST:PORT or unix:PATH (default %(default)s)"
    )
    serve.add_argument(
        "--http-addr",
        default="127.0.0.1:8080",
        help="HTTP HOST:PORT for Connect and REST (default %(default)s)",
    )
    serve.add_argument("--ovn-nb", default=None, help="OVN Northbound remote(s), comma-separated")
    serve.add_argument("--auth-tokens", type=Path, default=None, help="JSON file of bearer tokens")
    serve.add_argument(
        "--insecure", action="store_true", help="allow a non-loopback address without --auth-tokens"
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="browser origin allowed to call the API (repeatable, e.g. http://localhost:5173)",
    )
    serve.add_argument(
        "--reconcile-interval",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="seconds between full comparisons of the store with OVN (default %(default)s)",
    )
    serve.add_argument(
        "--ovs-rundir",
        default=None,
        help="this node's OVS run directory, for the local worker's data-path statistics"
        " (default $OVS_RUNDIR, else /var/run/openvswitch)",
    )
    serve.add_argument("--no-local-worker", action="store_true", help="do not start the local health worker")
    serve.add_argument(
        "--tls-cert", type=Path, default=None, help="PEM certificate (chain) for gRPC and HTTP"
    )
    serve.add_argument("--tls-key", type=Path, default=None, help="PEM private key of --tls-cert")
    serve.add_argument(
        "--tls-ca",
        type=Path,
        default=None,
        help="PEM CA bundle: gRPC clients (health workers) must present a certificate it signed",
    )
    serve.add_argument(
        "--allow-local-addresses",
        action="store_true",
        help="allow loopback and link-local VIPs and members (development, with backends on this host)",
    )

    serve.add_argument(
        "--probe-from-host",
        action="store_true",
        help="the local worker probes members from this host's own network namespace"
        " (routed provider networks, loopback backends in development)",
    )

    worker = sub.add_parser("health-worker", help="run a health-check worker against a control plane")
    worker.add_argument(
        "--control-plane", required=True, metavar="HOST:PORT", help="the control plane's gRPC address"
    )
    worker.add_argument(
        "--node-id", required=True, help="stable name of this node (targets are spread by it)"
    )
    worker.add_argument(
        "--token-file", default=None, help="file holding the worker token (or $QUANTIX_LB_WORKER_TOKEN)"
    )
    worker.add_argument("--capacity", type=int, default=0, help="targets this worker accepts (0: no limit)")
    worker.add_argument(
        "--ovs-rundir",
        default=None,
        help="where this node's ovs-vswitchd keeps its control socket, for data-path statistics"
        " (default $OVS_RUNDIR, else /var/run/openvswitch)",
    )
    worker.add_argument(
        "--probe-from-host",
        action="store_true",
        help="probe members from this host's own network namespace instead of per-network probe ports"
        " (routed provider networks)",
    )
    worker.add_argument("--no-stats", action="store_true", help="do not report data-path statistics")
    worker.add_argument(
        "--tls-ca",
        type=Path,
        default=None,
        help="PEM CA bundle that signed the control plane's certificate (TLS)",
    )
    worker.add_argument("--tls-cert", type=Path, default=None, help="PEM client certificate (with --tls-ca)")
    worker.add_argument("--tls-key", type=Path, default=None, help="PEM private key of --tls-cert")
    return parser


def _channel_credentials(args: argparse.Namespace) -> grpc.ChannelCredentials | None:
    if args.tls_ca is None:
        if args.tls_cert or args.tls_key:
            raise SystemExit("quantix-lb: --tls-cert and --tls-key go with --tls-ca")
        return None
    if bool(args.tls_cert) != bool(args.tls_key):
        raise SystemExit("quantix-lb: give --tls-cert and --tls-key together")
    try:
        return grpc.ssl_channel_credentials(
            root_certificates=args.tls_ca.read_bytes(),
            private_key=args.tls_key.read_bytes() if args.tls_key else None,
            certificate_chain=args.tls_cert.read_bytes() if args.tls_cert else None,
        )
    except OSError as exc:
        raise SystemExit(f"quantix-lb: cannot read TLS files: {exc}") from None


def _run_worker(args: argparse.Namespace) -> int:
    import signal

    from quantix_lb.health.worker import HealthWorker, read_token
    from quantix_lb.stats.collector import StatsCollector

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        stats = None if args.no_stats else StatsCollector(args.ovs_rundir)
        worker = HealthWorker(
            args.control_plane,
            args.node_id,
            read_token(args.token_file),
            args.capacity,
            stats=stats,
            tls=_channel_credentials(args),
        )
        await worker.run(stop)

    # Ctrl-C before the signal handlers are in place is a stop asked for, too.
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(args.log_format, args.log_level)
    if args.command == "health-worker":
        return _run_worker(args)
    if args.command == "serve":
        from quantix_lb.server import Settings, StartupError, run

        settings = Settings(
            data_dir=args.data_dir,
            grpc_addr=args.grpc_addr,
            http_addr=args.http_addr,
            ovn_nb=args.ovn_nb,
            auth_tokens=args.auth_tokens,
            insecure=args.insecure,
            cors_origins=tuple(args.cors_origin),
            local_worker=not args.no_local_worker,
            reconcile_interval=args.reconcile_interval,
            ovs_rundir=args.ovs_rundir,
            allow_local_addresses=args.allow_local_addresses,
            probe_from_host=args.probe_from_host,
            tls_cert=args.tls_cert,
            tls_key=args.tls_key,
            tls_ca=args.tls_ca,
            log_format=args.log_format,
        )
        try:
            asyncio.run(run(settings))
        except (StartupError, ValueError) as exc:
            print(f"quantix-lb: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:  # Ctrl-C before the signal handlers were in place: a stop asked for
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
