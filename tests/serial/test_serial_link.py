"""The serial source against simulated sensor nodes on real ptys, read with real pyserial."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from edge_agent.sources.serial import CommandUnconfirmed, SerialNodeSource
from tests.serial.rig import assert_same_readings, serial_rig
from tonle.sources.base import CommandRefused, Source


def test_three_minutes_of_three_stations_arrive_exactly(tmp_path: Path) -> None:
    async def main() -> None:
        async with serial_rig(tmp_path, machines=("S01", "S02", "S03")) as rig:
            assert all(isinstance(s, Source) for s in rig.sources.values())
            rig.step(180)
            for i, m in enumerate(("S01", "S02", "S03")):
                await rig.delivered(m)
                assert_same_readings(rig, m, i)
                want = rig.expected(i)
                assert len(want["T"]) == 180 and want["V"] and want["C"] and want["S"]
                health = rig.sources[m].health
                assert health.corrupt_frames == 0 and health.reads == sum(map(len, want.values()))
                assert health.per_machine_reads == {m: health.reads}

    asyncio.run(main())


def test_corrupt_frames_and_garbage_are_counted_skipped_and_refetched(tmp_path: Path) -> None:
    async def main() -> None:
        async with serial_rig(tmp_path) as rig:
            node, src = rig.node(), rig.sources["S01"]
            rig.step(10)
            node.corrupt_next_frame()
            rig.step(10)
            await rig.delivered()  # including the corrupt one, fetched again by a SYNC
            assert src.health.corrupt_frames == 1
            assert src.stats.resyncs == 2  # the one on open, and one to refetch the corrupt frame
            node.inject_garbage(b"\x00\x17boot noise without a newline ")  # glued to the next frame
            rig.step(10)
            node.inject_garbage(b"junk line\r\n")
            node.inject_garbage(b"x" * 20_000 + b"\n")  # longer than any frame may be
            rig.step(10)
            await rig.delivered()
            assert src.health.corrupt_frames == 4
            assert src.stats.resyncs == 2  # the frame after the noise was salvaged: no hole
            assert_same_readings(rig)  # nothing lost: the corrupt frame came again after SYNC

    asyncio.run(main())


def test_unplug_and_replug_reconnect_to_the_same_path_losing_nothing(tmp_path: Path) -> None:
    async def main() -> None:
        async with serial_rig(tmp_path) as rig:
            node, src = rig.node(), rig.sources["S01"]
            first_tty = node.link.resolve()
            rig.step(20)
            await rig.delivered()
            rig.step(10)
            node.unplug()  # right after writing: those frames may be lost in the cable
            assert not node.link.exists()
            await rig.until(lambda: not src.health.connected, "the source to notice the unplug")
            rig.step(20)  # made while unplugged: only in the node's ring
            node.replug()
            assert node.link.resolve() != first_tty or node.link.exists()
            rig.step(20)  # made after replug, before or after the gateway reopened
            await rig.until(lambda: src.health.connected, "the source to reopen the link")
            await rig.delivered()
            assert src.health.reconnects == 1
            assert "S01" in src.health.last_error or src.health.read_errors >= 1
            assert_same_readings(rig)  # every reading exactly once
            first_reading = min(r.seq for r in rig.got["S01"])
            assert node.unacked[0] <= first_reading  # no reading was acked: the node still holds them all

    asyncio.run(main())


def test_a_full_sync_is_deduplicated_and_a_restarted_gateway_gets_every_unacked_frame(tmp_path: Path) -> None:
    async def main() -> None:
        async with serial_rig(tmp_path) as rig:
            node = rig.node()
            rig.step(15)
            await rig.delivered()
            old = rig.sources["S01"]
            await old.sync()  # a full SYNC: the node resends everything, the source drops it all
            await rig.until(
                lambda: node.stats.syncs == 2 and old.stats.frames == node.stats.frames, "the resend"
            )
            assert old.stats.duplicates == node.stats.frames - 1  # all but the fresh hello
            assert_same_readings(rig)
            new = SerialNodeSource(old.cfg)  # the agent restarted: no memory of seqs, nothing acked
            rig.start("S01", new)
            await rig.until(lambda: new.stats.node is not None, "the new source's hello")
            await rig.delivered()
            assert new.stats.duplicates == 0 and new.health.reads == old.health.reads
            assert_same_readings(rig)  # the new source got it all again


def test_ack_frees_the_ring_and_a_later_sync_resends_nothing_older(tmp_path: Path) -> None:
    async def main() -> None:
        async with serial_rig(tmp_path) as rig:
            node, src = rig.node(), rig.sources["S01"]
            rig.step(30)
            await rig.delivered()
            first_reading = min(r.seq for r in rig.got["S01"])
            assert node.unacked == list(range(first_reading, node.seq + 1))  # the hellos acked, no reading
            await src.commit()
            await rig.until(lambda: not node.unacked, "the node to free its ring")
            acked = node.seq
            rig.step(5)
            await rig.delivered()
            resent, dupes = node.stats.resent, src.stats.duplicates
            await src.sync()
            await rig.until(lambda: node.stats.syncs == 2, "the SYNC")
            await rig.delivered()
            assert min(node.unacked) > acked
            assert node.stats.resent - resent == len(node.unacked) - 1  # the 5 s after the ACK, not before
            assert src.stats.duplicates - dupes == node.stats.resent - resent
            await src.commit()
            await rig.until(lambda: not node.unacked, "the second ACK")
            assert_same_readings(rig)

    asyncio.run(main())


def test_a_full_ring_loses_the_oldest_frames_and_the_source_counts_them(tmp_path: Path) -> None:
    async def main() -> None:
        async with serial_rig(tmp_path, ring_size=50) as rig:
            node, src = rig.node(), rig.sources["S01"]
            rig.step(10)
            await rig.delivered()
            await src.commit()
            await rig.until(lambda: not node.unacked, "the ACK")
            acked = node.seq
            node.unplug()
            await rig.until(lambda: not src.health.connected, "the unplug")
            rig.step(80)  # > 50 frames with nobody listening
            node.replug()
            await rig.until(lambda: src.stats.node is not None and src.stats.node.dropped > 0, "the H")
            hello = src.stats.node
            await rig.delivered()
            assert src.stats.lost == hello.first - 1 - acked == hello.dropped > 0
            assert src.health.per_machine_errors == {"S01": src.stats.lost}
            seqs = {r.seq for r in rig.got["S01"]}
            assert not seqs & set(range(acked + 1, hello.first))
            assert len(seqs) == len(rig.got["S01"])

    asyncio.run(main())


def test_a_node_reboot_starts_a_new_seq_and_nothing_is_dropped(tmp_path: Path) -> None:
    async def main() -> None:
        async with serial_rig(tmp_path) as rig:
            node, src = rig.node(), rig.sources["S01"]
            rig.step(20)
            await rig.delivered()
            before = node.seq
            node.reboot()
            assert node.seq == 1 < before
            rig.step(20)
            await rig.until(lambda: src.health.reads == sum(map(len, rig.expected(0).values())), "all")
            assert src.stats.node_resets == 1
            assert_same_readings(rig, one_boot=False)

    asyncio.run(main())


def test_commands_round_trip_refuse_and_time_out(tmp_path: Path) -> None:
    async def main() -> None:
        async with serial_rig(tmp_path, command_timeout_s=0.3) as rig:
            node, src = rig.node(), rig.sources["S01"]
            detail = await src.apply("S01", "set_speed", 0.8, cmd_id="c-1")
            assert detail == "speed set to 80% of nominal"
            assert rig.line.speed_fraction[0] == 0.8
            assert await src.apply("S01", "set_speed", 0.8, cmd_id="c-1") == detail  # same id: not twice
            assert node.stats.commands == 1
            node_range = r"refused set_speed: .*outside the allowed range 0\.3\.\.1\.0"
            with pytest.raises(CommandRefused, match=node_range):
                await src.apply("S01", "set_speed", 0.2)  # inside the gateway's limits, not the node's
            assert rig.line.speed_fraction[0] == 0.8
            with pytest.raises(CommandRefused, match=r"outside 0\.1\.\.1"):
                await src.apply("S01", "set_speed", 1.5)  # never sent
            assert await src.apply("S01", "andon", 1.0) == "andon lit"
            node.deaf = True
            with pytest.raises(CommandUnconfirmed, match=r"no answer .* within 0.3 s to clear_andon"):
                await src.apply("S01", "clear_andon", None)
            assert src.health.timeouts == 1
            node.unplug()
            await rig.until(lambda: not src.health.connected, "the unplug")
            with pytest.raises(CommandUnconfirmed, match="not connected"):
                await src.apply("S01", "maintenance", None)

    asyncio.run(main())


def test_commands_off_the_allow_list_never_reach_the_node(tmp_path: Path) -> None:
    async def main() -> None:
        async with serial_rig(tmp_path, allowed_commands=("andon",)) as rig:
            src = rig.sources["S01"]
            with pytest.raises(CommandRefused, match="'set_speed' is not allowed on S01; allowed: andon"):
                await src.apply("S01", "set_speed", 0.8)
            with pytest.raises(CommandRefused, match="drives 'S01', not 'S02'"):
                await src.apply("S02", "andon", 1.0)
            assert rig.node().stats.commands == 0
            assert src.limits["S01"].allowed == frozenset({"andon"})

    asyncio.run(main())


def test_a_quiet_link_is_probed_then_reopened(tmp_path: Path) -> None:
    async def main() -> None:
        async with serial_rig(tmp_path, read_timeout_s=0.2) as rig:
            node, src = rig.node(), rig.sources["S01"]
            await rig.until(lambda: node.stats.syncs >= 2, "a probe SYNC after 0.1 s of silence")
            node.deaf = True  # alive but no longer answering
            await rig.until(lambda: src.health.timeouts >= 1, "the read timeout")
            node.deaf = False
            await rig.until(lambda: src.health.reconnects >= 1 and src.health.connected, "the reopen")
            rig.step(5)
            await rig.delivered()
            assert_same_readings(rig)

    asyncio.run(main())


def test_a_backlog_written_before_the_gateway_opens_arrives_whole_after_one_sync(tmp_path: Path) -> None:
    """The demo's warm-up: ten minutes (~660 KB of bursts) wait in the pty and the node before the open.

    Opening the port flushes what the pty held and cuts a frame in half; the
    node must still stream every frame it holds in answer to the opening SYNC,
    at link speed. A hole-filling SYNC (held off here by a long resync interval)
    must not be needed: the data is all in the node, nothing was corrupted on
    the wire after the open.
    """

    async def main() -> None:
        async with serial_rig(tmp_path, backlog_s=600, resync_interval_s=60.0) as rig:
            node, src = rig.node(), rig.sources["S01"]
            assert node.stats.frames > 600 and len(rig.expected(0)["V"]) >= 50
            await rig.delivered()
            assert_same_readings(rig)
            assert src.stats.lost == 0 and src.stats.resyncs == 1  # the SYNC on open, no hole-filling
            assert src.health.corrupt_frames <= 1  # at most the frame the open's flush cut in half
            await src.commit()
            await rig.until(lambda: not node.unacked, "the node to free its ring")

    asyncio.run(main())


def test_a_quiet_node_gets_its_hello_acked_so_its_ring_empties(tmp_path: Path) -> None:
    """Probe SYNCs on a quiet link make H frames, which carry no reading: nothing may hold them unacked."""

    async def main() -> None:
        async with serial_rig(tmp_path, read_timeout_s=0.2) as rig:
            node, src = rig.node(), rig.sources["S01"]
            rig.step(5)
            await rig.delivered()
            await src.commit()  # the agent made the readings durable; from now on it has nothing to commit
            probes = node.stats.syncs
            await rig.until(lambda: node.stats.syncs >= probes + 3, "three more probe SYNCs")
            await rig.until(lambda: not node.unacked, "the probes' hellos to be acked")
            assert_same_readings(rig)

    asyncio.run(main())
