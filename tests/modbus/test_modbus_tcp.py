"""Modbus TCP against real pymodbus servers: values, states, counts, commands, link loss."""

from __future__ import annotations

import random
import struct

import pytest

from edge_agent.sources.modbus import ModbusSource, parse_modbus_source
from firmware_sim.modbus_devices import ModbusTcpPlant, SimulatedMeter, SimulatedPress
from firmware_sim.modbus_models import PRESS_FAULT, EnergyMeterModel, press_load
from tests.modbus.support import FAST, T0, Collector, run, running, tcp_config, until
from tonle.io.clock import VirtualClock, WallClock
from tonle.sources.base import CommandRefused, StateChange


def _f32(x: float) -> float:
    """What a value looks like after a trip through a float32 register."""
    return struct.unpack(">f", struct.pack(">f", x))[0]


def _plant(clock: VirtualClock, **press_kw: object) -> tuple[ModbusTcpPlant, SimulatedPress, SimulatedMeter]:
    press = SimulatedPress(clock, events=False, **press_kw)  # type: ignore[arg-type]
    meter = SimulatedMeter(clock, EnergyMeterModel(clock.now_ns(), press_load(press.model)))
    return ModbusTcpPlant({1: press, 2: meter}), press, meter


def _source(port: int, unit: int, machine: str, meter: bool = False, **extra: object) -> ModbusSource:
    cfg = parse_modbus_source(tcp_config(port, unit, machine, meter, **extra))
    return ModbusSource(cfg, WallClock(), retry=FAST, rng=random.Random(1))


def test_press_and_meter_values_are_read_and_pushed():
    async def main() -> None:
        clock = VirtualClock(T0)  # the devices stand still, so every read sees the same values
        plant, press, meter = _plant(clock)
        sink = Collector()
        async with plant:
            press_src, meter_src = _source(plant.port, 1, "FP1"), _source(plant.port, 2, "MTR1", meter=True)
            async with running(press_src, sink), running(meter_src, sink):
                await until(lambda: sink.samples("FP1") and sink.samples("MTR1"), "a sample of each device")
        fp1, mtr1 = sink.samples("FP1")[0].fields, sink.samples("MTR1")[0].fields
        m = press.model
        assert fp1 == {
            "fault_code": 0.0, "speed_cpm": 12.0, "platen_temp_c": _f32(m.temperature_c),
            "speed_setpoint_cpm": 12.0, "run_enable": 1.0, "door_closed": 1.0,
        }  # fmt: skip
        expected = {k: _f32(v) for k, v in meter.values().items()}
        assert mtr1["power_kw"] == pytest.approx(expected["power_w"] / 1000)
        assert mtr1["voltage_l2"] == expected["voltage_l2"]
        assert mtr1["current_l3"] == expected["current_l3"]
        assert mtr1["energy_kwh"] == expected["import_kwh"]
        assert mtr1["power_factor"] == expected["power_factor"]
        assert sink.states("FP1")[0] == StateChange(
            "FP1", sink.states("FP1")[0].ts_ns, "running", "state_code=1"
        )
        assert [(c.total, c.good) for c in sink.counts("FP1")] == [(0, 0)]
        assert sink.states("MTR1") == [] and sink.counts("MTR1") == []  # a meter has neither

    run(main)


def test_state_changes_and_counts_are_pushed_only_when_they_change():
    async def main() -> None:
        clock = VirtualClock(T0)
        plant, press, _ = _plant(clock)
        sink = Collector()
        async with plant:
            src = _source(plant.port, 1, "FP1")
            async with running(src, sink):
                await until(lambda: len(sink.samples("FP1")) >= 3, "three polls")
                await clock.advance(60.0)  # 12 cycles/min for a minute: 12 pieces
                await until(lambda: sink.counts("FP1")[-1].total == 12, "the count after a minute")
                press.model.trip(17)
                await until(lambda: sink.states("FP1")[-1].state == "breakdown", "the fault")
                polls = src.health.reads
                await until(lambda: src.health.reads >= polls + 5, "five more polls")
        counts = sink.counts("FP1")
        assert [c.total for c in counts] == [0, 12]
        assert 10 <= counts[-1].good <= 12  # a few rejects at most (2 % reject rate)
        assert [(s.state, s.reason) for s in sink.states("FP1")] == [
            ("running", "state_code=1"), ("breakdown", f"state_code={PRESS_FAULT}")]  # fmt: skip
        assert sink.samples("FP1")[-1].fields["fault_code"] == 17
        assert sink.samples("FP1")[-1].fields["speed_cpm"] == 0

    run(main)


def test_set_speed_is_written_and_read_back():
    async def main() -> None:
        plant, press, _ = _plant(VirtualClock(T0))
        sink = Collector()
        async with plant:
            src = _source(plant.port, 1, "FP1")
            async with running(src, sink):
                await until(lambda: src.health.connected, "the connection")
                detail = await src.apply("FP1", "set_speed", 20.0)
                assert press.model.setpoint_cpm == 20.0
                await until(
                    lambda: sink.samples("FP1")[-1].fields["speed_setpoint_cpm"] == 20.0, "new setpoint"
                )

                with pytest.raises(CommandRefused, match=r"needs a value in 0\.\.30, got 45"):
                    await src.apply("FP1", "set_speed", 45.0)
                with pytest.raises(
                    CommandRefused, match="'andon' is not configured for FP1; configured: set_speed"
                ):
                    await src.apply("FP1", "andon", 1.0)
                with pytest.raises(CommandRefused, match="no machine called 'FP9'"):
                    await src.apply("FP9", "set_speed", 10.0)

                press.stuck_setpoint = True
                mismatch = r"^read-back mismatch: wrote 25, device reports 20$"
                with pytest.raises(CommandRefused, match=mismatch):
                    await src.apply("FP1", "set_speed", 25.0)
        assert detail == "set_speed=20 written to register 100 and read back"
        assert press.model.setpoint_cpm == 20.0 and press.writes == 2  # acknowledged twice, applied once

    run(main)


def test_a_lost_link_is_reopened_with_backoff_and_polling_resumes():
    async def main() -> None:
        plant, _, _ = _plant(VirtualClock(T0))
        sink = Collector()
        async with plant:
            src = _source(plant.port, 1, "FP1")
            async with running(src, sink):
                await until(lambda: len(sink.samples("FP1")) >= 3, "polling")
                await plant.stop()  # power cut: connections dropped, port closed
                await until(lambda: src.health.link_failures >= 4, "four failed attempts to reopen")
                before = len(sink.samples("FP1"))
                await plant.start()  # same port
                await until(lambda: len(sink.samples("FP1")) >= before + 3, "polling after the restart")
        h = src.health
        assert h.reconnects == 1 and h.connected is False  # closed when the task ended
        # Backoff, not hammering: the waits double from 50 ms to 400 ms while the plant is down.
        assert h.link_failures <= 12
        assert "cannot open 127.0.0.1" in h.last_error or "lost" in h.last_error

    run(main)


def test_a_silent_device_goes_offline_then_comes_back():
    async def main() -> None:
        plant, _, _ = _plant(VirtualClock(T0))
        sink = Collector()
        async with plant:
            src = _source(plant.port, 1, "FP1", timeout_s=0.05)
            async with running(src, sink):
                await until(lambda: sink.states("FP1"), "the first state")
                plant.set_dead(1)  # connected, but no answers: a hung PLC or a half-open link
                await until(lambda: sink.states("FP1")[-1].state == "offline", "offline")
                await until(lambda: src.health.link_failures >= 1, "the link to be reopened")
                plant.set_dead(1, False)
                await until(lambda: sink.states("FP1")[-1].state == "running", "running again")
        h = src.health
        assert h.per_machine_timeouts["FP1"] >= 3 and h.per_machine_timeouts["FP1"] == h.timeouts
        assert [s.state for s in sink.states("FP1")] == ["running", "offline", "running"]
        assert (
            "no answer from unit 1" in sink.states("FP1")[1].reason
            or "unanswered" in sink.states("FP1")[1].reason
        )

    run(main)
