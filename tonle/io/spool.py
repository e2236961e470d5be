"""The durable store-and-forward spool (edge agent: MQTT messages; collector: batches for InfluxDB).

Every message the agent sends goes into the spool first; the publisher reads it
from the head (`peek`), hands it to MQTT and deletes it on PUBACK (`ack`). While
the broker is unreachable the messages stay on disk and are replayed in order,
far faster than real time, when it returns. A `kill -9` of the agent loses no
message whose `append` returned; with synchronous FULL (the default), on storage
that honours fsync, neither does a power cut.

Why SQLite in WAL mode (stdlib `sqlite3`):
  * It is in the standard library and its crash/power-loss behaviour is among the
    most tested of any storage engine; a batch of messages and the agent's
    sequence counters commit in one atomic transaction, which a hand-made log
    would have to re-invent (framing, CRCs, torn-tail truncation, directory
    fsyncs, a separate atomic state file).
  * `ack` of an arbitrary subset is a DELETE; an append-only segment log needs an
    ack bitmap or cursor plus compaction for that, because PUBACKs arrive out of
    order. The segment log's one advantage, raw sequential write speed, is not
    needed: the agent appends once a second and replay is disk/CPU bound far
    above the 20x-real-time target (see bench/spool.py).
  * WAL makes a commit one sequential append to the -wal file (one fsync), and
    its frame checksums let SQLite discard a torn tail after a power cut.
  * Looked at and not taken: `dbm`/`shelve` (no multi-key atomicity, no order),
    persist-queue / litequeue (SQLite underneath anyway, without drop-oldest
    bounds or state committed with the batch), lmdb / plyvel / rocksdict (a
    compiled dependency on a Raspberry Pi for speed we do not need; lmdb also
    needs its map size fixed up front).

Durability (`synchronous`):
  * FULL (default): every append fsyncs the WAL before it returns, so a power cut
    loses nothing that `append` returned. Cost: one fsync per append - 0.3 ms
    median on the bench VM (2,700 appends/s against 6,200 with NORMAL); SD cards
    are often quoted at 5-50 ms (not measured here), still small next to the
    agent's one append a second.
  * NORMAL: the WAL is fsynced only at checkpoints (every ~4 MiB). A kill -9 still
    loses nothing (the data is in the OS page cache), but a power cut may lose
    the appends since the last checkpoint that the kernel had not yet written
    back (usually its last ~30 s) - it never corrupts the spool.
  * `ack` always commits with NORMAL: a lost ack only brings a delivered message
    back, the broker sees it twice and InfluxDB stores it idempotently. A later
    FULL commit fsyncs the whole WAL, earlier acks included. This matters: the
    publisher acks PUBACKs in small groups, and an fsync per ack would make replay
    from an SD card crawl (measured 5x slower even on the VM's fast disk).

Size bound: `size_bytes` = sum over stored messages of
len(topic, UTF-8) + len(payload) + ROW_OVERHEAD, an estimate of SQLite's per-row
cost (rowid, record header, timestamp and size columns, cell pointer, page slack:
measured 22 bytes for 20-byte payloads, 68 for 400-byte ones). When an append
would take it past `max_bytes`, the oldest messages are deleted in the same
transaction, before the new rows go in so they reuse the freed pages (the new
batch's own oldest messages too if it alone is too big), and counted in the
persisted `dropped`. The estimate undercounts in two cases - SQLite stores a
2-4 KiB row alone on a 4 KiB page, and scattered acks leave holes in pages - so
the same check is also made against the pages really in use (page_count minus
freelist), and whichever is larger decides. Measured with 20-message batches
(bench VM, 8 MiB bound): the file stays within 1% of `max_bytes` for payloads of
400 B to 20 KB; the limit is `max_bytes` + DISK_SLACK_BYTES + about one batch,
plus a WAL of ~4 MiB (WAL_LIMIT_BYTES; one huge transaction can exceed it).
Freed pages are reused, never returned: the file stays at its high-water mark.

Threading: the calls are short synchronous transactions, fine on the asyncio loop
(one fsync per second). The connection is opened with `check_same_thread=False`
and every call holds a lock, so on very slow storage a caller may instead use
`await asyncio.to_thread(spool.append, ...)`; there is deliberately no async twin.

The spool holds an exclusive lock on its file: a second process (or a second
`Spool`) on the same path gets a clear `SpoolError` instead of interleaved ids.
A file that SQLite reports as corrupt or not a database - when opened, or later
in any call - is moved aside to `<name>.corrupt` (only the latest is kept) and a
fresh spool started, so a gateway whose SD card was damaged keeps running:
`quarantined` says so, the messages lost with it are added to `dropped`, and ids
go on from `last_id` so the publisher's cursor stays valid. Torn WAL tails need
none of this: SQLite's recovery drops frames whose checksums fail, which loses
only transactions whose commit had not returned (tests/spool/test_crash.py).
"""

from __future__ import annotations

import json
import logging
import operator
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import TypeVar

__all__ = ["ROW_OVERHEAD", "Spool", "SpoolError"]

log = logging.getLogger("tonle.agent.spool")
_T = TypeVar("_T")

ROW_OVERHEAD = 64
"""Bytes charged per message on top of topic + payload (see the module docstring)."""
SYNCHRONOUS_MODES = ("FULL", "NORMAL")
SCHEMA_VERSION = 1
WAL_LIMIT_BYTES = 4 * 2**20  # the WAL is truncated back to this after a checkpoint
DISK_SLACK_BYTES = 64 * 2**10  # schema, counters and b-tree interior pages the estimate leaves out
DROP_LOG_INTERVAL_S = 60.0  # a full spool drops on every append: log a summary, not each one
_TRIM_FETCH = 256
_CORRUPT_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
_BUSY_CODES = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED
_FULL_CODE = 13  # SQLITE_FULL: the filesystem (or max_page_count) has no room
_INT64 = (-(2**63), 2**63 - 1)

_SCHEMA = (
    # INTEGER PRIMARY KEY = the rowid: appends go to the right edge of the b-tree.
    "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL,"
    " size INTEGER NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
)
_UPSERT = "INSERT INTO {} (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
_ACKED = "FROM messages WHERE id IN (SELECT value FROM json_each(?))"


class SpoolError(RuntimeError):
    """The spool cannot do what was asked; `path` names the file, the cause is chained."""

    def __init__(self, path: Path, message: str, *, recovered: bool = False, disk_full: bool = False) -> None:
        super().__init__(f"spool {path}: {message}")
        self.path = path
        self.recovered = recovered  # the file was corrupt, moved aside, and a fresh spool is in use
        self.disk_full = disk_full  # the filesystem (or SQLite's page limit) has no room left


class Spool:
    """A bounded, durable FIFO of (topic, payload) messages plus a small key->int state.

    Counters (`depth`, `size_bytes`, `dropped`, `last_id`) are persisted in the same
    transaction as the rows they describe, so they are exact after a crash and
    opening a large spool does not scan it.
    """

    def __init__(self, path: Path, max_bytes: int, *, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in SYNCHRONOUS_MODES:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS_MODES}, not {synchronous!r}")
        if max_bytes <= ROW_OVERHEAD:
            raise ValueError(f"max_bytes must be more than {ROW_OVERHEAD}, not {max_bytes}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.synchronous = synchronous.upper()
        self.quarantined: Path | None = None
        self._lock = threading.Lock()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn: sqlite3.Connection | None = None
        try:
            try:
                self._open()
            except sqlite3.Error as exc:
                if _code(exc) not in _CORRUPT_CODES:
                    raise
                self._quarantine(exc)
                self._open()
        except sqlite3.Error as exc:
            raise self._error("cannot open", exc) from exc

    # -- opening -------------------------------------------------------------------
    def _open(self) -> None:
        """Open (creating if needed) and load the counters; raises sqlite3 errors as they are."""
        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA locking_mode = EXCLUSIVE")  # before WAL: no -shm, one owner
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise SpoolError(self.path, f"SQLite refused WAL mode (got {mode!r}); is it on a local disk?")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise SpoolError(self.path, f"written by a newer agent (schema {version}); upgrade the agent")
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            conn.execute("COMMIT")
            c = dict(conn.execute("SELECT key, value FROM counters").fetchall())
            self._page_size: int = conn.execute("PRAGMA page_size").fetchone()[0]
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._last_id: int = c.get("last_id", 0)
        self._depth: int = c.get("depth", 0)
        self._payload_bytes: int = c.get("payload_bytes", 0)
        self._dropped: int = c.get("dropped", 0)
        self._drop_logged_at = -DROP_LOG_INTERVAL_S
        self._drop_logged_count = self._dropped

    def _quarantine(self, exc: sqlite3.Error) -> None:
        """Move a corrupt spool aside (keeping only the latest) so the agent can go on."""
        target = self.path.with_name(self.path.name + ".corrupt")
        for suffix in ("", "-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        for suffix in ("", "-wal", "-shm"):
            src = Path(f"{self.path}{suffix}")
            if src.exists():
                src.replace(f"{target}{suffix}")
        log.error(
            "spool %s is corrupt (%s); moved it to %s and started an empty spool", self.path, exc, target
        )
        self.quarantined = target

    def _recover(self, exc: sqlite3.Error) -> None:
        """Corruption found in use: quarantine, start fresh, count the lost messages as dropped.

        `last_id` carries over so ids keep increasing (the publisher's cursor stays valid).
        """
        last_id, dropped = self._last_id, self._dropped + self._depth
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._quarantine(exc)
        self._open()
        self._last_id, self._dropped = last_id, dropped
        with self._transaction("recover") as conn:
            conn.executemany(_UPSERT.format("counters"), [("last_id", last_id), ("dropped", dropped)])

    # -- the API ---------------------------------------------------------------------
    def append(
        self, messages: Sequence[tuple[str, bytes]], state: Mapping[str, int] | None = None
    ) -> list[int]:
        """Store `messages` and merge `state` into the saved state, in one transaction.

        Returns the ids given to the messages, in order. When this returns, the batch
        is on disk (FULL) or at least safe from a process crash (NORMAL). If the bound
        is hit, the oldest messages (possibly from this batch) are dropped and counted.
        """
        state_rows = _state_rows(state)
        with self._lock:
            try:
                return self._append(messages, state_rows)
            except SpoolError as exc:
                if exc.recovered:
                    return self._append(messages, state_rows)  # into the fresh spool
                if not exc.disk_full:
                    raise
                # The disk filled before our own bound did (a small SD card, or other files on
                # it): make room the same way the bound does, oldest first, counted, and retry.
                need = sum(len(t.encode()) + len(p) + ROW_OVERHEAD for t, p in messages)
                self._drop_oldest(2 * need + DISK_SLACK_BYTES)
                return self._append(messages, state_rows)

    def _drop_oldest(self, nbytes: int) -> None:
        """Delete the oldest messages worth `nbytes` (accounted) in their own transaction."""
        depth, payload, dropped = self._depth, self._payload_bytes, self._dropped
        with self._relaxed_sync(), self._transaction("make room on a full disk") as conn:
            gone, freed = self._trim(conn, nbytes)
            depth, payload, dropped = depth - gone, payload - freed, dropped + gone
            counters = {"depth": depth, "payload_bytes": payload, "dropped": dropped}
            conn.executemany(_UPSERT.format("counters"), counters.items())
        self._depth, self._payload_bytes, self._dropped = depth, payload, dropped
        self._log_drops(dropped)

    def _append(self, messages: Sequence[tuple[str, bytes]], state_rows: list[tuple[str, int]]) -> list[int]:
        """The body of `append`, with the lock held."""
        ts = time.time_ns()
        rows = []
        next_id = self._last_id
        added = 0
        for topic, payload in messages:
            if not isinstance(topic, str) or not isinstance(payload, (bytes, bytearray)):
                raise TypeError(
                    f"a message is (topic: str, payload: bytes), not ({type(topic)}, {type(payload)})"
                )
            next_id += 1
            size = len(topic.encode()) + len(payload)
            rows.append((next_id, ts, size, topic, payload))
            added += size
        if not rows and not state_rows:
            return []
        depth, nbytes, dropped = self._depth, self._payload_bytes, self._dropped
        with self._transaction("append") as conn:
            # Make room before inserting, so the new rows reuse the pages the old ones free...
            excess = self._excess(conn, depth + len(rows), nbytes + added, added + len(rows) * ROW_OVERHEAD)
            if excess > 0:
                gone, freed = self._trim(conn, excess)
                depth, nbytes, dropped = depth - gone, nbytes - freed, dropped + gone
            conn.executemany(
                "INSERT INTO messages (id, ts, size, topic, payload) VALUES (?, ?, ?, ?, ?)", rows
            )
            conn.executemany(_UPSERT.format("state"), state_rows)
            depth, nbytes = depth + len(rows), nbytes + added
            # ...and check again: a batch bigger than the spool, rows that cost more pages than estimated.
            excess = self._excess(conn, depth, nbytes)
            if excess > 0:
                gone, freed = self._trim(conn, excess)
                depth, nbytes, dropped = depth - gone, nbytes - freed, dropped + gone
            counters = {"last_id": next_id, "depth": depth, "payload_bytes": nbytes, "dropped": dropped}
            conn.executemany(_UPSERT.format("counters"), counters.items())
        if dropped > self._dropped:
            self._log_drops(dropped)
        self._last_id, self._depth, self._payload_bytes, self._dropped = next_id, depth, nbytes, dropped
        return [row[0] for row in rows]

    def _trim(self, conn: sqlite3.Connection, excess: int) -> tuple[int, int]:
        """Delete the oldest rows until `excess` accounted bytes are freed; return (rows, payload bytes)."""
        gone = freed = cutoff = 0
        cursor = conn.execute("SELECT id, size FROM messages ORDER BY id")
        try:
            while freed + gone * ROW_OVERHEAD < excess and (chunk := cursor.fetchmany(_TRIM_FETCH)):
                for row_id, size in chunk:
                    gone, freed, cutoff = gone + 1, freed + size, row_id
                    if freed + gone * ROW_OVERHEAD >= excess:
                        break
        finally:
            cursor.close()
        conn.execute("DELETE FROM messages WHERE id <= ?", (cutoff,))
        return gone, freed

    def _excess(self, conn: sqlite3.Connection, depth: int, nbytes: int, pending: int = 0) -> int:
        """Accounted bytes to free: by the documented estimate, or by the pages really in use.

        The second guards the disk when rows cost more than ROW_OVERHEAD says (SQLite
        puts one 2-4 KiB row per 4 KiB page) or acks left holes in pages; `pending`
        is the estimated size of rows about to be written.
        """
        total = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        in_use = (total - free) * self._page_size + pending - DISK_SLACK_BYTES
        return max(nbytes + depth * ROW_OVERHEAD, in_use) - self.max_bytes

    def _log_drops(self, dropped: int) -> None:
        now = time.monotonic()
        if now - self._drop_logged_at >= DROP_LOG_INTERVAL_S:
            log.warning(
                "spool %s is full (%d bytes): dropped %d oldest messages since the last report, %d in all",
                self.path,
                self.max_bytes,
                dropped - self._drop_logged_count,
                dropped,
            )
            self._drop_logged_at, self._drop_logged_count = now, dropped

    def load_state(self) -> dict[str, int]:
        """The state saved by the last committed `append` (keys merged over time)."""
        return self._locked(
            "load state", lambda c: dict(c.execute("SELECT key, value FROM state").fetchall())
        )

    def peek(self, after_id: int, limit: int) -> list[tuple[int, str, bytes]]:
        """Up to `limit` messages with id > `after_id`, oldest first; nothing is removed."""
        if limit <= 0:
            return []  # SQLite reads LIMIT -1 as "no limit"
        query = "SELECT id, topic, payload FROM messages WHERE id > ? ORDER BY id LIMIT ?"
        return self._locked("peek", lambda c: c.execute(query, (after_id, limit)).fetchall())

    def ack(self, ids: Iterable[int]) -> None:
        """Delete delivered messages. Any subset, any order; unknown or repeated ids are ignored."""
        id_list = [operator.index(i) for i in ids]
        if id_list:
            with self._lock:
                try:
                    self._ack((json.dumps(id_list),))
                except SpoolError as exc:
                    if not exc.recovered:  # else: the acked messages went with the corrupt file
                        raise

    def _ack(self, arg: tuple[str]) -> None:
        with self._relaxed_sync(), self._transaction("ack") as conn:
            gone, freed = conn.execute(f"SELECT count(*), total(size) {_ACKED}", arg).fetchone()
            if not gone:
                return
            conn.execute(f"DELETE {_ACKED}", arg)
            depth, nbytes = self._depth - gone, self._payload_bytes - int(freed)
            conn.executemany(_UPSERT.format("counters"), [("depth", depth), ("payload_bytes", nbytes)])
        self._depth, self._payload_bytes = depth, nbytes

    @property
    def depth(self) -> int:
        """Messages waiting in the spool."""
        return self._depth

    @property
    def size_bytes(self) -> int:
        """Accounted size: topic + payload bytes + ROW_OVERHEAD per message."""
        return self._payload_bytes + self._depth * ROW_OVERHEAD

    @property
    def dropped(self) -> int:
        """Messages deleted unsent since the spool was created (persisted; the agent publishes it).

        They went to respect `max_bytes`, or with a corrupt file (see `quarantined`).
        """
        return self._dropped

    @property
    def last_id(self) -> int:
        """The newest id ever given (0 if none); ids never go back, even when the spool empties."""
        return self._last_id

    @property
    def oldest_id(self) -> int | None:
        """The id of the oldest waiting message, or None when empty."""
        return self._first("id")

    @property
    def oldest_ts(self) -> int | None:
        """Wall-clock time (ns since the epoch) the oldest waiting message was appended, or None.

        On a gateway without a real-time clock this is only as right as the clock
        was at the time (before NTP it may be years off).
        """
        return self._first("ts")

    def _first(self, column: str) -> int | None:
        query = f"SELECT {column} FROM messages ORDER BY id LIMIT 1"
        row = self._locked("read", lambda c: c.execute(query).fetchone())
        return None if row is None else row[0]

    def check(self) -> None:
        """Verify the file (`PRAGMA quick_check`) and the counters against a full recount.

        Reads the whole file: for diagnostics and tests, not for the hot path.
        """
        with self._lock, self._errors("check"):
            conn = self._connection()
            problems = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall() if r[0] != "ok"]
            depth, nbytes, top = conn.execute(
                "SELECT count(*), total(size), max(id) FROM messages"
            ).fetchone()
        if (depth, int(nbytes)) != (self._depth, self._payload_bytes):
            problems.append(
                f"counters say {self._depth} messages / {self._payload_bytes} B, rows {depth} / {nbytes}"
            )
        if top is not None and top > self._last_id:
            problems.append(f"row id {top} is above last_id {self._last_id}")
        if problems:
            raise SpoolError(self.path, "check failed: " + "; ".join(problems))

    def close(self) -> None:
        """Close the file (checkpointing the WAL into it). Safe to call twice."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------
    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise SpoolError(self.path, "is closed")
        return self._conn

    def _error(self, action: str, exc: sqlite3.Error) -> SpoolError:
        if _code(exc) == _FULL_CODE:
            return SpoolError(
                self.path,
                f"{action} failed: the disk is full ({exc}); free space on {self.path.parent} "
                "or lower the spool's max_mb below the free space",
                disk_full=True,
            )
        if _code(exc) in _BUSY_CODES:
            return SpoolError(self.path, f"{action}: in use by another process or Spool ({exc})")
        return SpoolError(self.path, f"{action} failed: {exc}")

    def _locked(self, action: str, read: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run a read with the lock held; once more if corruption was found and a fresh spool started."""
        with self._lock:
            try:
                with self._errors(action):
                    return read(self._connection())
            except SpoolError as exc:
                if not exc.recovered:
                    raise
                with self._errors(action):
                    return read(self._connection())

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        """Map sqlite3 errors to SpoolError at the boundary, chained."""
        try:
            yield
        except sqlite3.Error as exc:
            if _code(exc) in _CORRUPT_CODES and action != "recover":
                try:
                    self._recover(exc)
                except sqlite3.Error as again:
                    raise self._error("recover", again) from again
                message = f"{action} failed: the file was corrupt ({exc}); moved to {self.quarantined}"
                raise SpoolError(self.path, message, recovered=True) from exc
            raise self._error(action, exc) from exc

    @contextmanager
    def _transaction(self, action: str) -> Iterator[sqlite3.Connection]:
        """One write transaction; rolled back whole on any error, so no partial batch."""
        with self._errors(action):
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def _relaxed_sync(self) -> Iterator[None]:
        """Commit without fsync (see the module docstring: a lost ack is a harmless duplicate)."""
        if self.synchronous == "NORMAL" or self._conn is None:
            yield
            return
        self._conn.execute("PRAGMA synchronous = NORMAL")
        try:
            yield
        finally:
            if self._conn is not None:
                self._conn.execute(f"PRAGMA synchronous = {self.synchronous}")


def _code(exc: sqlite3.Error) -> int:
    """The primary SQLite result code of an exception (0 if unknown)."""
    return (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def _state_rows(state: Mapping[str, int] | None) -> list[tuple[str, int]]:
    """Validate the state up front, so a bad value fails before anything is written."""
    if not state:
        return []
    rows = []
    for key, value in state.items():
        if not isinstance(key, str):
            raise TypeError(f"state keys are str, not {type(key)} ({key!r})")
        value = operator.index(value)
        if not _INT64[0] <= value <= _INT64[1]:
            raise ValueError(f"state[{key!r}] = {value} does not fit in 64 bits")
        rows.append((key, value))
    return rows
