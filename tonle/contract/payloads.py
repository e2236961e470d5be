"""Versioned JSON payloads, decoded and validated with msgspec.

Every sample is timestamped at the source (ns since the epoch) and carries the
device's sequence number. Telemetry may be one sample or a columnar batch, so a
thousand samples cross the broker as one message and land in numpy arrays
without per-sample Python work.
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

import msgspec
import numpy as np

from tonle.contract.topics import TopicError, check_name

__all__ = [
    "HEALTH_RESERVED_FIELDS",
    "MACHINE_STATES",
    "MAX_PAYLOAD_BYTES",
    "PAYLOAD_VERSION",
    "TELEMETRY_RESERVED_FIELDS",
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
    "decode_with_block",
    "encode",
    "telemetry_block",
]

PAYLOAD_VERSION = 1
# A message is decoded in one piece on the collector's event loop: this bounds
# the memory and the pause one message can cost. 4 MiB holds a columnar batch of
# ~100k samples of two fields; larger batches belong in several messages.
MAX_PAYLOAD_BYTES = 4 * 1024 * 1024
MAX_BATCH = 100_000
MAX_FIELDS = 64
SEQ_MAX = 2**63 - 1
# Source timestamps must fall between 2000-01-01 and 2100-01-01: anything else
# is a device clock that was never set, or a unit error (s or ms sent as ns).
TS_MIN = 946_684_800_000_000_000
TS_MAX = 4_102_444_800_000_000_000
ABS_MAX = 1e15
_RANGE = "between -1e15 and 1e15"

# Field names that would collide with what the collector writes next to them.
# A telemetry field called `machine` makes every `WHERE machine = '...'` query on
# the measurement match nothing (InfluxDB 1.x prefers the field over the tag);
# `seq` as a float field would fix the type of the collector's integer `seq`
# and get every later point rejected; InfluxDB drops a field called `time`, and
# 2.x/3.x reserve `_field` and `_measurement`.
_INFLUX_RESERVED = ("time", "_field", "_measurement")
TELEMETRY_RESERVED_FIELDS = frozenset(
    {"seq", "site", "area", "line", "machine", "machine_type", *_INFLUX_RESERVED}
)
HEALTH_RESERVED_FIELDS = frozenset({"component", "instance", "site", "line", "device", *_INFLUX_RESERVED})

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
    """A payload failed to decode or validate; `reason` is short enough for a dead letter.

    The reason reads `<category>: <what is wrong and how to fix it>`. The
    category (`bad timestamp`, `wrong type`, ...) never contains a value from
    the payload, so it can key a dead-letter counter without unbounded growth.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason

    @property
    def category(self) -> str:
        return self.reason.split(":", 1)[0]


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


def encode(payload: Payload) -> bytes:
    """Encode a payload; the kind travels in the topic, not in the JSON."""
    return _ENCODER.encode(payload)


def decode(kind: str, data: bytes) -> Payload:
    """Decode and validate `data` as a `kind` payload, or raise PayloadError with a reason."""
    return decode_with_block(kind, data)[0]


def decode_with_block(kind: str, data: bytes) -> tuple[Payload, TelemetryBlock | None]:
    """`decode`, plus the validated columns of a telemetry message (None for other kinds).

    The collector needs the columns anyway: building them once here saves
    converting every sample of a batch to numpy twice.
    """
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadError(
            f"payload too large: {len(data)} bytes, the limit is {MAX_PAYLOAD_BYTES} bytes "
            f"({MAX_PAYLOAD_BYTES / 2**20:g} MiB); send the samples in several smaller messages"
        )
    decoder = _DECODERS.get(kind)
    if decoder is None:
        raise PayloadError(f"unknown kind: {kind!r} is not one of {', '.join(_STRUCTS)}")
    try:
        msg = decoder.decode(data)
    except msgspec.ValidationError as exc:
        doc = _lenient_parse(data)
        raise PayloadError(_version_reason(doc) or _explain(kind, doc, str(exc))) from exc
    except msgspec.DecodeError as exc:
        raise PayloadError(_not_json_reason(data, str(exc))) from exc
    except UnicodeDecodeError as exc:
        # msgspec reports bytes that are not UTF-8 inside a JSON string this way,
        # not as a DecodeError; a broker passes such payloads through untouched.
        raise PayloadError(
            f"not valid JSON: a text value is not valid UTF-8 ({exc.reason}); send all text as UTF-8"
        ) from exc
    except RecursionError as exc:
        raise PayloadError(
            "too deeply nested: the JSON nests lists or objects too deeply to read; "
            "send the flat v1 layout (lists of numbers, no lists of lists)"
        ) from exc
    block = None
    if isinstance(msg, Telemetry):
        block = telemetry_block(msg)
    else:
        _check_values(msg)
    _refuse_duplicate_keys(data, msg)  # last: the size limits above keep its slow path short
    return msg, block


def _check_values(msg: Payload) -> None:
    """What msgspec's types cannot say about the non-telemetry kinds."""
    if isinstance(msg, Count) and msg.good > msg.total:
        raise PayloadError(
            f"bad count: good ({msg.good}) is more than total ({msg.total}); good pieces are part of "
            "the total, so send good <= total"
        )
    if isinstance(msg, Command) and msg.value is not None:
        _check_number("value", msg.value)
    elif isinstance(msg, Alert):
        for name in ("health", "rul_h"):
            value = getattr(msg, name)
            if value is not None:
                _check_number(name, value)
    elif isinstance(msg, Health):
        # Two rows may share a scope (a serial source named like its machine):
        # InfluxDB merges them into one point, which loses nothing that matters,
        # so they are not refused.
        for i, row in enumerate(msg.rows):
            try:
                check_name("health scope", row.scope)
            except TopicError as exc:
                raise PayloadError(str(exc)) from exc
            if len(row.fields) > MAX_FIELDS:
                raise PayloadError(
                    f"too many fields: rows[{i}] has {len(row.fields)} fields, the limit is {MAX_FIELDS}"
                )
            _refuse_reserved(row.fields, HEALTH_RESERVED_FIELDS, f"rows[{i}]")
            for name, value in row.fields.items():
                _check_number(f"rows[{i}].fields.{name}", value)


def _check_number(where: str, value: float) -> None:
    if not math.isfinite(value) or abs(value) > ABS_MAX:
        raise PayloadError(f"number out of range: {where} is {value!r}; send finite numbers {_RANGE}")


def _refuse_reserved(fields: dict[str, Any], reserved: frozenset[str], where: str) -> None:
    clash = reserved.intersection(fields)
    if clash:
        name = min(clash)
        raise PayloadError(
            f"reserved name: field {name!r} in {where} is a name the collector writes itself "
            f"({', '.join(sorted(reserved))}); rename the field, e.g. to {name + '_value'!r}"
        )


# -- duplicate keys ---------------------------------------------------------------
# JSON leaves open which of two equal keys counts (msgspec keeps the last), so a
# payload with `{"a": 1, "a": 2}` is refused rather than half stored. Finding
# duplicates costs a second parse, so it runs only when the payload holds more
# quote characters than the decoded message needs for its keys and strings:
# every extra key adds two. Counting them skips from quote to quote with
# bytes.find (memchr), about 15 us for a 1 MB columnar batch.


def _refuse_duplicate_keys(data: bytes, msg: Payload) -> None:
    needed = _quotes_needed(msg)
    if _count_quotes(data, needed + 1) == needed:
        return
    dup = _first_duplicate_key(data)
    if dup is not None:
        raise PayloadError(f"duplicate key: {_show(dup)} appears twice in one object; send each key once")


def _quotes_needed(msg: Payload) -> int:
    """A lower bound on the `"` characters any JSON text of `msg` contains."""
    if isinstance(msg, Telemetry):  # v, seq, ts, fields, field names, machine_type and its value
        return 8 + 2 * len(msg.fields) + (0 if msg.machine_type is None else 4)
    text = _ENCODER.encode(msg)
    return text.count(b'"') - text.count(b'\\"')


def _count_quotes(data: bytes, limit: int) -> int:
    """Count `"` in `data`, stopping past `limit`: few Python steps however long the payload."""
    if len(data) <= 4096:  # small: one C call is cheaper than any loop
        return data.count(b'"')
    n, i = 0, data.find(b'"')
    while i >= 0 and n <= limit:
        n += 1
        i = data.find(b'"', i + 1)
    return n


def _first_duplicate_key(data: bytes) -> str | None:
    found: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in items:
            if key in seen and not found:
                found.append(key)
            seen.add(key)
        return dict(items)

    try:
        json.loads(data, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return None
    return found[0] if found else None


# -- reasons a technician can act on -------------------------------------------------
# Only on the error path: msgspec says where and what it expected; the payload,
# parsed leniently, says what was actually sent.

_MISSING: Any = object()
_LENIENT_MAX_BYTES = 256 * 1024
_MSGSPEC_ERROR = re.compile(r"(?P<what>.*?)(?: - at `(?P<path>[^`]*)`(?: in `(?P<parent>[^`]*)`)?)?", re.S)
_PATH_TOKEN = re.compile(r"\.([A-Za-z_][A-Za-z0-9_]*)|\[(\d+|\.\.\.)\]")
_NAME_FIELDS = frozenset({"machine_type", "event", "component", "code"})
_NAME_RULE = "use 1 to 64 ASCII letters, digits or _, not starting with a digit (e.g. vib_rms)"
_TS_FIX = "send Unix time in nanoseconds as a whole number, e.g. 1780000000000000000"
_TYPE_WORDS = {
    "int": "a whole number",
    "float": "a number",
    "str": "text in double quotes",
    "bool": "true or false",
    "object": 'a JSON object {"v": 1, ...}',
    "array": "a list [...]",
    "null": "null",
}


def _lenient_parse(data: bytes) -> Any:
    """The payload as plain Python objects, to quote what was sent; `_MISSING` if unreadable.

    msgspec (fast) first; Python's json, which also reads 1e400 and integers
    beyond 64 bits, only for payloads small enough that its slowness does not
    matter. Deep nesting raises RecursionError in both: caught, never raised.
    """
    try:
        return msgspec.json.decode(data)
    except (msgspec.MsgspecError, UnicodeDecodeError, RecursionError):
        pass
    if len(data) > _LENIENT_MAX_BYTES:
        return _MISSING
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        return _MISSING


def _version_reason(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return None
    if "v" not in doc:
        return (
            f'unsupported version: the payload has no "v"; add "v": {PAYLOAD_VERSION} '
            "(the version of the wire contract it follows)"
        )
    v = doc["v"]
    if type(v) is int and v == PAYLOAD_VERSION:
        return None
    return (
        f"unsupported version: payload version {_show(v)} is not supported; this collector reads "
        f'v={PAYLOAD_VERSION} (send "v": {PAYLOAD_VERSION}, or upgrade the collector)'
    )


def _not_json_reason(data: bytes, detail: str) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        return "not valid JSON: the payload starts with a byte order mark (BOM); send UTF-8 without one"
    if not data.strip():
        return "not valid JSON: the payload is empty; send one JSON object per message"
    constants: list[str] = []
    with contextlib.suppress(ValueError, RecursionError):
        json.loads(data, parse_constant=lambda c: constants.append(c))
    if constants:
        return (
            f"not valid JSON: {constants[0]} is not a JSON number; leave out the value (or the "
            "sample) that has no reading instead of sending NaN or Infinity"
        )
    return f"not valid JSON: {detail}; send one JSON object per message"


def _explain(kind: str, doc: Any, text: str) -> str:
    """Turn a msgspec ValidationError message into `<category>: <what and how to fix>`."""
    m = _MSGSPEC_ERROR.fullmatch(text)
    assert m is not None  # the pattern matches any text
    what, path, parent = m["what"], m["path"] or "$", m["parent"]
    if path == "key" and parent:
        return _bad_key_reason(kind, doc, parent)
    where, value = _resolve(doc, path)
    field = _last_name(path)
    subject = f"the {kind} payload" if where == "$" else where
    quoted = re.search(r"`([^`]*)`", what)
    if what.startswith("Object missing required field") and quoted:
        needs = f"; a v1 {kind} message needs {', '.join(_fields(kind, True))}" if where == "$" else ""
        return f'missing field: {subject} has no "{quoted[1]}"{needs}'
    if what.startswith("Object contains unknown field"):
        return _unknown_field_reason(kind, doc)
    if field in ("ts", "expires"):
        return _timestamp_reason(where, value)
    if field == "seq":
        return (
            f"bad sequence number: seq is {_describe(value, what)}; send a whole number from 0 to 2^63-1 "
            "that goes up by one per sample"
        )
    if what.startswith("Invalid enum value"):
        allowed = _literal_values(kind, field)
        return f"unknown value: {where} is {_show(value)}; use one of {', '.join(map(str, allowed))}"
    if what.startswith("Number out of range"):
        return f"number out of range: {where} is {_show(value)}; send numbers {_RANGE}"
    bound = re.match(r"Expected `(int|float)` ([<>]=?) (\S+)", what)
    if bound:
        return f"number out of range: {where} is {_show(value)}; it must be {bound[2]} {bound[3]}"
    if what.startswith("Expected `str`") and ("regex" in what or field in _NAME_FIELDS):
        return f"bad name: {where} {_show(value)} is not a valid name; {_NAME_RULE}"
    limit = re.search(r"of length ([<>]=) (\d+)", what)
    if limit:
        size = len(value) if isinstance(value, str | list) else "?"
        if limit[1] == ">=":
            return f"missing value: {where} is empty; fill it in"
        unit = "characters" if isinstance(value, str) else "entries"
        return f"too long: {where} has {size} {unit}; the limit is {limit[2]}"
    expected = re.match(r"Expected `([^`]*)`", what)
    if expected:
        words = " or ".join(_TYPE_WORDS.get(t, t) for t in expected[1].split(" | "))
        if expected[1] == "float | array":
            words = "a number (a list of numbers when ts is a list)"
        subject = "the payload" if where == "$" else where
        return f"wrong type: {subject} is {_describe(value, what)}; send {words}"
    return f"invalid {kind} payload: {_show(text)}"


def _unknown_field_reason(kind: str, doc: Any) -> str:
    # The key is taken from the payload, not from msgspec's message: a hostile
    # key may hold backticks, line breaks or a megabyte of text.
    known = _fields(kind, False)
    where, key = (
        f"the {kind} payload",
        next((k for k in doc if k not in known), None) if isinstance(doc, dict) else None,
    )
    if key is None and kind == "health" and isinstance(doc, dict) and isinstance(doc.get("rows"), list):
        for i, row in enumerate(doc["rows"]):
            extra = [k for k in row if k not in ("scope", "fields")] if isinstance(row, dict) else []
            if extra:
                where, key, known = f"rows[{i}]", extra[0], ("scope", "fields")
                break
    return (
        f"unknown field: {where} has {_show(key)}, which v1 does not define; "
        f"remove it (v1 fields here: {', '.join(known)})"
    )


def _timestamp_reason(where: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"bad timestamp: {where} is {_describe(value, '')}; {_TS_FIX}"
    if isinstance(value, float) and TS_MIN <= value <= TS_MAX:
        return f"bad timestamp: {where} is {value!r}, a decimal number; {_TS_FIX}"
    hint = ""
    for scale, unit in ((10**9, "seconds"), (10**6, "milliseconds"), (10**3, "microseconds")):
        if TS_MIN <= value * scale <= TS_MAX:
            hint = f" (it looks like {unit})"
            break
    else:
        if value < 0:
            hint = " (it is negative)"
        elif value < TS_MIN:
            hint = " (is the device clock set?)"
        elif value > SEQ_MAX:
            hint = " (more than a 64-bit integer holds)"
        else:
            hint = f" (that is the year {1970 + value / 31_556_952e9:.0f})"
    return (
        f"bad timestamp: {where} is {_show(value)}, not a time between 2000 and 2100 in ns{hint}; {_TS_FIX}"
    )


def _bad_key_reason(kind: str, doc: Any, parent: str) -> str:
    where, obj = _resolve(doc, parent)
    if isinstance(obj, dict):
        for key in obj:
            if not (isinstance(key, str) and _NAME_PATTERN.fullmatch(key)):
                return f"bad name: field name {_show(key)} in {where} is not allowed; {_NAME_RULE}"
    return f"bad name: a field name in {where} is not allowed; {_NAME_RULE}"


_NAME_PATTERN = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _resolve(doc: Any, path: str) -> tuple[str, Any]:
    """Follow a msgspec path (`$.rows[0].fields[...]`) into the parsed payload.

    `[...]` is msgspec's "some key of this dict": the first key whose value is
    not a valid number (or list of numbers) is taken as the culprit.
    """
    tokens = _PATH_TOKEN.findall(path)
    where: list[str] = []
    cur = doc
    for i, (name, index) in enumerate(tokens):
        if name:
            cur = cur.get(name, _MISSING) if isinstance(cur, dict) else _MISSING
            where.append(f".{name}")
        elif index == "..." and isinstance(cur, dict) and cur:
            rest = "".join(f".{n}" if n else f"[{x}]" for n, x in tokens[i + 1 :])
            culprits = (k for k, v in cur.items() if _suspicious(_resolve(v, rest)[1], not rest))
            key = next(culprits, next(iter(cur)))
            cur = cur[key]
            where.append(f".{key}" if _NAME_PATTERN.fullmatch(key) else f"[{_show(key)}]")
        elif index.isdigit() and isinstance(cur, list) and int(index) < len(cur):
            cur = cur[int(index)]
            where.append(f"[{index}]")
        else:
            cur = _MISSING
            where.append(f"[{index}]" if index else "")
    text = "".join(where).lstrip(".")
    return text or "$", cur


def _suspicious(value: Any, leaf: bool) -> bool:
    if leaf and isinstance(value, list):
        return not all(_is_number(x) for x in value)
    return not _is_number(value)


def _is_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def _last_name(path: str) -> str:
    names = [n for n, _ in _PATH_TOKEN.findall(path) if n]
    return names[-1] if names else ""


@functools.cache
def _fields(kind: str, required: bool) -> tuple[str, ...]:
    info = msgspec.inspect.type_info(_STRUCTS[kind])
    assert isinstance(info, msgspec.inspect.StructType)
    return tuple(f.name for f in info.fields if f.required or not required)


def _literal_values(kind: str, field: str) -> tuple[object, ...]:
    info = msgspec.inspect.type_info(_STRUCTS[kind])
    assert isinstance(info, msgspec.inspect.StructType)
    for f in info.fields:
        if f.name == field and isinstance(f.type, msgspec.inspect.LiteralType):
            return f.type.values
    return ()


def _show(value: Any) -> str:
    """A payload value, quoted as JSON and cut short: hostile input never makes a long reason."""
    if value is _MISSING:
        return "(missing)"
    if isinstance(value, list | dict):
        return f"a {'list' if isinstance(value, list) else 'JSON object'} of {len(value)}"
    try:
        text = json.dumps(value[:80] if isinstance(value, str) else value, ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        text = repr(value)
    # Keep letters in any script readable, but show what cannot be seen (line and
    # paragraph separators, zero-width and no-break spaces) as \uXXXX.
    text = "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in text)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(value: Any, what: str) -> str:
    if value is _MISSING:
        got = re.search(r"got `([^`]*)`", what)
        return f"a JSON {got[1]}" if got else "not what v1 expects"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the value {_show(value)}"
    if isinstance(value, str):
        return f"the text {_show(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, float):
        return f"the decimal number {_show(value)}"
    return f"the number {_show(value)}"


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
        raise PayloadError("no fields: the telemetry message has no fields; send at least one value")
    if len(msg.fields) > MAX_FIELDS:
        raise PayloadError(
            f"too many fields: {len(msg.fields)} fields, the limit is {MAX_FIELDS}; "
            "split them over several messages"
        )
    _refuse_reserved(msg.fields, TELEMETRY_RESERVED_FIELDS, "fields")
    names = tuple(msg.fields)
    if isinstance(msg.ts, int):
        for name, v in msg.fields.items():
            if isinstance(v, list):
                raise PayloadError(
                    f"bad batch: ts is one number but field {name!r} is a list; "
                    "send ts as a list too (one timestamp per value), or one number per field"
                )
        ts = np.array([msg.ts], dtype=np.int64)
        values = np.array([[v] for v in msg.fields.values()], dtype=np.float64)
    else:
        n = len(msg.ts)
        if n == 0 or n > MAX_BATCH:
            raise PayloadError(f"bad batch: telemetry batch has {n} samples; send 1 to {MAX_BATCH}")
        cols = list(msg.fields.values())
        for name, col in zip(names, cols, strict=True):
            if not isinstance(col, list):
                raise PayloadError(
                    f"bad batch: field {name!r} is a single number but ts is a list of {n}; "
                    "send one value per timestamp"
                )
            if len(col) != n:
                raise PayloadError(
                    f"bad batch: field {name!r} has {len(col)} values but ts has {n}; "
                    "send one value per timestamp"
                )
        ts = np.array(msg.ts, dtype=np.int64)
        values = np.array(cols, dtype=np.float64)
        if n > 1:
            steps = np.diff(ts)
            if np.any(steps <= 0):
                i = int(np.argmax(steps <= 0))
                raise PayloadError(
                    f"bad batch: timestamps are not strictly increasing (ts[{i + 1}] = {ts[i + 1]} "
                    f"after ts[{i}] = {ts[i]}); send samples oldest first, each with its own time"
                )
    if msg.seq > SEQ_MAX - (ts.shape[0] - 1):
        raise PayloadError(
            f"bad sequence number: seq {msg.seq} plus {ts.shape[0]} samples passes 2^63-1; "
            "restart the count at 0"
        )
    # One sample: plain comparisons beat numpy's per-call overhead (NaN compares False).
    if ts.shape[0] == 1 and all(abs(v) <= ABS_MAX for v in values[:, 0].tolist()):
        return TelemetryBlock(msg.seq, ts, names, values, msg.machine_type)
    bad = ~np.isfinite(values) | (np.abs(values) > ABS_MAX)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise PayloadError(
            f"number out of range: field {names[i]!r} sample {j} is {float(values[i, j])!r}; "
            f"send finite numbers {_RANGE}"
        )
    return TelemetryBlock(msg.seq, ts, names, values, msg.machine_type)


# -- the values as sent -------------------------------------------------------------
# The collector writes each value in the decimal text the device sent instead of
# re-formatting the float: InfluxDB parses both to the same float64, and
# formatting is what limited the collector (10x slower than reusing the text,
# bench/RESULTS.md). The typed decode above has already proved every value is a
# JSON number within range, so the text is a valid line-protocol float.


class _RawFields(msgspec.Struct):
    fields: dict[str, msgspec.Raw]


_RAW_DECODER = msgspec.json.Decoder(_RawFields)
_JSON_SPACE = b" \t\r\n"


def telemetry_text(data: bytes, block: TelemetryBlock) -> list[list[bytes]]:
    """The JSON text of each value of a decoded telemetry message, in `block.names` order.

    Call only on `data` that `decode_with_block` accepted (that is what makes the
    text safe to write as it is).
    """
    raw = _RAW_DECODER.decode(data).fields
    n = block.ts.shape[0]
    out: list[list[bytes]] = []
    for name in block.names:
        text = bytes(raw[name]).translate(None, _JSON_SPACE)
        tokens = text[1:-1].split(b",") if text[:1] == b"[" else [text]
        if len(tokens) != n:  # cannot happen for accepted data; never write misaligned values
            raise PayloadError(f"bad batch: field {name!r} does not have one value per timestamp")
        out.append(tokens)
    return out
