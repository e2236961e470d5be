"""Spectral features and envelope spectra against closed forms and slow references."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings
from hypothesis import strategies as st

from tonle.kernels.diagnosis import LINE_RATIO
from tonle.kernels.envelope import (
    amplitude_spectrum,
    envelope_spectrum,
    line_amplitudes,
    read_lines,
    select_band,
)
from tonle.kernels.features import band_energies, power_spectrum, spectral_centroid

FS = 8192.0
N = 4096  # 2 Hz bins


def _t(n: int = N) -> np.ndarray:
    return np.arange(n) / FS


# --- plain spectrum --------------------------------------------------------------------------


@given(st.integers(min_value=2, max_value=300), st.integers(min_value=0, max_value=2**31))
@settings(max_examples=40, deadline=None)
def test_power_spectrum_obeys_parseval_for_any_length(n: int, seed: int) -> None:
    x = np.random.default_rng(seed).normal(size=(3, n))
    _, power = power_spectrum(x, 100.0)
    np.testing.assert_allclose(power.sum(axis=-1), np.mean(x**2, axis=-1), rtol=1e-10)


def test_spectral_centroid_of_a_tone_is_its_frequency_and_ignores_the_offset() -> None:
    x = 3.0 + np.sin(2 * np.pi * 1000.0 * _t())  # on a bin: no leakage
    assert spectral_centroid(x, FS) == pytest.approx(1000.0, rel=1e-9)


def test_spectral_centroid_of_two_tones_is_their_power_weighted_mean() -> None:
    t = _t()
    x = np.stack([np.sin(2 * np.pi * 500 * t) + 2 * np.sin(2 * np.pi * 2500 * t), np.zeros(N) + 1.0])
    c = spectral_centroid(x, FS)
    assert c[0] == pytest.approx((500 * 0.5 + 2500 * 2.0) / 2.5, rel=1e-9)
    assert np.isnan(c[1])  # a constant window has no spectrum


def test_band_energies_still_split_the_mean_square_exactly() -> None:
    x = np.random.default_rng(1).normal(size=(5, 1000))
    e = band_energies(x, 1000.0, [(0, 100), (100, 300), (300, 500)])
    np.testing.assert_allclose(e.sum(axis=-1), np.mean(x**2, axis=-1), rtol=1e-12)


# --- envelope spectrum ------------------------------------------------------------------------


def _am(fc: float, fm: float, m: float, n: int = N) -> np.ndarray:
    t = _t(n)
    return (1 + m * np.cos(2 * np.pi * fm * t)) * np.cos(2 * np.pi * fc * t)


def test_squared_envelope_of_an_am_tone_has_the_closed_form_lines() -> None:
    # Squared envelope (1 + m cos wm t)^2 = 1 + m^2/2 + 2m cos wm t + m^2/2 cos 2 wm t.
    m, fm = 0.5, 100.0  # 100 Hz is bin 50: no leakage
    spec = envelope_spectrum(_am(2000.0, fm, m), FS, (1500.0, 2500.0))
    amp = line_amplitudes(spec, np.array([fm, 2 * fm]), rel_tol=0.0)
    np.testing.assert_allclose(amp, [2 * m, m * m / 2], rtol=1e-3)


def test_envelope_matches_scipy_hilbert_on_the_same_band_limited_signal() -> None:
    rng = np.random.default_rng(3)
    x = _am(2000.0, 70.0, 0.8) + 0.1 * rng.normal(size=N)
    # Independent route: the same ideal band-pass, then scipy's Hilbert transform.
    spectrum = np.fft.rfft(x - x.mean())
    f = np.fft.rfftfreq(N, 1 / FS)
    band = np.fft.irfft(np.where((f >= 1500) & (f <= 2500), spectrum, 0), N)
    sq = np.abs(scipy.signal.hilbert(band)) ** 2
    w = np.hanning(N)
    ref = np.abs(np.fft.rfft((sq - sq.mean()) * w)) * 2 / w.sum()
    got = envelope_spectrum(x, FS, (1500.0, 2500.0)).amplitude
    np.testing.assert_allclose(got, ref, atol=1e-9 * ref.max())


def test_batch_envelope_equals_one_window_at_a_time() -> None:
    rng = np.random.default_rng(4)
    x = rng.normal(size=(6, 1024))
    bands = np.array([[100, 900], [1000, 3000], [50, 4000], [2000, 2100], [0, 4096], [300, 301]], float)
    batch = envelope_spectrum(x, FS, bands)
    for i in range(6):
        one = envelope_spectrum(x[i], FS, tuple(bands[i]))
        np.testing.assert_allclose(batch.amplitude[i], one.amplitude, rtol=1e-12, atol=1e-15)


def test_impact_train_shows_its_rate_and_harmonics_and_noise_does_not() -> None:
    rng = np.random.default_rng(5)
    rate = 123.0
    x = 0.3 * rng.normal(size=(2, N))
    t = _t()
    # 123 Hz impacts ringing a 3 kHz mode in row 0 only.
    for k in np.arange(0, t[-1], 1 / rate):
        tail = t >= k
        x[0, tail] += np.exp(-(t[tail] - k) / 5e-4) * np.sin(2 * np.pi * 3000 * (t[tail] - k))
    spec = envelope_spectrum(x, FS, (2500.0, 3500.0))
    lines = read_lines(spec, np.array([rate, 2 * rate, 3 * rate]))
    assert (lines.ratio[0] > LINE_RATIO).all()
    assert (lines.ratio[1] < LINE_RATIO).all()
    np.testing.assert_allclose(lines.peak_hz[0], [rate, 2 * rate, 3 * rate], atol=2.0)


def test_select_band_finds_the_ringing_resonance() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(size=N)
    t = _t()
    for k in np.arange(0.01, t[-1], 0.013):
        tail = t >= k
        x[tail] += 6 * np.exp(-(t[tail] - k) / 3e-4) * np.sin(2 * np.pi * 3300 * (t[tail] - k))
    lo, hi = select_band(x, FS, min_hz=500.0)
    assert lo <= 3300 <= hi
    pooled = select_band(np.stack([x, x]), FS, min_hz=500.0, pool=True)
    assert pooled.shape == (2,) and pooled[0] <= 3300 <= pooled[1]


def test_select_band_refuses_an_impossible_request() -> None:
    with pytest.raises(ValueError, match="no band of the filter bank"):
        select_band(np.zeros(256), FS, min_hz=4000.0, min_width_hz=2000.0)


# --- reading lines ----------------------------------------------------------------------------


def test_a_shaft_harmonic_next_to_a_defect_line_is_not_read_as_the_defect() -> None:
    # A once-per-turn knock puts every shaft harmonic into the envelope; BPFO of a 6203
    # is 3.05 x shaft speed, 1.8 % from the third harmonic.
    shaft = 64.0  # bin 32 at 2 Hz bins
    rng = np.random.default_rng(7)
    t = _t()
    x = 0.2 * rng.normal(size=N)
    for k in np.arange(0, t[-1], 1 / shaft):
        tail = t >= k
        x[tail] += np.exp(-(t[tail] - k) / 4e-4) * np.sin(2 * np.pi * 3000 * (t[tail] - k))
    spec = envelope_spectrum(x, FS, (2000.0, 4000.0))
    bpfo = 3.053 * shaft
    naive = read_lines(spec, np.array([bpfo]))
    guarded = read_lines(spec, np.array([bpfo]), comb_hz=shaft)
    assert naive.ratio[0] > 5  # the third harmonic leaks into a plain ±2 % window
    assert guarded.ratio[0] < 4
    assert abs(guarded.peak_hz[0] - 3 * shaft) >= 4.0  # two bins away from the harmonic


def test_a_line_that_cannot_be_resolved_from_a_harmonic_reads_nan() -> None:
    spec = amplitude_spectrum(np.random.default_rng(8).normal(size=N), FS)
    r = read_lines(spec, np.array([200.5, 5000.0, np.nan]), rel_tol=0.001, comb_hz=100.0)
    assert np.isnan(r.ratio).all()  # next to 2x; above Nyquist; missing


def test_neighbouring_lines_do_not_lend_each_other_their_peak() -> None:
    x = np.sin(2 * np.pi * 262.0 * _t())  # one line at 262 Hz
    spec = amplitude_spectrum(x, FS)
    lines = read_lines(spec, np.array([263.0, 266.0]), rel_tol=0.02)
    assert lines.peak_hz[0] == pytest.approx(262.0)
    assert lines.peak_hz[1] != pytest.approx(262.0)  # 262 is much nearer 263 than 266
    assert lines.ratio[0] > lines.ratio[1]


def test_lines_broadcast_per_window_shaft_speed() -> None:
    t = _t()
    x = np.stack([np.sin(2 * np.pi * 100 * t), np.sin(2 * np.pi * 150 * t)])
    spec = amplitude_spectrum(x, FS)
    amp = line_amplitudes(spec, np.array([[100.0], [150.0]]))
    np.testing.assert_allclose(amp[:, 0], [1.0, 1.0], rtol=1e-3)
