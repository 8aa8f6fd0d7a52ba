"""Benchmark: how fast a dead backend stops getting traffic (root; a private OVN).

Testbed: a switch and router, a client and three HTTP backends in network
namespaces; `quantix-lb serve` on the stack's NB with its local health worker,
which probes the network from a probe port of its own (a logical switch port
bound in a namespace on br-int), as in a deployment. Monitor: HTTP, delay 0.5 s, timeout
0.25 s, max_retries 2. Each trial kills one backend's HTTP server and measures

  removal   kill -> the member is gone from the Load_Balancer's vips in the NB
  recovery  kill -> start of the first whole second in which every request
            the client makes through the VIP succeeds (one new connection
            every 20 ms, 0.3 s timeout)

then restarts it and waits until it is back. Baseline in the same run: OVN's
own health check (Load_Balancer_Health_Check, TCP, interval 1 s, timeout 1 s,
failure_count 2) on a second VIP over the same backends, same kill; its
"removal" is the SB Service_Monitor turning offline.

    .venv/bin/python scripts/bench_failover.py [--trials 20]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from quantix_lb.testing import Server, ovn_testbed

NET = "net-bench"
OURS, THEIRS = "10.0.0.100", "10.0.0.101"
DELAY, TIMEOUT, RETRIES = 0.5, 0.25, 2

# Runs in the client namespace: a request every 20 ms, one JSON line per result.
_CLIENT = r"""
import sys, time, socket
host, until = sys.argv[1], float(sys.argv[2])
while time.time() < until:
    t = time.time()
    ok = False
    try:
        with socket.create_connection((host, 80), timeout=0.3) as s:
            s.sendall(b"GET / HTTP/1.0\r\n\r\n")
            ok = s.recv(64).startswith(b"HTTP/")
    except OSError:
        pass
    print(f"{t:.4f} {int(ok)}", flush=True)
    time.sleep(max(0.0, 0.02 - (time.time() - t)))
"""


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def recovery(samples: list[tuple[float, bool]], kill: float) -> float | None:
    """Start of the first 1-second window after the kill where every request succeeded."""
    after = [(t, ok) for t, ok in samples if t >= kill]
    for i, (start, _) in enumerate(after):
        window = [ok for t, ok in after[i:] if t < start + 1.0]
        if window and all(window) and after[-1][0] >= start + 1.0:
            return start - kill
    return None


def run_batch(args: argparse.Namespace, results: dict[str, dict[str, list[float]]]) -> None:
    """One fresh testbed, `args.trials` trials per path."""
    stack = ovn_testbed.OvnStack()
    server = None
    work = Path(tempfile.mkdtemp(prefix="qlb-failover-"))
    try:
        stack.start()
        topo = ovn_testbed.lb_topology(stack, NET)
        client, backends, servers = topo.client, topo.backends, topo.servers
        server = Server(
            work / "data", ["--ovn-nb", stack.nb_remote, "--ovs-rundir", str(stack.rundir)], local_worker=True
        ).start()
        http = httpx.Client(base_url=server.http_url, timeout=10)
        members = [{"address": b.ip, "port": 8080} for b in backends]
        monitor = {
            "type": "HTTP",
            "delay_ms": round(DELAY * 1000),
            "timeout_ms": round(TIMEOUT * 1000),
            "max_retries": RETRIES,
        }
        pool = {"members": members, "health_monitor": monitor}
        listeners = [{"protocol": "HTTP", "port": 80, "default_pool": pool}]
        body = {"project_id": "bench", "network_id": NET, "vip_address": OURS, "listeners": listeners}
        lb = http.post("/api/v1/load-balancers", json=body).json()

        def statuses() -> set[str]:
            pool = http.get(f"/api/v1/load-balancers/{lb['id']}").json()["spec"]["pools"][0]
            return {m["operating_status"] for m in pool["members"]}

        def monitor_status(ip: str) -> str:
            fields = stack.sbctl("--bare", "--columns=ip,status", "list", "service_monitor").split()
            return next((fields[i + 1] for i, v in enumerate(fields[:-1]) if v == ip), "")

        victim = backends[1]
        ours_row = f"qlb-{lb['spec']['listeners'][0]['id']}"

        def ours_removed() -> float | None:
            vips = stack.nbctl("get", "load_balancer", ours_row, "vips")
            return time.time() if f"{victim.ip}:8080" not in vips else None

        def theirs_removed() -> float | None:
            return time.time() if monitor_status(victim.ip) == "offline" else None

        def trial(name: str, vip: str, removed: Callable[[], float | None], back: Callable[[], bool]) -> None:
            until = time.time() + 6.0
            proc = client.popen(sys.executable, "-c", _CLIENT, vip, str(until), stdout=-1, stderr=-3)
            time.sleep(0.5)  # the client's traffic is flowing before the kill
            kill = time.time()
            servers[victim.name].kill()
            servers[victim.name].wait()
            gone = ovn_testbed.wait_until(removed, 15, interval=0.005, message=f"{name}: removal")
            results[name]["removal"].append(gone - kill)
            out, _ = proc.communicate(timeout=30)
            samples = [
                (float(t), ok == "1") for t, ok in (line.split() for line in out.decode().splitlines())
            ]
            rec = recovery(samples, kill)
            if rec is not None:
                results[name]["recovery"].append(rec)
            servers[victim.name] = stack.start_http_server(victim, 8080)
            ovn_testbed.wait_until(back, 30, message=f"{name}: the backend back")

        ovn_testbed.wait_until(lambda: statuses() == {"ONLINE"}, 20, message="members ONLINE")
        for i in range(args.trials):
            trial("quantix-lb", OURS, ours_removed, lambda: statuses() == {"ONLINE"})
            print(f"quantix-lb trial {i + 1}/{args.trials}", file=sys.stderr, flush=True)

        if not args.no_baseline:
            # Our load balancer goes first, so the two kinds of checks never run together.
            http.delete(f"/api/v1/load-balancers/{lb['id']}")
            backend_list = ",".join(f"{b.ip}:8080" for b in backends)
            stack.nbctl("lb-add", "ovn-hc", f"{THEIRS}:80", backend_list, "tcp")
            for b in backends:
                stack.nbctl("set", "load_balancer", "ovn-hc", f'ip_port_mappings:{b.ip}="{b.lsp}:10.0.0.250"')
            # The check row is not a root row: create and reference it in one transaction.
            stack.nbctl(
                "--", "--id=@hc", "create", "load_balancer_health_check", f'vip="{THEIRS}:80"',
                "options:interval=1", "options:timeout=1",
                "options:failure_count=2", "options:success_count=1",
                "--", "add", "load_balancer", "ovn-hc", "health_check", "@hc",
            )  # fmt: skip
            stack.nbctl("ls-lb-add", NET, "ovn-hc")
            stack.nbctl("lr-lb-add", "lr0", "ovn-hc")
            stack.nbctl("--wait=hv", "sync")
            online = lambda: monitor_status(victim.ip) == "online"  # noqa: E731
            ovn_testbed.wait_until(online, 30, message="OVN's monitor online")
            for i in range(args.trials):
                trial("OVN health check", THEIRS, theirs_removed, online)
                print(f"OVN health check trial {i + 1}/{args.trials}", file=sys.stderr, flush=True)

        http.close()
    except Exception as exc:
        # A dead ovs-vswitchd explains every failure after it: report its log line, not them.
        died = stack.datapath_death()
        if died is not None:
            if isinstance(exc, ovn_testbed.DatapathDied):
                raise
            raise died.noticed_when(f"{type(exc).__name__}: {exc}") from exc
        try:
            print(
                "DIAG client:",
                stack.hosts["client"].http_get("http://10.0.0.11:8080/", timeout=1.0),
                file=sys.stderr,
            )
            ct = stack.ovs_appctl("ovs-vswitchd", "dpctl/dump-conntrack")
            print("DIAG conntrack entries:", len(ct.splitlines()), file=sys.stderr)
            print("DIAG ct sample:", "\n".join(ct.splitlines()[:5]), file=sys.stderr)
        except Exception as exc:
            print("DIAG failed", exc, file=sys.stderr)
        if server:  # the control plane's view of health, for the failure report
            print("".join(line for line in server.log_lines if "health" in line)[-8000:], file=sys.stderr)
        raise
    finally:
        if server:
            server.stop()
        stack.stop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--batch", type=int, default=5, help="trials per fresh testbed")
    parser.add_argument("--no-baseline", action="store_true", help="skip OVN's own health check")
    args = parser.parse_args()
    missing = ovn_testbed.missing_prerequisites()
    if missing:
        print("bench_failover: " + "; ".join(missing), file=sys.stderr)
        return 1
    results: dict[str, dict[str, list[float]]] = {
        name: {"removal": [], "recovery": []} for name in ("quantix-lb", "OVN health check")
    }
    # OVS 3.1's userspace conntrack (this testbed's datapath) can die on an assertion
    # under this churn (README, "Connection storms and OVS 3.1's userspace datapath");
    # fresh testbeds for every few trials keep one crash from ending the run, and a batch
    # that lost its datapath is retried.
    lost: list[str] = []  # why each lost batch was lost, one line each
    crashes = 0  # of them, lost to the OVS 3.1 conntrack assertion (as ovs-vswitchd's log says)
    while len(results["quantix-lb"]["removal"]) < args.trials:
        batch = argparse.Namespace(
            **{**vars(args), "trials": min(args.batch, args.trials - len(results["quantix-lb"]["removal"]))}
        )
        partial = {name: {"removal": [], "recovery": []} for name in results}
        try:
            run_batch(batch, partial)
        except (TimeoutError, ovn_testbed.OvnTestbedError) as exc:
            if isinstance(exc, ovn_testbed.DatapathDied):
                crashes += 1 if exc.conntrack_crash else 0
                reason = f"{exc.daemon} died: {exc.reason}"
            else:
                reason = str(exc).splitlines()[0]
            lost.append(reason)
            print(f"batch {len(lost)} lost: {reason}; retrying on a fresh testbed", file=sys.stderr)
            if len(lost) > 5:
                raise
            continue
        for name, r in partial.items():
            for key, values in r.items():
                results[name][key].extend(values)
    target = RETRIES * DELAY + TIMEOUT + 0.1
    print(f"\nkill -> removal / recovery over {args.trials} trials (target p99 <= {target * 1000:.0f} ms)")
    print("| path | removal p50 ms | removal p99 ms | recovery p50 ms | recovery p99 ms | recovered |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        rem, rec = r["removal"], r["recovery"]
        if not rem:
            continue
        rec50 = f"{statistics.median(rec) * 1000:.0f}" if rec else "-"
        rec99 = f"{pct(rec, 0.99) * 1000:.0f}" if rec else "-"
        print(f"| {name} | {statistics.median(rem) * 1000:.0f} | {pct(rem, 0.99) * 1000:.0f} | {rec50} | "
              f"{rec99} | {len(rec)}/{len(rem)} |")  # fmt: skip
    print(f"batches lost: {len(lost)}, {crashes} of them to the OVS 3.1 conntrack crash")
    for i, reason in enumerate(lost, 1):
        print(f"  lost batch {i}: {reason}")
    print(json.dumps(results), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
