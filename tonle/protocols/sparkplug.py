"""Sparkplug B 3.0: topics, payloads and the host's STATE message, for the host and the simulator.

The gateway's Sparkplug source (a host application) and firmware_sim's edge node both
use this module, so the simulator meets the same codec a real SCADA edge node does.
Payloads are protobuf (`tonle.protocols.sparkplug_schema`); a payload that is not one,
or a metric whose value does not fit its declared datatype, raises `SparkplugError`
with the reason (the source counts it and goes on).

Signed integers travel as two's complement in the unsigned `int_value` (Int8/16/32)
and `long_value` (Int64) fields, as Sparkplug 3.0 section 6.4.16 says.

A command (NCMD to a node, DCMD to a device) names each metric (with the alias its birth
gave, when it gave one), in the datatype the birth declared, with a payload timestamp and
no `seq` (Sparkplug 3.0, 6.4.23 and 6.4.24); `command_value` turns a number into that type.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from google.protobuf.message import DecodeError

from tonle.errors import TonleError
from tonle.messages import N_
from tonle.protocols.sparkplug_schema import Payload as _Payload

__all__ = [
    "BDSEQ",
    "NAMESPACE",
    "REBIRTH",
    "DataType",
    "Metric",
    "MetricValue",
    "SparkplugError",
    "SparkplugPayload",
    "Topic",
    "command_value",
    "decode_payload",
    "decode_state",
    "encode_command",
    "encode_payload",
    "encode_state",
    "is_rebirth_request",
    "parse_topic",
    "rebirth_request",
    "state_topic",
]

NAMESPACE = "spBv1.0"
REBIRTH = "Node Control/Rebirth"
BDSEQ = "bdSeq"
MESSAGE_TYPES = ("NBIRTH", "NDEATH", "NDATA", "NCMD", "DBIRTH", "DDEATH", "DDATA", "DCMD")


class DataType(enum.IntEnum):
    """Sparkplug B metric datatypes (the scalar ones Tonle reads and writes)."""

    Int8 = 1
    Int16 = 2
    Int32 = 3
    Int64 = 4
    UInt8 = 5
    UInt16 = 6
    UInt32 = 7
    UInt64 = 8
    Float = 9
    Double = 10
    Boolean = 11
    String = 12
    DateTime = 13
    Text = 14


_BITS = {DataType.Int8: 8, DataType.Int16: 16, DataType.Int32: 32, DataType.Int64: 64}
_INT32 = (DataType.Int8, DataType.Int16, DataType.Int32, DataType.UInt8, DataType.UInt16, DataType.UInt32)
_INT64 = (DataType.Int64, DataType.UInt64, DataType.DateTime)
_STRINGS = (DataType.String, DataType.Text)
_UNSIGNED = {
    DataType.UInt8: 255,
    DataType.UInt16: 65535,
    DataType.UInt32: 2**32 - 1,
    DataType.UInt64: 2**64 - 1,
}
NUMERIC = frozenset(DataType) - {*_STRINGS}

MetricValue = int | float | bool | str | None


class SparkplugError(TonleError, ValueError):
    """A Sparkplug message Tonle cannot read; `reason` is a short counter name."""


@dataclass(frozen=True, slots=True)
class Topic:
    """`spBv1.0/<group>/<type>/<edge node>[/<device>]`."""

    group: str
    kind: str
    node: str
    device: str = ""

    def __str__(self) -> str:
        tail = f"/{self.device}" if self.device else ""
        return f"{NAMESPACE}/{self.group}/{self.kind}/{self.node}{tail}"


def parse_topic(topic: str) -> Topic:
    parts = topic.split("/")
    if len(parts) not in (4, 5) or parts[0] != NAMESPACE or parts[2] not in MESSAGE_TYPES:
        raise SparkplugError(N_("not a Sparkplug B topic: {topic!r}"), reason="bad_topic", topic=topic)
    return Topic(parts[1], parts[2], parts[3], parts[4] if len(parts) == 5 else "")


def state_topic(host_id: str) -> str:
    """Where a primary host says it is online (Sparkplug 3.0: `spBv1.0/STATE/<host_id>`)."""
    return f"{NAMESPACE}/STATE/{host_id}"


def encode_state(online: bool, timestamp_ms: int) -> bytes:
    return json.dumps({"online": online, "timestamp": timestamp_ms}, separators=(",", ":")).encode()


def decode_state(payload: bytes) -> tuple[bool, int]:
    data = json.loads(payload)
    return bool(data["online"]), int(data["timestamp"])


@dataclass(frozen=True, slots=True)
class Metric:
    """One metric as Tonle sees it: by name in a birth, often by alias alone in data."""

    name: str = ""
    alias: int | None = None
    datatype: int = 0
    value: MetricValue = None
    timestamp_ms: int | None = None


@dataclass(frozen=True, slots=True)
class SparkplugPayload:
    timestamp_ms: int | None
    seq: int | None
    metrics: tuple[Metric, ...]


def _set_value(m: Any, datatype: int, value: MetricValue) -> None:
    if value is None:
        m.is_null = True
        return
    dt = DataType(datatype)
    if dt in _INT32 or dt in _INT64:
        raw = int(value)
        bits = _BITS.get(dt)
        if bits and raw < 0:
            raw += 1 << (32 if bits <= 32 else 64)  # two's complement in the unsigned field
        if dt in _INT32:
            m.int_value = raw
        else:
            m.long_value = raw
    elif dt is DataType.Float:
        m.float_value = float(value)
    elif dt is DataType.Double:
        m.double_value = float(value)
    elif dt is DataType.Boolean:
        m.boolean_value = bool(value)
    else:
        m.string_value = str(value)


def encode_payload(metrics: Iterable[Metric], *, seq: int | None, timestamp_ms: int) -> bytes:
    p = _Payload(timestamp=timestamp_ms)
    if seq is not None:
        p.seq = seq
    for metric in metrics:
        m = p.metrics.add()
        if metric.name:
            m.name = metric.name
        if metric.alias is not None:
            m.alias = metric.alias
        if metric.datatype:
            m.datatype = metric.datatype
        if metric.timestamp_ms is not None:
            m.timestamp = metric.timestamp_ms
        _set_value(m, metric.datatype, metric.value)
    return bytes(p.SerializeToString())


def _signed(raw: int, bits: int) -> int:
    return raw - (1 << bits) if raw >= 1 << (bits - 1) else raw


def _value(m: Any) -> MetricValue:
    """The value of a decoded protobuf metric as Python, or None (null, or not a scalar)."""
    if m.is_null:
        return None
    which = m.WhichOneof("value")
    if which is None:
        return None
    raw = getattr(m, which)
    bits = _BITS.get(DataType(m.datatype)) if m.datatype in DataType._value2member_map_ else None
    if which in ("int_value", "long_value") and bits is not None:
        return _signed(raw & ((1 << bits) - 1), bits)
    return raw


def decode_payload(data: bytes) -> SparkplugPayload:
    """A Sparkplug B payload, or SparkplugError(reason="not_protobuf")."""
    p = _Payload()
    try:
        p.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise SparkplugError(
            N_("not a Sparkplug B payload ({size} bytes): {error}"),
            reason="not_protobuf",
            size=len(data),
            error=str(exc),
        ) from exc
    metrics = tuple(
        Metric(
            name=m.name,
            alias=m.alias if m.HasField("alias") else None,
            datatype=m.datatype,
            value=_value(m),
            timestamp_ms=m.timestamp if m.HasField("timestamp") else None,
        )
        for m in p.metrics
    )
    return SparkplugPayload(
        timestamp_ms=p.timestamp if p.HasField("timestamp") else None,
        seq=p.seq if p.HasField("seq") else None,
        metrics=metrics,
    )


def command_value(datatype: int, value: float) -> MetricValue:
    """`value` in a metric's declared datatype: integers round, a Boolean is value != 0.

    SparkplugError(reason="not_writable") for a text metric, an unknown datatype or an
    integer the type cannot hold (a negative number for an unsigned metric, say).
    """
    dt = DataType(datatype) if datatype in DataType._value2member_map_ else None
    if dt is None or dt in _STRINGS or dt is DataType.DateTime:
        raise SparkplugError(
            N_("the metric's datatype ({datatype}) is not a number Tonle can write"),
            reason="not_writable",
            datatype=dt.name if dt is not None else datatype,
        )
    if dt in (DataType.Float, DataType.Double):
        return float(value)
    if dt is DataType.Boolean:
        return value != 0
    raw = round(value)
    bits = _BITS.get(dt)
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if bits else (0, _UNSIGNED[dt])
    if not low <= raw <= high:
        raise SparkplugError(
            N_("{value} does not fit the metric's datatype {datatype} ({low}..{high})"),
            reason="not_writable",
            value=raw,
            datatype=dt.name,
            low=low,
            high=high,
        )
    return raw


def encode_command(metrics: Iterable[Metric], timestamp_ms: int) -> bytes:
    """An NCMD or DCMD payload: a timestamp and the metrics, never a `seq` (Sparkplug 3.0)."""
    return encode_payload(metrics, seq=None, timestamp_ms=timestamp_ms)


def rebirth_request(timestamp_ms: int) -> bytes:
    """The NCMD a host sends to make an edge node publish its births again."""
    return encode_command([Metric(REBIRTH, None, DataType.Boolean, True)], timestamp_ms)


def is_rebirth_request(payload: SparkplugPayload) -> bool:
    return any(m.name == REBIRTH and m.value is True for m in payload.metrics)
