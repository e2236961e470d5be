"""Sewing-line measures as garment factories use them: efficiency, takt, balance, bottleneck, WIP.

A sewing line is operators at machines in series, each doing one operation with a
standard allowed minute (SAM, also SMV). Industrial engineers judge it with:

    line efficiency = SAM of the garment x pieces out / (operators x minutes worked)
    takt time       = available time / pieces demanded
    balance ratio   = mean station cycle / slowest station cycle
                      (= sum of cycles / (stations x slowest)); balance loss = 1 - ratio
    bottleneck      = the station with the longest effective cycle: the lowest capacity,
                      the one that sets the pace of the line

A station's *effective* cycle is the time it had work and room to put it, per piece:
(planned time - starved/blocked time) / pieces. A station starved by a slow neighbour
makes few pieces, but it is waiting, not limiting, so waiting time is left out (the
"active period" idea). All functions take arrays with stations on the last axis, so
many lines (and many hours) are computed at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.losses import STARVED_BLOCKED
from tonle.kernels import checks as v

__all__ = [
    "LineBalance",
    "attainment",
    "effective_cycle_s",
    "line_balance",
    "line_efficiency",
    "takt_time_s",
    "wip_change",
    "wip_trajectory",
]


def _arr(name: str, x: object) -> np.ndarray:
    return v.non_negative(name, v.as_float(name, x, allow_nan=True))


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num, den = np.broadcast_arrays(num, den)
    return np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)


def line_efficiency(
    sam_min: np.ndarray | float,
    output: np.ndarray | float,
    operators: np.ndarray | float,
    minutes_worked: np.ndarray | float,
) -> np.ndarray:
    """SAM x output / (operators x minutes worked), as a fraction (0.75 = 75 %). Not clipped.

    minutes_worked is the attendance time of each operator (shift minus breaks, plus
    overtime), idle time included: idle time is exactly what efficiency should expose.
    An efficiency above 1 means the SAM is loose (or the output count is wrong); it is
    reported, not hidden. NaN where operators x minutes is 0.
    """
    sam, out = _arr("sam_min", sam_min), _arr("output", output)
    ops, mins = _arr("operators", operators), _arr("minutes_worked", minutes_worked)
    return _div(sam * out, ops * mins)


def takt_time_s(available_s: np.ndarray | float, demand: np.ndarray | float) -> np.ndarray:
    """Seconds per piece the line must reach to meet demand: available time / pieces demanded."""
    return _div(_arr("available_s", available_s), _arr("demand", demand))


def attainment(
    pieces: np.ndarray | float, hours: np.ndarray | float, target_pph: np.ndarray | float
) -> tuple[np.ndarray, np.ndarray]:
    """(pieces per hour, pieces per hour / target): output against the hourly target board."""
    pph = _div(_arr("pieces", pieces) * 1.0, _arr("hours", hours))
    return pph, _div(pph, _arr("target_pph", target_pph))


@dataclass(frozen=True, slots=True)
class LineBalance:
    """Balance of lines whose stations are on the last axis.

    cycle_s:           [..., n] cycle time of each station (input)
    capacity_pph:      [..., n] pieces per hour each station can make (3600 / cycle)
    bottleneck:        [...] index of the slowest station; -1 where no station has a cycle
    line_capacity_pph: [...] capacity of the line: that of its bottleneck
    balance_ratio:     [...] mean cycle / slowest cycle (1 = perfectly balanced)
    balance_loss:      [...] 1 - balance_ratio: the share of operator time spent waiting
                       on the bottleneck in a steady line
    """

    cycle_s: np.ndarray
    capacity_pph: np.ndarray
    bottleneck: np.ndarray
    line_capacity_pph: np.ndarray
    balance_ratio: np.ndarray
    balance_loss: np.ndarray


def line_balance(cycle_s: np.ndarray) -> LineBalance:
    """Balance ratio, bottleneck and capacity from station cycle times (stations on the last axis).

    Pass SAM x 60 for the designed balance, `effective_cycle_s` for the balance the line
    actually ran with. Stations without a cycle (NaN: nothing made) are left out; a
    line with none gets NaN figures and bottleneck -1.
    """
    c = _arr("cycle_s", cycle_s)
    if c.ndim == 0 or c.shape[-1] == 0:
        raise ValueError("cycle_s needs a station axis (the last) with at least one station")
    known = ~np.isnan(c)
    any_known = known.any(axis=-1)
    slowest = np.where(known, c, -np.inf).max(axis=-1)
    slowest = np.where(any_known, slowest, np.nan)
    mean = _div(np.where(known, c, 0.0).sum(axis=-1), known.sum(axis=-1).astype(np.float64))
    bottleneck = np.where(any_known, np.argmax(np.where(known, c, -np.inf), axis=-1), -1)
    ratio = _div(mean, slowest)
    return LineBalance(
        cycle_s=c,
        capacity_pph=_div(np.full(c.shape, 3600.0), c),
        bottleneck=bottleneck,
        line_capacity_pph=_div(np.full(slowest.shape, 3600.0), slowest),
        balance_ratio=ratio,
        balance_loss=1.0 - ratio,
    )


def effective_cycle_s(figures: object) -> np.ndarray:
    """Seconds a station was able to work per piece: (planned - starved/blocked) / pieces.

    `figures` is an `analytics.kpi.Figures` (any shape, stations on the last axis when
    passed to `line_balance`). NaN where the station made nothing.
    """
    planned = figures.planned_s  # type: ignore[attr-defined]
    waiting = figures.seconds[..., STARVED_BLOCKED]  # type: ignore[attr-defined]
    return _div(planned - waiting, figures.total * 1.0)  # type: ignore[attr-defined]


def wip_change(output: np.ndarray) -> np.ndarray:
    """Change of work in progress in each buffer: pieces out of station i minus out of station i+1.

    output: [..., n_stations] pieces each station finished in a period, in flow order.
    Returns [..., n_stations - 1]; positive = pieces piling up in front of station i+1.
    (Rejects taken out between stations also show up here, as WIP that never arrives.)
    """
    out = v.as_float("output", output, allow_nan=True)
    if out.ndim == 0 or out.shape[-1] < 2:
        raise ValueError("output needs a station axis (the last) with at least two stations")
    return out[..., :-1] - out[..., 1:]


def wip_trajectory(output_per_bucket: np.ndarray, initial: np.ndarray | float = 0.0) -> np.ndarray:
    """WIP in each buffer at the end of each bucket: initial + cumulative `wip_change`.

    output_per_bucket: [..., n_buckets, n_stations] (e.g. from `analytics.kpi.output_per_bucket`,
    transposed to stations last). Returns [..., n_buckets, n_stations - 1]. A buffer whose
    WIP keeps growing sits in front of the bottleneck.
    """
    change = wip_change(output_per_bucket)
    if change.ndim < 2:
        raise ValueError("output_per_bucket needs a bucket axis before the station axis")
    return np.asarray(initial, dtype=np.float64) + np.cumsum(change, axis=-2)
