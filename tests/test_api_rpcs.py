"""Every LoadBalancerService RPC through a real `serve` process, on every transport.

Each scenario runs over gRPC, Connect (binary and JSON, connect-python client) and REST
(httpx, snake_case JSON with enum names). One server serves the whole module; every test
works in its own project and network so tests do not see each other's load balancers.

The server realizes every load balancer in its embedded OVN Northbound, and a mutating RPC
answers once that is done: provisioning ACTIVE throughout the tree, operating statuses rolled
up from the members (NO_MONITOR without a health monitor, OFFLINE with one until a check
speaks, DRAINING / OFFLINE for those admin states; a pool is ERROR when no member may take
connections; a listener is its pool; the load balancer rolls up its listeners). The
transient PENDING_* states are only visible on WatchLoadBalancers.
"""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import empty_pb2, json_format
from lbclients import CallFailed, Failure, Transport, assert_snake_case

from conftest import SEED_BODY, Server, Watcher, config_only
from limiquantix.network.v1 import network_service_pb2 as pb
from quantix_lb.model import LEAST_CONNECTIONS_NOTE

ACTIVE = pb.Provisioning.ACTIVE
ONLINE = pb.Operating.ONLINE
OFFLINE = pb.Operating.OFFLINE
NO_MONITOR = pb.Operating.NO_MONITOR
DRAINING = pb.Operating.DRAINING
W = pb.WatchLoadBalancersResponse


# --- fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(Path(tmp_path_factory.mktemp("api-rpcs")) / "data").start()
    try:
        yield server
    finally:
        server.stop()


# --- builders -----------------------------------------------------------------------


def uniq(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def create_request(**fields: Any) -> pb.CreateLoadBalancerRequest:
    """A CreateLoadBalancerRequest written as REST JSON; defaults to the seed's body in a
    network of its own."""
    body: dict[str, Any] = copy.deepcopy(SEED_BODY)
    body["network_id"] = uniq("net")
    body.update(fields)
    return json_format.ParseDict(body, pb.CreateLoadBalancerRequest())


def listener_json(protocol: str, port: int, *addresses: str, **pool: Any) -> dict[str, Any]:
    members = [{"address": a, "port": 8080} for a in addresses]
    return {"protocol": protocol, "port": port, "default_pool": {"members": members, **pool}}


def fail(api: Transport, rpc: str, request: Any) -> Failure:
    return api.fail(rpc, request)


def not_found(kind: str, ident: str) -> Failure:
    return Failure("NOT_FOUND", f"{kind} {ident!r} not found")


def ts_ns(ts: Any) -> int:
    return int(ts.ToNanoseconds())


def without_updated_at(lb: pb.LoadBalancer) -> pb.LoadBalancer:
    copy_ = pb.LoadBalancer()
    copy_.CopyFrom(lb)
    copy_.ClearField("updated_at")
    return copy_


def provisioning(lb: pb.LoadBalancer) -> set[str]:
    """Every provisioning status found in the tree (load balancer, listeners, pools, members)."""
    name = pb.Provisioning.Status.Name
    found = {name(lb.provisioning_status)}
    for li in lb.listeners:
        pool = li.default_pool
        found |= {name(li.provisioning_status), name(pool.provisioning_status)}
        found |= {name(m.provisioning_status) for m in pool.members}
    return found


Tree = tuple[str, list[tuple[str, str, list[str]]]]


def operating(lb: pb.LoadBalancer) -> Tree:
    """The operating statuses by name: (load balancer, [(listener, pool, [members])])."""
    name = pb.Operating.Status.Name
    return (
        name(lb.operating_status),
        [
            (
                name(li.operating_status),
                name(li.default_pool.operating_status),
                [name(m.operating_status) for m in li.default_pool.members],
            )
            for li in lb.listeners
        ],
    )


def reasons(lb: pb.LoadBalancer) -> tuple[str, list[str]]:
    """The status reasons: the load balancer's and each pool's."""
    return lb.status_reason, [li.default_pool.status_reason for li in lb.listeners]


def set_members(listener: pb.Listener, status: int) -> None:
    for m in listener.default_pool.members:
        m.operating_status = status


def list_all(api: Transport, **filters: Any) -> list[str]:
    """Ids of a listing, page by page (page_size 2 so paging is exercised)."""
    ids: list[str] = []
    token = ""
    while True:
        page = api.call("ListLoadBalancers", pb.ListLoadBalancersRequest(page_token=token, **filters))
        ids.extend(lb.id for lb in page.load_balancers)
        token = page.next_page_token
        if not token:
            return ids


def create_many(srv: Server, requests: list[pb.CreateLoadBalancerRequest]) -> list[pb.LoadBalancer]:
    """Creates concurrently (one group commit for many) and returns them in request order."""
    futures = [srv.stub.CreateLoadBalancer.future(r, timeout=30) for r in requests]
    return [f.result() for f in futures]


# --- CreateLoadBalancer / GetLoadBalancer --------------------------------------------


def test_create_returns_the_tree_with_server_ids(api: Transport) -> None:
    req = create_request(name="web-lb", description="front door")
    req.listeners[0].name = "http"
    req.listeners[0].default_pool.name = "web"
    req.listeners[0].default_pool.members.add(address="10.0.0.12", port=8080, name="no-weight")

    lb = api.call("CreateLoadBalancer", req)

    assert lb.id.startswith("lb-")
    assert (lb.name, lb.description, lb.project_id, lb.network_id, lb.vip_address) == (
        "web-lb",
        "front door",
        "proj-123",
        req.network_id,
        "192.168.1.100",
    )
    # Realized in OVN before the answer: ACTIVE everywhere. The seed's pool has a health
    # monitor that has not spoken yet, so its members are OFFLINE while the pool, whose
    # members may all take connections, is ONLINE; so are its listener and the LB.
    assert lb.provisioning_status == ACTIVE
    assert provisioning(lb) == {"ACTIVE"}
    assert operating(lb) == ("ONLINE", [("ONLINE", "ONLINE", ["OFFLINE"] * 3)])
    assert reasons(lb) == ("", [""])
    assert lb.HasField("created_at") and ts_ns(lb.created_at) > 0
    assert lb.updated_at == lb.created_at
    (listener,) = lb.listeners
    assert listener.id.startswith("lis-")
    assert (listener.name, listener.protocol, listener.port) == ("http", pb.Listener.TCP, 80)
    assert (listener.provisioning_status, listener.operating_status) == (ACTIVE, ONLINE)
    pool = listener.default_pool
    assert pool.id.startswith("pool-")
    assert (pool.name, pool.algorithm) == ("web", pb.Pool.ROUND_ROBIN)
    assert (pool.provisioning_status, pool.operating_status, pool.status_reason) == (ACTIVE, ONLINE, "")
    assert [(m.address, m.port, m.weight, m.name) for m in pool.members] == [
        ("10.0.0.10", 8080, 1, ""),
        ("10.0.0.11", 8080, 1, ""),
        ("10.0.0.12", 8080, 1, "no-weight"),  # weight defaults to 1
    ]
    for m in pool.members:
        assert m.id.startswith("mem-")
        assert m.HasField("weight")
        assert m.admin_state == pb.Member.ONLINE
        assert (m.provisioning_status, m.operating_status) == (ACTIVE, OFFLINE)
    hm = pool.health_monitor
    assert hm.id.startswith("hm-")
    assert (hm.type, hm.delay, hm.timeout, hm.max_retries, hm.healthy_threshold) == (
        pb.HealthMonitor.HTTP,
        5.0,
        3.0,
        3,
        2,  # README: healthy_threshold defaults to 2
    )
    assert (hm.http_method, hm.url_path, hm.expected_codes) == ("GET", "/health", "200")
    ids = [lb.id, listener.id, pool.id, hm.id, *(m.id for m in pool.members)]
    assert len(set(ids)) == len(ids)

    assert api.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id)) == lb


def test_create_fills_defaults_and_canonical_addresses(api: Transport) -> None:
    req = create_request(
        vip_address="2001:DB8:0:0::10",
        listeners=[
            listener_json(
                "UDP",
                53,
                "2001:db8:0::A",
                session_persistence={"type": "SOURCE_IP"},
                health_monitor={"type": "UDP_CONNECT", "delay": 0.5, "timeout": 0.25},
            ),
            listener_json(
                "HTTPS", 443, "2001:db8::b", health_monitor={"type": "HTTPS", "delay": 2, "timeout": 2}
            ),
            listener_json("SCTP", 443),
        ],
    )
    lb = api.call("CreateLoadBalancer", req)

    assert lb.vip_address == "2001:db8::10"
    udp, https, sctp = lb.listeners
    assert udp.default_pool.algorithm == pb.Pool.ROUND_ROBIN
    assert [m.address for m in udp.default_pool.members] == ["2001:db8::a"]
    sp = udp.default_pool.session_persistence
    assert (sp.type, sp.timeout) == (pb.SessionPersistence.SOURCE_IP, 300)
    hm = udp.default_pool.health_monitor
    assert (hm.type, hm.delay, hm.timeout, hm.max_retries, hm.healthy_threshold) == (
        pb.HealthMonitor.UDP_CONNECT,
        0.5,
        0.25,
        3,
        2,
    )
    assert (hm.http_method, hm.url_path, hm.expected_codes) == ("", "", "")
    hm = https.default_pool.health_monitor
    assert (hm.http_method, hm.url_path, hm.expected_codes) == ("GET", "/", "200")
    assert not https.default_pool.HasField("session_persistence")
    assert (sctp.protocol, sctp.port, len(sctp.default_pool.members)) == (pb.Listener.SCTP, 443, 0)
    assert not sctp.default_pool.HasField("health_monitor")
    # Monitored members are OFFLINE until a check speaks; the empty SCTP pool can take no
    # connection (ERROR), so the load balancer, with two of three listeners working, is DEGRADED.
    assert provisioning(lb) == {"ACTIVE"}
    assert operating(lb) == (
        "DEGRADED",
        [("ONLINE", "ONLINE", ["OFFLINE"]), ("ONLINE", "ONLINE", ["OFFLINE"]), ("ERROR", "ERROR", [])],
    )


def test_every_transport_reads_the_same_load_balancer(clients: dict[str, Transport]) -> None:
    lb = clients["rest"].call("CreateLoadBalancer", create_request())
    seen = {
        name: client.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id))
        for name, client in clients.items()
    }
    assert seen == dict.fromkeys(clients, lb)


# --- ListLoadBalancers ----------------------------------------------------------------


def test_list_filters_pages_and_keeps_creation_order(srv: Server, api: Transport) -> None:
    project, other, net_a, net_b = uniq("proj"), uniq("proj"), uniq("net"), uniq("net")
    plan = [(project, net_a)] * 3 + [(project, net_b), (other, net_a), (project, net_a), (project, net_b)]
    made = [
        srv.stub.CreateLoadBalancer(
            pb.CreateLoadBalancerRequest(project_id=p, network_id=n, vip_address="10.9.0.1", name=f"lb{i}")
        )
        for i, (p, n) in enumerate(plan)
    ]
    ids = {key: [lb.id for lb in made if (lb.project_id, lb.network_id) == key] for key in set(plan)}

    first = api.call("ListLoadBalancers", pb.ListLoadBalancersRequest(project_id=project, page_size=2))
    assert [lb.id for lb in first.load_balancers] == [made[0].id, made[1].id]
    assert first.total_count == 6
    assert first.next_page_token
    assert first.load_balancers[0] == made[0]  # whole load balancers, not summaries

    pages = []
    token = first.next_page_token
    while token:
        page = api.call(
            "ListLoadBalancers",
            pb.ListLoadBalancersRequest(project_id=project, page_size=2, page_token=token),
        )
        assert page.total_count == 6
        pages.append([lb.id for lb in page.load_balancers])
        token = page.next_page_token
    assert pages == [[made[2].id, made[3].id], [made[5].id, made[6].id]]

    assert list_all(api, project_id=project, page_size=2) == [
        lb.id for lb in made if lb.project_id == project
    ]
    assert list_all(api, project_id=project, network_id=net_a, page_size=2) == ids[(project, net_a)]
    assert list_all(api, network_id=net_a, page_size=2) == [lb.id for lb in made if lb.network_id == net_a]
    assert list_all(api, network_id=net_b, project_id=other) == []

    everything = api.call("ListLoadBalancers", pb.ListLoadBalancersRequest(project_id=project))
    assert len(everything.load_balancers) == 6 and not everything.next_page_token  # default page 50
    empty = api.call("ListLoadBalancers", pb.ListLoadBalancersRequest(network_id=uniq("net")))
    assert (list(empty.load_balancers), empty.next_page_token, empty.total_count) == ([], "", 0)


def test_page_token_is_bound_to_its_filters(srv: Server, api: Transport) -> None:
    project = uniq("proj")
    for _ in range(2):
        srv.stub.CreateLoadBalancer(
            pb.CreateLoadBalancerRequest(project_id=project, network_id="n", vip_address="10.9.0.2")
        )
    page = api.call("ListLoadBalancers", pb.ListLoadBalancersRequest(project_id=project, page_size=1))
    assert page.next_page_token
    other = pb.ListLoadBalancersRequest(project_id=uniq("proj"), page_size=1, page_token=page.next_page_token)
    msg = "belongs to a listing with other filters"
    assert fail(api, "ListLoadBalancers", other) == Failure(
        "INVALID_ARGUMENT", f"page_token: {msg}", (("page_token", msg),)
    )


def _b64(data: str) -> str:
    return base64.urlsafe_b64encode(data.encode()).decode()


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "!!!",
        _b64("[]"),
        _b64('{"a": 1}'),
        _b64('{"a": "x", "s": "y"}'),
        _b64('{"a": 1e999, "s": "y"}'),
        _b64('{"a": 99999999999999999999999, "s": "y"}'),
        _b64('{"a": -1, "s": "y"}'),
    ],
)
def test_bad_page_token_is_invalid_argument(api: Transport, token: str) -> None:
    msg = "is not a token this server issued"
    assert fail(api, "ListLoadBalancers", pb.ListLoadBalancersRequest(page_token=token)) == Failure(
        "INVALID_ARGUMENT", f"page_token: {msg}", (("page_token", msg),)
    )


def test_negative_page_size_is_invalid_argument(api: Transport) -> None:
    assert fail(api, "ListLoadBalancers", pb.ListLoadBalancersRequest(page_size=-1)) == Failure(
        "INVALID_ARGUMENT", "page_size: must not be negative", (("page_size", "must not be negative"),)
    )


@pytest.fixture(scope="module")
def big_project(srv: Server) -> tuple[str, list[str]]:
    """1001 load balancers in one project: one more than the largest page."""
    project = uniq("proj-big")
    made = create_many(
        srv,
        [
            pb.CreateLoadBalancerRequest(
                project_id=project, network_id="n", vip_address="10.8.0.1", name=str(i)
            )
            for i in range(1001)
        ],
    )
    return project, [lb.id for lb in made]


def test_page_size_is_capped_at_1000(api: Transport, big_project: tuple[str, list[str]]) -> None:
    project, ids = big_project
    first = api.call("ListLoadBalancers", pb.ListLoadBalancersRequest(project_id=project, page_size=5000))
    assert len(first.load_balancers) == 1000
    assert first.total_count == 1001
    assert first.next_page_token
    rest = api.call(
        "ListLoadBalancers",
        pb.ListLoadBalancersRequest(project_id=project, page_size=5000, page_token=first.next_page_token),
    )
    assert (len(rest.load_balancers), rest.next_page_token, rest.total_count) == (1, "", 1001)
    listed = [lb.id for lb in first.load_balancers] + [rest.load_balancers[0].id]
    assert sorted(listed) == sorted(ids)
    default = api.call("ListLoadBalancers", pb.ListLoadBalancersRequest(project_id=project))
    assert [lb.id for lb in default.load_balancers] == listed[:50]  # default page 50, same stable order
    assert default.next_page_token


# --- UpdateLoadBalancer / DeleteLoadBalancer ------------------------------------------


def test_update_load_balancer_changes_only_set_fields(api: Transport) -> None:
    lb = api.call("CreateLoadBalancer", create_request(name="old", description="keep"))

    renamed = api.call("UpdateLoadBalancer", pb.UpdateLoadBalancerRequest(id=lb.id, name="new"))
    expected = without_updated_at(lb)
    expected.name = "new"
    assert without_updated_at(renamed) == expected
    assert ts_ns(renamed.updated_at) >= ts_ns(lb.updated_at)
    assert renamed.created_at == lb.created_at
    assert renamed.provisioning_status == ACTIVE  # realized again before the answer
    assert provisioning(renamed) == {"ACTIVE"}

    described = api.call("UpdateLoadBalancer", pb.UpdateLoadBalancerRequest(id=lb.id, description="d2"))
    assert (described.name, described.description) == ("new", "d2")

    cleared = api.call("UpdateLoadBalancer", pb.UpdateLoadBalancerRequest(id=lb.id, name=""))
    assert (cleared.name, cleared.description) == ("", "d2")
    assert cleared.listeners == lb.listeners
    assert api.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id)) == cleared


def test_delete_load_balancer(api: Transport) -> None:
    project = uniq("proj")
    req = create_request(project_id=project)
    lb = api.call("CreateLoadBalancer", req)
    before = api.call("ListLoadBalancers", pb.ListLoadBalancersRequest(project_id=project)).total_count

    assert api.call("DeleteLoadBalancer", pb.DeleteLoadBalancerRequest(id=lb.id)) == empty_pb2.Empty()

    gone = not_found("load balancer", lb.id)
    assert fail(api, "GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id)) == gone
    assert fail(api, "DeleteLoadBalancer", pb.DeleteLoadBalancerRequest(id=lb.id)) == gone
    assert fail(api, "GetLoadBalancerStats", pb.GetLoadBalancerStatsRequest(id=lb.id)) == gone
    after = api.call("ListLoadBalancers", pb.ListLoadBalancersRequest(project_id=project)).total_count
    assert after == before - 1
    # Its VIP:port on the network is free again.
    again = api.call("CreateLoadBalancer", req)
    assert again.id != lb.id


# --- listeners ------------------------------------------------------------------------


def test_add_listener(api: Transport) -> None:
    lb = api.call("CreateLoadBalancer", create_request())
    new = json_format.ParseDict(
        listener_json("UDP", 80, "10.0.0.20", algorithm="SOURCE_IP_PORT") | {"name": "dns"}, pb.Listener()
    )
    after = api.call("AddListener", pb.AddListenerRequest(load_balancer_id=lb.id, listener=new))

    assert len(after.listeners) == 2
    assert after.listeners[0] == lb.listeners[0]
    added = after.listeners[1]
    assert added.id.startswith("lis-") and added.default_pool.id.startswith("pool-")
    assert (added.name, added.protocol, added.port) == ("dns", pb.Listener.UDP, 80)  # UDP:80 beside TCP:80
    assert added.default_pool.algorithm == pb.Pool.SOURCE_IP_PORT
    (m,) = added.default_pool.members
    assert m.id.startswith("mem-") and (m.address, m.port, m.weight) == ("10.0.0.20", 8080, 1)
    assert after.created_at == lb.created_at
    assert api.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id)) == after


def test_update_listener_changes_only_what_is_set(api: Transport) -> None:
    lb = api.call("CreateLoadBalancer", create_request())
    lid = lb.listeners[0].id

    def update(**fields: Any) -> pb.LoadBalancer:
        req = json_format.ParseDict(fields, pb.UpdateListenerRequest())
        req.load_balancer_id, req.listener_id = lb.id, lid
        return api.call("UpdateListener", req)

    def expect(prev: pb.LoadBalancer, change: Any) -> pb.LoadBalancer:
        expected = without_updated_at(prev)
        change(expected.listeners[0])
        return expected

    def least_connections(li: pb.Listener) -> None:
        li.default_pool.algorithm = pb.Pool.LEAST_CONNECTIONS
        li.default_pool.status_reason = LEAST_CONNECTIONS_NOTE  # steered from live statistics

    def unmonitored(li: pb.Listener) -> None:
        li.default_pool.ClearField("health_monitor")
        set_members(li, NO_MONITOR)

    steps: list[tuple[dict[str, Any], Any]] = [
        ({"name": "front"}, lambda li: li.MergeFrom(pb.Listener(name="front"))),
        ({"port": 8443}, lambda li: li.MergeFrom(pb.Listener(port=8443))),
        ({"algorithm": "LEAST_CONNECTIONS"}, least_connections),
        (
            {"session_persistence": {"type": "SOURCE_IP", "timeout": 600}},
            lambda li: li.default_pool.session_persistence.MergeFrom(
                pb.SessionPersistence(type=pb.SessionPersistence.SOURCE_IP, timeout=600)
            ),
        ),
        ({"remove_health_monitor": True}, unmonitored),
    ]
    prev = lb
    for fields, change in steps:
        reply = update(**fields)
        assert without_updated_at(reply) == expect(prev, change), fields
        assert provisioning(reply) == {"ACTIVE"}, fields
        prev = reply
    assert operating(prev) == ("ONLINE", [("ONLINE", "ONLINE", ["NO_MONITOR"] * 2)])

    monitor = {"type": "TCP", "delay": 1.5, "timeout": 0.5, "max_retries": 5, "healthy_threshold": 4}
    reply = update(health_monitor=monitor)
    hm = reply.listeners[0].default_pool.health_monitor
    assert hm.id.startswith("hm-")
    expected_hm = json_format.ParseDict(monitor, pb.HealthMonitor())
    expected_hm.id = hm.id
    assert hm == expected_hm

    def monitored(li: pb.Listener) -> None:
        li.default_pool.health_monitor.CopyFrom(expected_hm)
        set_members(li, OFFLINE)  # until a health check speaks

    assert without_updated_at(reply) == expect(prev, monitored)
    prev = reply

    # Replacing a monitor that exists gives a new one, with the HTTP defaults filled in.
    reply = update(health_monitor={"type": "HTTP", "delay": 3, "timeout": 1})
    replaced = reply.listeners[0].default_pool.health_monitor
    assert replaced.id.startswith("hm-") and replaced.id != hm.id
    assert (replaced.type, replaced.http_method, replaced.url_path, replaced.expected_codes) == (
        pb.HealthMonitor.HTTP,
        "GET",
        "/",
        "200",
    )
    assert (replaced.max_retries, replaced.healthy_threshold) == (3, 2)

    reply = update(session_persistence={"type": "NONE"})
    sp = reply.listeners[0].default_pool.session_persistence
    assert sp.type == pb.SessionPersistence.NONE
    final = api.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id))
    assert final == reply
    li = final.listeners[0]
    assert (li.id, li.name, li.port, li.default_pool.id) == (
        lid,
        "front",
        8443,
        lb.listeners[0].default_pool.id,
    )
    assert li.default_pool.members == lb.listeners[0].default_pool.members
    assert reasons(final) == ("", [LEAST_CONNECTIONS_NOTE])
    assert provisioning(final) == {"ACTIVE"}


def test_update_listener_port_frees_the_old_frontend(srv: Server, api: Transport) -> None:
    lb = api.call("CreateLoadBalancer", create_request())
    api.call(
        "UpdateListener",
        pb.UpdateListenerRequest(load_balancer_id=lb.id, listener_id=lb.listeners[0].id, port=81),
    )
    # Another load balancer on the same VIP and network may now take port 80.
    twin = api.call("CreateLoadBalancer", create_request(network_id=lb.network_id))
    assert twin.listeners[0].port == 80


def test_remove_listener(api: Transport) -> None:
    req = create_request()
    req.listeners.append(json_format.ParseDict(listener_json("UDP", 53, "10.0.0.30"), pb.Listener()))
    lb = api.call("CreateLoadBalancer", req)
    tcp, udp = lb.listeners

    after = api.call("RemoveListener", pb.RemoveListenerRequest(load_balancer_id=lb.id, listener_id=tcp.id))
    assert list(after.listeners) == [udp]
    assert fail(
        api, "RemoveListener", pb.RemoveListenerRequest(load_balancer_id=lb.id, listener_id=tcp.id)
    ) == not_found("listener", tcp.id)
    assert api.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id)) == after
    # Its protocol and port can be used again.
    readd = api.call("AddListener", pb.AddListenerRequest(load_balancer_id=lb.id, listener=req.listeners[0]))
    assert [(li.protocol, li.port) for li in readd.listeners] == [
        (pb.Listener.UDP, 53),
        (pb.Listener.TCP, 80),
    ]


# --- pool members ---------------------------------------------------------------------


def test_add_pool_member(api: Transport) -> None:
    lb = api.call("CreateLoadBalancer", create_request())
    pool = lb.listeners[0].default_pool

    after = api.call(
        "AddPoolMember",
        pb.AddPoolMemberRequest(
            load_balancer_id=lb.id,
            pool_id=pool.id,
            member=pb.Member(address="10.0.0.12", port=9090, name="c"),
        ),
    )
    members = after.listeners[0].default_pool.members
    assert list(members[:2]) == list(pool.members)
    added = members[2]
    assert added.id.startswith("mem-")
    assert (added.address, added.port, added.weight, added.name) == ("10.0.0.12", 9090, 1, "c")
    assert (added.admin_state, added.provisioning_status, added.operating_status) == (
        pb.Member.ONLINE,
        ACTIVE,
        OFFLINE,  # the pool is monitored: OFFLINE until a health check speaks
    )
    assert operating(after) == ("ONLINE", [("ONLINE", "ONLINE", ["OFFLINE"] * 3)])

    zero = api.call(
        "AddPoolMember",
        pb.AddPoolMemberRequest(
            load_balancer_id=lb.id,
            pool_id=pool.id,
            member=pb.Member(address="10.0.0.11", port=9090, weight=0, admin_state=pb.Member.DRAIN),
        ),
    )
    last = zero.listeners[0].default_pool.members[3]
    assert (last.address, last.port, last.weight, last.admin_state) == ("10.0.0.11", 9090, 0, pb.Member.DRAIN)
    assert (last.provisioning_status, last.operating_status) == (ACTIVE, DRAINING)
    assert operating(zero) == ("ONLINE", [("ONLINE", "ONLINE", ["OFFLINE"] * 3 + ["DRAINING"])])
    assert api.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id)) == zero


def test_add_pool_member_ipv6_is_canonical(api: Transport) -> None:
    lb = api.call(
        "CreateLoadBalancer", create_request(vip_address="fd00::1", listeners=[listener_json("TCP", 80)])
    )
    after = api.call(
        "AddPoolMember",
        pb.AddPoolMemberRequest(
            load_balancer_id=lb.id,
            pool_id=lb.listeners[0].default_pool.id,
            member=pb.Member(address="FD00:0:0::0A", port=80),
        ),
    )
    assert [m.address for m in after.listeners[0].default_pool.members] == ["fd00::a"]


def test_update_pool_member(api: Transport) -> None:
    lb = api.call("CreateLoadBalancer", create_request())
    pool = lb.listeners[0].default_pool
    mid = pool.members[0].id

    def update(**fields: Any) -> pb.Member:
        req = json_format.ParseDict(fields, pb.UpdatePoolMemberRequest())
        req.load_balancer_id, req.pool_id, req.member_id = lb.id, pool.id, mid
        after = api.call("UpdatePoolMember", req)
        members = after.listeners[0].default_pool.members
        assert members[1] == pool.members[1]  # the other member is untouched
        # ... and still takes connections, so the pool, listener and LB stay ONLINE.
        assert operating(after)[0] == "ONLINE"
        assert operating(after)[1][0][:2] == ("ONLINE", "ONLINE")
        assert provisioning(after) == {"ACTIVE"}
        return members[0]

    expected = pb.Member()
    expected.CopyFrom(pool.members[0])
    # The seed's pool is monitored: an admin ONLINE member is OFFLINE until a check speaks.
    for fields, status in [
        ({"weight": 7}, OFFLINE),
        ({"admin_state": "DRAIN"}, DRAINING),
        ({"admin_state": "OFFLINE"}, OFFLINE),
        ({"name": "primary"}, OFFLINE),
        ({"weight": 0}, OFFLINE),
        ({"admin_state": "ONLINE", "weight": 256}, OFFLINE),
    ]:
        json_format.ParseDict(fields, expected)  # the member's fields are named as the request's
        expected.operating_status = status
        assert update(**fields) == expected, fields
    got = (
        api.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id)).listeners[0].default_pool.members[0]
    )
    assert got == expected


def test_remove_pool_member(api: Transport) -> None:
    lb = api.call("CreateLoadBalancer", create_request())
    pool = lb.listeners[0].default_pool
    first, second = pool.members

    req = pb.RemovePoolMemberRequest(load_balancer_id=lb.id, pool_id=pool.id, member_id=first.id)
    after = api.call("RemovePoolMember", req)
    assert list(after.listeners[0].default_pool.members) == [second]
    assert fail(api, "RemovePoolMember", req) == not_found("member", first.id)
    req.pool_id = "pool-nope"
    assert fail(api, "RemovePoolMember", req) == not_found("pool", "pool-nope")
    # The address:port may join again.
    again = api.call(
        "AddPoolMember",
        pb.AddPoolMemberRequest(
            load_balancer_id=lb.id, pool_id=pool.id, member=pb.Member(address="10.0.0.10", port=8080)
        ),
    )
    assert [m.address for m in again.listeners[0].default_pool.members] == ["10.0.0.11", "10.0.0.10"]


# --- GetLoadBalancerStats -------------------------------------------------------------


def test_stats_leave_unavailable_counters_unset(api: Transport) -> None:
    req = create_request()
    req.listeners.append(json_format.ParseDict(listener_json("UDP", 53, "10.0.0.30"), pb.Listener()))
    lb = api.call("CreateLoadBalancer", req)

    stats = api.call("GetLoadBalancerStats", pb.GetLoadBalancerStatsRequest(id=lb.id))

    assert stats.load_balancer_id == lb.id
    for counter in (
        "total_connections",
        "active_connections",
        "bytes_in",
        "bytes_out",
        "requests_per_second",
    ):
        assert not stats.HasField(counter), counter  # unavailable, never a fake 0
    assert [ls.listener_id for ls in stats.listeners] == [li.id for li in lb.listeners]
    for ls, li in zip(stats.listeners, lb.listeners, strict=True):
        assert not ls.HasField("connections")
        assert [ms.member_id for ms in ls.members] == [m.id for m in li.default_pool.members]
        for ms, m in zip(ls.members, li.default_pool.members, strict=True):
            assert not ms.HasField("connections")
            assert ms.status == m.operating_status != pb.Operating.STATUS_UNSPECIFIED
    # The seed's members are monitored (OFFLINE until checked); the UDP pool has no monitor.
    assert [[ms.status for ms in ls.members] for ls in stats.listeners] == [
        [OFFLINE, OFFLINE],
        [NO_MONITOR],
    ]

    bare = api.call("CreateLoadBalancer", create_request(listeners=[]))
    assert api.call(
        "GetLoadBalancerStats", pb.GetLoadBalancerStatsRequest(id=bare.id)
    ) == pb.LoadBalancerStats(
        load_balancer_id=bare.id, unavailable_reason="no health worker reports data-path statistics"
    )
    # ...and the reason says why every counter is unset.
    assert stats.unavailable_reason == "no health worker reports data-path statistics"


# --- statuses: realization and the operating rollup -----------------------------------


def member_json(address: str, **fields: Any) -> dict[str, Any]:
    return {"address": address, "port": 8080, **fields}


def pool_listener(protocol: str, port: int, members: list[dict[str, Any]], **pool: Any) -> dict[str, Any]:
    return {"protocol": protocol, "port": port, "default_pool": {"members": members, **pool}}


def update_member(api: Transport, lb: pb.LoadBalancer, listener: int, member: int, **fields: Any) -> Any:
    pool = lb.listeners[listener].default_pool
    req = json_format.ParseDict(fields, pb.UpdatePoolMemberRequest())
    req.load_balancer_id, req.pool_id, req.member_id = lb.id, pool.id, pool.members[member].id
    return api.call("UpdatePoolMember", req)


def test_least_connections_pool_carries_a_status_reason_note(api: Transport) -> None:
    assert "LEAST_CONNECTIONS" in LEAST_CONNECTIONS_NOTE  # says how it is realized
    req = create_request(
        listeners=[
            listener_json("TCP", 80, "10.0.0.10", algorithm="LEAST_CONNECTIONS"),
            listener_json("UDP", 53, "10.0.0.10", algorithm="SOURCE_IP"),
        ]
    )
    lb = api.call("CreateLoadBalancer", req)
    # A note on the pool, not an error: everything is ACTIVE and ONLINE.
    assert reasons(lb) == ("", [LEAST_CONNECTIONS_NOTE, ""])
    assert provisioning(lb) == {"ACTIVE"}
    assert operating(lb) == ("ONLINE", [("ONLINE", "ONLINE", ["NO_MONITOR"])] * 2)
    assert api.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id)) == lb

    tcp, udp = (li.id for li in lb.listeners)
    switched = api.call(
        "UpdateListener",
        pb.UpdateListenerRequest(load_balancer_id=lb.id, listener_id=tcp, algorithm=pb.Pool.ROUND_ROBIN),
    )
    assert reasons(switched) == ("", ["", ""])
    switched = api.call(
        "UpdateListener",
        pb.UpdateListenerRequest(
            load_balancer_id=lb.id, listener_id=udp, algorithm=pb.Pool.LEAST_CONNECTIONS
        ),
    )
    assert reasons(switched) == ("", ["", LEAST_CONNECTIONS_NOTE])
    assert provisioning(switched) == {"ACTIVE"}
    assert api.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id)) == switched


@pytest.mark.parametrize("monitored", [False, True], ids=["no-monitor", "monitored"])
def test_member_operating_status_follows_its_admin_state(api: Transport, monitored: bool) -> None:
    monitor = {"health_monitor": {"type": "TCP", "delay": 5, "timeout": 3}} if monitored else {}
    # Admin ONLINE: NO_MONITOR without a monitor; with one, OFFLINE until a check speaks.
    up = "OFFLINE" if monitored else "NO_MONITOR"
    members = [
        member_json("10.0.0.10"),
        member_json("10.0.0.11", admin_state="DRAIN"),
        member_json("10.0.0.12", admin_state="OFFLINE"),
    ]
    lb = api.call(
        "CreateLoadBalancer", create_request(listeners=[pool_listener("TCP", 80, members, **monitor)])
    )
    assert provisioning(lb) == {"ACTIVE"}
    assert operating(lb) == ("ONLINE", [("ONLINE", "ONLINE", [up, "DRAINING", "OFFLINE"])])

    # Draining the only member that took connections leaves none: the pool is ERROR, and
    # with it its listener and the load balancer. That is an operating state, not a
    # provisioning one: the configuration is realized (ACTIVE) and has no status reason.
    drained = update_member(api, lb, 0, 0, admin_state="DRAIN")
    assert operating(drained) == ("ERROR", [("ERROR", "ERROR", ["DRAINING", "DRAINING", "OFFLINE"])])
    assert provisioning(drained) == {"ACTIVE"}
    assert reasons(drained) == ("", [""])

    back = update_member(api, lb, 0, 2, admin_state="ONLINE")
    assert operating(back) == ("ONLINE", [("ONLINE", "ONLINE", ["DRAINING", "DRAINING", up])])
    offline = update_member(api, lb, 0, 1, admin_state="OFFLINE")
    assert operating(offline) == ("ONLINE", [("ONLINE", "ONLINE", ["DRAINING", "OFFLINE", up])])
    assert provisioning(offline) == {"ACTIVE"}
    assert api.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id)) == offline


def test_pool_is_error_when_no_member_may_take_connections(api: Transport) -> None:
    zero = [member_json("10.0.0.10", weight=0), member_json("10.0.0.11", weight=0)]
    req = create_request(
        listeners=[pool_listener("TCP", 80, zero), pool_listener("UDP", 53, [member_json("10.0.0.12")])]
    )
    lb = api.call("CreateLoadBalancer", req)
    # Weight 0 takes no new connections: that pool can serve nobody (ERROR). One working
    # listener of two leaves the load balancer DEGRADED, not ERROR.
    assert operating(lb) == (
        "DEGRADED",
        [("ERROR", "ERROR", ["NO_MONITOR"] * 2), ("ONLINE", "ONLINE", ["NO_MONITOR"])],
    )
    assert provisioning(lb) == {"ACTIVE"}
    assert reasons(lb) == ("", ["", ""])

    weighted = update_member(api, lb, 0, 1, weight=2)
    assert operating(weighted) == (
        "ONLINE",
        [("ONLINE", "ONLINE", ["NO_MONITOR"] * 2), ("ONLINE", "ONLINE", ["NO_MONITOR"])],
    )

    update_member(api, lb, 0, 1, weight=0)
    alone = api.call(
        "RemoveListener", pb.RemoveListenerRequest(load_balancer_id=lb.id, listener_id=lb.listeners[1].id)
    )
    assert operating(alone) == ("ERROR", [("ERROR", "ERROR", ["NO_MONITOR"] * 2)])  # every listener

    # A pool without members is ERROR too, until one joins.
    pool = lb.listeners[0].default_pool
    for m in pool.members:
        empty = api.call(
            "RemovePoolMember",
            pb.RemovePoolMemberRequest(load_balancer_id=lb.id, pool_id=pool.id, member_id=m.id),
        )
    assert operating(empty) == ("ERROR", [("ERROR", "ERROR", [])])
    joined = api.call(
        "AddPoolMember",
        pb.AddPoolMemberRequest(
            load_balancer_id=lb.id, pool_id=pool.id, member=pb.Member(address="10.0.0.13", port=80)
        ),
    )
    assert operating(joined) == ("ONLINE", [("ONLINE", "ONLINE", ["NO_MONITOR"])])
    assert provisioning(joined) == {"ACTIVE"}

    # A load balancer without listeners has nothing that fails.
    bare = api.call("CreateLoadBalancer", create_request(listeners=[]))
    assert (operating(bare), provisioning(bare)) == (("ONLINE", []), {"ACTIVE"})


def change_events(watcher: Watcher, lb_id: str) -> list[tuple[str, str, pb.LoadBalancer]]:
    """The events of one change of `lb_id`, up to its end (ACTIVE again, or DELETED), as
    (type, provisioning status, load balancer)."""
    events = watcher.until(
        lambda e: (
            e.load_balancer.id == lb_id
            and (e.type == W.DELETED or e.load_balancer.provisioning_status == ACTIVE)
        )
    )
    assert {e.load_balancer.id for e in events} == {lb_id}
    name = pb.Provisioning.Status.Name
    return [(W.Type.Name(e.type), name(e.load_balancer.provisioning_status), e.load_balancer) for e in events]


def test_changes_are_pending_only_until_realized(srv: Server, api: Transport) -> None:
    """Each change is written PENDING_* and then, once OVN holds it, ACTIVE; the RPC answers
    after that, so only a watcher sees the pending state (exactly once per change)."""
    network = uniq("net")
    watcher = Watcher(srv, "grpc", pb.WatchLoadBalancersRequest(network_id=network))
    try:
        assert watcher.snapshot() == []
        lb = api.call("CreateLoadBalancer", create_request(network_id=network))
        (created, pending, first), (updated, active, last) = change_events(watcher, lb.id)
        assert (created, pending, updated, active) == ("CREATED", "PENDING_CREATE", "UPDATED", "ACTIVE")
        assert provisioning(first) == {"PENDING_CREATE"}
        assert config_only(first) == config_only(lb)
        assert last == lb

        pool = lb.listeners[0].default_pool
        listener = pb.Listener(
            protocol=pb.Listener.UDP,
            port=53,
            default_pool=pb.Pool(members=[pb.Member(address="10.0.0.9", port=53)]),
        )
        changes: list[tuple[str, Any]] = [
            ("UpdateLoadBalancer", pb.UpdateLoadBalancerRequest(id=lb.id, name="renamed")),
            ("AddListener", pb.AddListenerRequest(load_balancer_id=lb.id, listener=listener)),
            (
                "AddPoolMember",
                pb.AddPoolMemberRequest(
                    load_balancer_id=lb.id, pool_id=pool.id, member=pb.Member(address="10.0.0.12", port=80)
                ),
            ),
            (
                "UpdatePoolMember",
                pb.UpdatePoolMemberRequest(
                    load_balancer_id=lb.id,
                    pool_id=pool.id,
                    member_id=pool.members[0].id,
                    admin_state=pb.Member.DRAIN,
                ),
            ),
            (
                "RemovePoolMember",
                pb.RemovePoolMemberRequest(
                    load_balancer_id=lb.id, pool_id=pool.id, member_id=pool.members[1].id
                ),
            ),
            (
                "UpdateListener",
                pb.UpdateListenerRequest(
                    load_balancer_id=lb.id, listener_id=lb.listeners[0].id, algorithm=pb.Pool.SOURCE_IP
                ),
            ),
        ]
        answer = lb
        for rpc, request in changes:
            answer = api.call(rpc, request)
            assert provisioning(answer) == {"ACTIVE"}, rpc
            (k1, s1, pending_lb), (k2, s2, active_lb) = change_events(watcher, lb.id)
            assert (k1, s1, k2, s2) == ("UPDATED", "PENDING_UPDATE", "UPDATED", "ACTIVE"), rpc
            # The pending event already carries the whole new configuration.
            assert config_only(pending_lb) == config_only(answer), rpc
            assert active_lb == answer, rpc
        added = answer.listeners[1].id
        answer = api.call(
            "RemoveListener", pb.RemoveListenerRequest(load_balancer_id=lb.id, listener_id=added)
        )
        [(_, s1, _), (_, s2, active_lb)] = change_events(watcher, lb.id)
        assert (s1, s2, active_lb) == ("PENDING_UPDATE", "ACTIVE", answer)
        assert api.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id)) == answer

        # Delete: PENDING_DELETE while its OVN rows go, then DELETED; the RPC answers after.
        assert api.call("DeleteLoadBalancer", pb.DeleteLoadBalancerRequest(id=lb.id)) == empty_pb2.Empty()
        assert fail(api, "GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id)) == not_found(
            "load balancer", lb.id
        )
        (k1, s1, deleting), (k2, s2, deleted) = change_events(watcher, lb.id)
        assert (k1, s1, k2, s2) == ("UPDATED", "PENDING_DELETE", "DELETED", "PENDING_DELETE")
        assert config_only(without_updated_at(deleting)) == config_only(without_updated_at(answer))
        assert deleted == deleting  # DELETED carries the last state
    finally:
        watcher.close()


# --- NOT_FOUND on every RPC -------------------------------------------------------------


def test_every_rpc_answers_not_found_for_an_unknown_load_balancer(api: Transport) -> None:
    missing = "lb-00000000-0000-0000-0000-000000000000"
    requests: list[tuple[str, Any]] = [
        ("GetLoadBalancer", pb.GetLoadBalancerRequest(id=missing)),
        ("UpdateLoadBalancer", pb.UpdateLoadBalancerRequest(id=missing, name="x")),
        ("DeleteLoadBalancer", pb.DeleteLoadBalancerRequest(id=missing)),
        (
            "AddListener",
            pb.AddListenerRequest(
                load_balancer_id=missing, listener=pb.Listener(protocol=pb.Listener.TCP, port=1)
            ),
        ),
        ("UpdateListener", pb.UpdateListenerRequest(load_balancer_id=missing, listener_id="lis-x", name="y")),
        ("RemoveListener", pb.RemoveListenerRequest(load_balancer_id=missing, listener_id="lis-x")),
        (
            "AddPoolMember",
            pb.AddPoolMemberRequest(
                load_balancer_id=missing, pool_id="pool-x", member=pb.Member(address="10.0.0.1", port=1)
            ),
        ),
        (
            "UpdatePoolMember",
            pb.UpdatePoolMemberRequest(load_balancer_id=missing, pool_id="p", member_id="m", weight=2),
        ),
        (
            "RemovePoolMember",
            pb.RemovePoolMemberRequest(load_balancer_id=missing, pool_id="p", member_id="m"),
        ),
        ("GetLoadBalancerStats", pb.GetLoadBalancerStatsRequest(id=missing)),
    ]
    failures = {rpc: fail(api, rpc, request) for rpc, request in requests}
    assert failures == dict.fromkeys(failures, not_found("load balancer", missing))


def test_unknown_listener_and_member_are_not_found(api: Transport) -> None:
    lb = api.call("CreateLoadBalancer", create_request())
    pool = lb.listeners[0].default_pool
    assert fail(
        api,
        "UpdateListener",
        pb.UpdateListenerRequest(load_balancer_id=lb.id, listener_id="lis-nope", name="n"),
    ) == not_found("listener", "lis-nope")
    assert fail(
        api,
        "UpdatePoolMember",
        pb.UpdatePoolMemberRequest(load_balancer_id=lb.id, pool_id=pool.id, member_id="mem-nope", weight=3),
    ) == not_found("member", "mem-nope")
    assert fail(
        api,
        "AddPoolMember",
        pb.AddPoolMemberRequest(
            load_balancer_id=lb.id, pool_id="pool-nope", member=pb.Member(address="10.0.0.9", port=80)
        ),
    ) == not_found("pool", "pool-nope")
    assert api.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id)) == lb


# --- REST wire format -------------------------------------------------------------------


def test_rest_json_is_snake_case_with_enum_names(srv: Server) -> None:
    body = copy.deepcopy(SEED_BODY) | {"network_id": uniq("net")}
    with httpx.Client(base_url=srv.http_url, timeout=15) as http:
        created = http.post("/api/v1/load-balancers", json=body)
        assert created.status_code == 201, created.text
        assert created.headers["content-type"] == "application/json"
        lb = created.json()
        assert_snake_case(lb)
        assert (lb["provisioning_status"], lb["operating_status"]) == ("ACTIVE", "ONLINE")
        assert lb["status_reason"] == ""
        listener = lb["listeners"][0]
        assert (listener["protocol"], listener["default_pool"]["algorithm"]) == ("TCP", "ROUND_ROBIN")
        assert listener["default_pool"]["health_monitor"]["type"] == "HTTP"
        assert listener["default_pool"]["members"][0]["admin_state"] == "ONLINE"
        assert isinstance(lb["created_at"], str) and lb["created_at"].endswith("Z")

        got = http.get(f"/api/v1/load-balancers/{lb['id']}")
        assert (got.status_code, got.json()) == (200, lb)

        listed = http.get(
            "/api/v1/load-balancers", params={"network_id": body["network_id"], "page_size": "10"}
        )
        assert listed.status_code == 200
        assert listed.json() == {"load_balancers": [lb], "next_page_token": "", "total_count": 1}

        stats = http.get(f"/api/v1/load-balancers/{lb['id']}/stats").json()
        assert set(stats) == {
            "load_balancer_id",
            "listeners",
            "unavailable_reason",
        }  # no counter reported as 0
        assert set(stats["listeners"][0]) == {"listener_id", "members"}
        assert set(stats["listeners"][0]["members"][0]) == {"member_id", "status"}

        deleted = http.delete(f"/api/v1/load-balancers/{lb['id']}")
        assert (deleted.status_code, deleted.content) == (204, b"")
        missing = http.get(f"/api/v1/load-balancers/{lb['id']}")
        assert missing.status_code == 404
        assert missing.json() == {
            "code": "NOT_FOUND",
            "message": f"load balancer {lb['id']!r} not found",
            "details": [],
        }


def test_rest_accepts_hand_written_json_for_member_and_listener_routes(srv: Server) -> None:
    with httpx.Client(base_url=srv.http_url, timeout=15) as http:
        lb = http.post(
            "/api/v1/load-balancers", json=copy.deepcopy(SEED_BODY) | {"network_id": uniq("n")}
        ).json()
        base = f"/api/v1/load-balancers/{lb['id']}"
        pool_id = lb["listeners"][0]["default_pool"]["id"]
        r = http.post(f"{base}/pools/{pool_id}/members", json={"address": "10.0.0.12", "port": 8080})
        assert r.status_code == 201, r.text
        mid = r.json()["listeners"][0]["default_pool"]["members"][2]["id"]
        r = http.put(f"{base}/pools/{pool_id}/members/{mid}", json={"admin_state": "DRAIN", "weight": 3})
        member = r.json()["listeners"][0]["default_pool"]["members"][2]
        assert (r.status_code, member["admin_state"], member["weight"]) == (200, "DRAIN", 3)
        r = http.post(f"{base}/listeners", json={"protocol": "UDP", "port": 53})
        assert r.status_code == 201, r.text
        lid = r.json()["listeners"][1]["id"]
        r = http.put(f"{base}/listeners/{lid}", json={"algorithm": "SOURCE_IP", "name": "dns"})
        assert (r.status_code, r.json()["listeners"][1]["default_pool"]["algorithm"]) == (200, "SOURCE_IP")
        r = http.delete(f"{base}/listeners/{lid}")
        assert (r.status_code, len(r.json()["listeners"])) == (200, 1)
        r = http.delete(f"{base}/pools/{pool_id}/members/{mid}")
        assert (r.status_code, len(r.json()["listeners"][0]["default_pool"]["members"])) == (200, 2)
        r = http.put(base, json={"description": "via rest"})
        assert (r.status_code, r.json()["description"], r.json()["name"]) == (200, "via rest", "web-lb")


def test_failure_is_the_same_on_every_transport(clients: dict[str, Transport]) -> None:
    """The shared helper itself: a NOT_FOUND looks alike everywhere (guards the harness)."""
    seen = {}
    for name, client in clients.items():
        try:
            client.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id="lb-none"))
        except CallFailed as exc:
            seen[name] = exc.failure
    assert seen == dict.fromkeys(clients, not_found("load balancer", "lb-none"))
