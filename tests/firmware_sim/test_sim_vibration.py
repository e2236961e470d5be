"""Vibration bursts carry the physics the analytics relies on: wear shows in RMS, kurtosis and BPFO."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import signal, stats

from firmware_sim.line import Burst, LineSpec, SewingLine, StationSpec
from firmware_sim.vibration import VibrationModel
from tonle.kernels.bearing import BEARINGS, defect_frequencies

START = 1_700_000_000_000_000_000
S = 1_000_000_000
WEARS = (0.1, 0.3, 0.5, 0.7, 0.9)


def bench_line(wears: tuple[float, ...] = WEARS, spm: float = 4000.0) -> LineSpec:
    """Identical lockstitch machines that differ only in bearing wear, which does not change.

    One piece per 5 min keeps every motor running, so each one bursts every 10 s.
    """
    stations = tuple(
        StationSpec(f"M{i}", "test seam", 5.0, 1.0, nominal_spm=spm, initial_wear=w, wear_per_h=0.0)
        for i, w in enumerate(wears)
    )
    return LineSpec(
        "lab",
        "bench",
        "B1",
        stations,
        thread_break_per_h=0.0,
        needle_break_per_h=0.0,
        initial_wip=10,
    )


def bursts_by_station(line: SewingLine, seconds: float) -> dict[int, list[Burst]]:
    out = line.advance_to(line.now_ns + round(seconds * S))
    found: dict[int, list[Burst]] = {}
    for b in out.bursts:
        found.setdefault(b.station, []).append(b)
    return found


def envelope_spectrum(x: np.ndarray, fs: float, band: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Band-pass around the resonance, Hilbert envelope, spectrum (zero-padded 4x)."""
    sos = signal.butter(4, band, btype="bandpass", fs=fs, output="sos")
    env = np.abs(signal.hilbert(signal.sosfiltfilt(sos, x)))
    env -= env.mean()
    nfft = 4 * x.size
    mag = np.abs(np.fft.rfft(env * np.hanning(env.size), nfft))
    return np.fft.rfftfreq(nfft, 1 / fs), mag


def envelope_peak_hz(b: Burst, resonance_hz: float) -> float:
    f, mag = envelope_spectrum(b.waveform, b.fs_hz, (resonance_hz - 700, resonance_hz + 700))
    look = (f > 20) & (f < 600)
    return float(f[look][np.argmax(mag[look])])


def test_bursts_are_raw_float64_accelerations_every_interval_while_running() -> None:
    line = SewingLine(bench_line(), seed=1, start_ns=START)
    found = bursts_by_station(line, 60)
    assert sorted(found) == [0, 1, 2, 3, 4]
    for i, bursts in found.items():
        assert [b.ts_ns for b in bursts] == [START + k * 10 * S - S // 2 for k in range(1, 7)]
        for b in bursts:
            assert b.station == i and b.fs_hz == 8192.0
            assert b.waveform.dtype == np.float64 and b.waveform.shape == (4096,)
            assert 0.05 < np.sqrt(np.mean(b.waveform**2)) < 3.0  # g, a running sewing head


def test_rms_and_kurtosis_grow_clearly_with_bearing_wear() -> None:
    line = SewingLine(bench_line(), seed=2, start_ns=START)
    found = bursts_by_station(line, 120)
    rms = np.array([np.median([np.sqrt(np.mean(b.waveform**2)) for b in found[i]]) for i in range(5)])
    kurt = np.array(
        [np.median([stats.kurtosis(b.waveform, fisher=False) for b in found[i]]) for i in range(5)]
    )
    assert np.all(np.diff(rms) > 0)
    assert rms[-1] > 3 * rms[0]
    assert np.all(kurt[2:] > kurt[0] + 1.0)
    assert kurt[-1] > 2 * kurt[0]


def test_healthy_burst_rms_is_stable() -> None:
    line = SewingLine(bench_line((0.1,)), seed=3, start_ns=START)
    rms = np.array([np.sqrt(np.mean(b.waveform**2)) for b in bursts_by_station(line, 300)[0]])
    assert rms.size == 30
    assert rms.std() / rms.mean() < 0.03


def test_worn_bearing_envelope_spectrum_peaks_at_bpfo_and_a_healthy_one_does_not() -> None:
    spec = bench_line((0.1, 0.7))
    line = SewingLine(spec, seed=4, start_ns=START)
    found = bursts_by_station(line, 30)
    shaft_hz = 4000 / 60
    bpfo = defect_frequencies(BEARINGS["6203"]).bpfo * shaft_hz
    assert line.bpfo_hz(1) == pytest.approx(bpfo)
    for b in found[1]:
        peak = envelope_peak_hz(b, spec.stations[1].resonance_hz)
        assert peak == pytest.approx(bpfo, rel=0.01)
        assert abs(peak - bpfo) < abs(peak - 3 * shaft_hz)  # not the nearby 3x shaft harmonic
    for b in found[0]:
        assert envelope_peak_hz(b, spec.stations[0].resonance_hz) != pytest.approx(bpfo, rel=0.02)


def test_bpfo_moves_with_shaft_speed_when_the_machine_is_derated() -> None:
    spec = bench_line((0.8,))
    line = SewingLine(spec, seed=5, start_ns=START)
    line.apply(0, "set_speed", 0.7)
    bpfo = defect_frequencies(BEARINGS["6203"]).bpfo * 4000 / 60 * 0.7
    for b in bursts_by_station(line, 30)[0]:
        assert envelope_peak_hz(b, spec.stations[0].resonance_hz) == pytest.approx(bpfo, rel=0.01)


def test_strongest_low_frequency_line_is_the_shaft_rate() -> None:
    line = SewingLine(bench_line((0.1,), spm=3000.0), seed=6, start_ns=START)
    for b in bursts_by_station(line, 30)[0]:
        f = np.fft.rfftfreq(4 * b.waveform.size, 1 / b.fs_hz)
        mag = np.abs(np.fft.rfft(b.waveform * np.hanning(b.waveform.size), 4 * b.waveform.size))
        look = f < 500
        assert f[look][np.argmax(mag[look])] == pytest.approx(3000 / 60, abs=1.0)


def test_no_bursts_while_the_motor_is_stopped() -> None:
    line = SewingLine(bench_line((0.1, 0.1)), seed=7, start_ns=START, maintenance_s=60)
    line.apply(1, "maintenance", None)
    found = bursts_by_station(line, 50)
    assert len(found[0]) == 5
    assert 1 not in found  # in maintenance: no power, no burst


def test_the_model_synthesises_many_stations_in_one_block() -> None:
    stations = [StationSpec(f"M{i}", "x", 0.5, 0.8) for i in range(3)]
    model = VibrationModel(stations, 8192.0, 4096, np.random.default_rng(0))
    block = model.bursts(np.array([0, 1, 2, 0, 1, 2]), np.ones(6), np.full(6, 0.5))
    assert block.shape == (6, 4096)
    assert not np.array_equal(block[0], block[3])  # fresh noise and phase per burst
