"""Rolling-element bearing defect frequencies from geometry (pure, no I/O).

The simulator uses these to put defect impulses into its vibration and the
analytics reads the envelope spectrum at the same frequencies, so one formula
serves both ends. Standard kinematic formulas (e.g. Randall & Antoni 2011).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["BEARINGS", "DEFECTS", "BearingGeometry", "DefectFrequencies", "defect_frequencies", "defect_hz"]

DEFECTS = ("bpfo", "bpfi", "bsf", "ftf")
"""Order of the last axis of `defect_hz` and `DefectFrequencies.orders`."""


@dataclass(frozen=True, slots=True)
class BearingGeometry:
    """Ball count, ball and pitch diameters (same unit) and contact angle in degrees."""

    n_balls: int
    ball_d: float
    pitch_d: float
    contact_deg: float = 0.0

    def __post_init__(self) -> None:
        if self.n_balls < 3 or not 0 < self.ball_d < self.pitch_d:
            raise ValueError(
                f"bearing geometry n_balls={self.n_balls}, ball_d={self.ball_d}, "
                f"pitch_d={self.pitch_d} is impossible: need n_balls >= 3 and 0 < ball_d < pitch_d"
            )
        if not 0 <= self.contact_deg < 90:
            raise ValueError(
                f"contact_deg={self.contact_deg} must be in [0, 90): 0 for a deep-groove ball bearing, "
                "the catalogue value (e.g. 15 or 40) for an angular-contact one"
            )


@dataclass(frozen=True, slots=True)
class DefectFrequencies:
    """Defect frequencies as multiples of shaft speed (orders)."""

    bpfo: float
    bpfi: float
    bsf: float
    ftf: float

    def hz(self, shaft_hz: float | np.ndarray) -> dict[str, float | np.ndarray]:
        return {k: getattr(self, k) * shaft_hz for k in DEFECTS}

    @property
    def orders(self) -> np.ndarray:
        """``[bpfo, bpfi, bsf, ftf]`` as an array, in the order of `DEFECTS`."""
        return np.array([self.bpfo, self.bpfi, self.bsf, self.ftf])


def defect_frequencies(g: BearingGeometry) -> DefectFrequencies:
    """Orders of the four defect frequencies, assuming rolling without slip.

    Real bearings slip by 1-2 %, so a reader of a spectrum must search a small band
    around each line rather than one bin.
    """
    r = g.ball_d / g.pitch_d * math.cos(math.radians(g.contact_deg))
    n = g.n_balls
    return DefectFrequencies(
        bpfo=n / 2 * (1 - r),
        bpfi=n / 2 * (1 + r),
        bsf=g.pitch_d / (2 * g.ball_d) * (1 - r * r),
        ftf=0.5 * (1 - r),
    )


def defect_hz(orders: np.ndarray, shaft_hz: float | np.ndarray) -> np.ndarray:
    """Defect frequencies in Hz, ``[..., 4]`` in the order of `DEFECTS`.

    `orders` is ``[4]`` or ``[n, 4]`` (one bearing per machine), `shaft_hz` a scalar or
    ``[n]``: each machine's own shaft speed, which a derate lowers and slip changes.
    """
    o = np.asarray(orders, dtype=np.float64)
    f = np.asarray(shaft_hz, dtype=np.float64)
    if o.shape[-1:] != (4,):
        raise ValueError(f"orders must end with an axis of 4 (bpfo, bpfi, bsf, ftf), got shape {o.shape}")
    if not (np.isfinite(f).all() and (f > 0).all()):
        raise ValueError(f"shaft_hz must be positive and finite, got {f!r}: is the machine turning?")
    return o * f[..., None]


# Geometries used by the simulator, in the validation data and on the machines Tonle watches.
# Ball count and diameter, pitch diameter (same unit), contact angle. Sources:
# - "6205": CWRU Bearing Data Center, "Apparatus & Procedures" (SKF 6205-2RS JEM, inches);
#   "6203" the CWRU fan-end SKF 6203-2RS JEM from the same page (0.2656 in / 1.122 in = mm below);
#   "ZA-2115": IMS rig, Qiu et al. 2006 (Rexnord ZA-2115, inches).
# - the other deep-groove sizes: bore d and outside diameter D from ISO 15 (boundary
#   dimensions, identical in every maker's catalogue); pitch diameter taken as (d + D) / 2,
#   the usual approximation when the maker does not publish it; ball count and diameter of
#   the common standard internal design (inch-series balls). Makers differ by a ball now
#   and then: where the maker's defect-frequency table for the exact part is at hand, pass
#   that geometry instead (the diagnosis searches +-2 % around each line, which covers the
#   pitch approximation but not a different ball count).
BEARINGS: dict[str, BearingGeometry] = {
    "6205": BearingGeometry(n_balls=9, ball_d=0.3126, pitch_d=1.537),
    "6203": BearingGeometry(n_balls=8, ball_d=6.747, pitch_d=28.5),
    "ZA-2115": BearingGeometry(n_balls=16, ball_d=0.331, pitch_d=2.815, contact_deg=15.17),
    # 62xx light series (d x D mm): motors, arm and hook shafts of industrial sewing machines.
    "6200": BearingGeometry(n_balls=8, ball_d=4.762, pitch_d=20.0),  # 10 x 30
    "6201": BearingGeometry(n_balls=7, ball_d=5.953, pitch_d=22.0),  # 12 x 32
    "6202": BearingGeometry(n_balls=8, ball_d=5.953, pitch_d=25.0),  # 15 x 35
    "6204": BearingGeometry(n_balls=8, ball_d=7.938, pitch_d=33.5),  # 20 x 47
    "6206": BearingGeometry(n_balls=9, ball_d=9.525, pitch_d=46.0),  # 30 x 62
    # 63xx medium series: clutch and servo motors.
    "6300": BearingGeometry(n_balls=7, ball_d=6.350, pitch_d=22.5),  # 10 x 35
    "6301": BearingGeometry(n_balls=7, ball_d=6.747, pitch_d=24.5),  # 12 x 37
    "6302": BearingGeometry(n_balls=7, ball_d=7.938, pitch_d=28.5),  # 15 x 42
    "6303": BearingGeometry(n_balls=7, ball_d=8.731, pitch_d=32.0),  # 17 x 47
    "6304": BearingGeometry(n_balls=7, ball_d=9.525, pitch_d=36.0),  # 20 x 52
    "6305": BearingGeometry(n_balls=7, ball_d=11.509, pitch_d=43.5),  # 25 x 62
    # 608 miniature (8 x 22): small motors, fans, bobbin winders.
    "608": BearingGeometry(n_balls=7, ball_d=3.969, pitch_d=15.0),
}
