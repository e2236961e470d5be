"""The public predictive-maintenance API, stable from now on (docs/pdm.md is its reference).

    from analytics.pdm import diagnose, HealthMonitor, RulModel, CATALOGUE, defect_orders

- `diagnose(windows, fs, shaft_hz, bearing, reference=None)`: per vibration window,
  abnormal or not, which bearing part (outer_race, inner_race, ball, cage, unknown, none)
  and how sure (`analytics.pdm.diagnosis`); `name_faults(evidence)` names the part from
  evidence the edge computed.
- `HealthMonitor()`: one `update(t_s, features)` per snapshot -> health, alarm, why
  (`analytics.pdm.health_monitor`).
- `RulModel()`: `fit(units)` on runs to failure, `predict(history)` -> (estimate, low,
  high) (`analytics.pdm.rul_model`).
- `CATALOGUE`, `bearing_geometry`, `defect_orders`: bearings by designation
  (`analytics.pdm.catalogue`).

The service, the edge (through the `tonle.kernels` it wraps) and `analytics.pdm_validate`
use exactly these names; a test checks their signatures against docs/pdm.md.
"""

from analytics.pdm.catalogue import CATALOGUE, BearingGeometry, bearing_geometry, defect_orders
from analytics.pdm.diagnosis import FAULTS, Diagnosis, diagnose, name_faults
from analytics.pdm.health_monitor import HealthMonitor, HealthUpdate
from analytics.pdm.rul_model import RulModel

__all__ = [
    "CATALOGUE",
    "FAULTS",
    "BearingGeometry",
    "Diagnosis",
    "HealthMonitor",
    "HealthUpdate",
    "RulModel",
    "bearing_geometry",
    "defect_orders",
    "diagnose",
    "name_faults",
]
