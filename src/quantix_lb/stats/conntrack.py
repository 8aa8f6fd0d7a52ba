"""Per-VIP / per-backend connection figures from the OVS connection-tracking table.

A per-node worker, about once a second: `read_conntrack()` (the text of
`dpctl/dump-conntrack`, asked of ovs-vswitchd over its unixctl socket), then
`ConntrackParser().parse()` (or the stateless `parse_conntrack()`), then
`ConntrackTracker.sample()`.

What the table holds (checked on OVN 23.03 / OVS 3.1, userspace datapath): OVN balances at
the client's chassis, so a connection to a VIP is an entry in the conntrack zone of the
client's logical switch port (or of the router's DNAT zone when the router balances) whose
ORIGINAL destination is the VIP:port and whose REPLY source is the chosen backend:

    tcp,orig=(src=10.0.0.2,dst=10.0.0.100,sport=52590,dport=80),reply=(src=10.0.0.11,
        dst=10.0.0.2,sport=8080,dport=52590),zone=5,mark=2,protoinfo=(state=ESTABLISHED)

The same connection also appears, already translated (dst = the backend), in the zone of the
backend's port; that entry does not match the VIP and is ignored. An entry matching the VIP
in several zones is one connection: entries are keyed by protocol + original 5-tuple.

TCP states: OVS prints one state per entry, the higher of the two directions' states with
FIN_WAIT_2 shown as TIME_WAIT and SYN_RECV as ESTABLISHED (`-m` prints both; the parser
folds them the same way). A connection is active in SYN_SENT, SYN_RECV and ESTABLISHED:
the handshake and data phases. Once either side has sent a FIN (FIN_WAIT_*, CLOSE_WAIT,
CLOSING, LAST_ACK, TIME_WAIT) or after an RST (the userspace datapath shows TIME_WAIT, the
kernel CLOSE, printed CLOSING) it is not. So a half-closed connection still carrying data
one way is not active; the userspace datapath shows it as TIME_WAIT with a 900 s timeout.
UDP and SCTP entries have no state and are active while they exist (the userspace datapath
keeps a UDP entry 30 s after its last packet). TIME_WAIT entries stay 30 s (userspace), so
a sampler running every second sees every short TCP connection; a SYN to a dead backend
stays SYN_SENT, and active, for up to 30 s after the last retransmission.

Bytes and packets: only `-s` prints counters, inside orig=(...) and reply=(...), and only
where the datapath keeps them: the kernel datapath with nf_conntrack_acct=1. The userspace
datapath keeps none, and then every byte figure is None, never a made-up zero.
"""

from __future__ import annotations

import errno
import ipaddress
import os
import re
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import TypeVar

import ovs.jsonrpc
import ovs.poller
import ovs.stream
import ovs.timeval
from ovs.unixctl.client import UnixctlClient

from quantix_lb.ovn import compat

__all__ = [
    "LIVE_TCP_STATES",
    "PROTOCOLS",
    "Backend",
    "BackendSample",
    "Conn",
    "ConntrackParser",
    "ConntrackTracker",
    "Frontend",
    "FrontendSample",
    "OvsUnavailable",
    "ask_vswitchd",
    "find_datapath",
    "is_active",
    "ovs_rundir",
    "parse_conntrack",
    "read_conntrack",
]

PROTOCOLS = frozenset({"tcp", "udp", "sctp"})
T = TypeVar("T")

# The ct-dpif TCP states in OVS's order: the non-verbose dump prints the higher of the two
# directions' states, so ranking them lets `-m` lines fold to the same single state.
_TCP_STATES = (
    *("CLOSED", "LISTEN", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "CLOSE_WAIT"),
    *("FIN_WAIT_1", "CLOSING", "LAST_ACK", "FIN_WAIT_2", "TIME_WAIT"),
)
_TCP_RANK = {name: rank for rank, name in enumerate(_TCP_STATES)}
_COALESCED = {"FIN_WAIT_2": "TIME_WAIT", "SYN_RECV": "ESTABLISHED"}  # as OVS prints them

# Handshake and data phases; everything from the first FIN or an RST on is not active.
LIVE_TCP_STATES = frozenset({"SYN_SENT", "SYN_RECV", "ESTABLISHED"})


def _canonical_ip(text: str) -> str:
    return str(ipaddress.ip_address(text))


@dataclass(frozen=True, slots=True)
class Frontend:
    """A listener as the data path sees it: protocol, VIP and port."""

    protocol: str  # "tcp" | "udp" | "sctp"
    vip: str  # canonical text, so "fd00::0100" and "fd00::100" are one frontend
    port: int

    def __post_init__(self) -> None:
        protocol = self.protocol.lower()
        if protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {sorted(PROTOCOLS)}, not {self.protocol!r}")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"port must be 1..65535, not {self.port}")
        # Frozen: __post_init__ may only normalize through object.__setattr__.
        object.__setattr__(self, "protocol", protocol)
        object.__setattr__(self, "vip", _canonical_ip(self.vip))


@dataclass(frozen=True, slots=True)
class Backend:
    """Where the data path sent a connection: the reply source of its entry."""

    address: str  # canonical IP text
    port: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "address", _canonical_ip(self.address))


@dataclass(frozen=True)
class Conn:
    """One conntrack entry (one zone's view of one connection).

    No slots: the parser fills ``__dict__`` directly (see _conn).
    """

    protocol: str
    orig_src: str
    orig_sport: int
    orig_dst: str
    orig_dport: int
    reply_src: str
    reply_sport: int
    state: str | None  # TCP only, folded as the non-verbose dump prints it
    zone: int | None  # the dump omits zone 0, which parses as 0
    bytes_orig: int | None  # None: the datapath keeps no counters (or -s was not given)
    bytes_reply: int | None
    packets_orig: int | None
    packets_reply: int | None


def is_active(conn: Conn) -> bool:
    """True if the entry is a live connection (see the module docstring)."""
    return conn.protocol != "tcp" or conn.state in LIVE_TCP_STATES


# ------------------------------------------------------------------------------------ parser

# The fixed head of a tcp/udp/sctp entry (the layout of OVS's ct_dpif_format_entry): both
# tuples with whatever follows their ports (counters, or fields a later OVS may add), the
# optional start=/stop=/id= that precede zone=, zone, and the rest of the line. icmp entries
# (id/type/code instead of ports) and anything else do not match and are skipped.
# Possessive quantifiers and plain classes: ~25% faster than the obvious pattern.
_ENTRY = re.compile(
    r"^(tcp|udp|sctp),"
    r"orig=\(src=([^,\n]++),dst=([^,\n]++),sport=(\d++),dport=(\d++)([^)\n]*+)\),"
    r"reply=\(src=([^,\n]++),dst=[^,\n]++,sport=(\d++),dport=\d++([^)\n]*+)\)"
    r"(?:,(?:start|stop|id)=[^,\n]*+)*+(?:,zone=(\d++))?(.*+)$",
    re.MULTILINE,
)
_COUNTERS = re.compile(r",packets=(\d+),bytes=(\d+)")
_ZONE = re.compile(r",zone=(\d+)")
_VERBOSE_STATE = re.compile(r"\(state_orig=([^,)]+),state_reply=([^,)]+)")

_MAX_CANON = 65536
_canon6: dict[str, str] = {}


def _ip6(text: str) -> str:
    """IPv6 text in Python's canonical form (OVS prints inet_ntop's), memoized."""
    canon = _canon6.get(text)
    if canon is None:
        try:
            canon = _canonical_ip(text)
        except ValueError:
            canon = text
        if len(_canon6) >= _MAX_CANON:
            _canon6.clear()
        _canon6[text] = canon
    return canon


def _fold_tcp_state(orig: str, reply: str) -> str:
    """The single state OVS prints for a (state_orig, state_reply) pair."""
    higher = orig if _TCP_RANK.get(orig, -1) >= _TCP_RANK.get(reply, -1) else reply
    return _COALESCED.get(higher, higher)


def _tcp_state(tail: str) -> str | None:
    """The state in the rest of a tcp line, as the non-verbose dump prints it."""
    k = tail.find("(state=")
    if k >= 0:
        end = tail.find(")", k)
        state = tail[k + 7 : end] if end > k else tail[k + 7 :]
        return _COALESCED.get(state, state)
    vm = _VERBOSE_STATE.search(tail)  # -m: both directions
    return _fold_tcp_state(vm[1], vm[2]) if vm is not None else None


def _counters(oextra: str, rextra: str) -> tuple[int | None, int | None, int | None, int | None]:
    """(bytes_orig, bytes_reply, packets_orig, packets_reply) from the tuples' extra fields.

    OVS prints a direction's counters only when non-zero. An accounted entry always has its
    first packet counted in orig, so counters in orig and none in reply mean zero replies.
    """
    cm = _COUNTERS.search(oextra)
    if cm is None:
        return None, None, None, None
    cr = _COUNTERS.search(rextra)
    if cr is None:
        return int(cm[2]), 0, int(cm[1]), 0
    return int(cm[2]), int(cr[2]), int(cm[1]), int(cr[1])


_new = object.__new__


def _conn(m: re.Match[str], orig_dst: Container[str] | None) -> Conn | None:
    """The Conn of one _ENTRY match; None if unreadable or not in orig_dst."""
    proto, osrc, odst, osport, odport, oextra, rsrc, rsport, rextra, zone, tail = m.groups()
    if ":" in odst:  # IPv6: the addresses of one entry are of one family
        osrc, odst, rsrc = _ip6(osrc), _ip6(odst), _ip6(rsrc)
    if orig_dst is not None and odst not in orig_dst:
        return None
    if zone is None and ",zone=" in tail:  # a field OVS did not print before zone= so far
        zm = _ZONE.search(tail)
        if zm is None:
            return None
        zone = zm[1]
    state = _tcp_state(tail) if proto == "tcp" else None
    bytes_o = bytes_r = pkts_o = pkts_r = None
    if oextra:
        bytes_o, bytes_r, pkts_o, pkts_r = _counters(oextra, rextra)
    # A frozen dataclass's __init__ sets each of the 13 fields through object.__setattr__:
    # ~2 us a Conn here, 20 ms of a 10,000-line table. Filling __dict__ directly makes the
    # same object (equal, same hash, still frozen) in well under half the time.
    conn = _new(Conn)
    conn.__dict__.update(
        {
            "protocol": proto, "orig_src": osrc, "orig_sport": int(osport),
            "orig_dst": odst, "orig_dport": int(odport),
            "reply_src": rsrc, "reply_sport": int(rsport), "state": state,
            "zone": int(zone) if zone else 0,
            "bytes_orig": bytes_o, "bytes_reply": bytes_r,
            "packets_orig": pkts_o, "packets_reply": pkts_r,
        }
    )  # fmt: skip
    return conn


def parse_conntrack(text: str, *, orig_dst: Container[str] | None = None) -> list[Conn]:
    """Entries of `ovs-appctl dpctl/dump-conntrack [-m] [-s]` output, userspace or kernel
    datapath, IPv4 or IPv6: tcp, udp and sctp. Lines it cannot read are skipped.

    orig_dst: keep only entries whose original destination is one of these (canonical IP
    text, e.g. the VIPs). Every connection through a VIP also has an entry in the backend's
    zone, so this halves the objects made for a table of load-balanced connections.
    """
    out = []
    for m in _ENTRY.finditer(text):
        conn = _conn(m, orig_dst)
        if conn is not None:
            out.append(conn)
    return out


class ConntrackParser:
    """parse_conntrack for a periodic sampler: it remembers the previous dump's lines, so an
    entry unchanged since then costs a dictionary lookup instead of a parse (~3x less CPU
    for a table of long-lived connections).

    `timeout=` (printed with -s, and counting down every second) is left out of the key;
    an entry's line changes only with its state or counters. Memory: the last dump's entries.
    """

    def __init__(self) -> None:
        self._last: dict[str, Conn | None] = {}

    def parse(self, text: str, *, orig_dst: Container[str] | None = None) -> list[Conn]:
        """The same list as parse_conntrack(text, orig_dst=orig_dst), often faster."""
        last = self._last
        seen: dict[str, Conn | None] = {}
        out = []
        match = _ENTRY.match
        for line in text.split("\n"):
            i = line.find(",timeout=")
            if i >= 0:
                j = line.find(",", i + 9)
                key = line[:i] + line[j:] if j >= 0 else line[:i]
            else:
                key = line
            if key in last:  # (a str caches its hash: the second lookup is cheap)
                conn = last[key]
            else:
                m = match(line)
                conn = _conn(m, None) if m is not None else None
            seen[key] = conn
            if conn is not None and (orig_dst is None or conn.orig_dst in orig_dst):
                out.append(conn)
        self._last = seen
        return out


# ----------------------------------------------------------------------------------- tracker


@dataclass(frozen=True, slots=True)
class BackendSample:
    """Figures of one backend of one frontend."""

    active: int  # live entries now
    total: int  # distinct connections seen since the frontend is tracked
    bytes_in: int | None  # client -> backend (orig direction); None: no counters
    bytes_out: int | None  # backend -> client (reply direction)


@dataclass(frozen=True, slots=True)
class FrontendSample:
    """Figures of one frontend: per backend seen, and their sums."""

    backends: Mapping[Backend, BackendSample]
    active: int
    total: int
    bytes_in: int | None
    bytes_out: int | None
    since: float  # `now` of the first sample that tracked this frontend
    at: float  # `now` of this sample: total / (at - since) is a rate


def _plus(a: int | None, b: int | None) -> int | None:
    """Sum where None means "no counters": known + None stays known."""
    if a is None:
        return b
    return a if b is None else a + b


@dataclass(slots=True)
class _Figures:
    """Running figures of one (frontend, backend)."""

    backend: tuple[str, int]
    total: int = 0
    gone_in: int | None = None  # last counters of connections that left the table
    gone_out: int | None = None
    active: int = 0  # this sample's live connections and their counters
    live_in: int | None = None
    live_out: int | None = None


_ConnKey = tuple[str, str, int, str, int]  # protocol + original 5-tuple
_FrontendKey = tuple[str, str, int]
# Per connection, as of the last sample: (figures it counts in, live, bytes in, bytes out).
# Plain tuples: at 10,000 connections a sample makes 10,000 of them.
_Record = tuple[_Figures, bool, int | None, int | None]


class ConntrackTracker:
    """Turns successive conntrack snapshots into per-frontend / per-backend figures.

    Memory is bounded by the table: a connection is forgotten once it has left it (its
    last counters are kept as sums). A frontend's figures start when it first appears in
    `frontends` and are dropped when it is left out.
    """

    def __init__(self) -> None:
        self._conns: dict[_ConnKey, _Record] = {}
        self._frontends: dict[_FrontendKey, Frontend] = {}
        self._figures: dict[_FrontendKey, dict[tuple[str, int], _Figures]] = {}
        self._since: dict[_FrontendKey, float] = {}
        self._backends: dict[tuple[str, int], Backend] = {}

    def __len__(self) -> int:
        """Connections remembered from the last sample (what bounds the memory)."""
        return len(self._conns)

    def sample(
        self, conns: Iterable[Conn], frontends: Iterable[Frontend], now: float
    ) -> dict[Frontend, FrontendSample]:
        """Figures of every frontend given, after taking in `conns` (one full table)."""
        wanted = {(f.protocol, f.vip, f.port): f for f in frontends}
        for gone in [k for k in self._frontends if k not in wanted]:
            del self._frontends[gone], self._figures[gone], self._since[gone]
        for fkey, fe in wanted.items():
            if fkey not in self._frontends:
                self._since[fkey] = now
                self._figures[fkey] = {}
            self._frontends[fkey] = fe
        for per_backend in self._figures.values():
            for fig in per_backend.values():
                fig.active, fig.live_in, fig.live_out = 0, None, None

        # One entry per connection. Entries of one connection in several zones (a router's
        # DNAT zone and a switch port's, say) count the same packets: the live one stands
        # for it, else the one with the larger counters; they are not added up.
        vips = {fkey[1] for fkey in wanted}
        current: dict[_ConnKey, Conn] = {}
        setdefault = current.setdefault
        for c in conns:
            if c.orig_dst not in vips or (c.protocol, c.orig_dst, c.orig_dport) not in wanted:
                continue
            key = (c.protocol, c.orig_src, c.orig_sport, c.orig_dst, c.orig_dport)
            seen = setdefault(key, c)
            if seen is not c and _stands_before(c, seen):
                current[key] = c

        previous, figures = self._conns, self._figures
        records: dict[_ConnKey, _Record] = {}
        for key, c in current.items():
            live = c.protocol != "tcp" or c.state in LIVE_TCP_STATES
            old = previous.pop(key, None)
            fig = None
            if old is not None:
                fig = old[0]
                # The same connection as last time, unless its 5-tuple was reused: it went to
                # another backend (e.g. after a conntrack flush) or a closing one is live again.
                if fig.backend[0] != c.reply_src or fig.backend[1] != c.reply_sport or (live and not old[1]):
                    _retire(old)
                    fig = None
            if fig is None:
                per_backend = figures[key[0], key[3], key[4]]
                backend = (c.reply_src, c.reply_sport)
                fig = per_backend.get(backend)
                if fig is None:
                    fig = per_backend[backend] = _Figures(backend)
                fig.total += 1
            if live:
                fig.active += 1
            b_in = c.bytes_orig
            if b_in is not None:
                fig.live_in = b_in if fig.live_in is None else fig.live_in + b_in
                fig.live_out = _plus(fig.live_out, c.bytes_reply)
            records[key] = (fig, live, b_in, c.bytes_reply)
        for old in previous.values():  # left the table: keep their last counters
            _retire(old)
        self._conns = records
        return self._report(now)

    def _report(self, now: float) -> dict[Frontend, FrontendSample]:
        result: dict[Frontend, FrontendSample] = {}
        used: set[tuple[str, int]] = set()
        for fkey, per_backend in self._figures.items():
            backends: dict[Backend, BackendSample] = {}
            active = total = 0
            bytes_in: int | None = None
            bytes_out: int | None = None
            for bkey, fig in per_backend.items():
                b_in, b_out = _plus(fig.gone_in, fig.live_in), _plus(fig.gone_out, fig.live_out)
                backends[self._backend(bkey)] = BackendSample(fig.active, fig.total, b_in, b_out)
                used.add(bkey)
                active += fig.active
                total += fig.total
                bytes_in, bytes_out = _plus(bytes_in, b_in), _plus(bytes_out, b_out)
            result[self._frontends[fkey]] = FrontendSample(
                MappingProxyType(backends), active, total, bytes_in, bytes_out, self._since[fkey], now
            )
        if len(self._backends) > 2 * len(used) + 64:  # keep the Backend cache bounded too
            self._backends = {k: v for k, v in self._backends.items() if k in used}
        return result

    def _backend(self, key: tuple[str, int]) -> Backend:
        backend = self._backends.get(key)
        if backend is None:
            backend = self._backends[key] = Backend(*key)
        return backend


def _stands_before(a: Conn, b: Conn) -> bool:
    """Whether entry a rather than b stands for their connection (see sample)."""
    live_a, live_b = is_active(a), is_active(b)
    if live_a != live_b:
        return live_a
    return (a.bytes_orig or -1) > (b.bytes_orig or -1)


def _retire(old: _Record) -> None:
    """A connection is gone: its last counters stay in its figures."""
    fig, _, b_in, b_out = old
    fig.gone_in = _plus(fig.gone_in, b_in)
    fig.gone_out = _plus(fig.gone_out, b_out)


# ------------------------------------------------------------------------------------ reader


class OvsUnavailable(RuntimeError):
    """ovs-vswitchd could not be asked for its conntrack table (the message says why)."""


class _Client(UnixctlClient):
    """UnixctlClient with a deadline: its transact() blocks for as long as the daemon
    takes, and a stuck ovs-vswitchd must not stall the stats loop."""

    def transact_until(
        self, command: str, argv: list[str], deadline_ms: float
    ) -> tuple[int, str | None, str]:
        """(errno, error text from the daemon, result text); errno 0 on success."""
        conn = compat.unixctl_connection(self)
        request = ovs.jsonrpc.Message.create_request(command, argv)
        error = conn.send(request)
        while not error:
            error, msg = conn.recv()
            if error == errno.EAGAIN:
                if ovs.timeval.msec() >= deadline_ms:
                    return errno.ETIMEDOUT, None, ""
                conn.run()
                poller = ovs.poller.Poller()
                conn.wait(poller)
                conn.recv_wait(poller)
                poller.timer_wait_until(deadline_ms)
                poller.block()
                error = 0
                continue
            if error:
                break
            if msg.type in (msg.T_REPLY, msg.T_ERROR) and msg.id == request.id:
                if msg.error is not None:
                    return 0, str(msg.error), ""
                return 0, None, msg.result if isinstance(msg.result, str) else str(msg.result)
        return error, None, ""


def _vswitchd_socket(rundir: str) -> str:
    pidfile = os.path.join(rundir, "ovs-vswitchd.pid")
    try:
        with open(pidfile) as f:
            pid = int(f.read().strip())
    except FileNotFoundError:
        raise OvsUnavailable(f"no {pidfile}: ovs-vswitchd is not running with rundir {rundir}") from None
    except (OSError, ValueError) as exc:
        raise OvsUnavailable(f"cannot read {pidfile}: {exc}") from None
    ctl = os.path.join(rundir, f"ovs-vswitchd.{pid}.ctl")
    if not os.path.exists(ctl):
        raise OvsUnavailable(f"no control socket {ctl} (ovs-vswitchd pid {pid} gone?)")
    return ctl


def _ask(client: _Client, command: str, args: list[str], deadline_ms: float) -> str:
    error, failure, text = client.transact_until(command, args, deadline_ms)
    if error:
        raise OvsUnavailable(f"{command}: {os.strerror(error)}")
    if failure is not None:
        raise OvsUnavailable(f"{command} failed: {failure.strip()}")
    return text


def _datapath(client: _Client, bridge: str, deadline_ms: float) -> str:
    """The only datapath, or the one holding `bridge` when there are several.

    dpctl/dump-conntrack without a name answers "multiple datapaths, specify one" then.
    """
    datapaths = _ask(client, "dpctl/dump-dps", [], deadline_ms).split()
    if len(datapaths) == 1:
        return datapaths[0]
    if not datapaths:
        raise OvsUnavailable("ovs-vswitchd has no datapath")
    current = None
    for line in _ask(client, "dpif/show", [], deadline_ms).splitlines():
        if line and not line[0].isspace():
            current = line.split(":", 1)[0]
        elif current is not None and line.strip() == f"{bridge}:":
            return current
    raise OvsUnavailable(f"several datapaths ({', '.join(datapaths)}) and none holds bridge {bridge!r}")


def read_conntrack(
    rundir: str | os.PathLike[str] | None = None,
    *,
    datapath: str | None = None,
    bridge: str = "br-int",
    counters: bool | None = None,
    timeout: float = 5.0,
) -> str:
    """The text of `dpctl/dump-conntrack [-s] <datapath>`, asked of ovs-vswitchd over its
    unixctl socket (python-ovs; no ovs-appctl process).

    rundir: the argument, else $OVS_RUNDIR, else /var/run/openvswitch.
    datapath: e.g. "netdev@ovs-netdev" (userspace) or "system@ovs-system" (kernel); by
    default the only one, or the one holding `bridge` when vswitchd runs several.
    counters: ask for `-s`, which adds byte/packet counters where the datapath keeps them
    (the kernel's, with nf_conntrack_acct=1) and every entry's remaining timeout. By default
    only for a kernel ("system@") datapath: the userspace one keeps no counters, and lines
    without a ticking timeout stay identical from one dump to the next (ConntrackParser).
    Raises OvsUnavailable, with the reason, when the daemon cannot be reached or a command
    fails or takes longer than `timeout` seconds in all.
    """

    def dump(client: _Client, deadline_ms: float) -> str:
        dp = datapath or _datapath(client, bridge, deadline_ms)
        with_s = counters if counters is not None else dp.startswith("system@")
        return _ask(client, "dpctl/dump-conntrack", ["-s", dp] if with_s else [dp], deadline_ms)

    return ask_vswitchd(rundir, dump, timeout)


def find_datapath(
    rundir: str | os.PathLike[str] | None = None, bridge: str = "br-int", timeout: float = 5.0
) -> str:
    """The datapath read_conntrack would use (worth remembering: looking it up costs a
    request, and on a host without the kernel module a warning in vswitchd's log)."""
    return ask_vswitchd(rundir, lambda client, deadline_ms: _datapath(client, bridge, deadline_ms), timeout)


DEFAULT_OVS_RUNDIR = "/var/run/openvswitch"


def ovs_rundir(explicit: str | None = None) -> str:
    """Where ovs-vswitchd keeps its control socket, found the standard way."""
    return explicit or os.environ.get("OVS_RUNDIR") or DEFAULT_OVS_RUNDIR


def ask_vswitchd(
    rundir: str | os.PathLike[str] | None, ask: Callable[[_Client, float], T], timeout: float = 5.0
) -> T:
    """Runs `ask(client, deadline_ms)` on a unixctl connection to ovs-vswitchd.

    rundir: the argument, else $OVS_RUNDIR, else /var/run/openvswitch."""
    ctl = _vswitchd_socket(ovs_rundir(os.fspath(rundir) if rundir is not None else None))
    deadline_ms = ovs.timeval.msec() + timeout * 1000
    error, stream = ovs.stream.Stream.open_block(ovs.stream.Stream.open(f"unix:{ctl}"), int(timeout * 1000))
    if error:
        raise OvsUnavailable(f"cannot connect to {ctl}: {os.strerror(error)}")
    client = _Client(ovs.jsonrpc.Connection(stream))
    try:
        return ask(client, deadline_ms)
    finally:
        client.close()
