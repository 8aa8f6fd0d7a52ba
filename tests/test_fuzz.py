"""Property-based fuzzing of every transport: nothing a client sends makes the server fail.

Hypothesis builds request bodies near the real ones (the cloud's create body with its
values swapped for hostile ones: control characters, lone surrogates, zones in addresses,
huge and negative numbers, wrong types, deep nesting) and plain garbage, and sends them
over REST, Connect JSON, Connect binary and gRPC. Every answer must be a success or a
client error with a body the client can read; the server's log must show no crash. The
number of examples is bounded so the module takes seconds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builders import spec_body
from conftest import Server

SERVICE = "/limiquantix.network.v1.LoadBalancerService"
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        ["net\x00x", "\ud800", "a\nb", "\x1b[31m", "fd00::2%a],[fd00::99", "10.0.0.1%eth0", "x" * 300, ""]
    ),
)
hostile_number = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from(["80", "eighty", "1e3", "", None, True]),
)
scalar = st.one_of(hostile_text, hostile_number, st.booleans(), st.none())
json_value = st.recursive(
    scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(hostile_text, inner, max_size=4),
    max_leaves=20,
)

# Paths into the cloud's create body whose value the fuzzer replaces.
PATHS = [
    ("name",),
    ("project_id",),
    ("labels",),
    ("spec", "network_id"),
    ("spec", "vip_address"),
    ("spec", "subnet_id"),
    ("spec", "listeners"),
    ("spec", "listeners", 0, "protocol"),
    ("spec", "listeners", 0, "port"),
    ("spec", "listeners", 0, "default_pool_id"),
    ("spec", "pools", 0, "algorithm"),
    ("spec", "pools", 0, "members", 0, "address"),
    ("spec", "pools", 0, "members", 0, "port"),
    ("spec", "pools", 0, "members", 0, "weight"),
    ("spec", "pools", 0, "health_monitor"),
    ("spec", "pools", 0, "persistence"),
]


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(Path(tmp_path_factory.mktemp("fuzz")) / "data").start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def http(srv: Server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=srv.http_url, timeout=15) as client:
        yield client


def mutated(path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    body = spec_body()
    target: Any = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


def assert_client_error_or_success(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    if response.status_code >= 400:
        assert response.headers["content-type"].startswith("application/json"), response.text
        response.json()


def dumps(body: Any) -> bytes:
    # Lone surrogates must reach the server as JSON escapes, the way a browser would send them.
    return json.dumps(body).encode()


@FUZZ
@given(path=st.sampled_from(PATHS), value=json_value)
def test_rest_and_connect_json_answer_every_body(http: httpx.Client, path: tuple, value: Any) -> None:
    body = dumps(mutated(path, value))
    headers = {"content-type": "application/json"}
    assert_client_error_or_success(http.post("/api/v1/load-balancers", content=body, headers=headers))
    assert_client_error_or_success(http.post(f"{SERVICE}/CreateLoadBalancer", content=body, headers=headers))


@FUZZ
@given(body=json_value)
def test_any_json_anywhere(http: httpx.Client, body: Any) -> None:
    headers = {"content-type": "application/json"}
    raw = dumps(body)
    for path in ("/api/v1/load-balancers", f"{SERVICE}/CreateLoadBalancer", f"{SERVICE}/ListLoadBalancers"):
        assert_client_error_or_success(http.post(path, content=raw, headers=headers))
    assert_client_error_or_success(http.put("/api/v1/load-balancers/x", content=raw, headers=headers))


@FUZZ
@given(data=st.binary(max_size=200))
def test_binary_garbage_on_connect_and_grpc(srv: Server, http: httpx.Client, data: bytes) -> None:
    response = http.post(
        f"{SERVICE}/CreateLoadBalancer", content=data, headers={"content-type": "application/proto"}
    )
    assert_client_error_or_success(response)
    call = srv.channel.unary_unary(f"{SERVICE}/CreateLoadBalancer")
    try:
        call(data, timeout=15)
    except grpc.RpcError as err:
        assert err.code() not in (grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN), err


def test_nothing_crashed(srv: Server) -> None:
    assert srv.proc is not None and srv.proc.poll() is None
    crashed = [line for line in srv.log_lines if "rpc.crashed" in line or "Traceback" in line]
    assert not crashed, crashed[:3]
