"""`diagnose`: is each vibration window abnormal, which bearing part is damaged, how sure.

Two questions answered separately, because they need different evidence:

- *Abnormal?* Against the machine's own healthy windows (`reference`) when the plant has
  them: log RMS or kurtosis far outside the reference spread (robust z > `Z_LIMIT`, with
  floors so a very steady reference does not make every window abnormal). Without a
  reference, kurtosis above `KURTOSIS_LIMIT` (a healthy bearing's vibration is close to
  Gaussian, kurtosis 3; spalls make it spiky). A window whose envelope shows any bearing
  pattern clearly (`MIN_BITS`) is abnormal either way.
- *Which part?* `tonle.kernels.fault_lines`: the demodulation band from spectral kurtosis
  per window, the defect lines of each part read by a zoomed envelope spectrum, shared
  lines discarded, and a part named only when its evidence clearly beats every other's.
  Abnormal but no part named is ``unknown``: the machine is bad, the spectrum does not say
  why (a fault type the bearing model does not cover, a wrong bearing or speed).

Nothing here is fitted to faulty recordings: frequencies come from geometry, every threshold
from noise statistics or the stated rule of thumb.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics.pdm.catalogue import BearingGeometry, bearing_geometry
from tonle.kernels import checks as v
from tonle.kernels.bearing import defect_frequencies
from tonle.kernels.fault_lines import FAULT_FAMILIES, MIN_BITS, call_fault, fault_lines

__all__ = ["FAULTS", "KURTOSIS_LIMIT", "Z_LIMIT", "Diagnosis", "diagnose", "name_faults"]

FAULTS = (*FAULT_FAMILIES, "unknown", "none")
"""Every value `Diagnosis.fault` takes."""

KURTOSIS_LIMIT = 4.0  # no reference: above this a window is spiky enough to be abnormal
Z_LIMIT = 4.0  # with a reference: robust z-score of log RMS or kurtosis beyond this
_LOG_RMS_FLOOR = np.log(1.25)  # a 25 % RMS change is within any machine's day-to-day spread
_KURT_FLOOR = 0.25


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """One entry per window.

    abnormal:   bool [k].
    fault:      str [k], one of `FAULTS`.
    confidence: float [k] in [0, 1]: for a named part, 1 - (the best rival's evidence / its
                own); for ``none`` and ``unknown``, how far the strongest bearing pattern
                is from being heard at all (1: nothing, 0: at the threshold).
    evidence:   float [k, 4] bits of evidence for outer_race, inner_race, ball, cage.
    band_hz:    float [k, 2] the demodulated band.
    """

    abnormal: np.ndarray
    fault: np.ndarray
    confidence: np.ndarray
    evidence: np.ndarray
    band_hz: np.ndarray


def diagnose(
    windows: np.ndarray,
    fs: float,
    shaft_hz: float | np.ndarray,
    bearing: str | BearingGeometry,
    reference: np.ndarray | None = None,
    *,
    band_hz: tuple[float, float] | None = None,
) -> Diagnosis:
    """Diagnose each row of `windows` ``[k, n]`` (samples at `fs` Hz, any unit).

    `shaft_hz` is the speed of the shaft the bearing sits on, one value or one per window;
    `bearing` a catalogue designation (`analytics.pdm.CATALOGUE`) or a `BearingGeometry`;
    `reference` healthy windows ``[m, n']`` of the same machine and sensor, if any;
    `band_hz` the machine's resonance band when known (else chosen per window). Windows of
    at least 20 shaft turns separate ball from inner-race lines on small bearings.
    """
    x = v.as_float("windows", windows)
    if x.ndim != 2:
        raise ValueError(f"windows must be [k, n], got shape {x.shape}")
    orders = defect_frequencies(bearing_geometry(bearing)).orders
    ev = fault_lines(x, fs, shaft_hz, orders, band=band_hz)
    part, confidence = call_fault(ev.score)
    abnormal = _abnormal(x, reference) | (ev.score.max(axis=1) >= MIN_BITS)
    names = np.array(FAULTS, dtype=object)
    fault = np.where(part >= 0, names[np.clip(part, 0, None)], np.where(abnormal, "unknown", "none"))
    return Diagnosis(
        abnormal=abnormal,
        fault=fault.astype(str),
        confidence=confidence,
        evidence=ev.score,
        band_hz=ev.band,
    )


def name_faults(evidence: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fault, confidence) per window from `Diagnosis.evidence` ``[k, 4]`` computed elsewhere.

    The edge gateway sends the evidence of each burst (`tonle.kernels.fault_lines`), not
    the waveform; this names the part exactly as `diagnose` would. Without the windows
    there is no abnormality test, so a window with no part named is ``none``.
    """
    part, confidence = call_fault(v.as_float("evidence", evidence))
    names = np.array(FAULTS, dtype=object)
    return np.where(part >= 0, names[np.clip(part, 0, None)], "none").astype(str), confidence


def _abnormal(x: np.ndarray, reference: np.ndarray | None) -> np.ndarray:
    log_rms, kurt = _levels(x)
    if reference is None:
        return kurt > KURTOSIS_LIMIT
    ref = v.as_float("reference", reference)
    if ref.ndim != 2 or ref.shape[0] < 3:
        raise ValueError(f"reference must be at least 3 healthy windows [m, n], got shape {ref.shape}")
    r_rms, r_kurt = _levels(ref)
    z_rms = _robust_z(log_rms, r_rms, _LOG_RMS_FLOOR / Z_LIMIT)
    z_kurt = _robust_z(kurt, r_kurt, _KURT_FLOOR)
    return (z_rms > Z_LIMIT) | (z_kurt > Z_LIMIT)


def _levels(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    c = x - x.mean(axis=1, keepdims=True)
    m2 = np.mean(c * c, axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        kurt = np.where(m2 > 0, np.mean(c**4, axis=1) / np.square(m2), 0.0)
        return 0.5 * np.log(np.maximum(m2, 1e-300)), kurt


def _robust_z(x: np.ndarray, ref: np.ndarray, floor: float) -> np.ndarray:
    centre = float(np.median(ref))
    sigma = max(1.4826 * float(np.median(np.abs(ref - centre))), floor)
    return (x - centre) / sigma
