"""The embedded NB's database file, rewritten from one snapshot into small transactions.

A standalone OVSDB file is a log of records (ovsdb(5)): the schema, then
transactions; compaction leaves the schema and one snapshot of every row. OVS
3.1's ovsdb-server holds far more memory after loading that snapshot than
after replaying the same rows as small transactions: at 10,000 load balancers
of 2 listeners, 98 MB against 66 MB, and it listens no later (0.46 s against
0.43 s). One 12 MB record's parse tree is freed around the rows built from it,
and the heap stays fragmented. So once `serve` has stopped the embedded NB
(compacted), the snapshot is split into transactions of ROWS_PER_RECORD rows.

Only rows that reference no other row and are in root tables (never collected
as garbage) go into the small transactions; every other row goes into the last
one, with all the rows it may reference already there or beside it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import msgspec

ROWS_PER_RECORD = 100  # measured: 20-500 load the same; 2,000 or more load slower
_MAGIC = b"OVSDB JSON "


def records(raw: bytes) -> list[bytes]:
    """A standalone database file's records, each its JSON text (with its newline)."""
    found, offset = [], 0
    while offset < len(raw):
        end = raw.index(b"\n", offset)
        header = raw[offset:end]
        if not header.startswith(_MAGIC):
            raise ValueError(f"not an OVSDB record header at offset {offset}: {header[:40]!r}")
        length, digest = header[len(_MAGIC) :].split()
        body = raw[end + 1 : end + 1 + int(length)]
        if len(body) != int(length) or hashlib.sha1(body).hexdigest().encode() != digest:
            raise ValueError(f"record at offset {offset} is truncated or damaged")
        found.append(body)
        offset = end + 1 + int(length)
    return found


def record(body: bytes) -> bytes:
    """One record as the file holds it: header (length, SHA-1), then the JSON and a newline."""
    body += b"\n"
    return b"%s%d %s\n%s" % (_MAGIC, len(body), hashlib.sha1(body).hexdigest().encode(), body)


def _references(encoded_row: bytes) -> bool:
    # A reference is ["uuid", ...] or ["named-uuid", ...]; a string that merely holds
    # the word only sends its row to the last transaction.
    return b'uuid"' in encoded_row


def split(schema: bytes, snapshot: dict[str, Any], rows_per_record: int = ROWS_PER_RECORD) -> list[bytes]:
    """The records of [schema, snapshot] as [schema, small transactions..., the rest]."""
    roots = {name for name, table in msgspec.json.decode(schema)["tables"].items() if table.get("isRoot")}
    meta = {k: v for k, v in snapshot.items() if k.startswith("_") and k != "_comment"}
    encode = msgspec.json.encode
    small: list[tuple[str, str, Any]] = []
    rest: dict[str, dict[str, Any]] = {}
    for table, rows in snapshot.items():
        if table.startswith("_"):
            continue
        for uuid, row in rows.items():
            if table in roots and not _references(encode(row)):
                small.append((table, uuid, row))
            else:
                rest.setdefault(table, {})[uuid] = row
    out = [record(schema.rstrip(b"\n"))]
    for first in range(0, len(small), rows_per_record):
        txn: dict[str, Any] = {}
        for table, uuid, row in small[first : first + rows_per_record]:
            txn.setdefault(table, {})[uuid] = row
        out.append(record(encode({**txn, **meta})))
    if rest:
        out.append(record(encode({**rest, **meta})))
    return out


def split_snapshot(path: Path, rows_per_record: int = ROWS_PER_RECORD) -> int:
    """Rewrites a file of [schema, snapshot] as small transactions, atomically (a
    crash leaves the old file or the new one). Any other file is left as it is.
    Returns the records written (0: left as it is). The server must not have it open."""
    found = records(path.read_bytes())
    if len(found) != 2:
        return 0
    snapshot = msgspec.json.decode(found[1])
    if not isinstance(snapshot, dict):
        raise ValueError("the second record is not a transaction")
    out = split(found[0], snapshot, rows_per_record)
    temporary = path.with_name(path.name + ".split")
    with open(temporary, "wb") as f:
        os.fchmod(f.fileno(), path.stat().st_mode & 0o777)
        f.write(b"".join(out))
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
    return len(out)
