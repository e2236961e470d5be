"""A strict InfluxDB line-protocol parser, written from the spec and independent of the encoder.

The property tests parse what `encode_block` writes and compare it with what went
in: if the encoder ever under-escapes a name, the parser sees an extra tag, a
shifted field or a broken line. It accepts only the subset Tonle writes
(floats, `i` integers, double-quoted strings, ns timestamps) and rejects anything
InfluxDB would read differently from what was meant: an unescaped `=` in a tag
value, a lone backslash in a name, an unknown value type, a missing timestamp.

Escaping rules (InfluxDB line protocol reference, "Special characters"):
- measurement: `\\,` and `\\ ` (and `\\\\` for a backslash);
- tag keys, tag values, field keys: `\\,`, `\\=`, `\\ ` (and `\\\\`);
- string field values: `\\"` and `\\\\`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

__all__ = ["LineError", "Point", "parse_lines"]

_INT = re.compile(r"-?(0|[1-9][0-9]*)i")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_TS = re.compile(r"-?[0-9]+")


class LineError(ValueError):
    """The text is not line protocol as Tonle writes it."""


@dataclass(frozen=True)
class Point:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, float | int | str]
    ts: int


def parse_lines(data: bytes) -> list[Point]:
    """Parse a body of newline-terminated lines; every line must be a point."""
    text = data.decode("utf-8")  # strict: InfluxDB wants UTF-8
    if not text:
        return []
    if not text.endswith("\n"):
        raise LineError("the body does not end with a newline")
    return [_parse_line(line) for line in text[:-1].split("\n")]


def _parse_line(line: str) -> Point:
    if not line:
        raise LineError("empty line")
    measurement, i = _scan(line, 0, stops=", ", escapable=", \\")
    if not measurement:
        raise LineError(f"no measurement in {line!r}")
    tags: dict[str, str] = {}
    while i < len(line) and line[i] == ",":
        key, i = _scan(line, i + 1, stops=",= ", escapable=",= \\")
        _expect(line, i, "=")
        value, i = _scan(line, i + 1, stops=",= ", escapable=",= \\")
        if not key or not value or key in tags:
            raise LineError(f"empty or repeated tag {key!r}={value!r} in {line!r}")
        tags[key] = value
    _expect(line, i, " ")
    fields: dict[str, float | int | str] = {}
    i += 1
    while True:
        key, i = _scan(line, i, stops=",= ", escapable=",= \\")
        _expect(line, i, "=")
        value, i = _field_value(line, i + 1)
        if not key or key in fields:
            raise LineError(f"empty or repeated field key {key!r} in {line!r}")
        fields[key] = value
        if i < len(line) and line[i] == ",":
            i += 1
            continue
        break
    _expect(line, i, " ")
    ts_text = line[i + 1 :]
    if not _TS.fullmatch(ts_text):
        raise LineError(f"bad timestamp {ts_text!r} in {line!r}")
    ts = int(ts_text)
    if not -(2**63) <= ts < 2**63:
        raise LineError(f"timestamp {ts} is outside int64")
    return Point(measurement, tags, fields, ts)


def _expect(line: str, i: int, ch: str) -> None:
    if i >= len(line) or line[i] != ch:
        got = line[i] if i < len(line) else "end of line"
        raise LineError(f"expected {ch!r} at {i} of {line!r}, got {got!r}")


def _scan(line: str, i: int, stops: str, escapable: str) -> tuple[str, int]:
    """Read a name up to an unescaped stop character; a lone backslash is an error here."""
    out: list[str] = []
    while i < len(line):
        ch = line[i]
        if ch == "\\":
            if i + 1 < len(line) and line[i + 1] in escapable:
                out.append(line[i + 1])
                i += 2
                continue
            raise LineError(f"lone backslash at {i} of {line!r}")
        if ch in stops:
            break
        if ch in "\r\n":
            raise LineError(f"line break inside a name in {line!r}")
        out.append(ch)
        i += 1
    return "".join(out), i


def _field_value(line: str, i: int) -> tuple[float | int | str, int]:
    if i < len(line) and line[i] == '"':
        out: list[str] = []
        i += 1
        while i < len(line):
            ch = line[i]
            if ch == "\\" and i + 1 < len(line) and line[i + 1] in '"\\':
                out.append(line[i + 1])
                i += 2
            elif ch == "\\":
                raise LineError(f"unknown escape in string at {i} of {line!r}")
            elif ch == '"':
                return "".join(out), i + 1
            else:
                out.append(ch)
                i += 1
        raise LineError(f"unterminated string in {line!r}")
    end = i
    while end < len(line) and line[end] not in ", ":
        end += 1
    token = line[i:end]
    if _INT.fullmatch(token):
        value = int(token[:-1])
        if not -(2**63) <= value < 2**63:
            raise LineError(f"integer {token} is outside int64")
        return value, end
    if _FLOAT.fullmatch(token):
        number = float(token)
        if not math.isfinite(number):
            raise LineError(f"float {token} is not finite")
        return number, end
    raise LineError(f"unknown field value {token!r} in {line!r}")
