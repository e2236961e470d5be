"""kill -9, a crash inside a transaction, a torn WAL and a corrupt file: nothing promised is lost.

Every test runs the real spool in a child process (tests/spool/writer.py) and
kills it with SIGKILL, then reopens the file in this process.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.spool import writer
from tonle.io.spool import Spool, SpoolError

ROOT = Path(__file__).resolve().parents[2]
BIG = 2**40


def start_writer(mode: str, path: Path, synchronous: str = "FULL") -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.spool.writer", mode, str(path), synchronous],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )


def kill_and_collect(proc: subprocess.Popen[str], lines: list[str]) -> dict[int, list[int]]:
    """SIGKILL the writer, then parse every complete `batch id...` line it managed to print."""
    proc.send_signal(signal.SIGKILL)
    assert proc.stdout is not None
    rest = proc.stdout.read()
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    complete = lines + [ln + "\n" for ln in rest.split("\n")[:-1]]  # a last line without \n is torn
    promised = {}
    for line in complete:
        if line[0].isdigit():
            batch, *ids = map(int, line.split())
            promised[batch] = ids
    return promised


def read_until(proc: subprocess.Popen[str], marker: str | None = None, count: int | None = None) -> list[str]:
    assert proc.stdout is not None
    lines: list[str] = []
    while True:
        line = proc.stdout.readline()
        assert line, f"the writer exited early (code {proc.poll()})"
        lines.append(line)
        if line.strip() == marker or (count is not None and len(lines) >= count):
            return lines


def assert_consistent(spool: Spool) -> dict[int, list[int]]:
    """Whole batches only, content matching ids, state matching the newest batch; returns batch -> ids."""
    spool.check()
    rows = spool.peek(0, 10**9)
    batches: dict[int, list[int]] = {}
    for msg_id, topic, payload in rows:
        batch, i, _ = payload.split(b":", 2)
        assert (topic, payload) == writer.message(int(batch), int(i))
        batches.setdefault(int(batch), []).append(msg_id)
    assert [r[0] for r in rows] == sorted({r[0] for r in rows}), "ids not strictly increasing"
    assert all(len(ids) == writer.BATCH for ids in batches.values()), "a partial batch"
    newest = max(batches, default=0)
    state = spool.load_state()
    assert state.get("batch", 0) == newest, "state and messages were not committed together"
    for r in range(3):
        residue = [b for b in batches if b % 3 == r]
        assert state.get(f"m{r}") == (max(residue) if residue else None)
    return batches


@pytest.mark.parametrize("synchronous", ["FULL", "NORMAL"])
def test_kill_9_at_random_points_loses_nothing_promised(tmp_path: Path, synchronous: str) -> None:
    path = tmp_path / "spool.sqlite"
    rng = random.Random(int.from_bytes(os.urandom(4)))
    everything: dict[int, list[int]] = {}
    last_id = 0
    for _round in range(8):
        with start_writer("loop", path, synchronous) as proc:
            promised = kill_and_collect(proc, read_until(proc, count=rng.randint(1, 400)))
        assert promised, "the writer promised nothing"
        assert min(min(ids) for ids in promised.values()) > last_id, "ids went back after a crash"
        with Spool(path, BIG, synchronous=synchronous) as spool:
            stored = assert_consistent(spool)
            for batch, ids in promised.items():
                assert stored.get(batch) == ids, (
                    f"batch {batch} promised as {ids}, stored {stored.get(batch)}"
                )
            lost = {b for b, ids in everything.items() if stored.get(b) != ids}
            assert not lost, f"batches of earlier rounds changed or vanished: {sorted(lost)}"
            everything = stored
            last_id = spool.last_id
            assert spool.depth == writer.BATCH * len(stored)


def test_crash_inside_a_transaction_leaves_no_partial_batch(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    wal = Path(f"{path}-wal")
    with start_writer("midtx", path) as proc:
        lines = read_until(proc, marker="MID")
        # Uncommitted pages of the huge batch really are in the WAL file when it dies.
        assert wal.stat().st_size > 2**20
        promised = kill_and_collect(proc, lines)
    assert sorted(promised) == [1, 2, 3]
    with Spool(path, BIG) as spool:
        stored = assert_consistent(spool)
        assert stored == promised
        assert spool.load_state()["batch"] == 3
        assert spool.depth == 3 * writer.BATCH
        assert spool.append([("t", b"x")]) == [3 * writer.BATCH + 1]


def _torn_spool(tmp_path: Path) -> tuple[Path, dict[int, list[int]]]:
    """A spool whose writer died with all its commits still in the WAL (no checkpoint yet)."""
    path = tmp_path / "spool.sqlite"
    with start_writer("torn", path) as proc:
        promised = kill_and_collect(proc, read_until(proc, marker="DONE"))
    assert len(promised) == writer.TORN_BATCHES
    return path, promised


def test_torn_wal_tail_is_discarded_by_recovery(tmp_path: Path) -> None:
    """A power cut while the last commit was being written: its frame is cut in half."""
    path, promised = _torn_spool(tmp_path)
    wal = Path(f"{path}-wal")
    frame = 24 + 4096
    size = wal.stat().st_size
    assert (size - 32) % frame == 0 and size > 10 * frame
    os.truncate(wal, size - frame // 2)
    with Spool(path, BIG) as spool:
        stored = assert_consistent(spool)
        # The torn commit and only it is gone; it was never acknowledged to anyone
        # in a real power cut (FULL returns after the fsync of that frame).
        assert stored == {b: ids for b, ids in promised.items() if b < writer.TORN_BATCHES}
        assert spool.append([("t", b"x")]) == [max(stored[writer.TORN_BATCHES - 1]) + 1]


def test_garbage_in_the_middle_of_the_wal_keeps_a_consistent_prefix(tmp_path: Path) -> None:
    """Storage that lied about fsync: a frame in the middle is garbage. Recovery stops there."""
    path, promised = _torn_spool(tmp_path)
    wal = Path(f"{path}-wal")
    frame = 24 + 4096
    with wal.open("r+b") as f:
        f.seek(32 + (wal.stat().st_size - 32) // frame // 2 * frame + 100)
        f.write(os.urandom(500))
    with Spool(path, BIG) as spool:
        stored = assert_consistent(spool)
        assert 0 < len(stored) < writer.TORN_BATCHES
        assert stored == {b: promised[b] for b in range(1, len(stored) + 1)}  # a prefix, whole batches


def test_a_file_that_is_not_a_database_is_quarantined(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    path.write_bytes(os.urandom(3 * 4096))
    with Spool(path, BIG) as spool:
        assert spool.quarantined == tmp_path / "spool.sqlite.corrupt"
        assert spool.quarantined.stat().st_size == 3 * 4096
        assert spool.depth == 0
        assert spool.append([("t", b"x")]) == [1]
        spool.check()


def test_corruption_found_in_use_starts_a_fresh_spool_and_counts_the_loss(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    with Spool(path, BIG) as spool:
        for b in range(1, 201):
            writer.append_batch(spool, b)
        last_id, depth = spool.last_id, spool.depth
    pages = path.stat().st_size // 4096
    with path.open("r+b") as f:  # zero a leaf page of the messages table
        f.seek(pages // 2 * 4096)
        f.write(bytes(4096))
    with Spool(path, BIG) as spool:
        assert spool.quarantined is None  # the header and the counters are fine
        assert spool.peek(0, 10**6) == []  # the damaged page is found here
        assert spool.quarantined == tmp_path / "spool.sqlite.corrupt"
        assert spool.dropped == depth and spool.depth == 0
        assert spool.append([("t", b"x")]) == [last_id + 1]  # the publisher's cursor stays valid
        spool.check()
    with Spool(path, BIG) as spool:
        assert (spool.dropped, spool.depth, spool.last_id) == (depth, 1, last_id + 1)


def test_second_open_of_a_live_spool_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite"
    with Spool(path, BIG), pytest.raises(SpoolError, match="in use"):
        Spool(path, BIG)


def test_killed_writer_leaves_the_file_openable_by_plain_sqlite(tmp_path: Path) -> None:
    path, promised = _torn_spool(tmp_path)
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert conn.execute("SELECT count(*) FROM messages").fetchone() == (writer.BATCH * len(promised),)
    finally:
        conn.close()
