"""The embedded Northbound: our own ovsdb-server with the OVN NB schema.

Used when `serve` gets no --ovn-nb, so a fresh machine needs no OVN set-up.
The server runs as our child (it gets SIGTERM if we die, even by kill -9),
listens on a unix socket under the data dir, and is restarted if it exits
(supervisor.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import structlog

from quantix_lb.ovn import dbfile
from quantix_lb.proc import spawn
from quantix_lb.supervisor import Supervisor

log = structlog.get_logger(__name__)

SCHEMA_CANDIDATES = (
    os.environ.get("QUANTIX_OVN_NB_SCHEMA", ""),
    "/usr/share/ovn/ovn-nb.ovsschema",
    "/usr/local/share/ovn/ovn-nb.ovsschema",
)
LISTEN_WAIT = 10.0  # seconds a new ovsdb-server has to open its socket
STOP_COMPACT_WAIT = 10.0  # seconds stop waits for the last compaction


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin:/sbin")
    if not found:
        raise FileNotFoundError(
            f"{name} not found: install openvswitch-common and ovn-common (scripts/setup does)"
            " or point --ovn-nb at an existing OVN Northbound"
        )
    return found


def _schema() -> str:
    for path in SCHEMA_CANDIDATES:
        if path and Path(path).is_file():
            return path
    raise FileNotFoundError("OVN NB schema (ovn-nb.ovsschema) not found: install ovn-common")


class EmbeddedNb:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._supervisor = Supervisor("ovn.embedded_nb", self._spawn, fields={"remote": self.remote})

    @property
    def socket_path(self) -> Path:
        return self.directory / "nb.sock"

    @property
    def remote(self) -> str:
        return f"unix:{self.socket_path}"

    def _prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        db = self.directory / "nb.db"
        tool, schema = _tool("ovsdb-tool"), _schema()
        if not db.exists():
            subprocess.run([tool, "create", str(db), schema], check=True, capture_output=True)
        elif (
            subprocess.run(
                [tool, "needs-conversion", str(db), schema], capture_output=True, text=True, check=True
            ).stdout.strip()
            == "yes"
        ):
            subprocess.run([tool, "convert", str(db), schema], check=True, capture_output=True)
            log.info("ovn.embedded_nb_converted", schema=schema)
        self._kill_stale()

    def _kill_stale(self) -> None:
        """A server left by a previous run on this data dir holds the socket."""
        pidfile = self.directory / "ovsdb-server.pid"
        try:
            pid = int(pidfile.read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return
        if b"ovsdb-server" in cmdline and str(self.directory).encode() in cmdline:
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 5
            while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
                time.sleep(0.02)

    async def _spawn(self) -> subprocess.Popen[bytes]:
        """An ovsdb-server, returned once it listens (on the loop's thread)."""
        d = self.directory
        argv = [
            _tool("ovsdb-server"), str(d / "nb.db"),
            f"--remote=punix:{self.socket_path}", f"--unixctl={d / 'ovsdb-server.ctl'}",
            f"--pidfile={d / 'ovsdb-server.pid'}", f"--log-file={d / 'ovsdb-server.log'}",
            "--no-chdir",
        ]  # fmt: skip
        proc = spawn(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + LISTEN_WAIT
            while not self._listening(proc):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"ovsdb-server did not listen on {self.socket_path}")
                await asyncio.sleep(0.01)
        except BaseException:  # cancelled included: no server is left behind
            proc.kill()
            proc.wait()
            raise
        return proc

    def _listening(self, proc: subprocess.Popen[bytes]) -> bool:
        if proc.poll() is not None:
            raise RuntimeError(
                f"ovsdb-server exited with {proc.returncode}; see {self.directory / 'ovsdb-server.log'}"
            )
        try:
            with socket.socket(socket.AF_UNIX) as s:
                s.connect(str(self.socket_path))
            return True
        except OSError:
            return False

    async def start(self) -> None:
        """Prepares the database and starts the server; restarted if it exits."""
        self._prepare()
        self._supervisor.supervise(await self._spawn())

    async def compact(self) -> None:
        """Compacts the database and hands the freed heap back to the OS.

        Reading a large NB on start leaves ovsdb-server holding what it built for the
        first monitor reply (at 10,000 load balancers, ~60 MB more than the data);
        ovsdb-server trims only on compaction, and only when told to."""
        for command in ("ovsdb-server/memory-trim-on-compaction", "on"), ("ovsdb-server/compact",):
            error = await self._appctl(*command)
            if error:
                log.warning("ovn.embedded_nb_compact_failed", command=command[0], error=error)
                return
        log.info("ovn.embedded_nb_compacted")

    async def stop(self) -> None:
        """Compacts the database, stops the server, then splits the snapshot into
        small transactions (dbfile.py). The next start replays only those, not
        every transaction since the last compaction (at 10,000 load balancers it
        listens after 0.43 s instead of 1.1 s), and holds 66 MB, not the 98 MB
        one big snapshot would leave it."""
        proc = self._supervisor.proc
        error = "not running"
        if proc is not None and proc.poll() is None:
            try:
                error = await asyncio.wait_for(self._appctl("ovsdb-server/compact"), STOP_COMPACT_WAIT)
            except TimeoutError:
                error = f"no answer within {STOP_COMPACT_WAIT} s"
            if error:
                log.info("ovn.embedded_nb_not_compacted", error=error)
        await self._supervisor.stop()
        if not error:
            await asyncio.to_thread(self._split)

    def _split(self) -> None:
        db = self.directory / "nb.db"
        try:
            written = dbfile.split_snapshot(db)
        except (OSError, ValueError) as exc:  # the file stays as it is: one snapshot loads too
            log.warning("ovn.embedded_nb_not_split", db=str(db), error=str(exc))
            return
        log.info("ovn.embedded_nb_split", records=written)

    async def _appctl(self, *command: str) -> str:
        """Runs an ovs-appctl command on the server: '' or its error."""
        proc = await asyncio.create_subprocess_exec(
            _tool("ovs-appctl"), "-t", str(self.directory / "ovsdb-server.ctl"), *command,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            _, err = await proc.communicate()
        except BaseException:  # cancelled (a timeout): no ovs-appctl is left behind
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        return err.decode().strip() if proc.returncode else ""
