"""Shared plumbing for the Modbus tests: register maps, a collecting sink, and leak-checked runs."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from edge_agent.sources.modbus import ModbusSource, RetryPolicy
from tonle.sources.base import Count, Reading, Sample, StateChange

T = TypeVar("T")
T0 = 1_780_000_000_000_000_000
WAIT_S = 10.0
FAST = RetryPolicy(device_max_s=0.8, link_base_s=0.05, link_max_s=0.4)

PRESS_STATES = {"0": "idle", "1": "running", "2": "breakdown", "3": "maintenance", "4": "setup"}
PRESS_REGISTERS: list[dict[str, Any]] = [
    {"field": "state_code", "address": 0, "function": "input", "role": "state", "states": PRESS_STATES},
    {"field": "fault_code", "address": 1, "function": "input"},
    {"field": "pieces_total", "address": 2, "function": "input", "type": "uint32", "word_order": "little",
     "role": "count_total"},
    {"field": "pieces_good", "address": 4, "function": "input", "type": "uint32", "word_order": "little",
     "role": "count_good"},
    {"field": "speed_cpm", "address": 6, "function": "input", "scale": 0.1, "unit": "cycles/min"},
    {"field": "platen_temp_c", "address": 7, "function": "input", "type": "float32", "word_order": "little"},
    {"field": "speed_setpoint_cpm", "address": 100, "function": "holding", "scale": 0.1},
    {"field": "run_enable", "address": 0, "function": "coil"},
    {"field": "door_closed", "address": 0, "function": "discrete"},
]  # fmt: skip
PRESS_COMMANDS = [{"action": "set_speed", "address": 100, "scale": 0.1, "min": 0, "max": 30}]
METER_FIELDS = {
    "voltage_l1": 0, "voltage_l2": 2, "voltage_l3": 4, "current_l1": 6, "current_l2": 8, "current_l3": 10,
    "power_kw": 52, "power_factor": 62, "frequency_hz": 70, "energy_kwh": 72,
}  # fmt: skip
METER_REGISTERS = [
    {
        "field": f,
        "address": a,
        "function": "input",
        "type": "float32",
        "scale": 0.001 if f == "power_kw" else 1,
    }
    for f, a in METER_FIELDS.items()
]


def tcp_config(port: int, unit: int, machine: str, meter: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "type": "modbus_tcp", "name": f"tcp_{machine}", "host": "127.0.0.1", "port": port, "unit": unit,
        "machine": machine, "machine_type": "energy_meter" if meter else "fusing_press",
        "poll_interval_s": 0.05, "timeout_s": 0.2,
        "registers": METER_REGISTERS if meter else PRESS_REGISTERS,
        "commands": [] if meter else PRESS_COMMANDS,
        **extra,
    }  # fmt: skip


class Collector:
    """A sink that keeps every reading, for assertions."""

    def __init__(self) -> None:
        self.readings: list[Reading] = []

    def __call__(self, batch: Sequence[Reading]) -> None:
        self.readings.extend(batch)

    def samples(self, machine: str) -> list[Sample]:
        return [r for r in self.readings if isinstance(r, Sample) and r.machine == machine]

    def states(self, machine: str) -> list[StateChange]:
        return [r for r in self.readings if isinstance(r, StateChange) and r.machine == machine]

    def counts(self, machine: str) -> list[Count]:
        return [r for r in self.readings if isinstance(r, Count) and r.machine == machine]


async def until(done: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    """Poll a condition until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(source: ModbusSource, sink: Collector) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(source.run(sink), name=f"source-{source.name}")
    try:
        yield task
    finally:
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=WAIT_S)
        assert done, f"source {source.name} ignored its cancellation"
        if not task.cancelled() and (exc := task.exception()) is not None:
            raise exc
        assert not source.health.connected


def run(main: Callable[[], Awaitable[T]]) -> T:
    """asyncio.run with a check that no task or thread outlives the test."""
    threads = set(threading.enumerate())

    async def checked() -> T:
        result = await main()
        for _ in range(20):  # let transports' close callbacks and server handlers finish
            await asyncio.sleep(0)
        leftover = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert not leftover, f"tasks leaked: {leftover}"
        return result

    result = asyncio.run(checked())
    assert set(threading.enumerate()) <= threads, "a thread leaked"
    return result
