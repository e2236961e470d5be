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
from dataclasses import dataclass

import numpy as np

from analytics.energy import UniformSeries, interval_sums
from analytics.figures import Figures
from analytics.losses import (
    CATEGORIES,
    DOWNTIME,
    MINOR_STOP,
    LossTaxonomy,
)
from analytics.timeline import NO_STATE, Events, Segments, _empty_as_int, build_segments, latest_at_or_before
from tonle.kernels import checks as v
from tonle.kernels.shifts import Periods, ShiftCalendar, whole_window

__all__ = ["Counts", "Figures", "KpiResult", "Pareto", "compute_kpis", "output_per_bucket"]

_NS = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Counts:
    """Cumulative piece counters as the edge sends them: (machine, ts_ns, total, good).

    A drop in a counter is a device restart: counting began again at 0. Include the last
    reading before the window, or the first piece counter of the window has no baseline.
    """

    machine: np.ndarray
    ts_ns: np.ndarray
    total: np.ndarray
    good: np.ndarray

    @classmethod
    def of(cls, machine: object, ts_ns: object, total: object, good: object) -> Counts:
        m = v.as_int("counts machine", _empty_as_int(machine))
        t = v.as_timestamps("counts ts_ns", _empty_as_int(ts_ns))
        tot = v.non_negative("total", v.as_float("total", total))
        gd = v.non_negative("good", v.as_float("good", good))
        if tot.ndim != 1 or gd.ndim != 1:
            raise ValueError(f"total and good must be 1-D, got shapes {tot.shape} and {gd.shape}")
        v.same_length(machine=m, ts_ns=t, total=tot, good=gd)
        return cls(m, t, tot, gd)


@dataclass(frozen=True, slots=True)
class Pareto:
    """Downtime by cause, largest first: label, seconds, stops, share and cumulative share."""

    label: tuple[str, ...]
    category: tuple[str, ...]
    seconds: np.ndarray
    stops: np.ndarray
    share: np.ndarray
    cumulative: np.ndarray


@dataclass(frozen=True, slots=True)
class KpiResult:
    """Figures per machine x period x job, and how to roll them up.

    figures: Figures of shape [n_machines, n_periods, n_jobs].
    periods: the reporting periods (shift instances and off-shift stretches) of the window.
    jobs:    names of the job axis ("(none)" for time before a machine's first job event).
    segments: the categorised intervals (for timelines and the Pareto).
    """

    figures: Figures
    periods: Periods
    jobs: tuple[str, ...]
    states: tuple[str, ...]
    reasons: tuple[str, ...]
    segments: Segments

    def by_machine(self) -> Figures:
        return self.figures.sum(axis=(1, 2))

    def by_machine_period(self) -> Figures:
        return self.figures.sum(axis=2)

    def by_period(self) -> Figures:
        """All machines together, per shift instance."""
        return self.figures.sum(axis=(0, 2))

    def by_day(self) -> tuple[np.ndarray, Figures]:
        """(local days, Figures [n_machines, n_days])."""
        days, idx = self.periods.days
        return days, self.figures.sum(axis=2).group(1, idx, days.size)

    def by_shift(self) -> tuple[tuple[str, ...], Figures]:
        """(shift names + 'no shift', Figures [n_machines, n_shifts + 1]) over all days."""
        names = (*self.periods.shift_names, "no shift")
        ids = np.where(self.periods.shift >= 0, self.periods.shift, len(names) - 1)
        return names, self.figures.sum(axis=2).group(1, ids, len(names))

    def by_job(self) -> Figures:
        """Figures [n_machines, n_jobs]: per product / style on each machine."""
        return self.figures.sum(axis=1)

    def by_line(self, line: Sequence[int] | np.ndarray, n_lines: int | None = None) -> Figures:
        """Figures [n_lines, n_periods] of groups of machines (line[m] = line of machine m, -1 = none).

        A line's figures are the sums of its machines' (availability = their run time over
        their planned time, OEE = planned-time-weighted mean of machine OEEs). For a sewing
        line whose stations work in series, `analytics.oee.line_oee` gives the
        constraint-station view instead.
        """
        ids = np.asarray(line, dtype=np.int64)
        n = int(ids.max()) + 1 if n_lines is None else int(n_lines)
        return self.by_machine_period().group(0, ids, n)

    def plant(self) -> Figures:
        return self.figures.sum(axis=(0, 1, 2))

    def state_seconds(self) -> np.ndarray:
        """Seconds per machine and contract state [n_machines, n_states] (no-data time left out)."""
        s = self.segments
        n_m, n_s = self.figures.total.shape[0], len(self.states)
        known = s.state != NO_STATE
        cell = s.machine[known] * n_s + s.state[known]
        return np.bincount(cell, weights=s.seconds[known], minlength=n_m * n_s).reshape(n_m, n_s)

    def pareto(self, machines: np.ndarray | None = None, periods: np.ndarray | None = None) -> Pareto:
        """Downtime (availability losses) by state and reason, largest first.

        Labels read "state: reason", with " (minor stop)" where short stops of that
        state were classed as minor stops, so "breakdown" and "breakdown (minor stop)"
        are separate bars.

        machines / periods: boolean masks or index arrays selecting what to include.
        """
        s = self.segments
        sel = np.isin(s.category, DOWNTIME)
        if machines is not None:
            sel &= _mask(machines, self.figures.total.shape[0])[s.machine]
        if periods is not None:
            sel &= _mask(periods, self.periods.n)[s.period]
        n_r = len(self.reasons) + 1
        key = (s.category[sel] * len(self.states) + s.state[sel]) * n_r + (s.reason[sel] + 1)
        uniq, inv = np.unique(key, return_inverse=True)
        secs = np.bincount(inv, weights=s.seconds[sel], minlength=uniq.size)
        stops = np.bincount(inv, weights=s.stop_start[sel], minlength=uniq.size)
        order = np.argsort(-secs, kind="stable")
        uniq, secs, stops = uniq[order], secs[order], stops[order]
        cat, rest = np.divmod(uniq, len(self.states) * n_r)
        state, reason = np.divmod(rest, n_r)
        labels = tuple(
            self.states[st]
            + (f": {self.reasons[r - 1]}" if r > 0 and self.reasons[r - 1] else "")
            + (" (minor stop)" if c == MINOR_STOP else "")
            for c, st, r in zip(cat.tolist(), state.tolist(), reason.tolist(), strict=True)
        )
        total = secs.sum()
        share = secs / total if total > 0 else np.zeros_like(secs)
        return Pareto(
            label=labels,
            category=tuple(CATEGORIES[c] for c in cat.tolist()),
            seconds=secs,
            stops=stops,
            share=share,
            cumulative=np.cumsum(share),
        )


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
    start, end = int(periods.edges[0]), int(periods.edges[-1])
    job_table = (*job_names, "(none)") if jobs is not None else ("(all)",)
    n_jobs = len(job_table)
    ideal = _ideal_table(ideal_cycle_s, n_machines, n_jobs)

    seg = build_segments(
        states,
        n_machines=n_machines,
        periods=periods,
        taxonomy=taxonomy,
        reasons=reasons,
        jobs=jobs,
        n_jobs=n_jobs,
        max_gap_s=max_gap_s,
    )
    n_p, n_c = periods.n, len(CATEGORIES)
    cells = n_machines * n_p * n_jobs
    cell = (seg.machine * n_p + seg.period) * n_jobs + seg.job
    ccell = cell * n_c + seg.category
    shape = (n_machines, n_p, n_jobs)
    seconds = np.bincount(ccell, weights=seg.seconds, minlength=cells * n_c).reshape(*shape, n_c)
    stops = np.bincount(ccell, weights=seg.stop_start, minlength=cells * n_c).reshape(*shape, n_c)

    inc = _increments(counts, n_machines, start, end)
    pm, pt, ptot, pgood = inc
    slice_ = np.searchsorted(periods.edges, pt, side="right") - 1
    pjob = _job_at(jobs, job_table, pm, pt, start) if jobs is not None else np.zeros(pm.size, np.int64)
    pcell = (pm * n_p + periods.slice_period[slice_]) * n_jobs + pjob
    piece_ideal = ideal[pm, pjob]
    total = np.bincount(pcell, weights=ptot, minlength=cells).reshape(shape)
    good = np.bincount(pcell, weights=pgood, minlength=cells).reshape(shape)
    # 0 pieces x an unknown (NaN) ideal cycle is 0 ideal seconds, not unknown.
    w_all = np.where(ptot > 0, ptot * piece_ideal, 0.0)
    w_good = np.where(pgood > 0, pgood * piece_ideal, 0.0)
    ideal_s = np.bincount(pcell, weights=w_all, minlength=cells).reshape(shape)
    ideal_good_s = np.bincount(pcell, weights=w_good, minlength=cells).reshape(shape)
    _check_good(good, total)

    names = tuple(telemetry) if telemetry else ()
    fsum = np.zeros((*shape, len(names), n_c))
    fn = np.zeros_like(fsum)
    fexp = np.zeros_like(fsum)
    for i, name in enumerate(names):  # a handful of fields
        assert telemetry is not None
        sums = interval_sums(telemetry[name], seg.machine, seg.start_ns, seg.end_ns)
        for out, w in ((fsum, sums.total), (fn, sums.n), (fexp, sums.expected)):
            out[..., i, :] = np.bincount(ccell, weights=w, minlength=cells * n_c).reshape(*shape, n_c)

    figures = Figures(
        seconds=seconds,
        stops=stops,
        total=total,
        good=good,
        ideal_s=ideal_s,
        ideal_good_s=ideal_good_s,
        field_sum=fsum,
        field_n=fn,
        field_expected=fexp,
        field_names=names,
        field_period_s=tuple(telemetry[n].period_s for n in names) if telemetry else (),
    )
    return KpiResult(
        figures=figures,
        periods=periods,
        jobs=job_table,
        states=taxonomy.states,
        reasons=tuple(reasons),
        segments=seg,
    )


def output_per_bucket(
    counts: Counts, *, n_machines: int, start_ns: int, end_ns: int, bucket_s: float = 3600.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bucket starts ns, total [n_machines, n_buckets], good [n_machines, n_buckets]).

    Pieces per clock bucket (hourly by default) for "output per hour against target"; a
    piece counts in the bucket where its counter reading arrived.
    """
    n_machines = v.check_count("n_machines", n_machines, minimum=1)
    periods = whole_window(start_ns, end_ns)
    start, end = int(periods.edges[0]), int(periods.edges[-1])
    if not (np.isfinite(bucket_s) and bucket_s > 0):
        raise ValueError(f"bucket_s={bucket_s} must be a positive number of seconds")
    width = round(bucket_s * _NS)
    n_b = -(-(end - start) // width)
    pm, pt, ptot, pgood = _increments(counts, n_machines, start, end)
    b = (pt - start) // width
    cell = pm * n_b + b
    total = np.bincount(cell, weights=ptot, minlength=n_machines * n_b).reshape(n_machines, n_b)
    good = np.bincount(cell, weights=pgood, minlength=n_machines * n_b).reshape(n_machines, n_b)
    return start + np.arange(n_b, dtype=np.int64) * width, total, good


# ----------------------------------------------------------------- helpers


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


def _increments(counts: Counts, n_machines: int, start: int, end: int) -> tuple[np.ndarray, ...]:
    """Pieces added at each counter reading inside the window (resets handled), sorted by machine."""
    m, t, tot, good = counts.machine, counts.ts_ns, counts.total, counts.good
    v.check_in_range("counts machine", m, n_machines, "machine table")
    dm, dt = np.diff(m), np.diff(t)
    if not np.all((dm > 0) | ((dm == 0) & (dt >= 0))):  # not already in (machine, time) order
        order = np.lexsort((t, m))
        m, t, tot, good = m[order], t[order], tot[order], good[order]
        dm, dt = np.diff(m), np.diff(t)
    clash = (dm == 0) & (dt == 0) & ((np.diff(tot) != 0) | (np.diff(good) != 0))
    if clash.any():
        i = int(np.flatnonzero(clash)[0])
        raise ValueError(
            f"machine {int(m[i])} has two different counter readings at the same timestamp {int(t[i])} ns: "
            "deduplicate the source"
        )
    first = np.ones(m.size, dtype=bool)
    first[1:] = dm != 0
    out = []
    for c in (tot, good):
        step = np.diff(c, prepend=0.0)
        step = np.where(step < 0, c, step)  # a restart: counting began again from zero
        step[first] = 0.0
        out.append(step)
    inside = (t >= start) & (t < end)
    return m[inside], t[inside], out[0][inside], out[1][inside]


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


def _mask(sel: np.ndarray, n: int) -> np.ndarray:
    a = np.asarray(sel)
    if a.dtype == bool:
        if a.shape != (n,):
            raise ValueError(f"selection mask has shape {a.shape}, need ({n},)")
        return a
    mask = np.zeros(n, dtype=bool)
    mask[a.astype(np.int64)] = True
    return mask
