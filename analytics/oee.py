"""Production figures: OEE for machines and sewing lines, piece counts, pieces per hour.

Textbook definitions (Nakajima; ISO 22400-2 names the same ratios):

    availability = run time / planned production time
    performance  = ideal cycle time x total pieces / run time
    quality      = good pieces / total pieces
    OEE          = availability x performance x quality
                 = ideal cycle time x good pieces / planned production time

The last line (fully productive time over planned time) is how OEE is computed here,
so it stays defined when a machine never ran or made nothing: a machine broken down
all shift has availability 0, performance and quality undefined, and OEE 0, which
is what the plant manager needs to see. Any other figure whose denominator is 0 is
NaN (not 0, not 1), and NaN inputs (no data) give NaN figures.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics._events import sort_events
from tonle.kernels import checks as v

__all__ = ["OEE", "LineOEE", "counter_increase", "line_oee", "oee", "pieces_per_hour"]

SUSPECT_PERFORMANCE = 1.05
"""Performance above this means the configured ideal cycle time is too slow."""

_RUN_TOLERANCE = 1e-9  # relative slack for run <= planned after float rounding


@dataclass(frozen=True, slots=True)
class OEE:
    """OEE figures and the (broadcast, float64) inputs they were computed from.

    availability, performance, quality, oee: float64, NaN where undefined (see module).
    suspect: bool, performance > `suspect_above`; the ideal cycle time is probably set
             too slow for this product. Performance is never clipped to 1.
    """

    availability: np.ndarray
    performance: np.ndarray
    quality: np.ndarray
    oee: np.ndarray
    suspect: np.ndarray
    planned_s: np.ndarray
    run_s: np.ndarray
    total: np.ndarray
    good: np.ndarray
    ideal_cycle_s: np.ndarray


@dataclass(frozen=True, slots=True)
class LineOEE:
    """Line-level OEE of stations in series, plus where the line is limited.

    `availability`, `performance`, `quality` and `oee` are shortcuts to `figures`.

    figures:         `OEE` of the line, computed from the planned time, the constraint
                     station's run time, the last station's total and good pieces and the
                     line's ideal cycle time (all kept in `figures` as its inputs).
    constraint:      int, index of the station with the largest ideal cycle time: the
                     designed bottleneck whose ideal cycle is the line's ideal cycle;
                     -1 where no station has an ideal cycle (figures are then NaN).
    bottleneck:      int, index of the station with the largest actual cycle time
                     (run seconds per piece, i.e. the lowest capacity while running);
                     -1 where no station has one.
    station_cycle_s: float64 [..., n_stations], actual cycle time run_s / total per
                     station, NaN where a station made nothing: the line-balance chart.
    """

    figures: OEE
    constraint: np.ndarray
    bottleneck: np.ndarray
    station_cycle_s: np.ndarray

    @property
    def availability(self) -> np.ndarray:
        return self.figures.availability

    @property
    def performance(self) -> np.ndarray:
        return self.figures.performance

    @property
    def quality(self) -> np.ndarray:
        return self.figures.quality

    @property
    def oee(self) -> np.ndarray:
        return self.figures.oee


def oee(
    planned_s: np.ndarray | float,
    run_s: np.ndarray | float,
    total: np.ndarray | float,
    good: np.ndarray | float,
    ideal_cycle_s: np.ndarray | float,
    *,
    suspect_above: float = SUSPECT_PERFORMANCE,
) -> OEE:
    """Availability, performance, quality and OEE of each machine (inputs broadcast).

    planned_s: planned production time (shift minus planned breaks), seconds.
    run_s: time actually running within it; setup/changeover counts as downtime.
    total, good: pieces made and pieces good first time.
    ideal_cycle_s: the fastest possible time per piece (SAM x 60 in a garment factory).
    NaN inputs mean "no data" and propagate; negative values, good > total,
    run_s > planned_s and a non-positive ideal cycle are errors.
    """
    arrays = {
        "planned_s": planned_s,
        "run_s": run_s,
        "total": total,
        "good": good,
        "ideal_cycle_s": ideal_cycle_s,
    }
    a = {k: v.non_negative(k, v.as_float(k, x, allow_nan=True)) for k, x in arrays.items()}
    try:
        a = dict(zip(a, np.broadcast_arrays(*a.values()), strict=True))
    except ValueError as exc:
        shapes = {k: x.shape for k, x in a.items()}
        raise ValueError(f"oee inputs do not broadcast together: {shapes}") from exc
    planned, run, total_, good_, ideal = (np.array(x) for x in a.values())  # own copies
    _check_consistent(planned, run, total_, good_, ideal)

    performance = _ratio(ideal * total_, run)
    for x in (planned, run, total_, good_, ideal):
        x.flags.writeable = False
    return OEE(
        availability=_ratio(run, planned),
        performance=performance,
        quality=_ratio(good_, total_),
        oee=_ratio(ideal * good_, planned),
        suspect=performance > suspect_above,  # NaN compares False
        planned_s=planned,
        run_s=run,
        total=total_,
        good=good_,
        ideal_cycle_s=ideal,
    )


def line_oee(
    planned_s: np.ndarray | float,
    run_s: np.ndarray,
    total: np.ndarray,
    good: np.ndarray,
    ideal_cycle_s: np.ndarray,
    *,
    suspect_above: float = SUSPECT_PERFORMANCE,
) -> LineOEE:
    """OEE of sewing lines whose stations work in series; stations on the last axis.

    planned_s: planned time per line, shape ``[...]``.
    run_s, total, good, ideal_cycle_s: per station, shape ``[..., n_stations]`` in flow
    order (the last station's good pieces are the line's output).

    Line OEE = line ideal cycle x good pieces out of the last station / planned time,
    where the line ideal cycle is the largest station ideal cycle (the constraint: a
    balanced line can go no faster than its slowest operation). Its factors are
    defined so that their product is exactly that:

        availability = run time of the constraint station / planned time
                       (the constraint's lost time is lost for the whole line; stops
                       elsewhere may be absorbed by work in progress)
        performance  = line ideal cycle x pieces out of the last station / constraint run time
        quality      = good pieces / pieces out of the last station (end-of-line quality;
                       pieces scrapped upstream never arrive and so lower performance)
    """
    run, total_, good_, ideal = _line_arrays(planned_s, run_s, total, good, ideal_cycle_s)
    constraint = _nan_argmax(ideal)
    unset = constraint < 0  # no SAM configured for any station: no line figures
    pick = np.maximum(constraint, 0)[..., None]
    line_ideal = np.where(unset, np.nan, np.take_along_axis(ideal, pick, axis=-1)[..., 0])
    constraint_run = np.where(unset, np.nan, np.take_along_axis(run, pick, axis=-1)[..., 0])
    figures = oee(
        planned_s,
        constraint_run,
        total_[..., -1],
        good_[..., -1],
        line_ideal,
        suspect_above=suspect_above,
    )
    cycle = _ratio(run, total_)
    return LineOEE(
        figures=figures,
        constraint=constraint,
        bottleneck=_nan_argmax(cycle),
        station_cycle_s=cycle,
    )


def _line_arrays(
    planned_s: np.ndarray | float,
    run_s: np.ndarray,
    total: np.ndarray,
    good: np.ndarray,
    ideal_cycle_s: np.ndarray,
) -> tuple[np.ndarray, ...]:
    """(run, total, good, ideal) as float64, stations on the last axis, checked with the planned time.

    Every refusal names the shapes or the value at fault, so a caller who mixed up the
    line and station axes reads what to pass instead.
    """
    planned = v.non_negative("planned_s", v.as_float("planned_s", planned_s, allow_nan=True))
    named = {"run_s": run_s, "total": total, "good": good, "ideal_cycle_s": ideal_cycle_s}
    st = {k: v.non_negative(k, v.as_float(k, x, allow_nan=True)) for k, x in named.items()}
    try:
        run, total_, good_, ideal = np.broadcast_arrays(*st.values())
        np.broadcast_shapes(planned.shape, run.shape[:-1])
    except ValueError as exc:
        shapes = {"planned_s": planned.shape} | {k: x.shape for k, x in st.items()}
        raise ValueError(f"line inputs do not broadcast (stations on the last axis): {shapes}") from exc
    if run.ndim == 0:
        raise ValueError("run_s, total, good and ideal_cycle_s need a station axis (the last)")
    if run.shape[-1] == 0:
        raise ValueError("a line needs at least one station")
    if planned.ndim >= run.ndim:
        raise ValueError(
            f"planned_s has shape {planned.shape} but must be one value per line, shape "
            f"{run.shape[:-1]} (stations are the last axis of run_s): pass the line's planned time"
        )
    _check_consistent(planned[..., None], run, total_, good_, ideal)
    return run, total_, good_, ideal


def counter_increase(
    machine: np.ndarray,
    ts_ns: np.ndarray,
    counter: np.ndarray,
    n_machines: int,
) -> np.ndarray:
    """Increase of a cumulative counter per machine over the given samples, float64.

    Samples may be in any order. A drop between consecutive samples means the device
    restarted and its counter began again at 0, so the new value is the increase since
    the reset (a reset followed by more counting than the old value, between two
    samples, cannot be seen). NaN readings (a missing field) are skipped. A machine with
    one reading increased by 0; a machine with none gets NaN (no data, not "made nothing").
    """
    c = v.non_negative("counter", v.as_float("counter", counter, allow_nan=True))
    ev = sort_events(machine, ts_ns, c, n_machines, value_name="counter", skip_nan=True)
    step = np.diff(ev.value, prepend=0.0)
    step = np.where(step < 0, ev.value, step)  # reset: counting restarted from zero
    step[ev.first] = 0.0
    n_machines = int(n_machines)
    increase = np.bincount(ev.machine, weights=step, minlength=n_machines)
    seen = np.bincount(ev.machine, minlength=n_machines) > 0
    return np.where(seen, increase, np.nan)


def pieces_per_hour(pieces: np.ndarray | float, seconds: np.ndarray | float) -> np.ndarray:
    """Throughput in pieces per hour; NaN where `seconds` is 0 (or NaN)."""
    p = v.non_negative("pieces", v.as_float("pieces", pieces, allow_nan=True))
    s = v.non_negative("seconds", v.as_float("seconds", seconds, allow_nan=True))
    return _ratio(3600.0 * p, s)


def _check_consistent(
    planned: np.ndarray,
    run: np.ndarray,
    total: np.ndarray,
    good: np.ndarray,
    ideal: np.ndarray,
) -> None:
    checks = (
        (
            good > total,
            "good pieces exceed total pieces",
            "the good count must be a subset of the total",
        ),
        (
            run > planned * (1 + _RUN_TOLERANCE),
            "run time exceeds planned time",
            "planned time must include every period the machine ran (overtime included)",
        ),
        (ideal == 0, "ideal_cycle_s is 0", "set the standard time (SAM x 60 s) for the product"),
    )
    for bad, what, fix in checks:
        if bad.any():
            raise ValueError(f"{what}{v.located(bad)}: {fix}")


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is 0 or NaN (no divide warning).

    A denormal denominator can overflow to inf; that is the honest limit, not an error.
    """
    num, den = np.broadcast_arrays(num, den)
    with np.errstate(over="ignore"):
        return np.divide(num, den, out=np.full(num.shape, np.nan), where=den > 0)


def _nan_argmax(a: np.ndarray) -> np.ndarray:
    """Index of the largest value along the last axis ignoring NaN; -1 if all NaN."""
    filled = np.where(np.isnan(a), -np.inf, a)
    idx = np.argmax(filled, axis=-1)
    return np.where(np.isnan(a).all(axis=-1), -1, idx)
