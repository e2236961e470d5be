"""What `compute_kpis` returns: figures per machine x period x job, and every roll-up of them.

A `KpiResult` keeps the extensive figures and the categorised segments they came from,
so any view (per line, shift, day, job, the plant, the downtime Pareto) is a sum or a
count computed on demand, never a second pass over the raw events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analytics.figures import Figures
from analytics.losses import CATEGORIES, DOWNTIME, MINOR_STOP
from analytics.timeline import NO_STATE, Segments
from tonle.kernels.shifts import Periods

__all__ = ["KpiResult", "Pareto"]


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


def _mask(sel: np.ndarray, n: int) -> np.ndarray:
    a = np.asarray(sel)
    if a.dtype == bool:
        if a.shape != (n,):
            raise ValueError(f"selection mask has shape {a.shape}, need ({n},)")
        return a
    mask = np.zeros(n, dtype=bool)
    mask[a.astype(np.int64)] = True
    return mask
