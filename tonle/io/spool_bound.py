"""The spool's size bound: what a message costs, and dropping the oldest to stay under it.

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
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path

from tonle.messages import _

__all__ = ["DISK_SLACK_BYTES", "DROP_LOG_INTERVAL_S", "ROW_OVERHEAD", "DropLog", "cost", "excess", "trim"]

log = logging.getLogger("tonle.agent.spool")

ROW_OVERHEAD = 64
"""Bytes charged per message on top of topic + payload (see the module docstring)."""
DISK_SLACK_BYTES = 64 * 2**10  # schema, counters and b-tree interior pages the estimate leaves out
DROP_LOG_INTERVAL_S = 60.0  # a full spool drops on every append: log a summary, not each one
_TRIM_FETCH = 256


def cost(messages: Sequence[tuple[str, bytes]]) -> int:
    """Accounted bytes of `messages` (topic + payload + ROW_OVERHEAD each)."""
    return sum(len(t.encode()) + len(p) + ROW_OVERHEAD for t, p in messages)


def trim(conn: sqlite3.Connection, excess: int) -> tuple[int, int]:
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


def excess(
    conn: sqlite3.Connection, page_size: int, max_bytes: int, depth: int, nbytes: int, pending: int = 0
) -> int:
    """Accounted bytes to free: by the documented estimate, or by the pages really in use.

    The second guards the disk when rows cost more than ROW_OVERHEAD says (SQLite
    puts one 2-4 KiB row per 4 KiB page) or acks left holes in pages; `pending`
    is the estimated size of rows about to be written.
    """
    total = conn.execute("PRAGMA page_count").fetchone()[0]
    free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    in_use = (total - free) * page_size + pending - DISK_SLACK_BYTES
    return int(max(nbytes + depth * ROW_OVERHEAD, in_use) - max_bytes)


class DropLog:
    """A full spool drops on every append: say so once a minute, with the count since the last time."""

    def __init__(self, path: Path, max_bytes: int, dropped: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._logged_at = -DROP_LOG_INTERVAL_S
        self._logged_count = dropped

    def dropped(self, total: int) -> None:
        now = time.monotonic()
        if now - self._logged_at >= DROP_LOG_INTERVAL_S:
            since = total - self._logged_count
            full = _(
                "spool {path} is full ({max_bytes} bytes): dropped {since} oldest messages since "
                "the last report, {total} in all"
            )
            log.warning(full.format(path=self.path, max_bytes=self.max_bytes, since=since, total=total))
            self._logged_at, self._logged_count = now, total
