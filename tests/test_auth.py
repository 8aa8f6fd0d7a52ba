"""Bearer-token auth and project isolation, the same on gRPC, Connect and REST;
and the start-up rules around auth (loopback only without tokens, bad token files)."""

from __future__ import annotations

import json
import socket
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from connectrpc.errors import ConnectError
from google.protobuf import json_format

from builders import create_request as request_of
from builders import pool_json, pool_of, spec_body
from conftest import QUANTIX_LB, ROOT, Server, Watcher, bearer
from limiquantix.network.v1 import network_pb2 as res
from limiquantix.network.v1 import network_service_pb2 as pb
from limiquantix.network.v1.network_service_connect import LoadBalancerServiceClientSync
from quantix_lb.auth import Authenticator, Principal

TOKENS = {
    "tok-a": {"project_id": "proj-a"},
    "tok-b": {"project_id": "proj-b"},
    "tok-admin": {"role": "admin"},
}
TRANSPORTS = ("grpc", "connect", "rest")
MISSING_ID = "lb-00000000-0000-4000-8000-000000000000"


@dataclass
class Failure(Exception):
    """An RPC error, whatever the transport: the google.rpc code name and message."""

    code: str
    message: str
    http_status: int | None = None


def _body(req: Any) -> dict[str, Any]:
    return json_format.MessageToDict(req, preserving_proto_field_name=True)


# REST routes as the README documents them: (verb, path, body field or "*" or None).
LB = "/api/v1/load-balancers"
REST: dict[str, tuple[str, Callable[[Any], str], str | None]] = {
    "CreateLoadBalancer": ("POST", lambda r: LB, "*"),
    "GetLoadBalancer": ("GET", lambda r: f"{LB}/{r.id}", None),
    "ListLoadBalancers": ("GET", lambda r: LB, None),
    "UpdateLoadBalancer": ("PUT", lambda r: f"{LB}/{r.id}", "*"),
    "DeleteLoadBalancer": ("DELETE", lambda r: f"{LB}/{r.id}", None),
    "AddListener": ("POST", lambda r: f"{LB}/{r.load_balancer_id}/listeners", "listener"),
    "UpdateListener": ("PUT", lambda r: f"{LB}/{r.load_balancer_id}/listeners/{r.listener_id}", "*"),
    "RemoveListener": ("DELETE", lambda r: f"{LB}/{r.load_balancer_id}/listeners/{r.listener_id}", None),
    "AddPool": ("POST", lambda r: f"{LB}/{r.load_balancer_id}/pools", "pool"),
    "UpdatePool": ("PUT", lambda r: f"{LB}/{r.load_balancer_id}/pools/{r.pool_id}", "*"),
    "RemovePool": ("DELETE", lambda r: f"{LB}/{r.load_balancer_id}/pools/{r.pool_id}", None),
    "AddPoolMember": ("POST", lambda r: f"{LB}/{r.load_balancer_id}/pools/{r.pool_id}/members", "member"),
    "UpdatePoolMember": (
        "PUT",
        lambda r: f"{LB}/{r.load_balancer_id}/pools/{r.pool_id}/members/{r.member_id}",
        "*",
    ),
    "RemovePoolMember": (
        "DELETE",
        lambda r: f"{LB}/{r.load_balancer_id}/pools/{r.pool_id}/members/{r.member_id}",
        None,
    ),
    "GetLoadBalancerStats": ("GET", lambda r: f"{LB}/{r.id}/stats", None),
}
OUTPUT = {
    "DeleteLoadBalancer": None,
    "ListLoadBalancers": pb.ListLoadBalancersResponse,
    "GetLoadBalancerStats": pb.LoadBalancerStats,
}


_HTTP = httpx.Client()


class Client:
    """Calls one RPC over one transport with one Authorization header value."""

    def __init__(self, srv: Server, transport: str, authorization: str | None) -> None:
        self.srv = srv
        self.transport = transport
        self.authorization = authorization
        self._connect_client: LoadBalancerServiceClientSync | None = None

    def __call__(self, rpc: str, req: Any) -> Any:
        return getattr(self, f"_{self.transport}")(rpc, req)

    def _grpc(self, rpc: str, req: Any) -> Any:
        metadata = (("authorization", self.authorization),) if self.authorization else None
        try:
            return getattr(self.srv.stub, rpc)(req, metadata=metadata, timeout=10)
        except grpc.RpcError as err:
            raise Failure(err.code().name, err.details()) from None

    def _connect(self, rpc: str, req: Any) -> Any:
        if self._connect_client is None:
            self._connect_client = LoadBalancerServiceClientSync(self.srv.http_url)
        client = self._connect_client
        headers = {"authorization": self.authorization} if self.authorization else None
        snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in rpc).lstrip("_")
        try:
            return getattr(client, snake)(req, headers=headers, timeout_ms=10_000)
        except ConnectError as err:
            raise Failure(err.code.name, err.message) from None

    def _rest(self, rpc: str, req: Any) -> Any:
        verb, path_of, body = REST[rpc]
        headers = {"authorization": self.authorization} if self.authorization else {}
        kwargs: dict[str, Any] = {}
        if body == "*":
            kwargs["json"] = _body(req)
        elif body:
            kwargs["json"] = _body(getattr(req, body))
        elif verb == "GET":
            kwargs["params"] = {k: v for k, v in _body(req).items() if k != "id"}
        url = self.srv.http_url + path_of(req)
        resp = _HTTP.request(verb, url, headers=headers, timeout=10, **kwargs)
        if resp.status_code >= 400:
            assert resp.headers["content-type"].startswith("application/json"), resp.text
            err = resp.json()
            raise Failure(err["code"], err["message"], resp.status_code)
        output = OUTPUT.get(rpc, res.LoadBalancer)
        if output is None:
            assert resp.status_code == 204
            return None
        return json_format.ParseDict(resp.json(), output())


def failure(fn: Callable[[], Any]) -> Failure:
    with pytest.raises(Failure) as info:
        fn()
    return info.value


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("auth")
    tokens = base / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    srv = Server(base / "data", ["--auth-tokens", str(tokens)]).start()
    try:
        yield srv
    finally:
        srv.stop()


def create_request(project_id: str, network_id: str, vip: str = "10.1.0.10") -> pb.CreateLoadBalancerRequest:
    """One TCP:80 listener on a round-robin pool of one member."""
    body = spec_body(
        pools=[pool_json("10.1.0.20", algorithm="ROUND_ROBIN")],
        network_id=network_id,
        vip_address=vip,
        name="lb",
        project_id=project_id,
    )
    return request_of(body)


def admin(srv: Server) -> Client:
    return Client(srv, "grpc", bearer("tok-admin"))


def net() -> str:
    return f"net-{uuid.uuid4().hex[:8]}"


# --- authentication ---------------------------------------------------------------


@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Basic dG9rLWE6",
        "tok-a",
        "Bearer",
        "Bearer tok-unknown",
        "Bearer tok-a-but-longer",
        "Token tok-a",
    ],
    ids=["none", "basic", "no-scheme", "bearer-only", "unknown", "prefix", "other-scheme"],
)
def test_bad_credentials_are_unauthenticated(auth_server: Server, transport: str, authorization: str | None):
    client = Client(auth_server, transport, authorization)
    calls = [
        ("ListLoadBalancers", pb.ListLoadBalancersRequest()),
        ("GetLoadBalancer", pb.GetLoadBalancerRequest(id=MISSING_ID)),
        ("CreateLoadBalancer", create_request("proj-a", net())),
    ]
    for rpc, req in calls:
        err = failure(lambda rpc=rpc, req=req: client(rpc, req))
        assert err.code == "UNAUTHENTICATED", (rpc, err)
        assert err.message
        if transport == "rest":
            assert err.http_status == 401
    # Nothing was created by the refused Create.
    listed = admin(auth_server)("ListLoadBalancers", pb.ListLoadBalancersRequest(page_size=1000))
    assert all(lb.spec.network_id != calls[2][1].spec.network_id for lb in listed.load_balancers)


def test_rest_unauthenticated_body_is_json(auth_server: Server):
    resp = httpx.get(f"{auth_server.http_url}{LB}", timeout=10)
    assert resp.status_code == 401
    body = resp.json()
    assert body["code"] == "UNAUTHENTICATED"
    assert body["message"]
    assert isinstance(body["details"], list)


@pytest.mark.parametrize("transport", ("grpc", "connect"))
def test_watch_requires_a_token(auth_server: Server, transport: str):
    for authorization in (None, "Bearer nope"):
        watcher = Watcher(auth_server, transport, authorization=authorization)
        try:
            err = watcher.error()
        finally:
            watcher.close()
        code = err.code().name if isinstance(err, grpc.RpcError) else err.code.name
        assert code == "UNAUTHENTICATED", err


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_scheme_is_case_insensitive(auth_server: Server, transport: str):
    Client(auth_server, transport, "bearer tok-a")("ListLoadBalancers", pb.ListLoadBalancersRequest())


# --- isolation --------------------------------------------------------------------


def _mutations(lb: res.LoadBalancer) -> list[tuple[str, Any]]:
    """Every RPC that names a load balancer, aimed at `lb` with otherwise valid arguments."""
    listener = lb.spec.listeners[0]
    pool = pool_of(lb, listener)
    member = pool.members[0]
    ids = {"load_balancer_id": lb.id}
    return [
        ("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id)),
        ("GetLoadBalancerStats", pb.GetLoadBalancerStatsRequest(id=lb.id)),
        ("UpdateLoadBalancer", pb.UpdateLoadBalancerRequest(id=lb.id, name="hijacked")),
        (
            "AddListener",
            pb.AddListenerRequest(
                **ids,
                listener=res.Listener(
                    protocol=res.Listener.UDP, port=53, default_pool=res.Pool(algorithm=res.Pool.ROUND_ROBIN)
                ),
            ),
        ),
        ("UpdateListener", pb.UpdateListenerRequest(**ids, listener_id=listener.id, name="hijacked")),
        ("AddPool", pb.AddPoolRequest(**ids, pool=res.Pool(name="extra", algorithm=res.Pool.SOURCE_IP))),
        (
            "UpdatePool",
            pb.UpdatePoolRequest(**ids, pool_id=pool.id, algorithm=res.Pool.LEAST_CONNECTIONS),
        ),
        (
            "AddPoolMember",
            pb.AddPoolMemberRequest(
                **ids, pool_id=pool.id, member=res.PoolMember(address="10.1.0.99", port=81)
            ),
        ),
        (
            "UpdatePoolMember",
            pb.UpdatePoolMemberRequest(**ids, pool_id=pool.id, member_id=member.id, weight=7),
        ),
        ("RemovePoolMember", pb.RemovePoolMemberRequest(**ids, pool_id=pool.id, member_id=member.id)),
        ("RemoveListener", pb.RemoveListenerRequest(**ids, listener_id=listener.id)),
        # The listener is gone, so its pool is free to go.
        ("RemovePool", pb.RemovePoolRequest(**ids, pool_id=pool.id)),
        ("DeleteLoadBalancer", pb.DeleteLoadBalancerRequest(id=lb.id)),
    ]


def _retarget(req: Any, lb_id: str) -> Any:
    clone = type(req)()
    clone.CopyFrom(req)
    if "load_balancer_id" in type(req).DESCRIPTOR.fields_by_name:
        clone.load_balancer_id = lb_id
    else:
        clone.id = lb_id
    return clone


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_other_projects_load_balancer_is_not_found(auth_server: Server, transport: str):
    network = net()
    lb_b = admin(auth_server)("CreateLoadBalancer", create_request("proj-b", network))
    as_a = Client(auth_server, transport, bearer("tok-a"))

    # Every RPC that names a load balancer is tried.
    methods = {m.name for m in pb.DESCRIPTOR.services_by_name["LoadBalancerService"].methods}
    unnamed = {"CreateLoadBalancer", "ListLoadBalancers", "WatchLoadBalancers"}
    assert {rpc for rpc, _ in _mutations(lb_b)} == methods - unnamed
    for rpc, req in _mutations(lb_b):
        foreign = failure(lambda rpc=rpc, req=req: as_a(rpc, req))
        missing = failure(lambda rpc=rpc, req=req: as_a(rpc, _retarget(req, MISSING_ID)))
        assert foreign.code == "NOT_FOUND", (rpc, foreign)
        # Indistinguishable from an id that does not exist.
        assert (foreign.code, foreign.http_status) == (missing.code, missing.http_status), rpc
        assert foreign.message.replace(lb_b.id, "<id>") == missing.message.replace(MISSING_ID, "<id>"), rpc
        if transport == "rest":
            assert foreign.http_status == 404

    # Nothing changed: the owner and an admin still see the untouched load balancer.
    for token in ("tok-b", "tok-admin"):
        after = Client(auth_server, "grpc", bearer(token))(
            "GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb_b.id)
        )
        assert after == lb_b


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_owner_may_do_everything_to_its_own(auth_server: Server, transport: str):
    """The same calls succeed for the owning project (so NOT_FOUND above is isolation)."""
    as_a = Client(auth_server, transport, bearer("tok-a"))
    lb_a = as_a("CreateLoadBalancer", create_request("proj-a", net()))
    assert lb_a.project_id == "proj-a"
    for rpc, req in _mutations(lb_a):
        as_a(rpc, req)
    err = failure(lambda: as_a("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb_a.id)))
    assert err.code == "NOT_FOUND"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_create_in_other_project_is_permission_denied(auth_server: Server, transport: str):
    network = net()
    err = failure(
        lambda: Client(auth_server, transport, bearer("tok-a"))(
            "CreateLoadBalancer", create_request("proj-b", network)
        )
    )
    assert err.code == "PERMISSION_DENIED"
    if transport == "rest":
        assert err.http_status == 403
    listed = admin(auth_server)("ListLoadBalancers", pb.ListLoadBalancersRequest(network_id=network))
    assert list(listed.load_balancers) == []


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_create_without_project_uses_the_tokens_project(auth_server: Server, transport: str):
    lb = Client(auth_server, transport, bearer("tok-b"))("CreateLoadBalancer", create_request("", net()))
    assert lb.project_id == "proj-b"
    assert admin(auth_server)("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id)).project_id == "proj-b"


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_list_shows_only_own_project(auth_server: Server, transport: str):
    network, their_network = net(), net()  # a network belongs to one project (issue 9)
    boss = admin(auth_server)
    mine = [boss("CreateLoadBalancer", create_request("proj-a", network, f"10.2.0.{i}")).id for i in (1, 2)]
    theirs = [
        boss("CreateLoadBalancer", create_request("proj-b", their_network, f"10.2.0.{i}")).id
        for i in (3, 4, 5)
    ]

    as_a = Client(auth_server, transport, bearer("tok-a"))
    own = as_a("ListLoadBalancers", pb.ListLoadBalancersRequest(network_id=network))
    assert [lb.id for lb in own.load_balancers] == mine
    assert own.total_count == 2
    hidden = as_a("ListLoadBalancers", pb.ListLoadBalancersRequest(network_id=their_network))
    assert (list(hidden.load_balancers), hidden.total_count) == ([], 0)
    everything = as_a("ListLoadBalancers", pb.ListLoadBalancersRequest(page_size=1000))
    assert {lb.project_id for lb in everything.load_balancers} == {"proj-a"}
    assert everything.total_count == len(everything.load_balancers)
    explicit = as_a("ListLoadBalancers", pb.ListLoadBalancersRequest(project_id="proj-a", network_id=network))
    assert [lb.id for lb in explicit.load_balancers] == mine

    err = failure(lambda: as_a("ListLoadBalancers", pb.ListLoadBalancersRequest(project_id="proj-b")))
    assert err.code == "PERMISSION_DENIED"
    if transport == "rest":
        assert err.http_status == 403

    as_admin = Client(auth_server, transport, bearer("tok-admin"))
    every = as_admin("ListLoadBalancers", pb.ListLoadBalancersRequest(page_size=1000))
    listed = [lb.id for lb in every.load_balancers]
    assert [i for i in listed if i in mine + theirs] == mine + theirs
    only_b = as_admin(
        "ListLoadBalancers", pb.ListLoadBalancersRequest(project_id="proj-b", network_id=their_network)
    )
    assert [lb.id for lb in only_b.load_balancers] == theirs
    for lb_id in theirs:
        as_admin("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb_id))


@pytest.mark.parametrize("transport", ("grpc", "connect"))
def test_watch_streams_only_own_project(auth_server: Server, transport: str):
    boss = admin(auth_server)
    network, their_network = net(), net()
    existing_a = boss("CreateLoadBalancer", create_request("proj-a", network, "10.3.0.1"))
    boss("CreateLoadBalancer", create_request("proj-b", their_network, "10.3.0.2"))

    denied = Watcher(
        auth_server, transport, pb.WatchLoadBalancersRequest(project_id="proj-b"), bearer("tok-a")
    )
    watcher = Watcher(auth_server, transport, pb.WatchLoadBalancersRequest(), bearer("tok-a"))
    try:
        err = denied.error()
        code = err.code().name if isinstance(err, grpc.RpcError) else err.code.name
        assert code == "PERMISSION_DENIED", err

        snapshot = watcher.snapshot()  # unfiltered: every load balancer of project A, only those
        assert existing_a.id in [lb.id for lb in snapshot]
        assert {lb.project_id for lb in snapshot} == {"proj-a"}
        hidden = boss("CreateLoadBalancer", create_request("proj-b", their_network, "10.3.0.3"))
        boss("DeleteLoadBalancer", pb.DeleteLoadBalancerRequest(id=hidden.id))
        visible = boss("CreateLoadBalancer", create_request("proj-a", network, "10.3.0.4"))
        # The first event after the snapshot is project A's, not any of project B's.
        event = watcher.next()
        assert (event.type, event.load_balancer.id) == (pb.WatchLoadBalancersResponse.CREATED, visible.id)
    finally:
        watcher.close()
        denied.close()


# --- start-up -----------------------------------------------------------------------


def _serve(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Runs `serve` expecting it to exit by itself (start-up refused)."""
    cmd = [*QUANTIX_LB, "serve", "--data-dir", str(tmp_path / "data")]
    cmd += ["--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", *args]
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=20, cwd=ROOT)
    except subprocess.TimeoutExpired as exc:  # pragma: no cover - the refusal did not happen
        raise AssertionError(f"serve {args} kept running instead of refusing to start") from exc


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("quantix-lb:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("flag,host", [("--grpc-addr", "0.0.0.0"), ("--http-addr", "[::]")])
def test_non_loopback_without_tokens_is_refused(tmp_path: Path, flag: str, host: str):
    line = _one_line_error(_serve(tmp_path, flag, f"{host}:0"))
    assert "--auth-tokens" in line and "--insecure" in line, line
    assert not (tmp_path / "data" / "quantix-lb.db").exists(), "refused start-up must not open the store"


def test_ipv6_loopback_needs_no_tokens_and_reports_dialable_addresses(make_server: Callable[..., Server]):
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 loopback")
    srv = make_server("--grpc-addr", "[::1]:0", "--http-addr", "[::1]:0")
    assert srv.grpc_addr.startswith("[::1]:") and srv.http_url.startswith("http://[::1]:")
    srv.stub.ListLoadBalancers(pb.ListLoadBalancersRequest(), timeout=10)
    assert httpx.get(f"{srv.http_url}{LB}", timeout=10).status_code == 200


def test_non_loopback_with_insecure_starts_and_warns(make_server: Callable[..., Server]):
    srv = make_server("--grpc-addr", "0.0.0.0:0", "--http-addr", "0.0.0.0:0", "--insecure")
    port = srv.grpc_addr.rpartition(":")[2]
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        from limiquantix.network.v1 import network_service_pb2_grpc as pb_grpc

        pb_grpc.LoadBalancerServiceStub(channel).ListLoadBalancers(pb.ListLoadBalancersRequest(), timeout=10)
    finally:
        channel.close()
    assert any('"auth.off"' in line for line in srv.log_lines)


def test_non_loopback_with_tokens_starts_when_clear_text_is_allowed(
    make_server: Callable[..., Server], tmp_path: Path
):
    """Tokens off loopback need TLS (tests/test_tls.py) or, knowingly, --insecure."""
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    srv = make_server("--http-addr", "0.0.0.0:0", "--auth-tokens", str(tokens), "--insecure")
    port = srv.http_url.rpartition(":")[2]
    resp = httpx.get(f"http://127.0.0.1:{port}{LB}", headers={"authorization": "Bearer tok-a"}, timeout=10)
    assert resp.status_code == 200
    assert not any('"auth.off"' in line for line in srv.log_lines)


def test_loopback_without_tokens_logs_auth_off(server: Server):
    assert any('"auth.off"' in line for line in server.log_lines)


BAD_TOKEN_FILES = {
    "invalid-json": "{not json",
    "empty": "",
    "list": '["tok-a"]',
    "string-grant": '{"tok-a": "proj-a"}',
    "empty-grant": '{"tok-a": {}}',
    "empty-project": '{"tok-a": {"project_id": ""}}',
    "int-project": '{"tok-a": {"project_id": 7}}',
    "unknown-role": '{"tok-a": {"role": "root"}}',
    "empty-token": '{"": {"role": "admin"}}',
}


@pytest.mark.parametrize("content", BAD_TOKEN_FILES.values(), ids=BAD_TOKEN_FILES.keys())
def test_bad_token_file_is_a_one_line_value_error(tmp_path: Path, content: str):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(content)
    with pytest.raises(ValueError) as info:
        Authenticator.from_file(tokens)
    message = str(info.value)
    assert str(tokens) in message
    assert "\n" not in message


def test_token_file_grants():
    auth_file = Authenticator(
        {"tok-a": Principal(project_id="proj-a"), "tok-admin": Principal(project_id=None, role="admin")}
    )
    assert auth_file.enabled
    assert auth_file.authenticate("Bearer tok-a") == Principal(project_id="proj-a")
    assert auth_file.authenticate("Bearer tok-admin").admin
    assert not Authenticator(None).enabled
    assert Authenticator(None).authenticate(None).admin


def test_token_file_is_read(tmp_path: Path):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(TOKENS))
    auth_file = Authenticator.from_file(tokens)
    assert auth_file.authenticate("Bearer tok-b") == Principal(project_id="proj-b")
    admin_principal = auth_file.authenticate("Bearer tok-admin")
    assert admin_principal.admin and admin_principal.may_see("proj-a") and admin_principal.may_see("proj-b")
    a = auth_file.authenticate("Bearer tok-a")
    assert a.may_see("proj-a") and not a.may_see("proj-b")


@pytest.mark.parametrize("name", ["invalid-json", "unknown-role"])
def test_bad_token_file_fails_start_up(tmp_path: Path, name: str):
    tokens = tmp_path / "tokens.json"
    tokens.write_text(BAD_TOKEN_FILES[name])
    line = _one_line_error(_serve(tmp_path, "--auth-tokens", str(tokens)))
    assert str(tokens) in line, line
    assert not (tmp_path / "data" / "quantix-lb.db").exists()


def test_missing_token_file_fails_start_up(tmp_path: Path):
    line = _one_line_error(_serve(tmp_path, "--auth-tokens", str(tmp_path / "nope.json")))
    assert "nope.json" in line
