"""Benchmark: LEAST_CONNECTIONS against plain OVN dp_hash, with skewed connection durations.

Testbed (root; a private OVN, quantix_lb/testing/ovn_testbed.py): a switch and router, a client and three
backends in network namespaces. Every backend runs a tiny TCP "hold" server on port 7000: it
reads one line (seconds to hold), holds the connection that long, answers with its host name
and closes (or closes at once when the client leaves first). `quantix-lb serve --ovn-nb` on the
stack's NB, no local worker, and one `quantix-lb health-worker --ovs-rundir` that reads the
stack's conntrack table (the statistics the LEAST_CONNECTIONS controller steers by).

Two load balancers over the same three members (backend:7000, no health monitor):

  10.0.0.100:7000  ROUND_ROBIN        plain OVN selection, a hash per connection (dp_hash)
  10.0.0.101:7000  LEAST_CONNECTIONS  the same, with the backend list re-weighted every sample

Two phases, one after the other, each from zero connections: a load generator in the client
namespace makes Poisson arrivals (--rate per second, --seconds long); each connection holds
--short seconds, or with probability --long-share a time uniform in [--long-min, --long-max].
The same --seed gives both phases the same sequence. The phase (and the generator) ends with
the arrival window; long connections still open then are cut.

Measured per phase:
  imbalance       every 0.5 s, per backend the ESTABLISHED connections on port 7000 (`ss` in
                  its namespace); max/mean over the three backends, samples with mean < 1 and
                  the first --warmup seconds left out
  NB writes       quantix_lb_ovn_nb_commands_total, NB transactions and
                  quantix_lb_steering_updates_total on /metrics, per second of the phase
  CPU             utime+stime of the worker and of serve (/proc/<pid>/stat), % of one core
and at the end of the LEAST_CONNECTIONS phase the stats API's per-member connections against
`ss` at about the same moment.

    .venv/bin/python scripts/bench_lc.py [--rate 10] [--seconds 60] [--long-share 0.05]
        [--long-min 40] [--long-max 80] [--short 0.2] [--warmup 10] [--seed 1] [--trace]

Takes about 3 minutes with the defaults. OVS 3.1's userspace conntrack (the test datapath) can
abort ovs-vswitchd (README, "Connection storms and OVS 3.1's userspace datapath"); the script
checks that it survived each phase and, if not, reports its log line and stops there.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import queue
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from quantix_lb.proc import cpu_seconds
from quantix_lb.testing import QUANTIX_LB, Server, ovn_testbed

ROOT = Path(__file__).resolve().parent.parent

NET = "net-lc"
PORT = 7000
DP_HASH_VIP, LC_VIP = "10.0.0.100", "10.0.0.101"
SAMPLE_EVERY = 0.5

# Backend: per connection, read the seconds to hold; hold (ending early if the client leaves);
# answer with the host name; close.
_HOLD_SERVER = r"""
import asyncio, sys
name, port = sys.argv[1].encode() + b"\n", int(sys.argv[2])
async def handle(reader, writer):
    try:
        hold = float((await asyncio.wait_for(reader.readline(), 10)) or 0)
        try:
            await asyncio.wait_for(reader.read(1), hold)  # b"" at once when the client is gone
        except TimeoutError:
            writer.write(name)
            await writer.drain()
    except (OSError, ValueError, TimeoutError):
        pass
    finally:
        writer.close()
async def main():
    server = await asyncio.start_server(handle, "0.0.0.0", port, backlog=1024)
    async with server:
        await server.serve_forever()
asyncio.run(main())
"""

# Client: one connection to VIP:port holding 0 s; prints the answering backend.
_PROBE = r"""
import socket, sys
with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1) as s:
    s.sendall(b"0\n")
    data = b""
    while chunk := s.recv(64):
        data += chunk
print(data.decode().strip())
"""

# Client: Poisson arrivals, one task per connection; JSON lines on stdout ("ready", then
# progress once a second, "arrivals_done" at the end of the window, "done" when all ended).
_GENERATOR = r"""
import asyncio, json, random, sys
vip, port = sys.argv[1], int(sys.argv[2])
rate, seconds, long_share, long_min, long_max, short = map(float, sys.argv[3:9])
rng = random.Random(int(sys.argv[9]))
plan, t = [], 0.0
while True:
    t += rng.expovariate(rate)
    if t >= seconds:
        break
    is_long = rng.random() < long_share
    plan.append((t, rng.uniform(long_min, long_max) if is_long else short))
c = {"started": 0, "open": 0, "completed": 0, "errors": 0}
first_errors = []
t0 = 0.0
def say(**kw):
    print(json.dumps({**kw, **c, "first_errors": first_errors[:10]}), flush=True)
def error(what):
    c["errors"] += 1
    first_errors.append(f"t={asyncio.get_running_loop().time() - t0:.1f} {what}")
async def one(hold):
    c["started"] += 1
    began = asyncio.get_running_loop().time() - t0
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(vip, port), 5)
    except (OSError, TimeoutError) as exc:
        error(f"connect started at {began:.1f}: {exc!r}")
        return
    c["open"] += 1
    try:
        writer.write(f"{hold}\n".encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), hold + 10)
        if answer:
            c["completed"] += 1
        else:
            error("closed without an answer")
    except (OSError, TimeoutError) as exc:
        error(repr(exc))
    finally:
        c["open"] -= 1
        writer.close()
async def progress(start):
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(1)
        say(t=round(loop.time() - start, 1))
async def main():
    loop = asyncio.get_running_loop()
    say(ready=True, arrivals=len(plan), long=sum(1 for _, h in plan if h > short))
    global t0
    start = t0 = loop.time()
    reporter = asyncio.create_task(progress(start))
    tasks = []
    for at, hold in plan:
        await asyncio.sleep(max(0.0, start + at - loop.time()))
        tasks.append(asyncio.create_task(one(hold)))
    say(arrivals_done=True)
    await asyncio.gather(*tasks)
    reporter.cancel()
    say(done=True)
asyncio.run(main())
"""


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def metric(text: str, name: str) -> float:
    """Sum of a metric's samples (over all label sets) in Prometheus text format."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{"):
            total += float(line.rsplit(" ", 1)[1])
    return total


COUNTERS = {
    "nb_commands": "quantix_lb_ovn_nb_commands_total",
    "nb_transactions": "quantix_lb_ovn_nb_transaction_duration_seconds_count",
    "steering_updates": "quantix_lb_steering_updates_total",
}


@dataclass
class Sample:
    t: float  # seconds since the generator started
    established: list[int]  # per backend
    entries: list[int] | None = None  # LC: backend-list entries per backend

    @property
    def mean(self) -> float:
        return sum(self.established) / len(self.established)

    @property
    def imbalance(self) -> float:
        return max(self.established) / self.mean


@dataclass
class Phase:
    name: str
    vip: str
    seconds: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    counters: dict[str, float] = field(default_factory=dict)  # deltas
    cpu: dict[str, float] = field(default_factory=dict)  # process -> CPU seconds
    generator: dict = field(default_factory=dict)  # its last progress line
    ready: dict = field(default_factory=dict)
    accuracy: dict | None = None
    datapath_death: ovn_testbed.DatapathDied | None = None  # the data path died during the phase

    def used(self, warmup: float) -> list[Sample]:
        return [s for s in self.samples if s.t >= warmup and s.mean >= 1]


class Generator:
    """The load generator in the client namespace; its JSON lines are read on a thread."""

    def __init__(self, host: ovn_testbed.Host, vip: str, args: argparse.Namespace) -> None:
        self.lines: queue.Queue[dict] = queue.Queue()
        self.last: dict = {}
        self.proc = host.popen(
            sys.executable, "-u", "-c", _GENERATOR, vip, str(PORT),
            *(str(v) for v in (args.rate, args.seconds, args.long_share, args.long_min, args.long_max)),
            str(args.short), str(args.seed),
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            with contextlib.suppress(ValueError):
                msg = json.loads(raw)
                self.last = msg
                self.lines.put(msg)

    def wait_ready(self, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                msg = self.lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"load generator not ready within {timeout} s") from None
            if msg.get("ready"):
                return msg

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(tempfile.mkdtemp(prefix="bench-lc-"))
        self.stack = ovn_testbed.OvnStack()
        self.server: Server | None = None
        self.worker: subprocess.Popen[bytes] | None = None
        self.http: httpx.Client | None = None
        self.generator: Generator | None = None
        self.pool = ThreadPoolExecutor(3)
        self.lbs: dict[str, dict] = {}

    # -- setup ---------------------------------------------------------------------------

    def start(self) -> None:
        self.stack.start()
        topo = ovn_testbed.lb_topology(self.stack, NET, backends=3)
        self.client, self.backends = topo.client, topo.backends
        for b in self.backends:
            proc = b.popen(sys.executable, "-c", _HOLD_SERVER, b.name, str(PORT))

            def listening(b: ovn_testbed.Host = b, proc: subprocess.Popen[bytes] = proc) -> bool:
                if proc.poll() is not None:
                    raise ovn_testbed.OvnTestbedError(f"hold server on {b.name} exited: {proc.returncode}")
                return bool(b.run("ss", "-Hltn", f"sport = :{PORT}").stdout.strip())

            ovn_testbed.wait_until(listening, 10, message=f"hold server on {b.name}")

        self.server = Server(self.work / "data", ["--ovn-nb", self.stack.nb_remote, "--no-local-worker"])
        self.server.start()
        self.http = httpx.Client(base_url=self.server.http_url, timeout=10)
        self.worker_log = open(self.work / "worker.log", "wb")  # noqa: SIM115 - closed in stop()
        self.worker = subprocess.Popen(
            [
                *QUANTIX_LB, "--log-format", "json", "health-worker",
                "--control-plane", self.server.grpc_addr, "--node-id", "bench",
                "--ovs-rundir", str(self.stack.rundir),
            ],
            stdout=subprocess.DEVNULL, stderr=self.worker_log, cwd=ROOT,
        )  # fmt: skip
        ovn_testbed.wait_until(
            lambda: metric(self.metrics(), "quantix_lb_stats_nodes") >= 1,
            20,
            message="the worker's statistics to be fresh",
        )
        for vip, algorithm in ((DP_HASH_VIP, "ROUND_ROBIN"), (LC_VIP, "LEAST_CONNECTIONS")):
            self.lbs[vip] = self.create(vip, algorithm)

    def create(self, vip: str, algorithm: str) -> dict:
        assert self.http is not None
        members = [{"address": b.ip, "port": PORT} for b in self.backends]
        pool = {"algorithm": algorithm, "members": members}
        body = {
            "name": f"bench-{algorithm.lower()}",
            "project_id": "proj-bench",
            "network_id": NET,
            "vip_address": vip,
            "listeners": [{"protocol": "TCP", "port": PORT, "default_pool": pool}],
        }
        resp = self.http.post("/api/v1/load-balancers", json=body)
        resp.raise_for_status()
        lb = resp.json()
        if lb["status"]["provisioning_status"] != "ACTIVE":
            raise RuntimeError(
                f"{vip}: {lb['status']['provisioning_status']} {lb['status']['error_message']}"
            )
        names = {b.name for b in self.backends}
        ovn_testbed.wait_until(
            lambda: self.client.run(sys.executable, "-c", _PROBE, vip, str(PORT)).stdout.strip() in names,
            15,
            message=f"{vip}:{PORT} to answer",
        )
        return lb

    def stop(self) -> None:
        if self.generator is not None:
            with contextlib.suppress(Exception):
                self.generator.kill()
        if self.http is not None:
            self.http.close()
        if self.worker is not None:
            if self.worker.poll() is None:
                self.worker.terminate()
                try:
                    self.worker.wait(10)
                except subprocess.TimeoutExpired:
                    self.worker.kill()
                    self.worker.wait()
            self.worker_log.close()
        try:
            if self.server is not None:
                self.server.stop()
        finally:
            try:
                self.stack.stop()
            finally:
                self.pool.shutdown()
                shutil.rmtree(self.work, ignore_errors=True)

    # -- measurements --------------------------------------------------------------------

    def metrics(self) -> str:
        assert self.http is not None
        return self.http.get("/metrics").text

    def counters(self) -> dict[str, float]:
        text = self.metrics()
        return {key: metric(text, name) for key, name in COUNTERS.items()}

    def cpu(self) -> dict[str, float]:
        assert self.worker is not None and self.server is not None and self.server.proc is not None
        return {"worker": cpu_seconds(self.worker.pid), "serve": cpu_seconds(self.server.proc.pid)}

    def established(self, host: ovn_testbed.Host) -> int:
        out = host.run("ss", "-Htn", "state", "established", f"( sport = :{PORT} )").stdout
        return len(out.splitlines())

    def all_established(self) -> list[int]:
        return list(self.pool.map(self.established, self.backends))

    def backend_list(self, lb: dict) -> list[int]:
        """Entries per backend in the LB's OVN vips value, as the controller last wrote it."""
        name = f"qlb-{lb['spec']['listeners'][0]['id']}"
        vips = self.stack.nbctl("--bare", "--columns=vips", "find", "load_balancer", f"name={name}")
        return [vips.count(f"{b.ip}:{PORT}") for b in self.backends]

    def stats_accuracy(self, lb: dict) -> dict:
        assert self.http is not None
        before = self.all_established()
        resp = self.http.get(f"/api/v1/load-balancers/{lb['id']}/stats")
        after = self.all_established()
        resp.raise_for_status()
        stats = resp.json()
        api = {m["address"]: int(m.get("active_connections", 0)) for m in stats["member_stats"]}
        age = None
        if stats.get("sampled_at"):
            sampled = datetime.datetime.fromisoformat(stats["sampled_at"].replace("Z", "+00:00"))
            age = time.time() - sampled.timestamp()
        return {
            "before": before,
            "api": [api.get(b.ip, 0) for b in self.backends],
            "after": after,
            "api_total": int(stats.get("active_connections", 0)),
            "age": age,
        }

    def drained(self) -> None:
        ovn_testbed.wait_until(
            lambda: not any(self.all_established()), 60, interval=0.25, message="no connections left on 7000"
        )

    def run_phase(self, name: str, vip: str) -> Phase:
        args = self.args
        lb = self.lbs[vip]
        steered = vip == LC_VIP
        phase = Phase(name, vip)
        self.drained()
        counters0, cpu0 = self.counters(), self.cpu()
        self.generator = Generator(self.client, vip, args)
        phase.ready = self.generator.wait_ready()
        t0 = time.monotonic()
        tick = t0
        while (now := time.monotonic()) - t0 < args.seconds:
            sample = Sample(now - t0, self.all_established(), self.backend_list(lb) if steered else None)
            phase.samples.append(sample)
            if args.trace:
                listed = f" list={sample.entries}" if steered else ""
                print(f"  {name:18} t={sample.t:5.1f} ss={sample.established}{listed}", flush=True)
            tick += SAMPLE_EVERY  # the sampling cadence, not a wait for readiness
            time.sleep(max(0.0, min(tick, t0 + args.seconds) - time.monotonic()))
        if steered:
            phase.accuracy = self.stats_accuracy(lb)
        counters1, cpu1 = self.counters(), self.cpu()
        phase.seconds = time.monotonic() - t0
        phase.generator = dict(self.generator.last)
        self.generator.kill()
        self.generator = None
        phase.counters = {k: counters1[k] - counters0[k] for k in counters0}
        phase.cpu = {k: cpu1[k] - cpu0[k] for k in cpu0}
        phase.datapath_death = self.stack.datapath_death()
        print(f"{name}: {len(phase.samples)} samples, generator {phase.generator}", file=sys.stderr)
        return phase


# -- report ----------------------------------------------------------------------------------


def report(phases: list[Phase], args: argparse.Namespace) -> None:
    print(
        f"\nLoad: Poisson {args.rate}/s for {args.seconds:.0f} s, {args.long_share:.0%} long "
        f"({args.long_min:.0f}-{args.long_max:.0f} s), the rest {args.short} s; seed {args.seed}; "
        "3 backends"
    )
    print(
        f"\n### Active connections per backend: max/mean (every {SAMPLE_EVERY} s, after {args.warmup:.0f} s,"
        " mean >= 1)\n"
    )
    print("| algorithm | mean imbalance | p95 imbalance | max imbalance | mean active | samples |")
    print("|---|---|---|---|---|---|")
    means: dict[str, float] = {}
    for p in phases:
        used = p.used(args.warmup)
        if not used:
            print(f"| {p.name} | - | - | - | - | 0 |")
            continue
        imb = [s.imbalance for s in used]
        means[p.name] = statistics.mean(imb)
        active = statistics.mean(sum(s.established) for s in used)
        print(
            f"| {p.name} | {means[p.name]:.3f} | {pct(imb, 0.95):.3f} | {max(imb):.3f} | {active:.1f} |"
            f" {len(used)} |"
        )

    print("\n### Active connections per backend at the end of the window (ss)\n")
    print("| algorithm | " + " | ".join(f"backend{i}" for i in (1, 2, 3)) + " |")
    print("|---|---|---|---|")
    for p in phases:
        if p.samples:
            print(f"| {p.name} | " + " | ".join(str(n) for n in p.samples[-1].established) + " |")

    lc = next((p for p in phases if p.name == "LEAST_CONNECTIONS"), None)
    if lc is not None:
        listed = [s for s in lc.used(args.warmup) if s.entries and sum(s.entries)]
        if listed:
            least = [s.entries[s.established.index(min(s.established))] / sum(s.entries) for s in listed]
            most = [s.entries[s.established.index(max(s.established))] / sum(s.entries) for s in listed]
            print(
                "\nLEAST_CONNECTIONS backend list (NB vips, sampled with ss): share of entries for the"
                f" least loaded backend mean {statistics.mean(least):.2f}, for the most loaded"
                f" {statistics.mean(most):.2f} (1/3 = plain hashing)"
            )

    print("\n### NB writes (from /metrics, per second of the phase)\n")
    print("| phase | seconds | NB commands/s | NB transactions/s | steering updates/s |")
    print("|---|---|---|---|---|")
    for p in phases:
        c = {k: v / p.seconds for k, v in p.counters.items()}
        print(
            f"| {p.name} | {p.seconds:.1f} | {c['nb_commands']:.2f} | {c['nb_transactions']:.2f} |"
            f" {c['steering_updates']:.2f} |"
        )

    print("\n### CPU, % of one core over the phase (utime+stime, all threads)\n")
    print("| process | " + " | ".join(p.name for p in phases) + " |")
    print("|---" * (len(phases) + 1) + "|")
    for proc in ("worker", "serve"):
        print(f"| {proc} | " + " | ".join(f"{p.cpu[proc] / p.seconds * 100:.1f}%" for p in phases) + " |")
    print(
        "\nThe worker has no health targets here: its figure is the statistics collection (a conntrack"
        " dump, parse and report once a second) plus the idle cost of the health-check machinery."
    )

    if lc is not None and lc.accuracy is not None:
        a = lc.accuracy
        age = f"{a['age']:.2f} s" if a["age"] is not None else "unknown"
        print(f"\n### Stats API vs ss at the end of the LEAST_CONNECTIONS phase (sampled_at age {age})\n")
        print("| backend | ss before | API connections | ss after |")
        print("|---|---|---|---|")
        for i in range(3):
            print(f"| backend{i + 1} | {a['before'][i]} | {a['api'][i]} | {a['after'][i]} |")
        print(f"| total | {sum(a['before'])} | {a['api_total']} | {sum(a['after'])} |")

    print("\n### Load generator\n")
    print("| phase | planned arrivals | long | started | completed | errors | open at window end |")
    print("|---|---|---|---|---|---|---|")
    for p in phases:
        g = p.generator
        print(
            f"| {p.name} | {p.ready.get('arrivals')} | {p.ready.get('long')} | {g.get('started')} |"
            f" {g.get('completed')} | {g.get('errors')} | {g.get('open')} |"
        )
    for p in phases:
        if p.generator.get("first_errors"):
            print(f"{p.name} first errors: {p.generator['first_errors']}")
        died = p.datapath_death
        if died is not None:
            what = " (the OVS 3.1 conntrack crash)" if died.conntrack_crash else ""
            print(f"{p.name}: {died.daemon} DIED during the phase{what}: {died.reason}")

    lc_mean, dp_mean = means.get("LEAST_CONNECTIONS"), means.get("dp_hash")
    fmt = lambda v: f"{v:.3f}" if v is not None else "n/a"  # noqa: E731
    print(f"\nLEAST_CONNECTIONS mean imbalance {fmt(lc_mean)} (target <= 1.25), dp_hash {fmt(dp_mean)}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", type=float, default=10.0, help="new connections per second (Poisson)")
    ap.add_argument("--seconds", type=float, default=60.0, help="arrival (= measurement) window per phase")
    ap.add_argument("--long-share", type=float, default=0.05, help="share of long connections")
    ap.add_argument("--long-min", type=float, default=40.0, help="shortest long hold, seconds")
    ap.add_argument("--long-max", type=float, default=80.0, help="longest long hold, seconds")
    ap.add_argument("--short", type=float, default=0.2, help="hold of a short connection, seconds")
    ap.add_argument("--warmup", type=float, default=10.0, help="seconds of each phase left out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--trace", action="store_true", help="print every sample (and the LC backend list)")
    args = ap.parse_args()
    missing = ovn_testbed.missing_prerequisites()
    if missing:
        print("bench_lc: " + "; ".join(missing), file=sys.stderr)
        return 1

    bench = Bench(args)
    phases: list[Phase] = []
    died: ovn_testbed.DatapathDied | None = None
    try:
        bench.start()
        for name, vip in (("dp_hash", DP_HASH_VIP), ("LEAST_CONNECTIONS", LC_VIP)):
            phases.append(bench.run_phase(name, vip))
            died = phases[-1].datapath_death
            if died is not None:
                break
    except ovn_testbed.DatapathDied as exc:  # noticed by a wait: what was measured still counts
        died = exc
    except Exception:
        if bench.server is not None:
            print("".join(bench.server.log_lines[-20:]), file=sys.stderr)
        raise
    finally:
        bench.stop()
    if died is not None:
        print(f"bench_lc: the data path died, the run stops here:\n{died}", file=sys.stderr)
    report(phases, args)
    return 0 if died is None else 1


if __name__ == "__main__":
    sys.exit(main())
