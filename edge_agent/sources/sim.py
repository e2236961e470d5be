"""The simulated sewing line as an in-process device source.

In the walking skeleton the agent drives the simulator directly; serial and
Modbus sources replace this for real devices without changing the agent.
"""

from __future__ import annotations

from dataclasses import dataclass

from firmware_sim.line import LineOutput, LineSpec, SewingLine

__all__ = ["SimSource"]


@dataclass
class SimSource:
    line: SewingLine
    spec: LineSpec

    @property
    def machines(self) -> list[tuple[str, str]]:
        """(machine name, machine type) per station, in station order."""
        return [(s.name, s.machine_type) for s in self.spec.stations]

    def index(self, machine: str) -> int:
        for i, s in enumerate(self.spec.stations):
            if s.name == machine:
                return i
        raise KeyError(machine)

    def poll(self, now_ns: int) -> LineOutput:
        return self.line.advance_to(now_ns)

    def apply(self, machine: str, action: str, value: float | None) -> str:
        """Apply a command that already passed the gate; raises ValueError if the device refuses."""
        return self.line.apply(self.index(machine), action, value)
