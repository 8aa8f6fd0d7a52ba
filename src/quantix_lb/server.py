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
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
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
from quantix_lb import answercache, gctune, metrics
from quantix_lb.api import connect, rest, web
from quantix_lb.api import grpc as grpc_api
from quantix_lb.api.dispatch import Dispatcher, methods_of
from quantix_lb.auth import TENANT_ROLES, WORKER_ROLES, Authenticator, Principal
from quantix_lb.convert import HealthWorkerApi, LoadBalancerApi, answer_format
from quantix_lb.health.coordinator import STATS_INTERVAL, HealthCoordinator
from quantix_lb.ovn.contract import Realized
from quantix_lb.ovn.embedded import EmbeddedNb
from quantix_lb.ovn.remote import RealizerProcess
from quantix_lb.proc import spawn
from quantix_lb.realization import Realization
from quantix_lb.service import LoadBalancerCore
from quantix_lb.stats.aggregate import StatsAggregator
from quantix_lb.stats.export import LoadBalancerMetrics
from quantix_lb.stats.publish import StatsPublisher
from quantix_lb.stats.steering import SteeringController
from quantix_lb.store import Change, ChangeKind, Store
from quantix_lb.supervisor import Supervisor
from quantix_lb.watch import WatchHub

log = structlog.get_logger(__name__)
SYNC_WAIT = 10.0  # seconds start-up waits for the realizer's first read of the NB
ANSWERS_FILE = "answers.cache"  # in the data dir (see answercache.py)
VERIFIED_FILE = "verified.cache"  # in the data dir: what the realizer found in the NB (ovn/nb.py)
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
    allow_local_addresses: bool = False  # loopback / link-local VIPs and members (development)
    tls_cert: Path | None = None  # PEM chain for the gRPC and HTTP listeners
    tls_key: Path | None = None
    tls_ca: Path | None = None  # gRPC clients must present a certificate this CA signed
    # The local worker probes from this host's own network namespace instead of from a
    # probe port on each member's network (routed provider networks, loopback development).
    probe_from_host: bool = False

    @property
    def tls(self) -> bool:
        return self.tls_cert is not None


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
    readiness: Callable[[], tuple[bool, dict[str, Any]]] = lambda: (True, {}),
) -> Starlette:
    connect_app = connect.app(dispatcher, MAX_REQUEST_BYTES)
    return Starlette(
        routes=[
            *rest.routes(dispatcher, MAX_REQUEST_BYTES),
            rest.metrics_route(auth),
            rest.healthz_route(health),
            rest.readyz_route(readiness),
            Mount(connect_app.path, app=connect_app),
            *web.routes(),  # the dashboard, after every API path
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
    """Explicit lifespan: nothing starts in the constructor. Each resource registers
    its stop on one exit stack as it starts, so stopping is starting in reverse."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.grpc_port = 0
        self.http_port = 0
        self._lifespan = contextlib.AsyncExitStack()
        self._hub = WatchHub()
        self._stats = StatsAggregator()
        self._realizer: RealizerProcess | None = None
        self._steering: SteeringController | None = None
        self._stats_publisher: StatsPublisher | None = None
        self._health: HealthCoordinator | None = None
        self._store: Store | None = None
        self._embedded: EmbeddedNb | None = None

    async def start(self) -> None:
        s = self.settings = _checked(self.settings)
        auth = Authenticator.from_file(s.auth_tokens) if s.auth_tokens else Authenticator(None)
        grpc_host = "localhost" if s.grpc_addr.startswith("unix:") else split_addr(s.grpc_addr)[0]
        http_host, http_port = split_addr(s.http_addr)
        _refuse_exposure(s, auth, grpc_host, http_host)
        _refuse_clear_text(s, auth, grpc_host, http_host)
        http_sock = self._lifespan.enter_context(_bind(http_host, http_port))
        store = self._open_store(s.data_dir)
        remote, create_networks, nb_starting = self._northbound(s)
        # The realizer starts while the embedded NB loads its file (it waits for the socket).
        core = self._start_realization(s, store, remote, create_networks)
        await nb_starting
        coordinator = self._start_health(store)
        lb_api = LoadBalancerApi(core)
        # While the realizer reads and compares the NB: the first list after a restart
        # finds its answers, most of them saved by the last stop (after the servers stop).
        answers = s.data_dir / ANSWERS_FILE
        saved = answercache.load(answers, answer_format())
        self._lifespan.push_async_callback(self._save_answers, answers, lb_api, store)
        anticipation = asyncio.create_task(lb_api.anticipate(store.documents, saved))
        self._lifespan.push_async_callback(_cancelled, anticipation)
        await self._nb_read()
        self._export_gauges()
        metrics.register_collector(LoadBalancerMetrics(self._stats, store.get, self._steering))
        # Each role to its job: a worker token opens the worker stream and nothing else.
        api = Dispatcher(lb_api, auth, methods_of(SERVICE), TENANT_ROLES)
        worker_api = Dispatcher(HealthWorkerApi(coordinator), auth, methods_of(HEALTH_SERVICE), WORKER_ROLES)
        await self._start_grpc(api, worker_api)
        await self._start_http(api, auth, http_sock)
        # Open watch streams would otherwise hold both servers to their grace periods.
        self._lifespan.callback(self._hub.close)
        if s.local_worker:
            self._start_local_worker(auth, grpc_host)
        # The store's load balancers live as long as the process: full collections must not walk them.
        gc_stop = threading.Event()
        gctune.keep_frozen(gc_stop)
        gctune.trim()  # what start decoded and sent is garbage now: hand it back at once
        self._lifespan.callback(gc_stop.set)
        log.info(
            "serve.ready",
            grpc=self._grpc_target(grpc_host),
            http=join_addr(http_host, self.http_port),
            data_dir=str(s.data_dir),
            auth=auth.enabled,
            tls=s.tls,
        )

    async def stop(self) -> None:
        await self._lifespan.aclose()
        log.info("serve.stopped")

    @staticmethod
    async def _save_answers(path: Path, lb_api: LoadBalancerApi, store: Store) -> None:
        """The answers the next start will need, saved once the servers have stopped
        (encoding those not kept costs ~100 us each here instead of there)."""

        def save() -> int:
            return answercache.save(path, answer_format(), lb_api.answers_for_next_start(store.documents()))

        try:
            saved = await asyncio.to_thread(save)
        except OSError as exc:  # a cache: the next start encodes them again
            log.warning("answers.not_saved", path=str(path), error=str(exc))
            return
        log.info("answers.saved", answers=saved)

    # --- the steps of start, in order ------------------------------------------------------

    def _open_store(self, data_dir: Path) -> Store:
        store = Store(data_dir / "quantix-lb.db")
        try:
            store.open()
        except (OSError, sqlite3.Error) as exc:
            raise StartupError(f"cannot open the store in {data_dir}: {exc}") from exc
        self._lifespan.callback(store.close)
        self._store = store
        return store

    def _northbound(self, s: Settings) -> tuple[str, bool, Awaitable[None]]:
        """The NB to realize in, whether networks are created on first use, and the
        start of the embedded NB (done when it listens) to await."""
        if s.ovn_nb:
            return s.ovn_nb, False, asyncio.sleep(0)
        embedded = EmbeddedNb(s.data_dir / "ovn")
        self._lifespan.push_async_callback(embedded.stop)
        self._embedded = embedded

        async def starting() -> None:
            try:
                await embedded.start()
            except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:
                raise StartupError(f"cannot start the embedded OVN Northbound: {exc}") from exc

        # The embedded NB is ours alone: networks are created on first use.
        return embedded.remote, True, starting()

    def _start_realization(
        self, s: Settings, store: Store, remote: str, create_networks: bool
    ) -> LoadBalancerCore:
        """The realizer process and what keeps the store, OVN and the statuses in step."""
        realizer = self._realizer = RealizerProcess(
            remote,
            create_networks=create_networks,
            full_interval=s.reconcile_interval,
            log_format=s.log_format,
            desired=store.documents,
            verified_file=s.data_dir / VERIFIED_FILE,
        )
        stats = self._stats
        self._steering = SteeringController(stats, realizer.steer, period=STATS_INTERVAL)
        stats.subscribe(self._steering.on_sample)
        realization = Realization(store, self._hub)
        self._lifespan.push_async_callback(realization.drain)  # after the realizer's last outcomes
        core = LoadBalancerCore(
            store, self._hub, realizer, realization, stats=stats, local_ok=self.settings.allow_local_addresses
        )
        publisher = self._stats_publisher = StatsPublisher(stats, self._hub, realization.get)
        stats.subscribe(publisher.touched)
        store.subscribe(realization.publish)
        store.subscribe(self._feed_realizer)
        loop = asyncio.get_running_loop()

        def on_realized(outcomes: list[Realized]) -> None:  # on the realizer's thread
            loop.call_soon_threadsafe(realization.apply, outcomes)

        realizer.on_realized = on_realized
        realizer.start()  # it reads the NB while the rest of start goes on
        self._lifespan.push_async_callback(asyncio.to_thread, realizer.stop)
        return core

    async def _nb_read(self) -> None:
        """What serve keeps of each stored load balancer, read once (100 at a time:
        at 10,000 a decoded list of them all would outlive start in the heap, ~60 MB
        of RSS that never goes back, and pages of 1,000 left ~4 MB of holes among
        what is kept) while the realizer reads the NB; then the wait
        for that read, so the first requests are answered knowing the networks,
        unless the NB is away."""
        realizer, steering, health = self._realizer, self._steering, self._health
        assert realizer is not None and steering is not None and health is not None
        assert self._store is not None
        for lb in self._store.all(page=100):
            self._stats.update((lb,))
            steering.update((lb,))
            health.load((lb,))
        if not await asyncio.to_thread(realizer.wait_synced, SYNC_WAIT):
            log.warning("ovn.nb_not_synced", waited_s=SYNC_WAIT, detail="serving; writes wait for the NB")
        if self._embedded is not None:
            compact = asyncio.create_task(self._compact_after_first_pass(realizer, self._embedded))
            self._lifespan.push_async_callback(_cancelled, compact)

    @staticmethod
    async def _compact_after_first_pass(realizer: RealizerProcess, embedded: EmbeddedNb) -> None:
        """Once the realizer has read the NB and compared it all, the embedded NB
        gives back what serving that first read cost it."""
        while realizer.last_full_pass is None:
            await asyncio.sleep(0.5)
        await embedded.compact()

    def _start_health(self, store: Store) -> HealthCoordinator:
        realizer = self._realizer
        assert realizer is not None
        coordinator = self._health = HealthCoordinator(
            store,
            stats=self._stats,
            networks=lambda: realizer.topology.networks,
            realize_probe_ports=realizer.set_probe_ports,
        )
        loop = asyncio.get_running_loop()
        realizer.on_topology = lambda topology: loop.call_soon_threadsafe(coordinator.topology_changed)
        store.subscribe(self._feed_stats)
        self._lifespan.push_async_callback(_cancelled, asyncio.create_task(self._stats_tick()))
        store.subscribe(coordinator.on_changes)
        coordinator.start()
        self._lifespan.push_async_callback(coordinator.stop)
        return coordinator

    async def _start_grpc(self, api: Dispatcher, worker_api: Dispatcher) -> None:
        server = grpc.aio.server(
            options=[
                ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
                ("grpc.so_reuseport", 0),
            ]
        )
        server.add_generic_rpc_handlers(
            (grpc_api.handler(SERVICE.full_name, api), grpc_api.handler(HEALTH_SERVICE.full_name, worker_api))
        )
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(
            (SERVICE.full_name, HEALTH_SERVICE.full_name, health.SERVICE_NAME, reflection.SERVICE_NAME),
            server,
        )
        s = self.settings
        try:
            if s.tls:
                self.grpc_port = server.add_secure_port(s.grpc_addr, _server_credentials(s))
                # The local worker's way in: a unix socket only this user can open.
                server.add_insecure_port(self._local_worker_socket())
            else:
                self.grpc_port = server.add_insecure_port(s.grpc_addr)
        except RuntimeError as exc:
            raise StartupError(f"cannot listen for gRPC on {s.grpc_addr}: {exc}") from exc
        await server.start()
        self._lifespan.push_async_callback(server.stop, 2)
        if s.tls:
            os.chmod(self._local_worker_socket().removeprefix("unix:"), 0o600)
        for name in ("", SERVICE.full_name):
            await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)

    async def _start_http(self, api: Dispatcher, auth: Authenticator, sock: socket.socket) -> None:
        s = self.settings
        config = uvicorn.Config(
            http_app(api, s.cors_origins, auth, lambda: self._readiness()[1], self._readiness),
            ssl_certfile=str(s.tls_cert) if s.tls_cert else None,
            ssl_keyfile=str(s.tls_key) if s.tls_key else None,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=3,
        )
        server = _HttpServer(config)
        self.http_port = sock.getsockname()[1]
        task = asyncio.create_task(server.serve(sockets=[sock]))

        async def stop() -> None:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await task

        self._lifespan.push_async_callback(stop)
        while not server.started:
            if task.done():
                task.result()
                raise StartupError("HTTP server stopped during start-up")
            await asyncio.sleep(0.01)

    def _start_local_worker(self, auth: Authenticator, grpc_host: str) -> None:
        s = self.settings
        token = None
        if auth.enabled:  # the local worker gets a token of its own, for this run only
            token = secrets.token_urlsafe(32)
            auth.add(token, Principal(project_id=None, role="worker"))
        target = self._local_worker_socket() if s.tls else self._grpc_target(grpc_host)
        worker = LocalWorker(target, s.log_format, token, s.ovs_rundir, s.probe_from_host)
        worker.start()
        self._lifespan.push_async_callback(worker.stop)

    # --- while it serves ---------------------------------------------------------------------

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

    def _readiness(self) -> tuple[bool, dict[str, Any]]:
        """Store open, Northbound read once, connected and compared with the store (so
        no load balancer shows PENDING_* only because it was not yet looked at), and
        (when serve runs its own) a health worker's session open."""
        store = self._store is not None and self._store.is_open
        realizer = self._realizer
        nb = "not read"
        if realizer is not None and realizer.topology.synced:
            nb = "read" if realizer.last_full_pass is not None else "comparing"
        workers = self._health.workers() if self._health is not None else 0
        workers_ok = workers > 0 or not self.settings.local_worker
        parts = {"store": "open" if store else "closed", "ovn_northbound": nb, "health_workers": workers}
        return store and nb == "read" and workers_ok, parts

    def _local_worker_socket(self) -> str:
        return f"unix:{self.settings.data_dir / 'grpc-local.sock'}"

    def _grpc_target(self, host: str) -> str:
        """Where a client on this machine dials the gRPC listener."""
        if self.settings.grpc_addr.startswith("unix:"):
            return self.settings.grpc_addr
        if host in ("0.0.0.0", "::", ""):
            host = "::1" if ":" in host else "127.0.0.1"
        return join_addr(host, self.grpc_port)

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


def _checked(s: Settings) -> Settings:
    if not 0.1 <= s.reconcile_interval <= 3600:
        raise StartupError("--reconcile-interval must be between 0.1 and 3600 seconds")
    if (s.tls_cert is None) != (s.tls_key is None):
        raise StartupError("give --tls-cert and --tls-key together")
    if s.tls_ca is not None and s.tls_cert is None:
        raise StartupError("--tls-ca goes with --tls-cert and --tls-key")
    # Absolute: the embedded ovsdb-server resolves relative paths against its own rundir.
    return replace(s, data_dir=s.data_dir.resolve())


def _server_credentials(s: Settings) -> grpc.ServerCredentials:
    assert s.tls_cert is not None and s.tls_key is not None
    try:
        chain, key = s.tls_cert.read_bytes(), s.tls_key.read_bytes()
        ca = s.tls_ca.read_bytes() if s.tls_ca else None
    except OSError as exc:
        raise StartupError(f"cannot read TLS files: {exc}") from exc
    return grpc.ssl_server_credentials(
        [(key, chain)], root_certificates=ca, require_client_auth=ca is not None
    )


def _refuse_clear_text(s: Settings, auth: Authenticator, *hosts: str) -> None:
    """Bearer tokens never cross a network in clear text, unless --insecure."""
    exposed = [h for h in hosts if not _loopback(h)]
    if auth.enabled and exposed and not s.tls and not s.insecure:
        raise StartupError(
            f"refusing to take bearer tokens in clear text on {', '.join(exposed)}: give --tls-cert and"
            " --tls-key (or pass --insecure)"
        )


def _refuse_exposure(s: Settings, auth: Authenticator, *hosts: str) -> None:
    """Without tokens every caller is an admin: loopback only, unless --insecure."""
    if auth.enabled:
        return
    exposed = [h for h in hosts if not _loopback(h)]
    if exposed and not s.insecure:
        raise StartupError(
            f"refusing to serve {', '.join(exposed)} without --auth-tokens (pass --insecure to allow it)"
        )
    log.warning("auth.off", detail="no --auth-tokens: every caller is an admin")


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


class LocalWorker:
    """The health worker `serve` starts by default, restarted if it exits."""

    def __init__(
        self,
        control_plane: str,
        log_format: str,
        token: str | None,
        ovs_rundir: str | None = None,
        probe_from_host: bool = False,
    ) -> None:
        self.ovs_rundir = ovs_rundir
        self.probe_from_host = probe_from_host
        self.control_plane = control_plane
        self.log_format = log_format
        self.token = token
        self._supervisor = Supervisor(
            "health.local_worker", self._respawn, fields={"control_plane": control_plane}
        )

    def _spawn(self) -> subprocess.Popen[bytes]:
        env = dict(os.environ)
        if self.token:
            env["QUANTIX_LB_WORKER_TOKEN"] = self.token
        argv = [
            sys.executable, "-m", "quantix_lb", "--log-format", self.log_format, "health-worker",
            "--control-plane", self.control_plane, "--node-id", f"{socket.gethostname()}-local",
            *(["--ovs-rundir", self.ovs_rundir] if self.ovs_rundir else []),
            *(["--probe-from-host"] if self.probe_from_host else []),
        ]  # fmt: skip
        return spawn(argv, env=env)

    async def _respawn(self) -> subprocess.Popen[bytes]:
        return self._spawn()

    def start(self) -> None:
        """On the event loop's thread (see proc.spawn)."""
        self._supervisor.supervise(self._spawn())

    async def stop(self) -> None:
        await self._supervisor.stop()


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
