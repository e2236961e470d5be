"""`RulModel`: remaining useful life from runs to failure, with a band that always has two ends.

fit(units): each unit is one run to failure, ``[cycles, features]`` (the last row is the
failure). A health index is fused from the features by least squares (Wang, Yu, Siegel &
Lee 2008, `analytics.health.fit_linear_health`): 1 on each unit's first `healthy_cycles`
rows, 0 on its last `failed_cycles`. The failure level and its spread between units come
from the units' last 5 cycles.

predict(history): the history's own first `healthy_cycles` rows give its healthy level and
noise; the damage trend is extrapolated to the failure level (`analytics.rul.rul_from_health`,
exponential). Before a trend shows, the answer is what the training units had left at such
moments (median, and the band's quantiles), so there is always an estimate and both ends.
Estimates are capped at `max_rul` (early in life nothing predicts the end).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analytics.health import LinearHealth, fit_linear_health
from analytics.rul import rul_from_health
from tonle.kernels import checks as v

__all__ = ["RulModel"]


class RulModel:
    """Fit on runs to failure, predict (estimate, low, high) in cycles for a partial history."""

    def __init__(
        self,
        *,
        healthy_cycles: int = 30,
        failed_cycles: int = 10,
        max_rul: float = 125.0,
        coverage: float = 0.8,
    ) -> None:
        self.healthy_cycles = v.check_count("healthy_cycles", healthy_cycles, minimum=3)
        self.failed_cycles = v.check_count("failed_cycles", failed_cycles, minimum=1)
        if not max_rul > 0 or not 0 < coverage < 1:
            raise ValueError(f"need max_rul > 0 and 0 < coverage < 1, got {max_rul}, {coverage}")
        self.max_rul, self.coverage = float(max_rul), float(coverage)
        self._health: LinearHealth | None = None
        self._h_fail = self._fail_sd = 0.0
        self._quiet = (max_rul, max_rul, max_rul)

    def fit(self, units: Sequence[np.ndarray]) -> RulModel:
        """Learn from runs to failure (each ``[cycles, features]``, same columns); returns self."""
        runs = [v.as_float("unit", u) for u in units]
        if len(runs) < 2 or any(r.ndim != 2 or r.shape[1] != runs[0].shape[1] for r in runs):
            raise ValueError("units must be at least 2 arrays [cycles, features] with the same columns")
        short = [i for i, r in enumerate(runs) if len(r) < self.healthy_cycles + self.failed_cycles]
        if short:
            raise ValueError(f"units {short} are shorter than healthy_cycles + failed_cycles")
        x = np.concatenate(runs)
        healthy = np.concatenate([np.arange(len(r)) < self.healthy_cycles for r in runs])
        failed = np.concatenate([np.arange(len(r)) >= len(r) - self.failed_cycles for r in runs])
        self._health = fit_linear_health(x, healthy, failed)
        h = [self._health(r) for r in runs]
        ref = np.array([np.median(u[: self.healthy_cycles]) for u in h])
        end = np.array([np.mean(u[-5:]) for u in h])
        self._h_fail = float(end.mean())
        self._fail_sd = float(np.std(np.log(np.maximum(ref - end, 1e-9))))
        self._quiet = self._no_trend_answer(runs)
        return self

    def predict(self, history: np.ndarray) -> tuple[float, float, float]:
        """(estimate, low, high) cycles left after the last row of `history` ``[cycles, features]``."""
        est, low, high = self.predict_many([history])
        return float(est[0]), float(low[0]), float(high[0])

    def predict_many(self, histories: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`predict` for many histories at once (arrays [n] each)."""
        if self._health is None:
            raise ValueError("RulModel.predict before fit: call fit(units) on runs to failure first")
        health = self._health
        rows = [health(v.as_float("history", hh)) for hh in histories]
        est = self._trend(rows)
        q_med, q_lo, q_hi = self._quiet
        quiet = np.isnan(est[3])
        rul = np.where(quiet, q_med, est[0])
        low = np.where(quiet, q_lo, est[1])
        high = np.where(quiet | ~np.isfinite(est[2]), np.maximum(q_hi, rul), est[2])
        return rul, np.minimum(low, rul), np.minimum(np.maximum(high, rul), self.max_rul * 1.5)

    def _trend(self, rows: list[np.ndarray]) -> np.ndarray:
        n = max(len(r) for r in rows)
        h = np.full((len(rows), n), np.nan)
        for i, r in enumerate(rows):
            h[i, : len(r)] = r
        early = h[:, : self.healthy_cycles]
        ref = np.nanmedian(early, axis=1)
        noise = np.maximum(1.4826 * np.nanmedian(np.abs(early - ref[:, None]), axis=1), 1e-6)
        e = rul_from_health(
            np.arange(n, dtype=np.float64),
            h,
            h_ref=ref,
            h_fail=self._h_fail,
            noise=noise,
            fail_sd=self._fail_sd,
            max_rul=self.max_rul,
            coverage=self.coverage,
        )
        return np.stack([e.rul, e.lower, e.upper, e.rate])

    def _no_trend_answer(self, runs: list[np.ndarray]) -> tuple[float, float, float]:
        """What the training units had left at every 5th cycle while no trend showed."""
        cuts = [(i, c) for i, r in enumerate(runs) for c in range(self.healthy_cycles + 1, len(r), 5)]
        est = self._trend([self._health(runs[i][:c]) for i, c in cuts])  # type: ignore[misc]
        left = np.array([len(runs[i]) - c for i, c in cuts], dtype=np.float64)
        quiet = left[np.isnan(est[3])]
        if quiet.size == 0:
            return self.max_rul, self.max_rul, self.max_rul
        tail = (1 - self.coverage) / 2 * 100
        capped = np.minimum(quiet, self.max_rul)
        return (
            float(np.median(capped)),
            float(np.percentile(capped, tail)),
            float(np.percentile(quiet, 100 - tail)),
        )
