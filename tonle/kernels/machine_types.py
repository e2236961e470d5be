"""Garment machine types and their rated speeds: engineering data shared by the simulator and PdM.

The rated stitches per minute set the shaft speed, hence where a bearing's defect
frequencies lie; the simulator runs its machines at the same speeds.
"""

from __future__ import annotations

__all__ = ["MACHINE_SPM"]

# Typical operating speed (stitches per minute, one shaft turn per stitch) by machine type.
MACHINE_SPM: dict[str, float] = {
    "lockstitch": 4000.0,
    "overlock": 6000.0,
    "coverstitch": 5000.0,
    "buttonhole": 3600.0,
    "button_sew": 2700.0,
    "bartack": 2700.0,
}
