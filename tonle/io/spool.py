"""The durable store-and-forward spool (edge agent: MQTT messages; collector: batches for InfluxDB).

Every message the agent sends goes into the spool first; the publisher reads it
from the head (`peek`), hands it to MQTT and deletes it on PUBACK (`ack`). While
the broker is unreachable the messages stay on disk and are replayed in order,
far faster than real time, when it returns. A `kill -9` of the agent loses no
message whose `append` returned; with synchronous FULL (the default), on storage
that honours fsync, neither does a power cut.

Why SQLite in WAL mode, its durability settings (`synchronous` FULL or NORMAL; acks
commit without fsync) and what its errors mean are in `spool_file`; the size bound
(`max_bytes`, `ROW_OVERHEAD`, dropping the oldest) is in `spool_bound`.

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

from tonle.errors import SpoolError
from tonle.io.spool_bound import DISK_SLACK_BYTES, ROW_OVERHEAD, DropLog, cost, excess, trim
from tonle.io.spool_file import (
    CORRUPT_CODES,
    SYNCHRONOUS_MODES,
    UPSERT,
    WAL_LIMIT_BYTES,
    connect,
    quarantine,
    recount,
    spool_error,
    sqlite_code,
    state_rows,
)
from tonle.messages import N_

__all__ = ["DISK_SLACK_BYTES", "ROW_OVERHEAD", "WAL_LIMIT_BYTES", "Spool", "SpoolError"]

log = logging.getLogger("tonle.agent.spool")
_T = TypeVar("_T")
# Rows in a JSON list of inclusive [first, last] id ranges (one range per run of ids).
_ACKED = (
    "FROM messages WHERE id IN (SELECT m.id FROM json_each(?) r JOIN messages m ON m.id "
    "BETWEEN json_extract(r.value, '$[0]') AND json_extract(r.value, '$[1]'))"
)
CORRUPT = N_("spool {path}: {action} failed: the file was corrupt ({reason}); moved to {quarantined}")


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
        self._conn: sqlite3.Connection | None = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(
                self.path,
                N_("spool {path}: cannot create its folder: {reason}"),
                fix=N_("check that this user may create {folder} (ls -l), or choose another spool path"),
                reason=exc.strerror or exc,
                folder=self.path.parent,
            ) from exc
        try:
            try:
                self._open()
            except sqlite3.Error as exc:
                if sqlite_code(exc) not in CORRUPT_CODES:
                    raise
                self.quarantined = quarantine(self.path, exc)
                self._open()
        except sqlite3.Error as exc:
            raise spool_error(self.path, "open", exc) from exc

    # -- opening -------------------------------------------------------------------
    def _open(self) -> None:
        """Open (creating if needed) and load the counters; raises sqlite3 errors as they are."""
        self._conn, c, self._page_size = connect(self.path, self.synchronous)
        self._last_id: int = c.get("last_id", 0)
        self._depth: int = c.get("depth", 0)
        self._payload_bytes: int = c.get("payload_bytes", 0)
        self._dropped: int = c.get("dropped", 0)
        self._token: int = c["token"]
        self._drops = DropLog(self.path, self.max_bytes, self._dropped)

    def _recover(self, exc: sqlite3.Error) -> None:
        """Corruption found in use: quarantine, start fresh, count the lost messages as dropped.

        `last_id` carries over so ids keep increasing (the publisher's cursor stays valid).
        """
        last_id, dropped = self._last_id, self._dropped + self._depth
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self.quarantined = quarantine(self.path, exc)
        self._open()
        self._last_id, self._dropped = last_id, dropped
        with self._transaction("recover") as conn:
            conn.executemany(UPSERT.format("counters"), [("last_id", last_id), ("dropped", dropped)])

    # -- the API ---------------------------------------------------------------------
    def append(
        self, messages: Sequence[tuple[str, bytes]], state: Mapping[str, int] | None = None
    ) -> list[int]:
        """Store `messages` and merge `state` into the saved state, in one transaction.

        Returns the ids given to the messages, in order. When this returns, the batch
        is on disk (FULL) or at least safe from a process crash (NORMAL). If the bound
        is hit, the oldest messages (possibly from this batch) are dropped and counted.
        """
        rows = state_rows(state)
        with self._lock:
            try:
                return self._append(messages, rows)
            except SpoolError as exc:
                if exc.recovered:
                    return self._append(messages, rows)  # into the fresh spool
                if not exc.disk_full:
                    raise
                # The disk filled before our own bound did (a small SD card, or other files on
                # it): make room the same way the bound does, oldest first, counted, and retry.
                self._drop_oldest(2 * cost(messages) + DISK_SLACK_BYTES)
                return self._append(messages, rows)

    def _drop_oldest(self, nbytes: int) -> None:
        """Delete the oldest messages worth `nbytes` (accounted) in their own transaction."""
        depth, payload, dropped = self._depth, self._payload_bytes, self._dropped
        with self._relaxed_sync(), self._transaction("make room on a full disk") as conn:
            gone, freed = trim(conn, nbytes)
            depth, payload, dropped = depth - gone, payload - freed, dropped + gone
            counters = {"depth": depth, "payload_bytes": payload, "dropped": dropped}
            conn.executemany(UPSERT.format("counters"), counters.items())
        self._depth, self._payload_bytes, self._dropped = depth, payload, dropped
        self._drops.dropped(dropped)

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
            over = self._excess(conn, depth + len(rows), nbytes + added, added + len(rows) * ROW_OVERHEAD)
            if over > 0:
                gone, freed = trim(conn, over)
                depth, nbytes, dropped = depth - gone, nbytes - freed, dropped + gone
            conn.executemany(
                "INSERT INTO messages (id, ts, size, topic, payload) VALUES (?, ?, ?, ?, ?)", rows
            )
            conn.executemany(UPSERT.format("state"), state_rows)
            depth, nbytes = depth + len(rows), nbytes + added
            # ...and check again: a batch bigger than the spool, rows that cost more pages than estimated.
            over = self._excess(conn, depth, nbytes)
            if over > 0:
                gone, freed = trim(conn, over)
                depth, nbytes, dropped = depth - gone, nbytes - freed, dropped + gone
            counters = {"last_id": next_id, "depth": depth, "payload_bytes": nbytes, "dropped": dropped}
            conn.executemany(UPSERT.format("counters"), counters.items())
        if dropped > self._dropped:
            self._drops.dropped(dropped)
        self._last_id, self._depth, self._payload_bytes, self._dropped = next_id, depth, nbytes, dropped
        return [row[0] for row in rows]

    def _excess(self, conn: sqlite3.Connection, depth: int, nbytes: int, pending: int = 0) -> int:
        """Accounted bytes to free to stay under `max_bytes` (see `spool_bound.excess`)."""
        return excess(conn, self._page_size, self.max_bytes, depth, nbytes, pending)

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

    def get(self, ids: Iterable[int]) -> list[tuple[int, str, bytes]]:
        """The messages with these ids that are still in the spool, oldest first (to send again)."""
        arg = json.dumps([operator.index(i) for i in ids])
        query = (
            "SELECT id, topic, payload FROM messages WHERE id IN (SELECT value FROM json_each(?)) ORDER BY id"
        )
        return self._locked("get", lambda c: c.execute(query, (arg,)).fetchall())

    def ack(self, ids: Iterable[int]) -> None:
        """Delete delivered messages. Any subset, any order; unknown or repeated ids are ignored."""
        self.ack_ranges((i, i) for i in (operator.index(i) for i in ids))

    def ack_ranges(self, ranges: Iterable[tuple[int, int]]) -> None:
        """Delete the messages in inclusive id ranges (a confirmation names runs of ids)."""
        pairs = [[operator.index(a), operator.index(b)] for a, b in ranges]
        if pairs:
            with self._lock:
                try:
                    self._ack((json.dumps(pairs),))
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
            conn.executemany(UPSERT.format("counters"), [("depth", depth), ("payload_bytes", nbytes)])
        self._depth, self._payload_bytes = depth, nbytes

    @property
    def token(self) -> int:
        """This spool file's token (random, made with the file; a quarantine makes a new one)."""
        return self._token

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
        """Verify the file and the counters against a full recount (diagnostics and tests only)."""
        with self._lock, self._errors("check"):
            problems = recount(self._connection(), self._depth, self._payload_bytes, self._last_id)
        if problems:
            raise SpoolError(
                self.path, N_("spool {path}: check failed: {problems}"), problems="; ".join(problems)
            )

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
            raise SpoolError(self.path, N_("spool {path}: is closed"))
        return self._conn

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
            if sqlite_code(exc) in CORRUPT_CODES and action != "recover":
                try:
                    self._recover(exc)
                except sqlite3.Error as again:
                    raise spool_error(self.path, "recover", again) from again
                raise SpoolError(
                    self.path,
                    CORRUPT,
                    recovered=True,
                    action=action,
                    reason=exc,
                    quarantined=self.quarantined,
                ) from exc
            raise spool_error(self.path, action, exc) from exc

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
