"""Bucket means cut by state changes: split by time and by each state's power level.

The service reads power as server-side bucket means (10 s by default: pulling
aggregates is ten times cheaper than raw points). A bucket in which a state changes
holds the mean of two powers; sewing stops are short and a running motor draws ~6x
its standing power, so giving the whole bucket to one state, or splitting it by time
alone, moves running power into the stops, always the same way (issue 14: 2.1x and
1.8x too much idle energy on the simulated line).

Here each machine's power level while running and while stopped is estimated from
all its buckets at once (least squares: a bucket's mean = running fraction x P_run +
stopped fraction x P_stop, where the fractions come from the state timeline), and a
mixed bucket's energy is split between the intervals in it in proportion to
time x level. Buckets inside one interval are untouched. The estimate is exact when
each state's power is steady; what remains is the spread of power within a state,
over the mixed buckets only (docs/kpi.md, "Energy by state").
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from analytics.energy import UniformSeries

__all__ = ["split_mixed"]


def split_mixed(
    series: UniformSeries,
    machine: np.ndarray,
    start_ns: np.ndarray,
    end_ns: np.ndarray,
    total: np.ndarray,
    n: np.ndarray,
    key: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(total, n) with every bucket cut by an interval edge split by time x level.

    total, n: the sums that give each whole bucket to the interval holding its start
    (`analytics.energy`); key: 1 for intervals of the running level, 0 for the stopped
    one (None: one level, a split by time alone).
    """
    g0, p, n_samples = series.start_ns, series.period_ns, series.values.shape[1]
    key = np.zeros(machine.size, np.int64) if key is None else np.asarray(key, np.int64)
    ks, rs = np.divmod(np.asarray(start_ns, np.int64) - g0, p)
    ke, re = np.divmod(np.asarray(end_ns, np.int64) - g0, p)
    idx = np.arange(machine.size)
    # The piece of each interval in the bucket holding its start (when cut) and its end.
    head = rs > 0
    tail = (re > 0) & ((ke != ks) | ~head)
    p_i = np.concatenate((idx[head], idx[tail]))
    p_k = np.concatenate((ks[head], ke[tail]))
    ov_ns = np.concatenate(
        (
            np.minimum(end_ns[head], g0 + (ks[head] + 1) * p) - start_ns[head],
            end_ns[tail] - np.maximum(start_ns[tail], g0 + ke[tail] * p),
        )
    )
    owner = np.concatenate((np.zeros(int(head.sum()), bool), (ks[tail] < ke[tail]) | (rs[tail] == 0)))
    ok = (p_k >= 0) & (p_k < n_samples)
    p_i, p_k, ov, owner = p_i[ok], p_k[ok], ov_ns[ok] / p, owner[ok]
    if not p_i.size:
        return total, n
    m = series.values[machine[p_i], p_k].astype(np.float64)
    present = np.isfinite(m)
    m0 = np.where(present, m, 0.0)
    rows = machine.size
    # Take the cut buckets back from the intervals that held them whole.
    total = total - np.bincount(p_i[owner], weights=m0[owner], minlength=rows)
    n = n - np.bincount(p_i[owner], weights=present[owner].astype(np.float64), minlength=rows)
    level = _levels(machine, key, total, n, p_i, p_k, ov, m0, present, series.values.shape[0], n_samples)
    bucket = np.unique(machine[p_i] * n_samples + p_k, return_inverse=True)[1]
    w = ov * level[machine[p_i], key[p_i]]
    weight = np.bincount(bucket, weights=w)
    time_in = np.bincount(bucket, weights=ov)
    share = np.where(weight[bucket] > 0, w / np.where(weight > 0, weight, 1.0)[bucket], ov / time_in[bucket])
    total = total + np.bincount(p_i, weights=m0 * share * time_in[bucket], minlength=rows)
    n = n + np.bincount(p_i, weights=present * ov, minlength=rows)
    return total, n


def _levels(
    machine: np.ndarray,
    key: np.ndarray,
    whole_sum: np.ndarray,
    whole_n: np.ndarray,
    p_i: np.ndarray,
    p_k: np.ndarray,
    ov: np.ndarray,
    m0: np.ndarray,
    present: np.ndarray,
    n_rows: int,
    n_samples: int,
) -> np.ndarray:
    """Power level [n_rows, 2] of each machine while stopped (0) and running (1), by least squares.

    Where the two cannot be told apart (no mixed bucket, one state only, a negative
    estimate) both levels are 1: the split is by time alone.
    """
    cell = machine * 2 + key
    s_w = np.bincount(cell, weights=whole_sum, minlength=n_rows * 2).reshape(n_rows, 2)
    n_w = np.bincount(cell, weights=whole_n, minlength=n_rows * 2).reshape(n_rows, 2)
    mixed, inv = np.unique(machine[p_i] * n_samples + p_k, return_inverse=True)
    n_b = mixed.size
    run = key[p_i] == 1
    a = np.bincount(inv, weights=np.where(run, ov, 0.0), minlength=n_b)
    c = np.bincount(inv, weights=np.where(run, 0.0, ov), minlength=n_b)
    m_b = np.bincount(inv, weights=m0, minlength=n_b) / np.maximum(np.bincount(inv, minlength=n_b), 1)
    ok_b = np.bincount(inv, weights=present.astype(np.float64), minlength=n_b) > 0
    mb = mixed // n_samples
    a, c, m_b, mb = a[ok_b], c[ok_b], m_b[ok_b], mb[ok_b]

    def per_machine(x: np.ndarray) -> np.ndarray:
        return np.bincount(mb, weights=x, minlength=n_rows)

    s11 = n_w[:, 1] + per_machine(a * a)
    s00 = n_w[:, 0] + per_machine(c * c)
    s01 = per_machine(a * c)
    t1 = s_w[:, 1] + per_machine(a * m_b)
    t0 = s_w[:, 0] + per_machine(c * m_b)
    det = s11 * s00 - s01 * s01
    good = det > 1e-9 * np.maximum(s11 * s00, 1e-300)
    safe = np.where(good, det, 1.0)
    p1 = (t1 * s00 - t0 * s01) / safe
    p0 = (t0 * s11 - t1 * s01) / safe
    good &= (p1 >= 0) & (p0 >= 0) & ((p1 + p0) > 0)
    return np.where(good[:, None], np.stack((p0, p1), axis=1), 1.0)
