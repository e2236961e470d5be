"""The storage schema: measurements, tags and fields that more than one stage writes or reads.

Declared once so the edge (which computes them), the collector (which stores them) and the
analytics (which reads them) cannot disagree on a name.
"""

from __future__ import annotations

from tonle.kernels.diagnosis import FAMILIES

__all__ = ["ENVELOPE_FIELDS"]

_SHORT = {"outer_race": "outer", "inner_race": "inner", "ball": "ball"}
ENVELOPE_FIELDS = tuple(f"env_{_SHORT[f]}" for f in FAMILIES) + tuple(
    f"env_{_SHORT[f]}_sup" for f in FAMILIES
)
"""Telemetry fields of the envelope evidence: key-line ratios, then support ratios, per family."""
