"""Tonle analytics: a pure, vectorised numpy core (arrays in, arrays out, no I/O).

Every kernel works on all machines at once (2-D arrays or machine ids) and validates
its inputs before computing. The service around it reads InfluxDB and writes results.
"""

from importlib import import_module
from typing import Any

# Public names and the module that defines each. Imported on first use, so the
# edge agent (which needs only numpy features) never loads scipy: on a gateway
# that is the difference between ~45 MB and ~110 MB of RSS.
_WHERE = {
    "BEARINGS": "bearing",
    "BearingGeometry": "bearing",
    "DefectFrequencies": "bearing",
    "defect_frequencies": "bearing",
    "VibrationFeatures": "features",
    "band_energies": "features",
    "vibration_features": "features",
    "Baseline": "health",
    "DriftResult": "health",
    "cusum": "health",
    "ewma_drift": "health",
    "ewma_limit": "health",
    "health_index": "health",
    "robust_baseline": "health",
    "OEE": "oee",
    "LineOEE": "oee",
    "counter_increase": "oee",
    "line_oee": "oee",
    "oee": "oee",
    "pieces_per_hour": "oee",
    "StateTimes": "states",
    "state_durations": "states",
    "OnlineBaseline": "drift",
    "feature_drift": "drift",
    "robust_z": "drift",
    "FAULT_HINTS": "pdm_diagnosis",
    "bearing_evidence": "pdm_diagnosis",
    "consensus_hint": "pdm_diagnosis",
    "fault_hint": "pdm_diagnosis",
    "RulEstimate": "rul",
    "rul_from_health": "rul",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'analytics' has no attribute {name!r}")
    return getattr(import_module(f"analytics.{module}"), name)


__all__ = [
    "BEARINGS",
    "FAULT_HINTS",
    "OEE",
    "Baseline",
    "BearingGeometry",
    "DefectFrequencies",
    "DriftResult",
    "LineOEE",
    "OnlineBaseline",
    "RulEstimate",
    "StateTimes",
    "VibrationFeatures",
    "band_energies",
    "bearing_evidence",
    "consensus_hint",
    "counter_increase",
    "cusum",
    "defect_frequencies",
    "ewma_drift",
    "ewma_limit",
    "fault_hint",
    "feature_drift",
    "health_index",
    "line_oee",
    "oee",
    "pieces_per_hour",
    "robust_baseline",
    "robust_z",
    "rul_from_health",
    "state_durations",
    "vibration_features",
]
