# ruff: noqa: E501 - captured flow lines are kept whole
"""OpenFlow client-to-VIP counters: the parser and its summing rule, the unixctl reader,
the collector's use of them, and one known transfer through a real data path.

REAL holds lines of `bridge/dump-flows br-int` captured from the test bed (OVN 23.03, OVS 3.1
netdev datapath): LBs on the switch (metadata 0x1) and its router (0x2); tcp 10.0.0.100:7000
and [fd00::100]:7000 (100,000 bytes each from the client, 3,000 from backend 10.0.0.11 to its
own VIP), udp 10.0.0.100:53 (5 datagrams), tcp 10.0.0.102:7000 with affinity_timeout (several
connections) and tcp 10.0.0.101:81 with no backend (reject=true, one refused SYN).
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_stats_conntrack import FakeVswitchd

from conftest import needs_ovn
from quantix.lb.v1 import health_worker_pb2 as pb
from quantix_lb.stats.collector import StatsCollector
from quantix_lb.stats.conntrack import Frontend, OvsUnavailable
from quantix_lb.stats.openflow import FlowCounters, read_flows, vip_counters
from quantix_lb.testing import ovn_testbed

REAL = """\
duration=60s, n_packets=205, n_bytes=235582, priority=100,in_port=1,actions=set_field:0x4->reg13,set_field:0x5->reg11,set_field:0x3->reg12,set_field:0x1->metadata,set_field:0x2->reg14,resubmit(,8)
table_id=13, duration=58s, n_packets=0, n_bytes=0, priority=100,ip,metadata=0x2,nw_dst=10.0.0.100,actions=ct(table=14,zone=NXM_NX_REG11[0..15],nat)
table_id=13, duration=58s, n_packets=0, n_bytes=0, priority=100,ipv6,metadata=0x2,ipv6_dst=fd00::100,actions=ct(table=14,zone=NXM_NX_REG11[0..15],nat)
table_id=14, duration=58s, n_packets=74, n_bytes=106372, priority=120,tcp6,reg0=0x4/0x4,metadata=0x1,ipv6_dst=fd00::100,tp_dst=7000,actions=set_field:0xfd000000000000000000000000000100->xxreg1,set_field:0x1b5800000000/0xffff00000000->xxreg0,ct(table=15,zone=NXM_NX_REG13[0..15],nat)
table_id=14, duration=58s, n_packets=5, n_bytes=710, priority=120,udp,reg0=0x4/0x4,metadata=0x1,nw_dst=10.0.0.100,tp_dst=53,actions=set_field:0xa0000640000000000000000/0xffffffff0000000000000000->xxreg0,set_field:0x3500000000/0xffff00000000->xxreg0,ct(table=15,zone=NXM_NX_REG13[0..15],nat)
table_id=14, duration=58s, n_packets=80, n_bytes=108296, priority=120,tcp,reg0=0x4/0x4,metadata=0x1,nw_dst=10.0.0.100,tp_dst=7000,actions=set_field:0xa0000640000000000000000/0xffffffff0000000000000000->xxreg0,set_field:0x1b5800000000/0xffff00000000->xxreg0,ct(table=15,zone=NXM_NX_REG13[0..15],nat)
table_id=14, duration=25s, n_packets=39, n_bytes=22662, priority=120,tcp,reg0=0x4/0x4,metadata=0x1,nw_dst=10.0.0.102,tp_dst=7000,actions=set_field:0xa0000660000000000000000/0xffffffff0000000000000000->xxreg0,set_field:0x1b5800000000/0xffff00000000->xxreg0,ct(table=15,zone=NXM_NX_REG13[0..15],nat)
table_id=14, duration=25s, n_packets=1, n_bytes=74, priority=120,tcp,reg0=0x4/0x4,metadata=0x1,nw_dst=10.0.0.101,tp_dst=81,actions=set_field:0xa0000650000000000000000/0xffffffff0000000000000000->xxreg0,set_field:0x5100000000/0xffff00000000->xxreg0,ct(table=15,zone=NXM_NX_REG13[0..15],nat)
table_id=14, duration=25s, n_packets=0, n_bytes=0, priority=100,ct_state=+new-rel+trk,tcp,metadata=0x2,nw_dst=10.0.0.102,tp_dst=7000,actions=move:NXM_OF_IP_DST[]->NXM_NX_XXREG0[96..127],move:NXM_OF_TCP_DST[]->OXM_OF_PKT_REG4[16..31],set_field:0/0x4000->reg10,resubmit(,78),move:NXM_NX_REG10[14]->OXM_OF_PKT_REG4[6],resubmit(,15)
table_id=14, duration=58s, n_packets=58, n_bytes=3796, priority=110,ip,reg0=0x4/0x4,metadata=0x1,actions=ct(table=15,zone=NXM_NX_REG13[0..15],nat)
table_id=14, duration=58s, n_packets=0, n_bytes=0, priority=110,ip,reg0=0x4/0x4,metadata=0x3,actions=ct(table=15,zone=NXM_NX_REG13[0..15],nat)
table_id=15, duration=58s, n_packets=0, n_bytes=0, priority=120,ct_state=+new-rel+trk,tcp6,metadata=0x2,ipv6_dst=fd00::100,tp_dst=7000,actions=group:3
table_id=15, duration=58s, n_packets=0, n_bytes=0, priority=120,ct_state=+new-rel+trk,tcp,metadata=0x2,nw_dst=10.0.0.100,tp_dst=7000,actions=group:5
table_id=15, duration=58s, n_packets=0, n_bytes=0, priority=120,ct_state=+new-rel+trk,udp,metadata=0x2,nw_dst=10.0.0.100,tp_dst=53,actions=group:6
table_id=15, duration=25s, n_packets=0, n_bytes=0, priority=120,ct_state=+new-rel+trk,tcp,metadata=0x2,nw_dst=10.0.0.101,tp_dst=81,actions=set_field:0/0xffffffff000000000000000000000000->xxreg0,controller(userdata=00.00.00.16.00.00.00.00.ff.ff.00.18.00.00.23.20.00.1b.00.00.00.01.1c.04.00.20.00.00.00.00.00.00.ff.ff.00.18.00.00.23.20.00.1b.00.00.00.01.1e.04.00.20.00.00.00.00.00.00.ff.ff.00.18.00.00.23.20.00.1c.00.00.00.01.1c.04.00.20.00.00.00.00.00.00.ff.ff.00.18.00.00.23.20.00.1c.00.00.00.01.1e.04.00.20.00.00.00.00.00.00.ff.ff.00.10.00.00.23.20.00.0e.ff.f8.2d.00.00.00)
table_id=15, duration=25s, n_packets=0, n_bytes=0, priority=120,ct_state=+new-rel+trk,tcp,metadata=0x2,nw_dst=10.0.0.102,tp_dst=7000,actions=group:7
table_id=15, duration=25s, n_packets=0, n_bytes=0, priority=150,ct_state=+new+trk,ip,reg4=0xa00000c,reg8=0x1b58/0xffff,reg9=0x40/0x40,metadata=0x2,actions=set_field:0xa000066000000000000000000000000/0xffffffff000000000000000000000000->xxreg0,group:9
table_id=16, duration=25s, n_packets=0, n_bytes=0, priority=100,ct_state=+new+trk,tcp,reg0=0xa000066,reg9=0x1b580000/0xffff0040,metadata=0x2,nw_dst=10.0.0.11,tp_dst=7000,actions=learn(table=78,idle_timeout=60,delete_learned,OXM_OF_METADATA[],eth_type=0x800,NXM_OF_IP_SRC[],ip_dst=10.0.0.102,nw_proto=6,tcp_dst=7000,load:0x1->NXM_NX_REG10[14],load:0xa00000b->NXM_NX_REG4[],load:0x1b58->NXM_NX_REG8[0..15])
table_id=19, duration=25s, n_packets=11, n_bytes=814, priority=100,ct_state=+new+trk,ip,reg1=0xa000066,reg2=0x1b58/0xffff,metadata=0x1,actions=set_field:0/0x4000->reg10,resubmit(,78),move:NXM_NX_REG10[14]->OXM_OF_PKT_REG4[6],resubmit(,20)
table_id=20, duration=58s, n_packets=2, n_bytes=148, priority=120,ct_state=+new+trk,tcp,metadata=0x1,nw_dst=10.0.0.100,tp_dst=7000,actions=set_field:0/0x2000000000000000000000000->xxreg0,group:1
table_id=20, duration=58s, n_packets=1, n_bytes=142, priority=120,ct_state=+new+trk,udp,metadata=0x1,nw_dst=10.0.0.100,tp_dst=53,actions=set_field:0/0x2000000000000000000000000->xxreg0,group:2
table_id=20, duration=25s, n_packets=1, n_bytes=74, priority=120,ct_state=+new+trk,tcp,metadata=0x1,nw_dst=10.0.0.101,tp_dst=81,actions=set_field:0/0xffffffff000000000000000000000000->xxreg0,controller(userdata=00.00.00.16.00.00.00.00.ff.ff.00.18.00.00.23.20.00.1b.00.00.00.01.1c.04.00.20.00.00.00.00.00.00.ff.ff.00.18.00.00.23.20.00.1b.00.00.00.01.1e.04.00.20.00.00.00.00.00.00.ff.ff.00.18.00.00.23.20.00.1c.00.00.00.01.1c.04.00.20.00.00.00.00.00.00.ff.ff.00.18.00.00.23.20.00.1c.00.00.00.01.1e.04.00.20.00.00.00.00.00.00.ff.ff.00.10.00.00.23.20.00.0e.ff.f8.2f.00.00.00)
table_id=20, duration=25s, n_packets=1, n_bytes=74, priority=120,ct_state=+new+trk,tcp,metadata=0x1,nw_dst=10.0.0.102,tp_dst=7000,actions=set_field:0/0x2000000000000000000000000->xxreg0,group:10
table_id=20, duration=58s, n_packets=1, n_bytes=94, priority=120,ct_state=+new+trk,tcp6,metadata=0x1,ipv6_dst=fd00::100,tp_dst=7000,actions=set_field:0/0x2000000000000000000000000->xxreg0,group:4
table_id=21, duration=25s, n_packets=7, n_bytes=518, priority=100,ct_state=+new+trk,tcp,reg1=0xa000066,reg2=0x1b58/0xffff,reg9=0/0x40,metadata=0x1,nw_dst=10.0.0.11,tp_dst=7000,actions=learn(table=78,idle_timeout=60,delete_learned,OXM_OF_METADATA[],eth_type=0x800,NXM_OF_IP_SRC[],ip_dst=10.0.0.102,nw_proto=6,tcp_dst=7000,load:0x1->NXM_NX_REG10[14],load:0xa00000b->NXM_NX_REG4[],load:0x1b58->NXM_NX_REG8[0..15])
table_id=68, duration=58s, n_packets=7, n_bytes=3470, priority=100,ct_mark=0x2/0x2,tcp,reg1=0xa000064,reg2=0x1b58/0xffff,nw_src=10.0.0.11,nw_dst=10.0.0.11,tp_dst=7000,actions=set_field:0x80/0x80->reg10,learn(table=69,delete_learned,cookie=0xf522d90c,OXM_OF_METADATA[],eth_type=0x800,NXM_OF_IP_SRC[],ip_dst=10.0.0.100,nw_proto=6,NXM_OF_TCP_SRC[]=NXM_OF_TCP_DST[],load:0x1->NXM_NX_REG10[7])
table_id=68, duration=58s, n_packets=0, n_bytes=0, priority=100,ct_mark=0x2/0x2,tcp6,reg2=0x1b58/0xffff,reg4=0xfd000000,reg5=0,reg6=0,reg7=0x100,ipv6_src=fd00::11,ipv6_dst=fd00::11,tp_dst=7000,actions=set_field:0x80/0x80->reg10,learn(table=69,delete_learned,cookie=0x3de3b6ec,OXM_OF_METADATA[],eth_type=0x86dd,NXM_NX_IPV6_SRC[],ipv6_dst=fd00::100,nw_proto=6,NXM_OF_TCP_SRC[]=NXM_OF_TCP_DST[],load:0x1->NXM_NX_REG10[7])
table_id=69, duration=14s, n_packets=5, n_bytes=338, tcp,metadata=0x1,nw_src=10.0.0.11,nw_dst=10.0.0.100,tp_src=7000,actions=load:0x1->NXM_NX_REG10[7]
table_id=70, duration=58s, n_packets=1, n_bytes=74, priority=100,tcp,reg1=0xa000064,reg2=0x1b58/0xffff,actions=ct(commit,zone=NXM_NX_REG12[0..15],nat(src=10.0.0.100))
table_id=70, duration=58s, n_packets=0, n_bytes=0, priority=100,udp,reg1=0xa000064,reg2=0x35/0xffff,actions=ct(commit,zone=NXM_NX_REG12[0..15],nat(src=10.0.0.100))
table_id=70, duration=25s, n_packets=0, n_bytes=0, priority=100,tcp,reg1=0xa000065,reg2=0x51/0xffff,actions=ct(commit,zone=NXM_NX_REG12[0..15],nat(src=10.0.0.101))
table_id=70, duration=25s, n_packets=0, n_bytes=0, priority=100,tcp,reg1=0xa000066,reg2=0x1b58/0xffff,actions=ct(commit,zone=NXM_NX_REG12[0..15],nat(src=10.0.0.102))
table_id=70, duration=58s, n_packets=0, n_bytes=0, priority=100,tcp6,reg2=0x1b58/0xffff,reg4=0xfd000000,reg5=0,reg6=0,reg7=0x100,actions=ct(commit,zone=NXM_NX_REG12[0..15],nat(src=fd00::100))
table_id=78, duration=25s, n_packets=4, n_bytes=296, tcp,metadata=0x1,nw_src=10.0.0.2,nw_dst=10.0.0.102,tp_dst=7000,actions=load:0x1->NXM_NX_REG10[14],load:0xa00000b->NXM_NX_REG4[],load:0x1b58->NXM_NX_REG8[0..15]
"""

V4 = Frontend("tcp", "10.0.0.100", 7000)
V6 = Frontend("tcp", "fd00::100", 7000)
UDP = Frontend("udp", "10.0.0.100", 53)
AFFINITY = Frontend("tcp", "10.0.0.102", 7000)
REJECT = Frontend("tcp", "10.0.0.101", 81)
ALL = [V4, V6, UDP, AFFINITY, REJECT]

# (bytes, packets): the switch's pre-stateful flows (table 14), one per VIP:port.
EXPECTED = {
    V4: (108296, 80),
    V6: (106372, 74),
    UDP: (710, 5),
    AFFINITY: (22662, 39),
    REJECT: (74, 1),
}


def lines_to(vip: str, port: int) -> list[str]:
    """REAL's lines with traffic that match destination vip and port."""
    dst = re.compile(rf"(?:nw_dst|ipv6_dst)={re.escape(vip)},(?:[^ ]*,)?tp_dst={port},")
    return [ln for ln in REAL.splitlines() if dst.search(ln) and "n_packets=0," not in ln]


def counters(line: str) -> tuple[int, int]:
    m = re.search(r"n_packets=(\d+), n_bytes=(\d+)", line)
    assert m is not None
    return int(m[2]), int(m[1])


# ------------------------------------------------------------------------------------ parser


def test_counts_each_vip_port_by_its_pre_conntrack_flow() -> None:
    assert vip_counters(REAL, ALL) == EXPECTED


def test_flows_that_see_first_packets_only_are_left_out() -> None:
    # Other flows of the same VIP:port counted packets too: the ct.new stages of the switch
    # (table 20) and, for affinity, the learned flow (table 78, no priority= as it has the
    # default one). Summing every flow that matches the VIP:port would count those twice.
    tables = {vip: sorted(ln.split(",")[0] for ln in lines_to(vip, port)) for vip, port in (
        ("10.0.0.100", 7000), ("10.0.0.102", 7000), ("fd00::100", 7000),
    )}  # fmt: skip
    assert tables == {
        "10.0.0.100": ["table_id=14", "table_id=20"],
        "10.0.0.102": ["table_id=14", "table_id=20", "table_id=78"],
        "fd00::100": ["table_id=14", "table_id=20"],
    }
    naive = sum(counters(ln)[0] for ln in lines_to("10.0.0.100", 7000))
    assert naive == EXPECTED[V4][0] + 148  # two SYNs (74 bytes each) again
    # The hairpin flows (table 68: the backend as destination; table 70: SNAT after DNAT,
    # matching registers) and the router's per-VIP defragmentation flow (no port) neither.
    hairpin = [ln for ln in REAL.splitlines() if ln.startswith(("table_id=68,", "table_id=70,"))]
    assert any(counters(ln)[1] for ln in hairpin)


def test_the_same_vip_port_on_two_switches_is_summed() -> None:
    # Clients on this node on two switches that both have the LB: a packet passes the
    # pre-stateful stage of its own switch only, so the flows add up.
    line = next(ln for ln in lines_to("10.0.0.100", 7000) if ln.startswith("table_id=14,"))
    other = line.replace("metadata=0x1", "metadata=0x4").replace(
        "n_packets=80, n_bytes=108296", "n_packets=3, n_bytes=200"
    )
    assert other != line
    assert vip_counters(REAL + other + "\n", [V4]) == {V4: (108496, 83)}


def test_routed_clients_are_not_counted() -> None:
    # Measured with a client on another subnet behind the router (20 UDP datagrams of 500
    # bytes to the VIP): only the router's per-VIP defragmentation flow (every port and
    # protocol) and its ct.new flow moved. REAL with those deltas added:
    routed = REAL.replace(
        "n_packets=0, n_bytes=0, priority=100,ip,metadata=0x2,nw_dst=10.0.0.100,",
        "n_packets=20, n_bytes=10840, priority=100,ip,metadata=0x2,nw_dst=10.0.0.100,",
    ).replace(
        "n_packets=0, n_bytes=0, priority=120,ct_state=+new-rel+trk,udp,metadata=0x2,nw_dst=10.0.0.100,",
        "n_packets=1, n_bytes=542, priority=120,ct_state=+new-rel+trk,udp,metadata=0x2,nw_dst=10.0.0.100,",
    )
    assert routed.count("n_bytes=10840") == routed.count("n_bytes=542") == 1
    assert vip_counters(routed, ALL) == EXPECTED


def test_frontends_without_a_flow_on_this_node_are_absent() -> None:
    others = [
        Frontend("tcp", "10.0.0.100", 53),  # the UDP VIP:port, another protocol
        Frontend("udp", "10.0.0.100", 7000),
        Frontend("sctp", "10.0.0.100", 7000),
        Frontend("tcp", "10.0.0.200", 7000),
        Frontend("tcp", "10.0.0.100", 8080),  # a backend port (hairpin flows match it)
    ]
    assert vip_counters(REAL, others) == {}
    assert vip_counters(REAL, []) == {}
    assert vip_counters("", ALL) == {}


def test_ipv6_addresses_compare_canonically() -> None:
    spelled = Frontend("tcp", "FD00:0:0::0100", 7000)
    assert spelled == V6
    longhand = REAL.replace("ipv6_dst=fd00::100,", "ipv6_dst=fd00:0:0:0:0:0:0:100,")
    assert longhand != REAL
    assert vip_counters(longhand, [spelled]) == {V6: EXPECTED[V6]}


def test_skips_what_it_cannot_read() -> None:
    line = next(ln for ln in lines_to("10.0.0.100", 7000) if ln.startswith("table_id=14,"))
    junk = [
        "",
        "garbage ct(",
        "\x00\xff" * 20,
        line[:100],  # cut short
        line.replace("n_packets=80", "n_packets=x"),
        line.replace("nw_dst=10.0.0.100", "nw_dst=10.0.0.0/24"),  # a subnet, not the VIP
        line.replace("tp_dst=7000", "tp_dst=0x1b58/0xfff8"),  # a port range
        line.replace("priority=120,", "priority=120,ct_state=+est+trk,"),  # after conntrack
        line.replace(",tcp,", ",ct_mark=0x2/0x2,tcp,"),
        line.replace("ct(table=15", "resubmit(,15").replace("ct(", "x("),  # not balancing
    ]
    text = "\n".join([*junk, line, *junk])
    assert vip_counters(text, [V4]) == {V4: EXPECTED[V4]}
    assert vip_counters(line, [V4]) == {V4: EXPECTED[V4]}  # no newline at the end
    # Table 0's lines have no table_id=; a later OVS may add fields after the counters' head.
    assert vip_counters(line.replace("table_id=14, ", ""), [V4]) == {V4: EXPECTED[V4]}


def test_ten_thousand_lines() -> None:
    # REAL's lines of VIP 10.0.0.100 (11: the LB's tcp and udp flows, hairpin, router), for
    # 910 VIPs: a bridge of 10,000 lines, one pre-stateful flow per frontend.
    template = [ln for ln in REAL.splitlines() if "10.0.0.100" in ln or "0xa000064" in ln]
    assert len(template) == 11
    lines, frontends = [], []
    for i in range(910):
        vip = f"172.16.{i // 250}.{i % 250 + 1}"
        reg = f"reg1={int.from_bytes(bytes(map(int, vip.split('.')))):#x}"
        lines += [ln.replace("10.0.0.100", vip).replace("reg1=0xa000064", reg) for ln in template]
        frontends += [Frontend("tcp", vip, 7000), Frontend("udp", vip, 53)]
    text = "\n".join(lines[:10_000]) + "\n"
    started = time.perf_counter()
    found = vip_counters(text, frontends)
    took = time.perf_counter() - started
    assert len(found) == 2 * 909  # of the 910th VIP, only its first line is in
    assert set(found.values()) == {EXPECTED[V4], EXPECTED[UDP]}
    assert took < 2.0, f"{took * 1000:.0f} ms"  # ~10-20 ms measured; a loose bound


# ------------------------------------------------------------------------------------ reader


@pytest.fixture
def rundir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="qlbof") as d:  # short: unix socket paths
        yield Path(d)


def test_reader_asks_vswitchd_for_the_bridge_flows(rundir: Path) -> None:
    with pytest.raises(OvsUnavailable, match=r"ovs-vswitchd\.pid"):
        read_flows(rundir)
    answers: dict[tuple[str, ...], tuple[str, str] | None] = {
        ("bridge/dump-flows", "br-int"): ("result", REAL),
        ("bridge/dump-flows", "br-nope"): ("error", "br-nope: unknown bridge\n"),
        ("bridge/dump-flows", "br-stuck"): None,  # never answers
    }
    fake = FakeVswitchd(rundir, answers)
    try:
        assert read_flows(rundir) == REAL
        assert read_flows(str(rundir), bridge="br-int") == REAL
        assert fake.calls == [("bridge/dump-flows", "br-int")] * 2
        with pytest.raises(OvsUnavailable, match="unknown bridge"):
            read_flows(rundir, bridge="br-nope")
        started = time.monotonic()
        with pytest.raises(OvsUnavailable, match="timed out"):
            read_flows(rundir, bridge="br-stuck", timeout=0.3)
        assert time.monotonic() - started < 3.0
    finally:
        fake.close()


def test_flow_counters_dump_again_only_when_due(rundir: Path) -> None:
    answers: dict[tuple[str, ...], tuple[str, str] | None] = {
        ("bridge/dump-flows", "br-int"): ("result", REAL),
    }
    fake = FakeVswitchd(rundir, answers)
    # clock() once per sample, and once more after a dump (its duration).
    ticks = iter([100.0, 100.5, 101.0, 104.9, 105.0, 105.1, 105.5, 107.0, 107.1, 107.2, 107.4])
    flows = FlowCounters(rundir, max_duty=0.1, clock=lambda: next(ticks))
    frontends = frozenset(ALL)
    try:
        first = flows.sample(frontends)  # took 0.5 s: not again before 100 + 0.5 / 0.1
        assert first == EXPECTED and len(fake.calls) == 1
        assert flows.sample(frontends) is first  # at 101: the same dump, already summed
        assert flows.sample([V4]) == {V4: EXPECTED[V4]}  # at 104.9: other frontends
        assert len(fake.calls) == 1
        assert flows.sample(frontends) == EXPECTED  # at 105: due; took 0.1 s
        assert len(fake.calls) == 2
        assert flows.sample(frontends) == EXPECTED  # at 105.5, before 106
        assert len(fake.calls) == 2
        answers[("bridge/dump-flows", "br-int")] = ("error", "br-int: unknown bridge\n")
        with pytest.raises(OvsUnavailable):
            flows.sample(frontends)  # at 107: due, fails
        answers[("bridge/dump-flows", "br-int")] = ("result", REAL)
        assert flows.sample(frontends) == EXPECTED  # at 107.2: a failure is retried at once
        assert len(fake.calls) == 4
    finally:
        fake.close()
    with pytest.raises(ValueError):
        FlowCounters(rundir, max_duty=0)


# ---------------------------------------------------------------------------------- collector

# `dpctl/dump-conntrack` from the same test bed: one connection to 10.0.0.100:7000, closed.
CONNTRACK = """\
tcp,orig=(src=10.0.0.2,dst=10.0.0.12,sport=46596,dport=7000),reply=(src=10.0.0.12,dst=10.0.0.2,sport=7000,dport=46596),zone=7,protoinfo=(state=TIME_WAIT)
tcp,orig=(src=10.0.0.2,dst=10.0.0.100,sport=46596,dport=7000),reply=(src=10.0.0.12,dst=10.0.0.2,sport=7000,dport=46596),zone=4,mark=2,protoinfo=(state=TIME_WAIT)
"""


def by_frontend(report: pb.StatsReport) -> dict[tuple[str, str, int], pb.FrontendStats]:
    return {(f.frontend.protocol, f.frontend.vip, f.frontend.port): f for f in report.frontends}


def test_collector_reports_client_bytes_per_frontend(rundir: Path) -> None:
    answers: dict[tuple[str, ...], tuple[str, str] | None] = {
        ("dpctl/dump-dps",): ("result", "netdev@ovs-netdev\n"),
        ("dpctl/dump-conntrack", "netdev@ovs-netdev"): ("result", CONNTRACK),
        ("bridge/dump-flows", "br-int"): ("result", REAL),
    }
    fake = FakeVswitchd(rundir, answers)
    wanted = [
        pb.Frontend(protocol="tcp", vip="10.0.0.100", port=7000),
        pb.Frontend(protocol="udp", vip="10.0.0.100", port=53),
        pb.Frontend(protocol="tcp", vip="10.0.0.100", port=8443),  # no flow, no connection
    ]

    def sample() -> dict[tuple[str, str, int], pb.FrontendStats]:
        collector = StatsCollector(str(rundir))  # a fresh one: its own first dump
        collector.set_frontends(wanted)
        report = collector.sample()
        assert report.available
        return by_frontend(report)

    try:
        got = sample()
        assert set(got) == {("tcp", "10.0.0.100", 7000), ("udp", "10.0.0.100", 53)}
        tcp, udp = got["tcp", "10.0.0.100", 7000], got["udp", "10.0.0.100", 53]
        assert (tcp.bytes_in, tcp.packets_in) == EXPECTED[V4]
        assert [(b.address, b.port, b.active, b.total) for b in tcp.backends] == [("10.0.0.12", 7000, 0, 1)]
        # Client traffic but no conntrack entry (e.g. older than the tracking): reported.
        assert (udp.bytes_in, udp.packets_in, len(udp.backends)) == (*EXPECTED[UDP], 0)

        # A flow that counted nothing, with no connection either: absent means zero.
        answers["bridge/dump-flows", "br-int"] = (
            "result",
            REAL.replace("n_packets=5, n_bytes=710", "n_packets=0, n_bytes=0"),
        )
        assert set(sample()) == {("tcp", "10.0.0.100", 7000)}

        # Flows unreadable: the connections are still reported, the counters left unset.
        answers["bridge/dump-flows", "br-int"] = ("error", "br-int: unknown bridge\n")
        got = sample()
        assert set(got) == {("tcp", "10.0.0.100", 7000)}
        tcp = got["tcp", "10.0.0.100", 7000]
        assert not tcp.HasField("bytes_in") and not tcp.HasField("packets_in")
        assert [(b.address, b.total) for b in tcp.backends] == [("10.0.0.12", 1)]
    finally:
        fake.close()


# ------------------------------------------------------------------------- real data path


NET = "net-flows"
VIP = "10.0.0.100"
SINK_PORT = 7000
PAYLOAD = 1_000_000
DATAGRAMS = 6

# Runs in each backend's namespace: reads and discards what each connection sends, closes
# it at the client's end of data.
_SINK = r"""
import socket, sys, threading
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(sys.argv[1])))
srv.listen(16)
def drain(conn):
    with conn:
        while conn.recv(65536):
            pass
while True:
    threading.Thread(target=drain, args=(srv.accept()[0],), daemon=True).start()
"""

# Runs in the client's namespace: one connection, `size` bytes, then a clean close; prints
# what the kernel says it sent (struct tcp_info: segs_out, bytes_sent with retransmissions).
_SENDER = r"""
import json, socket, struct, sys
host, port, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
sock = socket.create_connection((host, port), timeout=30)
sock.sendall(b"q" * size)
sock.shutdown(socket.SHUT_WR)
while sock.recv(4096):
    pass
info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
print(json.dumps({
    "sport": sock.getsockname()[1],
    "mss": struct.unpack_from("I", info, 16)[0],
    "segs_out": struct.unpack_from("I", info, 136)[0],
    "bytes_sent": struct.unpack_from("Q", info, 200)[0],
}))
sock.close()
"""


@pytest.mark.ovn
@needs_ovn
def test_real_datapath_counts_client_bytes_once() -> None:
    stack = ovn_testbed.OvnStack()
    try:
        stack.start()
        topo = ovn_testbed.lb_topology(stack, NET, http_port=8080, udp_port=9000)
        for b in topo.backends:
            b.popen(sys.executable, "-c", _SINK, str(SINK_PORT))
        tcp_backends = [f"{b.ip}:{SINK_PORT}" for b in topo.backends]
        ovn_testbed.add_lb(stack, "flows-tcp", f"{VIP}:{SINK_PORT}", tcp_backends, "tcp", NET)
        ovn_testbed.add_lb(
            stack, "flows-udp", f"{VIP}:53", [f"{b.ip}:9000" for b in topo.backends], "udp", NET
        )
        stack.nbctl("--wait=hv", "sync")
        for b in topo.backends:
            ovn_testbed.wait_until(
                lambda b=b: b.run("ss", "-Hltn", f"sport = :{SINK_PORT}").stdout.strip(),
                10.0,
                message=f"sink on {b.name}",
            )
        tcp, udp = Frontend("tcp", VIP, SINK_PORT), Frontend("udp", VIP, 53)
        client_port = int(stack.ovs_vsctl("get", "Interface", topo.client.peer, "ofport"))
        ingress = re.compile(rf"n_packets=(\d+), n_bytes=(\d+), priority=100,in_port={client_port},")

        def read() -> tuple[dict[Frontend, tuple[int, int]], tuple[int, int]]:
            """The frontends' counters, and (bytes, packets) OVS received from the client."""
            text = read_flows(stack.rundir)
            m = ingress.search(text)
            assert m is not None, f"no table-0 flow for in_port={client_port}"
            return vip_counters(text, [tcp, udp]), (int(m[2]), int(m[1]))

        before, ingress_before = read()
        assert before == {tcp: (0, 0), udp: (0, 0)}  # the flows exist, nothing counted yet

        sent = json.loads(
            topo.client.run(
                sys.executable, "-c", _SENDER, VIP, str(SINK_PORT), str(PAYLOAD), timeout=120
            ).stdout
        )
        # Counters reach the OpenFlow rules with the revalidators (~0.5 s, more on a busy
        # machine): wait until the payload is all there and two reads agree.
        last: list[tuple[int, int]] = []

        def settled() -> tuple[tuple[int, int], tuple[int, int]] | None:
            flows, into_ovs = read()
            now = (flows[tcp], into_ovs)
            done = now[0][0] >= PAYLOAD and last == [now]
            last[:] = [now]
            return now if done else None

        (bytes_in, packets_in), (ingress_bytes, ingress_packets) = ovn_testbed.wait_until(
            settled, 30.0, interval=0.5, message="the flow counters to settle"
        )
        d_ingress = (ingress_bytes - ingress_before[0], ingress_packets - ingress_before[1])
        # Every byte of the payload went through once at least, in frames of at least
        # Ethernet + IPv4 + TCP headers (54 bytes); at most the kernel's segments, each with
        # at most 94 header bytes (TCP options), and what it sent again.
        assert PAYLOAD + 54 * packets_in <= bytes_in <= sent["bytes_sent"] + 94 * packets_in, (bytes_in, sent)
        assert PAYLOAD // sent["mss"] < packets_in <= sent["segs_out"], (packets_in, sent)
        # Exactly once: what OVS received from the client's port (less the odd ARP frame).
        assert 0 <= d_ingress[0] - bytes_in <= 4 * 42 and 0 <= d_ingress[1] - packets_in <= 4, (
            d_ingress,
            bytes_in,
            packets_in,
        )

        # UDP: each datagram one 46-byte frame (14 + 20 + 8 + "ping"), replies not counted.
        replies = topo.client.udp_request(VIP, 53, count=DATAGRAMS, timeout=2.0)
        assert all(r.ok for r in replies), replies
        udp_counted = ovn_testbed.wait_until(
            lambda: (c := read()[0][udp])[1] >= DATAGRAMS and c, 30.0, interval=0.2, message="udp counters"
        )
        assert udp_counted == (DATAGRAMS * 46, DATAGRAMS)

        # Through the collector, as the worker reports it.
        collector = StatsCollector(str(stack.rundir))
        collector.set_frontends(
            [pb.Frontend(protocol=f.protocol, vip=f.vip, port=f.port) for f in (tcp, udp)]
        )
        got = by_frontend(collector.sample())
        t, u = got["tcp", VIP, SINK_PORT], got["udp", VIP, 53]
        assert (t.bytes_in, t.packets_in) == (bytes_in, packets_in)
        assert sum(b.total for b in t.backends) == 1  # the one connection, from conntrack
        assert (u.bytes_in, u.packets_in) == udp_counted
    finally:
        stack.stop()
