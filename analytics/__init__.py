"""Tonle analytics: a pure, vectorised numpy core (arrays in, arrays out, no I/O).

Every kernel works on all machines at once (2-D arrays or machine ids) and validates
its inputs before computing: KPIs (`kpi`, `timeline`, `losses`, `oee`, `energy`,
`garment`), predictive maintenance (`baseline`, `drift`, `health`, `rul`).

The service around it, one module per job: `service` (the round loop), `inputs` and
`reads` (every InfluxQL query), `prognostics` (the PdM round) on `pdm_state` (what is kept
per machine), `rules` (latches), `actions` (alerts and commands), `rows` (the measurements
written), `shift_kpi` (the shift writer) and `recovery` (what a restart rebuilds).
"""

from importlib import import_module
from typing import Any

# Public names and the module that defines each. Imported on first use, so the
# edge agent (which needs only numpy features) never loads scipy: on a gateway
# that is the difference between ~45 MB and ~110 MB of RSS.
_WHERE = {
    "BEARINGS": "tonle.kernels.bearing",
    "BearingGeometry": "tonle.kernels.bearing",
    "DefectFrequencies": "tonle.kernels.bearing",
    "defect_frequencies": "tonle.kernels.bearing",
    "VibrationFeatures": "tonle.kernels.features",
    "band_energies": "tonle.kernels.features",
    "vibration_features": "tonle.kernels.features",
    "Baseline": "analytics.baseline",
    "DriftResult": "analytics.drift",
    "cusum": "analytics.drift",
    "ewma_drift": "analytics.drift",
    "ewma_limit": "analytics.drift",
    "health_index": "analytics.health",
    "robust_baseline": "analytics.baseline",
    "OEE": "analytics.oee",
    "LineOEE": "analytics.oee",
    "counter_increase": "analytics.oee",
    "line_oee": "analytics.oee",
    "analytics.oee": "analytics.oee",
    "pieces_per_hour": "analytics.oee",
    "OnlineBaseline": "analytics.baseline",
    "feature_drift": "analytics.drift",
    "robust_z": "analytics.baseline",
    "FAULT_HINTS": "tonle.kernels.diagnosis",
    "bearing_evidence": "tonle.kernels.diagnosis",
    "consensus_hint": "tonle.kernels.diagnosis",
    "fault_hint": "tonle.kernels.diagnosis",
    "RulEstimate": "analytics.rul",
    "rul_from_health": "analytics.rul",
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'analytics' has no attribute {name!r}")
    return getattr(import_module(module), name)


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
    "VibrationFeatures",
    "analytics.oee",
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
    "pieces_per_hour",
    "robust_baseline",
    "robust_z",
    "rul_from_health",
    "vibration_features",
]
