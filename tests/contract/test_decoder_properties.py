"""`map_message` on valid, mutated and random input: a reason or exactly the right points, never a crash.

A collector that raises anything but PayloadError/TopicError on one message
stops storing everyone's data, and a message whose lines parse into a point of
another series writes into someone else's history. These properties check both
on every kind: valid documents map to the expected number of points, all in
the sender's own series; a document with one field mutated (wrong type, extreme
number, hostile text, deleted, duplicated, invalid UTF-8, NaN) is refused with a
reason or, if still valid, obeys the same rule.
"""

from __future__ import annotations

import json
import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.mapping import map_message
from tests.contract.lineparse import Point, parse_lines
from tonle.contract import KINDS, MACHINE_STATES, PayloadError, TopicError
from tonle.contract.payloads import HEALTH_RESERVED_FIELDS, TELEMETRY_RESERVED_FIELDS, TS_MAX, TS_MIN

MEASUREMENT = {
    "telemetry": "telemetry",
    "state": "state",
    "count": "production",
    "event": "events",
    "status": "status",
    "health": "pipeline",
    "cmd": "commands",
    "cmd/ack": "commands",
    "alert": "alerts",
    "defect": "defects",
    "andon/ack": "andon_acks",
}
ADDRESS = ("Plant 1", "sewing,a=b", "L=1", "S01 left,machine=S02")
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- valid documents ------------------------------------------------------------------
ts = st.integers(TS_MIN, TS_MAX)
seq = st.integers(0, 2**40)
name = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True)
field_name = name.filter(lambda n: n not in TELEMETRY_RESERVED_FIELDS)
number = st.floats(-1e15, 1e15, allow_nan=False)
text = st.text(st.one_of(st.sampled_from(list('"\\\n\r ,=%')), st.characters(codec="utf-8")), max_size=12)


@st.composite
def telemetry(draw: st.DrawFn) -> dict:
    names = draw(st.lists(field_name, min_size=1, max_size=4, unique=True))
    doc: dict[str, Any] = {"v": 1, "seq": draw(seq)}
    if draw(st.booleans()):
        doc["ts"] = draw(ts)
        doc["fields"] = {k: draw(number) for k in names}
    else:
        doc["ts"] = sorted(draw(st.lists(ts, min_size=1, max_size=5, unique=True)))
        doc["fields"] = {k: [draw(number) for _ in doc["ts"]] for k in names}
    if draw(st.booleans()):
        doc["machine_type"] = draw(name)
    return doc


@st.composite
def count(draw: st.DrawFn) -> dict:
    total = draw(st.integers(0, 2**53))
    return {"v": 1, "seq": draw(seq), "ts": draw(ts), "total": total, "good": draw(st.integers(0, total))}


@st.composite
def health(draw: st.DrawFn) -> dict:
    scopes = draw(st.lists(st.sampled_from(["agent", "dev 1", "PLC,a=b", "máy-3"]), max_size=3, unique=True))
    rows = [{"scope": s, "fields": draw(st.dictionaries(name, number, max_size=3))} for s in scopes]
    for row in rows:
        row["fields"] = {k: v for k, v in row["fields"].items() if k not in HEALTH_RESERVED_FIELDS}
    return {"v": 1, "ts": draw(ts), "component": draw(name), "rows": rows}


DOCS = {
    "telemetry": telemetry(),
    "state": st.fixed_dictionaries(
        {"v": st.just(1), "seq": seq, "ts": ts, "state": st.sampled_from(MACHINE_STATES)},
        optional={"reason": text, "machine_type": name},
    ),
    "count": count(),
    "event": st.fixed_dictionaries(
        {"v": st.just(1), "seq": seq, "ts": ts, "event": name}, optional={"detail": text}
    ),
    "status": st.fixed_dictionaries(
        {"v": st.just(1), "ts": ts, "online": st.booleans()}, optional={"agent": text, "version": text}
    ),
    "health": health(),
    "cmd": st.fixed_dictionaries(
        {
            "v": st.just(1),
            "id": text.filter(bool),
            "ts": ts,
            "expires": ts,
            "action": st.sampled_from(["set_speed", "maintenance", "andon", "clear_andon"]),
            "reason": text,
        },
        optional={"value": number, "issued_by": text},
    ),
    "cmd/ack": st.fixed_dictionaries(
        {
            "v": st.just(1),
            "id": text.filter(bool),
            "ts": ts,
            "status": st.sampled_from(["applied", "rejected", "expired", "duplicate"]),
        },
        optional={"detail": text, "action": text},
    ),
    "alert": st.fixed_dictionaries(
        {
            "v": st.just(1),
            "ts": ts,
            "severity": st.sampled_from(["info", "warning", "critical"]),
            "code": name,
            "message": text,
        },
        optional={"health": number, "rul_h": number},
    ),
}
# What a person types on a QC tablet: spaces, commas, `=`, quotes and any script are fine.
person = st.sampled_from(["Sokha", "Dara (supervisor)", "ស្រីមុំ", 'QC "2",a=b'])
DOCS["defect"] = st.fixed_dictionaries(
    {
        "v": st.just(1),
        "ts": ts,
        "defect_type": st.sampled_from(["broken stitch", "open seam,a=b", "ដេរដាច់", "x=1 y"]),
        "by": person,
    },
    optional={"count": st.integers(1, 1000)},
)
DOCS["andon/ack"] = st.fixed_dictionaries({"v": st.just(1), "ts": ts, "by": person}, optional={"note": text})
kinds = st.sampled_from(KINDS)


def expected_points(kind: str, doc: dict) -> int:
    if kind == "telemetry":
        return len(doc["ts"]) if isinstance(doc["ts"], list) else 1
    if kind == "health":
        return sum(1 for row in doc["rows"] if row["fields"])
    return 1


# -- mutations --------------------------------------------------------------------------
# Raw JSON text, so the mutations can hold what json.dumps never writes.
SENTINEL = "\x00MUTATED\x00"
hostile_raw = st.one_of(
    st.sampled_from(
        [
            b"null",
            b"true",
            b"NaN",
            b"-Infinity",
            b"1e400",
            b"-1e308",
            b"1e16",
            b"0.5",
            b"-1",
            b"0",
            b"9223372036854775807",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"18446744073709551616",
            b"1" + b"0" * 40,
            b"1780000000",
            b"1780000000000",
            b"4102444800000000001",
            b"[]",
            b"{}",
            b"[[1]]",
            b"[" * 3000 + b"]" * 3000,
            b'"\xff\xfe"',
            b'"\\ud800"',
            b'"S1,machine=S2 x=1"',
            b'"a\\nb\\"c\\\\"',
            b'"' + b"x" * 600 + b'"',
            b'"\xe7\xb8\xab\xe8\xa3\xbd\xe6\xa9\x9f"',
            b'{"seq": 1}',
        ]
    ),
    st.integers(-(2**70), 2**70).map(lambda i: str(i).encode()),
    st.floats().map(lambda f: json.dumps(f).encode()),
    st.text(max_size=8).map(lambda t: json.dumps(t).encode()),
)


def paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a document a value sits, as key/index tuples."""
    out = [prefix] if prefix else []
    if isinstance(doc, dict):
        for k, v in doc.items():
            out += paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            out += paths(v, (*prefix, i))
    return out


def _set(doc: Any, path: tuple, value: Any) -> None:
    for step in path[:-1]:
        doc = doc[step]
    doc[path[-1]] = value


def _delete(doc: Any, path: tuple) -> None:
    for step in path[:-1]:
        doc = doc[step]
    if isinstance(doc, dict):
        del doc[path[-1]]
    else:
        doc.pop(path[-1])


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, dict, bytes]:
    kind = draw(kinds)
    doc = draw(DOCS[kind])
    where = draw(st.sampled_from([p for p in paths(doc) if p != ("v",)]))  # versions: see bad_inputs
    how = draw(st.sampled_from(["replace"] * 4 + ["delete", "add", "duplicate", "reserved"]))
    raw = draw(hostile_raw)
    parent = where[:-1]
    container = doc
    for step in parent:
        container = container[step]
    if how == "replace":
        _set(doc, where, SENTINEL)
    elif how == "delete":
        _delete(doc, where)
    elif isinstance(container, dict):
        key = {"add": draw(st.sampled_from(["x", "extra", "a b", ""])), "reserved": "seq"}.get(how)
        if how == "duplicate":
            key = where[-1]
        container["\x00KEY\x00"] = SENTINEL
        raw_key = json.dumps(key).encode()
        data = json.dumps(doc).encode().replace(b'"\\u0000KEY\\u0000"', raw_key)
        return kind, doc, data.replace(b'"\\u0000MUTATED\\u0000"', raw)
    data = json.dumps(doc).encode()
    return kind, doc, data.replace(b'"\\u0000MUTATED\\u0000"', raw)


# -- the properties --------------------------------------------------------------------


def assert_clear_reason(exc: PayloadError | TopicError) -> None:
    """One short line: a hostile payload cannot inject lines into logs or grow a counter's keys."""
    reason = exc.reason if isinstance(exc, PayloadError) else str(exc)
    assert 0 < len(reason) < 500
    assert not any(ord(c) < 32 or c in "\x85\u2028\u2029" for c in reason), reason
    assert exc.category == reason.split(":", 1)[0]
    assert len(exc.category) < 40 and not any(c.isdigit() or c in "'\"" for c in exc.category), reason


def topic(kind: str, address: tuple[str, ...] = ADDRESS) -> str:
    return "/".join(("tonle", *address, kind))


def assert_own_series(kind: str, points: list[Point], address: tuple[str, ...] = ADDRESS) -> None:
    site, _area, line, machine = address
    for p in points:
        assert p.measurement == MEASUREMENT[kind]
        if kind == "health":
            assert (p.tags["site"], p.tags["line"], p.tags["instance"]) == (site, line, machine)
            assert set(p.tags) == {"site", "line", "instance", "component", "device"}
        else:
            assert {k: p.tags[k] for k in ("site", "area", "line", "machine")} == dict(
                zip(("site", "area", "line", "machine"), address, strict=True)
            )
            extra = {"machine_type", "direction", "severity", "defect_type"}
            assert set(p.tags) <= {"site", "area", "line", "machine", *extra}
        assert TS_MIN <= p.ts <= TS_MAX
        for value in p.fields.values():
            assert not isinstance(value, float) or (math.isfinite(value) and abs(value) <= 1e15)


@SETTINGS
@given(kinds.flatmap(lambda k: st.tuples(st.just(k), DOCS[k])))
def test_every_valid_message_becomes_its_own_points_in_its_own_series(case: tuple[str, dict]):
    kind, doc = case
    mapped = map_message(topic(kind), json.dumps(doc).encode())
    points = parse_lines(mapped.lines)
    assert len(points) == mapped.points == expected_points(kind, doc)
    assert_own_series(kind, points)
    if kind == "telemetry":
        assert [p.fields["seq"] for p in points] == list(range(doc["seq"], doc["seq"] + len(points)))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_a_mutated_message_is_refused_with_a_reason_or_stays_in_its_own_series(case: tuple[str, dict, bytes]):
    kind, _, data = case
    try:
        mapped = map_message(topic(kind), data)
    except PayloadError as exc:
        assert_clear_reason(exc)
        return
    points = parse_lines(mapped.lines)
    assert len(points) == mapped.points
    assert_own_series(kind, points)


hostile_text = st.one_of(
    st.sampled_from(
        [
            b'"\xff\xfe"',
            b'"\xed\xa0\x80"',
            b'"\\ud800"',
            b'"a\\nb"',
            b'"a\\rb\\u2028c"',
            b'"S1,machine=S2 x=1"',
            b'"q\\"uote\\\\"',
            b'"\\u0000"',
            b'"\xe2\x80\x8bS1"',
            b'" S1"',
            b'"' + b"x" * 600 + b'"',
            b'"%d %s %%"',
        ]
    ),
    st.text(st.one_of(st.sampled_from(list('"\\\n\r\t ,=%')), st.characters()), max_size=10).map(
        lambda t: json.dumps(t).encode()
    ),
)


@st.composite
def hostile_text_case(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(kinds)
    doc = draw(DOCS[kind])
    texts = [p for p in paths(doc) if isinstance(_get(doc, p), str)]
    if kind == "health" and not texts:
        doc["rows"] = [{"scope": "d", "fields": {"x": 1.0}}]
        texts = [("rows", 0, "scope")]
    if texts:
        _set(doc, draw(st.sampled_from(texts)), SENTINEL)
    return kind, json.dumps(doc).encode().replace(b'"\\u0000MUTATED\\u0000"', draw(hostile_text))


def _get(doc: Any, path: tuple) -> Any:
    for step in path:
        doc = doc[step]
    return doc


@SETTINGS
@given(hostile_text_case())
def test_hostile_text_anywhere_in_a_payload_is_refused_or_stays_text(case: tuple[str, bytes]):
    """Names and free text: invalid UTF-8, line breaks, commas, quotes never break a line or a series."""
    kind, data = case
    try:
        mapped = map_message(topic(kind), data)
    except PayloadError as exc:
        assert_clear_reason(exc)
        return
    points = parse_lines(mapped.lines)
    assert len(points) == mapped.points
    assert_own_series(kind, points)


@SETTINGS
@given(kind=kinds, data=st.one_of(st.binary(max_size=200), mutated().map(lambda c: c[2][: len(c[2]) // 2])))
def test_arbitrary_bytes_get_a_reason_never_an_exception(kind: str, data: bytes):
    try:
        mapped = map_message(topic(kind), data)
    except PayloadError as exc:
        assert_clear_reason(exc)
        return
    assert len(parse_lines(mapped.lines)) == mapped.points


level_names = st.one_of(
    st.sampled_from(
        ["S1,machine=S2", "S 1", "a=b", "máy-may-3", "縫製機", "S1\n", "S1\u200b", " S1", "a/b", "+"]
    ),
    st.text(st.one_of(st.sampled_from(list(" ,=\\/+#\n\"'%")), st.characters(codec="utf-8")), max_size=10),
)


@SETTINGS
@given(address=st.tuples(level_names, level_names, level_names, level_names), kind=kinds, doc=st.data())
def test_a_hostile_name_in_the_topic_is_refused_or_stored_under_exactly_that_name(address, kind, doc):
    payload = json.dumps(doc.draw(DOCS[kind])).encode()
    try:
        mapped = map_message(topic(kind, address), payload)
    except TopicError as exc:
        assert_clear_reason(exc)
        return
    assert_own_series(kind, parse_lines(mapped.lines), address)
