"""Bearings by designation: geometry and defect orders (multiples of shaft speed).

The table itself lives in the foundation (`tonle.kernels.bearing.BEARINGS`, with its
sources) so the edge gateway and the simulator read the same numbers without importing
analytics; this module is its public face.
"""

from __future__ import annotations

from types import MappingProxyType

from tonle.kernels.bearing import BEARINGS, BearingGeometry, defect_frequencies

__all__ = ["CATALOGUE", "BearingGeometry", "bearing_geometry", "defect_orders"]

CATALOGUE = MappingProxyType(BEARINGS)
"""Designation (``"6205"``, ``"6302"``, ``"608"``, ...) -> `BearingGeometry` (read-only)."""


def bearing_geometry(bearing: str | BearingGeometry) -> BearingGeometry:
    """The geometry of a catalogue designation, or `bearing` itself when it is one."""
    if isinstance(bearing, BearingGeometry):
        return bearing
    try:
        return BEARINGS[str(bearing)]
    except KeyError:
        raise ValueError(
            f"bearing {bearing!r} is not in the catalogue ({', '.join(sorted(BEARINGS))}): "
            "pass its BearingGeometry(n_balls, ball_d, pitch_d, contact_deg) instead"
        ) from None


def defect_orders(bearing: str | BearingGeometry) -> dict[str, float]:
    """``{"BPFO", "BPFI", "BSF", "FTF"}`` as multiples of shaft speed (Hz = order x shaft_hz).

    BSF is the ball's spin frequency; a ball defect strikes at 2 x BSF (both races).
    Rolling without slip is assumed: real lines sit 1-2 % lower.
    """
    d = defect_frequencies(bearing_geometry(bearing))
    return {"BPFO": d.bpfo, "BPFI": d.bpfi, "BSF": d.bsf, "FTF": d.ftf}
