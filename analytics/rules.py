"""Turn health and state into commands and alerts, with hysteresis (pure, no I/O).

Each (machine, condition) is a latch: it fires once when the condition starts,
and only re-arms after the signal has recovered past a separate clear level.
So a command is never sent twice for the same condition, and a value
hovering at the threshold cannot make the machine flap.
Derating is not undone automatically: lower speed also lowers vibration, so
"health improved" after a derate is not evidence the bearing is fine. Speed
returns to normal with maintenance.

Two signals start a derate: health below `derate_below`, or the early end of the
remaining-useful-life band closer than the planning horizon (`analytics.pdm.rul_horizon_h`).
The second is what gives warning in time: health says how bad it is now, the RUL band
says how soon it will be too late, and planning on its early end errs on the safe side.
A latch that re-arms may fire again only `min_interval_s` after it last fired, so a
signal that hovers around its clear level cannot page the technician every round.

An action's message is worded when it is decided, in the service's language (the plant's
`[plant] language`, `--lang`, or the environment: `tonle.messages`), and is stored and sent
as worded: the alert's `message`, the command's `reason`. A Khmer plant's mechanics read
the same words on the live view, the dashboard and the shift report; the alert `code`
stays an English key, for scripts and for grouping alerts across plants.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from analytics import alert_words as words
from tonle.config import RulesConfig
from tonle.contract import MACHINE_STATES
from tonle.messages import N_, _

__all__ = ["COMMAND_OF", "Action", "Condition", "PdmView", "RuleEngine"]

BREAKDOWN = MACHINE_STATES.index("breakdown")
HOUR_S = 3600.0

Condition = Literal["derate", "maintenance", "andon"]
COMMAND_OF: dict[Condition, str] = {"derate": "set_speed", "maintenance": "maintenance", "andon": "andon"}
"""The command each condition sends when it fires (`commands.action`)."""


@dataclass(frozen=True, slots=True)
class Action:
    machine: str
    condition: Condition
    command: Literal["set_speed", "maintenance", "andon"] | None
    value: float | None
    severity: Literal["info", "warning", "critical"]
    code: str
    message: str
    health: float | None
    rul_h: float | None = None


@dataclass(frozen=True, slots=True)
class PdmView:
    """What the PdM core says about each machine, in hours; inf RUL = no degrading trend yet."""

    rul_h: np.ndarray
    lower_h: np.ndarray
    upper_h: np.ndarray
    hint: list[str]
    coverage: float = 0.8  # the chance the band holds (analytics.pdm.rul_coverage)
    confidence: np.ndarray | None = None  # of the hint, in [0, 1]; NaN or None: not known
    bearing: list[str] | None = None  # designation of each machine's bearing ("" unknown)

    @classmethod
    def unknown(cls, n: int) -> PdmView:
        inf = np.full(n, np.inf)
        return cls(inf, inf, inf, ["none"] * n)

    def describe(self, i: int) -> str:
        """How long is left, how sure, and where the vibration points (`analytics.alert_words`)."""
        life = words.life(float(self.rul_h[i]), float(self.lower_h[i]), float(self.upper_h[i]), self.coverage)
        hint = self.hint[i]
        where = None if hint == "none" else _(_WHERE[hint]) if hint in _WHERE else hint
        conf = np.nan if self.confidence is None else float(self.confidence[i])
        part = "" if self.bearing is None or hint not in _BEARING_PARTS else self.bearing[i]
        return words.story(life, where, conf, part)


_BEARING_PARTS = ("outer_race", "inner_race", "ball", "cage")
_WHERE = {
    "outer_race": N_("the bearing's outer race"),
    "inner_race": N_("the bearing's inner race"),
    "ball": N_("a damaged bearing ball"),
    "cage": N_("the bearing's cage"),
    "imbalance": N_("imbalance (check the hand wheel and pulley)"),
    "looseness": N_("looseness (check the motor and head mounting bolts)"),
}


@dataclass
class RuleEngine:
    """The latches of one line's machines, by (machine, condition)."""

    cfg: RulesConfig
    rul_horizon_h: float = np.inf
    min_interval_s: float = 0.0
    active: set[tuple[str, Condition]] = field(default_factory=set)
    fired_s: dict[tuple[str, Condition], float] = field(default_factory=dict)

    def _latch(self, machine: str, cond: Condition, on: bool, off: bool, now_s: float = 0.0) -> bool:
        """True exactly when the condition turns on; clears only when `off`.

        A condition that turns on again within `min_interval_s` of its last firing waits
        (unlatched) until the interval has passed and fires then if still on.
        """
        key = (machine, cond)
        if key in self.active:
            if off:
                self.active.discard(key)
            return False
        if on and now_s - self.fired_s.get(key, -np.inf) >= self.min_interval_s:
            self.active.add(key)
            self.fired_s[key] = now_s
            return True
        return False

    def in_repair(self) -> set[str]:
        """Machines whose maintenance request is still latched (not yet healthy again)."""
        return {m for m, cond in self.active if cond == "maintenance"}

    def restore(self, machine: str, cond: Condition, *, fired_s: float | None, active: bool) -> None:
        """Set a latch as a previous run of the service left it (`analytics.recovery`)."""
        key = (machine, cond)
        if fired_s is not None:
            self.fired_s[key] = fired_s
        if active:
            self.active.add(key)
        else:
            self.active.discard(key)

    def evaluate(
        self,
        machines: list[str],
        health: np.ndarray,
        state_code: np.ndarray,
        pdm: PdmView | None = None,
        now_s: float = 0.0,
    ) -> list[Action]:
        """Actions for this evaluation; NaN health (no vibration data yet) changes nothing."""
        view = pdm if pdm is not None else PdmView.unknown(len(machines))
        out: list[Action] = []
        for i, (m, h, code) in enumerate(zip(machines, health.tolist(), state_code.tolist(), strict=True)):
            out += self._machine(i, m, h, code, view, now_s)
        return out

    def _machine(self, i: int, m: str, h: float, code: int, view: PdmView, now_s: float) -> list[Action]:
        r = self.cfg
        out = []
        known = h == h  # not NaN
        rul = float(view.rul_h[i])
        facts = _Facts(
            m,
            h,
            round(h, 3) if known else None,
            round(rul, 2) if np.isfinite(rul) else None,
            view.describe(i),
            "" if view.hint[i] == "none" else f"_{view.hint[i]}",
            float(view.lower_h[i]) if np.isfinite(view.lower_h[i]) and np.isfinite(view.upper_h[i]) else None,
        )
        # Only a significant trend (the band closes: finite late end) may move a machine;
        # a noise wiggle on a healthy machine gives an early end but no late one.
        short = bool(view.lower_h[i] < self.rul_horizon_h and np.isfinite(view.upper_h[i]))
        if known and self._latch(
            m, "maintenance", h < r.maintenance_below, h > r.maintenance_clear_above, now_s
        ):
            # Maintenance supersedes a pending derate: latch it too so it does not fire after.
            self.active.add((m, "derate"))
            out.append(self._maintenance(facts))
        if known and self._latch(m, "derate", h < r.derate_below or short, h > r.derate_clear_above, now_s):
            out.append(self._derate(facts, short))
        if r.andon_on_breakdown and self._latch(m, "andon", code == BREAKDOWN, code != BREAKDOWN, now_s):
            out.append(
                Action(
                    m,
                    "andon",
                    "andon",
                    1.0,
                    "critical",
                    "breakdown",
                    words.andon(m),
                    facts.health,
                    facts.rul_h,
                )
            )
        return out

    def _maintenance(self, f: _Facts) -> Action:
        r = self.cfg
        text = words.maintenance(f.machine, f.h, r.maintenance_below, f.story)
        return Action(
            f.machine, "maintenance", "maintenance", None, "critical", f"maintenance_needed{f.fault}", text,
            f.health, f.rul_h,
        )  # fmt: skip

    def _derate(self, f: _Facts, short: bool) -> Action:
        r = self.cfg
        text = words.derate(
            f.machine,
            health=f.h,
            limit=r.derate_below,
            speed=r.derate_to,
            story_text=f.story,
            early_h=f.early_h,
            horizon_h=self.rul_horizon_h if short else None,
        )
        code = f"rul_short{f.fault}" if short else f"health_low{f.fault}"
        return Action(f.machine, "derate", "set_speed", r.derate_to, "warning", code, text, f.health, f.rul_h)


@dataclass(frozen=True, slots=True)
class _Facts:
    """What an action about one machine says: health as measured and rounded, RUL, the story."""

    machine: str
    h: float
    health: float | None
    rul_h: float | None
    story: str
    fault: str
    early_h: float | None  # the RUL band's early end, None without a band
