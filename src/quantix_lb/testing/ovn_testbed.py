"""A private, fully-owned OVN stack for end-to-end tests and demos (stdlib only).

``OvnStack`` runs its own NB/SB/conf ovsdb-servers, ovn-northd, a userspace
(netdev) ovs-vswitchd and ovn-controller out of one run directory, and builds
logical topology whose "hosts" are network namespaces wired to br-int with veth
pairs.  Everything it creates (processes, namespaces, veths, files) is tracked
and removed again by ``stop()``; processes are only ever killed by their pid.

ovs-vswitchd and ovn-controller run inside a namespace of their own
(``<prefix>-ovs``): the netdev datapath creates tap devices (``ovs-netdev``,
``br-int``) that would otherwise appear in, and collide in, the root namespace
when two stacks run at once.  The host-side veth ends live there too, so a
stack leaves no network footprint outside its own namespaces.

A dead data path is reported, not waited out: when ovs-vswitchd or
ovn-controller dies (OVS 3.1's userspace conntrack aborts on an assertion
under some traffic, see the README), ``wait_until`` and the stack's own helpers
raise ``DatapathDied`` with the daemon's last fatal log line at once instead of
timing out.

``scripts/sandbox`` (as root) runs a demo topology on it: a switch, a router,
a client and HTTP backends, with quantix-lb in front of them.
"""

from __future__ import annotations

import atexit
import contextlib
import ipaddress
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self, TypeVar

__all__ = [
    "DATAPATH_DAEMONS",
    "CommandError",
    "DatapathDied",
    "Host",
    "HttpResult",
    "OvnStack",
    "OvnTestbedError",
    "fatal_log_lines",
    "is_ovs_conntrack_crash",
    "missing_prerequisites",
    "pid_alive",
    "wait_until",
]

NB_SCHEMA = Path("/usr/share/ovn/ovn-nb.ovsschema")
SB_SCHEMA = Path("/usr/share/ovn/ovn-sb.ovsschema")
VSWITCH_SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")

REQUIRED_TOOLS = (
    *("ovsdb-tool", "ovsdb-server", "ovn-northd", "ovn-controller", "ovs-vswitchd"),
    *("ovn-nbctl", "ovn-sbctl", "ovs-vsctl", "ovs-appctl", "ovs-ofctl"),
    *("ip", "ethtool"),
)

_PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
_SCRUBBED_ENV = frozenset(
    # Proxies must never apply inside the namespaces: traffic stays on the topology.
    # The OVN_* ones would point the CLI tools at someone else's databases or daemon.
    [*_PROXY_VARS, *(v.upper() for v in _PROXY_VARS), "OVN_NB_DAEMON", "OVN_NB_DB", "OVN_SB_DB"]
)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")
_UNIX_PATH_MAX = 100  # sun_path is 108 bytes; leave room for "<name>.<pid>.ctl"

T = TypeVar("T")

# The daemons that carry packets: while either is gone, nothing crosses the topology.
DATAPATH_DAEMONS = ("ovs-vswitchd", "ovn-controller")

# OVS 3.1's userspace conntrack abort (fixed upstream by "conntrack: Remove nat_conn
# introducing key directionality", first in 3.1.3 / 3.3.0; see the README).
_OVS_CONNTRACK_CRASH = re.compile(
    r"conntrack\.c:\d+: assertion conn->conn_type == CT_CONN_TYPE_DEFAULT failed"
)
# vlog's level field; EMER is what ovs_assert()/ovs_abort() log just before abort().
_FATAL_LINE = re.compile(r"\|EMER\||\|fatal_signal\|.*terminating with signal|detected, backtrace")
_LOG_TAIL_BYTES = 64 * 1024

# Stacks started in this process, for waits that do not name one (see wait_until).
_LIVE_STACKS: weakref.WeakSet[OvnStack] = weakref.WeakSet()
_LIVE_LOCK = threading.Lock()


class OvnTestbedError(RuntimeError):
    """The testbed could not do what was asked (message includes the why)."""


class DatapathDied(OvnTestbedError):
    """ovs-vswitchd or ovn-controller of a stack is gone; the message carries the
    daemon's last fatal log line (or, when it logged none, its last line)."""

    def __init__(
        self,
        daemon: str,
        pid: int,
        stack_prefix: str,
        log_path: Path | None,
        log_lines: Sequence[str],
        *,
        fatal: bool,
        during: str | None = None,
    ) -> None:
        self.daemon = daemon
        self.pid = pid
        self.stack_prefix = stack_prefix
        self.log_path = log_path
        self.log_lines = list(log_lines)
        self.fatal = fatal
        self.during = during
        super().__init__(self._describe())

    @property
    def conntrack_crash(self) -> bool:
        """True when the log shows OVS 3.1's userspace conntrack assertion."""
        return self.daemon == "ovs-vswitchd" and any(is_ovs_conntrack_crash(x) for x in self.log_lines)

    @property
    def reason(self) -> str:
        """One line: the fatal log line, else what is known."""
        if self.log_lines:
            return self.log_lines[-1]
        return f"{self.daemon} (pid {self.pid}) died and left no log"

    def _describe(self) -> str:
        head = f"{self.daemon} (pid {self.pid}) of OVN testbed {self.stack_prefix} died: data path down"
        where = self.log_path.name if self.log_path is not None else "its log"
        if self.log_lines and self.fatal:
            body = f"last fatal lines of {where}:"
        elif self.log_lines:
            body = f"{where} has no fatal line (killed by a signal?); it ends with:"
        else:
            body = f"{where} is empty or unreadable"
        text = head + "\n" + body + "".join(f"\n  {line}" for line in self.log_lines)
        if self.conntrack_crash:
            text += (
                "\nThis is OVS 3.1's userspace conntrack abort (fixed in OVS 3.1.3 and 3.3.0): see the"
                ' README, "Connection storms and OVS 3.1\'s userspace datapath".'
            )
        if self.during:
            text += f"\n(noticed when {self.during})"
        return text

    def noticed_when(self, during: str) -> DatapathDied:
        """The same death, noticed by something that failed because of it."""
        return DatapathDied(
            self.daemon, self.pid, self.stack_prefix, self.log_path, self.log_lines,
            fatal=self.fatal, during=during,
        )  # fmt: skip


def fatal_log_lines(text: str, limit: int = 3) -> list[str]:
    """The last ``limit`` fatal lines of an OVS/OVN daemon log (EMER, i.e. a failed
    assertion or abort, or the fatal-signal handler's lines); [] when there are none."""
    fatal = [line.rstrip() for line in text.splitlines() if _FATAL_LINE.search(line)]
    return fatal[-limit:]


def is_ovs_conntrack_crash(text: str) -> bool:
    """True if ``text`` holds OVS 3.1's userspace conntrack assertion failure."""
    return _OVS_CONNTRACK_CRASH.search(text) is not None


def _read_log_tail(path: Path) -> str:
    """The end of a log file (the daemon's last words are at the end; logs can be large)."""
    with open(path, "rb") as f:
        size = f.seek(0, os.SEEK_END)
        start = max(0, size - _LOG_TAIL_BYTES)
        f.seek(start)
        data = f.read()
    if start:  # drop the partial first line
        data = data.partition(b"\n")[2]
    return data.decode(errors="replace")


class CommandError(OvnTestbedError):
    """A command exited non-zero or timed out."""

    def __init__(
        self,
        cmd: Sequence[str],
        returncode: int | None,
        stdout: str,
        stderr: str,
    ) -> None:
        self.cmd = list(cmd)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        status = "timed out" if returncode is None else f"exited {returncode}"
        detail = (stderr.strip() or stdout.strip())[-2000:]
        super().__init__(f"`{shlex.join(self.cmd)}` {status}: {detail}")


def missing_prerequisites() -> list[str]:
    """Reasons this machine cannot run an OvnStack (empty list: it can)."""
    reasons: list[str] = []
    if os.geteuid() != 0:
        reasons.append("needs root (network namespaces, veths, OVS daemons)")
    missing = [tool for tool in REQUIRED_TOOLS if shutil.which(tool) is None]
    if missing:
        reasons.append("missing tools: " + ", ".join(missing))
    for schema in (NB_SCHEMA, SB_SCHEMA, VSWITCH_SCHEMA):
        if not schema.is_file():
            reasons.append(f"missing schema {schema}")
    if not Path("/dev/net/tun").exists():
        reasons.append("missing /dev/net/tun (the netdev datapath needs tap devices)")
    return reasons


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str = "condition",
    retry_on: tuple[type[BaseException], ...] = (OSError, subprocess.SubprocessError),
    *,
    stack: OvnStack | Literal[False] | None = None,
) -> T:
    """Poll ``predicate`` until it returns something truthy; return that.

    Exceptions in ``retry_on`` count as "not yet" (daemons refuse connections
    while starting; the last one is reported on timeout); others propagate.

    While it waits, the data path is watched: if ovs-vswitchd or ovn-controller
    has died, it raises ``DatapathDied`` (with the daemon's fatal log line) at
    once instead of waiting out ``timeout``. ``stack`` says whose: a stack, every
    stack started in this process (None, the default), or none (False: for waits
    that must outlive a dead data path, such as cleanup).
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = predicate()
        except retry_on as exc:
            last_error = exc
        else:
            if result:
                return result
        _check_datapaths(stack, f"waiting for {message}")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            detail = f" (last error: {last_error})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.1f}s waiting for {message}{detail}")
        time.sleep(min(interval, remaining))


def _check_datapaths(stack: OvnStack | Literal[False] | None, during: str) -> None:
    if stack is False:
        return
    if stack is None:
        with _LIVE_LOCK:
            stacks = list(_LIVE_STACKS)
    else:
        stacks = [stack]
    for each in stacks:
        died = each.datapath_death()
        if died is not None:
            raise died.noticed_when(during)


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, start time in clock ticks) of a pid, or None if it is gone."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm (field 2) may contain spaces and parentheses: split after the last ")".
    fields = data[data.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def pid_alive(pid: int) -> bool:
    """True if pid runs; zombies count as dead (PID 1 may never reap them)."""
    stat = _proc_stat(pid)
    return stat is not None and stat[0] not in ("Z", "X")


def _listens_on(pid: int, port: int) -> bool:
    """True if pid holds a listening IPv4 TCP socket on port (in its netns)."""
    try:
        # /proc/<pid>/net/tcp shows the sockets of pid's network namespace.
        rows = Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]
        fds = list(Path(f"/proc/{pid}/fd").iterdir())
    except OSError:
        return False
    inodes = set()
    for row in rows:
        cols = row.split()
        if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "0A":  # LISTEN
            inodes.add(f"socket:[{cols[9]}]")
    for fd in fds:
        try:
            if os.readlink(fd) in inodes:
                return True
        except OSError:
            continue
    return False


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data


def _run(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout: float = 30.0,
    input: str | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run(
            list(cmd),
            capture_output=True,
            text=True,
            env=env,
            timeout=timeout,
            input=input,
            check=False,
            stdin=None if input is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise CommandError(cmd, None, _text(exc.stdout), _text(exc.stderr)) from None
    if check and proc.returncode != 0:
        raise CommandError(cmd, proc.returncode, proc.stdout, proc.stderr)
    return proc


@dataclass(frozen=True)
class _Tracked:
    """A daemon we started; the start time guards against pid reuse."""

    label: str
    pid: int
    starttime: int

    def alive(self) -> bool:
        stat = _proc_stat(self.pid)
        return stat is not None and stat[1] == self.starttime and stat[0] not in ("Z", "X")


@dataclass(frozen=True)
class HttpResult:
    """One HTTP request made from inside a namespace."""

    status: int | None
    body: str
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == 200


# Runs inside a namespace; answers every GET with the host's name.
_HTTP_SERVER = r"""
import http.server, sys
body = (sys.argv[1] + "\n").encode()
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("0.0.0.0", int(sys.argv[2])), Handler).serve_forever()
"""

# Runs inside a namespace; answers every UDP datagram with the host's name.
_UDP_SERVER = r"""
import socket, sys
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("0.0.0.0", int(sys.argv[2])))
body = sys.argv[1].encode()
while True:
    _, peer = sock.recvfrom(2048)
    sock.sendto(body, peer)
"""

# Runs inside a namespace; one datagram per request, each from a fresh socket (port).
_UDP_CLIENT = r"""
import json, socket, sys
host, port, count, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
out = []
for _ in range(count):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.sendto(b"ping", (host, port))
            out.append([sock.recv(2048).decode(), None])
        except OSError as exc:
            out.append(["", repr(exc)])
print(json.dumps(out))
"""

_TCP_PROBE = r"""
import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5).close()
"""

# Runs inside a namespace; one fresh connection per request, no proxies.
_HTTP_CLIENT = r"""
import json, sys, urllib.request
url, count, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
out = []
for _ in range(count):
    try:
        with opener.open(url, timeout=timeout) as resp:
            out.append([resp.status, resp.read().decode(errors="replace").strip(), None])
    except Exception as exc:
        out.append([getattr(exc, "code", None), "", repr(exc)])
print(json.dumps(out))
"""


@dataclass
class Host:
    """A network namespace attached to a logical switch port."""

    name: str
    netns: str
    ip: str
    prefixlen: int
    mac: str
    gateway: str | None
    switch: str
    lsp: str
    iface: str  # inside the namespace
    peer: str  # veth end on br-int, inside the stack's OVS namespace
    _stack: OvnStack = field(repr=False, compare=False)

    @property
    def ip_cidr(self) -> str:
        return f"{self.ip}/{self.prefixlen}"

    def run(
        self,
        *cmd: str,
        check: bool = True,
        timeout: float = 30.0,
        input: str | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command inside the namespace and wait for it."""
        return _run(
            ["ip", "netns", "exec", self.netns, *cmd],
            env=self._stack.env,
            timeout=timeout,
            input=input,
            check=check,
        )

    def popen(self, *cmd: str, **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start a tracked background command inside the namespace.

        Output goes to a log file in the run dir unless stdout/stderr are given;
        ``OvnStack.stop()`` kills it (and its process group).
        """
        return self._stack._popen(self, list(cmd), **kwargs)

    def http_get(self, url: str, count: int = 1, timeout: float = 2.0) -> list[HttpResult]:
        """Make ``count`` GET requests from inside the namespace, new connection each.

        Failed requests are results; but if they failed because the data path died,
        this raises ``DatapathDied`` instead."""
        proc = self._client(
            f"GET {url}", _HTTP_CLIENT, url, str(count), str(timeout), timeout=count * (timeout + 1.0) + 10.0
        )
        results = [HttpResult(status, body, error) for status, body, error in json.loads(proc.stdout)]
        if not all(r.ok for r in results):
            self._stack._raise_if_datapath_died(f"{self.name}: GET {url} failed")
        return results

    def udp_request(self, host: str, port: int, count: int = 1, timeout: float = 1.0) -> list[UdpResult]:
        """Send ``count`` datagrams from inside the namespace, each from a new port
        (``DatapathDied`` if unanswered ones are explained by a dead data path)."""
        proc = self._client(
            f"UDP to {host}:{port}", _UDP_CLIENT, host, str(port), str(count), str(timeout),
            timeout=count * (timeout + 1.0) + 10.0,
        )  # fmt: skip
        results = [UdpResult(body, error) for body, error in json.loads(proc.stdout)]
        if not all(r.ok for r in results):
            self._stack._raise_if_datapath_died(f"{self.name}: UDP to {host}:{port} unanswered")
        return results

    def _client(self, what: str, script: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
        try:
            return self.run(sys.executable, "-c", script, *args, timeout=timeout)
        except CommandError:
            self._stack._raise_if_datapath_died(f"{self.name}: {what} did not finish")
            raise


@dataclass(frozen=True)
class UdpResult:
    body: str
    error: str | None

    @property
    def ok(self) -> bool:
        return self.error is None


class OvnStack:
    """A private OVN deployment: explicit ``start()``/``stop()``, or ``with``."""

    def __init__(
        self,
        rundir: str | os.PathLike[str] | None = None,
        *,
        timeout: float = 20.0,
        name_prefix: str = "qlb",
        keep_rundir: bool = False,
    ) -> None:
        # No side effects here: everything happens in start().
        if not re.fullmatch(r"[a-z][a-z0-9]{0,3}", name_prefix):
            raise ValueError("name_prefix must be 1-4 lowercase letters/digits")
        self.token = secrets.token_hex(3)
        # <=10 chars, so "<prefix>o<index>" veth names stay within IFNAMSIZ (15).
        self.prefix = f"{name_prefix}{self.token}"
        self.system_id = self.prefix
        self.bridge = "br-int"
        self.ovs_netns = f"{self.prefix}-ovs"
        self.timeout = timeout
        self.keep_rundir = keep_rundir
        self.start_seconds: float | None = None
        self._requested_rundir = Path(rundir).absolute() if rundir is not None else None
        self._rundir: Path | None = None
        self._created_rundir = False
        self._preexisting: set[str] = set()
        self._env: dict[str, str] = {}
        self._daemons: list[_Tracked] = []
        self._pidfiles: dict[str, Path] = {}
        self._procs: list[subprocess.Popen[bytes]] = []
        self._netns: list[str] = []
        self._switches: dict[str, ipaddress.IPv4Network] = {}
        self._routers: set[str] = set()
        self._hosts: dict[str, Host] = {}
        self._host_index = 0
        self._state = "new"  # new -> started -> stopped

    # ------------------------------------------------------------ properties

    @property
    def rundir(self) -> Path:
        if self._rundir is None:
            raise OvnTestbedError("stack not started")
        return self._rundir

    @property
    def nb_remote(self) -> str:
        return f"unix:{self.rundir / 'nb.sock'}"

    @property
    def sb_remote(self) -> str:
        return f"unix:{self.rundir / 'sb.sock'}"

    @property
    def ovs_remote(self) -> str:
        return f"unix:{self.rundir / 'db.sock'}"

    @property
    def env(self) -> dict[str, str]:
        """Environment for OVS/OVN tools: every default path points at the run dir."""
        return dict(self._env)

    @property
    def hosts(self) -> dict[str, Host]:
        return dict(self._hosts)

    @property
    def namespaces(self) -> list[str]:
        return list(self._netns)

    # ------------------------------------------------------------ the data path

    def datapath_death(self) -> DatapathDied | None:
        """``DatapathDied`` for the first data-path daemon (ovs-vswitchd, then
        ovn-controller) that is no longer running, or None while both run (or the
        stack is not running). Judged by the pids the stack tracks, never by name."""
        if self._state != "started" or self._rundir is None:
            return None
        daemons = list(self._daemons)  # restart_nb() may edit the list meanwhile
        for label in DATAPATH_DAEMONS:
            for daemon in daemons:
                if daemon.label == label and not daemon.alive():
                    return self._death_of(daemon)
        return None

    def datapath_problem(self) -> str | None:
        """None while ovs-vswitchd and ovn-controller run; else which one died and
        its last fatal log lines (e.g. OVS 3.1's conntrack assertion)."""
        died = self.datapath_death()
        return None if died is None else str(died)

    def check_datapath(self) -> None:
        """Raise ``DatapathDied`` if ovs-vswitchd or ovn-controller has died."""
        died = self.datapath_death()
        if died is not None:
            raise died

    def wait_until(
        self,
        predicate: Callable[[], T],
        timeout: float = 10.0,
        interval: float = 0.05,
        message: str = "condition",
        retry_on: tuple[type[BaseException], ...] = (OSError, subprocess.SubprocessError),
    ) -> T:
        """``wait_until`` that fails at once with ``DatapathDied`` if this stack's
        data path dies while it waits."""
        return wait_until(predicate, timeout, interval, message, retry_on, stack=self)

    def _death_of(self, daemon: _Tracked) -> DatapathDied:
        log = self.rundir / f"{daemon.label}.log"
        try:
            text = _read_log_tail(log)
        except OSError:
            text = ""
        lines = fatal_log_lines(text)
        fatal = bool(lines)
        if not lines:
            lines = [line for line in text.splitlines() if line.strip()][-1:]
        return DatapathDied(daemon.label, daemon.pid, self.prefix, log, lines, fatal=fatal)

    def _raise_if_datapath_died(self, during: str) -> None:
        died = self.datapath_death()
        if died is not None:
            raise died.noticed_when(during)

    def pids(self) -> dict[str, int]:
        """Every process this stack started and tracks, label -> pid."""
        out = {d.label: d.pid for d in self._daemons}
        for proc in self._procs:
            out[f"popen:{proc.pid}"] = proc.pid
        return out

    # ------------------------------------------------------------ lifecycle

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> Self:
        if self._state != "new":
            raise OvnTestbedError(f"cannot start a stack that is {self._state}")
        self._state = "started"
        with _LIVE_LOCK:
            _LIVE_STACKS.add(self)
        t0 = time.monotonic()
        try:
            self._start()
        except BaseException as exc:
            tails = self.log_tails()
            try:
                self.stop()
            except OvnTestbedError as stop_exc:  # keep the original failure visible
                tails += f"\n{stop_exc}"
            if isinstance(exc, Exception):
                raise OvnTestbedError(f"OVN stack failed to start: {exc}\n{tails}") from exc
            raise
        self.start_seconds = time.monotonic() - t0
        return self

    def _start(self) -> None:
        self._make_rundir()
        # Safety net: clean up even if the caller forgets stop() or pytest aborts.
        atexit.register(self.stop)
        rd = self.rundir
        self._env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV}
        for var in ("RUNDIR", "LOGDIR", "DBDIR"):
            self._env[f"OVS_{var}"] = self._env[f"OVN_{var}"] = str(rd)

        schemas = {"nb": NB_SCHEMA, "sb": SB_SCHEMA, "conf": VSWITCH_SCHEMA}
        for db, schema in schemas.items():
            self._cmd(["ovsdb-tool", "create", str(rd / f"{db}.db"), str(schema)])
        for db, sock in (("nb", "nb.sock"), ("sb", "sb.sock"), ("conf", "db.sock")):
            label = f"ovsdb-server-{db}"
            self._daemon(
                label,
                ["ovsdb-server", str(rd / f"{db}.db"), f"--remote=punix:{rd / sock}"],
                # Explicit: three ovsdb-servers would otherwise share one name.
                unixctl=rd / f"{label}.ctl",
            )
            # --detach returns once listening; this turns a surprise into a clear error.
            wait_until((rd / sock).exists, 5.0, message=f"{sock} to appear")

        nb_sb = [f"--ovnnb-db={self.nb_remote}", f"--ovnsb-db={self.sb_remote}"]
        self._daemon("ovn-northd", ["ovn-northd", *nb_sb])

        # Configure before vswitchd starts so it comes up with the final settings.
        ext_ids = {
            "system-id": self.system_id,
            "hostname": self.system_id,
            "ovn-remote": self.sb_remote,
            "ovn-encap-type": "geneve",
            "ovn-encap-ip": "127.0.0.1",
            "ovn-bridge-datapath-type": "netdev",
        }
        self.ovs_vsctl(
            "--no-wait", "init", "--", "set", "Open_vSwitch", ".",
            *(f'external_ids:{k}="{v}"' for k, v in ext_ids.items()),
        )  # fmt: skip
        self._add_netns(self.ovs_netns)
        vswitchd = ["ovs-vswitchd", self.ovs_remote]
        self._daemon("ovs-vswitchd", vswitchd, netns=self.ovs_netns)
        # Without --no-wait, ovs-vsctl returns only once vswitchd has created the bridge.
        self.ovs_vsctl(
            "add-br", self.bridge, "--", "set", "Bridge", self.bridge,
            "datapath_type=netdev", "fail-mode=secure",
            "other-config:disable-in-band=true",
        )  # fmt: skip
        # ovn-controller 23.03 rejects --unixctl; OVN_RUNDIR places its socket.
        controller = ["ovn-controller", self.ovs_remote]
        self._daemon("ovn-controller", controller, netns=self.ovs_netns)
        # Chassis registered in SB, then NB -> SB -> flows round trip works.
        self.sbctl("wait-until", "Chassis", self.system_id)
        self.nbctl("--wait=hv", "sync")

    def stop(self) -> None:
        """Kill every tracked process, delete namespaces and files. Idempotent."""
        if self._state in ("new", "stopped"):
            self._state = "stopped"
            return
        self._state = "stopped"
        with _LIVE_LOCK:
            _LIVE_STACKS.discard(self)
        atexit.unregister(self.stop)
        errors: list[str] = []

        # Daemons whose launch failed halfway may have written a pidfile we never read.
        for label in self._pidfiles:
            if not any(d.label == label for d in self._daemons):
                self._track_pidfile(label, required=False)
        self._kill_all(errors)

        for ns in reversed(self._netns):
            try:
                self._delete_netns(ns)
            except (OvnTestbedError, OSError) as exc:
                errors.append(f"netns {ns}: {exc}")

        if self._rundir is not None and not self.keep_rundir:
            try:
                self._remove_rundir()
            except OSError as exc:
                errors.append(f"run dir {self._rundir}: {exc}")
        if errors:
            msg = "OvnStack.stop() left things behind:\n" + "\n".join(errors)
            raise OvnTestbedError(msg)

    def _make_rundir(self) -> None:
        if self._requested_rundir is None:
            self._rundir = Path(tempfile.mkdtemp(prefix=f"{self.prefix}-"))
            self._created_rundir = True
        else:
            rd = self._requested_rundir
            self._created_rundir = not rd.exists()
            rd.mkdir(parents=True, exist_ok=True)
            self._preexisting = {p.name for p in rd.iterdir()}
            self._rundir = rd
        # Paths go into unix socket names and into quoted OVSDB strings.
        if len(str(self._rundir)) > _UNIX_PATH_MAX - 30:
            raise OvnTestbedError(f"run dir path too long for unix sockets: {self._rundir}")
        if re.search(r'["\\\s]', str(self._rundir)):
            raise OvnTestbedError(f"run dir path must not contain quotes or spaces: {self._rundir}")

    def _remove_rundir(self) -> None:
        rd = self.rundir
        if self._created_rundir:
            shutil.rmtree(rd)
            return
        for entry in rd.iterdir():
            if entry.name in self._preexisting:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()

    # ------------------------------------------------------------ processes

    def _cmd(
        self,
        cmd: Sequence[str],
        *,
        timeout: float | None = None,
        input: str | None = None,
    ) -> str:
        return _run(cmd, env=self._env, timeout=timeout or self.timeout + 5.0, input=input).stdout

    def _daemon(
        self,
        label: str,
        argv: list[str],
        *,
        netns: str | None = None,
        unixctl: Path | None = None,
    ) -> None:
        # <label>.pid in OVS_RUNDIR lets `ovs-appctl -t <label>` find the daemon.
        pidfile = self.rundir / f"{label}.pid"
        # Registered before launch so stop() finds the daemon even if this call fails.
        self._pidfiles[label] = pidfile
        log = self.rundir / f"{label}.log"
        cmd = [
            *argv,
            "--detach",
            "--no-chdir",
            f"--pidfile={pidfile}",
            f"--log-file={log}",
        ]
        if unixctl is not None:
            cmd.append(f"--unixctl={unixctl}")
        if netns is not None:
            cmd = ["ip", "netns", "exec", netns, *cmd]
        self._cmd(cmd)
        self._track_pidfile(label, required=True)

    def _track_pidfile(self, label: str, *, required: bool) -> None:
        pidfile = self._pidfiles[label]
        try:
            pid = int(pidfile.read_text().strip())
        except (OSError, ValueError):
            if required:
                raise OvnTestbedError(f"{label}: no usable pidfile {pidfile}") from None
            return
        stat = _proc_stat(pid)
        if stat is None:
            if required:
                raise OvnTestbedError(f"{label} (pid {pid}) exited right after starting")
            return
        if not required:
            # Late discovery: make sure the pid still belongs to that daemon.
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                return
            if str(self.rundir).encode() not in cmdline:
                return
        self._daemons.append(_Tracked(label, pid, stat[1]))

    def _popen(self, host: Host, cmd: list[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        if self._state != "started":
            raise OvnTestbedError("stack not started")
        log = None
        if "stdout" not in kwargs and "stderr" not in kwargs:
            log = open(  # noqa: SIM115 - the child keeps it; closed right after spawn
                self.rundir / f"{host.name}.{len(self._procs)}.log", "ab"
            )
            kwargs["stdout"] = log
            kwargs["stderr"] = subprocess.STDOUT
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        kwargs.setdefault("env", self._env)
        # Own session: stop() can signal the whole group, Ctrl-C does not reach it.
        kwargs["start_new_session"] = True
        try:
            # `ip netns exec` execs the command, so proc.pid is the command itself.
            proc: subprocess.Popen[bytes] = subprocess.Popen(
                ["ip", "netns", "exec", host.netns, *cmd], **kwargs
            )
        finally:
            if log is not None:
                log.close()
        self._procs.append(proc)
        return proc

    def _kill_all(self, errors: list[str]) -> None:
        procs = [p for p in self._procs if p.poll() is None]
        daemons = [d for d in self._daemons if d.alive()]
        for sig, grace in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 3.0)):
            for proc in procs:
                if proc.poll() is None:  # not reaped, so the pid is still ours
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, sig)
            for daemon in daemons:
                if daemon.alive():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(daemon.pid, sig)
            try:
                wait_until(
                    lambda: all(p.poll() is not None for p in procs) and not any(d.alive() for d in daemons),
                    grace,
                    interval=0.02,
                    message="processes to exit",
                    stack=False,  # stopping a stack whose data path died is normal
                )
                return
            except TimeoutError:
                continue
        for proc in procs:
            if proc.poll() is None:
                errors.append(f"process {proc.pid} ({proc.args!r}) survived SIGKILL")
        for daemon in daemons:
            if daemon.alive():
                errors.append(f"{daemon.label} (pid {daemon.pid}) survived SIGKILL")

    # ------------------------------------------------------------ namespaces

    def _add_netns(self, ns: str) -> None:
        # Registered first: stop() then deletes it even if `ip netns add` half-worked.
        self._netns.append(ns)
        self._cmd(["ip", "netns", "add", ns])

    def _delete_netns(self, ns: str) -> None:
        if not Path("/run/netns", ns).exists():
            return
        # Anything still inside (e.g. grandchildren of host.popen) is ours by construction.
        listing = _run(["ip", "netns", "pids", ns], check=False, timeout=10.0)
        pids = listing.stdout.split()
        strays = [int(p) for p in pids if p.isdigit() and pid_alive(int(p))]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in strays:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            try:
                wait_until(
                    lambda: not any(pid_alive(p) for p in strays),
                    3.0,
                    message="strays to exit",
                    stack=False,
                )
                break
            except TimeoutError:
                continue
        _run(["ip", "netns", "delete", ns], timeout=10.0)

    # ------------------------------------------------------------ CLI helpers

    def _tool(self, cmd: Sequence[str]) -> str:
        """An OVS/OVN tool; its failure is explained by a dead data path when there is one."""
        try:
            return self._cmd(cmd)
        except CommandError as exc:
            self._raise_if_datapath_died(f"`{shlex.join(exc.cmd)}` failed")
            raise

    def _dbctl(self, tool: str, remote: str, args: Sequence[str]) -> str:
        # --timeout bounds waits inside the tool (--wait=hv, wait-until).
        timeout = f"--timeout={int(self.timeout)}"
        return self._tool([tool, f"--db={remote}", timeout, *args])

    def nbctl(self, *args: str) -> str:
        """ovn-nbctl against the private NB; returns stdout, raises CommandError
        (DatapathDied when a dead ovs-vswitchd/ovn-controller explains the failure)."""
        return self._dbctl("ovn-nbctl", self.nb_remote, args)

    def sbctl(self, *args: str) -> str:
        """ovn-sbctl against the private SB."""
        return self._dbctl("ovn-sbctl", self.sb_remote, args)

    def ovs_vsctl(self, *args: str) -> str:
        """ovs-vsctl against the private conf DB."""
        return self._dbctl("ovs-vsctl", self.ovs_remote, args)

    def ovs_ofctl(self, *args: str) -> str:
        """ovs-ofctl; a bridge name resolves to <rundir>/<bridge>.mgmt via OVS_RUNDIR."""
        return self._tool(["ovs-ofctl", *args])

    def ovs_appctl(self, target: str, *args: str) -> str:
        """ovs-appctl; target is a daemon name, "nb"/"sb"/"conf", or a .ctl path."""
        ctl = {
            "nb": "ovsdb-server-nb.ctl",
            "sb": "ovsdb-server-sb.ctl",
            "conf": "ovsdb-server-conf.ctl",
        }.get(target)
        resolved = str(self.rundir / ctl) if ctl else target
        # Daemon names resolve through <OVS_RUNDIR>/<name>.pid -> <name>.<pid>.ctl.
        return self._tool(["ovs-appctl", f"--timeout={int(self.timeout)}", "-t", resolved, *args])

    def log_tails(self, lines: int = 15) -> str:
        """Last lines of every daemon log, for failure messages."""
        if self._rundir is None or not self._rundir.exists():
            return "(no logs)"
        parts = []
        for log in sorted(self._rundir.glob("*.log")):
            try:
                tail = log.read_text(errors="replace").splitlines()[-lines:]
            except OSError as exc:
                tail = [f"<unreadable: {exc}>"]
            parts.append(f"--- {log.name} ---\n" + "\n".join(tail))
        return "\n".join(parts)

    # ------------------------------------------------------------ topology

    def _require_started(self) -> None:
        if self._state != "started":
            raise OvnTestbedError("stack not started")

    def add_switch(self, name: str, subnet_cidr: str) -> str:
        self._require_started()
        self._switches[name] = ipaddress.IPv4Network(subnet_cidr)
        self.nbctl("ls-add", name)
        return name

    def add_router(self, name: str) -> str:
        self._require_started()
        self._routers.add(name)
        self.nbctl("lr-add", name)
        return name

    def connect_router(self, router: str, switch: str, router_ip_cidr: str, mac: str) -> str:
        """Attach router to switch; returns the router port name."""
        self._require_started()
        if router not in self._routers or switch not in self._switches:
            raise ValueError(f"unknown router {router!r} or switch {switch!r}")
        lrp, lsp = f"{router}-{switch}", f"{switch}-{router}"
        self.nbctl(
            "lrp-add", router, lrp, mac, router_ip_cidr,
            "--", "lsp-add", switch, lsp,
            "--", "lsp-set-type", lsp, "router",
            "--", "lsp-set-addresses", lsp, "router",
            "--", "lsp-set-options", lsp, f"router-port={lrp}",
        )  # fmt: skip
        return lrp

    def add_host(
        self,
        switch: str,
        name: str,
        ip_cidr: str,
        gateway: str | None = None,
        mac: str | None = None,
    ) -> Host:
        """Create a namespace on ``switch`` and wait until its port is bound."""
        self._require_started()
        if not _NAME_RE.match(name) or name == "ovs":
            raise ValueError(f"bad host name {name!r}")
        if name in self._hosts:
            raise ValueError(f"host {name!r} exists")
        if switch not in self._switches:
            raise ValueError(f"unknown switch {switch!r} (use add_switch)")
        subnet = self._switches[switch]
        iface_ip = ipaddress.IPv4Interface(ip_cidr if "/" in ip_cidr else f"{ip_cidr}/{subnet.prefixlen}")
        if iface_ip.ip not in subnet:
            raise ValueError(f"{iface_ip} is outside {switch} subnet {subnet}")
        # MAC derived from the IP: readable, and unique within the private stack.
        mac = mac or "0a:58:" + ":".join(f"{b:02x}" for b in iface_ip.ip.packed)
        self._host_index += 1
        ns = f"{self.prefix}-{name}"
        peer = f"{self.prefix}o{self._host_index}"
        tmp_inner = f"{self.prefix}i{self._host_index}"
        iface = "eth0"

        self._add_netns(ns)
        # Created in the OVS namespace, inner end moved straight into the host's.
        self._cmd(
            ["ip", "-n", self.ovs_netns, "link", "add", peer, "type", "veth",
             "peer", "name", tmp_inner, "netns", ns]
        )  # fmt: skip
        inner = [
            # No IPv6: keeps DAD/router-solicitation noise out of the datapath.
            "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6",
            "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6",
            f"ip link set dev {tmp_inner} name {iface}",
            f"ip link set dev {iface} address {mac}",
            f"ip addr add {iface_ip.with_prefixlen} dev {iface}",
            # TCP through the userspace datapath fails silently with TX checksum offload.
            f"ethtool -K {iface} tx off >/dev/null",
            f"ip link set dev {iface} up",
            "ip link set dev lo up",
        ]
        if gateway is not None:
            inner.append(f"ip route add default via {ipaddress.IPv4Address(gateway)}")
        self._cmd(["ip", "netns", "exec", ns, "sh", "-ec", "\n".join(inner)])
        self._cmd(
            ["ip", "netns", "exec", self.ovs_netns, "sh", "-ec",
             f"ethtool -K {peer} tx off >/dev/null\nip link set dev {peer} up"]
        )  # fmt: skip

        host = Host(
            name=name,
            netns=ns,
            ip=str(iface_ip.ip),
            prefixlen=iface_ip.network.prefixlen,
            mac=mac,
            gateway=gateway,
            switch=switch,
            lsp=name,
            iface=iface,
            peer=peer,
            _stack=self,
        )
        self._hosts[name] = host
        addresses = f"{mac} {iface_ip.ip}"
        self.nbctl("lsp-add", switch, name, "--", "lsp-set-addresses", name, addresses)
        self.ovs_vsctl(
            "add-port", self.bridge, peer,
            "--", "set", "Interface", peer, f'external_ids:iface-id="{name}"',
        )  # fmt: skip
        # up=true once ovn-controller has claimed the port and installed its flows.
        try:
            self.nbctl("wait-until", "Logical_Switch_Port", name, "up=true")
        except CommandError as exc:
            raise OvnTestbedError(f"port {name} never came up: {exc}\n{self.log_tails()}") from exc
        return host

    def start_udp_server(self, host: Host, port: int) -> subprocess.Popen[bytes]:
        """Answer every datagram on port with "<host.name>"; waits until bound."""
        proc = host.popen(sys.executable, "-c", _UDP_SERVER, host.name, str(port))

        def bound() -> bool:
            if proc.poll() is not None:
                raise OvnTestbedError(f"UDP server on {host.name} exited with {proc.returncode}")
            out = host.run("ss", "-Hlun", f"sport = :{port}", check=False).stdout
            return bool(out.strip())

        self.wait_until(bound, 10.0, interval=0.02, message=f"UDP server on {host.name}:{port}")
        return proc

    def restart_nb(self, down_seconds: float = 0.0) -> None:
        """Stop the Northbound ovsdb-server (by pid) and start it again on the same
        database, as an operator's restart or a crash would."""
        label = "ovsdb-server-nb"
        for daemon in [d for d in self._daemons if d.label == label]:
            if daemon.alive():
                os.kill(daemon.pid, signal.SIGTERM)
                wait_until(lambda d=daemon: not d.alive(), 10.0, message=f"{label} to exit")
            self._daemons.remove(daemon)
        sock = self.rundir / "nb.sock"
        with contextlib.suppress(FileNotFoundError):
            sock.unlink()
        if down_seconds:
            time.sleep(down_seconds)  # the outage itself is what is being tested
        self._daemon(
            label,
            ["ovsdb-server", str(self.rundir / "nb.db"), f"--remote=punix:{sock}"],
            unixctl=self.rundir / f"{label}.ctl",
        )
        wait_until(sock.exists, 5.0, message="nb.sock to appear")

    def start_http_server(
        self, host: Host, port: int = 8080, timeout: float = 10.0
    ) -> subprocess.Popen[bytes]:
        """Serve GET -> "<host.name>\\n" on port inside the host; wait until it accepts."""
        proc = host.popen(sys.executable, "-c", _HTTP_SERVER, host.name, str(port))

        def ready() -> bool:
            if proc.poll() is not None:  # fail fast instead of waiting out the deadline
                msg = f"HTTP server on {host.name} exited with {proc.returncode}"
                raise OvnTestbedError(f"{msg}\n{self.log_tails()}")
            # The listener must be this process's: another server on the port
            # would answer the probe while ours dies of EADDRINUSE.
            if not _listens_on(proc.pid, port):
                return False
            probe = host.run(sys.executable, "-c", _TCP_PROBE, str(port), check=False)
            return probe.returncode == 0

        what = f"HTTP server on {host.name}:{port}"
        try:
            self.wait_until(ready, timeout, interval=0.02, message=what)
        except TimeoutError as exc:
            raise OvnTestbedError(f"{exc}\n{self.log_tails()}") from exc
        return proc


# ---------------------------------------------------------------- the usual topology


@dataclass
class LbTopology:
    """A switch on 10.0.0.0/24 behind router lr0 (10.0.0.1, which answers ARP for
    VIPs), a client at 10.0.0.2 and HTTP backends at 10.0.0.11, .12, ..."""

    client: Host
    backends: list[Host]
    servers: dict[str, subprocess.Popen[bytes]]  # backend name -> its HTTP server
    extra: dict[str, Host]


def add_lb(
    stack: OvnStack,
    name: str,
    frontend: str,
    backends: Sequence[str],
    protocol: str,
    network: str,
    router: str = "lr0",
) -> None:
    """An OVN load balancer made by hand (not by quantix-lb), on the switch and on its
    router as quantix-lb attaches them (the router answers ARP for the VIP)."""
    stack.nbctl(
        "lb-add", name, frontend, ",".join(backends), protocol,
        "--", "ls-lb-add", network, name, "--", "lr-lb-add", router, name,
    )  # fmt: skip


def lb_topology(
    stack: OvnStack,
    network: str,
    *,
    backends: int = 3,
    prefix: str = "backend",
    http_port: int = 8080,
    udp_port: int | None = None,
    extra: dict[str, str] | None = None,  # name -> address, e.g. {"hc": "10.0.0.5"}
) -> LbTopology:
    stack.add_switch(network, "10.0.0.0/24")
    stack.add_router("lr0")
    stack.connect_router("lr0", network, "10.0.0.1/24", "0a:58:0a:00:00:01")
    client = stack.add_host(network, "client", "10.0.0.2/24", "10.0.0.1")
    others = {
        name: stack.add_host(network, name, f"{ip}/24", "10.0.0.1") for name, ip in (extra or {}).items()
    }
    hosts, servers = [], {}
    for i in range(1, backends + 1):
        host = stack.add_host(network, f"{prefix}{i}", f"10.0.0.{10 + i}/24", "10.0.0.1")
        servers[host.name] = stack.start_http_server(host, http_port)
        if udp_port is not None:
            stack.start_udp_server(host, udp_port)
        hosts.append(host)
    return LbTopology(client, hosts, servers, others)
