"""Versioned JSON payloads, decoded and validated with msgspec: the wire contract.

Every sample is timestamped at the source (ns since the epoch) and carries the
device's sequence number. Telemetry may be one sample or a columnar batch, so a
thousand samples cross the broker as one message and land in numpy arrays
without per-sample Python work.

This module decides *whether* a payload is valid; `tonle.contract.explain` words
*why not* (the dead-letter reasons), and the limits live in `tonle.contract.limits`.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, get_args

import msgspec
import numpy as np

from tonle.contract import explain
from tonle.contract.duplicates import duplicate_key
from tonle.contract.floor import AndonAck, Defect, FloorPayload, check_floor
from tonle.contract.limits import (
    ABS_MAX,
    HEALTH_RESERVED_FIELDS,
    MAX_BATCH,
    MAX_FIELDS,
    MAX_PAYLOAD_BYTES,
    NAME_PATTERN,
    PAYLOAD_VERSION,
    SEQ_MAX,
    TELEMETRY_RESERVED_FIELDS,
    TS_MAX,
    TS_MIN,
)
from tonle.contract.refusals import REFUSAL_CODES
from tonle.contract.topics import TopicError, check_name

__all__ = [
    "HEALTH_RESERVED_FIELDS",
    "MACHINE_STATES",
    "MAX_PAYLOAD_BYTES",
    "PAYLOAD_VERSION",
    "REFUSAL_CODES",
    "TELEMETRY_RESERVED_FIELDS",
    "TS_MAX",
    "TS_MIN",
    "Alert",
    "Command",
    "CommandAck",
    "Count",
    "Event",
    "Health",
    "HealthRow",
    "Payload",
    "PayloadError",
    "State",
    "StateName",
    "Status",
    "Telemetry",
    "decode",
    "decode_telemetry",
    "encode",
    "telemetry_columns",
]


class PayloadError(ValueError):
    """A payload failed to decode or validate; `reason` is short enough for a dead letter.

    The reason reads `<category>: <what is wrong and how to fix it>` (worded in
    `tonle.contract.explain`). The category (`bad timestamp`, `wrong type`, ...)
    never contains a value from the payload, so it can key a dead-letter counter
    without unbounded growth.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def category(self) -> str:
        return self.reason.split(":", 1)[0]


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

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=NAME_PATTERN)]
Text = Annotated[str, msgspec.Meta(max_length=500)]
Ts = Annotated[int, msgspec.Meta(ge=TS_MIN, le=TS_MAX)]
Seq = Annotated[int, msgspec.Meta(ge=0, le=SEQ_MAX)]
Version = Literal[1]


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

KeyName = Annotated[str, msgspec.Meta(max_length=64)]
Code = Annotated[str, msgspec.Meta(max_length=32)]


class Command(_Base):
    """A command to one machine, signed (tonle.security.commands).

    `key` names the signer's key and `sig` is the base64 Ed25519 signature over
    `tonle.security.signing.command_bytes` with the machine's address as target; `issued_by`
    is the sender's own label and is never trusted: the ack's `signer` says who signed.
    """

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    ts: Ts
    expires: Ts
    action: CommandAction
    reason: Text
    value: float | None = None
    issued_by: Text = ""
    key: KeyName = ""
    sig: Annotated[str, msgspec.Meta(max_length=128)] = ""


class CommandAck(_Base):
    """A gateway's answer to a command; `refused` means it never reached the machine.

    `code` says why in a word (`REFUSAL_CODES`, or the machine's own reason), `key` is the key
    the command claimed and `signer` the key that verified (empty when none did).
    """

    id: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    ts: Ts
    status: Literal["applied", "rejected", "expired", "duplicate", "refused"]
    detail: Text = ""
    action: Text = ""
    code: Code = ""
    key: KeyName = ""
    signer: KeyName = ""


class Alert(_Base):
    ts: Ts
    severity: Literal["info", "warning", "critical"]
    code: Name
    message: Text
    health: float | None = None
    rul_h: float | None = None


Payload = Telemetry | State | Count | Event | Status | Health | Command | CommandAck | Alert | FloorPayload

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
    "defect": Defect,
    "andon/ack": AndonAck,
}
_DECODERS: dict[str, msgspec.json.Decoder[Any]] = {
    kind: msgspec.json.Decoder(cls) for kind, cls in _STRUCTS.items()
}
_ENCODER = msgspec.json.Encoder()


def encode(payload: Payload) -> bytes:
    """Encode a payload; the kind travels in the topic, not in the JSON."""
    return _ENCODER.encode(payload)


def decode(kind: str, data: bytes) -> Payload:
    """Decode and validate `data` as a `kind` payload, or raise PayloadError with a reason."""
    if kind == "telemetry":
        return decode_telemetry(data)[0]
    msg = _typed(kind, data)
    _check_values(msg)
    _refuse_duplicate_keys(data, msg)  # last: the size limits above keep its slow path short
    return msg


def decode_telemetry(data: bytes) -> tuple[Telemetry, np.ndarray, np.ndarray]:
    """`decode` of a telemetry message, with the columns its checks build (`telemetry_columns`).

    A caller that stores the samples (the collector) needs the columns anyway:
    keeping the ones the checks built saves converting a batch to numpy twice.
    """
    msg = _typed("telemetry", data)
    assert isinstance(msg, Telemetry)
    ts, values = telemetry_columns(msg)
    _refuse_duplicate_keys(data, msg)
    return msg, ts, values


def _typed(kind: str, data: bytes) -> Payload:
    """The typed decode alone (shape, types, ranges); the caller runs the checks after it."""
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadError(explain.too_large(len(data)))
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise PayloadError(explain.unknown_kind(kind, _STRUCTS))
    try:
        msg: Payload = decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise PayloadError(explain.typed_decode(kind, _STRUCTS[kind], data, exc)) from exc
    except msgspec.DecodeError as exc:
        raise PayloadError(explain.not_json(data, str(exc))) from exc
    except UnicodeDecodeError as exc:
        raise PayloadError(explain.not_utf8(exc.reason)) from exc
    except RecursionError as exc:
        raise PayloadError(explain.too_deep()) from exc
    return msg


# -- what msgspec's types cannot say --------------------------------------------------


def _check_values(msg: Payload) -> None:
    """The rules of the non-telemetry kinds that are not types."""
    if isinstance(msg, Count) and msg.good > msg.total:
        raise PayloadError(explain.bad_count(msg.good, msg.total))
    if (floor := check_floor(msg)) is not None:
        raise PayloadError(floor)
    if isinstance(msg, Command) and msg.value is not None:
        _check_number("value", msg.value)
    elif isinstance(msg, Alert):
        for name in ("health", "rul_h"):
            value = getattr(msg, name)
            if value is not None:
                _check_number(name, value)
    elif isinstance(msg, Health):
        # Two rows may share a scope (a serial source named like its machine): InfluxDB merges
        # them into one point, which loses nothing that matters, so they are not refused.
        for i, row in enumerate(msg.rows):
            try:
                check_name("health scope", row.scope)
            except TopicError as exc:
                raise PayloadError(str(exc)) from exc
            if len(row.fields) > MAX_FIELDS:
                raise PayloadError(explain.row_too_many_fields(i, len(row.fields)))
            _refuse_reserved(row.fields, HEALTH_RESERVED_FIELDS, f"rows[{i}]")
            for name, value in row.fields.items():
                _check_number(f"rows[{i}].fields.{name}", value)


def _check_number(where: str, value: float) -> None:
    if not math.isfinite(value) or abs(value) > ABS_MAX:
        raise PayloadError(explain.number_out_of_range(where, value))


def _refuse_reserved(fields: dict[str, Any], reserved: frozenset[str], where: str) -> None:
    clash = reserved.intersection(fields)
    if clash:
        raise PayloadError(explain.reserved_name(min(clash), where, reserved))


def telemetry_columns(msg: Telemetry) -> tuple[np.ndarray, np.ndarray]:
    """Check a telemetry message as columns: `ts` int64 [n] and `values` float64 [n_fields, n].

    What the types cannot say: at least one and at most MAX_FIELDS fields, no
    reserved names, one value per timestamp, timestamps strictly increasing,
    every value finite and within range, and room for the sequence numbers.
    """
    if not msg.fields:
        raise PayloadError(explain.no_fields())
    if len(msg.fields) > MAX_FIELDS:
        raise PayloadError(explain.too_many_fields(len(msg.fields)))
    _refuse_reserved(msg.fields, TELEMETRY_RESERVED_FIELDS, "fields")
    if isinstance(msg.ts, int):
        for name, v in msg.fields.items():
            if isinstance(v, list):
                raise PayloadError(explain.field_not_one_number(name))
        ts = np.array([msg.ts], dtype=np.int64)
        values = np.array([[v] for v in msg.fields.values()], dtype=np.float64)
    else:
        ts, values = _batch_columns(msg.ts, msg.fields)
    if msg.seq > SEQ_MAX - (ts.shape[0] - 1):
        raise PayloadError(explain.seq_overflow(msg.seq, ts.shape[0]))
    # One sample: plain comparisons beat numpy's per-call overhead (NaN compares False).
    if ts.shape[0] == 1 and all(abs(v) <= ABS_MAX for v in values[:, 0].tolist()):
        return ts, values
    bad = ~np.isfinite(values) | (np.abs(values) > ABS_MAX)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise PayloadError(explain.sample_out_of_range(tuple(msg.fields)[i], int(j), float(values[i, j])))
    return ts, values


def _batch_columns(
    ts_list: list[int], fields: dict[str, float | list[float]]
) -> tuple[np.ndarray, np.ndarray]:
    n = len(ts_list)
    if n == 0 or n > MAX_BATCH:
        raise PayloadError(explain.batch_size(n))
    cols = list(fields.values())
    for name, col in zip(fields, cols, strict=True):
        if not isinstance(col, list):
            raise PayloadError(explain.field_not_a_list(name, n))
        if len(col) != n:
            raise PayloadError(explain.length_mismatch(name, len(col), n))
    ts = np.array(ts_list, dtype=np.int64)
    values = np.array(cols, dtype=np.float64)
    if n > 1:
        steps = np.diff(ts)
        if np.any(steps <= 0):
            i = int(np.argmax(steps <= 0))
            raise PayloadError(explain.not_increasing(i, int(ts[i]), int(ts[i + 1])))
    return ts, values


# -- duplicate keys ---------------------------------------------------------------


def _refuse_duplicate_keys(data: bytes, msg: Payload) -> None:
    dup = duplicate_key(data, _quotes_needed(msg))
    if dup is not None:
        raise PayloadError(explain.duplicate_key(dup))


def _quotes_needed(msg: Payload) -> int:
    """A lower bound on the `"` characters any JSON text of `msg` contains."""
    if isinstance(msg, Telemetry):  # v, seq, ts, fields, field names, machine_type and its value
        return 8 + 2 * len(msg.fields) + (0 if msg.machine_type is None else 4)
    text = _ENCODER.encode(msg)
    return text.count(b'"') - text.count(b'\\"')
