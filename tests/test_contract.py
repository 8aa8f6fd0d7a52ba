"""The cloud's wire contract, checked from the cloud's side: a client generated from the
LimiQuantix proto files, and the dashboard's own `fetch` calls, work against quantix-lb unchanged.

1. Renumbering catchers. The requests are built from the contract's numbers: this module writes
   its own FileDescriptorProto from the contract's tables (UPSTREAM_CONTRACT.md, i.e. the cloud's
   network.proto and network_service.proto: package limiquantix.network.v1, every message, field
   number, type and enum value as the contract lists them), in a DescriptorPool of its own.
   Nothing here comes from generated/ or proto/, so a field renumbered or retyped on our side shows
   up as a request the server misreads or an answer that decodes wrong.
   The messages travel over gRPC (a bare channel with this module's serializers) and over Connect
   binary (an HTTP POST of application/proto), and each answer is decoded with the contract's
   descriptor: every field must land where the contract says, and the only fields the contract
   does not know must be our additions (numbers >= 100); a field that collides with a contract
   number in another wire type would decode as unknown and fail that check.
2. The dashboard's calls exactly as it makes them: POST {baseUrl}/limiquantix.network.v1.
   LoadBalancerService/{Method} with only `Content-Type: application/json` (and
   `Authorization: Bearer` when the user has a token), no Connect-Protocol-Version header, camelCase
   bodies, from the dev server's origin (CORS preflight, then the call); GET /healthz decides that
   the page is connected. The page's flow (list, create, member and listener changes, stats, update,
   delete) is read the way the page reads it, and every answer must be 2xx.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, empty_pb2, message_factory, timestamp_pb2
from google.protobuf import unknown_fields as unknown
from google.protobuf.message import Message

from conftest import Server, wait_for
from quantix.lb.v1 import health_worker_pb2 as wire
from quantix_lb.testing.worker import FakeWorker

PACKAGE = "limiquantix.network.v1"
SERVICE = f"{PACKAGE}.LoadBalancerService"
ORIGIN = "http://localhost:5173"  # the dashboard's development server

# --- the contract, as UPSTREAM_CONTRACT.md lists it ---------------------------------------------
#
# (name, number, type): a scalar type, "map" (map<string, string>), "[]T" (repeated T), "enum M.E"
# (an enum nested in message M), a message of the package, or a full name (".google.protobuf...").

TIMESTAMP = ".google.protobuf.Timestamp"
CONTRACT_MESSAGES: dict[str, list[tuple[str, int, str]]] = {
    # network.proto
    "LoadBalancer": [
        ("id", 1, "string"),
        ("name", 2, "string"),
        ("description", 3, "string"),
        ("project_id", 4, "string"),
        ("labels", 5, "map"),
        ("spec", 6, "LoadBalancerSpec"),
        ("status", 7, "LoadBalancerStatus"),
        ("created_at", 8, TIMESTAMP),
        ("updated_at", 9, TIMESTAMP),
    ],
    "LoadBalancerSpec": [
        ("network_id", 1, "string"),
        ("subnet_id", 2, "string"),
        ("vip_address", 3, "string"),
        ("listeners", 4, "[]Listener"),
        ("pools", 5, "[]Pool"),
    ],
    "Listener": [
        ("id", 1, "string"),
        ("name", 2, "string"),
        ("protocol", 3, "enum Listener.Protocol"),
        ("port", 4, "uint32"),
        ("default_pool_id", 5, "string"),
        ("tls", 6, "TlsConfig"),
        ("connection_limit", 7, "uint32"),
    ],
    "TlsConfig": [
        ("certificate", 1, "string"),
        ("private_key", 2, "string"),
        ("ca_certificates", 3, "string"),
        ("min_version", 4, "string"),
        ("ciphers", 5, "[]string"),
    ],
    "Pool": [
        ("id", 1, "string"),
        ("name", 2, "string"),
        ("algorithm", 3, "enum Pool.Algorithm"),
        ("protocol", 4, "enum Listener.Protocol"),
        ("members", 5, "[]PoolMember"),
        ("health_monitor", 6, "HealthMonitor"),
        ("persistence", 7, "SessionPersistence"),
    ],
    "PoolMember": [
        ("id", 1, "string"),
        ("address", 2, "string"),
        ("port", 3, "uint32"),
        ("weight", 4, "uint32"),
        ("admin_state_up", 5, "bool"),
        ("subnet_id", 6, "string"),
    ],
    "HealthMonitor": [
        ("type", 1, "enum HealthMonitor.Type"),
        ("delay", 2, "uint32"),
        ("timeout", 3, "uint32"),
        ("max_retries", 4, "uint32"),
        ("http_method", 5, "string"),
        ("url_path", 6, "string"),
        ("expected_codes", 7, "string"),
    ],
    "SessionPersistence": [
        ("type", 1, "enum SessionPersistence.Type"),
        ("cookie_name", 2, "string"),
    ],
    "LoadBalancerStatus": [
        ("phase", 1, "enum LoadBalancerStatus.Phase"),
        ("provisioning_status", 2, "string"),
        ("operating_status", 3, "string"),
        ("vip_address", 4, "string"),
        ("vip_port_id", 5, "string"),
        ("error_message", 6, "string"),
    ],
    # network_service.proto
    "CreateLoadBalancerRequest": [
        ("name", 1, "string"),
        ("description", 2, "string"),
        ("project_id", 3, "string"),
        ("labels", 4, "map"),
        ("spec", 5, "LoadBalancerSpec"),
    ],
    "GetLoadBalancerRequest": [("id", 1, "string")],
    "DeleteLoadBalancerRequest": [("id", 1, "string")],
    "GetLoadBalancerStatsRequest": [("id", 1, "string")],
    "ListLoadBalancersRequest": [
        ("project_id", 1, "string"),
        ("network_id", 2, "string"),
        ("page_size", 10, "int32"),
        ("page_token", 11, "string"),
    ],
    "ListLoadBalancersResponse": [
        ("load_balancers", 1, "[]LoadBalancer"),
        ("next_page_token", 2, "string"),
        ("total_count", 3, "int32"),
    ],
    "UpdateLoadBalancerRequest": [
        ("id", 1, "string"),
        ("description", 2, "string"),
        ("labels", 3, "map"),
    ],
    "AddListenerRequest": [("load_balancer_id", 1, "string"), ("listener", 2, "Listener")],
    "RemoveListenerRequest": [("load_balancer_id", 1, "string"), ("listener_id", 2, "string")],
    "AddPoolMemberRequest": [
        ("load_balancer_id", 1, "string"),
        ("pool_id", 2, "string"),
        ("member", 3, "PoolMember"),
    ],
    "RemovePoolMemberRequest": [
        ("load_balancer_id", 1, "string"),
        ("pool_id", 2, "string"),
        ("member_id", 3, "string"),
    ],
    "LoadBalancerStats": [
        ("load_balancer_id", 1, "string"),
        ("active_connections", 2, "uint64"),
        ("total_connections", 3, "uint64"),
        ("bytes_in", 4, "uint64"),
        ("bytes_out", 5, "uint64"),
        ("requests", 6, "uint64"),
        ("listener_stats", 7, "[]ListenerStats"),
        ("member_stats", 8, "[]MemberStats"),
    ],
    "ListenerStats": [
        ("listener_id", 1, "string"),
        ("active_connections", 2, "uint64"),
        ("total_connections", 3, "uint64"),
        ("bytes_in", 4, "uint64"),
        ("bytes_out", 5, "uint64"),
    ],
    "MemberStats": [
        ("pool_id", 1, "string"),
        ("member_id", 2, "string"),
        ("address", 3, "string"),
        ("healthy", 4, "bool"),
        ("active_connections", 5, "uint64"),
        ("total_connections", 6, "uint64"),
        ("bytes_in", 7, "uint64"),
        ("bytes_out", 8, "uint64"),
    ],
}
# Nested enums; no UNSPECIFIED value: 0 is a real value.
CONTRACT_ENUMS: dict[str, dict[str, dict[str, int]]] = {
    "Listener": {"Protocol": {"TCP": 0, "HTTP": 1, "HTTPS": 2, "UDP": 3}},
    "Pool": {
        "Algorithm": {"ROUND_ROBIN": 0, "LEAST_CONNECTIONS": 1, "SOURCE_IP": 2, "WEIGHTED_ROUND_ROBIN": 3}
    },
    "HealthMonitor": {"Type": {"PING": 0, "TCP": 1, "HTTP": 2, "HTTPS": 3}},
    "SessionPersistence": {"Type": {"NONE": 0, "SOURCE_IP": 1, "HTTP_COOKIE": 2, "APP_COOKIE": 3}},
    "LoadBalancerStatus": {"Phase": {"UNKNOWN": 0, "PENDING": 1, "ACTIVE": 2, "ERROR": 3, "DELETING": 4}},
}
EMPTY = ".google.protobuf.Empty"
CONTRACT_RPCS: dict[str, tuple[str, str]] = {
    "CreateLoadBalancer": ("CreateLoadBalancerRequest", "LoadBalancer"),
    "GetLoadBalancer": ("GetLoadBalancerRequest", "LoadBalancer"),
    "ListLoadBalancers": ("ListLoadBalancersRequest", "ListLoadBalancersResponse"),
    "UpdateLoadBalancer": ("UpdateLoadBalancerRequest", "LoadBalancer"),
    "DeleteLoadBalancer": ("DeleteLoadBalancerRequest", EMPTY),
    "AddListener": ("AddListenerRequest", "LoadBalancer"),
    "RemoveListener": ("RemoveListenerRequest", "LoadBalancer"),
    "AddPoolMember": ("AddPoolMemberRequest", "LoadBalancer"),
    "RemovePoolMember": ("RemovePoolMemberRequest", "LoadBalancer"),
    "GetLoadBalancerStats": ("GetLoadBalancerStatsRequest", "LoadBalancerStats"),
}

F = descriptor_pb2.FieldDescriptorProto
SCALARS = {
    "string": F.TYPE_STRING,
    "bool": F.TYPE_BOOL,
    "int32": F.TYPE_INT32,
    "uint32": F.TYPE_UINT32,
    "uint64": F.TYPE_UINT64,
}


def _full(name: str) -> str:
    return name if name.startswith(".") else f".{PACKAGE}.{name}"


def contract_file() -> descriptor_pb2.FileDescriptorProto:
    """The contract's messages, enums and service as one proto3 file."""
    file = descriptor_pb2.FileDescriptorProto(
        name="upstream_contract/limiquantix/network/v1/load_balancer.proto",
        package=PACKAGE,
        syntax="proto3",
        dependency=["google/protobuf/timestamp.proto", "google/protobuf/empty.proto"],
    )
    for message_name, fields in CONTRACT_MESSAGES.items():
        message = file.message_type.add(name=message_name)
        for enum_name, values in CONTRACT_ENUMS.get(message_name, {}).items():
            enum = message.enum_type.add(name=enum_name)
            for value_name, number in values.items():
                enum.value.add(name=value_name, number=number)
        for field_name, number, kind in fields:
            field = message.field.add(name=field_name, number=number, label=F.LABEL_OPTIONAL)
            if kind.startswith("[]"):
                field.label, kind = F.LABEL_REPEATED, kind[2:]
            if kind == "map":
                entry = message.nested_type.add(
                    name="".join(p.title() for p in field_name.split("_")) + "Entry"
                )
                entry.options.map_entry = True
                for key_or_value, key_number in (("key", 1), ("value", 2)):
                    entry.field.add(
                        name=key_or_value, number=key_number, label=F.LABEL_OPTIONAL, type=F.TYPE_STRING
                    )
                field.label, field.type = F.LABEL_REPEATED, F.TYPE_MESSAGE
                field.type_name = f".{PACKAGE}.{message_name}.{entry.name}"
            elif kind in SCALARS:
                field.type = SCALARS[kind]
            elif kind.startswith("enum "):
                field.type, field.type_name = F.TYPE_ENUM, _full(kind.removeprefix("enum "))
            else:
                field.type, field.type_name = F.TYPE_MESSAGE, _full(kind)
    service = file.service.add(name="LoadBalancerService")
    for rpc, (request, response) in CONTRACT_RPCS.items():
        service.method.add(name=rpc, input_type=_full(request), output_type=_full(response))
    return file


def _contract_pool() -> descriptor_pool.DescriptorPool:
    # A pool of its own: the generated modules register the same names in the default pool.
    pool = descriptor_pool.DescriptorPool()
    for well_known in (timestamp_pb2, empty_pb2):
        pool.Add(descriptor_pb2.FileDescriptorProto.FromString(well_known.DESCRIPTOR.serialized_pb))
    pool.Add(contract_file())
    return pool


POOL = _contract_pool()


class _Classes:
    """`C.LoadBalancer` etc.: message classes of the contract's pool."""

    def __getattr__(self, name: str) -> type[Message]:
        return message_factory.GetMessageClass(POOL.FindMessageTypeByName(f"{PACKAGE}.{name}"))


C = _Classes()
CONTRACT_SERVICE = POOL.FindServiceByName(SERVICE)


def enum_number(enum: str, name: str) -> int:
    """An enum value's number as the contract's pool has it (`enum` is "Message.Enum")."""
    return POOL.FindEnumTypeByName(f"{PACKAGE}.{enum}").values_by_name[name].number


HTTP, TCP = enum_number("Listener.Protocol", "HTTP"), enum_number("Listener.Protocol", "TCP")
LEAST_CONNECTIONS = enum_number("Pool.Algorithm", "LEAST_CONNECTIONS")
MONITOR_TCP = enum_number("HealthMonitor.Type", "TCP")
ACTIVE_PHASE = enum_number("LoadBalancerStatus.Phase", "ACTIVE")


def test_contract_descriptor_is_the_tables() -> None:
    """The pool holds what the tables say (so the rest of the module tests the contract)."""
    lb = POOL.FindMessageTypeByName(f"{PACKAGE}.LoadBalancer")
    assert [(f.name, f.number) for f in lb.fields][-3:] == [
        ("status", 7),
        ("created_at", 8),
        ("updated_at", 9),
    ]
    assert lb.fields_by_name["labels"].message_type.GetOptions().map_entry
    listener = POOL.FindMessageTypeByName(f"{PACKAGE}.Listener")
    assert listener.enum_types_by_name["Protocol"].values_by_number[3].name == "UDP"
    stats = POOL.FindMessageTypeByName(f"{PACKAGE}.LoadBalancerStats")
    assert stats.fields_by_name["member_stats"].message_type.full_name == f"{PACKAGE}.MemberStats"
    assert {m.name for m in CONTRACT_SERVICE.methods} == set(CONTRACT_RPCS)
    assert (
        CONTRACT_SERVICE.methods_by_name["DeleteLoadBalancer"].output_type.full_name
        == "google.protobuf.Empty"
    )
    # Hand-checked wire bytes for one message: field 10 (varint) and field 11 (length-delimited).
    req = C.ListLoadBalancersRequest(page_size=5, page_token="t")
    assert req.SerializeToString() == b"\x50\x05\x5a\x01t"


# --- the servers ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(Path(tmp_path_factory.mktemp("contract")) / "data", ["--cors-origin", ORIGIN]).start()
    try:
        yield server
    finally:
        server.stop()


TOKEN = "tok-dashboard"  # a user of the project the page creates in


@pytest.fixture(scope="module")
def auth_srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = Path(tmp_path_factory.mktemp("contract-auth"))
    tokens = base / "tokens.json"
    tokens.write_text(json.dumps({TOKEN: {"project_id": "default"}, "tok-other": {"project_id": "other"}}))
    server = Server(base / "data", ["--auth-tokens", str(tokens), "--cors-origin", ORIGIN]).start()
    try:
        yield server
    finally:
        server.stop()


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


_vips = iter(range(1, 10_000))


def fresh_vip() -> str:
    n = next(_vips)
    return f"192.168.{100 + n // 250}.{n % 250 + 1}"


# --- part 1: a client generated from the contract, binary ---------------------------------------


class RpcFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class ContractClient:
    """Sends contract messages and decodes the answers with the contract's descriptor."""

    def __init__(self, srv: Server, transport: str) -> None:
        self.transport = transport
        self._srv = srv
        self._http = httpx.Client(base_url=srv.http_url, timeout=30)

    def call(self, rpc: str, request: Message) -> Any:
        method = CONTRACT_SERVICE.methods_by_name[rpc]
        assert request.DESCRIPTOR is method.input_type, (rpc, request.DESCRIPTOR.full_name)
        output = message_factory.GetMessageClass(method.output_type)
        path = f"/limiquantix.network.v1.LoadBalancerService/{rpc}"
        if self.transport == "grpc":
            stub = self._srv.channel.unary_unary(
                path,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=output.FromString,
            )
            try:
                return stub(request, timeout=30)
            except grpc.RpcError as err:
                assert isinstance(err, grpc.Call)
                raise RpcFailed(err.code().name, err.details() or "") from None
        response = self._http.post(
            path,
            content=request.SerializeToString(),
            headers={"Content-Type": "application/proto", "Connect-Protocol-Version": "1"},
        )
        if response.status_code != 200:
            error = response.json()
            raise RpcFailed(error["code"].upper(), error.get("message", ""))
        assert response.headers["content-type"] == "application/proto", response.headers
        return output.FromString(response.content)

    def close(self) -> None:
        self._http.close()


@pytest.fixture(scope="module", params=["grpc", "connect-proto"])
def client(request: pytest.FixtureRequest, srv: Server) -> Iterator[ContractClient]:
    c = ContractClient(srv, request.param)
    try:
        yield c
    finally:
        c.close()


def foreign_fields(msg: Message, where: str = "$") -> list[str]:
    """Fields of the answer the contract's descriptor could not read below number 100: a field
    renumbered onto a contract number, or sent there in another wire type. (Our additions are
    numbered from 100 and are ignored by a contract client, as they must be.)"""
    found = [
        f"{where}: field {f.field_number} (wire type {f.wire_type})"
        for f in unknown.UnknownFieldSet(msg)
        if f.field_number < 100
    ]
    for field, value in msg.ListFields():
        if field.type != field.TYPE_MESSAGE or (field.message_type.GetOptions().map_entry):
            continue
        if field.is_repeated:
            for i, item in enumerate(value):
                found += foreign_fields(item, f"{where}.{field.name}[{i}]")
        else:
            found += foreign_fields(value, f"{where}.{field.name}")
    return found


def decoded(reply: Message) -> Any:
    assert not foreign_fields(reply), foreign_fields(reply)
    return reply


def contract_create_request(**fields: Any) -> Message:
    """Every field of CreateLoadBalancerRequest and of its spec, as a contract client writes it."""
    spec = C.LoadBalancerSpec(
        network_id=uniq("net"),
        vip_address=fresh_vip(),
        listeners=[C.Listener(name="web", protocol=HTTP, port=80)],
        pools=[
            C.Pool(
                name="web-pool",
                algorithm=LEAST_CONNECTIONS,
                members=[
                    C.PoolMember(address="10.0.0.10", port=8080, weight=3, admin_state_up=True),
                    C.PoolMember(address="10.0.0.11", port=8081, weight=1, admin_state_up=True),
                ],
                health_monitor=C.HealthMonitor(type=MONITOR_TCP, delay=5, timeout=3, max_retries=2),
            )
        ],
    )
    base: dict[str, Any] = {
        "name": "web-lb",
        "description": "the shop's front door",
        "project_id": uniq("proj"),
        "labels": {"env": "prod", "team": "shop"},
        "spec": spec,
    }
    return C.CreateLoadBalancerRequest(**{**base, **fields})


def create(client: ContractClient, **fields: Any) -> tuple[Message, Any]:
    req = contract_create_request(**fields)
    return req, decoded(client.call("CreateLoadBalancer", req))


def assert_realized(lb: Any) -> None:
    assert lb.status.phase == ACTIVE_PHASE, lb.status
    assert lb.status.provisioning_status == "ACTIVE", lb.status
    assert lb.status.operating_status, lb.status
    assert lb.status.vip_address == lb.spec.vip_address, lb.status
    assert not lb.status.error_message


def test_create_lands_every_field_where_the_contract_says(client: ContractClient) -> None:
    before = time.time()
    req, lb = create(client)
    assert lb.id and lb.id != req.name
    assert (lb.name, lb.description, lb.project_id) == (req.name, req.description, req.project_id)
    assert dict(lb.labels) == {"env": "prod", "team": "shop"}
    spec = lb.spec
    assert (spec.network_id, spec.vip_address) == (req.spec.network_id, req.spec.vip_address)
    # listeners
    assert len(spec.listeners) == 1
    listener = spec.listeners[0]
    assert listener.id and (listener.name, listener.protocol, listener.port) == ("web", HTTP, 80)
    assert not listener.HasField("tls") and listener.connection_limit == 0
    # pools: the one pool serves the listener that named none
    assert len(spec.pools) == 1
    pool = spec.pools[0]
    assert pool.id and listener.default_pool_id == pool.id
    assert (pool.name, pool.algorithm) == ("web-pool", LEAST_CONNECTIONS)
    got = [(m.address, m.port, m.weight, m.admin_state_up) for m in pool.members]
    assert got == [("10.0.0.10", 8080, 3, True), ("10.0.0.11", 8081, 1, True)]
    assert all(m.id for m in pool.members) and len({m.id for m in pool.members}) == 2
    hm = pool.health_monitor
    assert (hm.type, hm.delay, hm.timeout, hm.max_retries) == (MONITOR_TCP, 5, 3, 2)
    # status and times
    assert_realized(lb)
    created = lb.created_at.seconds + lb.created_at.nanos / 1e9
    assert before - 5 <= created <= time.time() + 5
    assert lb.updated_at.seconds + lb.updated_at.nanos / 1e9 >= created


def test_the_other_spec_fields_round_trip(client: ContractClient) -> None:
    """The fields the first create leaves out: spec.subnet_id, listeners naming their pool by name,
    Pool.protocol, an HTTP monitor's fields, SOURCE_IP persistence, PoolMember.subnet_id."""
    source_ip = enum_number("SessionPersistence.Type", "SOURCE_IP")
    spec = C.LoadBalancerSpec(
        network_id=uniq("net"),
        subnet_id="subnet-a",
        vip_address=fresh_vip(),
        listeners=[
            C.Listener(name="web", protocol=HTTP, port=80, default_pool_id="web-pool"),
            C.Listener(name="api", protocol=TCP, port=8080, default_pool_id="api-pool"),
        ],
        pools=[
            C.Pool(name="web-pool", protocol=HTTP, members=[C.PoolMember(address="10.0.1.10", port=80)]),
            C.Pool(
                name="api-pool",
                algorithm=enum_number("Pool.Algorithm", "SOURCE_IP"),
                members=[C.PoolMember(address="10.0.1.20", port=9000, subnet_id="subnet-a")],
                health_monitor=C.HealthMonitor(
                    type=enum_number("HealthMonitor.Type", "HTTP"),
                    delay=2,
                    timeout=1,
                    max_retries=4,
                    http_method="HEAD",
                    url_path="/healthz",
                    expected_codes="204",
                ),
                persistence=C.SessionPersistence(type=source_ip),
            ),
        ],
    )
    _, lb = create(client, spec=spec)
    assert_realized(lb)
    assert lb.spec.subnet_id == "subnet-a"
    pools = {p.name: p for p in lb.spec.pools}
    assert [(li.name, li.default_pool_id) for li in lb.spec.listeners] == [
        ("web", pools["web-pool"].id),
        ("api", pools["api-pool"].id),
    ]
    web, api = pools["web-pool"], pools["api-pool"]
    assert (web.protocol, web.algorithm) == (HTTP, enum_number("Pool.Algorithm", "ROUND_ROBIN"))
    assert (web.members[0].weight, web.members[0].admin_state_up) == (1, True)  # unset: 1 and up
    assert api.algorithm == enum_number("Pool.Algorithm", "SOURCE_IP")
    hm = api.health_monitor
    got = (hm.type, hm.delay, hm.timeout, hm.max_retries, hm.http_method, hm.url_path, hm.expected_codes)
    assert got == (enum_number("HealthMonitor.Type", "HTTP"), 2, 1, 4, "HEAD", "/healthz", "204")
    assert (api.persistence.type, api.persistence.cookie_name) == (source_ip, "")
    assert [(m.address, m.port, m.subnet_id) for m in api.members] == [("10.0.1.20", 9000, "subnet-a")]


@pytest.mark.parametrize(
    ("where", "change"),
    [
        ("spec.listeners[0].connection_limit", lambda s: setattr(s.listeners[0], "connection_limit", 100)),
        ("spec.listeners[0].tls", lambda s: setattr(s.listeners[0].tls, "certificate", "PEM")),
        (
            "spec.pools[0].persistence.type",
            lambda s: setattr(
                s.pools[0].persistence, "type", enum_number("SessionPersistence.Type", "HTTP_COOKIE")
            ),
        ),
        (
            "spec.pools[0].persistence.cookie_name",
            lambda s: setattr(s.pools[0].persistence, "cookie_name", "sid"),
        ),
    ],
)
def test_refused_fields_are_read_at_their_numbers(client: ContractClient, where: str, change: Any) -> None:
    """What OVN cannot do is refused naming the field: proof the server reads Listener.tls (6),
    Listener.connection_limit (7) and SessionPersistence's type (1) and cookie_name (2) there."""
    req = contract_create_request()
    change(req.spec)
    with pytest.raises(RpcFailed) as info:
        client.call("CreateLoadBalancer", req)
    assert info.value.code == "INVALID_ARGUMENT"
    assert str(info.value).startswith(f"INVALID_ARGUMENT: {where}: "), str(info.value)


def test_get_answers_the_created_load_balancer(client: ContractClient) -> None:
    _, lb = create(client)
    got = decoded(client.call("GetLoadBalancer", C.GetLoadBalancerRequest(id=lb.id)))
    # Compared as the contract sees them (fields beyond it are not part of the comparison).
    for msg in (got, lb):
        msg.DiscardUnknownFields()
    assert got == lb
    with pytest.raises(RpcFailed) as info:
        client.call("GetLoadBalancer", C.GetLoadBalancerRequest(id="lb-00000000-0000-4000-8000-000000000000"))
    assert info.value.code == "NOT_FOUND"


def test_list_pages_with_size_token_and_total(client: ContractClient) -> None:
    project = uniq("proj")
    made = [create(client, project_id=project, name=f"lb-{i}")[1] for i in range(3)]
    ids = [lb.id for lb in made]

    first = decoded(
        client.call("ListLoadBalancers", C.ListLoadBalancersRequest(project_id=project, page_size=2))
    )
    assert len(first.load_balancers) == 2 and first.next_page_token
    assert first.total_count == 3
    second = decoded(
        client.call(
            "ListLoadBalancers",
            C.ListLoadBalancersRequest(project_id=project, page_size=2, page_token=first.next_page_token),
        )
    )
    assert len(second.load_balancers) == 1 and second.next_page_token == ""
    assert second.total_count == 3
    listed = [lb.id for lb in (*first.load_balancers, *second.load_balancers)]
    assert sorted(listed) == sorted(ids)
    assert all(lb.project_id == project and lb.status.phase == ACTIVE_PHASE for lb in first.load_balancers)

    # network_id = 2 filters too
    one = made[1]
    by_net = decoded(
        client.call(
            "ListLoadBalancers", C.ListLoadBalancersRequest(network_id=one.spec.network_id, page_size=10)
        )
    )
    assert [lb.id for lb in by_net.load_balancers] == [one.id] and by_net.total_count == 1


def test_update_replaces_description_and_labels(client: ContractClient) -> None:
    _, lb = create(client)
    req = C.UpdateLoadBalancerRequest(
        id=lb.id, description="moved to the new rack", labels={"env": "staging"}
    )
    updated = decoded(client.call("UpdateLoadBalancer", req))
    assert updated.id == lb.id and updated.name == lb.name
    assert updated.description == "moved to the new rack"
    assert dict(updated.labels) == {"env": "staging"}
    assert updated.created_at == lb.created_at
    assert (updated.updated_at.seconds, updated.updated_at.nanos) >= (
        lb.updated_at.seconds,
        lb.updated_at.nanos,
    )
    assert_realized(updated)
    again = decoded(client.call("GetLoadBalancer", C.GetLoadBalancerRequest(id=lb.id)))
    assert (again.description, dict(again.labels)) == ("moved to the new rack", {"env": "staging"})


def test_add_and_remove_listener(client: ContractClient) -> None:
    _, lb = create(client)
    pool_id = lb.spec.pools[0].id
    # TCP is 0: a contract client does not write it at all.
    new = C.Listener(name="alt", protocol=TCP, port=8443, default_pool_id=pool_id)
    added = decoded(client.call("AddListener", C.AddListenerRequest(load_balancer_id=lb.id, listener=new)))
    assert len(added.spec.listeners) == 2
    (listener,) = [li for li in added.spec.listeners if li.port == 8443]
    assert listener.id and (listener.name, listener.protocol, listener.default_pool_id) == (
        "alt",
        TCP,
        pool_id,
    )
    assert_realized(added)

    req = C.RemoveListenerRequest(load_balancer_id=lb.id, listener_id=listener.id)
    removed = decoded(client.call("RemoveListener", req))
    assert [li.id for li in removed.spec.listeners] == [lb.spec.listeners[0].id]
    assert [p.id for p in removed.spec.pools] == [pool_id]  # the pool stays
    assert_realized(removed)


def test_add_and_remove_pool_member(client: ContractClient) -> None:
    _, lb = create(client)
    pool_id = lb.spec.pools[0].id
    member = C.PoolMember(address="10.0.0.12", port=9090, weight=5, admin_state_up=True)
    req = C.AddPoolMemberRequest(load_balancer_id=lb.id, pool_id=pool_id, member=member)
    added = decoded(client.call("AddPoolMember", req))
    members = added.spec.pools[0].members
    assert len(members) == 3
    (new,) = [m for m in members if m.address == "10.0.0.12"]
    assert new.id and (new.port, new.weight, new.admin_state_up) == (9090, 5, True)
    assert_realized(added)

    req = C.RemovePoolMemberRequest(load_balancer_id=lb.id, pool_id=pool_id, member_id=new.id)
    removed = decoded(client.call("RemovePoolMember", req))
    assert [m.id for m in removed.spec.pools[0].members] == [m.id for m in lb.spec.pools[0].members]
    assert_realized(removed)


def test_stats_fields_land_where_the_contract_says(client: ContractClient, srv: Server) -> None:
    _, lb = create(client)
    m1, m2 = lb.spec.pools[0].members
    listener = lb.spec.listeners[0]
    figures = {  # (address, port) -> active, total, bytes in, bytes out: all different
        (m1.address, m1.port): (2, 7, 1000, 5000),
        (m2.address, m2.port): (1, 4, 300, 900),
    }
    backends = [
        wire.BackendStats(address=a, port=p, active=act, total=tot, bytes_in=bi, bytes_out=bo)
        for (a, p), (act, tot, bi, bo) in figures.items()
    ]
    frontend = wire.Frontend(protocol="tcp", vip=lb.spec.vip_address, port=listener.port)
    report = wire.StatsReport(
        available=True,
        epoch=int(uuid.uuid4().int % 2**63) or 1,
        frontends=[wire.FrontendStats(frontend=frontend, backends=backends)],
    )
    health = wire.HealthTransitions(
        transitions=[
            wire.HealthTransition(member_id=m1.id, healthy=True, reason="test"),
            wire.HealthTransition(member_id=m2.id, healthy=False, reason="test"),
        ]
    )
    worker = FakeWorker(srv.grpc_addr, uniq("contract-node"))
    try:
        sent = [0.0]

        def measured() -> Any:
            if time.monotonic() - sent[0] > 0.5:  # again until the targets are this worker's
                worker.send(wire.SessionRequest(transitions=health))
                worker.send(wire.SessionRequest(stats=report))
                sent[0] = time.monotonic()
            stats = decoded(client.call("GetLoadBalancerStats", C.GetLoadBalancerStatsRequest(id=lb.id)))
            healthy = {ms.member_id: ms.healthy for ms in stats.member_stats}
            return stats if stats.total_connections and healthy == {m1.id: True, m2.id: False} else None

        stats = wait_for(measured, timeout=20, what="the worker's figures and health in the stats")
    finally:
        worker.close()

    assert stats.load_balancer_id == lb.id
    assert (stats.active_connections, stats.total_connections) == (3, 11)
    assert (stats.bytes_in, stats.bytes_out) == (1300, 5900)
    assert stats.requests == 11  # at Layer 4 a request is a connection
    (ls,) = stats.listener_stats
    assert ls.listener_id == listener.id
    assert (ls.active_connections, ls.total_connections, ls.bytes_in, ls.bytes_out) == (3, 11, 1300, 5900)
    by_member = {ms.member_id: ms for ms in stats.member_stats}
    assert set(by_member) == {m1.id, m2.id}
    for m in (m1, m2):
        ms = by_member[m.id]
        assert (ms.pool_id, ms.address) == (lb.spec.pools[0].id, m.address)
        got = (ms.active_connections, ms.total_connections, ms.bytes_in, ms.bytes_out)
        assert got == figures[(m.address, m.port)], ms


def test_delete_answers_empty(client: ContractClient) -> None:
    _, lb = create(client)
    reply = client.call("DeleteLoadBalancer", C.DeleteLoadBalancerRequest(id=lb.id))
    assert reply.DESCRIPTOR.full_name == "google.protobuf.Empty"
    assert reply.SerializeToString() == b""
    with pytest.raises(RpcFailed) as info:
        client.call("GetLoadBalancer", C.GetLoadBalancerRequest(id=lb.id))
    assert info.value.code == "NOT_FOUND"


# --- part 2: the dashboard's fetch calls -------------------------------------------------------

_CAMEL_KEY = re.compile(r"^[a-z][a-zA-Z0-9]*$")


def assert_camel_case(value: Any, where: str = "$", maps: tuple[str, ...] = ("labels",)) -> None:
    """Connect JSON answers in lowerCamelCase, which is how the page reads every field."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert _CAMEL_KEY.match(key), f"{where}: key {key!r} is not lowerCamelCase"
            if key not in maps:
                assert_camel_case(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            assert_camel_case(item, f"{where}[{i}]")


class Dashboard:
    """`apiCall` as the page's api-client makes it: fetch POST, JSON, from the dev origin."""

    def __init__(self, srv: Server, token: str | None = None) -> None:
        self.token = token
        self.http = httpx.Client(base_url=srv.http_url, timeout=30)

    def headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Origin": ORIGIN}  # the browser adds Origin
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    def post(self, method: str, body: dict[str, Any]) -> httpx.Response:
        response = self.http.post(f"/{SERVICE}/{method}", content=json.dumps(body), headers=self.headers())
        sent = {k.lower() for k in response.request.headers}
        assert "connect-protocol-version" not in sent and "connect-timeout-ms" not in sent
        # The browser hands a cross-origin answer to the page only with this header.
        assert response.headers.get("access-control-allow-origin") == ORIGIN, (method, dict(response.headers))
        return response

    def call(self, method: str, body: dict[str, Any]) -> Any:
        response = self.post(method, body)
        assert 200 <= response.status_code < 300, f"{method}: {response.status_code} {response.text}"
        data = response.json()  # the page does response.json() on every answer
        assert_camel_case(data)
        return data

    def healthz(self) -> httpx.Response:
        # checkConnection(): a plain GET, no credentials, no custom headers.
        return self.http.get("/healthz", headers={"Origin": ORIGIN})

    def preflight(
        self, method: str, origin: str = ORIGIN, asks: str = "content-type,authorization"
    ) -> httpx.Response:
        """The browser's OPTIONS before a cross-origin POST with those headers (no credentials)."""
        headers = {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": asks,
        }
        return self.http.options(f"/{SERVICE}/{method}", headers=headers)

    def close(self) -> None:
        self.http.close()


@pytest.fixture
def dashboard(srv: Server) -> Iterator[Dashboard]:
    page = Dashboard(srv)
    try:
        yield page
    finally:
        page.close()


@pytest.fixture
def signed_in(auth_srv: Server) -> Iterator[Dashboard]:
    page = Dashboard(auth_srv, TOKEN)
    try:
        yield page
    finally:
        page.close()


def page_view(lb: dict[str, Any]) -> dict[str, Any]:
    """What the load-balancer page shows of one answer (its mapping, restated): missing fields
    read as their defaults."""
    spec, status = lb.get("spec") or {}, lb.get("status") or {}
    pools = spec.get("pools") or []
    return {
        "id": lb["id"],
        "name": lb["name"],
        "description": lb.get("description") or "",
        "vip": status.get("vipAddress") or spec.get("vipAddress") or "",
        "networkId": spec.get("networkId") or "",
        "state": {"ACTIVE": "ACTIVE", "ERROR": "ERROR"}.get(status.get("phase", ""), "PENDING"),
        "listeners": [
            (
                li.get("id") or "",
                li.get("port") or 0,
                li.get("protocol") or "TCP",
                li.get("defaultPoolId") or "",
            )
            for li in spec.get("listeners") or []
        ],
        "members": [
            (
                m.get("id") or "",
                m["address"],
                m["port"],
                m.get("weight") or 1,
                m.get("adminStateUp") is not False,
            )
            for p in pools
            for m in p.get("members") or []
        ],
        "algorithm": (pools[0].get("algorithm") if pools else None) or "ROUND_ROBIN",
        "createdAt": lb.get("createdAt"),
    }


def page_create_body(name: str, **spec: Any) -> dict[str, Any]:
    """handleCreate's body: the form's fields, one listener on port 80 without a pool id, one
    pool named default-pool without members."""
    return {
        "name": name,
        "description": "",
        "projectId": "default",
        "spec": {
            "networkId": uniq("net-prod"),
            "vipAddress": fresh_vip(),
            "listeners": [{"protocol": "HTTP", "port": 80}],
            "pools": [{"name": "default-pool", "algorithm": "LEAST_CONNECTIONS"}],
            **spec,
        },
    }


@pytest.mark.parametrize("asks", ["content-type", "content-type,authorization"])
def test_preflight_allows_the_dashboard_origin(dashboard: Dashboard, asks: str) -> None:
    """Without a token the page asks for content-type only; with one, authorization too."""
    for method in ("ListLoadBalancers", "CreateLoadBalancer", "DeleteLoadBalancer", "GetLoadBalancerStats"):
        response = dashboard.preflight(method, asks=asks)
        assert 200 <= response.status_code < 300, (method, response.status_code, response.text)
        h = response.headers
        assert h.get("access-control-allow-origin") == ORIGIN
        assert "POST" in {m.strip() for m in h.get("access-control-allow-methods", "").split(",")}
        allowed = {x.strip().lower() for x in h.get("access-control-allow-headers", "").split(",")}
        assert set(asks.split(",")) <= allowed, h
    # Another origin is not let in: the test can fail.
    other = dashboard.preflight("ListLoadBalancers", origin="http://evil.example")
    assert other.headers.get("access-control-allow-origin") != "http://evil.example"


def test_healthz_connects_the_page_cross_origin(dashboard: Dashboard) -> None:
    response = dashboard.healthz()
    assert 200 <= response.status_code < 300, response.text
    assert response.headers.get("access-control-allow-origin") == ORIGIN
    assert response.json()["status"] == "SERVING"


def run_page_flow(page: Dashboard) -> None:
    """The page's calls in the order a user makes them, read the way the page reads them."""
    listed = page.call("ListLoadBalancers", {})  # list({}) : no project filter
    before = {lb["id"] for lb in listed.get("loadBalancers", [])}

    body = page_create_body(uniq("web"))
    created = page.call("CreateLoadBalancer", body)
    view = page_view(created)
    assert created["projectId"] == "default" and view["name"] == body["name"]
    assert view["vip"] == body["spec"]["vipAddress"] and created["status"]["vipAddress"] == view["vip"]
    assert view["networkId"] == body["spec"]["networkId"]
    assert view["state"] == "ACTIVE" and created["status"]["phase"] == "ACTIVE"
    assert created["status"]["provisioningStatus"] == "ACTIVE"
    ((listener_id, port, protocol, default_pool),) = view["listeners"]
    (pool,) = created["spec"]["pools"]
    assert listener_id and (port, protocol) == (80, "HTTP")
    assert pool["name"] == "default-pool" and pool["id"] and default_pool == pool["id"]
    assert view["members"] == [] and view["algorithm"] == "LEAST_CONNECTIONS"
    created_at = datetime.fromisoformat(view["createdAt"])
    assert abs((datetime.now(UTC) - created_at).total_seconds()) < 60
    lb_id, pool_id = created["id"], pool["id"]

    listed = page.call("ListLoadBalancers", {})
    ids = [lb["id"] for lb in listed["loadBalancers"]]  # the first page (50): the page shows no more
    assert lb_id in ids and set(ids) >= before
    assert int(listed.get("totalCount", 0)) >= len(ids)
    assert page_view(next(lb for lb in listed["loadBalancers"] if lb["id"] == lb_id)) == view

    # members: one up, one administratively down (shown unhealthy)
    member = {"address": "10.0.0.20", "port": 8080, "weight": 2, "adminStateUp": True}
    page.call("AddPoolMember", {"loadBalancerId": lb_id, "poolId": pool_id, "member": member})
    down = {"address": "10.0.0.21", "port": 8080, "adminStateUp": False}
    with_members = page.call("AddPoolMember", {"loadBalancerId": lb_id, "poolId": pool_id, "member": down})
    members = page_view(with_members)["members"]
    assert [(a, p, w, up) for _, a, p, w, up in members] == [
        ("10.0.0.20", 8080, 2, True),
        ("10.0.0.21", 8080, 1, False),
    ]
    assert all(mid for mid, *_ in members)
    assert page_view(with_members)["state"] == "ACTIVE"

    # the detail view polls stats every 5 s
    for _ in range(2):
        stats = page.call("GetLoadBalancerStats", {"id": lb_id})
        assert stats["loadBalancerId"] == lb_id
        for ls in stats.get("listenerStats", []):
            assert ls["listenerId"] == listener_id
        assert {ms["memberId"] for ms in stats.get("memberStats", [])} <= {m[0] for m in members}

    removed = page.call(
        "RemovePoolMember", {"loadBalancerId": lb_id, "poolId": pool_id, "memberId": members[1][0]}
    )
    assert [m[0] for m in page_view(removed)["members"]] == [members[0][0]]

    added = page.call("AddListener", {"loadBalancerId": lb_id, "listener": {"name": "tls", "port": 443}})
    listeners = page_view(added)["listeners"]
    assert len(listeners) == 2
    (extra,) = [li for li in listeners if li[1] == 443]
    assert extra[2] == "TCP" and extra[3] == pool_id  # the page's fallback; the only pool serves it
    dropped = page.call("RemoveListener", {"loadBalancerId": lb_id, "listenerId": extra[0]})
    assert [li[0] for li in page_view(dropped)["listeners"]] == [listener_id]

    updated = page.call("UpdateLoadBalancer", {"id": lb_id, "description": "edge", "labels": {"tier": "web"}})
    assert (updated["description"], updated["labels"]) == ("edge", {"tier": "web"})
    assert page_view(updated)["name"] == body["name"] and page_view(updated)["state"] == "ACTIVE"
    got = page.call("GetLoadBalancer", {"id": lb_id})
    assert page_view(got) == page_view(updated) and got["labels"] == {"tier": "web"}

    deleted = page.call("DeleteLoadBalancer", {"id": lb_id})
    assert deleted == {}
    after = page.call("ListLoadBalancers", {})
    assert lb_id not in {lb["id"] for lb in after.get("loadBalancers", [])}


def test_dashboard_page_flow(dashboard: Dashboard) -> None:
    assert 200 <= dashboard.healthz().status_code < 300  # the page lists only once connected
    run_page_flow(dashboard)


def test_newer_dashboard_fields_are_ignored(dashboard: Dashboard) -> None:
    body = page_create_body(uniq("future"))
    body["trafficPolicy"] = {"mode": "anycast"}
    body["spec"]["listeners"][0]["http2"] = True
    body["spec"]["pools"][0]["slowStartSeconds"] = 30
    created = dashboard.call("CreateLoadBalancer", body)
    assert page_view(created)["state"] == "ACTIVE"
    member = {"address": "10.0.0.30", "port": 80, "backupRole": "standby"}
    pool_id = created["spec"]["pools"][0]["id"]
    added = dashboard.call(
        "AddPoolMember",
        {"loadBalancerId": created["id"], "poolId": pool_id, "member": member, "dryRun": False},
    )
    assert [m[1] for m in page_view(added)["members"]] == ["10.0.0.30"]
    assert dashboard.call("DeleteLoadBalancer", {"id": created["id"], "force": True}) == {}


def test_dashboard_with_a_token(signed_in: Dashboard, auth_srv: Server) -> None:
    # Connected without credentials: checkConnection sends none.
    health = signed_in.healthz()
    assert 200 <= health.status_code < 300 and health.headers.get("access-control-allow-origin") == ORIGIN
    # The preflight carries no credentials either, and must let Authorization through.
    pre = signed_in.preflight("CreateLoadBalancer")
    assert 200 <= pre.status_code < 300, pre.text
    allowed = {x.strip().lower() for x in pre.headers.get("access-control-allow-headers", "").split(",")}
    assert "authorization" in allowed and pre.headers.get("access-control-allow-origin") == ORIGIN
    # Without its token the page gets an error it can read (CORS headers on it too).
    anonymous = Dashboard(auth_srv)
    try:
        refused = anonymous.post("ListLoadBalancers", {})
        assert refused.status_code == 401, refused.text
        assert refused.json()["code"] == "unauthenticated"
    finally:
        anonymous.close()
    # With it, the whole page works.
    run_page_flow(signed_in)
