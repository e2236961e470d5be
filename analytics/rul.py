"""Remaining useful life from the trend of a health index, with an uncertainty band.

Damage is how far health has fallen from the machine's healthy level,
``D = h_ref - h``. Wear that feeds on itself (a spall widening under the balls that
roll over it, a compressor fouling) grows damage roughly exponentially, so
``log D`` is fitted with a straight line in time and extrapolated to the failure
level ``D_fail = h_ref - h_fail`` (Gebraeel et al. 2005 use the same model for
bearings). Only points where the (trailing-mean smoothed) damage is clearly above the
healthy noise enter the fit: before degradation starts there is no trend to extrapolate
and the answer is "no end in sight" (infinite RUL), not a guess.

The band is where the confidence band of the fitted trend, widened by how much the
failure level itself varies between machines, crosses the failure level: solving
``(yhat(t) - y_fail)^2 = q^2 (se_fit(t)^2 + fail_sd^2)`` for t, a quadratic. When the
slope is not significant the later root does not exist and the upper end is infinite.

All machines are fitted at once from sums over the sample axis; no loop over samples
or machines.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

from tonle.kernels import checks as v

__all__ = ["RulEstimate", "rul_from_health", "trailing_mean"]


@dataclass(frozen=True, slots=True)
class RulEstimate:
    """Per machine, in the time unit of `t`, counted from each machine's last sample.

    rul:    median estimate; inf where no degrading trend is established.
    lower:  early end of the band (plan maintenance by then); <= rul.
    upper:  late end of the band; inf when the trend is not yet significant.
    rate:   fitted growth rate of log damage per time unit (NaN without a fit).
    n_used: points that entered the fit.
    """

    rul: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    rate: np.ndarray
    n_used: np.ndarray


def rul_from_health(
    t: np.ndarray,
    health: np.ndarray,
    *,
    h_ref: float | np.ndarray = 1.0,
    h_fail: float | np.ndarray = 0.0,
    noise: float | np.ndarray = 0.02,
    gate: float = 3.0,
    smooth: int = 10,
    min_points: int = 10,
    coverage: float = 0.8,
    fail_sd: float = 0.0,
    max_rul: float = np.inf,
    model: Literal["exponential", "linear"] = "exponential",
) -> RulEstimate:
    """Extrapolate the damage trend of `health` ``[n_machines, n_samples]`` to `h_fail`.

    ``model="exponential"`` fits ``log D`` against time (damage that feeds on itself, the
    default); ``"linear"`` fits ``D`` itself, for a health index that is already on a log
    scale of the symptom, like `analytics.health.health_index` (log of the RMS ratio):
    there exponential growth of vibration is a straight line.

    `t` is ``[n_samples]`` or ``[n_machines, n_samples]``, increasing along each row;
    NaN health marks missing samples (pad short rows at the end). `h_ref` and `noise`
    are each machine's healthy level and its sample-to-sample spread (from its
    baseline); a smoothed point counts as degraded when its damage exceeds
    ``gate x noise / sqrt(smooth)``. `fail_sd` is the spread of ``log D_fail`` between
    machines (0 when failure is defined by a fixed health level), in the unit of the
    fitted quantity (log D or D). Estimates are clipped to `max_rul`, the longest horizon
    the method is trusted for.
    """
    if model not in ("exponential", "linear"):
        raise ValueError(f"model must be 'exponential' or 'linear', got {model!r}")
    h = v.as_float("health", health, allow_nan=True)
    if h.ndim != 2:
        raise ValueError(f"health must be [n_machines, n_samples], got shape {h.shape}")
    tt = np.broadcast_to(v.as_float("t", t), h.shape)
    if not 0 < coverage < 1 or gate < 0 or fail_sd < 0:
        raise ValueError(
            f"need 0 < coverage < 1, gate >= 0 and fail_sd >= 0, got {coverage}, {gate}, {fail_sd}"
        )
    smooth = v.check_count("smooth", smooth, minimum=1)
    min_points = v.check_count("min_points", min_points, minimum=3)
    ref, d_fail, sd = _levels(h.shape[0], h_ref, h_fail, noise)
    present = np.isfinite(h)
    damage = trailing_mean(ref - h, smooth)
    when = trailing_mean(np.where(present, tt, np.nan), smooth)  # centre of each window: no lag
    x, y, w, n, y_fail = _fit_points(damage, when, sd, d_fail, gate, smooth, model)
    fit = _line_fit(x, y, w, n)
    t_last = np.nanmax(np.where(present, tt, np.nan), axis=1, initial=-np.inf)
    q = NormalDist().inv_cdf(0.5 + coverage / 2)
    rul, lower, upper = _crossings(fit, y_fail, q, smooth, fail_sd, t_last)
    ok = (n >= min_points) & (fit.slope > 0)
    cap = float(max_rul)
    rul = np.where(ok, np.clip(rul, 0.0, cap), np.inf if not np.isfinite(cap) else cap)
    lower = np.where(ok, np.clip(lower, 0.0, rul), np.where(np.isfinite(cap), cap, np.inf))
    upper = np.where(ok, np.maximum(upper, rul), np.inf)
    return RulEstimate(rul=rul, lower=lower, upper=upper, rate=np.where(ok, fit.slope, np.nan), n_used=n)


def _levels(
    n_machines: int, h_ref: float | np.ndarray, h_fail: float | np.ndarray, noise: float | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(healthy level [n, 1], damage at failure [n], healthy noise [n, 1]) per machine."""
    ref = np.broadcast_to(v.as_float("h_ref", h_ref), (n_machines,))[:, None]
    d_fail = ref[:, 0] - np.broadcast_to(v.as_float("h_fail", h_fail), (n_machines,))
    if (d_fail <= 0).any():
        raise ValueError("h_fail must be below h_ref: failure is a loss of health")
    sd = np.broadcast_to(v.as_float("noise", noise), (n_machines,))[:, None]
    return ref, d_fail, sd


def _fit_points(
    damage: np.ndarray,
    when: np.ndarray,
    sd: np.ndarray,
    d_fail: np.ndarray,
    gate: float,
    smooth: int,
    model: str,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, y, weight, points used, y at failure) of the trend fit from smoothed damage; weight 0 = not used.

    Only smoothed points clearly above the healthy noise enter: before degradation
    starts there is no trend, and fitting noise would invent one.
    """
    with np.errstate(invalid="ignore"):
        use = np.isfinite(damage) & (damage > np.maximum(gate * sd / np.sqrt(smooth), 1e-12))
    x = np.where(use, when, 0.0)
    n = use.sum(axis=1).astype(np.float64)
    if model == "exponential":
        y = np.log(np.where(use, damage, 1.0))
        # var(log D) ~ (noise / D)^2: weight each point by D^2, so the barely-degraded
        # early points, whose logs are mostly noise, do not flatten the trend.
        w = np.where(use, np.square(np.where(use, damage, 0.0)), 0.0)
        return x, y, w, n, np.log(d_fail)
    return x, np.where(use, damage, 0.0), use.astype(np.float64), n, d_fail


def trailing_mean(x: np.ndarray, width: int) -> np.ndarray:
    """Mean of the last `width` samples along axis 1, ignoring NaN; NaN until half a window is seen."""
    a = np.asarray(x, dtype=np.float64)
    ok = np.isfinite(a)
    csum = np.cumsum(np.where(ok, a, 0.0), axis=1)
    ccount = np.cumsum(ok, axis=1)
    pad = ((0, 0), (width, 0))
    csum_lag = np.pad(csum, pad)[:, : a.shape[1]]
    count_lag = np.pad(ccount, pad)[:, : a.shape[1]]
    total = csum - csum_lag
    count = ccount - count_lag
    return np.where(ok & (count >= max(1, width // 2)), total / np.maximum(count, 1), np.nan)


@dataclass(frozen=True, slots=True)
class _Fit:
    slope: np.ndarray
    intercept_at_mean: np.ndarray  # yhat at x_mean
    x_mean: np.ndarray
    sxx: np.ndarray
    s2: np.ndarray  # residual variance
    n: np.ndarray


def _line_fit(x: np.ndarray, y: np.ndarray, w: np.ndarray, n: np.ndarray) -> _Fit:
    """Weighted least-squares line per row (weight 0 = not used), from sums (no loop).

    The residual variance is scaled back to unit weight at the mean weight, so `s2` and
    `sxx` combine into the usual standard errors with `n` points.
    """
    sw = w.sum(axis=1)
    safe = np.where(sw > 0, sw, 1.0)
    xm = (w * x).sum(axis=1) / safe
    ym = (w * y).sum(axis=1) / safe
    dx = x - xm[:, None]
    dy = y - ym[:, None]
    sxx_w = (w * np.square(dx)).sum(axis=1)
    slope = np.divide((w * dx * dy).sum(axis=1), sxx_w, out=np.zeros_like(sxx_w), where=sxx_w > 0)
    resid = dy - slope[:, None] * dx
    mean_w = safe / np.maximum(n, 1.0)
    s2 = (w * np.square(resid)).sum(axis=1) / np.maximum(n - 2, 1.0) / mean_w
    return _Fit(slope, ym, xm, sxx_w / mean_w, s2, n)


def _crossings(
    f: _Fit, y_fail: np.ndarray, q: float, smooth: int, fail_sd: float, t_last: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Median, early and late time from the last sample to the failure level."""
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = y_fail - f.intercept_at_mean  # >0: still below the failure level at x_mean
        centre = f.x_mean + gap / f.slope
        # Smoothed points are correlated over `smooth` samples: count them as n / smooth.
        s2 = f.s2 * smooth
        a = np.square(f.slope) - q * q * s2 / np.where(f.sxx > 0, f.sxx, np.inf)
        b = -2.0 * f.slope * gap
        c = np.square(gap) - q * q * (s2 / np.maximum(f.n, 1.0) + fail_sd**2)
        real = b * b - 4 * a * c >= 0
        disc = np.sqrt(np.maximum(b * b - 4 * a * c, 0.0))
        u1 = (-b - disc) / (2 * a)
        u2 = (-b + disc) / (2 * a)
        # The band holds y_fail where a u^2 + b u + c <= 0. With a > 0 (the slope is
        # significant) that is between the roots; with a < 0 it is beyond the later root
        # (or everywhere when there is none): the band never closes, the late end is inf.
        early = np.where(a > 0, np.minimum(u1, u2), np.where(real, np.maximum(u1, u2), -np.inf))
        late = np.where(a > 0, np.maximum(u1, u2), np.inf)
        early = np.where(c <= 0, -np.inf, early)  # the band holds it already
    rul = centre - t_last
    lower = f.x_mean + np.nan_to_num(early, nan=-np.inf) - t_last
    upper = f.x_mean + late - t_last
    return rul, lower, upper
