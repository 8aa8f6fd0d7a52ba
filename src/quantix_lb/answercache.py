"""Encoded answers kept across a restart: written when `serve` stops, read when it starts.

After a restart `serve` needs every load balancer's answer as it will be once
realized, for the first list (see convert.Answers.anticipate). Encoding them
again costs ~100 us each (~1 s of CPU at 10,000, while the realizer reads
and compares the NB on the same two cores); reading them back costs ~3 ms.
It is a cache: a missing, damaged or foreign file only means encoding again,
and an answer is used only for the very view it was encoded from (its key).
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable
from pathlib import Path

import msgspec
import structlog

log = structlog.get_logger(__name__)

# (load balancer id, (revision, provisioning status, status reason), the answer encoded)
Saved = tuple[str, tuple[int, str, str], bytes]


class _File(msgspec.Struct, array_like=True):
    format: bytes  # what the answers were encoded with; another format is not read
    answers: list[Saved]


_decoder = msgspec.msgpack.Decoder(_File)


def save(path: Path, answer_format: bytes, answers: Iterable[Saved]) -> int:
    """Writes the answers (replacing the file whole); returns how many."""
    kept = list(answers)
    temporary = path.with_name(path.name + ".new")
    temporary.write_bytes(msgspec.msgpack.encode(_File(answer_format, kept)))
    os.replace(temporary, path)
    return len(kept)


def _read(path: Path) -> _File:
    """Decoded from the file mapped, not read into one buffer: freeing a buffer of
    ~13 MB (10,000 answers) raises glibc's mmap threshold that far, and later large
    allocations then stay in serve's heap (~18 MB more RSS after a restart)."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        return _decoder.decode(mapped)


def load(path: Path, answer_format: bytes) -> dict[str, tuple[tuple[int, str, str], bytes]]:
    """The saved answers by load balancer id; none when the file is missing, damaged
    or of another format."""
    try:
        saved = _read(path)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, msgspec.DecodeError) as exc:
        log.warning("answers.unreadable", path=str(path), error=str(exc))
        return {}
    if saved.format != answer_format:
        log.info("answers.other_format", path=str(path))
        return {}
    return {lb_id: (key, data) for lb_id, key, data in saved.answers}
