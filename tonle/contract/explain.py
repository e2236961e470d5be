"""Why a payload was refused, in words a technician can act on: the dead-letter reasons.

Every reason reads `<category>: <what is wrong and how to fix it>`. The category (`bad
timestamp`, `wrong type`, ...) never contains a value from the payload, so it can key a
dead-letter counter without unbounded growth; values that are quoted are cut short
(`quoting.show`), so hostile input never makes a long reason. The decoder
(`tonle.contract.payloads`) decides *that* a payload is wrong; this module says *why*,
and is the one place its sentences live (so a translation can reach them).

Two kinds of reason: one function per rule the decoder checks itself (`bad_count`,
`not_increasing`, ...), and `typed_decode`, which turns msgspec's terse validation
message into a reason by reading what the payload actually holds.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
from collections.abc import Iterable
from typing import Any

import msgspec

from tonle.contract.limits import (
    MAX_BATCH,
    MAX_FIELDS,
    MAX_PAYLOAD_BYTES,
    PAYLOAD_VERSION,
    SEQ_MAX,
    TS_MAX,
    TS_MIN,
)
from tonle.contract.quoting import MISSING, NAME_KEY, last_name, lenient_parse, resolve, show

__all__ = [
    "bad_count",
    "batch_size",
    "duplicate_key",
    "field_not_a_list",
    "field_not_one_number",
    "length_mismatch",
    "misaligned_text",
    "no_fields",
    "not_increasing",
    "not_json",
    "not_utf8",
    "number_out_of_range",
    "reserved_name",
    "row_too_many_fields",
    "sample_out_of_range",
    "seq_overflow",
    "too_deep",
    "too_large",
    "too_many_fields",
    "typed_decode",
    "unknown_kind",
]

_RANGE = "between -1e15 and 1e15"


# -- the rules the decoder checks itself ------------------------------------------------


def too_large(size: int) -> str:
    return (
        f"payload too large: {size} bytes, the limit is {MAX_PAYLOAD_BYTES} bytes "
        f"({MAX_PAYLOAD_BYTES / 2**20:g} MiB); send the samples in several smaller messages"
    )


def unknown_kind(kind: str, kinds: Iterable[str]) -> str:
    return f"unknown kind: {kind!r} is not one of {', '.join(kinds)}"


def not_utf8(detail: str) -> str:
    # msgspec reports bytes that are not UTF-8 inside a JSON string this way, not
    # as a DecodeError; a broker passes such payloads through untouched.
    return f"not valid JSON: a text value is not valid UTF-8 ({detail}); send all text as UTF-8"


def too_deep() -> str:
    return (
        "too deeply nested: the JSON nests lists or objects too deeply to read; "
        "send the flat v1 layout (lists of numbers, no lists of lists)"
    )


def bad_count(good: int, total: int) -> str:
    return (
        f"bad count: good ({good}) is more than total ({total}); good pieces are part of "
        "the total, so send good <= total"
    )


def number_out_of_range(where: str, value: float) -> str:
    return f"number out of range: {where} is {value!r}; send finite numbers {_RANGE}"


def row_too_many_fields(row: int, n: int) -> str:
    return f"too many fields: rows[{row}] has {n} fields, the limit is {MAX_FIELDS}"


def reserved_name(name: str, where: str, reserved: Iterable[str]) -> str:
    return (
        f"reserved name: field {name!r} in {where} is a name the collector writes itself "
        f"({', '.join(sorted(reserved))}); rename the field, e.g. to {name + '_value'!r}"
    )


def duplicate_key(key: str) -> str:
    return f"duplicate key: {show(key)} appears twice in one object; send each key once"


def no_fields() -> str:
    return "no fields: the telemetry message has no fields; send at least one value"


def too_many_fields(n: int) -> str:
    return f"too many fields: {n} fields, the limit is {MAX_FIELDS}; split them over several messages"


def field_not_one_number(name: str) -> str:
    return (
        f"bad batch: ts is one number but field {name!r} is a list; "
        "send ts as a list too (one timestamp per value), or one number per field"
    )


def batch_size(n: int) -> str:
    return f"bad batch: telemetry batch has {n} samples; send 1 to {MAX_BATCH}"


def field_not_a_list(name: str, n: int) -> str:
    return (
        f"bad batch: field {name!r} is a single number but ts is a list of {n}; send one value per timestamp"
    )


def length_mismatch(name: str, got: int, n: int) -> str:
    return f"bad batch: field {name!r} has {got} values but ts has {n}; send one value per timestamp"


def not_increasing(i: int, before: int, after: int) -> str:
    return (
        f"bad batch: timestamps are not strictly increasing (ts[{i + 1}] = {after} "
        f"after ts[{i}] = {before}); send samples oldest first, each with its own time"
    )


def seq_overflow(seq: int, n: int) -> str:
    return f"bad sequence number: seq {seq} plus {n} samples passes 2^63-1; restart the count at 0"


def sample_out_of_range(name: str, sample: int, value: float) -> str:
    return f"number out of range: field {name!r} sample {sample} is {value!r}; send finite numbers {_RANGE}"


def misaligned_text(name: str) -> str:
    return f"bad batch: field {name!r} does not have one value per timestamp"


# -- what a failed typed decode means -----------------------------------------------------


def typed_decode(kind: str, cls: type[msgspec.Struct], data: bytes, error: msgspec.ValidationError) -> str:
    """The reason msgspec refused `data` as a `cls`: the payload, read leniently, says what was sent."""
    doc = lenient_parse(data)
    return _version_reason(doc) or _explain(kind, cls, doc, str(error))


_MSGSPEC_ERROR = re.compile(r"(?P<what>.*?)(?: - at `(?P<path>[^`]*)`(?: in `(?P<parent>[^`]*)`)?)?", re.S)
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
        f"unsupported version: payload version {show(v)} is not supported; this collector reads "
        f'v={PAYLOAD_VERSION} (send "v": {PAYLOAD_VERSION}, or upgrade the collector)'
    )


def not_json(data: bytes, detail: str) -> str:
    """The reason `data` is not JSON at all (msgspec's `detail` is the fallback)."""
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


def _explain(kind: str, cls: type[msgspec.Struct], doc: Any, text: str) -> str:
    """Turn a msgspec ValidationError message into `<category>: <what and how to fix>`."""
    m = _MSGSPEC_ERROR.fullmatch(text)
    assert m is not None  # the pattern matches any text
    what, path, parent = m["what"], m["path"] or "$", m["parent"]
    if path == "key" and parent:
        return _bad_key_reason(kind, doc, parent)
    where, value = resolve(doc, path)
    field = last_name(path)
    subject = f"the {kind} payload" if where == "$" else where
    quoted = re.search(r"`([^`]*)`", what)
    if what.startswith("Object missing required field") and quoted:
        needs = f"; a v1 {kind} message needs {', '.join(_fields(cls, True))}" if where == "$" else ""
        return f'missing field: {subject} has no "{quoted[1]}"{needs}'
    if what.startswith("Object contains unknown field"):
        return _unknown_field_reason(kind, cls, doc)
    if field in ("ts", "expires"):
        return _timestamp_reason(where, value)
    if field == "seq":
        return (
            f"bad sequence number: seq is {_describe(value, what)}; send a whole number from 0 to 2^63-1 "
            "that goes up by one per sample"
        )
    if what.startswith("Invalid enum value"):
        allowed = _literal_values(cls, field)
        return f"unknown value: {where} is {show(value)}; use one of {', '.join(map(str, allowed))}"
    if what.startswith("Number out of range"):
        return f"number out of range: {where} is {show(value)}; send numbers {_RANGE}"
    bound = re.match(r"Expected `(int|float)` ([<>]=?) (\S+)", what)
    if bound:
        return f"number out of range: {where} is {show(value)}; it must be {bound[2]} {bound[3]}"
    if what.startswith("Expected `str`") and ("regex" in what or field in _NAME_FIELDS):
        return f"bad name: {where} {show(value)} is not a valid name; {_NAME_RULE}"
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
    return f"invalid {kind} payload: {show(text)}"


def _unknown_field_reason(kind: str, cls: type[msgspec.Struct], doc: Any) -> str:
    # The key is taken from the payload, not from msgspec's message: a hostile
    # key may hold backticks, line breaks or a megabyte of text.
    known = _fields(cls, False)
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
        f"unknown field: {where} has {show(key)}, which v1 does not define; "
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
    return f"bad timestamp: {where} is {show(value)}, not a time between 2000 and 2100 in ns{hint}; {_TS_FIX}"


def _bad_key_reason(kind: str, doc: Any, parent: str) -> str:
    where, obj = resolve(doc, parent)
    if isinstance(obj, dict):
        for key in obj:
            if not (isinstance(key, str) and NAME_KEY.fullmatch(key)):
                return f"bad name: field name {show(key)} in {where} is not allowed; {_NAME_RULE}"
    return f"bad name: a field name in {where} is not allowed; {_NAME_RULE}"


@functools.cache
def _fields(cls: type[msgspec.Struct], required: bool) -> tuple[str, ...]:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    return tuple(f.name for f in info.fields if f.required or not required)


def _literal_values(cls: type[msgspec.Struct], field: str) -> tuple[object, ...]:
    info = msgspec.inspect.type_info(cls)
    assert isinstance(info, msgspec.inspect.StructType)
    for f in info.fields:
        if f.name == field and isinstance(f.type, msgspec.inspect.LiteralType):
            return f.type.values
    return ()


def _describe(value: Any, what: str) -> str:
    if value is MISSING:
        got = re.search(r"got `([^`]*)`", what)
        return f"a JSON {got[1]}" if got else "not what v1 expects"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"the value {show(value)}"
    if isinstance(value, str):
        return f"the text {show(value)}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, float):
        return f"the decimal number {show(value)}"
    return f"the number {show(value)}"
