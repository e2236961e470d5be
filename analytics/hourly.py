"""The hour-by-hour board: per line and clock hour, target, actual, cumulative, gap and why.

Every Cambodian sewing floor keeps this whiteboard: for each hour of the shift the
target, the pieces made, both summed since the shift began, the gap, and the reason
for the hour's worst loss. Here it is computed from the same inputs and the same
calendar as every other figure (`analytics.line`), cut at local clock hours
(`tonle.kernels.shifts.by_hour`), and written as `line_hour` rows (one per line and
hour, timestamp = the hour's start), which the report and the dashboards read.

An hour that is not over, or whose output station's state is not known all through it,
is `partial` = 1: it is shown and marked, never hidden or stretched. Cumulative figures
restart with each shift instance (or off-shift stretch). Outside shift time the target
is 0 and the hour is `overtime` if the line worked in it, else `off_shift`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from analytics.line import LineInputs, LineKey
from analytics.line_figures import line_figures
from analytics.period_kind import OFF_SHIFT, OVERTIME, SHIFT
from tonle.contract import encode_block
from tonle.kernels.shifts import ShiftCalendar, by_hour
from tonle.schema import LINE_HOUR

__all__ = ["HourBoard", "hour_board", "line_hour_rows"]

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class HourBoard:
    """One entry per clock hour of the range, in time order (arrays of equal length)."""

    hour_ns: np.ndarray  # start of the clock hour (the first may begin before the range)
    target_pcs: np.ndarray
    actual_pcs: np.ndarray
    cum_target_pcs: np.ndarray
    cum_actual_pcs: np.ndarray
    covered_s: np.ndarray  # seconds of the hour whose output-station state is known
    partial: np.ndarray  # bool: the hour is not over or not fully covered
    period: tuple[str, ...]  # SHIFT, OVERTIME or OFF_SHIFT
    worst_cause: tuple[str, ...]  # the largest downtime cause of the hour's stations, "" if none
    parent: np.ndarray  # the reporting period (shift instance) of each hour

    @property
    def n(self) -> int:
        return int(self.hour_ns.size)

    @property
    def gap_pcs(self) -> np.ndarray:
        return self.actual_pcs - self.target_pcs

    @property
    def cum_gap_pcs(self) -> np.ndarray:
        return self.cum_actual_pcs - self.cum_target_pcs


def hour_board(inputs: LineInputs, calendar: ShiftCalendar, now_ns: int | None = None) -> HourBoard:
    """The board of `inputs`' range; an hour ending after `now_ns` (default: the range end) is partial."""
    now = inputs.end_ns if now_ns is None else int(now_ns)
    out = inputs.setup.output
    periods = calendar.periods(inputs.start_ns, inputs.end_ns)
    hourly, parent = by_hour(periods, calendar.tz)
    result = inputs.kpis(hourly)
    n = hourly.n
    floor = _hour_floor(int(hourly.start_ns[0]), calendar.tz) if n else 0
    hour_ns = hourly.start_ns.copy()
    if n:
        hour_ns[0] = floor
    full_end = np.append(hour_ns[1:], hour_ns[-1] + 3600 * NS) if n else hour_ns
    actual, covered, worked = np.zeros(n), np.zeros(n), np.zeros(n, dtype=bool)
    causes: list[str] = []
    for h in range(n):  # a day has 24: one roll-up each
        lf = line_figures(inputs, result, periods=np.arange(n) == h)
        span_s = (hourly.end_ns[h] - hourly.start_ns[h]) / NS
        actual[h] = lf.output_good if out >= 0 else np.nan
        covered[h] = span_s - float(lf.machines.nodata_s[out]) if out >= 0 else 0.0
        worked[h] = float(lf.line.run_s) > 0 or actual[h] > 0
        p = lf.pareto
        causes.append(str(p.label[0]) if len(p.label) and float(p.seconds[0]) > 0 else "")
    target = inputs.setup.target_pph * hourly.scheduled_s() / 3600.0
    full_s = (full_end - hour_ns) / NS
    partial = (full_end > min(now, inputs.end_ns)) | (covered < full_s - 1e-6)
    kind = tuple(SHIFT if hourly.shift[h] >= 0 else OVERTIME if worked[h] else OFF_SHIFT for h in range(n))
    return HourBoard(
        hour_ns=hour_ns,
        target_pcs=target,
        actual_pcs=actual,
        cum_target_pcs=_cumsum_by(target, parent),
        cum_actual_pcs=_cumsum_by(np.nan_to_num(actual), parent),
        covered_s=np.maximum(covered, 0.0),
        partial=partial,
        period=kind,
        worst_cause=tuple(causes),
        parent=parent,
    )


def line_hour_rows(key: LineKey, board: HourBoard) -> bytes:
    """`line_hour` rows: one per hour, stamped with the hour's start (a rewrite overwrites it)."""
    if not board.n:
        return b""
    floats = {
        "target_pcs": board.target_pcs,
        "actual_pcs": np.nan_to_num(board.actual_pcs),
        "cum_target_pcs": board.cum_target_pcs,
        "cum_actual_pcs": board.cum_actual_pcs,
        "gap_pcs": np.nan_to_num(board.gap_pcs),
        "cum_gap_pcs": board.cum_gap_pcs,
        "covered_s": board.covered_s,
    }
    tags = {"site": key.site, "area": key.area, "line": key.line}
    ints = {"partial": board.partial.astype(np.int64)}
    strs = {"period": list(board.period), "worst_cause": list(board.worst_cause)}
    return encode_block(LINE_HOUR.name, tags, board.hour_ns.astype(np.int64), floats, ints, strs)


def _cumsum_by(x: np.ndarray, group: np.ndarray) -> np.ndarray:
    """Running sums that restart where `group` changes (groups are consecutive)."""
    total = np.cumsum(x)
    starts = np.flatnonzero(np.append(True, group[1:] != group[:-1]))
    before = np.append(0.0, total)[starts]
    return total - np.repeat(before, np.diff(np.append(starts, x.size)))


def _hour_floor(ts_ns: int, tz: str) -> int:
    """The start of the local clock hour holding `ts_ns`."""
    zone = ZoneInfo(tz)
    t = dt.datetime.fromtimestamp(ts_ns / NS, zone).replace(minute=0, second=0, microsecond=0)
    delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * NS
