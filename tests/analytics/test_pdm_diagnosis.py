"""Fault hints on the simulator's vibration: the right fault, at the right frequency, and no false hint.

The simulator (`firmware_sim.vibration`) builds its defect impacts from the same bearing
kinematics (`tonle.kernels.bearing`) the diagnosis reads, so these tests run the end-to-end
code path: configured machine type -> defect frequencies -> simulated bursts -> envelope
analysis -> hint.
"""

from __future__ import annotations

import numpy as np
import pytest

from firmware_sim.line import LineSpec, SewingLine, StationSpec
from firmware_sim.vibration import FAULTS, VibrationModel
from tonle.config.pdm import MachineTypePdm
from tonle.kernels.diagnosis import FAULT_HINTS, bearing_evidence, consensus_hint, fault_hint, order_lines

FS = 8192.0
N = 4096
LOCKSTITCH = MachineTypePdm(shaft_rpm=4000, bearing="6203")  # the simulator's default station
SHAFT_HZ = LOCKSTITCH.shaft_hz()
ORDERS = LOCKSTITCH.defect_orders()  # bpfo, bpfi, bsf, ftf


def _model(seed: int = 0) -> VibrationModel:
    stations = [StationSpec(f"M{i}", "seam", 0.5, 0.8) for i in range(len(FAULTS))]
    return VibrationModel(stations, FS, N, np.random.default_rng(seed), faults=FAULTS)


def _bursts(model: VibrationModel, station: int, wear: float, n: int = 12, speed: float = 1.0) -> np.ndarray:
    return model.bursts(np.full(n, station), np.full(n, speed), np.full(n, wear))


def _hints(x: np.ndarray, speed: float = 1.0, band: tuple[float, float] | None = None) -> list[str]:
    ev = bearing_evidence(x, FS, SHAFT_HZ * speed, ORDERS, band=band)
    return [FAULT_HINTS[h] for h in fault_hint(ev)]


def _nearest(found: np.ndarray, lines: np.ndarray) -> np.ndarray:
    """Relative distance from each found peak to the nearest expected line."""
    return np.abs(found[:, None] - lines[None, :]).min(axis=1) / lines.min()


def test_a_worn_outer_race_is_named_and_found_at_bpfo() -> None:
    model = _model(1)
    x = _bursts(model, FAULTS.index("outer_race"), wear=0.6)
    ev = bearing_evidence(x, FS, SHAFT_HZ, ORDERS)
    assert [FAULT_HINTS[h] for h in fault_hint(ev)] == ["outer_race"] * len(x)
    bpfo = ORDERS[0] * SHAFT_HZ
    assert model.defect_hz(FAULTS.index("outer_race")) == pytest.approx(bpfo)
    np.testing.assert_allclose(ev.peak_hz[:, 0], bpfo, rtol=0.02)  # within the slip window


def test_a_worn_inner_race_is_named_and_found_at_bpfi_or_its_shaft_sidebands() -> None:
    # The spall turns through the load zone once per turn: lines at BPFI and BPFI +- 1x.
    model = _model(1)
    x = _bursts(model, FAULTS.index("inner_race"), wear=0.6)
    ev = bearing_evidence(x, FS, SHAFT_HZ, ORDERS)
    assert [FAULT_HINTS[h] for h in fault_hint(ev)] == ["inner_race"] * len(x)
    bpfi = ORDERS[1] * SHAFT_HZ
    assert model.defect_hz(FAULTS.index("inner_race")) == pytest.approx(bpfi)
    assert (_nearest(ev.peak_hz[:, 1], bpfi + SHAFT_HZ * np.array([-1.0, 0.0, 1.0])) < 0.02).all()


def test_a_spalled_ball_is_named_from_its_cage_sidebands() -> None:
    # On a 6203 at 4000 spm, BSF and 2 x BSF sit within 1 Hz of the 2nd and 4th shaft
    # harmonics and cannot be read; the sidebands 2 x BSF -/+ FTF can.
    x = _bursts(_model(2), FAULTS.index("ball"), wear=0.6)
    ev = bearing_evidence(x, FS, SHAFT_HZ, ORDERS)
    assert _hints(x) == ["ball"] * len(x)
    bsf, ftf = ORDERS[2] * SHAFT_HZ, ORDERS[3] * SHAFT_HZ
    assert (_nearest(ev.peak_hz[:, 2], np.array([2 * bsf - ftf, 2 * bsf + ftf])) < 0.02).all()


def test_healthy_machines_get_no_hint_despite_the_needle_bar_knock() -> None:
    # The once-per-stitch needle-bar knock fills the envelope with shaft harmonics; BPFO
    # of a 6203 is 1.8 % from the third. 40 bursts for each of five unworn machines.
    model = _model(3)
    x = np.stack([_bursts(model, station, wear=0.0, n=40) for station in range(len(FAULTS))])
    hints = fault_hint(bearing_evidence(x, FS, SHAFT_HZ, ORDERS))
    assert (hints > 0).mean() <= 0.02  # per burst: rare (0.4 % over 1,200 bursts, 20 seeds)
    assert (consensus_hint(hints) == 0).all()  # per machine: never


def test_the_hint_follows_the_shaft_when_the_machine_is_derated() -> None:
    model = _model(4)
    x = _bursts(model, FAULTS.index("inner_race"), wear=0.7, speed=0.7)
    ev = bearing_evidence(x, FS, SHAFT_HZ * 0.7, ORDERS)
    assert set(FAULT_HINTS[h] for h in fault_hint(ev)) == {"inner_race"}
    bpfi = model.defect_hz(FAULTS.index("inner_race"), 0.7)
    assert (_nearest(ev.peak_hz[:, 1], bpfi + 0.7 * SHAFT_HZ * np.array([-1.0, 0.0, 1.0])) < 0.02).all()


def test_configured_resonance_band_sees_the_spall_earlier_than_the_automatic_one() -> None:
    model = _model(5)
    x = _bursts(model, FAULTS.index("outer_race"), wear=0.3)
    configured = _hints(x, band=(2300.0, 3700.0))  # around the simulator's 3 kHz resonance
    assert configured.count("outer_race") >= 10
    assert set(configured) <= {"outer_race", "none"}
    assert set(_hints(x)) <= {"outer_race", "none"}  # automatic: may miss it, never misnames it


@pytest.mark.parametrize("fault", ["imbalance", "looseness"])
def test_running_speed_faults_are_named_against_the_machines_own_baseline(fault: str) -> None:
    model = _model(6)
    station = FAULTS.index(fault)
    base = np.median(order_lines(_bursts(model, station, wear=0.1), FS, SHAFT_HZ).amplitude, axis=0)
    now = order_lines(_bursts(model, station, wear=0.8), FS, SHAFT_HZ)
    ev = bearing_evidence(_bursts(model, station, wear=0.8), FS, SHAFT_HZ, ORDERS)
    hints = [FAULT_HINTS[h] for h in fault_hint(ev, orders_now=now, orders_base=base)]
    assert hints == [fault] * 12
    same = order_lines(_bursts(model, station, wear=0.1), FS, SHAFT_HZ)
    assert set(FAULT_HINTS[h] for h in fault_hint(orders_now=same, orders_base=base)) == {"none"}


def test_fault_hint_needs_some_evidence() -> None:
    with pytest.raises(ValueError, match="needs bearing evidence"):
        fault_hint()


def test_a_sewing_line_run_flags_the_worn_station_and_not_its_healthy_neighbour() -> None:
    """The line simulator as the demo runs it: real bursts out of `SewingLine`."""
    stations = tuple(
        StationSpec(f"M{i}", "seam", 5.0, 1.0, initial_wear=w, wear_per_h=0.0)
        for i, w in enumerate((0.0, 0.7))
    )
    spec = LineSpec(
        "lab", "bench", "B1", stations, thread_break_per_h=0.0, needle_break_per_h=0.0, initial_wip=10
    )
    line = SewingLine(spec, seed=11, start_ns=1_700_000_000_000_000_000)
    bursts = line.advance_to(line.now_ns + 60 * 1_000_000_000).bursts
    by_station = {i: np.stack([b.waveform for b in bursts if b.station == i]) for i in (0, 1)}
    assert _hints(by_station[0]) == ["none"] * len(by_station[0])
    assert _hints(by_station[1]) == ["outer_race"] * len(by_station[1])
    assert line.bpfo_hz(1) == pytest.approx(ORDERS[0] * SHAFT_HZ)


def test_outer_race_simulation_is_unchanged_by_the_new_fault_kinds() -> None:
    """Stations without a `faults` argument draw the same random stream as before."""
    stations = [StationSpec(f"M{i}", "seam", 0.5, 0.8) for i in range(2)]
    a = VibrationModel(stations, FS, N, np.random.default_rng(9))
    b = VibrationModel(stations, FS, N, np.random.default_rng(9), faults=["outer_race", "outer_race"])
    args = (np.array([0, 1]), np.ones(2), np.array([0.2, 0.6]))
    np.testing.assert_array_equal(a.bursts(*args), b.bursts(*args))
    with pytest.raises(ValueError, match="faults must name"):
        VibrationModel(stations, FS, N, np.random.default_rng(9), faults=["rust", "ball"])


def test_consensus_needs_a_majority_of_bursts() -> None:
    outer, inner = FAULT_HINTS.index("outer_race"), FAULT_HINTS.index("inner_race")
    hints = np.array([[outer, outer, 0, outer], [outer, inner, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(consensus_hint(hints), [outer, 0, 0])
    np.testing.assert_array_equal(consensus_hint(hints, min_share=0.25), [outer, outer, 0])
    with pytest.raises(ValueError, match="indices into FAULT_HINTS"):
        consensus_hint(np.array([7]))
