"""Robust healthy baselines: median and MAD per machine and feature, batch or online.

A machine is judged against itself. Its healthy baseline is the median and MAD of its
first bursts (after installation or after maintenance), feature by feature, so that a
thread break or a bump while learning does not inflate it. After that the baseline is
frozen: a baseline that kept learning would slowly absorb the wear it is meant to reveal.
`robust_baseline` learns it from a batch, `OnlineBaseline` from samples as they arrive;
both go through one kernel (`_location_scale`). Scales are floored (`rel_floor`,
`abs_floor`): a 1 % wobble of a very steady feature is not a fault however many MADs it
is. Numpy only (edge-safe).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from tonle.kernels import checks as v

__all__ = ["MAD_TO_SIGMA", "Baseline", "OnlineBaseline", "robust_baseline", "robust_z"]

MAD_TO_SIGMA = 1.4826
"""MAD x this estimates the standard deviation for Gaussian data (1 / Phi^-1(3/4))."""


class Baseline(NamedTuple):
    """Robust location (median) and scale (MAD x 1.4826, floored); NaN without enough data."""

    location: np.ndarray
    scale: np.ndarray


def _location_scale(
    x: np.ndarray, axis: int, rel_floor: float, abs_floor: float | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Median and MAD-sigma along `axis`, the scale floored at ``max(rel_floor |median|, abs_floor)``.

    The caller passes only rows with at least one finite value, so nanmedian never warns.
    """
    med = np.nanmedian(x, axis=axis)
    mad = np.nanmedian(np.abs(x - np.expand_dims(med, axis)), axis=axis) * MAD_TO_SIGMA
    return med, np.maximum(mad, np.maximum(rel_floor * np.abs(med), abs_floor))


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
    location[enough], scale[enough] = _location_scale(a[enough], -1, rel_floor, abs_floor)
    return Baseline(location, scale)


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
                loc[ok], scale[ok] = _location_scale(self.values[ok], 1, self.rel_floor, self.abs_floor)
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
