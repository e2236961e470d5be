"""One example of every class of bad input from issue 4, with the reason a technician should see.

Shared by the decoder's unit tests (`test_payloads.py`) and the end-to-end test
on real services (`tests/collector/test_bad_input.py`), so both prove the same
table: each entry names its class, the topic kind it is sent on, the bytes, the
reason's category (the stable text before the first colon, which keys the
collector's dead-letter counter) and words the reason must contain.
"""

from __future__ import annotations

from dataclasses import dataclass

from tonle.contract.payloads import MAX_PAYLOAD_BYTES

__all__ = ["BAD_INPUTS", "GOOD_T0", "BadInput"]

GOOD_T0 = 1_780_000_000_000_000_000
_T = b"1780000000000000000"


@dataclass(frozen=True)
class BadInput:
    id: str
    kind: str
    payload: bytes
    category: str
    words: tuple[str, ...] = ()


def _tel(body: bytes) -> bytes:
    return b'{"v":1,"seq":1,"ts":' + _T + b"," + body + b"}"


def _fields(body: bytes) -> bytes:
    return _tel(b'"fields":{' + body + b"}")


BAD_INPUTS: tuple[BadInput, ...] = (
    # -- not JSON at all, or not JSON as the standard has it
    BadInput("malformed_json", "telemetry", b"not json at all", "not valid JSON", ("send one JSON object",)),
    BadInput("empty_payload", "telemetry", b"", "not valid JSON", ("empty",)),
    BadInput(
        "nan_token", "telemetry", _fields(b'"vib_rms":NaN'), "not valid JSON", ("NaN is not a JSON number",)
    ),
    BadInput("infinity_token", "telemetry", _fields(b'"vib_rms":-Infinity'), "not valid JSON", ("Infinity",)),
    BadInput(
        "invalid_utf8_in_text",
        "state",
        b'{"v":1,"seq":1,"ts":' + _T + b',"state":"idle","reason":"\xff\xfe"}',
        "not valid JSON",
        ("UTF-8",),
    ),
    BadInput("byte_order_mark", "telemetry", b"\xef\xbb\xbf" + _fields(b'"a":1'), "not valid JSON", ("BOM",)),
    BadInput(
        "deeply_nested",
        "telemetry",
        _fields(b'"vib_rms":' + b"[" * 5000 + b"]" * 5000),
        "wrong type",
        ("send a number",),
    ),
    # -- wrong types and missing or unknown fields
    BadInput(
        "wrong_type_text_for_number",
        "telemetry",
        _fields(b'"vib_rms":"high"'),
        "wrong type",
        ("fields.vib_rms", '"high"', "send a number"),
    ),
    BadInput(
        "wrong_type_number_for_bool",
        "status",
        b'{"v":1,"ts":' + _T + b',"online":1}',
        "wrong type",
        ("online", "true or false"),
    ),
    BadInput("wrong_type_list_payload", "telemetry", b"[1,2]", "wrong type", ("the payload is a list",)),
    BadInput(
        "missing_field",
        "telemetry",
        b'{"v":1,"ts":' + _T + b',"fields":{"a":1}}',
        "missing field",
        ('"seq"', "v, seq, ts, fields"),
    ),
    BadInput(
        "unknown_field",
        "telemetry",
        _tel(b'"fields":{"a":1},"extra":1'),
        "unknown field",
        ('"extra"', "remove it"),
    ),
    # -- versions
    BadInput(
        "unknown_version",
        "telemetry",
        b'{"v":2,"seq":1,"ts":' + _T + b',"fields":{"a":1}}',
        "unsupported version",
        ("version 2 is not supported", "v=1"),
    ),
    BadInput(
        "missing_version",
        "telemetry",
        b'{"seq":1,"ts":' + _T + b',"fields":{"a":1}}',
        "unsupported version",
        ('no "v"',),
    ),
    # -- absurd timestamps
    BadInput(
        "ts_negative",
        "telemetry",
        b'{"v":1,"seq":1,"ts":-1,"fields":{"a":1}}',
        "bad timestamp",
        ("negative", "Unix time in nanoseconds"),
    ),
    BadInput(
        "ts_in_seconds",
        "telemetry",
        b'{"v":1,"seq":1,"ts":1780000000,"fields":{"a":1}}',
        "bad timestamp",
        ("1780000000", "looks like seconds"),
    ),
    BadInput(
        "ts_in_milliseconds",
        "telemetry",
        b'{"v":1,"seq":1,"ts":1780000000000,"fields":{"a":1}}',
        "bad timestamp",
        ("looks like milliseconds",),
    ),
    BadInput(
        "ts_year_2200",
        "state",
        b'{"v":1,"seq":1,"ts":7258118400000000000,"state":"idle"}',
        "bad timestamp",
        ("year 2200", "between 2000 and 2100"),
    ),
    BadInput(
        "ts_beyond_int64",
        "telemetry",
        b'{"v":1,"seq":1,"ts":100000000000000000000000000000,"fields":{"a":1}}',
        "bad timestamp",
        ("more than a 64-bit integer holds",),
    ),
    BadInput(
        "ts_decimal",
        "telemetry",
        b'{"v":1,"seq":1,"ts":1.78e18,"fields":{"a":1}}',
        "bad timestamp",
        ("decimal number", "whole number"),
    ),
    BadInput(
        "ts_in_batch_in_ms",
        "telemetry",
        b'{"v":1,"seq":1,"ts":[' + _T + b',1780000000001],"fields":{"a":[1,2]}}',
        "bad timestamp",
        ("ts[1]", "milliseconds"),
    ),
    # -- columnar batches
    BadInput(
        "batch_out_of_order",
        "telemetry",
        b'{"v":1,"seq":1,"ts":[1780000000000000001,' + _T + b'],"fields":{"a":[1,2]}}',
        "bad batch",
        ("not strictly increasing",),
    ),
    BadInput(
        "batch_column_too_long",
        "telemetry",
        b'{"v":1,"seq":1,"ts":[' + _T + b'],"fields":{"vib_rms":[1.0,2.0]}}',
        "bad batch",
        ("'vib_rms' has 2 values but ts has 1",),
    ),
    BadInput(
        "batch_empty",
        "telemetry",
        b'{"v":1,"seq":1,"ts":[],"fields":{"a":[]}}',
        "bad batch",
        ("0 samples",),
    ),
    BadInput("no_fields", "telemetry", _fields(b""), "no fields", ("at least one",)),
    # -- numbers too large
    BadInput(
        "huge_float",
        "telemetry",
        _fields(b'"vib_rms":1e308'),
        "number out of range",
        ("1e+308", "between -1e15 and 1e15"),
    ),
    BadInput("float_overflow", "telemetry", _fields(b'"vib_rms":1e400'), "number out of range", ("vib_rms",)),
    BadInput(
        "int_beyond_int64",
        "count",
        b'{"v":1,"seq":1,"ts":' + _T + b',"total":18446744073709551616,"good":1}',
        "number out of range",
        ("total", "18446744073709551616"),
    ),
    BadInput(
        "seq_beyond_int64",
        "telemetry",
        b'{"v":1,"seq":9223372036854775808,"ts":' + _T + b',"fields":{"a":1}}',
        "bad sequence number",
        ("seq",),
    ),
    BadInput(
        "seq_overflows_in_batch",
        "telemetry",
        b'{"v":1,"seq":9223372036854775807,"ts":[' + _T + b',1780000000000000001],"fields":{"a":[1,2]}}',
        "bad sequence number",
        ("restart the count",),
    ),
    BadInput(
        "command_value_out_of_range",
        "cmd",
        b'{"v":1,"id":"c1","ts":'
        + _T
        + b',"expires":'
        + _T
        + b',"action":"set_speed","reason":"r","value":1e300}',
        "number out of range",
        ("value",),
    ),
    # -- names: duplicated, reserved, hostile
    BadInput("duplicate_field_name", "telemetry", _fields(b'"a":1,"a":2'), "duplicate key", ('"a"',)),
    BadInput(
        "duplicate_field_name_escaped", "telemetry", _fields(b'"a":1,"\\u0061":2'), "duplicate key", ('"a"',)
    ),
    BadInput(
        "duplicate_top_level_key",
        "state",
        b'{"v":1,"seq":1,"ts":' + _T + b',"state":"idle","state":"running"}',
        "duplicate key",
        ('"state"',),
    ),
    BadInput("reserved_field_seq", "telemetry", _fields(b'"seq":1'), "reserved name", ("'seq'", "rename")),
    BadInput("reserved_field_time", "telemetry", _fields(b'"time":1'), "reserved name", ("'time'",)),
    BadInput("field_named_like_a_tag", "telemetry", _fields(b'"machine":1'), "reserved name", ("'machine'",)),
    BadInput(
        "hostile_field_name", "telemetry", _fields(b'"a b,c=d":1'), "bad name", ('"a b,c=d"', "letters")
    ),
    BadInput("field_name_with_newline", "telemetry", _fields(b'"a\\nb":1'), "bad name", ("field name",)),
    BadInput(
        "hostile_machine_type",
        "telemetry",
        _tel(b'"fields":{"a":1},"machine_type":"x,machine=S01"'),
        "bad name",
        ("machine_type", "x,machine=S01"),
    ),
    BadInput(
        "hostile_health_scope",
        "health",
        b'{"v":1,"ts":' + _T + b',"component":"agent","rows":[{"scope":"dev\\n1","fields":{"x":1}}]}',
        "bad health scope name",
        ("U+000A",),
    ),
    BadInput(
        "health_field_named_like_a_tag",
        "health",
        b'{"v":1,"ts":' + _T + b',"component":"agent","rows":[{"scope":"d","fields":{"instance":1}}]}',
        "reserved name",
        ("'instance'",),
    ),
    # -- values outside what the contract allows
    BadInput(
        "unknown_state",
        "state",
        b'{"v":1,"seq":1,"ts":' + _T + b',"state":"on_fire"}',
        "unknown value",
        ('"on_fire"', "running"),
    ),
    BadInput(
        "text_too_long",
        "state",
        b'{"v":1,"seq":1,"ts":' + _T + b',"state":"idle","reason":"' + b"x" * 600 + b'"}',
        "too long",
        ("600 characters", "500"),
    ),
    BadInput(
        "good_above_total",
        "count",
        b'{"v":1,"seq":1,"ts":' + _T + b',"total":5,"good":6}',
        "bad count",
        ("good <= total",),
    ),
    # -- size
    BadInput(
        "oversized_payload",
        "telemetry",
        _fields(b'"a":1') + b" " * MAX_PAYLOAD_BYTES,
        "payload too large",
        (str(MAX_PAYLOAD_BYTES), "smaller messages"),
    ),
)
