"""A child process that appends to a spool until it is killed (used by test_crash.py).

Run as `python -m tests.spool.writer MODE PATH SYNCHRONOUS`. Every line it prints
is `batch id id ...`, written and flushed only after `append` returned, so the
parent knows exactly which ids were promised durable when it sends SIGKILL.

Modes:
  loop   append batches forever.
  torn   append TORN_BATCHES batches, print DONE, then wait to be killed (the WAL stays).
  midtx  commit COMMITTED_BATCHES batches, then start one huge batch and stop inside its
         transaction (a progress handler blocks once uncommitted pages have spilled into
         the WAL) after printing MID; the parent kills it there.
"""

from __future__ import annotations

import signal
import sqlite3
import sys
from pathlib import Path

from tonle.io.spool import Spool

BATCH = 5
TORN_BATCHES = 20
COMMITTED_BATCHES = 3
HUGE_BATCH = 20_000
TOPIC = "tonle/s1/a1/l1/m{}/telemetry"


def message(batch: int, i: int) -> tuple[str, bytes]:
    """The i-th message of a batch: its content says where it belongs, its size varies."""
    head = f"{batch}:{i}:".encode()
    return TOPIC.format(i), head + bytes([batch % 251]) * (300 + (batch * 7 + i * 13) % 200)


def append_batch(spool: Spool, batch: int, size: int = BATCH) -> list[int]:
    return spool.append(
        [message(batch, i) for i in range(size)], state={"batch": batch, f"m{batch % 3}": batch}
    )


def report(batch: int, ids: list[int]) -> None:
    sys.stdout.write(f"{batch} {' '.join(map(str, ids))}\n")
    sys.stdout.flush()


def block_inside_transaction(conn: sqlite3.Connection, wal: Path) -> None:
    """Stop the process inside the next write transaction, once the WAL has grown by 1 MiB."""
    start = wal.stat().st_size if wal.exists() else 0

    def handler() -> int:
        if conn.in_transaction and wal.exists() and wal.stat().st_size > start + 2**20:
            print("MID", flush=True)
            while True:
                signal.pause()
        return 0

    conn.execute("PRAGMA cache_size = 16")  # small cache: pages spill into the WAL early
    conn.set_progress_handler(handler, 10_000)


def main(mode: str, path: Path, synchronous: str) -> None:
    with Spool(path, max_bytes=2**40, synchronous=synchronous) as spool:
        batch = spool.load_state().get("batch", 0)
        if mode == "midtx":
            for _ in range(COMMITTED_BATCHES):
                batch += 1
                report(batch, append_batch(spool, batch))
            assert spool._conn is not None  # the test reaches into the connection on purpose
            block_inside_transaction(spool._conn, Path(f"{path}-wal"))
            append_batch(spool, batch + 1, HUGE_BATCH)
            raise SystemExit("the huge batch committed; the progress handler never blocked")
        count = TORN_BATCHES if mode == "torn" else None
        while count is None or batch < count:
            batch += 1
            report(batch, append_batch(spool, batch))
        print("DONE", flush=True)
        while True:
            signal.pause()


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), sys.argv[3])
