"""Unit tests of the pure parts: validation, structure, statuses, store documents, pool
references, JSON bodies, page tokens, the RPC table."""

from __future__ import annotations

import base64
import json
import re
import sqlite3
import uuid
from pathlib import Path

import pytest
from msgspec.structs import replace

from builders import m_lb, m_listener, m_member, m_monitor, m_pool
from conftest import ROOT
from limiquantix.network.v1 import network_pb2 as res
from limiquantix.network.v1 import network_service_pb2 as pb
from limiquantix.network.v1.network_service_connect import LoadBalancerServiceClientSync
from quantix_lb import documents, model, store
from quantix_lb.api import jsonbody
from quantix_lb.api.dispatch import methods_of, snake
from quantix_lb.convert import LoadBalancerApi
from quantix_lb.errors import ApiError, Code, Violation
from quantix_lb.model import Problems
from quantix_lb.rules import resolve_pool
from quantix_lb.service import _decode_token, _encode_token

PROTO = ROOT / "proto" / "limiquantix" / "network" / "v1" / "network_service.proto"
SERVICE = pb.DESCRIPTOR.services_by_name["LoadBalancerService"]
P = model.Protocol
OS = model.OperatingStatus
PS = model.ProvisioningStatus


def fields(check, *args) -> list[str]:
    """The violation paths `check(problems, *args)` records."""
    return [v.field for v in violations(check, *args)]


def violations(check, *args) -> list[Violation]:
    p = Problems()
    check(p, *args)
    return p.violations


def spec_where(lb: model.LoadBalancer) -> dict[str, str]:
    """Where a create request in the cloud's shape gave each part of `lb`."""
    return {
        **{li.id: f"spec.listeners[{i}]" for i, li in enumerate(lb.listeners)},
        **{pool.id: f"spec.pools[{j}]" for j, pool in enumerate(lb.pools)},
    }


def lb_fields(lb: model.LoadBalancer) -> list[str]:
    """The violation paths of `lb` as a whole new load balancer."""
    return fields(model.check_load_balancer, lb, spec_where(lb))


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


def test_parsed_addresses_are_kept_once_per_spelling_and_long_text_is_not():
    model._parse_ip.cache_clear()
    assert model.parse_ip("fd00:0::1") == model.Address("fd00::1", 6, unicast=True, local=False)
    assert model.parse_ip("fd00:0::1") is model.parse_ip("fd00:0::1")
    assert model.parse_ip("224.0.0.1").unicast is False
    assert model.parse_ip("fe80::1").local is True
    assert model.parse_ip("1.2.3") is None
    # Anything longer than an address could be is none, without filling the cache.
    assert model.parse_ip("1" * 10_000) is None
    assert model._parse_ip.cache_info().currsize == 4


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
    assert fields(model.check_monitor, "hm", m_monitor()) == []
    assert fields(model.check_monitor, "hm", m_monitor(delay=0.5, timeout=0.25)) == []
    assert fields(model.check_monitor, "hm", m_monitor(delay=2, timeout=2)) == [], "timeout may equal delay"
    for kind in (model.MonitorType.TCP, model.MonitorType.PING, model.MonitorType.UDP_CONNECT):
        plain = model.HealthMonitor(id="hm-2", type=kind, delay=1, timeout=1)
        assert fields(model.check_monitor, "hm", plain) == [], kind
    assert fields(model.check_monitor, "hm", m_monitor(max_retries=1, healthy_threshold=10)) == []


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
        ({"type": model.MonitorType.PING}, "hm.url_path"),
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
    assert bad in fields(model.check_monitor, "hm", m_monitor(**changes))


@pytest.mark.parametrize("method", sorted(model.HTTP_METHODS))
def test_monitor_http_methods(method: str):
    assert fields(model.check_monitor, "hm", m_monitor(http_method=method)) == []


def test_member_rules():
    assert fields(model.check_member, "m", m_member(), 4) == []
    assert fields(model.check_member, "m", m_member(weight=0), 4) == []
    assert fields(model.check_member, "m", m_member(weight=256), 4) == []
    assert fields(model.check_member, "m", m_member(weight=257), 4) == ["m.weight"]
    assert fields(model.check_member, "m", m_member(port=0), 4) == ["m.port"]
    assert fields(model.check_member, "m", m_member(name="x" * 256), 4) == ["m.name"]
    assert fields(model.check_member, "m", m_member(address="2001:db8::1"), 4) == ["m.address"]
    assert fields(model.check_member, "m", m_member(address="2001:db8::1"), 6) == []
    assert fields(model.check_member, "m", m_member(address="bad"), 4) == ["m.address"]


def test_pool_rules():
    dup = m_pool(1, m_member(1), m_member(2), m_member(1, id="mem-3"))
    assert fields(model.check_pool, "pool", dup, 4) == ["pool.members[2]"]
    same_address_other_port = m_pool(1, m_member(1), m_member(1, id="mem-2", port=8081))
    assert fields(model.check_pool, "pool", same_address_other_port, 4) == []
    many = m_pool(1, *(m_member(i, address=f"10.{i // 250}.{i % 250}.1", port=80) for i in range(1025)))
    assert "pool.members" in fields(model.check_pool, "pool", many, 4)
    nested = m_pool(
        1,
        m_member(weight=300, subnet_id="s" * 256),
        health_monitor=m_monitor(max_retries=0),
        session_persistence=model.SessionPersistence(model.PersistenceType.SOURCE_IP, 0),
        name="p" * 256,
    )
    assert fields(model.check_pool, "spec.pools[2]", nested, 4) == [
        "spec.pools[2].name",
        "spec.pools[2].members[0].subnet_id",
        "spec.pools[2].members[0].weight",
        "spec.pools[2].health_monitor.max_retries",
        "spec.pools[2].persistence.timeout",
    ]


def test_persistence_rules():
    sp = model.SessionPersistence
    assert fields(model.check_persistence, "sp", sp(model.PersistenceType.SOURCE_IP, 300)) == []
    assert fields(model.check_persistence, "sp", sp(model.PersistenceType.SOURCE_IP, 65535)) == []
    assert fields(model.check_persistence, "sp", sp(model.PersistenceType.SOURCE_IP, 0)) == ["sp.timeout"]
    assert fields(model.check_persistence, "sp", sp(model.PersistenceType.SOURCE_IP, 65536)) == ["sp.timeout"]
    assert fields(model.check_persistence, "sp", sp(model.PersistenceType.NONE, 0)) == []


def test_load_balancer_valid():
    lb = m_lb(
        m_listener(1),
        m_listener(2, P.UDP, 80, pool="pool-2"),
        m_listener(3, P.HTTP, 8080),  # pool-1 serves two listeners
        pools=(m_pool(1, m_member(1), m_member(2)), m_pool(2, m_member(3, port=53), protocol=P.UDP)),
        labels=(("env", "prod"), ("team", "web")),
        subnet_id="subnet-1",
    )
    assert lb_fields(lb) == []


def test_load_balancer_reports_every_violation_at_once():
    lb = m_lb(
        m_listener(1, port=0),
        pools=(m_pool(1, m_member(1, weight=999)),),
        project_id="",
        network_id="",
        vip_address="300.1.1.1",
        name="n" * 256,
        description="d" * 1025,
        subnet_id="s" * 256,
        labels=(("", "x"), ("k", "v" * 256)),
    )
    got = lb_fields(lb)
    for path in (
        "project_id",
        "spec.network_id",
        "name",
        "description",
        "spec.subnet_id",
        "labels",
        "labels['k']",
        "spec.vip_address",
        "spec.listeners[0].port",
        "spec.pools[0].members[0].weight",
    ):
        assert path in got, (path, got)


def test_the_flat_shorthand_names_its_own_paths():
    """A create in the design doc's flat shape: network_id, vip_address and the inline pool
    are reported where the client wrote them."""
    lb = m_lb(m_listener(1), pools=(m_pool(1, m_member(1, port=0)),), network_id="", vip_address="x")
    where = {
        "network_id": "network_id",
        "vip_address": "vip_address",
        "lis-1": "listeners[0]",
        "pool-1": "listeners[0].default_pool",
    }
    assert fields(model.check_load_balancer, lb, where) == [
        "network_id",
        "vip_address",
        "listeners[0].default_pool.members[0].port",
    ]


def test_limits_on_names_and_labels():
    assert lb_fields(m_lb(name="n" * 255, description="d" * 1024)) == []
    labels = tuple((f"k{i:02}", "v") for i in range(model.MAX_LABELS))
    assert lb_fields(m_lb(labels=labels)) == []
    assert lb_fields(m_lb(labels=(*labels, ("zz", "v")))) == ["labels"]


# --- structure: listeners, pools and how they tie together ----------------------------------


def structure(lb: model.LoadBalancer, where: dict[str, str]) -> list[tuple[str, str]]:
    return [(v.field, v.description) for v in violations(model.check_structure, lb, where)]


def test_listener_naming_a_missing_pool():
    lb = m_lb(m_listener(1), m_listener(2, port=81, pool="pool-9"), pools=(m_pool(1),))
    assert structure(lb, {"lis-2": "listener"}) == [
        ("listener.default_pool_id", "no pool 'pool-9' in this load balancer")
    ]
    assert [f for f, _ in structure(lb, spec_where(lb))] == ["spec.listeners[1].default_pool_id"]


def test_pool_protocol_must_match_its_listeners_l4_protocol():
    udp = m_pool(1, protocol=P.UDP, name="dns")
    lb = m_lb(m_listener(1, P.TCP, 53, name="front"), pools=(udp,))
    message = "listener front (TCP) and pool dns (UDP) balance different protocols"
    # AddListener: the new listener is what does not fit.
    assert structure(lb, {"lis-1": "listener"}) == [("listener.protocol", message)]
    # A change that names only the pool (the listener is stored): the pool is blamed.
    assert structure(lb, {"pool-1": "pool"}) == [("pool.protocol", message)]
    # A create names both: the listener is blamed.
    assert structure(lb, spec_where(lb)) == [("spec.listeners[0].protocol", message)]
    # HTTP and HTTPS pools serve TCP listeners (one L4 protocol); a pool without one serves any.
    for protocol in (P.TCP, P.HTTP, P.HTTPS, None):
        fits = m_lb(m_listener(1, P.TCP, 80), pools=(m_pool(1, protocol=protocol),))
        assert structure(fits, spec_where(fits)) == [], protocol
    sctp = m_lb(m_listener(1, P.UDP, 53), pools=(m_pool(1, protocol=P.SCTP),))
    assert [f for f, _ in structure(sctp, {"pool-1": "pool"})] == ["pool.protocol"]


@pytest.mark.parametrize(
    "first,second,clash",
    [
        (P.TCP, P.TCP, True),
        (P.TCP, P.HTTP, True),
        (P.HTTP, P.HTTPS, True),
        (P.TCP, P.UDP, False),
        (P.UDP, P.SCTP, False),
        (P.SCTP, P.SCTP, True),
    ],
)
def test_one_listener_per_l4_protocol_and_port(first, second, clash: bool):
    lb = m_lb(m_listener(1, first, 80), m_listener(2, second, 80))
    assert lb_fields(lb) == (["spec.listeners[1].port"] if clash else [])


def test_a_port_clash_names_both_listeners_by_their_paths():
    lb = m_lb(m_listener(1, P.TCP, 80), m_listener(2, P.HTTP, 80))
    # Both in one create.
    assert structure(lb, spec_where(lb)) == [
        ("spec.listeners[1].port", "port 80/tcp is already used by spec.listeners[0] (TCP)")
    ]
    # AddListener: the new one is blamed, the stored one named by its id.
    assert structure(lb, {"lis-2": "listener"}) == [
        ("listener.port", "port 80/tcp is already used by listener lis-1 (TCP)")
    ]
    # UpdateListener moving the first onto the second's port: the changed one is blamed.
    assert structure(lb, {"lis-1": ""}) == [("port", "port 80/tcp is already used by listener lis-2 (HTTP)")]


def test_listener_and_pool_limits():
    listeners = [m_listener(i, port=i) for i in range(1, model.MAX_LISTENERS + 1)]
    assert structure(m_lb(*listeners), {}) == []
    many = m_lb(*listeners, m_listener(99, port=9999))
    assert [f for f, _ in structure(many, {})] == ["spec.listeners"]
    assert [f for f, _ in structure(many, {"lis-99": "listener", "listeners": "listener"})] == ["listener"]
    assert "spec.listeners" in lb_fields(many)

    pools = tuple(m_pool(i) for i in range(1, model.MAX_POOLS + 1))
    assert structure(m_lb(m_listener(1), pools=pools), {}) == []
    too_many = m_lb(m_listener(1), pools=(*pools, m_pool(99)))
    assert structure(too_many, {}) == [("spec.pools", f"at most {model.MAX_POOLS} pools per load balancer")]
    assert [f for f, _ in structure(too_many, {"pool-99": "pool", "pools": "pool"})] == ["pool"]


def test_protocol_l4_and_frontends():
    assert {p: p.l4 for p in P} == {
        P.TCP: "tcp",
        P.HTTP: "tcp",
        P.HTTPS: "tcp",
        P.UDP: "udp",
        P.SCTP: "sctp",
    }
    lb = m_lb(m_listener(1, P.HTTPS, 443), m_listener(2, P.UDP, 53))
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
    # Spelled as uuid.UUID spells a version-4 UUID.
    assert all(str(uuid.UUID(i[3:])) == i[3:] and uuid.UUID(i[3:]).version == 4 for i in ids)
    assert all(uuid.UUID(i[3:]).variant == uuid.RFC_4122 for i in ids)


def test_lookups_and_pure_changes():
    lb = m_lb(
        m_listener(1),
        m_listener(2, P.UDP, 53, pool="pool-2"),
        m_listener(3, port=8080),
        pools=(m_pool(1, m_member(1), m_member(2)), m_pool(2)),
    )
    assert lb.listener("lis-2").port == 53
    pool = lb.pool("pool-1")
    assert pool.id == "pool-1"
    assert lb.pool_of(lb.listener("lis-2")) is lb.pools[1]
    assert [li.id for li in lb.listeners_of("pool-1")] == ["lis-1", "lis-3"]
    assert lb.listeners_of("pool-9") == ()
    assert [(li.id, p.id) for li, p in lb.served()] == [
        ("lis-1", "pool-1"),
        ("lis-2", "pool-2"),
        ("lis-3", "pool-1"),
    ]
    for lookup, arg in (
        (lb.listener, "lis-9"),
        (lb.pool, "pool-9"),
        (pool.member, "mem-9"),
        (lambda pid: model.replace_pool(lb, model.Pool(id=pid)), "pool-9"),
    ):
        with pytest.raises(ApiError) as info:
            lookup(arg)
        assert info.value.code is Code.NOT_FOUND
        assert arg in info.value.message

    drained = replace(pool.member("mem-2"), drain=True)
    new = model.replace_pool(lb, model.replace_member(pool, drained))
    assert new.pool("pool-1").members == (m_member(1), drained)
    assert (new.listeners, new.pool("pool-2")) == (lb.listeners, lb.pool("pool-2"))
    assert [p.id for p in new.pools] == ["pool-1", "pool-2"], "order kept"
    assert lb.pool("pool-1").members[1].admin_state is model.AdminState.ONLINE, "frozen: old value unchanged"
    renamed = model.replace_listener(lb, replace(lb.listener("lis-3"), name="alt"))
    assert [li.name for li in renamed.listeners] == ["", "", "alt"]


def test_changed_moves_provisioning_status():
    lb = m_lb()
    fresh = model.changed(lb, replace(lb, name="x"), 1800000000.0)
    assert fresh.provisioning_status is PS.PENDING_CREATE, "never realized yet"
    assert (fresh.name, fresh.updated_at, fresh.created_at) == ("x", 1800000000.0, lb.created_at)
    assert fresh.revision == lb.revision + 1
    active = replace(lb, provisioning_status=PS.ACTIVE, status_reason="ok")
    updated = model.changed(active, replace(active, name="y"), 1800000001.0)
    assert updated.provisioning_status is PS.PENDING_UPDATE
    assert updated.status_reason == ""


# --- member admin state and realized statuses ----------------------------------------------


@pytest.mark.parametrize(
    "up,drain,state",
    [
        (True, False, model.AdminState.ONLINE),
        (True, True, model.AdminState.DRAIN),
        (False, False, model.AdminState.OFFLINE),
        (False, True, model.AdminState.OFFLINE),  # admin_state_up false wins over drain
    ],
)
def test_admin_state_precedence(up: bool, drain: bool, state: model.AdminState):
    assert model.admin_state(up, drain) is state
    # A member keeps both flags, as the API has them; its admin_state is what they mean together.
    member = m_member(admin_state_up=up, drain=drain)
    assert member.admin_state is state
    assert (member.admin_state_up, member.drain) == (up, drain)


def test_realized_member_statuses_follow_admin_state_then_health():
    pool = m_pool(
        1,
        m_member(1, admin_state_up=False, drain=True),
        m_member(2, drain=True),
        m_member(3),
        m_member(4, operating_status=OS.ERROR),
        m_member(5, operating_status=OS.ONLINE),
        health_monitor=m_monitor(),
    )
    got = model.realized(m_lb(m_listener(1), pools=(pool,))).pool("pool-1")
    assert [m.operating_status for m in got.members] == [
        OS.OFFLINE,
        OS.DRAINING,
        OS.OFFLINE,  # monitored, not checked yet
        OS.ERROR,
        OS.ONLINE,
    ]
    assert got.operating_status is OS.DEGRADED
    unmonitored = model.realized(m_lb(m_listener(1), pools=(replace(pool, health_monitor=None),)))
    assert [m.operating_status for m in unmonitored.pool("pool-1").members] == [
        OS.OFFLINE,
        OS.DRAINING,
        OS.NO_MONITOR,
        OS.NO_MONITOR,
        OS.NO_MONITOR,
    ]


def test_a_shared_pool_gives_each_of_its_listeners_its_status():
    shared = m_pool(
        1,
        m_member(1, operating_status=OS.ONLINE),
        m_member(2, operating_status=OS.ERROR, last_failure_reason="timeout"),
        health_monitor=m_monitor(),
    )
    unused = m_pool(2)  # no member: ERROR, but it serves nothing
    lb = m_lb(m_listener(1), m_listener(2, P.HTTP, 8080), pools=(shared, unused))
    got = model.realized(lb)
    assert got.pool("pool-1").operating_status is OS.DEGRADED, "mem-2 failed its check"
    assert [li.operating_status for li in got.listeners] == [OS.DEGRADED, OS.DEGRADED]
    assert got.pool("pool-2").operating_status is OS.ERROR
    assert got.operating_status is OS.DEGRADED
    assert {x.provisioning_status for x in (got, *got.listeners, *got.pools)} == {PS.ACTIVE}

    healthy = model.realized(model.with_health(lb, {"mem-2": (True, "")}, 1800000000.0))
    assert [li.operating_status for li in healthy.listeners] == [OS.ONLINE, OS.ONLINE]
    assert healthy.pool("pool-2").operating_status is OS.ERROR
    assert healthy.operating_status is OS.ONLINE, "an unused pool does not count"

    down = model.realized(model.with_health(lb, {"mem-1": (False, "timeout")}, 1800000000.0))
    assert [li.operating_status for li in down.listeners] == [OS.ERROR, OS.ERROR]
    assert down.operating_status is OS.ERROR

    refused = model.realized(lb, "NB said no")
    assert (refused.provisioning_status, refused.operating_status, refused.status_reason) == (
        PS.ERROR,
        OS.ERROR,
        "NB said no",
    )


def test_with_health_keeps_the_failure_reason_after_recovery():
    lb = m_lb(
        m_listener(1),
        m_listener(2, port=81, pool="pool-2"),
        pools=(m_pool(1, m_member(1), m_member(2)), m_pool(2, m_member(3))),
        revision=4,
    )
    down = model.with_health(lb, {"mem-1": (False, "connect: connection refused"), "mem-3": (True, "")}, 10.0)
    m1 = down.pool("pool-1").member("mem-1")
    assert (m1.operating_status, m1.last_failure_reason) == (OS.ERROR, "connect: connection refused")
    assert down.pool("pool-2").member("mem-3").operating_status is OS.ONLINE
    assert down.pool("pool-1").member("mem-2") == lb.pool("pool-1").member("mem-2"), "not reported: as is"
    assert (down.revision, down.updated_at) == (5, 10.0)

    up = model.with_health(down, {"mem-1": (True, "")}, 11.0)
    m1 = up.pool("pool-1").member("mem-1")
    assert (m1.operating_status, m1.last_failure_reason) == (OS.ONLINE, "connect: connection refused")
    assert (up.revision, up.updated_at) == (6, 11.0)
    # Nothing new: the same object, no new revision.
    assert model.with_health(up, {"mem-1": (True, ""), "mem-404": (False, "gone")}, 12.0) is up
    # What realized() makes of it: the reason stays for the client to read.
    realized = model.realized(
        replace(up, pools=(replace(up.pools[0], health_monitor=m_monitor()), up.pools[1]))
    )
    assert realized.pool("pool-1").member("mem-1").last_failure_reason == "connect: connection refused"


# --- pool references -------------------------------------------------------------------------


def resolved(
    pools, ref: str, aliases=None, path: str = "spec.listeners[3].default_pool_id"
) -> tuple[str, list[tuple[str, str]]]:
    p = Problems()
    found = resolve_pool(p, pools, ref, path, aliases)
    return found, [(v.field, v.description) for v in p.violations]


POOLS = (m_pool(1, name="web"), m_pool(2, name="api"))


def test_resolve_pool_by_id_name_or_alias():
    assert resolved(POOLS, "pool-2") == ("pool-2", [])
    assert resolved(POOLS, "api") == ("pool-2", [])
    assert resolved(POOLS, "web") == ("pool-1", [])
    # In one create: the id the client wrote for a pool maps to the id it got.
    assert resolved(POOLS, "my-api", {"my-api": "pool-2"}) == ("pool-2", [])
    # An id wins over another pool's name.
    confusing = (m_pool(1, name="x"), m_pool(2, name="pool-1"))
    assert resolved(confusing, "pool-1") == ("pool-1", [])


def test_resolve_pool_without_a_reference_takes_the_only_pool():
    assert resolved(POOLS[:1], "") == ("pool-1", [])
    assert resolved((), "") == (
        "",
        [
            (
                "spec.listeners[3].default_pool_id",
                "is required: the load balancer has no pool to serve the listener",
            )
        ],
    )
    assert resolved(POOLS, "") == (
        "",
        [("spec.listeners[3].default_pool_id", "is required: the load balancer has 2 pools")],
    )


def test_resolve_pool_refuses_unknown_and_ambiguous_references():
    assert resolved(POOLS, "pool-9") == (
        "",
        [("spec.listeners[3].default_pool_id", "no pool with id or name 'pool-9' in this load balancer")],
    )
    assert resolved((), "web") == (
        "",
        [("spec.listeners[3].default_pool_id", "no pool with id or name 'web' in this load balancer")],
    )
    twins = (m_pool(1, name="web"), m_pool(2, name="web"), m_pool(3, name="api"))
    assert resolved(twins, "web") == (
        "",
        [("spec.listeners[3].default_pool_id", "'web' names 2 pools; use a pool id")],
    )
    assert resolved(twins, "pool-2") == ("pool-2", []), "the id still picks one"
    # The path is the one the caller gives (AddListener, UpdateListener, the flat shorthand).
    for path in ("listener.default_pool_id", "default_pool_id", "listeners[0].default_pool_id"):
        assert [f for f, _ in resolved(twins, "web", path=path)[1]] == [path]
        assert [f for f, _ in resolved(twins, "", path=path)[1]] == [path]
        assert [f for f, _ in resolved(twins, "nope", path=path)[1]] == [path]


# --- JSON bodies ------------------------------------------------------------------------------


def bad_json(data, target=None, **kw) -> list[tuple[str, str]]:
    with pytest.raises(ApiError) as info:
        jsonbody.parse(data, target or pb.CreateLoadBalancerRequest(), **kw)
    assert info.value.code is Code.INVALID_ARGUMENT
    return [(v.field, v.description) for v in info.value.violations]


def test_json_wrong_types_are_named_by_path():
    assert bad_json({"spec": []}) == [("spec", "must be a JSON object")]
    assert bad_json({"spec": {"pools": {}}}) == [("spec.pools", "must be a JSON list")]
    assert bad_json({"labels": []}) == [("labels", "must be a JSON object")]
    assert bad_json(
        {
            "labels": {"env": 1},
            "spec": {
                "vip_address": 5,
                "pools": [{"members": [{"port": 80}, {"port": "eighty", "drain": "yes"}]}, "pool"],
                "listeners": [{"default_pool": {"health_monitor": {"delay": 1.5}}}],
            },
        }
    ) == [
        ("labels['env']", "must be a string"),
        ("spec.vip_address", "must be a string"),
        ("spec.pools[0].members[1].port", "must be a whole number"),
        ("spec.pools[0].members[1].drain", "must be true or false"),
        ("spec.pools[1]", "must be a JSON object"),
        ("spec.listeners[0].default_pool.health_monitor.delay", "must be a whole number"),
    ]
    # lowerCamelCase names (Connect JSON) are reported by the field's name.
    assert bad_json({"spec": {"vipAddress": []}}) == [("spec.vip_address", "must be a string")]
    # The REST body of AddListener is the listener itself, reported below its field name.
    assert bad_json({"port": "x"}, res.Listener(), prefix="listener") == [
        ("listener.port", "must be a whole number")
    ]
    assert bad_json([], res.Listener(), prefix="listener") == [("listener", "must be a JSON object")]
    assert bad_json([]) == [("body", "must be a JSON object")]


def test_json_unknown_fields_are_named_unless_ignored():
    data = {"bogus": 1, "spec": {"pools": [{"members": [{"address": "10.0.0.1", "colour": "red"}]}]}}
    assert bad_json(data) == [
        ("bogus", "is not a field of CreateLoadBalancerRequest"),
        ("spec.pools[0].members[0].colour", "is not a field of PoolMember"),
    ]
    msg = jsonbody.parse(data, pb.CreateLoadBalancerRequest(), ignore_unknown=True)
    assert msg.spec.pools[0].members[0].address == "10.0.0.1"


def test_json_unknown_enum_names_are_refused_even_when_unknown_fields_are_ignored():
    data = {"spec": {"listeners": [{"protocol": "FOO"}], "pools": [{"algorithm": 1.5}]}, "bogus": 1}
    algorithms = "ROUND_ROBIN, LEAST_CONNECTIONS, SOURCE_IP, WEIGHTED_ROUND_ROBIN, SOURCE_IP_PORT"
    enums = [
        ("spec.listeners[0].protocol", "unknown value 'FOO'; one of TCP, HTTP, HTTPS, UDP, SCTP"),
        ("spec.pools[0].algorithm", f"must be one of {algorithms}"),
    ]
    assert bad_json(data) == [*enums, ("bogus", "is not a field of CreateLoadBalancerRequest")]
    assert bad_json(data, ignore_unknown=True) == enums
    # Names and numbers of known values are both accepted.
    ok = jsonbody.parse({"protocol": "SCTP", "port": 1}, res.Listener())
    assert ok.protocol == res.Listener.SCTP
    assert jsonbody.parse({"protocol": 3}, res.Listener()).protocol == res.Listener.UDP


def test_json_whole_numbers():
    assert bad_json(
        {"spec": {"listeners": [{"port": 4294967296}, {"port": -1}, {"port": 80.5}, {"port": True}]}}
    ) == [
        ("spec.listeners[0].port", "must be from 0 to 4294967295"),
        ("spec.listeners[1].port", "must be from 0 to 4294967295"),
        ("spec.listeners[2].port", "must be a whole number"),
        ("spec.listeners[3].port", "must be a whole number"),
    ]
    # proto3 JSON: an integer may come as a string, or as a number with no fraction.
    msg = jsonbody.parse(
        {
            "spec": {
                "listeners": [{"port": "8080"}, {"port": 80.0}, {"port": 4294967295}],
                "pools": [{"members": [{"weight": "3"}]}],
            }
        },
        pb.CreateLoadBalancerRequest(),
    )
    assert [li.port for li in msg.spec.listeners] == [8080, 80, 4294967295]
    assert msg.spec.pools[0].members[0].weight == 3


def test_json_strings_must_be_unicode():
    lone = json.loads('{"name": "\\ud800"}')
    assert bad_json(lone) == [("name", "must be valid Unicode (no lone surrogates)")]
    assert jsonbody.parse({"name": "ünï 🎉"}, pb.CreateLoadBalancerRequest()).name == "ünï 🎉"


@pytest.mark.parametrize(
    "text,where,described",
    [
        ("[" * 100_000 + "]" * 100_000, "body", "is nested too deeply"),
        ('{"a":' * 100_000 + "1" + "}" * 100_000, "listener", "is nested too deeply"),
        (b'{"name": "\xff"}', "body", "is not valid UTF-8"),
    ],
    ids=["deep-list", "deep-object", "not-utf8"],
)
def test_json_bodies_that_cannot_be_read(text, where: str, described: str):
    with pytest.raises(ApiError) as info:
        jsonbody.loads(text, where)
    assert info.value.code is Code.INVALID_ARGUMENT
    assert [(v.field, v.description) for v in info.value.violations] == [(where, described)]
    assert info.value.message == f"{where}: {described}"


def test_json_body_that_is_not_json():
    with pytest.raises(ApiError) as info:
        jsonbody.loads("{nope", "body")
    assert info.value.code is Code.INVALID_ARGUMENT
    assert info.value.violations[0].description.startswith("is not valid JSON")


# --- store documents ----------------------------------------------------------------


def full_load_balancer() -> model.LoadBalancer:
    """Every part a document holds: labels, a subnet, several pools, one shared by two
    listeners, a drained member, a failure reason, statuses."""
    web = m_pool(
        1,
        m_member(1, name="a", weight=0, drain=True, subnet_id="subnet-1"),
        m_member(
            2,
            operating_status=OS.ERROR,
            provisioning_status=PS.ACTIVE,
            last_failure_reason='HTTP 503 from "/health"',
        ),
        name="web",
        algorithm=model.Algorithm.SOURCE_IP_PORT,
        protocol=P.HTTP,
        health_monitor=m_monitor(
            delay=0.5, timeout=0.25, max_retries=4, healthy_threshold=3, tls_verify=True
        ),
        session_persistence=model.SessionPersistence(model.PersistenceType.SOURCE_IP, 120),
        status_reason="why",
    )
    dns = m_pool(
        2,
        m_member(3, port=53, admin_state_up=False),
        m_member(4, port=53, admin_state_up=False, drain=True),
        algorithm=model.Algorithm.WEIGHTED_ROUND_ROBIN,
        health_monitor=m_monitor(
            id="hm-2", type=model.MonitorType.PING, http_method="", url_path="", expected_codes=""
        ),
    )
    spare = m_pool(3, algorithm=model.Algorithm.LEAST_CONNECTIONS)
    return m_lb(
        m_listener(1, P.HTTP, 80, name="http"),
        m_listener(2, P.HTTPS, 443, operating_status=OS.DEGRADED),
        m_listener(3, P.UDP, 53, pool="pool-2"),
        pools=(web, dns, spare),
        name="web",
        description='a description with "quotes" and ünïcode',
        labels=(("env", "prod"), ("team", "ünï")),
        subnet_id="subnet-1",
        provisioning_status=PS.ERROR,
        operating_status=OS.DEGRADED,
        status_reason="broken",
        revision=9,
    )


def test_document_round_trip():
    lb = full_load_balancer()
    doc = documents.dump(lb)
    back = documents.load(doc)
    assert back == lb
    assert documents.dump(back) == doc
    # Types are rebuilt, not left as JSON lists and strings.
    assert isinstance(back.listeners, tuple) and isinstance(back.pools, tuple)
    assert isinstance(back.pools[0].members, tuple)
    assert back.labels == (("env", "prod"), ("team", "ünï")) and isinstance(back.labels[0], tuple)
    pool = back.pool("pool-1")
    assert type(pool.algorithm) is model.Algorithm
    assert type(pool.protocol) is model.Protocol
    assert pool.members[0].admin_state is model.AdminState.DRAIN
    assert [m.admin_state for m in back.pool("pool-2").members] == [model.AdminState.OFFLINE] * 2
    assert back.pool("pool-2").member("mem-4").drain, "an OFFLINE member keeps its drain flag"
    assert type(pool.health_monitor) is model.HealthMonitor
    assert type(pool.health_monitor.type) is model.MonitorType
    assert type(pool.session_persistence) is model.SessionPersistence
    assert back.pool("pool-2").protocol is None and back.pool("pool-3").health_monitor is None
    assert type(back.provisioning_status) is model.ProvisioningStatus
    assert [li.id for li in back.listeners_of("pool-1")] == ["lis-1", "lis-2"]
    assert pool.member("mem-2").last_failure_reason == 'HTTP 503 from "/health"'


def test_document_is_compact_versioned_json():
    doc = documents.dump(full_load_balancer())
    data = json.loads(doc)
    assert data["v"] == documents.DOC_VERSION == 2
    assert data["id"] == "lb-1"
    assert [p["id"] for p in data["pools"]] == ["pool-1", "pool-2", "pool-3"]
    assert data["pools"][0]["algorithm"] == "SOURCE_IP_PORT"
    assert [li["default_pool_id"] for li in data["listeners"]] == ["pool-1", "pool-1", "pool-2"]
    assert not any("default_pool" in li for li in data["listeners"])
    assert data["labels"] == [["env", "prod"], ["team", "ünï"]]
    assert doc == json.dumps(data, separators=(",", ":"), ensure_ascii=False), "one compact UTF-8 line"


def test_document_tolerates_older_and_newer_fields():
    data = json.loads(documents.dump(full_load_balancer()))
    # An older document lacks fields that have defaults; a newer one has fields we do not know.
    del data["status_reason"]
    del data["labels"]
    del data["pools"][0]["members"][1]["weight"]
    del data["pools"][0]["members"][1]["last_failure_reason"]
    data["listeners"][0]["future_field"] = {"x": 1}
    back = documents.load(json.dumps(data))
    assert (back.status_reason, back.labels) == ("", ())
    assert back.pools[0].members[1].weight == 1
    assert back.pools[0].members[1].last_failure_reason == ""
    assert back.listeners[0] == full_load_balancer().listeners[0]


# What the previous release (document version 1, no "v" key) stored: written by its own
# documents.dump. Listeners held their pools inline.
PREVIOUS_RELEASE_DOC = {
    "id": "lb-1",
    "project_id": "proj-1",
    "network_id": "net-1",
    "vip_address": "192.168.1.100",
    "created_at": 1700000000.25,
    "updated_at": 1700000100.5,
    "name": "web",
    "description": "old",
    "listeners": [
        {
            "id": "lis-1",
            "protocol": "HTTP",
            "port": 80,
            "default_pool": {
                "id": "pool-1",
                "name": "web",
                "algorithm": "SOURCE_IP_PORT",
                "members": [
                    {
                        "id": "mem-1",
                        "address": "10.0.0.1",
                        "port": 8080,
                        "name": "a",
                        "weight": 3,
                        "admin_state": "DRAIN",
                        "provisioning_status": "ACTIVE",
                        "operating_status": "DRAINING",
                    },
                    {
                        "id": "mem-2",
                        "address": "10.0.0.2",
                        "port": 8080,
                        "name": "",
                        "weight": 1,
                        "admin_state": "ONLINE",
                        "provisioning_status": "ACTIVE",
                        "operating_status": "ERROR",
                    },
                ],
                "health_monitor": {
                    "id": "hm-1",
                    "type": "HTTP",
                    "delay": 0.5,
                    "timeout": 0.25,
                    "max_retries": 4,
                    "healthy_threshold": 3,
                    "http_method": "GET",
                    "url_path": "/health",
                    "expected_codes": "200-299",
                    "domain_name": "app.example",
                    "tls_verify": True,
                },
                "session_persistence": {"type": "SOURCE_IP", "timeout": 120},
                "provisioning_status": "ACTIVE",
                "operating_status": "DEGRADED",
                "status_reason": "",
            },
            "name": "http",
            "provisioning_status": "ACTIVE",
            "operating_status": "DEGRADED",
        },
        {
            "id": "lis-2",
            "protocol": "UDP",
            "port": 53,
            "default_pool": {
                "id": "pool-2",
                "name": "",
                "algorithm": "LEAST_CONNECTIONS",
                "members": [
                    {
                        "id": "mem-3",
                        "address": "10.0.0.3",
                        "port": 53,
                        "name": "",
                        "weight": 1,
                        "admin_state": "OFFLINE",
                        "provisioning_status": "PENDING_CREATE",
                        "operating_status": "OFFLINE",
                    }
                ],
                "health_monitor": None,
                "session_persistence": None,
                "provisioning_status": "PENDING_CREATE",
                "operating_status": "OFFLINE",
                "status_reason": "",
            },
            "name": "",
            "provisioning_status": "PENDING_CREATE",
            "operating_status": "OFFLINE",
        },
    ],
    "provisioning_status": "ACTIVE",
    "operating_status": "DEGRADED",
    "status_reason": "",
    "revision": 7,
}


def upgraded_previous_release() -> model.LoadBalancer:
    """PREVIOUS_RELEASE_DOC as this release reads it."""
    return m_lb(
        m_listener(1, P.HTTP, 80, name="http", provisioning_status=PS.ACTIVE, operating_status=OS.DEGRADED),
        m_listener(2, P.UDP, 53, pool="pool-2"),
        pools=(
            m_pool(
                1,
                m_member(
                    1,
                    name="a",
                    weight=3,
                    drain=True,
                    provisioning_status=PS.ACTIVE,
                    operating_status=OS.DRAINING,
                ),
                m_member(2, provisioning_status=PS.ACTIVE, operating_status=OS.ERROR),
                name="web",
                algorithm=model.Algorithm.SOURCE_IP_PORT,
                health_monitor=m_monitor(
                    delay=0.5,
                    timeout=0.25,
                    max_retries=4,
                    healthy_threshold=3,
                    expected_codes="200-299",
                    domain_name="app.example",
                    tls_verify=True,
                ),
                session_persistence=model.SessionPersistence(model.PersistenceType.SOURCE_IP, 120),
                provisioning_status=PS.ACTIVE,
                operating_status=OS.DEGRADED,
            ),
            m_pool(
                2,
                m_member(3, port=53, admin_state_up=False),
                algorithm=model.Algorithm.LEAST_CONNECTIONS,
            ),
        ),
        updated_at=1700000100.5,
        name="web",
        description="old",
        provisioning_status=PS.ACTIVE,
        operating_status=OS.DEGRADED,
        revision=7,
    )


def test_upgrade_moves_inline_pools_to_the_load_balancer():
    original = json.loads(json.dumps(PREVIOUS_RELEASE_DOC))
    doc = documents.upgrade(original)
    assert original == PREVIOUS_RELEASE_DOC, "the input is left as it was"
    assert doc["v"] == documents.DOC_VERSION
    assert [li["default_pool_id"] for li in doc["listeners"]] == ["pool-1", "pool-2"]
    assert not any("default_pool" in li for li in doc["listeners"])
    # Pools keep their ids, monitor and persistence; members keep everything but their
    # admin_state, which becomes the API's two flags.
    old_pools = [li["default_pool"] for li in PREVIOUS_RELEASE_DOC["listeners"]]
    assert [p["id"] for p in doc["pools"]] == ["pool-1", "pool-2"]
    flags = {"mem-1": (True, True), "mem-2": (True, False), "mem-3": (False, False)}  # DRAIN ONLINE OFFLINE
    for old, new in zip(old_pools, doc["pools"], strict=True):
        assert {k: v for k, v in new.items() if k != "members"} == {
            k: v for k, v in old.items() if k != "members"
        }
        for om, nm in zip(old["members"], new["members"], strict=True):
            up, drain = flags[om["id"]]
            kept = {k: v for k, v in om.items() if k != "admin_state"}
            assert nm == {**kept, "admin_state_up": up, "drain": drain}, om["id"]
    # Everything else unchanged.
    rest = {k: v for k, v in doc.items() if k not in ("v", "listeners", "pools")}
    assert rest == {k: v for k, v in PREVIOUS_RELEASE_DOC.items() if k != "listeners"}
    # A current document passes through.
    assert documents.upgrade(doc) == doc
    assert documents.upgrade({**PREVIOUS_RELEASE_DOC, "v": 1}) == doc


def test_load_reads_a_previous_release_document():
    lb = documents.load(json.dumps(PREVIOUS_RELEASE_DOC))
    assert lb == upgraded_previous_release()
    pool = lb.pool("pool-1")
    assert pool.member("mem-1").admin_state is model.AdminState.DRAIN
    assert pool.health_monitor is not None and pool.health_monitor.domain_name == "app.example"
    assert pool.session_persistence == model.SessionPersistence(model.PersistenceType.SOURCE_IP, 120)
    assert lb.pool_of(lb.listener("lis-2")).algorithm is model.Algorithm.LEAST_CONNECTIONS
    assert documents.load(documents.dump(lb)) == lb


def test_a_newer_document_is_refused():
    newer = {**json.loads(documents.dump(full_load_balancer())), "v": documents.DOC_VERSION + 1}
    with pytest.raises(ValueError, match="newer"):
        documents.upgrade(newer)
    with pytest.raises(ValueError, match="newer"):
        documents.load(json.dumps(newer))


def test_migration_rewrites_previous_release_documents(tmp_path: Path):
    """A database the previous release left (schema version 1) is rewritten on open."""
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    (_, first), *_ = store.MIGRATIONS
    for statement in first:
        conn.execute(statement)
    conn.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT)")
    conn.execute("INSERT INTO schema_migrations VALUES (1, datetime('now'))")
    conn.execute(
        "INSERT INTO load_balancers (id, project_id, network_id, doc) VALUES (?, ?, ?, ?)",
        ("lb-1", "proj-1", "net-1", json.dumps(PREVIOUS_RELEASE_DOC)),
    )
    conn.commit()
    conn.close()

    s = store.Store(path)
    s.open()
    try:
        assert s.get("lb-1") == upgraded_previous_release()
    finally:
        s.close()
    conn = sqlite3.connect(path)
    try:
        (doc,) = conn.execute("SELECT doc FROM load_balancers WHERE id = 'lb-1'").fetchone()
        versions = [v for (v,) in conn.execute("SELECT version FROM schema_migrations ORDER BY version")]
    finally:
        conn.close()
    assert json.loads(doc)["v"] == documents.DOC_VERSION
    assert doc == documents.dump(upgraded_previous_release())
    assert versions == [v for v, _ in store.MIGRATIONS]


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
    "AddPool": ("post", "/api/v1/load-balancers/{load_balancer_id}/pools", "pool"),
    "UpdatePool": ("put", "/api/v1/load-balancers/{load_balancer_id}/pools/{pool_id}", "*"),
    "RemovePool": ("delete", "/api/v1/load-balancers/{load_balancer_id}/pools/{pool_id}", ""),
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
    # The rpcs of LoadBalancerService: the text of its block, up to the first closing brace
    # at the start of a line.
    text = PROTO.read_text()
    start = text.index("service LoadBalancerService {")
    block = text[start : text.index("\n}", start)]
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
        # The protobuf boundary over the core and the generated Connect client use the same
        # snake_case names.
        assert callable(getattr(LoadBalancerApi, m.attr, None)), m.attr
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


def test_answers_encode_each_view_once_and_follow_revision_and_status():
    from quantix_lb.convert import Answers, load_balancer_out

    answers = Answers(kept=2)
    lb = full_load_balancer()
    first = answers.encoded(lb)
    assert first == load_balancer_out(lb).SerializeToString()
    assert answers.encoded(lb) is first, "the same view is not encoded again"
    assert answers.message(lb) == load_balancer_out(lb)
    # What OVN made of the revision changes the view; so does a new revision.
    active = model.realized(lb)
    failed = model.realized(lb, "OVN Northbound rejected the change: x")
    newer = replace(lb, name="renamed", revision=lb.revision + 1)
    for view in (active, failed, newer):
        assert answers.message(view) == load_balancer_out(view)
        assert answers.encoded(view) == load_balancer_out(view).SerializeToString()
    # At most `kept` load balancers stay encoded: the least recently answered goes.
    others = [replace(lb, id=f"lb-{i}") for i in (2, 3)]
    for other in others:
        answers.encoded(other)
    assert answers.encoded(others[1]) is answers.encoded(others[1])
    assert len(answers._by_id) == 2 and lb.id not in answers._by_id


def test_answers_anticipated_on_a_restart_are_the_realized_views_and_yield_to_newer():
    from quantix_lb.convert import Answers, load_balancer_out

    lb = full_load_balancer()
    deleting = replace(lb, id="lb-deleting", provisioning_status=model.ProvisioningStatus.PENDING_DELETE)
    changed = replace(lb, id="lb-changed")
    answers = Answers(kept=3)
    newer = replace(model.realized(changed), revision=changed.revision + 1)
    answers.encoded(newer)  # answered while the anticipation ran
    answers.adopt(Answers.anticipate([documents.encode(one) for one in (lb, deleting, changed)]))
    # Once OVN holds them as stored, their views are found, not built again.
    active = model.realized(lb)
    assert answers._kept(active) == load_balancer_out(active).SerializeToString()
    assert answers._kept(deleting) == load_balancer_out(deleting).SerializeToString()
    assert answers._kept(lb) is None  # the pending view is not the anticipated one
    assert answers._kept(newer) == load_balancer_out(newer).SerializeToString()
    # Anticipated answers go first when the bound is reached; the bound holds.
    assert len(answers._by_id) == 3
    answers.encoded(replace(lb, id="lb-other"))
    assert len(answers._by_id) == 3 and "lb-other" in answers._by_id and newer.id in answers._by_id


def test_answers_saved_by_the_last_stop_are_used_only_for_the_very_view_they_were_encoded_from(
    tmp_path: Path,
) -> None:
    from quantix_lb import answercache
    from quantix_lb.convert import Answers, answer_format, load_balancer_out

    lb = full_load_balancer()
    renamed = replace(lb, id="lb-renamed")
    deleting = replace(lb, id="lb-deleting", provisioning_status=model.ProvisioningStatus.PENDING_DELETE)
    before = Answers()
    for view in (model.realized(lb), model.realized(renamed), deleting):
        before.encoded(view)
    path = tmp_path / "answers.cache"
    assert answercache.save(path, answer_format(), before.kept()) == 3
    saved = answercache.load(path, answer_format())
    assert set(saved) == {lb.id, renamed.id, deleting.id}

    # Since the stop: `renamed` changed (a newer revision). The others' saved bytes are
    # taken as they are (the same objects, not encoded again); `renamed` is encoded anew.
    renamed = replace(renamed, name="renamed", revision=renamed.revision + 1)
    docs = [documents.encode(one) for one in (lb, renamed, deleting)]
    ahead = {lb_id: (key, data) for lb_id, key, data in Answers.anticipate(docs, saved)}
    assert ahead[lb.id][1] is saved[lb.id][1] and ahead[deleting.id][1] is saved[deleting.id][1]
    assert ahead[renamed.id][1] == load_balancer_out(model.realized(renamed)).SerializeToString()
    assert ahead[renamed.id][1] != saved[renamed.id][1]
    # The same answers as without the file.
    assert ahead == {lb_id: (key, data) for lb_id, key, data in Answers.anticipate(docs)}

    # Another format (other messages or conversion code), a damaged file or none: nothing is used.
    assert answercache.load(path, b"another format") == {}
    path.write_bytes(path.read_bytes()[:-7])
    assert answercache.load(path, answer_format()) == {}
    assert answercache.load(tmp_path / "none", answer_format()) == {}
