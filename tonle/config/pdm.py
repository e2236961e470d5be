"""Configuration for predictive maintenance: one entry per machine type.

`[analytics.pdm]` in tonle.toml (`AnalyticsPdmConfig`) and `[machine_types]` in a
gateway file use the same `MachineTypePdm` entries. The shape in a Tonle TOML file::

    [analytics.pdm]
    baseline_samples = 30

    [analytics.pdm.machine_types.lockstitch]
    shaft_rpm = 4000          # one arm-shaft turn per stitch: the rated stitches per minute
    band_hz = [2300.0, 3700.0] # the housing resonance the bearing impacts ring; omit = automatic
    bearing = "6203"          # a name from tonle.kernels.bearing.BEARINGS ...

    [analytics.pdm.machine_types.overlock.bearing]   # ... or the catalogue geometry
    model = "SKF 6202-2RSH"
    n_balls = 8
    ball_d = 5.953
    pitch_d = 25.0
    contact_deg = 0.0

Why per machine type: the defect frequencies depend only on the bearing's geometry and
the shaft speed, and every machine of a model carries the same bearing; the healthy
baseline, which does differ machine to machine, is learnt, not configured.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated

import msgspec
import numpy as np

from tonle.kernels.bearing import BEARINGS, BearingGeometry, defect_frequencies
from tonle.kernels.machine_types import MACHINE_TYPES, SEWING_BAND_HZ
from tonle.messages import _

__all__ = [
    "DEFAULT_MACHINE_TYPES",
    "SEWING_BAND_HZ",
    "BearingSpec",
    "MachineTypePdm",
    "PdmConfig",
    "with_default_types",
]

PosFloat = Annotated[float, msgspec.Meta(gt=0)]


class _Section(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True, omit_defaults=True):
    pass


class BearingSpec(_Section, frozen=True):
    """Rolling-element bearing geometry as printed in the maker's catalogue.

    Diameters in any one unit (mm or inches): only their ratio matters.
    """

    n_balls: Annotated[int, msgspec.Meta(ge=3, le=200)]
    ball_d: PosFloat
    pitch_d: PosFloat
    contact_deg: Annotated[float, msgspec.Meta(ge=0, lt=90)] = 0.0
    model: str = ""

    def __post_init__(self) -> None:
        if not self.ball_d < self.pitch_d:
            raise ValueError(
                _(
                    "bearing {model}: ball_d={ball_d} must be smaller than pitch_d={pitch_d} "
                    "(pitch diameter = (bore + outside diameter) / 2)"
                ).format(model=self.model or _("(unnamed)"), ball_d=self.ball_d, pitch_d=self.pitch_d)
            )

    def geometry(self) -> BearingGeometry:
        return BearingGeometry(self.n_balls, self.ball_d, self.pitch_d, self.contact_deg)


class MachineTypePdm(_Section, frozen=True):
    """What the analytics needs to know about one machine model to diagnose it.

    shaft_rpm:      shaft speed at 100 % (a derate scales it); for a lockstitch machine
                    the arm shaft turns once per stitch, so it is the rated spm.
    bearing:        a name from `tonle.kernels.bearing.BEARINGS` or the geometry itself.
    band_hz:        the structural resonance band bearing impacts ring in (envelope
                    analysis demodulates it); None picks it per burst by spectral kurtosis.
    fail_rms_ratio: RMS at this multiple of the machine's healthy baseline counts as
                    failed (health 0); 3 is about one ISO 10816 zone boundary.
    kurtosis_fail:  kurtosis at which the impulsiveness part of health reaches 0.
    """

    shaft_rpm: PosFloat
    bearing: str | BearingSpec
    band_hz: tuple[float, float] | None = None
    fail_rms_ratio: Annotated[float, msgspec.Meta(gt=1)] = 3.0
    kurtosis_fail: Annotated[float, msgspec.Meta(gt=3)] = 8.0

    def __post_init__(self) -> None:
        if isinstance(self.bearing, str) and self.bearing not in BEARINGS:
            raise ValueError(
                _("bearing {bearing!r} is unknown; use one of {known} or its geometry").format(
                    bearing=self.bearing, known=sorted(BEARINGS)
                )
            )
        if self.band_hz is not None and not 0 <= self.band_hz[0] < self.band_hz[1]:
            raise ValueError(
                _("band_hz={band} must be [low, high] with 0 <= low < high").format(band=list(self.band_hz))
            )

    def geometry(self) -> BearingGeometry:
        return BEARINGS[self.bearing] if isinstance(self.bearing, str) else self.bearing.geometry()

    def defect_orders(self) -> np.ndarray:
        """``[bpfo, bpfi, bsf, ftf]`` as multiples of shaft speed."""
        return defect_frequencies(self.geometry()).orders

    def shaft_hz(self, speed_fraction: float = 1.0) -> float:
        return self.shaft_rpm / 60.0 * speed_fraction


class PdmConfig(_Section, frozen=True):
    """Predictive-maintenance settings shared by all machine types.

    baseline_samples: bursts learnt into each machine's healthy baseline before it is
                      judged; 30 bursts at one per 10 s is five minutes of running.
    baseline_rel_floor: smallest relative spread the baseline may claim (5 %): a real
                      change smaller than that is operation (fabric, thread), not wear.
    cusum_k, cusum_h: drift chart in baseline sigmas. k = 1, h = 8 catches a 2-sigma
                      rise within about 9 bursts, a 4-sigma one within 3, and almost
                      never fires on a healthy machine (see docs/pdm-validation.md).
    rul_coverage:     probability the RUL band should hold (0.8 = 10 % to 90 %).
    """

    machine_types: dict[str, MachineTypePdm] = msgspec.field(default_factory=dict)
    baseline_samples: Annotated[int, msgspec.Meta(ge=5)] = 30
    baseline_rel_floor: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.05
    cusum_k: Annotated[float, msgspec.Meta(ge=0)] = 1.0
    cusum_h: PosFloat = 8.0
    rul_coverage: Annotated[float, msgspec.Meta(gt=0, lt=1)] = 0.8


# The catalogue's machine types (`tonle.kernels.machine_types`), each with its arm-shaft
# bearing and the band its housing resonances ring in. The arm shaft turns once per
# stitch, so the rated speed in rpm is the rated stitches per minute.
DEFAULT_MACHINE_TYPES: dict[str, MachineTypePdm] = {
    name: MachineTypePdm(shaft_rpm=t.rated_spm, bearing=t.bearing, band_hz=t.band_hz)
    for name, t in MACHINE_TYPES.items()
}


def with_default_types(table: Mapping[str, MachineTypePdm]) -> dict[str, MachineTypePdm]:
    """`table` merged over the catalogue's defaults: a plant adds or redefines types, keeps the rest."""
    return {**DEFAULT_MACHINE_TYPES, **table}
