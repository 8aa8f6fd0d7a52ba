"""The one owner of an OVSDB IDL: a thread that loops run -> task -> wait -> block.

ovsdbapp's connection.py shape: one thread loops idl.wait -> poller.block ->
idl.run and then lets its task do the work queued meanwhile (the task
commits). Other threads never touch the IDL: they post to the task and call
`wake`. The loop connects, notices when the replica is complete (again), and
starts over from a fresh IDL, with back-off, after any error.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

import structlog
from ovs import jsonrpc, poller, stream
from ovs.db import data
from ovs.db import idl as ovs_idl

from quantix_lb.ovn import compat

log = structlog.get_logger(__name__)

MAX_BACKOFF = 5.0
SOCKET_WAIT = 10.0  # seconds the first connect waits for a unix socket to appear


class IdlTask(Protocol):
    """The work the loop's thread does with the IDL."""

    def notify(
        self,
        idl: ovs_idl.Idl,
        event: str,
        table: str,
        row: ovs_idl.Row,
        changes: Mapping[str, data.Datum] | None,
    ) -> None:
        """A row of the replica changed (inside idl.run or a commit); see compat.DiffIdl."""

    def synced(self, idl: ovs_idl.Idl) -> None:
        """The replica is complete, after a connect or a reconnect."""

    def run(self, idl: ovs_idl.Idl, synced: bool) -> float | None:
        """One turn of work; returns when (time.monotonic) to run again if
        nothing happens meanwhile, None: only when something happens."""


def fetch_schema(remote: str, timeout: float = 2.0) -> ovs_idl.SchemaHelper:
    """The NB schema as the server has it (a newer OVN may have more columns)."""
    last = "no remote"
    for one in [r.strip() for r in remote.split(",") if r.strip()]:
        error, strm = stream.Stream.open_block(stream.Stream.open(one), int(timeout * 1000))
        if error:
            last = f"{one}: {os.strerror(error)}"
            continue
        rpc = jsonrpc.Connection(strm)
        try:
            error, reply = rpc.transact_block(
                jsonrpc.Message.create_request("get_schema", ["OVN_Northbound"])
            )
        finally:
            rpc.close()
        if error or reply is None or reply.error:
            last = f"{one}: {os.strerror(error) if error else reply and reply.error}"
            continue
        return ovs_idl.SchemaHelper(schema_json=reply.result)
    raise ConnectionError(f"cannot read the OVN_Northbound schema ({last})")


class IdlLoop:
    def __init__(
        self, remote: str, columns: Mapping[str, Sequence[str]], task: IdlTask, *, name: str = "ovn-nb"
    ) -> None:
        self.remote = remote
        self._columns = columns
        self._task = task
        self._name = name
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = -1, -1
        self._thread: threading.Thread | None = None
        self._synced = False  # the loop thread's own

    @property
    def running(self) -> bool:
        return self._thread is not None

    @property
    def finished(self) -> bool:
        """Started, and its thread has ended (after stop): the task's state is still."""
        return self._thread is not None and not self._thread.is_alive()

    def start(self) -> None:
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._thread = threading.Thread(target=self._main, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self.wake()
        if self._thread:
            self._thread.join(10)
        for fd in (self._wake_r, self._wake_w):
            if fd >= 0:
                os.close(fd)
        self._wake_r = self._wake_w = -1

    def wake(self) -> None:
        """Any thread: let the task run soon (it has new work)."""
        if self._wake_w >= 0:
            with contextlib.suppress(BlockingIOError):  # already awake
                os.write(self._wake_w, b"x")

    def _main(self) -> None:
        self._await_socket()
        backoff = 0.1
        while not self._stopping.is_set():
            idl = None
            try:
                idl = self._connect()
                while not self._stopping.is_set():
                    self._turn(idl)
                    backoff = 0.1
            except (ConnectionError, OSError) as exc:
                log.warning("ovn.nb_unreachable", remote=self.remote, error=str(exc), retry_s=backoff)
            except Exception:
                # A bug must not end the work for good: start over from a fresh replica.
                log.exception("ovn.nb_loop_failed", retry_s=backoff)
            finally:
                if idl is not None:
                    idl.close()
                    self._synced = False
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    def _await_socket(self) -> None:
        """A local NB started beside us (the embedded one) creates its socket as it
        listens: the first connect waits for it, up to SOCKET_WAIT, instead of failing
        and backing off."""
        paths = [Path(r.strip()[5:]) for r in self.remote.split(",") if r.strip().startswith("unix:")]
        if not paths or any(p.exists() for p in paths):
            return
        log.info("ovn.nb_socket_awaited", remote=self.remote, up_to_s=SOCKET_WAIT)
        deadline = time.monotonic() + SOCKET_WAIT
        while not any(p.exists() for p in paths) and time.monotonic() < deadline:
            if self._stopping.wait(0.01):
                return

    def _connect(self) -> compat.DiffIdl:
        if not compat.has_c_json_parser():
            log.warning("ovn.slow_json", detail="python-ovs has no C JSON parser (see scripts/setup)")
        helper = fetch_schema(self.remote)
        for table, columns in self._columns.items():
            helper.register_columns(table, list(columns))
        return compat.DiffIdl(self.remote, helper, self._task.notify)

    def _turn(self, idl: ovs_idl.Idl) -> None:
        idl.run()
        synced = compat.is_synced(idl)
        if synced != self._synced:
            log.info("ovn.nb_connection", remote=idl.session_name(), synced=synced)
            if synced:
                self._task.synced(idl)
            self._synced = synced
        run_at = self._task.run(idl, synced)
        p = poller.Poller()
        idl.wait(p)
        p.fd_wait(self._wake_r, poller.POLLIN)
        if run_at is not None:
            p.timer_wait(max(0, int((run_at - time.monotonic()) * 1000)))
        p.block()
        try:
            while os.read(self._wake_r, 4096):
                pass
        except BlockingIOError:
            pass
        except OSError as exc:
            if exc.errno != errno.EBADF:
                raise
