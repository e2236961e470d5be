"""Which bearing part is damaged: evidence per fault family from finely resolved envelope lines.

Each part strikes at its own rate (Randall & Antoni 2011, MSSP 25):

- outer race: BPFO and harmonics, steady (the spall does not move through the load zone);
- inner race: BPFI and 2 x BPFI, with sidebands at +-1 x shaft speed (the spall turns with
  the shaft in and out of the load zone);
- ball (rolling element): 2 x BSF (the defect hits both races each spin) and 4 x BSF, with
  sidebands at +-FTF (the ball goes round with the cage), and BSF itself;
- cage: FTF and its harmonics.

Resolution decides whether these can be told apart. On a 6203 BPFI - 1x = 3.947 x shaft
speed and 2 x BSF = 3.987 x: 1 % apart, inside one bin of a ten-turn window. So lines are
not read off FFT bins: each is measured by a zoom (the Hann-windowed squared envelope's DFT
on a grid four times finer than a bin, over +-`SLIP` of the kinematic frequency),
and a line that another family also predicts within the two search windows is *shared*:
it is evidence for neither, because at this window length it cannot say which it is. Only
lines that one family alone predicts vote.

A line's vote is its surprise under noise, in bits: for a noise-only envelope a bin exceeds
c x the local median with probability 2^(-c^2) (Rayleigh), and the best of m searched bins
with about m times that, so ``bits = c^2 - log2(m) - 2`` (a line votes only when noise
would reach it in fewer than one search in four; floored at 0, capped at `CAP_BITS` so one
huge line cannot outvote the pattern). A family's score is the sum over its unshared lines,
and 0 unless at least two of them vote: a fault is a pattern (a line and its harmonic or
sideband), not one line, which any stray tone can make. Nothing is learnt from faulty
examples: frequencies come from geometry, thresholds from these noise statistics
(`call_fault` decides).

The demodulation band is chosen per window by spectral kurtosis (Antoni's kurtogram,
`tonle.kernels.envelope.select_band`) unless the machine's resonance band is known.
numpy only: the edge gateway runs this.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tonle.kernels import checks as v
from tonle.kernels.envelope import select_band

__all__ = [
    "CAP_BITS",
    "FAULT_FAMILIES",
    "MARGIN",
    "MIN_BITS",
    "SLIP",
    "FaultLines",
    "call_fault",
    "family_lines",
    "fault_lines",
]

FAULT_FAMILIES = ("outer_race", "inner_race", "ball", "cage")
"""Columns of `FaultLines.score`."""

SLIP = 0.02  # rolling-element slip 1-2 %: search +-2 % around each kinematic line
CAP_BITS = 40.0  # one line cannot say more than this (a 6.3 x line)
_ZOOM = 4  # grid points per FFT bin
_OFFSET_BITS = 2.0  # a line votes only when noise would reach it in fewer than 1 search in 4
_GUARD_BINS = 0.75  # a zoom point this close to a shaft harmonic is not used (once-per-turn knocks)

# (family, multiple of (bpfo, bpfi, bsf, ftf, shaft)) for every line read.
_LINES: tuple[tuple[int, tuple[float, float, float, float, float]], ...] = (
    (0, (1, 0, 0, 0, 0)), (0, (2, 0, 0, 0, 0)), (0, (3, 0, 0, 0, 0)),
    (1, (0, 1, 0, 0, 0)), (1, (0, 1, 0, 0, -1)), (1, (0, 1, 0, 0, 1)),
    (1, (0, 2, 0, 0, 0)), (1, (0, 2, 0, 0, -1)), (1, (0, 2, 0, 0, 1)),
    (2, (0, 0, 2, 0, 0)), (2, (0, 0, 2, -1, 0)), (2, (0, 0, 2, 1, 0)),
    (2, (0, 0, 1, 0, 0)), (2, (0, 0, 4, 0, 0)), (2, (0, 0, 4, -1, 0)), (2, (0, 0, 4, 1, 0)),
    (3, (0, 0, 0, 1, 0)), (3, (0, 0, 0, 2, 0)), (3, (0, 0, 0, 3, 0)), (3, (0, 0, 0, 4, 0)),
)  # fmt: skip
_FAMILY = np.array([f for f, _ in _LINES])
_MULT = np.array([m for _, m in _LINES], dtype=np.float64)  # [n_lines, 5]


@dataclass(frozen=True, slots=True)
class FaultLines:
    """Per window: evidence for each of `FAULT_FAMILIES` and the band that was demodulated.

    score: ``[..., 4]`` bits of evidence (sum over the family's unshared lines); a noise-only
           window scores a few bits per family, a clear defect tens to hundreds.
    bits:  ``[..., n_lines]`` each line's vote (0 where shared or unreadable).
    band:  ``[..., 2]`` Hz.
    """

    score: np.ndarray
    bits: np.ndarray
    band: np.ndarray


def family_lines(orders: np.ndarray, shaft_hz: np.ndarray) -> np.ndarray:
    """Frequencies ``[..., n_lines]`` in Hz of every line read, for orders ``[..., 4]``."""
    o = v.as_float("orders", orders)
    fr = v.as_float("shaft_hz", shaft_hz)[..., None]
    hz = o * fr
    base = np.concatenate([hz, np.broadcast_to(fr, (*hz.shape[:-1], 1))], axis=-1)  # [..., 5]
    return base @ _MULT.T


def fault_lines(
    x: np.ndarray,
    fs_hz: float,
    shaft_hz: float | np.ndarray,
    orders: np.ndarray,
    *,
    band: tuple[float, float] | np.ndarray | None = None,
) -> FaultLines:
    """Evidence per fault family for each window of `x` ``[k, n]``.

    `shaft_hz` is one speed or one per window; `orders` the bearing's ``[bpfo, bpfi, bsf,
    ftf]`` (`tonle.kernels.bearing.DefectFrequencies.orders`).
    """
    a = v.as_float("x", x)
    if a.ndim != 2 or a.shape[1] < 64:
        raise ValueError(f"x must be windows [k, n] with n >= 64 samples, got shape {a.shape}")
    fs = float(fs_hz)
    fr = np.broadcast_to(v.as_float("shaft_hz", shaft_hz), a.shape[:1])
    if not (np.isfinite(fr).all() and (fr > 0).all()) or not fs > 0:
        raise ValueError("shaft_hz and fs_hz must be > 0: diagnose only windows taken while the shaft turns")
    lines = family_lines(orders, fr)  # [k, L]
    if band is None:
        bpfi = float(np.max(lines[:, 3]))
        band = select_band(
            a, fs, min_hz=min(3 * bpfi, fs / 4), min_width_hz=min(2 * (bpfi + fr.max()), fs / 8)
        )
    env = _squared_envelope(a, fs, band)
    fine, df = _zoom(env, fs)
    o = np.broadcast_to(v.as_float("orders", orders), (a.shape[0], 4)) * fr[:, None]
    slipping = o @ _MULT[:, :4].T  # [k, L] the defect part of each line
    fixed = fr[:, None] * _MULT[:, 4]  # shaft-rate sidebands
    bits = np.zeros(slipping.shape)
    where = np.zeros(slipping.shape)
    for f in range(len(FAULT_FAMILIES)):
        mine = np.equal(_FAMILY, f)
        b, w = _comb_bits(fine, df, slipping[:, mine], fixed[:, mine], fr)
        best = np.argmax(b.sum(axis=2), axis=1)  # the slip that fits the family best
        bits[:, mine] = b[np.arange(len(b)), best]
        where[:, mine] = w[np.arange(len(w)), best]
    bits = np.where(_shared(where, df), 0.0, bits)
    score = _scores(bits, slipping, df)
    # Explain away: lines of the other families that sit on a harmonic (or modulation
    # sideband) of the strongest family's fundamental are its lines, not theirs.
    lead = np.argmax(score, axis=1)
    explained = _explained(where, lead, fr, df)
    bits = np.where(explained & (_FAMILY[None, :] != lead[:, None]), 0.0, bits)
    score = _scores(bits, slipping, df)
    used = np.broadcast_to(np.asarray(band, dtype=np.float64), (a.shape[0], 2))
    return FaultLines(score=score, bits=bits, band=used)


def _squared_envelope(a: np.ndarray, fs: float, band: tuple[float, float] | np.ndarray) -> np.ndarray:
    """|analytic signal of the band|^2 per window (ideal band-pass in the FFT, as the kurtogram)."""
    n = a.shape[1]
    b = np.broadcast_to(np.asarray(band, dtype=np.float64), (a.shape[0], 2))
    f = np.fft.rfftfreq(n, 1.0 / fs)
    spec = np.fft.rfft(a - a.mean(axis=1, keepdims=True), axis=1)
    keep = (f > 0) & (f >= b[:, :1]) & (f <= b[:, 1:])
    full = np.zeros((a.shape[0], n), dtype=np.complex128)
    full[:, : f.size] = 2.0 * spec * keep
    z = np.fft.ifft(full, axis=1)
    return np.square(z.real) + np.square(z.imag)


def _zoom(env: np.ndarray, fs: float) -> tuple[np.ndarray, float]:
    """Hann-windowed amplitude spectrum of the squared envelope, zero-padded `_ZOOM` times.

    The same DFT sampled four times per bin: a line between two bins reads its true
    height (no scalloping) and where it is to a quarter bin; memory stays linear in n.
    """
    n = env.shape[1]
    w = np.hanning(n)
    centred = (env - env.mean(axis=1, keepdims=True)) * w
    return np.abs(np.fft.rfft(centred, n * _ZOOM, axis=1)) * (2.0 / w.sum()), fs / n


def _comb_bits(
    fine: np.ndarray, df: float, slipping: np.ndarray, fixed: np.ndarray, fr: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Bits of each line at the slip that best fits its family, and where each line was read.

    A line is ``slipping x s + fixed`` Hz: the defect part moves with the slip factor s
    (the same for every line of a family: harmonics stay harmonics, cage sidebands stay
    FTF apart), the shaft-rate sidebands do not. s is searched over ``1 +- SLIP`` in
    quarter-bin steps of the highest line; each line is read within +-half a bin of
    where s puts it. The search over s costs the family ``log2`` of the independent
    slips tried, taken off its score by the caller.
    """
    k = slipping.shape[0]
    steps = int(np.ceil(2 * SLIP * slipping.max() / df * _ZOOM)) + 1
    s = np.linspace(1 - SLIP, 1 + SLIP, steps)
    where = slipping[:, None, :] * s[None, :, None] + fixed[:, None, :]  # [k, S, L] Hz
    pos = np.rint(where / df * _ZOOM).astype(np.intp)
    offsets = np.arange(-_ZOOM // 2, _ZOOM // 2 + 1)
    idx = np.clip(pos[..., None] + offsets, 1, fine.shape[1] - 2)  # [k, S, L, W]
    flat = idx.reshape(k, -1)
    vals = np.take_along_axis(fine, flat, axis=1)
    peak_ok = (vals >= np.take_along_axis(fine, flat - 1, axis=1)) & (
        vals >= np.take_along_axis(fine, flat + 1, axis=1)
    )
    hz = flat * (df / _ZOOM)
    harmonic = np.maximum(np.rint(hz / fr[:, None]), 1.0) * fr[:, None]
    usable = peak_ok & (np.abs(hz - harmonic) >= _GUARD_BINS * df)
    line = np.where(usable, vals, 0.0).reshape(idx.shape).max(axis=-1)  # [k, S, L]
    floor = _local_median(fine[:, ::_ZOOM], slipping / df)  # [k, L]
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(floor[:, None, :] > 0, line / floor[:, None, :], 0.0)
    bits = np.clip(np.square(ratio) - _OFFSET_BITS, 0.0, CAP_BITS)
    bits = np.where((where > 0) & (where < _fs_limit(fine, df)), bits, 0.0)
    return bits, where


def _fs_limit(fine: np.ndarray, df: float) -> float:
    """Highest frequency the zoomed spectrum holds."""
    return (fine.shape[1] - 2) * df / _ZOOM


def _local_median(amp: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Median amplitude over +-max(25 %, 8 bins) around each line (bin 0 left out)."""
    nbin = amp.shape[1]
    halfw = np.maximum(0.25 * centre, 8.0)
    lo = np.clip(np.ceil(centre - halfw), 1, nbin - 1).astype(np.intp)
    hi = np.clip(np.floor(centre + halfw), 1, nbin - 1).astype(np.intp)
    width = int((hi - lo).max(initial=0)) + 1
    idx = lo[..., None] + np.arange(width)
    ok = idx <= hi[..., None]
    vals = np.take_along_axis(amp[:, None, :], np.minimum(idx, nbin - 1), axis=2)
    return np.nanmedian(np.where(ok, vals, np.nan), axis=2)


def _scores(bits: np.ndarray, slipping: np.ndarray, df: float) -> np.ndarray:
    """Family scores: the sum of its lines' bits less the cost of the slip search; 0 unless
    two lines vote (a fault is a pattern, not one line)."""
    score = np.zeros((bits.shape[0], len(FAULT_FAMILIES)))
    for f in range(len(FAULT_FAMILIES)):
        mine = bits[:, np.equal(_FAMILY, f)]
        tried = np.log2(max(2 * SLIP * float(slipping[:, np.equal(_FAMILY, f)].max()) / df, 1.0))
        votes = (mine > 0).sum(axis=1)
        score[:, f] = np.where(votes >= 2, np.maximum(mine.sum(axis=1) - tried, 0.0), 0.0)
    return score


def _explained(where: np.ndarray, lead: np.ndarray, fr: np.ndarray, df: float) -> np.ndarray:
    """bool ``[k, L]``: the line is within a bin of a harmonic (1-12) of the lead family's
    fundamental, or of such a harmonic +- its modulation rate (FTF for ball, none for cage,
    the shaft for the races: any unbalance modulates a race pattern at 1x)."""
    k = np.arange(len(lead))
    first = np.array([np.flatnonzero(np.equal(_FAMILY, f))[0] for f in range(len(FAULT_FAMILIES))])
    f0 = where[k, first[lead]] / np.where(lead == 2, 2.0, 1.0)  # ball: 2 x BSF is read first
    ftf = where[k, np.flatnonzero(np.equal(_FAMILY, 3))[0]]
    mod = np.select([lead == 2, lead == 3], [ftf, 0.0], fr)  # any race pattern may carry 1x sidebands
    combs = f0[:, None, None] * np.arange(1, 13)[None, :, None] + mod[:, None, None] * np.array(
        [-1.0, 0.0, 1.0]
    )
    gap = np.abs(where[:, :, None] - combs.reshape(len(lead), 1, -1))
    return (gap < df).any(axis=2)


def _shared(where: np.ndarray, df: float) -> np.ndarray:
    """bool ``[k, L]``: another family's line, where its best slip puts it, is within a bin."""
    gap = np.abs(where[..., :, None] - where[..., None, :])
    near = gap < df
    other = _FAMILY[:, None] != _FAMILY[None, :]
    return (near & other).any(axis=-1)


MIN_BITS = 20.0  # a family must say at least this much (noise-only windows: < 1 family in 200 reaches it)
MARGIN = 1.5  # and say it this many times louder than any other family
# A damaged ball goes round with the cage, so its pattern carries cage-rate lines: cage
# evidence does not compete against a ball call (the converse does not hold).
_EXPLAINS = {2: (3,)}


def call_fault(
    score: np.ndarray, *, min_bits: float = MIN_BITS, margin: float = MARGIN
) -> tuple[np.ndarray, np.ndarray]:
    """(family index or -1, confidence) per window from `FaultLines.score` ``[k, 4]``.

    A family is named when its score is at least `min_bits` and `margin` times the best
    competing family's. Confidence of a call is ``1 - rival / score`` (0 when the rival
    says as much, 1 when it says nothing); of no call, ``1 - best / min_bits`` clipped to
    [0, 1] (how far the strongest family is from being heard at all).
    """
    s = np.nan_to_num(v.as_float("score", score))
    if s.ndim != 2 or s.shape[1] != len(FAULT_FAMILIES):
        raise ValueError(f"score must be [k, {len(FAULT_FAMILIES)}], got shape {s.shape}")
    best = np.argmax(s, axis=1)
    top = s[np.arange(len(s)), best]
    rival = np.zeros(len(s))
    for f in range(len(FAULT_FAMILIES)):
        others = [g for g in range(len(FAULT_FAMILIES)) if g != f and g not in _EXPLAINS.get(f, ())]
        rival = np.where(best == f, s[:, others].max(axis=1), rival)
    named = (top >= min_bits) & (top >= margin * rival)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf_named = np.where(top > 0, 1.0 - rival / top, 0.0)
    conf_none = np.clip(1.0 - top / min_bits, 0.0, 1.0)
    return np.where(named, best, -1), np.where(named, conf_named, conf_none)
