"""Every LoadBalancerService RPC through a real `serve` process, on every transport.

Each scenario runs over gRPC, Connect (binary and JSON, connect-python client) and REST
(httpx, snake_case JSON with enum names). One server serves the whole module; every test
works in its own project and network so tests do not see each other's load balancers.

Bodies are written in the cloud's shape (`spec.listeners` naming `spec.pools` by
`default_pool_id`) with tests/builders.py; the design document's flat shorthand is checked
against it. The server realizes every load balancer in its embedded OVN Northbound, and a
mutating RPC answers once that is done: provisioning ACTIVE throughout the tree (phase
ACTIVE), operating statuses rolled up from the members (NO_MONITOR without a health
monitor, OFFLINE with one until a check speaks, DRAINING when drained, OFFLINE when
admin_state_up is false; a pool is ERROR when no member may take connections; a listener is
its pool; the load balancer rolls up its listeners). The transient PENDING_* states are only
visible on WatchLoadBalancers.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from google.protobuf import empty_pb2, field_mask_pb2, json_format

from builders import (
    config_only,
    create_request,
    listener_json,
    member_json,
    message,
    operating,
    pool_json,
    seed_body,
    spec_body,
    statuses,
    uniq,
)
from conftest import SEED_BODY, Server, Watcher, wait_for
from lbclients import CallFailed, Failure, Transport, assert_snake_case
from limiquantix.network.v1 import network_pb2 as res
from limiquantix.network.v1 import network_service_pb2 as pb
from quantix_lb.model import LEAST_CONNECTIONS_NOTE

W = pb.WatchLoadBalancersResponse
PHASE = res.LoadBalancerStatus
NO_STATS = "no health worker reports data-path statistics"
# The seed's HTTP monitor: 5 s / 3 s, three retries, GET /health expecting 200.
MONITOR: dict[str, Any] = copy.deepcopy(SEED_BODY["listeners"][0]["default_pool"]["health_monitor"])


# --- fixtures -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(Path(tmp_path_factory.mktemp("api-rpcs")) / "data").start()
    try:
        # The first realization warms the embedded Northbound up; on a busy machine it may
        # take longer than an RPC waits for OVN. Wait for it here, so every test's first
        # answer is as realized as the later ones.
        warm = server.stub.CreateLoadBalancer(create_request(project_id=uniq("warm-up")))
        wait_for(
            lambda: (
                server.stub.GetLoadBalancer(pb.GetLoadBalancerRequest(id=warm.id)).status.phase
                == PHASE.ACTIVE
            ),
            timeout=60,
            what="the first load balancer to be realized",
        )
        server.stub.DeleteLoadBalancer(pb.DeleteLoadBalancerRequest(id=warm.id))
        yield server
    finally:
        server.stop()


# --- helpers ------------------------------------------------------------------------


def monitored_body(**fields: Any) -> dict[str, Any]:
    """The spec form of the seed: one TCP:80 listener on a monitored pool of two members."""
    return spec_body(pools=[pool_json("10.0.0.10", "10.0.0.11", health_monitor=MONITOR)], **fields)


def create(api: Transport, body: dict[str, Any] | None = None, **fields: Any) -> res.LoadBalancer:
    return api.call("CreateLoadBalancer", create_request(body, **fields))


def get(api: Transport, lb_id: str) -> res.LoadBalancer:
    return api.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb_id))


def fail(api: Transport, rpc: str, request: Any) -> Failure:
    return api.fail(rpc, request)


def not_found(kind: str, ident: str) -> Failure:
    return Failure("NOT_FOUND", f"{kind} {ident!r} not found")


def invalid(field: str, description: str) -> Failure:
    return Failure("INVALID_ARGUMENT", f"{field}: {description}", ((field, description),))


def ts_ns(ts: Any) -> int:
    return int(ts.ToNanoseconds())


def without_updated_at(lb: res.LoadBalancer) -> res.LoadBalancer:
    out = res.LoadBalancer()
    out.CopyFrom(lb)
    out.ClearField("updated_at")
    return out


def reasons(lb: res.LoadBalancer) -> tuple[str, list[str]]:
    """The load balancer's error message and each pool's status reason."""
    return lb.status.error_message, [p.status_reason for p in lb.spec.pools]


def set_members(pool: res.Pool, status: str) -> None:
    for m in pool.members:
        m.operating_status = status


def active_status(vip: str, operating_status: str = "ONLINE") -> res.LoadBalancerStatus:
    return res.LoadBalancerStatus(
        phase=PHASE.ACTIVE, provisioning_status="ACTIVE", operating_status=operating_status, vip_address=vip
    )


def monitor_tuple(hm: res.HealthMonitor) -> tuple[Any, ...]:
    return (
        res.HealthMonitor.Type.Name(hm.type),
        hm.delay,
        hm.timeout,
        hm.delay_ms,
        hm.timeout_ms,
        hm.max_retries,
        hm.healthy_threshold,
    )


def update_member(api: Transport, lb: res.LoadBalancer, pool: int, member: int, **fields: Any) -> Any:
    p = lb.spec.pools[pool]
    req = message(pb.UpdatePoolMemberRequest, fields)
    req.load_balancer_id, req.pool_id, req.member_id = lb.id, p.id, p.members[member].id
    return api.call("UpdatePoolMember", req)


def update_pool(api: Transport, lb: res.LoadBalancer, pool_id: str, **fields: Any) -> res.LoadBalancer:
    req = message(pb.UpdatePoolRequest, fields)
    req.load_balancer_id, req.pool_id = lb.id, pool_id
    return api.call("UpdatePool", req)


def update_lb(api: Transport, lb_id: str, mask: list[str] | None = None, **fields: Any) -> res.LoadBalancer:
    req = pb.UpdateLoadBalancerRequest(id=lb_id, **fields)
    if mask is not None:
        req.update_mask.SetInParent()  # an empty mask is a mask too: it names nothing
        req.update_mask.paths.extend(mask)
    return api.call("UpdateLoadBalancer", req)


def list_all(api: Transport, **filters: Any) -> list[str]:
    """Ids of a listing, page by page."""
    ids: list[str] = []
    token = ""
    while True:
        page = api.call("ListLoadBalancers", pb.ListLoadBalancersRequest(page_token=token, **filters))
        ids.extend(lb.id for lb in page.load_balancers)
        token = page.next_page_token
        if not token:
            return ids


def bare_request(project: str, network: str, vip: str, **fields: Any) -> pb.CreateLoadBalancerRequest:
    """A load balancer without listeners or pools."""
    return pb.CreateLoadBalancerRequest(
        project_id=project, spec=res.LoadBalancerSpec(network_id=network, vip_address=vip), **fields
    )


def create_many(srv: Server, requests: list[pb.CreateLoadBalancerRequest]) -> list[res.LoadBalancer]:
    """Creates concurrently (one group commit for many) and returns them in request order."""
    futures = [srv.stub.CreateLoadBalancer.future(r, timeout=30) for r in requests]
    return [f.result() for f in futures]


def shape(lb: res.LoadBalancer) -> res.LoadBalancer:
    """What a client asked for, without anything the server names: no statuses, ids,
    times or network; a listener's pool as its index in spec.pools."""
    out = config_only(lb)
    index = {p.id: i for i, p in enumerate(out.spec.pools)}
    for name in ("id", "created_at", "updated_at"):
        out.ClearField(name)
    out.spec.ClearField("network_id")
    for li in out.spec.listeners:
        li.ClearField("id")
        li.default_pool_id = f"pools[{index[li.default_pool_id]}]"
    for p in out.spec.pools:
        p.ClearField("id")
        if p.HasField("health_monitor"):
            p.health_monitor.ClearField("id")
        for m in p.members:
            m.ClearField("id")
    return out


# --- CreateLoadBalancer / GetLoadBalancer --------------------------------------------


def test_create_returns_the_tree_with_server_ids(api: Transport) -> None:
    members = [
        member_json("10.0.0.10", weight=1),
        member_json("10.0.0.11", weight=2, subnet_id="subnet-m"),
        member_json("10.0.0.12", name="no-weight"),
    ]
    body = spec_body(
        [listener_json(name="http", default_pool_id="web")],
        [{"name": "web", "members": members, "health_monitor": MONITOR}],
        description="front door",
        labels={"env": "prod", "team": "net"},
    )
    body["spec"]["subnet_id"] = "subnet-1"
    lb = create(api, body)

    assert lb.id.startswith("lb-")
    assert (lb.name, lb.description, lb.project_id, dict(lb.labels)) == (
        "web-lb",
        "front door",
        "proj-123",
        {"env": "prod", "team": "net"},
    )
    assert (lb.spec.network_id, lb.spec.subnet_id, lb.spec.vip_address) == (
        body["spec"]["network_id"],
        "subnet-1",  # no subnet named in the Northbound: stored and echoed
        "192.168.1.100",
    )
    # Realized in OVN before the answer: ACTIVE everywhere. The pool has a health monitor
    # that has not spoken yet, so its members are OFFLINE while the pool, whose members may
    # all take connections, is ONLINE; so are its listener and the LB.
    assert lb.status == active_status("192.168.1.100")
    assert statuses(lb) == {"ACTIVE"}
    assert operating(lb) == ("ONLINE", [("ONLINE", "ONLINE", ["OFFLINE"] * 3)])
    assert reasons(lb) == ("", [""])
    assert lb.HasField("created_at") and ts_ns(lb.created_at) > 0
    assert lb.updated_at == lb.created_at
    (listener,) = lb.spec.listeners
    (pool,) = lb.spec.pools
    assert listener.id.startswith("lis-")
    assert (listener.name, listener.protocol, listener.port) == ("http", res.Listener.TCP, 80)
    assert listener.default_pool_id == pool.id  # the name resolved to the pool's id
    assert not listener.HasField("default_pool")  # input only
    assert not listener.HasField("tls") and listener.connection_limit == 0
    assert (listener.provisioning_status, listener.operating_status) == ("ACTIVE", "ONLINE")
    assert pool.id.startswith("pool-")
    assert (pool.name, pool.algorithm) == ("web", res.Pool.ROUND_ROBIN)
    assert not pool.HasField("protocol") and not pool.HasField("persistence")
    assert (pool.provisioning_status, pool.operating_status, pool.status_reason) == ("ACTIVE", "ONLINE", "")
    assert [(m.address, m.port, m.weight, m.name, m.subnet_id) for m in pool.members] == [
        ("10.0.0.10", 8080, 1, "", ""),
        ("10.0.0.11", 8080, 2, "", "subnet-m"),
        ("10.0.0.12", 8080, 1, "no-weight", ""),  # weight unset means 1
    ]
    for m in pool.members:
        assert m.id.startswith("mem-")
        assert m.HasField("weight") and m.HasField("admin_state_up")
        assert (m.admin_state_up, m.drain) == (True, False)  # admin_state_up unset means up
        assert (m.provisioning_status, m.operating_status, m.last_failure_reason) == ("ACTIVE", "OFFLINE", "")
    hm = pool.health_monitor
    assert hm.id.startswith("hm-")
    # README: healthy_threshold defaults to 2; whole seconds come back with their _ms twins.
    assert monitor_tuple(hm) == ("HTTP", 5, 3, 5000, 3000, 3, 2)
    assert (hm.http_method, hm.url_path, hm.expected_codes) == ("GET", "/health", "200")
    assert (hm.domain_name, hm.tls_verify) == ("", False)
    ids = [lb.id, listener.id, pool.id, hm.id, *(m.id for m in pool.members)]
    assert len(set(ids)) == len(ids)

    assert get(api, lb.id) == lb


def test_create_fills_defaults_and_canonical_addresses(api: Transport) -> None:
    pools = [
        {
            "name": "dns",
            "protocol": "UDP",
            "members": [member_json("2001:db8:0::A", 53)],
            "persistence": {"type": "SOURCE_IP"},
            "health_monitor": {"type": "UDP_CONNECT", "delay_ms": 500, "timeout_ms": 250},
        },
        {
            "name": "tls",
            "members": [member_json("2001:db8::b", 443)],
            "health_monitor": {"type": "HTTPS", "delay": 2, "timeout": 2},
        },
        {"name": "sctp"},
    ]
    listeners = [
        listener_json("UDP", 53, default_pool_id="dns"),
        listener_json("HTTPS", 443, default_pool_id="tls"),
        listener_json("SCTP", 443, default_pool_id="sctp"),
    ]
    lb = create(api, spec_body(listeners, pools, vip_address="2001:DB8:0:0::10"))

    assert lb.spec.vip_address == lb.status.vip_address == "2001:db8::10"
    dns, tls, sctp = lb.spec.pools
    assert [li.default_pool_id for li in lb.spec.listeners] == [dns.id, tls.id, sctp.id]
    assert dns.algorithm == res.Pool.ROUND_ROBIN
    assert dns.HasField("protocol") and dns.protocol == res.Listener.UDP
    assert [m.address for m in dns.members] == ["2001:db8::a"]
    sp = dns.persistence
    assert (sp.type, sp.timeout, sp.cookie_name) == (res.SessionPersistence.SOURCE_IP, 300, "")
    # Sub-second: whole seconds rounded up, the exact figures in the _ms fields.
    assert monitor_tuple(dns.health_monitor) == ("UDP_CONNECT", 1, 1, 500, 250, 3, 2)
    hm = dns.health_monitor
    assert (hm.http_method, hm.url_path, hm.expected_codes) == ("", "", "")
    hm = tls.health_monitor
    assert (hm.http_method, hm.url_path, hm.expected_codes) == ("GET", "/", "200")
    assert not tls.HasField("persistence") and not tls.HasField("protocol")
    assert (len(sctp.members), sctp.HasField("health_monitor")) == (0, False)
    assert [(li.protocol, li.port) for li in lb.spec.listeners] == [
        (res.Listener.UDP, 53),
        (res.Listener.HTTPS, 443),
        (res.Listener.SCTP, 443),
    ]
    # Monitored members are OFFLINE until a check speaks; the empty SCTP pool can take no
    # connection (ERROR), so the load balancer, with two of three listeners working, is DEGRADED.
    assert statuses(lb) == {"ACTIVE"}
    assert operating(lb) == (
        "DEGRADED",
        [("ONLINE", "ONLINE", ["OFFLINE"]), ("ONLINE", "ONLINE", ["OFFLINE"]), ("ERROR", "ERROR", [])],
    )
    assert lb.status == active_status("2001:db8::10", "DEGRADED")


def test_shorthand_body_creates_the_same_tree_as_the_spec_form(api: Transport) -> None:
    seed = seed_body()
    short = create(api, seed)
    inline = copy.deepcopy(seed["listeners"][0]["default_pool"])
    full = create(
        api,
        spec_body([listener_json()], [inline], name=seed["name"], project_id=seed["project_id"]),
    )

    assert short.spec.network_id == seed["network_id"]
    assert short.spec.vip_address == short.status.vip_address == seed["vip_address"]
    (listener,) = short.spec.listeners
    assert not listener.HasField("default_pool")  # the inline pool became spec.pools[0]
    assert listener.default_pool_id == short.spec.pools[0].id
    assert len(short.spec.pools[0].members) == 2
    assert shape(short) == shape(full)
    assert (short.status, operating(short)) == (full.status, operating(full))


def test_listeners_may_share_a_pool_named_in_the_create(api: Transport) -> None:
    body = spec_body(
        [
            listener_json("TCP", 80, default_pool_id="web"),
            listener_json("TCP", 443, default_pool_id="web"),
        ],
        [pool_json("10.0.0.10", "10.0.0.11", name="web"), pool_json("10.0.0.20", name="spare")],
    )
    lb = create(api, body)
    web, spare = lb.spec.pools
    http, https = lb.spec.listeners
    assert (http.default_pool_id, https.default_pool_id) == (web.id, web.id)
    assert operating(lb) == ("ONLINE", [("ONLINE", "ONLINE", ["NO_MONITOR"] * 2)] * 2)
    assert statuses(lb) == {"ACTIVE"}

    # Statistics: one MemberStats per member of a serving pool, not one per listener.
    stats = api.call("GetLoadBalancerStats", pb.GetLoadBalancerStatsRequest(id=lb.id))
    assert [(ms.pool_id, ms.member_id) for ms in stats.member_stats] == [(web.id, m.id) for m in web.members]

    # One listener moves to the other pool; the first keeps the shared one.
    moved = api.call(
        "UpdateListener",
        pb.UpdateListenerRequest(load_balancer_id=lb.id, listener_id=https.id, default_pool_id=spare.id),
    )
    assert [li.default_pool_id for li in moved.spec.listeners] == [web.id, spare.id]
    assert list(moved.spec.pools) == list(lb.spec.pools)  # no pool changed
    stats = api.call("GetLoadBalancerStats", pb.GetLoadBalancerStatsRequest(id=lb.id))
    assert [ms.member_id for ms in stats.member_stats] == [m.id for m in (*web.members, *spare.members)]

    # While a listener uses it the pool stays; removing the listener keeps it too.
    used = f"pool {web.id!r} serves listener {http.id}: point it at another pool or remove it first"
    req = pb.RemovePoolRequest(load_balancer_id=lb.id, pool_id=web.id)
    assert fail(api, "RemovePool", req) == Failure("FAILED_PRECONDITION", used)
    alone = api.call("RemoveListener", pb.RemoveListenerRequest(load_balancer_id=lb.id, listener_id=http.id))
    assert [li.id for li in alone.spec.listeners] == [https.id]
    assert list(alone.spec.pools) == list(lb.spec.pools)
    gone = api.call("RemovePool", req)
    assert [p.id for p in gone.spec.pools] == [spare.id]
    assert get(api, lb.id) == gone


def test_every_transport_reads_the_same_load_balancer(clients: dict[str, Transport]) -> None:
    lb = clients["rest"].call("CreateLoadBalancer", create_request())
    seen = {name: get(client, lb.id) for name, client in clients.items()}
    assert seen == dict.fromkeys(clients, lb)


# --- ListLoadBalancers ----------------------------------------------------------------


def test_list_filters_pages_and_keeps_creation_order(srv: Server, api: Transport) -> None:
    project, other, net_a, net_b, net_c = uniq("proj"), uniq("proj"), uniq("net"), uniq("net"), uniq("net")
    # A network belongs to one project (issue 9): the other project's is net_c.
    plan = [(project, net_a)] * 3 + [(project, net_b), (other, net_c), (project, net_a), (project, net_b)]
    made = [
        srv.stub.CreateLoadBalancer(bare_request(p, n, "10.9.0.1", name=f"lb{i}"))
        for i, (p, n) in enumerate(plan)
    ]
    ids = {key: [lb.id for lb in made if (lb.project_id, lb.spec.network_id) == key] for key in set(plan)}

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
    assert list_all(api, network_id=net_a, page_size=2) == [
        lb.id for lb in made if lb.spec.network_id == net_a
    ]
    assert list_all(api, network_id=net_b, project_id=other) == []

    everything = api.call("ListLoadBalancers", pb.ListLoadBalancersRequest(project_id=project))
    assert len(everything.load_balancers) == 6 and not everything.next_page_token  # default page 50
    empty = api.call("ListLoadBalancers", pb.ListLoadBalancersRequest(network_id=uniq("net")))
    assert (list(empty.load_balancers), empty.next_page_token, empty.total_count) == ([], "", 0)


def test_page_token_is_bound_to_its_filters(srv: Server, api: Transport) -> None:
    project = uniq("proj")
    for _ in range(2):
        srv.stub.CreateLoadBalancer(bare_request(project, f"n-{project}", "10.9.0.2"))
    page = api.call("ListLoadBalancers", pb.ListLoadBalancersRequest(project_id=project, page_size=1))
    assert page.next_page_token
    other = pb.ListLoadBalancersRequest(project_id=uniq("proj"), page_size=1, page_token=page.next_page_token)
    assert fail(api, "ListLoadBalancers", other) == invalid(
        "page_token", "belongs to a listing with other filters"
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
    assert fail(api, "ListLoadBalancers", pb.ListLoadBalancersRequest(page_token=token)) == invalid(
        "page_token", "is not a token this server issued"
    )


def test_negative_page_size_is_invalid_argument(api: Transport) -> None:
    assert fail(api, "ListLoadBalancers", pb.ListLoadBalancersRequest(page_size=-1)) == invalid(
        "page_size", "must not be negative"
    )


@pytest.fixture(scope="module")
def big_project(srv: Server) -> tuple[str, list[str]]:
    """1001 load balancers in one project: one more than the largest page."""
    project = uniq("proj-big")
    made = create_many(srv, [bare_request(project, project, "10.8.0.1", name=str(i)) for i in range(1001)])
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
    lb = create(api, name="old", description="keep")

    renamed = update_lb(api, lb.id, name="new")
    expected = without_updated_at(lb)
    expected.name = "new"
    assert without_updated_at(renamed) == expected
    assert ts_ns(renamed.updated_at) >= ts_ns(lb.updated_at)
    assert renamed.created_at == lb.created_at
    assert renamed.status == lb.status  # realized again before the answer
    assert statuses(renamed) == {"ACTIVE"}

    described = update_lb(api, lb.id, description="d2")
    assert (described.name, described.description) == ("new", "d2")

    # name and description are optional: present and empty clears; absent keeps.
    cleared = update_lb(api, lb.id, name="")
    assert (cleared.name, cleared.description) == ("", "d2")
    untouched = update_lb(api, lb.id)
    assert (untouched.name, untouched.description) == ("", "d2")
    cleared = update_lb(api, lb.id, description="")
    assert (cleared.name, cleared.description) == ("", "")
    assert cleared.spec == lb.spec
    assert get(api, lb.id) == cleared


def test_labels_are_stored_replaced_and_cleared_with_the_update_mask(api: Transport) -> None:
    lb = create(api, name="n", description="d", labels={"env": "prod", "team": "net"})
    assert dict(lb.labels) == {"env": "prod", "team": "net"}
    assert get(api, lb.id) == lb

    def names(lb: res.LoadBalancer) -> tuple[str, str, dict[str, str]]:
        return lb.name, lb.description, dict(lb.labels)

    # Without a mask: labels are replaced whole when the map is not empty...
    assert names(update_lb(api, lb.id, labels={"env": "dev"})) == ("n", "d", {"env": "dev"})
    # ...and an empty map (every update that names no label) leaves them.
    assert names(update_lb(api, lb.id, name="m")) == ("m", "d", {"env": "dev"})
    assert names(update_lb(api, lb.id, labels={})) == ("m", "d", {"env": "dev"})

    # With a mask: exactly the named fields, so an empty value clears and what it does not
    # name stays, even when the request sets it.
    assert names(update_lb(api, lb.id, ["labels"])) == ("m", "d", {})
    assert names(update_lb(api, lb.id, ["labels"], labels={"a": "1", "b": "2"}, name="ignored")) == (
        "m",
        "d",
        {"a": "1", "b": "2"},
    )
    assert names(update_lb(api, lb.id, ["name"], description="ignored", labels={"x": "y"})) == (
        "",
        "d",
        {"a": "1", "b": "2"},
    )
    assert names(update_lb(api, lb.id, ["description", "name"], name="back")) == (
        "back",
        "",
        {"a": "1", "b": "2"},
    )
    # An empty mask names nothing: nothing changes, whatever the request sets.
    unchanged = update_lb(api, lb.id, [], name="x", description="y", labels={"k": "v"})
    assert names(unchanged) == ("back", "", {"a": "1", "b": "2"})
    final = get(api, lb.id)
    assert names(final) == ("back", "", {"a": "1", "b": "2"})
    assert final.spec == lb.spec

    assert fail(
        api,
        "UpdateLoadBalancer",
        pb.UpdateLoadBalancerRequest(id=lb.id, update_mask=field_mask_pb2.FieldMask(paths=["spec"])),
    ) == invalid("update_mask", "'spec' cannot be updated here (name, description, labels)")
    assert get(api, lb.id) == final


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


# --- LoadBalancerStatus ---------------------------------------------------------------


def test_status_has_the_phase_words_and_the_realized_vip(api: Transport) -> None:
    lb = create(api, vip_address="192.168.7.9")
    assert lb.status.phase == PHASE.ACTIVE
    assert (lb.status.provisioning_status, lb.status.operating_status) == ("ACTIVE", "ONLINE")
    assert lb.spec.vip_address == lb.status.vip_address == "192.168.7.9"
    assert (lb.status.vip_port_id, lb.status.error_message) == ("", "")
    changed = update_lb(api, lb.id, name="again")
    assert changed.status == lb.status
    assert get(api, lb.id).status == lb.status

    # An empty VIP is allocated from the network's subnet; a network the embedded
    # Northbound creates on first use has none (other_config:subnet needs OVN tools).
    assert fail(api, "CreateLoadBalancer", create_request(vip_address="")) == invalid(
        "spec.vip_address", "is required"
    )


# --- listeners ------------------------------------------------------------------------


def test_add_listener_with_an_inline_pool_creates_the_pool(api: Transport) -> None:
    lb = create(api)
    inline = pool_json("10.0.0.20", name="dns", algorithm="SOURCE_IP_PORT")
    new = message(res.Listener, listener_json("UDP", 80, name="dns", default_pool=inline))
    after = api.call("AddListener", pb.AddListenerRequest(load_balancer_id=lb.id, listener=new))

    assert len(after.spec.listeners) == 2 and len(after.spec.pools) == 2
    assert (after.spec.listeners[0], after.spec.pools[0]) == (lb.spec.listeners[0], lb.spec.pools[0])
    added, pool = after.spec.listeners[1], after.spec.pools[1]
    assert added.id.startswith("lis-") and pool.id.startswith("pool-")
    assert (added.name, added.protocol, added.port) == ("dns", res.Listener.UDP, 80)  # UDP:80 beside TCP:80
    assert added.default_pool_id == pool.id and not added.HasField("default_pool")
    assert (pool.name, pool.algorithm) == ("dns", res.Pool.SOURCE_IP_PORT)
    (m,) = pool.members
    assert m.id.startswith("mem-") and (m.address, m.port, m.weight) == ("10.0.0.20", 8080, 1)
    assert operating(after) == (
        "ONLINE",
        [("ONLINE", "ONLINE", ["NO_MONITOR"] * 2), ("ONLINE", "ONLINE", ["NO_MONITOR"])],
    )
    assert statuses(after) == {"ACTIVE"}
    assert after.created_at == lb.created_at
    assert get(api, lb.id) == after


def test_add_listener_takes_the_only_pool_or_the_one_it_names(api: Transport) -> None:
    lb = create(api)
    (pool,) = lb.spec.pools
    after = api.call(
        "AddListener",
        pb.AddListenerRequest(
            load_balancer_id=lb.id, listener=res.Listener(protocol=res.Listener.UDP, port=53)
        ),
    )
    assert [li.default_pool_id for li in after.spec.listeners] == [pool.id, pool.id]
    assert list(after.spec.pools) == [pool]

    two = api.call(
        "AddPool",
        pb.AddPoolRequest(
            load_balancer_id=lb.id, pool=message(res.Pool, pool_json("10.0.0.30", name="blue"))
        ),
    )
    blue = two.spec.pools[1]
    # With two pools a listener must say which.
    assert fail(
        api,
        "AddListener",
        pb.AddListenerRequest(
            load_balancer_id=lb.id, listener=res.Listener(protocol=res.Listener.TCP, port=81)
        ),
    ) == invalid("listener.default_pool_id", "is required: the load balancer has 2 pools")
    by_name = api.call(
        "AddListener",
        pb.AddListenerRequest(
            load_balancer_id=lb.id,
            listener=res.Listener(protocol=res.Listener.TCP, port=81, default_pool_id="blue"),
        ),
    )
    by_id = api.call(
        "AddListener",
        pb.AddListenerRequest(
            load_balancer_id=lb.id,
            listener=res.Listener(protocol=res.Listener.TCP, port=82, default_pool_id=pool.id),
        ),
    )
    assert [li.default_pool_id for li in by_id.spec.listeners] == [pool.id, pool.id, blue.id, pool.id]
    assert by_name.spec.listeners[2] == by_id.spec.listeners[2]
    missing = res.Listener(protocol=res.Listener.TCP, port=83, default_pool_id="nope")
    assert fail(
        api, "AddListener", pb.AddListenerRequest(load_balancer_id=lb.id, listener=missing)
    ) == invalid("listener.default_pool_id", "no pool with id or name 'nope' in this load balancer")
    assert get(api, lb.id) == by_id


def test_update_listener_changes_only_what_is_set(api: Transport) -> None:
    body = spec_body(
        [listener_json(default_pool_id="web")],
        [pool_json("10.0.0.10", "10.0.0.11", name="web"), pool_json("10.0.0.20", name="spare")],
    )
    body["spec"]["pools"][1]["members"][0]["weight"] = 0
    lb = create(api, body)
    lid = lb.spec.listeners[0].id
    web, spare = lb.spec.pools

    def update(**fields: Any) -> res.LoadBalancer:
        req = message(pb.UpdateListenerRequest, fields)
        req.load_balancer_id, req.listener_id = lb.id, lid
        return api.call("UpdateListener", req)

    def expect(prev: res.LoadBalancer, change: Callable[[res.LoadBalancer], None]) -> res.LoadBalancer:
        expected = without_updated_at(prev)
        change(expected)
        return expected

    def on_spare(lb: res.LoadBalancer) -> None:
        # Its only member has weight 0: that pool serves nobody, nor does the listener.
        li = lb.spec.listeners[0]
        li.default_pool_id, li.operating_status = spare.id, "ERROR"
        lb.status.operating_status = "ERROR"

    def on_web(lb: res.LoadBalancer) -> None:
        li = lb.spec.listeners[0]
        li.default_pool_id, li.operating_status = web.id, "ONLINE"
        lb.status.operating_status = "ONLINE"

    steps: list[tuple[dict[str, Any], Callable[[res.LoadBalancer], None]]] = [
        ({"name": "front"}, lambda lb: lb.spec.listeners[0].MergeFrom(res.Listener(name="front"))),
        ({"port": 8443}, lambda lb: lb.spec.listeners[0].MergeFrom(res.Listener(port=8443))),
        ({"default_pool_id": spare.id}, on_spare),
        ({"default_pool_id": "web"}, on_web),  # by name, as in a create
        ({"name": ""}, lambda lb: lb.spec.listeners[0].ClearField("name")),
    ]
    prev = lb
    for fields, change in steps:
        reply = update(**fields)
        assert without_updated_at(reply) == expect(prev, change), fields
        assert statuses(reply) == {"ACTIVE"}, fields
        prev = reply
    assert (prev.spec.listeners[0].id, prev.spec.listeners[0].port) == (lid, 8443)
    assert list(prev.spec.pools) == [web, spare]
    assert fail(
        api,
        "UpdateListener",
        pb.UpdateListenerRequest(load_balancer_id=lb.id, listener_id=lid, default_pool_id="nope"),
    ) == invalid("default_pool_id", "no pool with id or name 'nope' in this load balancer")
    assert get(api, lb.id) == prev


def test_update_listener_port_frees_the_old_frontend(api: Transport) -> None:
    lb = create(api)
    api.call(
        "UpdateListener",
        pb.UpdateListenerRequest(load_balancer_id=lb.id, listener_id=lb.spec.listeners[0].id, port=81),
    )
    # Another load balancer on the same VIP and network may now take port 80.
    twin = create(api, network_id=lb.spec.network_id)
    assert twin.spec.listeners[0].port == 80


def test_remove_listener_keeps_its_pool(api: Transport) -> None:
    body = spec_body(
        [listener_json("TCP", 80, default_pool_id="web"), listener_json("UDP", 53, default_pool_id="dns")],
        [pool_json("10.0.0.10", "10.0.0.11", name="web"), pool_json("10.0.0.30", port=53, name="dns")],
    )
    lb = create(api, body)
    tcp, udp = lb.spec.listeners
    web = lb.spec.pools[0]

    after = api.call("RemoveListener", pb.RemoveListenerRequest(load_balancer_id=lb.id, listener_id=tcp.id))
    assert list(after.spec.listeners) == [udp]
    assert list(after.spec.pools) == list(lb.spec.pools)  # the pool stays, as it was
    assert operating(after) == ("ONLINE", [("ONLINE", "ONLINE", ["NO_MONITOR"])])
    assert fail(
        api, "RemoveListener", pb.RemoveListenerRequest(load_balancer_id=lb.id, listener_id=tcp.id)
    ) == not_found("listener", tcp.id)
    assert get(api, lb.id) == after
    # Its protocol and port can be used again, on the pool it left.
    again = res.Listener(protocol=res.Listener.TCP, port=80, default_pool_id=web.id)
    readd = api.call("AddListener", pb.AddListenerRequest(load_balancer_id=lb.id, listener=again))
    assert [(li.protocol, li.port, li.default_pool_id) for li in readd.spec.listeners] == [
        (res.Listener.UDP, 53, udp.default_pool_id),
        (res.Listener.TCP, 80, web.id),
    ]
    assert list(readd.spec.pools) == list(lb.spec.pools)


# --- pools ------------------------------------------------------------------------------


def test_add_pool_and_remove_an_unused_one(api: Transport) -> None:
    lb = create(api)
    body = {
        "name": "blue",
        "algorithm": "LEAST_CONNECTIONS",
        "protocol": "TCP",
        "members": [member_json("10.0.0.30", 9000, weight=3)],
        "health_monitor": {"type": "TCP", "delay": 2, "timeout": 1},
        "persistence": {"type": "SOURCE_IP", "timeout": 60},
    }
    after = api.call("AddPool", pb.AddPoolRequest(load_balancer_id=lb.id, pool=message(res.Pool, body)))

    assert list(after.spec.listeners) == list(lb.spec.listeners)
    assert len(after.spec.pools) == 2 and after.spec.pools[0] == lb.spec.pools[0]
    pool = after.spec.pools[1]
    assert pool.id.startswith("pool-")
    assert (pool.name, pool.algorithm, pool.protocol) == (
        "blue",
        res.Pool.LEAST_CONNECTIONS,
        res.Listener.TCP,
    )
    (m,) = pool.members
    assert m.id.startswith("mem-") and (m.address, m.port, m.weight) == ("10.0.0.30", 9000, 3)
    assert pool.health_monitor.id.startswith("hm-")
    assert monitor_tuple(pool.health_monitor) == ("TCP", 2, 1, 2000, 1000, 3, 2)
    assert (pool.persistence.type, pool.persistence.timeout) == (res.SessionPersistence.SOURCE_IP, 60)
    # Realized though no listener uses it; its member is monitored (OFFLINE until checked).
    assert (pool.provisioning_status, pool.operating_status, pool.status_reason) == (
        "ACTIVE",
        "ONLINE",
        LEAST_CONNECTIONS_NOTE,
    )
    assert (m.provisioning_status, m.operating_status) == ("ACTIVE", "OFFLINE")
    assert after.status == lb.status
    assert get(api, lb.id) == after

    req = pb.RemovePoolRequest(load_balancer_id=lb.id, pool_id=pool.id)
    removed = api.call("RemovePool", req)
    assert without_updated_at(removed) == without_updated_at(lb)
    assert fail(api, "RemovePool", req) == not_found("pool", pool.id)

    # The pool a listener uses cannot go.
    (used,) = lb.spec.pools
    listener = lb.spec.listeners[0].id
    msg = f"pool {used.id!r} serves listener {listener}: point it at another pool or remove it first"
    assert fail(api, "RemovePool", pb.RemovePoolRequest(load_balancer_id=lb.id, pool_id=used.id)) == Failure(
        "FAILED_PRECONDITION", msg
    )
    assert get(api, lb.id) == removed


def test_update_pool_changes_only_what_is_set(api: Transport) -> None:
    lb = create(api, monitored_body())
    pid = lb.spec.pools[0].id

    def expect(prev: res.LoadBalancer, change: Callable[[res.Pool], None]) -> res.LoadBalancer:
        expected = without_updated_at(prev)
        change(expected.spec.pools[0])
        return expected

    def least_connections(p: res.Pool) -> None:
        p.algorithm = res.Pool.LEAST_CONNECTIONS
        p.status_reason = LEAST_CONNECTIONS_NOTE  # steered from live statistics

    def round_robin(p: res.Pool) -> None:
        p.algorithm = res.Pool.WEIGHTED_ROUND_ROBIN
        p.status_reason = ""

    def unmonitored(p: res.Pool) -> None:
        p.ClearField("health_monitor")
        set_members(p, "NO_MONITOR")

    steps: list[tuple[dict[str, Any], Callable[[res.Pool], None]]] = [
        ({"name": "front"}, lambda p: p.MergeFrom(res.Pool(name="front"))),
        ({"algorithm": "LEAST_CONNECTIONS"}, least_connections),
        ({"algorithm": "WEIGHTED_ROUND_ROBIN"}, round_robin),
        (
            {"persistence": {"type": "SOURCE_IP", "timeout": 600}},
            lambda p: p.persistence.MergeFrom(
                res.SessionPersistence(type=res.SessionPersistence.SOURCE_IP, timeout=600)
            ),
        ),
        ({"remove_health_monitor": True}, unmonitored),
        ({"name": ""}, lambda p: p.ClearField("name")),
    ]
    prev = lb
    for fields, change in steps:
        reply = update_pool(api, lb, pid, **fields)
        assert without_updated_at(reply) == expect(prev, change), fields
        assert statuses(reply) == {"ACTIVE"}, fields
        prev = reply
    assert operating(prev) == ("ONLINE", [("ONLINE", "ONLINE", ["NO_MONITOR"] * 2)])

    monitor = {"type": "TCP", "delay_ms": 1500, "timeout_ms": 500, "max_retries": 5, "healthy_threshold": 4}
    reply = update_pool(api, lb, pid, health_monitor=monitor)
    hm = reply.spec.pools[0].health_monitor
    assert hm.id.startswith("hm-")
    expected_hm = message(res.HealthMonitor, {**monitor, "delay": 2, "timeout": 1, "id": hm.id})
    assert hm == expected_hm

    def monitored(p: res.Pool) -> None:
        p.health_monitor.CopyFrom(expected_hm)
        set_members(p, "OFFLINE")  # until a health check speaks

    assert without_updated_at(reply) == expect(prev, monitored)

    # Replacing a monitor that exists gives a new one, with the HTTP defaults filled in.
    reply = update_pool(api, lb, pid, health_monitor={"type": "HTTP", "delay": 3, "timeout": 1})
    replaced = reply.spec.pools[0].health_monitor
    assert replaced.id.startswith("hm-") and replaced.id != hm.id
    assert (replaced.type, replaced.http_method, replaced.url_path, replaced.expected_codes) == (
        res.HealthMonitor.HTTP,
        "GET",
        "/",
        "200",
    )
    assert monitor_tuple(replaced) == ("HTTP", 3, 1, 3000, 1000, 3, 2)

    reply = update_pool(api, lb, pid, persistence={"type": "NONE"})
    sp = reply.spec.pools[0].persistence
    assert (sp.type, sp.timeout) == (res.SessionPersistence.NONE, 0)
    assert fail(
        api,
        "UpdatePool",
        pb.UpdatePoolRequest(
            load_balancer_id=lb.id,
            pool_id=pid,
            remove_health_monitor=True,
            health_monitor=res.HealthMonitor(type=res.HealthMonitor.TCP, delay=1, timeout=1),
        ),
    ) == invalid("remove_health_monitor", "cannot be set together with health_monitor")
    final = get(api, lb.id)
    assert final == reply
    p = final.spec.pools[0]
    assert (p.id, p.name, p.algorithm) == (pid, "", res.Pool.WEIGHTED_ROUND_ROBIN)
    assert [(m.id, m.address, m.port, m.weight) for m in p.members] == [
        (m.id, m.address, m.port, m.weight) for m in lb.spec.pools[0].members
    ]
    assert final.spec.listeners[0].default_pool_id == pid
    assert reasons(final) == ("", [""])
    assert statuses(final) == {"ACTIVE"}


def test_health_monitor_seconds_round_trip(api: Transport) -> None:
    monitors = [
        {"type": "TCP", "delay": 5, "timeout": 3},
        {"type": "TCP", "delay_ms": 500, "timeout_ms": 250},
        {"type": "HTTP", "delay": 9, "timeout": 9, "delay_ms": 1500, "timeout_ms": 1001},  # _ms wins
        {"delay": 5, "timeout": 3, "max_retries": 0},  # type unset is PING; max_retries 0 is 3
    ]
    pools = [{"name": f"p{i}", "health_monitor": hm} for i, hm in enumerate(monitors)]
    lb = create(api, spec_body([], pools))
    got = [p.health_monitor for p in lb.spec.pools]
    assert [monitor_tuple(hm) for hm in got] == [
        ("TCP", 5, 3, 5000, 3000, 3, 2),
        ("TCP", 1, 1, 500, 250, 3, 2),  # whole seconds rounded up
        ("HTTP", 2, 2, 1500, 1001, 3, 2),
        ("PING", 5, 3, 5000, 3000, 3, 2),
    ]

    # A monitor as read, sent back, is the same monitor (the _ms fields keep the exact figures).
    for pool, hm in zip(lb.spec.pools, got, strict=True):
        echo = res.HealthMonitor()
        echo.CopyFrom(hm)
        echo.ClearField("id")
        after = api.call(
            "UpdatePool", pb.UpdatePoolRequest(load_balancer_id=lb.id, pool_id=pool.id, health_monitor=echo)
        )
        again = next(p for p in after.spec.pools if p.id == pool.id).health_monitor
        echo.id = again.id
        assert again == echo


# --- pool members ---------------------------------------------------------------------


def test_add_pool_member(api: Transport) -> None:
    lb = create(api, monitored_body())
    pool = lb.spec.pools[0]

    after = api.call(
        "AddPoolMember",
        pb.AddPoolMemberRequest(
            load_balancer_id=lb.id,
            pool_id=pool.id,
            member=res.PoolMember(address="10.0.0.12", port=9090, name="c", subnet_id="sub"),
        ),
    )
    members = after.spec.pools[0].members
    assert list(members[:2]) == list(pool.members)
    added = members[2]
    assert added.id.startswith("mem-")
    assert (added.address, added.port, added.weight, added.name, added.subnet_id) == (
        "10.0.0.12",
        9090,
        1,
        "c",
        "sub",
    )
    assert (added.admin_state_up, added.drain, added.provisioning_status, added.operating_status) == (
        True,
        False,
        "ACTIVE",
        "OFFLINE",  # the pool is monitored: OFFLINE until a health check speaks
    )
    assert operating(after) == ("ONLINE", [("ONLINE", "ONLINE", ["OFFLINE"] * 3)])

    zero = api.call(
        "AddPoolMember",
        pb.AddPoolMemberRequest(
            load_balancer_id=lb.id,
            pool_id=pool.id,
            member=res.PoolMember(address="10.0.0.11", port=9090, weight=0, drain=True),
        ),
    )
    last = zero.spec.pools[0].members[3]
    assert (last.address, last.port, last.weight, last.admin_state_up, last.drain) == (
        "10.0.0.11",
        9090,
        0,
        True,
        True,
    )
    assert (last.provisioning_status, last.operating_status) == ("ACTIVE", "DRAINING")
    assert operating(zero) == ("ONLINE", [("ONLINE", "ONLINE", ["OFFLINE"] * 3 + ["DRAINING"])])
    assert get(api, lb.id) == zero


def test_add_pool_member_ipv6_is_canonical(api: Transport) -> None:
    lb = create(api, vip_address="fd00::1", pools=[{"members": []}])
    after = api.call(
        "AddPoolMember",
        pb.AddPoolMemberRequest(
            load_balancer_id=lb.id,
            pool_id=lb.spec.pools[0].id,
            member=res.PoolMember(address="FD00:0:0::0A", port=80),
        ),
    )
    assert [m.address for m in after.spec.pools[0].members] == ["fd00::a"]


def test_update_pool_member(api: Transport) -> None:
    lb = create(api, monitored_body())
    pool = lb.spec.pools[0]

    def update(**fields: Any) -> res.PoolMember:
        after = update_member(api, lb, 0, 0, **fields)
        members = after.spec.pools[0].members
        assert members[1] == pool.members[1]  # the other member is untouched
        # ... and still takes connections, so the pool, listener and LB stay ONLINE.
        assert operating(after)[0] == "ONLINE"
        assert operating(after)[1][0][:2] == ("ONLINE", "ONLINE")
        assert statuses(after) == {"ACTIVE"}
        return members[0]

    expected = res.PoolMember()
    expected.CopyFrom(pool.members[0])
    # The pool is monitored: an admin-up member is OFFLINE until a check speaks.
    for fields, status in [
        ({"weight": 7}, "OFFLINE"),
        ({"drain": True}, "DRAINING"),
        ({"drain": False}, "OFFLINE"),
        ({"admin_state_up": False}, "OFFLINE"),
        ({"name": "primary"}, "OFFLINE"),
        ({"weight": 0}, "OFFLINE"),
        ({"admin_state_up": True, "weight": 256, "drain": True}, "DRAINING"),
        ({"name": ""}, "DRAINING"),
        ({"drain": False}, "OFFLINE"),
    ]:
        json_format.ParseDict(fields, expected)  # the member's fields are named as the request's
        expected.operating_status = status
        assert update(**fields) == expected, fields
    assert get(api, lb.id).spec.pools[0].members[0] == expected


def test_remove_pool_member(api: Transport) -> None:
    lb = create(api)
    pool = lb.spec.pools[0]
    first, second = pool.members

    req = pb.RemovePoolMemberRequest(load_balancer_id=lb.id, pool_id=pool.id, member_id=first.id)
    after = api.call("RemovePoolMember", req)
    assert list(after.spec.pools[0].members) == [second]
    assert fail(api, "RemovePoolMember", req) == not_found("member", first.id)
    req.pool_id = "pool-nope"
    assert fail(api, "RemovePoolMember", req) == not_found("pool", "pool-nope")
    # The address:port may join again.
    again = api.call(
        "AddPoolMember",
        pb.AddPoolMemberRequest(
            load_balancer_id=lb.id, pool_id=pool.id, member=res.PoolMember(address="10.0.0.10", port=8080)
        ),
    )
    assert [m.address for m in again.spec.pools[0].members] == ["10.0.0.11", "10.0.0.10"]


# --- GetLoadBalancerStats -------------------------------------------------------------


def test_stats_leave_unavailable_counters_unset(api: Transport) -> None:
    body = spec_body(
        [
            listener_json("TCP", 80, default_pool_id="web"),
            listener_json("UDP", 53, default_pool_id="dns"),
            listener_json("TCP", 443, default_pool_id="web"),
        ],
        [
            pool_json("10.0.0.10", "10.0.0.11", name="web", health_monitor=MONITOR),
            {
                "name": "dns",
                "members": [member_json("10.0.0.30", 53), member_json("10.0.0.31", 53, drain=True)],
            },
            pool_json("10.0.0.40", name="idle"),  # serves no listener
        ],
    )
    lb = create(api, body)
    web, dns, _ = lb.spec.pools

    stats = api.call("GetLoadBalancerStats", pb.GetLoadBalancerStatsRequest(id=lb.id))

    assert stats.load_balancer_id == lb.id
    for counter in (
        "active_connections",
        "total_connections",
        "bytes_in",
        "bytes_out",
        "requests",
        "requests_per_second",
        "sampled_at",
    ):
        assert not stats.HasField(counter), counter  # unavailable, never a fake 0
    assert stats.unavailable_reason == NO_STATS  # ...and the reason says why
    assert list(stats.listener_stats) == [pb.ListenerStats(listener_id=li.id) for li in lb.spec.listeners]
    # One per member of each pool serving a listener (web serves two, once each); healthy
    # means it takes new connections: not drained, and not unchecked under a monitor.
    assert list(stats.member_stats) == [
        pb.MemberStats(
            pool_id=pool.id,
            member_id=m.id,
            address=m.address,
            port=m.port,
            healthy=healthy,
            operating_status=status,
        )
        for pool, m, healthy, status in [
            (web, web.members[0], False, "OFFLINE"),
            (web, web.members[1], False, "OFFLINE"),
            (dns, dns.members[0], True, "NO_MONITOR"),
            (dns, dns.members[1], False, "DRAINING"),
        ]
    ]
    assert [ms.operating_status for ms in stats.member_stats] == [
        m.operating_status for m in (*web.members, *dns.members)
    ]

    down = update_member(api, lb, 1, 0, admin_state_up=False)
    stats = api.call("GetLoadBalancerStats", pb.GetLoadBalancerStatsRequest(id=lb.id))
    assert [(ms.member_id, ms.healthy, ms.operating_status) for ms in stats.member_stats[2:]] == [
        (dns.members[0].id, False, "OFFLINE"),
        (dns.members[1].id, False, "DRAINING"),
    ]
    assert down.spec.pools[1].operating_status == "ERROR"

    bare = create(api, spec_body([], []))
    assert api.call(
        "GetLoadBalancerStats", pb.GetLoadBalancerStatsRequest(id=bare.id)
    ) == pb.LoadBalancerStats(load_balancer_id=bare.id, unavailable_reason=NO_STATS)


# --- statuses: realization and the operating rollup -----------------------------------


def test_least_connections_pool_carries_a_status_reason_note(api: Transport) -> None:
    assert "LEAST_CONNECTIONS" in LEAST_CONNECTIONS_NOTE  # says how it is realized
    body = spec_body(
        [listener_json("TCP", 80, default_pool_id="lc"), listener_json("UDP", 53, default_pool_id="sip")],
        [
            pool_json("10.0.0.10", name="lc", algorithm="LEAST_CONNECTIONS"),
            pool_json("10.0.0.10", name="sip", algorithm="SOURCE_IP"),
        ],
    )
    lb = create(api, body)
    # A note on the pool, not an error: everything is ACTIVE and ONLINE.
    assert reasons(lb) == ("", [LEAST_CONNECTIONS_NOTE, ""])
    assert statuses(lb) == {"ACTIVE"}
    assert operating(lb) == ("ONLINE", [("ONLINE", "ONLINE", ["NO_MONITOR"])] * 2)
    assert get(api, lb.id) == lb

    lc, sip = (p.id for p in lb.spec.pools)
    switched = update_pool(api, lb, lc, algorithm="ROUND_ROBIN")
    assert reasons(switched) == ("", ["", ""])
    switched = update_pool(api, lb, sip, algorithm="LEAST_CONNECTIONS")
    assert reasons(switched) == ("", ["", LEAST_CONNECTIONS_NOTE])
    assert statuses(switched) == {"ACTIVE"}
    assert get(api, lb.id) == switched


@pytest.mark.parametrize("monitored", [False, True], ids=["no-monitor", "monitored"])
def test_member_operating_status_follows_its_admin_state(api: Transport, monitored: bool) -> None:
    monitor = {"health_monitor": {"type": "TCP", "delay": 5, "timeout": 3}} if monitored else {}
    # admin_state_up unset is up: NO_MONITOR without a monitor; with one, OFFLINE until a
    # check speaks. admin_state_up false wins over drain.
    up = "OFFLINE" if monitored else "NO_MONITOR"
    members = [
        member_json("10.0.0.10"),
        member_json("10.0.0.11", drain=True),
        member_json("10.0.0.12", admin_state_up=False),
        member_json("10.0.0.13", admin_state_up=False, drain=True),
        member_json("10.0.0.14", admin_state_up=True, drain=False),
    ]
    lb = create(api, pools=[{"members": members, **monitor}])
    assert statuses(lb) == {"ACTIVE"}
    assert operating(lb) == ("ONLINE", [("ONLINE", "ONLINE", [up, "DRAINING", "OFFLINE", "OFFLINE", up])])
    echoed = [(m.HasField("admin_state_up"), m.admin_state_up) for m in lb.spec.pools[0].members]
    assert echoed == [(True, True), (True, True), (True, False), (True, False), (True, True)]
    assert [m.drain for m in lb.spec.pools[0].members][:3] == [False, True, False]
    lb = update_member(api, lb, 0, 4, admin_state_up=False)

    # Draining the only member that took connections leaves none: the pool is ERROR, and
    # with it its listener and the load balancer. That is an operating state, not a
    # provisioning one: the configuration is realized (ACTIVE) and has no status reason.
    drained = update_member(api, lb, 0, 0, drain=True)
    assert operating(drained) == (
        "ERROR",
        [("ERROR", "ERROR", ["DRAINING", "DRAINING", "OFFLINE", "OFFLINE", "OFFLINE"])],
    )
    assert statuses(drained) == {"ACTIVE"}
    assert reasons(drained) == ("", [""])
    assert drained.status.phase == PHASE.ACTIVE

    back = update_member(api, lb, 0, 2, admin_state_up=True)
    assert operating(back) == (
        "ONLINE",
        [("ONLINE", "ONLINE", ["DRAINING", "DRAINING", up, "OFFLINE", "OFFLINE"])],
    )
    offline = update_member(api, lb, 0, 1, admin_state_up=False)  # wins over its drain
    assert operating(offline) == (
        "ONLINE",
        [("ONLINE", "ONLINE", ["DRAINING", "OFFLINE", up, "OFFLINE", "OFFLINE"])],
    )
    assert (
        offline.spec.pools[0].members[1].admin_state_up,
        offline.spec.pools[0].members[1].operating_status,
    ) == (
        False,
        "OFFLINE",
    )
    assert statuses(offline) == {"ACTIVE"}
    assert get(api, lb.id) == offline


def test_pool_is_error_when_no_member_may_take_connections(api: Transport) -> None:
    zero = [member_json("10.0.0.10", weight=0), member_json("10.0.0.11", weight=0)]
    body = spec_body(
        [listener_json("TCP", 80, default_pool_id="zero"), listener_json("UDP", 53, default_pool_id="one")],
        [{"name": "zero", "members": zero}, pool_json("10.0.0.12", name="one")],
    )
    lb = create(api, body)
    # Weight 0 takes no new connections: that pool can serve nobody (ERROR). One working
    # listener of two leaves the load balancer DEGRADED, not ERROR.
    assert operating(lb) == (
        "DEGRADED",
        [("ERROR", "ERROR", ["NO_MONITOR"] * 2), ("ONLINE", "ONLINE", ["NO_MONITOR"])],
    )
    assert statuses(lb) == {"ACTIVE"}
    assert reasons(lb) == ("", ["", ""])
    assert lb.status.phase == PHASE.ACTIVE

    weighted = update_member(api, lb, 0, 1, weight=2)
    assert operating(weighted) == (
        "ONLINE",
        [("ONLINE", "ONLINE", ["NO_MONITOR"] * 2), ("ONLINE", "ONLINE", ["NO_MONITOR"])],
    )

    update_member(api, lb, 0, 1, weight=0)
    alone = api.call(
        "RemoveListener",
        pb.RemoveListenerRequest(load_balancer_id=lb.id, listener_id=lb.spec.listeners[1].id),
    )
    # Every listener fails; the pool left behind serves none and does not count.
    assert operating(alone) == ("ERROR", [("ERROR", "ERROR", ["NO_MONITOR"] * 2)])
    assert alone.spec.pools[1].operating_status == "ONLINE"

    # A pool without members is ERROR too, until one joins.
    pool = lb.spec.pools[0]
    for m in pool.members:
        empty = api.call(
            "RemovePoolMember",
            pb.RemovePoolMemberRequest(load_balancer_id=lb.id, pool_id=pool.id, member_id=m.id),
        )
    assert operating(empty) == ("ERROR", [("ERROR", "ERROR", [])])
    joined = api.call(
        "AddPoolMember",
        pb.AddPoolMemberRequest(
            load_balancer_id=lb.id, pool_id=pool.id, member=res.PoolMember(address="10.0.0.13", port=80)
        ),
    )
    assert operating(joined) == ("ONLINE", [("ONLINE", "ONLINE", ["NO_MONITOR"])])
    assert statuses(joined) == {"ACTIVE"}

    # A load balancer without listeners has nothing that fails, even with an empty pool.
    bare = create(api, listeners=[], pools=[{"name": "empty"}])
    assert (operating(bare), statuses(bare)) == (("ONLINE", []), {"ACTIVE"})
    assert bare.spec.pools[0].operating_status == "ERROR"
    assert bare.status == active_status(bare.spec.vip_address)


# --- WatchLoadBalancers: pending until realized ----------------------------------------


def change_events(watcher: Watcher, lb_id: str) -> list[tuple[str, str, res.LoadBalancer]]:
    """The events of one change of `lb_id`, up to its end (ACTIVE again, or DELETED), as
    (type, provisioning status, load balancer)."""
    events = watcher.until(
        lambda e: (
            e.load_balancer.id == lb_id
            and (e.type == W.DELETED or e.load_balancer.status.provisioning_status == "ACTIVE")
        )
    )
    assert {e.load_balancer.id for e in events} == {lb_id}
    return [
        (W.Type.Name(e.type), e.load_balancer.status.provisioning_status, e.load_balancer) for e in events
    ]


def test_changes_are_pending_only_until_realized(srv: Server, api: Transport) -> None:
    """Each change is written PENDING_* and then, once OVN holds it, ACTIVE; the RPC answers
    after that, so only a watcher sees the pending state (exactly once per change)."""
    network = uniq("net")
    watcher = Watcher(srv, "grpc", pb.WatchLoadBalancersRequest(network_id=network))
    try:
        assert watcher.snapshot() == []
        lb = create(
            api, spec_body(network_id=network, pools=[pool_json("10.0.0.10", "10.0.0.11", name="web")])
        )
        (created, pending, first), (updated, active, last) = change_events(watcher, lb.id)
        assert (created, pending, updated, active) == ("CREATED", "PENDING_CREATE", "UPDATED", "ACTIVE")
        assert statuses(first) == {"PENDING_CREATE"}
        # Never realized yet: phase PENDING and no VIP in the status.
        assert (first.status.phase, first.status.vip_address) == (PHASE.PENDING, "")
        assert config_only(first) == config_only(lb)
        assert last == lb

        web = lb.spec.pools[0]
        udp = res.Listener(
            protocol=res.Listener.UDP,
            port=53,
            default_pool=res.Pool(members=[res.PoolMember(address="10.0.0.9", port=53)]),
        )
        spare = res.Pool(name="spare", members=[res.PoolMember(address="10.0.0.8", port=53)])
        changes: list[tuple[str, Callable[[res.LoadBalancer], Any]]] = [
            ("UpdateLoadBalancer", lambda cur: pb.UpdateLoadBalancerRequest(id=lb.id, name="renamed")),
            ("AddListener", lambda cur: pb.AddListenerRequest(load_balancer_id=lb.id, listener=udp)),
            ("AddPool", lambda cur: pb.AddPoolRequest(load_balancer_id=lb.id, pool=spare)),
            (
                "AddPoolMember",
                lambda cur: pb.AddPoolMemberRequest(
                    load_balancer_id=lb.id,
                    pool_id=web.id,
                    member=res.PoolMember(address="10.0.0.12", port=80),
                ),
            ),
            (
                "UpdatePoolMember",
                lambda cur: pb.UpdatePoolMemberRequest(
                    load_balancer_id=lb.id, pool_id=web.id, member_id=web.members[0].id, drain=True
                ),
            ),
            (
                "RemovePoolMember",
                lambda cur: pb.RemovePoolMemberRequest(
                    load_balancer_id=lb.id, pool_id=web.id, member_id=web.members[1].id
                ),
            ),
            (
                "UpdatePool",
                lambda cur: pb.UpdatePoolRequest(
                    load_balancer_id=lb.id, pool_id=web.id, algorithm=res.Pool.SOURCE_IP
                ),
            ),
            (
                "UpdateListener",
                lambda cur: pb.UpdateListenerRequest(
                    load_balancer_id=lb.id, listener_id=cur.spec.listeners[1].id, default_pool_id="spare"
                ),
            ),
            # The UDP listener's inline pool, unused now.
            (
                "RemovePool",
                lambda cur: pb.RemovePoolRequest(load_balancer_id=lb.id, pool_id=cur.spec.pools[1].id),
            ),
            (
                "RemoveListener",
                lambda cur: pb.RemoveListenerRequest(
                    load_balancer_id=lb.id, listener_id=cur.spec.listeners[1].id
                ),
            ),
        ]
        answer = lb
        for rpc, request in changes:
            answer = api.call(rpc, request(answer))
            assert statuses(answer) == {"ACTIVE"}, rpc
            (k1, s1, pending_lb), (k2, s2, active_lb) = change_events(watcher, lb.id)
            assert (k1, s1, k2, s2) == ("UPDATED", "PENDING_UPDATE", "UPDATED", "ACTIVE"), rpc
            # Realized once: phase PENDING, and the VIP stays in the status.
            assert (pending_lb.status.phase, pending_lb.status.vip_address) == (
                PHASE.PENDING,
                lb.spec.vip_address,
            ), rpc
            # The pending event already carries the whole new configuration.
            assert config_only(pending_lb) == config_only(answer), rpc
            assert active_lb == answer, rpc
        assert [p.name for p in answer.spec.pools] == ["web", "spare"]
        assert [li.default_pool_id for li in answer.spec.listeners] == [web.id]
        assert get(api, lb.id) == answer

        # Delete: PENDING_DELETE while its OVN rows go, then DELETED; the RPC answers after.
        assert api.call("DeleteLoadBalancer", pb.DeleteLoadBalancerRequest(id=lb.id)) == empty_pb2.Empty()
        assert fail(api, "GetLoadBalancer", pb.GetLoadBalancerRequest(id=lb.id)) == not_found(
            "load balancer", lb.id
        )
        (k1, s1, deleting), (k2, s2, deleted) = change_events(watcher, lb.id)
        assert (k1, s1, k2, s2) == ("UPDATED", "PENDING_DELETE", "DELETED", "PENDING_DELETE")
        assert (deleting.status.phase, deleting.status.vip_address) == (PHASE.DELETING, "")
        assert config_only(without_updated_at(deleting)) == config_only(without_updated_at(answer))
        assert deleted == deleting  # DELETED carries the last state
    finally:
        watcher.close()


# --- NOT_FOUND on every RPC -------------------------------------------------------------


def test_every_rpc_answers_not_found_for_an_unknown_load_balancer(api: Transport) -> None:
    missing = "lb-00000000-0000-0000-0000-000000000000"
    member = res.PoolMember(address="10.0.0.1", port=1)
    requests: list[tuple[str, Any]] = [
        ("GetLoadBalancer", pb.GetLoadBalancerRequest(id=missing)),
        ("UpdateLoadBalancer", pb.UpdateLoadBalancerRequest(id=missing, name="x")),
        ("DeleteLoadBalancer", pb.DeleteLoadBalancerRequest(id=missing)),
        (
            "AddListener",
            pb.AddListenerRequest(
                load_balancer_id=missing, listener=res.Listener(protocol=res.Listener.TCP, port=1)
            ),
        ),
        ("UpdateListener", pb.UpdateListenerRequest(load_balancer_id=missing, listener_id="lis-x", name="y")),
        ("RemoveListener", pb.RemoveListenerRequest(load_balancer_id=missing, listener_id="lis-x")),
        ("AddPool", pb.AddPoolRequest(load_balancer_id=missing, pool=res.Pool(name="p"))),
        ("UpdatePool", pb.UpdatePoolRequest(load_balancer_id=missing, pool_id="pool-x", name="p")),
        ("RemovePool", pb.RemovePoolRequest(load_balancer_id=missing, pool_id="pool-x")),
        ("AddPoolMember", pb.AddPoolMemberRequest(load_balancer_id=missing, pool_id="pool-x", member=member)),
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
    assert {rpc for rpc, _ in requests} == set(
        pb.DESCRIPTOR.services_by_name["LoadBalancerService"].methods_by_name
    ) - {
        "CreateLoadBalancer",
        "ListLoadBalancers",
        "WatchLoadBalancers",
    }
    failures = {rpc: fail(api, rpc, request) for rpc, request in requests}
    assert failures == dict.fromkeys(failures, not_found("load balancer", missing))


def test_unknown_listener_pool_and_member_are_not_found(api: Transport) -> None:
    lb = create(api)
    pool = lb.spec.pools[0]
    cases: list[tuple[str, Any, Failure]] = [
        (
            "UpdateListener",
            pb.UpdateListenerRequest(load_balancer_id=lb.id, listener_id="lis-nope", name="n"),
            not_found("listener", "lis-nope"),
        ),
        (
            "RemoveListener",
            pb.RemoveListenerRequest(load_balancer_id=lb.id, listener_id="lis-nope"),
            not_found("listener", "lis-nope"),
        ),
        (
            "UpdatePool",
            pb.UpdatePoolRequest(load_balancer_id=lb.id, pool_id="pool-nope", name="n"),
            not_found("pool", "pool-nope"),
        ),
        (
            "RemovePool",
            pb.RemovePoolRequest(load_balancer_id=lb.id, pool_id="pool-nope"),
            not_found("pool", "pool-nope"),
        ),
        (
            "UpdatePoolMember",
            pb.UpdatePoolMemberRequest(
                load_balancer_id=lb.id, pool_id=pool.id, member_id="mem-nope", weight=3
            ),
            not_found("member", "mem-nope"),
        ),
        (
            "UpdatePoolMember",
            pb.UpdatePoolMemberRequest(
                load_balancer_id=lb.id, pool_id="pool-nope", member_id=pool.members[0].id, weight=3
            ),
            not_found("pool", "pool-nope"),
        ),
        (
            "AddPoolMember",
            pb.AddPoolMemberRequest(
                load_balancer_id=lb.id,
                pool_id="pool-nope",
                member=res.PoolMember(address="10.0.0.9", port=80),
            ),
            not_found("pool", "pool-nope"),
        ),
    ]
    for rpc, request, expected in cases:
        assert fail(api, rpc, request) == expected, rpc
    assert get(api, lb.id) == lb


# --- REST wire format -------------------------------------------------------------------


def test_rest_json_is_snake_case_with_enum_names(srv: Server) -> None:
    body = seed_body()
    with httpx.Client(base_url=srv.http_url, timeout=15) as http:
        created = http.post("/api/v1/load-balancers", json=body)
        assert created.status_code == 201, created.text
        assert created.headers["content-type"] == "application/json"
        lb = created.json()
        assert_snake_case(lb)
        assert lb["labels"] == {}  # every field is printed...
        assert lb["status"] == {
            "phase": "ACTIVE",
            "provisioning_status": "ACTIVE",
            "operating_status": "ONLINE",
            "vip_address": "192.168.1.100",
            "vip_port_id": "",
            "error_message": "",
        }
        assert set(lb["spec"]) == {"network_id", "subnet_id", "vip_address", "listeners", "pools"}
        listener, pool = lb["spec"]["listeners"][0], lb["spec"]["pools"][0]
        # ...but a message or optional field that is not set is absent.
        assert "default_pool" not in listener and "tls" not in listener
        assert (listener["protocol"], listener["default_pool_id"]) == ("TCP", pool["id"])
        assert (listener["provisioning_status"], listener["operating_status"]) == ("ACTIVE", "ONLINE")
        assert "protocol" not in pool and "persistence" not in pool
        assert pool["algorithm"] == "ROUND_ROBIN"
        hm = pool["health_monitor"]
        assert (hm["type"], hm["delay"], hm["delay_ms"], hm["timeout"], hm["timeout_ms"]) == (
            "HTTP",
            5,
            5000,
            3,
            3000,
        )
        member = pool["members"][0]
        assert (member["admin_state_up"], member["drain"], member["weight"]) == (True, False, 1)
        assert (member["operating_status"], member["last_failure_reason"]) == ("OFFLINE", "")
        assert isinstance(lb["created_at"], str) and lb["created_at"].endswith("Z")

        got = http.get(f"/api/v1/load-balancers/{lb['id']}")
        assert (got.status_code, got.json()) == (200, lb)

        listed = http.get(
            "/api/v1/load-balancers", params={"network_id": body["network_id"], "page_size": "10"}
        )
        assert listed.status_code == 200
        assert listed.json() == {"load_balancers": [lb], "next_page_token": "", "total_count": 1}

        stats = http.get(f"/api/v1/load-balancers/{lb['id']}/stats").json()
        # No counter reported as 0: unset optional counters are absent.
        assert stats == {
            "load_balancer_id": lb["id"],
            "listener_stats": [{"listener_id": listener["id"]}],
            "member_stats": [
                {
                    "pool_id": pool["id"],
                    "member_id": m["id"],
                    "address": m["address"],
                    "port": m["port"],
                    "healthy": False,  # monitored, not checked yet
                    "operating_status": "OFFLINE",
                }
                for m in pool["members"]
            ],
            "unavailable_reason": NO_STATS,
        }

        deleted = http.delete(f"/api/v1/load-balancers/{lb['id']}")
        assert (deleted.status_code, deleted.content) == (204, b"")
        missing = http.get(f"/api/v1/load-balancers/{lb['id']}")
        assert missing.status_code == 404
        assert missing.json() == {
            "code": "NOT_FOUND",
            "message": f"load balancer {lb['id']!r} not found",
            "details": [],
        }


def test_rest_accepts_hand_written_json_on_every_route(srv: Server) -> None:
    with httpx.Client(base_url=srv.http_url, timeout=15) as http:
        lb = http.post("/api/v1/load-balancers", json=seed_body()).json()
        base = f"/api/v1/load-balancers/{lb['id']}"
        pool_id = lb["spec"]["pools"][0]["id"]

        r = http.post(f"{base}/pools/{pool_id}/members", json={"address": "10.0.0.12", "port": 8080})
        assert r.status_code == 201, r.text
        mid = r.json()["spec"]["pools"][0]["members"][2]["id"]
        r = http.put(f"{base}/pools/{pool_id}/members/{mid}", json={"drain": True, "weight": 3})
        member = r.json()["spec"]["pools"][0]["members"][2]
        assert (r.status_code, member["drain"], member["weight"], member["operating_status"]) == (
            200,
            True,
            3,
            "DRAINING",
        )
        r = http.put(f"{base}/pools/{pool_id}/members/{mid}", json={"admin_state_up": False})
        member = r.json()["spec"]["pools"][0]["members"][2]
        assert (r.status_code, member["admin_state_up"], member["operating_status"]) == (
            200,
            False,
            "OFFLINE",
        )

        # A listener without a pool takes the only one.
        r = http.post(f"{base}/listeners", json={"protocol": "UDP", "port": 53})
        assert r.status_code == 201, r.text
        lid = r.json()["spec"]["listeners"][1]["id"]
        assert r.json()["spec"]["listeners"][1]["default_pool_id"] == pool_id

        r = http.post(
            f"{base}/pools", json={"name": "dns", "members": [{"address": "10.0.0.30", "port": 53}]}
        )
        assert r.status_code == 201, r.text
        dns_id = r.json()["spec"]["pools"][1]["id"]
        r = http.put(f"{base}/listeners/{lid}", json={"default_pool_id": "dns", "name": "dns"})
        assert (r.status_code, r.json()["spec"]["listeners"][1]["default_pool_id"]) == (200, dns_id)
        r = http.put(
            f"{base}/pools/{dns_id}", json={"algorithm": "SOURCE_IP", "persistence": {"type": "SOURCE_IP"}}
        )
        dns = r.json()["spec"]["pools"][1]
        assert (r.status_code, dns["algorithm"], dns["persistence"]) == (
            200,
            "SOURCE_IP",
            {"type": "SOURCE_IP", "cookie_name": "", "timeout": 300},
        )

        r = http.delete(f"{base}/pools/{dns_id}")
        assert (r.status_code, r.json()["code"]) == (412, "FAILED_PRECONDITION")
        r = http.delete(f"{base}/listeners/{lid}")
        assert (r.status_code, len(r.json()["spec"]["listeners"]), len(r.json()["spec"]["pools"])) == (
            200,
            1,
            2,
        )
        r = http.delete(f"{base}/pools/{dns_id}")
        assert (r.status_code, [p["id"] for p in r.json()["spec"]["pools"]]) == (200, [pool_id])
        r = http.delete(f"{base}/pools/{pool_id}/members/{mid}")
        assert (r.status_code, len(r.json()["spec"]["pools"][0]["members"])) == (200, 2)

        r = http.put(base, json={"description": "via rest", "labels": {"team": "net"}})
        assert (r.status_code, r.json()["description"], r.json()["name"], r.json()["labels"]) == (
            200,
            "via rest",
            "web-lb",
            {"team": "net"},
        )
        r = http.put(base, json={"update_mask": "labels,name"})  # a FieldMask in JSON: one string
        assert (r.status_code, r.json()["description"], r.json()["name"], r.json()["labels"]) == (
            200,
            "via rest",
            "",
            {},
        )


def test_failure_is_the_same_on_every_transport(clients: dict[str, Transport]) -> None:
    """The shared helper itself: a NOT_FOUND looks alike everywhere (guards the harness)."""
    seen = {}
    for name, client in clients.items():
        try:
            client.call("GetLoadBalancer", pb.GetLoadBalancerRequest(id="lb-none"))
        except CallFailed as exc:
            seen[name] = exc.failure
    assert seen == dict.fromkeys(clients, not_found("load balancer", "lb-none"))
