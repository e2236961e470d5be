"""`RulModel`: remaining useful life from runs to failure, with a calibrated band that has two ends.

The estimate is a regression of the remaining life on what a history looks like now, not an
extrapolated trend: trends of noisy sensors are late and unstable, and the literature's
best simple methods on C-MAPSS regress a *piece-wise linear* target (remaining life capped
at `max_rul`: early in life nothing shows the end, Heimes 2008) on smoothed sensor levels.

Features of a history ``[cycles, features]`` at its last row: its age; each column's mean
over the last `short` and `long` rows (noise falls as 1/sqrt of the window); each column's
least-squares slope over the last `slope` rows; and each column's `long` mean minus the
mean of the history's own first `healthy_cycles` rows (every machine starts with its own
wear and build tolerances; the change from its own start is what wear did). Standardised
with the training units' mean and spread, they feed a ridge regression on the features plus
random Fourier features of an RBF kernel (Rahimi & Recht 2007): a smooth non-linear fit in
closed form, numpy only, the same answer for the same `seed`.

Honest choices (nothing fitted on a unit it is judged on): `fit` splits the training units
into `inner_folds` groups by unit; for each candidate smoothing in `SMOOTHING` it fits on
the other groups and predicts every cut of the held-out group (every row from
`healthy_cycles` + 1 on whose remaining life is at most `horizon`). The smoothing with the
lowest inner RMSE is kept, and its held-out residuals calibrate the band (split conformal,
Mondrian by estimate: residual quantiles within `bands` bins of the estimate, because an
engine near its end is known far better than a young one). Then the final model is fitted on
all training units. The band's nominal coverage is `coverage`; it always has both ends and
``0 <= low <= estimate <= high``. Its stated assumption: the truth of a history to be judged
lies within `horizon` cycles (as in the C-MAPSS test sets, whose truths are at most 145);
a young machine's upper end says "at least this much", not a hard limit.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tonle.kernels import checks as v

__all__ = ["SMOOTHING", "RulModel", "history_features"]

SMOOTHING = ((5, 20, 30), (10, 30, 50), (15, 40, 60))
"""Candidate (short mean, long mean, slope) windows in rows; `fit` picks one by inner CV."""
RIDGE, GAMMA, N_RFF = 1.0, 0.01, 300


def history_features(run: np.ndarray, smoothing: tuple[int, int, int], healthy_cycles: int) -> np.ndarray:
    """Features of every prefix ``run[:c]`` (c = 1..n) of one history ``[n, f]`` -> ``[n, 1 + 4 f]``."""
    n, f = run.shape
    idx = np.arange(1, n + 1)
    cs = np.vstack([np.zeros(f), np.cumsum(run, axis=0)])
    out = [idx[:, None].astype(np.float64)]
    for w in smoothing[:2]:
        lo = np.maximum(idx - w, 0)
        out.append((cs[idx] - cs[lo]) / (idx - lo)[:, None])
    t = np.arange(n, dtype=np.float64)
    ct, ctt = np.r_[0.0, np.cumsum(t)], np.r_[0.0, np.cumsum(t * t)]
    cty = np.vstack([np.zeros(f), np.cumsum(run * t[:, None], axis=0)])
    lo = np.maximum(idx - smoothing[2], 0)
    m = (idx - lo).astype(np.float64)
    st, stt, sy, sty = ct[idx] - ct[lo], ctt[idx] - ctt[lo], cs[idx] - cs[lo], cty[idx] - cty[lo]
    den = m * stt - st**2
    safe = np.where(den > 0, den, 1.0)[:, None]
    out.append(np.where(den[:, None] > 0, (m[:, None] * sty - st[:, None] * sy) / safe, 0.0))
    k = np.minimum(idx, healthy_cycles)
    out.append(out[2] - cs[k] / k[:, None])
    return np.hstack(out)


class _Ridge:
    """Ridge regression on standardised features plus random Fourier features (RBF kernel)."""

    def __init__(self, x: np.ndarray, y: np.ndarray, seed: int) -> None:
        self.mu, self.sd = x.mean(axis=0), x.std(axis=0) + 1e-9
        rng = np.random.default_rng(seed)
        self.w_rff = rng.normal(0.0, np.sqrt(2 * GAMMA), (x.shape[1], N_RFF))
        self.b_rff = rng.uniform(0.0, 2 * np.pi, N_RFF)
        d = self._design(x)
        self.coef = np.linalg.solve(d.T @ d + RIDGE * np.eye(d.shape[1]), d.T @ y)

    def _design(self, x: np.ndarray) -> np.ndarray:
        z = (x - self.mu) / self.sd
        rff = np.sqrt(2.0 / N_RFF) * np.cos(z @ self.w_rff + self.b_rff)
        return np.hstack([z, rff, np.ones((len(z), 1))])

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return np.asarray(self._design(x) @ self.coef)


class RulModel:
    """Fit on runs to failure, predict (estimate, low, high) in cycles for a partial history."""

    def __init__(
        self,
        *,
        healthy_cycles: int = 30,
        failed_cycles: int = 10,
        max_rul: float = 125.0,
        coverage: float = 0.8,
        horizon: float = 150.0,
        inner_folds: int = 5,
        bands: int = 4,
        seed: int = 0,
    ) -> None:
        self.healthy_cycles = v.check_count("healthy_cycles", healthy_cycles, minimum=3)
        self.failed_cycles = v.check_count("failed_cycles", failed_cycles, minimum=1)  # kept; unused
        self.inner_folds = v.check_count("inner_folds", inner_folds, minimum=2)
        self.bands = v.check_count("bands", bands, minimum=1)
        if not max_rul > 0 or not 0 < coverage < 1 or not horizon > 0:
            raise ValueError(
                f"need max_rul > 0, horizon > 0, 0 < coverage < 1: {max_rul}, {horizon}, {coverage}"
            )
        self.max_rul, self.coverage, self.horizon = float(max_rul), float(coverage), float(horizon)
        self.seed = int(seed)
        self.smoothing: tuple[int, int, int] = SMOOTHING[0]
        self.inner_rmse: dict[tuple[int, int, int], float] = {}
        self._model: _Ridge | None = None
        self._edges = np.zeros(0)
        self._q = np.zeros((1, 2))

    def fit(self, units: Sequence[np.ndarray]) -> RulModel:
        """Learn from runs to failure (each ``[cycles, features]``, same columns); returns self."""
        runs = [v.as_float("unit", u) for u in units]
        if len(runs) < self.inner_folds or any(r.ndim != 2 or r.shape[1] != runs[0].shape[1] for r in runs):
            raise ValueError(
                f"units must be at least inner_folds={self.inner_folds} arrays [cycles, features] "
                "with the same columns"
            )
        short = [i for i, r in enumerate(runs) if len(r) <= self.healthy_cycles + 1]
        if short:
            raise ValueError(f"units {short} are not longer than healthy_cycles + 1 rows")
        groups = np.array_split(np.random.default_rng(self.seed).permutation(len(runs)), self.inner_folds)
        best: tuple[float, tuple[int, int, int], np.ndarray, np.ndarray] | None = None
        for smoothing in SMOOTHING:
            feats = [history_features(r, smoothing, self.healthy_cycles) for r in runs]
            est, truth = self._held_out(feats, groups)
            rmse = float(np.sqrt(np.mean((est - truth) ** 2)))
            self.inner_rmse[smoothing] = rmse
            if best is None or rmse < best[0]:
                best = (rmse, smoothing, est, truth)
        assert best is not None
        _, self.smoothing, est, truth = best
        self._calibrate(est, truth)
        feats = [history_features(r, self.smoothing, self.healthy_cycles) for r in runs]
        self._model = self._fit_one(feats, range(len(runs)))
        return self

    def predict(self, history: np.ndarray) -> tuple[float, float, float]:
        """(estimate, low, high) cycles left after the last row of `history` ``[cycles, features]``."""
        est, low, high = self.predict_many([history])
        return float(est[0]), float(low[0]), float(high[0])

    def predict_many(self, histories: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`predict` for many histories at once (arrays [n] each)."""
        if self._model is None:
            raise ValueError("RulModel.predict before fit: call fit(units) on runs to failure first")
        rows = []
        for hh in histories:
            h = v.as_float("history", hh)
            if h.ndim != 2 or h.shape[0] < 1:
                raise ValueError("a history must be an array [cycles, features] with at least one row")
            rows.append(history_features(h, self.smoothing, self.healthy_cycles)[-1])
        est = np.clip(self._model(np.vstack(rows)), 0.0, self.max_rul)
        q = self._q[np.searchsorted(self._edges, est, side="right")]
        low = np.clip(est + q[:, 0], 0.0, est)
        high = np.maximum(est + q[:, 1], est)
        return est, low, high

    def _targets(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """(row index of each training cut, its remaining life) for a run of n rows."""
        rows = np.arange(self.healthy_cycles, n)
        return rows, (n - 1 - rows).astype(np.float64)

    def _fit_one(self, feats: list[np.ndarray], members: Sequence[int] | range) -> _Ridge:
        cuts = [self._targets(len(feats[i])) for i in members]
        x = np.vstack([feats[i][rows] for i, (rows, _) in zip(members, cuts, strict=True)])
        y = np.concatenate([np.minimum(left, self.max_rul) for _, left in cuts])
        return _Ridge(x, y, self.seed)

    def _held_out(self, feats: list[np.ndarray], groups: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Estimates and truths of every cut within `horizon` of the end, each unit held out once."""
        est, truth = [], []
        for held in groups:
            keep = set(held.tolist())
            model = self._fit_one(feats, [i for i in range(len(feats)) if i not in keep])
            for i in held:
                rows, left = self._targets(len(feats[i]))
                near = left <= self.horizon
                est.append(np.clip(model(feats[i][rows[near]]), 0.0, self.max_rul))
                truth.append(left[near])
        return np.concatenate(est), np.concatenate(truth)

    def _calibrate(self, est: np.ndarray, truth: np.ndarray) -> None:
        """Split-conformal residual quantiles within `bands` bins of the estimate (Mondrian)."""
        self._edges = np.quantile(est, np.linspace(0, 1, self.bands + 1)[1:-1])
        which = np.searchsorted(self._edges, est, side="right")
        tail = (1 - self.coverage) / 2
        q = np.zeros((self.bands, 2))
        for b in range(self.bands):
            r = truth[which == b] - est[which == b]
            n = max(r.size, 1)
            lo = max(np.floor(tail * (n + 1)) / n, 0.0)
            hi = min(np.ceil((1 - tail) * (n + 1)) / n, 1.0)
            q[b] = np.quantile(r, [lo, hi]) if r.size else (-self.max_rul, self.max_rul)
        self._q = q
