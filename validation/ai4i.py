"""AI4I 2020 (synthetic milling data): failure-mode rules from physical features.

The documented mechanisms are the rules (`validation.pdm_process`), so the documented
limits fit nothing; `evaluate_ai4i` also re-learns the limits on four fifths of the rows
and scores them on the fifth left out, to check that the data support them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from validation.files import read_csv
from validation.pdm_process import MODES, ProcessFeatures, fit_process_limits, process_features, process_modes

__all__ = [
    "AI4I_LABELS",
    "Ai4iResult",
    "evaluate_ai4i",
    "load_ai4i",
    "precision_recall",
    "stratified_folds",
]

AI4I_LABELS = ("HDF", "PWF", "OSF", "TWF")  # in MODES order


def load_ai4i(data_dir: Path) -> tuple[ProcessFeatures, np.ndarray]:
    """Physical features and the [n, 4] failure-mode labels (MODES order)."""
    t = read_csv(Path(data_dir) / "ai4i2020" / "ai4i2020.csv")
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
    """Precision and recall per mode: documented limits, and limits re-learnt fold by fold."""
    documented = precision_recall(process_modes(f), labels)
    fold = stratified_folds(np.asarray(labels.any(axis=1)), n_folds, seed)
    predicted = np.zeros_like(labels)
    for k in range(n_folds):
        train, test = fold != k, fold == k
        limits = fit_process_limits(f.rows(train), labels[train])
        predicted[test] = process_modes(f.rows(test), limits)
    counts = {m: int(labels[:, i].sum()) for i, m in enumerate(MODES)}
    return Ai4iResult(documented, precision_recall(predicted, labels), counts)


def stratified_folds(stratum: np.ndarray, n_folds: int, seed: int) -> np.ndarray:
    """Fold of each row, dealt round-robin within each of two strata (False / True).

    Stratified on "any failure mode", as the data card suggests, every fold holds its
    share of the rare failures.
    """
    rng = np.random.default_rng(seed)
    fold = np.empty(stratum.shape[0], dtype=np.int64)
    for flag in (False, True):  # two strata
        idx = rng.permutation(np.flatnonzero(stratum == flag))
        fold[idx] = np.arange(idx.size) % n_folds
    return fold


def precision_recall(pred: np.ndarray, truth: np.ndarray) -> dict[str, tuple[float, float]]:
    """(precision, recall) per mode of boolean predictions against labels, both [n, 4] in MODES order."""
    tp = (pred & truth).sum(axis=0)
    return {
        m: (float(tp[i] / max(pred[:, i].sum(), 1)), float(tp[i] / max(truth[:, i].sum(), 1)))
        for i, m in enumerate(MODES)
    }
