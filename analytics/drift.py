"""Online healthy baselines and drift charts on many features of many machines.

A machine is judged against itself: the first bursts it sends (after installation or
after maintenance) are learnt as its healthy baseline, feature by feature, with median
and MAD so that a thread break or a bump while learning does not inflate it. After that
the baseline is frozen: a baseline that kept learning would slowly absorb the wear it is
meant to reveal.

Every feature is then a robust z-score against that baseline, and an upper CUSUM (plus
an EWMA for the dashboard) accumulates evidence of a rise. The charts carry their state
from one call to the next, so the service can feed each new window as it arrives.

The alarm is deliberately conservative (CUSUM k = 1, h = 8 sigma by default): a real
bearing defect moves RMS or envelope lines by many sigma, while healthy machines drift
by a sigma or two over days (temperature, run-in). On the four healthy IMS bearings
(1,600 snapshots) k = 0.5, h = 5 fired on slow drifts of kurtosis and crest factor;
k = 1, h = 8 never did, and still needs only about 3 samples for a 4-sigma rise.
Scales are floored at a relative `rel_floor` for the same reason: a 1 % wobble of a very
steady feature is not a fault however many MADs it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tonle.kernels import checks as v

__all__ = ["DriftState", "FeatureDrift", "OnlineBaseline", "feature_drift", "robust_z"]

MAD_TO_SIGMA = 1.4826  # as analytics.health; repeated so this module needs numpy only (edge-safe)


@dataclass
class OnlineBaseline:
    """Healthy baseline of ``n_features`` per machine, learnt from each machine's first samples.

    values: [n_machines, capacity, n_features] the samples learnt so far (NaN = empty).
    count:  [n_machines] how many samples each machine has learnt.

    A sample (one row of features) is learnt only if every feature is finite, so all
    features of a machine are learnt from the same bursts. Scales are floored at
    ``max(rel_floor x |location|, abs_floor)``; pass log-features (log RMS, log line
    energy) when changes are multiplicative, and the floor is then absolute: 0.05 in
    log units is a 5 % change.
    """

    values: np.ndarray
    count: np.ndarray
    min_samples: int = 10
    rel_floor: float = 0.0
    abs_floor: float | np.ndarray = 0.05
    _cache: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @classmethod
    def empty(
        cls,
        n_machines: int,
        n_features: int,
        capacity: int = 30,
        *,
        min_samples: int = 10,
        rel_floor: float = 0.0,
        abs_floor: float | np.ndarray = 0.05,
    ) -> OnlineBaseline:
        """A baseline with nothing learnt yet; `abs_floor` may be one value per feature."""
        capacity = v.check_count("capacity", capacity, minimum=1)
        min_samples = v.check_count("min_samples", min_samples, minimum=1)
        if min_samples > capacity:
            raise ValueError(f"min_samples={min_samples} cannot exceed capacity={capacity}")
        floor = v.as_float("abs_floor", abs_floor)
        if rel_floor < 0 or (floor <= 0).any() or floor.shape not in ((), (n_features,)):
            raise ValueError(
                f"need rel_floor >= 0 and abs_floor > 0 (a scalar or one per feature), "
                f"got {rel_floor}, {abs_floor}"
            )
        shape = (
            v.check_count("n_machines", n_machines, minimum=0),
            capacity,
            v.check_count("n_features", n_features, minimum=1),
        )
        return cls(
            np.full(shape, np.nan), np.zeros(shape[0], dtype=np.int64), min_samples, rel_floor, abs_floor
        )

    @property
    def capacity(self) -> int:
        return self.values.shape[1]

    @property
    def learned(self) -> np.ndarray:
        """bool [n_machines]: the baseline is full and frozen."""
        return self.count >= self.capacity

    @property
    def ready(self) -> np.ndarray:
        """bool [n_machines]: enough samples (`min_samples`) to judge the machine."""
        return self.count >= self.min_samples

    def update(self, x: np.ndarray) -> np.ndarray:
        """Learn new samples ``[n_machines, n_new, n_features]`` (NaN rows are skipped).

        Only machines still learning take samples, in time order, up to `capacity`.
        Returns bool ``[n_machines, n_new]``: which samples were learnt (the rest are
        to be judged against the baseline).
        """
        a = v.as_float("x", x, allow_nan=True)
        m, cap, nf = self.values.shape
        if a.ndim != 3 or a.shape[0] != m or a.shape[2] != nf:
            raise ValueError(f"x must be [n_machines={m}, n_new, n_features={nf}], got shape {a.shape}")
        good = np.isfinite(a).all(axis=-1)
        slot = self.count[:, None] + np.cumsum(good, axis=1) - 1  # where each good sample would go
        take = good & (slot < cap)
        rows, cols = np.nonzero(take)
        self.values[rows, slot[rows, cols]] = a[rows, cols]
        self.count += take.sum(axis=1)
        self._cache = None
        return take

    def reset(self, machines: np.ndarray) -> None:
        """Forget the baseline of these machines (bool mask or indices): after maintenance
        the machine is a new one and must be learnt again."""
        self.values[machines] = np.nan
        self.count[machines] = 0
        self._cache = None

    def location_scale(self) -> tuple[np.ndarray, np.ndarray]:
        """Median and floored MAD-sigma ``[n_machines, n_features]``; NaN until `ready`."""
        if self._cache is None:
            m, _, nf = self.values.shape
            loc = np.full((m, nf), np.nan)
            scale = np.full((m, nf), np.nan)
            ok = self.ready
            if ok.any():
                vals = self.values[ok]
                med = np.nanmedian(vals, axis=1)
                mad = np.nanmedian(np.abs(vals - med[:, None, :]), axis=1) * MAD_TO_SIGMA
                loc[ok] = med
                scale[ok] = np.maximum(mad, np.maximum(self.rel_floor * np.abs(med), self.abs_floor))
            self._cache = (loc, scale)
        return self._cache


def robust_z(x: np.ndarray, location: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(x - location) / scale`` with x ``[n_machines, n_samples, n_features]`` and the
    baseline ``[n_machines, n_features]``; NaN where either is missing."""
    a = v.as_float("x", x, allow_nan=True)
    loc = v.as_float("location", location, allow_nan=True)
    sc = v.as_float("scale", scale, allow_nan=True)
    if a.ndim != 3 or loc.shape != (a.shape[0], a.shape[2]) or sc.shape != loc.shape:
        raise ValueError(
            f"x must be [n_machines, n_samples, n_features] and location/scale [n_machines, n_features], "
            f"got {a.shape}, {loc.shape}, {sc.shape}"
        )
    if (sc <= 0).any():
        raise ValueError("scale must be > 0: floor it (OnlineBaseline does)")
    return (a - loc[:, None, :]) / sc[:, None, :]


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
    missing = np.isnan(a)
    steps = np.where(missing, 0.0, a - k)
    acc = np.cumsum(steps, axis=1)
    floor = np.minimum(np.minimum.accumulate(acc, axis=1), -st.cusum[:, None, :])
    cus = acc - floor
    ewma = _ewma(np.where(missing, np.nan, a), lam, st.ewma)
    alarm_f = cus > h
    alarm = alarm_f.any(axis=-1)
    first = np.where(alarm.any(axis=1), alarm.argmax(axis=1), -1)
    at = np.clip(first, 0, None)
    feature = np.where(first >= 0, alarm_f[np.arange(m), at].argmax(axis=-1), -1)
    new_state = DriftState(cus[:, -1] if n else st.cusum, ewma[:, -1] if n else st.ewma)
    return FeatureDrift(cus, ewma, alarm, first, feature, new_state)


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
