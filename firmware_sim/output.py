"""What the simulated line hands over: telemetry columns, bursts, state changes, counts.

Plain arrays and tuples, ready for the edge agent to encode: telemetry is
columnar (one row per station-second) so a whole line-second becomes numpy
slices, never a Python object per sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import numpy as np

from tonle.schema import ANDON, CURRENT_A, SPEED_SPM, TEMP_C

__all__ = ["Burst", "LineOutput", "PieceCount", "StateChange", "TelemetryBuffer", "TelemetryFrame"]


class Burst(NamedTuple):
    """Raw accelerometer burst: `ts_ns` is the time of its first sample, waveform in g."""

    station: int
    ts_ns: int
    fs_hz: float
    waveform: np.ndarray


class StateChange(NamedTuple):
    station: int
    ts_ns: int
    state: str
    reason: str


class PieceCount(NamedTuple):
    """Cumulative counters of one station after a piece completed."""

    station: int
    ts_ns: int
    total: int
    good: int


@dataclass(frozen=True, slots=True)
class TelemetryFrame:
    """1 Hz samples, one row per station-second, time-major."""

    FIELDS: ClassVar[tuple[str, ...]] = (SPEED_SPM, CURRENT_A, TEMP_C, ANDON)  # telemetry fields, as stored

    ts: np.ndarray
    station: np.ndarray
    speed_spm: np.ndarray
    current_a: np.ndarray
    temp_c: np.ndarray
    andon: np.ndarray

    def __len__(self) -> int:
        return int(self.ts.size)

    def fields(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in self.FIELDS}


@dataclass(frozen=True, slots=True)
class LineOutput:
    """Everything the line produced between two `advance_to` calls."""

    telemetry: TelemetryFrame
    bursts: list[Burst]
    states: list[StateChange]
    counts: list[PieceCount]


class TelemetryBuffer:
    """Pre-sized columns for one `advance_to` call, filled one second at a time."""

    def __init__(self, rows: int, n: int) -> None:
        self._n = n
        self._row = 0
        self.ts = np.empty(rows, dtype=np.int64)
        self.cols = np.empty((4, rows, n))

    def add(self, ts: int, *cols: np.ndarray) -> None:
        self.ts[self._row] = ts
        for c, col in enumerate(cols):
            self.cols[c, self._row] = col
        self._row += 1

    def frame(self) -> TelemetryFrame:
        rows, n = self._row, self._n
        flat = self.cols[:, :rows].reshape(4, rows * n)
        return TelemetryFrame(
            ts=np.repeat(self.ts[:rows], n),
            station=np.tile(np.arange(n), rows),
            speed_spm=flat[0],
            current_a=flat[1],
            temp_c=flat[2],
            andon=flat[3],
        )
