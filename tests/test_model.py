"""Unit tests of the pure parts: validation, store documents, page tokens, the RPC table."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from dataclasses import replace

import pytest

from conftest import ROOT
from limiquantix.network.v1 import network_service_pb2 as pb
from limiquantix.network.v1.network_service_connect import LoadBalancerServiceClientSync
from quantix_lb import model, store
from quantix_lb.api.dispatch import methods_of, snake
from quantix_lb.errors import ApiError, Code
from quantix_lb.model import Problems
from quantix_lb.service import LoadBalancerCore, _decode_token, _encode_token

PROTO = ROOT / "proto" / "limiquantix" / "network" / "v1" / "network_service.proto"
SERVICE = pb.DESCRIPTOR.services_by_name["LoadBalancerService"]


def fields(check, *args) -> list[str]:
    """The violation paths `check(problems, *args)` records."""
    p = Problems()
    check(p, *args)
    return [v.field for v in p.violations]


def monitor(**kw) -> model.HealthMonitor:
    base = {
        "id": "hm-1",
        "type": model.MonitorType.HTTP,
        "delay": 5.0,
        "timeout": 3.0,
        "http_method": "GET",
        "url_path": "/health",
        "expected_codes": "200",
    }
    return model.HealthMonitor(**{**base, **kw})


def member(i: int = 1, **kw) -> model.Member:
    return model.Member(**{"id": f"mem-{i}", "address": f"10.0.0.{i}", "port": 8080, **kw})


def listener(
    i: int = 1, protocol=model.Protocol.TCP, port: int = 80, members=(), **pool_kw
) -> model.Listener:
    pool = model.Pool(id=f"pool-{i}", members=tuple(members), **pool_kw)
    return model.Listener(id=f"lis-{i}", protocol=protocol, port=port, default_pool=pool)


def load_balancer(*listeners: model.Listener, **kw) -> model.LoadBalancer:
    base = {
        "id": "lb-1",
        "project_id": "proj-1",
        "network_id": "net-1",
        "vip_address": "192.168.1.100",
        "created_at": 1700000000.25,
        "updated_at": 1700000000.25,
    }
    return model.LoadBalancer(**{**base, **kw}, listeners=tuple(listeners))


# --- validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "port,ok", [(0, False), (1, True), (80, True), (65535, True), (65536, False), (-1, False)]
)
def test_check_port(port: int, ok: bool):
    assert fields(model.check_port, "port", port) == ([] if ok else ["port"])


@pytest.mark.parametrize(
    "address,version",
    [
        ("10.0.0.1", 4),
        ("2001:db8::1", 6),
        ("", None),
        ("10.0.0", None),
        ("10.0.0.256", None),
        ("example.com", None),
        ("224.0.0.1", None),
        ("ff02::1", None),
        ("0.0.0.0", None),
        ("::", None),
    ],
)
def test_check_ip(address: str, version: int | None):
    p = Problems()
    assert model.check_ip(p, "vip_address", address) == version
    assert [v.field for v in p.violations] == ([] if version else ["vip_address"])


def test_canonical_ip():
    assert model.canonical_ip("2001:DB8:0:0::1") == "2001:db8::1"
    assert model.canonical_ip("10.0.0.1") == "10.0.0.1"
    with pytest.raises(ValueError):
        model.canonical_ip("nope")


@pytest.mark.parametrize("codes", ["200", "200-299", "200,202,204", "100", "599", "100-599", "204,200"])
def test_expected_codes_valid(codes: str):
    assert fields(model.check_expected_codes, "codes", codes) == []


@pytest.mark.parametrize(
    "codes",
    ["", "2xx", "99", "600", "200-600", "300-200", "200-", "200,", " 200", "200, 202", "0200", "200-299-300"],
)
def test_expected_codes_invalid(codes: str):
    assert fields(model.check_expected_codes, "codes", codes) == ["codes"]


def test_monitor_valid_including_sub_second():
    assert fields(model.check_monitor, "hm", monitor()) == []
    assert fields(model.check_monitor, "hm", monitor(delay=0.5, timeout=0.25)) == []
    assert fields(model.check_monitor, "hm", monitor(delay=2, timeout=2)) == [], "timeout may equal delay"
    tcp = model.HealthMonitor(id="hm-2", type=model.MonitorType.TCP, delay=1, timeout=1)
    assert fields(model.check_monitor, "hm", tcp) == []
    assert fields(model.check_monitor, "hm", monitor(max_retries=1, healthy_threshold=10)) == []


@pytest.mark.parametrize(
    "changes,bad",
    [
        ({"delay": 0}, "hm.delay"),
        ({"delay": -1, "timeout": 1}, "hm.delay"),
        ({"timeout": 0}, "hm.timeout"),
        ({"timeout": 6}, "hm.timeout"),
        ({"max_retries": 0}, "hm.max_retries"),
        ({"max_retries": 11}, "hm.max_retries"),
        ({"healthy_threshold": 0}, "hm.healthy_threshold"),
        ({"healthy_threshold": 11}, "hm.healthy_threshold"),
        ({"http_method": "FETCH"}, "hm.http_method"),
        ({"http_method": "get"}, "hm.http_method"),
        ({"url_path": "health"}, "hm.url_path"),
        ({"url_path": "/a b"}, "hm.url_path"),
        ({"url_path": "/" + "a" * 2048}, "hm.url_path"),
        ({"expected_codes": "2xx"}, "hm.expected_codes"),
        ({"type": model.MonitorType.TCP}, "hm.http_method"),
        (
            {
                "type": model.MonitorType.UDP_CONNECT,
                "http_method": "",
                "url_path": "/x",
                "expected_codes": "",
            },
            "hm.url_path",
        ),
    ],
)
def test_monitor_invalid(changes: dict, bad: str):
    assert bad in fields(model.check_monitor, "hm", monitor(**changes))


@pytest.mark.parametrize("method", sorted(model.HTTP_METHODS))
def test_monitor_http_methods(method: str):
    assert fields(model.check_monitor, "hm", monitor(http_method=method)) == []


def test_member_rules():
    assert fields(model.check_member, "m", member(), 4) == []
    assert fields(model.check_member, "m", member(weight=0), 4) == []
    assert fields(model.check_member, "m", member(weight=256), 4) == []
    assert fields(model.check_member, "m", member(weight=257), 4) == ["m.weight"]
    assert fields(model.check_member, "m", member(port=0), 4) == ["m.port"]
    assert fields(model.check_member, "m", member(name="x" * 256), 4) == ["m.name"]
    assert fields(model.check_member, "m", member(address="2001:db8::1"), 4) == ["m.address"]
    assert fields(model.check_member, "m", member(address="2001:db8::1"), 6) == []
    assert fields(model.check_member, "m", member(address="bad"), 4) == ["m.address"]


def test_pool_rules():
    dup = model.Pool(id="pool-1", members=(member(1), member(2), member(1, id="mem-3")))
    assert fields(model.check_pool, "pool", dup, 4) == ["pool.members[2]"]
    same_address_other_port = model.Pool(id="pool-1", members=(member(1), member(1, id="mem-2", port=8081)))
    assert fields(model.check_pool, "pool", same_address_other_port, 4) == []
    many = model.Pool(
        id="pool-1",
        members=tuple(
            model.Member(id=f"m{i}", address=f"10.{i // 250}.{i % 250}.1", port=80) for i in range(1025)
        ),
    )
    assert "pool.members" in fields(model.check_pool, "pool", many, 4)
    nested = model.Pool(id="pool-1", members=(member(weight=300),), health_monitor=monitor(max_retries=0))
    assert fields(model.check_pool, "pool", nested, 4) == [
        "pool.members[0].weight",
        "pool.health_monitor.max_retries",
    ]


def test_persistence_rules():
    sp = model.SessionPersistence
    assert fields(model.check_persistence, "sp", sp(model.PersistenceType.SOURCE_IP, 300)) == []
    assert fields(model.check_persistence, "sp", sp(model.PersistenceType.SOURCE_IP, 65535)) == []
    assert fields(model.check_persistence, "sp", sp(model.PersistenceType.SOURCE_IP, 0)) == ["sp.timeout"]
    assert fields(model.check_persistence, "sp", sp(model.PersistenceType.SOURCE_IP, 65536)) == ["sp.timeout"]
    assert fields(model.check_persistence, "sp", sp(model.PersistenceType.NONE, 0)) == []


def test_load_balancer_valid():
    lb = load_balancer(listener(1, members=[member(1), member(2)]), listener(2, model.Protocol.UDP, 80))
    assert fields(model.check_load_balancer, lb) == []


def test_load_balancer_reports_every_violation_at_once():
    lb = load_balancer(
        listener(1, port=0, members=[member(1, weight=999)]),
        project_id="",
        network_id="",
        vip_address="300.1.1.1",
        name="n" * 256,
        description="d" * 1025,
    )
    got = fields(model.check_load_balancer, lb)
    for path in (
        "project_id",
        "network_id",
        "name",
        "description",
        "vip_address",
        "listeners[0].port",
        "listeners[0].default_pool.members[0].weight",
    ):
        assert path in got, (path, got)


def test_limits_on_names_and_listeners():
    assert fields(model.check_load_balancer, load_balancer(name="n" * 255, description="d" * 1024)) == []
    many = load_balancer(*(listener(i, port=i) for i in range(1, 66)))
    assert "listeners" in fields(model.check_load_balancer, many)
    assert "listeners" not in fields(
        model.check_load_balancer, load_balancer(*(listener(i, port=i) for i in range(1, 65)))
    )


@pytest.mark.parametrize(
    "first,second,clash",
    [
        (model.Protocol.TCP, model.Protocol.TCP, True),
        (model.Protocol.TCP, model.Protocol.HTTP, True),
        (model.Protocol.HTTP, model.Protocol.HTTPS, True),
        (model.Protocol.TCP, model.Protocol.UDP, False),
        (model.Protocol.UDP, model.Protocol.SCTP, False),
        (model.Protocol.SCTP, model.Protocol.SCTP, True),
    ],
)
def test_one_listener_per_l4_protocol_and_port(first, second, clash: bool):
    lb = load_balancer(listener(1, first, 80), listener(2, second, 80))
    got = fields(model.check_load_balancer, lb)
    assert got == (["listeners[1].port"] if clash else [])


def test_protocol_l4_and_frontends():
    assert {p: p.l4 for p in model.Protocol} == {
        model.Protocol.TCP: "tcp",
        model.Protocol.HTTP: "tcp",
        model.Protocol.HTTPS: "tcp",
        model.Protocol.UDP: "udp",
        model.Protocol.SCTP: "sctp",
    }
    lb = load_balancer(listener(1, model.Protocol.HTTPS, 443), listener(2, model.Protocol.UDP, 53))
    assert model.frontends(lb) == [
        model.Frontend("net-1", "192.168.1.100", "tcp", 443, "lis-1"),
        model.Frontend("net-1", "192.168.1.100", "udp", 53, "lis-2"),
    ]
    assert model.vip_version(lb) == 4
    assert model.vip_version(replace(lb, vip_address="2001:db8::1")) == 6


def test_problems_raise_invalid_argument_with_every_violation():
    p = Problems()
    p.raise_if_any()  # nothing recorded: no error
    p.add("a", "is bad")
    p.add("b", "is worse")
    with pytest.raises(ApiError) as info:
        p.raise_if_any()
    err = info.value
    assert err.code is Code.INVALID_ARGUMENT
    assert [(v.field, v.description) for v in err.violations] == [("a", "is bad"), ("b", "is worse")]
    assert err.message.startswith("a: is bad")


def test_ids_are_prefixed_and_unique():
    ids = {model.new_id("lb") for _ in range(100)}
    assert len(ids) == 100
    assert all(re.fullmatch(r"lb-[0-9a-f-]{36}", i) for i in ids)


def test_lookups_and_pure_changes():
    lb = load_balancer(listener(1, members=[member(1), member(2)]), listener(2, model.Protocol.UDP, 53))
    assert lb.listener("lis-2").port == 53
    owner, pool = lb.pool("pool-1")
    assert (owner.id, pool.id) == ("lis-1", "pool-1")
    for lookup, arg in (
        (lb.listener, "lis-9"),
        (lb.pool, "pool-9"),
        (lambda m: model.member(pool, m), "mem-9"),
    ):
        with pytest.raises(ApiError) as info:
            lookup(arg)
        assert info.value.code is Code.NOT_FOUND

    drained = replace(model.member(pool, "mem-2"), admin_state=model.AdminState.DRAIN)
    new = model.replace_pool(lb, model.replace_member(pool, drained))
    assert new.pool("pool-1")[1].members == (member(1), drained)
    assert new.listener("lis-2") == lb.listener("lis-2")
    assert lb.pool("pool-1")[1].members[1].admin_state is model.AdminState.ONLINE, (
        "frozen: old value unchanged"
    )


def test_changed_moves_provisioning_status():
    lb = load_balancer()
    fresh = model.changed(lb, replace(lb, name="x"), 1800000000.0)
    assert fresh.provisioning_status is model.ProvisioningStatus.PENDING_CREATE, "never realized yet"
    assert (fresh.name, fresh.updated_at, fresh.created_at) == ("x", 1800000000.0, lb.created_at)
    active = replace(lb, provisioning_status=model.ProvisioningStatus.ACTIVE, status_reason="ok")
    updated = model.changed(active, replace(active, name="y"), 1800000001.0)
    assert updated.provisioning_status is model.ProvisioningStatus.PENDING_UPDATE
    assert updated.status_reason == ""


# --- store documents ----------------------------------------------------------------


def full_load_balancer() -> model.LoadBalancer:
    return load_balancer(
        listener(
            1,
            model.Protocol.HTTP,
            80,
            members=[member(1, name="a", weight=0, admin_state=model.AdminState.DRAIN), member(2)],
            name="pool",
            algorithm=model.Algorithm.SOURCE_IP_PORT,
            health_monitor=monitor(delay=0.5, timeout=0.25, max_retries=4, healthy_threshold=3),
            session_persistence=model.SessionPersistence(model.PersistenceType.SOURCE_IP, 120),
            status_reason="why",
        ),
        listener(2, model.Protocol.UDP, 53),
        name="web",
        description='a description with "quotes" and ünïcode',
        provisioning_status=model.ProvisioningStatus.ERROR,
        operating_status=model.OperatingStatus.DEGRADED,
        status_reason="broken",
    )


def test_document_round_trip():
    lb = full_load_balancer()
    doc = store.dump(lb)
    back = store.load(doc)
    assert back == lb
    assert store.dump(back) == doc
    # Types are rebuilt, not left as JSON lists and strings.
    assert isinstance(back.listeners, tuple) and isinstance(back.listeners[0].default_pool.members, tuple)
    pool = back.listeners[0].default_pool
    assert type(pool.algorithm) is model.Algorithm
    assert type(pool.members[0].admin_state) is model.AdminState
    assert (
        type(pool.health_monitor) is model.HealthMonitor
        and type(pool.health_monitor.type) is model.MonitorType
    )
    assert type(pool.session_persistence) is model.SessionPersistence
    assert back.listeners[1].default_pool.health_monitor is None
    assert type(back.provisioning_status) is model.ProvisioningStatus


def test_document_is_compact_json():
    doc = store.dump(full_load_balancer())
    data = json.loads(doc)
    assert data["id"] == "lb-1"
    assert data["listeners"][0]["default_pool"]["algorithm"] == "SOURCE_IP_PORT"
    assert doc == json.dumps(data, separators=(",", ":")), "one compact line"


def test_document_tolerates_older_and_newer_fields():
    data = dataclasses.asdict(full_load_balancer())
    # An older document lacks fields that have defaults; a newer one has fields we do not know.
    del data["status_reason"]
    del data["listeners"][0]["default_pool"]["members"][1]["weight"]
    data["listeners"][0]["future_field"] = {"x": 1}
    back = store.load(json.dumps(data))
    assert back.status_reason == ""
    assert back.listeners[0].default_pool.members[1].weight == 1
    assert back.listeners[0] == full_load_balancer().listeners[0]


# --- page tokens --------------------------------------------------------------------


def test_page_token_round_trip():
    for after in (0, 1, 42, 2**40):
        assert _decode_token(_encode_token(after, "scope-1"), "scope-1") == after
    assert _decode_token("", "scope-1") == 0
    token = _encode_token(7, "scope-1")
    assert re.fullmatch(r"[A-Za-z0-9_=-]+", token), "URL-safe, usable as a query parameter"


def _b64(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode()


@pytest.mark.parametrize(
    "token",
    [
        "not a token",
        "%%%",
        _b64(b"\xff\xfe"),
        _b64([1, 2]),
        _b64(5),
        _b64({"a": 1}),
        _b64({"s": "scope-1"}),
        _b64({"a": "x", "s": "scope-1"}),
        _b64({"a": -1, "s": "scope-1"}),
        _b64({"a": 2**64, "s": "scope-1"}),
    ],
    ids=[
        "text",
        "not-base64",
        "not-utf8",
        "list",
        "number",
        "no-scope",
        "no-position",
        "position-not-int",
        "negative",
        "beyond-int64",
    ],
)
def test_page_token_garbage_is_invalid_argument(token: str):
    with pytest.raises(ApiError) as info:
        _decode_token(token, "scope-1")
    assert info.value.code is Code.INVALID_ARGUMENT
    assert [v.field for v in info.value.violations] == ["page_token"]


def test_page_token_is_bound_to_its_filters():
    with pytest.raises(ApiError) as info:
        _decode_token(_encode_token(3, "scope-1"), "scope-2")
    assert info.value.code is Code.INVALID_ARGUMENT
    assert [v.field for v in info.value.violations] == ["page_token"]


# --- the RPC table ------------------------------------------------------------------

REST_RULES = {
    "CreateLoadBalancer": ("post", "/api/v1/load-balancers", "*"),
    "GetLoadBalancer": ("get", "/api/v1/load-balancers/{id}", ""),
    "ListLoadBalancers": ("get", "/api/v1/load-balancers", ""),
    "UpdateLoadBalancer": ("put", "/api/v1/load-balancers/{id}", "*"),
    "DeleteLoadBalancer": ("delete", "/api/v1/load-balancers/{id}", ""),
    "AddListener": ("post", "/api/v1/load-balancers/{load_balancer_id}/listeners", "listener"),
    "UpdateListener": ("put", "/api/v1/load-balancers/{load_balancer_id}/listeners/{listener_id}", "*"),
    "RemoveListener": ("delete", "/api/v1/load-balancers/{load_balancer_id}/listeners/{listener_id}", ""),
    "AddPoolMember": ("post", "/api/v1/load-balancers/{load_balancer_id}/pools/{pool_id}/members", "member"),
    "UpdatePoolMember": (
        "put",
        "/api/v1/load-balancers/{load_balancer_id}/pools/{pool_id}/members/{member_id}",
        "*",
    ),
    "RemovePoolMember": (
        "delete",
        "/api/v1/load-balancers/{load_balancer_id}/pools/{pool_id}/members/{member_id}",
        "",
    ),
    "GetLoadBalancerStats": ("get", "/api/v1/load-balancers/{id}/stats", ""),
}


@pytest.mark.parametrize(
    "name,expected",
    [
        ("CreateLoadBalancer", "create_load_balancer"),
        ("GetLoadBalancerStats", "get_load_balancer_stats"),
        ("WatchLoadBalancers", "watch_load_balancers"),
        ("AddPoolMember", "add_pool_member"),
        ("Get", "get"),
    ],
)
def test_snake(name: str, expected: str):
    assert snake(name) == expected


def test_methods_of_finds_every_rpc_of_the_proto():
    # The rpcs of LoadBalancerService: the text up to the next service block.
    text = PROTO.read_text()
    block = text[text.index("service LoadBalancerService") : text.index("service HealthWorkerService")]
    declared = re.findall(r"^\s*rpc\s+(\w+)\s*\(", block, flags=re.MULTILINE)
    methods = methods_of(SERVICE)
    assert [m.name for m in methods] == declared
    assert set(declared) >= {*REST_RULES, "WatchLoadBalancers"}
    for m in methods:
        md = SERVICE.methods_by_name[m.name]
        assert m.attr == snake(m.name)
        assert m.path == f"/limiquantix.network.v1.LoadBalancerService/{m.name}"
        assert m.input.DESCRIPTOR.full_name == md.input_type.full_name
        assert m.output.DESCRIPTOR.full_name == md.output_type.full_name
        assert m.server_streaming == (m.name == "WatchLoadBalancers")
        # The core and the generated Connect client use the same snake_case names.
        assert callable(getattr(LoadBalancerCore, m.attr, None)), m.attr
        assert callable(getattr(LoadBalancerServiceClientSync, m.attr, None)), m.attr
    assert {m.name: m.output.DESCRIPTOR.full_name for m in methods}[
        "DeleteLoadBalancer"
    ] == "google.protobuf.Empty"


def test_methods_of_reads_the_http_rules():
    by_name = {m.name: m for m in methods_of(SERVICE)}
    assert by_name["WatchLoadBalancers"].http is None
    for name, (verb, path, body) in REST_RULES.items():
        rule = by_name[name].http
        assert rule is not None, name
        assert rule.WhichOneof("pattern") == verb, name
        assert getattr(rule, verb) == path, name
        assert rule.body == body, name
        # Every path variable is a field of the request message.
        for var in re.findall(r"{(\w+)}", path):
            assert var in by_name[name].input.DESCRIPTOR.fields_by_name, (name, var)
    assert {n for n, m in by_name.items() if m.http is not None} == set(REST_RULES)
