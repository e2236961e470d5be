"""The payload codec: good messages round-trip, anything else is a PayloadError with a reason."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.mapping import map_message
from collector.telemetry import telemetry_block
from tests.contract.bad_inputs import BAD_INPUTS, BadInput
from tests.contract.lineparse import parse_lines
from tonle.contract import (
    KINDS,
    Command,
    PayloadError,
    State,
    Telemetry,
    decode,
    encode,
)
from tonle.contract.topics import MachineAddress, TopicError, parse_topic

T0 = 1_780_000_000_000_000_000


def test_a_columnar_batch_lands_in_numpy_columns():
    msg = Telemetry(v=1, seq=7, ts=[T0, T0 + 1, T0 + 2], fields={"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]})
    block = telemetry_block(decode("telemetry", encode(msg)))  # type: ignore[arg-type]
    assert block.names == ("a", "b")
    assert block.values.shape == (2, 3)
    np.testing.assert_array_equal(block.ts, [T0, T0 + 1, T0 + 2])


@pytest.mark.parametrize("bad", BAD_INPUTS, ids=[b.id for b in BAD_INPUTS])
def test_each_class_of_bad_input_is_refused_with_a_category_and_a_fix(bad: BadInput):
    with pytest.raises(PayloadError) as err:
        decode(bad.kind, bad.payload)
    assert err.value.category == bad.category, err.value.reason
    for word in bad.words:
        assert word in err.value.reason
    assert len(err.value.reason) < 400


@pytest.mark.parametrize(
    "payload",
    [
        # quotes inside text are not duplicate keys
        b'{"v":1,"seq":1,"ts":1780000000000000000,"state":"idle","reason":"say \\"hi\\" \\u0022"}',
        # an explicit null or default is not a duplicate either
        b'{"v":1,"seq":1,"ts":1780000000000000000,"fields":{"a":1},"machine_type":null}',
        b'{"v":1,"seq":1,"ts":1780000000000000000,"state":"idle","reason":""}',
        # keys spelled with escapes
        b'{"v":1,"seq":1,"ts":1780000000000000000,"fields":{"\\u0061":1,"b":2}}',
    ],
)
def test_good_payloads_that_look_unusual_are_accepted(payload: bytes):
    kind = "telemetry" if b"fields" in payload else "state"
    decode(kind, payload)


def test_text_with_newlines_and_quotes_is_stored_as_text_on_one_line():
    payload = b'{"v":1,"seq":1,"ts":1780000000000000000,"state":"idle","reason":"a\\nb \\"c\\" \\\\ d,e=f"}'
    mapped = map_message("tonle/s/a/L1/S 1,machine=S2/state", payload)
    (point,) = parse_lines(mapped.lines)
    assert point.fields["reason"] == 'a b "c" \\ d,e=f'
    assert point.tags["machine"] == "S 1,machine=S2"


def test_an_unknown_state_name_is_refused():
    with pytest.raises(PayloadError, match="state"):
        decode("state", b'{"v":1,"seq":1,"ts":1780000000000000000,"state":"on_fire"}')


def test_a_command_with_a_non_finite_value_is_refused():
    with pytest.raises(PayloadError):
        decode(
            "cmd",
            b'{"v":1,"id":"a","ts":1780000000000000000,"expires":1780000000000000001,'
            b'"action":"set_speed","reason":"x","value":1e999}',
        )


def test_state_and_command_round_trip():
    s = State(v=1, seq=3, ts=T0, state="thread_break", reason="thread break")
    assert decode("state", encode(s)) == s
    c = Command(v=1, id="c1", ts=T0, expires=T0 + 10**9, action="set_speed", reason="wear", value=0.7)
    assert decode("cmd", encode(c)) == c


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.binary(max_size=300),
        st.recursive(
            st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=10),
            lambda c: (
                st.lists(c, max_size=4)
                | st.dictionaries(st.sampled_from(["v", "seq", "ts", "fields", "x"]), c, max_size=5)
            ),
            max_leaves=20,
        ).map(lambda o: json.dumps(o).encode()),
    )
)
def test_the_decoder_never_fails_with_anything_but_a_payload_error(data: bytes):
    for kind in KINDS:
        try:
            decode(kind, data)
        except PayloadError as exc:
            assert exc.reason


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("a/b", "contains '/'"),
        ("a+b", "contains '+'"),
        ("#", "contains '#'"),
        ("", "empty"),
        ("x" * 65, "65 characters"),
        ("tab\there", "U+0009"),
        ("new\nline", "U+000A"),
        ("S01\u200b", "U+200B"),
        ("\u202eS01", "U+202E"),
        (" lead", "starts or ends with a space"),
        ("back\\slash", "contains '\\\\'"),
    ],
)
def test_names_that_would_break_topics_or_lines_are_refused_with_a_reason(name: str, words: str):
    with pytest.raises(TopicError) as err:
        MachineAddress("site", "area", "L1", name)
    assert err.value.category == "bad machine name"
    assert words in str(err.value)


def test_a_topic_parses_back_to_its_address_and_kind():
    addr = MachineAddress("Phnom Penh", "sewing", "L1", "S01 overlock, left=1")
    assert parse_topic(addr.topic("cmd/ack")) == (addr, "cmd/ack")
    with pytest.raises(TopicError) as err:
        parse_topic("tonle/a/b/c/d/bogus")
    assert err.value.category == "unknown kind"
    with pytest.raises(TopicError) as err:
        parse_topic("factory/a/b/c/d/telemetry")
    assert err.value.category == "bad topic"
