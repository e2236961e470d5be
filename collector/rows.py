"""The row table: how each payload kind of the wire contract is stored.

One entry per kind. Most kinds are one point per message, declared as a `Row`: which
payload attributes become tags, which become fields (typed by the storage schema,
`tonle.schema`), which are derived or fixed. Two kinds need code: telemetry (the fast
path: every sample a point, each value in the text the device sent) and health (one
point per scope). To store a new kind, add its struct to the contract, its measurement
to the schema and one entry here.

The tag set is the machine's address (plus the machine type and, for commands and
alerts, one small bounded tag). Sequence numbers are fields, never tags, to keep series
cardinality bounded.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Protocol

import msgspec
import numpy as np

from collector.telemetry import decode_block, telemetry_text
from tonle.contract import (
    MACHINE_STATES,
    Alert,
    AndonAck,
    Command,
    CommandAck,
    Count,
    Defect,
    Event,
    Health,
    MachineAddress,
    State,
    Status,
    decode,
    encode_block,
    parse_topic,
)
from tonle.contract.lineproto import (
    encode_text_block,
    escape_field_key,
    escape_string_value,
    series_key,
)
from tonle.schema import (
    ALERTS,
    ANDON_ACKS,
    COMMANDS,
    DEFECTS,
    EVENTS,
    FLOAT,
    INT,
    PIPELINE,
    PRODUCTION,
    STATE,
    STATUS,
    STR,
    TELEMETRY,
    FieldType,
    Measurement,
)

__all__ = ["ROWS", "HealthRows", "Layout", "Mapped", "Row", "TelemetryRows"]

Stream = tuple[str, str, str, str, str]  # (site, area, line, machine, kind)


@dataclass(frozen=True, slots=True)
class Mapped:
    """What one MQTT message becomes: lines, their count, and its sequence range."""

    lines: bytes
    points: int
    stream: Stream | None
    first_seq: int
    n_seq: int


class Layout(Protocol):
    """How one kind is stored: `map` decodes the payload and encodes its points."""

    @property
    def measurement(self) -> Measurement: ...

    def map(self, topic: str, addr: MachineAddress, kind: str, payload: bytes) -> Mapped: ...


def _stream(addr: MachineAddress, kind: str) -> Stream:
    return (addr.site, addr.area, addr.line, addr.machine, kind)


@functools.lru_cache(maxsize=4096)
def _series(measurement: str, topic: str, extra: tuple[tuple[str, str | None], ...]) -> str:
    """The escaped series key of a machine's rows: the same for every message, so kept."""
    addr, _ = parse_topic(topic)
    tags = addr.tags()
    tags.update((k, v) for k, v in extra if v)
    return series_key(measurement, tags)


# Line-protocol text of one value, by its schema type (as `encode_block` writes it).
_FORMAT: Mapping[FieldType, Callable[[Any], str]] = {
    FLOAT: lambda v: repr(float(v)),
    INT: lambda v: f"{int(v)}i",
    STR: escape_string_value,
}
_TYPE_ORDER = (FLOAT, INT, STR)


@dataclass(frozen=True, slots=True)
class Row:
    """A kind stored as one point per message, declared attribute by attribute.

    Each name in `fields` is taken from the payload attribute of that name, unless
    `derived` computes it or `fixed` sets it; a value of None is left out (optional
    numbers). Each name in `tags` is a payload attribute written as a tag when set.
    Types come from the schema; the declaration is checked against the schema and the
    payload struct when the table is built, so a misspelt name fails at import.
    """

    payload: type[msgspec.Struct]
    measurement: Measurement
    fields: tuple[str, ...]
    tags: tuple[str, ...] = ()
    fixed_tags: Mapping[str, str] = field(default_factory=dict)
    fixed: Mapping[str, object] = field(default_factory=dict)
    derived: Mapping[str, Callable[[Any], object]] = field(default_factory=dict)
    _columns: tuple[tuple[str, Callable[[Any], str], Callable[[Any], Any]], ...] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        self._check()
        types = self.measurement.fields
        ordered = sorted(self.fields, key=lambda f: _TYPE_ORDER.index(types[f]))  # floats, ints, strings
        columns = tuple((escape_field_key(f) + "=", _FORMAT[types[f]], self._source(f)) for f in ordered)
        object.__setattr__(self, "_columns", columns)

    def _source(self, name: str) -> Callable[[Any], Any]:
        if name in self.derived:
            return self.derived[name]
        if name in self.fixed:
            value = self.fixed[name]
            return lambda _msg: value
        return operator.attrgetter(name)

    def _check(self) -> None:
        m, attrs = self.measurement, set(self.payload.__struct_fields__)
        wrong = [f for f in self.fields if f not in m.fields]
        wrong += [t for t in (*self.tags, *self.fixed_tags) if t not in m.tags]
        wrong += [f for f in (*self.derived, *self.fixed) if f not in self.fields]
        given = {*self.derived, *self.fixed}
        wrong += [a for a in (*self.tags, *self.fields) if a not in attrs and a not in given]
        if wrong:
            raise ValueError(f"row of {self.payload.__name__} in {m.name!r}: {wrong} not declared")

    @property
    def sequenced(self) -> bool:
        return "seq" in self.fields

    def map(self, topic: str, addr: MachineAddress, kind: str, payload: bytes) -> Mapped:
        msg: Any = decode(kind, payload)
        extra = (*self.fixed_tags.items(), *((t, getattr(msg, t)) for t in self.tags))
        series = _series(self.measurement.name, topic, extra)
        parts = [key + fmt(v) for key, fmt, get in self._columns if (v := get(msg)) is not None]
        if not parts:
            raise ValueError(f"a {kind} point needs at least one field")
        lines = f"{series} {','.join(parts)} {msg.ts}\n".encode()
        if self.sequenced:
            return Mapped(lines, 1, _stream(addr, kind), msg.seq, 1)
        return Mapped(lines, 1, None, 0, 0)


@dataclass(frozen=True, slots=True)
class TelemetryRows:
    """Telemetry, the fast path: a point per sample, each value as the device wrote it.

    Formatting floats is what limited the collector; reusing the JSON text of each
    value (`collector.telemetry`) and the series key of each topic is what makes it fast.
    """

    measurement: Measurement = TELEMETRY

    def map(self, topic: str, addr: MachineAddress, kind: str, payload: bytes) -> Mapped:
        block = decode_block(payload)
        n = block.ts.shape[0]
        text = dict(zip(block.names, telemetry_text(payload, block), strict=True))
        series = _series(self.measurement.name, topic, (("machine_type", block.machine_type),))
        lines = encode_text_block(series, block.ts.tolist(), text, block.seq)
        return Mapped(lines, n, _stream(addr, kind), block.seq, n)


@dataclass(frozen=True, slots=True)
class HealthRows:
    """A component's health: one point per scope (the agent, each device), its counters as floats."""

    measurement: Measurement = PIPELINE

    def map(self, topic: str, addr: MachineAddress, kind: str, payload: bytes) -> Mapped:
        msg = decode(kind, payload)
        assert isinstance(msg, Health)
        ts = np.array([msg.ts], dtype=np.int64)
        chunks = []
        for row in msg.rows:
            if not row.fields:
                continue
            tags = {
                "component": msg.component,
                "instance": addr.machine,
                "site": addr.site,
                "line": addr.line,
                "device": row.scope,
            }
            cols = {k: np.array([v]) for k, v in row.fields.items()}
            chunks.append(encode_block(self.measurement.name, tags, ts, cols))
        return Mapped(b"".join(chunks), len(chunks), None, 0, 0)


_STATE_CODE = {name: i for i, name in enumerate(MACHINE_STATES)}
_CMD_FIELDS = ("value", "expires", "id", "action", "status", "reason", "issued_by", "claimed_key", "sig")
# An ack stores who the gateway verified (`signer`) and why it refused (`code`): an audit of
# `commands` shows every attempt with who sent it, not the sender's own `issued_by`.
_ACK_FIELDS = ("id", "status", "detail", "action", "code", "claimed_key", "signer")
_CLAIMED = {"claimed_key": operator.attrgetter("key")}  # `key` is a keyword of InfluxQL

ROWS: Mapping[str, Layout] = MappingProxyType(
    {
        "telemetry": TelemetryRows(),
        "state": Row(
            State,
            STATE,
            ("code", "seq", "state", "reason"),
            tags=("machine_type",),
            derived={"code": lambda msg: _STATE_CODE[msg.state]},
        ),
        "count": Row(Count, PRODUCTION, ("total", "good", "seq"), tags=("machine_type",)),
        "event": Row(Event, EVENTS, ("seq", "event", "detail")),
        "status": Row(Status, STATUS, ("online", "agent", "version")),
        "health": HealthRows(),
        "cmd": Row(
            Command,
            COMMANDS,
            _CMD_FIELDS,
            fixed_tags={"direction": "cmd"},
            fixed={"status": "sent"},
            derived=_CLAIMED,
        ),
        "cmd/ack": Row(CommandAck, COMMANDS, _ACK_FIELDS, fixed_tags={"direction": "ack"}, derived=_CLAIMED),
        "alert": Row(Alert, ALERTS, ("health", "rul_h", "code", "message"), tags=("severity",)),
        "defect": Row(Defect, DEFECTS, ("count", "by"), tags=("defect_type",)),
        "andon/ack": Row(AndonAck, ANDON_ACKS, ("by", "note")),
    }
)
"""Payload kind -> how it is stored; every kind of `tonle.contract.KINDS` has an entry."""
