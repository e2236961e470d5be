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
from edge_agent.sources.repeats import half_count, repeated
from tonle.config.problems import Problem, join_key
from tonle.contract import MACHINE_STATES
from tonle.messages import N_, _
from tonle.protocols.modbus_registers import raw_range, width

__all__ = ["bus_problems", "command_problems", "device_problems", "register_problems"]

_LAST_REGISTER = 65535
PAST_LAST = N_("puts a {type} at {address}, past register 65535")


def bus_problems(bus: ModbusRtuBusConfig) -> list[Problem]:
    if not bus.devices:
        return [Problem("devices", _("is empty"), _("a bus needs at least one device"))]
    found: list[Problem] = []
    units: dict[int, int] = {}
    machines: dict[str, int] = {}
    for i, dev in enumerate(bus.devices):
        where = f"devices[{i}]"
        if dev.unit in units:
            found.append(
                Problem(
                    f"{where}.unit",
                    _("is {unit}, the address of {other} too").format(
                        unit=dev.unit, other=f"devices[{units[dev.unit]}]"
                    ),
                    _("every device on one RS-485 bus needs its own address"),
                )
            )
        if dev.machine in machines:
            found.append(
                Problem(
                    f"{where}.machine",
                    _("is '{machine}', the machine of {other} too").format(
                        machine=dev.machine, other=f"devices[{machines[dev.machine]}]"
                    ),
                    _("give every machine its own name"),
                )
            )
        units.setdefault(dev.unit, i)
        machines.setdefault(dev.machine, i)
        found.extend(p.under(where) for p in device_problems(dev))
    return found


def device_problems(dev: RtuDeviceConfig | ModbusTcpDeviceConfig) -> list[Problem]:
    if not dev.registers:
        return [Problem("registers", _("is empty"), _("a device needs at least one register to poll"))]
    regs, cmds = dev.registers, dev.commands
    found = repeated(
        [r.field for r in regs],
        lambda i: f"registers[{i}].field",
        N_("is '{name}', the field of registers[{other}] too"),
        N_("give every register its own field name"),
    )
    found += repeated(
        [r.role for r in regs],
        lambda i: f"registers[{i}].role",
        N_("is {name!r} a second time"),
        N_("only one register may be {name!r}"),
        skip=("field",),
    )
    found += half_count(
        (r.role for r in regs),
        "registers",
        N_("has only one of the 'count_total' and 'count_good' registers"),
    )
    found.extend(_overlaps(regs))
    found += repeated(
        [c.action for c in cmds],
        lambda i: f"commands[{i}].action",
        N_("is '{name}', the action of commands[{other}] too"),
        N_("configure each action once"),
    )
    return found


def register_problems(reg: RegisterConfig) -> list[Problem]:
    found: list[Problem] = []
    bits = reg.function in ("coil", "discrete")
    if bits and (reg.type != "uint16" or reg.word_order != "big" or reg.byte_order != "big"):
        found.append(
            Problem(
                "type",
                _("is set on a {function}, which is one bit (0 or 1)").format(function=reg.function),
                _("leave type, word_order and byte_order out"),
            )
        )
    if reg.address + reg.width > _LAST_REGISTER + 1:
        found.append(
            Problem("address", _(PAST_LAST).format(type=reg.type, address=reg.address), _("use a lower one"))
        )
    if reg.scale == 0:
        found.append(Problem("scale", _("is 0, which would make every reading 0"), _("use 1 for no scaling")))
    if reg.role in ("count_total", "count_good", "state") and reg.type == "float32":
        found.append(
            Problem(
                "type",
                _("is float32, but a {role} register holds an integer").format(role=reg.role),
                _("use int16, uint16, int32 or uint32"),
            )
        )
    if reg.role in ("count_total", "count_good") and bits:
        found.append(
            Problem(
                "function",
                _("is {function}, but a counter cannot be one bit").format(function=reg.function),
                _("use holding or input"),
            )
        )
    found.extend(_states_problems(reg, bits))
    return found


def _states_problems(reg: RegisterConfig, bits: bool) -> list[Problem]:
    if reg.role != "state":
        if reg.states:
            return [
                Problem(
                    "states", _('is only for a register with role = "state"'), _("remove it, or set the role")
                )
            ]
        return []
    if not reg.states:
        return [Problem("states", _("is missing"), _('a state register needs a table, e.g. { 0 = "idle" }'))]
    found: list[Problem] = []
    lo, hi = (0, 1) if bits else raw_range(reg.type)
    for code, name in reg.states.items():
        if name not in MACHINE_STATES:
            found.append(
                Problem(
                    f"states.{code}",
                    _("is '{name}', which is not a Tonle state").format(name=name),
                    _("use one of: {choices}").format(choices=", ".join(MACHINE_STATES)),
                )
            )
        if not lo <= code <= hi:
            found.append(
                Problem(
                    f"states.{code}",
                    _("is a code a {type} register never holds").format(type=reg.type),
                    _("use {lo:g}..{hi:g}").format(lo=lo, hi=hi),
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
                        _(
                            "puts {function} {address} ('{field}') inside {other} "
                            "('{other_field}', {type} at {other_address})"
                        ).format(
                            function=function,
                            address=b.address,
                            field=b.field,
                            other=f"registers[{index[id(a)]}]",
                            other_field=a.field,
                            type=a.type,
                            other_address=a.address,
                        ),
                        _("each register holds one value"),
                    )
                )
    return found


def command_problems(cmd: CommandConfig) -> list[Problem]:
    if cmd.scale == 0:
        return [Problem("scale", _("is 0"), _("use a scale other than 0 (raw = value / scale)"))]
    found: list[Problem] = []
    if not cmd.min < cmd.max:
        found.append(
            Problem(
                "min",
                _("({min:g}) is not below max ({max:g})").format(min=cmd.min, max=cmd.max),
                _("swap them"),
            )
        )
    if cmd.address + width(cmd.type) > _LAST_REGISTER + 1:
        found.append(
            Problem("address", _(PAST_LAST).format(type=cmd.type, address=cmd.address), _("use a lower one"))
        )
    lo, hi = raw_range(cmd.type)
    for key, value in (("min", cmd.min), ("max", cmd.max)):
        raw = value / cmd.scale
        if not lo <= raw <= hi:
            found.append(
                Problem(
                    key,
                    _("is {value:g}, which is {raw:g} raw: a {type} register cannot hold it").format(
                        value=value, raw=raw, type=cmd.type
                    ),
                    _("keep the raw value within {lo:g}..{hi:g} (raw = value / scale)").format(lo=lo, hi=hi),
                )
            )
    return found
