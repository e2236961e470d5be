"""The service names the part with `analytics.pdm` from the edge's evidence, and says what to order."""

from __future__ import annotations

import numpy as np

from analytics.pdm_state import PdmState
from analytics.prognostics import Prognostics, _hints
from analytics.rules import PdmView
from edge_agent.encode import envelope_fields
from firmware_sim.spec import StationSpec
from firmware_sim.vibration import VibrationModel
from tonle.config.analytics import AnalyticsConfig
from tonle.config.pdm import DEFAULT_MACHINE_TYPES
from tonle.schema import ENVELOPE_FIELDS, FAULT_EVIDENCE_FIELDS

FS, N = 8192.0, 4096


def _edge_env(fault: str, wear: float, bursts: int = 8) -> np.ndarray:
    """What the edge sends for `bursts` bursts of one station: [bursts, envelope + fault fields]."""
    station = StationSpec(name="S1", operation="seam", sam_min=1.0, efficiency=0.8)
    model = VibrationModel([station], FS, N, np.random.default_rng(7), faults=[fault])
    waves = np.vstack([model.bursts(np.array([0]), np.ones(1), np.array([wear])) for _ in range(bursts)])
    fields = envelope_fields(waves, FS, DEFAULT_MACHINE_TYPES["lockstitch"], np.full(bursts, np.nan))
    return np.array([fields[name] for name in ENVELOPE_FIELDS + FAULT_EVIDENCE_FIELDS]).T


def test_the_edge_evidence_names_each_bearing_part_with_confidence() -> None:
    env = np.stack(
        [_edge_env(f, 0.4) for f in ("outer_race", "inner_race", "ball")] + [_edge_env("outer_race", 0.0)]
    )
    hints, confidence = _hints(env)
    assert hints == ["outer_race", "inner_race", "ball", "none"]
    assert (confidence[:3] > 0.5).all()


def test_bursts_from_an_older_edge_are_still_named_by_the_envelope_ratios() -> None:
    env = _edge_env("outer_race", 0.4)[None]
    env[..., len(ENVELOPE_FIELDS) :] = np.nan  # no fault-line evidence sent
    hints, confidence = _hints(env)
    assert hints == ["outer_race"] and np.isnan(confidence[0])


def test_the_advice_names_the_part_to_order_and_the_confidence() -> None:
    prog = Prognostics(AnalyticsConfig(), PdmState())
    bearing = prog._bearing("lockstitch")
    assert bearing == DEFAULT_MACHINE_TYPES["lockstitch"].bearing
    view = PdmView(
        np.array([3.0]),
        np.array([2.0]),
        np.array([5.0]),
        ["inner_race"],
        confidence=np.array([0.83]),
        bearing=[bearing],
    )
    text = view.describe(0)
    assert "inner race" in text and "83 %" in text and f"order bearing {bearing}" in text
