"""Clocks: the wall clock for the floor, a virtual clock for tests and fast demos.

Everything that waits in Tonle waits on a `Clock`, so a test can run an hour of
agent life in milliseconds and never call `time.sleep` (STYLE.md, practice 11).
The virtual clock is driven from outside: `advance()` moves time forward and
wakes the sleepers in time order, each one seeing `now_ns()` equal to the
moment it asked to wake at.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from typing import Protocol, runtime_checkable

__all__ = ["Clock", "VirtualClock", "WallClock"]

# How many times `VirtualClock.advance` yields to the event loop after waking a
# sleeper, so that the woken task can run up to its next real suspension point
# (e.g. a queue put followed by another sleep) before time moves again.
SETTLE_YIELDS = 5


@runtime_checkable
class Clock(Protocol):
    """Source of time in ns since the epoch and a way to wait on it."""

    def now_ns(self) -> int: ...

    async def sleep(self, seconds: float) -> None: ...


class WallClock:
    """Real time: `time.time_ns` and `asyncio.sleep`."""

    def now_ns(self) -> int:
        return time.time_ns()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class VirtualClock:
    """Time that only moves when `advance()` is awaited.

    Sleepers are kept in a heap ordered by (wake time, arrival order), so two
    tasks that asked for the same instant wake in the order they went to sleep.
    """

    def __init__(self, start_ns: int) -> None:
        if start_ns < 0:
            raise ValueError(f"start_ns={start_ns} is negative; give ns since the epoch")
        self._now = int(start_ns)
        self._sleepers: list[tuple[int, int, asyncio.Future[None]]] = []
        self._arrival = itertools.count()
        self._advancing = False

    def now_ns(self) -> int:
        return self._now

    @property
    def sleepers(self) -> int:
        """Tasks currently waiting on this clock (cancelled ones excluded)."""
        return sum(not fut.done() for _, _, fut in self._sleepers)

    async def sleep(self, seconds: float) -> None:
        """Wait until virtual time reaches now + seconds; 0 or less just yields once."""
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        wake = self._now + _to_ns(seconds)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (wake, next(self._arrival), fut))
        await fut  # a cancelled sleeper leaves a done future that advance() skips

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, waking every sleeper due on the way, in order.

        A woken task that goes back to sleep within the window is woken again in
        the same call, so a periodic task ticks as often as it would in real time.
        """
        if seconds < 0:
            raise ValueError(f"cannot advance by {seconds} s: time only moves forward")
        if self._advancing:
            raise RuntimeError("VirtualClock.advance is already running in another task")
        self._advancing = True
        try:
            target = self._now + _to_ns(seconds)
            while self._sleepers and self._sleepers[0][0] <= target:
                wake, _, fut = heapq.heappop(self._sleepers)
                if fut.done():
                    continue
                self._now = wake
                fut.set_result(None)
                await _settle()
            self._now = target
            await _settle()
        finally:
            self._advancing = False


async def _settle() -> None:
    for _ in range(SETTLE_YIELDS):
        await asyncio.sleep(0)


def _to_ns(seconds: float) -> int:
    return round(seconds * 1_000_000_000)
