"""`HealthMonitor`: online health of one machine from any feature vector, one snapshot at a time.

Defaults suit a machine nothing is known about. Each feature is compared with the machine's
own healthy baseline (median and MAD of its first `learn` running snapshots, scale floored
at 5 % of the level, `analytics.baseline.OnlineBaseline`) as a robust z-score; an upper CUSUM per feature
(`analytics.drift.feature_drift`, k = 1, h = 8) raises the alarm on a sustained rise,
which is what wear does. Health in [0, 1] falls linearly from 1 at z = 2 to 0 at z = 12
on the worst feature.

Stops and restarts: a snapshot with a non-finite feature, or whose first feature (put a
level such as RMS first) is below `stopped_below` x its running level, is *stopped*: it is not
judged and does not move the charts. After a stop longer than `long_stop_s` (or a call to
`maintenance()`), the levels may have shifted (re-seated parts, fresh grease, a cold
machine): the charts restart and a new baseline is learnt from the next `learn` running
snapshots, during which no alarm is raised. The cost, stated: wear that happened during the
stop is absorbed into the new baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.baseline import OnlineBaseline, robust_z
from analytics.drift import DriftState, feature_drift
from tonle.kernels import checks as v

__all__ = ["HealthMonitor", "HealthUpdate"]

WHY = ("learning", "stopped", "ok", "drift")
"""Values of `HealthUpdate.why` (``drift`` is followed by ``:<feature index>``)."""


@dataclass(frozen=True, slots=True)
class HealthUpdate:
    """health in [0, 1] (NaN while learning or stopped); alarm; why: a code from `WHY`."""

    health: float
    alarm: bool
    why: str


class HealthMonitor:
    """Online health of one machine; see the module docstring for the rules."""

    def __init__(
        self,
        *,
        learn: int = 30,
        long_stop_s: float = 4 * 3600.0,
        stopped_below: float = 0.2,
        k: float = 1.0,
        h: float = 8.0,
    ) -> None:
        self.learn = v.check_count("learn", learn, minimum=3)
        if not long_stop_s > 0 or not 0 <= stopped_below < 1 or not k >= 0 or not h > 0:
            raise ValueError("need long_stop_s > 0, 0 <= stopped_below < 1, k >= 0 and h > 0")
        self.long_stop_s, self.stopped_below, self.k, self.h = float(long_stop_s), stopped_below, k, h
        self._base: OnlineBaseline | None = None
        self._drift: DriftState | None = None
        self._last_run_s = float("nan")

    def maintenance(self) -> None:
        """A part was replaced or the machine serviced: learn it afresh from the next snapshots."""
        self._base = None
        self._drift = None

    def update(self, t_s: float, features: np.ndarray | list[float]) -> HealthUpdate:
        """Judge one snapshot (features in the same order every time) taken at `t_s` seconds."""
        x = v.as_float("features", features, allow_nan=True).reshape(-1)
        if x.size == 0:
            raise ValueError("features must hold at least one value")
        if self._base is not None and self._base.values.shape[2] != x.size:
            raise ValueError(f"features changed length: {x.size}, learnt with {self._base.values.shape[2]}")
        if self._stopped(x):
            return HealthUpdate(float("nan"), False, "stopped")
        if self._last_run_s == self._last_run_s and t_s - self._last_run_s > self.long_stop_s:
            self.maintenance()  # a long stop: levels may have moved, learn them again
        self._last_run_s = float(t_s)
        if self._base is None:
            self._base = OnlineBaseline.empty(
                1, x.size, self.learn, min_samples=self.learn, rel_floor=0.05, abs_floor=1e-9
            )
            self._drift = DriftState.zeros(1, x.size)
        if self._base.update(x[None, None, :])[0, 0] or not self._base.ready[0]:
            return HealthUpdate(float("nan"), False, "learning")
        loc, scale = self._base.location_scale()
        z = robust_z(x[None, None, :], loc, scale)
        chart = feature_drift(z, k=self.k, h=self.h, state=self._drift)
        self._drift = chart.state
        health = float(np.clip(1.0 - (np.nanmax(z) - 2.0) / 10.0, 0.0, 1.0))
        if chart.alarm[0, 0]:
            return HealthUpdate(health, True, f"drift:{int(np.argmax(chart.cusum[0, 0]))}")
        return HealthUpdate(health, False, "ok")

    def _stopped(self, x: np.ndarray) -> bool:
        if not np.isfinite(x).all():
            return True
        if self._base is None or self._base.count[0] < 3:
            return False
        level = float(np.nanmedian(self._base.values[0, :, 0]))  # the first feature's running level
        return bool(x[0] < self.stopped_below * level)
