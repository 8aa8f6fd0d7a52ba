"""Child processes that must not outlive the control plane."""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any


@functools.cache
def _setpriv() -> str | None:
    setpriv = shutil.which("setpriv")
    if setpriv and "pdeathsig" in subprocess.run([setpriv, "--help"], capture_output=True, text=True).stdout:
        return setpriv
    return None


def with_parent_death_signal(argv: list[str]) -> list[str]:
    """Runs argv so it gets SIGTERM when we die, even by kill -9.

    setpriv (util-linux) sets the parent-death signal and execs; a preexec_fn
    would do the same but is unsafe in a process with threads. The signal is
    tied to the spawning thread, so spawn from the event loop's thread."""
    setpriv = _setpriv()
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else argv


def spawn(argv: list[str], **popen: Any) -> subprocess.Popen[bytes]:
    """Starts a child of the control plane: it dies with us (see
    with_parent_death_signal) and sits in a process group of its own, so the
    terminal's Ctrl-C reaches only `serve`, which stops its children in order.
    Call it on the event loop's thread."""
    popen.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.Popen(with_parent_death_signal(argv), process_group=0, **popen)


async def terminate(proc: subprocess.Popen[bytes] | None, grace: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited after `grace` seconds."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        await asyncio.to_thread(proc.wait, grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_seconds(pid: int) -> float:
    """CPU time a process (all its threads) has used: user + system, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
