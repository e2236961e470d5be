"""Shift, overtime or off-shift: what a stretch of time was, and what happened in it.

Outside shift time the calendar makes every stopped second a planned stop and every
running second planned time (overtime), so availability there is 100 % by
construction and says nothing. Rows of such periods therefore carry `period_kind`
(`overtime` when the line worked, else `off_shift`) and no availability or OEE, and
the report says what happened off-shift from the machine states themselves
(`state_seconds_in`): breakdowns, maintenance, pieces.
"""

from __future__ import annotations

import numpy as np

from analytics.kpi import KpiResult
from analytics.line_figures import LineFigures

__all__ = [
    "NOT_IN_SHIFT",
    "OFF_SHIFT",
    "OVERTIME",
    "PERIOD_KINDS",
    "SHIFT",
    "period_kind",
    "state_seconds_in",
]

SHIFT, OVERTIME, OFF_SHIFT = "shift", "overtime", "off_shift"
PERIOD_KINDS = (SHIFT, OVERTIME, OFF_SHIFT)
NOT_IN_SHIFT = ("availability", "oee")
"""Figures left out of overtime and off-shift rows: 100 % by construction there."""


def period_kind(shift: int, lf: LineFigures) -> str:
    """SHIFT for a shift instance (breaks included); outside shifts OVERTIME if the line worked."""
    if shift >= 0:
        return SHIFT
    worked = float(lf.line.run_s) > 0 or lf.output_total > 0
    return OVERTIME if worked else OFF_SHIFT


def state_seconds_in(
    result: KpiResult, machines: np.ndarray, periods: np.ndarray
) -> dict[str, tuple[float, int]]:
    """(seconds, times entered) per contract state of the selected machines in the selected periods.

    machines, periods: boolean masks. No-data time is left out. A state carried into a
    period from before it counts as entered once.
    """
    s = result.segments
    sel = machines[s.machine] & periods[s.period] & (s.state >= 0)
    secs = np.bincount(s.state[sel], weights=s.seconds[sel], minlength=len(result.states))
    changed = (s.machine[1:] != s.machine[:-1]) | (s.state[1:] != s.state[:-1]) | ~sel[:-1]
    first = np.append(True, changed)
    entered = np.bincount(s.state[sel & first], minlength=len(result.states))
    return {name: (float(secs[i]), int(entered[i])) for i, name in enumerate(result.states) if secs[i] > 0}
