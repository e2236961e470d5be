"""Machine health from vibration features: robust baseline, health index, drift alarms.

Every machine is compared with its own healthy baseline rather than with a fixed
limit, because a sewing machine bolted to a wobbly table vibrates more than the same
model on a concrete floor. The baseline uses median and MAD so that the odd bump or
thread break recorded while learning it does not inflate it.

The drift charts (EWMA, CUSUM) are one-sided: only rising vibration means damage.
They run on all machines at once; the sample recursion is done by
`scipy.signal.lfilter` (EWMA) or a cumulative-sum identity (CUSUM), not a Python loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from scipy.signal import lfilter

from tonle.kernels import checks as v

__all__ = [
    "Baseline",
    "DriftResult",
    "LinearHealth",
    "cusum",
    "ewma_drift",
    "ewma_limit",
    "fit_linear_health",
    "health_index",
    "robust_baseline",
]

MAD_TO_SIGMA = 1.4826
"""MAD x this estimates the standard deviation for Gaussian data (1 / Phi^-1(3/4))."""


class Baseline(NamedTuple):
    """Robust location (median) and scale (MAD x 1.4826, floored); NaN without enough data."""

    location: np.ndarray
    scale: np.ndarray


@dataclass(frozen=True, slots=True)
class DriftResult:
    """Output of a one-sided drift chart on standardised data, ``[n_machines, n_samples]``.

    statistic:         the chart statistic in sigma units (EWMA value or CUSUM sum).
    limit:             [n_samples] control limit it is compared with (EWMA: time-varying).
    alarm:             bool, statistic > limit. Not reset after an alarm: act on the first.
    first_alarm_index: int [n_machines], first sample in alarm, -1 if none.
    """

    statistic: np.ndarray
    limit: np.ndarray
    alarm: np.ndarray
    first_alarm_index: np.ndarray


def robust_baseline(
    x: np.ndarray,
    axis: int = -1,
    *,
    rel_floor: float = 0.01,
    abs_floor: float = 1e-9,
    min_samples: int = 10,
) -> Baseline:
    """Median and MAD-based sigma of healthy data along `axis`, ignoring NaN.

    The scale is floored at ``max(rel_floor x |median|, abs_floor)`` so that a quantised
    or stuck sensor with MAD 0 does not turn every later wobble into an infinite
    z-score; by default a change of 1 % of the level is never more than one sigma.
    Rows with fewer than `min_samples` finite values get NaN: no baseline yet.
    """
    a = v.as_float("x", x, allow_nan=True)
    if a.ndim == 0:
        raise ValueError("x must have a sample axis, got a scalar")
    if rel_floor < 0 or abs_floor <= 0:
        raise ValueError(f"need rel_floor >= 0 and abs_floor > 0, got {rel_floor}, {abs_floor}")
    try:
        a = np.moveaxis(a, axis, -1)
    except np.exceptions.AxisError as exc:
        raise ValueError(f"axis={axis} does not exist for x of shape {a.shape}") from exc
    enough = np.isfinite(a).sum(axis=-1) >= v.check_count("min_samples", min_samples, minimum=1)
    location = np.full(enough.shape, np.nan)
    scale = np.full(enough.shape, np.nan)
    rows = a[enough]  # nanmedian on these never sees an all-NaN row, so never warns
    med = np.nanmedian(rows, axis=-1)
    mad = np.nanmedian(np.abs(rows - med[:, None]), axis=-1) * MAD_TO_SIGMA
    location[enough] = med
    scale[enough] = np.maximum(mad, np.maximum(rel_floor * np.abs(med), abs_floor))
    return Baseline(location, scale)


def health_index(
    rms: np.ndarray,
    kurtosis: np.ndarray,
    base_rms: np.ndarray,
    base_kurt: np.ndarray,
    *,
    fail_ratio: float = 3.0,
    kurt_fail: float = 8.0,
) -> np.ndarray:
    """Health in [0, 1]: 1 is as healthy as the baseline, 0 is failed (inputs broadcast).

    Two independent symptoms, the worse one wins (min):

    - Severity: RMS relative to the machine's baseline on a log scale,
      ``1 - log(rms / base_rms) / log(fail_ratio)`` clipped to [0, 1]. Vibration
      severity zones (ISO 10816/20816) are spaced by constant ratios of about 1.6 to 2.5,
      so equal ratios mean equal steps towards failure; the default 3x the healthy RMS
      has crossed roughly one zone boundary and is treated as failed. At or below the
      baseline the index is 1.
    - Impulsiveness: kurtosis rises as spalls make the signal spiky, often before the RMS
      grows. Linear from ``base_kurt`` (health 1; about 3 for a healthy, Gaussian-like
      signal) to ``kurt_fail`` (health 0, default 8).

    NaN in any input gives NaN (unknown health, not healthy).
    """
    r, k, br, bk = (
        v.as_float(n, x, allow_nan=True)
        for n, x in (
            ("rms", rms),
            ("kurtosis", kurtosis),
            ("base_rms", base_rms),
            ("base_kurt", base_kurt),
        )
    )
    if not fail_ratio > 1:
        raise ValueError(f"fail_ratio must be > 1 (a multiple of the baseline RMS), got {fail_ratio}")
    v.non_negative("rms", r)
    bad = br <= 0
    if bad.any():
        raise ValueError(f"base_rms must be > 0{v.located(bad)}: relearn the baseline on a running machine")
    bad = bk >= kurt_fail
    if bad.any():
        raise ValueError(
            f"base_kurt {bk[bad].flat[0]} is not below kurt_fail={kurt_fail}{v.located(bad)}: "
            "the baseline was learnt on a damaged machine, or kurt_fail is too low"
        )
    ratio = np.divide(r, br)
    with np.errstate(divide="ignore"):  # rms == 0 -> log 0 = -inf -> clipped to health 1
        severity = 1.0 - np.log(ratio) / np.log(fail_ratio)
    impulsive = (kurt_fail - k) / (kurt_fail - bk)
    return np.minimum(np.clip(severity, 0.0, 1.0), np.clip(impulsive, 0.0, 1.0))


def ewma_drift(
    x: np.ndarray,
    loc: np.ndarray,
    scale: np.ndarray,
    lam: float = 0.2,
    L: float = 3.0,
) -> DriftResult:
    """One-sided (upward) EWMA control chart of ``z = (x - loc) / scale`` per machine.

    ``E_t = lam z_t + (1 - lam) E_{t-1}`` with ``E_0 = 0`` (on target), alarm when
    ``E_t > L sqrt(lam / (2 - lam) (1 - (1 - lam)^(2t)))``, the exact variance of E_t
    for in-control unit-variance data, so the first samples are not under-protected.
    The defaults (0.2, 3) are the usual textbook pair; a 2-sigma shift is typically
    caught within about 5 samples. x is ``[n_machines, n_samples]`` in time order;
    loc and scale are ``[n_machines]`` (e.g. from `robust_baseline`); a machine whose
    loc or scale is NaN (no baseline yet) gets a NaN statistic and never alarms.
    """
    z = _standardise(x, loc, scale)
    limit = ewma_limit(z.shape[-1], lam, L)
    # E_t - (1 - lam) E_{t-1} = lam z_t is a first-order IIR filter with zero initial state.
    statistic = lfilter([lam], [1.0, -(1.0 - lam)], z, axis=-1)
    return _result(statistic, limit)


def ewma_limit(n_samples: int, lam: float = 0.2, L: float = 3.0) -> np.ndarray:
    """Exact upper control limit of the EWMA chart for samples 1..n_samples, sigma units."""
    if not 0 < lam <= 1 or not L > 0:
        raise ValueError(f"need 0 < lam <= 1 and L > 0, got lam={lam}, L={L}")
    n_samples = v.check_count("n_samples", n_samples, minimum=0)
    if lam == 1:  # no memory: a Shewhart chart with a constant limit
        return np.full(n_samples, float(L))
    t = np.arange(1, n_samples + 1)
    # 1 - (1 - lam)^(2t) via expm1/log1p: accurate for small lam and small t.
    return L * np.sqrt(lam / (2.0 - lam) * -np.expm1(2.0 * t * np.log1p(-lam)))


def cusum(
    x: np.ndarray,
    loc: np.ndarray,
    scale: np.ndarray,
    k: float = 0.5,
    h: float = 5.0,
) -> DriftResult:
    """One-sided upper CUSUM of ``z = (x - loc) / scale``; k and h in sigma units.

    ``S_t = max(0, S_{t-1} + z_t - k)``, ``S_0 = 0``, alarm when ``S_t > h``. The
    defaults k = 0.5, h = 5 detect a 1-sigma shift fastest (in-control ARL about 940 for the
    one-sided chart). Computed without a sample loop through the identity
    ``S_t = C_t - min(0, min_{s<=t} C_s)`` with ``C_t = sum_{s<=t} (z_s - k)``; the
    cumulative sum costs some rounding on very long series (about 1e-16 x |C|).
    Shapes and NaN baselines are handled as in `ewma_drift`.
    """
    z = _standardise(x, loc, scale)
    if not k >= 0 or not h > 0:
        raise ValueError(f"need k >= 0 and h > 0, got k={k}, h={h}")
    c = np.cumsum(z - k, axis=-1)
    floor = np.minimum.accumulate(c, axis=-1)
    np.minimum(floor, 0.0, out=floor)
    statistic = np.subtract(c, floor, out=c)
    return _result(statistic, np.full(z.shape[-1], float(h)))


def _standardise(x: np.ndarray, loc: np.ndarray, scale: np.ndarray) -> np.ndarray:
    a = v.as_float("x", x)
    if a.ndim != 2:
        raise ValueError(f"x must be 2-D [n_machines, n_samples], got shape {a.shape}")
    n = a.shape[0]
    lo = v.as_float("loc", loc, allow_nan=True)  # NaN: no baseline yet, no verdict
    sc = v.as_float("scale", scale, allow_nan=True)
    for name, b in (("loc", lo), ("scale", sc)):
        if b.shape not in ((), (n,)):
            raise ValueError(f"{name} must be a scalar or [n_machines={n}], got shape {b.shape}")
    bad = sc <= 0
    if bad.any():
        raise ValueError(f"scale must be > 0{v.located(bad)}: floor it (see robust_baseline)")
    return (a - np.reshape(lo, (-1, 1))) / np.reshape(sc, (-1, 1))


def _result(statistic: np.ndarray, limit: np.ndarray) -> DriftResult:
    alarm = statistic > limit
    first = np.where(alarm.any(axis=-1), alarm.argmax(axis=-1), -1)
    return DriftResult(statistic=statistic, limit=limit, alarm=alarm, first_alarm_index=first)


@dataclass(frozen=True, slots=True)
class LinearHealth:
    """A health index fused from many sensors: ``h = ((x - mean) / std) @ weights + bias``.

    Fitted by `fit_linear_health` on machines that ran to failure; one weight per sensor
    and a bias, so it has as few parameters as there are sensors and can be read: the
    sign of a weight says whether that sensor rises or falls with damage.
    """

    mean: np.ndarray
    std: np.ndarray
    weights: np.ndarray
    bias: float

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """Health of each row of `x` ``[..., n_sensors]``: about 1 healthy, about 0 failed."""
        a = v.as_float("x", x, allow_nan=True)
        if a.shape[-1] != self.weights.shape[0]:
            raise ValueError(f"x must end with {self.weights.shape[0]} sensors, got shape {a.shape}")
        return ((a - self.mean) / self.std) @ self.weights + self.bias


def fit_linear_health(x: np.ndarray, healthy: np.ndarray, failed: np.ndarray) -> LinearHealth:
    """Least-squares map from sensors ``[n_rows, n_sensors]`` to 1 on `healthy` rows, 0 on `failed`.

    The standard health-index construction for run-to-failure fleets (Wang, Yu, Siegel &
    Lee 2008): rows from the start of each life are the healthy state, rows just before
    each failure the failed one; every other row gets its health from the fitted line.
    Sensors are standardised on the rows used, so weights are comparable; a constant
    sensor gets weight 0.
    """
    a = v.as_float("x", x)
    hm = np.asarray(healthy, dtype=bool)
    fm = np.asarray(failed, dtype=bool)
    if a.ndim != 2 or hm.shape != a.shape[:1] or fm.shape != a.shape[:1]:
        raise ValueError(f"x must be [n_rows, n_sensors] and healthy/failed [n_rows], got {a.shape}")
    if not hm.any() or not fm.any() or (hm & fm).any():
        raise ValueError("need some healthy rows, some failed rows, and no row that is both")
    rows = a[hm | fm]
    mean = rows.mean(axis=0)
    std = rows.std(axis=0)
    live = std > 0
    std = np.where(live, std, 1.0)
    z = (rows - mean) / std
    target = hm[hm | fm].astype(np.float64)
    design = np.column_stack([z[:, live], np.ones(len(z))])
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    weights = np.zeros(a.shape[1])
    weights[live] = coef[:-1]
    return LinearHealth(mean=mean, std=std, weights=weights, bias=float(coef[-1]))
