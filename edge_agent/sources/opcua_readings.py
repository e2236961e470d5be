"""What one OPC UA value means: a node's data value in, Tonle readings out (no I/O).

Every value carries the time it changed: the server's SourceTimestamp (when the device
measured it) or ServerTimestamp, as the section's `timestamp` says, falling back to the
gateway's clock only when the server sent neither. A subscription delivers a value when
it changes, so a reading's time is the data-change time, never its arrival time.

The machine's state and counters are remembered between values, because the contract
publishes a StateChange only when the state changes and a Count only when a counter
moves (and only once both counters are known, never half-updated: `take_count`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from edge_agent.sources.opcua_config import OpcUaDeviceConfig, OpcUaNodeConfig
from tonle.sources.base import Count, Reading, Sample, StateChange

__all__ = ["MachineMap", "Value", "merge_samples", "seen_key", "to_ns"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OPC_MIN = datetime(1601, 1, 2, tzinfo=UTC)  # OPC UA's "no time" is 1601-01-01


def to_ns(when: datetime | None) -> int | None:
    """Nanoseconds since 1970 (UTC) of an OPC UA DateTime, or None when the server left it empty."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    if when < _OPC_MIN:
        return None
    return (when - _EPOCH) // timedelta(microseconds=1) * 1000


@dataclass(frozen=True, slots=True)
class Value:
    """The parts of an OPC UA DataValue a reading needs."""

    value: Any
    good: bool
    source_ns: int | None
    server_ns: int | None
    status: str = "Good"


@dataclass
class MachineMap:
    """The machine behind one server: its nodes' meanings and what was last published."""

    machine: str
    stamp: str
    last_state: str | None = None
    counters: dict[str, int] = field(default_factory=dict)
    last_count: tuple[int, int] | None = None
    count_ts: int = 0
    last_value: dict[str, tuple[int, float]] = field(default_factory=dict)
    # The newest time seen per node ("f/<field>", "state", "count"): where a backfill from the
    # server's history starts after a lost session (or, resumed from the spool, a restart).
    seen: dict[str, int] = field(default_factory=dict)

    @classmethod
    def from_config(cls, cfg: OpcUaDeviceConfig) -> MachineMap:
        return cls(cfg.machine, cfg.timestamp)

    def stamp_of(self, v: Value, now_ns: int) -> int:
        if self.stamp == "source":
            return v.source_ns or v.server_ns or now_ns
        if self.stamp == "server":
            return v.server_ns or v.source_ns or now_ns
        return now_ns

    def readings(self, node: OpcUaNodeConfig, v: Value, now_ns: int) -> tuple[list[Reading], str]:
        """The readings one value makes, and a problem ("" when none) for the source's health."""
        if not v.good:
            return [], f"{self.machine}: {node.field} has status {v.status}; not published"
        number = _number(v.value)
        if number is None:
            return [], f"{self.machine}: {node.field} holds {v.value!r}, not a number; not published"
        ts = self.stamp_of(v, now_ns)
        key = seen_key(node)
        self.seen[key] = max(ts, self.seen.get(key, ts))
        if node.role == "field":
            scaled = number * node.scale + node.offset
            if not math.isfinite(scaled):
                return [], f"{self.machine}: {node.field} reads {scaled}; not published"
            if self.last_value.get(node.field) == (ts, scaled):
                return [], ""  # polled again, or sent again after a reconnect: nothing changed
            self.last_value[node.field] = (ts, scaled)
            return [Sample(self.machine, ts, {node.field: scaled})], ""
        if node.role == "state":
            return self._state(node, int(number), ts)
        self.counters[node.role] = round(number * node.scale + node.offset)
        self.count_ts = max(self.count_ts, ts)
        return [], ""

    def take_count(self) -> list[Reading]:
        """The Count of the counters received so far, if both are known and one of them moved.

        The two counters arrive as two data changes; the source calls this once both of a
        publish response (or a poll) are in, so no half-updated pair is ever published.
        """
        if "count_total" not in self.counters or "count_good" not in self.counters:
            return []
        count = (self.counters["count_total"], self.counters["count_good"])
        if count == self.last_count:
            return []
        self.last_count = count
        return [Count(self.machine, self.count_ts, total=count[0], good=count[1])]

    def offline(self, ts: int, why: str, has_state: bool) -> list[Reading]:
        """A machine whose server is gone is "offline" (once), if it reports a state at all."""
        if not has_state or self.last_state == "offline":
            return []
        self.last_state = "offline"
        return [StateChange(self.machine, ts, "offline", reason=why)]

    def _state(self, node: OpcUaNodeConfig, code: int, ts: int) -> tuple[list[Reading], str]:
        name = node.states.get(code)
        if name is None:  # keep the last known state rather than guess
            return [], f"{self.machine}: {node.field}={code} is not in its states table"
        if name == self.last_state:
            return [], ""
        self.last_state = name
        return [StateChange(self.machine, ts, name, reason=f"{node.field}={code}")], ""


def seen_key(node: OpcUaNodeConfig) -> str:
    """The node's key in `MachineMap.seen`, named as the agent's replay guard names it."""
    if node.role == "field":
        return f"f/{node.field}"
    return "state" if node.role == "state" else "count"


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        return float(value)
    return None


def merge_samples(readings: list[Reading]) -> list[Reading]:
    """One Sample per machine and time: the fields of one publish response that changed together.

    A subscription reports each node as its own data change; several that share a source
    timestamp are one point in InfluxDB, so they leave the gateway as one Sample (one
    sequence number, counted once) rather than as several points that overwrite each other.
    """
    at: dict[tuple[str, int], int] = {}  # (machine, time) -> where its sample is in `out`
    out: list[Reading] = []
    for r in readings:
        if not isinstance(r, Sample):
            out.append(r)
            continue
        key = (r.machine, r.ts_ns)
        if key not in at:
            at[key] = len(out)
            out.append(r)
        else:  # a later value of the same field at the same time wins; the readings are not changed
            first = out[at[key]]
            assert isinstance(first, Sample)
            out[at[key]] = Sample(r.machine, r.ts_ns, {**first.fields, **r.fields}, first.seq)
    return out
