"""WatchLoadBalancers over gRPC and Connect: the snapshot, then every committed change."""

from __future__ import annotations

import asyncio
import json
import time

import grpc
import pytest

from conftest import Server, Watcher
from limiquantix.network.v1 import network_service_pb2 as pb
from quantix_lb import model
from quantix_lb.errors import ApiError, Code
from quantix_lb.store import Change, ChangeKind
from quantix_lb.watch import QUEUE_LIMIT, WatchHub

E = pb.WatchLoadBalancersResponse
TRANSPORTS = ("grpc", "connect")


def create_request(network_id: str, vip: str, project_id: str = "proj-1") -> pb.CreateLoadBalancerRequest:
    return pb.CreateLoadBalancerRequest(
        name=f"lb-{vip}",
        project_id=project_id,
        network_id=network_id,
        vip_address=vip,
        listeners=[
            pb.Listener(
                protocol=pb.Listener.TCP,
                port=80,
                default_pool=pb.Pool(members=[pb.Member(address="10.5.0.10", port=8080)]),
            )
        ],
    )


def expect(watcher: Watcher, kind: int, lb: pb.LoadBalancer) -> pb.LoadBalancer:
    event = watcher.next()
    assert (E.Type.Name(event.type), event.load_balancer.id) == (E.Type.Name(kind), lb.id)
    return event.load_balancer


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_snapshot_then_create_update_delete_in_order(server: Server, transport: str):
    stub = server.stub
    existing = [
        stub.CreateLoadBalancer(create_request("net-1", "10.0.0.1"), timeout=10),
        stub.CreateLoadBalancer(create_request("net-2", "10.0.0.2", project_id="proj-2"), timeout=10),
    ]
    watcher = Watcher(server, transport)
    try:
        assert watcher.snapshot() == existing  # whole messages, in creation order

        created = stub.CreateLoadBalancer(create_request("net-1", "10.0.0.3"), timeout=10)
        assert expect(watcher, E.CREATED, created) == created

        pool = created.listeners[0].default_pool
        with_member = stub.AddPoolMember(
            pb.AddPoolMemberRequest(
                load_balancer_id=created.id, pool_id=pool.id, member=pb.Member(address="10.5.0.11", port=8080)
            ),
            timeout=10,
        )
        assert expect(watcher, E.UPDATED, created) == with_member
        assert len(with_member.listeners[0].default_pool.members) == 2

        renamed = stub.UpdateLoadBalancer(
            pb.UpdateLoadBalancerRequest(id=created.id, name="renamed"), timeout=10
        )
        assert expect(watcher, E.UPDATED, created) == renamed

        stub.DeleteLoadBalancer(pb.DeleteLoadBalancerRequest(id=created.id), timeout=10)
        deleted = expect(watcher, E.DELETED, created)
        assert deleted == renamed, "DELETED carries the last state"

        # Changes to the snapshot's load balancers arrive too.
        stub.DeleteLoadBalancer(pb.DeleteLoadBalancerRequest(id=existing[0].id), timeout=10)
        expect(watcher, E.DELETED, existing[0])
    finally:
        watcher.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_failed_writes_send_nothing(server: Server, transport: str):
    stub = server.stub
    taken = stub.CreateLoadBalancer(create_request("net-1", "10.0.0.1"), timeout=10)
    watcher = Watcher(server, transport)
    try:
        assert [lb.id for lb in watcher.snapshot()] == [taken.id]
        with pytest.raises(grpc.RpcError) as info:  # VIP:port taken on the network
            stub.CreateLoadBalancer(create_request("net-1", "10.0.0.1"), timeout=10)
        assert info.value.code() == grpc.StatusCode.ALREADY_EXISTS
        with pytest.raises(grpc.RpcError) as info:
            stub.UpdateLoadBalancer(pb.UpdateLoadBalancerRequest(id=taken.id, name="x" * 300), timeout=10)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(grpc.RpcError):
            stub.DeleteLoadBalancer(pb.DeleteLoadBalancerRequest(id="lb-missing"), timeout=10)
        good = stub.CreateLoadBalancer(create_request("net-1", "10.0.0.2"), timeout=10)
        expect(watcher, E.CREATED, good)
    finally:
        watcher.close()


@pytest.mark.parametrize("transport", TRANSPORTS)
def test_filters(server: Server, transport: str):
    stub = server.stub
    a1 = stub.CreateLoadBalancer(create_request("net-a", "10.0.0.1", "proj-x"), timeout=10)
    stub.CreateLoadBalancer(create_request("net-b", "10.0.0.2", "proj-x"), timeout=10)
    c1 = stub.CreateLoadBalancer(create_request("net-a", "10.0.0.3", "proj-y"), timeout=10)

    by_network = Watcher(server, transport, pb.WatchLoadBalancersRequest(network_id="net-a"))
    by_project = Watcher(server, transport, pb.WatchLoadBalancersRequest(project_id="proj-y"))
    by_both = Watcher(
        server, transport, pb.WatchLoadBalancersRequest(project_id="proj-x", network_id="net-a")
    )
    try:
        assert [lb.id for lb in by_network.snapshot()] == [a1.id, c1.id]
        assert [lb.id for lb in by_project.snapshot()] == [c1.id]
        assert [lb.id for lb in by_both.snapshot()] == [a1.id]

        # Only the last of these matches each filter; it must be each stream's next event.
        stub.CreateLoadBalancer(create_request("net-b", "10.0.0.4", "proj-x"), timeout=10)
        stub.CreateLoadBalancer(create_request("net-z", "10.0.0.5", "proj-z"), timeout=10)
        y = stub.CreateLoadBalancer(create_request("net-c", "10.0.0.6", "proj-y"), timeout=10)
        xa = stub.CreateLoadBalancer(create_request("net-a", "10.0.0.7", "proj-x"), timeout=10)
        expect(by_project, E.CREATED, y)
        expect(by_network, E.CREATED, xa)
        expect(by_both, E.CREATED, xa)
        stub.DeleteLoadBalancer(pb.DeleteLoadBalancerRequest(id=c1.id), timeout=10)
        expect(by_network, E.DELETED, c1)
        expect(by_project, E.DELETED, c1)
    finally:
        for watcher in (by_network, by_project, by_both):
            watcher.close()


def test_every_watcher_sees_every_change(server: Server):
    watchers = [Watcher(server, t) for t in (*TRANSPORTS, *TRANSPORTS)]
    try:
        for watcher in watchers:
            assert watcher.snapshot() == []
        created = [
            server.stub.CreateLoadBalancer(create_request("net-1", f"10.0.1.{i}"), timeout=10)
            for i in (1, 2, 3)
        ]
        for watcher in watchers:
            for lb in created:
                expect(watcher, E.CREATED, lb)
    finally:
        for watcher in watchers:
            watcher.close()


def test_snapshot_larger_than_one_page(server: Server):
    """The snapshot is read in pages of 500; one more than a page must all arrive once, in order."""
    futures = [
        server.stub.CreateLoadBalancer.future(
            create_request("net-1", f"10.1.{i // 250}.{i % 250 + 1}"), timeout=30
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
