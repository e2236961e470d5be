"""The KPI inputs of one line, read from InfluxDB and ready for `analytics.kpi.compute_kpis`.

The analytics service and the shift report both read through here, so the OEE on the
wall and the OEE on the printed report come from the same rows, the same way.

For the line's machines and the range [start, end) it reads:

- states (`state`: code, reason): every change inside the range and each machine's
  last state before it, so the first interval of the range is known, not guessed;
- piece counters (`production`: total, good): every reading inside the range and the
  last one before it, the baseline of the first increment;
- power (`telemetry`): `power_kw` where a machine or an energy meter reports it, else an
  estimate from the motor current `current_a` (volts x amps x power factor, from
  `[analytics]`). The server averages each `power_step_s` bucket (pulling aggregates is
  ten times faster than raw points); a bucket without a sample is NaN, counted as
  missing in the coverage figures, never filled in;
- the line's engineering data from `[analytics.lines.<line>]`: target pieces per hour,
  operators, and the standard allowed minutes (SAM) of each station in flow order.

States are sent on change only, so a state lasts until the next one. When the whole
line falls silent (gateway or network down, or the range reaches past the newest
data), nothing is known after its last reading: from `analytics.silence_s` after it,
every machine is given the contract's `offline` state, which counts as no data (lower
coverage), instead of its last state being stretched to the end of the range.

A meter on the line that has no machine states (a feeder's energy meter) is kept
apart: its energy belongs to the line, not to a machine's states.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, NamedTuple

import numpy as np

from analytics.energy import ENERGY_FIELD, UniformSeries
from analytics.figures import Figures, ratio
from analytics.garment import effective_cycle_s, line_balance, line_efficiency
from analytics.kpi import Counts, KpiResult, Pareto, compute_kpis
from analytics.timeline import Events
from tonle.config import AnalyticsConfig, LineConfig
from tonle.contract import MACHINE_STATES
from tonle.io.influxql import InfluxQLClient, Series, quote_str
from tonle.kernels.shifts import Periods, ShiftCalendar

__all__ = [
    "LineFigures",
    "LineInputs",
    "LineKey",
    "LineSetup",
    "find_lines",
    "line_figures",
    "read_line",
]

NS = 1_000_000_000
OFFLINE = MACHINE_STATES.index("offline")
METERED, ESTIMATED, NO_POWER = "metered", "estimated from motor current", "none"


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

    def meter_energy(self, spans: Sequence[tuple[int, int]]) -> tuple[float, float, float]:
        """(kWh, samples present, samples expected) of the line's meters over some time spans."""
        return _grid_energy(self.meter_power, spans)


# ----------------------------------------------------------------------------- reading


async def find_lines(
    q: InfluxQLClient,
    *,
    before_ns: int,
    site: str | None = None,
    area: str | None = None,
    line: str | None = None,
) -> dict[LineKey, list[str]]:
    """Lines that reported machine states before `before_ns`, with their machines (sorted)."""
    conds = [f"time < {int(before_ns)}"]
    conds += [f"{tag} = {quote_str(v)}" for tag, v in (("site", site), ("area", area), ("line", line)) if v]
    rows = await q.query(
        f"SELECT last(code) AS code FROM state WHERE {' AND '.join(conds)} GROUP BY site, area, line, machine"
    )
    found: dict[LineKey, list[str]] = {}
    for s in rows:
        key = LineKey(s.tags["site"], s.tags["area"], s.tags["line"])
        found.setdefault(key, []).append(s.tags["machine"])
    return {k: sorted(v) for k, v in sorted(found.items())}


async def read_line(
    q: InfluxQLClient,
    key: LineKey,
    start_ns: int,
    end_ns: int,
    cfg: AnalyticsConfig,
    machines: Sequence[str] | None = None,
) -> LineInputs:
    """Read the KPI inputs of `key` over [start_ns, end_ns).

    machines: the line's machines as the caller found them (`find_lines`); looked up
    when None. Stations the bulletin lists are included even when they never reported,
    so a silent station shows as missing data instead of vanishing from the line.
    """
    if not start_ns < end_ns:
        raise ValueError(f"the range is empty or reversed: start {start_ns} >= end {end_ns}")
    if machines is None:
        found = await find_lines(q, before_ns=end_ns, site=key.site, area=key.area, line=key.line)
        machines = found.get(key, [])
    lcfg = cfg.lines.get(key.line, LineConfig())
    table = _flow_order(machines, lcfg)
    idx = {m: i for i, m in enumerate(table)}
    where = key.where()
    step_ns = round(cfg.power_step_s * NS)
    g0 = start_ns // step_ns * step_ns
    n_steps = (end_ns - g0) // step_ns  # a trailing part-bucket is left out, not stretched
    grid_end = g0 + n_steps * step_ns
    inside = f"{where} AND time >= {start_ns} AND time < {end_ns}"
    on_grid = f"{where} AND time >= {g0} AND time < {grid_end}"
    by_bucket = f"GROUP BY time({step_ns // 1_000_000}ms), machine fill(none)"
    queries = [
        f"SELECT code, reason FROM state WHERE {where} AND time < {start_ns} "
        "GROUP BY machine ORDER BY time DESC LIMIT 1",
        f"SELECT code, reason FROM state WHERE {inside} GROUP BY machine",
        f"SELECT total, good FROM production WHERE {where} AND time < {start_ns} "
        "GROUP BY machine ORDER BY time DESC LIMIT 1",
        f"SELECT total, good FROM production WHERE {inside} GROUP BY machine",
        f"SELECT last(seq) FROM telemetry, state, production WHERE {inside}",
    ]
    if n_steps > 0:
        queries += [
            f"SELECT mean(power_kw) AS v FROM telemetry WHERE {on_grid} {by_bucket}",
            f"SELECT mean(current_a) AS v FROM telemetry WHERE {on_grid} {by_bucket}",
        ]
    res = await asyncio.gather(*(q.query(x) for x in queries))
    s_before, s_inside, c_before, c_inside, newest = res[:5]
    kw_rows, amp_rows = (res[5], res[6]) if n_steps > 0 else ([], [])

    reasons = sorted({r for s in (*s_before, *s_inside) for r in s.column("reason") if r})
    states = _state_events([*s_before, *s_inside], idx, {r: i for i, r in enumerate(reasons)})
    last_ns = max((int(row[0]) for s in newest for row in s.values), default=None)
    silent = (start_ns if last_ns is None else last_ns) + int(cfg.silence_s * NS)
    if silent < end_ns and states.code.size:
        states = _offline_from(states, silent, len(table))
    counts = _counts([*c_before, *c_inside], idx)
    metered = _grid(kw_rows, idx, g0, step_ns, n_steps, len(table))
    amps = _grid(amp_rows, idx, g0, step_ns, n_steps, len(table))
    has_kw = np.isfinite(metered).any(axis=1)
    has_amps = np.isfinite(amps).any(axis=1)
    kw = np.where(has_kw[:, None], metered, amps * (cfg.motor_supply_v * cfg.motor_power_factor / 1000.0))
    source = tuple(
        METERED if k else ESTIMATED if a else NO_POWER for k, a in zip(has_kw, has_amps, strict=True)
    )
    meters = tuple(sorted({s.tags["machine"] for s in kw_rows} - set(idx)))
    meter_kw = _grid(kw_rows, {m: i for i, m in enumerate(meters)}, g0, step_ns, n_steps, len(meters))
    return LineInputs(
        key=key,
        machines=table,
        start_ns=int(start_ns),
        end_ns=int(end_ns),
        states=states,
        reasons=tuple(reasons),
        counts=counts,
        power=UniformSeries(int(g0), step_ns, kw),
        power_source=source,
        meters=meters,
        meter_power=UniformSeries(int(g0), step_ns, meter_kw),
        setup=_setup(table, lcfg),
        last_data_ns=last_ns,
        silent_from_ns=silent if silent < end_ns and states.code.size else None,
    )


def _offline_from(states: Events, t_ns: int, n: int) -> Events:
    """The events plus an `offline` state for every machine at `t_ns`: nothing is known after it."""
    m = np.arange(n, dtype=np.int64)
    reason = states.reason if states.reason is not None else np.full(states.code.size, -1, np.int64)
    return Events.of(
        np.concatenate((states.machine, m)),
        np.concatenate((states.ts_ns, np.full(n, t_ns, dtype=np.int64))),
        np.concatenate((states.code, np.full(n, OFFLINE, dtype=np.int64))),
        np.concatenate((reason, np.full(n, -1, dtype=np.int64))),
    )


def _flow_order(machines: Sequence[str], lcfg: LineConfig) -> tuple[str, ...]:
    """Bulletin stations in the bulletin's order (the flow), then any other machine by name."""
    listed = list(lcfg.sam_min)
    return (*listed, *sorted(set(machines) - set(listed)))


def _setup(table: tuple[str, ...], lcfg: LineConfig) -> LineSetup:
    sam = np.array([lcfg.sam_min.get(m, np.nan) for m in table], dtype=np.float64)
    stations = np.flatnonzero(np.isfinite(sam))
    return LineSetup(
        target_pph=float(lcfg.target_pph),
        operators=int(lcfg.operators or (stations.size or len(table))),
        sam_min=sam,
        output=int(stations[-1]) if stations.size else -1,
    )


def _rows(series: list[Series], idx: dict[str, int], cols: Sequence[str]) -> tuple[np.ndarray, list[Any]]:
    """(machine index per row, [time, *cols] columns) of the series whose machine is in `idx`."""
    machine: list[int] = []
    out: list[list[Any]] = [[] for _ in range(len(cols) + 1)]
    for s in series:
        i = idx.get(s.tags.get("machine", ""))
        if i is None:
            continue
        where = [s.columns.index("time"), *(s.columns.index(c) for c in cols)]
        for row in s.values:
            if any(row[j] is None for j in where[1:2]):  # the first value column must be there
                continue
            machine.append(i)
            for k, j in enumerate(where):
                out[k].append(row[j])
    return np.array(machine, dtype=np.int64), out


def _state_events(series: list[Series], idx: dict[str, int], reason_code: dict[str, int]) -> Events:
    m, (ts, code, reason) = _rows(series, idx, ("code", "reason"))
    r = [reason_code.get(x, -1) if x else -1 for x in reason]
    return Events.of(m, np.array(ts, dtype=np.int64), np.array(code, dtype=np.int64), np.array(r, np.int64))


def _counts(series: list[Series], idx: dict[str, int]) -> Counts:
    m, (ts, total, good) = _rows(series, idx, ("total", "good"))
    tot = np.array(total, dtype=np.float64)
    gd = np.array([np.nan if g is None else g for g in good], dtype=np.float64)
    keep = np.isfinite(gd)  # a reading without its good counter cannot be split
    return Counts.of(m[keep], np.array(ts, dtype=np.int64)[keep], tot[keep], gd[keep])


def _grid(series: list[Series], idx: dict[str, int], g0: int, step_ns: int, n: int, rows: int) -> np.ndarray:
    """Bucket means placed on the grid [rows, n]; NaN where a bucket had no sample."""
    out = np.full((rows, max(n, 0)), np.nan)
    m, (ts, val) = _rows(series, idx, ("v",))
    if m.size and n > 0:
        k = (np.array(ts, dtype=np.int64) - g0) // step_ns
        ok = (k >= 0) & (k < n)
        out[m[ok], k[ok]] = np.array(val, dtype=np.float64)[ok]
    return out


def _grid_energy(series: UniformSeries, spans: Sequence[tuple[int, int]]) -> tuple[float, float, float]:
    values = series.values
    if values.size == 0:
        return 0.0, 0.0, 0.0
    kwh = present = expected = 0.0
    for a, b in spans:  # a handful of reporting periods
        lo, hi = series.index_at(np.array([a, b], dtype=np.int64))
        part = values[:, lo:hi]
        kwh += float(np.nansum(part)) * series.period_s / 3600.0
        present += float(np.isfinite(part).sum())
        expected += float(part.size)
    return kwh, present, expected


# ------------------------------------------------------------------------- line view


def _select(f: Figures, axis: int, mask: np.ndarray) -> Figures:
    """The cells of `f` where `mask` holds along `axis`.

    By indexing, not by a 0-weighted sum: a machine without a standard time has NaN ideal
    seconds, and NaN x 0 is still NaN.
    """
    changes = {
        k.name: np.compress(mask, getattr(f, k.name), axis=axis)
        for k in fields(f)
        if k.name not in ("field_names", "field_period_s")
    }
    return replace(f, **changes)


@dataclass(frozen=True, slots=True)
class LineFigures:
    """The line's figures over some reporting periods, and the numbers behind each.

    names: the machine table; machines: Figures per machine [n_machines]; line: Figures pooled over the line's
    stations (scalar), whose `losses_s()` add up to its planned time: the waterfall.
    The line's output is the good pieces of its last station; pieces per hour is that
    output per hour of the line's planned time (the longest any station was planned).
    Energy counts every machine and meter of the line that measures or estimates power.
    """

    names: tuple[str, ...]
    machines: Figures
    line: Figures
    stations: np.ndarray
    output_total: float
    output_good: float
    planned_s: float
    pieces_per_hour: float
    target_pph: float
    attainment: float
    efficiency: float
    effective_cycle_s: np.ndarray
    standard_cycle_s: np.ndarray
    bottleneck: int
    balance_ratio: float
    kwh: float
    kwh_metered: float
    kwh_estimated: float
    energy_coverage: float
    kwh_per_piece: float
    kwh_per_good_piece: float
    pareto: Pareto


def line_figures(inputs: LineInputs, result: KpiResult, periods: np.ndarray | None = None) -> LineFigures:
    """Roll a `KpiResult` of `inputs` up to the line, over the selected reporting periods (all if None)."""
    sel = np.ones(result.periods.n, dtype=bool) if periods is None else np.asarray(periods)
    if sel.dtype != bool:
        sel = np.isin(np.arange(result.periods.n), sel)
    mf = _select(result.by_machine_period(), 1, sel).sum(axis=1)
    setup = inputs.setup
    stations = setup.stations
    line = _select(mf, 0, stations).sum(axis=0)
    out = setup.output
    good = float(mf.good[out]) if out >= 0 else float("nan")
    total = float(mf.total[out]) if out >= 0 else float("nan")
    planned = float(np.max(mf.planned_s[stations])) if stations.any() else 0.0
    pph = float(ratio(3600.0 * good, planned))
    eff_cycle = effective_cycle_s(mf)
    balance = line_balance(np.where(stations, eff_cycle, np.nan))
    sam_total = float(np.nansum(setup.sam_min))
    efficiency = float(line_efficiency(sam_total, np.nan_to_num(good), setup.operators, planned / 60.0))

    spans = list(zip(result.periods.start_ns[sel].tolist(), result.periods.end_ns[sel].tolist(), strict=True))
    meter_kwh, meter_n, meter_exp = inputs.meter_energy(spans)
    src = np.array(inputs.power_source)
    powered = src != NO_POWER
    kwh_m = mf.kwh
    machine_kwh = float(kwh_m[powered].sum())
    metered = float(kwh_m[src == METERED].sum()) + meter_kwh
    n_present = float(mf.field_n[powered, 0, :].sum()) + meter_n
    n_expected = float(mf.field_expected[powered, 0, :].sum()) + meter_exp
    kwh = machine_kwh + meter_kwh
    return LineFigures(
        names=inputs.machines,
        machines=mf,
        line=line,
        stations=stations,
        output_total=total,
        output_good=good,
        planned_s=planned,
        pieces_per_hour=pph,
        target_pph=setup.target_pph,
        attainment=float(ratio(pph, setup.target_pph)),
        efficiency=efficiency,
        effective_cycle_s=eff_cycle,
        standard_cycle_s=setup.sam_min * 60.0,
        bottleneck=int(balance.bottleneck),
        balance_ratio=float(balance.balance_ratio),
        kwh=kwh,
        kwh_metered=metered,
        kwh_estimated=kwh - metered,
        energy_coverage=float(ratio(n_present, n_expected)),
        kwh_per_piece=float(ratio(kwh, total)) if n_present else float("nan"),
        kwh_per_good_piece=float(ratio(kwh, good)) if n_present else float("nan"),
        pareto=result.pareto(machines=stations, periods=sel),
    )
