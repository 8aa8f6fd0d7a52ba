"""One health check of one target: PING, TCP, HTTP, HTTPS and UDP_CONNECT on plain asyncio.

`probe` never raises (other than being cancelled): every outcome is a ProbeResult whose
reason is short and meant for an operator ("HTTP 503 not in 200", "timeout after 0.25s").
The timeout covers the whole check: connect, TLS handshake, request and status line.

Every TCP socket a probe opens is closed with an RST (SO_LINGER 0), as HAProxy does for
its checks: at thousands of checks per second a normal close would leave the prober's host
with hundreds of thousands of TIME_WAIT sockets and, per backend, run out of source ports.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import ipaddress
import math
import os
import re
import socket
import ssl
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from quantix_lb.health.netns import socket_in

TYPES = frozenset({"PING", "TCP", "HTTP", "HTTPS", "UDP_CONNECT"})
USER_AGENT = "quantix-lb-health/1"
UDP_PAYLOAD = b"quantix-lb-health\n"
PING_PAYLOAD = b"quantix-lb-health"
# ICMP echo request and reply types, by IP version.
_ECHO = {4: (8, 0), 6: (128, 129)}
MAX_STATUS_LINE = 8192

_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # an HTTP method is an RFC 9110 token
_CODES_ITEM = re.compile(r"\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?")
_LINGER_RST = struct.pack("ii", 1, 0)
_REASONS = {
    errno.ECONNREFUSED: "connection refused",
    errno.ECONNRESET: "connection reset",
    errno.EHOSTUNREACH: "host unreachable",
    errno.ENETUNREACH: "network unreachable",
}


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    reason: str
    latency: float  # seconds from the start of the check to its outcome


@dataclass(frozen=True, slots=True)
class Target:
    """What to check. Validated on construction (ValueError): the request is built from
    these fields, so nothing may smuggle a CR/LF or a second request into it."""

    id: str
    address: str  # an IP literal, v4 or v6
    port: int
    type: str  # "PING" | "TCP" | "HTTP" | "HTTPS" | "UDP_CONNECT"
    delay: float
    timeout: float
    max_retries: int
    healthy_threshold: int
    http_method: str = "GET"
    url_path: str = "/"
    expected_codes: str = "200"
    host_header: str = ""
    tls_verify: bool = False
    project: str = ""  # whose check this is (budgets are per project)
    # The network namespace the check's sockets are opened in (a probe port's): "" is the
    # worker's own, only when the operator asked for probing from the host.
    netns: str = ""
    # Derived once here, not on every probe.
    _family: int = field(init=False, repr=False, compare=False)
    _request: bytes = field(init=False, repr=False, compare=False)
    _accepts: Callable[[int], bool] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"unknown check type {self.type!r}")
        addr = ipaddress.ip_address(self.address)  # ValueError for anything but an IP literal
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} out of range")
        for name in ("delay", "timeout"):
            value = getattr(self, name)
            if not (value > 0 and math.isfinite(value)):
                raise ValueError(f"{name} must be a positive number of seconds")
        if self.max_retries < 1 or self.healthy_threshold < 1:
            raise ValueError("max_retries and healthy_threshold must be at least 1")
        request, accepts = b"", _never
        if self.type in ("HTTP", "HTTPS"):
            if not _TOKEN.fullmatch(self.http_method):
                raise ValueError(f"bad HTTP method {self.http_method!r}")
            if not self.url_path.startswith("/") or _has_space_or_ctl(self.url_path):
                raise ValueError(f"bad URL path {self.url_path!r}")
            if _has_space_or_ctl(self.host_header):
                raise ValueError(f"bad Host header {self.host_header!r}")
            accepts = parse_expected_codes(self.expected_codes)
            host = self.host_header or _host_port(self.address, self.port, addr.version)
            request = (
                f"{self.http_method} {self.url_path} HTTP/1.1\r\nHost: {host}\r\n"
                f"User-Agent: {USER_AGENT}\r\nConnection: close\r\n\r\n"
            ).encode()
        object.__setattr__(self, "_family", socket.AF_INET6 if addr.version == 6 else socket.AF_INET)
        object.__setattr__(self, "_request", request)
        object.__setattr__(self, "_accepts", accepts)


@functools.lru_cache(maxsize=256)
def parse_expected_codes(spec: str) -> Callable[[int], bool]:
    """Parse "200", "200-299", "200,202,204" or a mix ("200-204,301") into a membership test.
    Raises ValueError for anything else or codes outside 100-599."""
    codes: set[int] = set()
    for item in spec.split(","):
        m = _CODES_ITEM.fullmatch(item)
        if not m:
            raise ValueError(f"bad expected codes {spec!r}")
        first = int(m[1])
        last = int(m[2]) if m[2] else first
        if not 100 <= first <= last <= 599:
            raise ValueError(f"bad expected codes {spec!r}")
        codes.update(range(first, last + 1))
    return frozenset(codes).__contains__


async def probe(target: Target) -> ProbeResult:
    """Check `target` once, within target.timeout seconds."""
    loop = asyncio.get_running_loop()
    if target.type in _CALLBACK_TYPES:
        done: asyncio.Future[ProbeResult] = loop.create_future()
        cancel = start_probe(target, functools.partial(_resolve, done))
        assert cancel is not None
        try:
            return await done
        finally:
            cancel()  # a no-op once finished; closes the socket if we were cancelled
    start = loop.time()
    deadline = start + target.timeout
    try:
        if target.type == "UDP_CONNECT":
            ok, reason = await _udp_connect(target, deadline)
        elif target.type == "PING":
            ok, reason = await _ping(target, deadline)
        else:
            async with asyncio.timeout_at(deadline):
                ok, reason = await _https(target)
    except TimeoutError:
        ok, reason = False, f"timeout after {target.timeout:g}s"
    except ssl.SSLCertVerificationError as exc:
        ok, reason = False, f"TLS: {exc.verify_message}"
    except ssl.SSLError as exc:
        ok, reason = False, f"TLS: {exc.reason or exc}"
    except OSError as exc:
        ok, reason = False, _os_reason(exc)
    except Exception as exc:  # a bug must cost one check, not the worker
        ok, reason = False, f"probe error: {exc!r}"
    return ProbeResult(ok, reason, loop.time() - start)


def start_probe(target: Target, on_done: Callable[[ProbeResult], None]) -> Callable[[], None] | None:
    """The callback form of `probe` for TCP and plain HTTP, for callers running many checks:
    it starts the check now and calls `on_done(result)` exactly once, from the running loop
    and never before returning, unless the returned cancel function is called first.
    Returns None for the other types: use `probe` for those."""
    if target.type not in _CALLBACK_TYPES:
        return None
    loop = asyncio.get_running_loop()
    try:
        return _Check(loop, target, on_done).cancel
    except Exception as exc:  # e.g. no socket (EMFILE): this check fails, the next may not
        reason = _os_reason(exc) if isinstance(exc, OSError) else f"probe error: {exc!r}"
        return loop.call_soon(on_done, ProbeResult(False, reason, 0.0)).cancel


_CALLBACK_TYPES = frozenset({"TCP", "HTTP"})
_IDLE, _WRITING, _READING = 0, 1, 2


class _Check:
    """A TCP or plain-HTTP check driven by loop callbacks on a raw non-blocking socket: no
    task, coroutine, future or transport per check, which at thousands of checks per
    second roughly halves the CPU. One timer enforces the timeout over the whole check."""

    __slots__ = (
        "_buf",
        "_connecting",
        "_fd",
        "_loop",
        "_on_done",
        "_out",
        "_sock",
        "_start",
        "_target",
        "_timer",
        "_watch",
    )

    def __init__(
        self, loop: asyncio.AbstractEventLoop, target: Target, on_done: Callable[[ProbeResult], None]
    ) -> None:
        self._loop = loop
        self._target = target
        self._on_done = on_done
        self._buf = b""
        self._out = target._request
        self._watch = _IDLE
        self._connecting = True
        self._start = loop.time()
        self._timer: asyncio.TimerHandle | None = None
        self._sock: socket.socket | None = _stream_socket(target)
        self._fd = self._sock.fileno()
        try:
            err = self._sock.connect_ex((target.address, target.port))
            self._timer = loop.call_at(self._start + target.timeout, self._expire)
            if err == errno.EINPROGRESS:
                self._watch = _WRITING
                loop.add_writer(self._fd, self._writable)
            elif err == 0:
                loop.call_soon(self._writable)
            else:
                loop.call_soon(self._fail, OSError(err, os.strerror(err)))
        except BaseException:
            self._close()  # nothing may call back after start_probe reported the failure
            raise

    def cancel(self) -> None:
        """Abandon the check: close the socket; on_done is not called."""
        if self._sock is not None:
            self._close()

    def _writable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            if self._connecting:
                # First writability: the connect finished, one way or the other.
                self._connecting = False
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, os.strerror(err))
            if self._out:  # HTTP: send the request
                self._send(sock)
                return
        except (BlockingIOError, InterruptedError):
            self._watch_writes()
            return
        except Exception as exc:
            self._fail(exc)
            return
        self._finish(True, "connected")

    def _send(self, sock: socket.socket) -> None:
        sent = sock.send(self._out)
        self._out = self._out[sent:]
        if self._out:  # a request larger than the send buffer: wait to write the rest
            self._watch_writes()
            return
        if self._watch == _WRITING:
            self._loop.remove_writer(self._fd)
        self._watch = _READING
        self._loop.add_reader(self._fd, self._readable)

    def _watch_writes(self) -> None:
        if self._watch != _WRITING:  # else already watched
            self._watch = _WRITING
            self._loop.add_writer(self._fd, self._writable)

    def _readable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            data = sock.recv(4096)
        except (BlockingIOError, InterruptedError):
            return
        except Exception as exc:
            self._fail(exc)
            return
        if not data:
            return self._finish(False, "connection closed before the status line")
        buf = self._buf + data
        end = buf.find(b"\n")
        if end >= 0:
            return self._finish(*_judge(self._target, buf[:end].rstrip(b"\r")))
        if len(buf) > MAX_STATUS_LINE:
            return self._finish(False, "status line too long")
        self._buf = buf

    def _expire(self) -> None:
        self._timer = None
        self._finish(False, f"timeout after {self._target.timeout:g}s")

    def _fail(self, exc: Exception) -> None:
        self._finish(False, _os_reason(exc) if isinstance(exc, OSError) else f"probe error: {exc!r}")

    def _finish(self, ok: bool, reason: str) -> None:
        if self._sock is None:
            return
        self._close()
        self._on_done(ProbeResult(ok, reason, self._loop.time() - self._start))

    def _close(self) -> None:
        if self._watch == _WRITING:
            self._loop.remove_writer(self._fd)
        elif self._watch == _READING:
            self._loop.remove_reader(self._fd)
        self._watch = _IDLE
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        assert self._sock is not None
        self._sock.close()  # SO_LINGER 0: an RST, no TIME_WAIT
        self._sock = None


def _resolve(fut: asyncio.Future[ProbeResult], result: ProbeResult) -> None:
    if not fut.done():  # cancelled meanwhile
        fut.set_result(result)


def _judge(target: Target, line: bytes) -> tuple[bool, str]:
    parts = line.split(None, 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or len(parts[1]) != 3 or not parts[1].isdigit():
        return False, f"bad status line {line[:64]!r}"
    code = int(parts[1])
    if target._accepts(code):
        return True, f"HTTP {code}"
    return False, f"HTTP {code} not in {target.expected_codes}"


def _os_reason(exc: OSError) -> str:
    return _REASONS.get(exc.errno or 0) or str(exc) or type(exc).__name__


async def _https(target: Target) -> tuple[bool, str]:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bytes | Exception] = loop.create_future()
    sock = _stream_socket(target)
    transport: asyncio.BaseTransport | None = None
    try:
        await loop.sock_connect(sock, (target.address, target.port))
        transport, _ = await loop.create_connection(
            lambda: _StatusLine(target._request, done),
            sock=sock,
            ssl=_ssl_context(target.tls_verify),
            server_hostname=_server_name(target),
        )
        outcome = await done
    finally:
        # Only the status line matters; drop the rest of the response.
        if transport is not None:
            transport.abort()
        else:
            sock.close()
    if isinstance(outcome, Exception):
        raise outcome
    return _judge(target, outcome)


class _StatusLine(asyncio.Protocol):
    """Sends the request and resolves `done` with the status line, or with the error that
    ended the connection (returned, not raised: after a timeout nobody awaits it any more,
    and an unretrieved exception would be logged)."""

    def __init__(self, request: bytes, done: asyncio.Future[bytes | Exception]) -> None:
        self._request = request
        self._done = done
        self._buf = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.write(self._request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self._done.done():
            return
        self._buf += data
        end = self._buf.find(b"\n")
        if end >= 0:
            self._done.set_result(self._buf[:end].rstrip(b"\r"))
        elif len(self._buf) > MAX_STATUS_LINE:
            self._done.set_result(ConnectionError("status line too long"))

    def eof_received(self) -> bool:
        self._finish(ConnectionError("connection closed before the status line"))
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._finish(exc or ConnectionError("connection closed before the status line"))

    def _finish(self, exc: Exception) -> None:
        if not self._done.done():
            self._done.set_result(exc)


async def _udp_connect(target: Target, deadline: float) -> tuple[bool, str]:
    """Octavia/HAProxy UDP-CONNECT: send a datagram on a connected socket; an ICMP port
    unreachable comes back as ECONNREFUSED on that socket and means down. Silence until the
    deadline means up (a UDP service need not answer arbitrary bytes), and so does a reply."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[Exception | None] = loop.create_future()
    sock = socket_in(target.netns, target._family, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.connect((target.address, target.port))  # UDP connect only sets the peer, never blocks
    except BaseException:
        sock.close()
        raise
    async with asyncio.timeout_at(deadline):
        transport, _ = await loop.create_datagram_endpoint(lambda: _UDPWatch(done), sock=sock)
    try:
        transport.sendto(UDP_PAYLOAD)
        # Not under asyncio.timeout: reaching the deadline here is the healthy outcome.
        await asyncio.wait((done,), timeout=max(0.0, deadline - loop.time()))
    finally:
        transport.abort()
    if not done.done():
        done.cancel()
        return True, f"no ICMP error within {target.timeout:g}s"
    exc = done.result()
    if exc is None:
        return True, "reply received"
    if isinstance(exc, ConnectionRefusedError):
        return False, "ICMP port unreachable"
    raise exc


async def _ping(target: Target, deadline: float) -> tuple[bool, str]:
    """One ICMP echo. An unprivileged ping socket where the system allows one
    (net.ipv4.ping_group_range), else a raw socket (root or CAP_NET_RAW)."""
    loop = asyncio.get_running_loop()
    version = 6 if target._family == socket.AF_INET6 else 4
    proto = socket.IPPROTO_ICMPV6 if version == 6 else socket.IPPROTO_ICMP
    try:
        sock, raw = socket_in(target.netns, target._family, socket.SOCK_DGRAM, proto), False
    except PermissionError:
        sock, raw = socket_in(target.netns, target._family, socket.SOCK_RAW, proto), True
    done: asyncio.Future[tuple[bool, str]] = loop.create_future()
    request, reply = _ECHO[version]
    ident, seq = int.from_bytes(os.urandom(2)), int.from_bytes(os.urandom(2))
    packet = struct.pack("!BBHHH", request, 0, 0, ident, seq) + PING_PAYLOAD
    if version == 4:  # the kernel sums ICMPv6 itself
        packet = packet[:2] + struct.pack("!H", _checksum(packet)) + packet[4:]

    def readable() -> None:
        while not done.done():
            try:
                data = sock.recv(2048)
            except BlockingIOError:
                return
            except OSError as exc:
                done.set_result((False, _os_reason(exc)))
                return
            if raw and version == 4:
                data = data[(data[0] & 0x0F) * 4 :]  # a raw IPv4 socket hands over the IP header
            if len(data) < 8:
                continue
            kind, _, _, got_ident, got_seq = struct.unpack("!BBHHH", data[:8])
            # A ping socket rewrites the identifier; a connected raw one sees only the target.
            if kind == reply and got_seq == seq and (not raw or got_ident == ident):
                done.set_result((True, "echo reply"))

    try:
        sock.setblocking(False)
        sock.connect((target.address, 0))
        loop.add_reader(sock.fileno(), readable)
        sock.send(packet)
        try:
            async with asyncio.timeout_at(deadline):
                return await done
        except TimeoutError:
            return False, f"no echo reply within {target.timeout:g}s"
    finally:
        loop.remove_reader(sock.fileno())
        sock.close()


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


class _UDPWatch(asyncio.DatagramProtocol):
    def __init__(self, done: asyncio.Future[Exception | None]) -> None:
        self._done = done

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        if not self._done.done():
            self._done.set_result(None)

    def error_received(self, exc: Exception) -> None:
        if not self._done.done():
            self._done.set_result(exc)


def _stream_socket(target: Target) -> socket.socket:
    sock = socket_in(target.netns, target._family, socket.SOCK_STREAM)
    try:
        sock.setblocking(False)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_RST)
    except BaseException:
        sock.close()
        raise
    return sock


@functools.cache
def _ssl_context(verify: bool) -> ssl.SSLContext:
    # Built once: loading the CA store costs milliseconds, far more than a check.
    if verify:
        return ssl.create_default_context()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def _server_name(target: Target) -> str:
    """SNI and the name verified: the Host header's host part if set, else the address."""
    host = target.host_header
    if not host:
        return target.address
    if host.startswith("["):
        return host[1 : host.find("]")]
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def _host_port(address: str, port: int, version: int) -> str:
    return f"[{address}]:{port}" if version == 6 else f"{address}:{port}"


def _has_space_or_ctl(s: str) -> bool:
    return any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in s)


def _never(code: int) -> bool:
    return False
