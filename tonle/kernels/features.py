"""Vibration features of sample windows, for many windows at once.

The edge agent computes these on raw accelerometer bursts so that a few numbers,
not thousands of samples, cross the network; the analytics service computes the
same ones on stored windows. One implementation serves both so the figures agree.

Time-domain features follow the usual condition-monitoring definitions: RMS tracks
overall severity (ISO 10816 is RMS velocity), while crest factor and kurtosis react
earlier to the short impacts of a starting bearing defect, before the RMS moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from tonle.kernels import checks as v

__all__ = ["VibrationFeatures", "band_energies", "power_spectrum", "spectral_centroid", "vibration_features"]


@dataclass(frozen=True, slots=True)
class VibrationFeatures:
    """Per-window features; each array has the input's shape without the sample axis.

    rms:          root mean square, the overall vibration level.
    peak:         largest absolute value.
    peak_to_peak: max - min.
    crest:        peak / rms (sine: sqrt 2); NaN where rms == 0.
    kurtosis:     Pearson kurtosis m4 / m2**2 (Gaussian 3, sine 1.5); NaN for a constant window.
    skewness:     m3 / m2**1.5 (0 for a symmetric signal); NaN for a constant window.
    """

    rms: np.ndarray
    peak: np.ndarray
    peak_to_peak: np.ndarray
    crest: np.ndarray
    kurtosis: np.ndarray
    skewness: np.ndarray


def vibration_features(x: np.ndarray, axis: int = -1) -> VibrationFeatures:
    """RMS, peak, peak-to-peak, crest factor, kurtosis and skewness along `axis`.

    `x` is typically ``[n_windows, n_samples]``. Moments are the biased (population)
    estimators, as scipy.stats computes by default, so a window's figures do not depend
    on how many windows are in the batch. The signal is not detrended: RMS includes any
    DC offset (remove it first for an AC-coupled reading); the moments are central.
    """
    x = _samples(x, axis, minimum=1)
    mean = x.mean(axis=-1, keepdims=True)
    hi, lo = x.max(axis=-1), x.min(axis=-1)

    d = x - mean  # the one full-size temporary we need; reused below
    sq = np.square(d)
    m2 = sq.mean(axis=-1)
    m3 = np.multiply(sq, d, out=d).mean(axis=-1)
    m4 = np.square(sq, out=sq).mean(axis=-1)

    mean = mean[..., 0]
    rms = np.sqrt(m2 + mean * mean)  # mean(x**2) = var + mean**2, without another pass
    peak = np.maximum(hi, -lo)
    # A window that is constant up to rounding has no shape: report NaN, not noise.
    flat = m2 <= (np.finfo(np.float64).resolution * np.abs(mean)) ** 2
    flat |= m2 == 0
    return VibrationFeatures(
        rms=rms,
        peak=peak,
        peak_to_peak=hi - lo,
        crest=_ratio(peak, rms, rms > 0),
        kurtosis=_ratio(m4, m2 * m2, ~flat),
        skewness=_ratio(m3, m2 * np.sqrt(m2), ~flat),
    )


def band_energies(
    x: np.ndarray,
    fs_hz: float,
    bands: Sequence[tuple[float, float]],
    axis: int = -1,
) -> np.ndarray:
    """Mean-square signal energy in each frequency band, shape ``[..., n_bands]``.

    Computed from the one-sided periodogram of an unwindowed rfft, scaled so that the
    energies of bands covering 0..fs/2 add up to ``mean(x**2)`` (Parseval). A band is
    half-open ``[lo, hi)`` except that a band ending at fs/2 includes the Nyquist bin, so
    contiguous bands ``[(0, a), (a, b), (b, fs/2)]`` count every bin exactly once.
    Bands may overlap. Nothing is detrended: DC falls in the band that contains 0 Hz.
    Frequency resolution is ``fs_hz / n_samples``; a band narrower than that may be empty.
    """
    freqs, power = power_spectrum(x, fs_hz, axis=axis)
    fs = float(fs_hz)
    lo, hi = _bands(bands, fs / 2)
    f = freqs[:, None]
    member = (f >= lo) & ((f < hi) | ((hi >= fs / 2) & (f <= hi)))
    return power @ member.astype(np.float64)


def spectral_centroid(x: np.ndarray, fs_hz: float, axis: int = -1) -> np.ndarray:
    """Power-weighted mean frequency in Hz of each window, DC excluded; NaN for a constant window.

    A bearing defect rings the structure's high-frequency modes, so energy moves up the
    spectrum and the centroid rises while the running-speed lines, which dominate the RMS,
    stay put. The mean is removed first so that a sensor offset does not drag it to 0 Hz.
    """
    a = _samples(x, axis, minimum=2)
    mean = a.mean(axis=-1, keepdims=True)
    freqs, power = power_spectrum(a - mean, fs_hz)
    total = power.sum(axis=-1)
    # What is left of a constant window after removing its mean is rounding, not a spectrum.
    flat = total <= (np.finfo(np.float64).resolution * np.abs(mean[..., 0])) ** 2
    return _ratio(power @ freqs, total, (total > 0) & ~flat)


def power_spectrum(x: np.ndarray, fs_hz: float, axis: int = -1) -> tuple[np.ndarray, np.ndarray]:
    """One-sided periodogram ``(freqs [n//2+1], power [..., n//2+1])`` with the sample axis last.

    Unwindowed and scaled so that ``power.sum(-1) == mean(x**2)`` (Parseval): each bin holds
    the mean-square signal it contains, so band energies are plain sums of bins.
    """
    x = _samples(x, axis, minimum=2)
    fs = float(fs_hz)
    if not np.isfinite(fs) or fs <= 0:
        raise ValueError(f"fs_hz must be a positive sampling rate in Hz, got {fs_hz!r}")
    n = x.shape[-1]
    spectrum = np.fft.rfft(x, axis=-1)
    power = np.square(spectrum.real)
    power += np.square(spectrum.imag)
    power /= float(n) * n
    power[..., 1 : (n + 1) // 2] *= 2  # fold negative frequencies; DC and Nyquist are unique
    freqs = np.arange(power.shape[-1]) * fs / n  # k*fs/n keeps fs/2 exact for even n
    return freqs, power


def _samples(x: np.ndarray, axis: int, *, minimum: int) -> np.ndarray:
    """Finite float64 samples with the sample axis moved last."""
    a = v.as_float("x", x)
    if a.ndim == 0:
        raise ValueError("x must have a sample axis, got a scalar")
    try:
        a = np.moveaxis(a, axis, -1)
    except np.exceptions.AxisError as exc:
        raise ValueError(f"axis={axis} does not exist for x of shape {a.shape}") from exc
    if a.shape[-1] < minimum:
        raise ValueError(f"x needs at least {minimum} samples along axis {axis}, got {a.shape[-1]}")
    return a


def _bands(bands: Sequence[tuple[float, float]], nyquist: float) -> tuple[np.ndarray, np.ndarray]:
    b = np.asarray(bands, dtype=np.float64)
    if b.ndim != 2 or b.shape[1] != 2 or b.shape[0] == 0:
        raise ValueError(f"bands must be a non-empty sequence of (lo_hz, hi_hz), got {bands!r}")
    lo, hi = b[:, 0], b[:, 1]
    bad = ~((lo >= 0) & (lo < hi) & (hi <= nyquist))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"band {i} = ({lo[i]}, {hi[i]}) Hz must satisfy 0 <= lo < hi <= fs/2 = {nyquist}")
    return lo, hi


def _ratio(num: np.ndarray, den: np.ndarray, ok: np.ndarray) -> np.ndarray:
    """num / den where `ok`, NaN elsewhere, without a divide-by-zero warning."""
    return np.divide(num, den, out=np.full(np.shape(num), np.nan), where=ok)
