"""The checks of a Modbus section msgspec cannot express: overlaps, roles, states, limits.

Each returns every problem it finds (keys relative to the section it checks), so a
technician fixing a register map by hand sees all its mistakes in one run. A register
and a command are checked on their own (their structs' `problems()`), a device for what
lies between its registers and commands, a bus for what lies between its devices.
"""

from __future__ import annotations

import itertools
from typing import get_args

from edge_agent.sources.modbus_config import (
    CommandConfig,
    Function,
    ModbusRtuBusConfig,
    ModbusTcpDeviceConfig,
    RegisterConfig,
    RtuDeviceConfig,
)
from tonle.config.problems import Problem, join_key
from tonle.contract import MACHINE_STATES
from tonle.protocols.modbus_registers import raw_range, width

__all__ = ["bus_problems", "command_problems", "device_problems", "register_problems"]

_LAST_REGISTER = 65535


def bus_problems(bus: ModbusRtuBusConfig) -> list[Problem]:
    if not bus.devices:
        return [Problem("devices", "is empty", "a bus needs at least one device")]
    found: list[Problem] = []
    units: dict[int, int] = {}
    machines: dict[str, int] = {}
    for i, dev in enumerate(bus.devices):
        where = f"devices[{i}]"
        if dev.unit in units:
            found.append(
                Problem(
                    f"{where}.unit",
                    f"is {dev.unit}, the address of devices[{units[dev.unit]}] too",
                    "every device on one RS-485 bus needs its own address",
                )
            )
        if dev.machine in machines:
            found.append(
                Problem(
                    f"{where}.machine",
                    f"is '{dev.machine}', the machine of devices[{machines[dev.machine]}] too",
                    "give every machine its own name",
                )
            )
        units.setdefault(dev.unit, i)
        machines.setdefault(dev.machine, i)
        found.extend(p.under(where) for p in device_problems(dev))
    return found


def device_problems(dev: RtuDeviceConfig | ModbusTcpDeviceConfig) -> list[Problem]:
    if not dev.registers:
        return [Problem("registers", "is empty", "a device needs at least one register to poll")]
    found: list[Problem] = []
    seen: dict[str, int] = {}
    roles: dict[str, int] = {}
    for i, reg in enumerate(dev.registers):
        where = f"registers[{i}]"
        if reg.field in seen:
            found.append(
                Problem(
                    f"{where}.field",
                    f"is '{reg.field}', the field of registers[{seen[reg.field]}] too",
                    "give every register its own field name",
                )
            )
        seen.setdefault(reg.field, i)
        if reg.role != "field":
            if reg.role in roles:
                found.append(
                    Problem(
                        f"{where}.role",
                        f"is {reg.role!r} a second time",
                        f"only one register may be {reg.role!r}",
                    )
                )
            roles.setdefault(reg.role, i)
    if ("count_total" in roles) != ("count_good" in roles):
        found.append(
            Problem(
                "registers",
                "has only one of the 'count_total' and 'count_good' registers",
                "a count needs both (the published count carries both)",
            )
        )
    found.extend(_overlaps(dev.registers))
    actions: dict[str, int] = {}
    for i, cmd in enumerate(dev.commands):
        where = f"commands[{i}]"
        if cmd.action in actions:
            found.append(
                Problem(
                    f"{where}.action",
                    f"is '{cmd.action}', the action of commands[{actions[cmd.action]}] too",
                    "configure each action once",
                )
            )
        actions.setdefault(cmd.action, i)
    return found


def register_problems(reg: RegisterConfig) -> list[Problem]:
    found: list[Problem] = []
    bits = reg.function in ("coil", "discrete")
    if bits and (reg.type != "uint16" or reg.word_order != "big" or reg.byte_order != "big"):
        found.append(
            Problem(
                "type",
                f"is set on a {reg.function}, which is one bit (0 or 1)",
                "leave type, word_order and byte_order out",
            )
        )
    if reg.address + reg.width > _LAST_REGISTER + 1:
        found.append(
            Problem("address", f"puts a {reg.type} at {reg.address}, past register 65535", "use a lower one")
        )
    if reg.scale == 0:
        found.append(Problem("scale", "is 0, which would make every reading 0", "use 1 for no scaling"))
    if reg.role in ("count_total", "count_good", "state") and reg.type == "float32":
        found.append(
            Problem(
                "type",
                f"is float32, but a {reg.role} register holds an integer",
                "use int16, uint16, int32 or uint32",
            )
        )
    if reg.role in ("count_total", "count_good") and bits:
        found.append(
            Problem("function", f"is {reg.function}, but a counter cannot be one bit", "use holding or input")
        )
    found.extend(_states_problems(reg, bits))
    return found


def _states_problems(reg: RegisterConfig, bits: bool) -> list[Problem]:
    if reg.role != "state":
        if reg.states:
            return [
                Problem("states", 'is only for a register with role = "state"', "remove it, or set the role")
            ]
        return []
    if not reg.states:
        return [Problem("states", "is missing", 'a state register needs a table, e.g. { 0 = "idle" }')]
    found: list[Problem] = []
    lo, hi = (0, 1) if bits else raw_range(reg.type)
    for code, name in reg.states.items():
        if name not in MACHINE_STATES:
            found.append(
                Problem(
                    f"states.{code}",
                    f"is '{name}', which is not a Tonle state",
                    f"use one of: {', '.join(MACHINE_STATES)}",
                )
            )
        if not lo <= code <= hi:
            found.append(
                Problem(
                    f"states.{code}", f"is a code a {reg.type} register never holds", f"use {lo:g}..{hi:g}"
                )
            )
    return found


def _overlaps(registers: list[RegisterConfig]) -> list[Problem]:
    found: list[Problem] = []
    index = {id(r): i for i, r in enumerate(registers)}
    for function in get_args(Function):
        group = sorted((r for r in registers if r.function == function), key=lambda r: r.address)
        for a, b in itertools.pairwise(group):
            if b.address < a.address + a.width:
                found.append(
                    Problem(
                        join_key(f"registers[{index[id(b)]}]", "address"),
                        f"puts {function} {b.address} ('{b.field}') inside registers[{index[id(a)]}] "
                        f"('{a.field}', {a.type} at {a.address})",
                        "each register holds one value",
                    )
                )
    return found


def command_problems(cmd: CommandConfig) -> list[Problem]:
    if cmd.scale == 0:
        return [Problem("scale", "is 0", "use a scale other than 0 (raw = value / scale)")]
    found: list[Problem] = []
    if not cmd.min < cmd.max:
        found.append(Problem("min", f"({cmd.min:g}) is not below max ({cmd.max:g})", "swap them"))
    if cmd.address + width(cmd.type) > _LAST_REGISTER + 1:
        found.append(
            Problem("address", f"puts a {cmd.type} at {cmd.address}, past register 65535", "use a lower one")
        )
    lo, hi = raw_range(cmd.type)
    for key, value in (("min", cmd.min), ("max", cmd.max)):
        raw = value / cmd.scale
        if not lo <= raw <= hi:
            found.append(
                Problem(
                    key,
                    f"is {value:g}, which is {raw:g} raw: a {cmd.type} register cannot hold it",
                    f"keep the raw value within {lo:g}..{hi:g} (raw = value / scale)",
                )
            )
    return found
