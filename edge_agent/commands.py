"""The command gate: the only way a command reaches a machine.

A command moves a physical machine, so it is checked here before anything
happens: known device, action on that device's allow-list, value inside the
configured limits, not expired, and never applied twice (idempotent by id).
Pure logic with no I/O, so every refusal is tested directly.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

from tonle.contract import Command

__all__ = ["CommandGate", "Decision", "DeviceLimits"]

Outcome = Literal["applied", "rejected", "expired", "duplicate"]


@dataclass(frozen=True, slots=True)
class DeviceLimits:
    """What one device accepts: its allow-list and the range of each value."""

    allowed: frozenset[str]
    ranges: dict[str, tuple[float, float]]


@dataclass(frozen=True, slots=True)
class Decision:
    status: Outcome
    detail: str

    @property
    def accepted(self) -> bool:
        return self.status == "applied"


class CommandGate:
    """Checks commands; remembers the last `remember` ids and their outcome."""

    def __init__(self, devices: dict[str, DeviceLimits], remember: int = 10_000) -> None:
        self.devices = devices
        self._seen: OrderedDict[str, Decision] = OrderedDict()
        self._remember = remember

    def check(self, machine: str, cmd: Command, now_ns: int) -> Decision:
        """Decide whether `cmd` may be applied now; a duplicate id never passes twice."""
        previous = self._seen.get(cmd.id)
        if previous is not None:
            return Decision("duplicate", f"command {cmd.id} was already handled: {previous.status}")
        decision = self._judge(machine, cmd, now_ns)
        if decision.status != "applied":
            self.record(cmd.id, decision)
        return decision

    def record(self, cmd_id: str, decision: Decision) -> None:
        """Remember the final outcome (after the device applied or refused it)."""
        self._seen[cmd_id] = decision
        self._seen.move_to_end(cmd_id)
        while len(self._seen) > self._remember:
            self._seen.popitem(last=False)

    def _judge(self, machine: str, cmd: Command, now_ns: int) -> Decision:
        limits = self.devices.get(machine)
        if limits is None:
            return Decision("rejected", f"this gateway has no machine called {machine!r}")
        if now_ns > cmd.expires:
            age_s = (now_ns - cmd.expires) / 1e9
            return Decision("expired", f"command expired {age_s:.0f}s ago; not applied")
        if cmd.action not in limits.allowed:
            allowed = ", ".join(sorted(limits.allowed)) or "nothing"
            return Decision("rejected", f"{cmd.action!r} is not allowed on {machine}; allowed: {allowed}")
        rng = limits.ranges.get(cmd.action)
        if rng is not None:
            lo, hi = rng
            if cmd.value is None:
                return Decision("rejected", f"{cmd.action} needs a value between {lo:g} and {hi:g}")
            if not lo <= cmd.value <= hi:
                return Decision(
                    "rejected",
                    f"{cmd.action} value {cmd.value:g} is outside the allowed range {lo:g}..{hi:g}",
                )
        return Decision("applied", "")
