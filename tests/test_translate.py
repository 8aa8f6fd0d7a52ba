"""The pure model -> OVN Northbound translation."""

import json
import subprocess
import sys
import uuid
import zlib

import pytest
from msgspec import structs

from builders import m_lb, m_listener, m_member, m_pool
from quantix_lb import documents, model
from quantix_lb.ovn import translate
from quantix_lb.ovn.desired import Desired, packed
from quantix_lb.ovn.reconcile import Inbox, Reconciler
from quantix_lb.ovn.translate import LbRow, Network


def member(address: str, port: int = 8080, **fields) -> model.Member:
    return m_member(id=f"mem-{address}-{port}", address=address, port=port, **fields)


def make_lb(
    members, *, vip="10.0.0.100", protocol=model.Protocol.TCP, port=80, **pool_fields
) -> model.LoadBalancer:
    """One listener on one pool of `members`."""
    pool = m_pool(1, *members, **pool_fields)
    return m_lb(
        m_listener(1, protocol, port), pools=(pool,), project_id="proj", network_id="net", vip_address=vip
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
    assert row.external_ids == tuple(sorted(row.external_ids))  # a map's order, as `holds` reads it
    other = only_row(make_lb([member("10.0.0.12")], vip="10.0.0.101"))
    shared = {pair for pair in row.external_ids if any(pair is p for p in other.external_ids)}
    assert {k for k, _ in shared} == {translate.OWNER_KEY, translate.PROJECT_ID_KEY, translate.NETWORK_ID_KEY}


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
        (model.Algorithm.WEIGHTED_ROUND_ROBIN, ()),
        (model.Algorithm.LEAST_CONNECTIONS, ()),
        (model.Algorithm.SOURCE_IP, ("ip_src",)),
        (model.Algorithm.SOURCE_IP_PORT, ("ip_dst", "ip_src", "tp_dst", "tp_src")),
    ],
)
def test_algorithms(algorithm, fields):
    for vip, addr in (("10.0.0.100", "10.0.0.10"), ("fd00::100", "fd00::10")):
        row = only_row(make_lb([member(addr)], vip=vip, algorithm=algorithm))
        assert row.selection_fields == fields


def test_weighted_round_robin_is_round_robin():
    """Every algorithm honours weights: WEIGHTED_ROUND_ROBIN gives the rows ROUND_ROBIN gives."""
    members = [member("10.0.0.10", weight=2), member("10.0.0.11", weight=6), member("10.0.0.12", weight=0)]
    weighted = only_row(make_lb(members, algorithm=model.Algorithm.WEIGHTED_ROUND_ROBIN))
    plain = only_row(make_lb(members, algorithm=model.Algorithm.ROUND_ROBIN))
    assert weighted == plain
    assert dict(weighted.vips)["10.0.0.100:80"].split(",").count("10.0.0.11:8080") == 3


def test_source_ip_port_hashes_the_whole_connection():
    row = only_row(make_lb([member("10.0.0.10")], algorithm=model.Algorithm.SOURCE_IP_PORT))
    assert row.selection_fields == ("ip_dst", "ip_src", "tp_dst", "tp_src")
    assert row.options == (), "no affinity without persistence"
    sp = model.SessionPersistence(model.PersistenceType.SOURCE_IP, 30)
    sticky = only_row(
        make_lb([member("10.0.0.10")], algorithm=model.Algorithm.SOURCE_IP_PORT, session_persistence=sp)
    )
    assert sticky.selection_fields == ("ip_dst", "ip_src", "tp_dst", "tp_src")
    assert dict(sticky.options) == {"affinity_timeout": "30"}


def test_a_pool_shared_by_two_listeners_gives_two_rows_with_the_same_backends():
    pool = m_pool(
        1,
        member("10.0.0.10", weight=1),
        member("10.0.0.11", weight=2),
        member("10.0.0.12", drain=True),
        algorithm=model.Algorithm.SOURCE_IP,
    )
    lb = m_lb(
        m_listener(1, model.Protocol.TCP, 80),
        m_listener(2, model.Protocol.HTTPS, 443),
        pools=(pool,),
        vip_address="10.0.0.100",
    )
    rows = translate.desired_rows(lb)
    assert [r.listener_id for r in rows] == ["lis-1", "lis-2"]
    assert [r.name for r in rows] == ["qlb-lis-1", "qlb-lis-2"]
    backends = "10.0.0.10:8080,10.0.0.11:8080,10.0.0.11:8080"
    assert [dict(r.vips) for r in rows] == [
        {"10.0.0.100:80": backends},
        {"10.0.0.100:443": backends},
    ]
    assert {r.selection_fields for r in rows} == {("ip_src",)}
    assert {r.protocol for r in rows} == {"tcp"}


def test_source_ip_persistence_sets_affinity_timeout():
    sp = model.SessionPersistence(model.PersistenceType.SOURCE_IP, 120)
    row = only_row(make_lb([member("10.0.0.10")], session_persistence=sp))
    assert dict(row.options) == {"affinity_timeout": "120"}
    none = model.SessionPersistence(model.PersistenceType.NONE)
    assert only_row(make_lb([member("10.0.0.10")], session_persistence=none)).options == ()


def test_only_members_that_may_take_new_connections_are_listed():
    members = [
        member("10.0.0.10"),
        member("10.0.0.11", admin_state_up=False),
        member("10.0.0.12", drain=True),
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

    lb = structs.replace(
        make_lb([member("10.0.0.10")]), provisioning_status=model.ProvisioningStatus.PENDING_DELETE
    )
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


def test_null_bytes_make_a_load_balancer_unstorable() -> None:
    assert translate.unstorable(m_lb(m_listener())) == ""
    poisoned = structs.replace(m_lb(m_listener()), network_id="net\x00x")
    assert (
        translate.unstorable(poisoned)
        == "OVN Northbound refuses null bytes in strings: network_id 'net\\x00x'"
    )


class _Committer:
    """Refuses every transaction that holds a command of a plan named in `bad`."""

    def __init__(self, bad: set[str]) -> None:
        self.bad = bad
        self.transactions: list[list[str]] = []

    def commit(self, idl: object, commands: list[str]) -> tuple[str, str]:
        self.transactions.append(commands)
        if self.bad & set(commands):
            return "error", "constraint violation"
        return "ok", ""


@pytest.mark.parametrize("bad", [set(), {"lb-3"}, {"lb-0", "lb-7"}, {f"lb-{i}" for i in range(8)}])
def test_a_refused_batch_is_halved_until_the_bad_plans_stand_alone(bad: set[str]) -> None:
    reconciler = Reconciler(Inbox(), create_networks=False)
    committer = reconciler.committer = _Committer(bad)  # type: ignore[assignment]
    plans = [(f"lb-{i}", [f"lb-{i}"], None) for i in range(8)]
    outcomes = list(reconciler._commit_isolating(None, plans))  # type: ignore[arg-type]
    refused = {key for status, _, group in outcomes if status == "error" for key, _, _ in group}
    committed = {key for status, _, group in outcomes if status == "ok" for key, _, _ in group}
    assert refused == bad
    assert committed == {key for key, _, _ in plans} - bad
    # Each bad plan costs about log2(8) extra transactions, not one per plan.
    assert len(committer.transactions) <= 1 + 2 * 3 * max(1, len(bad))


# --- what the reconciler keeps between plans (ovn.desired) ---------------------------------


def test_desired_keeps_a_document_undecoded_until_loaded_and_packs_it_losslessly():
    lb = make_lb([member(f"10.0.0.{i}") for i in range(10, 20)])
    doc = documents.encode(lb)
    kept = Desired.of_document(doc)
    assert (kept.id, kept.revision, kept.network_id) == (lb.id, lb.revision, "net")
    assert not kept.packed
    assert kept.load() == lb
    kept.pack()
    kept.pack()  # idempotent
    assert kept.packed
    assert kept.load() == lb
    assert len(kept._doc) < len(doc) / 2  # the point of packing

    init = Desired.of_packed(packed(doc))  # as an Init brings it: compressed by the parent
    assert (init.id, init.revision, init.network_id, init.packed) == (lb.id, lb.revision, "net", True)
    assert init.load() == lb

    record = Desired(lb)
    assert record.load() is lb  # a record offered in-process is not copied until packed
    record.pack()
    assert record.load() == lb


def test_desired_upgrades_an_older_document_once():
    lb = make_lb([member("10.0.0.10")])
    old = json.loads(documents.encode(lb))
    # Version 1: a listener held its pool inline, a member had one admin_state.
    pool = old.pop("pools")[0]
    for m in pool["members"]:
        m["admin_state"] = "ONLINE" if m.pop("admin_state_up") else "OFFLINE"
        m.pop("drain")
    old["listeners"][0]["default_pool"] = pool
    del old["listeners"][0]["default_pool_id"], old["v"]
    older = json.dumps(old).encode()
    for kept in Desired.of_document(older), Desired.of_packed(packed(older)):
        assert (kept.id, kept.revision) == (lb.id, lb.revision)
        assert kept.load() == documents.load(json.dumps(old))


def test_the_initial_state_waits_for_the_full_pass_and_changes_go_first():
    """A restart's whole desired state is compared by the first full pass, slices at a
    time beside the changes: a create then does not queue behind 10,000 comparisons.
    And nothing may be removed before that state is taken (it arrives with the flag)."""
    stored = [structs.replace(make_lb([member("10.0.0.10")]), id=f"lb-{i}") for i in range(5)]
    created = structs.replace(make_lb([member("10.0.0.11")]), id="lb-new")
    inbox = Inbox()
    reconciler = Reconciler(inbox, create_networks=False)
    reconciler._take(*inbox.take())
    assert not reconciler._desired_known  # no initial state yet: no pass may delete
    inbox.post_initial(Desired(lb) for lb in stored)
    inbox.post([(created.id, Desired(created))])
    assert len(inbox) == 6
    reconciler._take(*inbox.take())
    assert reconciler._desired_known
    assert set(reconciler._desired) == {lb.id for lb in stored} | {created.id}
    assert reconciler._dirty == {created.id}
    assert len(inbox) == 0


def test_wants_keep_a_mark_per_load_balancer_not_its_translation():
    """Rows are verified against a Mark: the same object while the revision and the
    steering stay (so a full pass finds them settled by identity), a new one otherwise;
    the translation itself is made afresh and not kept."""
    from quantix_lb.ovn.reconcile import Wants

    lb = make_lb([member("10.0.0.10"), member("10.0.0.11")])
    wants = Wants()
    first = wants.of(None, lb, None)  # the IDL is read only to build datums
    again = wants.of(None, lb, None)
    assert again.mark is first.mark and again.rows == first.rows and again.rows is not first.rows
    mark = first.mark
    assert (mark.revision, mark.deleting, mark.rows) == (lb.revision, False, len(first.rows))
    assert wants.mark(lb.id) is first.mark
    steering = {lb.listeners[0].id: {lb.pools[0].members[0].id: 2}}
    assert wants.of(None, lb, steering).mark is not first.mark
    newer = structs.replace(lb, revision=lb.revision + 1)
    assert wants.of(None, newer, None).mark.revision == newer.revision
    deleting = structs.replace(newer, provisioning_status=model.ProvisioningStatus.PENDING_DELETE)
    gone = wants.of(None, deleting, None)
    assert gone.deleting and gone.rows == {} and gone.mark.rows == 0
    wants.drop(lb.id)
    assert wants.mark(lb.id) is None
    assert vars(wants).keys() == {"_marks", "_shared"}


def test_packed_documents_use_one_fixed_dictionary_and_come_back_whole():
    """The Init's documents are compressed in serve and read in the realizer: both must
    build the same preset dictionary (no random ids or times in it)."""
    from quantix_lb.ovn import desired

    assert desired._dictionary() == desired._ZDICT
    lb = make_lb([member(f"10.0.0.{i}") for i in range(10, 20)])
    doc = documents.encode(lb)
    kept = Desired.of_packed(packed(doc))
    assert kept.load() == lb
    assert len(kept._doc) < len(zlib.compress(doc, 1)) * 0.8


def test_packed_documents_leave_no_holes_in_the_heap():
    """Each packed document is copied to its own size: zstd returns its worst-case buffer
    (~3.6 KB at 2 listeners x 10 members) shrunk in place, and keeping 10,000 of those
    left ~32 MB of tails no later buffer fits. Measured in a fresh interpreter."""
    script = """
import sys
from msgspec import structs
sys.path.insert(0, "tests")
from test_translate import make_lb, member
from quantix_lb import documents
from quantix_lb.ovn.desired import packed

def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096

base = make_lb([member(f"10.0.{i}.{j}") for i in range(2) for j in range(5)])
docs = [documents.encode(structs.replace(base, id=f"lb-{n:08d}", name=f"n{n}")) for n in range(10_000)]
before = rss()
kept = [packed(doc) for doc in docs]
print((rss() - before) / len(kept))
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    per_document = float(out.stdout)
    assert per_document < 1500, f"{per_document:.0f} bytes of RSS per packed document"
