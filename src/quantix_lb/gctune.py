"""The garbage collector for processes that hold a large, long-lived state.

A full collection walks every tracked object. At 10,000 load balancers serve and the
realizer hold over a million, nearly all of them for the life of the process (the store's
load balancers, the IDL's replica) and freed by reference counting when they go; yet every
time the heap grew by a quarter, a full pass stalled every request for 70-315 ms.

So a keeper thread, once a second, collects what came since its last round (a full
collection over the unfrozen objects only: milliseconds) and freezes the survivors
(gc.freeze): full passes never walk the long-lived state again. What it cannot collect is a
reference cycle that becomes garbage after being frozen; the state here is acyclic.
Low-level: it imports nothing of quantix_lb; serve and the realizer start it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import threading

INTERVAL = 1.0  # seconds between rounds: what one round collects is what a second allocates
GEN0 = 5000  # young collections after this many allocations (700 by default): fewer, same cost
TRIM_EVERY = 10  # rounds between returning freed heap to the system

try:
    _malloc_trim = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
except (OSError, AttributeError):  # not glibc
    _malloc_trim = None


def trim() -> None:
    """Gives the C heap's free memory back to the system (glibc's malloc_trim): the large
    one-off buffers of a start-up (the NB's first reply, the initial state) would otherwise
    stay in the process's RSS for good."""
    if _malloc_trim is not None:
        _malloc_trim(0)


def freeze() -> None:
    """Collects the unfrozen objects, then freezes the survivors."""
    gc.collect()
    gc.freeze()


def settle() -> None:
    """After a start-up's one-off work (decoding every load balancer, the NB's first
    read and full pass): collect, freeze, and give the freed heap back at once rather
    than at the keeper's next trim, up to TRIM_EVERY seconds later."""
    freeze()
    trim()


def pause() -> None:
    """No automatic collections until `keep_frozen`: a start-up that builds a large heap
    of long-lived objects at once (the realizer's first read of the NB, ~1 M objects at
    10,000 load balancers) would otherwise walk all of it several times while it grows."""
    gc.disable()


def keep_frozen(stop: threading.Event, interval: float = INTERVAL) -> threading.Thread:
    """Tunes the collector and freezes the survivors every `interval` until `stop` is set."""
    gc.enable()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0, gen1, gen2)

    def run() -> None:
        rounds = 0
        while not stop.wait(interval):
            freeze()
            rounds += 1
            if rounds % TRIM_EVERY == 0:
                trim()

    freeze()
    thread = threading.Thread(target=run, name="gc-keeper", daemon=True)
    thread.start()
    return thread
