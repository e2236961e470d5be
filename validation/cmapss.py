"""NASA C-MAPSS FD001: RUL from a fused health index, scored by unit-wise cross-validation.

The method in three public steps, so held-out files (the official test file) are scored
the same way the cross-validation scores its folds, with no code copied out of it:

    model = fit_cmapss(unit, cycle, sensors, train_units)   # learnt on those units only
    units, est = model.predict(test_unit, test_sensors)     # RUL at each unit's last cycle
    est = model.predict_at(h, rows, cuts)                    # or after any number of cycles

`evaluate_cmapss` runs those steps fold by fold and scores every cut from cycle 31 and
five test-like cuts per unit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import NamedTuple

import numpy as np

from analytics.health import LinearHealth, fit_linear_health
from analytics.rul import RulEstimate, rul_from_health
from validation.files import open_data

__all__ = [
    "CMAPSS_SENSORS",
    "FAILED_CYCLES",
    "HEALTHY_CYCLES",
    "MAX_RUL",
    "CmapssModel",
    "CmapssResult",
    "evaluate_cmapss",
    "every_cut",
    "fit_cmapss",
    "load_cmapss",
    "phm_score",
    "remaining_life",
    "unit_matrix",
]

CMAPSS_SENSORS = (2, 3, 4, 7, 8, 9, 11, 12, 13, 14, 15, 17, 20, 21)  # the ones that move (s1..s21)
HEALTHY_CYCLES = 30  # every test trajectory is at least 31 cycles long
FAILED_CYCLES = 10
MAX_RUL = 125.0  # the usual FD001 horizon: early in life nothing predicts the end
_COLUMNS = [s - 1 for s in CMAPSS_SENSORS]


def load_cmapss(data_dir: Path, name: str = "train_FD001.txt") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unit, cycle, sensors [n_rows, 21]) of a C-MAPSS file (`name`: e.g. test_FD001.txt)."""
    with open_data(Path(data_dir) / "cmapss_fd001" / name) as f:
        a = np.loadtxt(f)
    return a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 5:26]


def remaining_life(unit: np.ndarray, cycle: np.ndarray) -> np.ndarray:
    """Cycles left at each row of run-to-failure trajectories (0 at each unit's last cycle)."""
    units = np.unique(unit)
    last = np.zeros(units.size)
    np.maximum.at(last, np.searchsorted(units, unit), cycle)
    return last[np.searchsorted(units, unit)] - cycle


def unit_matrix(values: np.ndarray, unit: np.ndarray, which: np.ndarray) -> np.ndarray:
    """One row per unit in `which` (in that order), its values in file order, NaN-padded."""
    pick = np.isin(unit, which)
    u = unit[pick]
    sorter = np.argsort(which)
    row = sorter[np.searchsorted(which, u, sorter=sorter)]
    pos = _positions(u)
    out = np.full((len(which), int(pos.max()) + 1 if pos.size else 0), np.nan)
    out[row, pos] = values[pick]
    return out


def every_cut(length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, cut) for every cut from HEALTHY_CYCLES + 1 cycles to the end of each unit."""
    counts = np.maximum(length - HEALTHY_CYCLES, 0)
    rows = np.repeat(np.arange(length.size), counts)
    first = np.r_[0, np.cumsum(counts)[:-1]]
    cuts = HEALTHY_CYCLES + 1 + np.arange(rows.size) - np.repeat(first, counts)
    return rows, cuts


def phm_score(d: np.ndarray) -> np.ndarray:
    """PHM08 score per estimate, d = predicted - true: late (d > 0) costs more than early."""
    return np.where(d < 0, np.expm1(-d / 13.0), np.expm1(d / 10.0))


@dataclass(frozen=True, slots=True)
class CmapssModel:
    """What the training units teach, and all a prediction on other units needs.

    health:       the fused health index (14 sensors -> about 1 healthy, 0 failed).
    h_fail:       the failure level: mean health of the training units' last 5 cycles.
    fail_sd:      its spread between units, in log damage.
    no_trend_rul: the answer while no trend shows: the training units' median remaining
                  life at such moments.
    """

    health: LinearHealth
    h_fail: float
    fail_sd: float
    no_trend_rul: float

    def health_matrix(self, unit: np.ndarray, sensors: np.ndarray, which: np.ndarray) -> np.ndarray:
        """Health of the units `which`, one row each in that order, cycles in file order, NaN-padded."""
        return unit_matrix(self.health(sensors[:, _COLUMNS]), unit, which)

    def predict_at(self, h: np.ndarray, rows: np.ndarray, cuts: np.ndarray) -> RulEstimate:
        """RUL after the first `cuts[i]` cycles of row `rows[i]` of the health matrix `h`.

        Only those cycles are seen. Each unit's healthy level and noise come from its own
        first HEALTHY_CYCLES cycles (the online baseline). Where no degrading trend is
        established yet, the estimate and the early end of the band are `no_trend_rul`
        and the late end is infinite: the method has nothing to extrapolate.
        """
        seen = np.where(np.arange(h.shape[1]) < cuts[:, None], h[rows], np.nan)
        early = seen[:, :HEALTHY_CYCLES]
        ref = np.nanmedian(early, axis=1)
        noise = 1.4826 * np.nanmedian(np.abs(early - ref[:, None]), axis=1)
        est = rul_from_health(
            np.arange(h.shape[1], dtype=np.float64),
            seen,
            h_ref=ref,
            h_fail=self.h_fail,
            noise=noise,
            fail_sd=self.fail_sd,
            max_rul=MAX_RUL,
        )
        quiet = np.isnan(est.rate)
        return RulEstimate(
            rul=np.where(quiet, self.no_trend_rul, est.rul),
            lower=np.where(quiet, self.no_trend_rul, est.lower),
            upper=np.where(quiet, np.inf, est.upper),
            rate=est.rate,
            n_used=est.n_used,
        )

    def predict(self, unit: np.ndarray, sensors: np.ndarray) -> tuple[np.ndarray, RulEstimate]:
        """(units, RUL at each unit's last cycle) of trajectories cut short, e.g. test_FD001."""
        which = np.unique(unit)
        h = self.health_matrix(unit, sensors, which)
        return which, self.predict_at(h, np.arange(which.size), np.isfinite(h).sum(axis=1))


def fit_cmapss(
    unit: np.ndarray, cycle: np.ndarray, sensors: np.ndarray, train_units: np.ndarray
) -> CmapssModel:
    """Learn the health index, the failure level and the no-trend answer from `train_units` only.

    The health index maps the first HEALTHY_CYCLES cycles of each training unit to 1 and
    the last FAILED_CYCLES to 0 (Wang et al. 2008); no row of another unit is seen.
    """
    x = sensors[:, _COLUMNS]
    train = np.isin(unit, train_units)
    rul = remaining_life(unit[train], cycle[train])
    health = fit_linear_health(x[train], cycle[train] <= HEALTHY_CYCLES, rul < FAILED_CYCLES)
    h = unit_matrix(health(x), unit, np.unique(unit[train]))
    n = np.isfinite(h).sum(axis=1)
    ref = np.nanmedian(h[:, :HEALTHY_CYCLES], axis=1)
    end = np.nanmean(np.where(np.arange(h.shape[1]) >= n[:, None] - 5, h, np.nan), axis=1)
    model = CmapssModel(health, float(end.mean()), float(np.std(np.log(ref - end))), MAX_RUL)
    # What to say before any trend shows: the median remaining life of training units at
    # the moments their trend was not yet visible (every 5th cycle).
    rows, cuts = every_cut(n)
    every5 = cuts % 5 == 0
    est = model.predict_at(h, rows[every5], cuts[every5])
    truth = (n[rows[every5]] - cuts[every5]).astype(np.float64)
    return replace(model, no_trend_rul=float(np.median(np.minimum(truth[np.isnan(est.rate)], MAX_RUL))))


@dataclass(frozen=True, slots=True)
class CmapssResult:
    folds: list[np.ndarray]  # test units of each fold
    rmse: float  # every cut from cycle 31, truth capped at MAX_RUL
    phm_mean: float  # mean PHM08 score per estimate, same cuts
    rmse_test_like: float  # 5 random cuts per unit, truth uncapped (as the held-out test file)
    phm_per_100_units: float  # PHM08 score of those cuts scaled to 100 trajectories
    coverage: float  # share of true RULs inside [lower, upper] where a trend was found
    trend_share: float  # share of cuts with a fitted trend
    n_cuts: int
    no_trend_rul: list[float]  # per fold: the estimate given while no trend shows (from training)


class _Scored(NamedTuple):
    est: RulEstimate
    truth: np.ndarray


def evaluate_cmapss(
    unit: np.ndarray, cycle: np.ndarray, sensors: np.ndarray, *, n_folds: int = 5, seed: int = 0
) -> CmapssResult:
    """Fit on the training units of each fold only; predict the others at every cut and at test-like cuts."""
    units = np.unique(unit)
    folds = np.array_split(np.random.default_rng(seed).permutation(units), n_folds)
    rng = np.random.default_rng(seed + 1)
    every: list[_Scored] = []
    test_like: list[_Scored] = []
    quiet = []
    for test in folds:
        model = fit_cmapss(unit, cycle, sensors, units[~np.isin(units, test)])
        h = model.health_matrix(unit, sensors, test)
        length = np.isfinite(h).sum(axis=1)
        rows, cuts = every_cut(length)
        every.append(_Scored(model.predict_at(h, rows, cuts), (length[rows] - cuts).astype(np.float64)))
        # Test-like: five random cuts per unit with true RUL in [5, min(145, length - 31)].
        top = np.minimum(145, length - HEALTHY_CYCLES - 1)
        r_rows = np.repeat(np.arange(len(test)), 5)
        want = rng.integers(5, np.maximum(top[r_rows], 6) + 1)
        r_cuts = length[r_rows] - want
        test_like.append(
            _Scored(model.predict_at(h, r_rows, r_cuts), (length[r_rows] - r_cuts).astype(np.float64))
        )
        quiet.append(model.no_trend_rul)
    return _result(folds, every, test_like, quiet)


def _result(
    folds: list[np.ndarray], every: list[_Scored], test_like: list[_Scored], quiet: list[float]
) -> CmapssResult:
    """The figures over all folds: every cut (truth capped at MAX_RUL) and the test-like cuts (uncapped)."""
    p = np.concatenate([s.est.rul for s in every])
    lower = np.concatenate([s.est.lower for s in every])
    upper = np.concatenate([s.est.upper for s in every])
    t = np.concatenate([s.truth for s in every])
    d = p - np.minimum(t, MAX_RUL)
    found = np.isfinite(upper)
    d2 = np.concatenate([s.est.rul for s in test_like]) - np.concatenate([s.truth for s in test_like])
    return CmapssResult(
        folds=folds,
        rmse=float(np.sqrt(np.mean(d**2))),
        phm_mean=float(phm_score(d).mean()),
        rmse_test_like=float(np.sqrt(np.mean(d2**2))),
        phm_per_100_units=float(phm_score(d2).sum() / len(d2) * 100),
        coverage=float(np.mean((lower[found] <= t[found]) & (t[found] <= upper[found]))),
        trend_share=float(found.mean()),
        n_cuts=int(d.size),
        no_trend_rul=quiet,
    )


def _positions(u: np.ndarray) -> np.ndarray:
    """Index of each row within its unit, for rows grouped but not sorted by unit."""
    order = np.argsort(u, kind="stable")
    su = u[order]
    start = np.r_[0, np.flatnonzero(su[1:] != su[:-1]) + 1]
    pos_sorted = np.arange(su.size) - np.repeat(start, np.diff(np.r_[start, su.size]))
    out = np.empty_like(pos_sorted)
    out[order] = pos_sorted
    return out
