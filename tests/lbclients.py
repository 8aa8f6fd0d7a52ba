"""One client interface over the three transports, for tests that run each scenario on each.

`Transport.call(rpc, request)` sends a request message and returns the response message or
raises `CallFailed` with the error as the client saw it: the status code name, the message and
the google.rpc.BadRequest field violations. gRPC and Connect use their generated clients; REST
is driven from the README's route table (independent of the server's proto-derived routing)
with snake_case JSON and enum names, exactly as a curl user would write it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import grpc
import httpx
import pytest
from connectrpc.errors import ConnectError
from google.protobuf import any_pb2, empty_pb2, json_format, message_factory
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from conftest import Server
from limiquantix.network.v1 import network_pb2 as res
from limiquantix.network.v1 import network_service_pb2 as pb
from limiquantix.network.v1.network_service_connect import LoadBalancerServiceClientSync

TRANSPORTS = ("grpc", "connect-binary", "connect-json", "rest")
SERVICE = pb.DESCRIPTOR.services_by_name["LoadBalancerService"]

# README: "| gRPC code | HTTP |"
HTTP_STATUS = {
    "INVALID_ARGUMENT": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "FAILED_PRECONDITION": 412,
    "RESOURCE_EXHAUSTED": 413,
}

# README's REST table: rpc -> (verb, path template, body field: "*", a field name, or None).
REST_ROUTES: dict[str, tuple[str, str, str | None]] = {
    "CreateLoadBalancer": ("POST", "/api/v1/load-balancers", "*"),
    "ListLoadBalancers": ("GET", "/api/v1/load-balancers", None),
    "GetLoadBalancer": ("GET", "/api/v1/load-balancers/{id}", None),
    "UpdateLoadBalancer": ("PUT", "/api/v1/load-balancers/{id}", "*"),
    "DeleteLoadBalancer": ("DELETE", "/api/v1/load-balancers/{id}", None),
    "AddListener": ("POST", "/api/v1/load-balancers/{load_balancer_id}/listeners", "listener"),
    "UpdateListener": ("PUT", "/api/v1/load-balancers/{load_balancer_id}/listeners/{listener_id}", "*"),
    "RemoveListener": ("DELETE", "/api/v1/load-balancers/{load_balancer_id}/listeners/{listener_id}", None),
    "AddPool": ("POST", "/api/v1/load-balancers/{load_balancer_id}/pools", "pool"),
    "UpdatePool": ("PUT", "/api/v1/load-balancers/{load_balancer_id}/pools/{pool_id}", "*"),
    "RemovePool": ("DELETE", "/api/v1/load-balancers/{load_balancer_id}/pools/{pool_id}", None),
    "AddPoolMember": ("POST", "/api/v1/load-balancers/{load_balancer_id}/pools/{pool_id}/members", "member"),
    "UpdatePoolMember": (
        "PUT",
        "/api/v1/load-balancers/{load_balancer_id}/pools/{pool_id}/members/{member_id}",
        "*",
    ),
    "RemovePoolMember": (
        "DELETE",
        "/api/v1/load-balancers/{load_balancer_id}/pools/{pool_id}/members/{member_id}",
        None,
    ),
    "GetLoadBalancerStats": ("GET", "/api/v1/load-balancers/{id}/stats", None),
}
_SNAKE_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Failure:
    """An error as every transport must report it alike."""

    code: str  # google.rpc.Code name
    message: str
    violations: tuple[tuple[str, str], ...] = ()  # (field, description)


class CallFailed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(f"{failure.code}: {failure.message}")
        self.failure = failure


class Inexpressible(Exception):
    """The request cannot be written on this transport (e.g. an empty REST path segment)."""


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def output_of(rpc: str) -> type[Message]:
    return message_factory.GetMessageClass(SERVICE.methods_by_name[rpc].output_type)


def _bad_request(details: Any) -> tuple[tuple[str, str], ...]:
    found: list[tuple[str, str]] = []
    for detail in details:
        assert isinstance(detail, any_pb2.Any)
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            br = error_details_pb2.BadRequest()
            detail.Unpack(br)
            found.extend((v.field, v.description) for v in br.field_violations)
    return tuple(found)


def assert_snake_case(value: Any, where: str = "$") -> None:
    """REST JSON uses the proto field names (snake_case), never lowerCamelCase."""
    if isinstance(value, dict):
        for key, item in value.items():
            assert _SNAKE_KEY.match(key), f"{where}: key {key!r} is not snake_case"
            assert_snake_case(item, f"{where}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            assert_snake_case(item, f"{where}[{i}]")


class Transport:
    name: str

    def call(self, rpc: str, request: Message) -> Any:
        raise NotImplementedError

    def fail(self, rpc: str, request: Message) -> Failure:
        """Calls an RPC that must fail and returns how it failed."""
        try:
            reply = self.call(rpc, request)
        except CallFailed as exc:
            return exc.failure
        pytest.fail(f"{self.name} {rpc} succeeded but must fail: {reply}")

    def close(self) -> None:
        pass


class GrpcTransport(Transport):
    name = "grpc"

    def __init__(self, srv: Server) -> None:
        self._stub = srv.stub

    def call(self, rpc: str, request: Message) -> Any:
        try:
            return getattr(self._stub, rpc)(request, timeout=15)
        except grpc.RpcError as err:
            assert isinstance(err, grpc.Call)
            status = rpc_status.from_call(err)  # raises if it disagrees with the call's status
            details = status.details if status is not None else ()
            raise CallFailed(Failure(err.code().name, err.details() or "", _bad_request(details))) from None


class ConnectTransport(Transport):
    def __init__(self, srv: Server, proto_json: bool) -> None:
        self.name = "connect-json" if proto_json else "connect-binary"
        self._client = LoadBalancerServiceClientSync(srv.http_url, proto_json=proto_json, timeout_ms=15000)

    def call(self, rpc: str, request: Message) -> Any:
        try:
            return getattr(self._client, snake(rpc))(request)
        except ConnectError as err:
            raise CallFailed(Failure(err.code.name, err.message, _bad_request(err.details))) from None

    def close(self) -> None:
        self._client.close()


class RestTransport(Transport):
    name = "rest"

    def __init__(self, srv: Server) -> None:
        self.http = httpx.Client(base_url=srv.http_url, timeout=15)

    def request_parts(self, rpc: str, request: Message) -> tuple[str, str, dict[str, Any], Any]:
        """verb, path, query and JSON body (None for no body) for a request message."""
        verb, template, body_field = REST_ROUTES[rpc]
        fields = json_format.MessageToDict(request, preserving_proto_field_name=True)

        def fill(match: re.Match[str]) -> str:
            value = fields.pop(match.group(1), "")
            if not value:
                raise Inexpressible(f"REST cannot send an empty {match.group(1)} in {template}")
            return quote(str(value), safe="")

        path = re.sub(r"\{(\w+)\}", fill, template)
        body: Any = None
        query: dict[str, Any] = {}
        if body_field == "*":
            body = fields
        elif body_field:
            body = fields.pop(body_field, None)
            assert not fields, f"{rpc}: fields outside path and body: {fields}"
        else:
            query = {k: str(v) for k, v in fields.items()}
        return verb, path, query, body

    def call(self, rpc: str, request: Message) -> Any:
        verb, path, query, body = self.request_parts(rpc, request)
        response = self.http.request(verb, path, params=query or None, json=body)
        if response.status_code >= 400:
            raise CallFailed(error_of(response))
        if verb == "DELETE" and rpc == "DeleteLoadBalancer":
            assert response.status_code == 204, response.text
            assert response.content == b""
            return empty_pb2.Empty()
        assert response.status_code == (201 if verb == "POST" else 200), response.text
        data = response.json()
        assert_snake_case(data)
        return json_format.ParseDict(data, output_of(rpc)())

    def close(self) -> None:
        self.http.close()


def error_of(response: httpx.Response) -> Failure:
    """A REST error body, checked against the README's shape and status table."""
    assert response.headers["content-type"].startswith("application/json"), response.text
    data = response.json()
    assert set(data) == {"code", "message", "details"}, data
    assert response.status_code == HTTP_STATUS.get(data["code"]), (response.status_code, data)
    violations: list[tuple[str, str]] = []
    for detail in data["details"]:
        if detail["@type"] == "type.googleapis.com/google.rpc.BadRequest":
            violations.extend((v["field"], v["description"]) for v in detail["field_violations"])
    return Failure(data["code"], data["message"], tuple(violations))


def make(name: str, srv: Server) -> Transport:
    if name == "grpc":
        return GrpcTransport(srv)
    if name.startswith("connect-"):
        return ConnectTransport(srv, proto_json=name == "connect-json")
    if name == "rest":
        return RestTransport(srv)
    raise ValueError(name)


def open_all(srv: Server) -> Iterator[dict[str, Transport]]:
    """A generator for a fixture: one client per transport, closed at the end."""
    clients = {name: make(name, srv) for name in TRANSPORTS}
    try:
        yield clients
    finally:
        for client in clients.values():
            client.close()


def all_load_balancers(srv: Server, project_id: str = "") -> list[res.LoadBalancer]:
    """Every stored load balancer (of a project), read over gRPC."""
    found: list[res.LoadBalancer] = []
    token = ""
    while True:
        page = srv.stub.ListLoadBalancers(
            pb.ListLoadBalancersRequest(project_id=project_id, page_size=1000, page_token=token)
        )
        found.extend(page.load_balancers)
        token = page.next_page_token
        if not token:
            return found
