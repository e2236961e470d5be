"""Turn health and state into commands and alerts, with hysteresis (pure, no I/O).

Each (machine, condition) is a latch: it fires once when the condition starts,
and only re-arms after the signal has recovered past a separate clear level.
So a command is never sent twice for the same condition, and a value
hovering at the threshold cannot make the machine flap.
Derating is not undone automatically: lower speed also lowers vibration, so
"health improved" after a derate is not evidence the bearing is fine. Speed
returns to normal with maintenance.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from tonle.config import RulesConfig
from tonle.contract import MACHINE_STATES

__all__ = ["Action", "RuleEngine"]

BREAKDOWN = MACHINE_STATES.index("breakdown")


@dataclass(frozen=True, slots=True)
class Action:
    machine: str
    condition: str
    command: Literal["set_speed", "maintenance", "andon"] | None
    value: float | None
    severity: Literal["info", "warning", "critical"]
    code: str
    message: str
    health: float | None


@dataclass
class RuleEngine:
    cfg: RulesConfig
    active: set[tuple[str, str]] = field(default_factory=set)

    def _latch(self, machine: str, cond: str, on: bool, off: bool) -> bool:
        """True exactly when the condition turns on; clears only when `off`."""
        key = (machine, cond)
        if key in self.active:
            if off:
                self.active.discard(key)
            return False
        if on:
            self.active.add(key)
            return True
        return False

    def evaluate(self, machines: list[str], health: np.ndarray, state_code: np.ndarray) -> list[Action]:
        """Actions for this evaluation; NaN health (no vibration data yet) changes nothing."""
        r = self.cfg
        out: list[Action] = []
        for m, h, code in zip(machines, health.tolist(), state_code.tolist(), strict=True):
            known = h == h  # not NaN
            hv = round(h, 3) if known else None
            if known and self._latch(
                m, "maintenance", h < r.maintenance_below, h > r.maintenance_clear_above
            ):
                # Maintenance supersedes a pending derate: latch it too so it does not fire after.
                self.active.add((m, "derate"))
                out.append(
                    Action(
                        m,
                        "maintenance",
                        "maintenance",
                        None,
                        "critical",
                        "maintenance_needed",
                        f"{m}: vibration health has fallen to {h:.3f} (limit {r.maintenance_below:.2f}); "
                        "stop and replace the bearing before it seizes",
                        hv,
                    )
                )
            if known and self._latch(m, "derate", h < r.derate_below, h > r.derate_clear_above):
                out.append(
                    Action(
                        m,
                        "derate",
                        "set_speed",
                        r.derate_to,
                        "warning",
                        "health_low",
                        f"{m}: vibration health has fallen to {h:.3f} (limit {r.derate_below:.2f}); "
                        f"speed reduced to {r.derate_to:.0%} to slow the wear, plan maintenance",
                        hv,
                    )
                )
            if r.andon_on_breakdown and self._latch(m, "andon", code == BREAKDOWN, code != BREAKDOWN):
                out.append(
                    Action(
                        m,
                        "andon",
                        "andon",
                        1.0,
                        "critical",
                        "breakdown",
                        f"{m} has broken down; andon lit, call the mechanic",
                        hv,
                    )
                )
        return out
