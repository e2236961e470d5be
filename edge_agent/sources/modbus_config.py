"""Modbus source configuration: typed, validated once, with errors that name the key path.

A technician writes register maps by hand from a PLC or meter manual, so every
mistake that can be caught before the first poll is caught here: a misspelt
key, a type that does not exist, two fields on the same register, a counter in
a float, a command whose limits cannot be written into its register. Then the
map is turned into the fewest read requests (`plan_reads`).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Union, get_args, get_origin, get_type_hints

import msgspec

from tonle.config import ConfigError
from tonle.contract import MACHINE_STATES
from tonle.protocols.modbus_registers import Order, RegisterType, raw_range, width

__all__ = [
    "MAX_BITS_PER_READ",
    "MAX_REGISTERS_PER_READ",
    "CommandConfig",
    "ModbusConfigError",
    "ModbusRtuBusConfig",
    "ModbusSourceConfig",
    "ModbusTcpDeviceConfig",
    "ReadBlock",
    "RegisterConfig",
    "RtuDeviceConfig",
    "check_modbus_source",
    "parse_modbus_source",
    "plan_reads",
]

MAX_REGISTERS_PER_READ = 125  # the Modbus limit for function codes 3 and 4
MAX_BITS_PER_READ = 2000  # and for 1 and 2

Function = Literal["holding", "input", "coil", "discrete"]
Role = Literal["field", "state", "count_total", "count_good"]
# The contract's name rule: machine, field and action names end up in topics and line protocol.
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
Address = Annotated[int, msgspec.Meta(ge=0, le=65535)]
PosFloat = Annotated[float, msgspec.Meta(gt=0)]


class ModbusConfigError(ConfigError):
    """A Modbus source section is wrong; the message starts with the key path."""


class _Cfg(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


class RegisterConfig(_Cfg, kw_only=True):
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


class CommandConfig(_Cfg, kw_only=True):
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


class RtuDeviceConfig(_Cfg, kw_only=True):
    unit: Annotated[int, msgspec.Meta(ge=1, le=247)]
    machine: Name
    machine_type: Name
    poll_interval_s: PosFloat = 1.0
    registers: list[RegisterConfig]
    commands: list[CommandConfig] = msgspec.field(default_factory=list)


class ModbusTcpDeviceConfig(_Cfg, kw_only=True, tag="modbus_tcp", tag_field="type"):
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


class ModbusRtuBusConfig(_Cfg, kw_only=True, tag="modbus_rtu", tag_field="type"):
    name: Name
    port: Annotated[str, msgspec.Meta(min_length=1)]
    baudrate: Literal[1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200] = 9600
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8
    timeout_s: PosFloat = 0.5
    devices: list[RtuDeviceConfig]


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
    """Validate one source section (a dict from TOML); `path` prefixes every key path in errors."""
    try:
        cfg = msgspec.convert(data, ModbusSourceConfig, str_keys=True)
    except msgspec.ValidationError as exc:
        raise ModbusConfigError(_explain(str(exc), data, path)) from exc
    check_modbus_source(cfg, path)
    return cfg


def check_modbus_source(cfg: ModbusSourceConfig, path: str = "") -> None:
    """The checks msgspec cannot express (overlaps, roles, limits), for a config decoded elsewhere."""
    if isinstance(cfg, ModbusTcpDeviceConfig):
        _check_device(cfg, path)
    else:
        _check_bus(cfg, path)


# -- messages -------------------------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    if not path:
        return key
    return f"{path}{key}" if key.startswith("[") else f"{path}.{key}"


def _explain(msg: str, data: Mapping[str, Any], path: str) -> str:
    """Turn msgspec's "X - at `$.a[0].b`" into "a[0].b: X; allowed: ..." with the caller's prefix."""
    text, _, where = msg.partition(" - at `$")
    where = where.rstrip("`").lstrip(".")
    unknown = re.match(r"Object contains unknown field `(.+)`", text)
    if unknown:
        where = _join(where, unknown.group(1)) if where else unknown.group(1)
        allowed = _fields_at(data, where.rsplit(".", 1)[0] if "." in where else "")
        return f"{_join(path, where)}: unknown key; allowed here: {', '.join(allowed)}"
    missing = re.match(r"Object missing required field `(.+)`", text)
    if missing:
        hint = f"; use one of {', '.join(_TAGS)}" if not where and missing.group(1) == "type" else ""
        return f"{_join(path, _join(where, missing.group(1)))}: required key is missing{hint}"
    choices = _TAGS if where == "type" else _CHOICES.get(where.rsplit(".", 1)[-1])
    bad = re.match(r"Invalid (?:enum )?value (.+)", text)
    if bad and choices:
        return f"{_join(path, where)}: {bad.group(1)} is not one of {', '.join(map(str, choices))}"
    return f"{_join(path, where) or path or 'modbus source'}: {text}"


_TAGS = ("modbus_tcp", "modbus_rtu")
_CHOICES: dict[str, tuple[Any, ...]] = {
    "type": get_args(RegisterType),
    "function": get_args(Function),
    "role": get_args(Role),
    "word_order": get_args(Order),
    "byte_order": get_args(Order),
    "parity": ("N", "E", "O"),
    "baudrate": (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200),
    "stopbits": (1, 2),
    "bytesize": (7, 8),
}


def _fields_at(data: Mapping[str, Any], where: str) -> list[str]:
    """Allowed keys of the struct at `where` (e.g. "devices[0].registers[1]")."""
    root: Any = ModbusRtuBusConfig if data.get("type") == "modbus_rtu" else ModbusTcpDeviceConfig
    for part in filter(None, re.split(r"\.|(?=\[)", where)):
        if part.startswith("["):
            root = get_args(root)[0]
            continue
        root = get_type_hints(root, include_extras=True)[part]
        while get_origin(root) is Annotated or get_origin(root) is Union:
            root = get_args(root)[0]
    return sorted(f.name for f in msgspec.structs.fields(root))


# -- checks msgspec cannot express ---------------------------------------------------------------


def _check_bus(bus: ModbusRtuBusConfig, path: str) -> None:
    if not bus.devices:
        raise ModbusConfigError(f"{_join(path, 'devices')}: a bus needs at least one device")
    units: dict[int, int] = {}
    machines: dict[str, int] = {}
    for i, dev in enumerate(bus.devices):
        where = _join(path, f"devices[{i}]")
        if dev.unit in units:
            raise ModbusConfigError(
                f"{where}.unit: unit {dev.unit} is already devices[{units[dev.unit]}]; "
                "every device on one RS-485 bus needs its own address"
            )
        if dev.machine in machines:
            other = machines[dev.machine]
            raise ModbusConfigError(f"{where}.machine: '{dev.machine}' is already devices[{other}]")
        units[dev.unit], machines[dev.machine] = i, i
        _check_device(dev, where)


def _check_device(dev: RtuDeviceConfig | ModbusTcpDeviceConfig, path: str) -> None:
    if not dev.registers:
        raise ModbusConfigError(f"{_join(path, 'registers')}: a device needs at least one register to poll")
    seen: dict[str, int] = {}
    roles: dict[str, int] = {}
    for i, reg in enumerate(dev.registers):
        where = _join(path, f"registers[{i}]")
        if reg.field in seen:
            raise ModbusConfigError(f"{where}.field: '{reg.field}' is already registers[{seen[reg.field]}]")
        seen[reg.field] = i
        if reg.role != "field":
            if reg.role in roles:
                raise ModbusConfigError(f"{where}.role: only one register may be {reg.role!r}")
            roles[reg.role] = i
        _check_register(reg, where)
    if ("count_total" in roles) != ("count_good" in roles):
        raise ModbusConfigError(
            f"{_join(path, 'registers')}: a count needs both a 'count_total' and a 'count_good' register "
            "(the published count carries both)"
        )
    _check_overlaps(dev.registers, path)
    actions: dict[str, int] = {}
    for i, cmd in enumerate(dev.commands):
        where = _join(path, f"commands[{i}]")
        if cmd.action in actions:
            other = actions[cmd.action]
            raise ModbusConfigError(f"{where}.action: '{cmd.action}' is already commands[{other}]")
        actions[cmd.action] = i
        _check_command(cmd, where)


def _check_register(reg: RegisterConfig, where: str) -> None:
    bits = reg.function in ("coil", "discrete")
    if bits and (reg.type != "uint16" or reg.word_order != "big" or reg.byte_order != "big"):
        raise ModbusConfigError(
            f"{where}.type: a {reg.function} is one bit (0 or 1); leave type, word_order and byte_order out"
        )
    if reg.address + reg.width > 65536:
        raise ModbusConfigError(f"{where}.address: {reg.type} at {reg.address} runs past register 65535")
    if reg.scale == 0:
        raise ModbusConfigError(f"{where}.scale: 0 would make every reading 0; use 1 for no scaling")
    if reg.role in ("count_total", "count_good", "state") and reg.type == "float32":
        raise ModbusConfigError(f"{where}.type: a {reg.role} register must hold an integer type, not float32")
    if reg.role in ("count_total", "count_good") and bits:
        raise ModbusConfigError(f"{where}.function: a counter cannot be a single {reg.function} bit")
    if reg.role == "state":
        if not reg.states:
            raise ModbusConfigError(f'{where}.states: a state register needs a table, e.g. {{ 0 = "idle" }}')
        lo, hi = (0, 1) if bits else raw_range(reg.type)
        for code, name in reg.states.items():
            if name not in MACHINE_STATES:
                known = ", ".join(MACHINE_STATES)
                raise ModbusConfigError(f"{where}.states.{code}: '{name}' is not a Tonle state; use {known}")
            if not lo <= code <= hi:
                raise ModbusConfigError(f"{where}.states.{code}: a {reg.type} register never holds {code}")
    elif reg.states:
        raise ModbusConfigError(f'{where}.states: only a register with role = "state" has a states table')


def _check_overlaps(registers: list[RegisterConfig], path: str) -> None:
    index = {id(r): i for i, r in enumerate(registers)}
    for function in get_args(Function):
        group = sorted((r for r in registers if r.function == function), key=lambda r: r.address)
        for a, b in itertools.pairwise(group):
            if b.address < a.address + a.width:
                where = _join(path, f"registers[{index[id(b)]}]")
                raise ModbusConfigError(
                    f"{where}.address: {function} {b.address} ('{b.field}') "
                    f"overlaps registers[{index[id(a)]}] ('{a.field}', {a.type} at {a.address}); "
                    "each register holds one value"
                )


def _check_command(cmd: CommandConfig, where: str) -> None:
    if cmd.scale == 0:
        raise ModbusConfigError(f"{where}.scale: must not be 0 (raw = value / scale)")
    if not cmd.min < cmd.max:
        raise ModbusConfigError(f"{where}.min: min ({cmd.min:g}) must be below max ({cmd.max:g})")
    if cmd.address + width(cmd.type) > 65536:
        raise ModbusConfigError(f"{where}.address: {cmd.type} at {cmd.address} runs past register 65535")
    lo, hi = raw_range(cmd.type)
    for key, value in (("min", cmd.min), ("max", cmd.max)):
        raw = value / cmd.scale
        if not lo <= raw <= hi:
            raise ModbusConfigError(
                f"{where}.{key}: {value:g} is {raw:g} raw, which a {cmd.type} register cannot hold "
                f"({lo:g}..{hi:g})"
            )
