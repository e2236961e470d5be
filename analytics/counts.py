"""Piece counters: cumulative readings of many machines -> pieces added at each reading.

The edge sends each machine's counters as they stand (total and good since the device
last started), so a piece count over any window is a difference of readings, and a
drop is a device restart that began counting again at 0. `compute_kpis` and
`output_per_bucket` both start from `increments`, so a piece counts in the same place
in the OEE as in the hourly output chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from analytics._events import empty_as_int
from tonle.kernels import checks as v
from tonle.kernels.shifts import whole_window

__all__ = ["Counts", "Increments", "increments", "output_per_bucket"]

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
        m = v.as_int("counts machine", empty_as_int(machine))
        t = v.as_timestamps("counts ts_ns", empty_as_int(ts_ns))
        tot = v.non_negative("total", v.as_float("total", total))
        gd = v.non_negative("good", v.as_float("good", good))
        if tot.ndim != 1 or gd.ndim != 1:
            raise ValueError(f"total and good must be 1-D, got shapes {tot.shape} and {gd.shape}")
        v.same_length(machine=m, ts_ns=t, total=tot, good=gd)
        return cls(m, t, tot, gd)


class Increments(NamedTuple):
    """Pieces added at each counter reading inside a window, sorted by (machine, time)."""

    machine: np.ndarray
    ts_ns: np.ndarray
    total: np.ndarray
    good: np.ndarray


def increments(counts: Counts, n_machines: int, start: int, end: int) -> Increments:
    """Pieces added at each counter reading in [start, end) (restarts handled)."""
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
    inside = (t >= start) & (t < end)
    return Increments(m[inside], t[inside], _steps(tot, first)[inside], _steps(good, first)[inside])


def _steps(c: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Increase at each reading; a machine's first reading is its baseline (0)."""
    step = np.empty_like(c)
    step[:1] = c[:1]
    np.subtract(c[1:], c[:-1], out=step[1:])
    restart = step < 0  # a restart: counting began again from zero
    step[restart] = c[restart]
    step[first] = 0.0
    return step


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
    pm, pt, ptot, pgood = increments(counts, n_machines, start, end)
    b = (pt - start) // width
    cell = pm * n_b + b
    total = np.bincount(cell, weights=ptot, minlength=n_machines * n_b).reshape(n_machines, n_b)
    good = np.bincount(cell, weights=pgood, minlength=n_machines * n_b).reshape(n_machines, n_b)
    return start + np.arange(n_b, dtype=np.int64) * width, total, good
