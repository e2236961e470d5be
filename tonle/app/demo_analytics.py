"""The analytics service inside the demo process, which the power-cut drill drops and starts afresh."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field

from analytics.service import AnalyticsService

__all__ = ["AnalyticsRuns"]


@dataclass
class AnalyticsRuns:
    """One analytics instance at a time; a power cut drops it and a fresh one takes over.

    The analytics runs in the demo's own process, so "killing" it means dropping the
    instance where it stands: its task is cancelled, nothing is flushed or saved. The
    fresh instance knows nothing but what InfluxDB holds (analytics.recovery rebuilds
    its latches and PdM state). The live view and the summary read `current`; the
    counts add every instance up.
    """

    make: Callable[[], AnalyticsService]
    current: AnalyticsService = field(init=False)
    instances: list[AnalyticsService] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.current = self.make()
        self.instances.append(self.current)

    def start(self) -> None:
        """Run the current instance; after a `kill`, a fresh one."""
        if self._task is not None:
            self.current = self.make()
            self.instances.append(self.current)
        self._task = asyncio.create_task(self.current.run(self._stop), name="analytics")

    def kill(self) -> None:
        """Drop the running instance without any cleanup (a power cut)."""
        if self._task is not None:
            self._task.cancel()

    async def stop(self) -> None:
        """The end of the run: let the running instance finish its round."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def total(self, counter: str) -> int:
        """A count (`commands_sent`, `alerts_sent`) over every instance."""
        return sum(int(getattr(a, counter)) for a in self.instances)
