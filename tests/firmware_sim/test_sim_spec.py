"""The default line is a plausible polo-shirt line, calibrated on real garment-team data."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from firmware_sim.spec import LineSpec, StationSpec, default_line
from tonle.kernels.bearing import BEARINGS

DATA = Path(__file__).resolve().parents[1] / "data/garment_productivity"


def _sewing_rows() -> list[dict[str, str]]:
    path = DATA / "garments_worker_productivity.csv"
    with path.open(newline="") as f:
        return [r for r in csv.DictReader(f) if r["department"].strip() == "sweing"]


def test_operations_and_machines_are_in_garment_ranges() -> None:
    spec = default_line()
    assert len(spec.stations) == 12
    assert [s.name for s in spec.stations] == [f"S{i:02d}" for i in range(1, 13)]
    for s in spec.stations:
        assert 0.3 <= s.sam_min <= 1.5
        assert 0.5 <= s.efficiency <= 1.0
        assert 2000 <= s.nominal_spm <= 7000
        assert s.bearing in BEARINGS
        assert 2500 <= s.resonance_hz <= 3500


def test_operator_efficiency_sits_inside_the_real_teams_productivity_range() -> None:
    actual = np.array([float(r["actual_productivity"]) for r in _sewing_rows()])
    q25, q50, q75 = np.percentile(actual, [25, 50, 75])
    eff = np.concatenate([[s.efficiency for s in default_line(18, seed=k).stations] for k in range(20)])
    assert q25 <= np.median(eff) <= q75
    assert abs(np.median(eff) - q50) < 0.05


def test_work_content_per_operator_is_close_to_the_real_smv_per_worker() -> None:
    rows = _sewing_rows()
    per_worker = np.array([float(r["smv"]) / float(r["no_of_workers"]) for r in rows])
    sam = np.array([s.sam_min for s in default_line(18).stations])
    # Our operators carry whole operations, real teams include helpers: same order of size.
    assert np.percentile(per_worker, 5) <= np.median(sam) <= 2 * np.percentile(per_worker, 95)


def test_target_follows_the_garment_formula_at_the_median_targeted_productivity() -> None:
    spec = default_line()
    total_sam = sum(s.sam_min for s in spec.stations)
    assert spec.target_pcs_per_h == pytest.approx(60 * 12 * 0.75 / total_sam, abs=0.05)
    targeted = np.median([float(r["targeted_productivity"]) for r in _sewing_rows()])
    assert targeted == pytest.approx(0.75)


def test_best_operators_sit_on_the_longest_operations() -> None:
    spec = default_line(18, seed=3)
    sam = np.array([s.sam_min for s in spec.stations])
    eff = np.array([s.efficiency for s in spec.stations])
    order = np.argsort(sam, kind="stable")
    assert np.all(np.diff(eff[order]) >= 0)


def test_one_station_wears_fast_and_the_others_are_healthy() -> None:
    spec = default_line(wearing_station=6)
    worn = spec.stations[6]
    assert worn.initial_wear == pytest.approx(0.55)
    assert 2 <= (1 - worn.initial_wear) / worn.wear_per_h <= 6  # running hours to seizure
    for i, s in enumerate(spec.stations):
        if i != 6:
            assert 0.05 <= s.initial_wear <= 0.15
            assert s.wear_per_h < 2e-4  # thousands of hours of life
    assert all(s.wear_per_h < 2e-4 for s in default_line(wearing_station=None).stations)


def test_same_seed_same_line_and_long_lines_are_possible() -> None:
    assert default_line(seed=5) == default_line(seed=5)
    assert default_line(seed=5) != default_line(seed=6)
    long = default_line(40)
    assert len({s.name for s in long.stations}) == 40


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sam_min": 0.0}, "sam_min"),
        ({"efficiency": 2.0}, "efficiency"),
        ({"bearing": "9999"}, "6203"),
        ({"initial_wear": 1.0}, "initial_wear"),
    ],
)
def test_impossible_stations_are_refused_with_the_field_named(
    kwargs: dict[str, object], message: str
) -> None:
    base: dict[str, object] = {"name": "S01", "operation": "x", "sam_min": 0.5, "efficiency": 0.8}
    with pytest.raises(ValueError, match=message):
        StationSpec(**{**base, **kwargs})  # type: ignore[arg-type]


def test_impossible_lines_are_refused() -> None:
    s = StationSpec("S01", "x", 0.5, 0.8)
    with pytest.raises(ValueError, match="repeat"):
        LineSpec("p", "a", "l", (s, s))
    with pytest.raises(ValueError, match="initial_wip"):
        LineSpec("p", "a", "l", (s,), buffer_capacity=3, initial_wip=4)
    with pytest.raises(ValueError, match="wearing_station"):
        default_line(4, wearing_station=4)
