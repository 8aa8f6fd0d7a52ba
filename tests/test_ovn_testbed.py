"""End-to-end proof that the private OVN testbed carries load-balanced traffic."""

from __future__ import annotations

import collections
import subprocess
import time

import pytest

from quantix_lb.testing import ovn_testbed

OvnStack = ovn_testbed.OvnStack

_missing = ovn_testbed.missing_prerequisites()
pytestmark = [
    pytest.mark.ovn,
    pytest.mark.skipif(bool(_missing), reason="OVN testbed unavailable: " + "; ".join(_missing)),
]

SUBNET = "10.0.0.0/24"
GATEWAY = "10.0.0.1"
VIP = "10.0.0.100"
BACKEND_PORT = 8080
REQUESTS = 30


def _netns_names() -> set[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def test_load_balancer_spreads_requests_over_all_backends() -> None:
    t0 = time.monotonic()
    stack = OvnStack()
    try:
        stack.start()
        stack.add_switch("sw0", SUBNET)
        stack.add_router("lr0")
        stack.connect_router("lr0", "sw0", f"{GATEWAY}/24", "0a:58:0a:00:00:01")
        client = stack.add_host("sw0", "client", "10.0.0.10/24", GATEWAY)
        backends = [stack.add_host("sw0", f"backend{i}", f"10.0.0.1{i}/24", GATEWAY) for i in (1, 2, 3)]
        for backend in backends:
            stack.start_http_server(backend, BACKEND_PORT)

        members = ",".join(f"{b.ip}:{BACKEND_PORT}" for b in backends)
        stack.nbctl("lb-add", "lb0", f"{VIP}:80", members, "tcp")
        stack.nbctl("ls-lb-add", "sw0", "lb0")
        # The router answers ARP for the VIP; a switch-only LB would not.
        stack.nbctl("lr-lb-add", "lr0", "lb0")
        stack.nbctl("--wait=hv", "sync")

        results = client.http_get(f"http://{VIP}/", count=REQUESTS, timeout=2.0)
        failures = [r for r in results if not r.ok]
        counts = collections.Counter(r.body for r in results if r.ok)
        assert not failures, (
            f"{len(failures)}/{REQUESTS} requests to the VIP failed, e.g. {failures[0]}; "
            f"answered: {dict(counts)}\n{stack.log_tails()}"
        )
        assert set(counts) == {b.name for b in backends}, (
            f"expected every backend to answer, got {dict(counts)}\n{stack.log_tails()}"
        )
        pids = stack.pids()
        namespaces = stack.namespaces
        prefix = stack.prefix
        assert len(pids) == 6 + len(backends), pids
    finally:
        stack.stop()

    duration = time.monotonic() - t0
    print(f"stack start {stack.start_seconds:.2f}s, test {duration:.2f}s, answers {dict(counts)}")

    leftover_ns = {ns for ns in _netns_names() if ns.startswith(prefix)}
    assert not leftover_ns, f"namespaces left behind: {leftover_ns}"
    assert set(namespaces) >= {f"{prefix}-ovs", f"{prefix}-client"}
    alive = {label: pid for label, pid in pids.items() if ovn_testbed.pid_alive(pid)}
    assert not alive, f"processes left behind: {alive}"
    assert not stack.rundir.exists(), f"run dir left behind: {stack.rundir}"


def test_stop_without_start_is_a_no_op() -> None:
    stack = OvnStack()
    stack.stop()
    with pytest.raises(ovn_testbed.OvnTestbedError):
        _ = stack.nb_remote
