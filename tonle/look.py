"""How every figure looks, in one place: its label, unit, bands and their colours, and the words
for machine states and alert levels.

A plant manager reads the same OEE on the wall TV, in Grafana and in the printed shift report;
if one colours 62 % amber and another red, the manager stops trusting both. So the dashboards
generator (`tonle.app.dashboard_look`) stamps these thresholds, units and value mappings into
every dashboard, the report picks its colours here, and the live view takes its state words
here; a test fails when any of them disagrees.

Units are Grafana's unit ids (`percentunit`, `accG`, ...): the dashboards use them as they are,
and the report formats the same figure as a percent or number itself. Vibration RMS is in g:
the sensors send acceleration in g (docs/serial-protocol.md, frame `V`) and the edge agent
takes the RMS of those samples. The health bands are the rules' defaults
(`tonle.config.analytics.RulesConfig`: derate below 0.6, maintenance below 0.35), so the
colour changes where the commands start.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from tonle.contract import MACHINE_STATES
from tonle.messages import N_

__all__ = [
    "BAD",
    "FIELD_FIGURE",
    "FIGURES",
    "GOOD",
    "LEVEL_COLOURS",
    "MID",
    "NEUTRAL",
    "SEVERITY",
    "SEVERITY_COLOURS",
    "STATES",
    "STATE_COLOURS",
    "Band",
    "Figure",
    "figure_for_field",
]

# The three levels a figure can be in, and their colours (Grafana takes hex colours as they are).
BAD, MID, GOOD = "bad", "mid", "good"
LEVEL_COLOURS = {BAD: "#c62828", MID: "#ef6c00", GOOD: "#2e7d32"}
NEUTRAL = "#212121"


@dataclass(frozen=True)
class Band:
    """From `start` (None: from the lowest value) up to the next band's start, a figure is `level`."""

    start: float | None
    level: str


@dataclass(frozen=True)
class Figure:
    """One figure as people see it: what it is called, its unit, and which values are good."""

    key: str
    label: str  # a catalogue msgid (N_): look it up with `_` where it is shown
    unit: str  # Grafana's unit id
    decimals: int
    minimum: float | None = None
    maximum: float | None = None
    bands: tuple[Band, ...] = ()

    def level(self, value: float) -> str | None:
        """The band `value` lies in (`bad`, `mid`, `good`), None for a figure with no bands or no value."""
        if not self.bands or value is None or not math.isfinite(value):
            return None
        level = self.bands[0].level
        for band in self.bands[1:]:
            if band.start is not None and value >= band.start:
                level = band.level
        return level

    def colour(self, value: float) -> str | None:
        """The colour of `value` in its band (hex), None where the figure has no bands."""
        level = self.level(value)
        return LEVEL_COLOURS[level] if level else None

    def grafana_thresholds(self) -> dict[str, Any] | None:
        """The bands as a Grafana `thresholds` field config (absolute steps)."""
        if not self.bands:
            return None
        steps = [{"color": LEVEL_COLOURS[b.level], "value": b.start} for b in self.bands]
        return {"mode": "absolute", "steps": steps}


def _rising(key: str, label: str, unit: str, decimals: int, mid: float, good: float, **kw: Any) -> Figure:
    """A figure where more is better: bad below `mid`, good from `good`."""
    bands = (Band(None, BAD), Band(mid, MID), Band(good, GOOD))
    return Figure(key, label, unit, decimals, bands=bands, **kw)


_RATIO = {"minimum": 0.0, "maximum": 1.0}
FIGURES: dict[str, Figure] = {
    f.key: f
    for f in (
        _rising("oee", N_("OEE"), "percentunit", 0, 0.5, 0.7, **_RATIO),
        _rising("availability", N_("Availability"), "percentunit", 0, 0.7, 0.85, **_RATIO),
        _rising("performance", N_("Performance"), "percentunit", 0, 0.7, 0.85, **_RATIO),
        _rising("quality", N_("Quality"), "percentunit", 0, 0.7, 0.85, **_RATIO),
        _rising("efficiency", N_("Line efficiency (SAM)"), "percentunit", 0, 0.45, 0.6, **_RATIO),
        _rising("attainment", N_("Output against target"), "percentunit", 0, 0.85, 1.0, minimum=0.0),
        Figure("pieces_per_hour", N_("Pieces per hour"), "none", 0, minimum=0.0),
        _rising("health", N_("Health"), "none", 2, 0.35, 0.6, **_RATIO),
        _rising("rul", N_("Remaining useful life"), "h", 0, 8.0, 24.0, minimum=0.0),
        Figure("vibration_rms", N_("Vibration RMS"), "accG", 3, minimum=0.0),
        Figure("kwh_per_piece", N_("Energy per piece"), "kwatth", 3, minimum=0.0),
        _rising("completeness", N_("Data completeness"), "percentunit", 2, 0.99, 0.999, **_RATIO),
    )
}

# Which figure a stored field holds (fields of tonle.schema): the dashboards find a panel's
# figures by the fields its query reads.
FIELD_FIGURE = {
    "oee": "oee",
    "availability": "availability",
    "performance": "performance",
    "quality": "quality",
    "efficiency": "efficiency",
    "attainment": "attainment",
    "pieces_per_hour": "pieces_per_hour",
    "target_pph": "pieces_per_hour",
    "health": "health",
    "rul_h": "rul",
    "rul_lower_h": "rul",
    "rul_upper_h": "rul",
    "vib_rms": "vibration_rms",
    "kwh_per_piece": "kwh_per_piece",
    "kwh_per_good_piece": "kwh_per_piece",
    "coverage": "completeness",
    "energy_coverage": "completeness",
    "received": "completeness",
}


def figure_for_field(field: str) -> Figure | None:
    """The figure a stored field holds, None for a field that is not one (a count, a name)."""
    key = FIELD_FIGURE.get(field)
    return FIGURES[key] if key else None


# Machine states in words (the contract's names are for machines: `thread_break`), and the
# colour each has on a state timeline (the colours plant managers were promised).
STATES = {
    "running": N_("running"),
    "idle": N_("idle"),
    "starved": N_("starved"),
    "blocked": N_("blocked"),
    "thread_break": N_("thread break"),
    "needle_break": N_("needle break"),
    "breakdown": N_("breakdown"),
    "maintenance": N_("maintenance"),
    "setup": N_("setup"),
    "planned_stop": N_("planned stop"),
    "offline": N_("offline"),
}
STATE_COLOURS = {
    "running": "green",
    "idle": "#8e8e8e",
    "starved": "yellow",
    "blocked": "yellow",
    "thread_break": "orange",
    "needle_break": "orange",
    "breakdown": "red",
    "maintenance": "blue",
    "setup": "purple",
    "planned_stop": "#5a5a5a",
    "offline": "#2f2f2f",
}
assert set(STATES) == set(MACHINE_STATES) == set(STATE_COLOURS), "every contract state has words and a colour"

SEVERITY = {"info": N_("info"), "warning": N_("warning"), "alarm": N_("alarm"), "critical": N_("critical")}
SEVERITY_COLOURS = {"info": "blue", "warning": "orange", "alarm": "red", "critical": "red"}
