"""Everything the shift report shows, gathered from InfluxDB through the analytics inputs.

The report computes its figures from the stored machine data (`analytics.inputs` and
`compute_kpis`), exactly as the analytics service does, instead of reading back the
service's rows: a report for last Tuesday is right even if the service was down then.
Maintenance alerts come from the `alerts` measurement, as the dashboard shows them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np

from analytics.hourly import HourBoard, hour_board
from analytics.inputs import LineFigures, LineInputs, LineKey, find_lines, line_figures, read_line
from analytics.kpi import KpiResult, output_per_bucket
from analytics.losses import NO_DATA
from analytics.period_kind import OFF_SHIFT, period_kind, state_seconds_in
from tonle.app.report.quality import Quality, read_quality
from tonle.config import TonleConfig
from tonle.errors import ReportError
from tonle.formats import day as short_day
from tonle.formats import stamp
from tonle.io.influxql import InfluxQLClient, InfluxQLError
from tonle.kernels.shifts import SCHEDULED, Periods
from tonle.messages import N_, _
from tonle.schema import ALERTS, STATE

__all__ = [
    "Alert",
    "HourRow",
    "OffShiftRow",
    "ReportData",
    "ReportError",
    "ShiftRow",
    "gather",
    "parse_local_time",
]

NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class ShiftRow:
    """One reporting period of the range (a shift instance, or work outside shifts)."""

    label: str
    oee: float
    availability: float
    performance: float
    quality: float
    good: float
    pieces_per_hour: float
    planned_h: float


@dataclass(frozen=True, slots=True)
class HourRow:
    """Pieces out of the line in one clock hour (or the part of it inside the range)."""

    start: dt.datetime
    end: dt.datetime
    good: float
    target: float  # target pieces for the shift time in this hour (breaks and off-shift excluded)
    known: float  # fraction of the hour whose state of the last station is known


@dataclass(frozen=True, slots=True)
class OffShiftRow:
    """A stretch outside shift time in the range, and what happened in it (never planned time at 100 %)."""

    label: str
    kind: str  # analytics.period_kind: OVERTIME (the line worked) or OFF_SHIFT
    hours: float
    run_h: float  # station running time, summed over the line's stations
    good: float
    states: dict[str, tuple[float, int]]  # stopped states: (seconds, times entered), e.g. breakdown


@dataclass(frozen=True, slots=True)
class Alert:
    time: dt.datetime
    machine: str
    severity: str
    message: str
    code: str = ""  # the alert's English key (alerts.code): the report groups repeats by it


@dataclass(frozen=True, slots=True)
class ReportData:
    key: LineKey
    tz: str
    start: dt.datetime
    end: dt.datetime
    inputs: LineInputs
    figures: LineFigures
    shifts: list[ShiftRow]
    hours: list[HourRow]
    in_shift: LineFigures | None  # the figures of shift time only (None: the range has none)
    board: HourBoard  # the hour-by-hour board, as the service writes it to `line_hour`
    off_shift: list[OffShiftRow]
    alerts: list[Alert]
    alerts_total: int
    first_data: dt.datetime | None
    last_data: dt.datetime | None
    quality: Quality | None = None  # defects found at the end-of-line check (tonle.app.report.quality)


def parse_local_time(text: str, tz: str, *, end: bool = False) -> int:
    """A local ISO date or date-time (e.g. 2026-11-23T06:00) in the plant's zone -> ns since the epoch.

    A date alone means its midnight; as the end of a range, the midnight after it, so
    `--to 2026-11-23` includes the whole day. An explicit offset (+07:00) is honoured.
    """
    zone = ZoneInfo(tz)
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            t = dt.datetime.combine(day + dt.timedelta(days=int(end)), dt.time(), zone)
        else:
            t = dt.datetime.fromisoformat(text)
            t = t if t.tzinfo else t.replace(tzinfo=zone)
    except ValueError as exc:
        raise ReportError(
            N_("{text!r} is not a date or time"),
            fix=N_("write it like 2026-11-23 or 2026-11-23T06:00 ({tz} time)"),
            text=text,
            tz=tz,
        ) from exc
    delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * NS + delta.microseconds * 1000


async def gather(
    cfg: TonleConfig,
    q: InfluxQLClient,
    line: str,
    start_ns: int,
    end_ns: int,
    *,
    site: str | None = None,
    area: str | None = None,
) -> ReportData:
    """Read and compute everything the report shows; ReportError names the fix when there is no data."""
    a = cfg.analytics
    tz = a.shifts.tz
    if not start_ns < end_ns:
        raise ReportError(N_("--from must be before --to"), fix=N_("swap them"))
    key, machines = await _the_line(q, line, site, area, end_ns, tz)
    inputs = await read_line(q, key, start_ns, end_ns, a, machines)
    first, last = await _data_span(q, key, tz)
    if inputs.last_data_ns is None:  # not one reading from the line inside the range
        raise ReportError(
            N_("line {line} ({site}/{area}) has no data between {start} and {end} ({tz} time)"),
            fix=N_("its machines reported from {first} to {last}: choose --from and --to inside that")
            if first and last
            else N_("its machines never reported: check --line and influxdb.database in --config"),
            line=key.line,
            site=key.site,
            area=key.area,
            start=_fmt(_local(start_ns, tz)),
            end=_fmt(_local(end_ns, tz)),
            tz=tz,
            first=_fmt(first) if first else "",
            last=_fmt(last) if last else "",
        )
    calendar = a.shifts.calendar()
    result = inputs.kpis(calendar)
    figures = line_figures(inputs, result)
    shifts = [_shift_row(inputs, result, p) for p in range(result.periods.n) if result.periods.shift[p] >= 0]
    alerts, n_alerts = await _alerts(q, key, start_ns, end_ns, tz)
    return ReportData(
        key=key,
        tz=tz,
        start=_local(start_ns, tz),
        end=_local(end_ns, tz),
        inputs=inputs,
        figures=figures,
        shifts=[s for s in shifts if s.planned_h > 0 or s.good > 0],  # shift time only: see off_shift
        hours=_hours(inputs, result, tz),
        in_shift=line_figures(inputs, result, periods=result.periods.shift >= 0)
        if (result.periods.shift >= 0).any()
        else None,
        board=hour_board(inputs, calendar),
        off_shift=_off_shift(inputs, result),
        alerts=alerts,
        alerts_total=n_alerts,
        first_data=first,
        last_data=last,
        quality=await read_quality(q, key, start_ns, end_ns, figures.output_total),
    )


async def _the_line(
    q: InfluxQLClient, line: str, site: str | None, area: str | None, end_ns: int, tz: str
) -> tuple[LineKey, list[str]]:
    try:
        found = await find_lines(q, before_ns=end_ns, site=site, area=area, line=line)
    except InfluxQLError as exc:
        raise ReportError(N_("cannot read the database: {error}"), error=exc) from exc
    if not found:
        seen = await _lines_there(q, tz)
        where = "".join(f" --{k} {v}" for k, v in (("site", site), ("area", area)) if v)
        raise ReportError(
            N_(
                "no machine of line {line!r}{where} reported before the end of the range in database "
                "{database!r}; lines there (site/area/line, first and last data, {tz} time): {seen}"
            ),
            fix=N_("check --line, --site/--area, the dates, and influxdb.database in --config"),
            line=line,
            where=where,
            database=q.database,
            seen=seen,
            tz=tz,
        )
    if len(found) > 1:
        options = ", ".join(str(k) for k in found)
        raise ReportError(
            N_("line {line!r} exists at more than one place ({options})"),
            fix=N_("add --site and --area"),
            line=line,
            options=options,
        )
    return next(iter(found.items()))


async def _lines_there(q: InfluxQLClient, tz: str) -> str:
    """Every line in the database with the local times of its first and last machine state."""
    spans: dict[str, list[str]] = {}
    for fn in ("first", "last"):
        for s in await q.query(f"SELECT {fn}(code) FROM {STATE.name} GROUP BY site, area, line"):
            if s.values:
                key = str(LineKey(s.tags["site"], s.tags["area"], s.tags["line"]))
                spans.setdefault(key, []).append(_fmt(_local(int(s.values[0][0]), tz)))
    if not spans:
        return _("none")
    return ", ".join(
        f"{k} ({_('{first} to {last}').format(first=v[0], last=v[-1])})" for k, v in sorted(spans.items())
    )


async def _data_span(q: InfluxQLClient, key: LineKey, tz: str) -> tuple[dt.datetime | None, ...]:
    out: list[dt.datetime | None] = []
    for fn in ("first", "last"):
        rows = await q.query(f"SELECT {fn}(code) FROM {STATE.name} WHERE {key.where()}")
        out.append(_local(int(rows[0].values[0][0]), tz) if rows and rows[0].values else None)
    return tuple(out)


def _shift_row(inputs: LineInputs, result: KpiResult, p: int) -> ShiftRow:
    periods = result.periods
    lf = line_figures(inputs, result, periods=np.arange(periods.n) == p)
    f = lf.line
    return ShiftRow(
        label=_shift_label(periods, p),
        oee=float(f.oee),
        availability=float(f.availability),
        performance=float(f.performance),
        quality=float(f.quality),
        good=lf.output_good,
        pieces_per_hour=lf.pieces_per_hour,
        planned_h=float(f.planned_s) / 3600.0,
    )


def _off_shift(inputs: LineInputs, result: KpiResult) -> list[OffShiftRow]:
    """Each stretch outside shifts in which a station ran, made pieces or stopped for a reason."""
    periods, out = result.periods, []
    stations = inputs.setup.stations
    for p in np.flatnonzero(periods.shift < 0).tolist():
        sel = np.arange(periods.n) == p
        lf = line_figures(inputs, result, periods=sel)
        states = {
            k: v
            for k, v in state_seconds_in(result, stations, sel).items()
            if k not in ("running", "offline")
        }
        kind = period_kind(-1, lf)
        stopped = {k: v for k, v in states.items() if k not in ("idle", "planned_stop")}
        if kind == OFF_SHIFT and not stopped:
            continue  # nothing worked, nothing broke: no need to say more
        out.append(
            OffShiftRow(
                label=_shift_label(periods, p),
                kind=kind,
                hours=float(periods.end_ns[p] - periods.start_ns[p]) / NS / 3600.0,
                run_h=float(lf.line.run_s) / 3600.0,
                good=lf.output_good,
                states=stopped,
            )
        )
    return out


def _shift_label(periods: Periods, p: int) -> str:
    """'C (Thu 28 May)': a night shift is named by the day it starts, as the plant does."""
    k = int(periods.shift[p])
    name = periods.shift_names[k] if k >= 0 else _("outside shifts")
    day = dt.date.fromisoformat(str(periods.day[p]))
    return _("{shift} ({day})").format(shift=name, day=short_day(day))


def _hours(inputs: LineInputs, result: KpiResult, tz: str) -> list[HourRow]:
    """Pieces out of the line per local clock hour, and the target for the shift time in each."""
    out = inputs.setup.output
    if out < 0:
        return []
    start, end = inputs.start_ns, inputs.end_ns
    minute_start = start - start % (60 * NS)
    starts, _, good = output_per_bucket(
        inputs.counts, n_machines=inputs.n, start_ns=minute_start, end_ns=end, bucket_s=60.0
    )
    zone = ZoneInfo(tz)
    local = [dt.datetime.fromtimestamp(t / NS, zone) for t in (start, end)]
    edges = [start]
    hour = local[0].replace(minute=0, second=0, microsecond=0) + dt.timedelta(hours=1)
    while hour < local[1]:
        edges.append(parse_local_time(hour.isoformat(), tz))
        hour += dt.timedelta(hours=1)
    edges.append(end)
    which = np.searchsorted(np.array(edges[1:-1], dtype=np.int64), starts, side="right")
    per_hour = np.bincount(which, weights=good[out], minlength=len(edges) - 1)
    bounds = np.array(edges, dtype=np.int64)
    sched = _scheduled_in(result.periods, bounds)
    target = inputs.setup.target_pph * sched / 3600.0
    seg = result.segments
    mine = (seg.machine == out) & (seg.category != NO_DATA)
    known = _overlap_s(seg.start_ns[mine], seg.end_ns[mine], bounds) / (np.diff(bounds) / NS)
    return [
        HourRow(
            _local(edges[i], tz),
            _local(edges[i + 1], tz),
            float(per_hour[i]),
            float(target[i]),
            float(known[i]),
        )
        for i in range(len(edges) - 1)
    ]


def _scheduled_in(periods: Periods, edges: np.ndarray) -> np.ndarray:
    """Seconds of shift time (breaks excluded) between consecutive `edges`."""
    keep = periods.slice_kind == SCHEDULED
    return _overlap_s(periods.edges[:-1][keep], periods.edges[1:][keep], edges)


def _overlap_s(lo: np.ndarray, hi: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Seconds of the intervals [lo, hi) inside each bucket between consecutive `edges`."""
    a = np.maximum(edges[:-1, None], lo[None, :])
    b = np.minimum(edges[1:, None], hi[None, :])
    return np.clip(b - a, 0, None).sum(axis=1) / NS


async def _alerts(
    q: InfluxQLClient, key: LineKey, start_ns: int, end_ns: int, tz: str
) -> tuple[list[Alert], int]:
    where = f"{key.where()} AND time >= {start_ns} AND time < {end_ns}"
    rows = await q.query(
        'SELECT "machine"::tag AS machine, "severity"::tag AS severity, message, code '
        f"FROM {ALERTS.name} WHERE {where} "
        "ORDER BY time DESC"
    )
    found = [
        Alert(_local(int(r[0]), tz), r[1] or "", r[2] or "", r[3] or "", r[4] or "")
        for s in rows
        for r in s.values
    ]
    return found, len(found)


def _local(ns: int, tz: str) -> dt.datetime:
    return dt.datetime.fromtimestamp(ns / NS, ZoneInfo(tz))


def _fmt(t: dt.datetime | None) -> str:
    return stamp(t) if t else "-"
