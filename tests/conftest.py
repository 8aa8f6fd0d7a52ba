"""Shared fixtures: a real `quantix-lb serve` process on loopback ports (quantix_lb.testing)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest

from quantix_lb.testing import QUANTIX_LB, Server, ovn_testbed

__all__ = ["LOOPBACK_BACKENDS", "QUANTIX_LB", "ROOT", "Server"]  # tests import them from here

# serve's flags for members on loopback checked by the local worker (development setups):
# loopback members are allowed, and probes go out from this host's own namespace.
LOOPBACK_BACKENDS = ("--allow-local-addresses", "--probe-from-host")

ROOT = Path(__file__).resolve().parent.parent

SEED_BODY = {
    "name": "web-lb",
    "project_id": "proj-123",
    "network_id": "net-456",
    "vip_address": "192.168.1.100",
    "listeners": [
        {
            "protocol": "TCP",
            "port": 80,
            "default_pool": {
                "algorithm": "ROUND_ROBIN",
                "members": [
                    {"address": "10.0.0.10", "port": 8080, "weight": 1},
                    {"address": "10.0.0.11", "port": 8080, "weight": 1},
                ],
                "health_monitor": {
                    "type": "HTTP",
                    "delay": 5,
                    "timeout": 3,
                    "max_retries": 3,
                    "http_method": "GET",
                    "url_path": "/health",
                    "expected_codes": "200",
                },
            },
        }
    ],
}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    srv = Server(tmp_path / "data").start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def make_server(tmp_path: Path) -> Iterator[type[Server]]:
    """Factory for servers with extra arguments; all are stopped at the end."""
    started: list[Server] = []

    def factory(*extra: str, data_dir: Path | None = None, local_worker: bool = False) -> Server:
        srv = Server(data_dir or tmp_path / f"data{len(started)}", list(extra), local_worker=local_worker)
        started.append(srv)
        return srv.start()

    try:
        yield factory  # type: ignore[misc]
    finally:
        for srv in started:
            srv.stop()


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("NO_PROXY", "*")


# --- helpers added for the auth / watch / persistence tests ------------------------


def bearer(token: str | None) -> str | None:
    return f"Bearer {token}" if token else None


class Watcher:
    """Reads one WatchLoadBalancers stream (gRPC or Connect) on a background thread
    into a queue, so a test waits for each event with a deadline instead of sleeping."""

    def __init__(
        self,
        srv: Server,
        transport: str,
        request: object = None,
        authorization: str | None = None,
        timeout: float = 30.0,
    ) -> None:
        import queue

        from limiquantix.network.v1 import network_service_pb2 as pb
        from limiquantix.network.v1.network_service_connect import LoadBalancerServiceClientSync

        req = request if request is not None else pb.WatchLoadBalancersRequest()
        self.transport = transport
        self.events: queue.Queue[object] = queue.Queue()
        self._call: grpc.Future | None = None
        stream: Iterator[object]
        if transport == "grpc":
            metadata = (("authorization", authorization),) if authorization else None
            self._call = srv.stub.WatchLoadBalancers(req, metadata=metadata, timeout=timeout)
            stream = self._call
        elif transport == "connect":
            client = LoadBalancerServiceClientSync(srv.http_url)
            headers = {"authorization": authorization} if authorization else None
            stream = client.watch_load_balancers(req, headers=headers, timeout_ms=int(timeout * 1000))
        else:
            raise ValueError(transport)
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: Iterator[object]) -> None:
        try:
            for item in stream:
                self.events.put(item)
        except Exception as exc:  # the stream's end travels to the test as a value
            self.events.put(exc)
        else:
            self.events.put(EOFError("stream ended"))

    def next(self, timeout: float = 10.0):  # -> pb.WatchLoadBalancersResponse
        """The next event; raises the error that ended the stream, or fails after `timeout`."""
        import queue

        try:
            item = self.events.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no watch event within {timeout} s") from None
        if isinstance(item, BaseException):
            raise item
        return item

    def until(self, done, timeout: float = 10.0) -> list:
        """Events up to and including the first for which `done(event)` holds; fails
        (showing what came) if none does within `timeout` seconds."""
        from limiquantix.network.v1 import network_service_pb2 as pb

        deadline = time.monotonic() + timeout
        seen: list = []
        while True:
            left = deadline - time.monotonic()
            try:
                event = self.next(max(left, 0.001))
            except AssertionError:
                got = [(pb.WatchLoadBalancersResponse.Type.Name(e.type), e.load_balancer.id) for e in seen]
                raise AssertionError(f"no matching watch event within {timeout} s; got {got}") from None
            seen.append(event)
            if done(event):
                return seen

    def snapshot(self, timeout: float = 10.0) -> list:
        """The EXISTING load balancers, up to and including SNAPSHOT_COMPLETE."""
        from limiquantix.network.v1 import network_service_pb2 as pb

        found = []
        while True:
            event = self.next(timeout)
            if event.type == pb.WatchLoadBalancersResponse.SNAPSHOT_COMPLETE:
                return found
            assert event.type == pb.WatchLoadBalancersResponse.EXISTING, event
            found.append(event.load_balancer)

    def error(self, timeout: float = 10.0) -> BaseException:
        """The exception that ended the stream (events before it are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.next(max(deadline - time.monotonic(), 0.01))
            except AssertionError:
                raise
            except Exception as exc:
                return exc

    def close(self) -> None:
        """Cancels a gRPC stream; a Connect stream ends at its deadline or with its server."""
        if self._call is not None:
            self._call.cancel()
            self._thread.join(5)


def wait_for(predicate, timeout: float = 10.0, what: str = "condition"):  # type: ignore[no-untyped-def]
    """Polls until predicate() is truthy and returns it; fails with `what` at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class ServedBed:
    """A private OVN stack (client, backend1..3) with `serve` on it, driven
    through the REST API as curl would."""

    def __init__(self, stack: ovn_testbed.OvnStack, server: Server) -> None:
        self.stack = stack
        self.server = server
        self.http = httpx.Client(base_url=server.http_url, timeout=10)
        self.client = stack.hosts["client"]
        self.backends = [stack.hosts[f"backend{i}"] for i in (1, 2, 3)]

    def api(self, method: str, path: str, body: dict | None = None) -> dict:
        resp = self.http.request(method, f"/api/v1/load-balancers{path}", json=body)
        assert resp.status_code < 300, resp.text
        return resp.json() if resp.content else {}


# --- every RPC on every transport, against a module's `srv` ------------------------------

# lbclients needs Server (above), so it comes last.
from lbclients import TRANSPORTS, Transport, open_all  # noqa: E402


@pytest.fixture(scope="module")
def clients(srv: Server) -> Iterator[dict[str, Transport]]:
    """One client per transport for the module's server (`srv`, defined by the module)."""
    yield from open_all(srv)


@pytest.fixture(params=TRANSPORTS)
def api(request: pytest.FixtureRequest, clients: dict[str, Transport]) -> Transport:
    return clients[request.param]


# --- tests on a private OVN --------------------------------------------------------------

_OVN_MISSING = ovn_testbed.missing_prerequisites()
# Skipped, with the reason, where a private OVN cannot run (not root, no OVN packages).
needs_ovn = pytest.mark.skipif(
    bool(_OVN_MISSING), reason="OVN testbed unavailable: " + "; ".join(_OVN_MISSING)
)
