"""The collector's telemetry fast path: validated columns, and each value in the text the device sent.

The collector writes each value in the decimal text the device sent instead of
re-formatting the float: InfluxDB parses both to the same float64, and formatting
is what limited the collector (10x slower than reusing the text,
bench/RESULTS.md). The contract's decode (`decode_telemetry`) has already proved
every value is a JSON number within range, so the text is a valid line-protocol
float.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
import numpy as np

from tonle.contract import explain
from tonle.contract.payloads import PayloadError, Telemetry, decode_telemetry, telemetry_columns

__all__ = ["TelemetryBlock", "decode_block", "telemetry_block", "telemetry_text"]


@dataclass(frozen=True, slots=True)
class TelemetryBlock:
    """A telemetry message as columns: `ts` int64 [n], `values` float64 [n_fields, n]."""

    seq: int
    ts: np.ndarray
    names: tuple[str, ...]
    values: np.ndarray
    machine_type: str | None


def decode_block(data: bytes) -> TelemetryBlock:
    """Decode and validate a telemetry payload into columns, or raise PayloadError with a reason."""
    msg, ts, values = decode_telemetry(data)
    return TelemetryBlock(msg.seq, ts, tuple(msg.fields), values, msg.machine_type)


def telemetry_block(msg: Telemetry) -> TelemetryBlock:
    """Turn a single or batch telemetry message into validated columns."""
    ts, values = telemetry_columns(msg)
    return TelemetryBlock(msg.seq, ts, tuple(msg.fields), values, msg.machine_type)


class _RawFields(msgspec.Struct):
    fields: dict[str, msgspec.Raw]


_RAW_DECODER = msgspec.json.Decoder(_RawFields)
_JSON_SPACE = b" \t\r\n"


def telemetry_text(data: bytes, block: TelemetryBlock) -> list[list[bytes]]:
    """The JSON text of each value of a decoded telemetry message, in `block.names` order.

    Call only on `data` that `decode_block` accepted (that is what makes the text
    safe to write as it is).
    """
    raw = _RAW_DECODER.decode(data).fields
    n = block.ts.shape[0]
    out: list[list[bytes]] = []
    for name in block.names:
        text = bytes(raw[name]).translate(None, _JSON_SPACE)
        tokens = text[1:-1].split(b",") if text[:1] == b"[" else [text]
        if len(tokens) != n:  # cannot happen for accepted data; never write misaligned values
            raise PayloadError(explain.misaligned_text(name))
        out.append(tokens)
    return out
