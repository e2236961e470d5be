"""Machine health from features: the vibration health index and a fused linear index.

Every machine is compared with its own healthy baseline (`analytics.baseline`) rather
than with a fixed limit, because a sewing machine bolted to a wobbly table vibrates more
than the same model on a concrete floor. `health_index` turns RMS and kurtosis against
that baseline into one number in [0, 1]; `fit_linear_health` learns a health index from
many sensors of machines that ran to failure. The drift charts that watch the same
features live in `analytics.drift`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tonle.kernels import checks as v

__all__ = ["LinearHealth", "fit_linear_health", "health_index"]


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
