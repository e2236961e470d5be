"""The simulated sewing line as an in-process device source.

Trainers and tests use it when no real (or simulated-over-a-wire) device is
wanted: the line is stepped on the agent's clock and its output pushed as
readings, exactly like a serial or Modbus source would.
"""

from __future__ import annotations

from firmware_sim.line import LineOutput, LineSpec, SewingLine, SimCommandError
from tonle.io.clock import Clock
from tonle.sources.base import (
    Burst,
    CommandRefused,
    Count,
    DeviceLimits,
    Reading,
    Sample,
    Sink,
    SourceHealth,
    StateChange,
)

__all__ = ["SimSource", "readings_from_output"]


def readings_from_output(out: LineOutput, names: list[str]) -> list[Reading]:
    """Turn one step of line output into readings, in time order per kind."""
    tel = out.telemetry
    readings: list[Reading] = []
    if len(tel):
        cols = [c.tolist() for c in (tel.speed_spm, tel.current_a, tel.temp_c, tel.andon)]
        for ts, st, speed, cur, temp, andon in zip(tel.ts.tolist(), tel.station.tolist(), *cols, strict=True):
            readings.append(
                Sample(names[st], ts, {"speed_spm": speed, "current_a": cur, "temp_c": temp, "andon": andon})
            )
    readings.extend(Burst(names[b.station], b.ts_ns, b.fs_hz, b.waveform) for b in out.bursts)
    readings.extend(StateChange(names[s.station], s.ts_ns, s.state, s.reason) for s in out.states)
    readings.extend(Count(names[c.station], c.ts_ns, c.total, c.good) for c in out.counts)
    return readings


class SimSource:
    def __init__(
        self,
        line: SewingLine,
        spec: LineSpec,
        clock: Clock,
        *,
        tick_s: float = 1.0,
        name: str = "sim-line",
        speed_range: tuple[float, float] = (0.5, 1.0),
    ) -> None:
        self.line = line
        self.spec = spec
        self.clock = clock
        self.tick_s = tick_s
        self.name = name
        self._names = [s.name for s in spec.stations]
        self._health = SourceHealth(connected=True)
        self._limits = DeviceLimits(
            allowed=frozenset({"set_speed", "maintenance", "andon", "clear_andon"}),
            ranges={"set_speed": speed_range, "andon": (0.0, 1.0)},
        )

    @property
    def machines(self) -> list[tuple[str, str]]:
        return [(s.name, s.machine_type) for s in self.spec.stations]

    @property
    def health(self) -> SourceHealth:
        return self._health

    @property
    def limits(self) -> dict[str, DeviceLimits]:
        return dict.fromkeys(self._names, self._limits)

    def push_once(self, sink: Sink) -> None:
        readings = readings_from_output(self.line.advance_to(self.clock.now_ns()), self._names)
        self._health.reads += len(readings)
        sink(readings)

    async def run(self, sink: Sink) -> None:
        while True:
            await self.clock.sleep(self.tick_s)
            self.push_once(sink)

    async def commit(self) -> None:
        """The simulator keeps nothing for us; nothing to acknowledge."""

    async def apply(
        self, machine: str, action: str, value: float | None, *, cmd_id: str | None = None
    ) -> str:
        try:
            return self.line.apply(self._names.index(machine), action, value)
        except SimCommandError as exc:
            raise CommandRefused(str(exc)) from exc
