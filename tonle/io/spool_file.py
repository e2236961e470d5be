"""The spool's SQLite file: opening it, its schema and pragmas, and what its errors mean.

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

The file is opened in exclusive locking mode before WAL is turned on (no -shm, one
owner). A file SQLite calls corrupt or not a database is moved aside to
`<name>.corrupt` (`quarantine`); every other SQLite error becomes a `SpoolError`
naming the file, what failed and the fix (`spool_error`).
"""

from __future__ import annotations

import logging
import operator
import secrets
import sqlite3
from collections.abc import Mapping
from pathlib import Path

from tonle.errors import SpoolError
from tonle.messages import N_, _

__all__ = [
    "BUSY_CODES",
    "CORRUPT_CODES",
    "SCHEMA_VERSION",
    "SYNCHRONOUS_MODES",
    "UPSERT",
    "WAL_LIMIT_BYTES",
    "connect",
    "quarantine",
    "recount",
    "spool_error",
    "sqlite_code",
    "state_rows",
]

log = logging.getLogger("tonle.agent.spool")

SYNCHRONOUS_MODES = ("FULL", "NORMAL")
SCHEMA_VERSION = 1
WAL_LIMIT_BYTES = 4 * 2**20  # the WAL is truncated back to this after a checkpoint
CORRUPT_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB
BUSY_CODES = (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED
FULL_CODE = 13  # SQLITE_FULL: the filesystem (or max_page_count) has no room
CANTOPEN_CODE = 14  # SQLITE_CANTOPEN: the folder is missing or we may not write in it
_INT64 = (-(2**63), 2**63 - 1)

_SCHEMA = (
    # INTEGER PRIMARY KEY = the rowid: appends go to the right edge of the b-tree.
    "CREATE TABLE IF NOT EXISTS messages (id INTEGER PRIMARY KEY, ts INTEGER NOT NULL,"
    " size INTEGER NOT NULL, topic TEXT NOT NULL, payload BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID",
)
UPSERT = "INSERT INTO {} (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"

DISK_FULL = N_("spool {path}: {action} failed: the disk is full ({reason})")
DISK_FULL_FIX = N_("free space on {folder} or lower the spool's max_mb below the free space")
IN_USE = N_("spool {path}: {action}: in use by another process or Spool ({reason})")
IN_USE_FIX = N_("stop the other agent or collector using this file, or give this one its own spool path")
CANNOT_OPEN = N_("spool {path}: {action} failed: {reason}")
CANNOT_OPEN_FIX = N_(
    "check that the folder {folder} exists and that this user may write in it (ls -l), "
    "or choose another spool path"
)
FAILED = N_("spool {path}: {action} failed: {reason}")


def sqlite_code(exc: sqlite3.Error) -> int:
    """The primary SQLite result code of an exception (0 if unknown)."""
    return (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def connect(path: Path, synchronous: str) -> tuple[sqlite3.Connection, dict[str, int], int]:
    """Open (creating if needed): the connection, the saved counters and the page size.

    Raises sqlite3 errors as they are (the caller decides about corruption), and
    SpoolError for a file this agent must not use.
    """
    conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA locking_mode = EXCLUSIVE")  # before WAL: no -shm, one owner
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode != "wal":
            raise SpoolError(
                path,
                N_("spool {path}: SQLite refused WAL mode (got {mode!r})"),
                fix=N_("put the spool on a local disk, not a network share"),
                mode=mode,
            )
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute(f"PRAGMA journal_size_limit = {WAL_LIMIT_BYTES}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise SpoolError(
                path,
                N_("spool {path}: written by a newer agent (schema {version})"),
                fix=N_("upgrade the agent"),
                version=version,
            )
        conn.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA:
            conn.execute(statement)
        # The spool's token: made once per file, it names this spool in end-to-end
        # confirmations (tonle.contract.confirm), so a new file never takes an old one's.
        conn.execute(
            "INSERT OR IGNORE INTO counters (key, value) VALUES ('token', ?)", (secrets.randbits(62),)
        )
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
        counters = dict(conn.execute("SELECT key, value FROM counters").fetchall())
        page_size: int = conn.execute("PRAGMA page_size").fetchone()[0]
    except BaseException:
        conn.close()
        raise
    return conn, counters, page_size


def quarantine(path: Path, exc: sqlite3.Error) -> Path:
    """Move a corrupt spool aside (keeping only the latest) so the agent can go on; return where."""
    target = path.with_name(path.name + ".corrupt")
    for suffix in ("", "-wal", "-shm"):
        Path(f"{target}{suffix}").unlink(missing_ok=True)
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{path}{suffix}")
        if src.exists():
            src.replace(f"{target}{suffix}")
    log.error(
        _("spool {path} is corrupt ({reason}); moved it to {target} and started an empty spool").format(
            path=path, reason=exc, target=target
        )
    )
    return target


def spool_error(path: Path, action: str, exc: sqlite3.Error) -> SpoolError:
    """The SpoolError for an SQLite error: disk full, in use, cannot open, or as SQLite says."""
    code, folder = sqlite_code(exc), path.parent
    if code == FULL_CODE:
        return SpoolError(
            path, DISK_FULL, fix=DISK_FULL_FIX, disk_full=True, action=action, reason=exc, folder=folder
        )
    if code in BUSY_CODES:
        return SpoolError(path, IN_USE, fix=IN_USE_FIX, action=action, reason=exc)
    if code == CANTOPEN_CODE:
        return SpoolError(
            path, CANNOT_OPEN, fix=CANNOT_OPEN_FIX, action=action, reason=_os_reason(path, exc), folder=folder
        )
    return SpoolError(path, FAILED, action=action, reason=exc)


def _os_reason(path: Path, exc: sqlite3.Error) -> str:
    """What the OS says about the file SQLite could not open ("Permission denied", ...)."""
    try:
        with path.open("ab"):
            pass
    except OSError as os_exc:
        return os_exc.strerror or str(os_exc)
    return str(exc)


def state_rows(state: Mapping[str, int] | None) -> list[tuple[str, int]]:
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


def recount(conn: sqlite3.Connection, depth: int, payload_bytes: int, last_id: int) -> list[str]:
    """What is wrong with a spool file: `PRAGMA quick_check`, and its counters against a recount."""
    problems = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall() if r[0] != "ok"]
    rows, nbytes, top = conn.execute("SELECT count(*), total(size), max(id) FROM messages").fetchone()
    if (rows, int(nbytes)) != (depth, payload_bytes):
        problems.append(f"counters say {depth} messages / {payload_bytes} B, rows {rows} / {nbytes}")
    if top is not None and top > last_id:
        problems.append(f"row id {top} is above last_id {last_id}")
    return problems
