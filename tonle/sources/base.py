"""What every device source gives the agent: readings, a commit point, and commands.

A source owns one physical link (a serial port, a Modbus TCP connection, an
RS-485 bus) and the machines behind it. It pushes readings to the agent's sink
as they arrive; `commit()` is called once those readings are durable in the
spool, so a source whose device protocol has acknowledgements (the serial
sensor node) acknowledges only then, and a kill -9 of the agent loses nothing
the device was told is safe.

A source whose device hands out its last values again on a reconnect, with the times they
changed (an OPC UA subscription), sets the class attribute `replays_on_reconnect = True`:
the agent then keeps those repeats out of the spool, across its own restarts too
(edge_agent.replays).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

__all__ = [
    "Burst",
    "CommandRefused",
    "Count",
    "DeviceLimits",
    "Reading",
    "Sample",
    "Sink",
    "Source",
    "SourceHealth",
    "StateChange",
]


@dataclass(frozen=True, slots=True)
class Sample:
    """Numeric fields of one machine at one instant (timestamped at the source)."""

    machine: str
    ts_ns: int
    fields: dict[str, float]
    seq: int | None = None  # the device's own sequence number, when it has one


@dataclass(frozen=True, slots=True)
class StateChange:
    machine: str
    ts_ns: int
    state: str  # one of tonle.contract.MACHINE_STATES
    reason: str = ""
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Count:
    """Cumulative piece counters of a machine."""

    machine: str
    ts_ns: int
    total: int
    good: int
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class Burst:
    """A raw accelerometer burst; the agent reduces it to features at the edge."""

    machine: str
    ts_ns: int
    fs_hz: float
    waveform: np.ndarray
    seq: int | None = None


Reading = Sample | StateChange | Count | Burst
Sink = Callable[[Sequence[Reading]], None]


@dataclass(frozen=True, slots=True)
class DeviceLimits:
    """What one device accepts: its allow-list and the range of each value."""

    allowed: frozenset[str]
    ranges: dict[str, tuple[float, float]]


class CommandRefused(ValueError):
    """The device (not the gate) refused a command; the message says why."""


@dataclass
class SourceHealth:
    """Counters a source keeps; the agent publishes them to the `pipeline` measurement."""

    reads: int = 0
    read_errors: int = 0
    corrupt_frames: int = 0
    reconnects: int = 0
    timeouts: int = 0
    connected: bool = False
    last_error: str = ""
    per_machine_reads: dict[str, int] = field(default_factory=dict)
    per_machine_errors: dict[str, int] = field(default_factory=dict)


@runtime_checkable
class Source(Protocol):
    name: str

    @property
    def machines(self) -> list[tuple[str, str]]:
        """(machine name, machine type) for every machine behind this source."""
        ...

    @property
    def health(self) -> SourceHealth: ...

    async def run(self, sink: Sink) -> None:
        """Read forever, pushing readings to `sink`; survive link loss (reconnect with backoff)."""
        ...

    async def commit(self) -> None:
        """Everything pushed so far is durable: acknowledge it to the device if it wants acks."""
        ...

    async def apply(
        self, machine: str, action: str, value: float | None, *, cmd_id: str | None = None
    ) -> str:
        """Apply a command that passed the gate; return a short detail or raise CommandRefused.

        `cmd_id` lets a device that remembers ids (the serial node) apply a resent command once.
        """
        ...
