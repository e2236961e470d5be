"""A line's figures over some reporting periods: the roll-up both the service and the report show.

Machine figures are summed over the selected periods, then pooled over the line's
stations (those with a standard time); the line's output, pieces per hour, efficiency,
balance and energy are read from those sums, so each figure can show what it came from.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, NamedTuple

import numpy as np

from analytics.figures import Figures, ratio
from analytics.garment import effective_cycle_s, line_balance, line_efficiency
from analytics.kpi import KpiResult, Pareto
from analytics.line import METERED, NO_POWER, LineInputs

__all__ = ["ENERGY_COMPLETE", "LineFigures", "line_figures"]

ENERGY_COMPLETE = 0.95
"""Below this share of its expected power samples, a source leaves the energy figures partial."""


def _select(f: Figures, axis: int, mask: np.ndarray) -> Figures:
    """The cells of `f` where `mask` holds along `axis`.

    By indexing, not by a 0-weighted sum: a machine without a standard time has NaN ideal
    seconds, and NaN x 0 is still NaN.
    """
    changes: dict[str, Any] = {
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
    Energy counts every machine and meter of the line that measures or estimates power;
    `energy_coverage` is the worst of them, and `energy_partial` says the energy figures
    miss part of a source (below `ENERGY_COMPLETE`), so kWh per piece is a lower bound.
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
    energy_pooled: float  # share of all expected power samples that arrived
    energy_sources: tuple[str, ...]  # machines with power, then meters
    energy_source_coverage: np.ndarray  # share of its expected samples each source sent
    energy_coverage: float  # the worst source's share: one missing meter cannot hide in a mean
    energy_worst: str  # that source
    kwh_per_piece: float
    kwh_per_good_piece: float
    pareto: Pareto

    @property
    def energy_partial(self) -> bool:
        return bool(self.energy_pooled > 0 and not self.energy_coverage >= ENERGY_COMPLETE)


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
    meter_kwh_each, meter_n, meter_exp = inputs.meter_energy(spans)
    meter_kwh = float(meter_kwh_each.sum())
    src = np.array(inputs.power_source)
    powered = src != NO_POWER
    kwh_m = mf.kwh
    machine_kwh = float(kwh_m[powered].sum())
    metered = float(kwh_m[src == METERED].sum()) + meter_kwh
    cov = _coverage(inputs, mf, powered, meter_n, meter_exp)
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
        energy_pooled=cov.pooled,
        energy_sources=cov.sources,
        energy_source_coverage=cov.each,
        energy_coverage=cov.worst,
        energy_worst=cov.worst_source,
        kwh_per_piece=float(ratio(kwh, total)) if cov.present else float("nan"),
        kwh_per_good_piece=float(ratio(kwh, good)) if cov.present else float("nan"),
        pareto=result.pareto(machines=stations, periods=sel),
    )


class _Coverage(NamedTuple):
    present: float
    pooled: float
    sources: tuple[str, ...]
    each: np.ndarray
    worst: float
    worst_source: str


def _coverage(
    inputs: LineInputs, mf: Figures, powered: np.ndarray, meter_n: np.ndarray, meter_exp: np.ndarray
) -> _Coverage:
    """Power samples present over expected: pooled, per source (machines with power, then meters), worst."""
    present = np.concatenate((mf.field_n[powered, 0, :].sum(axis=-1), meter_n))
    expected = np.concatenate((mf.field_expected[powered, 0, :].sum(axis=-1), meter_exp))
    sources = (*(m for m, p in zip(inputs.machines, powered, strict=True) if p), *inputs.meters)
    each = np.asarray(ratio(present, expected), dtype=np.float64)
    worst = int(np.nanargmin(each)) if np.isfinite(each).any() else -1
    return _Coverage(
        present=float(present.sum()),
        pooled=float(ratio(float(present.sum()), float(expected.sum()))),
        sources=sources,
        each=each,
        worst=float(each[worst]) if worst >= 0 else float("nan"),
        worst_source=sources[worst] if worst >= 0 else "",
    )
