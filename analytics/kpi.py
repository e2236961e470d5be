"""Manufacturing KPIs for a whole plant in one call: OEE and its losses, MTBF/MTTR, energy.

The entry point is `compute_kpis`: state events, piece counters and (optionally)
telemetry of every machine in, a `KpiResult` out. Everything in it is built from
extensive quantities (seconds per loss category, pieces, ideal seconds, kWh, stop
counts) per machine x reporting period x job, so any roll-up (line, shift, day,
product, plant) is a plain sum, and every ratio can show what it was computed from.

Definitions (Nakajima; ISO 22400-2 uses the same ratios):

    planned production time  = window - planned stops - time with no data
    availability             = run time / planned production time
    performance              = ideal time of the pieces made / run time
                               (ideal time = ideal cycle time x pieces, summed per job)
    quality                  = ideal time of the good pieces / ideal time of all pieces
                               (= good / total when one product; with several products
                               each piece weighs its ideal cycle, which keeps the identity)
    OEE                      = availability x performance x quality
                             = fully productive time / planned production time

and the losses add up: planned = fully productive + downtime by category + speed loss
+ quality loss, where speed loss = run - ideal time and quality loss = ideal time of
rejects. A ratio whose denominator is 0 is NaN; a machine broken down all shift has
availability 0 and OEE 0, performance and quality NaN.

Example (two machines, one shift calendar, 1 Hz power):

    >>> r = compute_kpis(
    ...     states=Events.of(machine, ts, state_codes(names)),
    ...     counts=Counts.of(c_machine, c_ts, total, good),
    ...     n_machines=2, start_ns=t0, end_ns=t1,
    ...     ideal_cycle_s=[30.0, 24.0],
    ...     calendar=ShiftCalendar(),
    ...     telemetry={"power_kw": UniformSeries(t0, 1_000_000_000, power)},
    ... )
    >>> r.by_machine().oee, r.by_machine().losses_s()["breakdown"], r.pareto().label[:3]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from analytics.counts import Counts, increments, output_per_bucket
from analytics.energy import UniformSeries, interval_sums
from analytics.figures import Figures
from analytics.kpi_result import KpiResult, Pareto
from analytics.losses import CATEGORIES, RUN, LossTaxonomy
from analytics.timeline import Events, Segments, build_segments, latest_at_or_before
from tonle.kernels import checks as v
from tonle.kernels.shifts import Periods, ShiftCalendar, whole_window

__all__ = ["Counts", "Figures", "KpiResult", "Pareto", "compute_kpis", "output_per_bucket"]


def compute_kpis(
    states: Events,
    counts: Counts,
    *,
    n_machines: int,
    start_ns: int,
    end_ns: int,
    ideal_cycle_s: np.ndarray | Sequence[float] | float,
    calendar: ShiftCalendar | Periods | None = None,
    telemetry: Mapping[str, UniformSeries] | None = None,
    taxonomy: LossTaxonomy | None = None,
    reasons: Sequence[str] = (),
    jobs: Events | None = None,
    job_names: Sequence[str] = (),
    max_gap_s: float | None = None,
) -> KpiResult:
    """The full KPI set of `n_machines` machines over [start_ns, end_ns), in one call.

    states:        state events; `code` indexes `taxonomy.states` (the contract's MACHINE_STATES
                   by default, see `analytics.losses.state_codes`), `reason` indexes `reasons`.
                   Include each machine's last event before the window.
    counts:        cumulative piece counters (include the last reading before the window).
    ideal_cycle_s: the fastest possible seconds per piece (SAM x 60 on a sewing line),
                   broadcast to [n_machines, n_jobs]: a scalar, one per machine, or
                   [n_machines, n_jobs] per product (the last job column is "(none)"). NaN = unknown.
    calendar:      shifts and breaks (planned stops); None = the whole window is planned.
    telemetry:     uniform-grid fields by name; "power_kw" gives energy. Rows are machines.
    jobs:          job/product changes per machine; `code` indexes `job_names`.
    max_gap_s:     a state older than this, with no newer event, is no longer trusted: the
                   time after it is `no_data` (for sources that repeat their state).
    """
    taxonomy = taxonomy or LossTaxonomy()
    n_machines = v.check_count("n_machines", n_machines, minimum=1)
    periods = _periods(calendar, start_ns, end_ns)
    job_table = (*job_names, "(none)") if jobs is not None else ("(all)",)
    ideal = _ideal_table(ideal_cycle_s, n_machines, len(job_table))
    seg = build_segments(
        states,
        n_machines=n_machines,
        periods=periods,
        taxonomy=taxonomy,
        reasons=reasons,
        jobs=jobs,
        n_jobs=len(job_table),
        max_gap_s=max_gap_s,
    )
    figures = _figures(seg, counts, ideal, periods, jobs, job_table, telemetry or {})
    return KpiResult(
        figures=figures,
        periods=periods,
        jobs=job_table,
        states=taxonomy.states,
        reasons=tuple(reasons),
        segments=seg,
    )


# ----------------------------------------------------------------- helpers


def _figures(
    seg: Segments,
    counts: Counts,
    ideal: np.ndarray,
    periods: Periods,
    jobs: Events | None,
    job_table: tuple[str, ...],
    telemetry: Mapping[str, UniformSeries],
) -> Figures:
    """The extensive figures per (machine, period, job) cell.

    Time and telemetry come from the segments, pieces from the counters; telemetry is
    summed before the pieces so the large piece temporaries are not held meanwhile.
    """
    shape = (ideal.shape[0], periods.n, len(job_table))
    # One cell per (machine, period, job, loss category): every time figure is a bincount on it.
    ccell = ((seg.machine * periods.n + seg.period) * len(job_table) + seg.job) * len(
        CATEGORIES
    ) + seg.category
    seconds, stops = _by_cell(ccell, seg.seconds, shape), _by_cell(ccell, seg.stop_start, shape)
    fields = _fields(telemetry, seg, ccell, shape)
    pieces = _pieces(counts, ideal, periods, jobs, job_table, shape)
    return Figures(
        seconds=seconds,
        stops=stops,
        total=pieces.total,
        good=pieces.good,
        ideal_s=pieces.ideal_s,
        ideal_good_s=pieces.ideal_good_s,
        field_sum=fields.total,
        field_n=fields.n,
        field_expected=fields.expected,
        field_names=fields.names,
        field_period_s=fields.period_s,
    )


def _by_cell(ccell: np.ndarray, weights: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum of `weights` per (machine, period, job, category) cell, shaped [*shape, n_categories]."""
    n = int(np.prod(shape)) * len(CATEGORIES)
    return np.bincount(ccell, weights=weights, minlength=n).reshape(*shape, len(CATEGORIES))


class _Pieces(NamedTuple):
    """Pieces and their ideal seconds per (machine, period, job) cell."""

    total: np.ndarray
    good: np.ndarray
    ideal_s: np.ndarray
    ideal_good_s: np.ndarray


def _pieces(
    counts: Counts,
    ideal: np.ndarray,
    periods: Periods,
    jobs: Events | None,
    job_table: tuple[str, ...],
    shape: tuple[int, int, int],
) -> _Pieces:
    """Each counted piece goes to the period and job in which its counter reading arrived."""
    n_machines, n_p, n_jobs = shape
    start, end = int(periods.edges[0]), int(periods.edges[-1])
    pm, pt, ptot, pgood = increments(counts, n_machines, start, end)
    slice_ = np.searchsorted(periods.edges, pt, side="right")
    slice_ -= 1
    # In place: a day of a plant's counters is millions of readings.
    pcell = pm * n_p
    pcell += periods.slice_period[slice_]
    if jobs is None:  # one job column: no job to look up per piece
        piece_ideal = ideal[pm, 0]
    else:
        pjob = _job_at(jobs, job_table, pm, pt, start)
        pcell *= n_jobs
        pcell += pjob
        piece_ideal = ideal[pm, pjob]
    cells = n_machines * n_p * n_jobs
    total, good = (np.bincount(pcell, weights=w, minlength=cells).reshape(shape) for w in (ptot, pgood))
    ideal_s, ideal_good_s = (_ideal_seconds(pcell, w, piece_ideal, cells, shape) for w in (ptot, pgood))
    out = _Pieces(total, good, ideal_s, ideal_good_s)
    _check_good(out.good, out.total)
    return out


def _ideal_seconds(
    pcell: np.ndarray, pieces: np.ndarray, piece_ideal: np.ndarray, cells: int, shape: tuple[int, ...]
) -> np.ndarray:
    """Ideal seconds of the pieces per cell; 0 pieces x an unknown (NaN) ideal cycle is 0, not unknown."""
    w = pieces * piece_ideal
    w[~(pieces > 0)] = 0.0
    return np.bincount(pcell, weights=w, minlength=cells).reshape(shape)


class _Fields(NamedTuple):
    """Telemetry sums per (machine, period, job, field, category) cell."""

    names: tuple[str, ...]
    period_s: tuple[float, ...]
    total: np.ndarray
    n: np.ndarray
    expected: np.ndarray


def _fields(
    telemetry: Mapping[str, UniformSeries], seg: Segments, ccell: np.ndarray, shape: tuple[int, ...]
) -> _Fields:
    """Each telemetry field summed over every segment, then per cell (a handful of fields)."""
    names = tuple(telemetry)
    out = _Fields(
        names=names,
        period_s=tuple(telemetry[n].period_s for n in names),
        total=np.zeros((*shape, len(names), len(CATEGORIES))),
        n=np.zeros((*shape, len(names), len(CATEGORIES))),
        expected=np.zeros((*shape, len(names), len(CATEGORIES))),
    )
    for i, name in enumerate(names):
        run = (seg.category == RUN).astype(np.int64)  # power levels: running, and not
        sums = interval_sums(telemetry[name], seg.machine, seg.start_ns, seg.end_ns, run)
        for cell_sums, w in ((out.total, sums.total), (out.n, sums.n), (out.expected, sums.expected)):
            cell_sums[..., i, :] = _by_cell(ccell, w, shape)
    return out


def _periods(calendar: ShiftCalendar | Periods | None, start_ns: int, end_ns: int) -> Periods:
    if calendar is None:
        return whole_window(start_ns, end_ns)
    if isinstance(calendar, Periods):
        if calendar.edges[0] != start_ns or calendar.edges[-1] != end_ns:
            raise ValueError("the given periods do not span [start_ns, end_ns); build them for this window")
        return calendar
    return calendar.periods(start_ns, end_ns)


def _ideal_table(ideal: object, n_machines: int, n_jobs: int) -> np.ndarray:
    a = v.as_float("ideal_cycle_s", ideal, allow_nan=True)
    if a.ndim == 1 and a.size == n_machines:
        a = a[:, None]
    try:
        a = np.broadcast_to(a, (n_machines, n_jobs))
    except ValueError as exc:
        raise ValueError(
            f"ideal_cycle_s has shape {a.shape}; give a scalar, one per machine ({n_machines},) "
            f"or one per machine and job ({n_machines}, {n_jobs})"
        ) from exc
    bad = a <= 0
    if bad.any():
        raise ValueError(
            f"ideal_cycle_s must be > 0 seconds{v.located(bad)}, got {a[bad].flat[0]!r}: "
            "set the standard time (SAM x 60 s) for the product, or NaN if unknown"
        )
    return a


def _job_at(jobs: Events, job_table: tuple[str, ...], m: np.ndarray, t: np.ndarray, start: int) -> np.ndarray:
    """Job running on each machine when each piece was counted ("(none)" before the first job event)."""
    order = np.lexsort((jobs.ts_ns, jobs.machine))
    jm, jt, jc = jobs.machine[order], jobs.ts_ns[order], jobs.code[order]
    i = latest_at_or_before(jm, jt, m, t)
    return np.where(i >= 0, jc[np.maximum(i, 0)], len(job_table) - 1)


def _check_good(good: np.ndarray, total: np.ndarray) -> None:
    machine_good, machine_total = good.sum(axis=(1, 2)), total.sum(axis=(1, 2))
    bad = machine_good > machine_total + 1e-9
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"machine {i}: good pieces ({machine_good[i]:g}) exceed total pieces ({machine_total[i]:g}) "
            "in the window: the good counter must count a subset of the total counter"
        )
