"""The line-protocol encoder, checked against an independent strict parser on many random blocks.

`test_lineproto_on_influxdb.py` proves the escaping against a real influxd on a
few dozen examples; this module proves it on thousands, with names built from
the characters that matter (space, comma, `=`, quotes, `%`, unicode) and values
at the edges of their types.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.contract.lineparse import LineError, parse_lines
from tonle.contract import MachineAddress, TopicError, encode_block
from tonle.contract.topics import check_name


def _is_valid_name(text: str) -> bool:
    try:
        check_name("machine", text)
    except TopicError:
        return False
    return True


# Names as check_name admits them, weighted towards the characters line protocol treats specially.
_specials = st.sampled_from(list(" ,=\"'%é縫ắ-_iI0"))
names = st.text(
    alphabet=st.one_of(
        _specials,
        _specials,
        st.characters(codec="utf-8", exclude_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp")),
    ),
    min_size=1,
    max_size=12,
).filter(_is_valid_name)
floats = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1.7976931348623157e308, -1.7976931348623157e308, 1e15]),
)
ints = st.one_of(st.integers(-(2**63), 2**63 - 1), st.sampled_from([-(2**63), 2**63 - 1, 0, -1]))
texts = st.text(
    alphabet=st.one_of(st.sampled_from(list("\"\\\n\r\t ,=%'")), st.characters(codec="utf-8")), max_size=20
)


@st.composite
def blocks(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 4))
    keys = draw(st.lists(names, min_size=1, max_size=5, unique=True))
    types = [draw(st.sampled_from("fis")) for _ in keys]
    column = {"f": floats, "i": ints, "s": texts}
    return {
        "measurement": draw(names),
        "tags": draw(st.dictionaries(names, names, max_size=4)),
        "ts": draw(st.lists(ints, min_size=n, max_size=n)),
        "fields": {
            k: (t, draw(st.lists(column[t], min_size=n, max_size=n)))
            for k, t in zip(keys, types, strict=True)
        },
    }


@settings(max_examples=400, deadline=None)
@given(blocks())
def test_encoded_lines_parse_back_to_exactly_the_points_that_went_in(block: dict):
    fields = block["fields"]
    body = encode_block(
        block["measurement"],
        block["tags"],
        np.array(block["ts"], dtype=np.int64),
        {k: np.array(v, dtype=np.float64) for k, (t, v) in fields.items() if t == "f"},
        {k: np.array(v, dtype=np.int64) for k, (t, v) in fields.items() if t == "i"},
        {k: v for k, (t, v) in fields.items() if t == "s"},
    )
    n = len(block["ts"])
    assert body.count(b"\n") == n
    points = parse_lines(body)
    assert len(points) == n
    for row, point in enumerate(points):
        assert point.measurement == block["measurement"]
        assert point.tags == block["tags"]
        assert point.ts == block["ts"][row]
        expected = {
            k: ("".join(" " if ord(c) < 32 else c for c in v[row]) if t == "s" else v[row])
            for k, (t, v) in fields.items()
        }
        assert point.fields == expected
        for k, (t, _) in fields.items():
            assert type(point.fields[k]) is {"f": float, "i": int, "s": str}[t]


@settings(max_examples=200, deadline=None)
@given(site=names, area=names, line=names, machine=names, other=names)
def test_a_machine_name_never_reaches_another_machines_series(site, area, line, machine, other):
    """Two machines on one line: each point parses back with its own name and nothing else."""
    ts = np.array([1_780_000_000_000_000_000], dtype=np.int64)
    body = b"".join(
        encode_block("telemetry", MachineAddress(site, area, line, m).tags(), ts, {"v": np.array([1.0])})
        for m in (machine, other)
    )
    first, second = parse_lines(body)
    assert first.tags == {"site": site, "area": area, "line": line, "machine": machine}
    assert second.tags == {"site": site, "area": area, "line": line, "machine": other}


@pytest.mark.parametrize("name", ["a\nb", "a\rb", "tab\there", "nul\x00"])
def test_a_tag_or_key_that_would_end_the_line_is_refused_not_written(name: str):
    ts = np.array([1], dtype=np.int64)
    one = {"f": np.array([1.0])}
    for tags, fields in (({"machine": name}, one), ({name: "x"}, one), ({}, {name: np.array([1.0])})):
        with pytest.raises(ValueError, match="line break or control character"):
            encode_block("m", tags, ts, fields)


def test_an_empty_tag_key_or_field_key_is_refused():
    ts = np.array([1], dtype=np.int64)
    with pytest.raises(ValueError, match="empty"):
        encode_block("m", {"": "x"}, ts, {"f": np.array([1.0])})
    with pytest.raises(ValueError, match="empty"):
        encode_block("m", {}, ts, {"": np.array([1.0])})


def test_the_same_field_key_twice_in_one_point_is_refused():
    ts = np.array([1], dtype=np.int64)
    with pytest.raises(ValueError, match="repeat a name"):
        encode_block("m", {}, ts, {"seq": np.array([1.0])}, {"seq": np.array([1])})


@pytest.mark.parametrize(
    "line",
    [
        b"m,a=b=c f=1.0 1\n",  # unescaped = in a tag value
        b"m,a=b f=1.0\n",  # no timestamp
        b"m f=1.0 1",  # no newline
        b"m f=true 1\n",  # a type Tonle never writes
        b'm f="a\\x" 1\n',  # unknown string escape
        b"m,a\\b=c f=1.0 1\n",  # lone backslash in a name
        b"m,a=b,a=c f=1.0 1\n",  # repeated tag
    ],
)
def test_the_reference_parser_is_strict(line: bytes):
    with pytest.raises(LineError):
        parse_lines(line)
