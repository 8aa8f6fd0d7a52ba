"""Every validation rule of issue 2, through a real server, on every transport.

Each refused request is sent over gRPC, Connect (binary and JSON) and REST; all four must
answer the same code, message and google.rpc.BadRequest field violations (REST with the
README's HTTP status), and the stored state must be exactly what it was before. Boundary
values on the accepted side of each rule are created successfully.
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
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from lbclients import (
    CallFailed,
    Failure,
    Inexpressible,
    Transport,
    all_load_balancers,
    error_of,
)

from conftest import Server
from limiquantix.network.v1 import network_service_pb2 as pb

CONNECT_PATH = "/limiquantix.network.v1.LoadBalancerService"

PORT = "must be a port from 1 to 65535"
WEIGHT = "must be from 0 to 256"
NAME = "must be at most 255 characters"
DESCRIPTION = "must be at most 1024 characters"
REQUIRED = "is required"
ONE_TO_TEN = "must be from 1 to 10"
DELAY = "must be greater than 0 seconds"
TIMEOUT = "must be greater than 0 and at most delay"
METHOD = "must be one of DELETE GET HEAD OPTIONS PATCH POST PUT"
URL_PATH = 'must start with "/" (at most 2048 characters)'
CODES_FORM = 'must look like "200", "200-299" or "200,202,204"'
CODES_RANGE = "codes must be from 100 to 599"
PROTOCOLS = "one of TCP, UDP, SCTP, HTTP, HTTPS"
ALGORITHMS = "one of ROUND_ROBIN, LEAST_CONNECTIONS, SOURCE_IP, SOURCE_IP_PORT"
ADMIN_STATES = "one of ONLINE, OFFLINE, DRAIN"
MONITOR_TYPES = "one of TCP, HTTP, HTTPS, UDP_CONNECT"

L0 = "listeners[0]"
P0 = f"{L0}.default_pool"
M0 = f"{P0}.members[0]"
HM = f"{P0}.health_monitor"


def invalid(*violations: tuple[str, str]) -> Failure:
    """INVALID_ARGUMENT as the README shows it: the first violation, and how many more."""
    field, description = violations[0]
    more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
    return Failure("INVALID_ARGUMENT", f"{field}: {description}{more}", tuple(violations))


# --- the module's server and the load balancers the cases refer to ------------------------


@dataclass(frozen=True)
class Base:
    net4: str
    lb4: pb.LoadBalancer  # VIP 10.1.0.1: TCP:80 (2 members, HTTP monitor), UDP:53, TCP:443
    twin4: pb.LoadBalancer  # same network and VIP as lb4, TCP:81
    lb6: pb.LoadBalancer  # VIP 2001:db8::1, TCP:80 with member [2001:db8::10]:80
    full: pb.LoadBalancer  # 64 listeners; the first pool has 1024 members

    @property
    def tcp(self) -> pb.Listener:
        return self.lb4.listeners[0]

    @property
    def pool(self) -> pb.Pool:
        return self.lb4.listeners[0].default_pool


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


def _create(srv: Server, body: dict[str, Any]) -> pb.LoadBalancer:
    return srv.stub.CreateLoadBalancer(
        json_format.ParseDict(body, pb.CreateLoadBalancerRequest()), timeout=30
    )


@pytest.fixture(scope="module")
def base(srv: Server) -> Base:
    net4, net6 = f"net-val4-{uuid.uuid4().hex[:8]}", f"net-val6-{uuid.uuid4().hex[:8]}"
    monitor = {"type": "HTTP", "delay": 5, "timeout": 3, "url_path": "/health"}
    lb4 = _create(
        srv,
        {
            "name": "base4",
            "project_id": "proj-val",
            "network_id": net4,
            "vip_address": "10.1.0.1",
            "listeners": [
                {
                    "protocol": "TCP",
                    "port": 80,
                    "default_pool": {
                        "members": [
                            {"address": "10.1.0.10", "port": 8080},
                            {"address": "10.1.0.11", "port": 8080},
                        ],
                        "health_monitor": monitor,
                    },
                },
                {
                    "protocol": "UDP",
                    "port": 53,
                    "default_pool": {"members": [{"address": "10.1.0.12", "port": 53}]},
                },
                {"protocol": "TCP", "port": 443, "default_pool": {}},
            ],
        },
    )
    twin4 = _create(
        srv,
        {
            "name": "twin4",
            "project_id": "proj-val",
            "network_id": net4,
            "vip_address": "10.1.0.1",
            "listeners": [{"protocol": "TCP", "port": 81, "default_pool": {}}],
        },
    )
    lb6 = _create(
        srv,
        {
            "project_id": "proj-val",
            "network_id": net6,
            "vip_address": "2001:db8::1",
            "listeners": [
                {
                    "protocol": "TCP",
                    "port": 80,
                    "default_pool": {"members": [{"address": "2001:db8::10", "port": 80}]},
                }
            ],
        },
    )
    members = [{"address": f"10.4.{i // 250}.{i % 250 + 1}", "port": 80} for i in range(1024)]
    full = _create(
        srv,
        {
            "project_id": "proj-full",  # big: kept out of the per-case state read (see `state`)
            "network_id": f"net-full-{uuid.uuid4().hex[:8]}",
            "vip_address": "10.4.255.1",
            "listeners": [
                {"protocol": "TCP", "port": 1000 + i, "default_pool": {"members": members if i == 0 else []}}
                for i in range(64)
            ],
        },
    )
    assert len(full.listeners[0].default_pool.members) == 1024
    return Base(net4, lb4, twin4, lb6, full)


# --- request builders --------------------------------------------------------------------


def valid_body() -> dict[str, Any]:
    return {
        "name": "lb",
        "project_id": "proj-val",
        "network_id": "net-val-new",
        "vip_address": "10.2.0.1",
        "listeners": [
            {
                "protocol": "TCP",
                "port": 80,
                "default_pool": {
                    "members": [{"address": "10.2.0.10", "port": 8080}],
                    "health_monitor": {"type": "HTTP", "delay": 5, "timeout": 3},
                },
            }
        ],
    }


def put(doc: Any, path: str, value: Any) -> None:
    """Sets a dotted path ('listeners.0.port'); the value DELETE removes the key."""
    *parents, last = path.split(".")
    for key in parents:
        doc = doc[int(key)] if isinstance(doc, list) else doc.setdefault(key, {})
    if isinstance(doc, list):
        doc[int(last)] = value
    elif value is DELETE:
        doc.pop(last, None)
    else:
        doc[last] = value


DELETE = object()


def create(
    changes: dict[str, Any] | None = None, body: dict[str, Any] | None = None
) -> Callable[[Base], Message]:
    def build(_: Base) -> Message:
        doc = copy.deepcopy(body if body is not None else valid_body())
        for path, value in (changes or {}).items():
            put(doc, path, value)
        return json_format.ParseDict(doc, pb.CreateLoadBalancerRequest())

    return build


def listener_json(protocol: str, port: int, *members: tuple[str, int]) -> dict[str, Any]:
    return {
        "protocol": protocol,
        "port": port,
        "default_pool": {"members": [{"address": a, "port": p} for a, p in members]},
    }


def request(kind: type[Message], fields: Callable[[Base], dict[str, Any]]) -> Callable[[Base], Message]:
    return lambda b: json_format.ParseDict(fields(b), kind())


def add_listener(listener: dict[str, Any] | None, lb: str = "lb4") -> Callable[[Base], Message]:
    def fields(b: Base) -> dict[str, Any]:
        out: dict[str, Any] = {"load_balancer_id": getattr(b, lb).id}
        if listener is not None:
            out["listener"] = listener
        return out

    return request(pb.AddListenerRequest, fields)


def update_listener(**changes: Any) -> Callable[[Base], Message]:
    return request(
        pb.UpdateListenerRequest, lambda b: {"load_balancer_id": b.lb4.id, "listener_id": b.tcp.id, **changes}
    )


def add_member(member: dict[str, Any] | None, lb: str = "lb4") -> Callable[[Base], Message]:
    def fields(b: Base) -> dict[str, Any]:
        target = getattr(b, lb)
        out: dict[str, Any] = {"load_balancer_id": target.id, "pool_id": target.listeners[0].default_pool.id}
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


@dataclass(frozen=True)
class Case:
    id: str
    rpc: str
    build: Callable[[Base], Message]
    expected: Failure | Callable[[Base], Failure]


def monitor(**fields: Any) -> dict[str, Any]:
    """Changes to the first pool's health monitor (DELETE leaves a field out)."""
    hm = {"type": "HTTP", "delay": 5, "timeout": 3} | fields
    return {"listeners.0.default_pool.health_monitor": {k: v for k, v in hm.items() if v is not DELETE}}


def in_use(where: str, address: str, port: int, proto: str) -> Callable[[Base], Failure]:
    return lambda b: Failure(
        "ALREADY_EXISTS", f"{where}: {address} port {port}/{proto} is already in use on network {b.net4!r}"
    )


CASES = [
    # --- addresses: valid IPv4/IPv6, one family ---
    Case(
        "vip-not-ip",
        "CreateLoadBalancer",
        create({"vip_address": "not-an-ip"}),
        invalid(("vip_address", "'not-an-ip' is not a valid IPv4 or IPv6 address")),
    ),
    Case(
        "vip-bad-octet",
        "CreateLoadBalancer",
        create({"vip_address": "10.0.0.256"}),
        invalid(("vip_address", "'10.0.0.256' is not a valid IPv4 or IPv6 address")),
    ),
    Case(
        "vip-bad-ipv6",
        "CreateLoadBalancer",
        create({"vip_address": "2001:db8::1::2"}),
        invalid(("vip_address", "'2001:db8::1::2' is not a valid IPv4 or IPv6 address")),
    ),
    Case(
        "vip-multicast",
        "CreateLoadBalancer",
        create({"vip_address": "224.0.0.1"}),
        invalid(("vip_address", "'224.0.0.1' cannot be used as a unicast address")),
    ),
    Case(
        "vip-unspecified-v6",
        "CreateLoadBalancer",
        create({"vip_address": "::"}),
        invalid(("vip_address", "'::' cannot be used as a unicast address")),
    ),
    Case(
        "vip-missing",
        "CreateLoadBalancer",
        create({"vip_address": DELETE}),
        invalid(("vip_address", REQUIRED)),
    ),
    Case(
        "member-not-ip",
        "CreateLoadBalancer",
        create({"listeners.0.default_pool.members.0.address": "10.2.0.300"}),
        invalid((f"{M0}.address", "'10.2.0.300' is not a valid IPv4 or IPv6 address")),
    ),
    Case(
        "member-address-missing",
        "CreateLoadBalancer",
        create({"listeners.0.default_pool.members.0.address": DELETE}),
        invalid((f"{M0}.address", REQUIRED)),
    ),
    Case(
        "member-v6-vip-v4",
        "CreateLoadBalancer",
        create({"listeners.0.default_pool.members.0.address": "fd00::5"}),
        invalid((f"{M0}.address", "is IPv6 but the VIP is IPv4")),
    ),
    Case(
        "member-v4-vip-v6",
        "CreateLoadBalancer",
        create({"vip_address": "fd00::1"}),
        invalid((f"{M0}.address", "is IPv4 but the VIP is IPv6")),
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
        add_listener(listener_json("TCP", 90, ("fd00::5", 80))),
        invalid(("listener.default_pool.members[0].address", "is IPv6 but the VIP is IPv4")),
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
        create({"listeners.0.port": DELETE}),
        invalid((f"{L0}.port", PORT)),
    ),
    Case(
        "listener-port-65536",
        "CreateLoadBalancer",
        create({"listeners.0.port": 65536}),
        invalid((f"{L0}.port", PORT)),
    ),
    Case(
        "member-port-0",
        "CreateLoadBalancer",
        create({"listeners.0.default_pool.members.0.port": 0}),
        invalid((f"{M0}.port", PORT)),
    ),
    Case(
        "member-port-70000",
        "CreateLoadBalancer",
        create({"listeners.0.default_pool.members.0.port": 70000}),
        invalid((f"{M0}.port", PORT)),
    ),
    Case(
        "add-listener-port-0",
        "AddListener",
        add_listener({"protocol": "TCP"}),
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
    # --- weight 0-256 ---
    Case(
        "weight-257",
        "CreateLoadBalancer",
        create({"listeners.0.default_pool.members.0.weight": 257}),
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
        create({"listeners": [valid_body()["listeners"][0], listener_json("HTTP", 80)]}),
        invalid(("listeners[1].port", "port 80/tcp is already used by listeners[0] (TCP)")),
    ),
    Case(
        "create-udp-twice",
        "CreateLoadBalancer",
        create(
            {"listeners": [listener_json("UDP", 53), listener_json("SCTP", 53), listener_json("UDP", 53)]}
        ),
        invalid(("listeners[2].port", "port 53/udp is already used by listeners[0] (UDP)")),
    ),
    Case(
        "add-listener-same-tcp",
        "AddListener",
        add_listener(listener_json("TCP", 80)),
        lambda b: invalid(("listener.port", f"port 80/tcp is already used by listener {b.tcp.id} (TCP)")),
    ),
    Case(
        "add-listener-https-on-tcp",
        "AddListener",
        add_listener(listener_json("HTTPS", 443)),
        lambda b: invalid(
            ("listener.port", f"port 443/tcp is already used by listener {b.lb4.listeners[2].id} (TCP)")
        ),
    ),
    Case(
        "add-listener-same-udp",
        "AddListener",
        add_listener(listener_json("UDP", 53)),
        lambda b: invalid(
            ("listener.port", f"port 53/udp is already used by listener {b.lb4.listeners[1].id} (UDP)")
        ),
    ),
    Case(
        "update-listener-onto-other-port",
        "UpdateListener",
        update_listener(port=443),
        lambda b: invalid(
            ("port", f"port 443/tcp is already used by listener {b.lb4.listeners[2].id} (TCP)")
        ),
    ),
    # --- a VIP:port:protocol is unique within a network (ALREADY_EXISTS) ---
    Case(
        "create-vip-port-taken",
        "CreateLoadBalancer",
        create(
            body={
                "project_id": "p",
                "network_id": "{net4}",
                "vip_address": "10.1.0.1",
                "listeners": [listener_json("SCTP", 80), listener_json("TCP", 80)],
            }
        ),
        in_use("listeners[1]", "10.1.0.1", 80, "tcp"),
    ),
    Case(
        "create-vip-port-taken-http",
        "CreateLoadBalancer",
        create(
            body={
                "project_id": "p",
                "network_id": "{net4}",
                "vip_address": "10.1.0.1",
                "listeners": [listener_json("HTTP", 81)],
            }
        ),
        in_use("listeners[0]", "10.1.0.1", 81, "tcp"),
    ),
    Case(
        "create-vip-port-taken-udp",
        "CreateLoadBalancer",
        create(
            body={
                "project_id": "p",
                "network_id": "{net4}",
                "vip_address": "10.1.0.1",
                "listeners": [listener_json("UDP", 53)],
            }
        ),
        in_use("listeners[0]", "10.1.0.1", 53, "udp"),
    ),
    Case(
        "create-vip-port-taken-ipv6-spelling",
        "CreateLoadBalancer",
        create(
            body={
                "project_id": "p",
                "network_id": "{net6}",
                "vip_address": "2001:DB8:0::1",
                "listeners": [listener_json("TCP", 80)],
            }
        ),
        lambda b: Failure(
            "ALREADY_EXISTS",
            f"listeners[0]: 2001:db8::1 port 80/tcp is already in use on network {b.lb6.network_id!r}",
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
            lambda b: {"load_balancer_id": b.twin4.id, "listener_id": b.twin4.listeners[0].id, "port": 443},
        ),
        in_use("port", "10.1.0.1", 443, "tcp"),
    ),
    # --- a member address:port is unique within a pool ---
    Case(
        "create-duplicate-member",
        "CreateLoadBalancer",
        create(
            {
                "listeners.0.default_pool.members": [
                    {"address": "10.2.0.10", "port": 80},
                    {"address": "10.2.0.11", "port": 80},
                    {"address": "10.2.0.10", "port": 80},
                ]
            }
        ),
        invalid((f"{P0}.members[2]", "10.2.0.10 port 80 is already member [0] of this pool")),
    ),
    Case(
        "create-duplicate-member-ipv6-spelling",
        "CreateLoadBalancer",
        create(
            {
                "vip_address": "fd00::1",
                "listeners.0.default_pool.members": [
                    {"address": "fd00::a", "port": 80},
                    {"address": "FD00:0::A", "port": 80},
                ],
            }
        ),
        invalid((f"{P0}.members[1]", "fd00::a port 80 is already member [0] of this pool")),
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
            f"{b.lb6.listeners[0].default_pool.members[0].id} of pool "
            f"{b.lb6.listeners[0].default_pool.id}",
        ),
    ),
    # --- health monitor ---
    Case(
        "delay-0",
        "CreateLoadBalancer",
        create(monitor(delay=0)),
        invalid((f"{HM}.delay", DELAY), (f"{HM}.timeout", TIMEOUT)),
    ),
    Case(
        "delay-negative",
        "CreateLoadBalancer",
        create(monitor(delay=-1, timeout=-2)),
        invalid((f"{HM}.delay", DELAY), (f"{HM}.timeout", TIMEOUT)),
    ),
    Case(
        "delay-nan",
        "CreateLoadBalancer",
        create(monitor(delay="NaN")),
        invalid((f"{HM}.delay", DELAY), (f"{HM}.timeout", TIMEOUT)),
    ),
    Case(
        "delay-infinite",
        "CreateLoadBalancer",
        create(monitor(delay="Infinity")),
        invalid((f"{HM}.delay", "must be a finite number of seconds")),
    ),
    Case("timeout-0", "CreateLoadBalancer", create(monitor(timeout=0)), invalid((f"{HM}.timeout", TIMEOUT))),
    Case(
        "timeout-over-delay",
        "CreateLoadBalancer",
        create(monitor(delay=1, timeout=1.5)),
        invalid((f"{HM}.timeout", TIMEOUT)),
    ),
    Case(
        "max-retries-0",
        "CreateLoadBalancer",
        create(monitor(max_retries=0)),
        invalid((f"{HM}.max_retries", ONE_TO_TEN)),
    ),
    Case(
        "max-retries-11",
        "CreateLoadBalancer",
        create(monitor(max_retries=11)),
        invalid((f"{HM}.max_retries", ONE_TO_TEN)),
    ),
    Case(
        "healthy-threshold-0",
        "CreateLoadBalancer",
        create(monitor(healthy_threshold=0)),
        invalid((f"{HM}.healthy_threshold", ONE_TO_TEN)),
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
        "http-fields-on-tcp-monitor",
        "CreateLoadBalancer",
        create(monitor(type="TCP", url_path="/x")),
        invalid((f"{HM}.url_path", "applies only to HTTP and HTTPS monitors, not TCP")),
    ),
    Case(
        "monitor-type-missing",
        "CreateLoadBalancer",
        create(monitor(type=DELETE)),
        invalid((f"{HM}.type", f"is required ({MONITOR_TYPES})")),
    ),
    Case(
        "add-listener-bad-monitor",
        "AddListener",
        add_listener(
            {
                "protocol": "TCP",
                "port": 90,
                "default_pool": {"health_monitor": {"type": "TCP", "delay": 2, "timeout": 3}},
            }
        ),
        invalid(("listener.default_pool.health_monitor.timeout", TIMEOUT)),
    ),
    Case(
        "update-monitor-timeout",
        "UpdateListener",
        update_listener(health_monitor={"type": "TCP", "delay": 1, "timeout": 2}),
        invalid(("health_monitor.timeout", TIMEOUT)),
    ),
    Case(
        "update-monitor-max-retries",
        "UpdateListener",
        update_listener(health_monitor={"type": "TCP", "delay": 1, "timeout": 1, "max_retries": 11}),
        invalid(("health_monitor.max_retries", ONE_TO_TEN)),
    ),
    Case(
        "update-monitor-method",
        "UpdateListener",
        update_listener(health_monitor={"type": "HTTP", "delay": 1, "timeout": 1, "http_method": "BREW"}),
        invalid(("health_monitor.http_method", METHOD)),
    ),
    Case(
        "update-monitor-codes",
        "UpdateListener",
        update_listener(health_monitor={"type": "HTTPS", "delay": 1, "timeout": 1, "expected_codes": "2000"}),
        invalid(("health_monitor.expected_codes", CODES_FORM)),
    ),
    Case(
        "update-monitor-and-remove",
        "UpdateListener",
        update_listener(health_monitor={"type": "TCP", "delay": 1, "timeout": 1}, remove_health_monitor=True),
        invalid(("remove_health_monitor", "cannot be set together with health_monitor")),
    ),
    # --- session persistence ---
    Case(
        "persistence-timeout-65536",
        "CreateLoadBalancer",
        create({"listeners.0.default_pool.session_persistence": {"type": "SOURCE_IP", "timeout": 65536}}),
        invalid((f"{P0}.session_persistence.timeout", "must be from 1 to 65535 seconds")),
    ),
    Case(
        "update-persistence-timeout",
        "UpdateListener",
        update_listener(session_persistence={"type": "SOURCE_IP", "timeout": 70000}),
        invalid(("session_persistence.timeout", "must be from 1 to 65535 seconds")),
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
        create({"network_id": "n" * 256}),
        invalid(("network_id", NAME)),
    ),
    Case(
        "listener-name-256",
        "CreateLoadBalancer",
        create({"listeners.0.name": "l" * 256}),
        invalid((f"{L0}.name", NAME)),
    ),
    Case(
        "pool-name-256",
        "CreateLoadBalancer",
        create({"listeners.0.default_pool.name": "p" * 256}),
        invalid((f"{P0}.name", NAME)),
    ),
    Case(
        "member-name-256",
        "CreateLoadBalancer",
        create({"listeners.0.default_pool.members.0.name": "m" * 256}),
        invalid((f"{M0}.name", NAME)),
    ),
    Case(
        "update-lb-name-256",
        "UpdateLoadBalancer",
        request(pb.UpdateLoadBalancerRequest, lambda b: {"id": b.lb4.id, "name": "n" * 256}),
        invalid(("name", NAME)),
    ),
    Case(
        "update-lb-description-1025",
        "UpdateLoadBalancer",
        request(pb.UpdateLoadBalancerRequest, lambda b: {"id": b.lb4.id, "description": "d" * 1025}),
        invalid(("description", DESCRIPTION)),
    ),
    Case(
        "update-listener-name-256", "UpdateListener", update_listener(name="l" * 256), invalid(("name", NAME))
    ),
    Case(
        "add-member-name-256",
        "AddPoolMember",
        add_member({"address": "10.1.0.20", "port": 80, "name": "m" * 256}),
        invalid(("member.name", NAME)),
    ),
    Case(
        "update-member-name-256", "UpdatePoolMember", update_member(name="m" * 256), invalid(("name", NAME))
    ),
    # --- limits: 64 listeners per load balancer, 1024 members per pool ---
    Case(
        "create-65-listeners",
        "CreateLoadBalancer",
        create({"listeners": [listener_json("TCP", 2000 + i) for i in range(65)]}),
        invalid(("listeners", "at most 64 listeners per load balancer")),
    ),
    Case(
        "create-1025-members",
        "CreateLoadBalancer",
        create(
            {
                "listeners.0.default_pool.members": [
                    {"address": f"10.2.{i // 250}.{i % 250 + 1}", "port": 80} for i in range(1025)
                ]
            }
        ),
        invalid((f"{P0}.members", "at most 1024 members per pool")),
    ),
    Case(
        "add-65th-listener",
        "AddListener",
        add_listener(listener_json("UDP", 1), lb="full"),
        invalid(("listener", "at most 64 listeners per load balancer")),
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
        invalid(("project_id", REQUIRED), ("network_id", REQUIRED), ("vip_address", REQUIRED)),
    ),
    Case(
        "listener-protocol-missing",
        "CreateLoadBalancer",
        create({"listeners.0.protocol": DELETE}),
        invalid((f"{L0}.protocol", f"is required ({PROTOCOLS})")),
    ),
    Case("add-listener-missing", "AddListener", add_listener(None), invalid(("listener", REQUIRED))),
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
        lambda b: pb.AddListenerRequest(listener=pb.Listener(protocol=pb.Listener.TCP, port=99)),
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
        "add-member-pool-missing",
        "AddPoolMember",
        lambda b: pb.AddPoolMemberRequest(
            load_balancer_id=b.lb4.id, member=pb.Member(address="10.1.0.9", port=1)
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
        create({"listeners.0.protocol": 99}),
        invalid((f"{L0}.protocol", f"unknown value 99; {PROTOCOLS}")),
    ),
    Case(
        "algorithm-99",
        "CreateLoadBalancer",
        create({"listeners.0.default_pool.algorithm": 99}),
        invalid((f"{P0}.algorithm", f"unknown value 99; {ALGORITHMS}")),
    ),
    Case(
        "admin-state-99",
        "CreateLoadBalancer",
        create({"listeners.0.default_pool.members.0.admin_state": 99}),
        invalid((f"{M0}.admin_state", f"unknown value 99; {ADMIN_STATES}")),
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
        create({"listeners.0.default_pool.session_persistence": {"type": 99}}),
        invalid((f"{P0}.session_persistence.type", "unknown value 99; one of NONE, SOURCE_IP")),
    ),
    Case(
        "add-listener-protocol-7",
        "AddListener",
        add_listener({"protocol": 7, "port": 99}),
        invalid(("listener.protocol", f"unknown value 7; {PROTOCOLS}")),
    ),
    Case(
        "update-listener-algorithm-99",
        "UpdateListener",
        update_listener(algorithm=99),
        invalid(("algorithm", f"unknown value 99; {ALGORITHMS}")),
    ),
    Case(
        "update-listener-algorithm-unspecified",
        "UpdateListener",
        update_listener(algorithm=0),
        invalid(("algorithm", f"is required ({ALGORITHMS})")),
    ),
    Case(
        "add-member-admin-state-99",
        "AddPoolMember",
        add_member({"address": "10.1.0.20", "port": 80, "admin_state": 99}),
        invalid(("member.admin_state", f"unknown value 99; {ADMIN_STATES}")),
    ),
    Case(
        "update-member-admin-state-99",
        "UpdatePoolMember",
        update_member(admin_state=99),
        invalid(("admin_state", f"unknown value 99; {ADMIN_STATES}")),
    ),
    Case(
        "update-member-admin-state-unspecified",
        "UpdatePoolMember",
        update_member(admin_state=0),
        invalid(("admin_state", f"is required ({ADMIN_STATES})")),
    ),
    # --- several problems are reported at once, in request order ---
    Case(
        "several-at-once",
        "CreateLoadBalancer",
        create(
            {
                "vip_address": "bogus",
                "listeners.0.port": 0,
                "listeners.0.default_pool.members.0.weight": 999,
                "listeners.0.protocol": 42,
            }
        ),
        invalid(
            (f"{L0}.protocol", f"unknown value 42; {PROTOCOLS}"),
            ("vip_address", "'bogus' is not a valid IPv4 or IPv6 address"),
            (f"{L0}.port", PORT),
            (f"{M0}.weight", WEIGHT),
        ),
    ),
]


def _resolve(build: Callable[[Base], Message], b: Base) -> Message:
    msg = build(b)
    # Bodies written before the base existed name its networks as {net4} / {net6}.
    if isinstance(msg, pb.CreateLoadBalancerRequest):
        msg.network_id = msg.network_id.format(net4=b.net4, net6=b.lb6.network_id)
    return msg


def snapshot(srv: Server) -> tuple[int, list[pb.LoadBalancer]]:
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


# Accepted load balancers go to a project of their own, so the state the refusal tests read
# (see `snapshot`) stays small.
ACCEPTED_PROJECT = "proj-accepted"
ACCEPTED: list[tuple[str, dict[str, Any]]] = [
    (
        "weights-0-and-256",
        {
            "listeners.0.default_pool.members": [
                {"address": "10.2.0.10", "port": 80, "weight": 0},
                {"address": "10.2.0.11", "port": 80, "weight": 256},
                {"address": "10.2.0.10", "port": 81, "weight": 1},
            ]
        },
    ),
    (
        "ports-1-and-65535",
        {
            "listeners": [
                listener_json("TCP", 1, ("10.2.0.10", 65535)),
                listener_json("UDP", 65535, ("10.2.0.10", 1)),
            ]
        },
    ),
    (
        "same-port-other-l4",
        {"listeners": [listener_json("TCP", 80), listener_json("UDP", 80), listener_json("SCTP", 80)]},
    ),
    ("timeout-equals-delay", monitor(delay=2, timeout=2)),
    ("sub-second-checks", monitor(delay=0.2, timeout=0.05)),
    ("retries-and-threshold-1", monitor(max_retries=1, healthy_threshold=1)),
    ("retries-and-threshold-10", monitor(max_retries=10, healthy_threshold=10)),
    ("codes-100", monitor(expected_codes="100")),
    ("codes-599", monitor(expected_codes="599")),
    ("codes-range", monitor(expected_codes="200-299")),
    ("codes-list", monitor(expected_codes="200,202,204")),
    ("codes-single-range", monitor(expected_codes="200-200")),
    ("url-path-root", monitor(url_path="/")),
    ("url-path-query", monitor(url_path="/health?full=1")),
    *[
        (f"method-{m}", monitor(http_method=m))
        for m in ("GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH")
    ],
    ("persistence-1", {"listeners.0.default_pool.session_persistence": {"type": "SOURCE_IP", "timeout": 1}}),
    (
        "persistence-65535",
        {"listeners.0.default_pool.session_persistence": {"type": "SOURCE_IP", "timeout": 65535}},
    ),
    (
        "names-255",
        {
            "name": "n" * 255,
            "description": "d" * 1024,
            "listeners.0.name": "l" * 255,
            "listeners.0.default_pool.name": "p" * 255,
            "listeners.0.default_pool.members.0.name": "m" * 255,
        },
    ),
    ("ipv6", {"vip_address": "2001:db8::1", "listeners.0.default_pool.members.0.address": "2001:db8::a"}),
    ("64-listeners", {"listeners": [listener_json("TCP", 3000 + i) for i in range(64)]}),
    ("no-listeners", {"listeners": []}),
]


@pytest.mark.parametrize("changes", [c for _, c in ACCEPTED], ids=[i for i, _ in ACCEPTED])
def test_boundary_value_is_accepted(api: Transport, changes: dict[str, Any]) -> None:
    body = valid_body()
    body["network_id"] = f"net-ok-{uuid.uuid4().hex[:8]}"
    body["project_id"] = ACCEPTED_PROJECT
    for path, value in changes.items():
        put(body, path, value)
    lb = api.call("CreateLoadBalancer", json_format.ParseDict(body, pb.CreateLoadBalancerRequest()))
    _subset(
        body,
        json_format.MessageToDict(
            lb, preserving_proto_field_name=True, always_print_fields_with_no_presence=True
        ),
    )
    assert api.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id)) == lb


def test_same_vip_port_in_another_network_is_accepted(api: Transport, base: Base) -> None:
    body = valid_body() | {
        "project_id": ACCEPTED_PROJECT,
        "network_id": f"net-other-{uuid.uuid4().hex[:8]}",
        "vip_address": "10.1.0.1",
    }
    lb = api.call("CreateLoadBalancer", json_format.ParseDict(body, pb.CreateLoadBalancerRequest()))
    assert (lb.vip_address, lb.listeners[0].port) == (base.lb4.vip_address, base.tcp.port)


def test_same_address_other_port_joins_the_pool(srv: Server, api: Transport) -> None:
    body = valid_body() | {"project_id": ACCEPTED_PROJECT, "network_id": f"net-m-{uuid.uuid4().hex[:8]}"}
    lb = srv.stub.CreateLoadBalancer(json_format.ParseDict(body, pb.CreateLoadBalancerRequest()))
    pool = lb.listeners[0].default_pool
    after = api.call(
        "AddPoolMember",
        pb.AddPoolMemberRequest(
            load_balancer_id=lb.id, pool_id=pool.id, member=pb.Member(address="10.2.0.10", port=8081)
        ),
    )
    assert [(m.address, m.port) for m in after.listeners[0].default_pool.members] == [
        ("10.2.0.10", 8080),
        ("10.2.0.10", 8081),
    ]


def test_a_failed_update_leaves_the_load_balancer_unchanged(
    clients: dict[str, Transport], base: Base
) -> None:
    """A refused change inside an otherwise valid update writes none of the update's fields."""
    for client in clients.values():
        before = client.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id=base.lb4.id))
        failure = client.fail(
            "UpdateListener",
            pb.UpdateListenerRequest(
                load_balancer_id=base.lb4.id,
                listener_id=base.tcp.id,
                name="renamed",
                algorithm=pb.Pool.SOURCE_IP,
                port=443,  # taken by the TCP:443 listener: the whole update is refused
            ),
        )
        assert failure.code == "INVALID_ARGUMENT"
        assert client.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id=base.lb4.id)) == before == base.lb4


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


# --- bodies that are not the request message ---------------------------------------------

BAD_JSON: list[tuple[str, bytes, str | None]] = [
    ("truncated", b'{"name": "x"', "Failed to load JSON"),
    ("not-json", b"name=x", "Failed to load JSON"),
    ("unknown-field", b'{"name": "x", "colour": "red"}', 'no field named "colour"'),
    ("camel-and-unknown", b'{"vipAddres": "10.0.0.1"}', 'no field named "vipAddres"'),
    ("string-for-string-wrong-type", b'{"name": 5}', "name"),
    ("string-for-port", b'{"listeners": [{"port": "eighty"}]}', "port"),
    ("fraction-for-port", b'{"listeners": [{"port": 1.5}]}', "port"),
    ("negative-port", b'{"listeners": [{"port": -1}]}', "Value out of range: -1"),
    ("object-for-list", b'{"listeners": {"port": 80}}', "listeners"),
    ("unknown-enum-name", b'{"listeners": [{"protocol": "QUIC"}]}', "QUIC"),
    ("string-for-weight", b'{"listeners": [{"default_pool": {"members": [{"weight": "heavy"}]}}]}', "weight"),
    (
        "string-for-delay",
        b'{"listeners": [{"default_pool": {"health_monitor": {"delay": "soon"}}}]}',
        "delay",
    ),
    ("duplicate-key", b'{"name": "a", "name": "b"}', "duplicate key name"),
    ("not-utf8", b'{"name": "\xff\xfe"}', "is not valid UTF-8"),
    ("null", b"null", None),
    ("a-string", b'"lb"', None),
    ("an-array", b"[]", None),
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


@pytest.mark.parametrize(
    ("body", "mentions"), [(b, m) for _, b, m in BAD_JSON], ids=[i for i, _, _ in BAD_JSON]
)
def test_malformed_json_is_400_alike_on_rest_and_connect(
    srv: Server, body: bytes, mentions: str | None
) -> None:
    before = snapshot(srv)
    headers = {"content-type": "application/json"}
    with httpx.Client(base_url=srv.http_url, timeout=15) as http:
        rest = http.post("/api/v1/load-balancers", content=body, headers=headers)
        connect = http.post(f"{CONNECT_PATH}/CreateLoadBalancer", content=body, headers=headers)
    assert rest.status_code == 400, rest.text
    assert connect.status_code == 400, connect.text
    rest_failure = error_of(rest)
    assert rest_failure.code == "INVALID_ARGUMENT"
    assert "Traceback" not in rest.text
    assert _connect_json_error(connect) == rest_failure
    if mentions is not None:
        assert mentions in rest_failure.message
        assert rest_failure.message.startswith("body: ")
        assert rest_failure.violations == (("body", rest_failure.message.removeprefix("body: ")),)
    assert snapshot(srv) == before


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/api/v1/load-balancers/{lb}", b'{"name": ["x"]}'),
        ("PUT", "/api/v1/load-balancers/{lb}", b'{"nmae": "x"}'),
        ("POST", "/api/v1/load-balancers/{lb}/listeners", b'{"protocol": "TCP", "port": "x"}'),
        ("POST", "/api/v1/load-balancers/{lb}/listeners", b'{"listener": {"protocol": "TCP", "port": 90}}'),
        ("PUT", "/api/v1/load-balancers/{lb}/listeners/{lis}", b'{"port": true}'),
        ("POST", "/api/v1/load-balancers/{lb}/pools/{pool}/members", b'{"address": 10}'),
        ("PUT", "/api/v1/load-balancers/{lb}/pools/{pool}/members/{mem}", b'{"admin_state": "DRAINING"}'),
        ("PUT", "/api/v1/load-balancers/{lb}/pools/{pool}/members/{mem}", b'{"weight": "1'),
    ],
)
def test_rest_write_routes_refuse_bad_json(
    srv: Server, base: Base, method: str, path: str, body: bytes
) -> None:
    before = snapshot(srv)
    url = path.format(lb=base.lb4.id, lis=base.tcp.id, pool=base.pool.id, mem=base.pool.members[0].id)
    with httpx.Client(base_url=srv.http_url, timeout=15) as http:
        response = http.request(method, url, content=body, headers={"content-type": "application/json"})
    failure = error_of(response)
    assert (response.status_code, failure.code) == (400, "INVALID_ARGUMENT")
    assert failure.message.startswith("body: ") and failure.violations[0][0] == "body"
    assert snapshot(srv) == before


@pytest.mark.parametrize(
    ("query", "mentions"),
    [
        ({"page_size": "ten"}, "page_size"),
        ({"page_size": "99999999999"}, "page_size"),
        ({"colour": "red"}, 'no field named "colour"'),
    ],
)
def test_rest_query_parameters_are_checked(srv: Server, query: dict[str, str], mentions: str) -> None:
    response = httpx.get(f"{srv.http_url}/api/v1/load-balancers", params=query, timeout=15)
    failure = error_of(response)
    assert (response.status_code, failure.code) == (400, "INVALID_ARGUMENT")
    assert failure.message.startswith("query: ") and mentions in failure.message
    assert failure.violations == (("query", failure.message.removeprefix("query: ")),)


def test_rest_body_on_a_get_is_refused(srv: Server, base: Base) -> None:
    response = httpx.request(
        "GET", f"{srv.http_url}/api/v1/load-balancers/{base.lb4.id}", content=b'{"id": "x"}', timeout=15
    )
    assert error_of(response) == invalid(("body", "this method takes no request body"))


def test_rest_unknown_route_and_method_answer_json(srv: Server, base: Base) -> None:
    with httpx.Client(base_url=srv.http_url, timeout=15) as http:
        missing = http.get("/api/v1/pools")
        assert missing.status_code == 404
        assert missing.json() == {
            "code": "NOT_FOUND",
            "message": "GET /api/v1/pools: Not Found",
            "details": [],
        }
        wrong = http.patch(f"/api/v1/load-balancers/{base.lb4.id}", json={})
        assert wrong.status_code == 405
        assert wrong.json()["code"] == "INVALID_ARGUMENT"
        assert wrong.headers["content-type"] == "application/json"


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
    assert [v.field for v in br.field_violations] == ["project_id", "network_id", "vip_address"]


def test_no_failure_message_leaks_internals(clients: dict[str, Transport], base: Base) -> None:
    """A sample of bad requests: messages name fields, never Python internals."""
    for client in clients.values():
        for rpc, req in [
            ("CreateLoadBalancer", _resolve(create({"vip_address": "1.2.3"}), base)),
            ("UpdatePoolMember", _resolve(update_member(weight=1000), base)),
        ]:
            try:
                client.call(rpc, req)
            except CallFailed as exc:
                assert not re.search(r"Traceback|File \"|Exception|Error\b", exc.failure.message), exc.failure
            else:
                pytest.fail(f"{rpc} succeeded")
