"""Vibration features against closed forms and slow independent implementations."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

from tonle.kernels.features import band_energies, vibration_features


def _sine(amplitude: float, cycles: int, n: int, phase: float = 0.0) -> np.ndarray:
    t = np.arange(n) / n
    return amplitude * np.sin(2 * np.pi * cycles * t + phase)


def test_sine_has_closed_form_rms_crest_and_kurtosis() -> None:
    # 8 whole cycles, 64 samples per cycle: a sample lands on every crest and trough.
    x = _sine(2.5, cycles=8, n=512)
    f = vibration_features(x)
    assert f.rms == pytest.approx(2.5 / math.sqrt(2), rel=1e-12)
    assert f.peak == pytest.approx(2.5, rel=1e-12)
    assert f.peak_to_peak == pytest.approx(5.0, rel=1e-12)
    assert f.crest == pytest.approx(math.sqrt(2), rel=1e-12)
    assert f.kurtosis == pytest.approx(1.5, rel=1e-12)  # E[sin^4] / E[sin^2]^2 = (3/8) / (1/4)
    assert f.skewness == pytest.approx(0.0, abs=1e-12)


def test_gaussian_noise_has_kurtosis_three_and_no_skew() -> None:
    x = np.random.default_rng(7).standard_normal((50, 20_000))
    f = vibration_features(x)
    assert f.kurtosis.mean() == pytest.approx(3.0, abs=0.02)  # s.e. of the mean ~ 0.0025
    assert f.skewness.mean() == pytest.approx(0.0, abs=0.01)
    assert f.rms.mean() == pytest.approx(1.0, abs=0.01)


def test_batch_matches_scipy_and_per_window_loops() -> None:
    rng = np.random.default_rng(3)
    # Skewed, offset, impulsive windows: exercises every moment and the DC term of the RMS.
    x = rng.exponential(2.0, size=(37, 301)) + rng.normal(0, 0.1, (37, 1)) - 1.0
    x[5, 100] += 40.0  # one impact
    f = vibration_features(x)
    for i, w in enumerate(x):
        assert f.rms[i] == pytest.approx(math.sqrt(sum(s * s for s in w) / len(w)), rel=1e-12)
        assert f.peak[i] == max(abs(s) for s in w)
        assert f.peak_to_peak[i] == max(w) - min(w)
        assert f.crest[i] == pytest.approx(f.peak[i] / f.rms[i], rel=1e-15)
    np.testing.assert_allclose(f.kurtosis, scipy.stats.kurtosis(x, axis=1, fisher=False), rtol=1e-10)
    np.testing.assert_allclose(f.skewness, scipy.stats.skew(x, axis=1), rtol=1e-10)


def test_axis_argument_picks_the_sample_axis() -> None:
    x = np.random.default_rng(0).normal(size=(4, 100, 3))
    along_1 = vibration_features(x, axis=1)
    moved = vibration_features(np.moveaxis(x, 1, -1))
    assert along_1.kurtosis.shape == (4, 3)
    np.testing.assert_array_equal(along_1.kurtosis, moved.kurtosis)
    np.testing.assert_array_equal(along_1.rms, moved.rms)


def test_constant_window_gives_nan_shape_figures_without_warnings() -> None:
    x = np.array([[0.0] * 8, [5.0] * 8, [1.0, -1.0] * 4])
    f = vibration_features(x)  # filterwarnings=error: any divide warning fails the test
    np.testing.assert_array_equal(f.rms[:2], [0.0, 5.0])
    assert np.isnan(f.crest[0]) and f.crest[1] == 1.0
    assert np.isnan(f.kurtosis[:2]).all() and np.isnan(f.skewness[:2]).all()
    assert f.kurtosis[2] == 1.0  # a square wave is the least impulsive signal possible


def test_integer_adc_counts_are_accepted() -> None:
    f = vibration_features(np.array([[1, -1, 1, -1]], dtype=np.int16))
    assert f.rms[0] == 1.0


@pytest.mark.parametrize(
    ("x", "match"),
    [
        (np.array([[1.0, np.nan, 2.0]]), "NaN or infinite value at index"),
        (np.array(["a", "b"]), "real numeric"),
        (np.zeros((3, 0)), "at least 1 samples"),
        (np.float64(1.0), "sample axis"),
    ],
)
def test_bad_windows_are_refused_with_a_reason(x: np.ndarray, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        vibration_features(x)


def test_missing_axis_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="axis=2 does not exist"):
        vibration_features(np.zeros((2, 5)), axis=2)


# --- band energies -------------------------------------------------------------------


def _slow_band_energies(x: np.ndarray, fs: float, bands: list[tuple[float, float]]) -> list[float]:
    """Direct DFT sum over the full two-sided spectrum, folded by |f|; independent of rfft."""
    n = len(x)
    out = [0.0] * len(bands)
    for k in range(n):
        xk = sum(
            x[j] * complex(math.cos(2 * math.pi * j * k / n), -math.sin(2 * math.pi * j * k / n))
            for j in range(n)
        )
        f = min(k, n - k) * fs / n  # bin k and bin n-k are the same |frequency|
        for b, (lo, hi) in enumerate(bands):
            if lo <= f < hi or (hi == fs / 2 and f == hi):
                out[b] += abs(xk) ** 2 / n**2
    return out


@pytest.mark.parametrize("n", [16, 17])
def test_band_energies_match_a_direct_dft(n: int) -> None:
    x = np.random.default_rng(n).normal(0.3, 1.0, size=(2, n))
    fs = 1600.0
    bands = [
        (0.0, 150.0),
        (100.0, 400.0),
        (400.0, 800.0),
        (700.0, 800.0),
    ]  # overlapping, incl. fs/2
    got = band_energies(x, fs, bands)
    assert got.shape == (2, 4)
    for i in range(2):
        np.testing.assert_allclose(got[i], _slow_band_energies(x[i], fs, bands), rtol=1e-10, atol=1e-14)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(2, 300),
    cuts=st.lists(st.floats(0.01, 0.99), max_size=5, unique=True),
    seed=st.integers(0, 2**32 - 1),
)
def test_bands_covering_zero_to_nyquist_sum_to_the_mean_square(n: int, cuts: list[float], seed: int) -> None:
    fs = 2000.0
    edges = [0.0, *sorted(c * fs / 2 for c in cuts), fs / 2]
    bands = list(itertools.pairwise(edges))
    x = np.random.default_rng(seed).normal(0.5, 2.0, size=(3, n))
    e = band_energies(x, fs, bands)
    np.testing.assert_allclose(e.sum(axis=-1), np.mean(x * x, axis=-1), rtol=1e-10)


def test_sine_energy_lands_in_its_band() -> None:
    fs, n = 1000.0, 1000
    x = _sine(3.0, cycles=120, n=n)  # 120 Hz on an exact bin
    e = band_energies(x[None, :], fs, [(0, 100), (100, 200), (200, 500)])
    np.testing.assert_allclose(e[0], [0.0, 4.5, 0.0], atol=1e-20 + 1e-12)  # A^2 / 2 = 4.5


def test_nyquist_bin_belongs_to_the_band_ending_at_fs_over_2() -> None:
    x = np.array([1.0, -1.0] * 8)  # all energy at fs/2
    e = band_energies(x, 100.0, [(0.0, 25.0), (25.0, 50.0)])
    np.testing.assert_allclose(e, [0.0, 1.0], atol=1e-15)


@pytest.mark.parametrize(
    ("fs", "bands", "match"),
    [
        (0.0, [(0, 1)], "fs_hz must be a positive"),
        (100.0, [(10, 60)], r"band 0 = \(10.0, 60.0\) Hz must satisfy"),
        (100.0, [(0, 10), (20, 20)], "band 1"),
        (100.0, [], "non-empty sequence"),
    ],
)
def test_impossible_bands_are_refused(fs: float, bands: list[tuple[float, float]], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        band_energies(np.zeros((1, 64)), fs, bands)
