"""Versioned JSON payloads, decoded and validated with msgspec.

Every sample is timestamped at the source (ns since the epoch) and carries the
device's sequence number. Telemetry may be one sample or a columnar batch, so a
thousand samples cross the broker as one message and land in numpy arrays
without per-sample Python work.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated, Literal, get_args

import msgspec
import numpy as np

__all__ = [
    "MACHINE_STATES",
    "PAYLOAD_VERSION",
    "Alert",
    "Command",
    "CommandAck",
    "Count",
    "Event",
    "Health",
    "HealthRow",
    "PayloadError",
    "State",
    "StateName",
    "Status",
    "Telemetry",
    "TelemetryBlock",
    "decode",
    "encode",
    "telemetry_block",
]

PAYLOAD_VERSION = 1
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
MAX_BATCH = 100_000
MAX_FIELDS = 64
# Source timestamps must fall between 2000-01-01 and 2100-01-01: anything else
# is a device clock that was never set, or a unit error (s or ms sent as ns).
TS_MIN = 946_684_800_000_000_000
TS_MAX = 4_102_444_800_000_000_000
ABS_MAX = 1e15

# The machine states every component agrees on, with a stable numeric code so
# Grafana state timelines and the analytics core can work on integers.
StateName = Literal[
    "running",
    "idle",
    "starved",
    "blocked",
    "thread_break",
    "needle_break",
    "breakdown",
    "maintenance",
    "setup",
    "planned_stop",
    "offline",
]
MACHINE_STATES: tuple[str, ...] = get_args(StateName)

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Text = Annotated[str, msgspec.Meta(max_length=500)]
Ts = Annotated[int, msgspec.Meta(ge=TS_MIN, le=TS_MAX)]
Seq = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]
Version = Literal[1]


class PayloadError(ValueError):
    """A payload failed to decode or validate; `reason` is short enough for a dead letter."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Base(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    v: Version


class Telemetry(_Base):
    """One sample (`ts` int, fields floats) or a columnar batch (`ts` list, fields lists)."""

    seq: Seq
    ts: Ts | list[Ts]
    fields: dict[Name, float | list[float]]
    machine_type: Name | None = None


class State(_Base):
    seq: Seq
    ts: Ts
    state: StateName
    reason: Text = ""
    machine_type: Name | None = None


class Count(_Base):
    """Cumulative piece counters since the device started; differences give output."""

    seq: Seq
    ts: Ts
    total: Annotated[int, msgspec.Meta(ge=0, le=2**53)]
    good: Annotated[int, msgspec.Meta(ge=0, le=2**53)]
    machine_type: Name | None = None


class Event(_Base):
    seq: Seq
    ts: Ts
    event: Name
    detail: Text = ""


class Status(_Base):
    ts: Ts
    online: bool
    agent: Text = ""
    version: Text = ""


class HealthRow(msgspec.Struct, forbid_unknown_fields=True):
    """Counters of one part of a component (the agent itself, or one of its devices)."""

    scope: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    fields: dict[Name, float]


class Health(_Base):
    """A component's own health, periodically; stored in the `pipeline` measurement."""

    ts: Ts
    component: Name
    rows: Annotated[list[HealthRow], msgspec.Meta(max_length=256)]


CommandAction = Literal["set_speed", "maintenance", "andon", "clear_andon"]


class Command(_Base):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    ts: Ts
    expires: Ts
    action: CommandAction
    reason: Text
    value: float | None = None
    issued_by: Text = ""


class CommandAck(_Base):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    ts: Ts
    status: Literal["applied", "rejected", "expired", "duplicate"]
    detail: Text = ""
    action: Text = ""


class Alert(_Base):
    ts: Ts
    severity: Literal["info", "warning", "critical"]
    code: Name
    message: Text
    health: float | None = None
    rul_h: float | None = None


Payload = Telemetry | State | Count | Event | Status | Health | Command | CommandAck | Alert

_STRUCTS: dict[str, type[msgspec.Struct]] = {
    "telemetry": Telemetry,
    "state": State,
    "count": Count,
    "event": Event,
    "status": Status,
    "health": Health,
    "cmd": Command,
    "cmd/ack": CommandAck,
    "alert": Alert,
}
_DECODERS = {kind: msgspec.json.Decoder(cls) for kind, cls in _STRUCTS.items()}
_ENCODER = msgspec.json.Encoder()
_VERSION_PROBE = msgspec.json.Decoder(dict[str, object])


def encode(payload: Payload) -> bytes:
    """Encode a payload; the kind travels in the topic, not in the JSON."""
    return _ENCODER.encode(payload)


def decode(kind: str, data: bytes) -> Payload:
    """Decode and validate `data` as a `kind` payload, or raise PayloadError with a reason."""
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"payload is {len(data)} bytes, more than {MAX_PAYLOAD_BYTES}")
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise PayloadError(f"unknown message kind {kind!r}")
    try:
        msg = decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise PayloadError(_version_reason(data) or f"invalid {kind} payload: {exc}") from exc
    except msgspec.DecodeError as exc:
        raise PayloadError(f"not valid JSON: {exc}") from exc
    if isinstance(msg, Telemetry):
        telemetry_block(msg)  # validates shapes and values
    elif isinstance(msg, Command) and msg.value is not None and not math.isfinite(msg.value):
        raise PayloadError("command value is not a finite number")
    elif isinstance(msg, Health):
        for row in msg.rows:
            bad = [k for k, v in row.fields.items() if not math.isfinite(v) or abs(v) > ABS_MAX]
            if bad:
                raise PayloadError(f"health row {row.scope!r} field {bad[0]!r} is not a finite number")
    return msg  # type: ignore[return-value]


def _version_reason(data: bytes) -> str | None:
    try:
        probe = _VERSION_PROBE.decode(data)
    except msgspec.MsgspecError:
        return None
    v = probe.get("v")
    if v != PAYLOAD_VERSION:
        return f"payload version {v!r} is not supported (this collector reads v={PAYLOAD_VERSION})"
    return None


@dataclass(frozen=True, slots=True)
class TelemetryBlock:
    """A telemetry message as columns: `ts` int64 [n], `values` float64 [n_fields, n]."""

    seq: int
    ts: np.ndarray
    names: tuple[str, ...]
    values: np.ndarray
    machine_type: str | None


def telemetry_block(msg: Telemetry) -> TelemetryBlock:
    """Turn a single or batch telemetry message into validated columns."""
    if not msg.fields:
        raise PayloadError("telemetry has no fields")
    if len(msg.fields) > MAX_FIELDS:
        raise PayloadError(f"telemetry has {len(msg.fields)} fields, more than {MAX_FIELDS}")
    names = tuple(msg.fields)
    if isinstance(msg.ts, int):
        if any(isinstance(v, list) for v in msg.fields.values()):
            raise PayloadError("single-sample telemetry (ts is a number) has a list field")
        ts = np.array([msg.ts], dtype=np.int64)
        values = np.array([[v] for v in msg.fields.values()], dtype=np.float64)
    else:
        n = len(msg.ts)
        if n == 0 or n > MAX_BATCH:
            raise PayloadError(f"telemetry batch has {n} samples; send 1 to {MAX_BATCH}")
        cols = list(msg.fields.values())
        for name, col in zip(names, cols, strict=True):
            if not isinstance(col, list) or len(col) != n:
                got = len(col) if isinstance(col, list) else "a single number"
                raise PayloadError(f"field {name!r} has {got} values but ts has {n}")
        ts = np.array(msg.ts, dtype=np.int64)
        values = np.array(cols, dtype=np.float64)
        if n > 1 and np.any(np.diff(ts) <= 0):
            raise PayloadError("telemetry batch timestamps are not strictly increasing")
    bad = ~np.isfinite(values) | (np.abs(values) > ABS_MAX)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise PayloadError(
            f"field {names[i]!r} sample {j} is {values[i, j]!r}: not a finite number below {ABS_MAX:g}"
        )
    return TelemetryBlock(msg.seq, ts, names, values, msg.machine_type)
