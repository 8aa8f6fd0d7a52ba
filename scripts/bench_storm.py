"""Benchmark: new TCP connections per second through a VIP against directly to a backend
(root; a fresh private OVN testbed for every round).

Testbed (quantix_lb/testing/ovn_testbed.py): a switch (10.0.0.0/24) and router, a client and
--backends backends in network namespaces; every backend runs a tiny server on port 7000 that
accepts, sends one byte and closes after the client. `quantix-lb serve --ovn-nb` on the stack's
NB (no health worker: its probes would be traffic too) creates the load balancer
10.0.0.100:7000 over the backends.

A burst is a load generator in the client namespace (Python, non-blocking sockets):
--concurrency connections in flight, each one connect, read the byte, close, the next started
as one ends (closed loop; --rate R makes it open loop at R per second), until
--max-connections were made or --seconds passed. Its figure is connections completed per
second. Paths:

  vip      client -> 10.0.0.100:7000 (OVN's load balancer: conntrack with DNAT, select group)
  direct   client -> backend1:7000, the load balancer present (conntrack without NAT)
  bare     client -> backend1:7000 before the load balancer exists (no conntrack at all)

Each round is a fresh testbed: a bare burst, then the load balancer, then --pairs pairs of a
vip and a direct burst (alternating which goes first); before every burst one probe connection
proves the path and the conntrack table is flushed until empty ("a fresh path"). The ratio is
the median over all pairs of vip / direct, each pair measured side by side (goal >= 0.9).

OVS 3.1.0's userspace datapath (Debian 12) aborts under some of this traffic (README,
"Connection storms and OVS 3.1's userspace datapath"). Measured on this testbed: direct
connections across a switch that has a load balancer killed ovs-vswitchd once ~3,100 of them
were in its conntrack table, at any rate from ~350/s up, and within 5-15 s at 10-150/s;
through the VIP, 20,000 at 2,000/s and 10,000 at 7,000/s did not. So a burst is capped at
2,000 connections, the table is emptied before each, and every round gets a fresh testbed.
After each burst (and --linger seconds more) the script checks ovs-vswitchd and, if it died,
prints its log line and the burst that killed it.

    .venv/bin/python scripts/bench_storm.py [--rounds 4] [--pairs 3] [--max-connections 2000]
        [--seconds 1.5] [--concurrency 8] [--rate R] [--backends 1] [--no-bare] [--linger 0]

About 30 s with the defaults.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from quantix_lb.testing import Server, ovn_testbed

NET = "net-storm"
VIP = "10.0.0.100"
PORT = 7000

# Backend: accept, send one byte, close once the client has closed. The client closes first, so
# TIME_WAIT stays on its side, keyed by the address it dialled: a burst through the VIP that
# reuses a source port of a direct burst then meets no TIME_WAIT socket at the backend (whose
# answer to such a SYN conntrack would drop, costing the client a 1 s retransmission).
_SERVER = r"""
import selectors, socket, sys
sel = selectors.DefaultSelector()
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(sys.argv[1])))
srv.listen(4096)
srv.setblocking(False)
sel.register(srv, selectors.EVENT_READ)
while True:
    for key, _ in sel.select():
        sock = key.fileobj
        if sock is srv:
            while True:
                try:
                    conn, _ = srv.accept()
                except BlockingIOError:
                    break
                conn.setblocking(False)
                try:
                    conn.send(b"x")
                except OSError:
                    conn.close()
                    continue
                sel.register(conn, selectors.EVENT_READ)
            continue
        try:
            data = sock.recv(16)
        except OSError:
            data = b""
        if not data:
            sel.unregister(sock)
            sock.close()
"""

# Client: connections to host:port for `seconds` or until `cap` were started, `conc` in flight
# (closed loop), or started at `rate` per second (open loop, still at most `conc` in flight); a
# connection is done when the server's byte arrives, failed on an error or after 1 s. The rate is
# the connections done over the time from the first start to the last answer. One JSON line.
_GENERATOR = r"""
import errno, json, selectors, socket, sys, time
host, port, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
seconds, rate, cap = float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
sel = selectors.DefaultSelector()
inflight, lat, first_errors = {}, [], []
started = done = errors = late = 0
def fail(what):
    global errors
    errors += 1
    if len(first_errors) < 3:
        first_errors.append(what)
t0 = last = time.monotonic()
deadline = t0 + seconds
while True:
    now = time.monotonic()
    if now < deadline and started < cap:
        due = min(cap, int((now - t0) * rate) + 1 if rate > 0 else started + conc)
        while len(inflight) < conc and started < due:
            s = socket.socket()
            s.setblocking(False)
            rc = s.connect_ex((host, port))
            started += 1
            if rc not in (0, errno.EINPROGRESS):
                s.close()
                fail(errno.errorcode.get(rc, str(rc)))
                continue
            inflight[s] = time.monotonic()
            sel.register(s, selectors.EVENT_READ)
    elif not inflight:
        break
    for key, _ in sel.select(0.001):
        s = key.fileobj
        try:
            data = s.recv(16)
        except OSError as exc:
            data = b""
            fail(type(exc).__name__)
        else:
            if not data:
                fail("closed without the byte")
        sel.unregister(s)
        began = inflight.pop(s)
        s.close()
        if data:
            end = time.monotonic()
            if end <= deadline:
                done += 1
                last = end
                lat.append(end - began)
            else:
                late += 1
    now = time.monotonic()
    for s, began in list(inflight.items()):
        if now - began > 1.0:
            sel.unregister(s)
            inflight.pop(s)
            s.close()
            fail("timeout (1 s)")
lat.sort()
q = lambda p: round(lat[min(len(lat) - 1, int(p * (len(lat) - 1)))] * 1000, 2) if lat else None
print(json.dumps({"started": started, "done": done, "late": late, "errors": errors,
                  "seconds": round(last - t0, 3), "rate": round(done / max(last - t0, 1e-6), 1),
                  "p50_ms": q(0.5), "p99_ms": q(0.99), "first_errors": first_errors}))
"""


@dataclass
class Burst:
    round: int
    path: str
    pair: int | None = None
    rate: float | None = None
    seconds: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    started: int = 0
    errors: int = 0
    first_errors: list[str] = field(default_factory=list)
    death: str | None = None  # the data path's death, when this burst (or its linger) saw it
    conntrack_crash: bool = False


class Testbed:
    """One fresh private OVN with the accept-and-close servers and, once asked, quantix-lb
    serving a load balancer over them."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.stack = ovn_testbed.OvnStack()
        self.work = Path(tempfile.mkdtemp(prefix="bench-storm-"))
        self.server: Server | None = None

    def __enter__(self) -> Testbed:
        try:
            self.stack.start()
            topo = ovn_testbed.lb_topology(self.stack, NET, backends=self.args.backends)
            self.client, self.backends = topo.client, topo.backends
            for b in self.backends:
                b.popen(sys.executable, "-c", _SERVER, str(PORT))
            for b in self.backends:
                self.stack.wait_until(
                    lambda b=b: b.run("ss", "-Hltn", f"sport = :{PORT}").stdout.strip(),
                    10,
                    message=f"the server on {b.name}:{PORT}",
                )
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        try:
            if self.server is not None:
                self.server.stop()
        finally:
            try:
                self.stack.stop()
            finally:
                shutil.rmtree(self.work, ignore_errors=True)

    def create_load_balancer(self) -> None:
        self.server = Server(self.work / "data", ["--ovn-nb", self.stack.nb_remote]).start()
        members = [{"address": b.ip, "port": PORT} for b in self.backends]
        body = {
            "name": "storm",
            "project_id": "bench",
            "network_id": NET,
            "vip_address": VIP,
            "listeners": [{"protocol": "TCP", "port": PORT, "default_pool": {"members": members}}],
        }
        with httpx.Client(base_url=self.server.http_url, timeout=10) as http:
            resp = http.post("/api/v1/load-balancers", json=body)
        resp.raise_for_status()
        status = resp.json()["status"]
        if status["provisioning_status"] != "ACTIVE":
            raise RuntimeError(f"load balancer {status['provisioning_status']}: {status['error_message']}")
        self.stack.nbctl("--wait=hv", "sync")  # flows installed on the chassis

    def fresh_path(self, target: str) -> None:
        """One connection to target (flows warm, the path proven), then an empty conntrack table."""
        probe = f"import socket; socket.create_connection(({target!r}, {PORT}), timeout=1).recv(1)"
        self.stack.wait_until(
            lambda: self.client.run(sys.executable, "-c", probe, check=False).returncode == 0,
            15,
            message=f"{target}:{PORT} to answer",
        )

        def flushed() -> bool:
            # The probe's last packets may still be in flight: flush until the table stays empty.
            self.stack.ovs_appctl("ovs-vswitchd", "dpctl/flush-conntrack")
            return not self.stack.ovs_appctl("ovs-vswitchd", "dpctl/dump-conntrack").strip()

        self.stack.wait_until(flushed, 5, interval=0.1, message="an empty conntrack table")

    def burst(self, burst: Burst) -> Burst:
        a = self.args
        target = VIP if burst.path == "vip" else self.backends[0].ip
        self.fresh_path(target)
        out = self.client.run(
            sys.executable, "-c", _GENERATOR, target, str(PORT), str(a.concurrency), str(a.seconds),
            str(a.rate or 0), str(a.max_connections), timeout=a.seconds + 30,
        ).stdout  # fmt: skip
        r = json.loads(out)
        burst.rate, burst.seconds, burst.p50_ms, burst.p99_ms = (
            r["rate"],
            r["seconds"],
            r["p50_ms"],
            r["p99_ms"],
        )
        burst.started, burst.errors, burst.first_errors = r["started"], r["errors"], r["first_errors"]
        self.watch(burst)
        print(
            f"round {burst.round} {burst.path}: {fmt(burst.rate)}/s, {burst.errors} errors",
            file=sys.stderr,
            flush=True,
        )
        return burst

    def watch(self, burst: Burst) -> None:
        """Did this burst kill the data path (now, or within --linger seconds)?"""
        until = time.monotonic() + self.args.linger
        while True:
            died = self.stack.datapath_death()
            if died is not None:
                burst.death, burst.conntrack_crash = died.reason, died.conntrack_crash
                print(
                    f"round {burst.round} {burst.path}: the data path died with this burst:\n{died}",
                    file=sys.stderr,
                    flush=True,
                )
                return
            if time.monotonic() >= until:
                return
            time.sleep(0.1)


def run_round(args: argparse.Namespace, round_: int) -> list[Burst]:
    """One fresh testbed: a bare burst, then the load balancer and --pairs vip/direct pairs."""
    bursts: list[Burst] = []
    with Testbed(args) as bed:
        if args.bare:
            bursts.append(bed.burst(Burst(round_, "bare")))
        bed.create_load_balancer()
        for pair in range(args.pairs):
            order = ("vip", "direct") if (round_ + pair) % 2 else ("direct", "vip")
            for path in order:
                bursts.append(bed.burst(Burst(round_, path, pair)))
                if bursts[-1].death is not None:
                    return bursts  # nothing more to measure on this testbed
    return bursts


def fmt(value: float | None, spec: str = ".0f") -> str:
    return "-" if value is None else format(value, spec)


def report(args: argparse.Namespace, bursts: list[Burst]) -> None:
    mode = f"open loop at {args.rate:.0f}/s" if args.rate else "closed loop"
    print(
        f"\nNew TCP connections per second: {mode}, {args.concurrency} in flight, bursts of"
        f" {args.max_connections} connections (at most {args.seconds:g} s),"
        f" {args.backends} backend(s); a fresh testbed per round, an empty conntrack table per burst\n"
    )
    print("| round | path | connections/s | p50 ms | p99 ms | started | seconds | errors | data path after |")
    print("|---|---|---|---|---|---|---|---|---|")
    for b in bursts:
        died = "DIED (conntrack assertion)" if b.conntrack_crash else "DIED"
        print(
            f"| {b.round} | {b.path} | {fmt(b.rate)} | {fmt(b.p50_ms, '.2f')} | {fmt(b.p99_ms, '.2f')} |"
            f" {b.started} | {b.seconds:.2f} | {b.errors} | {'alive' if b.death is None else died} |"
        )
    for b in bursts:
        if b.first_errors:
            print(f"round {b.round} {b.path} first errors: {b.first_errors}")

    # A burst whose data path died under it measured the crash, not the path.
    alive = [b for b in bursts if b.death is None and b.rate is not None]

    def median(path: str) -> float | None:
        rates = [b.rate for b in alive if b.path == path and b.rate is not None]
        return statistics.median(rates) if rates else None

    ratios = []
    for b in alive:
        if b.path == "vip":
            twin = next((d for d in alive if (d.round, d.pair, d.path) == (b.round, b.pair, "direct")), None)
            if twin is not None and twin.rate and b.rate is not None:
                ratios.append(b.rate / twin.rate)
    vip, direct, bare = median("vip"), median("direct"), median("bare")
    print()
    print(f"via the VIP:                            {fmt(vip)} connections/s (median)")
    print(f"directly to a backend (LB on switch):   {fmt(direct)} connections/s")
    if bare is not None:
        print(f"directly, no load balancer on switch:   {fmt(bare)} connections/s (no conntrack at all)")
    if ratios:
        ratio = statistics.median(ratios)
        verdict = "met" if ratio >= 0.9 else "NOT met"
        spread = f"{min(ratios):.2f}-{max(ratios):.2f}"
        print(f"VIP / direct, median of {len(ratios)} pairs: {ratio:.2f} ({spread}; goal >= 0.9: {verdict})")
    deaths = [b for b in bursts if b.death is not None]
    print(f"bursts after which ovs-vswitchd had died: {len(deaths)} of {len(bursts)}")
    for b in deaths:
        which = f"round {b.round} {b.path}" + (f" (pair {b.pair + 1})" if b.pair is not None else "")
        print(f"  killed by the {which} burst: {b.death}")
    print(json.dumps([b.__dict__ for b in bursts]), file=sys.stderr)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=4, help="fresh testbeds")
    ap.add_argument("--pairs", type=int, default=3, help="vip/direct pairs per testbed")
    ap.add_argument(
        "--max-connections", type=int, default=2000, help="per burst (OVS 3.1 dies at ~3,100 direct)"
    )
    ap.add_argument("--seconds", type=float, default=1.5, help="longest burst")
    ap.add_argument("--concurrency", type=int, default=8, help="connections in flight")
    ap.add_argument("--rate", type=float, default=0.0, help="open loop: new connections per second")
    ap.add_argument("--backends", type=int, default=1, choices=(1, 2, 3))
    ap.add_argument(
        "--no-bare", dest="bare", action="store_false", help="skip the burst without a load balancer"
    )
    ap.add_argument("--linger", type=float, default=0.0, help="seconds to keep watching after a burst")
    args = ap.parse_args()
    if min(args.seconds, args.concurrency, args.rounds, args.pairs, args.max_connections) <= 0:
        ap.error("--seconds, --max-connections, --concurrency, --rounds and --pairs must be positive")
    missing = ovn_testbed.missing_prerequisites()
    if missing:
        print("bench_storm: " + "; ".join(missing), file=sys.stderr)
        return 1

    t0 = time.monotonic()
    bursts: list[Burst] = []
    for round_ in range(1, args.rounds + 1):
        bursts += run_round(args, round_)
    report(args, bursts)
    print(f"\n{time.monotonic() - t0:.0f} s in all", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
