"""The spool's contract on real files: order, acks, state, the size bound, reopening."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tonle.io.spool import DISK_SLACK_BYTES, ROW_OVERHEAD, WAL_LIMIT_BYTES, Spool, SpoolError

BIG = 2**40
TOPIC = "tonle/s1/a1/l1/m1/telemetry"


def msgs(n: int, size: int = 400, tag: int = 0) -> list[tuple[str, bytes]]:
    return [(TOPIC, tag.to_bytes(4, "big") + i.to_bytes(4, "big") + bytes(size - 8)) for i in range(n)]


def cost(messages: list[tuple[str, bytes]]) -> int:
    return sum(len(t.encode()) + len(p) + ROW_OVERHEAD for t, p in messages)


def test_append_and_peek_in_order(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.sqlite", BIG) as spool:
        a = spool.append(msgs(3, tag=1))
        b = spool.append(msgs(2, tag=2))
        assert a + b == [1, 2, 3, 4, 5]
        rows = spool.peek(0, 100)
        assert [r[0] for r in rows] == a + b
        assert [(r[1], r[2]) for r in rows] == msgs(3, tag=1) + msgs(2, tag=2)
        assert spool.peek(2, 2) == rows[2:4]  # paging by the last id seen
        assert spool.peek(5, 10) == []
        assert (spool.depth, spool.size_bytes) == (5, cost(msgs(3)) + cost(msgs(2)))
        assert spool.oldest_id == 1 and spool.last_id == 5
        assert spool.oldest_ts is not None


def test_ack_of_an_arbitrary_subset(tmp_path: Path) -> None:
    rng = random.Random(7)
    with Spool(tmp_path / "s.sqlite", BIG) as spool:
        ids = [i for _ in range(50) for i in spool.append(msgs(20, size=100))]
        acked = set(rng.sample(ids, 600))
        spool.ack(sorted(acked, key=lambda _: rng.random()))  # any order
        spool.ack([*list(acked)[:10], 10**9, -1])  # repeats and unknown ids are ignored
        left = [r[0] for r in spool.peek(0, 10_000)]
        assert left == [i for i in ids if i not in acked]
        assert spool.depth == len(left) and spool.size_bytes == len(left) * (len(TOPIC) + 100 + ROW_OVERHEAD)
        assert spool.oldest_id == left[0]
        spool.ack(left)
        assert (spool.depth, spool.size_bytes, spool.oldest_id, spool.oldest_ts) == (0, 0, None, None)
        spool.ack([])
        spool.check()


def test_state_is_merged_and_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Spool(path, BIG) as spool:
        assert spool.load_state() == {}
        spool.append(msgs(1), {"m1/telemetry": 1, "m2/telemetry": 7})
        spool.append(msgs(1), {"m1/telemetry": 2})
        assert spool.append([], {"m3/count": 2**63 - 1}) == []  # state alone is fine too
        assert spool.append([]) == []
    with Spool(path, BIG) as spool:
        assert spool.load_state() == {"m1/telemetry": 2, "m2/telemetry": 7, "m3/count": 2**63 - 1}


def test_bad_input_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.sqlite", BIG) as spool:
        spool.append(msgs(1), {"k": 1})
        with pytest.raises(TypeError):
            spool.append([*msgs(2), (TOPIC, "not bytes")], {"k": 2})  # type: ignore[list-item]
        with pytest.raises(ValueError, match="64 bits"):
            spool.append(msgs(2), {"k": 2**63})
        with pytest.raises(TypeError):
            spool.append(msgs(2), {"k": 1.5})  # type: ignore[dict-item]
        assert (spool.depth, spool.last_id, spool.load_state()) == (1, 1, {"k": 1})
    with pytest.raises(ValueError, match="synchronous"):
        Spool(tmp_path / "t.sqlite", BIG, synchronous="OFF")
    with pytest.raises(ValueError, match="max_bytes"):
        Spool(tmp_path / "t.sqlite", 10)


def test_full_spool_drops_the_oldest_and_counts_them(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    one = cost(msgs(1))
    with Spool(path, max_bytes=100 * one) as spool:
        ids = [i for tag in range(30) for i in spool.append(msgs(20, tag=tag))]  # 600 messages
        assert spool.depth == 100 and spool.size_bytes == 100 * one
        assert spool.dropped == 500
        assert [r[0] for r in spool.peek(0, 1000)] == ids[-100:]  # the newest survive, in order
        spool.ack(ids[-100:-90])
        spool.append(msgs(15))  # 10 free slots: 5 more of the oldest go
        assert (spool.depth, spool.dropped) == (100, 505)
        assert spool.peek(0, 1)[0][0] == ids[-85]
        spool.check()
    with Spool(path, max_bytes=100 * one) as spool:
        assert (spool.dropped, spool.depth, spool.size_bytes) == (505, 100, 100 * one)


def test_a_batch_bigger_than_the_spool_keeps_its_newest_messages(tmp_path: Path) -> None:
    one = cost(msgs(1))
    with Spool(tmp_path / "s.sqlite", max_bytes=10 * one) as spool:
        spool.append(msgs(5, tag=1))
        ids = spool.append(msgs(25, tag=2))
        assert len(ids) == 25  # every message got an id; the oldest 20 of them are counted dropped
        assert [r[0] for r in spool.peek(0, 100)] == ids[-10:]
        assert spool.dropped == 20


@pytest.mark.parametrize("payload", [400, 2100])
def test_the_file_stays_near_max_bytes(tmp_path: Path, payload: int) -> None:
    """The disk bound holds for the real file, not only for the estimate.

    2,100-byte rows are SQLite's worst case (one per 4 KiB page, the estimate is
    half the truth); scattered acks leave holes in pages. Neither may grow the file.
    """
    path = tmp_path / "s.sqlite"
    max_bytes = 2 * 2**20
    bound = max_bytes + DISK_SLACK_BYTES + 20 * 4096  # + one batch written before the check
    rng = random.Random(3)
    with Spool(path, max_bytes=max_bytes, synchronous="NORMAL") as spool:
        for _ in range(int(2.5 * max_bytes / payload / 20)):
            batch = [
                (TOPIC, rng.randbytes(rng.randint(payload * 3 // 4, payload * 5 // 4))) for _ in range(20)
            ]
            ids = spool.append(batch)
            spool.ack(ids[::7])
        assert spool.size_bytes <= max_bytes and spool.dropped > 0
        assert path.stat().st_size <= bound
        assert Path(f"{path}-wal").stat().st_size <= WAL_LIMIT_BYTES + 64 * 4096
        spool.check()
    assert path.stat().st_size <= bound
    assert not Path(f"{path}-wal").exists()  # a clean close checkpoints and removes it


def test_ids_keep_increasing_after_reopen_even_when_empty(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    with Spool(path, BIG) as spool:
        spool.ack(spool.append(msgs(10)))
        assert spool.depth == 0
    with Spool(path, BIG, synchronous="NORMAL") as spool:
        assert spool.last_id == 10
        assert spool.append(msgs(2)) == [11, 12]
        assert spool.peek(0, 10)[0][0] == 11


@pytest.mark.parametrize(("mode", "level"), [("FULL", 2), ("NORMAL", 1), ("normal", 1)])
def test_synchronous_setting_holds_after_acks(tmp_path: Path, mode: str, level: int) -> None:
    with Spool(tmp_path / "s.sqlite", BIG, synchronous=mode) as spool:
        spool.ack(spool.append(msgs(3)))
        assert spool._conn is not None
        assert spool._conn.execute("PRAGMA synchronous").fetchone() == (level,)
        assert spool._conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_a_closed_spool_says_so(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.sqlite", BIG)
    spool.close()
    spool.close()
    for call in (lambda: spool.append(msgs(1)), lambda: spool.peek(0, 1), lambda: spool.ack([1])):
        with pytest.raises(SpoolError, match="closed"):
            call()


def test_peek_with_no_room_returns_nothing(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.sqlite", BIG) as spool:
        spool.append(msgs(3))
        assert spool.peek(0, 0) == [] and spool.peek(0, -1) == []


def test_a_full_disk_drops_the_oldest_messages_and_keeps_the_new_batch(tmp_path: Path) -> None:
    # SQLite's own page limit gives the same SQLITE_FULL as a full SD card, before our bound is near.
    with Spool(tmp_path / "s.sqlite", BIG) as spool:
        spool.append(msgs(50, tag=1))
        conn = spool._conn
        assert conn is not None
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages + 2}")
        for tag in range(2, 40):  # well past what 2 more pages hold
            ids = spool.append(msgs(20, tag=tag))
            assert len(ids) == 20
        assert spool.dropped > 0
        rows = spool.peek(0, 10_000)
        assert rows[-20:] == [(i, t, p) for i, (t, p) in zip(ids, msgs(20, tag=39), strict=True)]
        assert len(rows) == spool.depth == 50 + 38 * 20 - spool.dropped


def test_a_disk_with_no_room_at_all_raises_a_clear_error(tmp_path: Path) -> None:
    with Spool(tmp_path / "s.sqlite", BIG) as spool:
        conn = spool._conn
        assert conn is not None
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(SpoolError, match="the disk is full") as err:
            spool.append(msgs(200, size=4000))
        assert err.value.disk_full
        assert spool.depth == 0
