"""One-sided drift charts (CUSUM, EWMA): the one engine behind every PdM chart.

Every feature is a robust z-score against the machine's healthy baseline
(`analytics.baseline`), and an upper CUSUM and an EWMA accumulate evidence of a rise (only
rising vibration means damage). One engine computes both for all machines and features at
once, without a loop over samples (`_cusum`, `_ewma`): a missing sample leaves a chart
where it was, and a chart continues from a `DriftState`, so the service can feed each new
window as it arrives. `feature_drift` is that engine with its alarm; `ewma_drift` and
`cusum` are the classic single-feature charts on it, with the textbook control limits.

The service's alarm is deliberately conservative (CUSUM k = 1, h = 8 sigma by default): a
real bearing defect moves RMS or envelope lines by many sigma, while healthy machines drift
by a sigma or two over days (temperature, run-in). On the four healthy IMS bearings
(1,600 snapshots) k = 0.5, h = 5 fired on slow drifts of kurtosis and crest factor;
k = 1, h = 8 never did, and still needs only about 3 samples for a 4-sigma rise.
Numpy only (edge-safe).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tonle.kernels import checks as v

__all__ = ["DriftResult", "DriftState", "FeatureDrift", "cusum", "ewma_drift", "ewma_limit", "feature_drift"]


@dataclass(frozen=True, slots=True)
class DriftState:
    """Chart values after the last sample, ``[n_machines, n_features]``; start of the next call."""

    cusum: np.ndarray
    ewma: np.ndarray

    @classmethod
    def zeros(cls, n_machines: int, n_features: int) -> DriftState:
        return cls(np.zeros((n_machines, n_features)), np.zeros((n_machines, n_features)))


@dataclass(frozen=True, slots=True)
class FeatureDrift:
    """Drift charts of every feature; statistics ``[n_machines, n_samples, n_features]``.

    alarm:         bool [n_machines, n_samples]: some feature's CUSUM is above h.
    first_alarm:   int [n_machines], first sample in alarm in this call, -1 if none.
    first_feature: int [n_machines], the feature that crossed first there, -1 if none.
    state:         pass to the next call to continue the charts.
    """

    cusum: np.ndarray
    ewma: np.ndarray
    alarm: np.ndarray
    first_alarm: np.ndarray
    first_feature: np.ndarray
    state: DriftState


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


def feature_drift(
    z: np.ndarray,
    *,
    k: float = 1.0,
    h: float = 8.0,
    lam: float = 0.2,
    state: DriftState | None = None,
) -> FeatureDrift:
    """Upper CUSUM and EWMA of robust z-scores ``[n_machines, n_samples, n_features]``.

    ``S_t = max(0, S_{t-1} + z_t - k)`` evaluated without a sample loop through
    ``S_t = A_t - min(-S_0, min_{j<=t} A_j)`` with ``A_t = sum_{i<=t} (z_i - k)``;
    ``E_t = lam z_t + (1 - lam) E_{t-1}`` by a cumulative product identity. A NaN z
    (missing sample, no baseline yet) leaves both charts where they were.
    For a feature where a *fall* means damage (a pressure, an efficiency), pass -z.
    """
    a = v.as_float("z", z, allow_nan=True)
    if a.ndim != 3:
        raise ValueError(f"z must be [n_machines, n_samples, n_features], got shape {a.shape}")
    if not k >= 0 or not h > 0 or not 0 < lam <= 1:
        raise ValueError(f"need k >= 0, h > 0 and 0 < lam <= 1, got k={k}, h={h}, lam={lam}")
    m, n, nf = a.shape
    st = state if state is not None else DriftState.zeros(m, nf)
    if st.cusum.shape != (m, nf):
        raise ValueError(f"state is for shape {st.cusum.shape}, z has {(m, nf)} machines x features")
    cus = _cusum(a, k, st.cusum)
    ewma = _ewma(a, lam, st.ewma)
    alarm_f: np.ndarray = cus > h
    alarm: np.ndarray = np.any(alarm_f, axis=-1)
    first = np.where(alarm.any(axis=1), alarm.argmax(axis=1), -1)
    at = np.clip(first, 0, None)
    feature = np.where(first >= 0, alarm_f[np.arange(m), at].argmax(axis=-1), -1)
    new_state = DriftState(cus[:, -1] if n else st.cusum, ewma[:, -1] if n else st.ewma)
    return FeatureDrift(cus, ewma, alarm, first, feature, new_state)


# ------------------------------------------------------------ the engine, and the classic charts


def _cusum(z: np.ndarray, k: float, s0: np.ndarray) -> np.ndarray:
    """Upper CUSUM along axis 1 of ``[m, n, f]``, started at s0 ``[m, f]``; NaN holds the value.

    ``S_t = max(0, S_{t-1} + z_t - k)`` without a sample loop, through the identity
    ``S_t = A_t - min(-S_0, min_{j<=t} A_j)`` with ``A_t = sum_{i<=t} (z_i - k)``; the
    cumulative sum costs some rounding on very long series (about 1e-16 x |A|).
    """
    acc = np.cumsum(np.where(np.isnan(z), 0.0, z - k), axis=1)
    floor = np.minimum(np.minimum.accumulate(acc, axis=1), -s0[:, None, :])
    return acc - floor


def _ewma(z: np.ndarray, lam: float, e0: np.ndarray) -> np.ndarray:
    """EWMA along axis 1 that holds its value over NaN samples, started at e0.

    With weights w_t = 1 - lam where z_t is present (1 where missing), E_t =
    P_t (e0 + sum_{i<=t} lam z_i / P_i) with P_t = prod_{i<=t} w_i. The division by
    P_i underflows after ~7,000 samples at lam = 0.2, so the series is processed in
    blocks that each restart from the last value.
    """
    n = z.shape[1]
    if lam == 1:  # no memory: the last present value
        last = np.where(np.isnan(z), -1, np.arange(n)[None, :, None])
        last = np.maximum.accumulate(last, axis=1)
        held = np.take_along_axis(z, np.maximum(last, 0), axis=1)
        return np.where(last >= 0, held, e0[:, None, :])
    out = np.empty_like(z)
    block = max(1, int(600 / -np.log1p(-lam)))  # P stays above ~1e-260
    start = e0
    for b in range(0, n, block):  # a handful of blocks, not a loop over samples
        zb = z[:, b : b + block]
        present = ~np.isnan(zb)
        w = np.where(present, 1.0 - lam, 1.0)
        p = np.cumprod(w, axis=1)
        inc = np.where(present, lam * np.nan_to_num(zb), 0.0) / p
        out[:, b : b + block] = p * (start[:, None, :] + np.cumsum(inc, axis=1))
        start = out[:, min(b + block, n) - 1]
    return out


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
    return _result(_single(z, _ewma(z[..., None], lam, np.zeros((z.shape[0], 1)))), limit)


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
    one-sided chart). Shapes and NaN baselines are handled as in `ewma_drift`.
    """
    z = _standardise(x, loc, scale)
    if not k >= 0 or not h > 0:
        raise ValueError(f"need k >= 0 and h > 0, got k={k}, h={h}")
    statistic = _single(z, _cusum(z[..., None], k, np.zeros((z.shape[0], 1))))
    return _result(statistic, np.full(z.shape[-1], float(h)))


def _single(z: np.ndarray, chart: np.ndarray) -> np.ndarray:
    """The engine's one-feature chart ``[m, n, 1]`` as ``[m, n]``; NaN where z is (no baseline)."""
    return np.where(np.isnan(z), np.nan, chart[..., 0])


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
