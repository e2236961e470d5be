"""CWRU bearing data: normal, inner-race and outer-race windows told apart by the envelope spectrum.

Real accelerations (tests/data/cwru_bearing, see its PROVENANCE.md); defect frequencies
from the 6205 geometry and the nominal 1797 rpm; thresholds from noise statistics.
Nothing is fitted on these windows. Figures and margins: docs/pdm-validation.md.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tonle.kernels.diagnosis import FAULT_HINTS
from validation.cwru import CwruResult, evaluate_cwru, load_cwru

DATA = Path(__file__).resolve().parents[1] / "data"

NONE, INNER, OUTER = (FAULT_HINTS.index(h) for h in ("none", "inner_race", "outer_race"))


@pytest.fixture(scope="module")
def records() -> dict[str, np.ndarray]:
    return load_cwru(DATA)


def _wrong_fault(r: CwruResult) -> int:
    """Windows given a fault hint other than their true fault (a miss to 'none' is not counted)."""
    wrong = 0
    for i, label in enumerate(r.classes):
        row = r.confusion[i].copy()
        row[NONE] = 0
        if label != "normal":
            row[FAULT_HINTS.index(label)] = 0
        wrong += int(row.sum())
    return wrong


def test_the_copied_records_are_the_documented_ones(records: dict[str, np.ndarray]) -> None:
    assert {k: v.size for k, v in records.items()} == {
        "normal": 60_985,
        "inner_race": 121_265,
        "outer_race": 121_991,
    }


def test_per_window_automatic_band_never_names_the_wrong_fault(records: dict[str, np.ndarray]) -> None:
    # Measured: normal 14/14 none, inner 26/29 (3 to none), outer 29/29.
    r = evaluate_cwru(records, band="auto")
    assert r.window == 4096
    assert _wrong_fault(r) == 0
    assert r.confusion[0, NONE] == r.confusion[0].sum()  # no alarm on the normal record
    assert r.confusion[1, INNER] >= 0.8 * r.confusion[1].sum()
    assert r.confusion[2, OUTER] >= 0.9 * r.confusion[2].sum()
    assert r.accuracy() >= 0.9


@pytest.mark.parametrize("band", ["pooled", (2000.0, 5000.0)])
def test_one_band_per_record_classifies_every_window(records: dict[str, np.ndarray], band: object) -> None:
    # Measured: 72/72 for both the pooled spectral-kurtosis band and the 2-5 kHz band.
    r = evaluate_cwru(records, band=band)  # type: ignore[arg-type]
    assert _wrong_fault(r) == 0
    assert r.accuracy() >= 0.95


def test_the_defect_line_is_found_where_the_kinematics_put_it(records: dict[str, np.ndarray]) -> None:
    # Slip and bin width allow ~1-2 %; measured median error 0.8-1.0 %.
    assert evaluate_cwru(records, band="pooled").peak_error < 0.02
