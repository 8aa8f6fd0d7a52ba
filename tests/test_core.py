"""The service core in process: rules, tenancy, paging, watch and realization.

A real store in a tmp dir and `FakeRealizer` (which realizes at once, or holds
its outcomes back when a test asks): no subprocess, no OVN, no protobuf; each
test runs in milliseconds. The rules themselves are tested as the pure
functions they are, on domain objects.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from msgspec.structs import replace

from limiquantix.network.v1 import network_service_pb2 as svc
from quantix_lb import documents, model, rules
from quantix_lb.auth import Principal
from quantix_lb.convert import LoadBalancerApi
from quantix_lb.errors import ApiError, Code
from quantix_lb.ovn.contract import FakeRealizer, Realized, Topology
from quantix_lb.ovn.translate import Network
from quantix_lb.realization import Realization, view_key
from quantix_lb.rules import Draft, MemberChange, PoolChange
from quantix_lb.service import Event, EventKind, Listed, LoadBalancerCore
from quantix_lb.stats.aggregate import NodeReport, ReportedBackend, ReportedFrontend, StatsAggregator
from quantix_lb.stats.publish import StatsPublisher
from quantix_lb.store import Change, ChangeKind, Store
from quantix_lb.watch import StatsChange, WatchHub

T = TypeVar("T")
NOW = 1700000000.0
DEADLINE = 10.0
ADMIN = Principal(project_id=None, role="admin")
ALICE = Principal(project_id="proj-a")
BOB = Principal(project_id="proj-b")
Status = model.ProvisioningStatus


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, DEADLINE))


# --- domain objects -----------------------------------------------------------------


def member(i: int = 1, **fields: Any) -> model.Member:
    return model.Member(**{"id": f"mem-{i}", "address": f"10.0.0.{i}", "port": 8080, **fields})


def pool(i: int = 1, *members: model.Member, **fields: Any) -> model.Pool:
    return model.Pool(id=f"pool-{i}", members=members, **fields)


def listener(i: int = 1, port: int = 80, pool_ref: str = "pool-1", **fields: Any) -> model.Listener:
    fields.setdefault("protocol", model.Protocol.TCP)
    return model.Listener(id=f"lis-{i}", port=port, default_pool_id=pool_ref, **fields)


def lb(*listeners: model.Listener, pools: tuple[model.Pool, ...], **fields: Any) -> model.LoadBalancer:
    base: dict[str, Any] = {
        "id": "lb-1",
        "project_id": "proj-a",
        "network_id": "net-1",
        "vip_address": "192.168.1.100",
        "created_at": NOW,
        "updated_at": NOW,
    }
    return model.LoadBalancer(**{**base, **fields}, listeners=listeners, pools=pools)


def draft(
    *,
    project_id: str = "proj-a",
    network_id: str = "",
    vip_address: str = "192.168.1.100",
    port: int = 80,
    pool_ref: str = "",
    **fields: Any,
) -> Draft:
    """A create request as convert.create_in gives it: one TCP listener on one pool of two members."""
    li = listener(port=port, pool_ref=pool_ref)
    p = pool(1, member(10), member(11))
    base: dict[str, Any] = {
        "name": "web",
        "description": "",
        "project_id": project_id,
        "labels": (),
        "network_id": network_id or f"net-{uuid.uuid4().hex[:8]}",
        "subnet_id": "",
        "vip_address": vip_address,
        "listeners": (li,),
        "pools": (p,),
        "where": {
            "network_id": "spec.network_id",
            "vip_address": "spec.vip_address",
            "listeners": "spec.listeners",
            li.id: "spec.listeners[0]",
            p.id: "spec.pools[0]",
        },
    }
    return Draft(**{**base, **fields})


def network(network_id: str, subnet: str, subnet_id: str = "sub-1") -> Network:
    return Network(network_id, uuid.uuid4(), f"ls-{network_id}", subnet=subnet, subnet_id=subnet_id)


def raises(code: Code, fn: Any, *args: Any, **kwargs: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        fn(*args, **kwargs)
    assert info.value.code is code, info.value.message
    return info.value


async def raises_async(code: Code, coro: Coroutine[Any, Any, Any]) -> ApiError:
    with pytest.raises(ApiError) as info:
        await coro
    assert info.value.code is code, info.value.message
    return info.value


# --- the core, wired as the control plane wires it ------------------------------------------


class Rig:
    """Store + FakeRealizer + Realization + LoadBalancerCore, as server.ControlPlane wires them."""

    def __init__(self, store: Store, wait: float) -> None:
        self.store = store
        self.watchers = WatchHub()
        self.realizer = FakeRealizer()
        self.realization = Realization(store, self.watchers, wait=wait)
        self.core = LoadBalancerCore(store, self.watchers, self.realizer, self.realization, clock=lambda: NOW)
        self.held: list[Realized] = []
        store.subscribe(self.realization.publish)
        store.subscribe(self._feed)
        self.realizer.on_realized = self.realization.apply

    def _feed(self, changes: list[Change]) -> None:
        self.realizer.forget(c.load_balancer.id for c in changes if c.kind is ChangeKind.DELETED)
        self.realizer.offer(c.load_balancer for c in changes if c.kind is not ChangeKind.DELETED)

    def hold_back(self) -> None:
        """OVN is slow: outcomes wait in `held` until `release`."""
        self.realizer.on_realized = self.held.extend

    def release(self, count: int | None = None) -> None:
        outcomes = self.held[:count] if count is not None else self.held
        self.held = self.held[len(outcomes) :]
        self.realizer.on_realized = self.realization.apply
        self.realization.apply(outcomes)


@pytest.fixture
def open_store(tmp_path: Path) -> Iterator[Store]:
    store = Store(tmp_path / "quantix-lb.db")
    store.open()
    yield store
    store.close()


@pytest.fixture
def rig(open_store: Store) -> Rig:
    return Rig(open_store, wait=DEADLINE)


@pytest.fixture
def slow_rig(open_store: Store) -> Rig:
    """A rig whose writes answer after 50 ms without OVN."""
    return Rig(open_store, wait=0.05)


def statuses(lb: model.LoadBalancer) -> set[Status]:
    found = {lb.provisioning_status}
    found |= {li.provisioning_status for li in lb.listeners}
    found |= {p.provisioning_status for p in lb.pools}
    found |= {m.provisioning_status for p in lb.pools for m in p.members}
    return found


# --- realization -------------------------------------------------------------------------


def test_create_answers_active_once_the_realizer_holds_it(rig: Rig):
    async def main() -> None:
        created = await rig.core.create(draft(), ALICE)
        assert statuses(created) == {Status.ACTIVE}
        assert created.operating_status is model.OperatingStatus.ONLINE
        assert rig.realizer.desired[created.id].revision == created.revision
        # The store keeps the desired state; what OVN holds is known in memory only.
        stored = rig.store.get(created.id)
        assert stored is not None and stored.provisioning_status is Status.PENDING_CREATE
        assert rig.core.get(created.id, ALICE) == created

    run(main())


def test_an_error_from_the_realizer_shows_as_error_with_its_reason(rig: Rig):
    async def main() -> None:
        created = await rig.core.create(draft(), ALICE)
        rig.realizer.errors[created.id] = "Logical_Switch vanished"
        renamed = await rig.core.update(created.id, ALICE, name="renamed")
        assert renamed.name == "renamed" and renamed.revision == created.revision + 1
        assert statuses(renamed) == {Status.ERROR}
        assert renamed.operating_status is model.OperatingStatus.ERROR
        assert renamed.status_reason == "Logical_Switch vanished"
        assert rig.core.get(created.id, ALICE).status_reason == "Logical_Switch vanished"
        del rig.realizer.errors[created.id]
        again = await rig.core.update(created.id, ALICE, name="again")
        assert again.provisioning_status is Status.ACTIVE and again.status_reason == ""

    run(main())


def test_a_finished_delete_leaves_the_store(rig: Rig):
    async def main() -> None:
        created = await rig.core.create(draft(), ALICE)
        await rig.core.delete(created.id, ALICE)
        assert rig.store.get(created.id) is None
        assert created.id not in rig.realizer.desired
        await raises_async(Code.NOT_FOUND, rig.core.delete(created.id, ALICE))
        raises(Code.NOT_FOUND, rig.core.get, created.id, ALICE)

    run(main())


def test_answers_are_pending_when_the_realizer_holds_back(slow_rig: Rig):
    rig = slow_rig

    async def main() -> None:
        rig.hold_back()
        created = await rig.core.create(draft(), ALICE)
        assert statuses(created) == {Status.PENDING_CREATE}
        rig.release()
        assert rig.core.get(created.id, ALICE).provisioning_status is Status.ACTIVE

        rig.hold_back()
        renamed = await rig.core.update(created.id, ALICE, name="renamed")
        assert renamed.provisioning_status is Status.PENDING_UPDATE
        await rig.core.delete(created.id, ALICE)
        assert rig.core.get(created.id, ALICE).provisioning_status is Status.PENDING_DELETE
        # Being deleted: no more changes.
        await raises_async(Code.FAILED_PRECONDITION, rig.core.update(created.id, ALICE, name="late"))
        # The rename's outcome is older than the stored revision: still pending.
        rig.release(1)
        assert rig.core.get(created.id, ALICE).provisioning_status is Status.PENDING_DELETE
        rig.release()  # the delete finishes in a background store write
        await rig.realization.drain()
        assert rig.store.get(created.id) is None

    run(main())


def test_a_waiting_answer_wakes_when_the_outcome_arrives(rig: Rig):
    async def main() -> None:
        async def release_once_held() -> None:
            while not rig.held:
                await asyncio.sleep(0.001)
            rig.release()

        rig.hold_back()
        releasing = asyncio.ensure_future(release_once_held())
        started = time.monotonic()
        created = await rig.core.create(draft(), ALICE)
        await releasing
        assert created.provisioning_status is Status.ACTIVE
        assert time.monotonic() - started < DEADLINE / 2  # woken, not timed out

    run(main())


def test_watchers_see_changes_as_clients_do(rig: Rig):
    async def main() -> None:
        first = await rig.core.create(draft(), ALICE)
        await rig.core.create(draft(project_id="proj-b"), ADMIN)
        events = rig.core.watch("", "", False, ALICE)
        try:
            existing = await anext(events)
            assert (existing.kind, existing.load_balancer) == (EventKind.EXISTING, first)
            assert (await anext(events)).kind is EventKind.SNAPSHOT_COMPLETE
            await rig.core.create(draft(project_id="proj-b"), ADMIN)  # not Alice's
            second = await rig.core.create(draft(), ALICE)
            created, realized = await anext(events), await anext(events)
            assert created.kind is EventKind.CREATED and created.load_balancer is not None
            assert created.load_balancer.provisioning_status is Status.PENDING_CREATE
            assert (realized.kind, realized.load_balancer) == (EventKind.UPDATED, second)
            await rig.core.delete(second.id, ALICE)
            kinds = [await _next_kind(events) for _ in range(2)]
            assert kinds == [EventKind.UPDATED, EventKind.DELETED]  # PENDING_DELETE, then gone
        finally:
            await events.aclose()
        assert len(rig.watchers) == 0

    run(main())


async def _next_kind(events: AsyncIterator[Event]) -> EventKind:
    return (await anext(events)).kind


# --- tenancy and paging ------------------------------------------------------------------


def test_another_projects_load_balancer_is_not_found(rig: Rig):
    async def main() -> None:
        mine = await rig.core.create(draft(project_id=""), ALICE)
        assert mine.project_id == "proj-a"  # a token's own project by default
        raises(Code.NOT_FOUND, rig.core.get, mine.id, BOB)
        raises(Code.NOT_FOUND, rig.core.stats, mine.id, BOB)
        await raises_async(Code.NOT_FOUND, rig.core.update(mine.id, BOB, name="x"))
        await raises_async(Code.NOT_FOUND, rig.core.add_member(mine.id, "pool-1", member(20), BOB))
        await raises_async(Code.NOT_FOUND, rig.core.delete(mine.id, BOB))
        await raises_async(Code.PERMISSION_DENIED, rig.core.create(draft(), BOB))
        raises(Code.PERMISSION_DENIED, rig.core.list, "proj-a", "", 0, "", BOB)
        assert rig.core.list("", "", 0, "", BOB).total_count == 0
        assert [x.id for x in rig.core.list("", "", 0, "", ALICE).load_balancers] == [mine.id]
        assert rig.core.get(mine.id, ADMIN).id == mine.id
        assert rig.core.get(mine.id, ALICE).provisioning_status is Status.ACTIVE

    run(main())


def test_listing_pages_through_in_creation_order(rig: Rig):
    async def main() -> None:
        made = [
            (await rig.core.create(draft(network_id="net-p", vip_address=f"192.168.1.{i}"), ALICE)).id
            for i in range(1, 6)
        ]
        await rig.core.create(draft(network_id="net-q"), ALICE)
        seen, token, pages = [], "", 0
        while True:
            page = rig.core.list("", "net-p", 2, token, ALICE)
            assert page.total_count == 5
            assert all(x.view().provisioning_status is Status.ACTIVE for x in page.load_balancers)
            seen += [x.id for x in page.load_balancers]
            pages += 1
            token = page.next_page_token
            if not token:
                break
        assert (seen, pages) == (made, 3)
        second = rig.core.list("", "net-p", 2, "", ALICE).next_page_token
        bad = raises(Code.INVALID_ARGUMENT, rig.core.list, "", "net-q", 2, second, ALICE)
        assert bad.violations[0].field == "page_token"
        raises(Code.INVALID_ARGUMENT, rig.core.list, "", "", 2, "not-a-token", ALICE)
        raises(Code.INVALID_ARGUMENT, rig.core.list, "", "", -1, "", ALICE)
        assert rig.core.list("", "", 0, "", ALICE).total_count == 6

    run(main())


# --- rules run inside the store's writes --------------------------------------------------


def test_a_vip_port_is_claimed_once_per_network(rig: Rig):
    async def main() -> None:
        first = await rig.core.create(draft(network_id="net-1"), ALICE)
        clash = await raises_async(Code.ALREADY_EXISTS, rig.core.create(draft(network_id="net-1"), ALICE))
        assert clash.message.startswith("spec.listeners[0]: 192.168.1.100 port 80/tcp")
        await rig.core.create(draft(network_id="net-2"), ALICE)  # another network: fine
        other = await rig.core.create(draft(network_id="net-1", port=81), ALICE)
        moved = rig.core.update_listener(other.id, "lis-1", ALICE, port=80)
        assert (await raises_async(Code.ALREADY_EXISTS, moved)).message.startswith("port: ")
        added = rig.core.add_listener(first.id, listener(2, port=81), None, ALICE)
        assert (await raises_async(Code.ALREADY_EXISTS, added)).message.startswith("listener: ")
        # A failed rule wrote nothing.
        assert rig.core.get(first.id, ALICE).revision == first.revision

    run(main())


def test_changes_apply_to_what_clients_see(rig: Rig):
    async def main() -> None:
        created = await rig.core.create(draft(), ALICE)
        lb_id = created.id
        after = await rig.core.add_pool(lb_id, pool(2, member(30)), ALICE)
        after = await rig.core.add_listener(lb_id, listener(2, port=443, pool_ref="pool-2"), None, ALICE)
        after = await rig.core.update_pool(lb_id, "pool-2", PoolChange(name="tls"), ALICE)
        after = await rig.core.add_member(lb_id, "pool-2", member(31), ALICE)
        after = await rig.core.update_member(lb_id, "pool-2", "mem-31", MemberChange(weight=5), ALICE)
        assert after.pool("pool-2").member("mem-31").weight == 5
        assert after.revision == created.revision + 5 and after.provisioning_status is Status.ACTIVE
        await raises_async(Code.FAILED_PRECONDITION, rig.core.remove_pool(lb_id, "pool-2", ALICE))
        after = await rig.core.remove_member(lb_id, "pool-2", "mem-31", ALICE)
        after = await rig.core.remove_listener(lb_id, "lis-2", ALICE)
        after = await rig.core.remove_pool(lb_id, "pool-2", ALICE)
        assert [p.id for p in after.pools] == ["pool-1"] and [li.id for li in after.listeners] == ["lis-1"]
        assert rig.realizer.desired[lb_id].revision == after.revision

    run(main())


def test_a_requests_own_mistakes_come_before_whether_its_target_exists(rig: Rig):
    async def main() -> None:
        await raises_async(Code.INVALID_ARGUMENT, rig.core.update("lb-missing", ALICE, name="x" * 300))
        change = PoolChange(name="x" * 300)
        await raises_async(Code.INVALID_ARGUMENT, rig.core.update_pool("lb-missing", "p", change, ALICE))
        weight = MemberChange(weight=-1)
        await raises_async(
            Code.INVALID_ARGUMENT, rig.core.update_member("lb-missing", "p", "m", weight, ALICE)
        )
        await raises_async(Code.NOT_FOUND, rig.core.update("lb-missing", ALICE, name="fine"))

    run(main())


def test_vips_are_allocated_from_the_subnet_the_northbound_names(rig: Rig):
    rig.realizer.topology = Topology({"net-s": network("net-s", "10.1.0.0/30")}, synced=True)

    async def main() -> None:
        vips = [(await rig.core.create(draft(network_id="net-s", vip_address=""), ALICE)) for _ in range(2)]
        assert [x.vip_address for x in vips] == ["10.1.0.1", "10.1.0.2"]
        assert {x.subnet_id for x in vips} == {"sub-1"}
        full = await raises_async(
            Code.RESOURCE_EXHAUSTED, rig.core.create(draft(network_id="net-s", vip_address=""), ALICE)
        )
        assert full.message == "spec.vip_address: no free address left in 10.1.0.0/30 of network 'net-s'"

    run(main())


# --- statistics for watchers ---------------------------------------------------------


def test_stats_are_published_to_watchers_only_when_they_change(rig: Rig):
    stats = StatsAggregator(clock=lambda: 100.0)  # one instant: no request rate to change
    vip = draft().vip_address
    publisher = StatsPublisher(stats, rig.watchers, rig.realization.get)
    stats.subscribe(publisher.touched)

    def report(active: int) -> None:
        backend = ReportedBackend("10.0.0.10", 8080, active=active, total=7)
        stats.report("node-1", NodeReport(True, frontends=(ReportedFrontend(("tcp", vip, 80), (backend,)),)))

    async def main() -> None:
        created = await rig.core.create(draft(), ALICE)
        stats.update([created])
        report(1)  # nobody watches statistics: nothing kept
        publisher.publish()
        sub = rig.watchers.subscribe(include_stats=True)
        for active in (3, 3, 4):  # the repeated sample is no news
            report(active)
            publisher.publish()
        got = []
        while len(got) < 2:
            change = await anext(sub.changes())
            assert isinstance(change, StatsChange)
            got.append(change)
        assert [c.figures.active for c in got] == [3, 4]
        assert got[0].load_balancer.provisioning_status is Status.ACTIVE  # as clients see it
        await sub.aclose()

    run(main())


# --- the rules, pure ------------------------------------------------------------------


def test_new_load_balancer_resolves_pools_by_id_alias_name_or_the_only_one():
    topology = Topology(synced=True)
    new = rules.new_load_balancer(draft(), "proj-a", topology, NOW, create_networks=True)
    made = new.load_balancer
    assert (made.listeners[0].default_pool_id, made.project_id, made.created_at) == ("pool-1", "proj-a", NOW)
    assert made.id.startswith("lb-") and made.provisioning_status is Status.PENDING_CREATE
    assert new.vip_from is None
    two = (pool(1, member(10), name="web"), pool(2, member(11), name="api"))
    where = {**draft().where, "pool-2": "spec.pools[1]"}
    for ref, aliases in (("api", {}), ("pool-2", {}), ("mine", {"mine": "pool-2"})):
        named = draft(pool_ref=ref, pools=two, where=where, aliases=aliases)
        made = rules.new_load_balancer(named, "p", topology, NOW, create_networks=True).load_balancer
        assert made.listeners[0].default_pool_id == "pool-2", ref
    ambiguous = draft(pools=two, where=where)
    raises(
        Code.INVALID_ARGUMENT, rules.new_load_balancer, ambiguous, "p", topology, NOW, create_networks=True
    )
    missing = raises(
        Code.INVALID_ARGUMENT,
        rules.new_load_balancer,
        draft(pool_ref="nope"),
        "p",
        topology,
        NOW,
        create_networks=True,
    )
    assert missing.violations[0].field == "spec.listeners[0].default_pool_id"


def test_new_load_balancer_tells_the_requests_mistakes_before_an_unknown_network():
    external = Topology(synced=True)  # an external NB that knows no network
    bad_name = draft(name="x" * 300)
    raises(
        Code.INVALID_ARGUMENT, rules.new_load_balancer, bad_name, "p", external, NOW, create_networks=False
    )
    unknown = raises(
        Code.NOT_FOUND, rules.new_load_balancer, draft(), "p", external, NOW, create_networks=False
    )
    assert unknown.message.startswith("spec.network_id: network ")
    raises(Code.UNAVAILABLE, rules.new_load_balancer, draft(), "p", Topology(), NOW, create_networks=False)


def test_new_load_balancer_checks_the_vip_against_the_named_subnet():
    topology = Topology({"net-s": network("net-s", "10.1.0.0/24")}, synced=True)
    outside = raises(
        Code.INVALID_ARGUMENT,
        rules.new_load_balancer,
        draft(network_id="net-s", vip_address="10.2.0.5"),
        "p",
        topology,
        NOW,
        create_networks=False,
    )
    assert outside.violations[0].field == "spec.vip_address"
    allocated = rules.new_load_balancer(
        draft(network_id="net-s", vip_address=""), "p", topology, NOW, create_networks=False
    )
    assert allocated.vip_from is not None and allocated.load_balancer.subnet_id == "sub-1"
    assert rules.allocate_vip(allocated, {"10.1.0.1"}).vip_address == "10.1.0.2"


def test_add_listener_with_its_pool_inline():
    base = lb(listener(), pools=(pool(1, member(1)),))
    new = rules.add_listener(base, listener(2, port=443, pool_ref="pool-2"), pool(2, member(2)))
    assert [li.default_pool_id for li in new.listeners] == ["pool-1", "pool-2"]
    assert base.revision == new.revision  # the core counts revisions, not the rule
    clash = raises(Code.INVALID_ARGUMENT, rules.add_listener, base, listener(2, port=80), None)
    assert clash.violations[0].field == "listener.port"
    two = rules.add_pool(base, pool(2))
    raises(Code.INVALID_ARGUMENT, rules.add_listener, two, listener(2, port=81, pool_ref=""), None)


def test_update_listener_keeps_what_it_is_not_given():
    base = lb(listener(name="web"), pools=(pool(1), pool(2, protocol=model.Protocol.UDP)))
    moved = rules.update_listener(base, "lis-1", port=8080)
    assert (moved.listeners[0].port, moved.listeners[0].name) == (8080, "web")
    udp = raises(Code.INVALID_ARGUMENT, rules.update_listener, base, "lis-1", default_pool_id="pool-2")
    assert udp.violations[0].field == "default_pool_id"
    raises(Code.NOT_FOUND, rules.update_listener, base, "lis-9", name="x")
    assert rules.remove_listener(base, "lis-1").listeners == ()


def test_a_pool_in_use_cannot_be_removed():
    base = lb(listener(name="web"), pools=(pool(1), pool(2)))
    used = raises(Code.FAILED_PRECONDITION, rules.remove_pool, base, "pool-1")
    assert used.message == ("pool 'pool-1' serves listener web: point it at another pool or remove it first")
    assert [p.id for p in rules.remove_pool(base, "pool-2").pools] == ["pool-1"]
    raises(Code.NOT_FOUND, rules.remove_pool, base, "pool-9")


def test_update_pool_changes_only_what_it_names():
    monitor = model.HealthMonitor(id="hm-1", type=model.MonitorType.TCP, delay=5, timeout=3)
    base = lb(listener(), pools=(pool(1, health_monitor=monitor, name="web"),))
    renamed = rules.update_pool(base, "pool-1", PoolChange(algorithm=model.Algorithm.SOURCE_IP))
    assert (renamed.pools[0].name, renamed.pools[0].health_monitor) == ("web", monitor)
    unmonitored = rules.update_pool(base, "pool-1", PoolChange(remove_health_monitor=True))
    assert unmonitored.pools[0].health_monitor is None
    raises(Code.INVALID_ARGUMENT, rules.update_pool, base, "pool-1", PoolChange(name="x" * 300))


def test_members_are_unique_by_address_and_port():
    base = lb(listener(), pools=(pool(1, member(1)),))
    dup = raises(Code.ALREADY_EXISTS, rules.add_member, base, "pool-1", member(2, address="10.0.0.1"))
    assert dup.message == "member: 10.0.0.1 port 8080 is already member mem-1 of pool pool-1"
    v6 = raises(Code.INVALID_ARGUMENT, rules.add_member, base, "pool-1", member(2, address="fd00::2"))
    assert v6.violations[0].field == "member.address"
    grown = rules.add_member(base, "pool-1", member(2))
    drained = rules.update_member(grown, "pool-1", "mem-2", MemberChange(drain=True))
    assert drained.pool("pool-1").member("mem-2") == replace(member(2), drain=True)
    raises(Code.INVALID_ARGUMENT, rules.update_member, grown, "pool-1", "mem-2", MemberChange(weight=257))
    assert rules.remove_member(grown, "pool-1", "mem-1").pool("pool-1").members == (member(2),)
    raises(Code.NOT_FOUND, rules.remove_member, grown, "pool-1", "mem-9")


def test_update_load_balancer_leaves_none_as_it_is():
    base = lb(listener(), pools=(pool(1),), name="web", labels=(("tier", "front"),))
    new = rules.update_load_balancer(base, description="the front door")
    assert (new.name, new.labels, new.description) == ("web", (("tier", "front"),), "the front door")
    assert rules.update_load_balancer(base, labels=()).labels == ()
    bad = raises(Code.INVALID_ARGUMENT, rules.update_load_balancer, base, labels=(("", "x"),))
    assert bad.violations[0].field == "labels"


@pytest.mark.parametrize(
    ("stored", "reason", "held"),
    [
        (Status.PENDING_CREATE, "", None),  # OVN holds nothing yet
        (Status.PENDING_UPDATE, "", (3, "")),  # it holds this revision
        (Status.PENDING_UPDATE, "", (3, "network 'n' is not known")),  # refused it
        (Status.PENDING_UPDATE, "", (2, "")),  # an older revision
        (Status.PENDING_DELETE, "", (3, "")),  # a delete stays pending until it is gone
        (Status.ERROR, "an old reason", None),
    ],
)
def test_a_listed_load_balancers_key_is_its_views_read_from_the_head_alone(
    open_store: Store, stored: Status, reason: str, held: tuple[int, str] | None
):
    """Lists read each document's head for its view's key (answers of that key are kept
    encoded): the key must be the one its decoded view has."""
    realization = Realization(open_store, WatchHub())
    lb = replace(
        rules.new_load_balancer(draft(), "proj-a", Topology(), NOW, create_networks=True).load_balancer,
        revision=3,
        provisioning_status=stored,
        status_reason=reason,
    )
    if held is not None:
        realization.apply([Realized(lb.id, held[0], held[1])])
    listed = Listed(documents.encode(lb), realization)
    assert listed.id == lb.id
    assert listed.key == view_key(realization.view(lb))
    assert listed.view() == realization.view(lb)


def test_a_list_finds_kept_answers_without_decoding_the_documents(rig: Rig):
    async def main() -> None:
        created = await rig.core.create(draft(), ALICE)
        api = LoadBalancerApi(rig.core)
        first = await api.list_load_balancers(svc.ListLoadBalancersRequest(), ALICE)

        class Undecodable(Listed):
            def view(self) -> model.LoadBalancer:
                raise AssertionError("decoded although its answer is kept")

        [(_, doc)], _ = rig.store.list_documents(project_id="", network_id="", after=0, limit=10)
        entry = Undecodable(doc, rig.realization)
        again = svc.ListLoadBalancersResponse(total_count=1)
        again.load_balancers.add().MergeFromString(api._answers.listed(entry))
        assert again == first
        assert first.load_balancers[0].id == created.id

    run(main())
