"""Every validation rule, through a real server, on every transport.

Each refused request is sent over gRPC, Connect (binary and JSON) and REST; all four must
answer the same code, message and google.rpc.BadRequest field violations (REST with the
README's HTTP status), and the stored state must be exactly what it was before. Boundary
values on the accepted side of each rule are created successfully.

Request bodies are in the cloud's shape (`spec.listeners`, `spec.pools`, a listener's
`default_pool_id`), so violations name `spec.pools[0].members[1].port` and the like; a few
cases use the design document's flat shorthand (`network_id`, `vip_address`, `listeners[]`
with an inline `default_pool`) and its own paths (`listeners[0].default_pool.members[0].port`).
"""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import field_mask_pb2, json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from builders import config_only, listener_json, member_json, pool_json, seed_body, spec_body
from conftest import Server, wait_for
from lbclients import (
    CallFailed,
    Failure,
    Inexpressible,
    Transport,
    all_load_balancers,
    error_of,
)
from limiquantix.network.v1 import network_pb2 as res
from limiquantix.network.v1 import network_service_pb2 as pb

CONNECT_PATH = "/limiquantix.network.v1.LoadBalancerService"

PORT = "must be a port from 1 to 65535"
WEIGHT = "must be from 0 to 256"
NAME = "must be at most 255 characters"
DESCRIPTION = "must be at most 1024 characters"
REQUIRED = "is required"
ONE_TO_TEN = "must be from 1 to 10"
DELAY_REQUIRED = "is required (whole seconds, or delay_ms)"
TIMEOUT_REQUIRED = "is required (whole seconds, or timeout_ms)"
TIMEOUT = "must be greater than 0 and at most delay"
FLOOR = "must be at least 100 ms"
METHOD = "must be one of DELETE GET HEAD OPTIONS PATCH POST PUT"
URL_PATH = 'must start with "/" (at most 2048 characters)'
CODES_FORM = 'must look like "200", "200-299" or "200,202,204"'
CODES_RANGE = "codes must be from 100 to 599"
HOST_NAME = "must be a host name (letters, digits, '-', '.'; at most 253)"
PERSISTENCE_TIMEOUT = "must be from 1 to 65535 seconds"
L7_ONLY = "needs an L7 proxy; OVN balances at Layer 4"
TLS = f"TLS termination {L7_ONLY}: use a TCP or HTTPS listener and terminate TLS on the members"
CONNECTION_LIMIT = "must be 0 (unlimited): OVN cannot cap connections"
COOKIE_NAME = f"only cookie persistence has a cookie, and it {L7_ONLY}"
NOT_BOTH_POOLS = "give default_pool_id or default_pool, not both"
NO_POOL = "is required: the load balancer has no pool to serve the listener"
WHOLE = "must be a whole number"
UINT32 = "must be from 0 to 4294967295"
# Enum numbers the proto does not define, as the domain names the values.
PROTOCOLS = "one of TCP, UDP, SCTP, HTTP, HTTPS"
ALGORITHMS = "one of ROUND_ROBIN, LEAST_CONNECTIONS, SOURCE_IP, WEIGHTED_ROUND_ROBIN, SOURCE_IP_PORT"
MONITOR_TYPES = "one of PING, TCP, HTTP, HTTPS, UDP_CONNECT"
PERSISTENCE_TYPES = "one of NONE, SOURCE_IP"
# Enum names a JSON body may use, in the proto's order.
JSON_PROTOCOLS = "one of TCP, HTTP, HTTPS, UDP, SCTP"
JSON_MONITOR_TYPES = "one of PING, TCP, HTTP, HTTPS, UDP_CONNECT"
JSON_PERSISTENCE_TYPES = "one of NONE, SOURCE_IP, HTTP_COOKIE, APP_COOKIE"

# Violation paths of the cloud's shape ...
L0 = "spec.listeners[0]"
L1 = "spec.listeners[1]"
P0 = "spec.pools[0]"
M0 = f"{P0}.members[0]"
M1 = f"{P0}.members[1]"
HM = f"{P0}.health_monitor"
# ... and the keys `put` sets them at.
K_L0 = "spec.listeners.0"
K_P0 = "spec.pools.0"
K_M0 = f"{K_P0}.members.0"
K_M1 = f"{K_P0}.members.1"
K_HM = f"{K_P0}.health_monitor"
# The design document's shorthand: the pool inline in the flat listener.
SL0 = "listeners[0]"
SP0 = f"{SL0}.default_pool"
K_SP0 = "listeners.0.default_pool"


CONTROL = "must not contain control characters (such as NUL or line breaks)"
LOCAL = "{address!r} is a loopback or link-local address (serve --allow-local-addresses allows them)"


def invalid(*violations: tuple[str, str]) -> Failure:
    """INVALID_ARGUMENT as the README shows it: the first violation, and how many more."""
    field, description = violations[0]
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    return Failure("INVALID_ARGUMENT", f"{field}: {description}{more}", tuple(violations))


# --- the module's server and the load balancers the cases refer to ------------------------


@dataclass(frozen=True)
class Base:
    net4: str
    # VIP 10.1.0.1. Listeners: http TCP:80 -> pool web (2 members, HTTP monitor), dns UDP:53 ->
    # pool dns (protocol UDP), tls TCP:443 -> pool spare (empty). Pools "twin" twice, unused.
    lb4: res.LoadBalancer
    twin4: res.LoadBalancer  # same network and VIP as lb4, TCP:81 on its one pool
    lb6: res.LoadBalancer  # VIP 2001:db8::1, TCP:80 on a pool with member [2001:db8::10]:80
    bare: res.LoadBalancer  # no listeners, no pools
    full: res.LoadBalancer  # 64 listeners on 64 pools p0..p63; p0 has 1024 members

    @property
    def tcp(self) -> res.Listener:
        return self.lb4.spec.listeners[0]

    @property
    def pool(self) -> res.Pool:
        return self.pool_named("web")

    def pool_named(self, name: str, lb: str = "lb4") -> res.Pool:
        return next(p for p in getattr(self, lb).spec.pools if p.name == name)

    def listener_named(self, name: str) -> res.Listener:
        return next(li for li in self.lb4.spec.listeners if li.name == name)


def _crashes(lines: list[str]) -> list[str]:
    bad = []
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            if "Traceback" in line:
                bad.append(line)
            continue
        if event.get("event") == "rpc.crashed" or event.get("code") in ("INTERNAL", "UNKNOWN"):
            bad.append(line)
    return bad


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(Path(tmp_path_factory.mktemp("validation")) / "data").start()
    try:
        yield server
        # Bad input never crashes an RPC (checked on what the server logged so far).
        crashed = _crashes(server.log_lines)
        assert not crashed, "".join(crashed)
    finally:
        server.stop()


def _create(srv: Server, body: dict[str, Any]) -> res.LoadBalancer:
    """Creates over gRPC and returns the load balancer once OVN holds it, so the state the
    cases compare no longer changes by itself."""
    lb = srv.stub.CreateLoadBalancer(json_format.ParseDict(body, pb.CreateLoadBalancerRequest()), timeout=30)

    def active() -> res.LoadBalancer | None:
        got = srv.stub.GetLoadBalancer(pb.GetLoadBalancerRequest(id=lb.id), timeout=15)
        return got if got.status.provisioning_status == "ACTIVE" else None

    return wait_for(active, timeout=30, what=f"{lb.id} ACTIVE")


def _lb_body(net: str, vip: str, listeners: list[Any], pools: list[Any], **fields: Any) -> dict[str, Any]:
    return {
        "project_id": "proj-val",
        **fields,
        "spec": {"network_id": net, "vip_address": vip, "listeners": listeners, "pools": pools},
    }


@pytest.fixture(scope="module")
def base(srv: Server) -> Base:
    net4, net6 = f"net-val4-{uuid.uuid4().hex[:8]}", f"net-val6-{uuid.uuid4().hex[:8]}"
    monitor = {"type": "HTTP", "delay": 5, "timeout": 3, "url_path": "/health"}
    lb4 = _create(
        srv,
        _lb_body(
            net4,
            "10.1.0.1",
            [
                listener_json("TCP", 80, name="http", default_pool_id="web"),
                listener_json("UDP", 53, name="dns", default_pool_id="dns"),
                listener_json("TCP", 443, name="tls", default_pool_id="spare"),
            ],
            [
                pool_json("10.1.0.10", "10.1.0.11", name="web", health_monitor=monitor),
                pool_json("10.1.0.12", port=53, name="dns", protocol="UDP"),
                pool_json(name="spare"),
                pool_json(name="twin"),
                pool_json(name="twin"),
            ],
            name="base4",
        ),
    )
    twin4 = _create(srv, _lb_body(net4, "10.1.0.1", [listener_json("TCP", 81)], [pool_json()], name="twin4"))
    lb6 = _create(
        srv, _lb_body(net6, "2001:db8::1", [listener_json("TCP", 80)], [pool_json("2001:db8::10", port=80)])
    )
    bare = _create(srv, _lb_body(f"net-bare-{uuid.uuid4().hex[:8]}", "10.3.0.1", [], [], name="bare"))
    members = [member_json(f"10.4.{i // 250}.{i % 250 + 1}", 80) for i in range(1024)]
    full = _create(
        srv,
        _lb_body(
            f"net-full-{uuid.uuid4().hex[:8]}",
            "10.4.255.1",
            [listener_json("TCP", 1000 + i, default_pool_id=f"p{i}") for i in range(64)],
            [{"name": f"p{i}", "members": members if i == 0 else []} for i in range(64)],
            project_id="proj-full",  # big: kept out of the per-case state read (see `state`)
        ),
    )
    assert len(full.spec.pools[0].members) == 1024
    return Base(net4, lb4, twin4, lb6, bare, full)


# --- request builders --------------------------------------------------------------------


def valid_body() -> dict[str, Any]:
    """One TCP:80 listener on the one pool: two members and an HTTP monitor."""
    return spec_body(
        pools=[
            pool_json("10.2.0.10", "10.2.0.11", health_monitor={"type": "HTTP", "delay": 5, "timeout": 3})
        ],
        network_id="net-val-new",
        vip_address="10.2.0.1",
        name="lb",
        project_id="proj-val",
    )


def shorthand_body() -> dict[str, Any]:
    """The design document's flat body (the pool inline in its listener)."""
    return seed_body(project_id="proj-val")


DELETE = object()


def put(doc: Any, path: str, value: Any) -> None:
    """Sets a dotted path ('spec.listeners.0.port'); the value DELETE removes the key, and
    the index one past a list's end appends."""
    *parents, last = path.split(".")
    for key in parents:
        doc = doc[int(key)] if isinstance(doc, list) else doc.setdefault(key, {})
    if isinstance(doc, list):
        if int(last) == len(doc):
            doc.append(value)
        else:
            doc[int(last)] = value
    elif value is DELETE:
        doc.pop(last, None)
    else:
        doc[last] = value


def changed(body: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    doc = copy.deepcopy(body)
    for path, value in changes.items():
        put(doc, path, value if value is DELETE else copy.deepcopy(value))
    return doc


def create(
    changes: dict[str, Any] | None = None, body: dict[str, Any] | Callable[[], dict[str, Any]] | None = None
) -> Callable[[Base], Message]:
    def build(_: Base) -> Message:
        start = body() if callable(body) else body if body is not None else valid_body()
        return json_format.ParseDict(changed(start, changes or {}), pb.CreateLoadBalancerRequest())

    return build


def shorthand(changes: dict[str, Any]) -> Callable[[Base], Message]:
    return create(changes, body=shorthand_body)


def request(kind: type[Message], fields: Callable[[Base], dict[str, Any]]) -> Callable[[Base], Message]:
    return lambda b: json_format.ParseDict(fields(b), kind())


def add_listener(listener: dict[str, Any] | None, lb: str = "lb4") -> Callable[[Base], Message]:
    def fields(b: Base) -> dict[str, Any]:
        out: dict[str, Any] = {"load_balancer_id": getattr(b, lb).id}
        if listener is not None:
            out["listener"] = listener
        return out

    return request(pb.AddListenerRequest, fields)


def update_listener(listener: str = "http", **changes: Any) -> Callable[[Base], Message]:
    return request(
        pb.UpdateListenerRequest,
        lambda b: {"load_balancer_id": b.lb4.id, "listener_id": b.listener_named(listener).id, **changes},
    )


def add_pool(pool: dict[str, Any] | None, lb: str = "lb4") -> Callable[[Base], Message]:
    def fields(b: Base) -> dict[str, Any]:
        out: dict[str, Any] = {"load_balancer_id": getattr(b, lb).id}
        if pool is not None:
            out["pool"] = pool
        return out

    return request(pb.AddPoolRequest, fields)


def update_pool(pool: str = "web", **changes: Any) -> Callable[[Base], Message]:
    return request(
        pb.UpdatePoolRequest,
        lambda b: {"load_balancer_id": b.lb4.id, "pool_id": b.pool_named(pool).id, **changes},
    )


def remove_pool(pool: str) -> Callable[[Base], Message]:
    return lambda b: pb.RemovePoolRequest(load_balancer_id=b.lb4.id, pool_id=b.pool_named(pool).id)


def add_member(member: dict[str, Any] | None, lb: str = "lb4") -> Callable[[Base], Message]:
    def fields(b: Base) -> dict[str, Any]:
        target = getattr(b, lb)
        pool = b.pool if lb == "lb4" else target.spec.pools[0]
        out: dict[str, Any] = {"load_balancer_id": target.id, "pool_id": pool.id}
        if member is not None:
            out["member"] = member
        return out

    return request(pb.AddPoolMemberRequest, fields)


def update_member(**changes: Any) -> Callable[[Base], Message]:
    return request(
        pb.UpdatePoolMemberRequest,
        lambda b: {
            "load_balancer_id": b.lb4.id,
            "pool_id": b.pool.id,
            "member_id": b.pool.members[0].id,
            **changes,
        },
    )


def update_lb(**changes: Any) -> Callable[[Base], Message]:
    return request(pb.UpdateLoadBalancerRequest, lambda b: {"id": b.lb4.id, **changes})


def masked(*paths: str, **changes: Any) -> Callable[[Base], Message]:
    def build(b: Base) -> Message:
        msg = json_format.ParseDict({"id": b.lb4.id, **changes}, pb.UpdateLoadBalancerRequest())
        msg.update_mask.CopyFrom(field_mask_pb2.FieldMask(paths=list(paths)))
        return msg

    return build


@dataclass(frozen=True)
class Case:
    id: str
    rpc: str
    build: Callable[[Base], Message]
    expected: Failure | Callable[[Base], Failure]


def monitor(**fields: Any) -> dict[str, Any]:
    """Changes to the first pool's health monitor (DELETE leaves a field out)."""
    hm = {"type": "HTTP", "delay": 5, "timeout": 3} | fields
    return {K_HM: {k: v for k, v in hm.items() if v is not DELETE}}


def hm(**fields: Any) -> dict[str, Any]:
    """A health monitor for an UpdatePool or AddPool request (whole seconds by default)."""
    return {"type": "TCP", "delay": 1, "timeout": 1} | fields


def in_use(where: str, address: str, port: int, proto: str) -> Callable[[Base], Failure]:
    return lambda b: Failure(
        "ALREADY_EXISTS", f"{where}: {address} port {port}/{proto} is already in use on network {b.net4!r}"
    )


def labels(n: int) -> dict[str, str]:
    return {f"k{i}": "v" for i in range(n)}


CASES = [
    # --- addresses: valid IPv4/IPv6, one family ---
    Case(
        "vip-not-ip",
        "CreateLoadBalancer",
        create({"spec.vip_address": "not-an-ip"}),
        invalid(("spec.vip_address", "'not-an-ip' is not a valid IPv4 or IPv6 address")),
    ),
    Case(
        "vip-bad-octet",
        "CreateLoadBalancer",
        create({"spec.vip_address": "10.0.0.256"}),
        invalid(("spec.vip_address", "'10.0.0.256' is not a valid IPv4 or IPv6 address")),
    ),
    Case(
        "vip-bad-ipv6",
        "CreateLoadBalancer",
        create({"spec.vip_address": "2001:db8::1::2"}),
        invalid(("spec.vip_address", "'2001:db8::1::2' is not a valid IPv4 or IPv6 address")),
    ),
    Case(
        "vip-multicast",
        "CreateLoadBalancer",
        create({"spec.vip_address": "224.0.0.1"}),
        invalid(("spec.vip_address", "'224.0.0.1' cannot be used as a unicast address")),
    ),
    Case(
        "vip-unspecified-v6",
        "CreateLoadBalancer",
        create({"spec.vip_address": "::"}),
        invalid(("spec.vip_address", "'::' cannot be used as a unicast address")),
    ),
    Case(
        "vip-missing",
        "CreateLoadBalancer",
        create({"spec.vip_address": DELETE}),
        invalid(("spec.vip_address", REQUIRED)),
    ),
    Case(
        "member-not-ip",
        "CreateLoadBalancer",
        create({f"{K_M1}.address": "10.2.0.300"}),
        invalid((f"{M1}.address", "'10.2.0.300' is not a valid IPv4 or IPv6 address")),
    ),
    Case(
        "member-address-missing",
        "CreateLoadBalancer",
        create({f"{K_M0}.address": DELETE}),
        invalid((f"{M0}.address", REQUIRED)),
    ),
    Case(
        "member-v6-vip-v4",
        "CreateLoadBalancer",
        create({f"{K_M1}.address": "fd00::5"}),
        invalid((f"{M1}.address", "is IPv6 but the VIP is IPv4")),
    ),
    Case(
        "member-v4-vip-v6",
        "CreateLoadBalancer",
        create({"spec.vip_address": "fd00::1"}),
        invalid(
            (f"{M0}.address", "is IPv4 but the VIP is IPv6"), (f"{M1}.address", "is IPv4 but the VIP is IPv6")
        ),
    ),
    Case(
        "add-member-v6-to-v4",
        "AddPoolMember",
        add_member({"address": "fd00::5", "port": 80}),
        invalid(("member.address", "is IPv6 but the VIP is IPv4")),
    ),
    Case(
        "add-member-v4-to-v6",
        "AddPoolMember",
        add_member({"address": "10.0.0.5", "port": 80}, lb="lb6"),
        invalid(("member.address", "is IPv4 but the VIP is IPv6")),
    ),
    Case(
        "add-listener-v6-member-to-v4",
        "AddListener",
        add_listener(listener_json("TCP", 90, default_pool=pool_json("fd00::5", port=80))),
        invalid(("listener.default_pool.members[0].address", "is IPv6 but the VIP is IPv4")),
    ),
    Case(
        "add-pool-v6-member-to-v4",
        "AddPool",
        add_pool(pool_json("10.1.0.30", "fd00::5", port=80)),
        invalid(("pool.members[1].address", "is IPv6 but the VIP is IPv4")),
    ),
    Case(
        "add-member-not-ip",
        "AddPoolMember",
        add_member({"address": "ten", "port": 80}),
        invalid(("member.address", "'ten' is not a valid IPv4 or IPv6 address")),
    ),
    # --- ports 1-65535 ---
    Case(
        "listener-port-0",
        "CreateLoadBalancer",
        create({f"{K_L0}.port": DELETE}),
        invalid((f"{L0}.port", PORT)),
    ),
    Case(
        "listener-port-65536",
        "CreateLoadBalancer",
        create({f"{K_L0}.port": 65536}),
        invalid((f"{L0}.port", PORT)),
    ),
    Case(
        "member-port-0",
        "CreateLoadBalancer",
        create({f"{K_M1}.port": 0}),
        invalid((f"{M1}.port", PORT)),
    ),
    Case(
        "member-port-70000",
        "CreateLoadBalancer",
        create({f"{K_M0}.port": 70000}),
        invalid((f"{M0}.port", PORT)),
    ),
    Case(
        "add-listener-port-0",
        "AddListener",
        add_listener({"protocol": "TCP", "default_pool_id": "web"}),
        invalid(("listener.port", PORT)),
    ),
    Case("update-listener-port-0", "UpdateListener", update_listener(port=0), invalid(("port", PORT))),
    Case(
        "update-listener-port-65536", "UpdateListener", update_listener(port=65536), invalid(("port", PORT))
    ),
    Case(
        "add-member-port-65536",
        "AddPoolMember",
        add_member({"address": "10.1.0.20", "port": 65536}),
        invalid(("member.port", PORT)),
    ),
    Case(
        "add-pool-member-port-0",
        "AddPool",
        add_pool({"members": [{"address": "10.1.0.20"}]}),
        invalid(("pool.members[0].port", PORT)),
    ),
    # --- weight 0-256 ---
    Case(
        "weight-257",
        "CreateLoadBalancer",
        create({f"{K_M0}.weight": 257}),
        invalid((f"{M0}.weight", WEIGHT)),
    ),
    Case(
        "add-member-weight-257",
        "AddPoolMember",
        add_member({"address": "10.1.0.20", "port": 80, "weight": 257}),
        invalid(("member.weight", WEIGHT)),
    ),
    Case(
        "update-member-weight-300", "UpdatePoolMember", update_member(weight=300), invalid(("weight", WEIGHT))
    ),
    # --- one listener per (L4 protocol, port) on a load balancer ---
    Case(
        "create-tcp-http-same-port",
        "CreateLoadBalancer",
        create({"spec.listeners": [listener_json("TCP", 80), listener_json("HTTP", 80)]}),
        invalid((f"{L1}.port", "port 80/tcp is already used by spec.listeners[0] (TCP)")),
    ),
    Case(
        "create-udp-twice",
        "CreateLoadBalancer",
        create(
            {
                "spec.listeners": [
                    listener_json("UDP", 53),
                    listener_json("SCTP", 53),
                    listener_json("UDP", 53),
                ]
            }
        ),
        invalid(("spec.listeners[2].port", "port 53/udp is already used by spec.listeners[0] (UDP)")),
    ),
    Case(
        "add-listener-same-tcp",
        "AddListener",
        add_listener(listener_json("TCP", 80, default_pool_id="web")),
        lambda b: invalid(("listener.port", f"port 80/tcp is already used by listener {b.tcp.id} (TCP)")),
    ),
    Case(
        "add-listener-https-on-tcp",
        "AddListener",
        add_listener(listener_json("HTTPS", 443, default_pool_id="web")),
        lambda b: invalid(
            (
                "listener.port",
                f"port 443/tcp is already used by listener {b.listener_named('tls').id} (TCP)",
            )
        ),
    ),
    Case(
        "add-listener-same-udp",
        "AddListener",
        add_listener(listener_json("UDP", 53, default_pool_id="dns")),
        lambda b: invalid(
            ("listener.port", f"port 53/udp is already used by listener {b.listener_named('dns').id} (UDP)")
        ),
    ),
    Case(
        "update-listener-onto-other-port",
        "UpdateListener",
        update_listener(port=443),
        lambda b: invalid(
            ("port", f"port 443/tcp is already used by listener {b.listener_named('tls').id} (TCP)")
        ),
    ),
    # --- a VIP:port:protocol is unique within a network (ALREADY_EXISTS) ---
    Case(
        "create-vip-port-taken",
        "CreateLoadBalancer",
        create(
            body=_lb_body(
                "{net4}",
                "10.1.0.1",
                [listener_json("SCTP", 80), listener_json("TCP", 80)],
                [{}],
            )
        ),
        in_use(L1, "10.1.0.1", 80, "tcp"),
    ),
    Case(
        "create-vip-port-taken-http",
        "CreateLoadBalancer",
        create(body=_lb_body("{net4}", "10.1.0.1", [listener_json("HTTP", 81)], [{}])),
        in_use(L0, "10.1.0.1", 81, "tcp"),
    ),
    Case(
        "create-vip-port-taken-udp",
        "CreateLoadBalancer",
        create(body=_lb_body("{net4}", "10.1.0.1", [listener_json("UDP", 53)], [{}])),
        in_use(L0, "10.1.0.1", 53, "udp"),
    ),
    Case(
        "create-vip-port-taken-ipv6-spelling",
        "CreateLoadBalancer",
        create(body=_lb_body("{net6}", "2001:DB8:0::1", [listener_json("TCP", 80)], [{}])),
        lambda b: Failure(
            "ALREADY_EXISTS",
            f"{L0}: 2001:db8::1 port 80/tcp is already in use on network {b.lb6.spec.network_id!r}",
        ),
    ),
    Case(
        "add-listener-vip-port-taken",
        "AddListener",
        add_listener(listener_json("TCP", 80), lb="twin4"),
        in_use("listener", "10.1.0.1", 80, "tcp"),
    ),
    Case(
        "update-listener-vip-port-taken",
        "UpdateListener",
        request(
            pb.UpdateListenerRequest,
            lambda b: {
                "load_balancer_id": b.twin4.id,
                "listener_id": b.twin4.spec.listeners[0].id,
                "port": 443,
            },
        ),
        in_use("port", "10.1.0.1", 443, "tcp"),
    ),
    # --- a member address:port is unique within a pool ---
    Case(
        "create-duplicate-member",
        "CreateLoadBalancer",
        create({f"{K_P0}.members": [member_json(a, 80) for a in ("10.2.0.10", "10.2.0.11", "10.2.0.10")]}),
        invalid((f"{P0}.members[2]", "10.2.0.10 port 80 is already member [0] of this pool")),
    ),
    Case(
        "create-duplicate-member-ipv6-spelling",
        "CreateLoadBalancer",
        create(
            {
                "spec.vip_address": "fd00::1",
                f"{K_P0}.members": [member_json("fd00::a", 80), member_json("FD00:0::A", 80)],
            }
        ),
        invalid((f"{P0}.members[1]", "fd00::a port 80 is already member [0] of this pool")),
    ),
    Case(
        "add-pool-duplicate-member",
        "AddPool",
        add_pool(pool_json("10.1.0.30", "10.1.0.30")),
        invalid(("pool.members[1]", "10.1.0.30 port 8080 is already member [0] of this pool")),
    ),
    Case(
        "add-member-duplicate",
        "AddPoolMember",
        add_member({"address": "10.1.0.11", "port": 8080}),
        lambda b: Failure(
            "ALREADY_EXISTS",
            f"member: 10.1.0.11 port 8080 is already member {b.pool.members[1].id} of pool {b.pool.id}",
        ),
    ),
    Case(
        "add-member-duplicate-ipv6-spelling",
        "AddPoolMember",
        add_member({"address": "2001:DB8:0:0::10", "port": 80}, lb="lb6"),
        lambda b: Failure(
            "ALREADY_EXISTS",
            f"member: 2001:db8::10 port 80 is already member "
            f"{b.lb6.spec.pools[0].members[0].id} of pool {b.lb6.spec.pools[0].id}",
        ),
    ),
    # --- health monitor: whole seconds (delay, timeout) or milliseconds (delay_ms, timeout_ms) ---
    Case("delay-0", "CreateLoadBalancer", create(monitor(delay=0)), invalid((f"{HM}.delay", DELAY_REQUIRED))),
    Case(
        "delay-and-timeout-0",
        "CreateLoadBalancer",
        create(monitor(delay=DELETE, timeout=DELETE)),
        invalid((f"{HM}.delay", DELAY_REQUIRED), (f"{HM}.timeout", TIMEOUT_REQUIRED)),
    ),
    Case(
        "timeout-0",
        "CreateLoadBalancer",
        create(monitor(timeout=0)),
        invalid((f"{HM}.timeout", TIMEOUT_REQUIRED)),
    ),
    Case(
        "timeout-over-delay",
        "CreateLoadBalancer",
        create(monitor(delay=1, timeout=2)),
        invalid((f"{HM}.timeout", TIMEOUT)),
    ),
    Case(
        "timeout-ms-over-delay-ms",
        "CreateLoadBalancer",
        create(monitor(delay=DELETE, timeout=DELETE, delay_ms=500, timeout_ms=501)),
        invalid((f"{HM}.timeout", TIMEOUT)),
    ),
    Case(
        "delay-ms-wins-over-delay",  # 5 s, but 100 ms wins: the 3 s timeout is over it
        "CreateLoadBalancer",
        create(monitor(delay=5, delay_ms=100, timeout=3)),
        invalid((f"{HM}.timeout", TIMEOUT)),
    ),
    Case(
        "timeout-ms-wins-over-timeout",  # 1 s, but 1500 ms wins: over the 1 s delay
        "CreateLoadBalancer",
        create(monitor(delay=1, timeout=1, timeout_ms=1500)),
        invalid((f"{HM}.timeout", TIMEOUT)),
    ),
    # The floor: 100 ms (faster checks would let one tenant spend a worker's CPU).
    Case(
        "delay-ms-and-timeout-ms-1",
        "CreateLoadBalancer",
        create(monitor(type="TCP", delay=DELETE, timeout=DELETE, delay_ms=1, timeout_ms=1)),
        invalid((f"{HM}.delay_ms", FLOOR), (f"{HM}.timeout_ms", FLOOR)),
    ),
    Case(
        "delay-ms-99",
        "CreateLoadBalancer",
        create(monitor(delay=DELETE, timeout=DELETE, delay_ms=99, timeout_ms=99)),
        invalid((f"{HM}.delay_ms", FLOOR), (f"{HM}.timeout_ms", FLOOR)),
    ),
    Case(
        "timeout-ms-below-floor-under-whole-delay",
        "CreateLoadBalancer",
        create(monitor(delay=1, timeout=DELETE, timeout_ms=50)),
        invalid((f"{HM}.timeout_ms", FLOOR)),
    ),
    Case(
        "add-pool-monitor-below-floor",
        "AddPool",
        add_pool({"health_monitor": hm(delay_ms=10, timeout_ms=10)}),
        invalid(("pool.health_monitor.delay_ms", FLOOR), ("pool.health_monitor.timeout_ms", FLOOR)),
    ),
    Case(
        "add-listener-pool-monitor-below-floor",
        "AddListener",
        add_listener(
            listener_json("TCP", 91, default_pool={"health_monitor": hm(delay_ms=50, timeout_ms=100)})
        ),
        invalid(
            ("listener.default_pool.health_monitor.delay_ms", FLOOR),
            ("listener.default_pool.health_monitor.timeout", TIMEOUT),  # 100 ms is over the 50 ms delay
        ),
    ),
    Case(
        "update-pool-monitor-below-floor",
        "UpdatePool",
        update_pool(health_monitor=hm(delay_ms=99, timeout_ms=99)),
        invalid(("health_monitor.delay_ms", FLOOR), ("health_monitor.timeout_ms", FLOOR)),
    ),
    Case(
        "max-retries-11",
        "CreateLoadBalancer",
        create(monitor(max_retries=11)),
        invalid((f"{HM}.max_retries", ONE_TO_TEN)),
    ),
    Case(
        "healthy-threshold-11",
        "CreateLoadBalancer",
        create(monitor(healthy_threshold=11)),
        invalid((f"{HM}.healthy_threshold", ONE_TO_TEN)),
    ),
    Case(
        "http-method-unknown",
        "CreateLoadBalancer",
        create(monitor(http_method="FETCH")),
        invalid((f"{HM}.http_method", METHOD)),
    ),
    Case(
        "http-method-lowercase",
        "CreateLoadBalancer",
        create(monitor(http_method="get")),
        invalid((f"{HM}.http_method", METHOD)),
    ),
    Case(
        "url-path-relative",
        "CreateLoadBalancer",
        create(monitor(url_path="health")),
        invalid((f"{HM}.url_path", URL_PATH)),
    ),
    Case(
        "url-path-space",
        "CreateLoadBalancer",
        create(monitor(url_path="/a b")),
        invalid((f"{HM}.url_path", "must not contain spaces or control characters")),
    ),
    Case(
        "expected-codes-words",
        "CreateLoadBalancer",
        create(monitor(expected_codes="ok")),
        invalid((f"{HM}.expected_codes", CODES_FORM)),
    ),
    Case(
        "expected-codes-2xx",
        "CreateLoadBalancer",
        create(monitor(expected_codes="2xx")),
        invalid((f"{HM}.expected_codes", CODES_FORM)),
    ),
    Case(
        "expected-codes-open-range",
        "CreateLoadBalancer",
        create(monitor(expected_codes="200-")),
        invalid((f"{HM}.expected_codes", CODES_FORM)),
    ),
    Case(
        "expected-codes-spaces",
        "CreateLoadBalancer",
        create(monitor(expected_codes="200, 202")),
        invalid((f"{HM}.expected_codes", CODES_FORM)),
    ),
    Case(
        "expected-codes-600",
        "CreateLoadBalancer",
        create(monitor(expected_codes="600")),
        invalid((f"{HM}.expected_codes", CODES_RANGE)),
    ),
    Case(
        "expected-codes-099",
        "CreateLoadBalancer",
        create(monitor(expected_codes="099")),
        invalid((f"{HM}.expected_codes", CODES_RANGE)),
    ),
    Case(
        "expected-codes-range-600",
        "CreateLoadBalancer",
        create(monitor(expected_codes="200-600")),
        invalid((f"{HM}.expected_codes", CODES_RANGE)),
    ),
    Case(
        "expected-codes-list-700",
        "CreateLoadBalancer",
        create(monitor(expected_codes="200,700")),
        invalid((f"{HM}.expected_codes", CODES_RANGE)),
    ),
    Case(
        "expected-codes-reversed",
        "CreateLoadBalancer",
        create(monitor(expected_codes="299-200")),
        invalid((f"{HM}.expected_codes", "range start must not exceed its end")),
    ),
    Case(
        "domain-name-not-a-host",
        "CreateLoadBalancer",
        create(monitor(domain_name="not a host")),
        invalid((f"{HM}.domain_name", HOST_NAME)),
    ),
    Case(
        "http-fields-on-tcp-monitor",
        "CreateLoadBalancer",
        create(monitor(type="TCP", url_path="/x")),
        invalid((f"{HM}.url_path", "applies only to HTTP and HTTPS monitors, not TCP")),
    ),
    Case(
        "http-fields-on-ping-monitor",  # no type: PING
        "CreateLoadBalancer",
        create(monitor(type=DELETE, expected_codes="200", domain_name="example.com")),
        invalid(
            (f"{HM}.expected_codes", "applies only to HTTP and HTTPS monitors, not PING"),
            (f"{HM}.domain_name", "applies only to HTTP and HTTPS monitors, not PING"),
        ),
    ),
    Case(
        "add-listener-bad-monitor",
        "AddListener",
        add_listener(
            listener_json(
                "TCP", 90, default_pool={"health_monitor": {"type": "TCP", "delay": 2, "timeout": 3}}
            )
        ),
        invalid(("listener.default_pool.health_monitor.timeout", TIMEOUT)),
    ),
    Case(
        "add-pool-bad-monitor",
        "AddPool",
        add_pool({"health_monitor": hm(delay_ms=200, timeout_ms=300)}),
        invalid(("pool.health_monitor.timeout", TIMEOUT)),
    ),
    Case(
        "update-pool-monitor-timeout",
        "UpdatePool",
        update_pool(health_monitor=hm(delay=1, timeout=2)),
        invalid(("health_monitor.timeout", TIMEOUT)),
    ),
    Case(
        "update-pool-monitor-delay-0",
        "UpdatePool",
        update_pool(health_monitor=hm(delay=0)),
        invalid(("health_monitor.delay", DELAY_REQUIRED)),
    ),
    Case(
        "update-pool-monitor-max-retries",
        "UpdatePool",
        update_pool(health_monitor=hm(max_retries=11)),
        invalid(("health_monitor.max_retries", ONE_TO_TEN)),
    ),
    Case(
        "update-pool-monitor-method",
        "UpdatePool",
        update_pool(health_monitor=hm(type="HTTP", http_method="BREW")),
        invalid(("health_monitor.http_method", METHOD)),
    ),
    Case(
        "update-pool-monitor-url-path",
        "UpdatePool",
        update_pool(health_monitor=hm(type="HTTPS", url_path="health")),
        invalid(("health_monitor.url_path", URL_PATH)),
    ),
    Case(
        "update-pool-monitor-codes",
        "UpdatePool",
        update_pool(health_monitor=hm(type="HTTPS", expected_codes="2000")),
        invalid(("health_monitor.expected_codes", CODES_FORM)),
    ),
    Case(
        "update-pool-monitor-type-99",
        "UpdatePool",
        update_pool(health_monitor=hm(type=99)),
        invalid(("health_monitor.type", f"unknown value 99; {MONITOR_TYPES}")),
    ),
    Case(
        "update-pool-monitor-and-remove",
        "UpdatePool",
        update_pool(health_monitor=hm(), remove_health_monitor=True),
        invalid(("remove_health_monitor", "cannot be set together with health_monitor")),
    ),
    # --- session persistence: SOURCE_IP only (cookies need an L7 proxy) ---
    Case(
        "persistence-timeout-65536",
        "CreateLoadBalancer",
        create({f"{K_P0}.persistence": {"type": "SOURCE_IP", "timeout": 65536}}),
        invalid((f"{P0}.persistence.timeout", PERSISTENCE_TIMEOUT)),
    ),
    Case(
        "persistence-http-cookie",
        "CreateLoadBalancer",
        create({f"{K_P0}.persistence": {"type": "HTTP_COOKIE"}}),
        invalid((f"{P0}.persistence.type", f"HTTP_COOKIE persistence {L7_ONLY}; use SOURCE_IP")),
    ),
    Case(
        "persistence-app-cookie-with-name",
        "CreateLoadBalancer",
        create({f"{K_P0}.persistence": {"type": "APP_COOKIE", "cookie_name": "JSESSIONID"}}),
        invalid(
            (f"{P0}.persistence.type", f"APP_COOKIE persistence {L7_ONLY}; use SOURCE_IP"),
            (f"{P0}.persistence.cookie_name", COOKIE_NAME),
        ),
    ),
    Case(
        "persistence-cookie-name-on-source-ip",
        "CreateLoadBalancer",
        create({f"{K_P0}.persistence": {"type": "SOURCE_IP", "cookie_name": "sid"}}),
        invalid((f"{P0}.persistence.cookie_name", COOKIE_NAME)),
    ),
    Case(
        "add-pool-http-cookie",
        "AddPool",
        add_pool({"persistence": {"type": "HTTP_COOKIE"}}),
        invalid(("pool.persistence.type", f"HTTP_COOKIE persistence {L7_ONLY}; use SOURCE_IP")),
    ),
    Case(
        "update-pool-persistence-timeout",
        "UpdatePool",
        update_pool(persistence={"type": "SOURCE_IP", "timeout": 70000}),
        invalid(("persistence.timeout", PERSISTENCE_TIMEOUT)),
    ),
    Case(
        "update-pool-app-cookie",
        "UpdatePool",
        update_pool(persistence={"type": "APP_COOKIE"}),
        invalid(("persistence.type", f"APP_COOKIE persistence {L7_ONLY}; use SOURCE_IP")),
    ),
    Case(
        "update-pool-cookie-name",
        "UpdatePool",
        update_pool(persistence={"cookie_name": "sid"}),
        invalid(("persistence.cookie_name", COOKIE_NAME)),
    ),
    # --- listener features OVN cannot offer: TLS termination, a connection limit ---
    Case(
        "listener-tls",
        "CreateLoadBalancer",
        create({f"{K_L0}.tls": {"certificate": "-----BEGIN CERTIFICATE-----"}}),
        invalid((f"{L0}.tls", TLS)),
    ),
    Case(
        "listener-connection-limit",
        "CreateLoadBalancer",
        create({f"{K_L0}.connection_limit": 1000}),
        invalid((f"{L0}.connection_limit", CONNECTION_LIMIT)),
    ),
    Case(
        "add-listener-tls-and-limit",
        "AddListener",
        add_listener(
            listener_json(
                "HTTPS", 8443, default_pool_id="web", tls={"min_version": "1.2"}, connection_limit=1
            )
        ),
        invalid(("listener.tls", TLS), ("listener.connection_limit", CONNECTION_LIMIT)),
    ),
    Case(
        "shorthand-listener-tls",
        "CreateLoadBalancer",
        shorthand({"listeners.0.tls": {"ciphers": ["ECDHE-RSA-AES128-GCM-SHA256"]}}),
        invalid((f"{SL0}.tls", TLS)),
    ),
    # --- a listener's pool: named by id or name, or the only one ---
    Case(
        "default-pool-unknown",
        "CreateLoadBalancer",
        create({f"{K_L0}.default_pool_id": "nope"}),
        invalid((f"{L0}.default_pool_id", "no pool with id or name 'nope' in this load balancer")),
    ),
    Case(
        "default-pool-ambiguous",
        "CreateLoadBalancer",
        create(
            {
                f"{K_L0}.default_pool_id": "a",
                "spec.pools": [pool_json("10.2.0.10", name="a"), pool_json("10.2.0.11", name="a")],
            }
        ),
        invalid((f"{L0}.default_pool_id", "'a' names 2 pools; use a pool id")),
    ),
    Case(
        "default-pool-absent-no-pools",
        "CreateLoadBalancer",
        create({"spec.pools": []}),
        invalid((f"{L0}.default_pool_id", NO_POOL)),
    ),
    Case(
        "default-pool-absent-two-pools",
        "CreateLoadBalancer",
        create(
            {
                "spec.listeners": [listener_json("TCP", 80, default_pool_id="a"), listener_json("UDP", 53)],
                "spec.pools": [pool_json("10.2.0.10", name="a"), pool_json("10.2.0.11", name="b")],
            }
        ),
        invalid((f"{L1}.default_pool_id", "is required: the load balancer has 2 pools")),
    ),
    Case(
        "default-pool-id-and-inline",
        "CreateLoadBalancer",
        create({f"{K_L0}.default_pool_id": "web", f"{K_L0}.default_pool": pool_json("10.2.0.12")}),
        invalid((f"{L0}.default_pool", NOT_BOTH_POOLS)),
    ),
    Case(
        "shorthand-default-pool-id-and-inline",
        "CreateLoadBalancer",
        shorthand({"listeners.0.default_pool_id": "web"}),
        invalid((SP0, NOT_BOTH_POOLS)),
    ),
    Case(
        "add-listener-pool-unknown",
        "AddListener",
        add_listener(listener_json("TCP", 90, default_pool_id="nope")),
        invalid(("listener.default_pool_id", "no pool with id or name 'nope' in this load balancer")),
    ),
    Case(
        "add-listener-pool-ambiguous",
        "AddListener",
        add_listener(listener_json("TCP", 90, default_pool_id="twin")),
        invalid(("listener.default_pool_id", "'twin' names 2 pools; use a pool id")),
    ),
    Case(
        "add-listener-pool-absent-five-pools",
        "AddListener",
        add_listener(listener_json("TCP", 90)),
        invalid(("listener.default_pool_id", "is required: the load balancer has 5 pools")),
    ),
    Case(
        "add-listener-pool-absent-no-pools",
        "AddListener",
        add_listener(listener_json("TCP", 90), lb="bare"),
        invalid(("listener.default_pool_id", NO_POOL)),
    ),
    Case(
        "add-listener-pool-id-and-inline",
        "AddListener",
        add_listener(listener_json("TCP", 90, default_pool_id="web", default_pool={})),
        invalid(("listener.default_pool", NOT_BOTH_POOLS)),
    ),
    Case(
        "update-listener-pool-unknown",
        "UpdateListener",
        update_listener(default_pool_id="nope"),
        invalid(("default_pool_id", "no pool with id or name 'nope' in this load balancer")),
    ),
    Case(
        "update-listener-pool-ambiguous",
        "UpdateListener",
        update_listener(default_pool_id="twin"),
        invalid(("default_pool_id", "'twin' names 2 pools; use a pool id")),
    ),
    Case(
        "update-listener-pool-empty",
        "UpdateListener",
        update_listener(default_pool_id=""),
        invalid(("default_pool_id", "is required: the load balancer has 5 pools")),
    ),
    # --- a pool with a protocol serves only listeners of the same L4 protocol ---
    Case(
        "pool-udp-for-tcp-listener",
        "CreateLoadBalancer",
        create({f"{K_L0}.name": "front", f"{K_P0}.name": "dns", f"{K_P0}.protocol": "UDP"}),
        invalid((f"{L0}.protocol", "listener front (TCP) and pool dns (UDP) balance different protocols")),
    ),
    Case(
        "pool-tcp-for-udp-listener",
        "CreateLoadBalancer",
        create(
            {
                f"{K_L0}.protocol": "UDP",
                f"{K_L0}.name": "front",
                f"{K_P0}.name": "web",
                f"{K_P0}.protocol": "HTTP",
                f"{K_HM}.type": "TCP",
            }
        ),
        invalid((f"{L0}.protocol", "listener front (UDP) and pool web (HTTP) balance different protocols")),
    ),
    Case(
        "add-listener-tcp-on-udp-pool",
        "AddListener",
        add_listener(listener_json("TCP", 90, name="l90", default_pool_id="dns")),
        invalid(("listener.protocol", "listener l90 (TCP) and pool dns (UDP) balance different protocols")),
    ),
    Case(
        "add-listener-tcp-on-inline-udp-pool",
        "AddListener",
        add_listener(listener_json("TCP", 90, name="l90", default_pool={"name": "u", "protocol": "UDP"})),
        invalid(("listener.protocol", "listener l90 (TCP) and pool u (UDP) balance different protocols")),
    ),
    Case(
        # UpdateListener has no protocol: the pool it names is what does not fit.
        "update-listener-onto-udp-pool",
        "UpdateListener",
        update_listener(default_pool_id="dns"),
        invalid(("default_pool_id", "listener http (TCP) and pool dns (UDP) balance different protocols")),
    ),
    # --- a pool a listener uses cannot go ---
    Case(
        "remove-pool-in-use",
        "RemovePool",
        remove_pool("web"),
        lambda b: Failure(
            "FAILED_PRECONDITION",
            f"pool {b.pool.id!r} serves listener http: point it at another pool or remove it first",
        ),
    ),
    Case(
        "remove-empty-pool-in-use",
        "RemovePool",
        remove_pool("spare"),
        lambda b: Failure(
            "FAILED_PRECONDITION",
            f"pool {b.pool_named('spare').id!r} serves listener tls: point it at another pool or"
            " remove it first",
        ),
    ),
    # --- the flat shorthand must agree with spec ---
    Case(
        "shorthand-network-contradicts-spec",
        "CreateLoadBalancer",
        create({"network_id": "net-flat", "spec.network_id": "net-spec"}),
        invalid(("network_id", "contradicts spec.network_id ('net-spec')")),
    ),
    Case(
        "shorthand-vip-contradicts-spec",
        "CreateLoadBalancer",
        create({"vip_address": "10.2.0.2"}),
        invalid(("vip_address", "contradicts spec.vip_address ('10.2.0.1')")),
    ),
    Case(
        "shorthand-listeners-and-spec-listeners",
        "CreateLoadBalancer",
        create({"listeners": [listener_json("TCP", 81)]}),
        invalid(("listeners", "give the listeners here or in spec.listeners, not both")),
    ),
    Case(
        "shorthand-all-three-contradict",
        "CreateLoadBalancer",
        create(
            {"network_id": "net-flat", "vip_address": "10.2.0.2", "listeners": [listener_json("TCP", 81)]}
        ),
        invalid(
            ("network_id", "contradicts spec.network_id ('net-val-new')"),
            ("vip_address", "contradicts spec.vip_address ('10.2.0.1')"),
            ("listeners", "give the listeners here or in spec.listeners, not both"),
        ),
    ),
    # --- the shorthand's own paths ---
    Case(
        "shorthand-vip-not-ip",
        "CreateLoadBalancer",
        shorthand({"vip_address": "not-an-ip"}),
        invalid(("vip_address", "'not-an-ip' is not a valid IPv4 or IPv6 address")),
    ),
    Case(
        "shorthand-network-id-256",
        "CreateLoadBalancer",
        shorthand({"network_id": "n" * 256}),
        invalid(("network_id", NAME)),
    ),
    Case(
        "shorthand-member-port-0",
        "CreateLoadBalancer",
        shorthand({f"{K_SP0}.members.0.port": 0}),
        invalid((f"{SP0}.members[0].port", PORT)),
    ),
    Case(
        "shorthand-monitor-timeout",
        "CreateLoadBalancer",
        shorthand({f"{K_SP0}.health_monitor.timeout": 6}),
        invalid((f"{SP0}.health_monitor.timeout", TIMEOUT)),
    ),
    Case(
        "shorthand-same-port-twice",
        "CreateLoadBalancer",
        shorthand({"listeners.1": listener_json("HTTP", 80, default_pool={})}),
        invalid(("listeners[1].port", "port 80/tcp is already used by listeners[0] (TCP)")),
    ),
    Case(
        "shorthand-vip-port-taken",
        "CreateLoadBalancer",
        create(
            body={
                "project_id": "proj-val",
                "network_id": "{net4}",
                "vip_address": "10.1.0.1",
                "listeners": [listener_json("HTTP", 81, default_pool={})],
            }
        ),
        in_use(SL0, "10.1.0.1", 81, "tcp"),
    ),
    Case(
        "shorthand-pool-absent",  # a flat listener without a pool, and no spec.pools
        "CreateLoadBalancer",
        shorthand({f"{K_SP0}": DELETE}),
        invalid((f"{SL0}.default_pool_id", NO_POOL)),
    ),
    # --- names <= 255 characters (descriptions <= 1024) ---
    Case("lb-name-256", "CreateLoadBalancer", create({"name": "n" * 256}), invalid(("name", NAME))),
    Case(
        "lb-description-1025",
        "CreateLoadBalancer",
        create({"description": "d" * 1025}),
        invalid(("description", DESCRIPTION)),
    ),
    Case(
        "project-id-256",
        "CreateLoadBalancer",
        create({"project_id": "p" * 256}),
        invalid(("project_id", NAME)),
    ),
    Case(
        "network-id-256",
        "CreateLoadBalancer",
        create({"spec.network_id": "n" * 256}),
        invalid(("spec.network_id", NAME)),
    ),
    Case(
        "subnet-id-256",
        "CreateLoadBalancer",
        create({"spec.subnet_id": "s" * 256}),
        invalid(("spec.subnet_id", NAME)),
    ),
    Case(
        "listener-name-256",
        "CreateLoadBalancer",
        create({f"{K_L0}.name": "l" * 256}),
        invalid((f"{L0}.name", NAME)),
    ),
    Case(
        "pool-name-256",
        "CreateLoadBalancer",
        create({f"{K_P0}.name": "p" * 256}),
        invalid((f"{P0}.name", NAME)),
    ),
    Case(
        "member-name-256",
        "CreateLoadBalancer",
        create({f"{K_M1}.name": "m" * 256}),
        invalid((f"{M1}.name", NAME)),
    ),
    Case(
        "member-subnet-id-256",
        "CreateLoadBalancer",
        create({f"{K_M0}.subnet_id": "s" * 256}),
        invalid((f"{M0}.subnet_id", NAME)),
    ),
    Case("update-lb-name-256", "UpdateLoadBalancer", update_lb(name="n" * 256), invalid(("name", NAME))),
    Case(
        "update-lb-description-1025",
        "UpdateLoadBalancer",
        update_lb(description="d" * 1025),
        invalid(("description", DESCRIPTION)),
    ),
    Case(
        "update-listener-name-256", "UpdateListener", update_listener(name="l" * 256), invalid(("name", NAME))
    ),
    Case("add-pool-name-256", "AddPool", add_pool({"name": "p" * 256}), invalid(("pool.name", NAME))),
    Case("update-pool-name-256", "UpdatePool", update_pool(name="p" * 256), invalid(("name", NAME))),
    Case(
        "add-member-name-256",
        "AddPoolMember",
        add_member({"address": "10.1.0.20", "port": 80, "name": "m" * 256}),
        invalid(("member.name", NAME)),
    ),
    Case(
        "update-member-name-256", "UpdatePoolMember", update_member(name="m" * 256), invalid(("name", NAME))
    ),
    # --- injection (issue 9): no control characters in identifiers, no zones in addresses ---
    *(
        Case(
            f"control-character-in-{where.replace('.', '-')}-{i}",
            "CreateLoadBalancer",
            create({where: value}),
            invalid((path, CONTROL)),
        )
        for where, path in (
            ("spec.network_id", "spec.network_id"),
            ("project_id", "project_id"),
            ("name", "name"),
            ("spec.subnet_id", "spec.subnet_id"),
            (f"{K_P0}.name", "spec.pools[0].name"),
            (f"{K_L0}.name", "spec.listeners[0].name"),
            (f"{K_M0}.name", "spec.pools[0].members[0].name"),
        )
        for i, value in enumerate(("net\u0000x", "a\nb", "esc\u001b[31m", "c1\u0085"))
    ),
    Case(
        "control-character-in-label",
        "CreateLoadBalancer",
        create({"labels": {"team": "a\u0000b"}}),
        invalid(("labels['team']", CONTROL)),
    ),
    Case(
        "control-character-in-description",
        "CreateLoadBalancer",
        create({"description": "a\u0000b"}),
        invalid(("description", CONTROL)),
    ),
    Case(
        "member-zone-injection",
        "CreateLoadBalancer",
        create({f"{K_M0}.address": "fd00::2%a],[fd00::99", "spec.vip_address": "fd00::1"}),
        invalid(
            (
                "spec.pools[0].members[0].address",
                "'fd00::2%a],[fd00::99': an address with a zone (scope id) cannot be used",
            ),
            ("spec.pools[0].members[1].address", "is IPv4 but the VIP is IPv6"),
        ),
    ),
    Case(
        "vip-zone",
        "CreateLoadBalancer",
        create({"spec.vip_address": "fe80::1%eth0"}),
        invalid(("spec.vip_address", "'fe80::1%eth0': an address with a zone (scope id) cannot be used")),
    ),
    # --- loopback and link-local: the node itself or its link, never a tenant's backend ---
    *(
        Case(
            f"local-member-{address}",
            "CreateLoadBalancer",
            create({f"{K_M0}.address": address, "spec.vip_address": vip}),
            invalid(("spec.pools[0].members[0].address", LOCAL.format(address=address)), *also),
        )
        for address, vip, also in (
            ("127.0.0.1", "10.1.0.1", ()),
            ("127.8.9.10", "10.1.0.1", ()),
            ("169.254.169.254", "10.1.0.1", ()),
            ("::1", "fd00::1", (("spec.pools[0].members[1].address", "is IPv4 but the VIP is IPv6"),)),
            ("fe80::5", "fd00::1", (("spec.pools[0].members[1].address", "is IPv4 but the VIP is IPv6"),)),
        )
    ),
    *(
        Case(
            f"local-vip-{address}",
            "CreateLoadBalancer",
            create({"spec.vip_address": address}),
            invalid(("spec.vip_address", LOCAL.format(address=address))),
        )
        for address in ("127.0.0.1", "169.254.1.1")
    ),
    Case(
        "add-member-metadata-address",
        "AddPoolMember",
        add_member({"address": "169.254.169.254", "port": 80}),
        invalid(
            (
                "member.address",
                LOCAL.format(address="169.254.169.254"),
            )
        ),
    ),
    Case(
        "vip-broadcast",
        "CreateLoadBalancer",
        create({"spec.vip_address": "255.255.255.255"}),
        invalid(("spec.vip_address", "'255.255.255.255' cannot be used as a unicast address")),
    ),
    Case(
        "add-member-zone",
        "AddPoolMember",
        add_member({"address": "10.1.0.20%x", "port": 80}),
        invalid(("member.address", "'10.1.0.20%x': an address with a zone (scope id) cannot be used")),
    ),
    Case(
        "update-name-control-character",
        "UpdateLoadBalancer",
        update_lb(name="x\u0000"),
        invalid(("name", CONTROL)),
    ),
    # --- labels: at most 64, keys not empty, keys and values <= 255 characters ---
    Case(
        "labels-65",
        "CreateLoadBalancer",
        create({"labels": labels(65)}),
        invalid(("labels", "at most 64 labels")),
    ),
    Case(
        "label-key-empty",
        "CreateLoadBalancer",
        create({"labels": {"": "x"}}),
        invalid(("labels", "a label key must not be empty")),
    ),
    Case(
        "label-value-256",
        "CreateLoadBalancer",
        create({"labels": {"team": "t" * 256}}),
        invalid(("labels['team']", NAME)),
    ),
    Case(
        "update-lb-labels-65",
        "UpdateLoadBalancer",
        update_lb(labels=labels(65)),
        invalid(("labels", "at most 64 labels")),
    ),
    Case(
        "update-lb-label-key-empty",
        "UpdateLoadBalancer",
        update_lb(labels={"": "x", "ok": "y"}),
        invalid(("labels", "a label key must not be empty")),
    ),
    # --- UpdateLoadBalancer's update_mask names only name, description, labels ---
    Case(
        "update-mask-unknown-path",
        "UpdateLoadBalancer",
        masked("vip_address", name="x"),
        invalid(("update_mask", "'vip_address' cannot be updated here (name, description, labels)")),
    ),
    Case(
        "update-mask-two-unknown-paths",
        "UpdateLoadBalancer",
        masked("spec.network_id", "name", "project_id"),
        invalid(
            ("update_mask", "'project_id' cannot be updated here (name, description, labels)"),
            ("update_mask", "'spec.network_id' cannot be updated here (name, description, labels)"),
        ),
    ),
    Case(
        "update-mask-names-bad-value",  # the mask sends an empty description: fine; a long name: not
        "UpdateLoadBalancer",
        masked("name", "description", name="n" * 256),
        invalid(("name", NAME)),
    ),
    # --- limits: 64 listeners and 64 pools per load balancer, 1024 members per pool ---
    Case(
        "create-65-listeners",
        "CreateLoadBalancer",
        create({"spec.listeners": [listener_json("TCP", 2000 + i) for i in range(65)]}),
        invalid(("spec.listeners", "at most 64 listeners per load balancer")),
    ),
    Case(
        "create-65-pools",
        "CreateLoadBalancer",
        create({f"{K_L0}.default_pool_id": "p0", "spec.pools": [{"name": f"p{i}"} for i in range(65)]}),
        invalid(("spec.pools", "at most 64 pools per load balancer")),
    ),
    Case(
        "create-1025-members",
        "CreateLoadBalancer",
        create({f"{K_P0}.members": [member_json(f"10.2.{i // 250}.{i % 250 + 1}", 80) for i in range(1025)]}),
        invalid((f"{P0}.members", "at most 1024 members per pool")),
    ),
    Case(
        "add-65th-listener",
        "AddListener",
        add_listener(listener_json("UDP", 1, default_pool_id="p1"), lb="full"),
        invalid(("listener", "at most 64 listeners per load balancer")),
    ),
    Case(
        "add-65th-pool",
        "AddPool",
        add_pool({"name": "p64"}, lb="full"),
        invalid(("pool", "at most 64 pools per load balancer")),
    ),
    Case(
        "add-1025th-member",
        "AddPoolMember",
        add_member({"address": "10.4.9.9", "port": 80}, lb="full"),
        invalid(("member", "at most 1024 members per pool")),
    ),
    # --- missing required fields ---
    Case(
        "create-empty",
        "CreateLoadBalancer",
        create(body={}),
        invalid(("project_id", REQUIRED), ("spec.network_id", REQUIRED), ("spec.vip_address", REQUIRED)),
    ),
    Case("add-listener-missing", "AddListener", add_listener(None), invalid(("listener", REQUIRED))),
    Case("add-pool-missing", "AddPool", add_pool(None), invalid(("pool", REQUIRED))),
    Case("add-member-missing", "AddPoolMember", add_member(None), invalid(("member", REQUIRED))),
    Case(
        "add-member-address-missing",
        "AddPoolMember",
        add_member({"port": 80}),
        invalid(("member.address", REQUIRED)),
    ),
    Case(
        "get-id-missing", "GetLoadBalancer", lambda b: pb.GetLoadBalancerRequest(), invalid(("id", REQUIRED))
    ),
    Case(
        "stats-id-missing",
        "GetLoadBalancerStats",
        lambda b: pb.GetLoadBalancerStatsRequest(),
        invalid(("id", REQUIRED)),
    ),
    Case(
        "delete-id-missing",
        "DeleteLoadBalancer",
        lambda b: pb.DeleteLoadBalancerRequest(),
        invalid(("id", REQUIRED)),
    ),
    Case(
        "update-lb-id-missing",
        "UpdateLoadBalancer",
        lambda b: pb.UpdateLoadBalancerRequest(name="x"),
        invalid(("id", REQUIRED)),
    ),
    Case(
        "add-listener-lb-missing",
        "AddListener",
        lambda b: pb.AddListenerRequest(listener=res.Listener(protocol=res.Listener.TCP, port=99)),
        invalid(("load_balancer_id", REQUIRED)),
    ),
    Case(
        "update-listener-id-missing",
        "UpdateListener",
        lambda b: pb.UpdateListenerRequest(load_balancer_id=b.lb4.id, name="x"),
        invalid(("listener_id", REQUIRED)),
    ),
    Case(
        "remove-listener-id-missing",
        "RemoveListener",
        lambda b: pb.RemoveListenerRequest(load_balancer_id=b.lb4.id),
        invalid(("listener_id", REQUIRED)),
    ),
    Case(
        "remove-listener-lb-missing",
        "RemoveListener",
        lambda b: pb.RemoveListenerRequest(listener_id=b.tcp.id),
        invalid(("load_balancer_id", REQUIRED)),
    ),
    Case(
        "add-pool-lb-missing",
        "AddPool",
        lambda b: pb.AddPoolRequest(pool=res.Pool(name="x")),
        invalid(("load_balancer_id", REQUIRED)),
    ),
    Case(
        "update-pool-id-missing",
        "UpdatePool",
        lambda b: pb.UpdatePoolRequest(load_balancer_id=b.lb4.id, name="x"),
        invalid(("pool_id", REQUIRED)),
    ),
    Case(
        "remove-pool-id-missing",
        "RemovePool",
        lambda b: pb.RemovePoolRequest(load_balancer_id=b.lb4.id),
        invalid(("pool_id", REQUIRED)),
    ),
    Case(
        "add-member-pool-missing",
        "AddPoolMember",
        lambda b: pb.AddPoolMemberRequest(
            load_balancer_id=b.lb4.id, member=res.PoolMember(address="10.1.0.9", port=1)
        ),
        invalid(("pool_id", REQUIRED)),
    ),
    Case(
        "update-member-id-missing",
        "UpdatePoolMember",
        lambda b: pb.UpdatePoolMemberRequest(load_balancer_id=b.lb4.id, pool_id=b.pool.id, weight=2),
        invalid(("member_id", REQUIRED)),
    ),
    Case(
        "remove-member-id-missing",
        "RemovePoolMember",
        lambda b: pb.RemovePoolMemberRequest(load_balancer_id=b.lb4.id, pool_id=b.pool.id),
        invalid(("member_id", REQUIRED)),
    ),
    # --- enum numbers the proto does not define (sent as numbers, also over JSON) ---
    Case(
        "listener-protocol-99",
        "CreateLoadBalancer",
        create({f"{K_L0}.protocol": 99}),
        invalid((f"{L0}.protocol", f"unknown value 99; {PROTOCOLS}")),
    ),
    Case(
        "algorithm-99",
        "CreateLoadBalancer",
        create({f"{K_P0}.algorithm": 99}),
        invalid((f"{P0}.algorithm", f"unknown value 99; {ALGORITHMS}")),
    ),
    Case(
        "pool-protocol-99",
        "CreateLoadBalancer",
        create({f"{K_P0}.protocol": 99}),
        invalid((f"{P0}.protocol", f"unknown value 99; {PROTOCOLS}")),
    ),
    Case(
        "monitor-type-99",
        "CreateLoadBalancer",
        create(monitor(type=99)),
        invalid((f"{HM}.type", f"unknown value 99; {MONITOR_TYPES}")),
    ),
    Case(
        "persistence-type-99",
        "CreateLoadBalancer",
        create({f"{K_P0}.persistence": {"type": 99}}),
        invalid((f"{P0}.persistence.type", f"unknown value 99; {PERSISTENCE_TYPES}")),
    ),
    Case(
        "shorthand-algorithm-99",
        "CreateLoadBalancer",
        shorthand({f"{K_SP0}.algorithm": 99}),
        invalid((f"{SP0}.algorithm", f"unknown value 99; {ALGORITHMS}")),
    ),
    Case(
        "add-listener-protocol-7",
        "AddListener",
        add_listener({"protocol": 7, "port": 99, "default_pool_id": "web"}),
        invalid(("listener.protocol", f"unknown value 7; {PROTOCOLS}")),
    ),
    Case(
        "add-pool-protocol-7",
        "AddPool",
        add_pool({"protocol": 7}),
        invalid(("pool.protocol", f"unknown value 7; {PROTOCOLS}")),
    ),
    Case(
        "add-pool-algorithm-99",
        "AddPool",
        add_pool({"algorithm": 99}),
        invalid(("pool.algorithm", f"unknown value 99; {ALGORITHMS}")),
    ),
    Case(
        "update-pool-algorithm-99",
        "UpdatePool",
        update_pool(algorithm=99),
        invalid(("algorithm", f"unknown value 99; {ALGORITHMS}")),
    ),
    Case(
        "update-pool-persistence-type-99",
        "UpdatePool",
        update_pool(persistence={"type": 99}),
        invalid(("persistence.type", f"unknown value 99; {PERSISTENCE_TYPES}")),
    ),
    # --- several problems are reported at once ---
    Case(
        "several-at-once",
        "CreateLoadBalancer",
        create(
            {
                "spec.vip_address": "bogus",
                f"{K_L0}.port": 0,
                f"{K_M0}.weight": 999,
                f"{K_M1}.port": 0,
            }
        ),
        invalid(
            ("spec.vip_address", "'bogus' is not a valid IPv4 or IPv6 address"),
            (f"{M0}.weight", WEIGHT),
            (f"{M1}.port", PORT),
            (f"{L0}.port", PORT),
        ),
    ),
    Case(
        "several-contract-refusals-at-once",
        "CreateLoadBalancer",
        create(
            {
                f"{K_L0}.tls": {"certificate": "x"},
                f"{K_L0}.connection_limit": 5,
                f"{K_P0}.persistence": {"type": "HTTP_COOKIE"},
                f"{K_HM}.delay": 0,
            }
        ),
        invalid(
            (f"{P0}.health_monitor.delay", DELAY_REQUIRED),
            (f"{P0}.persistence.type", f"HTTP_COOKIE persistence {L7_ONLY}; use SOURCE_IP"),
            (f"{L0}.tls", TLS),
            (f"{L0}.connection_limit", CONNECTION_LIMIT),
        ),
    ),
    Case(
        # An unknown enum number does not hide the other bad fields of the same request.
        "enum-and-rules-at-once",
        "CreateLoadBalancer",
        create(
            {
                "spec.vip_address": "bogus",
                f"{K_L0}.port": 0,
                f"{K_M0}.weight": 999,
                f"{K_L0}.protocol": 42,
            }
        ),
        invalid(
            (f"{L0}.protocol", f"unknown value 42; {PROTOCOLS}"),
            ("spec.vip_address", "'bogus' is not a valid IPv4 or IPv6 address"),
            (f"{M0}.weight", WEIGHT),
            (f"{L0}.port", PORT),
        ),
    ),
]


def _resolve(build: Callable[[Base], Message], b: Base) -> Message:
    msg = build(b)
    # Bodies written before the base existed name its networks as {net4} / {net6}.
    if isinstance(msg, pb.CreateLoadBalancerRequest):
        nets = {"net4": b.net4, "net6": b.lb6.spec.network_id}
        msg.network_id = msg.network_id.format(**nets)
        if msg.HasField("spec"):
            msg.spec.network_id = msg.spec.network_id.format(**nets)
    return msg


def snapshot(srv: Server) -> tuple[int, list[res.LoadBalancer]]:
    """What a refused request must leave alone: how many load balancers exist, and every one
    of the test project (the base ones, and where the creates here would add theirs). The big
    one lives elsewhere: reading its 1024 members takes the server a third of a second."""
    total = srv.stub.ListLoadBalancers(pb.ListLoadBalancersRequest(page_size=1)).total_count
    return total, all_load_balancers(srv, "proj-val")


def state(srv: Server, b: Base, req: Message) -> tuple[Any, ...]:
    """The snapshot, plus the big load balancer when the request names it."""
    names = {getattr(req, f, "") for f in ("id", "load_balancer_id")}
    full = srv.stub.GetLoadBalancer(pb.GetLoadBalancerRequest(id=b.full.id)) if b.full.id in names else None
    return *snapshot(srv), full


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_rule_is_refused_alike_on_every_transport_and_writes_nothing(
    srv: Server, clients: dict[str, Transport], base: Base, case: Case
) -> None:
    req = _resolve(case.build, base)
    expected = case.expected(base) if callable(case.expected) else case.expected
    before = state(srv, base, req)

    seen: dict[str, Failure] = {}
    for name, client in clients.items():
        try:
            seen[name] = client.fail(case.rpc, req)
        except Inexpressible:
            assert name == "rest", name  # only REST cannot send an empty path segment

    assert {"grpc", "connect-binary", "connect-json"} <= set(seen)
    assert seen == dict.fromkeys(seen, expected)
    assert state(srv, base, req) == before


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))


# --- the accepted side of each boundary -------------------------------------------------


def _subset(want: Any, got: Any, where: str = "$") -> None:
    """Every value the request set comes back (ids and defaults may be added)."""
    if isinstance(want, dict):
        assert isinstance(got, dict), where
        for key, value in want.items():
            assert key in got, f"{where}.{key} missing"
            _subset(value, got[key], f"{where}.{key}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), where
        for i, (w, g) in enumerate(zip(want, got, strict=True)):
            _subset(w, g, f"{where}[{i}]")
    else:
        assert want == got, f"{where}: {want!r} != {got!r}"


def _as_json(lb: res.LoadBalancer) -> dict[str, Any]:
    return json_format.MessageToDict(
        lb, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
    )


def _two_pools(*ports: tuple[str, int, int]) -> dict[str, Any]:
    """Listeners (protocol, port) each on its own one-member pool on `member port`."""
    return {
        "spec.listeners": [
            listener_json(proto, port, default_pool_id=f"p{port}") for proto, port, _ in ports
        ],
        "spec.pools": [pool_json("10.2.0.10", port=mport, name=f"p{port}") for _, port, mport in ports],
    }


# Accepted load balancers go to a project of their own, so the state the refusal tests read
# (see `snapshot`) stays small.
ACCEPTED_PROJECT = "proj-accepted"
ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    (
        "weights-0-and-256",
        {
            f"{K_P0}.members": [
                member_json("10.2.0.10", 80, weight=0),
                member_json("10.2.0.11", 80, weight=256),
                member_json("10.2.0.10", 81, weight=1),
            ]
        },
    ),
    ("ports-1-and-65535", _two_pools(("TCP", 1, 65535), ("UDP", 65535, 1))),
    (
        "same-port-other-l4-one-pool",
        {"spec.listeners": [listener_json("TCP", 80), listener_json("UDP", 80), listener_json("SCTP", 80)]},
    ),
    ("timeout-equals-delay", monitor(delay=2, timeout=2)),
    ("sub-second-checks", monitor(delay=DELETE, timeout=DELETE, delay_ms=200, timeout_ms=100)),
    ("the-floor-100-ms", monitor(delay=DELETE, timeout=DELETE, delay_ms=100, timeout_ms=100)),
    ("delay-seconds-timeout-ms", monitor(delay=1, timeout=DELETE, timeout_ms=999)),
    ("retries-and-threshold-1", monitor(max_retries=1, healthy_threshold=1)),
    ("retries-and-threshold-10", monitor(max_retries=10, healthy_threshold=10)),
    ("codes-100", monitor(expected_codes="100")),
    ("codes-599", monitor(expected_codes="599")),
    ("codes-range", monitor(expected_codes="200-299")),
    ("codes-list", monitor(expected_codes="200,202,204")),
    ("codes-single-range", monitor(expected_codes="200-200")),
    ("url-path-root", monitor(url_path="/")),
    ("url-path-query", monitor(url_path="/health?full=1")),
    ("domain-name", monitor(type="HTTPS", domain_name="app.example.com", tls_verify=True)),
    *[
        (f"method-{m}", monitor(http_method=m))
        for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
    ],
    ("ping-monitor", monitor(type="PING")),
    ("udp-connect-monitor", {f"{K_L0}.protocol": "UDP", **monitor(type="UDP_CONNECT")}),
    ("persistence-1", {f"{K_P0}.persistence": {"type": "SOURCE_IP", "timeout": 1}}),
    ("persistence-65535", {f"{K_P0}.persistence": {"type": "SOURCE_IP", "timeout": 65535}}),
    ("persistence-none", {f"{K_P0}.persistence": {"type": "NONE"}}),
    ("listener-connection-limit-0", {f"{K_L0}.connection_limit": 0}),
    (
        "names-255",
        {
            "name": "n" * 255,
            "description": "d" * 1024,
            f"{K_L0}.name": "l" * 255,
            f"{K_P0}.name": "p" * 255,
            f"{K_M0}.name": "m" * 255,
        },
    ),
    ("labels-64", {"labels": labels(64)}),
    ("label-255", {"labels": {"k" * 255: "v" * 255}}),
    (
        "ipv6",
        {
            "spec.vip_address": "2001:db8::1",
            f"{K_M0}.address": "2001:db8::a",
            f"{K_M1}.address": "2001:db8::b",
        },
    ),
    ("64-listeners", {"spec.listeners": [listener_json("TCP", 3000 + i) for i in range(64)]}),
    (
        "64-pools",
        {f"{K_L0}.default_pool_id": "p63", "spec.pools": [{"name": f"p{i}"} for i in range(64)]},
    ),
    ("no-listeners", {"spec.listeners": []}),
    ("no-listeners-no-pools", {"spec.listeners": [], "spec.pools": []}),
    (
        "pool-serves-two-listeners",
        {
            "spec.listeners": [
                listener_json("TCP", 80, default_pool_id="web"),
                listener_json("HTTP", 8080, default_pool_id="web"),
            ],
            f"{K_P0}.name": "web",
        },
    ),
    (
        "pool-protocol-tcp-for-http-listener",
        {f"{K_L0}.protocol": "HTTP", f"{K_P0}.protocol": "TCP"},
    ),
    ("pool-protocol-udp-for-udp-listener", {f"{K_L0}.protocol": "UDP", f"{K_P0}.protocol": "UDP"}),
]


@pytest.mark.parametrize("changes", [c for _, c in ACCEPTED], ids=[i for i, _ in ACCEPTED])
def test_boundary_value_is_accepted(api: Transport, changes: dict[str, Any]) -> None:
    body = changed(valid_body(), changes)
    body["spec"]["network_id"] = f"net-ok-{uuid.uuid4().hex[:8]}"
    body["project_id"] = ACCEPTED_PROJECT
    lb = api.call("CreateLoadBalancer", json_format.ParseDict(body, pb.CreateLoadBalancerRequest()))
    got = _as_json(lb)
    # A listener's default_pool_id comes back as the pool's id; the request named the pool.
    named = [listener.pop("default_pool_id", None) for listener in body["spec"]["listeners"]]
    _subset(body, got)
    pools = {p["id"]: p for p in got["spec"]["pools"]}
    for name, listener in zip(named, got["spec"]["listeners"], strict=True):
        assert listener["default_pool_id"] in pools
        assert name is None or pools[listener["default_pool_id"]]["name"] == name
    assert config_only(api.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id))) == config_only(lb)


def test_zero_means_the_default(api: Transport) -> None:
    """Fields left at zero take the contract's defaults: TCP, ROUND_ROBIN, weight 1, admin up,
    a PING monitor retrying 3 times and healthy after 2 checks; HTTP monitors GET / for 200."""
    body = changed(
        valid_body(),
        {
            f"{K_L0}.protocol": DELETE,
            f"{K_HM}": {"delay": 5, "timeout": 3, "max_retries": 0, "healthy_threshold": 0},
            "spec.pools.1": {"name": "h", "health_monitor": {"type": "HTTP", "delay": 1, "timeout": 1}},
            f"{K_L0}.default_pool_id": "web",
            f"{K_P0}.name": "web",
            "project_id": ACCEPTED_PROJECT,
            "spec.network_id": f"net-ok-{uuid.uuid4().hex[:8]}",
        },
    )
    lb = api.call("CreateLoadBalancer", json_format.ParseDict(body, pb.CreateLoadBalancerRequest()))
    (listener,) = lb.spec.listeners
    web, h = lb.spec.pools
    assert listener.protocol == res.Listener.TCP and listener.default_pool_id == web.id
    assert web.algorithm == res.Pool.ROUND_ROBIN and not web.HasField("protocol")
    assert [(m.weight, m.admin_state_up, m.drain) for m in web.members] == [(1, True, False)] * 2
    got = web.health_monitor
    assert (got.type, got.delay, got.timeout, got.delay_ms, got.timeout_ms) == (
        res.HealthMonitor.PING,
        5,
        3,
        5000,
        3000,
    )
    assert (got.max_retries, got.healthy_threshold, got.http_method, got.url_path) == (3, 2, "", "")
    http = h.health_monitor
    assert (http.http_method, http.url_path, http.expected_codes) == ("GET", "/", "200")


def test_milliseconds_win_over_seconds(api: Transport) -> None:
    """delay_ms / timeout_ms, when set, are the monitor's times; delay / timeout come back as
    those rounded up to whole seconds."""
    body = changed(
        valid_body(),
        {
            **monitor(delay=5, timeout=3, delay_ms=200, timeout_ms=100),
            "project_id": ACCEPTED_PROJECT,
            "spec.network_id": f"net-ok-{uuid.uuid4().hex[:8]}",
        },
    )
    lb = api.call("CreateLoadBalancer", json_format.ParseDict(body, pb.CreateLoadBalancerRequest()))
    got = lb.spec.pools[0].health_monitor
    assert (got.delay_ms, got.timeout_ms, got.delay, got.timeout) == (200, 100, 1, 1)


def test_listener_names_its_pool_by_name_or_the_id_the_client_wrote(api: Transport) -> None:
    body = changed(
        valid_body(),
        {
            "spec.listeners": [
                listener_json("TCP", 80, default_pool_id="mine"),
                listener_json("TCP", 81, default_pool_id="b"),
                listener_json("TCP", 82, default_pool_id="mine"),
            ],
            f"{K_P0}.id": "mine",
            f"{K_P0}.name": "a",
            "spec.pools.1": pool_json("10.2.0.12", name="b"),
            "project_id": ACCEPTED_PROJECT,
            "spec.network_id": f"net-ok-{uuid.uuid4().hex[:8]}",
        },
    )
    lb = api.call("CreateLoadBalancer", json_format.ParseDict(body, pb.CreateLoadBalancerRequest()))
    a, b = lb.spec.pools
    assert (a.name, b.name) == ("a", "b")
    assert a.id != "mine" and a.id.startswith("pool-")  # the server names every pool
    assert [li.default_pool_id for li in lb.spec.listeners] == [a.id, b.id, a.id]


def test_shorthand_agreeing_with_spec_is_accepted(api: Transport) -> None:
    """The flat network_id / vip_address may repeat spec's; flat listeners may name spec.pools."""
    net = f"net-ok-{uuid.uuid4().hex[:8]}"
    body = changed(
        valid_body(),
        {
            "project_id": ACCEPTED_PROJECT,
            "spec.network_id": net,
            "network_id": net,
            "vip_address": "10.2.0.1",
            "spec.listeners": DELETE,
            f"{K_P0}.name": "web",
            "listeners": [listener_json("TCP", 80, default_pool_id="web")],
        },
    )
    lb = api.call("CreateLoadBalancer", json_format.ParseDict(body, pb.CreateLoadBalancerRequest()))
    assert (lb.spec.network_id, lb.spec.vip_address) == (net, "10.2.0.1")
    (pool,) = lb.spec.pools
    assert [(li.port, li.default_pool_id) for li in lb.spec.listeners] == [(80, pool.id)]


def test_design_document_body_is_accepted(api: Transport) -> None:
    body = seed_body(project_id=ACCEPTED_PROJECT)
    lb = api.call("CreateLoadBalancer", json_format.ParseDict(body, pb.CreateLoadBalancerRequest()))
    assert (lb.spec.network_id, lb.spec.vip_address) == (body["network_id"], body["vip_address"])
    (listener,) = lb.spec.listeners
    (pool,) = lb.spec.pools
    assert listener.default_pool_id == pool.id
    assert not listener.HasField("default_pool")  # input only: the pool is in spec.pools
    assert [(m.address, m.port) for m in pool.members] == [("10.0.0.10", 8080), ("10.0.0.11", 8080)]


def test_same_vip_port_in_another_network_is_accepted(api: Transport, base: Base) -> None:
    body = changed(
        valid_body(),
        {
            "project_id": ACCEPTED_PROJECT,
            "spec.network_id": f"net-other-{uuid.uuid4().hex[:8]}",
            "spec.vip_address": "10.1.0.1",
        },
    )
    lb = api.call("CreateLoadBalancer", json_format.ParseDict(body, pb.CreateLoadBalancerRequest()))
    assert (lb.spec.vip_address, lb.spec.listeners[0].port) == (base.lb4.spec.vip_address, base.tcp.port)


def test_same_address_other_port_joins_the_pool(srv: Server, api: Transport) -> None:
    body = changed(
        valid_body(), {"project_id": ACCEPTED_PROJECT, "spec.network_id": f"net-m-{uuid.uuid4().hex[:8]}"}
    )
    lb = srv.stub.CreateLoadBalancer(json_format.ParseDict(body, pb.CreateLoadBalancerRequest()))
    pool = lb.spec.pools[0]
    after = api.call(
        "AddPoolMember",
        pb.AddPoolMemberRequest(
            load_balancer_id=lb.id, pool_id=pool.id, member=res.PoolMember(address="10.2.0.10", port=8081)
        ),
    )
    assert [(m.address, m.port) for m in after.spec.pools[0].members] == [
        ("10.2.0.10", 8080),
        ("10.2.0.11", 8080),
        ("10.2.0.10", 8081),
    ]


def test_a_failed_update_leaves_the_load_balancer_unchanged(
    clients: dict[str, Transport], base: Base
) -> None:
    """A refused change inside an otherwise valid update writes none of the update's fields."""
    get = pb.GetLoadBalancerRequest(id=base.lb4.id)
    for client in clients.values():
        before = client.call("GetLoadBalancer", get)
        failure = client.fail(
            "UpdateListener",
            pb.UpdateListenerRequest(
                load_balancer_id=base.lb4.id,
                listener_id=base.tcp.id,
                name="renamed",
                default_pool_id="spare",
                port=443,  # taken by the TCP:443 listener: the whole update is refused
            ),
        )
        assert failure.code == "INVALID_ARGUMENT"
        failure = client.fail(
            "UpdatePool",
            pb.UpdatePoolRequest(
                load_balancer_id=base.lb4.id,
                pool_id=base.pool.id,
                name="renamed",
                algorithm=res.Pool.SOURCE_IP,
                persistence=res.SessionPersistence(type=res.SessionPersistence.SOURCE_IP, timeout=60),
                health_monitor=res.HealthMonitor(type=res.HealthMonitor.TCP, delay=1, timeout=2),
            ),
        )
        assert failure.code == "INVALID_ARGUMENT"
        assert client.call("GetLoadBalancer", get) == before
        assert config_only(before) == config_only(base.lb4)


# --- oversized requests ---------------------------------------------------------------


def _oversized() -> pb.CreateLoadBalancerRequest:
    req = json_format.ParseDict(valid_body(), pb.CreateLoadBalancerRequest())
    req.description = "x" * (1 << 20)  # the whole request is over 1 MiB
    return req


def test_oversized_request_is_refused(srv: Server, api: Transport) -> None:
    before = snapshot(srv)
    failure = api.fail("CreateLoadBalancer", _oversized())
    assert failure.code == "RESOURCE_EXHAUSTED"
    assert "1048576" in failure.message
    assert snapshot(srv) == before


def test_oversized_rest_body_is_413_even_without_content_length(srv: Server) -> None:
    before = snapshot(srv)
    payload = json.dumps(json_format.MessageToDict(_oversized(), preserving_proto_field_name=True)).encode()

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(payload), 64 * 1024):
            yield payload[i : i + 64 * 1024]

    with httpx.Client(base_url=srv.http_url, timeout=15) as http:
        response = http.post(
            "/api/v1/load-balancers", content=chunks(), headers={"content-type": "application/json"}
        )
    assert "content-length" not in response.request.headers
    assert response.status_code == 413
    assert error_of(response) == Failure("RESOURCE_EXHAUSTED", "request body is larger than 1048576 bytes")
    assert snapshot(srv) == before


# --- JSON bodies: every wrong type is named at its path ----------------------------------


def _not_json(raw: bytes) -> str:
    """What the server says of a body the JSON parser refuses (the parser's own words)."""
    try:
        json.loads(raw)
    except ValueError as exc:
        return f"is not valid JSON: {exc}"
    raise AssertionError(f"{raw!r} is JSON")


def _body(changes: dict[str, Any], start: Callable[[], dict[str, Any]] = valid_body) -> bytes:
    return json.dumps(changed(start(), changes)).encode()


BAD_JSON: list[tuple[str, bytes, Failure]] = [
    (
        "member-port-string",
        _body({f"{K_M1}.port": "eighty"}),
        invalid((f"{M1}.port", WHOLE)),
    ),
    ("member-port-fraction", _body({f"{K_M1}.port": 80.5}), invalid((f"{M1}.port", WHOLE))),
    ("member-port-bool", _body({f"{K_M0}.port": True}), invalid((f"{M0}.port", WHOLE))),
    ("member-port-negative", _body({f"{K_M0}.port": -1}), invalid((f"{M0}.port", UINT32))),
    ("member-port-2-32", _body({f"{K_M0}.port": 2**32}), invalid((f"{M0}.port", UINT32))),
    ("listener-port-string", _body({f"{K_L0}.port": "eighty"}), invalid((f"{L0}.port", WHOLE))),
    ("weight-string", _body({f"{K_M0}.weight": "heavy"}), invalid((f"{M0}.weight", WHOLE))),
    ("delay-fraction", _body({f"{K_HM}.delay": 0.5}), invalid((f"{HM}.delay", WHOLE))),
    ("delay-nan", _body({f"{K_HM}.delay": "NaN"}), invalid((f"{HM}.delay", WHOLE))),
    ("delay-infinity", _body({f"{K_HM}.delay": "Infinity"}), invalid((f"{HM}.delay", WHOLE))),
    ("delay-negative", _body({f"{K_HM}.delay": -1}), invalid((f"{HM}.delay", UINT32))),
    ("delay-a-millisecond", _body({f"{K_HM}.delay": 0.001}), invalid((f"{HM}.delay", WHOLE))),
    ("delay-ms-denormal", _body({f"{K_HM}.delay_ms": 5e-324}), invalid((f"{HM}.delay_ms", WHOLE))),
    ("timeout-ms-string", _body({f"{K_HM}.timeout_ms": "soon"}), invalid((f"{HM}.timeout_ms", WHOLE))),
    ("name-number", _body({"name": 5}), invalid(("name", "must be a string"))),
    ("spec-list", _body({"spec": []}), invalid(("spec", "must be a JSON object"))),
    (
        "listeners-object",
        _body({"spec.listeners": {"port": 80}}),
        invalid(("spec.listeners", "must be a JSON list")),
    ),
    ("listener-number", _body({"spec.listeners": [5]}), invalid((L0, "must be a JSON object"))),
    ("labels-list", _body({"labels": ["a"]}), invalid(("labels", "must be a JSON object"))),
    ("label-value-number", _body({"labels": {"k": 1}}), invalid(("labels['k']", "must be a string"))),
    (
        "admin-state-up-string",
        _body({f"{K_M0}.admin_state_up": "yes"}),
        invalid((f"{M0}.admin_state_up", "must be true or false")),
    ),
    (
        "unknown-protocol-name",
        _body({f"{K_L0}.protocol": "QUIC"}),
        invalid((f"{L0}.protocol", f"unknown value 'QUIC'; {JSON_PROTOCOLS}")),
    ),
    (
        "lowercase-protocol-name",
        _body({f"{K_L0}.protocol": "tcp"}),
        invalid((f"{L0}.protocol", f"unknown value 'tcp'; {JSON_PROTOCOLS}")),
    ),
    (
        "protocol-bool",
        _body({f"{K_L0}.protocol": True}),
        invalid((f"{L0}.protocol", f"must be {JSON_PROTOCOLS}")),
    ),
    (
        "unknown-algorithm-name",
        _body({f"{K_P0}.algorithm": "FASTEST"}),
        invalid((f"{P0}.algorithm", f"unknown value 'FASTEST'; {ALGORITHMS}")),
    ),
    (
        "unknown-monitor-type-name",
        _body({f"{K_HM}.type": "ICMP"}),
        invalid((f"{HM}.type", f"unknown value 'ICMP'; {JSON_MONITOR_TYPES}")),
    ),
    (
        "unknown-persistence-name",
        _body({f"{K_P0}.persistence": {"type": "COOKIE"}}),
        invalid((f"{P0}.persistence.type", f"unknown value 'COOKIE'; {JSON_PERSISTENCE_TYPES}")),
    ),
    (
        "several-types-at-once",
        _body({"name": 5, f"{K_L0}.port": "x", f"{K_M1}.weight": [1]}),
        invalid(("name", "must be a string"), (f"{L0}.port", WHOLE), (f"{M1}.weight", WHOLE)),
    ),
    (
        "shorthand-member-port-string",
        _body({f"{K_SP0}.members.0.port": "eighty"}, shorthand_body),
        invalid((f"{SP0}.members[0].port", WHOLE)),
    ),
    (
        "shorthand-delay-fraction",
        _body({f"{K_SP0}.health_monitor.delay": 2.5}, shorthand_body),
        invalid((f"{SP0}.health_monitor.delay", WHOLE)),
    ),
    (
        "lone-surrogate",
        b'{"name": "\\ud800"}',
        invalid(("name", "must be valid Unicode (no lone surrogates)")),
    ),
    ("truncated", b'{"name": "x"', invalid(("body", _not_json(b'{"name": "x"')))),
    ("not-json", b"name=x", invalid(("body", _not_json(b"name=x")))),
    ("not-utf8", b'{"name": "\xff\xfe"}', invalid(("body", "is not valid UTF-8"))),
    ("nested-too-deeply", b"[" * 100_000 + b"]" * 100_000, invalid(("body", "is nested too deeply"))),
    ("null", b"null", invalid(("body", "must be a JSON object"))),
    ("a-string", b'"lb"', invalid(("body", "must be a JSON object"))),
    ("an-array", b"[]", invalid(("body", "must be a JSON object"))),
]


def _connect_json_error(response: httpx.Response) -> Failure:
    """A Connect unary error body: lower-case code, base64 binary details."""
    assert response.headers["content-type"] == "application/json"
    data = response.json()
    violations: list[tuple[str, str]] = []
    for detail in data.get("details", []):
        if detail["type"] == "google.rpc.BadRequest":
            br = error_details_pb2.BadRequest()
            value = detail["value"]
            br.ParseFromString(base64.b64decode(value + "=" * (-len(value) % 4)))
            violations.extend((v.field, v.description) for v in br.field_violations)
    return Failure(data["code"].upper(), data["message"], tuple(violations))


def _post_both(srv: Server, body: bytes) -> tuple[Failure, Failure]:
    """The same create body to REST and to Connect JSON, both refused with 400."""
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=srv.http_url, timeout=15) as http:
        rest = http.post("/api/v1/load-balancers", content=body, headers=headers)
        connect = http.post(f"{CONNECT_PATH}/CreateLoadBalancer", content=body, headers=headers)
    assert rest.status_code == 400, rest.text
    assert connect.status_code == 400, connect.text
    assert "Traceback" not in rest.text and "Traceback" not in connect.text
    return error_of(rest), _connect_json_error(connect)


@pytest.mark.parametrize(
    ("body", "expected"), [(b, e) for _, b, e in BAD_JSON], ids=[i for i, _, _ in BAD_JSON]
)
def test_bad_json_is_named_at_its_path_alike_on_rest_and_connect(
    srv: Server, body: bytes, expected: Failure
) -> None:
    before = snapshot(srv)
    rest, connect = _post_both(srv, body)
    assert rest == expected
    assert connect == expected
    assert snapshot(srv) == before


def test_duplicate_json_keys_are_refused(srv: Server) -> None:
    """A key given twice is ambiguous (the cloud's protojson refuses it): not last-one-wins."""
    before = snapshot(srv)
    # Were it taken, the create would succeed: where it cannot disturb the other tests.
    start = changed(valid_body(), {"spec.network_id": f"net-dup-{uuid.uuid4().hex[:8]}"})
    body = json.dumps(start | {"project_id": ACCEPTED_PROJECT})[:-1] + ', "name": "other"}'
    rest, connect = _post_both(srv, body.encode())
    assert rest == connect
    assert rest.code == "INVALID_ARGUMENT"
    ((field, description),) = rest.violations
    assert field in ("body", "name") and "duplicate" in description, rest
    assert snapshot(srv) == before


UNKNOWN_FIELDS: list[tuple[str, dict[str, Any], Failure]] = [
    ("top-level", {"colour": "red"}, invalid(("colour", "is not a field of CreateLoadBalancerRequest"))),
    (
        "in-spec",
        {"spec.bogus": 1},
        invalid(("spec.bogus", "is not a field of LoadBalancerSpec")),
    ),
    (
        "old-member-admin-state",
        {f"{K_M0}.admin_state": "ONLINE"},
        invalid((f"{M0}.admin_state", "is not a field of PoolMember")),
    ),
    (
        "old-session-persistence",
        {f"{K_P0}.session_persistence": {"type": "SOURCE_IP"}},
        invalid((f"{P0}.session_persistence", "is not a field of Pool")),
    ),
    (
        "two-at-once",
        {"spec.bogus": 1, "colour": "red"},
        invalid(
            ("spec.bogus", "is not a field of LoadBalancerSpec"),
            ("colour", "is not a field of CreateLoadBalancerRequest"),
        ),
    ),
]


@pytest.mark.parametrize(
    ("changes", "expected"), [(c, e) for _, c, e in UNKNOWN_FIELDS], ids=[i for i, _, _ in UNKNOWN_FIELDS]
)
def test_rest_names_unknown_fields_and_connect_json_ignores_them(
    srv: Server, changes: dict[str, Any], expected: Failure
) -> None:
    body = changed(
        valid_body(),
        {"project_id": ACCEPTED_PROJECT, "spec.network_id": f"net-unk-{uuid.uuid4().hex[:8]}", **changes},
    )
    payload = json.dumps(body).encode()
    headers = {"content-type": "application/json"}
    total = srv.stub.ListLoadBalancers(pb.ListLoadBalancersRequest(page_size=1)).total_count
    with httpx.Client(base_url=srv.http_url, timeout=15) as http:
        rest = http.post("/api/v1/load-balancers", content=payload, headers=headers)
        assert rest.status_code == 400, rest.text
        assert error_of(rest) == expected
        assert srv.stub.ListLoadBalancers(pb.ListLoadBalancersRequest(page_size=1)).total_count == total

        connect = http.post(f"{CONNECT_PATH}/CreateLoadBalancer", content=payload, headers=headers)
    assert connect.status_code == 200, connect.text
    lb = json_format.ParseDict(connect.json(), res.LoadBalancer())
    assert (lb.project_id, lb.spec.network_id) == (ACCEPTED_PROJECT, body["spec"]["network_id"])
    assert [(m.address, m.port) for m in lb.spec.pools[0].members] == [
        ("10.2.0.10", 8080),
        ("10.2.0.11", 8080),
    ]
    assert config_only(srv.stub.GetLoadBalancer(pb.GetLoadBalancerRequest(id=lb.id))) == config_only(lb)


# The other JSON routes: REST's body (the whole request, or one field of it) and the same
# request over Connect JSON, where the body sits under that field's name.
ROUTE_JSON: list[tuple[str, str, str, bytes, Failure]] = [
    ("PUT", "/api/v1/load-balancers/{lb}", "*", b'{"name": ["x"]}', invalid(("name", "must be a string"))),
    (
        "PUT",
        "/api/v1/load-balancers/{lb}",
        "*",
        b'{"labels": {"a": 1}}',
        invalid(("labels['a']", "must be a string")),
    ),
    (
        "POST",
        "/api/v1/load-balancers/{lb}/listeners",
        "listener",
        b'{"protocol": "TCP", "port": "x"}',
        invalid(("listener.port", WHOLE)),
    ),
    (
        "POST",
        "/api/v1/load-balancers/{lb}/listeners",
        "listener",
        b'{"protocol": "QUIC", "port": 90}',
        invalid(("listener.protocol", f"unknown value 'QUIC'; {JSON_PROTOCOLS}")),
    ),
    (
        "POST",
        "/api/v1/load-balancers/{lb}/listeners",
        "listener",
        b'{"port": 90, "default_pool": {"members": [{"address": "10.1.0.40", "port": "x"}]}}',
        invalid(("listener.default_pool.members[0].port", WHOLE)),
    ),
    (
        "PUT",
        "/api/v1/load-balancers/{lb}/listeners/{lis}",
        "*",
        b'{"port": true}',
        invalid(("port", WHOLE)),
    ),
    (
        "PUT",
        "/api/v1/load-balancers/{lb}/listeners/{lis}",
        "*",
        b'{"default_pool_id": 7}',
        invalid(("default_pool_id", "must be a string")),
    ),
    (
        "POST",
        "/api/v1/load-balancers/{lb}/pools",
        "pool",
        b'{"members": {"address": "10.1.0.40"}}',
        invalid(("pool.members", "must be a JSON list")),
    ),
    (
        "POST",
        "/api/v1/load-balancers/{lb}/pools",
        "pool",
        b'{"health_monitor": {"type": "TCP", "delay": 0.5, "timeout": 1}}',
        invalid(("pool.health_monitor.delay", WHOLE)),
    ),
    (
        "PUT",
        "/api/v1/load-balancers/{lb}/pools/{pool}",
        "*",
        b'{"algorithm": "FASTEST"}',
        invalid(("algorithm", f"unknown value 'FASTEST'; {ALGORITHMS}")),
    ),
    (
        "PUT",
        "/api/v1/load-balancers/{lb}/pools/{pool}",
        "*",
        b'{"health_monitor": {"type": "TCP", "delay": "1s", "timeout": 1}, "remove_health_monitor": "no"}',
        invalid(("health_monitor.delay", WHOLE), ("remove_health_monitor", "must be true or false")),
    ),
    (
        "POST",
        "/api/v1/load-balancers/{lb}/pools/{pool}/members",
        "member",
        b'{"address": 10}',
        invalid(("member.address", "must be a string")),
    ),
    (
        "PUT",
        "/api/v1/load-balancers/{lb}/pools/{pool}/members/{mem}",
        "*",
        b'{"weight": -1, "drain": "yes"}',
        invalid(("weight", UINT32), ("drain", "must be true or false")),
    ),
]
_RPC_OF = {
    ("PUT", "/api/v1/load-balancers/{lb}"): "UpdateLoadBalancer",
    ("POST", "/api/v1/load-balancers/{lb}/listeners"): "AddListener",
    ("PUT", "/api/v1/load-balancers/{lb}/listeners/{lis}"): "UpdateListener",
    ("POST", "/api/v1/load-balancers/{lb}/pools"): "AddPool",
    ("PUT", "/api/v1/load-balancers/{lb}/pools/{pool}"): "UpdatePool",
    ("POST", "/api/v1/load-balancers/{lb}/pools/{pool}/members"): "AddPoolMember",
    ("PUT", "/api/v1/load-balancers/{lb}/pools/{pool}/members/{mem}"): "UpdatePoolMember",
}


@pytest.mark.parametrize(
    ("method", "path", "field", "body", "expected"),
    ROUTE_JSON,
    ids=[f"{m}-{p.rsplit('/', 1)[-1].strip('{}')}-{i}" for i, (m, p, *_) in enumerate(ROUTE_JSON)],
)
def test_json_write_routes_name_bad_fields_alike_on_rest_and_connect(
    srv: Server, base: Base, method: str, path: str, field: str, body: bytes, expected: Failure
) -> None:
    before = snapshot(srv)
    ids = {"lb": base.lb4.id, "lis": base.tcp.id, "pool": base.pool.id, "mem": base.pool.members[0].id}
    # The Connect request carries the path's ids in the message, and a field's body under its name.
    rpc = _RPC_OF[(method, path)]
    names = {"lis": "listener_id", "pool": "pool_id", "mem": "member_id"}
    names["lb"] = "id" if rpc == "UpdateLoadBalancer" else "load_balancer_id"
    fields = {names[k]: v for k, v in ids.items() if f"{{{k}}}" in path}
    inner = json.loads(body)
    message = {**fields, **inner} if field == "*" else {**fields, field: inner}
    with httpx.Client(base_url=srv.http_url, timeout=15) as http:
        rest = http.request(
            method, path.format(**ids), content=body, headers={"content-type": "application/json"}
        )
        connect = http.post(
            f"{CONNECT_PATH}/{rpc}", json=message, headers={"content-type": "application/json"}
        )
    assert rest.status_code == 400, rest.text
    assert error_of(rest) == expected
    assert connect.status_code == 400, connect.text
    assert _connect_json_error(connect) == expected
    assert snapshot(srv) == before


@pytest.mark.parametrize(
    ("method", "path", "body", "expected"),
    [
        ("PUT", "/api/v1/load-balancers/{lb}", b'{"nmae": "x"}', ("nmae", "UpdateLoadBalancerRequest")),
        (
            "POST",
            "/api/v1/load-balancers/{lb}/listeners",
            b'{"listener": {"protocol": "TCP", "port": 90}}',
            ("listener.listener", "Listener"),
        ),
        (
            "PUT",
            "/api/v1/load-balancers/{lb}/pools/{pool}",
            b'{"session_persistence": {"type": "SOURCE_IP"}}',
            ("session_persistence", "UpdatePoolRequest"),
        ),
        (
            "PUT",
            "/api/v1/load-balancers/{lb}/pools/{pool}/members/{mem}",
            b'{"admin_state": "DRAIN"}',
            ("admin_state", "UpdatePoolMemberRequest"),
        ),
    ],
)
def test_rest_write_routes_name_unknown_fields(
    srv: Server, base: Base, method: str, path: str, body: bytes, expected: tuple[str, str]
) -> None:
    before = snapshot(srv)
    url = path.format(lb=base.lb4.id, pool=base.pool.id, mem=base.pool.members[0].id)
    with httpx.Client(base_url=srv.http_url, timeout=15) as http:
        response = http.request(method, url, content=body, headers={"content-type": "application/json"})
    field, message = expected
    assert error_of(response) == invalid((field, f"is not a field of {message}"))
    assert snapshot(srv) == before


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"page_size": "ten"}, ("page_size", WHOLE)),
        ({"page_size": "99999999999"}, ("page_size", "must be from -2147483648 to 2147483647")),
        ({"colour": "red"}, ("colour", "is not a field of ListLoadBalancersRequest")),
        ({"page_size": "-1"}, ("page_size", "must not be negative")),
    ],
)
def test_rest_query_parameters_are_checked(
    srv: Server, query: dict[str, str], expected: tuple[str, str]
) -> None:
    response = httpx.get(f"{srv.http_url}/api/v1/load-balancers", params=query, timeout=15)
    assert response.status_code == 400
    assert error_of(response) == invalid(expected)


def test_rest_body_on_a_get_is_refused(srv: Server, base: Base) -> None:
    response = httpx.request(
        "GET", f"{srv.http_url}/api/v1/load-balancers/{base.lb4.id}", content=b'{"id": "x"}', timeout=15
    )
    assert error_of(response) == invalid(("body", "this method takes no request body"))


def test_rest_unknown_route_answers_json_404(srv: Server) -> None:
    missing = httpx.get(f"{srv.http_url}/api/v1/pools", timeout=15)
    assert missing.status_code == 404
    assert missing.json() == {"code": "NOT_FOUND", "message": "GET /api/v1/pools: Not Found", "details": []}


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PATCH", "/api/v1/load-balancers/{lb}", {"GET", "HEAD", "PUT", "DELETE"}),
        ("POST", "/api/v1/load-balancers/{lb}", {"GET", "HEAD", "PUT", "DELETE"}),
        ("DELETE", "/api/v1/load-balancers", {"GET", "HEAD", "POST"}),
        ("PUT", "/api/v1/load-balancers", {"GET", "HEAD", "POST"}),
        ("GET", "/api/v1/load-balancers/{lb}/listeners", {"POST"}),
        ("DELETE", "/api/v1/load-balancers/{lb}/pools", {"POST"}),
        ("GET", "/api/v1/load-balancers/{lb}/pools/{pool}", {"PUT", "DELETE"}),
        ("POST", "/api/v1/load-balancers/{lb}/pools/{pool}/members/{mem}", {"PUT", "DELETE"}),
        ("POST", "/api/v1/load-balancers/{lb}/stats", {"GET", "HEAD"}),
    ],
)
def test_rest_unsupported_method_is_405_unimplemented_with_allow(
    srv: Server, base: Base, method: str, path: str, allowed: set[str]
) -> None:
    before = snapshot(srv)
    url = path.format(lb=base.lb4.id, pool=base.pool.id, mem=base.pool.members[0].id)
    response = httpx.request(method, f"{srv.http_url}{url}", json={"name": "x"}, timeout=15)
    assert response.status_code == 405, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "code": "UNIMPLEMENTED",
        "message": f"{method} {url}: Method Not Allowed",
        "details": [],
    }
    assert {v.strip() for v in response.headers["allow"].split(",")} == allowed
    assert snapshot(srv) == before


def test_corrupt_protobuf_is_invalid_argument_on_grpc_and_connect(srv: Server) -> None:
    garbage = b"\xff\xff\xff\xff"
    before = snapshot(srv)
    with grpc.insecure_channel(srv.grpc_addr) as channel:
        call = channel.unary_unary(f"{CONNECT_PATH}/CreateLoadBalancer")
        with pytest.raises(grpc.RpcError) as raised:
            call(garbage, timeout=15)
    err = raised.value
    assert isinstance(err, grpc.Call)
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    message = err.details()
    assert message.startswith("body: ") and "CreateLoadBalancerRequest" in message

    response = httpx.post(
        f"{srv.http_url}{CONNECT_PATH}/CreateLoadBalancer",
        content=garbage,
        headers={"content-type": "application/proto"},
        timeout=15,
    )
    assert response.status_code == 400
    assert _connect_json_error(response) == invalid(("body", message.removeprefix("body: ")))
    assert snapshot(srv) == before


def test_errors_carry_bad_request_details_on_grpc(srv: Server) -> None:
    """The gRPC status details are google.rpc.Status with the same code and message."""
    with pytest.raises(grpc.RpcError) as raised:
        srv.stub.CreateLoadBalancer(pb.CreateLoadBalancerRequest(), timeout=15)
    err = raised.value
    assert isinstance(err, grpc.Call)
    status = rpc_status.from_call(err)
    assert status is not None
    assert (status.code, status.message) == (grpc.StatusCode.INVALID_ARGUMENT.value[0], err.details())
    (detail,) = status.details
    br = error_details_pb2.BadRequest()
    assert detail.Unpack(br)
    assert [v.field for v in br.field_violations] == ["project_id", "spec.network_id", "spec.vip_address"]


def test_no_failure_message_leaks_internals(clients: dict[str, Transport], base: Base) -> None:
    """A sample of bad requests: messages name fields, never Python internals."""
    for client in clients.values():
        for rpc, build in [
            ("CreateLoadBalancer", create({"spec.vip_address": "1.2.3"})),
            ("CreateLoadBalancer", create({f"{K_L0}.default_pool_id": "nope"})),
            ("UpdatePoolMember", update_member(weight=1000)),
            ("UpdatePool", update_pool(health_monitor=hm(type=99))),
            ("RemovePool", remove_pool("web")),
        ]:
            req = _resolve(build, base)
            try:
                client.call(rpc, req)
            except CallFailed as exc:
                assert not re.search(r"Traceback|File \"|Exception|Error\b", exc.failure.message), exc.failure
            else:
                pytest.fail(f"{rpc} succeeded")
