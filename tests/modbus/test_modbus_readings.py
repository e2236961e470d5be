"""What one poll publishes, without I/O: samples every time, states and counts only on change."""

from __future__ import annotations

from edge_agent.sources.modbus import ModbusSource, parse_modbus_source
from edge_agent.sources.modbus_readings import DeviceState
from tests.modbus.support import METER_REGISTERS, PRESS_REGISTERS, tcp_config
from tonle.protocols.modbus_registers import encode
from tonle.sources.base import Count, Sample, Source, StateChange


def _press() -> DeviceState:
    cfg = parse_modbus_source(tcp_config(502, 1, "FP1"))
    return DeviceState.from_config(cfg)  # type: ignore[arg-type]


def _words(state: int, total: int, good: int, temp: float) -> list[list[int]]:
    """Register blocks in plan order: holding 100, input 0-8, coil 0, discrete 0."""
    inputs = [state, 0, *encode(total, "uint32", "little"), *encode(good, "uint32", "little"), 120,
              *encode(temp, "float32", "little")]  # fmt: skip
    return [[120], inputs, [1], [1]]


def test_first_poll_publishes_sample_state_and_count_then_only_changes():
    dev = _press()
    first, problems = dev.readings(1, _words(1, 10, 9, 150.5))
    assert problems == []
    assert [type(r) for r in first] == [Sample, StateChange, Count]
    fields = {"speed_setpoint_cpm": 12.0, "fault_code": 0.0, "speed_cpm": 12.0, "platen_temp_c": 150.5,
              "run_enable": 1.0, "door_closed": 1.0}  # fmt: skip
    assert first[0] == Sample("FP1", 1, fields)
    same, _ = dev.readings(2, _words(1, 10, 9, 151.0))
    assert [type(r) for r in same] == [Sample]
    moved, _ = dev.readings(3, _words(2, 11, 9, 151.0))
    assert moved[1:] == [StateChange("FP1", 3, "breakdown", "state_code=2"), Count("FP1", 3, 11, 9)]


def test_an_unknown_state_code_keeps_the_last_state_and_is_reported():
    dev = _press()
    dev.readings(1, _words(1, 0, 0, 150.0))
    out, problems = dev.readings(2, _words(9, 0, 0, 150.0))
    assert [type(r) for r in out] == [Sample]
    assert problems == ["FP1: state_code=9 is not in its states table"]
    assert dev.last_state == "running"


def test_a_nan_float_is_never_published():
    dev = _press()
    words = _words(1, 0, 0, 0.0)
    words[1][7:9] = [0x0000, 0x7FC0]  # NaN, low word first
    out, problems = dev.readings(1, words)
    assert "platen_temp_c" not in out[0].fields  # type: ignore[union-attr]
    assert problems == ["FP1: platen_temp_c reads nan; not published"]


def test_offline_only_for_machines_with_a_state_and_only_once():
    press = _press()
    assert press.offline(5, "no answer") == [StateChange("FP1", 5, "offline", "no answer")]
    assert press.offline(6, "no answer") == []
    meter = DeviceState.from_config(parse_modbus_source(tcp_config(502, 2, "M1", meter=True)))  # type: ignore[arg-type]
    assert meter.offline(5, "no answer") == []


def test_modbus_source_is_a_source():
    for registers in (PRESS_REGISTERS, METER_REGISTERS):
        cfg = parse_modbus_source(tcp_config(502, 1, "X1") | {"registers": registers, "commands": []})
        src = ModbusSource(cfg)
        assert isinstance(src, Source)
        assert src.machines == [("X1", "fusing_press")] and src.name == "tcp_X1"
