"""Domain types and their validation. Pure: no I/O, no protobuf."""

from __future__ import annotations

import enum
import functools
import ipaddress
import math
import random
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import msgspec
from msgspec.structs import replace

from quantix_lb.errors import ApiError, Violation
from quantix_lb.health.limits import MIN_INTERVAL

MAX_NAME = 255
MAX_DESCRIPTION = 1024
MAX_LISTENERS = 64
MAX_MEMBERS = 1024
MAX_WEIGHT = 256
MAX_POOLS = 64
MAX_LABELS = 64
MAX_LABEL = 255
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"})
_LABEL = r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*$")
# One code, a range or a comma list of codes; each code 100-599.
_EXPECTED_CODES = re.compile(r"^\d{3}(-\d{3})?(,\d{3})*$")


class Protocol(enum.StrEnum):
    TCP = "TCP"
    UDP = "UDP"
    SCTP = "SCTP"
    HTTP = "HTTP"
    HTTPS = "HTTPS"

    @property
    def l4(self) -> str:
        """What OVN balances: HTTP and HTTPS listeners are TCP at Layer 4."""
        return _L4.get(self, "tcp")


_L4 = {Protocol.UDP: "udp", Protocol.SCTP: "sctp"}


class Algorithm(enum.StrEnum):
    ROUND_ROBIN = "ROUND_ROBIN"
    LEAST_CONNECTIONS = "LEAST_CONNECTIONS"
    SOURCE_IP = "SOURCE_IP"
    # The same hashing as ROUND_ROBIN: every algorithm honours weights.
    WEIGHTED_ROUND_ROBIN = "WEIGHTED_ROUND_ROBIN"
    SOURCE_IP_PORT = "SOURCE_IP_PORT"


class AdminState(enum.StrEnum):
    ONLINE = "ONLINE"
    OFFLINE = "OFFLINE"
    DRAIN = "DRAIN"


class MonitorType(enum.StrEnum):
    PING = "PING"
    TCP = "TCP"
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    UDP_CONNECT = "UDP_CONNECT"


class PersistenceType(enum.StrEnum):
    NONE = "NONE"
    SOURCE_IP = "SOURCE_IP"


class ProvisioningStatus(enum.StrEnum):
    PENDING_CREATE = "PENDING_CREATE"
    ACTIVE = "ACTIVE"
    PENDING_UPDATE = "PENDING_UPDATE"
    PENDING_DELETE = "PENDING_DELETE"
    ERROR = "ERROR"


class OperatingStatus(enum.StrEnum):
    ONLINE = "ONLINE"
    DEGRADED = "DEGRADED"
    OFFLINE = "OFFLINE"
    ERROR = "ERROR"
    NO_MONITOR = "NO_MONITOR"
    DRAINING = "DRAINING"


class Record(msgspec.Struct, frozen=True, gc=False):
    """An immutable domain record. msgspec Structs rather than dataclasses: a store
    document decodes straight into them in C, a copy with changes is cheap, and the
    collector never walks them (they hold no cycles), so 10,000 load balancers of
    ~15 records each cost neither memory for a __dict__ each nor full-GC passes."""


class HealthMonitor(Record):
    id: str
    type: MonitorType
    delay: float  # seconds
    timeout: float  # seconds
    max_retries: int = 3
    healthy_threshold: int = 2
    http_method: str = ""
    url_path: str = ""
    expected_codes: str = ""
    domain_name: str = ""
    tls_verify: bool = False


class SessionPersistence(Record):
    type: PersistenceType
    timeout: int = 0


class Member(Record):
    id: str
    address: str
    port: int
    name: str = ""
    weight: int = 1
    # Two flags, as the API has them: turning a drained member off and on again
    # leaves it drained. `admin_state` says what they mean together.
    admin_state_up: bool = True
    drain: bool = False
    subnet_id: str = ""
    provisioning_status: ProvisioningStatus = ProvisioningStatus.PENDING_CREATE
    operating_status: OperatingStatus = OperatingStatus.OFFLINE
    last_failure_reason: str = ""

    @property
    def admin_state(self) -> AdminState:
        return admin_state(self.admin_state_up, self.drain)


class Pool(Record):
    id: str
    name: str = ""
    algorithm: Algorithm = Algorithm.ROUND_ROBIN
    members: tuple[Member, ...] = ()
    health_monitor: HealthMonitor | None = None
    session_persistence: SessionPersistence | None = None
    # The backend protocol when the client named one; else that of its listeners.
    protocol: Protocol | None = None
    provisioning_status: ProvisioningStatus = ProvisioningStatus.PENDING_CREATE
    operating_status: OperatingStatus = OperatingStatus.OFFLINE
    status_reason: str = ""

    def member(self, member_id: str) -> Member:
        for m in self.members:
            if m.id == member_id:
                return m
        raise ApiError.not_found("member", member_id)


class Listener(Record):
    id: str
    protocol: Protocol
    port: int
    default_pool_id: str
    name: str = ""
    provisioning_status: ProvisioningStatus = ProvisioningStatus.PENDING_CREATE
    operating_status: OperatingStatus = OperatingStatus.OFFLINE


class LoadBalancer(Record):
    id: str
    project_id: str
    network_id: str
    vip_address: str
    created_at: float
    updated_at: float
    name: str = ""
    description: str = ""
    labels: tuple[tuple[str, str], ...] = ()  # sorted by key
    subnet_id: str = ""
    listeners: tuple[Listener, ...] = ()
    pools: tuple[Pool, ...] = ()
    provisioning_status: ProvisioningStatus = ProvisioningStatus.PENDING_CREATE
    operating_status: OperatingStatus = OperatingStatus.OFFLINE
    status_reason: str = ""
    # Bumped by every stored change; OVN realizes each revision.
    revision: int = 1

    def listener(self, listener_id: str) -> Listener:
        for listener in self.listeners:
            if listener.id == listener_id:
                return listener
        raise ApiError.not_found("listener", listener_id)

    def pool(self, pool_id: str) -> Pool:
        for pool in self.pools:
            if pool.id == pool_id:
                return pool
        raise ApiError.not_found("pool", pool_id)

    def pool_of(self, listener: Listener) -> Pool:
        """The pool serving a listener (a stored load balancer always has it)."""
        return self.pool(listener.default_pool_id)

    def listeners_of(self, pool_id: str) -> tuple[Listener, ...]:
        return tuple(li for li in self.listeners if li.default_pool_id == pool_id)

    def served(self) -> Iterator[tuple[Listener, Pool]]:
        """Each listener with the pool that serves it."""
        pools = {p.id: p for p in self.pools}
        for li in self.listeners:
            yield li, pools[li.default_pool_id]


class Frontend(Record):
    """What must be unique within a network: a VIP, an L4 protocol and a port."""

    network_id: str
    vip_address: str
    l4_protocol: str
    port: int
    listener_id: str


def admin_state(up: bool, drain: bool) -> AdminState:
    """admin_state_up false wins (OFFLINE); then drain (DRAIN)."""
    if not up:
        return AdminState.OFFLINE
    return AdminState.DRAIN if drain else AdminState.ONLINE


_UUID4_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))  # the version and variant bits
_UUID4_SET = (4 << 76) | (0x8000 << 48)  # version 4, RFC 4122 variant


def new_id(prefix: str) -> str:
    # Random version-4 UUIDs; ids name things, they guard nothing, so the
    # seeded PRNG serves (uuid4 costs a system call per id). Spelled here, as
    # str(uuid.UUID(...)) would: a create makes ~14 ids and uuid.UUID took a third.
    h = f"{(_ids.getrandbits(128) & _UUID4_CLEAR) | _UUID4_SET:032x}"
    return f"{prefix}-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


_ids = random.Random()  # seeded from os.urandom


def frontends(lb: LoadBalancer) -> list[Frontend]:
    return [Frontend(lb.network_id, lb.vip_address, li.protocol.l4, li.port, li.id) for li in lb.listeners]


_BROADCAST = ipaddress.IPv4Address("255.255.255.255")


class Address(NamedTuple):
    spelling: str  # the one spelling, so equal addresses compare equal
    version: int
    unicast: bool
    local: bool  # loopback or link-local


MAX_IP_TEXT = 45  # the longest spelling of an IPv6 address (with an IPv4 tail)


def parse_ip(text: str) -> Address | None:
    """An address, or None when `text` is none. Parsed once per spelling: ipaddress
    takes ~40 us to parse and classify one, and the members of a network repeat
    across its load balancers (longer text is none, and is not kept)."""
    return _parse_ip(text) if len(text) <= MAX_IP_TEXT else None


@functools.lru_cache(maxsize=16_384)
def _parse_ip(text: str) -> Address | None:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return None
    unicast = not (ip.is_multicast or ip.is_unspecified or ip == _BROADCAST)
    return Address(str(ip), ip.version, unicast, ip.is_loopback or ip.is_link_local)


def address_of(text: str) -> Address:
    """`parse_ip`, with ValueError when `text` is no address."""
    address = parse_ip(text)
    if address is None:
        raise ValueError(f"{text!r} is not an IP address")
    return address


def canonical_ip(text: str) -> str:
    """The one spelling of an address (ValueError when `text` is none)."""
    return address_of(text).spelling


# --- validation -------------------------------------------------------------


@dataclass
class Problems:
    """Collects violations so the client learns every bad field at once."""

    violations: list[Violation] = field(default_factory=list)

    def add(self, path: str, description: str) -> None:
        self.violations.append(Violation(path, description))

    def raise_if_any(self) -> None:
        if self.violations:
            raise ApiError.invalid(self.violations)


def field_path(prefix: str, name: str) -> str:
    """The path of a field below `prefix`, as field violations name it."""
    return f"{prefix}.{name}" if prefix else name


# C0 and C1 controls, NUL among them: nothing an identifier may carry (the NB refuses
# NUL outright, and a newline or escape would forge lines in logs and tables).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # free text keeps \t \n \r


def check_name(p: Problems, path: str, value: str, limit: int = MAX_NAME, *, text: bool = False) -> None:
    """An identifier or name (ids, names, label keys and values); `text`: free
    text such as a description, where tabs and line breaks are fine."""
    if len(value) > limit:
        p.add(path, f"must be at most {limit} characters")
    if (_TEXT_CONTROL if text else _CONTROL).search(value):
        p.add(path, "must not contain control characters (such as NUL or line breaks)")


def check_port(p: Problems, path: str, port: int) -> None:
    if not 1 <= port <= 65535:
        p.add(path, "must be a port from 1 to 65535")


def check_ip(p: Problems, path: str, address: str, *, local_ok: bool = False) -> int | None:
    """Returns the IP version, or None after recording why the address is bad.
    Loopback and link-local addresses name the node itself or its link, never a
    tenant's backend: refused unless the operator allows them (`local_ok`)."""
    if not address:
        p.add(path, "is required")
        return None
    if "%" in address:  # ipaddress takes "fd00::2%eth0"; OVN's vips cannot carry a zone
        p.add(path, f"{address!r}: an address with a zone (scope id) cannot be used")
        return None
    ip = parse_ip(address)
    if ip is None:
        p.add(path, f"{address!r} is not a valid IPv4 or IPv6 address")
        return None
    if not ip.unicast:
        p.add(path, f"{address!r} cannot be used as a unicast address")
        return None
    if not local_ok and ip.local:
        p.add(
            path,
            f"{address!r} is a loopback or link-local address (serve --allow-local-addresses allows them)",
        )
        return None
    return ip.version


def check_expected_codes(p: Problems, path: str, codes: str) -> None:
    if not _EXPECTED_CODES.match(codes):
        p.add(path, 'must look like "200", "200-299" or "200,202,204"')
        return
    numbers = [int(c) for c in re.split(r"[-,]", codes)]
    if any(not 100 <= c <= 599 for c in numbers):
        p.add(path, "codes must be from 100 to 599")
    elif "-" in codes and numbers[0] > numbers[1]:
        p.add(path, "range start must not exceed its end")


# What a monitor below the floor is told; only delay_ms / timeout_ms can be that short.
FLOOR = f"must be at least {MIN_INTERVAL * 1000:.0f} ms"


def check_monitor(p: Problems, path: str, hm: HealthMonitor) -> None:
    if not hm.delay > 0:
        p.add(field_path(path, "delay"), "must be greater than 0 seconds")
    elif not math.isfinite(hm.delay):
        p.add(field_path(path, "delay"), "must be a finite number of seconds")
    elif hm.delay < MIN_INTERVAL:
        # Checks faster than the floor would let one tenant spend a worker's whole CPU.
        p.add(field_path(path, "delay_ms"), FLOOR)
    if not 0 < hm.timeout <= max(hm.delay, 0):
        p.add(field_path(path, "timeout"), "must be greater than 0 and at most delay")
    elif hm.timeout < MIN_INTERVAL:
        p.add(field_path(path, "timeout_ms"), FLOOR)
    if not 1 <= hm.max_retries <= 10:
        p.add(field_path(path, "max_retries"), "must be from 1 to 10")
    if not 1 <= hm.healthy_threshold <= 10:
        p.add(field_path(path, "healthy_threshold"), "must be from 1 to 10")
    http = hm.type in (MonitorType.HTTP, MonitorType.HTTPS)
    if http:
        if hm.http_method not in HTTP_METHODS:
            p.add(field_path(path, "http_method"), f"must be one of {' '.join(sorted(HTTP_METHODS))}")
        if not hm.url_path.startswith("/") or len(hm.url_path) > 2048:
            p.add(field_path(path, "url_path"), 'must start with "/" (at most 2048 characters)')
        elif any(c.isspace() or ord(c) < 0x20 for c in hm.url_path):
            p.add(field_path(path, "url_path"), "must not contain spaces or control characters")
        check_expected_codes(p, field_path(path, "expected_codes"), hm.expected_codes)
        if hm.domain_name and not _DOMAIN.match(hm.domain_name):
            p.add(
                field_path(path, "domain_name"),
                "must be a host name (letters, digits, '-', '.'; at most 253)",
            )
    else:
        for name in ("http_method", "url_path", "expected_codes", "domain_name"):
            if getattr(hm, name):
                p.add(field_path(path, name), f"applies only to HTTP and HTTPS monitors, not {hm.type}")


def check_member(
    p: Problems, path: str, m: Member, vip_version: int | None, *, local_ok: bool = False
) -> None:
    version = check_ip(p, field_path(path, "address"), m.address, local_ok=local_ok)
    if version and vip_version and version != vip_version:
        p.add(field_path(path, "address"), f"is IPv{version} but the VIP is IPv{vip_version}")
    check_port(p, field_path(path, "port"), m.port)
    check_name(p, field_path(path, "name"), m.name)
    check_name(p, field_path(path, "subnet_id"), m.subnet_id)
    if not 0 <= m.weight <= MAX_WEIGHT:
        p.add(field_path(path, "weight"), f"must be from 0 to {MAX_WEIGHT}")


def check_pool(
    p: Problems, path: str, pool: Pool, vip_version: int | None, *, local_ok: bool = False
) -> None:
    check_name(p, field_path(path, "name"), pool.name)
    if len(pool.members) > MAX_MEMBERS:
        p.add(field_path(path, "members"), f"at most {MAX_MEMBERS} members per pool")
    seen: dict[tuple[str, int], int] = {}
    for i, m in enumerate(pool.members):
        mpath = f"{field_path(path, 'members')}[{i}]"
        check_member(p, mpath, m, vip_version, local_ok=local_ok)
        key = (m.address, m.port)
        if key in seen:
            p.add(mpath, f"{m.address} port {m.port} is already member [{seen[key]}] of this pool")
        seen.setdefault(key, i)
    if pool.health_monitor:
        check_monitor(p, field_path(path, "health_monitor"), pool.health_monitor)
    if pool.session_persistence:
        check_persistence(p, field_path(path, "persistence"), pool.session_persistence)


def check_persistence(p: Problems, path: str, sp: SessionPersistence) -> None:
    # OVN's affinity_timeout is a 16-bit number of seconds.
    if sp.type is PersistenceType.SOURCE_IP and not 1 <= sp.timeout <= 65535:
        p.add(field_path(path, "timeout"), "must be from 1 to 65535 seconds")


def check_listener(p: Problems, path: str, li: Listener) -> None:
    check_name(p, field_path(path, "name"), li.name)
    check_port(p, field_path(path, "port"), li.port)


def check_unique_listeners(p: Problems, lb: LoadBalancer, path_of: Mapping[str, str]) -> None:
    """One listener per (L4 protocol, port): OVN keys a VIP by address and port.

    `path_of` maps the listeners this request adds or changes to the path of their port: a
    clash is reported there, naming the other listener by its request path or its stored id.
    """
    seen: dict[tuple[str, int], Listener] = {}
    for li in lb.listeners:
        key = (li.protocol.l4, li.port)
        first = seen.setdefault(key, li)
        if first is li:
            continue
        blamed, other = (li, first) if li.id in path_of else (first, li)
        name = path_of[other.id].removesuffix(".port") if other.id in path_of else f"listener {other.id}"
        p.add(
            path_of.get(blamed.id, "listeners"),
            f"port {li.port}/{li.protocol.l4} is already used by {name} ({other.protocol})",
        )


def check_structure(
    p: Problems, lb: LoadBalancer, where: Mapping[str, str], *, pool_field: str = "protocol"
) -> None:
    """What ties a load balancer's parts together: listeners served by pools of
    the same L4 protocol, one listener per (protocol, port), and the limits.

    `where` maps the ids of the parts this request adds or changes to their
    request paths (and "listeners" / "pools" to where a new one was given).
    `pool_field`: the listener field blamed when its pool balances another protocol."""
    if len(lb.listeners) > MAX_LISTENERS:
        p.add(
            where.get("listeners", "spec.listeners"), f"at most {MAX_LISTENERS} listeners per load balancer"
        )
    if len(lb.pools) > MAX_POOLS:
        p.add(where.get("pools", "spec.pools"), f"at most {MAX_POOLS} pools per load balancer")
    pools = {pool.id: pool for pool in lb.pools}
    for li in lb.listeners:
        path = where.get(li.id, f"listener {li.id}")
        pool = pools.get(li.default_pool_id)
        if pool is None:
            p.add(
                field_path(path, "default_pool_id"), f"no pool {li.default_pool_id!r} in this load balancer"
            )
        elif pool.protocol and pool.protocol.l4 != li.protocol.l4:
            blamed = field_path(path, pool_field) if li.id in where or pool.id not in where else None
            p.add(
                blamed or field_path(where[pool.id], "protocol"),
                f"listener {li.name or li.id} ({li.protocol}) and pool {pool.name or pool.id}"
                f" ({pool.protocol}) balance different protocols",
            )
    check_unique_listeners(
        p, lb, {li.id: field_path(where[li.id], "port") for li in lb.listeners if li.id in where}
    )


def check_labels(p: Problems, path: str, labels: tuple[tuple[str, str], ...]) -> None:
    if len(labels) > MAX_LABELS:
        p.add(path, f"at most {MAX_LABELS} labels")
    for key, value in labels:
        if not key:
            p.add(path, "a label key must not be empty")
        check_name(p, f"{path}[{key!r}]", key, MAX_LABEL)
        check_name(p, f"{path}[{key!r}]", value, MAX_LABEL)


def check_load_balancer(
    p: Problems, lb: LoadBalancer, where: Mapping[str, str], *, local_ok: bool = False
) -> None:
    """A whole new load balancer; `where` maps each part's id, and
    "network_id" / "vip_address", to the path the request gave it at."""
    if not lb.project_id:
        p.add("project_id", "is required")
    check_name(p, "project_id", lb.project_id)
    network = where.get("network_id", "spec.network_id")
    if not lb.network_id:
        p.add(network, "is required")
    check_name(p, network, lb.network_id)
    check_name(p, "name", lb.name)
    check_name(p, "description", lb.description, MAX_DESCRIPTION, text=True)
    check_name(p, "spec.subnet_id", lb.subnet_id)
    check_labels(p, "labels", lb.labels)
    version = check_ip(p, where.get("vip_address", "spec.vip_address"), lb.vip_address, local_ok=local_ok)
    for pool in lb.pools:
        check_pool(p, where[pool.id], pool, version, local_ok=local_ok)
    for li in lb.listeners:
        check_listener(p, where[li.id], li)
    check_structure(p, lb, where)


def vip_version(lb: LoadBalancer) -> int:
    return address_of(lb.vip_address).version


# --- pure changes -------------------------------------------------------------


def replace_listener(lb: LoadBalancer, listener: Listener) -> LoadBalancer:
    return replace(lb, listeners=tuple(listener if li.id == listener.id else li for li in lb.listeners))


def replace_pool(lb: LoadBalancer, pool: Pool) -> LoadBalancer:
    lb.pool(pool.id)
    return replace(lb, pools=tuple(pool if p.id == pool.id else p for p in lb.pools))


def replace_member(pool: Pool, member: Member) -> Pool:
    return replace(pool, members=tuple(member if m.id == member.id else m for m in pool.members))


def changed(old: LoadBalancer, new: LoadBalancer, now: float) -> LoadBalancer:
    """A change waits to be realized: PENDING_UPDATE, unless never realized yet."""
    status = old.provisioning_status
    if status is not ProvisioningStatus.PENDING_CREATE:
        status = ProvisioningStatus.PENDING_UPDATE
    return replace(
        new, provisioning_status=status, status_reason="", updated_at=now, revision=old.revision + 1
    )


def deleting(lb: LoadBalancer, now: float) -> LoadBalancer:
    return replace(
        lb,
        provisioning_status=ProvisioningStatus.PENDING_DELETE,
        status_reason="",
        updated_at=now,
        revision=lb.revision + 1,
    )


LEAST_CONNECTIONS_NOTE = (
    "LEAST_CONNECTIONS: new connections are steered to the least loaded members from the data path's"
    " live connection counts, about a second behind; without fresh statistics OVN hashes by weight"
)


def _member_operating(m: Member, monitored: bool) -> OperatingStatus:
    if m.admin_state is AdminState.OFFLINE:
        return OperatingStatus.OFFLINE
    if m.admin_state is AdminState.DRAIN:
        return OperatingStatus.DRAINING
    if not monitored:
        return OperatingStatus.NO_MONITOR
    # ONLINE or ERROR once a health check has spoken, NO_MONITOR while it cannot be
    # checked at all (the worker says why); OFFLINE until then.
    if m.operating_status in (OperatingStatus.ONLINE, OperatingStatus.ERROR):
        return m.operating_status
    if m.operating_status is OperatingStatus.NO_MONITOR and m.last_failure_reason.startswith(NOT_CHECKED):
        return m.operating_status
    return OperatingStatus.OFFLINE


def _pool_operating(members: tuple[Member, ...]) -> OperatingStatus:
    serving = [m for m in members if m.admin_state is AdminState.ONLINE and m.weight > 0]
    failed = [m for m in serving if m.operating_status is OperatingStatus.ERROR]
    if not serving or len(failed) == len(serving):
        return OperatingStatus.ERROR  # the VIP rejects new connections
    return OperatingStatus.DEGRADED if failed else OperatingStatus.ONLINE


def _worst(statuses: list[OperatingStatus]) -> OperatingStatus:
    if not statuses or all(s is OperatingStatus.ONLINE for s in statuses):
        return OperatingStatus.ONLINE
    if all(s is OperatingStatus.ERROR for s in statuses):
        return OperatingStatus.ERROR
    return OperatingStatus.DEGRADED


def realized(lb: LoadBalancer, error: str = "") -> LoadBalancer:
    """The load balancer once OVN holds its current revision (or refused it)."""
    prov = ProvisioningStatus.ERROR if error else ProvisioningStatus.ACTIVE
    pools = []
    for pool in lb.pools:
        monitored = pool.health_monitor is not None
        members = tuple(
            replace(m, provisioning_status=prov, operating_status=_member_operating(m, monitored))
            for m in pool.members
        )
        pools.append(
            replace(
                pool,
                members=members,
                provisioning_status=prov,
                operating_status=_pool_operating(members),
                status_reason=LEAST_CONNECTIONS_NOTE if pool.algorithm is Algorithm.LEAST_CONNECTIONS else "",
            )
        )
    status_of = {pool.id: pool.operating_status for pool in pools}
    listeners = tuple(
        replace(
            li,
            provisioning_status=prov,
            operating_status=status_of.get(li.default_pool_id, OperatingStatus.ERROR),
        )
        for li in lb.listeners
    )
    return replace(
        lb,
        listeners=listeners,
        pools=tuple(pools),
        provisioning_status=prov,
        operating_status=OperatingStatus.ERROR
        if error
        else _worst([li.operating_status for li in listeners]),
        status_reason=error,
    )


_CHECKED = {True: OperatingStatus.ONLINE, False: OperatingStatus.ERROR}
# The reason of a member its health worker cannot check at all (NO_MONITOR while monitored).
NOT_CHECKED = "not checked: "


def with_health(lb: LoadBalancer, health: Mapping[str, tuple[bool | None, str]], now: float) -> LoadBalancer:
    """Members' health as checked: ONLINE or ERROR (with the failure's reason), or
    NO_MONITOR with the reason when a member cannot be checked at all (None: it
    stays in the vips, as an unchecked member would). Returns `lb` itself when
    nothing changes; otherwise a new revision, since OVN's vips follow health."""
    changed_any = False
    pools = []
    for pool in lb.pools:
        members = []
        for m in pool.members:
            if m.id in health:
                healthy, reason = health[m.id]
                status = _CHECKED.get(healthy, OperatingStatus.NO_MONITOR)
                if healthy is None:
                    reason = NOT_CHECKED + reason
                if m.operating_status is not status or (healthy is None and m.last_failure_reason != reason):
                    failure = m.last_failure_reason if healthy else reason
                    if healthy and failure.startswith(NOT_CHECKED):
                        failure = ""  # it is checked now; not checked was never a failure
                    m = replace(m, operating_status=status, last_failure_reason=failure)
                    changed_any = True
            members.append(m)
        pools.append(replace(pool, members=tuple(members)))
    if not changed_any:
        return lb
    return replace(lb, pools=tuple(pools), updated_at=now, revision=lb.revision + 1)
