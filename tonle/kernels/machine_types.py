"""The garment machine-type catalogue: rated speed, arm-shaft bearing and housing resonance.

One table for every stage, so a machine type means the same machine everywhere: the
simulator builds its stations from it (`firmware_sim.spec`), the predictive-maintenance
config takes its defaults from it (`tonle.config.pdm.DEFAULT_MACHINE_TYPES`), and the edge
reads envelope evidence with those defaults (plus what a gateway file adds).

Engineering values, not measurements: rated speeds are typical operating speeds just
under the makers' maximum (one arm-shaft turn per stitch, so stitches per minute are
shaft rpm), every head carries a 6203 arm-shaft bearing, and the heads' housing
resonances lie between 2.6 and 3.4 kHz. The envelope band is that range widened by
300 Hz on each side, so a head whose resonance sits at an edge still rings inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tonle.kernels.bearing import BEARINGS

__all__ = ["MACHINE_SPM", "MACHINE_TYPES", "SEWING_BAND_HZ", "SEWING_RESONANCE_HZ", "MachineType"]

SEWING_RESONANCE_HZ = (2600.0, 3400.0)
SEWING_BAND_HZ = (2300.0, 3700.0)


@dataclass(frozen=True, slots=True)
class MachineType:
    """What the pipeline knows about one machine model.

    rated_spm:     stitches (shaft turns) per minute at 100 % speed; a derate scales it.
    bearing:       the arm-shaft bearing, a name in `tonle.kernels.bearing.BEARINGS`.
    resonance_hz:  where the heads' structural resonances lie (the simulator draws each
                   head's resonance from this range).
    band_hz:       the band envelope analysis demodulates: the resonances with a margin.
    """

    rated_spm: float
    bearing: str = "6203"
    resonance_hz: tuple[float, float] = SEWING_RESONANCE_HZ
    band_hz: tuple[float, float] = SEWING_BAND_HZ

    def __post_init__(self) -> None:
        if not self.rated_spm > 0:
            raise ValueError(f"rated_spm={self.rated_spm} must be above 0")
        if self.bearing not in BEARINGS:
            raise ValueError(f"bearing {self.bearing!r} is unknown; use one of {sorted(BEARINGS)}")
        (r_lo, r_hi), (b_lo, b_hi) = self.resonance_hz, self.band_hz
        if not 0 < r_lo <= r_hi or not b_lo <= r_lo or not r_hi <= b_hi:
            raise ValueError(
                f"resonance_hz={self.resonance_hz} must be a range inside band_hz={self.band_hz}"
            )


MACHINE_TYPES: dict[str, MachineType] = {
    "lockstitch": MachineType(rated_spm=4000.0),
    "overlock": MachineType(rated_spm=6000.0),
    "coverstitch": MachineType(rated_spm=5000.0),
    "buttonhole": MachineType(rated_spm=3600.0),
    "button_sew": MachineType(rated_spm=2700.0),
    "bartack": MachineType(rated_spm=2700.0),
}

MACHINE_SPM: dict[str, float] = {name: t.rated_spm for name, t in MACHINE_TYPES.items()}
"""Rated stitches per minute by machine type (a view of `MACHINE_TYPES`)."""
