"""VirtualClock wakes sleepers in time order, each at exactly its own wake time."""

from __future__ import annotations

import asyncio
import time

import pytest

from tonle.io.clock import Clock, VirtualClock, WallClock

START = 1_700_000_000_000_000_000
S = 1_000_000_000


def test_wall_clock_reads_epoch_nanoseconds() -> None:
    before = time.time_ns()
    now = WallClock().now_ns()
    assert before <= now <= time.time_ns()


def test_both_clocks_satisfy_the_clock_protocol() -> None:
    assert isinstance(WallClock(), Clock)
    assert isinstance(VirtualClock(START), Clock)


def test_sleepers_wake_in_time_order_each_seeing_its_own_wake_time() -> None:
    async def main() -> list[tuple[str, int]]:
        clock = VirtualClock(START)
        woke: list[tuple[str, int]] = []

        async def sleeper(name: str, seconds: float) -> None:
            await clock.sleep(seconds)
            woke.append((name, clock.now_ns()))

        tasks = [asyncio.create_task(sleeper(n, s)) for n, s in (("c", 3), ("a", 1), ("b", 2))]
        await asyncio.sleep(0)
        await clock.advance(5)
        await asyncio.gather(*tasks)
        assert clock.now_ns() == START + 5 * S
        return woke

    assert asyncio.run(main()) == [("a", START + S), ("b", START + 2 * S), ("c", START + 3 * S)]


def test_equal_wake_times_wake_in_the_order_they_went_to_sleep() -> None:
    async def main() -> list[int]:
        clock = VirtualClock(START)
        woke: list[int] = []

        async def sleeper(i: int) -> None:
            await clock.sleep(1.5)
            woke.append(i)

        tasks = [asyncio.create_task(sleeper(i)) for i in range(5)]
        await asyncio.sleep(0)
        await clock.advance(1.5)
        await asyncio.gather(*tasks)
        return woke

    assert asyncio.run(main()) == [0, 1, 2, 3, 4]


def test_a_sleeper_is_not_woken_before_its_time() -> None:
    async def main() -> None:
        clock = VirtualClock(START)
        task = asyncio.create_task(clock.sleep(10))
        await asyncio.sleep(0)
        await clock.advance(9.999)
        assert not task.done()
        await clock.advance(0.001)
        assert task.done()

    asyncio.run(main())


def test_a_periodic_task_ticks_once_per_period_within_one_advance() -> None:
    async def main() -> list[int]:
        clock = VirtualClock(START)
        ticks: list[int] = []

        async def every_second() -> None:
            while True:
                await clock.sleep(1)
                ticks.append(clock.now_ns())

        task = asyncio.create_task(every_second())
        await asyncio.sleep(0)
        await clock.advance(10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return ticks

    assert asyncio.run(main()) == [START + k * S for k in range(1, 11)]


def test_a_cancelled_sleeper_is_skipped_and_the_rest_still_wake() -> None:
    async def main() -> None:
        clock = VirtualClock(START)
        doomed = asyncio.create_task(clock.sleep(1))
        survivor = asyncio.create_task(clock.sleep(2))
        await asyncio.sleep(0)
        doomed.cancel()
        await clock.advance(3)
        assert doomed.cancelled()
        assert survivor.done() and not survivor.cancelled()
        assert clock.sleepers == 0

    asyncio.run(main())


def test_zero_sleep_only_yields_and_time_cannot_go_backwards() -> None:
    async def main() -> None:
        clock = VirtualClock(START)
        await clock.sleep(0)
        assert clock.now_ns() == START
        with pytest.raises(ValueError, match="only moves forward"):
            await clock.advance(-1)

    asyncio.run(main())
