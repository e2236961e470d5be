"""Tonle analytics: a pure, vectorised numpy core (arrays in, arrays out, no I/O).

Every kernel works on all machines at once (2-D arrays or machine ids) and validates
its inputs before computing. The service around it reads InfluxDB and writes results.
"""

from analytics.bearing import BEARINGS, BearingGeometry, DefectFrequencies, defect_frequencies
from analytics.features import VibrationFeatures, band_energies, vibration_features
from analytics.health import (
    Baseline,
    DriftResult,
    cusum,
    ewma_drift,
    ewma_limit,
    health_index,
    robust_baseline,
)
from analytics.oee import OEE, LineOEE, counter_increase, line_oee, oee, pieces_per_hour
from analytics.states import StateTimes, state_durations

__all__ = [
    "BEARINGS",
    "OEE",
    "Baseline",
    "BearingGeometry",
    "DefectFrequencies",
    "DriftResult",
    "LineOEE",
    "StateTimes",
    "VibrationFeatures",
    "band_energies",
    "counter_increase",
    "cusum",
    "defect_frequencies",
    "ewma_drift",
    "ewma_limit",
    "health_index",
    "line_oee",
    "oee",
    "pieces_per_hour",
    "robust_baseline",
    "state_durations",
    "vibration_features",
]
