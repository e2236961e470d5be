"""Pure core of the collector: (topic, payload bytes) -> line protocol bytes.

No I/O here, so every rule about what may be stored is tested directly. Each
kind maps to one measurement; the tag set is the machine's address (plus the
machine type and, for commands and alerts, one small bounded tag). Sequence
numbers are fields, never tags, to keep series cardinality bounded.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from tonle.contract import (
    MACHINE_STATES,
    Alert,
    Command,
    CommandAck,
    Count,
    Event,
    Health,
    State,
    Status,
    Telemetry,
    encode_block,
    parse_topic,
)
from tonle.contract.lineproto import encode_text_block, series_key
from tonle.contract.payloads import decode_with_block, telemetry_text

__all__ = ["Mapped", "map_message"]

_STATE_CODE = {name: i for i, name in enumerate(MACHINE_STATES)}


@dataclass(frozen=True, slots=True)
class Mapped:
    """What one MQTT message becomes: lines, their count, and its sequence range."""

    lines: bytes
    points: int
    stream: tuple[str, str, str, str, str] | None  # (site, area, line, machine, kind)
    first_seq: int
    n_seq: int


def _ts1(ts: int) -> np.ndarray:
    return np.array([ts], dtype=np.int64)


# Topics repeat (one per machine and kind): parsing and checking each once is enough.
_parse_topic = functools.lru_cache(maxsize=4096)(parse_topic)


@functools.lru_cache(maxsize=4096)
def _telemetry_series(topic: str, machine_type: str | None) -> str:
    """The escaped series key of a machine's telemetry: the same for every message, so kept."""
    addr, _ = parse_topic(topic)
    tags = addr.tags()
    if machine_type:
        tags["machine_type"] = machine_type
    return series_key("telemetry", tags)


def map_message(topic: str, payload: bytes) -> Mapped:
    """Decode, validate and encode one message; raise PayloadError/TopicError with a reason.

    Everything a payload may carry into a tag or a field key (machine type,
    health scope, field names) is validated by the decoder; the topic's names by
    `parse_topic`. What is left here is the layout of each measurement.
    """
    addr, kind = _parse_topic(topic)
    msg, block = decode_with_block(kind, payload)
    tags = addr.tags()
    stream = (addr.site, addr.area, addr.line, addr.machine, kind)
    if isinstance(msg, Telemetry):
        assert block is not None
        n = block.ts.shape[0]
        text = dict(zip(block.names, telemetry_text(payload, block), strict=True))
        lines = encode_text_block(
            _telemetry_series(topic, block.machine_type), block.ts.tolist(), text, block.seq
        )
        return Mapped(lines, n, stream, block.seq, n)
    if isinstance(msg, State):
        if msg.machine_type:
            tags["machine_type"] = msg.machine_type
        lines = encode_block(
            "state",
            tags,
            _ts1(msg.ts),
            int_fields={"code": np.array([_STATE_CODE[msg.state]]), "seq": np.array([msg.seq])},
            str_fields={"state": [msg.state], "reason": [msg.reason]},
        )
        return Mapped(lines, 1, stream, msg.seq, 1)
    if isinstance(msg, Count):
        if msg.machine_type:
            tags["machine_type"] = msg.machine_type
        lines = encode_block(
            "production",
            tags,
            _ts1(msg.ts),
            int_fields={
                "total": np.array([msg.total]),
                "good": np.array([msg.good]),
                "seq": np.array([msg.seq]),
            },
        )
        return Mapped(lines, 1, stream, msg.seq, 1)
    if isinstance(msg, Event):
        lines = encode_block(
            "events",
            tags,
            _ts1(msg.ts),
            int_fields={"seq": np.array([msg.seq])},
            str_fields={"event": [msg.event], "detail": [msg.detail]},
        )
        return Mapped(lines, 1, stream, msg.seq, 1)
    if isinstance(msg, Status):
        lines = encode_block(
            "status",
            tags,
            _ts1(msg.ts),
            int_fields={"online": np.array([int(msg.online)])},
            str_fields={"agent": [msg.agent], "version": [msg.version]},
        )
        return Mapped(lines, 1, None, 0, 0)
    if isinstance(msg, Health):
        chunks = []
        for row in msg.rows:
            if not row.fields:
                continue
            row_tags = {
                "component": msg.component,
                "instance": addr.machine,
                "site": addr.site,
                "line": addr.line,
                "device": row.scope,
            }
            cols = {k: np.array([v]) for k, v in row.fields.items()}
            chunks.append(encode_block("pipeline", row_tags, _ts1(msg.ts), cols))
        return Mapped(b"".join(chunks), len(chunks), None, 0, 0)
    if isinstance(msg, Command):
        floats = {"value": np.array([msg.value])} if msg.value is not None else {}
        lines = encode_block(
            "commands",
            {**tags, "direction": "cmd"},
            _ts1(msg.ts),
            floats,
            {"expires": np.array([msg.expires])},
            {
                "id": [msg.id],
                "action": [msg.action],
                "status": ["sent"],
                "reason": [msg.reason],
                "issued_by": [msg.issued_by],
            },
        )
        return Mapped(lines, 1, None, 0, 0)
    if isinstance(msg, CommandAck):
        lines = encode_block(
            "commands",
            {**tags, "direction": "ack"},
            _ts1(msg.ts),
            str_fields={
                "id": [msg.id],
                "status": [msg.status],
                "detail": [msg.detail],
                "action": [msg.action],
            },
        )
        return Mapped(lines, 1, None, 0, 0)
    assert isinstance(msg, Alert)
    floats = {"health": np.array([msg.health])} if msg.health is not None else {}
    if msg.rul_h is not None:
        floats["rul_h"] = np.array([msg.rul_h])
    lines = encode_block(
        "alerts",
        {**tags, "severity": msg.severity},
        _ts1(msg.ts),
        floats,
        str_fields={"code": [msg.code], "message": [msg.message]},
    )
    return Mapped(lines, 1, None, 0, 0)
