"""WatchLoadBalancers over gRPC and Connect: the snapshot, then every committed change.

Every change gives two events: the change itself (CREATED as PENDING_CREATE, UPDATED as
PENDING_UPDATE or PENDING_DELETE) and its outcome once OVN holds it (UPDATED as ACTIVE, or
DELETED). An RPC answers after both, so sequential RPCs give strictly ordered pairs.
"""

from __future__ import annotations

import asyncio
import json
import time

import grpc
import pytest

from builders import config_only, create_request, pool_json, pool_of, spec_body
from conftest import Server, Watcher
from limiquantix.network.v1 import network_pb2 as res
from limiquantix.network.v1 import network_service_pb2 as pb
from quantix_lb import model
from quantix_lb.errors import ApiError, Code
from quantix_lb.store import Change, ChangeKind
from quantix_lb.watch import QUEUE_LIMIT, WatchHub

E = pb.WatchLoadBalancersResponse
TRANSPORTS = ("grpc", "connect")


def lb_request(network_id: str, vip: str, project_id: str = "proj-1") -> pb.CreateLoadBalancerRequest:
    """One TCP:80 listener on a pool of one member."""
    return create_request(
        spec_body(
            pools=[pool_json("10.5.0.10")],
            network_id=network_id,
            vip_address=vip,
            name=f"lb-{vip}",
            project_id=project_id,
        )
    )


def summary(event: pb.WatchLoadBalancersResponse) -> tuple[str, str, str]:
    lb = event.load_balancer
    return E.Type.Name(event.type), lb.id, lb.status.provisioning_status


def expect(watcher: Watcher, *expected: tuple[str, str, str]) -> list[res.LoadBalancer]:
    """Reads events until the last expected one arrives (or a deadline passes) and asserts
    that exactly the expected ones came, in order: (type, id, provisioning status)."""
    events = watcher.until(lambda e: summary(e) == expected[-1])
    assert [summary(e) for e in events] == list(expected)
    return [e.load_balancer for e in events]


def expect_created(watcher: Watcher, lb: res.LoadBalancer) -> tuple[res.LoadBalancer, res.LoadBalancer]:
    """CREATED as PENDING_CREATE, then UPDATED as ACTIVE once realized."""
    pending, active = expect(watcher, ("CREATED", lb.id, "PENDING_CREATE"), ("UPDATED", lb.id, "ACTIVE"))
    return pending, active


def expect_updated(watcher: Watcher, lb: res.LoadBalancer) -> tuple[res.LoadBalancer, res.LoadBalancer]:
    """UPDATED as PENDING_UPDATE, then UPDATED as ACTIVE once realized."""
    pending, active = expect(watcher, ("UPDATED", lb.id, "PENDING_UPDATE"), ("UPDATED", lb.id, "ACTIVE"))
    return pending, active


def expect_deleted(watcher: Watcher, lb: res.LoadBalancer) -> tuple[res.LoadBalancer, res.LoadBalancer]:
    """UPDATED as PENDING_DELETE while its OVN rows go, then DELETED."""
    deleting, deleted = expect(
        watcher, ("UPDATED", lb.id, "PENDING_DELETE"), ("DELETED", lb.id, "PENDING_DELETE")
    )
    assert deleted == deleting, "DELETED carries the last state"
    assert deleting.status.phase == res.LoadBalancerStatus.DELETING
    return deleting, deleted


def pending_create(lb: res.LoadBalancer) -> res.LoadBalancer:
    """As first written: PENDING_CREATE and OFFLINE everywhere, no status reason, and no
    VIP in the status yet (it shows once realized)."""
    out = res.LoadBalancer()
    out.CopyFrom(lb)
    out.status.CopyFrom(
        res.LoadBalancerStatus(
            phase=res.LoadBalancerStatus.PENDING,
            provisioning_status="PENDING_CREATE",
            operating_status="OFFLINE",
        )
    )
    for msg in (*out.spec.listeners, *out.spec.pools, *(m for p in out.spec.pools for m in p.members)):
        msg.provisioning_status, msg.operating_status = "PENDING_CREATE", "OFFLINE"
    for pool in out.spec.pools:
        pool.status_reason = ""
    return out


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_snapshot_then_create_update_delete_in_order(server: Server, transport: str):
    stub = server.stub
    existing = [
        stub.CreateLoadBalancer(lb_request("net-1", "10.0.0.1"), timeout=10),
        stub.CreateLoadBalancer(lb_request("net-2", "10.0.0.2", project_id="proj-2"), timeout=10),
    ]
    watcher = Watcher(server, transport)
    try:
        assert watcher.snapshot() == existing  # whole messages, in creation order

        created = stub.CreateLoadBalancer(lb_request("net-1", "10.0.0.3"), timeout=10)
        assert created.status.provisioning_status == "ACTIVE"
        assert created.status.phase == res.LoadBalancerStatus.ACTIVE
        assert expect_created(watcher, created) == (pending_create(created), created)

        pool = pool_of(created)
        with_member = stub.AddPoolMember(
            pb.AddPoolMemberRequest(
                load_balancer_id=created.id,
                pool_id=pool.id,
                member=res.PoolMember(address="10.5.0.11", port=8080),
            ),
            timeout=10,
        )
        pending, active = expect_updated(watcher, created)
        assert active == with_member
        assert len(pool_of(with_member).members) == 2
        # The pending event already carries the whole change (statuses aside).
        assert config_only(pending) == config_only(with_member)

        renamed = stub.UpdateLoadBalancer(
            pb.UpdateLoadBalancerRequest(id=created.id, name="renamed"), timeout=10
        )
        pending, active = expect_updated(watcher, created)
        assert (config_only(pending), active) == (config_only(renamed), renamed)

        stub.DeleteLoadBalancer(pb.DeleteLoadBalancerRequest(id=created.id), timeout=10)
        deleting, _ = expect_deleted(watcher, created)
        # The last state: as renamed (PENDING_DELETE, updated when the delete began).
        assert deleting.updated_at.ToNanoseconds() >= renamed.updated_at.ToNanoseconds()
        deleting.ClearField("updated_at")
        renamed.ClearField("updated_at")
        assert config_only(deleting) == config_only(renamed)

        # Changes to the snapshot's load balancers arrive too.
        stub.DeleteLoadBalancer(pb.DeleteLoadBalancerRequest(id=existing[0].id), timeout=10)
        expect_deleted(watcher, existing[0])
    finally:
        watcher.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_failed_writes_send_nothing(server: Server, transport: str):
    stub = server.stub
    taken = stub.CreateLoadBalancer(lb_request("net-1", "10.0.0.1"), timeout=10)
    watcher = Watcher(server, transport)
    try:
        assert [lb.id for lb in watcher.snapshot()] == [taken.id]
        with pytest.raises(grpc.RpcError) as info:  # VIP:port taken on the network
            stub.CreateLoadBalancer(lb_request("net-1", "10.0.0.1"), timeout=10)
        assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
        with pytest.raises(grpc.RpcError) as info:
            stub.UpdateLoadBalancer(pb.UpdateLoadBalancerRequest(id=taken.id, name="x" * 300), timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError):
            stub.DeleteLoadBalancer(pb.DeleteLoadBalancerRequest(id="lb-missing"), timeout=10)
        good = stub.CreateLoadBalancer(lb_request("net-1", "10.0.0.2"), timeout=10)
        # The failures sent nothing: the next events are the good create's.
        assert expect_created(watcher, good)[1] == good
    finally:
        watcher.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_filters(server: Server, transport: str):
    stub = server.stub
    # A network belongs to one project (issue 9): proj-y's load balancers live on net-c.
    a1 = stub.CreateLoadBalancer(lb_request("net-a", "10.0.0.1", "proj-x"), timeout=10)
    b1 = stub.CreateLoadBalancer(lb_request("net-b", "10.0.0.2", "proj-x"), timeout=10)
    c1 = stub.CreateLoadBalancer(lb_request("net-c", "10.0.0.3", "proj-y"), timeout=10)

    by_network = Watcher(server, transport, pb.WatchLoadBalancersRequest(network_id="net-a"))
    by_project = Watcher(server, transport, pb.WatchLoadBalancersRequest(project_id="proj-y"))
    by_both = Watcher(
        server, transport, pb.WatchLoadBalancersRequest(project_id="proj-x", network_id="net-b")
    )
    try:
        assert by_network.snapshot() == [a1]  # as answered: realized, ACTIVE
        assert by_project.snapshot() == [c1]
        assert by_both.snapshot() == [b1]

        # Only the last of these matches each filter; its two events (the write, then its
        # realization) must be each stream's next ones.
        stub.CreateLoadBalancer(lb_request("net-d", "10.0.0.4", "proj-x"), timeout=10)
        stub.CreateLoadBalancer(lb_request("net-z", "10.0.0.5", "proj-z"), timeout=10)
        y = stub.CreateLoadBalancer(lb_request("net-c", "10.0.0.6", "proj-y"), timeout=10)
        xa = stub.CreateLoadBalancer(lb_request("net-a", "10.0.0.7", "proj-x"), timeout=10)
        xb = stub.CreateLoadBalancer(lb_request("net-b", "10.0.0.9", "proj-x"), timeout=10)
        assert expect_created(by_project, y)[1] == y
        assert expect_created(by_network, xa)[1] == xa
        assert expect_created(by_both, xb)[1] == xb
        stub.DeleteLoadBalancer(pb.DeleteLoadBalancerRequest(id=c1.id), timeout=10)
        expect_deleted(by_project, c1)
        stub.DeleteLoadBalancer(pb.DeleteLoadBalancerRequest(id=a1.id), timeout=10)
        expect_deleted(by_network, a1)
        # by_both never saw those (another project, another network): its next events are
        # the next match's.
        xb2 = stub.CreateLoadBalancer(lb_request("net-b", "10.0.0.8", "proj-x"), timeout=10)
        assert expect_created(by_both, xb2)[1] == xb2
    finally:
        for watcher in (by_network, by_project, by_both):
            watcher.close()


def test_every_watcher_sees_every_change(server: Server):
    watchers = [Watcher(server, t) for t in (*TRANSPORTS, *TRANSPORTS)]
    try:
        for watcher in watchers:
            assert watcher.snapshot() == []
        created = [
            server.stub.CreateLoadBalancer(lb_request("net-1", f"10.0.1.{i}"), timeout=10) for i in (1, 2, 3)
        ]
        for watcher in watchers:
            for lb in created:
                assert expect_created(watcher, lb) == (pending_create(lb), lb)
    finally:
        for watcher in watchers:
            watcher.close()


def test_snapshot_larger_than_one_page(server: Server):
    """The snapshot is read in pages of 500; one more than a page must all arrive once, in order."""
    futures = [
        server.stub.CreateLoadBalancer.future(
            lb_request("net-1", f"10.1.{i // 250}.{i % 250 + 1}"), timeout=30
        )
        for i in range(501)
    ]
    ids = [f.result().id for f in futures]
    listed = []
    token = ""
    while True:
        page = server.stub.ListLoadBalancers(pb.ListLoadBalancersRequest(page_size=1000, page_token=token))
        listed += [lb.id for lb in page.load_balancers]
        if not (token := page.next_page_token):
            break
    assert sorted(listed) == sorted(ids)
    watcher = Watcher(server, "grpc")
    try:
        assert [lb.id for lb in watcher.snapshot()] == listed
    finally:
        watcher.close()


def test_cancelled_stream_is_closed_on_the_server(server: Server):
    watcher = Watcher(server, "grpc")
    watcher.snapshot()
    watcher.close()

    def closed() -> bool:
        for line in list(server.log_lines):
            event = json.loads(line) if line.startswith("{") else {}
            if event.get("event") == "rpc.stream_closed" and event.get("method") == "WatchLoadBalancers":
                return True
        return False

    deadline = time.monotonic() + 10
    while not closed():
        assert time.monotonic() < deadline, "server never closed the cancelled watch stream"
        time.sleep(0.02)
    # The server is still healthy and serving watches.
    again = Watcher(server, "grpc")
    try:
        assert again.snapshot() == []
    finally:
        again.close()


# --- the hub, in process ------------------------------------------------------------


def _change(n: int = 0) -> Change:
    lb = model.LoadBalancer(
        id=f"lb-{n}", project_id="p", network_id="n", vip_address="10.0.0.1", created_at=0.0, updated_at=0.0
    )
    return Change(ChangeKind.CREATED, lb)


def test_hub_delivers_in_order_and_unsubscribes_on_close():
    async def main() -> None:
        hub = WatchHub()
        sub = hub.subscribe()
        hub.publish([_change(1), _change(2)])
        changes = sub.changes()
        got = [await anext(changes), await anext(changes)]
        assert [c.load_balancer.id for c in got] == ["lb-1", "lb-2"]
        assert len(hub) == 1
        await changes.aclose()
        assert len(hub) == 0
        hub.publish([_change(3)])  # nobody listens: nothing is kept

    asyncio.run(main())


def test_hub_unsubscribes_a_stream_that_never_started():
    """A stream that ends during its snapshot closes its changes before iterating them."""

    async def main() -> None:
        hub = WatchHub()
        changes = hub.subscribe().changes()
        await changes.aclose()
        assert len(hub) == 0

    asyncio.run(main())


def test_hub_close_ends_waiting_streams():
    async def main() -> None:
        hub = WatchHub()
        changes = hub.subscribe().changes()
        waiting = asyncio.ensure_future(anext(changes))
        await asyncio.sleep(0)  # let it block on the empty queue
        assert not waiting.done()
        hub.close()
        with pytest.raises(ApiError) as info:
            await asyncio.wait_for(waiting, 5)
        assert info.value.code is Code.UNAVAILABLE
        assert len(hub) == 0
        late = hub.subscribe().changes()  # a watch that arrives while stopping
        with pytest.raises(ApiError) as info:
            await asyncio.wait_for(anext(late), 5)
        assert info.value.code is Code.UNAVAILABLE

    asyncio.run(main())


def test_hub_overflow_aborts_after_the_backlog():
    async def main() -> None:
        hub = WatchHub()
        sub = hub.subscribe()
        changes = sub.changes()
        hub.publish([_change(i) for i in range(QUEUE_LIMIT + 5)])
        assert sub.overflowed
        for i in range(QUEUE_LIMIT):
            assert (await anext(changes)).load_balancer.id == f"lb-{i}"
        with pytest.raises(ApiError) as info:
            await anext(changes)
        assert info.value.code is Code.ABORTED
        await changes.aclose()
        assert len(hub) == 0

    asyncio.run(main())
