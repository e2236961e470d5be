"""What one OPC UA value becomes (no server): the time it carries, bad values, states, counts."""

from __future__ import annotations

from datetime import UTC, datetime

from edge_agent.sources.opcua_config import OpcUaNodeConfig
from edge_agent.sources.opcua_readings import MachineMap, Value, to_ns
from tonle.sources.base import Count, Sample, StateChange

NOW = 1_790_000_000_000_000_000
SRC = 1_780_000_000_000_000_000
SRV = 1_780_000_000_500_000_000
SPEED = OpcUaNodeConfig(field="speed", node="ns=2;s=S", scale=0.1, offset=1.0)
STATE = OpcUaNodeConfig(field="st", node="ns=2;s=St", role="state", states={0: "idle", 1: "running"})
TOTAL = OpcUaNodeConfig(field="tot", node="ns=2;s=T", role="count_total")
GOOD = OpcUaNodeConfig(field="good", node="ns=2;s=G", role="count_good")


def test_a_value_is_stamped_with_the_time_the_timestamp_setting_names() -> None:
    v = Value(120, True, SRC, SRV)
    assert MachineMap("M", "source").readings(SPEED, v, NOW)[0] == [Sample("M", SRC, {"speed": 13.0})]
    assert MachineMap("M", "server").readings(SPEED, v, NOW)[0][0].ts_ns == SRV
    assert MachineMap("M", "gateway").readings(SPEED, v, NOW)[0][0].ts_ns == NOW
    no_source = Value(120, True, None, SRV)
    assert MachineMap("M", "source").readings(SPEED, no_source, NOW)[0][0].ts_ns == SRV
    assert MachineMap("M", "source").readings(SPEED, Value(120, True, None, None), NOW)[0][0].ts_ns == NOW


def test_opc_ua_datetimes_become_nanoseconds_and_its_empty_time_none() -> None:
    assert to_ns(datetime(2026, 5, 28, 20, 26, 40, 123456, tzinfo=UTC)) == 1_780_000_000_123_456_000
    assert to_ns(datetime(2026, 5, 28, 20, 26, 40)) == 1_780_000_000_000_000_000  # naive means UTC
    assert to_ns(datetime(1601, 1, 1)) is None and to_ns(None) is None


def test_bad_status_and_non_numbers_are_not_published_but_reported() -> None:
    m = MachineMap("M", "source")
    readings, problem = m.readings(SPEED, Value(None, False, SRC, SRV, "BadSensorFailure"), NOW)
    assert readings == [] and problem == "M: speed has status BadSensorFailure; not published"
    readings, problem = m.readings(SPEED, Value("fast", True, SRC, SRV), NOW)
    assert readings == [] and "not a number" in problem
    assert m.readings(SPEED, Value(float("nan"), True, SRC, SRV), NOW)[0] == []


def test_the_same_value_at_the_same_time_is_published_once() -> None:
    m = MachineMap("M", "source")
    assert len(m.readings(SPEED, Value(5, True, SRC, SRV), NOW)[0]) == 1
    assert m.readings(SPEED, Value(5, True, SRC, SRV), NOW + 1)[0] == []
    assert len(m.readings(SPEED, Value(5, True, SRC + 1, SRV), NOW)[0]) == 1  # same value, new time


def test_states_change_only_when_they_change_and_unknown_codes_keep_the_last() -> None:
    m = MachineMap("M", "source")
    assert m.readings(STATE, Value(1, True, SRC, SRV), NOW)[0] == [StateChange("M", SRC, "running", "st=1")]
    assert m.readings(STATE, Value(1, True, SRC + 1, SRV), NOW)[0] == []
    readings, problem = m.readings(STATE, Value(7, True, SRC + 2, SRV), NOW)
    assert readings == [] and "st=7 is not in its states table" in problem
    assert m.offline(NOW, "gone", has_state=True) == [StateChange("M", NOW, "offline", "gone")]
    assert m.offline(NOW, "gone", has_state=True) == []


def test_a_count_needs_both_counters_and_is_taken_whole() -> None:
    m = MachineMap("M", "source")
    m.readings(TOTAL, Value(10, True, SRC, SRV), NOW)
    assert m.take_count() == []  # good not known yet
    m.readings(GOOD, Value(9, True, SRC, SRV), NOW)
    m.readings(TOTAL, Value(11, True, SRC + 5, SRV), NOW)
    assert m.take_count() == [Count("M", SRC + 5, total=11, good=9)]
    assert m.take_count() == []  # nothing moved since


def test_values_of_one_time_merge_into_one_sample_and_the_readings_given_are_not_changed() -> None:
    from edge_agent.sources.opcua_readings import merge_samples

    speed, vib = Sample("M", SRC, {"speed": 1.0}), Sample("M", SRC, {"vib": 0.2})
    later, state = Sample("M", SRC + 1, {"speed": 2.0}), StateChange("M", SRC, "running")
    assert merge_samples([speed, state, vib, later]) == [
        Sample("M", SRC, {"speed": 1.0, "vib": 0.2}),
        state,
        later,
    ]
    assert speed.fields == {"speed": 1.0} and vib.fields == {"vib": 0.2}
