"""The payload codec: good messages round-trip, anything else is a PayloadError with a reason."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tonle.contract import Command, PayloadError, State, Telemetry, decode, encode, telemetry_block
from tonle.contract.topics import MachineAddress, TopicError, parse_topic

T0 = 1_780_000_000_000_000_000


def test_a_columnar_batch_lands_in_numpy_columns():
    msg = Telemetry(v=1, seq=7, ts=[T0, T0 + 1, T0 + 2], fields={"a": [1.0, 2.0, 3.0], "b": [4.0, 5.0, 6.0]})
    block = telemetry_block(decode("telemetry", encode(msg)))  # type: ignore[arg-type]
    assert block.names == ("a", "b")
    assert block.values.shape == (2, 3)
    np.testing.assert_array_equal(block.ts, [T0, T0 + 1, T0 + 2])


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{", "not valid JSON"),
        (b'{"v":1,"seq":1,"ts":1780000000000000000,"fields":{}}', "no fields"),
        (b'{"v":1,"seq":-1,"ts":1780000000000000000,"fields":{"a":1}}', "seq"),
        (b'{"v":1,"seq":1,"ts":1780000000000,"fields":{"a":1}}', "$.ts"),
        (
            b'{"v":1,"seq":1,"ts":[1780000000000000001,1780000000000000000],"fields":{"a":[1,2]}}',
            "not strictly increasing",
        ),
        (b'{"v":1,"seq":1,"ts":1780000000000000000,"fields":{"a b":1}}', "fields"),
        (b'{"v":1,"seq":1,"ts":1780000000000000000,"fields":{"a":1e16}}', "not a finite number below"),
        (b'{"v":1,"seq":1,"ts":1780000000000000000,"fields":{"a":1},"extra":1}', "unknown field"),
        (b'{"seq":1,"ts":1780000000000000000,"fields":{"a":1}}', "version None is not supported"),
    ],
)
def test_bad_telemetry_is_refused_with_a_reason(payload: bytes, reason: str):
    with pytest.raises(PayloadError) as err:
        decode("telemetry", payload)
    assert reason in err.value.reason


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
    for kind in ("telemetry", "state", "count", "cmd", "alert"):
        try:
            decode(kind, data)
        except PayloadError as exc:
            assert exc.reason


@pytest.mark.parametrize(
    "name", ["a/b", "a+b", "#", "", "x" * 65, "tab\there", "new\nline", " lead", "back\\slash"]
)
def test_names_that_would_break_topics_or_lines_are_refused(name: str):
    with pytest.raises(TopicError):
        MachineAddress("site", "area", "L1", name)


def test_a_topic_parses_back_to_its_address_and_kind():
    addr = MachineAddress("Phnom Penh", "sewing", "L1", "S01 overlock, left=1")
    assert parse_topic(addr.topic("cmd/ack")) == (addr, "cmd/ack")
    with pytest.raises(TopicError):
        parse_topic("tonle/a/b/c/d/bogus")
