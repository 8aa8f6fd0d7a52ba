"""The IDL loop against a real ovsdb-server that starts after it."""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from structlog.testing import capture_logs

from quantix_lb.ovn.embedded import _schema
from quantix_lb.ovn.nb import NbRealizer

OVSDB_TOOL = shutil.which("ovsdb-tool") or "/usr/bin/ovsdb-tool"
OVSDB_SERVER = shutil.which("ovsdb-server") or "/usr/sbin/ovsdb-server"


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} within {timeout} s"
        time.sleep(0.01)


def test_the_first_connect_waits_for_a_unix_socket_that_appears_later(tmp_path: Path) -> None:
    db, sock = tmp_path / "nb.db", tmp_path / "nb.sock"
    subprocess.run([OVSDB_TOOL, "create", str(db), _schema()], check=True)
    realizer = NbRealizer(f"unix:{sock}", create_networks=True)
    server = None
    with capture_logs() as logs:
        realizer.connect()
        try:
            wait_for(lambda: "ovn.nb_socket_awaited" in [e["event"] for e in logs], 5, "socket wait")
            time.sleep(0.3)  # the NB starts well after the realizer asked for it
            server = subprocess.Popen(
                [OVSDB_SERVER, str(db), f"--remote=punix:{sock}", f"--unixctl={tmp_path / 'ctl'}"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            assert realizer.wait_synced(10)
        finally:
            realizer.stop()
            if server is not None:
                server.terminate()
                server.wait(10)
    assert [e for e in logs if e["event"] == "ovn.nb_unreachable"] == []
