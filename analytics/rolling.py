"""The rolling-window rows (`oee` per machine, `line_kpi` per line), rewritten when late data lands.

Each round writes the figures of the window ending now. When the line's newest stored
reading lags behind the window's end (a gateway sending its backlog, a broker that was
down), the row is written anyway (the wall shows what is known) and its time is kept
in `analytics.late.Pending`; once the data has caught up (or the grace has passed) the
window is read and computed again and its rows written again under the same series
and timestamp, which overwrites them. Each such row is recomputed once, at most
`REVISITS_PER_ROUND` per line and round, so a long backlog costs a bounded amount per round.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from analytics.inputs import LineFigures, LineInputs, LineKey, line_figures, read_line
from analytics.kpi import KpiResult
from analytics.late import Pending
from analytics.period_kind import SHIFT, period_kind
from analytics.rows import kpi_rows
from tonle.config import AnalyticsConfig
from tonle.io.influxql import InfluxQLClient
from tonle.io.writers import Writer
from tonle.kernels.shifts import ShiftCalendar

__all__ = ["GRACE_S", "LAG_S", "REVISITS_PER_ROUND", "RollingRows", "window_kind"]

NS = 1_000_000_000
LAG_S = 10.0  # newest reading this far behind the window end, or more: the row is unsettled
GRACE_S = 3600.0  # after this, what has not arrived is missing (lower coverage), and the row is final
REVISITS_PER_ROUND = 4


def window_kind(result: KpiResult, lf: LineFigures) -> str:
    """`shift` if any of the window is shift time, else overtime or off_shift."""
    return SHIFT if (result.periods.shift >= 0).any() else period_kind(-1, lf)


@dataclass
class RollingRows:
    cfg: AnalyticsConfig
    calendar: ShiftCalendar
    query: InfluxQLClient
    writer: Writer
    pending: dict[LineKey, Pending] = field(default_factory=dict)
    rewritten: int = 0  # rows written again after their data arrived

    def rows(
        self,
        key: LineKey,
        machines: list[str],
        inputs: LineInputs,
        result: KpiResult,
        lf: LineFigures,
        end_ns: int,
    ) -> bytes:
        """This round's rows; remembers the window if its data has not all arrived yet."""
        last = inputs.last_data_ns
        if last is None or last < end_ns - int(LAG_S * NS):
            self.pending.setdefault(key, Pending()).add(end_ns)
        return _rows(key, machines, result, lf, end_ns)

    async def revisit(self, key: LineKey, machines: list[str], last_data_ns: int | None, now_ns: int) -> int:
        """Compute again and rewrite the line's settled windows; returns how many."""
        pending = self.pending.get(key)
        if pending is None:
            return 0
        due = pending.due(last_data_ns, now_ns, GRACE_S, REVISITS_PER_ROUND)
        for end_ns in due:
            start_ns = end_ns - int(self.cfg.window_s * NS)
            inputs = await read_line(self.query, key, start_ns, end_ns, self.cfg, machines)
            result = inputs.kpis(self.calendar)
            lf = line_figures(inputs, result)
            await self.writer.write(_rows(key, list(inputs.machines), result, lf, end_ns))
        self.rewritten += len(due)
        return len(due)


def _rows(key: LineKey, machines: list[str], result: KpiResult, lf: LineFigures, end_ns: int) -> bytes:
    kind = window_kind(result, lf)
    return kpi_rows(key, machines, lf, end_ns, kind)
