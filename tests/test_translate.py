"""The pure model -> OVN Northbound translation."""

import uuid

import pytest

from quantix_lb import model
from quantix_lb.ovn import translate
from quantix_lb.ovn.translate import LbRow, Network


def member(address: str, port: int = 8080, **kw) -> model.Member:
    return model.Member(id=f"mem-{address}-{port}", address=address, port=port, **kw)


def make_lb(
    members, *, vip="10.0.0.100", protocol=model.Protocol.TCP, port=80, **pool_kw
) -> model.LoadBalancer:
    pool = model.Pool(id="pool-1", members=tuple(members), **pool_kw)
    listener = model.Listener(id="lis-1", protocol=protocol, port=port, default_pool=pool)
    return model.LoadBalancer(
        id="lb-1",
        project_id="proj",
        network_id="net",
        vip_address=vip,
        created_at=0,
        updated_at=0,
        listeners=(listener,),
    )


def only_row(lb: model.LoadBalancer) -> LbRow:
    (row,) = translate.desired_rows(lb)
    return row


def test_one_row_per_listener_with_ownership_tags():
    row = only_row(make_lb([member("10.0.0.10"), member("10.0.0.11")]))
    assert row.protocol == "tcp"
    assert dict(row.vips) == {"10.0.0.100:80": "10.0.0.10:8080,10.0.0.11:8080"}
    assert row.selection_fields == ()
    assert row.options == ()
    ids = dict(row.external_ids)
    assert ids[translate.OWNER_KEY] == translate.OWNER
    assert ids[translate.LB_ID_KEY] == "lb-1"
    assert ids[translate.LISTENER_ID_KEY] == "lis-1"
    assert ids[translate.PROJECT_ID_KEY] == "proj"
    assert ids[translate.NETWORK_ID_KEY] == "net"


@pytest.mark.parametrize(
    ("protocol", "l4"),
    [
        (model.Protocol.TCP, "tcp"),
        (model.Protocol.HTTP, "tcp"),
        (model.Protocol.HTTPS, "tcp"),
        (model.Protocol.UDP, "udp"),
        (model.Protocol.SCTP, "sctp"),
    ],
)
def test_protocols_map_to_l4(protocol, l4):
    assert only_row(make_lb([member("10.0.0.10")], protocol=protocol)).protocol == l4


def test_ipv6_endpoints_are_bracketed():
    row = only_row(make_lb([member("fd00::10"), member("fd00::11", 443)], vip="fd00::100", port=443))
    assert dict(row.vips) == {"[fd00::100]:443": "[fd00::10]:8080,[fd00::11]:443"}


@pytest.mark.parametrize(
    ("algorithm", "fields"),
    [
        (model.Algorithm.ROUND_ROBIN, ()),
        (model.Algorithm.LEAST_CONNECTIONS, ()),
        (model.Algorithm.SOURCE_IP, ("ip_src",)),
        (model.Algorithm.SOURCE_IP_PORT, ("ip_dst", "ip_src", "tp_dst", "tp_src")),
    ],
)
def test_algorithms(algorithm, fields):
    for vip, addr in (("10.0.0.100", "10.0.0.10"), ("fd00::100", "fd00::10")):
        row = only_row(make_lb([member(addr)], vip=vip, algorithm=algorithm))
        assert row.selection_fields == fields


def test_source_ip_persistence_sets_affinity_timeout():
    sp = model.SessionPersistence(model.PersistenceType.SOURCE_IP, 120)
    row = only_row(make_lb([member("10.0.0.10")], session_persistence=sp))
    assert dict(row.options) == {"affinity_timeout": "120"}
    none = model.SessionPersistence(model.PersistenceType.NONE)
    assert only_row(make_lb([member("10.0.0.10")], session_persistence=none)).options == ()


def test_only_members_that_may_take_new_connections_are_listed():
    members = [
        member("10.0.0.10"),
        member("10.0.0.11", admin_state=model.AdminState.OFFLINE),
        member("10.0.0.12", admin_state=model.AdminState.DRAIN),
        member("10.0.0.13", weight=0),
        member("10.0.0.14", operating_status=model.OperatingStatus.ERROR),
        member("10.0.0.15", operating_status=model.OperatingStatus.ONLINE),
    ]
    row = only_row(make_lb(members))
    assert dict(row.vips)["10.0.0.100:80"] == "10.0.0.10:8080,10.0.0.15:8080"


def test_no_eligible_member_rejects():
    row = only_row(make_lb([member("10.0.0.10", weight=0)]))
    assert dict(row.vips) == {"10.0.0.100:80": ""}
    assert dict(row.options) == {"reject": "true"}
    assert dict(only_row(make_lb([])).options) == {"reject": "true"}


def test_weights_repeat_backends_by_gcd():
    row = only_row(make_lb([member("10.0.0.10", weight=2), member("10.0.0.11", weight=6)]))
    backends = dict(row.vips)["10.0.0.100:80"].split(",")
    assert backends.count("10.0.0.10:8080") == 1
    assert backends.count("10.0.0.11:8080") == 3


def test_repetitions_are_capped_proportionally():
    assert translate.repetitions([1, 3]) == [1, 3]
    assert translate.repetitions([5, 5, 5]) == [1, 1, 1]
    capped = translate.repetitions([1, 256, 255], cap=64)
    assert capped[0] == 1 and sum(capped) <= 64 + 2
    assert abs(capped[1] / capped[2] - 256 / 255) < 0.1
    assert translate.repetitions([]) == []


def test_pending_delete_wants_nothing():
    from dataclasses import replace

    lb = replace(make_lb([member("10.0.0.10")]), provisioning_status=model.ProvisioningStatus.PENDING_DELETE)
    assert translate.desired_rows(lb) == ()


def test_attachment_set_is_switch_and_routers():
    ls, r1, r2 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    net = Network("net", ls, "net", routers=(r1, r2))
    assert net.datapaths == {ls, r1, r2}
    assert Network("net", ls, "net").datapaths == {ls}


def test_free_vip_skips_used_addresses():
    net = Network("net", uuid.uuid4(), "net", subnet="10.0.0.0/29", used_addresses=frozenset({"10.0.0.1"}))
    assert translate.free_vip(net, ["10.0.0.2"]) == "10.0.0.3"
    assert translate.free_vip(net, [f"10.0.0.{i}" for i in range(2, 7)]) is None
    assert translate.free_vip(Network("n", uuid.uuid4(), "n"), []) is None
