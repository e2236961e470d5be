"""`analytics.pdm.diagnose` names simulated bearing faults of every type, severity and speed.

The simulator is the physical picture the diagnosis rests on, written independently of it:
a spall is struck at the defect rate (with 1 % random slip between strikes), each strike
rings a structural resonance (a decaying 3 kHz sine, 0.8 ms time constant), the strikes of
an inner-race spall are amplitude-modulated at shaft speed (it turns in and out of the load
zone) and those of a damaged ball at cage speed; running-speed sines and broadband noise
are added. Severity is the strike amplitude over the noise. No setting of the diagnosis was
chosen on these signals beyond the noise-only windows (the false-alarm level of MIN_BITS).
"""

from __future__ import annotations

import numpy as np
import pytest

from analytics.pdm import bearing_geometry, defect_orders, diagnose

FS = 12_000.0


def simulate(
    fault: str, *, bearing: str, shaft_hz: float, severity: float, windows: int = 6, seed: int = 0
) -> np.ndarray:
    """`windows` windows of 20 shaft turns (next power of two), ``[windows, n]``."""
    rng = np.random.default_rng(seed)
    o = defect_orders(bearing)
    rate = {"outer_race": o["BPFO"], "inner_race": o["BPFI"], "ball": 2 * o["BSF"], "cage": o["FTF"]}
    n = 1 << int(np.ceil(np.log2(20 * FS / shaft_hz)))
    total = n * windows
    t = np.arange(total) / FS
    x = (
        rng.normal(0.0, 1.0, total)
        + 0.5 * np.sin(2 * np.pi * shaft_hz * t)
        + 0.2 * np.sin(4 * np.pi * shaft_hz * t)
    )
    if fault == "none":
        return x.reshape(windows, n)
    f_d = rate[fault] * shaft_hz
    gaps = (1.0 + 0.01 * rng.standard_normal(int(total / FS * f_d) + 2)) / f_d
    times = np.cumsum(gaps)
    times = times[times < total / FS - 0.01]
    mod = {"inner_race": shaft_hz, "ball": o["FTF"] * shaft_hz}.get(fault)
    amp = severity * (0.6 + 0.4 * np.cos(2 * np.pi * mod * times)) if mod else np.full(times.size, severity)
    ring = np.arange(int(0.008 * FS)) / FS
    h = np.exp(-ring / 0.0008) * np.sin(2 * np.pi * 3000.0 * ring)
    strikes = np.zeros(total + ring.size)
    np.add.at(strikes, (times * FS).astype(int), amp)
    return (x + np.convolve(strikes, h)[:total]).reshape(windows, n)


@pytest.mark.parametrize("bearing", ["6205", "6203"])
@pytest.mark.parametrize("shaft_hz", [20.0, 30.0, 45.0])
@pytest.mark.parametrize("fault", ["outer_race", "inner_race", "ball", "cage"])
def test_each_fault_type_is_named_at_every_speed_and_severity(
    fault: str, shaft_hz: float, bearing: str
) -> None:
    for severity in (4.0, 6.0, 8.0):
        x = simulate(
            fault, bearing=bearing, shaft_hz=shaft_hz, severity=severity, seed=int(severity * shaft_hz)
        )
        d = diagnose(x, FS, shaft_hz, bearing)
        right = int((d.fault == fault).sum())
        wrong = int(np.isin(d.fault, ["outer_race", "inner_race", "ball", "cage"]).sum()) - right
        assert right >= 4 and wrong <= 1, (severity, d.fault.tolist(), d.evidence.round().tolist())
        assert d.abnormal[d.fault == fault].all()
        assert (d.confidence[d.fault == fault] > 0.3).all()


@pytest.mark.parametrize("bearing", ["6205", "6203", "6302", "608"])
def test_healthy_windows_are_not_given_a_fault(bearing: str) -> None:
    named = 0
    for shaft_hz in (20.0, 30.0, 45.0):
        x = simulate("none", bearing=bearing, shaft_hz=shaft_hz, severity=0.0, windows=10, seed=int(shaft_hz))
        d = diagnose(x, FS, shaft_hz, bearing)
        named += int(np.isin(d.fault, ["outer_race", "inner_race", "ball", "cage"]).sum())
        assert set(d.fault.tolist()) <= {"none", "unknown", "outer_race", "inner_race", "ball", "cage"}
    assert named <= 1  # of 30 windows


def test_a_spiky_machine_with_no_bearing_pattern_is_abnormal_but_unknown() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(4, 8192))
    x[:, rng.integers(0, 8192, 40)] += 15.0  # random knocks: impulsive, but at no defect rate
    d = diagnose(x, FS, 30.0, "6205")
    assert d.abnormal.all()
    assert set(d.fault.tolist()) == {"unknown"}


def test_a_reference_of_healthy_windows_decides_what_is_abnormal() -> None:
    rng = np.random.default_rng(4)
    healthy = rng.normal(size=(8, 8192))
    louder = 2.0 * rng.normal(size=(3, 8192))
    d = diagnose(np.vstack([healthy[:3], louder]), FS, 30.0, "6205", reference=healthy[3:])
    assert d.abnormal.tolist() == [False, False, False, True, True, True]
    assert d.fault.tolist() == ["none"] * 3 + ["unknown"] * 3


def test_each_window_is_read_at_its_own_speed_and_a_geometry_can_be_passed() -> None:
    slow = simulate("inner_race", bearing="6205", shaft_hz=20.0, severity=6.0, windows=3, seed=11)
    fast = simulate("inner_race", bearing="6205", shaft_hz=30.0, severity=6.0, windows=3, seed=12)
    n = min(slow.shape[1], fast.shape[1])
    geometry = bearing_geometry("6205")
    d = diagnose(np.vstack([slow[:, :n], fast[:, :n]]), FS, np.array([20.0] * 3 + [30.0] * 3), geometry)
    assert (d.fault == "inner_race").sum() >= 5
