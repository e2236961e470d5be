"""An RS-485 bus on a real pty pair: a dead unit must not stall the live ones."""

from __future__ import annotations

import random
from typing import Any

from edge_agent.sources.modbus import ModbusSource, parse_modbus_source
from firmware_sim.modbus_devices import ModbusRtuBus, SimulatedMeter, SimulatedPress
from firmware_sim.modbus_models import EnergyMeterModel, press_load
from tests.modbus.support import (
    FAST,
    METER_REGISTERS,
    PRESS_COMMANDS,
    PRESS_REGISTERS,
    T0,
    Collector,
    run,
    running,
    until,
)
from tonle.io.clock import VirtualClock, WallClock

INTERVAL_S = 0.1
WINDOW_S = 3.0  # long enough that one stall of a loaded CI box stays within 20 %


def _bus_config(port: str, timeout_s: float = 0.05) -> dict[str, Any]:
    def dev(unit: int, machine: str, kind: str, registers: list, commands: list) -> dict[str, Any]:
        return {"unit": unit, "machine": machine, "machine_type": kind, "poll_interval_s": INTERVAL_S,
                "registers": registers, "commands": commands}  # fmt: skip

    return {
        "type": "modbus_rtu", "name": "rs485", "port": port, "baudrate": 19200, "timeout_s": timeout_s,
        "devices": [
            dev(1, "MTR1", "energy_meter", METER_REGISTERS, []),
            dev(2, "FP2", "fusing_press", PRESS_REGISTERS, PRESS_COMMANDS),
            dev(3, "MTR3", "energy_meter", METER_REGISTERS, []),  # nobody answers at address 3
        ],
    }  # fmt: skip


def _devices(clock: VirtualClock) -> tuple[SimulatedMeter, SimulatedPress]:
    press = SimulatedPress(clock, events=False)
    return SimulatedMeter(clock, EnergyMeterModel(clock.now_ns(), press_load(press.model))), press


def test_live_devices_keep_their_schedule_while_a_dead_one_backs_off():
    async def main() -> None:
        meter, press = _devices(VirtualClock(T0))
        sink = Collector()
        async with ModbusRtuBus({1: meter, 2: press}) as bus:
            src = ModbusSource(parse_modbus_source(_bus_config(bus.port)), WallClock(), retry=FAST,
                               rng=random.Random(3))  # fmt: skip
            async with running(src, sink):
                await until(lambda: sink.samples("MTR1") and sink.samples("FP2"), "both live devices")
                start = max(sink.samples("MTR1")[0].ts_ns, sink.samples("FP2")[0].ts_ns)
                end = start + round(WINDOW_S * 1e9)
                timeouts_before = src.health.per_machine_timeouts["MTR3"]
                clock = WallClock()
                await until(lambda: clock.now_ns() > end + 2 * INTERVAL_S * 1e9, "the window to pass")
                timeouts_in_window = src.health.per_machine_timeouts["MTR3"] - timeouts_before
        expected = WINDOW_S / INTERVAL_S
        for machine in ("MTR1", "FP2"):
            polls = sum(start <= s.ts_ns < end for s in sink.samples(machine))
            assert 0.8 * expected <= polls <= 1.2 * expected, (machine, polls, expected)
        h = src.health
        # None on a quiet machine; on a loaded CI box a 50 ms timeout can expire now and then.
        assert h.per_machine_errors["MTR1"] <= 2 and h.per_machine_errors["FP2"] <= 2
        assert h.per_machine_reads["MTR3"] == 0 and h.per_machine_timeouts["MTR3"] >= 3
        # Backing off: after 0.2, 0.4, 0.8, 0.8 ... s it tries a few times per window, not every 0.1 s.
        assert 1 <= timeouts_in_window <= 0.4 * expected, timeouts_in_window
        assert h.per_machine_backoff_s["MTR3"] > 2 * INTERVAL_S * (1 - FAST.jitter)
        assert h.reconnects == 0  # one dead unit never closes the bus
        assert sink.samples("MTR1")[-1].fields["power_kw"] > 1.0 and sink.counts("FP2")

    run(main)


def test_commands_share_the_bus_with_polling():
    async def main() -> None:
        meter, press = _devices(VirtualClock(T0))
        sink = Collector()
        async with ModbusRtuBus({1: meter, 2: press}) as bus:
            src = ModbusSource(parse_modbus_source(_bus_config(bus.port)), WallClock(), retry=FAST)
            async with running(src, sink):
                await until(lambda: sink.samples("FP2"), "the press")
                detail = await src.apply("FP2", "set_speed", 18.5)
                await until(lambda: sink.samples("FP2")[-1].fields["speed_cpm"] == 18.5, "the new speed")
        assert detail.endswith("read back") and press.model.setpoint_cpm == 18.5
        assert src.health.per_machine_errors["FP2"] == 0

    run(main)


def test_a_slow_device_is_read_late_and_a_too_slow_one_times_out():
    async def main() -> None:
        meter, press = _devices(VirtualClock(T0))
        sink = Collector()
        async with ModbusRtuBus({1: meter, 2: press}) as bus:
            src = ModbusSource(
                parse_modbus_source(_bus_config(bus.port, timeout_s=0.3)), WallClock(), retry=FAST
            )
            async with running(src, sink):
                bus.set_slow(1, 0.05)  # late, but well within the timeout
                reads = src.health.per_machine_reads["MTR1"]
                await until(lambda: src.health.per_machine_reads["MTR1"] >= reads + 5, "slow reads")
                bus.set_slow(1, 0.8)  # later than the timeout
                await until(lambda: src.health.per_machine_timeouts["MTR1"] >= 2, "timeouts")
                bus.set_slow(1, 0)
                reads = src.health.per_machine_reads["MTR1"]
                await until(lambda: src.health.per_machine_reads["MTR1"] >= reads + 3, "recovery")
        assert src.health.per_machine_reads["FP2"] > 0

    run(main)
