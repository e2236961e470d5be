"""A fusing-press PLC and an energy meter as real pymodbus servers, on Modbus TCP and RTU.

The register images are computed from the seeded models in `modbus_models` at
the moment a request reads them (a pymodbus `SimDevice` action), on the
injectable `Clock`, so the gateway reads what a PLC scan would show. Values go
into registers through `tonle.protocols.modbus_registers`, the codec the gateway's
Modbus source decodes with, so the simulator cannot drift from the adapter.

Register maps (0-based protocol addresses, as on the wire):

Press PLC (the demo serves it as TCP unit 1). 32-bit values are low word first
(CDAB, the Modicon convention many small PLCs keep); set `word_order="big"` for
a PLC that sends the high word first.
    input 0      state code       uint16   0 idle, 1 running, 2 fault, 3 maintenance, 4 warm-up
    input 1      fault code       uint16   0 = none (17, 23, 31: see modbus_models.FAULTS)
    input 2-3    pieces total     uint32   cumulative press cycles, wraps at 2**32
    input 4-5    pieces good      uint32
    input 6      actual speed     uint16   cycles/min × 10
    input 7-8    platen temp      float32  °C
    holding 100  speed setpoint   uint16   cycles/min × 10, read/write (0..600)
    coil 0       run enable       bit      read/write; off stops the press
    discrete 0   door closed      bit

Energy meter (the demo's bus unit 1): the Eastron SDM630 input-register map and its
byte layout, IEEE-754 float32 with the high word first (ABCD: big word order,
big byte order), power in W. Only these registers exist; the gaps answer
ILLEGAL ADDRESS, as on the real meter when a read spans an undefined register.
    input 0/2/4     L1/L2/L3 voltage  V
    input 6/8/10    L1/L2/L3 current  A
    input 52        total power       W
    input 62        power factor
    input 70        frequency         Hz
    input 72        import energy     kWh (cumulative)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from typing import Protocol

from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from firmware_sim.modbus_links import FaultTable, PtyBridge, TcpFaultProxy
from firmware_sim.modbus_models import SPEED_MAX_CPM, EnergyMeterModel, PressModel, press_load
from tonle.io.clock import Clock, WallClock
from tonle.protocols.modbus_registers import Order, encode

__all__ = [
    "METER_REGISTERS",
    "PRESS_HR_SETPOINT",
    "DemoPlant",
    "ModbusRtuBus",
    "ModbusTcpPlant",
    "SimulatedDevice",
    "SimulatedMeter",
    "SimulatedPress",
    "demo_plant",
]

WordOrder = Order
_READS = (1, 2, 3, 4)  # function codes that read; a write's own echo must not refresh the image

PRESS_IR_COUNT = 9
PRESS_HR_SETPOINT = 100
METER_REGISTERS = {
    "voltage_l1": 0, "voltage_l2": 2, "voltage_l3": 4,
    "current_l1": 6, "current_l2": 8, "current_l3": 10,
    "power_w": 52, "power_factor": 62, "frequency_hz": 70, "import_kwh": 72,
}  # fmt: skip


def _bits_block() -> list[SimData]:
    return [SimData(0, values=[False] * 16, datatype=DataType.BITS)]


class SimulatedDevice(Protocol):
    """Anything a simulated server can put on a unit id."""

    def sim_device(self, unit: int) -> SimDevice: ...


class SimulatedPress:
    """The press PLC. `stuck_setpoint=True` makes it acknowledge setpoint writes and ignore them.

    That is the classic field fault: the PLC program copies the HMI's value into
    the setpoint register every scan, so a write is echoed and then overwritten.
    """

    def __init__(
        self,
        clock: Clock,
        *,
        seed: int = 7,
        word_order: WordOrder = "little",
        events: bool = True,
        setpoint_cpm: float = 12.0,
    ) -> None:
        self.clock = clock
        self.model = PressModel(clock.now_ns(), seed=seed, setpoint_cpm=setpoint_cpm, events=events)
        self.word_order: WordOrder = word_order
        self.stuck_setpoint = False
        self.writes = 0  # setpoint writes the PLC acknowledged

    def input_registers(self) -> list[int]:
        m, wo = self.model, self.word_order
        return [
            m.state,
            m.fault_code,
            *encode(m.total, "uint32", wo),
            *encode(m.good, "uint32", wo),
            round(m.speed_cpm * 10),
            *encode(m.temperature_c, "float32", wo),
        ]

    def sim_device(self, unit: int) -> SimDevice:
        regs = (
            _bits_block(),
            _bits_block(),
            [SimData(PRESS_HR_SETPOINT, values=0, datatype=DataType.UINT16)],
            [SimData(0, count=PRESS_IR_COUNT, values=0, datatype=DataType.REGISTERS)],
        )
        return SimDevice(id=unit, simdata=regs, action=self._action)

    async def _action(
        self,
        fc: int,
        start: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        self.model.advance_to(self.clock.now_ns())
        if fc in (6, 16) and values is not None:
            return self._write_setpoint(int(values[0]))
        if fc in (5, 15) and values is not None and address == 0:
            self.model.run_enable = bool(values[0])
        if fc in _READS:
            self._refresh(fc, registers)
        return None

    def _write_setpoint(self, raw: int) -> ExcCodes | None:
        if raw > SPEED_MAX_CPM * 10:
            return ExcCodes.ILLEGAL_VALUE
        self.writes += 1
        if not self.stuck_setpoint:
            self.model.set_speed(raw / 10)
        return None

    def _refresh(self, fc: int, registers: list[int]) -> None:
        if fc == 4:
            registers[:PRESS_IR_COUNT] = self.input_registers()
        elif fc == 3:
            registers[0] = round(self.model.setpoint_cpm * 10)
        elif fc == 1:
            registers[0] = int(self.model.run_enable)  # bit n of a block register is coil n
        else:
            registers[0] = 1  # the safety door is closed


class SimulatedMeter:
    """The feeder's energy meter (SDM630 map, float32 ABCD), integrating `model`'s load."""

    def __init__(self, clock: Clock, model: EnergyMeterModel) -> None:
        self.clock = clock
        self.model = model

    def values(self) -> dict[str, float]:
        m = self.model
        (v1, v2, v3), (i1, i2, i3) = m.voltages, m.currents
        return {
            "voltage_l1": v1, "voltage_l2": v2, "voltage_l3": v3,
            "current_l1": i1, "current_l2": i2, "current_l3": i3,
            "power_w": m.kw * 1000.0, "power_factor": m.power_factor,
            "frequency_hz": m.frequency_hz, "import_kwh": m.kwh,
        }  # fmt: skip

    def sim_device(self, unit: int) -> SimDevice:
        blocks = [SimData(a, values=0.0, datatype=DataType.FLOAT32) for a in METER_REGISTERS.values()]
        regs = (_bits_block(), _bits_block(), [SimData(0)], blocks)
        return SimDevice(id=unit, simdata=regs, action=self._action)

    async def _action(
        self,
        fc: int,
        start: int,
        address: int,
        count: int,
        registers: list[int],
        values: list[int] | list[bool] | None,
    ) -> ExcCodes | None:
        if fc != 4:
            return ExcCodes.ILLEGAL_FUNCTION  # a meter has only input registers
        self.model.advance_to(self.clock.now_ns())
        for name, value in self.values().items():
            offset = METER_REGISTERS[name] - start
            registers[offset : offset + 2] = encode(value, "float32", "big", "big")
        return None


class ModbusTcpPlant:
    """Devices served on Modbus TCP at `host:port` by unit id, behind a fault-injecting proxy.

    `stop()` then `start()` is a PLC power cycle: connections drop, the port stays
    the same, the device models keep their counters.
    """

    def __init__(
        self, devices: Mapping[int, SimulatedDevice], host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.devices = dict(devices)
        self.faults = FaultTable(present=set(self.devices))
        self.host = host
        self._server: ModbusTcpServer | None = None
        self._inner: tuple[str, int] = (host, 0)
        self._proxy = TcpFaultProxy(lambda: self._inner, self.faults, host, port)

    @property
    def port(self) -> int:
        return self._proxy.port

    def set_dead(self, unit: int, dead: bool = True) -> None:
        self.faults.set_dead(unit, dead)

    def set_slow(self, unit: int, seconds: float) -> None:
        self.faults.set_slow(unit, seconds)

    async def start(self) -> None:
        sims = [dev.sim_device(unit) for unit, dev in self.devices.items()]
        self._server = ModbusTcpServer(sims, address=(self.host, 0))
        await self._server.serve_forever(background=True)
        self._inner = (self.host, self._server.transport.sockets[0].getsockname()[1])  # type: ignore[union-attr]
        await self._proxy.start()

    async def stop(self) -> None:
        await self._proxy.stop()
        if self._server is not None:
            await self._server.shutdown()
            self._server = None

    async def __aenter__(self) -> ModbusTcpPlant:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class ModbusRtuBus:
    """Devices on one simulated RS-485 line; the gateway opens `port` (a /dev/pts path).

    A unit id with no device behind it never answers, like an unpowered meter.
    """

    def __init__(
        self,
        devices: Mapping[int, SimulatedDevice],
        *,
        baudrate: int = 19200,
        parity: str = "N",
        stopbits: int = 1,
    ) -> None:
        self.devices = dict(devices)
        self.faults = FaultTable(present=set(self.devices))
        self.serial = {"baudrate": baudrate, "parity": parity, "stopbits": stopbits}
        self._bridge = PtyBridge(self.faults)
        self._server: ModbusSerialServer | None = None

    @property
    def port(self) -> str:
        """The serial device path the gateway opens."""
        return self._bridge.host_path

    def set_dead(self, unit: int, dead: bool = True) -> None:
        self.faults.set_dead(unit, dead)

    def set_slow(self, unit: int, seconds: float) -> None:
        self.faults.set_slow(unit, seconds)

    async def __aenter__(self) -> ModbusRtuBus:
        await self._bridge.__aenter__()
        sims = [dev.sim_device(unit) for unit, dev in self.devices.items()]
        try:
            self._server = ModbusSerialServer(sims, port=self._bridge.device_path, **self.serial)  # type: ignore[arg-type]
            if not await self._server.listen():
                raise OSError(f"pymodbus could not open {self._bridge.device_path}")
        except BaseException:
            await self._bridge.__aexit__(None, None, None)
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            await self._server.shutdown()
            self._server = None
        await self._bridge.__aexit__(*exc)


class DemoPlant:
    """The demo's devices: a press on Modbus TCP, its feeder meter on an RS-485 bus."""

    def __init__(self, tcp: ModbusTcpPlant, rtu: ModbusRtuBus, press: SimulatedPress, meter: SimulatedMeter):
        self.tcp, self.rtu, self.press, self.meter = tcp, rtu, press, meter


@contextlib.asynccontextmanager
async def demo_plant(clock: Clock, *, seed: int = 7, tcp_port: int = 0) -> AsyncIterator[DemoPlant]:
    """Start the press (TCP unit 1) and its meter (bus unit 1; any other bus unit never answers)."""
    press = SimulatedPress(clock, seed=seed)
    meter = SimulatedMeter(clock, EnergyMeterModel(clock.now_ns(), press_load(press.model), seed=seed + 1))
    async with (
        ModbusTcpPlant({1: press}, port=tcp_port) as tcp,
        ModbusRtuBus({1: meter}) as rtu,
    ):
        yield DemoPlant(tcp, rtu, press, meter)


async def _serve(tcp_port: int, seed: int) -> None:
    async with demo_plant(WallClock(), seed=seed, tcp_port=tcp_port) as plant:
        print(f"press PLC: Modbus TCP 127.0.0.1:{plant.tcp.port} unit 1", flush=True)
        print(f"energy meter: Modbus RTU {plant.rtu.port} unit 1 (a pty: any baud rate)", flush=True)
        print("Ctrl-C stops", flush=True)
        await asyncio.Event().wait()


def main(argv: list[str] | None = None) -> None:
    """`python -m firmware_sim.modbus_devices`: serve the demo's press and meter until Ctrl-C."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--tcp-port", type=int, default=5020, help="0 picks a free port")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.tcp_port, args.seed))


if __name__ == "__main__":
    main()
