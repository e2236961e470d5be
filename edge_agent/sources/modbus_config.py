"""Modbus source configuration: typed, checked once, with every problem naming its key path.

A technician writes register maps by hand from a PLC or meter manual, so every
mistake that can be caught before the first poll is caught here: a misspelt
key, a type that does not exist, two fields on the same register, a counter in
a float, a command whose limits cannot be written into its register. Then the
map is turned into the fewest read requests (`plan_reads`).

Both types register themselves (`MODBUS_TCP_SOURCE`, `MODBUS_RTU_SOURCE`, entry points
in pyproject.toml); the checks msgspec cannot express live in `modbus_checks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

import msgspec

from tonle.config.check import check_value
from tonle.config.fields import Name, Section
from tonle.config.problems import ConfigError, Problem
from tonle.io.clock import Clock
from tonle.protocols.modbus_registers import Order, RegisterType, width
from tonle.sources.base import Source
from tonle.sources.registry import DeviceConfig, GatewayContext, SourceType

__all__ = [
    "MAX_BITS_PER_READ",
    "MAX_REGISTERS_PER_READ",
    "MODBUS_RTU_SOURCE",
    "MODBUS_TCP_SOURCE",
    "CommandConfig",
    "ModbusConfigError",
    "ModbusRtuBusConfig",
    "ModbusSourceConfig",
    "ModbusTcpDeviceConfig",
    "ReadBlock",
    "RegisterConfig",
    "RtuDeviceConfig",
    "parse_modbus_source",
    "plan_reads",
]

MAX_REGISTERS_PER_READ = 125  # the Modbus limit for function codes 3 and 4
MAX_BITS_PER_READ = 2000  # and for 1 and 2

Function = Literal["holding", "input", "coil", "discrete"]
Role = Literal["field", "state", "count_total", "count_good"]
Address = Annotated[int, msgspec.Meta(ge=0, le=65535)]
PosFloat = Annotated[float, msgspec.Meta(gt=0)]


class ModbusConfigError(ConfigError):
    """A Modbus source section is wrong; each problem starts with its key path."""


class RegisterConfig(Section, frozen=True, kw_only=True):
    """One value read from a device. `states` maps codes to Tonle states (role "state" only)."""

    field: Name
    address: Address
    function: Function = "holding"
    type: RegisterType = "uint16"
    word_order: Order = "big"
    byte_order: Order = "big"
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    role: Role = "field"
    states: dict[int, str] = msgspec.field(default_factory=dict)

    @property
    def width(self) -> int:
        """Registers (or bits, for coils and discrete inputs) this value occupies."""
        return 1 if self.function in ("coil", "discrete") else width(self.type)

    def problems(self) -> list[Problem]:
        from edge_agent.sources.modbus_checks import register_problems  # it imports this module

        return register_problems(self)


class CommandConfig(Section, frozen=True, kw_only=True):
    """A setpoint the gateway may write: engineering `value` = raw × `scale`, within min..max."""

    action: Name
    address: Address
    type: RegisterType = "uint16"
    word_order: Order = "big"
    byte_order: Order = "big"
    scale: float = 1.0
    min: float
    max: float
    readback: bool = True

    def problems(self) -> list[Problem]:
        from edge_agent.sources.modbus_checks import command_problems  # it imports this module

        return command_problems(self)


class RtuDeviceConfig(Section, frozen=True, kw_only=True):
    unit: Annotated[int, msgspec.Meta(ge=1, le=247)]
    machine: Name
    machine_type: Name
    poll_interval_s: PosFloat = 1.0
    registers: list[RegisterConfig]
    commands: list[CommandConfig] = msgspec.field(default_factory=list)


class ModbusTcpDeviceConfig(DeviceConfig, tag="modbus_tcp", frozen=True, kw_only=True):
    name: Name
    host: str
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 502
    unit: Annotated[int, msgspec.Meta(ge=0, le=255)] = 1
    machine: Name
    machine_type: Name
    poll_interval_s: PosFloat = 1.0
    timeout_s: PosFloat = 1.0
    registers: list[RegisterConfig]
    commands: list[CommandConfig] = msgspec.field(default_factory=list)

    def problems(self) -> list[Problem]:
        from edge_agent.sources.modbus_checks import device_problems  # it imports this module

        return device_problems(self)

    def machines(self) -> list[str]:
        return [self.machine]


class ModbusRtuBusConfig(DeviceConfig, tag="modbus_rtu", frozen=True, kw_only=True):
    name: Name
    port: Annotated[str, msgspec.Meta(min_length=1)]
    baudrate: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    timeout_s: PosFloat = 0.5
    devices: list[RtuDeviceConfig]

    def problems(self) -> list[Problem]:
        from edge_agent.sources.modbus_checks import bus_problems  # it imports this module

        return bus_problems(self)

    def machines(self) -> list[str]:
        return [d.machine for d in self.devices]


ModbusSourceConfig = ModbusTcpDeviceConfig | ModbusRtuBusConfig


@dataclass(frozen=True, slots=True)
class ReadBlock:
    """One read request: `count` registers (or bits) of `function` from `address`."""

    function: str
    address: int
    count: int
    registers: tuple[RegisterConfig, ...]


def plan_reads(registers: list[RegisterConfig]) -> tuple[ReadBlock, ...]:
    """The fewest requests that read every register: contiguous ones merge, gaps split.

    Gaps are never read across: a device answers ILLEGAL ADDRESS for a request
    that touches a register it does not define (the SDM630 meter does).
    """
    blocks: list[ReadBlock] = []
    for function in get_args(Function):
        limit = MAX_BITS_PER_READ if function in ("coil", "discrete") else MAX_REGISTERS_PER_READ
        group = sorted((r for r in registers if r.function == function), key=lambda r: r.address)
        for reg in group:
            last = blocks[-1] if blocks and blocks[-1].function == function else None
            if last and reg.address == last.address + last.count and last.count + reg.width <= limit:
                blocks[-1] = ReadBlock(function, last.address, last.count + reg.width, (*last.registers, reg))
            else:
                blocks.append(ReadBlock(function, reg.address, reg.width, (reg,)))
    return tuple(blocks)


def parse_modbus_source(data: Mapping[str, Any], path: str = "") -> ModbusSourceConfig:
    """Check one source section (a dict from TOML); `path` prefixes every key path in problems."""
    cfg, problems = check_value(data, ModbusSourceConfig, key=path)
    if problems:
        raise ModbusConfigError(problems=problems)
    assert isinstance(cfg, ModbusTcpDeviceConfig | ModbusRtuBusConfig)
    return cfg


def build_modbus_source(config: ModbusSourceConfig, clock: Clock, context: GatewayContext) -> Source:
    from edge_agent.sources.modbus import ModbusSource

    return ModbusSource(config, clock)


MODBUS_TCP_SOURCE = SourceType(
    name="modbus_tcp",
    config=ModbusTcpDeviceConfig,
    factory=build_modbus_source,
    summary="one PLC or meter on Modbus TCP (docs/modbus.md)",
    needs=("pymodbus",),
    extra="edge",
)
MODBUS_RTU_SOURCE = SourceType(
    name="modbus_rtu",
    config=ModbusRtuBusConfig,
    factory=build_modbus_source,
    summary="an RS-485 bus of Modbus RTU devices on one serial port (docs/modbus.md)",
    needs=("pymodbus", "serial"),
    extra="edge",
)
