"""Encoded answers kept across a restart: written when `serve` stops, read when it starts.

After a restart `serve` needs every load balancer's answer as it will be once
realized, for the first list (see convert.Answers.anticipate). Encoding them
again costs ~100 us each (~1 s of CPU at 10,000, while the realizer reads
and compares the NB on the same two cores); reading them back costs ~3 ms.
It is a cache: a missing, damaged or foreign file only means encoding again,
and an answer is used only for the very view it was encoded from (its key).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from quantix_lb import cachefile

# (load balancer id, (revision, provisioning status, status reason), the answer encoded)
Saved = tuple[str, tuple[int, str, str], bytes]


def save(path: Path, answer_format: bytes, answers: Iterable[Saved]) -> int:
    """Writes the answers (replacing the file whole); returns how many."""
    return cachefile.save(path, answer_format, answers)


def load(path: Path, answer_format: bytes) -> dict[str, tuple[tuple[int, str, str], bytes]]:
    """The saved answers by load balancer id; none when the file is missing, damaged
    or of another format."""
    return {lb_id: (key, data) for lb_id, key, data in cachefile.load(path, answer_format, Saved, "answers")}
