"""One line's KPI inputs over one range: its key, its operation bulletin, and what was read.

`analytics.inputs.read_line` fills a `LineInputs` from InfluxDB; the service and the shift
report both compute from it (`LineInputs.kpis`, `analytics.line_figures.line_figures`), so
the OEE on the wall and the OEE on the printed report come from the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from analytics.energy import ENERGY_FIELD, UniformSeries
from analytics.kpi import Counts, KpiResult, compute_kpis
from analytics.timeline import Events
from tonle.io.influxql import quote_str
from tonle.kernels.shifts import Periods, ShiftCalendar

__all__ = ["ESTIMATED", "METERED", "NO_POWER", "LineInputs", "LineKey", "LineSetup"]

METERED, ESTIMATED, NO_POWER = "metered", "estimated from motor current", "none"
"""Where a machine's power figures come from (`LineInputs.power_source`)."""


class LineKey(NamedTuple):
    site: str
    area: str
    line: str

    def where(self) -> str:
        """InfluxQL condition selecting this line's series."""
        return " AND ".join(f"{tag} = {quote_str(value)}" for tag, value in self._asdict().items())

    def __str__(self) -> str:
        return f"{self.site}/{self.area}/{self.line}"


@dataclass(frozen=True, slots=True)
class LineSetup:
    """The line's operation bulletin, aligned with the machine table.

    sam_min:    standard allowed minutes per machine; NaN for a machine the bulletin does not
                list (a press, a meter's host): it gets no performance figure and is left out
                of the line's pooled figures.
    operators:  the bulletin's operator count, or one per station when it says 0.
    output:     index of the last station in flow order: its good pieces are the line's output
                (-1 when the bulletin lists no station).
    """

    target_pph: float
    operators: int
    sam_min: np.ndarray
    output: int

    @property
    def stations(self) -> np.ndarray:
        """Machines whose figures are pooled into the line's (those with a SAM; all if none has)."""
        has = np.isfinite(self.sam_min)
        return has if has.any() else np.ones_like(has)


@dataclass(frozen=True, slots=True)
class LineInputs:
    """Everything `compute_kpis` needs for one line and one range, plus where it came from."""

    key: LineKey
    machines: tuple[str, ...]
    start_ns: int
    end_ns: int
    states: Events
    reasons: tuple[str, ...]
    counts: Counts
    power: UniformSeries
    power_source: tuple[str, ...]
    meters: tuple[str, ...]
    meter_power: UniformSeries
    setup: LineSetup
    last_data_ns: int | None = None  # the line's newest reading in the range (None: none)
    silent_from_ns: int | None = None  # where the machines were marked offline (None: never)

    @property
    def n(self) -> int:
        return len(self.machines)

    @property
    def has_data(self) -> bool:
        """Whether any machine state is known inside the range (or carried into it)."""
        return bool(self.states.code.size)

    def current_state(self) -> np.ndarray:
        """Each machine's latest state code at the range end (-1 where none is known)."""
        out = np.full(self.n, -1, dtype=np.int64)
        order = np.lexsort((self.states.ts_ns, self.states.machine))
        out[self.states.machine[order]] = self.states.code[order]
        return out

    def kpis(self, calendar: ShiftCalendar | Periods | None = None) -> KpiResult:
        """The full KPI set of the range (shifts and breaks from `calendar`; None: all planned)."""
        return compute_kpis(
            self.states,
            self.counts,
            n_machines=self.n,
            start_ns=self.start_ns,
            end_ns=self.end_ns,
            ideal_cycle_s=self.setup.sam_min * 60.0,
            calendar=calendar,
            telemetry={ENERGY_FIELD: self.power},
            reasons=self.reasons,
        )

    def meter_energy(self, spans: Sequence[tuple[int, int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(kWh, samples present, samples expected) of each of the line's meters over some time spans."""
        return _grid_energy(self.meter_power, spans)


def _grid_energy(
    series: UniformSeries, spans: Sequence[tuple[int, int]]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    values = series.values
    rows = values.shape[0]
    kwh, present, expected = np.zeros(rows), np.zeros(rows), np.zeros(rows)
    if values.size == 0:
        return kwh, present, expected
    for a, b in spans:  # a handful of reporting periods
        lo, hi = series.index_at(np.array([a, b], dtype=np.int64))
        part = values[:, lo:hi]
        kwh += np.nansum(part, axis=1) * series.period_s / 3600.0
        present += np.isfinite(part).sum(axis=1)
        expected += part.shape[1]
    return kwh, present, expected
