"""A dead data path is reported with its log line, not waited out (the testbed's part of
"connection storms, told plainly")."""

from __future__ import annotations

import os
import resource
import signal
import time

import pytest

from conftest import needs_ovn
from quantix_lb.testing import ovn_testbed

# What OVS 3.1.0's ovs-vswitchd logged when its userspace conntrack aborted on this machine.
ASSERTION = (
    "2026-12-02T21:51:16.397Z|00048|util|EMER|../lib/conntrack.c:1063: assertion "
    "conn->conn_type == CT_CONN_TYPE_DEFAULT failed in conn_update_state()"
)
VSWITCHD_LOG = f"""\
2026-12-02T21:51:14.764Z|00044|connmgr|INFO|br-int: added service controller "punix:/tmp/x/br-int.mgmt"
2026-12-02T21:51:14.884Z|00045|bridge|INFO|bridge br-int: added interface qlb65762co1 on port 1
2026-12-02T21:51:15.306Z|00047|ofproto_dpif_xlate|INFO|/proc/sys/net/core/netdev_max_backlog: open failed
{ASSERTION}
"""


def test_fatal_log_lines_finds_the_assertion() -> None:
    assert ovn_testbed.fatal_log_lines(VSWITCHD_LOG) == [ASSERTION]
    assert ovn_testbed.is_ovs_conntrack_crash(VSWITCHD_LOG)


def test_fatal_log_lines_of_other_deaths() -> None:
    # A clean stop's signal line counts; INFO/WARN chatter does not; the last ones win.
    log = (
        "2026-12-02T10:00:00.000Z|00001|vlog|INFO|opened log file /tmp/x/ovs-vswitchd.log\n"
        "2026-12-02T10:00:01.000Z|00002|netdev|WARN|something harmless\n"
        "2026-12-02T10:00:02.000Z|00003|fatal_signal|WARN|terminating with signal 15 (Terminated)\n"
    )
    assert ovn_testbed.fatal_log_lines(log) == [log.splitlines()[2]]
    assert ovn_testbed.fatal_log_lines(log.splitlines()[0]) == []
    many = "\n".join(f"x|{i:05d}|util|EMER|boom {i}" for i in range(5))
    assert ovn_testbed.fatal_log_lines(many, limit=2) == many.splitlines()[3:]
    assert not ovn_testbed.is_ovs_conntrack_crash(many)


def test_datapath_died_message_names_daemon_line_and_fix() -> None:
    died = ovn_testbed.DatapathDied("ovs-vswitchd", 4242, "qlbabc123", None, [ASSERTION], fatal=True)
    assert died.conntrack_crash and died.reason == ASSERTION
    text = str(died)
    assert "ovs-vswitchd (pid 4242)" in text and ASSERTION in text and "3.1.3" in text
    assert isinstance(died, ovn_testbed.OvnTestbedError)
    later = died.noticed_when("waiting for the VIP")
    assert later.conntrack_crash and "waiting for the VIP" in str(later)


def _pid(stack: ovn_testbed.OvnStack, label: str) -> int:
    return stack.pids()[label]


def _gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while ovn_testbed.pid_alive(pid):
        assert time.monotonic() < deadline, f"pid {pid} outlived SIGABRT"
        time.sleep(0.01)


@pytest.mark.ovn
@needs_ovn
def test_a_wait_on_a_stack_fails_at_once_when_its_datapath_dies() -> None:
    stack = ovn_testbed.OvnStack()
    try:
        stack.start()
        stack.add_switch("sw0", "10.0.0.0/24")
        client = stack.add_host("sw0", "client", "10.0.0.2/24")
        backend = stack.add_host("sw0", "backend", "10.0.0.11/24")
        stack.start_http_server(backend, 8080)
        assert client.http_get("http://10.0.0.11:8080/")[0].ok
        assert stack.datapath_problem() is None
        stack.check_datapath()

        # ovn-controller killed outright: it logs nothing, so its last line is quoted.
        controller = _pid(stack, "ovn-controller")
        os.kill(controller, signal.SIGKILL)
        began = time.monotonic()
        with pytest.raises(ovn_testbed.DatapathDied) as caught:
            stack.wait_until(lambda: False, timeout=30, message="something that never comes")
        assert time.monotonic() - began < 3, "the wait ran into its timeout"
        died = caught.value
        assert (died.daemon, died.pid, died.fatal) == ("ovn-controller", controller, False)
        last = (stack.rundir / "ovn-controller.log").read_text().splitlines()[-1]
        assert died.log_lines == [last] and last in str(died)
        assert "something that never comes" in str(died)

        # ovs-vswitchd dies as its conntrack assertion makes it: the EMER line, then abort().
        vswitchd = _pid(stack, "ovs-vswitchd")
        with open(stack.rundir / "ovs-vswitchd.log", "a") as log:
            log.write(ASSERTION + "\n")
        resource.prlimit(vswitchd, resource.RLIMIT_CORE, (0, 0))  # no core file in the work tree
        os.kill(vswitchd, signal.SIGABRT)
        _gone(vswitchd)  # ovn-controller is dead already: let the abort finish first
        began = time.monotonic()
        with pytest.raises(ovn_testbed.DatapathDied) as caught:
            # No stack named: every stack of this process is watched.
            ovn_testbed.wait_until(lambda: False, timeout=30, message="the VIP")
        assert time.monotonic() - began < 3, "the wait ran into its timeout"
        died = caught.value
        assert (died.daemon, died.pid, died.fatal) == ("ovs-vswitchd", vswitchd, True)
        assert died.conntrack_crash and died.reason == ASSERTION
        problem = stack.datapath_problem()
        assert problem is not None and "ovs-vswitchd" in problem and ASSERTION in problem

        # Helpers that saw only failures explain them.
        with pytest.raises(ovn_testbed.DatapathDied, match="conn_update_state"):
            client.http_get("http://10.0.0.11:8080/", timeout=0.5)
        with pytest.raises(ovn_testbed.DatapathDied, match="conn_update_state"):
            stack.ovs_appctl("ovs-vswitchd", "dpctl/dump-conntrack")
        # A wait that must outlive the data path can say so.
        with pytest.raises(TimeoutError):
            ovn_testbed.wait_until(lambda: False, timeout=0.2, stack=False)
    finally:
        stack.stop()
    assert stack.datapath_problem() is None  # a stopped stack has no data path to lose
