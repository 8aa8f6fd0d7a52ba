"""Files a process writes when it stops and reads when it starts again, to skip work
it did before: a format key, then the items, in msgpack.

Each is a cache: a missing, damaged or foreign file (another format: the code that
made its items changed) only means doing the work again. Low-level: it imports
nothing of quantix_lb.
"""

from __future__ import annotations

import hashlib
import mmap
import os
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar

import msgspec
import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")


class _File(msgspec.Struct, Generic[T], array_like=True):
    format: bytes  # what the items were made with; another format is not read
    items: list[T]


def format_of(seed: bytes, *modules: ModuleType) -> bytes:
    """A format key: `seed` and the source of the modules that make a file's items. A
    module without source to read (a frozen build) makes a format of this run alone."""
    digest = hashlib.sha256(seed)
    for module in modules:
        try:
            digest.update(Path(module.__file__ or "").read_bytes())
        except OSError:
            digest.update(os.urandom(16))
    return digest.digest()


def save(path: Path, file_format: bytes, items: Iterable[Any]) -> int:
    """Writes the items (replacing the file whole); returns how many."""
    kept = list(items)
    temporary = path.with_name(path.name + ".new")
    temporary.write_bytes(msgspec.msgpack.encode(_File(file_format, kept)))
    os.replace(temporary, path)
    return len(kept)


def load(path: Path, file_format: bytes, item: Any, name: str) -> list[Any]:
    """The items saved, of type `item`; none when the file is missing, damaged or of
    another format (logged as `name`.unreadable or `name`.other_format).

    Decoded from the file mapped, not read into one buffer: freeing a buffer of ~13 MB
    (10,000 answers) raises glibc's mmap threshold that far, and later large allocations
    then stay in the heap (~18 MB more RSS in serve after a restart)."""
    try:
        with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            saved = msgspec.msgpack.decode(mapped, type=_File[item])
    except FileNotFoundError:
        return []
    except (OSError, ValueError, msgspec.DecodeError) as exc:
        log.warning(f"{name}.unreadable", path=str(path), error=str(exc))
        return []
    if saved.format != file_format:
        log.info(f"{name}.other_format", path=str(path))
        return []
    return saved.items
