"""The worker's probe ports: one network namespace per tenant network, bound into it.

For each port the control plane names, the worker adds an OVS internal port to
the node's integration bridge with external_ids:iface-id = the logical switch
port's name, moves it into a namespace of its own, gives it the port's MAC and
address, and waits for ovn-controller to bind it (external_ids:ovn-installed).
Probes of that network's members then open their sockets in that namespace
(netns.socket_in), where the only route is the network's own subnet: nothing a
tenant names can reach the host, another network or the outside.

Ports are this node's (external_ids:quantix-lb-node on the OVS port, and the
namespace's name carries a tag of the node): a new set removes the ports no
longer wanted, including those a crashed worker left; `stop` removes them all.

The OVS and iproute2 tools do the work (ovs-vsctl for the node's own Open_vSwitch
database, not the Northbound): a handful of calls per network, off the hot path.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import structlog

from quantix_lb.health import netns

log = structlog.get_logger(__name__)

NETNS_DIR = Path("/run/netns")
NODE_KEY = "quantix-lb-node"
BIND_TIMEOUT = 30.0  # for ovn-controller to claim a new port
RECHECK = 2.0  # seconds between checks that ready ports are still in place
NO_OVS = (
    "probe ports need Open vSwitch with ovn-controller on this node"
    " (health-worker --probe-from-host probes from the host instead)"
)


@dataclass(frozen=True)
class PortSpec:
    """One network's probe port as the control plane gives it."""

    network_id: str
    name: str  # the logical switch port (iface-id)
    mac: str = ""
    ip_cidr: str = ""
    error: str = ""  # the control plane could not give the network a port


class State(enum.Enum):
    PENDING = "pending"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class PortStatus:
    state: State
    netns: str = ""  # the namespace's path, when READY
    reason: str = ""  # why, when FAILED


class CommandFailed(Exception):
    pass


class PortBinder:
    """Keeps this node's probe ports as the control plane last named them.

    `on_change(network_id)` is called (on the loop) whenever a network's status
    changes. Construction has no side effects; `set_ports` schedules the work,
    `await stop()` removes every port of this node."""

    def __init__(
        self,
        node_id: str,
        on_change: Callable[[str], None],
        *,
        ovs_rundir: str | None = None,
        bridge: str = "br-int",
    ) -> None:
        self.node_id = node_id
        self.bridge = bridge
        self.rundir = ovs_rundir or os.environ.get("OVS_RUNDIR") or "/var/run/openvswitch"
        self._on_change = on_change
        # The node and its Open vSwitch: two workers on one host (tests, a second OVS)
        # never take each other's namespaces for strays.
        where = f"{node_id}\0{os.path.abspath(self.rundir)}"
        self._tag = hashlib.blake2b(where.encode(), digest_size=4).hexdigest()
        self._wanted: dict[str, PortSpec] = {}  # network id -> spec
        self._status: dict[str, PortStatus] = {}
        self._done: dict[str, PortSpec] = {}  # network id -> the spec its port was last set up for
        self._cleaned = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    # --- what the worker asks -----------------------------------------------------------

    def status(self, network_id: str) -> PortStatus:
        return self._status.get(network_id, PortStatus(State.PENDING))

    def set_ports(self, specs: Iterable[PortSpec]) -> None:
        """The whole set of this node's probe ports."""
        self._wanted = {s.network_id: s for s in specs}
        for network_id in list(self._status):
            if network_id not in self._wanted:
                self._set(network_id, PortStatus(State.PENDING))
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="quantix-lb-probe-ports")
        self._wake.set()

    async def stop(self) -> None:
        """Stops keeping the ports and removes every port and namespace of this node."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self._remove_all_but([])

    # --- names ---------------------------------------------------------------------------

    def namespace(self, spec: PortSpec) -> str:
        return f"qlbprobe-{self._tag}-{_suffix(spec.name)}"

    @staticmethod
    def device(spec: PortSpec) -> str:
        return f"qlbp{_suffix(spec.name)[:11]}"  # IFNAMSIZ: at most 15 characters

    # --- the work ----------------------------------------------------------------------------

    def _set(self, network_id: str, status: PortStatus) -> None:
        if self._status.get(network_id) != status:
            self._status[network_id] = status
            if status.state is State.FAILED:
                log.warning("worker.probe_port_failed", network=network_id, reason=status.reason)
            elif status.state is State.READY:
                log.info("worker.probe_port_ready", network=network_id, netns=status.netns)
            self._on_change(network_id)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            wanted = dict(self._wanted)
            if not self._cleaned:
                # Whatever a previous run of this node left and is not wanted goes first.
                await self._remove_all_but([s for s in wanted.values() if not s.error])
                self._cleaned = True
            else:
                await self._remove_unwanted(wanted)
            for network_id, spec in wanted.items():
                if self._wanted.get(network_id) != spec:
                    continue  # changed meanwhile: the next round has it
                await self._ensure(spec)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RECHECK):
                    await self._wake.wait()

    async def _ensure(self, spec: PortSpec) -> None:
        db = Path(self.rundir) / "db.sock"
        if not db.exists():  # the first thing an operator needs to know
            self._set(spec.network_id, PortStatus(State.FAILED, reason=f"no Open vSwitch at {db}: {NO_OVS}"))
            return
        if spec.error:
            self._set(spec.network_id, PortStatus(State.FAILED, reason=spec.error))
            return
        ns = self.namespace(spec)
        path = str(NETNS_DIR / ns)
        current = self._status.get(spec.network_id)
        if current and current.state is State.READY and self._done.get(spec.network_id) == spec:
            if await self._in_place(spec, ns):
                return
            log.warning("worker.probe_port_lost", network=spec.network_id, device=self.device(spec))
        try:
            await self._bind(spec, ns)
        except CommandFailed as exc:
            self._done.pop(spec.network_id, None)
            self._set(spec.network_id, PortStatus(State.FAILED, reason=str(exc)))
            return
        self._done[spec.network_id] = spec
        self._set(spec.network_id, PortStatus(State.READY, netns=path))

    async def _bind(self, spec: PortSpec, ns: str) -> None:
        dev = self.device(spec)
        await self._add_port(spec, dev, "--may-exist")
        if not (NETNS_DIR / ns).exists():
            await _run("ip", "netns", "add", ns)
        if not await _succeeds("ip", "-n", ns, "link", "show", "dev", dev):
            await self._move_in(spec, dev, ns)
        family = "-6" if ":" in spec.ip_cidr else "-4"
        await _run("ip", "-n", ns, "link", "set", "dev", dev, "address", spec.mac)
        await _run("ip", "-n", ns, family, "addr", "flush", "dev", dev)
        await _run("ip", "-n", ns, "addr", "add", spec.ip_cidr, "dev", dev)
        await _run("ip", "-n", ns, "link", "set", "dev", dev, "up")
        # The userspace datapath passes TCP with bad checksums otherwise.
        await _succeeds("ip", "netns", "exec", ns, "ethtool", "-K", dev, "tx", "off")
        self._set(spec.network_id, PortStatus(State.PENDING))
        await self._wait_bound(spec, dev)

    async def _move_in(self, spec: PortSpec, dev: str, ns: str) -> None:
        """Moves the port's device from where ovs-vswitchd runs (its own namespace on some
        setups) into ours; a device that is gone (its namespace was deleted under it) is
        made again by re-adding the port."""
        move = [*self._in_vswitchd_netns(), "ip", "link", "set", "dev", dev, "netns", ns]
        if await _succeeds(*move):
            return
        await self._vsctl("--if-exists", "del-port", self.bridge, dev)
        await self._add_port(spec, dev)
        await _run(*move)

    async def _add_port(self, spec: PortSpec, dev: str, *options: str) -> None:
        """The OVS internal port bound to the probe port's logical switch port, marked as this node's."""
        await self._vsctl(
            *options, "add-port", self.bridge, dev, "--", "set", "Interface", dev, "type=internal",
            f'external_ids:iface-id="{spec.name}"', f'external_ids:{NODE_KEY}="{self.node_id}"',
        )  # fmt: skip

    async def _wait_bound(self, spec: PortSpec, dev: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + BIND_TIMEOUT
        while True:
            got = await self._vsctl("--if-exists", "get", "Interface", dev, "external_ids:ovn-installed")
            if got.strip().strip('"') == "true":
                return
            if loop.time() > deadline:
                raise CommandFailed(
                    f"probe port {spec.name} was not bound by ovn-controller within {BIND_TIMEOUT:g}s"
                    f" (is ovn-controller running on this node with {self.bridge}?)"
                )
            await asyncio.sleep(0.05)

    async def _in_place(self, spec: PortSpec, ns: str) -> bool:
        dev = self.device(spec)
        return await _succeeds("ip", "-n", ns, "link", "show", "dev", dev)

    async def _remove_unwanted(self, wanted: dict[str, PortSpec]) -> None:
        for network_id, spec in list(self._done.items()):
            now = wanted.get(network_id)
            if now is None or now.error or now.name != spec.name:
                await self._remove(self.namespace(spec), self.device(spec))
                self._done.pop(network_id, None)

    async def _remove_all_but(self, wanted: list[PortSpec]) -> None:
        """This node's namespaces and OVS ports, except those of the `wanted` ports."""
        keep = {self.namespace(s) for s in wanted}
        keep_devs = {self.device(s) for s in wanted}
        prefix = f"qlbprobe-{self._tag}-"
        with contextlib.suppress(OSError):
            for ns in sorted(os.listdir(NETNS_DIR)):
                if ns.startswith(prefix) and ns not in keep:
                    await self._remove(ns, None)
        try:
            found = await self._vsctl(
                "--format=csv", "--data=bare", "--no-headings", "--columns=name",
                "find", "Interface", f'external_ids:{NODE_KEY}="{self.node_id}"',
            )  # fmt: skip
        except CommandFailed:
            return  # no OVS here: no ports of ours either
        for dev in found.split():
            if dev not in keep_devs:
                await self._remove(None, dev)
        self._done = {n: s for n, s in self._done.items() if self.namespace(s) in keep}

    async def _remove(self, ns: str | None, dev: str | None) -> None:
        if dev:
            with contextlib.suppress(CommandFailed):
                await self._vsctl("--if-exists", "del-port", self.bridge, dev)
        if ns:
            netns.forget(str(NETNS_DIR / ns))
            await _succeeds("ip", "netns", "delete", ns)
            log.info("worker.probe_port_removed", netns=ns)

    async def _vsctl(self, *args: str) -> str:
        db = f"unix:{Path(self.rundir) / 'db.sock'}"
        try:
            return await _run("ovs-vsctl", f"--db={db}", "--timeout=5", *args)
        except CommandFailed as exc:
            raise CommandFailed(f"{exc}; {NO_OVS}") from None

    def _in_vswitchd_netns(self) -> list[str]:
        """nsenter into ovs-vswitchd's network namespace, when it is not ours."""
        try:
            pid = int((Path(self.rundir) / "ovs-vswitchd.pid").read_text().strip())
            theirs = os.stat(f"/proc/{pid}/ns/net").st_ino
        except (OSError, ValueError):
            return []
        if theirs == os.stat("/proc/self/ns/net").st_ino:
            return []
        return ["nsenter", f"--net=/proc/{pid}/ns/net"]


def _suffix(name: str) -> str:
    """The port name's hash part (names are qlb-probe-<hex>)."""
    return name.rsplit("-", 1)[-1]


async def _run(*argv: str) -> str:
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
    except OSError as exc:
        raise CommandFailed(f"{argv[0]}: {exc.strerror}") from None
    out, err = await proc.communicate()
    if proc.returncode != 0:
        text = err.decode(errors="replace").strip() or out.decode(errors="replace").strip()
        raise CommandFailed(f"{argv[0]}: {text}")
    return out.decode(errors="replace")


async def _succeeds(*argv: str) -> bool:
    try:
        await _run(*argv)
    except CommandFailed:
        return False
    return True
