"""Durable state in SQLite.

A load balancer is stored as one JSON document (it is the unit every RPC
changes), next to the columns lists filter on and a `frontends` table whose
primary key makes a VIP:protocol:port unique within a network.

Writes run on one writer thread that owns the write connection. Each write is a
function run inside its own SAVEPOINT; writes queued at the same moment share
one COMMIT (group commit), so a failed write changes nothing and a busy server
pays one fsync per batch, not per RPC. The database runs in WAL mode with
synchronous=FULL: the WAL is fsynced at every commit, so an acknowledged write
survives kill -9 and power loss alike.
"""

from __future__ import annotations

import asyncio
import enum
import fcntl
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils
import structlog

from quantix_lb import model
from quantix_lb.documents import dump, load
from quantix_lb.errors import ApiError, Code

log = structlog.get_logger(__name__)
T = TypeVar("T")
MAX_BATCH = 512


def _upgrade_documents(conn: sqlite3.Connection) -> None:
    rows = conn.execute("SELECT id, doc FROM load_balancers").fetchall()
    conn.executemany(
        "UPDATE load_balancers SET doc = ? WHERE id = ?",
        [(dump(load(doc)), lb_id) for lb_id, doc in rows],
    )


# Versioned schema: each entry runs once, in order, in one transaction. A step
# is SQL, or a function of the connection for what SQL cannot say.
MIGRATIONS: list[tuple[int, list[str | Callable[[sqlite3.Connection], None]]]] = [
    (
        1,
        [
            """CREATE TABLE load_balancers (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                project_id TEXT NOT NULL,
                network_id TEXT NOT NULL,
                doc TEXT NOT NULL)""",
            "CREATE INDEX load_balancers_project ON load_balancers (project_id, seq)",
            "CREATE INDEX load_balancers_network ON load_balancers (network_id, seq)",
            """CREATE TABLE frontends (
                network_id TEXT NOT NULL,
                vip_address TEXT NOT NULL,
                l4_protocol TEXT NOT NULL,
                port INTEGER NOT NULL,
                load_balancer_id TEXT NOT NULL
                    REFERENCES load_balancers (id) ON DELETE CASCADE,
                listener_id TEXT NOT NULL,
                PRIMARY KEY (network_id, vip_address, l4_protocol, port))""",
            "CREATE INDEX frontends_lb ON frontends (load_balancer_id)",
        ],
    ),
    (2, [_upgrade_documents]),
    (
        3,
        [
            # A network belongs to the project that first used it (or that the NB names).
            """CREATE TABLE network_owners (
                network_id TEXT PRIMARY KEY,
                project_id TEXT NOT NULL)""",
            """INSERT OR IGNORE INTO network_owners (network_id, project_id)
                SELECT network_id, project_id FROM load_balancers ORDER BY seq""",
        ],
    ),
]


class ChangeKind(enum.Enum):
    CREATED = "CREATED"
    UPDATED = "UPDATED"
    DELETED = "DELETED"


@dataclass(frozen=True)
class Change:
    kind: ChangeKind
    load_balancer: model.LoadBalancer


# --- the store ------------------------------------------------------------------


class Tx:
    """What a write function may do, inside its savepoint on the writer thread."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.changes: list[Change] = []

    def get(self, lb_id: str) -> model.LoadBalancer | None:
        row = self._conn.execute("SELECT doc FROM load_balancers WHERE id = ?", (lb_id,)).fetchone()
        return load(row[0]) if row else None

    def frontend_owner(self, fe: model.Frontend) -> tuple[str, str] | None:
        row = self._conn.execute(
            "SELECT load_balancer_id, listener_id FROM frontends WHERE network_id = ?"
            " AND vip_address = ? AND l4_protocol = ? AND port = ?",
            (fe.network_id, fe.vip_address, fe.l4_protocol, fe.port),
        ).fetchone()
        return (row[0], row[1]) if row else None

    def insert(self, lb: model.LoadBalancer) -> None:
        self._conn.execute(
            "INSERT INTO load_balancers (id, project_id, network_id, doc) VALUES (?, ?, ?, ?)",
            (lb.id, lb.project_id, lb.network_id, dump(lb)),
        )
        self._write_frontends(lb)
        self.changes.append(Change(ChangeKind.CREATED, lb))

    def update(self, lb: model.LoadBalancer, *, claims: bool = True) -> None:
        """`claims=False` for changes that keep every VIP:protocol:port (member,
        name and status changes): the frontend rows stay as they are."""
        self._conn.execute("UPDATE load_balancers SET doc = ? WHERE id = ?", (dump(lb), lb.id))
        if claims:
            self._conn.execute("DELETE FROM frontends WHERE load_balancer_id = ?", (lb.id,))
            self._write_frontends(lb)
        self.changes.append(Change(ChangeKind.UPDATED, lb))

    def network_owner(self, network_id: str) -> str | None:
        row = self._conn.execute(
            "SELECT project_id FROM network_owners WHERE network_id = ?", (network_id,)
        ).fetchone()
        return row[0] if row else None

    def set_network_owner(self, network_id: str, project_id: str) -> None:
        self._conn.execute("INSERT OR REPLACE INTO network_owners VALUES (?, ?)", (network_id, project_id))

    def vips_in_network(self, network_id: str) -> set[str]:
        rows = self._conn.execute(
            "SELECT json_extract(doc, '$.vip_address') FROM load_balancers WHERE network_id = ?",
            (network_id,),
        )
        return {row[0] for row in rows}

    def delete(self, lb: model.LoadBalancer) -> None:
        self._conn.execute("DELETE FROM load_balancers WHERE id = ?", (lb.id,))
        self.changes.append(Change(ChangeKind.DELETED, lb))

    def _write_frontends(self, lb: model.LoadBalancer) -> None:
        try:
            self._conn.executemany(
                "INSERT INTO frontends VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (f.network_id, f.vip_address, f.l4_protocol, f.port, lb.id, f.listener_id)
                    for f in model.frontends(lb)
                ],
            )
        except sqlite3.IntegrityError as exc:
            # The service checks first and names the owner; this is the safety net.
            raise ApiError(Code.ALREADY_EXISTS, "VIP, protocol and port already in use") from exc


@dataclass
class _Job:
    fn: Callable[[Tx], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop


class StoreInUse(OSError):
    """Another process serves from the same data dir."""


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock: int | None = None  # fd of the data dir's lock file, held while open
        self._read: sqlite3.Connection | None = None
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._listeners: list[Callable[[list[Change]], None]] = []

    # lifespan

    def open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        write = self._connect()
        self._migrate(write)
        self._read = self._connect()
        self._writer = threading.Thread(target=self._write_loop, args=(write,), name="store-writer")
        self._writer.start()

    def close(self) -> None:
        if self._writer:
            self._queue.put(None)
            self._writer.join()
            self._writer = None
        if self._read:
            self._read.close()
            self._read = None
        if self._lock is not None:
            os.close(self._lock)  # closing releases the lock
            self._lock = None

    def _take_lock(self) -> None:
        """One process per data dir: two writing one SQLite file (and one embedded NB)
        would undo each other. The OS drops the lock when its holder dies, even by kill -9."""
        path = self.path.with_suffix(".lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise StoreInUse(f"{self.path.parent} is in use by another quantix-lb (pid {holder})") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock = fd

    @property
    def is_open(self) -> bool:
        return self._read is not None

    def subscribe(self, callback: Callable[[list[Change]], None]) -> None:
        """Calls back on the event loop with each commit's changes, in commit order,
        before the writers of that commit are answered."""
        self._listeners.append(callback)

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 5000")
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        db = sqlite_utils.Database(conn)
        if "schema_migrations" not in db.table_names():
            db["schema_migrations"].create({"version": int, "applied_at": str}, pk="version")
        done = {row["version"] for row in db["schema_migrations"].rows}
        for version, statements in MIGRATIONS:
            if version in done:
                continue
            conn.execute("BEGIN IMMEDIATE")
            for step in statements:
                if callable(step):
                    step(conn)
                else:
                    conn.execute(step)
            conn.execute("INSERT INTO schema_migrations VALUES (?, datetime('now'))", (version,))
            conn.execute("COMMIT")
            log.info("store.migrated", version=version)

    # reads (event loop thread; WAL gives them a consistent snapshot)

    @property
    def _reader(self) -> sqlite3.Connection:
        if self._read is None:
            raise RuntimeError("store is not open")
        return self._read

    def get(self, lb_id: str) -> model.LoadBalancer | None:
        row = self._reader.execute("SELECT doc FROM load_balancers WHERE id = ?", (lb_id,)).fetchone()
        return load(row[0]) if row else None

    def list(
        self, *, project_id: str, network_id: str, after: int, limit: int
    ) -> tuple[list[tuple[int, model.LoadBalancer]], int]:
        rows, total = self.list_documents(
            project_id=project_id, network_id=network_id, after=after, limit=limit
        )
        return [(seq, load(doc)) for seq, doc in rows], total

    def list_documents(
        self, *, project_id: str, network_id: str, after: int, limit: int
    ) -> tuple[list[tuple[int, bytes]], int]:
        """A page of (seq, document) in creation order, undecoded, and how many match."""
        where, args = ["1 = 1"], []
        if project_id:
            where.append("project_id = ?")
            args.append(project_id)
        if network_id:
            where.append("network_id = ?")
            args.append(network_id)
        cond = " AND ".join(where)
        total = self._reader.execute(f"SELECT count(*) FROM load_balancers WHERE {cond}", args).fetchone()[0]
        rows = self._reader.execute(
            f"SELECT seq, CAST(doc AS BLOB) FROM load_balancers WHERE {cond} AND seq > ?"
            " ORDER BY seq LIMIT ?",
            [*args, after, limit],
        ).fetchall()
        return rows, total

    def all(self, page: int = 1000) -> Iterator[model.LoadBalancer]:
        after = 0
        while True:
            rows, _ = self.list(project_id="", network_id="", after=after, limit=page)
            yield from (lb for _, lb in rows)
            if len(rows) < page:
                return
            after = rows[-1][0]

    def decoded(self) -> Iterator[model.LoadBalancer]:
        """Every load balancer, decoded one at a time (as `documents`)."""
        return map(load, self.documents())

    def documents(self) -> Iterator[bytes]:
        """Every load balancer's document, undecoded (see `load`), one at a time, read on
        a connection of its own: any thread may call it."""
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        conn.text_factory = bytes
        try:
            for (doc,) in conn.execute("SELECT doc FROM load_balancers ORDER BY seq"):
                yield doc
        finally:
            conn.close()

    # writes

    async def write(self, fn: Callable[[Tx], T]) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Job(fn, future, loop))
        return await future

    def _write_loop(self, conn: sqlite3.Connection) -> None:
        try:
            while True:
                job = self._queue.get()
                if job is None:
                    return
                batch = [job]
                while len(batch) < MAX_BATCH:
                    try:
                        nxt = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if nxt is None:
                        self._queue.put(None)  # finish this batch, then stop
                        break
                    batch.append(nxt)
                self._commit(conn, batch)
        finally:
            conn.close()

    def _commit(self, conn: sqlite3.Connection, batch: list[_Job]) -> None:
        outcomes: list[tuple[_Job, Any, BaseException | None]] = []
        changes: list[Change] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for job in batch:
                tx = Tx(conn)
                conn.execute("SAVEPOINT job")
                try:
                    result = job.fn(tx)
                except Exception as exc:  # the write's own error travels back as a value
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    if not isinstance(exc, ApiError):
                        log.exception("store.write_failed")
                    outcomes.append((job, None, exc))
                    continue
                conn.execute("RELEASE job")
                changes.extend(tx.changes)
                outcomes.append((job, result, None))
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            log.error("store.commit_failed", error=str(exc))
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            failure = ApiError(Code.UNAVAILABLE, f"store could not commit: {exc}")
            outcomes = [(job, None, failure) for job in batch]
            changes = []
        # All writers share the service's one event loop.
        batch[0].loop.call_soon_threadsafe(self._deliver, changes, outcomes)

    def _deliver(self, changes: list[Change], items: list[tuple[_Job, Any, BaseException | None]]) -> None:
        if changes:
            for callback in self._listeners:
                try:
                    callback(changes)
                except Exception:
                    log.exception("store.listener_failed")
        for job, result, exc in items:
            if job.future.done():
                continue
            if exc is not None:
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)
