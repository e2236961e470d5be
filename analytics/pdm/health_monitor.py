"""`HealthMonitor`: online health of one machine from any feature vector, one snapshot at a time.

Defaults suit a machine nothing is known about. Each feature is compared with the machine's
own healthy baseline (median and MAD-sigma of its first `learn` running snapshots, scale
floored at 5 % of the level, `analytics.baseline.robust_baseline`) as a robust z-score; an
upper CUSUM per feature (`analytics.drift.feature_drift`, k = 1, h = 8) raises the alarm on a
sustained rise, which is what wear does. Health in [0, 1] falls linearly from 1 at z = 2 to
0 at z = 12 on the worst feature.

Running or stopped: the caller may say so (``update(..., running=False)``, e.g. from a
spindle-on signal or the machine state); otherwise a snapshot with a non-finite feature,
or whose first feature (put a level such as RMS first) is below `stopped_below` x its
running level, is *stopped*. A stopped snapshot is not judged and does not move the charts.

Restarts never alarm by themselves (the stop logic is `analytics.pdm.stops`, which the
service's judgement in `analytics.prognostics` runs too):
- after any stop (a gap longer than `long_stop_s` counts as one), the first `settle` running
  snapshots are not judged (a cold machine, a spindle run-up, grease redistributing);
- after a stop longer than `long_stop_s`, levels may have moved (re-seated parts, fresh
  grease, a different job): the CUSUMs restart from zero and a new `learn`-snapshot sample is
  taken, during which no alarm is raised. Then, feature by feature, the old baseline is *held*
  if the new median is no higher than the old one and at most `hold_z` old sigmas lower
  (nothing moved up: the baseline learnt over the longer, earlier stretch is the better one,
  and a quiet stretch after the restart would otherwise give a too-low baseline that alarms
  when the feature's usual episodes return, as IMS bearing 3's kurtosis does); a feature that
  moved up, or far down, is *re-baselined* at its new median, with a scale no narrower than
  the old one (the machine's known spread). Holding a level that sits higher than a rise the
  CUSUM tolerates (about k sigmas) would alarm on the restart itself, so rises are never held.
  The cost, stated: wear that happened during the stop is absorbed into the new level, and a
  held feature that came back quieter needs that much more rise before it alarms.
- `maintenance()` (a part replaced, a machine serviced) forgets the baseline: the next
  `learn` running snapshots learn it afresh, old spread included.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.baseline import robust_baseline, robust_z
from analytics.drift import DriftState, feature_drift
from analytics.pdm.stops import RunGate, hold_or_move
from tonle.kernels import checks as v

__all__ = ["WHY", "HealthMonitor", "HealthUpdate"]

WHY = ("learning", "stopped", "settling", "ok", "drift")
"""Values of `HealthUpdate.why` (``drift`` is followed by ``:<feature index>``)."""
REL_FLOOR = 0.05


@dataclass(frozen=True, slots=True)
class HealthUpdate:
    """health in [0, 1] (NaN unless judged); alarm; why: a code from `WHY`."""

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
        settle: int = 3,
        hold_z: float = 3.0,
    ) -> None:
        self.learn = v.check_count("learn", learn, minimum=3)
        self.settle = v.check_count("settle", settle, minimum=0)
        if not long_stop_s > 0 or not 0 <= stopped_below < 1 or not k >= 0 or not h > 0 or not hold_z >= 0:
            raise ValueError("need long_stop_s > 0, 0 <= stopped_below < 1, k >= 0, h > 0 and hold_z >= 0")
        self.long_stop_s, self.stopped_below, self.k, self.h = float(long_stop_s), stopped_below, k, h
        self.hold_z = float(hold_z)
        self._loc: np.ndarray | None = None  # the baseline in force, [features]
        self._scale: np.ndarray | None = None
        self._sample: list[np.ndarray] = []  # running snapshots being learnt
        self._drift: DriftState | None = None
        self._gate = RunGate(self.long_stop_s, self.settle)  # shared with the service

    def maintenance(self) -> None:
        """A part was replaced or the machine serviced: learn it afresh from the next snapshots."""
        self._loc = self._scale = None
        self._sample = []
        self._drift = None

    def update(
        self, t_s: float, features: np.ndarray | list[float], *, running: bool | None = None
    ) -> HealthUpdate:
        """Judge one snapshot (features in the same order every time) taken at `t_s` seconds.

        `running`: True or False when the caller knows whether the machine runs; None (the
        default) tells it from the features.
        """
        x = v.as_float("features", features, allow_nan=True).reshape(-1)
        if x.size == 0:
            raise ValueError("features must hold at least one value")
        known = (
            self._loc.size if self._loc is not None else (self._sample[0].size if self._sample else x.size)
        )
        if known != x.size:
            raise ValueError(f"features changed length: {x.size}, learnt with {known}")
        if (running is False) or not np.isfinite(x).all() or (running is None and self._low(x)):
            self._gate.stopped()
            return HealthUpdate(float("nan"), False, "stopped")
        step = self._gate.running(float(t_s))
        if step.long_stop and (self._loc is not None or self._sample):
            self._sample, self._drift = [], None  # relearn; _finish_learning holds or moves each feature
        if step.settling:
            return HealthUpdate(float("nan"), False, "settling")
        if self._drift is None:
            self._sample.append(x)
            if len(self._sample) < self.learn:
                return HealthUpdate(float("nan"), False, "learning")
            self._finish_learning()
            return HealthUpdate(float("nan"), False, "learning")
        return self._judge(x)

    def _finish_learning(self) -> None:
        """Baseline from the sample: new, or per feature held / moved against the old one."""
        sample = np.vstack(self._sample)
        base = robust_baseline(sample, axis=0, rel_floor=REL_FLOOR, abs_floor=1e-9, min_samples=self.learn)
        loc, scale = np.asarray(base.location), np.asarray(base.scale)
        if self._loc is not None and self._scale is not None:
            loc, scale = hold_or_move(self._loc, self._scale, loc, scale, self.hold_z)
        self._loc, self._scale = loc, scale
        self._sample = []
        self._drift = DriftState.zeros(1, loc.size)

    def _judge(self, x: np.ndarray) -> HealthUpdate:
        assert self._loc is not None and self._scale is not None
        z = robust_z(x[None, None, :], self._loc[None, :], self._scale[None, :])
        chart = feature_drift(z, k=self.k, h=self.h, state=self._drift)
        self._drift = chart.state
        health = float(np.clip(1.0 - (np.nanmax(z) - 2.0) / 10.0, 0.0, 1.0))
        if chart.alarm[0, 0]:
            return HealthUpdate(health, True, f"drift:{int(np.argmax(chart.cusum[0, 0]))}")
        return HealthUpdate(health, False, "ok")

    def _low(self, x: np.ndarray) -> bool:
        """The first feature is far below its running level (known from the baseline or the sample)."""
        if self._loc is not None:
            level = float(self._loc[0])
        elif len(self._sample) >= 3:
            level = float(np.median([s[0] for s in self._sample]))
        else:
            return False
        return bool(x[0] < self.stopped_below * level)
