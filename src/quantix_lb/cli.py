"""Command line: `quantix-lb serve`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from quantix_lb import logs


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="quantix-lb", description="Layer-4 load balancing on OVN.")
    parser.add_argument("--log-format", choices=("console", "json"), default="console")
    parser.add_argument("--log-level", default="info")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the control plane (gRPC, Connect, REST)")
    serve.add_argument("--data-dir", type=Path, default=Path("data"), help="state directory (default ./data)")
    serve.add_argument("--grpc-addr", default="127.0.0.1:9090", help="gRPC HOST:PORT (default %(default)s)")
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
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(args.log_format, args.log_level)
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
        )
        try:
            asyncio.run(run(settings))
        except (StartupError, ValueError) as exc:
            print(f"quantix-lb: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
