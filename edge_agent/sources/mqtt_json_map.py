"""Pure core of the plain-MQTT source: one device message (topic, JSON) -> values, time, counter.

No I/O here, so every odd payload a cheap plug can send is tested in a plain function
call. A message that cannot be mapped raises `Refused` with the reason in plain words
(the source counts it per reason and acknowledges it: it will not get better by
waiting); a message that holds none of the mapped values (a Shelly notification about
its Wi-Fi, say) is not an error and maps to nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec

from edge_agent.sources.mqtt_json_config import MessageMap
from tonle.errors import TonleError
from tonle.messages import N_

__all__ = ["MAX_SKEW_S", "Mapped", "Refused", "lookup", "map_message"]

MAX_SKEW_S = 86_400.0  # a device clock further than this from the gateway's is wrong (no NTP yet)
_ON_OFF = {"ON": 1.0, "OFF": 0.0}  # Tasmota's POWER

NOT_JSON = N_("the message is not JSON ({error})")
NOT_OBJECT = N_("the message is JSON but not an object")
NOT_NUMBER = N_("'{path}' is {value}, not a number")
NO_TIME = N_("'{path}' is missing, so the reading has no time")
BAD_TIME = N_("'{path}' is {value}, which is not a {format} time")
SKEWED = N_(
    "the device's clock says {device_time}, more than a day from the gateway's {gateway_time}; "
    "set its time (NTP)"
)
BAD_SEQ = N_("'{path}' is {value}, not a whole number")


class Refused(TonleError):
    """A message that cannot be mapped; `reason` is a short key for counting (bad_json, not_number, ...)."""

    def __init__(self, message: str, reason: str, **data: Any) -> None:
        super().__init__(message, reason=reason, **data)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Mapped:
    fields: dict[str, float]
    ts_ns: int
    seq: int | None


def lookup(doc: Any, path: str) -> Any:
    """The value at a dotted path (`params.switch:0.apower`, `list.2.x`), or None where there is none."""
    node = doc
    for key in path.split("."):
        if isinstance(node, dict):
            node = node.get(key)
        elif isinstance(node, list) and key.isdigit() and int(key) < len(node):
            node = node[int(key)]
        else:
            return None
        if node is None:
            return None
    return node


def _number(value: Any, path: str) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    if isinstance(value, str) and value.upper() in _ON_OFF:
        return _ON_OFF[value.upper()]
    raise Refused(NOT_NUMBER, "not_number", path=path, value=repr(value)[:40])


def _timestamp(m: MessageMap, doc: dict[str, Any], arrival_ns: int) -> int:
    if m.ts_format == "arrival":
        return arrival_ns
    raw = lookup(doc, m.ts_path)
    if raw is None:
        raise Refused(NO_TIME, "no_time", path=m.ts_path)
    try:
        if m.ts_format == "iso":
            if not isinstance(raw, str):
                raise ValueError(raw)
            when = datetime.fromisoformat(raw)
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC) - timedelta(minutes=m.tz_offset_min)
            ts_ns = int(when.timestamp() * 1e6) * 1000
        else:
            if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
                raise ValueError(raw)
            per_unit = 10**9 if m.ts_format == "epoch_s" else 10**6
            # whole numbers exactly; fractions to the microsecond (a float has no more for a Unix time)
            ts_ns = raw * per_unit if isinstance(raw, int) else round(raw * per_unit / 1000) * 1000
    except (ValueError, OverflowError) as exc:
        raise Refused(BAD_TIME, "bad_time", path=m.ts_path, value=repr(raw)[:40], format=m.ts_format) from exc
    if abs(ts_ns - arrival_ns) > MAX_SKEW_S * 1e9:
        raise Refused(
            SKEWED,
            "clock_skew",
            device_time=datetime.fromtimestamp(ts_ns / 1e9, UTC).isoformat(timespec="seconds"),
            gateway_time=datetime.fromtimestamp(arrival_ns / 1e9, UTC).isoformat(timespec="seconds"),
        )
    return ts_ns


def _seq(m: MessageMap, doc: dict[str, Any]) -> int | None:
    if not m.seq_path:
        return None
    raw = lookup(doc, m.seq_path)
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise Refused(BAD_SEQ, "bad_seq", path=m.seq_path, value=repr(raw)[:40])
    return raw


def map_message(m: MessageMap, payload: bytes, arrival_ns: int) -> Mapped | None:
    """The mapped values of one message, None when it holds none of them; `Refused` when it is bad.

    A value that is there but wrong refuses the whole message: storing the good half of a
    reading whose other half is garbage would hide the fault from the technician.
    A value that is absent (or JSON null: Shelly's `n_current` without a neutral sensor) is skipped.
    """
    try:
        doc = msgspec.json.decode(payload)
    except msgspec.DecodeError as exc:
        raise Refused(NOT_JSON, "bad_json", error=str(exc)[:80]) from exc
    if not isinstance(doc, dict):
        raise Refused(NOT_OBJECT, "bad_json")
    fields: dict[str, float] = {}
    for f in m.fields:
        value = lookup(doc, f.path)
        if value is not None:
            fields[f.field] = _number(value, f.path) * f.scale + f.offset
    if not fields:
        return None
    return Mapped(fields, _timestamp(m, doc, arrival_ns), _seq(m, doc))
