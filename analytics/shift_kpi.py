"""The figures of the shift so far (`shift_kpi`) and the downtime by cause (`downtime`), per line."""

from __future__ import annotations

import numpy as np

from analytics.hourly import hour_board, line_hour_rows
from analytics.inputs import LineFigures, LineKey, line_figures, read_line
from analytics.late import settled
from analytics.period_kind import period_kind
from analytics.reads import stored_downtime
from analytics.rows import downtime_rows, shift_kpi_row
from tonle.config import TonleConfig
from tonle.io.influxql import InfluxQLClient
from tonle.io.writers import Writer
from tonle.kernels.shifts import ShiftCalendar

__all__ = ["ShiftKpiWriter"]

NS = 1_000_000_000
OFF_SHIFT = "off-shift"
# A shift is at most a day; a long stretch outside shifts (a weekend) is reported for
# its last day only, which is all that can hold overtime worth showing.
SHIFT_LOOKBACK_S = 24 * 3600


class ShiftKpiWriter:
    """Figures of the shift so far (`shift_kpi`) and downtime by cause (`downtime`), per line.

    `shift_kpi` gets one row per update with the shift-to-date figures (tag `shift`, field
    `period` such as "2026-05-29 A", `period_kind`, `final` = 1 on the row written at the
    shift's end), so `last()` per shift is the latest figure. The previous period's final
    row and its `line_hour` rows are rewritten (same series and timestamp) at every update
    until its data has caught up (`analytics.late.settled`), so a gateway's backlog that
    arrives after the shift's end still lands in them. `downtime` rows hold the downtime added
    since the previous update, per cause, so `sum()` over any time range is the downtime in
    that range; a stop re-judged as it grows (a minor stop that became a breakdown) moves
    between causes with a negative and a positive row. What was already written is read
    back from InfluxDB, so a restarted service carries on without counting twice.
    """

    def __init__(self, cfg: TonleConfig, query: InfluxQLClient, writer: Writer) -> None:
        self.cfg = cfg.analytics
        self.calendar: ShiftCalendar = self.cfg.shifts.calendar()
        self.query = query
        self.writer = writer
        self.next_ns: int | None = None
        self.closed: dict[LineKey, int] = {}  # end of the last period written as final

    async def maybe_update(self, lines: dict[LineKey, list[str]], now_ns: int) -> None:
        """Update every line when `analytics.shifts.update_s` has passed since the last update."""
        if self.next_ns is not None and now_ns < self.next_ns:
            return
        self.next_ns = now_ns + int(self.cfg.shifts.update_s * NS)
        for key, machines in lines.items():
            await self.update(key, machines, now_ns)

    async def update(self, key: LineKey, machines: list[str], now_ns: int) -> None:
        """Write the current period's figures so far, and the previous period's final ones once."""
        cal = self.calendar.periods(now_ns - SHIFT_LOOKBACK_S * NS, now_ns)
        first = cal.n - 1
        if first > 0 and self.closed.get(key, -1) < int(cal.end_ns[first - 1]):
            first -= 1
        start = int(cal.start_ns[first])
        inputs = await read_line(self.query, key, start, now_ns, self.cfg, machines)
        result = inputs.kpis(self.calendar)
        chunks = [line_hour_rows(key, hour_board(inputs, self.calendar, now_ns))]
        for p in range(result.periods.n):
            final = p < result.periods.n - 1
            ts = int(result.periods.end_ns[p]) if final else now_ns
            lf = line_figures(inputs, result, periods=np.arange(result.periods.n) == p)
            if lf.line.planned_s <= 0 and not lf.output_total > 0:
                continue  # outside shifts with nothing made: nothing to report
            shift_id = int(result.periods.shift[p])
            shift = result.periods.shift_names[shift_id] if shift_id >= 0 else OFF_SHIFT
            label = result.periods.label[p].replace("no shift", OFF_SHIFT)
            tags = {"site": key.site, "area": key.area, "line": key.line, "shift": shift}
            period_start = int(result.periods.start_ns[p])
            kind = period_kind(shift_id, lf)
            chunks.append(shift_kpi_row(tags, lf, period_start, final, label, ts, kind))
            chunks.append(await self._downtime(key, tags, lf, period_start, ts, label))
        await self.writer.write(b"".join(chunks))
        if result.periods.n > 1:
            prev_end = int(result.periods.end_ns[result.periods.n - 2])
            if settled(inputs.last_data_ns, prev_end, now_ns, self.cfg.window_s):
                self.closed[key] = prev_end

    async def _downtime(
        self, key: LineKey, tags: dict[str, str], lf: LineFigures, period_start: int, ts: int, label: str
    ) -> bytes:
        """Rows adding what the downtime per cause grew by since the sums already stored."""
        stored = await stored_downtime(self.query, key, tags["shift"], period_start, ts)
        now = {
            cause: (float(sec), float(n), cat)
            for cause, sec, n, cat in zip(
                lf.pareto.label, lf.pareto.seconds, lf.pareto.stops, lf.pareto.category, strict=True
            )
        }
        return downtime_rows(tags, now, stored, label, ts)
