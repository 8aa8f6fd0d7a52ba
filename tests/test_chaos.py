"""A bounded run of scripts/chaos.py: kill -9 storms and a frozen Northbound lose nothing."""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT


def test_kill_storms_and_a_frozen_northbound_lose_nothing() -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "chaos.py"),
            "--storms",
            "2",
            "--seconds",
            "1.5",
            "--outage",
            "2",
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    figures = dict(line.rsplit(None, 1) for line in done.stdout.splitlines() if line.strip())
    figures = {key.strip(): value for key, value in figures.items()}
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    assert int(figures["acknowledged"]) > 100, figures
    for key in ("lost", "resurrected", "orphan rows", "missing rows", "reads refused meanwhile"):
        assert figures[key] == "0", figures
    assert int(figures["reads answered while the NB was frozen 2 s"]) > 10, figures
