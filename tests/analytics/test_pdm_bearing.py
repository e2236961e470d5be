"""Defect frequencies against the published tables, and the per-machine-type config shape."""

from __future__ import annotations

import msgspec
import numpy as np
import pytest

from tonle.config.pdm import BearingSpec, MachineTypePdm, PdmConfig
from tonle.kernels.bearing import BEARINGS, BearingGeometry, defect_frequencies, defect_hz
from tonle.kernels.diagnosis import burst_length


def test_cwru_drive_end_bearing_matches_the_published_multiples() -> None:
    # CWRU Bearing Data Center, "Apparatus & Procedures": SKF 6205-2RS JEM.
    o = defect_frequencies(BEARINGS["6205"])
    assert o.bpfi == pytest.approx(5.4152, rel=2e-4)
    assert o.bpfo == pytest.approx(3.5848, rel=2e-4)
    assert o.ftf == pytest.approx(0.39828, rel=2e-4)
    assert 2 * o.bsf == pytest.approx(4.7135, rel=2e-4)  # CWRU's "rolling element" is 2 x BSF


def test_cwru_fan_end_6203_matches_the_published_multiples() -> None:
    o = defect_frequencies(BEARINGS["6203"])
    assert (o.bpfi, o.bpfo, o.ftf, 2 * o.bsf) == pytest.approx((4.9469, 3.0530, 0.3817, 3.9874), rel=5e-4)


def test_ims_rexnord_bearing_matches_its_provenance_at_2000_rpm() -> None:
    hz = defect_hz(defect_frequencies(BEARINGS["ZA-2115"]).orders, 2000 / 60)
    np.testing.assert_allclose(hz, [236.4, 296.9, 139.9, 14.8], rtol=2e-3)


def test_defect_hz_gives_each_machine_its_own_speed() -> None:
    orders = np.stack([defect_frequencies(BEARINGS[b]).orders for b in ("6203", "6205")])
    hz = defect_hz(orders, np.array([4000 / 60, 1797 / 60]))
    assert hz.shape == (2, 4)
    assert hz[1, 1] == pytest.approx(162.2, rel=1e-3)  # CWRU BPFI at 1797 rpm
    with pytest.raises(ValueError, match="is the machine turning"):
        defect_hz(orders, np.array([0.0, 30.0]))


def test_impossible_geometry_is_refused_with_the_reason() -> None:
    with pytest.raises(ValueError, match="contact_deg=95"):
        BearingGeometry(9, 0.3, 1.5, contact_deg=95.0)
    with pytest.raises(ValueError, match="need n_balls >= 3"):
        BearingGeometry(9, 2.0, 1.5)


def test_machine_type_config_decodes_from_toml_by_name_or_geometry() -> None:
    cfg = msgspec.toml.decode(
        b"""
        baseline_samples = 40
        [machine_types.lockstitch]
        shaft_rpm = 4000
        bearing = "6203"
        band_hz = [2300.0, 3700.0]
        [machine_types.overlock]
        shaft_rpm = 6000
        [machine_types.overlock.bearing]
        model = "6202"
        n_balls = 8
        ball_d = 5.953
        pitch_d = 25.0
        """,
        type=PdmConfig,
    )
    lock, over = cfg.machine_types["lockstitch"], cfg.machine_types["overlock"]
    np.testing.assert_allclose(lock.defect_orders(), defect_frequencies(BEARINGS["6203"]).orders)
    assert over.geometry() == BearingGeometry(8, 5.953, 25.0)
    assert lock.shaft_hz(0.7) == pytest.approx(4000 / 60 * 0.7)
    assert cfg.baseline_samples == 40 and cfg.cusum_h == 8.0


X = b"[machine_types.x]\nshaft_rpm = 1\n"


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        (X + b'bearing = "6666"', "bearing '6666' is unknown"),
        (X + b'bearing = "6203"\nband_hz = [3000.0, 2000.0]', "0 <= low < high"),
        (
            X + b"[machine_types.x.bearing]\nn_balls = 8\nball_d = 30\npitch_d = 25",
            "must be smaller than pitch_d",
        ),
        (X + b'bearing = "6203"\nspeed = 3', "unknown field `speed`"),
    ],
)
def test_bad_pdm_config_names_the_key_and_the_fix(toml: bytes, message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.toml.decode(toml, type=PdmConfig)


def test_config_round_trips() -> None:
    cfg = PdmConfig(
        machine_types={
            "m": MachineTypePdm(shaft_rpm=3000, bearing=BearingSpec(n_balls=9, ball_d=0.3126, pitch_d=1.537))
        }
    )
    assert msgspec.toml.decode(msgspec.toml.encode(cfg), type=PdmConfig) == cfg


def test_burst_length_covers_ten_turns_in_a_power_of_two() -> None:
    assert burst_length(12_000, 1797 / 60) == 4096  # 10 turns = 4007 samples
    assert burst_length(8192, 4000 / 60) == 2048
    with pytest.raises(ValueError):
        burst_length(8192, 0.0)
