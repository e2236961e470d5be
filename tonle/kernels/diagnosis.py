"""Which fault is it? A hint from the spectrum, given only when the spectrum supports it.

Bearing faults are told apart by *where* the envelope spectrum has lines, not by how
big anything is: an outer-race spall is struck at BPFO, an inner-race spall at BPFI
(and, because it turns with the shaft in and out of the load zone, with sidebands at
± shaft speed), a damaged ball at its spin frequency BSF and 2 x BSF (it hits both
races), modulated by the cage (FTF). Those frequencies come from the bearing geometry
(`tonle.kernels.bearing`), so nothing is learnt from faulty examples.

A family counts as present when its key line stands clearly above the local noise
floor *and* a second line of the same family (a harmonic or a sideband) backs it up.
The two thresholds come from noise statistics, not from data: for a noise-only
envelope spectrum a bin exceeds c x the local median with probability 2^(-c^2), so a key
line at 4x (p ~ 1.5e-5 per bin) and a supporting one at 2.5x (p ~ 1.3e-2) are together
a false alarm about once in 10^6 reads. Requiring a second line also keeps harmonics
of one family that happen to fall on another family's line (at CWRU 3 x BPFO = 2 x
BPFI within 0.6 %) from voting for the wrong fault.

Imbalance and looseness show in the plain spectrum at running-speed orders and need the
machine's own healthy baseline: a 1x line grown alone is imbalance, many harmonics and
half-orders grown together is looseness (the usual vibration-analysis rules of thumb,
e.g. ISO 13373-3 annexes).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tonle.kernels import checks as v
from tonle.kernels.envelope import (
    amplitude_spectrum,
    envelope_spectrum,
    line_amplitudes,
    read_lines,
    select_band,
)

__all__ = [
    "FAMILIES",
    "FAULT_HINTS",
    "ORDERS",
    "BearingEvidence",
    "OrderLines",
    "bearing_evidence",
    "burst_length",
    "consensus_hint",
    "fault_hint",
    "order_lines",
]

FAULT_HINTS = ("none", "outer_race", "inner_race", "ball", "imbalance", "looseness", "cage")
"""Codes returned by `fault_hint` (index into this tuple); `cage` is named only from
`tonle.kernels.fault_lines` evidence (appended last, so older codes keep their values)."""

ORDERS = (0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0)
"""Running-speed orders read by `order_lines`: 1x, its harmonics and half-orders."""

LINE_RATIO = 4.0  # key line over local noise floor (P ~ 1.5e-5 per bin for noise)
SUPPORT_RATIO = 2.5  # a second line of the same family (P ~ 1.3e-2)
GROWTH = 2.0  # an order line doubled since the baseline (+6 dB) is a real change
SLIP = 0.02  # ball bearings slip 1-2 %: lines are searched within ±2 %

FAMILIES = ("outer_race", "inner_race", "ball")
"""The bearing families, in the order of the last axis of `BearingEvidence`."""


def burst_length(fs_hz: float, shaft_hz: float, revolutions: float = 10.0) -> int:
    """Samples per window for envelope analysis: the power of two covering `revolutions` turns.

    Ten turns give a few dozen defect impacts to average over and a frequency resolution
    of a tenth of shaft speed, enough to separate a defect line from the shaft harmonic
    next to it and to see ± 1x sidebands. Fewer turns and lines blur into each other.
    """
    if not fs_hz > 0 or not shaft_hz > 0 or not revolutions > 0:
        raise ValueError(f"need fs_hz, shaft_hz and revolutions > 0, got {fs_hz}, {shaft_hz}, {revolutions}")
    return 1 << max(3, int(np.ceil(np.log2(revolutions * fs_hz / shaft_hz))))


@dataclass(frozen=True, slots=True)
class BearingEvidence:
    """Envelope-spectrum evidence per window for (outer race, inner race, ball), ``[..., 3]``.

    key:     ratio of the family's key line to the local noise floor: BPFO; the strongest
             of BPFI and its ±1x sidebands; the strongest of BSF, 2 x BSF and its ±FTF
             sidebands.
    support: best ratio among the family's other lines (harmonics, sidebands).
    peak_hz: where the key line actually is (slip and speed error included).
    band:    [..., 2] the demodulated band in Hz.
    """

    key: np.ndarray
    support: np.ndarray
    peak_hz: np.ndarray
    band: np.ndarray

    def present(self, line_ratio: float = LINE_RATIO, support_ratio: float = SUPPORT_RATIO) -> np.ndarray:
        """bool ``[..., 3]``: the family's key line and one supporting line are both clear."""
        with np.errstate(invalid="ignore"):
            return (self.key >= line_ratio) & (self.support >= support_ratio)


def bearing_evidence(
    x: np.ndarray,
    fs_hz: float,
    shaft_hz: float | np.ndarray,
    orders: np.ndarray,
    *,
    band: tuple[float, float] | np.ndarray | None = None,
    whiten: bool = False,
    axis: int = -1,
) -> BearingEvidence:
    """Read the outer-race, inner-race and ball lines in the envelope spectrum of each window.

    `orders` are the bearing's ``[bpfo, bpfi, bsf, ftf]`` multiples of shaft speed
    (`DefectFrequencies.orders`), ``[4]`` or one row per window; `shaft_hz` a scalar or
    one value per window (a derated machine turns slower). `band` is the machine type's
    resonance band if known; otherwise each window gets the band of highest spectral
    kurtosis that starts above 3 x BPFI and is wide enough for BPFI's sidebands.
    """
    x = np.moveaxis(v.as_float("x", x), axis, -1)
    o = v.as_float("orders", orders)
    if o.shape[-1:] != (4,):
        raise ValueError(f"orders must end with 4 values (bpfo, bpfi, bsf, ftf), got shape {o.shape}")
    fr = v.as_float("shaft_hz", shaft_hz)
    if (fr <= 0).any():
        raise ValueError("shaft_hz must be > 0: diagnose only windows recorded while the shaft turns")
    fr = fr[..., None]  # broadcast against the order axis
    bpfo, bpfi, bsf, ftf = (o[..., i : i + 1] * fr for i in range(4))
    if band is None:
        top_line = np.max(3 * bpfi)
        width = np.max(2 * (bpfi + fr))
        band = select_band(x, fs_hz, min_hz=float(top_line), min_width_hz=float(width))
    spec = envelope_spectrum(x, fs_hz, band, whiten=whiten)
    lines = np.concatenate(
        np.broadcast_arrays(
            bpfo, 2 * bpfo, 3 * bpfo,  # 0-2 outer race
            bpfi, 2 * bpfi, bpfi - fr, bpfi + fr,  # 3-6 inner race: harmonic, shaft sidebands
            bsf, 2 * bsf, 2 * bsf - ftf, 2 * bsf + ftf, 3 * bsf, 4 * bsf,  # 7-12 ball, cage sidebands
        ),
        axis=-1,
    )  # fmt: skip
    r = read_lines(spec, lines, rel_tol=SLIP, comb_hz=fr[..., 0])
    ratio = np.nan_to_num(r.ratio, nan=0.0)  # unreadable: no evidence either way
    outer = _key_and_support(ratio[..., 0:3], r.peak_hz[..., 0:3], n_key=1)
    # Inner race: the spall turns with the shaft in and out of the load zone, which can
    # move most of the line's energy into the +-1x sidebands, so any of the three is key.
    inner = _key_and_support(ratio[..., [3, 5, 6, 4]], r.peak_hz[..., [3, 5, 6, 4]], n_key=3)
    # Ball: which of BSF, 2 x BSF and the cage sidebands is readable depends on how close
    # each sits to a shaft harmonic, so the strongest of them is key.
    ball = _key_and_support(ratio[..., 7:13], r.peak_hz[..., 7:13], n_key=4)
    key, support, peak = (np.stack(parts, axis=-1) for parts in zip(outer, inner, ball, strict=True))
    return BearingEvidence(key=key, support=support, peak_hz=peak, band=spec.band)


def _key_and_support(
    ratio: np.ndarray, peak_hz: np.ndarray, n_key: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The strongest of the first `n_key` lines, the best of all the others, and where the key is."""
    best = np.argmax(ratio[..., :n_key], axis=-1)[..., None]
    key = np.take_along_axis(ratio, best, axis=-1)[..., 0]
    others = np.where(np.arange(ratio.shape[-1]) == best, 0.0, ratio).max(axis=-1)
    return key, others, np.take_along_axis(peak_hz, best, axis=-1)[..., 0]


@dataclass(frozen=True, slots=True)
class OrderLines:
    """Running-speed order lines of the plain spectrum, ``[..., len(ORDERS)]``.

    amplitude: peak amplitude at each order (input unit): learn it into the baseline.
    ratio:     that peak over the local noise floor: is there a line at all?
    """

    amplitude: np.ndarray
    ratio: np.ndarray


def order_lines(x: np.ndarray, fs_hz: float, shaft_hz: float | np.ndarray, *, axis: int = -1) -> OrderLines:
    """Amplitude and line ratio of the plain spectrum at each of `ORDERS` x shaft speed.

    Learn the amplitudes into the machine's baseline like any other feature; `fault_hint`
    compares new windows with it to call imbalance and looseness.
    """
    fr = v.as_float("shaft_hz", shaft_hz)
    if (fr <= 0).any():
        raise ValueError("shaft_hz must be > 0: read orders only while the shaft turns")
    spec = amplitude_spectrum(x, fs_hz, axis=axis)
    want = fr[..., None] * np.asarray(ORDERS)
    amplitude = line_amplitudes(spec, want, rel_tol=SLIP / 2)
    return OrderLines(amplitude=amplitude, ratio=read_lines(spec, want, rel_tol=SLIP / 2).ratio)


def fault_hint(
    evidence: BearingEvidence | None = None,
    *,
    orders_now: OrderLines | None = None,
    orders_base: np.ndarray | None = None,
    line_ratio: float = LINE_RATIO,
    support_ratio: float = SUPPORT_RATIO,
    growth: float = GROWTH,
) -> np.ndarray:
    """Index into `FAULT_HINTS` per window: 0 ('none') unless the spectrum supports a fault.

    Bearing families come first (they are specific): the present family with the
    strongest key line wins. Without bearing lines, running-speed orders that are real
    lines now (ratio >= `line_ratio`) and grew by at least `growth` x over the baseline
    amplitudes `orders_base` say 'looseness' when three or more harmonics or half-orders
    grew (a loose part rattles at many orders) and 'imbalance' when 1x grew and outgrew
    every other order. Either source may be omitted.
    """
    shape = _hint_shape(evidence, orders_now, orders_base)
    hint = np.zeros(shape, dtype=np.intp)
    if orders_now is not None and orders_base is not None:
        hint = np.maximum(hint, _order_hint(orders_now, orders_base, growth, line_ratio))
    if evidence is not None:
        present = evidence.present(line_ratio, support_ratio)
        strength = np.where(present, evidence.key, -np.inf)
        best = np.argmax(strength, axis=-1)
        bearing = np.where(present.any(axis=-1), best + 1, 0)  # 1..3 = outer, inner, ball
        hint = np.where(bearing > 0, bearing, hint)
    return hint


def consensus_hint(hints: np.ndarray, *, min_share: float = 0.5, axis: int = -1) -> np.ndarray:
    """One hint per machine from the hints of its recent bursts (along `axis`).

    The most frequent fault wins if at least `min_share` of the bursts name it, else
    'none'. A single burst can be unlucky (on the healthy simulator about 1 burst in
    250 is misread, when a shaft-harmonic knock leaks next to a defect line); a majority
    of bursts is not, and a real defect is there in every burst.
    """
    h = np.moveaxis(np.asarray(hints), axis, -1)
    if h.dtype.kind not in "iu" or (h.size and (h.min() < 0 or h.max() >= len(FAULT_HINTS))):
        raise ValueError(f"hints must be indices into FAULT_HINTS (0..{len(FAULT_HINTS) - 1})")
    if not 0 < min_share <= 1:
        raise ValueError(f"min_share must be in (0, 1], got {min_share}")
    counts = (h[..., None] == np.arange(1, len(FAULT_HINTS))).sum(axis=-2)  # [..., faults]
    best = np.argmax(counts, axis=-1)
    enough = np.take_along_axis(counts, best[..., None], axis=-1)[..., 0] >= min_share * max(h.shape[-1], 1)
    return np.where(enough & (h.shape[-1] > 0), best + 1, 0)


def _order_hint(now: OrderLines, base: np.ndarray, growth: float, line_ratio: float) -> np.ndarray:
    a = v.as_float("orders_now.amplitude", now.amplitude, allow_nan=True)
    b = v.as_float("orders_base", base, allow_nan=True)
    if a.shape[-1] != len(ORDERS) or b.shape[-1] != len(ORDERS):
        raise ValueError(f"orders_now/orders_base must end with {len(ORDERS)} orders {ORDERS}")
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where((b > 0) & (np.nan_to_num(now.ratio) >= line_ratio), a / b, 0.0)
    g = np.nan_to_num(g, nan=0.0)
    one = ORDERS.index(1.0)
    others = np.delete(g, one, axis=-1)
    loose = (others >= growth).sum(axis=-1) >= 3
    unbalanced = (g[..., one] >= growth) & (g[..., one] > others.max(axis=-1))
    imbalance = FAULT_HINTS.index("imbalance")
    looseness = FAULT_HINTS.index("looseness")
    return np.where(loose, looseness, np.where(unbalanced, imbalance, 0))


def _hint_shape(
    evidence: BearingEvidence | None, now: OrderLines | None, base: np.ndarray | None
) -> tuple[int, ...]:
    shapes = []
    if evidence is not None:
        shapes.append(np.shape(evidence.key)[:-1])
    if now is not None and base is not None:
        shapes.append(np.broadcast_shapes(np.shape(now.amplitude), np.shape(base))[:-1])
    if not shapes:
        raise ValueError("fault_hint needs bearing evidence, or orders_now with orders_base, or both")
    return np.broadcast_shapes(*shapes)
