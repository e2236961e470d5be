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
  ten times faster than raw points); a bucket cut by a state change is split between
  the states by time x each state's power level (`analytics.energy_split`, docs/kpi.md
  "Energy by state"); a bucket without a sample is NaN, counted as missing in the
  coverage figures, never filled in;
- the line's engineering data from `[analytics.lines.<line>]`: target pieces per hour,
  operators, and the standard allowed minutes (SAM) of each station in flow order.

States are sent on change only, so a state lasts until the next one. When the whole
line falls silent (gateway or network down, or the range reaches past the newest
data), nothing is known after its last reading: from `analytics.silence_s` after it,
every machine is given the contract's `offline` state, which counts as no data (lower
coverage), instead of its last state being stretched to the end of the range.

A meter on the line that has no machine states (a feeder's energy meter) is kept
apart: its energy belongs to the line, not to a machine's states.

What is read lives in `analytics.line` (`LineInputs`), how series become arrays in
`analytics.line_rows`, and the line's roll-up in `analytics.line_figures`; their public
names are importable from here as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from analytics.energy import UniformSeries
from analytics.line import ESTIMATED, METERED, NO_POWER, LineInputs, LineKey, LineSetup
from analytics.line_figures import LineFigures, line_figures
from analytics.line_rows import bucket_grid, counts_of, offline_from, state_events
from tonle.config import AnalyticsConfig, LineConfig
from tonle.io.influxql import InfluxQLClient, Series, quote_str
from tonle.schema import CURRENT_A, POWER_KW, PRODUCTION, STATE, TELEMETRY

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
        f"SELECT last(code) AS code FROM {STATE.name} WHERE {' AND '.join(conds)} "
        "GROUP BY site, area, line, machine"
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
    grid = _PowerGrid.of(start_ns, end_ns, cfg.power_step_s)
    res = await asyncio.gather(*(q.query(x) for x in _queries(key.where(), start_ns, end_ns, grid)))
    s_before, s_inside, c_before, c_inside, newest = res[:5]
    kw_rows, amp_rows = (res[5], res[6]) if grid.n > 0 else ([], [])

    reasons = sorted({r for s in (*s_before, *s_inside) for r in s.column("reason") if r})
    states = state_events([*s_before, *s_inside], idx, {r: i for i, r in enumerate(reasons)})
    last_ns = max((int(row[0]) for s in newest for row in s.values), default=None)
    silent = (start_ns if last_ns is None else last_ns) + int(cfg.silence_s * NS)
    silent_from = silent if silent < end_ns and states.code.size else None
    if silent_from is not None:
        states = offline_from(states, silent_from, len(table))
    power = _line_power(kw_rows, amp_rows, idx, grid, cfg)
    return LineInputs(
        key=key,
        machines=table,
        start_ns=int(start_ns),
        end_ns=int(end_ns),
        states=states,
        reasons=tuple(reasons),
        counts=counts_of([*c_before, *c_inside], idx),
        power=power.machines,
        power_source=power.source,
        meters=power.meters,
        meter_power=power.meter_power,
        setup=_setup(table, lcfg),
        last_data_ns=last_ns,
        silent_from_ns=silent_from,
    )


class _PowerGrid(NamedTuple):
    """The buckets power is averaged into: whole `step_ns` buckets from `g0`, `n` of them."""

    g0: int
    step_ns: int
    n: int

    @classmethod
    def of(cls, start_ns: int, end_ns: int, step_s: float) -> _PowerGrid:
        step_ns = round(step_s * NS)
        g0 = start_ns // step_ns * step_ns
        return cls(g0, step_ns, (end_ns - g0) // step_ns)  # a trailing part-bucket is left out, not stretched

    @property
    def end_ns(self) -> int:
        return self.g0 + self.n * self.step_ns


def _queries(where: str, start_ns: int, end_ns: int, grid: _PowerGrid) -> list[str]:
    """States and counters (the last before the range, and all inside), newest reading, power."""
    inside = f"{where} AND time >= {start_ns} AND time < {end_ns}"
    on_grid = f"{where} AND time >= {grid.g0} AND time < {grid.end_ns}"
    by_bucket = f"GROUP BY time({grid.step_ns // 1_000_000}ms), machine fill(none)"
    queries = [
        f"SELECT code, reason FROM {STATE.name} WHERE {where} AND time < {start_ns} "
        "GROUP BY machine ORDER BY time DESC LIMIT 1",
        f"SELECT code, reason FROM {STATE.name} WHERE {inside} GROUP BY machine",
        f"SELECT total, good FROM {PRODUCTION.name} WHERE {where} AND time < {start_ns} "
        "GROUP BY machine ORDER BY time DESC LIMIT 1",
        f"SELECT total, good FROM {PRODUCTION.name} WHERE {inside} GROUP BY machine",
        f"SELECT last(seq) FROM {TELEMETRY.name}, {STATE.name}, {PRODUCTION.name} WHERE {inside}",
    ]
    if grid.n > 0:
        queries += [
            f"SELECT mean({POWER_KW}) AS v FROM {TELEMETRY.name} WHERE {on_grid} {by_bucket}",
            f"SELECT mean({CURRENT_A}) AS v FROM {TELEMETRY.name} WHERE {on_grid} {by_bucket}",
        ]
    return queries


class _Power(NamedTuple):
    machines: UniformSeries
    source: tuple[str, ...]
    meters: tuple[str, ...]
    meter_power: UniformSeries


def _line_power(
    kw_rows: list[Series], amp_rows: list[Series], idx: dict[str, int], grid: _PowerGrid, cfg: AnalyticsConfig
) -> _Power:
    """Each machine's power (metered, else estimated from its motor current), and the meters'.

    A series whose machine is not in the table and that reports power is a meter (a
    feeder's energy meter): its energy belongs to the line, not to a machine's states.
    """
    g0, step_ns, n = grid
    metered = bucket_grid(kw_rows, idx, g0, step_ns, n, len(idx))
    amps = bucket_grid(amp_rows, idx, g0, step_ns, n, len(idx))
    has_kw = np.isfinite(metered).any(axis=1)
    has_amps = np.isfinite(amps).any(axis=1)
    kw = np.where(has_kw[:, None], metered, amps * (cfg.motor_supply_v * cfg.motor_power_factor / 1000.0))
    source = tuple(
        METERED if k else ESTIMATED if a else NO_POWER for k, a in zip(has_kw, has_amps, strict=True)
    )
    meters = tuple(sorted({s.tags["machine"] for s in kw_rows} - set(idx)))
    meter_kw = bucket_grid(kw_rows, {m: i for i, m in enumerate(meters)}, g0, step_ns, n, len(meters))
    spread = step_ns > NS  # coarser than the 1 Hz edge data: bucket means, split by level
    return _Power(
        UniformSeries(int(g0), step_ns, kw, spread),
        source,
        meters,
        UniformSeries(int(g0), step_ns, meter_kw, spread),
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
