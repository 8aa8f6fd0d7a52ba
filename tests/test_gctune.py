"""Collector tuning (gctune): run in a child interpreter, not to change pytest's own."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import gc, threading
from quantix_lb import gctune
gctune.pause()
paused = gc.isenabled()
stop = threading.Event()
keeper = gctune.keep_frozen(stop, interval=0.05)
print(paused, gc.isenabled(), gc.get_threshold()[0] == gctune.GEN0, gc.get_freeze_count() > 0)
stop.set()
keeper.join(5)
print(keeper.is_alive())
"""


def test_pause_stops_automatic_collections_until_keep_frozen_takes_over() -> None:
    argv = [sys.executable, "-c", PROBE]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["False", "True", "True", "True", "False"]
