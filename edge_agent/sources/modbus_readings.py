"""What one poll of a Modbus device means: registers in, Tonle readings out (no I/O).

A device's state lives here between polls, because the contract publishes a
StateChange only when the state changes and a Count only when a counter moves;
the Sample of "field" registers goes out every poll.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edge_agent.sources.modbus_config import (
    CommandConfig,
    ModbusTcpDeviceConfig,
    ReadBlock,
    RegisterConfig,
    RtuDeviceConfig,
    plan_reads,
)
from tonle.protocols.modbus_registers import decode
from tonle.sources.base import Count, Reading, Sample, StateChange

__all__ = ["DeviceState"]


@dataclass
class DeviceState:
    """One device behind a link: its read plan, its schedule, and what was last published."""

    unit: int
    machine: str
    machine_type: str
    interval_s: float
    blocks: tuple[ReadBlock, ...]
    commands: dict[str, CommandConfig]
    has_state: bool
    due_ns: int = 0
    failures: int = 0
    last_state: str | None = None
    last_count: tuple[int, int] | None = None

    @classmethod
    def from_config(cls, d: RtuDeviceConfig | ModbusTcpDeviceConfig) -> DeviceState:
        has_state = any(r.role == "state" for r in d.registers)
        commands = {c.action: c for c in d.commands}
        return cls(
            d.unit, d.machine, d.machine_type, d.poll_interval_s, plan_reads(d.registers), commands, has_state
        )

    def readings(self, ts: int, words: list[list[int]]) -> tuple[list[Reading], list[str]]:
        """The readings for one poll (`words`: one list per read block), and any problems found."""
        fields: dict[str, float] = {}
        out: list[Reading] = []
        counts: dict[str, int] = {}
        problems: list[str] = []
        for block, regs in zip(self.blocks, words, strict=True):
            for reg in block.registers:
                start = reg.address - block.address
                chunk = regs[start : start + reg.width]
                bit = reg.function in ("coil", "discrete")
                value = chunk[0] if bit else decode(chunk, reg.type, reg.word_order, reg.byte_order)
                if reg.role == "field":
                    scaled = value * reg.scale + reg.offset
                    if math.isfinite(scaled):
                        fields[reg.field] = float(scaled)
                    else:  # a float register a meter has not filled yet: never publish NaN
                        problems.append(f"{self.machine}: {reg.field} reads {scaled}; not published")
                elif reg.role == "state":
                    out.extend(self._state(ts, reg, int(value), problems))
                else:
                    counts[reg.role] = round(value * reg.scale + reg.offset)
        if fields:
            out.insert(0, Sample(self.machine, ts, fields))
        if counts and (count := (counts["count_total"], counts["count_good"])) != self.last_count:
            self.last_count = count
            out.append(Count(self.machine, ts, total=count[0], good=count[1]))
        return out, problems

    def offline(self, ts: int, why: str) -> list[Reading]:
        """A machine with a state register that stops answering is "offline" (a meter has no state)."""
        if not self.has_state or self.last_state == "offline":
            return []
        self.last_state = "offline"
        return [StateChange(self.machine, ts, "offline", reason=why)]

    def _state(self, ts: int, reg: RegisterConfig, code: int, problems: list[str]) -> list[Reading]:
        name = reg.states.get(code)
        if name is None:  # keep the last known state rather than guess
            problems.append(f"{self.machine}: {reg.field}={code} is not in its states table")
            return []
        if name == self.last_state:
            return []
        self.last_state = name
        return [StateChange(self.machine, ts, name, reason=f"{reg.field}={code}")]
