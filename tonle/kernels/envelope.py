"""Envelope (demodulation) spectra and reading lines in them, for many windows at once.

A spall on a bearing race is struck once per ball pass. Each strike is a short impact
that rings the housing's resonances (kHz), far above the defect frequency (tens to
hundreds of Hz). In the plain spectrum the defect is buried under running-speed lines;
in the spectrum of the *envelope* of the resonance band it stands out as a line at the
defect frequency and its harmonics (Randall & Antoni 2011, "Rolling element bearing
diagnostics - A tutorial", MSSP 25).

Everything here is FFT-domain numpy, so the edge gateway can run it without scipy:

- band-pass and Hilbert transform in one step: keep the positive-frequency bins inside
  the band, doubled, and invert; the modulus squared is the *squared envelope*;
- optional pre-whitening (unit magnitude, phase kept), the spectral equivalent of
  cepstral pre-whitening (Borghesani et al. 2013), which removes running-speed lines and
  flattens resonances so no single tone dominates the envelope;
- automatic band choice by spectral kurtosis (a small filter bank in the spirit of
  Antoni's fast kurtogram) when the machine's resonance band is not configured.

Lines are read as a ratio of the peak near the expected frequency to the median level
of the surrounding spectrum: scale-free, so one threshold serves every machine, and
grounded in noise statistics (for a noise-only envelope the bins are Rayleigh
distributed and P(bin > c x median) = 2^(-c^2)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tonle.kernels import checks as v
from tonle.kernels.features import _samples

__all__ = [
    "EnvelopeSpectrum",
    "Lines",
    "amplitude_spectrum",
    "envelope_spectrum",
    "line_amplitudes",
    "read_lines",
    "select_band",
]

# Memory for one block of the band-selection filter bank (complex128 values); rows are
# processed in blocks of this size so a long batch never allocates gigabytes.
_BANK_BLOCK_VALUES = 1 << 21


@dataclass(frozen=True, slots=True)
class EnvelopeSpectrum:
    """Amplitude spectrum of the squared envelope.

    freqs:     [n_freqs] Hz, spacing fs / n_samples.
    amplitude: [..., n_freqs] amplitude of each sinusoidal component of the squared
               envelope (Hann window, amplitude-corrected), in the input unit squared.
    band:      [..., 2] the (lo, hi) Hz band that was demodulated, per window.
    """

    freqs: np.ndarray
    amplitude: np.ndarray
    band: np.ndarray


@dataclass(frozen=True, slots=True)
class Lines:
    """Lines read from an envelope spectrum; shapes ``[..., n_lines]``.

    ratio:   peak amplitude within the search window / median amplitude of the
             neighbourhood (the local noise floor). About 1-2 for noise; a real
             periodic impact train gives 5 to 50.
    peak_hz: frequency of that peak (where the line really is, slip included).
    """

    ratio: np.ndarray
    peak_hz: np.ndarray


def envelope_spectrum(
    x: np.ndarray,
    fs_hz: float,
    band: tuple[float, float] | np.ndarray | None = None,
    *,
    axis: int = -1,
    whiten: bool = False,
) -> EnvelopeSpectrum:
    """Squared-envelope spectrum of each window of `x` after band-passing it to `band`.

    `band` is one ``(lo, hi)`` in Hz for all windows, an array ``[..., 2]`` with one band
    per window (as `select_band` returns), or None for everything above DC. The filter
    is ideal (brick-wall in the FFT of the window), which is what the kurtogram
    literature uses and keeps the computation one FFT pair per window.
    """
    a = _samples(x, axis, minimum=8)
    fs = _fs(fs_hz)
    n = a.shape[-1]
    lo, hi = _band_edges(band, a.shape[:-1], fs)
    spectrum = np.fft.rfft(a - a.mean(axis=-1, keepdims=True), axis=-1)
    if whiten:
        mag = np.abs(spectrum)
        spectrum = np.divide(spectrum, mag, out=np.zeros_like(spectrum), where=mag > 0)
    f = np.arange(spectrum.shape[-1]) * fs / n
    keep = (f > 0) & (f >= lo[..., None]) & (f <= hi[..., None])
    sq_env = _squared_envelope(spectrum * keep, n)
    used = np.stack(np.broadcast_arrays(lo, hi), axis=-1)
    return EnvelopeSpectrum(freqs=np.fft.rfftfreq(n, 1.0 / fs), amplitude=_amplitude(sq_env), band=used)


def select_band(
    x: np.ndarray,
    fs_hz: float,
    *,
    min_hz: float = 0.0,
    min_width_hz: float = 0.0,
    levels: int = 4,
    pool: bool = False,
    axis: int = -1,
) -> np.ndarray:
    """The band of highest spectral kurtosis per window, ``[..., 2]`` in Hz.

    Candidates are the bands of a dyadic filter bank: at level ``l`` the range 0..fs/2
    is cut into bands of width ``fs / 2^(l+1)``, plus the same bands shifted by half a
    width. Impacts make the complex envelope of the band that carries them spiky, so its
    kurtosis (``E|z|^4 / E[|z|^2]^2 - 2``: 0 for Gaussian noise, -1 for a pure tone)
    is highest there (Antoni 2006). Bands starting below `min_hz` (keep the running-speed
    lines out) or narrower than `min_width_hz` (a band must pass the sidebands of the
    defect lines it is meant to show) are not considered.
    """
    a = _samples(x, axis, minimum=8)
    fs = _fs(fs_hz)
    bank = _bank(fs, levels, float(min_hz), float(min_width_hz))
    if bank.size == 0:
        raise ValueError(
            f"no band of the filter bank starts above {min_hz} Hz and is {min_width_hz} Hz wide "
            f"at fs={fs} Hz: sample faster or lower min_hz/min_width_hz"
        )
    lead = a.shape[:-1]
    rows = a.reshape(-1, a.shape[-1])
    n = rows.shape[-1]
    f = np.arange(n // 2 + 1) * fs / n
    masks = (f > 0) & (f >= bank[:, :1]) & (f <= bank[:, 1:])  # [n_bands, n_freqs]
    sk_all = np.empty((rows.shape[0], len(bank)))
    step = max(1, _BANK_BLOCK_VALUES // (len(bank) * n))
    for start in range(0, rows.shape[0], step):  # blocks of rows, bounded memory
        block = rows[start : start + step]
        spectrum = np.fft.rfft(block - block.mean(axis=-1, keepdims=True), axis=-1)
        env = _squared_envelope(spectrum[:, None, :] * masks, n)  # [rows, bands, n]
        m2 = env.mean(axis=-1)
        m4 = np.square(env).mean(axis=-1)
        sk = np.divide(m4, np.square(m2), out=np.zeros_like(m4), where=m2 > 0) - 2.0
        sk_all[start : start + step] = sk
    if pool:
        return bank[int(np.argmax(sk_all.mean(axis=0)))]
    return bank[np.argmax(sk_all, axis=-1)].reshape(*lead, 2)


def read_lines(
    spec: EnvelopeSpectrum,
    line_hz: np.ndarray,
    *,
    rel_tol: float = 0.02,
    floor_rel: float = 0.25,
    comb_hz: float | np.ndarray | None = None,
    guard_bins: float = 2.0,
) -> Lines:
    """Read each expected line: peak within ``±rel_tol`` of it over the local median.

    `line_hz` is ``[..., n_lines]`` and broadcasts against the windows of `spec`, so each
    window can have its own shaft speed. The search half-width is ``rel_tol x f`` (slip
    is proportional to frequency, 1-2 % for ball bearings) but never less than one bin;
    the noise floor is the median over ``±floor_rel x f`` (at least 8 bins each side).

    `comb_hz` (the shaft speed, scalar or one per window) names a comb of lines that is
    there anyway: any once-per-turn event (a needle-bar knock, a coupling, misalignment)
    puts every harmonic of shaft speed into the envelope. Bins within `guard_bins` of a
    harmonic are left out of both the search and the floor, so a shaft harmonic next to a
    defect frequency is not read as the defect (for a 6203, BPFO = 3.05 x and BPFI =
    4.95 x shaft speed). Two bins is the Hann main lobe: a line that far or further leaks
    less than -31 dB into the window. A line with no bin left reads NaN: at this
    resolution it cannot be told from the shaft harmonic. So does a line at or above the
    Nyquist frequency of the envelope spectrum.

    Lines read together compete for bins: a bin in two search windows is dropped from a
    line's window when another line is nearer to it by more than one bin, so a crowded
    spectrum (an inner-race sideband 1 % from twice the ball-spin frequency) does not
    lend one line's peak to its neighbour. Lines closer than that cannot be resolved by
    this window length and both keep the bin.
    """
    amp, lines, df, nbin = _aligned(spec, line_hz)
    comb = None if comb_hz is None else _comb_bins(comb_hz, df, lines.shape[:-1])
    centre = lines / df
    half = np.maximum(rel_tol * centre, 1.0)
    peak_val, peak_idx = _window_max(amp, centre - half, centre + half, nbin, comb, guard_bins, centre)
    floor_half = np.maximum(floor_rel * centre, 8.0)
    floor = _window_median(amp, centre - floor_half, centre + floor_half, nbin, comb, guard_bins)
    inside = (centre + half < nbin - 1) & (lines > 0) & np.isfinite(peak_val)
    ratio = np.divide(peak_val, floor, out=np.full(lines.shape, np.nan), where=inside & (floor > 0))
    peak_hz = np.where(inside, peak_idx * df, np.nan)
    return Lines(ratio=ratio, peak_hz=peak_hz)


def amplitude_spectrum(x: np.ndarray, fs_hz: float, *, axis: int = -1) -> EnvelopeSpectrum:
    """Hann-windowed amplitude spectrum of the raw signal (a sine of amplitude A reads A).

    The running-speed orders (1x imbalance, harmonics and half-orders of looseness) live
    here, not in the envelope. Returned in the same container so `line_amplitudes` and
    `read_lines` work on either; `band` is the whole range.
    """
    a = _samples(x, axis, minimum=8)
    fs = _fs(fs_hz)
    n = a.shape[-1]
    amp = _amplitude(a)
    return EnvelopeSpectrum(freqs=np.fft.rfftfreq(n, 1.0 / fs), amplitude=amp, band=np.array([0.0, fs / 2]))


def line_amplitudes(spec: EnvelopeSpectrum, line_hz: np.ndarray, *, rel_tol: float = 0.02) -> np.ndarray:
    """Peak amplitude within ``±rel_tol`` (at least one bin) of each line, ``[..., n_lines]``."""
    amp, lines, df, nbin = _aligned(spec, line_hz)
    centre = lines / df
    half = np.maximum(rel_tol * centre, 1.0)
    peak, _ = _window_max(amp, centre - half, centre + half, nbin)
    return np.where((centre + half < nbin - 1) & (lines > 0), peak, np.nan)


def _aligned(spec: EnvelopeSpectrum, line_hz: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, int]:
    """Spectrum and lines broadcast to common leading dimensions."""
    amp = spec.amplitude
    df = float(spec.freqs[1] - spec.freqs[0])
    nbin = amp.shape[-1]
    lines = v.as_float("line_hz", line_hz, allow_nan=True)
    if lines.ndim == 0:
        lines = lines[None]
    lead = np.broadcast_shapes(amp.shape[:-1], lines.shape[:-1])
    return (
        np.broadcast_to(amp, (*lead, nbin)),
        np.broadcast_to(lines, (*lead, lines.shape[-1])),
        df,
        nbin,
    )


def _squared_envelope(one_sided: np.ndarray, n: int) -> np.ndarray:
    """|analytic signal|^2 from the rfft bins that should survive (already masked)."""
    full = np.zeros((*one_sided.shape[:-1], n), dtype=np.complex128)
    full[..., : one_sided.shape[-1]] = 2.0 * one_sided
    if n % 2 == 0:
        full[..., n // 2] *= 0.5  # Nyquist is its own mirror: not doubled
    z = np.fft.ifft(full, axis=-1)
    return np.square(z.real) + np.square(z.imag)


def _amplitude(sq_env: np.ndarray) -> np.ndarray:
    """Hann-windowed, amplitude-corrected one-sided spectrum of the mean-removed envelope."""
    n = sq_env.shape[-1]
    w = np.hanning(n)
    centred = sq_env - sq_env.mean(axis=-1, keepdims=True)
    return np.abs(np.fft.rfft(centred * w, axis=-1)) * (2.0 / w.sum())


def _window_max(
    amp: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    nbin: int,
    comb: np.ndarray | None = None,
    guard: float = 0.0,
    rivals: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Max of ``amp[..., k]`` for lo <= k <= hi (fractional bounds) per line, and its bin.

    With `rivals` (the lines' own centres in bins, ``[..., n_lines]``), a bin is not used
    by a line when another line's centre is nearer to it by more than one bin.
    """
    vals, idx, ok = _gather(amp, lo, hi, nbin, comb, guard)
    if rivals is not None:
        own = np.abs(idx - rivals[..., :, None])
        nearest = np.abs(idx[..., None] - rivals[..., None, None, :]).min(axis=-1)
        ok &= own <= nearest + 1.0
    vals = np.where(ok, vals, -np.inf)
    j = np.argmax(vals, axis=-1)[..., None]
    best = np.take_along_axis(vals, j, axis=-1)[..., 0]
    return np.where(np.isfinite(best), best, np.nan), np.take_along_axis(idx, j, axis=-1)[..., 0]


def _window_median(
    amp: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    nbin: int,
    comb: np.ndarray | None = None,
    guard: float = 0.0,
) -> np.ndarray:
    """Median of ``amp[..., k]`` for lo <= k <= hi per line; NaN where the window is empty."""
    vals, _, ok = _gather(amp, lo, hi, nbin, comb, guard)
    vals = np.where(ok, vals, np.nan)
    out = np.full(vals.shape[:-1], np.nan)
    has = ok.any(axis=-1)
    if has.any():
        out[has] = np.nanmedian(vals[has], axis=-1)
    return out


def _gather(
    amp: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    nbin: int,
    comb: np.ndarray | None,
    guard: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Values and bins ``[..., n_lines, width]`` of amp ``[..., n_freqs]`` over each window.

    With a comb (its spacing in bins, ``[...]``), bins within `guard` of one of its
    harmonics are marked unusable.
    """
    idx, ok = _gather_index(lo, hi, nbin)
    if comb is not None:
        c = comb[..., None, None]
        nearest = np.maximum(np.rint(idx / c), 1.0) * c
        ok &= np.abs(idx - nearest) >= guard
    flat = idx.reshape(*idx.shape[:-2], -1)
    vals = np.take_along_axis(amp, flat, axis=-1).reshape(idx.shape)
    return vals, idx, ok


def _comb_bins(comb_hz: float | np.ndarray, df: float, lead: tuple[int, ...]) -> np.ndarray:
    c = v.as_float("comb_hz", comb_hz)
    if (c <= 0).any():
        raise ValueError("comb_hz must be > 0 (the shaft speed in Hz)")
    try:
        return np.broadcast_to(c / df, lead)
    except ValueError as exc:
        raise ValueError(f"comb_hz shape {c.shape} does not fit {lead} windows") from exc


def _gather_index(lo: np.ndarray, hi: np.ndarray, nbin: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin indices ``[..., n_lines, width]`` covering [ceil(lo), floor(hi)], and which are real."""
    lo = np.where(np.isfinite(lo), lo, nbin)  # a NaN line gets an empty window
    hi = np.where(np.isfinite(hi), hi, -1.0)
    first = np.clip(np.ceil(lo), 1, nbin - 1).astype(np.intp)  # bin 0 is the removed mean
    last = np.clip(np.floor(hi), 0, nbin - 1).astype(np.intp)
    width = int(max(1, (last - first).max(initial=0) + 1))
    idx = first[..., None] + np.arange(width)
    ok = idx <= last[..., None]
    return np.minimum(idx, nbin - 1), ok


def _bank(fs: float, levels: int, min_hz: float, min_width_hz: float) -> np.ndarray:
    if not 1 <= levels <= 8:
        raise ValueError(f"levels must be in 1..8, got {levels}")
    nyq = fs / 2
    out = []
    for level in range(1, levels + 1):
        width = nyq / 2**level
        starts = np.arange(0, nyq - width + 1e-9, width / 2)
        out.append(np.stack([starts, starts + width], axis=-1))
    bank = np.concatenate(out)
    ok = (bank[:, 0] >= min_hz) & (bank[:, 1] - bank[:, 0] >= min_width_hz)
    return bank[ok]


def _band_edges(
    band: tuple[float, float] | np.ndarray | None, lead: tuple[int, ...], fs: float
) -> tuple[np.ndarray, np.ndarray]:
    if band is None:
        return np.zeros(lead), np.full(lead, fs / 2)
    b = np.asarray(band, dtype=np.float64)
    if b.shape[-1:] != (2,):
        raise ValueError(f"band must be (lo_hz, hi_hz) or an array [..., 2], got shape {b.shape}")
    lo, hi = b[..., 0], b[..., 1]
    bad = ~((lo >= 0) & (lo < hi) & (hi <= fs / 2))
    if bad.any():
        raise ValueError(f"band {b[bad][0].tolist()} Hz must satisfy 0 <= lo < hi <= fs/2 = {fs / 2}")
    try:
        np.broadcast_shapes(lo.shape, lead)
    except ValueError as exc:
        raise ValueError(f"band shape {b.shape} does not fit {lead} windows") from exc
    return lo, hi


def _fs(fs_hz: float) -> float:
    fs = float(fs_hz)
    if not np.isfinite(fs) or fs <= 0:
        raise ValueError(f"fs_hz must be a positive sampling rate in Hz, got {fs_hz!r}")
    return fs
