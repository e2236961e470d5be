"""CWRU bearing data: envelope diagnosis of normal, inner-race and outer-race windows.

Nothing is fitted on these windows: defect frequencies come from the SKF 6205 geometry
and the nominal speed, line thresholds from noise statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tonle.kernels.bearing import BEARINGS, defect_frequencies
from tonle.kernels.diagnosis import FAULT_HINTS, bearing_evidence, burst_length, fault_hint
from tonle.kernels.envelope import select_band
from validation.files import open_data

__all__ = ["CWRU_FS", "CWRU_RECORDS", "CWRU_SHAFT_HZ", "CwruResult", "evaluate_cwru", "load_cwru"]

CWRU_FS = 12_000.0
CWRU_SHAFT_HZ = 1797.0 / 60.0  # nominal speed at 0 HP; the .npz copies lost the measured rpm
CWRU_RECORDS = {
    "normal": "normal_0hp_DE_12k_decimated.npy",
    "inner_race": "ir007_0hp_DE_12k.npy",
    "outer_race": "or007at6_0hp_DE_12k.npy",
}


def load_cwru(data_dir: Path, records: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """Drive-end accelerations by condition, all at 12 kHz (`records`: condition -> file name)."""
    folder = Path(data_dir) / "cwru_bearing"
    out = {}
    for label, name in (records or CWRU_RECORDS).items():
        with open_data(folder / name) as f:
            out[label] = np.load(f)
    return out


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
