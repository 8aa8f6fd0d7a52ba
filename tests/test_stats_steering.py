"""The least-connections steering (pure) and the statistics aggregation."""

from __future__ import annotations

import itertools

import pytest
from msgspec import structs

from builders import m_lb, m_listener, m_member, m_pool
from quantix.lb.v1 import health_worker_pb2 as pb
from quantix_lb import model
from quantix_lb.convert import report_in
from quantix_lb.ovn import translate
from quantix_lb.stats.aggregate import STALE_AFTER, StatsAggregator
from quantix_lb.stats.steering import Load, SteeringController, repetitions, water_level


def test_water_level_fills_the_least_loaded_first() -> None:
    loads = [Load("a", 1, 20), Load("b", 1, 2), Load("c", 1, 0)]
    share = water_level(loads, 4)
    # 4 new connections: c takes 3, b 1 -> both at 3, far below a.
    assert share == pytest.approx({"a": 0.0, "b": 1.0, "c": 3.0})
    assert sum(water_level(loads, 100).values()) == pytest.approx(100)


def test_water_level_respects_weights() -> None:
    share = water_level([Load("a", 1, 0), Load("b", 3, 0)], 8)
    assert share == pytest.approx({"a": 2.0, "b": 6.0})  # equal load per weight afterwards


def test_equal_loads_give_plain_weighted_entries() -> None:
    assert repetitions([Load("a", 1, 5), Load("b", 1, 5), Load("c", 1, 5)], 0) == {"a": 1, "b": 1, "c": 1}
    assert repetitions([Load("a", 1, 0), Load("b", 2, 0)], 10) == {"a": 1, "b": 2}


def test_a_member_far_above_the_others_gets_no_entry() -> None:
    reps = repetitions([Load("busy", 1, 50), Load("b", 1, 0), Load("c", 1, 1)], 5)
    assert reps["busy"] == 0
    assert reps["b"] > reps["c"] > 0


def test_expected_arrivals_keep_the_spread_wide() -> None:
    # b is only slightly below the others: with many arrivals expected, everyone
    # still gets entries (no herding onto b between two samples).
    reps = repetitions([Load("a", 1, 10), Load("b", 1, 8), Load("c", 1, 10)], 30)
    assert all(v > 0 for v in reps.values())
    assert reps["b"] > reps["a"] == reps["c"]


def test_entries_stay_within_the_translation_cap() -> None:
    loads = [Load(f"m{i}", 1 + i % 3, i) for i in range(100)]
    reps = repetitions(loads, 1000)
    assert 0 < sum(reps.values()) <= translate.MAX_BACKEND_ENTRIES


def _lb(algorithm: model.Algorithm = model.Algorithm.LEAST_CONNECTIONS) -> model.LoadBalancer:
    """One TCP:80 listener (lis-1) on a pool of three members m0..m2 (10.0.0.10-12:8080)."""
    members = tuple(m_member(i, id=f"m{i}", address=f"10.0.0.{10 + i}") for i in range(3))
    return m_lb(
        m_listener(1),
        pools=(m_pool(1, *members, algorithm=algorithm),),
        id="lb",
        project_id="p",
        network_id="n",
        vip_address="10.0.0.100",
        created_at=0.0,
        updated_at=0.0,
    )


def report(active: dict[str, int], total: dict[str, int] | None = None) -> pb.StatsReport:
    backends = [
        pb.BackendStats(address=addr, port=8080, active=n, total=(total or {}).get(addr, n))
        for addr, n in active.items()
    ]
    fs = pb.FrontendStats(frontend=pb.Frontend(protocol="tcp", vip="10.0.0.100", port=80), backends=backends)
    return pb.StatsReport(available=True, frontends=[fs])


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def steered(lb: model.LoadBalancer) -> tuple[Clock, StatsAggregator, SteeringController, list]:
    """An aggregator and a steering controller over one load balancer; `applied`
    collects what the controller hands to the realizer."""
    clock = Clock()
    agg = StatsAggregator(clock)
    applied: list[tuple[str, object]] = []
    ctl = SteeringController(agg, lambda lb_id, s: applied.append((lb_id, s)))
    agg.subscribe(ctl.on_sample)
    agg.update([lb])
    ctl.update([lb])
    return clock, agg, ctl, applied


def test_aggregate_sums_nodes_and_maps_members() -> None:
    clock = Clock()
    agg = StatsAggregator(clock)
    lb = _lb()
    assert agg.update([lb])
    assert agg.frontends() == [("tcp", "10.0.0.100", 80)]
    assert agg.figures(lb).unavailable_reason == "no health worker reports data-path statistics"
    agg.report("n1", report_in(report({"10.0.0.10": 3, "10.0.0.11": 1})))
    agg.report("n2", report_in(report({"10.0.0.10": 2})))
    fig = agg.figures(lb)
    assert (fig.active, fig.total, fig.bytes_in) == (6, 6, None)  # no byte counters: unavailable
    assert [(m.member_id, m.active) for m in fig.listeners[0].members] == [("m0", 5), ("m1", 1), ("m2", 0)]
    # A node gone stale stops counting open connections, not what it counted.
    clock.now += STALE_AFTER + 1
    agg.report("n1", report_in(report({"10.0.0.10": 0, "10.0.0.11": 0}, {"10.0.0.10": 3, "10.0.0.11": 1})))
    fig = agg.figures(lb)
    assert (fig.active, fig.total) == (0, 6)


def test_aggregate_keeps_totals_across_a_worker_restart_and_measures_the_rate() -> None:
    clock = Clock()
    agg = StatsAggregator(clock)
    lb = _lb()
    agg.update([lb])
    agg.report("n1", report_in(report({"10.0.0.10": 0}, {"10.0.0.10": 10})))
    assert agg.figures(lb).requests_per_second is None  # one sample is no rate
    clock.now += 1
    agg.report("n1", report_in(report({"10.0.0.10": 0}, {"10.0.0.10": 30})))
    assert agg.figures(lb).requests_per_second == pytest.approx(20.0)
    clock.now += 1
    agg.report("n1", report_in(report({"10.0.0.10": 0}, {"10.0.0.10": 4})))  # the worker started over
    assert agg.figures(lb).total == 34


def test_steering_controller_applies_only_changes_and_withdraws_when_stale() -> None:
    clock, agg, ctl, applied = steered(_lb())
    assert applied == []  # no figures yet: plain weights
    agg.report("n1", report_in(report({"10.0.0.10": 20, "10.0.0.11": 0, "10.0.0.12": 0})))
    assert applied[-1] == ("lb", {"lis-1": {"m0": 0, "m1": 1, "m2": 1}})
    agg.report("n1", report_in(report({"10.0.0.10": 20, "10.0.0.11": 0, "10.0.0.12": 0})))
    assert len(applied) == 1  # same list: no new write
    clock.now += STALE_AFTER + 1
    ctl.check_fresh()
    assert applied[-1] == ("lb", None)
    # A ROUND_ROBIN pool is never steered.
    ctl.update([_lb(model.Algorithm.ROUND_ROBIN)])
    agg.report("n1", report_in(report({"10.0.0.10": 20})))
    assert applied[-1] == ("lb", None)


def test_a_pool_shared_by_two_listeners_is_steered_by_each_members_whole_load() -> None:
    """A member's load is every connection it holds, whichever listener (VIP:port) it came
    through: both listeners of one pool steer away from the members busy on either."""
    lb = _lb()
    lb = structs.replace(lb, listeners=(*lb.listeners, m_listener(2, port=8080)))
    _, agg, _, applied = steered(lb)
    both = report({"10.0.0.10": 20, "10.0.0.11": 0, "10.0.0.12": 0})
    other = report({"10.0.0.10": 0, "10.0.0.11": 0, "10.0.0.12": 20}).frontends[0]
    other.frontend.port = 8080
    both.frontends.append(other)
    agg.report("n1", report_in(both))
    only_m1 = {"m0": 0, "m1": 1, "m2": 0}
    assert applied[-1] == ("lb", {"lis-1": only_m1, "lis-2": only_m1})
    rows = translate.desired_rows(lb, applied[-1][1])
    assert [dict(r.vips) for r in rows] == [
        {"10.0.0.100:80": "10.0.0.11:8080"},
        {"10.0.0.100:8080": "10.0.0.11:8080"},
    ]
    # The figures stay per listener.
    fig = agg.figures(lb)
    assert [[m.active for m in li.members] for li in fig.listeners] == [[20, 0, 0], [0, 0, 20]]
    assert fig.active == 40


def test_translation_follows_steering_only_for_least_connections() -> None:
    lb = _lb()
    steer = {"lis-1": {"m0": 0, "m1": 2, "m2": 1}}
    (row,) = translate.desired_rows(lb, steer)
    assert dict(row.vips) == {"10.0.0.100:80": "10.0.0.11:8080,10.0.0.11:8080,10.0.0.12:8080"}
    (plain,) = translate.desired_rows(lb)
    assert dict(plain.vips)["10.0.0.100:80"].count(",") == 2
    (rr,) = translate.desired_rows(_lb(model.Algorithm.ROUND_ROBIN), steer)
    assert rr.vips == plain.vips
    # Steering never empties the list (no reject because of statistics).
    (never_empty,) = translate.desired_rows(lb, {"lis-1": {"m0": 0, "m1": 0, "m2": 0}})
    assert never_empty.vips == plain.vips
    assert list(itertools.chain(*never_empty.options)) == []


def test_bytes_in_from_flow_counters_when_conntrack_has_none() -> None:
    clock = Clock()
    agg = StatsAggregator(clock)
    lb = _lb()
    agg.update([lb])
    first = report({"10.0.0.10": 1})
    first.frontends[0].bytes_in = 1000
    agg.report("n1", report_in(first))
    fig = agg.figures(lb)
    assert (fig.bytes_in, fig.listeners[0].bytes_in, fig.bytes_out) == (1000, 1000, None)
    assert fig.listeners[0].members[0].bytes_in is None  # per member: not measured
    again = report({"10.0.0.10": 1})
    again.frontends[0].bytes_in = 300  # flows reinstalled: counting starts over
    agg.report("n1", report_in(again))
    assert agg.figures(lb).bytes_in == 1300


def test_balanced_loads_keep_the_weighted_list_and_small_moves_write_nothing() -> None:
    from quantix_lb.stats.steering import balanced, close_enough, growth

    assert balanced([Load("a", 1, 5), Load("b", 1, 6), Load("c", 1, 5)])
    assert not balanced([Load("a", 1, 5), Load("b", 1, 7)])
    assert balanced([Load("a", 1, 2), Load("b", 2, 5)])  # 2 vs 2.5 per unit of weight
    assert close_enough({"a": 10, "b": 11, "c": 10}, {"a": 11, "b": 10, "c": 10})
    assert not close_enough({"a": 10, "b": 11, "c": 10}, {"a": 0, "b": 11, "c": 10})  # a leaves
    assert not close_enough({"a": 1, "b": 1}, {"a": 1, "b": 2})  # a share moved by 17 points
    assert growth([20, 20, 21, 20, 23]) == pytest.approx(1.0)  # (0 + 1 + 0 + 3) / 4
    assert growth([7]) == 0.0


def test_controller_leaves_a_balanced_pool_alone() -> None:
    _, agg, _, applied = steered(_lb())
    agg.report("n1", report_in(report({"10.0.0.10": 4, "10.0.0.11": 5, "10.0.0.12": 4})))
    assert applied == []  # within one connection: plain weighted hashing, no NB write
    agg.report("n1", report_in(report({"10.0.0.10": 9, "10.0.0.11": 5, "10.0.0.12": 4})))
    # Out of balance: the least loaded gets the most entries. (5 connections arrived in one
    # sample, so 10 are expected and m0 keeps a small share.)
    ((lb_id, steering),) = applied
    assert lb_id == "lb" and steering["lis-1"]["m0"] < steering["lis-1"]["m1"] < steering["lis-1"]["m2"]


def test_adding_a_listener_keeps_the_figures_of_the_others_and_stale_rates_go_unset() -> None:
    clock = Clock()
    agg = StatsAggregator(clock)
    lb = _lb()
    agg.update([lb])
    agg.report("n1", report_in(report({"10.0.0.10": 2}, {"10.0.0.10": 50})))
    clock.now += 1
    agg.report("n1", report_in(report({"10.0.0.10": 2}, {"10.0.0.10": 60})))
    udp = m_listener(2, model.Protocol.UDP, 53)  # on the same pool
    grown = structs.replace(lb, listeners=(*lb.listeners, udp))
    assert agg.update([grown])  # a new frontend for the workers
    fig = agg.figures(grown)
    assert (fig.listeners[0].total, fig.listeners[0].requests_per_second) == (60, pytest.approx(10.0))
    clock.now += STALE_AFTER + 1  # the node stops reporting
    assert agg.figures(grown).unavailable_reason
    assert agg.requests_per_second(("tcp", "10.0.0.100", 80)) is None


def test_the_same_vip_port_on_two_networks_is_not_mixed_up() -> None:
    clock = Clock()
    agg = StatsAggregator(clock)
    mine, theirs = _lb(), structs.replace(_lb(), id="lb2", network_id="other")
    agg.update([mine, theirs])
    agg.report("n1", report_in(report({"10.0.0.10": 3})))
    fig = agg.figures(mine)
    assert "another network" in fig.unavailable_reason
    assert (fig.active, fig.listeners[0].active, fig.listeners[0].members[0].active) == (None, None, None)
    assert agg.member_active(mine, mine.listeners[0]) is None  # and no steering on it
    agg.update([], deleted=["lb2"])
    assert agg.figures(mine).active == 3


def test_a_restarted_worker_is_known_by_its_epoch_even_when_it_counted_past_the_old_total() -> None:
    clock = Clock()
    agg = StatsAggregator(clock)
    lb = _lb()
    agg.update([lb])
    before = report({"10.0.0.10": 1}, {"10.0.0.10": 5})
    before.epoch = 7
    agg.report("n1", report_in(before))
    after = report({"10.0.0.10": 1}, {"10.0.0.10": 9})  # a new process, already past 5
    after.epoch = 8
    agg.report("n1", report_in(after))
    assert agg.figures(lb).total == 14
    unreadable = pb.StatsReport(available=False, reason="gone")
    agg.report("n1", report_in(unreadable))  # no epoch: not a restart
    again = report({"10.0.0.10": 1}, {"10.0.0.10": 10})
    again.epoch = 8
    agg.report("n1", report_in(again))
    assert agg.figures(lb).total == 15
