"""Bytes and packets from clients to each VIP, from the OpenFlow flows that balance it.

The userspace datapath's conntrack keeps no byte counters, but OVN's own flows do: a
per-node worker reads `bridge/dump-flows br-int` from ovs-vswitchd over its unixctl socket
(`read_flows()`, one call) and sums, per frontend, the counters of the flows that see every
client-to-VIP packet exactly once (`vip_counters()`).

What br-int holds for one VIP:port (checked on OVN 23.03 / OVS 3.1, userspace datapath, LB on
the logical switch and on its router; metadata 0x1 the switch, 0x2 the router):

    table_id=14, duration=45s, n_packets=80, n_bytes=108296, priority=120,tcp,reg0=0x4/0x4,
        metadata=0x1,nw_dst=10.0.0.100,tp_dst=7000,actions=set_field:...->xxreg0,
        set_field:...->xxreg0,ct(table=15,zone=NXM_NX_REG13[0..15],nat)
    table_id=20, ..., priority=120,ct_state=+new+trk,tcp,metadata=0x1,nw_dst=10.0.0.100,
        tp_dst=7000,actions=set_field:...,group:1
    table_id=15, ..., priority=120,ct_state=+new-rel+trk,tcp,metadata=0x2,nw_dst=10.0.0.100,
        tp_dst=7000,actions=group:5
    table_id=13, ..., priority=100,ip,metadata=0x2,nw_dst=10.0.0.100,actions=ct(table=14,
        zone=NXM_NX_REG11[0..15],nat)

- The switch's pre-stateful flow (table 14 here; `tcp6,...,ipv6_dst=` for IPv6) sends every
  packet from a client on that switch to the VIP:port through conntrack, the first as well as
  the established ones: measured, its delta equals what OVS received from the client's port
  (less ARP/ND), for IPv4 and IPv6, TCP and UDP, and for a backend reaching its own VIP
  (hairpin). This is the flow that is counted.
- The `ct_state=+new` flows (the switch's and the router's load-balancing stages, and with
  `affinity_timeout` the affinity checks) see only a connection's first packet, already
  counted above. An affinity LB also learns flows (`table_id=78, ... tcp,metadata=0x1,
  nw_src=<client>,nw_dst=<VIP>,tp_dst=<port>,actions=load:...`, default priority so no
  `priority=`) that see first packets only. Hairpin flows match the backend or registers,
  not the VIP. None of these is counted.
- So the rule: a flow counts for (protocol, VIP, port) if it matches exactly that protocol,
  destination address and destination port, matches no conntrack field (no `ct_state`,
  `ct_mark`, ...: it runs before conntrack, so it sees every packet, not one state's), and
  sends the packet to conntrack (`ct(` in its actions, which is how OVN balances). Flows of
  several datapaths (the same VIP:port on two switches with clients on this node) are summed:
  a packet passes the pre-stateful stage of its source switch only.
- A client reaching the VIP through a router (another subnet, outside) is balanced by the
  router, whose only flow seeing every packet is the defragmentation one above: per VIP, not
  per port or protocol. Such traffic is not in these counters (OVN 23.03).
- Counters are Ethernet frames as OVS received them: payload plus L2-L4 headers, and a
  retransmitted segment counts again. They lag by the revalidators' interval (~0.5 s): a
  packet handled by a datapath megaflow reaches its OpenFlow rule's counters then.
- They count from the flow's installation. Measured: a backend or option change and an
  ovn-controller recompute keep them (the flow is the same); an ovn-controller restart resets
  them to 0 (it clears the bridge); so do, being new flows, an ovs-vswitchd restart and the
  LB or VIP removed and added again. The control plane takes a sum that goes down for such a
  restart.

Cost: the dump is the whole bridge (about 260 bytes a flow, 8 flows for a 3-backend LB on
a switch and a router; this unixctl command takes no filter). ovs-vswitchd builds it in its
main thread, which in the userspace datapath also forwards the packets of non-DPDK ports:
measured, a 10,600-flow dump took ~135 ms and delayed packets by up to ~150 ms meanwhile.
`FlowCounters` (what the collector uses) therefore dumps at most a fixed share of the time
and reports the last counters in between. Parsing looks only at lines with `ct(` (10,000
lines: ~10-20 ms).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Collection, Iterable

from quantix_lb.stats.conntrack import Frontend, _ask, _ip6, ask_vswitchd

__all__ = ["FlowCounters", "read_flows", "vip_counters"]

# Protocol shorthands of OVS's match format, to the frontend's protocol.
_PROTOCOLS = {
    "tcp": "tcp", "udp": "udp", "sctp": "sctp",
    "tcp6": "tcp", "udp6": "udp", "sctp6": "sctp",
}  # fmt: skip

# The head of a `bridge/dump-flows` line (ofproto's flow_stats_ds): table (absent for table 0),
# age, counters, then the match and ",actions=".
_HEAD = re.compile(r"(?:table_id=\d+, )?duration=[^,]*, n_packets=(\d+), n_bytes=(\d+), ")


def read_flows(
    rundir: str | os.PathLike[str] | None = None, bridge: str = "br-int", timeout: float = 5.0
) -> str:
    """The text of `bridge/dump-flows <bridge>` (every flow with its counters), asked of
    ovs-vswitchd over its unixctl socket (python-ovs; no ovs-appctl process).

    rundir: the argument, else $OVS_RUNDIR, else /var/run/openvswitch. Raises OvsUnavailable,
    with the reason, when the daemon cannot be reached, the bridge does not exist or the
    answer takes longer than `timeout` seconds.
    """
    return ask_vswitchd(
        rundir, lambda client, deadline_ms: _ask(client, "bridge/dump-flows", [bridge], deadline_ms), timeout
    )


def _key(match: str) -> tuple[str, str, int] | None:
    """(protocol, destination address, destination port) of a flow that counts, else None."""
    proto = dst = port = None
    for field in match.split(","):
        if field in _PROTOCOLS:
            proto = _PROTOCOLS[field]
        elif field.startswith("ct_"):
            return None  # after conntrack: one state's packets, not all of them
        elif field.startswith(("nw_dst=", "ipv6_dst=")):
            dst = field[field.index("=") + 1 :]
        elif field.startswith("tp_dst="):
            port = field[7:]
    if proto is None or dst is None or port is None or "/" in dst or not port.isdigit():
        return None  # a masked address or port is a range, not a VIP
    return proto, _ip6(dst) if ":" in dst else dst, int(port)


def vip_counters(text: str, frontends: Iterable[Frontend]) -> dict[Frontend, tuple[int, int]]:
    """(bytes, packets) from clients to each frontend, summed over the flows that count (see
    the module docstring), from the text of `bridge/dump-flows`. Frontends with no such flow
    on this node are absent; lines it cannot read are skipped.
    """
    wanted = {(f.protocol, f.vip, f.port): f for f in frontends}
    out: dict[Frontend, tuple[int, int]] = {}
    if not wanted:
        return out
    find, rfind = text.find, text.rfind
    end = len(text)
    pos = 0
    # Only lines sending packets to conntrack can count: jump from one "ct(" to the next
    # (a third of an OVN bridge's lines) rather than looking at every line.
    while (i := find("ct(", pos)) >= 0:
        start = rfind("\n", 0, i) + 1
        stop = find("\n", i)
        pos = stop = end if stop < 0 else stop
        a = find(",actions=", start, stop)
        if a < 0 or a > i or find(",tp_dst=", start, a) < 0:
            continue  # "ct(" not in the actions, or no destination port matched
        h = _HEAD.match(text, start, a)
        if h is None:
            continue
        key = _key(text[h.end() : a])
        if key is None:
            continue
        frontend = wanted.get(key)
        if frontend is None:
            continue
        n_bytes, n_packets = int(h[2]), int(h[1])
        old = out.get(frontend)
        out[frontend] = (n_bytes, n_packets) if old is None else (old[0] + n_bytes, old[1] + n_packets)
    return out


class FlowCounters:
    """read_flows() then vip_counters(), for a periodic sampler, with the dump's cost bounded.

    A dump that took d seconds is not repeated before d / max_duty seconds have passed
    (2%: a 10 ms dump every 0.5 s, a 135 ms one every ~7 s); meanwhile `sample()` answers
    from the last dump. The counters only grow, so a late figure is still a true one.
    """

    def __init__(
        self,
        rundir: str | os.PathLike[str] | None = None,
        bridge: str = "br-int",
        *,
        max_duty: float = 0.02,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < max_duty <= 1:
            raise ValueError(f"max_duty must be in (0, 1], not {max_duty}")
        self.rundir, self.bridge, self.max_duty, self.timeout = rundir, bridge, max_duty, timeout
        self._clock = clock
        self._text: str | None = None
        self._next = 0.0  # clock() from which to dump again
        self._parsed: tuple[Collection[Frontend], dict[Frontend, tuple[int, int]]] | None = None

    def sample(self, frontends: Collection[Frontend]) -> dict[Frontend, tuple[int, int]]:
        """vip_counters() of the last dump, dumping again when due. Raises OvsUnavailable
        when the dump fails (and dumps again at the next call)."""
        started = self._clock()
        if self._text is None or started >= self._next:
            self._text = self._parsed = None
            text = read_flows(self.rundir, self.bridge, self.timeout)
            took = self._clock() - started
            self._text, self._next = text, started + took / self.max_duty
        parsed = self._parsed
        if parsed is not None and parsed[0] is frontends:
            return parsed[1]  # the same dump and the same frontends: already summed
        counters = vip_counters(self._text, frontends)
        self._parsed = (frontends, counters)
        return counters
