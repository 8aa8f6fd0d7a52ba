"""The probe engine of the health worker against real local servers: checks, thresholds, scheduler."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from quantix_lb.health.checks import (
    PING_PAYLOAD,
    ProbeResult,
    Target,
    _checksum,
    parse_expected_codes,
    probe,
    start_probe,
)
from quantix_lb.health.scheduler import COALESCE, Prober
from quantix_lb.health.state import MemberHealth

DEADLINE = 10.0  # no single test may hang longer than this


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    async def bounded() -> Any:
        async with asyncio.timeout(DEADLINE):
            return await coro

    return asyncio.run(bounded())


async def eventually(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.001)


def target(address: str, port: int, type: str = "TCP", **kw: Any) -> Target:
    args: dict[str, Any] = {"delay": 1.0, "timeout": 1.0, "max_retries": 3, "healthy_threshold": 2, **kw}
    return Target(id=f"{type}-{address}-{port}", address=address, port=port, type=type, **args)


def free_udp_port(host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# -- real servers, on a loop of their own in a thread --------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    host: str


@dataclass
class Servers:
    loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    ports: dict[str, int] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    silent_accepted: int = 0
    silent_gone: int = 0
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    _closers: list[Callable[[], object]] = field(default_factory=list)
    _held: list[socket.socket] = field(default_factory=list)

    def call(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(DEADLINE)

    async def _http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """/status/<code> answers that code, /slow/<s> answers 200 after s seconds, else 200."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            method, path, _ = lines[0].split(" ")
            headers = dict(line.split(": ", 1) for line in lines[1:] if line)
            self.seen.append(Seen(method, path, headers.get("Host", "")))
            parts = path.split("/")
            code = int(parts[2]) if parts[1] == "status" else 200
            if parts[1] == "slow":
                with contextlib.suppress(TimeoutError):  # ends early when the servers stop
                    async with asyncio.timeout(float(parts[2])):
                        await self.stopping.wait()
            writer.write(f"HTTP/1.1 {code} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi".encode())
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
            pass  # the probe resets the connection once it has the status line
        finally:
            writer.close()

    async def _accept_close(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    async def _silent(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.silent_accepted += 1
        with contextlib.suppress(OSError):
            await reader.read()  # says nothing, not even a TLS handshake, until the peer leaves
        self.silent_gone += 1
        writer.close()

    async def serve(self, name: str, handler: Any, host: str, ssl_ctx: ssl.SSLContext | None = None) -> None:
        server = await asyncio.start_server(handler, host, 0, ssl=ssl_ctx)
        self.ports[name] = server.sockets[0].getsockname()[1]
        self._closers.append(server.close)

    def _quiet(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        # Probes reset connections on purpose (after the status line, or a refused certificate).
        if not isinstance(context.get("exception"), (ConnectionError, ssl.SSLError)):
            loop.default_exception_handler(context)

    async def setup(self) -> None:
        self.loop.set_exception_handler(self._quiet)
        await self.serve("tcp4", self._accept_close, "127.0.0.1")
        await self.serve("tcp6", self._accept_close, "::1")
        await self.serve("http4", self._http, "127.0.0.1")
        await self.serve("http6", self._http, "::1")
        await self.serve("silent", self._silent, "127.0.0.1")

        class Echo(asyncio.DatagramProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                self.transport = transport

            def datagram_received(self, data: bytes, addr: Any) -> None:
                self.transport.sendto(data, addr)  # type: ignore[attr-defined]

        for name, factory in (("udp_echo", Echo), ("udp_silent", asyncio.DatagramProtocol)):
            transport, _ = await self.loop.create_datagram_endpoint(factory, local_addr=("127.0.0.1", 0))
            self.ports[name] = transport.get_extra_info("sockname")[1]
            self._closers.append(transport.close)
        # Bound but never listening: connect gets an RST at once, and no one can take the port.
        closed = socket.socket()
        closed.bind(("127.0.0.1", 0))
        self._held.append(closed)
        self.ports["closed_tcp"] = closed.getsockname()[1]

    async def teardown(self) -> None:
        self.stopping.set()
        for close in self._closers:
            close()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if tasks:
            await asyncio.wait(tasks, timeout=DEADLINE)  # handlers finish by themselves now
        for s in self._held:
            s.close()


@pytest.fixture(scope="module")
def servers() -> Iterator[Servers]:
    srv = Servers()
    thread = threading.Thread(target=srv.loop.run_forever, daemon=True)
    thread.start()
    try:
        srv.call(srv.setup())
        yield srv
    finally:
        srv.call(srv.teardown())
        srv.loop.call_soon_threadsafe(srv.loop.stop)
        thread.join(5)
        srv.loop.close()


@pytest.fixture(scope="module")
def https_port(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> int:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl CLI is needed to make a self-signed certificate")
    d: Path = tmp_path_factory.mktemp("tls")
    req = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost"]
    subprocess.run(["openssl", *req, "-keyout", d / "k", "-out", d / "c"], check=True, capture_output=True)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(d / "c", d / "k")
    servers.call(servers.serve("https", servers._http, "127.0.0.1", ctx))
    return servers.ports["https"]


# -- expected codes and targets -------------------------------------------------------------


def test_parse_expected_codes() -> None:
    one = parse_expected_codes("200")
    assert one(200) and not one(201) and not one(503)
    span = parse_expected_codes("200-299")
    assert span(200) and span(250) and span(299) and not span(300) and not span(199)
    some = parse_expected_codes("200,202,204")
    assert [c for c in range(100, 600) if some(c)] == [200, 202, 204]
    mixed = parse_expected_codes("200-202, 301")
    assert [c for c in range(100, 600) if mixed(c)] == [200, 201, 202, 301]
    for bad in ("", "2xx", "200-", "299-200", "99", "600", "200;201", "200,,201"):
        with pytest.raises(ValueError):
            parse_expected_codes(bad)


def test_target_rejects_what_could_not_be_probed_safely() -> None:
    good = target("127.0.0.1", 80, "HTTP")
    for bad in (
        {"type": "ICMP"},
        {"type": "ping"},
        {"address": "example.com"},
        {"port": 0},
        {"timeout": 0},
        {"delay": float("inf")},
        {"max_retries": 0},
        {"url_path": "/x HTTP/1.1\r\nX-Evil: 1"},
        {"url_path": "x"},
        {"http_method": "GET /"},
        {"host_header": "a\r\nb"},
        {"expected_codes": "2xx"},
    ):
        with pytest.raises(ValueError):
            replace(good, **bad)
    # HTTP-only fields are not judged for other types.
    assert replace(good, type="TCP", expected_codes="").type == "TCP"
    assert replace(good, type="PING", url_path="x", expected_codes="").type == "PING"


# -- TCP -------------------------------------------------------------------------------------


def test_tcp_listener_up_closed_port_refused(servers: Servers) -> None:
    up = run(probe(target("127.0.0.1", servers.ports["tcp4"])))
    assert up.ok and up.reason == "connected"
    down = run(probe(target("127.0.0.1", servers.ports["closed_tcp"])))
    assert not down.ok and down.reason == "connection refused"
    assert down.latency < 0.5


def test_tcp_ipv6(servers: Servers) -> None:
    up = run(probe(target("::1", servers.ports["tcp6"])))
    assert up == ProbeResult(True, "connected", up.latency)
    # The v4-only listener's port is closed on ::1.
    down = run(probe(target("::1", servers.ports["tcp4"])))
    assert not down.ok and down.reason == "connection refused"


# -- HTTP ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "codes", "ok", "reason"),
    [
        ("/status/200", "200", True, "HTTP 200"),
        ("/status/503", "200", False, "HTTP 503 not in 200"),
        ("/status/204", "200-299", True, "HTTP 204"),
        ("/status/302", "200-299", False, "HTTP 302 not in 200-299"),
        ("/status/202", "200,202", True, "HTTP 202"),
        ("/status/201", "200,202", False, "HTTP 201 not in 200,202"),
    ],
)
def test_http_expected_codes(servers: Servers, path: str, codes: str, ok: bool, reason: str) -> None:
    t = target("127.0.0.1", servers.ports["http4"], "HTTP", url_path=path, expected_codes=codes)
    result = run(probe(t))
    assert (result.ok, result.reason) == (ok, reason)


def test_http_sends_method_path_and_host(servers: Servers) -> None:
    port4, port6 = servers.ports["http4"], servers.ports["http6"]
    run(probe(target("127.0.0.1", port4, "HTTP", url_path="/default-host")))
    run(probe(target("::1", port6, "HTTP", url_path="/v6-host")))
    named = target(
        "127.0.0.1", port4, "HTTP", http_method="HEAD", url_path="/named", host_header="api.example"
    )
    assert run(probe(named)).ok
    seen = {s.path: s for s in servers.seen}
    assert seen["/default-host"] == Seen("GET", "/default-host", f"127.0.0.1:{port4}")
    assert seen["/v6-host"] == Seen("GET", "/v6-host", f"[::1]:{port6}")
    assert seen["/named"] == Seen("HEAD", "/named", "api.example")


def test_http_slower_than_timeout_is_down_within_timeout(servers: Servers) -> None:
    t = target("127.0.0.1", servers.ports["http4"], "HTTP", url_path="/slow/5", timeout=0.25)
    loop_elapsed: list[float] = []

    async def timed() -> ProbeResult:
        start = asyncio.get_running_loop().time()
        result = await probe(t)
        loop_elapsed.append(asyncio.get_running_loop().time() - start)
        return result

    result = run(timed())
    assert not result.ok and result.reason == "timeout after 0.25s"
    assert 0.25 <= loop_elapsed[0] < 0.25 + 0.1
    fast = run(probe(replace(t, url_path="/slow/0.05")))
    assert fast.ok and fast.latency >= 0.05


def test_http_peer_closing_without_answer_is_down(servers: Servers) -> None:
    result = run(probe(target("127.0.0.1", servers.ports["tcp4"], "HTTP")))
    assert not result.ok
    assert result.reason in ("connection closed before the status line", "connection reset")


# -- HTTPS -----------------------------------------------------------------------------------


def test_https_self_signed_ok_unverified_down_verified(https_port: int, servers: Servers) -> None:
    t = target("127.0.0.1", https_port, "HTTPS", url_path="/status/200", host_header="localhost")
    result = run(probe(t))
    assert result.ok and result.reason == "HTTP 200"
    assert Seen("GET", "/status/200", "localhost") in servers.seen
    verified = run(probe(replace(t, tls_verify=True)))
    assert not verified.ok
    assert verified.reason.startswith("TLS: ") and "self-signed" in verified.reason
    assert not run(probe(replace(t, url_path="/status/500"))).ok


def test_https_timeout_covers_the_handshake(servers: Servers) -> None:
    # The listener accepts but never answers the ClientHello.
    t = target("127.0.0.1", servers.ports["silent"], "HTTPS", timeout=0.2)
    result = run(probe(t))
    assert not result.ok and result.reason == "timeout after 0.2s"
    assert 0.2 <= result.latency < 0.2 + 0.1


# -- UDP_CONNECT -----------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_udp_closed_port_is_down(host: str) -> None:
    result = run(probe(target(host, free_udp_port(host), "UDP_CONNECT", timeout=2.0)))
    assert not result.ok and result.reason == "ICMP port unreachable"
    assert result.latency < 1.0  # the ICMP error, not the timeout, decided


def test_udp_echo_is_up(servers: Servers) -> None:
    result = run(probe(target("127.0.0.1", servers.ports["udp_echo"], "UDP_CONNECT", timeout=2.0)))
    assert result.ok and result.reason == "reply received"
    assert result.latency < 1.0


def test_udp_silence_until_the_timeout_is_up(servers: Servers) -> None:
    result = run(probe(target("127.0.0.1", servers.ports["udp_silent"], "UDP_CONNECT", timeout=0.2)))
    assert result.ok and result.reason == "no ICMP error within 0.2s"
    assert 0.2 <= result.latency < 0.2 + 0.1


# -- PING ------------------------------------------------------------------------------------


def test_checksum_known_vectors() -> None:
    # RFC 1071, section 3: the one's-complement sum of 0001 f203 f4f5 f6f7 is ddf2.
    assert _checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0xFFFF - 0xDDF2 == 0x220D
    # A captured echo request (Windows ping: id 1, seq 1, "abc...wabc...i") carries 4d5a.
    windows = bytes.fromhex("0800000000010001") + b"abcdefghijklmnopqrstuvwabcdefghi"
    assert _checksum(windows) == 0x4D5A
    # An odd length is padded with a zero byte at the end; the carry wraps around.
    assert _checksum(b"\x01") == _checksum(b"\x01\x00") == 0xFEFF
    assert _checksum(b"\xff\xff\xff\xff") == 0x0000
    assert _checksum(b"") == 0xFFFF
    # A receiver's check: a packet with its checksum in place sums to zero.
    packet = bytes.fromhex("08000000beef0007") + PING_PAYLOAD
    filled = packet[:2] + _checksum(packet).to_bytes(2, "big") + packet[4:]
    assert _checksum(filled) == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_ping_loopback_answers(host: str) -> None:
    result = run(probe(target(host, 1, "PING", timeout=2.0)))
    assert result == ProbeResult(True, "echo reply", result.latency)
    assert result.latency < 1.0


# Runs one PING probe where it is started (inside a namespace) and prints the result and
# the kinds of ICMP socket the probe opened.
_PING_PROBE = """
import asyncio, json, socket, sys
from quantix_lb.health import checks

opened = []

class Recording(socket.socket):
    def __init__(self, family=-1, type=-1, proto=-1, fileno=None):
        super().__init__(family, type, proto, fileno)
        if proto in (socket.IPPROTO_ICMP, socket.IPPROTO_ICMPV6):
            opened.append("raw" if type == socket.SOCK_RAW else "ping")

socket.socket = Recording
address, timeout = sys.argv[1], float(sys.argv[2])
t = checks.Target("ping", address, 1, "PING", delay=1.0, timeout=timeout, max_retries=1, healthy_threshold=1)
r = asyncio.run(checks.probe(t))
print(json.dumps({"ok": r.ok, "reason": r.reason, "latency": r.latency, "sockets": opened}))
"""


class Netns:
    """A network namespace of the test's own with only lo, up."""

    def __init__(self) -> None:
        self.name = f"qlbt-ping-{uuid.uuid4().hex[:8]}"

    def sh(self, *cmd: str) -> str:
        done = subprocess.run(
            ["ip", "netns", "exec", self.name, *cmd], capture_output=True, text=True, timeout=DEADLINE
        )
        assert done.returncode == 0, f"{cmd}: {done.stderr}"
        return done.stdout

    def sysctl(self, name: str, value: str) -> None:
        self.sh("sysctl", "-q", "-w", f"{name}={value}")
        assert self.sh("sysctl", "-n", name).split() == value.split()

    def probe(self, address: str, timeout: float) -> dict[str, Any]:
        return json.loads(self.sh(sys.executable, "-c", _PING_PROBE, address, str(timeout)))


@pytest.fixture
def netns() -> Iterator[Netns]:
    if os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("sysctl") is None:
        pytest.skip("needs root with ip and sysctl to make a network namespace")
    ns = Netns()
    subprocess.run(["ip", "netns", "add", ns.name], check=True, capture_output=True)
    try:
        subprocess.run(["ip", "-n", ns.name, "link", "set", "lo", "up"], check=True, capture_output=True)
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns.name], check=False, capture_output=True)


@pytest.mark.parametrize(
    ("ping_group_range", "socket_kind"),
    # Ping sockets refused to every group (the kernel's default): the raw-socket fallback.
    [("1 0", "raw"), ("0 2147483647", "ping")],
)
@pytest.mark.parametrize(
    ("host", "ignore_echo"),
    [("127.0.0.1", "net.ipv4.icmp_echo_ignore_all"), ("::1", "net.ipv6.icmp.echo_ignore_all")],
)
def test_ping_without_reply_fails_at_its_timeout(
    netns: Netns, host: str, ignore_echo: str, ping_group_range: str, socket_kind: str
) -> None:
    netns.sysctl("net.ipv4.ping_group_range", ping_group_range)
    # The namespace answers echo requests, on the socket kind the system allows.
    up = netns.probe(host, 2.0)
    assert (up["ok"], up["reason"], up["sockets"]) == (True, "echo reply", [socket_kind])
    # Echo ignored (the sysctl is per namespace): the request goes out, no reply comes.
    netns.sysctl(ignore_echo, "1")
    down = netns.probe(host, 0.3)
    assert (down["ok"], down["reason"]) == (False, "no echo reply within 0.3s")
    assert 0.3 <= down["latency"] < 0.3 + 0.2
    netns.sysctl(ignore_echo, "0")
    assert netns.probe(host, 2.0)["ok"]


# -- the callback form and cancellation -----------------------------------------------------


def test_start_probe_calls_back_once_and_never_synchronously(servers: Servers) -> None:
    async def main() -> None:
        results: list[ProbeResult] = []
        called = asyncio.Event()

        def on_done(r: ProbeResult) -> None:
            results.append(r)
            called.set()

        for t in (
            target("127.0.0.1", servers.ports["tcp4"]),
            target("127.0.0.1", servers.ports["closed_tcp"]),
            target("127.0.0.1", servers.ports["http4"], "HTTP", url_path="/status/503"),
        ):
            called.clear()
            assert start_probe(t, on_done) is not None
            assert not called.is_set()
            await called.wait()
        assert [(r.ok, r.reason) for r in results] == [
            (True, "connected"),
            (False, "connection refused"),
            (False, "HTTP 503 not in 200"),
        ]
        assert start_probe(target("127.0.0.1", 1, "HTTPS"), on_done) is None
        assert start_probe(target("127.0.0.1", 1, "UDP_CONNECT"), on_done) is None
        assert start_probe(target("127.0.0.1", 1, "PING"), on_done) is None

    run(main())


@pytest.mark.parametrize("how", ["cancel function", "cancelled probe()"])
def test_abandoned_check_closes_its_socket(servers: Servers, how: str) -> None:
    async def main() -> None:
        accepted, gone = servers.silent_accepted, servers.silent_gone
        t = target("127.0.0.1", servers.ports["silent"], "HTTP", timeout=30.0)
        results: list[ProbeResult] = []
        if how == "cancel function":
            cancel = start_probe(t, results.append)
            assert cancel is not None
            await eventually(lambda: servers.silent_accepted > accepted)
            cancel()
        else:
            task = asyncio.ensure_future(probe(t))
            await eventually(lambda: servers.silent_accepted > accepted)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        # The server sees the connection go long before the 30 s timeout; no callback came.
        await eventually(lambda: servers.silent_gone > gone, timeout=2.0)
        await asyncio.sleep(0)
        assert results == []

    run(main())


# -- thresholds ------------------------------------------------------------------------------


def test_unhealthy_after_exactly_max_retries_failures() -> None:
    h = MemberHealth(max_retries=3, healthy_threshold=2, state=True)
    assert [h.observe(False), h.observe(False)] == [None, None]
    assert h.observe(False) is False
    assert h.state is False
    assert [h.observe(False) for _ in range(5)] == [None] * 5  # no repeats while down


def test_healthy_after_exactly_healthy_threshold_successes() -> None:
    h = MemberHealth(max_retries=3, healthy_threshold=2, state=False)
    assert h.observe(True) is None
    assert h.observe(True) is True
    assert [h.observe(True) for _ in range(5)] == [None] * 5


def test_an_outcome_of_the_other_kind_resets_the_count() -> None:
    h = MemberHealth(max_retries=3, healthy_threshold=2, state=True)
    assert [h.observe(ok) for ok in (False, False, True, False, False)] == [None] * 5
    assert h.observe(False) is False
    h = MemberHealth(max_retries=3, healthy_threshold=3, state=False)
    assert [h.observe(ok) for ok in (True, True, False, True, True)] == [None] * 5
    assert h.observe(True) is True


def test_first_decision_from_unknown_takes_the_full_counts() -> None:
    up = MemberHealth(max_retries=3, healthy_threshold=2)
    assert up.state is None
    assert [up.observe(True), up.observe(True)] == [None, True]
    down = MemberHealth(max_retries=3, healthy_threshold=2)
    assert [down.observe(False) for _ in range(3)] == [None, None, False]


def test_max_retries_one_and_reconfigure() -> None:
    h = MemberHealth(max_retries=1, healthy_threshold=1, state=True)
    assert [h.observe(False), h.observe(True), h.observe(False)] == [False, True, False]
    h = MemberHealth(max_retries=5, healthy_threshold=2, state=True)
    h.observe(False)
    h.reconfigure(max_retries=2, healthy_threshold=2)
    assert h.observe(False) is False


# -- the scheduler ---------------------------------------------------------------------------


class FakeProbe:
    """Scripted outcomes per target id; records when each probe started."""

    def __init__(self, duration: float = 0.0) -> None:
        self.ok: dict[str, bool] = defaultdict(lambda: True)
        self.calls: dict[str, list[float]] = defaultdict(list)
        self.results: dict[str, list[bool]] = defaultdict(list)
        self.duration = duration
        self.in_flight = 0
        self.max_in_flight = 0
        self.per_target: dict[str, int] = defaultdict(int)
        self.max_per_target = 0
        self.cancelled: list[str] = []
        self._tick = asyncio.Event()

    async def __call__(self, t: Target) -> ProbeResult:
        self.calls[t.id].append(asyncio.get_running_loop().time())
        self._tick.set()
        self.in_flight += 1
        self.per_target[t.id] += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.max_per_target = max(self.max_per_target, self.per_target[t.id])
        try:
            if self.duration:
                await asyncio.sleep(self.duration)
        except asyncio.CancelledError:
            self.cancelled.append(t.id)
            raise
        finally:
            self.in_flight -= 1
            self.per_target[t.id] -= 1
            self._tick.set()
        ok = self.ok[t.id]
        self.results[t.id].append(ok)
        return ProbeResult(ok, "up" if ok else "down", 0.0)

    async def until(self, pred: Callable[[], bool], timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not pred():
                self._tick.clear()
                await self._tick.wait()


# The scheduler's mechanics are tested at delays below the 100 ms floor, to stay fast: those
# Probers are built with min_interval=0 (the floor, budgets and backoff: test_health_fairness.py).
def fake_target(id: str, delay: float = 0.01, **kw: Any) -> Target:
    kw = {"max_retries": 2, "healthy_threshold": 2, **kw}
    return Target(id=id, address="192.0.2.1", port=80, type="TCP", delay=delay, timeout=delay, **kw)


@dataclass
class Transitions:
    seen: list[tuple[str, bool, str]] = field(default_factory=list)
    at_probe: list[int] = field(default_factory=list)  # how many probes of that target had completed
    fake: FakeProbe | None = None

    def __call__(self, target_id: str, healthy: bool, reason: str) -> None:
        self.seen.append((target_id, healthy, reason))
        if self.fake:
            self.at_probe.append(len(self.fake.results[target_id]))


def test_constructing_a_prober_has_no_side_effects() -> None:
    p = Prober(on_transition=Transitions())  # no running loop needed
    p.upsert(fake_target("a"))
    assert len(p) == 1 and p.state("a") is None and p.probes_started == 0


def test_transitions_reported_only_on_change() -> None:
    async def main() -> None:
        fake = FakeProbe()
        tr = Transitions(fake=fake)
        p = Prober(on_transition=tr, probe_fn=fake, min_interval=0)
        p.upsert(fake_target("a", max_retries=3, healthy_threshold=2))
        p.start()
        try:
            await fake.until(lambda: len(fake.results["a"]) >= 8)
            assert tr.seen == [("a", True, "up")] and tr.at_probe == [2]
            fake.ok["a"] = False
            await fake.until(lambda: len(tr.seen) == 2)
            assert tr.seen[1] == ("a", False, "down")
            assert fake.results["a"][tr.at_probe[1] - 3 :] == [False] * 3  # exactly the third failure
            assert fake.results["a"][tr.at_probe[1] - 4] is True
            done = len(fake.results["a"])
            await fake.until(lambda: len(fake.results["a"]) >= done + 6)
            assert len(tr.seen) == 2 and p.state("a") is False
            fake.ok["a"] = True
            await fake.until(lambda: len(tr.seen) == 3)
            assert tr.seen[2] == ("a", True, "up")
            assert fake.results["a"][tr.at_probe[2] - 3 :] == [False, True, True]
        finally:
            await p.stop()

    run(main())


def test_set_targets_keeps_the_state_of_targets_that_stay() -> None:
    async def main() -> None:
        fake = FakeProbe()
        tr = Transitions(fake=fake)
        p = Prober(on_transition=tr, probe_fn=fake, min_interval=0)
        p.set_targets([fake_target("a"), fake_target("b")])
        p.start()
        try:
            await fake.until(lambda: {s[0] for s in tr.seen} == {"a", "b"})
            fake.ok["d"] = False
            # c comes with a known state: it stays healthy and says nothing; d is new and failing.
            p.set_targets([fake_target("a"), fake_target("c"), fake_target("d")], {"c": True})
            assert "b" not in p and len(p) == 3
            assert (p.state("a"), p.state("c"), p.state("d")) == (True, True, None)
            await fake.until(lambda: ("d", False, "down") in tr.seen)
            await fake.until(lambda: len(fake.results["c"]) >= 5 and len(fake.results["a"]) >= 10)
            assert sorted(tr.seen) == [("a", True, "up"), ("b", True, "up"), ("d", False, "down")]
            # A full resync with the same set changes nothing.
            before = dict(fake.calls)
            p.set_targets([fake_target("a"), fake_target("c"), fake_target("d")])
            assert p.states() == {"a": True, "c": True, "d": False}
            assert all(fake.calls[k] == v for k, v in before.items())
        finally:
            await p.stop()

    run(main())


def test_probes_of_a_target_are_spaced_by_its_delay() -> None:
    async def main() -> None:
        fake = FakeProbe()
        p = Prober(on_transition=Transitions(), probe_fn=fake, min_interval=0)
        p.upsert(fake_target("a", delay=0.05))
        p.start()
        try:
            await fake.until(lambda: len(fake.calls["a"]) >= 1)
            # Count over a measured window: it can only overshoot if probes come too early.
            first = fake.calls["a"][0]
            await fake.until(lambda: fake.calls["a"][-1] - first >= 0.5)
            in_window = [t for t in fake.calls["a"] if t - first < 0.5]
            assert 8 <= len(in_window) <= 11
            gaps = [b - a for a, b in itertools.pairwise(fake.calls["a"])]
            # The fake notes the time its task runs, a loop turn after the launch the
            # next one is spaced from: a late turn shortens the gap after it (seen:
            # 53.4 then 47.5 ms on a loaded machine). Early launches would be far shorter.
            assert min(gaps) >= 0.05 - COALESCE - 5e-3
        finally:
            await p.stop()

    run(main())


def test_one_probe_in_flight_per_target_and_a_global_bound() -> None:
    async def main() -> None:
        fake = FakeProbe(duration=0.03)
        p = Prober(on_transition=Transitions(), probe_fn=fake, concurrency=3, min_interval=0)
        # A project of its own each: one project alone may hold only part of the permits.
        p.set_targets([fake_target(f"t{i}", delay=0.01, project=f"p{i}") for i in range(10)])
        p.start()
        try:
            await fake.until(lambda: sum(map(len, fake.results.values())) >= 40)
            assert fake.max_in_flight == 3 and fake.max_per_target == 1
            assert p.in_flight <= 3
        finally:
            await p.stop()
        assert p.in_flight == 0

    run(main())


def test_removal_stops_probing() -> None:
    async def main() -> None:
        fake = FakeProbe()
        p = Prober(on_transition=Transitions(), probe_fn=fake, min_interval=0)
        p.set_targets([fake_target("a"), fake_target("b")])
        p.start()
        try:
            await fake.until(lambda: len(fake.calls["a"]) >= 3)
            assert p.remove("a") and not p.remove("a")
            count, b_count = len(fake.calls["a"]), len(fake.calls["b"])
            await fake.until(lambda: len(fake.calls["b"]) >= b_count + 10)  # b is the clock
            assert len(fake.calls["a"]) == count
            # A probe in flight when its target goes is cancelled and not reported.
            slow = FakeProbe(duration=5.0)
            tr = Transitions()
            q = Prober(on_transition=tr, probe_fn=slow, min_interval=0)
            q.upsert(fake_target("s", healthy_threshold=1))
            q.start()
            try:
                await slow.until(lambda: bool(slow.calls["s"]))
                q.remove("s")
                await slow.until(lambda: bool(slow.cancelled))
                await eventually(lambda: q.in_flight == 0)  # its permit comes back
                assert slow.cancelled == ["s"] and tr.seen == [] and len(q) == 0
            finally:
                await q.stop()
        finally:
            await p.stop()

    run(main())


def test_prober_with_real_probes() -> None:
    async def main() -> None:
        tr = Transitions()
        changed = asyncio.Event()

        def on_transition(target_id: str, healthy: bool, reason: str) -> None:
            tr(target_id, healthy, reason)
            changed.set()

        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        t = Target("m1", "127.0.0.1", port, "TCP", delay=0.1, timeout=0.5, max_retries=2, healthy_threshold=2)
        p = Prober(on_transition=on_transition)
        p.upsert(t)
        p.start()
        try:
            await changed.wait()
            assert tr.seen == [("m1", True, "connected")]
            changed.clear()
            server.close()
            await server.wait_closed()
            await changed.wait()
            assert tr.seen[1] == ("m1", False, "connection refused")
        finally:
            await p.stop()
            server.close()

    run(main())


def test_prober_with_real_http_probes() -> None:
    async def main() -> None:
        code = 200
        seen: list[tuple[str, bool, str]] = []
        changed = asyncio.Event()

        def on_transition(target_id: str, healthy: bool, reason: str) -> None:
            seen.append((target_id, healthy, reason))
            changed.set()

        async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, asyncio.IncompleteReadError):
                await reader.readuntil(b"\r\n\r\n")
                writer.write(f"HTTP/1.1 {code} X\r\nConnection: close\r\n\r\n".encode())
                await writer.drain()
            writer.close()

        server = await asyncio.start_server(handler, "::1", 0)
        port = server.sockets[0].getsockname()[1]
        p = Prober(on_transition=on_transition)
        h1 = Target("h1", "::1", port, "HTTP", 0.1, 0.5, 2, 2, url_path="/health", expected_codes="200-204")
        p.set_targets([h1, replace(h1, id="h2", expected_codes="503")])
        p.start()
        try:
            await eventually(lambda: len(seen) == 2)
            assert sorted(seen) == [("h1", True, "HTTP 200"), ("h2", False, "HTTP 200 not in 503")]
            code = 503
            await eventually(lambda: len(seen) == 4)
            assert sorted(seen[2:]) == [("h1", False, "HTTP 503 not in 200-204"), ("h2", True, "HTTP 503")]
        finally:
            await p.stop()
            server.close()

    run(main())
