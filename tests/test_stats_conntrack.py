"""The conntrack statistics collector: parser, tracker, unixctl reader, and one run on a
real OVN data path.

The userspace lines were captured from the test bed (OVN 23.03, OVS 3.1 netdev datapath);
the kernel-datapath lines are written by hand after OVS's ct_dpif_format_entry (counters
inside the tuples with -s and nf_conntrack_acct=1, `start=`, a kernel `status=`).
"""

from __future__ import annotations

import collections
import json
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import needs_ovn
from quantix_lb.stats.conntrack import (
    Backend,
    BackendSample,
    Conn,
    ConntrackParser,
    ConntrackTracker,
    Frontend,
    FrontendSample,
    OvsUnavailable,
    is_active,
    parse_conntrack,
    read_conntrack,
)
from quantix_lb.testing import ovn_testbed

# --- real lines (`dpctl/dump-conntrack -s`, userspace datapath) -----------------------------
# Three held connections through VIP 10.0.0.100:80 (zone 5 = the client's port), each also
# seen DNAT-ed in its backend's zone (6/7/8); one short HTTP request in TIME_WAIT; UDP to
# 10.0.0.100:53; a SYN to a VIP whose backend does not exist; a half-closed connection
# (client shut down its side, server still sending) that the dump shows as TIME_WAIT.
REAL_S = """\
tcp,orig=(src=10.0.0.2,dst=10.0.0.11,sport=37700,dport=8080),reply=(src=10.0.0.11,dst=10.0.0.2,sport=8080,dport=37700),zone=6,timeout=86395,protoinfo=(state=ESTABLISHED)
tcp,orig=(src=10.0.0.2,dst=10.0.0.103,sport=33856,dport=80),reply=(src=10.0.0.11,dst=10.0.0.2,sport=7000,dport=33856),zone=5,timeout=899,mark=2,protoinfo=(state=TIME_WAIT)
tcp,orig=(src=10.0.0.2,dst=10.0.0.100,sport=37738,dport=80),reply=(src=10.0.0.13,dst=10.0.0.2,sport=8080,dport=37738),zone=5,timeout=26,mark=2,protoinfo=(state=TIME_WAIT)
tcp,orig=(src=10.0.0.2,dst=10.0.0.100,sport=37700,dport=80),reply=(src=10.0.0.11,dst=10.0.0.2,sport=8080,dport=37700),zone=5,timeout=86395,mark=2,protoinfo=(state=ESTABLISHED)
tcp,orig=(src=10.0.0.2,dst=10.0.0.100,sport=37710,dport=80),reply=(src=10.0.0.13,dst=10.0.0.2,sport=8080,dport=37710),zone=5,timeout=86395,mark=2,protoinfo=(state=ESTABLISHED)
tcp,orig=(src=10.0.0.2,dst=10.0.0.13,sport=37738,dport=8080),reply=(src=10.0.0.13,dst=10.0.0.2,sport=8080,dport=37738),zone=8,timeout=26,protoinfo=(state=TIME_WAIT)
tcp,orig=(src=10.0.0.2,dst=10.0.0.102,sport=39030,dport=80),reply=(src=10.0.0.50,dst=10.0.0.2,sport=80,dport=39030),zone=5,timeout=26,mark=2,protoinfo=(state=SYN_SENT)
udp,orig=(src=10.0.0.2,dst=10.0.0.100,sport=43776,dport=53),reply=(src=10.0.0.13,dst=10.0.0.2,sport=9000,dport=43776),zone=5,timeout=26,mark=2
udp,orig=(src=10.0.0.2,dst=10.0.0.13,sport=41476,dport=9000),reply=(src=10.0.0.13,dst=10.0.0.2,sport=9000,dport=41476),zone=8,timeout=26
tcp,orig=(src=10.0.0.2,dst=10.0.0.11,sport=37704,dport=8080),reply=(src=10.0.0.11,dst=10.0.0.2,sport=8080,dport=37704),zone=6,timeout=86395,protoinfo=(state=ESTABLISHED)
udp,orig=(src=10.0.0.2,dst=10.0.0.100,sport=41476,dport=53),reply=(src=10.0.0.13,dst=10.0.0.2,sport=9000,dport=41476),zone=5,timeout=26,mark=2
tcp,orig=(src=10.0.0.2,dst=10.0.0.100,sport=37704,dport=80),reply=(src=10.0.0.11,dst=10.0.0.2,sport=8080,dport=37704),zone=5,timeout=86395,mark=2,protoinfo=(state=ESTABLISHED)
icmp,orig=(src=10.0.0.2,dst=10.0.0.12,id=15311,type=8,code=0),reply=(src=10.0.0.12,dst=10.0.0.2,id=15311,type=0,code=0),zone=5,timeout=29
"""

# The same kinds of entries with -m (both directions' TCP states) and with no option.
REAL_M = """\
tcp,orig=(src=10.0.0.2,dst=10.0.0.100,sport=37700,dport=80),reply=(src=10.0.0.11,dst=10.0.0.2,sport=8080,dport=37700),id=0,zone=5,status=0,mark=2,protoinfo=(state_orig=ESTABLISHED,state_reply=ESTABLISHED,wscale_orig=10,wscale_reply=10,flags_orig=WINDOW_SCALE,flags_reply=WINDOW_SCALE)
tcp,orig=(src=10.0.0.2,dst=10.0.0.103,sport=33856,dport=80),reply=(src=10.0.0.11,dst=10.0.0.2,sport=7000,dport=33856),id=0,zone=5,status=0,mark=2,protoinfo=(state_orig=FIN_WAIT_2,state_reply=ESTABLISHED,wscale_orig=10,wscale_reply=10,flags_orig=WINDOW_SCALE,flags_reply=WINDOW_SCALE)
tcp,orig=(src=10.0.0.2,dst=10.0.0.100,sport=37738,dport=80),reply=(src=10.0.0.13,dst=10.0.0.2,sport=8080,dport=37738),id=0,zone=5,status=0,mark=2,protoinfo=(state_orig=FIN_WAIT_2,state_reply=FIN_WAIT_2,wscale_orig=10,wscale_reply=10,flags_orig=WINDOW_SCALE,flags_reply=WINDOW_SCALE)
tcp,orig=(src=10.0.0.2,dst=10.0.0.102,sport=39030,dport=80),reply=(src=10.0.0.50,dst=10.0.0.2,sport=80,dport=39030),id=0,zone=5,status=0,mark=2,protoinfo=(state_orig=SYN_SENT,state_reply=CLOSED,wscale_orig=10,wscale_reply=0,flags_orig=WINDOW_SCALE,flags_reply=0)
udp,orig=(src=10.0.0.2,dst=10.0.0.100,sport=43776,dport=53),reply=(src=10.0.0.13,dst=10.0.0.2,sport=9000,dport=43776),id=0,zone=5,status=0,mark=2
"""
REAL_PLAIN = """\
tcp,orig=(src=10.0.0.2,dst=10.0.0.100,sport=37700,dport=80),reply=(src=10.0.0.11,dst=10.0.0.2,sport=8080,dport=37700),zone=5,mark=2,protoinfo=(state=ESTABLISHED)
tcp,orig=(src=10.0.0.2,dst=10.0.0.100,sport=37738,dport=80),reply=(src=10.0.0.13,dst=10.0.0.2,sport=8080,dport=37738),zone=5,mark=2,protoinfo=(state=TIME_WAIT)
"""
# IPv6 through VIP fd00::100 (a connection held open, and one refused by the backend: RST).
REAL_V6 = """\
tcp,orig=(src=fd00::2,dst=fd00::100,sport=46906,dport=80),reply=(src=fd00::11,dst=fd00::2,sport=8080,dport=46906),zone=5,timeout=86398,mark=2,protoinfo=(state=ESTABLISHED)
tcp,orig=(src=fd00::2,dst=fd00::11,sport=46906,dport=8080),reply=(src=fd00::11,dst=fd00::2,sport=8080,dport=46906),zone=6,timeout=86398,protoinfo=(state=ESTABLISHED)
tcp,orig=(src=fd00::2,dst=fd00::100,sport=45646,dport=80),reply=(src=fd00::11,dst=fd00::2,sport=8080,dport=45646),zone=5,timeout=29,mark=2,protoinfo=(state=TIME_WAIT)
"""

# --- kernel datapath, by hand after ct_dpif_format_entry (-s; -s -m) ------------------------
KERNEL_S = """\
tcp,orig=(src=10.0.0.2,dst=10.0.0.100,sport=40000,dport=80,packets=6,bytes=412),reply=(src=10.0.0.11,dst=10.0.0.2,sport=8080,dport=40000,packets=4,bytes=1837),start=2026-11-26T18:00:01.123,zone=4,timeout=431999,mark=2,labels=0x2,protoinfo=(state=ESTABLISHED)
tcp,orig=(src=10.0.0.2,dst=10.0.0.100,sport=40002,dport=80,packets=2,bytes=120),reply=(src=10.0.0.12,dst=10.0.0.2,sport=8080,dport=40002),start=2026-11-26T18:00:02.001,zone=4,timeout=118,mark=2,protoinfo=(state=SYN_SENT)
tcp,orig=(src=10.0.0.2,dst=10.0.0.100,sport=40004,dport=80,packets=3,bytes=180),reply=(src=10.0.0.12,dst=10.0.0.2,sport=8080,dport=40004,packets=2,bytes=112),start=2026-11-26T18:00:02.500,zone=4,timeout=9,mark=2,protoinfo=(state=CLOSING)
sctp,orig=(src=10.0.0.2,dst=10.0.0.100,sport=5000,dport=5000,packets=4,bytes=400),reply=(src=10.0.0.13,dst=10.0.0.2,sport=5000,dport=5000,packets=3,bytes=300),zone=4,timeout=210,mark=2
"""
KERNEL_SM = (
    "tcp,orig=(src=10.0.0.2,dst=10.0.0.100,sport=40000,dport=80,packets=6,bytes=412),"
    "reply=(src=10.0.0.11,dst=10.0.0.2,sport=8080,dport=40000,packets=4,bytes=1837),"
    "start=2026-11-26T18:00:01.123,id=3482134,zone=4,"
    "status=SEEN_REPLY|ASSURED|CONFIRMED|DST_NAT|DST_NAT_DONE,timeout=431999,mark=2,"
    "protoinfo=(state_orig=ESTABLISHED,state_reply=ESTABLISHED,wscale_orig=7,wscale_reply=7,"
    "flags_orig=WINDOW_SCALE|SACK_PERM,flags_reply=WINDOW_SCALE|SACK_PERM)\n"
)

TCP_VIP = Frontend("tcp", "10.0.0.100", 80)
UDP_VIP = Frontend("udp", "10.0.0.100", 53)
B11, B12, B13 = (Backend(f"10.0.0.{n}", 8080) for n in (11, 12, 13))


def conn(sport: int, state: str | None = "ESTABLISHED", backend: str = "10.0.0.11", **kw: object) -> Conn:
    """An entry of a connection from 10.0.0.2:sport to TCP_VIP (fields overridable)."""
    fields: dict[str, object] = {
        "protocol": "tcp", "orig_src": "10.0.0.2", "orig_sport": sport,
        "orig_dst": "10.0.0.100", "orig_dport": 80, "reply_src": backend, "reply_sport": 8080,
        "state": state, "zone": 5, "bytes_orig": None, "bytes_reply": None,
        "packets_orig": None, "packets_reply": None,
    }  # fmt: skip
    fields.update(kw)
    return Conn(**fields)  # type: ignore[arg-type]


def vip_entries(conns: list[Conn], dst: str = "10.0.0.100") -> list[tuple[object, ...]]:
    return sorted(
        (c.protocol, c.orig_sport, c.orig_dport, c.reply_src, c.reply_sport, c.state, c.zone)
        for c in conns
        if c.orig_dst == dst
    )


# ------------------------------------------------------------------------------------ parser


def test_parses_real_userspace_lines() -> None:
    conns = parse_conntrack(REAL_S)
    assert len(conns) == 12  # the icmp entry is skipped
    assert vip_entries(conns) == [
        ("tcp", 37700, 80, "10.0.0.11", 8080, "ESTABLISHED", 5),
        ("tcp", 37704, 80, "10.0.0.11", 8080, "ESTABLISHED", 5),
        ("tcp", 37710, 80, "10.0.0.13", 8080, "ESTABLISHED", 5),
        ("tcp", 37738, 80, "10.0.0.13", 8080, "TIME_WAIT", 5),
        ("udp", 41476, 53, "10.0.0.13", 9000, None, 5),
        ("udp", 43776, 53, "10.0.0.13", 9000, None, 5),
    ]
    backend_zone = next(c for c in conns if c.orig_sport == 37700 and c.zone == 6)
    assert backend_zone == conn(37700, orig_dst="10.0.0.11", orig_dport=8080, zone=6)
    syn = next(c for c in conns if c.orig_dst == "10.0.0.102")
    assert (syn.state, syn.reply_src, syn.reply_sport) == ("SYN_SENT", "10.0.0.50", 80)
    # The userspace datapath keeps no counters: unavailable, not zero.
    assert {(c.bytes_orig, c.bytes_reply, c.packets_orig, c.packets_reply) for c in conns} == {
        (None, None, None, None)
    }


def test_verbose_and_plain_dumps_give_the_same_states() -> None:
    by_port = {c.orig_sport: c.state for c in parse_conntrack(REAL_M)}
    # -m prints both directions; the parser folds them as the non-verbose dump does.
    assert by_port == {
        37700: "ESTABLISHED",
        33856: "TIME_WAIT",  # half-closed: FIN_WAIT_2 one way, ESTABLISHED the other
        37738: "TIME_WAIT",  # FIN_WAIT_2 both ways
        39030: "SYN_SENT",  # SYN_SENT / CLOSED
        43776: None,
    }
    plain = parse_conntrack(REAL_PLAIN)
    assert [(c.orig_sport, c.state, c.zone) for c in plain] == [
        (37700, "ESTABLISHED", 5),
        (37738, "TIME_WAIT", 5),
    ]
    assert plain[0] == next(c for c in parse_conntrack(REAL_S) if c.orig_sport == 37700 and c.zone == 5)


def test_parses_ipv6_into_canonical_text() -> None:
    conns = parse_conntrack(REAL_V6)
    assert vip_entries(conns, "fd00::100") == [
        ("tcp", 45646, 80, "fd00::11", 8080, "TIME_WAIT", 5),
        ("tcp", 46906, 80, "fd00::11", 8080, "ESTABLISHED", 5),
    ]
    # Non-canonical spellings (not what OVS prints, but possible from elsewhere) are folded.
    odd = REAL_V6.splitlines()[0].replace("dst=fd00::100", "dst=FD00:0::0100")
    assert parse_conntrack(odd)[0].orig_dst == "fd00::100"


def test_parses_kernel_lines_with_counters() -> None:
    conns = {c.orig_sport: c for c in parse_conntrack(KERNEL_S)}
    est = conns[40000]
    assert (est.state, est.zone, est.reply_src) == ("ESTABLISHED", 4, "10.0.0.11")
    assert (est.packets_orig, est.bytes_orig, est.packets_reply, est.bytes_reply) == (6, 412, 4, 1837)
    # No reply counters printed (they are zero): known zero, because orig has counters.
    syn = conns[40002]
    assert (syn.state, syn.bytes_orig, syn.bytes_reply, syn.packets_reply) == ("SYN_SENT", 120, 0, 0)
    assert conns[40004].state == "CLOSING"  # the kernel's CLOSE (after an RST)
    sctp = conns[5000]
    assert (sctp.protocol, sctp.state, sctp.bytes_orig, sctp.bytes_reply) == ("sctp", None, 400, 300)
    verbose = parse_conntrack(KERNEL_SM)
    assert verbose == [est]


def test_skips_what_it_cannot_read_and_never_raises() -> None:
    good = REAL_PLAIN.splitlines()[0]
    junk = [
        "",
        "garbage",
        "tcp,orig=(src=10.0.0.2,dst=10.0.0.100,sport=1",  # cut short
        "tcp,orig=(src=10.0.0.2,dst=10.0.0.100,sport=x,dport=80),reply=(src=10.0.0.11,dst=10.0.0.2,sport=8080,dport=1)",
        good.replace(",zone=5", ",zone=five"),
        "Unsupported address family: 7. HEX:",
        "00000000  07 00 00 00 00 00 00 00-00 00 00 00 00 00 00 00",
        "gre,orig=(src=10.0.0.2,dst=10.0.0.100,sport=1,dport=2),reply=(src=10.0.0.11,dst=10.0.0.2,sport=2,dport=1)",
        "\x00\xff" * 20,
    ]
    conns = parse_conntrack("\n".join([*junk, good, *junk]))
    assert [(c.orig_sport, c.state) for c in conns] == [(37700, "ESTABLISHED")]
    # Unknown fields, in the tuples or after them, are tolerated.
    extended = good.replace("dport=80)", "dport=80,flow_label=7)").replace(
        ",protoinfo=", ",newfield=(a=1,b=2),protoinfo="
    )
    assert parse_conntrack(extended) == conns
    no_zone = parse_conntrack(good.replace(",zone=5", ""))  # the dump omits zone 0
    assert no_zone[0].zone == 0


def test_filter_on_original_destination() -> None:
    conns = parse_conntrack(REAL_S, orig_dst={"10.0.0.100"})
    assert {c.orig_dst for c in conns} == {"10.0.0.100"} and len(conns) == 6


def test_memoizing_parser_gives_the_same_entries() -> None:
    parser = ConntrackParser()
    for text in (REAL_S, REAL_M, REAL_PLAIN, REAL_V6, KERNEL_S, KERNEL_SM, REAL_S):
        assert parser.parse(text) == parse_conntrack(text)
        assert parser.parse(text, orig_dst={"10.0.0.100"}) == parse_conntrack(text, orig_dst={"10.0.0.100"})
    # The next dump: timeouts ticked, one connection closed, one gone, one new.
    first = parser.parse(REAL_S)
    lines = REAL_S.splitlines()
    nxt = [ln.replace("timeout=86395", "timeout=86394") for ln in lines if "sport=37710" not in ln]
    assert "sport=37700,dport=80" in nxt[3]
    nxt[3] = nxt[3].replace("state=ESTABLISHED", "state=TIME_WAIT")
    nxt.append(lines[3].replace("37700", "37799"))
    text = "\n".join(nxt) + "\n"
    second = parser.parse(text)
    assert second == parse_conntrack(text)
    # Unchanged entries (but for their timeout) are the very same objects.
    reused = {id(c) for c in first} & {id(c) for c in second}
    assert len(reused) == len(second) - 2


def test_fast_path_objects_equal_constructed_ones() -> None:
    parsed = parse_conntrack(REAL_PLAIN)[0]
    built = conn(37700)
    assert parsed == built and hash(parsed) == hash(built) and repr(parsed) == repr(built)
    with pytest.raises(AttributeError):  # still frozen
        parsed.state = "CLOSED"  # type: ignore[misc]


def test_ten_thousand_lines_parse_quickly() -> None:
    """A guard against pathological slowness (e.g. regex backtracking), not a benchmark:
    scripts/bench_stats.py measures. ~50 ms on the slow shared test VM."""
    line = REAL_S.splitlines()[3]
    text = "".join(line.replace("sport=37700", f"sport={20000 + i}") + "\n" for i in range(10_000))
    started = time.process_time()
    conns = parse_conntrack(text)
    assert len(conns) == 10_000
    assert time.process_time() - started < 1.0


def test_frontend_and_backend_are_canonical() -> None:
    assert Frontend("TCP", "FD00:0::0100", 80) == Frontend("tcp", "fd00::100", 80)
    assert Backend("FD00::0011", 8080) == Backend("fd00::11", 8080)
    with pytest.raises(ValueError):
        Frontend("icmp", "10.0.0.100", 80)
    with pytest.raises(ValueError):
        Frontend("tcp", "10.0.0.300", 80)
    with pytest.raises(ValueError):
        Frontend("tcp", "10.0.0.100", 0)


def test_active_states() -> None:
    for state in ("SYN_SENT", "SYN_RECV", "ESTABLISHED"):
        assert is_active(conn(1, state))
    for state in ("FIN_WAIT_1", "CLOSE_WAIT", "CLOSING", "LAST_ACK", "TIME_WAIT", "CLOSED", None, "[12]"):
        assert not is_active(conn(1, state))
    assert is_active(conn(1, None, protocol="udp"))


# ----------------------------------------------------------------------------------- tracker


def test_counts_a_real_table_per_backend() -> None:
    tracker = ConntrackTracker()
    samples = tracker.sample(parse_conntrack(REAL_S), [TCP_VIP, UDP_VIP], now=100.0)
    tcp = samples[TCP_VIP]
    assert dict(tcp.backends) == {
        B11: BackendSample(active=2, total=2, bytes_in=None, bytes_out=None),
        B13: BackendSample(active=1, total=2, bytes_in=None, bytes_out=None),
    }
    assert (tcp.active, tcp.total, tcp.bytes_in, tcp.bytes_out) == (3, 4, None, None)
    assert (tcp.since, tcp.at) == (100.0, 100.0)
    udp = samples[UDP_VIP]
    assert dict(udp.backends) == {Backend("10.0.0.13", 9000): BackendSample(2, 2, None, None)}


def test_total_counts_distinct_connections_and_forgets_departed_ones() -> None:
    tracker = ConntrackTracker()
    s = tracker.sample([conn(1), conn(2, "SYN_SENT")], [TCP_VIP], now=1.0)[TCP_VIP]
    assert (s.active, s.total) == (2, 2)
    # Same connections again, one closing: nothing new.
    s = tracker.sample([conn(1), conn(2, "TIME_WAIT")], [TCP_VIP], now=2.0)[TCP_VIP]
    assert (s.active, s.total) == (1, 2)
    # 2 left the table, 3 and 4 are new (4 seen only in TIME_WAIT: a short one).
    s = tracker.sample([conn(1), conn(3, backend="10.0.0.12"), conn(4, "TIME_WAIT")], [TCP_VIP], now=3.0)[
        TCP_VIP
    ]
    assert (s.active, s.total) == (2, 4)
    assert {b: (x.active, x.total) for b, x in s.backends.items()} == {B11: (1, 3), B12: (1, 1)}
    assert len(tracker) == 3
    s = tracker.sample([], [TCP_VIP], now=4.0)[TCP_VIP]
    assert (s.active, s.total, len(tracker)) == (0, 4, 0)
    assert s.since == 1.0 and s.at == 4.0


def test_one_connection_in_several_zones_counts_once() -> None:
    tracker = ConntrackTracker()
    # e.g. the router's DNAT zone and the client port's zone both hold the VIP entry.
    entries = [conn(1, zone=2), conn(1, zone=5), conn(1, "TIME_WAIT", zone=7)]
    s = tracker.sample(entries, [TCP_VIP], now=1.0)[TCP_VIP]
    assert (s.active, s.total, len(tracker)) == (1, 1, 1)


def test_a_reused_five_tuple_is_a_new_connection() -> None:
    tracker = ConntrackTracker()
    tracker.sample([conn(1)], [TCP_VIP], now=1.0)
    tracker.sample([conn(1, "TIME_WAIT")], [TCP_VIP], now=2.0)
    s = tracker.sample([conn(1, "SYN_SENT")], [TCP_VIP], now=3.0)[TCP_VIP]  # port reused
    assert (s.active, s.total) == (1, 2)
    s = tracker.sample([conn(1, backend="10.0.0.12")], [TCP_VIP], now=4.0)[TCP_VIP]  # after a flush
    assert (s.active, s.total) == (1, 3)
    assert {b: x.total for b, x in s.backends.items()} == {B11: 2, B12: 1}


def test_bytes_are_cumulative_when_the_datapath_counts() -> None:
    tracker = ConntrackTracker()
    c1 = conn(1, bytes_orig=100, bytes_reply=1000, packets_orig=2, packets_reply=2)
    s = tracker.sample([c1], [TCP_VIP], now=1.0)[TCP_VIP]
    assert (s.bytes_in, s.bytes_out) == (100, 1000)
    c1 = conn(1, bytes_orig=150, bytes_reply=3000, packets_orig=3, packets_reply=4)
    c2 = conn(2, backend="10.0.0.12", bytes_orig=60, bytes_reply=0, packets_orig=1, packets_reply=0)
    s = tracker.sample([c1, c2], [TCP_VIP], now=2.0)[TCP_VIP]
    assert (s.bytes_in, s.bytes_out) == (210, 3000)
    # c1 left: its last counters stay; c2 grew.
    c2 = conn(2, backend="10.0.0.12", bytes_orig=80, bytes_reply=500, packets_orig=2, packets_reply=1)
    s = tracker.sample([c2], [TCP_VIP], now=3.0)[TCP_VIP]
    assert (s.bytes_in, s.bytes_out) == (230, 3500)
    assert s.backends[B11] == BackendSample(active=0, total=1, bytes_in=150, bytes_out=3000)
    assert s.backends[B12] == BackendSample(active=1, total=1, bytes_in=80, bytes_out=500)
    # Duplicates across zones count the same packets: the larger counters, not the sum.
    dup = [conn(3, zone=1, bytes_orig=10, bytes_reply=20), conn(3, zone=2, bytes_orig=12, bytes_reply=25)]
    s = ConntrackTracker().sample(dup, [TCP_VIP], now=1.0)[TCP_VIP]
    assert (s.bytes_in, s.bytes_out) == (12, 25)


def test_bytes_from_kernel_lines() -> None:
    s = ConntrackTracker().sample(parse_conntrack(KERNEL_S), [TCP_VIP], now=1.0)[TCP_VIP]
    assert s.backends[B11] == BackendSample(active=1, total=1, bytes_in=412, bytes_out=1837)
    assert s.backends[B12] == BackendSample(active=1, total=2, bytes_in=300, bytes_out=112)
    assert (s.active, s.total, s.bytes_in, s.bytes_out) == (2, 3, 712, 1949)


def test_frontends_start_and_stop_being_tracked() -> None:
    tracker = ConntrackTracker()
    first = tracker.sample([conn(1)], [], now=1.0)
    assert first == {} and len(tracker) == 0
    # Tracked from now on: the connection already there counts once.
    s = tracker.sample([conn(1), conn(2)], [TCP_VIP], now=2.0)[TCP_VIP]
    assert (s.total, s.since) == (2, 2.0)
    assert tracker.sample([conn(1), conn(2)], [], now=3.0) == {}
    s = tracker.sample([conn(1)], [TCP_VIP], now=4.0)[TCP_VIP]
    assert (s.total, s.since) == (1, 4.0)  # a fresh start
    # An untouched frontend reports zeros and no backends.
    empty = tracker.sample([conn(1)], [TCP_VIP, UDP_VIP], now=5.0)[UDP_VIP]
    assert (empty.active, empty.total, dict(empty.backends), empty.bytes_in) == (0, 0, {}, None)


# ------------------------------------------------------------------------------------ reader


class FakeVswitchd:
    """A unixctl server on <rundir>/ovs-vswitchd.<pid>.ctl answering from a table:
    (method, *params) -> ("result", text) | ("error", text) | None (never answers)."""

    def __init__(self, rundir: Path, answers: dict[tuple[str, ...], tuple[str, str] | None]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, ...]] = []
        (rundir / "ovs-vswitchd.pid").write_text("4242\n")
        self.listener = socket.socket(socket.AF_UNIX)
        self.listener.bind(str(rundir / "ovs-vswitchd.4242.ctl"))
        self.listener.listen(4)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            with sock:
                buf = ""
                decoder = json.JSONDecoder()
                while data := sock.recv(65536):
                    buf += data.decode()
                    try:
                        request, end = decoder.raw_decode(buf)
                    except ValueError:
                        continue
                    buf = buf[end:]
                    call = (request["method"], *request["params"])
                    self.calls.append(call)
                    answer = self.answers.get(call, ("error", f'"{call[0]}" is not a valid command'))
                    if answer is None:
                        continue
                    kind, text = answer
                    reply = {"id": request["id"], "result": None, "error": None, kind: text}
                    sock.sendall(json.dumps(reply).encode())

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def rundir() -> Iterator[Path]:
    # Short: unix socket paths are limited to 108 bytes.
    with tempfile.TemporaryDirectory(prefix="qlbct") as d:
        yield Path(d)


def test_reader_asks_vswitchd_for_the_table(rundir: Path) -> None:
    answers: dict[tuple[str, ...], tuple[str, str] | None] = {
        ("dpctl/dump-dps",): ("result", "netdev@ovs-netdev\n"),
        ("dpctl/dump-conntrack", "netdev@ovs-netdev"): ("result", REAL_PLAIN),
        ("dpctl/dump-conntrack", "-s", "netdev@ovs-netdev"): ("result", REAL_S),
    }
    fake = FakeVswitchd(rundir, answers)
    try:
        # Userspace: no -s by default (no counters to get, and a ticking timeout per line).
        assert read_conntrack(str(rundir)) == REAL_PLAIN
        assert fake.calls == [("dpctl/dump-dps",), ("dpctl/dump-conntrack", "netdev@ovs-netdev")]
        assert read_conntrack(rundir, counters=True) == REAL_S
    finally:
        fake.close()


def test_reader_picks_the_datapath_of_br_int_when_there_are_several(
    rundir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dpif_show = (
        "netdev@ovs-netdev: hit:203 missed:95\n  br-int:\n    br-int 65534/1: (tap)\n"
        "system@ovs-system: hit:0 missed:0\n  br-ex:\n    br-ex 65534/1: (internal)\n"
    )
    answers: dict[tuple[str, ...], tuple[str, str] | None] = {
        ("dpctl/dump-dps",): ("result", "netdev@ovs-netdev\nsystem@ovs-system\n"),
        ("dpif/show",): ("result", dpif_show),
        ("dpctl/dump-conntrack", "netdev@ovs-netdev"): ("result", REAL_PLAIN),
        # The kernel datapath is asked with -s: that is where the counters are.
        ("dpctl/dump-conntrack", "-s", "system@ovs-system"): ("result", KERNEL_S),
    }
    fake = FakeVswitchd(rundir, answers)
    monkeypatch.setenv("OVS_RUNDIR", str(rundir))  # no argument: $OVS_RUNDIR
    try:
        assert read_conntrack() == REAL_PLAIN
        assert read_conntrack(bridge="br-ex") == KERNEL_S
        fake.calls.clear()
        assert read_conntrack(datapath="system@ovs-system") == KERNEL_S
        assert fake.calls == [("dpctl/dump-conntrack", "-s", "system@ovs-system")]
        with pytest.raises(OvsUnavailable, match="none holds bridge 'br-nope'"):
            read_conntrack(bridge="br-nope")
    finally:
        fake.close()


def test_reader_failures_are_ovs_unavailable(rundir: Path) -> None:
    with pytest.raises(OvsUnavailable, match=r"ovs-vswitchd\.pid"):
        read_conntrack(rundir)
    (rundir / "ovs-vswitchd.pid").write_text("999999\n")
    with pytest.raises(OvsUnavailable, match="no control socket"):
        read_conntrack(rundir)
    # A socket file nobody listens on (vswitchd crashed): connection refused.
    dead = socket.socket(socket.AF_UNIX)
    dead.bind(str(rundir / "ovs-vswitchd.999999.ctl"))
    dead.close()
    with pytest.raises(OvsUnavailable, match="cannot connect"):
        read_conntrack(rundir)
    os.unlink(rundir / "ovs-vswitchd.999999.ctl")

    answers: dict[tuple[str, ...], tuple[str, str] | None] = {
        ("dpctl/dump-conntrack", "-s", "system@ovs-system"): (
            "error",
            "datapath not found (Invalid argument)\n",
        ),
        ("dpctl/dump-dps",): None,  # never answers
    }
    fake = FakeVswitchd(rundir, answers)
    try:
        with pytest.raises(OvsUnavailable, match="datapath not found"):
            read_conntrack(rundir, datapath="system@ovs-system")
        with pytest.raises(OvsUnavailable, match="not a valid command"):
            read_conntrack(rundir, datapath="netdev@ovs-netdev", counters=False)
        started = time.monotonic()
        with pytest.raises(OvsUnavailable, match="timed out"):
            read_conntrack(rundir, timeout=0.3)
        assert time.monotonic() - started < 3.0
    finally:
        fake.close()


# ------------------------------------------------------------------------- real data path


NET = "net-stats"
VIP = "10.0.0.100"
HELD = 12  # long-lived connections the client holds open
SHORT = 9  # short HTTP requests afterwards
UDP_REQUESTS = 6

# Runs in the client's namespace: opens N connections to the VIP and holds them (no request
# is sent, so each backend's HTTP server waits on it) until killed.
_HOLDER = r"""
import socket, sys, time
vip, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = [socket.create_connection((vip, port), timeout=5) for _ in range(count)]
time.sleep(3600)
"""


@pytest.mark.ovn
@needs_ovn
def test_real_datapath_active_and_total_per_backend() -> None:
    stack = ovn_testbed.OvnStack()
    holder = None
    try:
        stack.start()
        topo = ovn_testbed.lb_topology(stack, NET, http_port=8080, udp_port=9000)
        by_ip = {b.ip: b.name for b in topo.backends}
        ovn_testbed.add_lb(
            stack, "stats-tcp", f"{VIP}:80", [f"{b.ip}:8080" for b in topo.backends], "tcp", NET
        )
        ovn_testbed.add_lb(
            stack, "stats-udp", f"{VIP}:53", [f"{b.ip}:9000" for b in topo.backends], "udp", NET
        )
        stack.nbctl("--wait=hv", "sync")

        tcp, udp = Frontend("tcp", VIP, 80), Frontend("udp", VIP, 53)
        tracker = ConntrackTracker()

        def sample() -> dict[Frontend, FrontendSample]:
            text = read_conntrack(stack.rundir)
            return tracker.sample(parse_conntrack(text), [tcp, udp], time.monotonic())

        first = sample()
        assert first[tcp].total == 0 and first[udp].total == 0
        url = f"http://{VIP}/"
        ovn_testbed.wait_until(
            lambda: topo.client.http_get(url, count=1, timeout=1.0)[0].ok, 10.0, message=f"{url} to answer"
        )
        before = sample()[tcp]

        # N held connections: each backend's own view (ss) is the ground truth for the split.
        holder = topo.client.popen(sys.executable, "-c", _HOLDER, VIP, "80", str(HELD))

        def held_per_backend() -> dict[str, int] | None:
            counts = {}
            for b in topo.backends:
                out = b.run(
                    "ss", "-Htn", "state", "established", f"( sport = :8080 and dst {topo.client.ip} )"
                )
                counts[b.ip] = len(out.stdout.splitlines())
            return counts if sum(counts.values()) == HELD else None

        held = ovn_testbed.wait_until(held_per_backend, 15.0, message=f"{HELD} held connections")
        s = sample()[tcp]
        assert s.active == HELD, s
        assert {b.address: x.active for b, x in s.backends.items() if x.active} == {
            ip: n for ip, n in held.items() if n
        }
        assert s.total == before.total + HELD
        assert s.bytes_in is None and s.bytes_out is None  # the userspace datapath counts nothing

        # Short connections: each is seen (TIME_WAIT lasts 30 s), on the backend that answered.
        results = topo.client.http_get(url, count=SHORT, timeout=2.0)
        assert all(r.ok for r in results), results
        answered = collections.Counter(r.body for r in results)
        s2 = sample()[tcp]
        assert (s2.active, s2.total) == (HELD, s.total + SHORT)
        # A backend none of the held connections went to is absent from the first sample.
        new_per_backend = {
            by_ip[b.address]: x.total - (s.backends[b].total if b in s.backends else 0)
            for b, x in s2.backends.items()
        }
        assert {name: n for name, n in new_per_backend.items() if n} == dict(answered)

        replies = topo.client.udp_request(VIP, 53, count=UDP_REQUESTS, timeout=1.0)
        assert all(r.ok for r in replies), replies
        u = sample()[udp]
        assert (u.active, u.total) == (UDP_REQUESTS, UDP_REQUESTS)
        assert {by_ip[b.address]: x.total for b, x in u.backends.items()} == dict(
            collections.Counter(r.body for r in replies)
        )

        # Closing the held connections: no longer active, and no new ones counted.
        holder.terminate()
        holder.wait(10)
        s3 = ovn_testbed.wait_until(
            lambda: (r := sample()[tcp]).active == 0 and r, 10.0, message="held connections to close"
        )
        assert s3.total == s2.total
    finally:
        if holder is not None and holder.poll() is None:
            holder.kill()
            holder.wait(10)
        stack.stop()
