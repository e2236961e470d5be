"""Telemetry on a uniform grid, summed over state intervals: energy per piece and idle energy.

Power (and any other 1 Hz field, such as motor speed) arrives for every machine on the
same uniform grid: a 2-D array [n_machines, n_samples] (the collector's columnar
batches, or an InfluxQL `GROUP BY time(1s)` query). The KPI kernel needs, for every
state interval of every machine, the sum of the samples that fall in it: that gives
energy by loss category (idle energy is the energy drawn while not running), kWh per
piece, and mean speed while running.

One `np.add.reduceat` pass over the flattened array sums every interval of every
machine at once; reading the array once is the whole cost, so the input is never
copied or converted (float32 stays float32, sums accumulate in float64). Missing
samples are NaN: they are left out of the sums and counted, so the coverage of each
figure is known. Nothing is interpolated.

Which state a sample belongs to (docs/kpi.md, "Energy by state"): a sample taken at
the data's own rate belongs to the state at its own timestamp, so at most one sample
per state change can land on the wrong side of it. A coarser bucket mean (`spread`)
cut by a state change is split by time x each state's power level, estimated from
the machine's own buckets (`analytics.energy_split`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.energy_split import split_mixed
from tonle.kernels import checks as v
from tonle.schema import POWER_KW

__all__ = ["ENERGY_FIELD", "IntervalSums", "UniformSeries", "interval_sums", "kwh_per_piece"]

ENERGY_FIELD = POWER_KW
"""The telemetry field the KPI kernel integrates into kWh (power in kilowatts)."""

_NS_PER_S = 1_000_000_000
_CHUNK = 4096  # samples summed in the input dtype before float64 accumulation


@dataclass(frozen=True, slots=True)
class UniformSeries:
    """One field of every machine sampled on one uniform grid.

    start_ns:  timestamp of sample 0; sample k stands for [start + k*period, start + (k+1)*period).
    period_ns: the grid spacing (1 s for the edge agent's 1 Hz telemetry).
    values:    float [n_machines, n_samples], NaN where a sample is missing. Not copied.
    spread:    False (default): each value is a sample taken at its slot's start, and it
               belongs to the state its machine was in at that instant. True: each value
               is the mean over its whole slot (a coarser server-side bucket); a slot cut
               by a state change is split between the states by time x power level.
    """

    start_ns: int
    period_ns: int
    values: np.ndarray
    spread: bool = False

    def __post_init__(self) -> None:
        for name, value in (("start_ns", self.start_ns), ("period_ns", self.period_ns)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer):
                raise ValueError(f"telemetry {name} must be integer nanoseconds, got {value!r}")
        if self.period_ns <= 0:
            raise ValueError(f"telemetry period_ns={self.period_ns} must be > 0 (1 Hz is 1_000_000_000)")
        a = self.values
        if not isinstance(a, np.ndarray) or a.dtype.kind != "f" or a.ndim != 2:
            shape = getattr(a, "shape", None)
            dtype = getattr(a, "dtype", type(a).__name__)
            raise ValueError(
                f"telemetry values must be a 2-D float array [n_machines, n_samples], got {dtype} {shape}: "
                "one row per machine, NaN for missing samples"
            )

    @property
    def period_s(self) -> float:
        return self.period_ns / _NS_PER_S

    def index_at(self, ts_ns: np.ndarray) -> np.ndarray:
        """Index of the first sample at or after each time, clipped to [0, n_samples]."""
        k = -((self.start_ns - ts_ns) // self.period_ns)  # ceil division in integers
        return np.clip(k, 0, self.values.shape[1])


@dataclass(frozen=True, slots=True)
class IntervalSums:
    """Per interval: sum of the finite samples, their number, and the number expected.

    For a `spread` series a slot cut by an interval's edge counts in each interval by the
    fraction of its period that lies there, so `n` and `expected` can be fractional.
    """

    total: np.ndarray
    n: np.ndarray
    expected: np.ndarray


def interval_sums(
    series: UniformSeries,
    machine: np.ndarray,
    start_ns: np.ndarray,
    end_ns: np.ndarray,
    level_key: np.ndarray | None = None,
) -> IntervalSums:
    """Sum the samples of each interval; intervals sorted by (machine, start), tiling each machine's window.

    The intervals of one machine must be contiguous (each starts where the previous
    ended), which `analytics.timeline.build_segments` guarantees. level_key (1 for a
    running interval, 0 otherwise) lets a `spread` series split a bucket cut by a state
    change by each state's power level (`analytics.energy_split`), not by time alone.
    """
    n_rows = series.values.shape[0]
    if machine.size and int(machine.max()) >= n_rows:
        raise ValueError(
            f"telemetry has {n_rows} machine rows but intervals refer to machine {int(machine.max())}: "
            "give one row per machine, in the machine table's order"
        )
    lo = series.index_at(start_ns)
    hi = series.index_at(end_ns)
    total = _sums(series.values, machine, lo, hi)
    n = (hi - lo).astype(np.float64)
    bad = np.isnan(total)
    if bad.any():  # rare: only the rows with gaps take the slower NaN-aware path
        rows = np.unique(machine[bad])
        sel = np.isin(machine, rows)
        sub = series.values[rows]
        missing = np.isnan(sub)
        local = np.searchsorted(rows, machine[sel])
        total[sel] = _sums(np.where(missing, 0.0, sub), local, lo[sel], hi[sel])
        n[sel] -= _sums(missing.astype(np.float32), local, lo[sel], hi[sel])
    if not series.spread:
        return IntervalSums(total=total, n=n, expected=(hi - lo).astype(np.float64))
    total, n = split_mixed(series, machine, start_ns, end_ns, total, n, level_key)
    span = series.values.shape[1]
    expected = _position(series, end_ns, span) - _position(series, start_ns, span)
    return IntervalSums(total=total, n=n, expected=expected)


def _position(series: UniformSeries, ts_ns: np.ndarray, n_samples: int) -> np.ndarray:
    """Where each time falls on the grid, in (fractional) samples, clipped to [0, n_samples]."""
    offset = np.asarray(ts_ns, dtype=np.int64) - series.start_ns
    k = offset // series.period_ns
    frac = (offset - k * series.period_ns) / series.period_ns
    return np.clip(k + frac, 0.0, float(n_samples))


def _sums(values: np.ndarray, machine: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Sum values[machine, lo:hi] for each interval with one reduceat over the flat array.

    The array is summed in its own dtype (a float64 copy of 1,000 machine-days of float32
    would be 0.7 GB), in pieces of at most `_CHUNK` samples so float32 rounding stays
    negligible (relative error ~1e-6 on sums of positive power); the pieces are then
    added in float64.
    """
    n_samples = values.shape[1]
    flat = values.reshape(-1)  # a view for C-contiguous input
    out = np.zeros(machine.size, dtype=np.float64)
    if flat.size == 0 or machine.size == 0:
        return out
    base = machine * n_samples
    # Each machine's intervals tile [lo_first, hi_last); a separator after them owns the
    # samples outside the window (and other machines' margins), whose sum is thrown away.
    last = np.append(machine[1:] != machine[:-1], True)
    pos = np.concatenate((base + lo, (base + hi)[last]))
    tag = np.concatenate((np.arange(machine.size), np.full(int(last.sum()), -1)))
    # At equal positions the separator goes first (it closes the previous machine's range),
    # and an empty interval before the non-empty one that starts where it ends.
    order = np.lexsort((tag >= 0, pos))
    pos, tag = pos[order], tag[order]
    keep = pos < flat.size
    pos, tag = pos[keep], tag[keep]
    if pos.size == 0:
        return out
    pieces = np.sort(np.concatenate((pos, np.arange(pos[0], flat.size, _CHUNK))))
    pieces = pieces[np.append(True, pieces[1:] != pieces[:-1])]  # both sorted: no hash-unique
    sums = np.add.reduceat(flat, pieces)
    owner = tag[np.searchsorted(pos, pieces, side="right") - 1]
    real = owner >= 0
    out += np.bincount(owner[real], weights=sums[real], minlength=machine.size)
    return out


def kwh_per_piece(kwh: np.ndarray | float, pieces: np.ndarray | float) -> np.ndarray:
    """Energy per piece; NaN where nothing was made (an idle machine has no energy per piece)."""
    e = v.non_negative("kwh", v.as_float("kwh", kwh, allow_nan=True))
    p = v.non_negative("pieces", v.as_float("pieces", pieces, allow_nan=True))
    e, p = np.broadcast_arrays(e, p)
    return np.divide(e, p, out=np.full(e.shape, np.nan), where=p > 0)
