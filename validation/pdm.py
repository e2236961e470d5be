"""The predictive-maintenance methods, run on the public data sets they are validated on.

    python -m validation.pdm                 # the copies in tests/data
    python -m validation.pdm --data DIR      # e.g. ../shared/data, or held-out files

Each `evaluate_*` takes arrays and returns the figures, so the tests assert them and
`docs/pdm-validation.md` quotes them from one implementation. Nothing here is tuned
on the windows it is scored on: the bearing thresholds come from noise statistics and
kinematics, the drift chart from the healthy stretch it must stay quiet on (stated as
such), the C-MAPSS health index and failure level are fitted on the training units of
each fold only, and the AI4I limits are the documented mechanisms (a cross-validated
re-fit is reported beside them).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from analytics.baseline import OnlineBaseline, robust_z
from analytics.drift import feature_drift
from analytics.health import fit_linear_health, health_index
from analytics.rul import RulEstimate, rul_from_health
from tonle.kernels.bearing import BEARINGS, defect_frequencies
from tonle.kernels.diagnosis import FAULT_HINTS, bearing_evidence, burst_length, fault_hint
from tonle.kernels.envelope import select_band
from validation.pdm_process import MODES, ProcessFeatures, fit_process_limits, process_features, process_modes

__all__ = [
    "DEFAULT_DATA",
    "evaluate_ai4i",
    "evaluate_cmapss",
    "evaluate_cwru",
    "evaluate_ims",
    "load_ai4i",
    "load_cmapss",
    "load_cwru",
    "load_ims",
    "report",
]

DEFAULT_DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def _open(path: Path) -> IO[bytes]:
    """The file or its gzip copy (``name.gz``), whichever exists."""
    if path.exists():
        return path.open("rb")
    gz = path.with_name(path.name + ".gz")
    if gz.exists():
        return io.BytesIO(gzip.decompress(gz.read_bytes()))
    raise FileNotFoundError(f"{path} (or {gz.name}) not found: pass --data pointing at the data folder")


# --- CWRU: envelope diagnosis of normal, inner-race and outer-race windows ------------------

CWRU_FS = 12_000.0
CWRU_SHAFT_HZ = 1797.0 / 60.0  # nominal speed at 0 HP; the .npz copies lost the measured rpm
CWRU_RECORDS = {
    "normal": "normal_0hp_DE_12k_decimated.npy",
    "inner_race": "ir007_0hp_DE_12k.npy",
    "outer_race": "or007at6_0hp_DE_12k.npy",
}


def load_cwru(data_dir: Path = DEFAULT_DATA, records: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Drive-end accelerations by condition, all at 12 kHz."""
    folder = Path(data_dir) / "cwru_bearing"
    return {label: np.load(_open(folder / name)) for label, name in (records or CWRU_RECORDS).items()}


@dataclass(frozen=True, slots=True)
class CwruResult:
    classes: tuple[str, ...]  # true condition of each confusion row
    confusion: np.ndarray  # [n_classes, len(FAULT_HINTS)] windows
    window: int
    peak_error: float  # median |found - kinematic| / kinematic of the recognised key line

    def accuracy(self) -> float:
        hit = [
            self.confusion[i, FAULT_HINTS.index(c if c != "normal" else "none")]
            for i, c in enumerate(self.classes)
        ]
        return float(sum(hit) / self.confusion.sum())


def evaluate_cwru(records: dict[str, np.ndarray], *, band: str | tuple[float, float] = "auto") -> CwruResult:
    """Confusion matrix of envelope hints on non-overlapping windows of ten shaft turns.

    band: "auto" picks each window's band by spectral kurtosis on its own, "pooled" one
    band per record from all its windows (a machine's resonances do not move), or a
    fixed (lo, hi) in Hz.
    """
    orders = defect_frequencies(BEARINGS["6205"]).orders
    n = burst_length(CWRU_FS, CWRU_SHAFT_HZ)
    classes = tuple(records)
    confusion = np.zeros((len(classes), len(FAULT_HINTS)), dtype=np.int64)
    errors = []
    fr = CWRU_SHAFT_HZ
    # Where each fault's key line may be: BPFO; BPFI or its +-1x sidebands.
    key_lines = {
        "outer_race": orders[0] * fr + np.array([0.0]),
        "inner_race": orders[1] * fr + fr * np.arange(-1, 2),
    }
    for i, label in enumerate(classes):
        x = records[label]
        w = x[: x.size // n * n].reshape(-1, n)
        chosen: tuple[float, float] | np.ndarray | None = band if isinstance(band, tuple) else None
        if band == "pooled":
            low, width = 3 * orders[1] * fr, 2 * (orders[1] + 1) * fr
            chosen = select_band(w, CWRU_FS, min_hz=low, min_width_hz=width, pool=True)
        ev = bearing_evidence(w, CWRU_FS, fr, orders, band=chosen)
        hint = fault_hint(ev)
        confusion[i] = np.bincount(hint, minlength=len(FAULT_HINTS))
        if label in key_lines:
            col = FAULT_HINTS.index(label) - 1  # evidence columns: outer, inner, ball
            found = ev.peak_hz[hint == FAULT_HINTS.index(label), col]
            lines = key_lines[label]
            rel = np.abs(found[:, None] - lines) / lines
            errors.extend(rel.min(axis=1))
    return CwruResult(classes, confusion, n, float(np.median(errors)) if errors else float("nan"))


# --- IMS: baseline, health index and drift alarm on the feature tables ----------------------

IMS_FEATURES = ("rms", "kurtosis", "env_bpfo", "env_bpfi", "env_bsf")
# Smallest baseline spread per feature, in log units: 5 % for RMS (operation moves it that
# much), 10 % for kurtosis and the envelope line amplitudes (noisier by nature).
IMS_FLOORS = np.array([0.05, 0.10, 0.10, 0.10, 0.10])


@dataclass(frozen=True, slots=True)
class ImsTable:
    time: np.ndarray  # datetime64[s] [n_snapshots]
    rms: np.ndarray  # [4 bearings, n]
    kurtosis: np.ndarray  # Pearson (Gaussian 3) [4, n]
    log_features: np.ndarray  # [4, n, len(IMS_FEATURES)]: log RMS, log kurtosis, log line amplitudes


def load_ims(data_dir: Path = DEFAULT_DATA) -> ImsTable:
    folder = Path(data_dir) / "ims_bearing"
    stats = _read_csv(folder / "ims_test2_stats_part1.csv")
    spec = _read_csv(folder / "ims_test2_spectral_part1.csv")
    if not np.array_equal(stats["file_index"], spec["file_index"]):
        raise ValueError("IMS stats and spectral tables do not cover the same snapshots")
    rms = np.stack([stats[f"Bearing{b}_ch1_rms"].astype(float) for b in range(1, 5)])
    kurt = np.stack(
        [stats[f"Bearing{b}_ch1_kurt"].astype(float) + 3.0 for b in range(1, 5)]
    )  # excess -> Pearson
    # Energies are sums of squares: half their log is the log amplitude of the line.
    lines = [
        np.stack([0.5 * np.log(spec[f"Bearing{b}_ch1_env_{d}_energy"].astype(float)) for b in range(1, 5)])
        for d in ("bpfo", "bpfi", "bsf")
    ]
    feats = np.stack([np.log(rms), np.log(kurt), *lines], axis=-1)
    return ImsTable(stats["timestamp"].astype("datetime64[s]"), rms, kurt, feats)


@dataclass(frozen=True, slots=True)
class ImsResult:
    baseline: int  # snapshots learnt
    first_alarm: np.ndarray  # [4] snapshot index, -1 if none
    alarm_feature: list[str]  # feature that fired first per bearing, "" if none
    health: np.ndarray  # [4, n] per snapshot (NaN while learning)
    max_cusum: np.ndarray  # [4, n_features] highest chart value after learning


def evaluate_ims(table: ImsTable, *, capacity: int = 30, k: float = 1.0, h: float = 8.0) -> ImsResult:
    """Learn each bearing's baseline from its first `capacity` snapshots, then chart the rest."""
    x = table.log_features
    base = OnlineBaseline.empty(x.shape[0], x.shape[2], capacity, abs_floor=IMS_FLOORS)
    learnt = base.update(x)
    loc, scale = base.location_scale()
    z = robust_z(x, loc, scale)
    z[learnt] = np.nan  # the learning snapshots are not judged against themselves
    drift = feature_drift(z, k=k, h=h)
    hi = health_index(table.rms, table.kurtosis, np.exp(loc[:, :1]), np.exp(loc[:, 1:2]))
    hi[learnt] = np.nan
    names = [IMS_FEATURES[f] if f >= 0 else "" for f in drift.first_feature.tolist()]
    return ImsResult(capacity, drift.first_alarm, names, hi, np.nanmax(drift.cusum, axis=1))


def ims_detection_delay(
    table: ImsTable, *, bearing: int, start: int, log_rise_per_snapshot: np.ndarray, capacity: int = 30
) -> int:
    """Snapshots from `start` until the alarm when a synthetic degradation is added there.

    `log_rise_per_snapshot` ``[n_features]`` is added, growing linearly, to the real
    healthy features: the chart must find a known change on top of real noise. -1 if
    it never fires.
    """
    x = table.log_features.copy()
    steps = np.clip(np.arange(x.shape[1]) - start + 1, 0, None)
    x[bearing] += steps[:, None] * np.asarray(log_rise_per_snapshot)[None, :]
    ims = ImsTable(table.time, np.exp(x[..., 0]), np.exp(x[..., 1]), x)
    first = int(evaluate_ims(ims, capacity=capacity).first_alarm[bearing])
    return first - start if first >= start else -1


# --- C-MAPSS FD001: RUL from a fused health index, unit-wise cross-validation ---------------

CMAPSS_SENSORS = (2, 3, 4, 7, 8, 9, 11, 12, 13, 14, 15, 17, 20, 21)  # the ones that move (s1..s21)
HEALTHY_CYCLES = 30  # every test trajectory is at least 31 cycles long
FAILED_CYCLES = 10
MAX_RUL = 125.0  # the usual FD001 horizon: early in life nothing predicts the end


def load_cmapss(data_dir: Path = DEFAULT_DATA) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(unit, cycle, sensors [n_rows, 21]) of train_FD001."""
    a = np.loadtxt(_open(Path(data_dir) / "cmapss_fd001" / "train_FD001.txt"))
    return a[:, 0].astype(np.int64), a[:, 1].astype(np.int64), a[:, 5:26]


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


def phm_score(d: np.ndarray) -> np.ndarray:
    """PHM08 score per estimate, d = predicted - true: late (d > 0) costs more than early."""
    return np.where(d < 0, np.expm1(-d / 13.0), np.expm1(d / 10.0))


def evaluate_cmapss(
    unit: np.ndarray, cycle: np.ndarray, sensors: np.ndarray, *, n_folds: int = 5, seed: int = 0
) -> CmapssResult:
    """Fit the health index and failure level on training units only; predict the others."""
    x = sensors[:, [s - 1 for s in CMAPSS_SENSORS]]
    units = np.unique(unit)
    last = np.zeros(units.size)
    np.maximum.at(last, np.searchsorted(units, unit), cycle)
    rul = last[np.searchsorted(units, unit)] - cycle
    folds = np.array_split(np.random.default_rng(seed).permutation(units), n_folds)
    rng = np.random.default_rng(seed + 1)
    pred, true, lo, hi, tl_pred, tl_true, quiet = [], [], [], [], [], [], []
    for test in folds:
        train = np.isin(unit, test, invert=True)
        model = fit_linear_health(
            x[train], train[train] & (cycle[train] <= HEALTHY_CYCLES), rul[train] < FAILED_CYCLES
        )
        h_train = _unit_matrix(model(x), unit, units[~np.isin(units, test)])
        n_train = np.isfinite(h_train).sum(axis=1)
        ref_train = np.nanmedian(h_train[:, :HEALTHY_CYCLES], axis=1)
        end = np.nanmean(
            np.where(np.arange(h_train.shape[1]) >= n_train[:, None] - 5, h_train, np.nan), axis=1
        )
        h_fail, fail_sd = float(end.mean()), float(np.std(np.log(ref_train - end)))
        # What to say before any trend shows: the median remaining life of training
        # units at the moments their trend was not yet visible (every 5th cycle).
        t_rows, t_cuts = _all_cuts(n_train)
        every5 = t_cuts % 5 == 0
        t_est, t_truth = _predict(h_train, t_rows[every5], t_cuts[every5], n_train, h_fail, fail_sd, MAX_RUL)
        no_trend = float(np.median(np.minimum(t_truth[np.isnan(t_est.rate)], MAX_RUL)))
        h_test = _unit_matrix(model(x), unit, test)
        length = np.isfinite(h_test).sum(axis=1)
        rows, cuts = _all_cuts(length)
        est, truth = _predict(h_test, rows, cuts, length, h_fail, fail_sd, no_trend)
        pred.append(est.rul), true.append(truth), lo.append(est.lower), hi.append(est.upper)
        # Test-like: five random cuts per unit with true RUL in [5, min(145, length - 31)].
        top = np.minimum(145, length - HEALTHY_CYCLES - 1)
        r_rows = np.repeat(np.arange(len(test)), 5)
        want = rng.integers(5, np.maximum(top[r_rows], 6) + 1)
        est2, truth2 = _predict(h_test, r_rows, length[r_rows] - want, length, h_fail, fail_sd, no_trend)
        tl_pred.append(est2.rul), tl_true.append(truth2)
        quiet.append(no_trend)
    p, t, lower, upper = (np.concatenate(a) for a in (pred, true, lo, hi))
    d = p - np.minimum(t, MAX_RUL)
    found = np.isfinite(upper)
    d2 = np.concatenate(tl_pred) - np.concatenate(tl_true)
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


def _unit_matrix(values: np.ndarray, unit: np.ndarray, which: np.ndarray) -> np.ndarray:
    """One row per unit in `which` (in that order), its values in file order, NaN-padded."""
    pick = np.isin(unit, which)
    u = unit[pick]
    sorter = np.argsort(which)
    row = sorter[np.searchsorted(which, u, sorter=sorter)]
    pos = _positions(u)
    out = np.full((len(which), int(pos.max()) + 1 if pos.size else 0), np.nan)
    out[row, pos] = values[pick]
    return out


def _positions(u: np.ndarray) -> np.ndarray:
    """Index of each row within its unit, for rows grouped but not sorted by unit."""
    order = np.argsort(u, kind="stable")
    su = u[order]
    start = np.r_[0, np.flatnonzero(su[1:] != su[:-1]) + 1]
    pos_sorted = np.arange(su.size) - np.repeat(start, np.diff(np.r_[start, su.size]))
    out = np.empty_like(pos_sorted)
    out[order] = pos_sorted
    return out


def _all_cuts(length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, cut) for every cut from HEALTHY_CYCLES + 1 cycles to the end of each unit."""
    counts = np.maximum(length - HEALTHY_CYCLES, 0)
    rows = np.repeat(np.arange(length.size), counts)
    first = np.r_[0, np.cumsum(counts)[:-1]]
    cuts = HEALTHY_CYCLES + 1 + np.arange(rows.size) - np.repeat(first, counts)
    return rows, cuts


def _predict(
    h: np.ndarray,
    rows: np.ndarray,
    cuts: np.ndarray,
    length: np.ndarray,
    h_fail: float,
    fail_sd: float,
    no_trend: float,
) -> tuple[RulEstimate, np.ndarray]:
    """RUL estimates for each (unit row, observed cycles) pair, all in one call.

    Where no degrading trend is established yet, the estimate (and both band ends) is
    `no_trend`: the method has nothing to extrapolate.
    """
    seen = np.where(np.arange(h.shape[1]) < cuts[:, None], h[rows], np.nan)
    early = seen[:, :HEALTHY_CYCLES]
    ref = np.nanmedian(early, axis=1)
    noise = 1.4826 * np.nanmedian(np.abs(early - ref[:, None]), axis=1)
    est = rul_from_health(
        np.arange(h.shape[1], dtype=np.float64),
        seen,
        h_ref=ref,
        h_fail=h_fail,
        noise=noise,
        fail_sd=fail_sd,
        max_rul=MAX_RUL,
    )
    quiet = np.isnan(est.rate)
    est = RulEstimate(
        rul=np.where(quiet, no_trend, est.rul),
        lower=np.where(quiet, no_trend, est.lower),
        upper=np.where(quiet, np.inf, est.upper),
        rate=est.rate,
        n_used=est.n_used,
    )
    return est, (length[rows] - cuts).astype(np.float64)


# --- AI4I 2020: failure-mode rules -----------------------------------------------------------

AI4I_LABELS = ("HDF", "PWF", "OSF", "TWF")  # in MODES order


def load_ai4i(data_dir: Path = DEFAULT_DATA) -> tuple[ProcessFeatures, np.ndarray]:
    """Physical features and the [n, 4] failure-mode labels (MODES order)."""
    t = _read_csv(Path(data_dir) / "ai4i2020" / "ai4i2020.csv")
    f = process_features(
        t["Air temperature [K]"].astype(float),
        t["Process temperature [K]"].astype(float),
        t["Rotational speed [rpm]"].astype(float),
        t["Torque [Nm]"].astype(float),
        t["Tool wear [min]"].astype(float),
        t["Type"],
    )
    return f, np.column_stack([t[c].astype(int) == 1 for c in AI4I_LABELS])


@dataclass(frozen=True, slots=True)
class Ai4iResult:
    documented: dict[str, tuple[float, float]]  # mode -> (precision, recall), limits as documented
    cross_validated: dict[str, tuple[float, float]]  # limits re-learnt on 4/5, scored on 1/5
    counts: dict[str, int]  # labelled failures per mode


def evaluate_ai4i(f: ProcessFeatures, labels: np.ndarray, *, n_folds: int = 5, seed: int = 0) -> Ai4iResult:
    documented = _precision_recall(process_modes(f), labels)
    # Folds stratified on "any failure mode", as the data card suggests.
    any_fail = labels.any(axis=1)
    rng = np.random.default_rng(seed)
    fold = np.empty(labels.shape[0], dtype=np.int64)
    for flag in (False, True):  # two strata
        idx = rng.permutation(np.flatnonzero(any_fail == flag))
        fold[idx] = np.arange(idx.size) % n_folds
    predicted = np.zeros_like(labels)
    for k in range(n_folds):
        train, test = fold != k, fold == k
        limits = fit_process_limits(_rows(f, train), labels[train])
        predicted[test] = process_modes(_rows(f, test), limits)
    counts = {m: int(labels[:, i].sum()) for i, m in enumerate(MODES)}
    return Ai4iResult(documented, _precision_recall(predicted, labels), counts)


def _rows(f: ProcessFeatures, mask: np.ndarray) -> ProcessFeatures:
    return ProcessFeatures(*(getattr(f, name)[mask] for name in ProcessFeatures.__slots__))


def _precision_recall(pred: np.ndarray, truth: np.ndarray) -> dict[str, tuple[float, float]]:
    tp = (pred & truth).sum(axis=0)
    return {
        m: (float(tp[i] / max(pred[:, i].sum(), 1)), float(tp[i] / max(truth[:, i].sum(), 1)))
        for i, m in enumerate(MODES)
    }


def _read_csv(path: Path) -> dict[str, np.ndarray]:
    """Columns of a CSV as string arrays (convert where used)."""
    text = io.TextIOWrapper(_open(path), encoding="utf-8")
    rows = list(csv.reader(text))
    header, body = rows[0], np.array(rows[1:], dtype=str)
    return {name: body[:, i] for i, name in enumerate(header)}


# --- report ---------------------------------------------------------------------------------


def report(data_dir: Path = DEFAULT_DATA) -> str:
    """All figures as Markdown, in the order of docs/pdm-validation.md."""
    out = ["# PdM validation figures", ""]
    records = load_cwru(data_dir)
    shown = [FAULT_HINTS.index(c) for c in ("none", "inner_race", "outer_race", "ball")]
    for band in ("auto", "pooled", (2000.0, 5000.0)):
        r = evaluate_cwru(records, band=band)
        out += [f"## CWRU, band {band}, windows of {r.window} samples", ""]
        out += ["| true \\ hint | none | inner_race | outer_race | ball |", "|---|---|---|---|---|"]
        out += [
            f"| {c} | " + " | ".join(str(r.confusion[i, j]) for j in shown) + " |"
            for i, c in enumerate(r.classes)
        ]
        out += ["", f"accuracy {r.accuracy():.3f}, median key-line frequency error {r.peak_error:.2%}", ""]
    table = load_ims(data_dir)
    ims = evaluate_ims(table)
    out += ["## IMS test 2 (healthy part), baseline = first 30 snapshots", ""]
    for b in range(4):
        fa = int(ims.first_alarm[b])
        when = f"snapshot {fa} ({table.time[fa]}), {ims.alarm_feature[b]}" if fa >= 0 else "none"
        h = ims.health[b][np.isfinite(ims.health[b])]
        out.append(
            f"- bearing {b + 1}: first alarm {when}; health median {np.median(h):.3f}, "
            f"5th pct {np.percentile(h, 5):.3f}, min {h.min():.3f}; "
            f"highest CUSUM {ims.max_cusum[b].max():.1f} (h = 8)"
        )
    for label, rise in (
        ("RMS +1 %/snapshot", [np.log(1.01), 0, 0, 0, 0]),
        ("BPFO line +5 %/snapshot", [0, 0, np.log(1.05), 0, 0]),
        ("kurtosis +2 %/snapshot", [0, np.log(1.02), 0, 0, 0]),
    ):
        delays = [
            ims_detection_delay(table, bearing=b, start=300, log_rise_per_snapshot=np.array(rise))
            for b in range(4)
        ]
        out.append(f"- injected {label} from snapshot 300: alarm after {delays} snapshots (bearings 1-4)")
    out.append("")
    cm = evaluate_cmapss(*load_cmapss(data_dir))
    out += [
        "## C-MAPSS FD001, 5-fold unit-wise cross-validation",
        "",
        f"- every cut from cycle 31 ({cm.n_cuts} estimates), truth capped at {MAX_RUL:.0f}: "
        f"RMSE {cm.rmse:.1f}, mean PHM08 score {cm.phm_mean:.2f} per estimate",
        f"- test-like (5 random cuts per unit, true RUL 5-145, uncapped): RMSE {cm.rmse_test_like:.1f}, "
        f"PHM08 score per 100 trajectories {cm.phm_per_100_units:.0f}",
        f"- trend found in {cm.trend_share:.1%} of cuts; "
        f"the 80 % band holds the truth in {cm.coverage:.1%} of them",
        f"- estimate while no trend shows (median remaining life of training units then), per fold: "
        f"{', '.join(f'{q:.0f}' for q in cm.no_trend_rul)}",
        "",
    ]
    f, labels = load_ai4i(data_dir)
    ai = evaluate_ai4i(f, labels)
    out += [
        "## AI4I 2020 failure modes",
        "",
        "| mode | failures | documented limits P / R | re-learnt (5-fold) P / R |",
    ]
    out.append("|---|---|---|---|")
    for m in MODES:
        d, c = ai.documented[m], ai.cross_validated[m]
        out.append(f"| {m} | {ai.counts[m]} | {d[0]:.3f} / {d[1]:.3f} | {c[0]:.3f} / {c[1]:.3f} |")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m validation.pdm", description=__doc__.split("\n")[0])
    ap.add_argument(
        "--data", type=Path, default=DEFAULT_DATA, help="folder holding cwru_bearing/, ims_bearing/, ..."
    )
    print(report(ap.parse_args(argv).data), end="")


if __name__ == "__main__":
    main()
