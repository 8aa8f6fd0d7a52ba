"""The control-plane process: store, service core, gRPC and HTTP in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import grpc
import structlog
import uvicorn
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Mount

from limiquantix.network.v1 import network_service_pb2 as pb
from quantix.lb.v1 import health_worker_pb2 as worker_pb
from quantix_lb import metrics
from quantix_lb.api import connect, rest
from quantix_lb.api import grpc as grpc_api
from quantix_lb.api.dispatch import Dispatcher, methods_of
from quantix_lb.auth import Authenticator, Principal
from quantix_lb.convert import HealthWorkerApi, LoadBalancerApi
from quantix_lb.health.coordinator import STATS_INTERVAL, HealthCoordinator
from quantix_lb.ovn.contract import Realized
from quantix_lb.ovn.embedded import EmbeddedNb
from quantix_lb.ovn.remote import RealizerProcess
from quantix_lb.proc import terminate, with_parent_death_signal
from quantix_lb.realization import Realization
from quantix_lb.service import LoadBalancerCore
from quantix_lb.stats.aggregate import StatsAggregator
from quantix_lb.stats.export import LoadBalancerMetrics
from quantix_lb.stats.publish import StatsPublisher
from quantix_lb.stats.steering import SteeringController
from quantix_lb.store import Change, ChangeKind, Store
from quantix_lb.watch import WatchHub

log = structlog.get_logger(__name__)
SYNC_WAIT = 10.0  # seconds start-up waits for the realizer's first read of the NB
SERVICE = pb.DESCRIPTOR.services_by_name["LoadBalancerService"]
HEALTH_SERVICE = worker_pb.DESCRIPTOR.services_by_name["HealthWorkerService"]
MAX_REQUEST_BYTES = 1 << 20  # 1 MiB: far above any sane load balancer tree


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path("data")
    grpc_addr: str = "127.0.0.1:9090"
    http_addr: str = "127.0.0.1:8080"
    ovn_nb: str | None = None
    auth_tokens: Path | None = None
    insecure: bool = False
    cors_origins: tuple[str, ...] = field(default_factory=tuple)
    local_worker: bool = True
    reconcile_interval: float = 5.0
    ovs_rundir: str | None = None  # for the local worker's statistics (else it inherits $OVS_RUNDIR)
    log_format: str = "console"


class StartupError(Exception):
    """A configuration or environment problem, reported without a traceback."""


def split_addr(addr: str) -> tuple[str, int]:
    host, sep, port = addr.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise StartupError(f"address {addr!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


def join_addr(host: str, port: int) -> str:
    """HOST:PORT as clients dial it (an IPv6 host in brackets)."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def http_app(
    dispatcher: Dispatcher,
    cors_origins: tuple[str, ...],
    auth: Authenticator,
    health: Callable[[], dict[str, Any]] = dict,
) -> Starlette:
    connect_app = connect.app(dispatcher, MAX_REQUEST_BYTES)
    return Starlette(
        routes=[
            *rest.routes(dispatcher, MAX_REQUEST_BYTES),
            rest.metrics_route(auth),
            rest.healthz_route(health),
            Mount(connect_app.path, app=connect_app),
        ],
        middleware=[
            Middleware(
                CORSMiddleware,
                allow_origins=list(cors_origins),
                allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
                allow_headers=[
                    "Authorization",
                    "Content-Type",
                    "Connect-Protocol-Version",
                    "Connect-Timeout-Ms",
                    "Connect-Accept-Encoding",
                    "Connect-Content-Encoding",
                    "Grpc-Timeout",
                    "X-Grpc-Web",
                    "X-User-Agent",
                ],
                expose_headers=["Grpc-Status", "Grpc-Message", "Grpc-Status-Details-Bin"],
                max_age=7200,
            )
        ],
        exception_handlers={HTTPException: rest.http_error},
    )


class _HttpServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The process owns SIGINT/SIGTERM and stops gRPC and HTTP together.
        yield


class ControlPlane:
    """Explicit lifespan: nothing starts in the constructor."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.grpc_port = 0
        self.http_port = 0
        self._store: Store | None = None
        self._hub = WatchHub()
        self._realizer: RealizerProcess | None = None
        self._embedded: EmbeddedNb | None = None
        self._realization: Realization | None = None
        self._stats_publisher: StatsPublisher | None = None
        self._health: HealthCoordinator | None = None
        self._stats = StatsAggregator()
        self._steering: SteeringController | None = None
        self._stats_task: asyncio.Task[None] | None = None
        self._worker: LocalWorker | None = None
        self._grpc: grpc.aio.Server | None = None
        self._http: _HttpServer | None = None
        self._http_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        # Absolute: the embedded ovsdb-server resolves relative paths against its own rundir.
        s = self.settings = replace(self.settings, data_dir=self.settings.data_dir.resolve())
        if not 0.1 <= s.reconcile_interval <= 3600:
            raise StartupError("--reconcile-interval must be between 0.1 and 3600 seconds")
        auth = Authenticator.from_file(s.auth_tokens) if s.auth_tokens else Authenticator(None)
        unix_grpc = s.grpc_addr.startswith("unix:")  # reachable from network namespaces
        grpc_host = "localhost" if unix_grpc else split_addr(s.grpc_addr)[0]
        http_host, http_port = split_addr(s.http_addr)
        if not auth.enabled:
            exposed = [h for h in (grpc_host, http_host) if not _loopback(h)]
            if exposed and not s.insecure:
                raise StartupError(
                    f"refusing to serve {', '.join(exposed)} without --auth-tokens"
                    " (pass --insecure to allow it)"
                )
            log.warning("auth.off", detail="no --auth-tokens: every caller is an admin")
        http_sock = _bind(http_host, http_port)

        self._store = Store(s.data_dir / "quantix-lb.db")
        try:
            self._store.open()
        except (OSError, sqlite3.Error) as exc:
            self._store = None
            raise StartupError(f"cannot open the store in {s.data_dir}: {exc}") from exc
        self._realizer = await self._start_realizer(s)
        lbs = list(self._store.all())  # decoded once for everyone who starts from it
        stats = self._stats
        stats.update(lbs)
        self._steering = SteeringController(stats, self._realizer.steer, period=STATS_INTERVAL)
        self._steering.update(lbs)
        stats.subscribe(self._steering.on_sample)
        realization = self._realization = Realization(self._store, self._hub)
        core = LoadBalancerCore(self._store, self._hub, self._realizer, realization, stats=stats)
        publisher = self._stats_publisher = StatsPublisher(stats, self._hub, realization.get)
        stats.subscribe(publisher.touched)
        self._store.subscribe(realization.publish)
        self._store.subscribe(self._feed_realizer)
        loop = asyncio.get_running_loop()

        def on_realized(outcomes: list[Realized]) -> None:  # on the IDL thread
            loop.call_soon_threadsafe(realization.apply, outcomes)

        self._realizer.on_realized = on_realized
        self._realizer.start(lbs)
        # Answer the first requests knowing the networks, unless the NB is away.
        if not await asyncio.to_thread(self._realizer.wait_synced, SYNC_WAIT):
            log.warning("ovn.nb_not_synced", waited_s=SYNC_WAIT, detail="serving; writes wait for the NB")
        dispatcher = Dispatcher(LoadBalancerApi(core), auth, methods_of(SERVICE))
        self._health = HealthCoordinator(self._store, stats=stats)
        self._store.subscribe(self._feed_stats)
        self._stats_task = asyncio.create_task(self._stats_tick())
        self._store.subscribe(self._health.on_changes)
        self._health.start()
        self._export_gauges()
        metrics.register_collector(LoadBalancerMetrics(stats, self._store.get, self._steering))
        health_dispatcher = Dispatcher(HealthWorkerApi(self._health), auth, methods_of(HEALTH_SERVICE))

        self._grpc = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
                ("grpc.so_reuseport", 0),
            ]
        )
        self._grpc.add_generic_rpc_handlers(
            (
                grpc_api.handler(SERVICE.full_name, dispatcher),
                grpc_api.handler(HEALTH_SERVICE.full_name, health_dispatcher),
            )
        )
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, self._grpc)
        reflection.enable_server_reflection(
            (SERVICE.full_name, HEALTH_SERVICE.full_name, health.SERVICE_NAME, reflection.SERVICE_NAME),
            self._grpc,
        )
        try:
            self.grpc_port = self._grpc.add_insecure_port(f"{s.grpc_addr}")
        except RuntimeError as exc:
            raise StartupError(f"cannot listen for gRPC on {s.grpc_addr}: {exc}") from exc
        await self._grpc.start()
        for name in ("", SERVICE.full_name):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)

        config = uvicorn.Config(
            http_app(dispatcher, s.cors_origins, auth, self._health_report),
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=3,
        )
        self._http = _HttpServer(config)
        self.http_port = http_sock.getsockname()[1]
        self._http_task = asyncio.create_task(self._http.serve(sockets=[http_sock]))
        while not self._http.started:
            if self._http_task.done():
                self._http_task.result()
                raise StartupError("HTTP server stopped during start-up")
            await asyncio.sleep(0.01)
        if s.local_worker:
            token = None
            if auth.enabled:  # the local worker gets a token of its own, for this run only
                token = secrets.token_urlsafe(32)
                auth.add(token, Principal(project_id=None, role="worker"))
            self._worker = LocalWorker(self._grpc_target(grpc_host), s.log_format, token, s.ovs_rundir)
            self._worker.start()
        log.info(
            "serve.ready",
            grpc=self._grpc_target(grpc_host),
            http=join_addr(http_host, self.http_port),
            data_dir=str(s.data_dir),
            auth=auth.enabled,
        )

    def _export_gauges(self) -> None:
        """The callback gauges of this control plane, read at every scrape."""
        realizer, health = self._realizer, self._health
        assert realizer is not None and health is not None

        def full_pass_duration() -> float | None:
            last = realizer.last_full_pass
            return last.seconds if last else None

        def full_pass_age() -> float | None:
            last = realizer.last_full_pass
            return max(0.0, time.time() - last.finished) if last else None

        metrics.set_source(metrics.HEALTH_WORKERS, health.workers)
        metrics.set_source(metrics.FULL_PASS_DURATION, full_pass_duration)
        metrics.set_source(metrics.FULL_PASS_AGE, full_pass_age)
        metrics.set_source(metrics.PENDING, realizer.pending)

    def _health_report(self) -> dict[str, Any]:
        synced = self._realizer is not None and self._realizer.topology.synced
        return {"ovn_northbound": "connected" if synced else "connecting"}

    def _grpc_target(self, host: str) -> str:
        """Where a client on this machine dials the gRPC listener."""
        if self.settings.grpc_addr.startswith("unix:"):
            return self.settings.grpc_addr
        if host in ("0.0.0.0", "::", ""):
            host = "::1" if ":" in host else "127.0.0.1"
        return join_addr(host, self.grpc_port)

    async def _start_realizer(self, s: Settings) -> RealizerProcess:
        remote, create_networks = s.ovn_nb, False
        if not remote:
            self._embedded = EmbeddedNb(s.data_dir / "ovn")
            try:
                self._embedded.start()
            except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
                raise StartupError(f"cannot start the embedded OVN Northbound: {exc}") from exc
            # The embedded NB is ours alone: networks are created on first use.
            remote, create_networks = self._embedded.remote, True
        return RealizerProcess(
            remote,
            create_networks=create_networks,
            full_interval=s.reconcile_interval,
            log_format=s.log_format,
        )

    def _feed_stats(self, changes: list[Change]) -> None:
        assert self._health is not None and self._steering is not None
        deleted = [c.load_balancer.id for c in changes if c.kind is ChangeKind.DELETED]
        kept = [c.load_balancer for c in changes if c.kind is not ChangeKind.DELETED]
        if self._stats.update(kept, deleted):
            self._health.frontends_changed()
        self._steering.update(kept, deleted)

    async def _stats_tick(self) -> None:
        """Once a second: stale figures end steering; changed figures reach watchers."""
        while True:
            await asyncio.sleep(STATS_INTERVAL)
            assert self._steering is not None and self._stats_publisher is not None
            try:
                self._steering.check_fresh()
                self._stats_publisher.publish()
            except Exception:  # statistics must never take the control plane down
                log.exception("stats.tick_failed")

    def _feed_realizer(self, changes: list[Change]) -> None:
        assert self._realizer is not None
        self._realizer.forget(c.load_balancer.id for c in changes if c.kind is ChangeKind.DELETED)
        self._realizer.offer(c.load_balancer for c in changes if c.kind is not ChangeKind.DELETED)

    async def stop(self) -> None:
        if self._stats_task is not None:
            self._stats_task.cancel()
        # Open watch streams would otherwise hold both servers to their grace periods.
        self._hub.close()
        if self._http and self._http_task:
            self._http.should_exit = True
            with contextlib.suppress(Exception):
                await self._http_task
        if self._grpc:
            await self._grpc.stop(grace=2)
        if self._worker:
            await self._worker.stop()
        if self._health:
            await self._health.stop()
        if self._realizer:
            await asyncio.to_thread(self._realizer.stop)
        if self._realization:
            await self._realization.drain()
        if self._embedded:
            await self._embedded.stop()
        if self._store:
            self._store.close()
        log.info("serve.stopped")


class LocalWorker:
    """The health worker `serve` starts by default, restarted if it exits."""

    def __init__(
        self, control_plane: str, log_format: str, token: str | None, ovs_rundir: str | None = None
    ) -> None:
        self.ovs_rundir = ovs_rundir
        self.control_plane = control_plane
        self.log_format = log_format
        self.token = token
        self._proc: subprocess.Popen[bytes] | None = None
        self._task: asyncio.Task[None] | None = None

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        if self.token:
            env["QUANTIX_LB_WORKER_TOKEN"] = self.token
        argv = [
            sys.executable, "-m", "quantix_lb", "--log-format", self.log_format, "health-worker",
            "--control-plane", self.control_plane, "--node-id", f"{socket.gethostname()}-local",
            *(["--ovs-rundir", self.ovs_rundir] if self.ovs_rundir else []),
        ]  # fmt: skip
        proc = subprocess.Popen(with_parent_death_signal(argv), env=env, stdin=subprocess.DEVNULL)
        log.info("health.local_worker_started", pid=proc.pid, control_plane=self.control_plane)
        return proc

    def start(self) -> None:
        self._proc = self._spawn()
        self._task = asyncio.get_running_loop().create_task(self._supervise())

    async def _supervise(self) -> None:
        backoff = 0.2
        while True:
            await asyncio.sleep(0.2)
            if self._proc is None or self._proc.poll() is None:
                continue
            log.warning("health.local_worker_exited", code=self._proc.returncode, restart_in_s=backoff)
            await asyncio.sleep(backoff)
            self._proc = self._spawn()  # on the loop's thread: see with_parent_death_signal
            backoff = min(backoff * 2, 10.0)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await terminate(self._proc)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        sock = socket.create_server((host, port), family=family, reuse_port=False)
    except OSError as exc:
        raise StartupError(f"cannot listen for HTTP on {host}:{port}: {exc.strerror}") from exc
    # create_server leaves proto 0, which accepted sockets inherit, and asyncio only
    # sets TCP_NODELAY on IPPROTO_TCP sockets: without it every keep-alive response
    # waits ~40 ms on Nagle and delayed ACKs.
    return socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP, fileno=sock.detach())


async def run(settings: Settings) -> None:
    plane = ControlPlane(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    # A parent may hand down these signals blocked; then Ctrl-C/SIGTERM would never arrive.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await plane.start()
        await stop.wait()
        log.info("serve.stopping")
    finally:
        await plane.stop()
