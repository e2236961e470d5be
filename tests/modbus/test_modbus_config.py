"""Config validation names the key path; register maps become the fewest read requests."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from edge_agent.sources.modbus import (
    ModbusConfigError,
    ModbusRtuBusConfig,
    ModbusTcpDeviceConfig,
    parse_modbus_source,
)
from edge_agent.sources.modbus_config import RegisterConfig, plan_reads
from tests.modbus.support import METER_REGISTERS, PRESS_REGISTERS, tcp_config
from tonle.config import ConfigError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "modbus.md"


P = "sources[4].devices[2].registers"


def _bus(*registers: dict[str, Any], **extra: Any) -> dict[str, Any]:
    ok = {"unit": 1, "machine": "M1", "machine_type": "meter", "registers": [{"field": "a", "address": 0}]}
    bad = {"unit": 2, "machine": "M2", "machine_type": "press", "registers": list(registers)}
    return {"type": "modbus_rtu", "name": "bus", "port": "/dev/ttyUSB0", "devices": [ok, ok | {"unit": 3,
            "machine": "M3"}, bad], **extra}  # fmt: skip


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (_bus({"field": "x", "address": 0, "type": "float"}),
         f"'{P}[0].type' is 'float'; use one of: int16, uint16, int32, uint32, float32"),
        (_bus({"field": "x", "address": 0, "adress": 1}),
         f"'{P}[0].adress' is not a known key; did you mean 'address'? allowed here: address, byte_order"),
        (_bus({"field": "x", "address": 0, "function": "holdings"}),
         f"'{P}[0].function' is 'holdings'; use one of: holding, input, coil, discrete"),
        (_bus({"field": "x", "address": 0, "type": "uint32"}, {"field": "y", "address": 1}),
         f"'{P}[1].address' puts holding 1 ('y') inside registers[0] ('x', uint32 at 0)"),
        (_bus({"field": "x", "address": 0}, {"field": "x", "address": 1}),
         f"'{P}[1].field' is 'x', the field of registers[0] too"),
        (_bus({"field": "x", "address": 65535, "type": "float32"}),
         f"'{P}[0].address' puts a float32 at 65535, past register 65535"),
        (_bus({"field": "x", "address": 0, "function": "coil", "type": "float32"}),
         f"'{P}[0].type' is set on a coil, which is one bit"),
        (_bus({"field": "x", "address": 0, "role": "state", "states": {"1": "runing"}}),
         f"'{P}[0].states.1' is 'runing', which is not a Tonle state"),
        (_bus({"field": "x", "address": 0, "role": "state"}),
         f"'{P}[0].states' is missing; a state register needs a table"),
        (_bus({"field": "x", "address": 0, "role": "count_total", "type": "uint32"}),
         f"'{P}' has only one of the 'count_total' and 'count_good' registers; a count needs both"),
        (_bus({"field": "x", "address": 0, "role": "count_total", "type": "float32"},
              {"field": "y", "address": 2, "role": "count_good", "type": "float32"}),
         f"'{P}[0].type' is float32, but a count_total register holds an integer"),
        (_bus({"field": "x", "address": 0}, parity="X"), "'sources[4].parity' is 'X'; use one of: N, E, O"),
        (_bus({"field": "x", "address": 0}) | {"type": "modbus"},
         "'sources[4].type' is 'modbus'; use one of: modbus_tcp, modbus_rtu"),
        (tcp_config(502, 1, "P1") | {"commands": [{"action": "set_speed", "address": 100, "scale": 0.1,
                                                   "min": 0, "max": 7000}]},
         "'sources[4].commands[0].max' is 7000, which is 70000 raw: a uint16 register cannot hold it"),
        (tcp_config(502, 1, "P1") | {"commands": [{"action": "go", "address": 100, "min": 5, "max": 1}]},
         "'sources[4].commands[0].min' (5) is not below max (1)"),
        ({k: v for k, v in tcp_config(502, 1, "P1").items() if k != "host"}, "'sources[4].host' is missing"),
        (tcp_config(502, 1, "P1") | {"machine": "press 1"},
         "'sources[4].machine' is 'press 1'; use letters, digits and _ only"),
    ],
)  # fmt: skip
def test_errors_name_the_key_path(data: dict[str, Any], message: str):
    with pytest.raises(ModbusConfigError) as err:
        parse_modbus_source(data, "sources[4]")
    assert str(err.value).startswith(message), str(err.value)
    assert isinstance(err.value, ConfigError)  # one exception tree with the rest of the config


def test_two_devices_on_one_address_are_refused():
    data = _bus({"field": "x", "address": 0})
    data["devices"][2]["unit"] = 1
    with pytest.raises(
        ModbusConfigError, match=r"^'devices\[2\]\.unit' is 1, the address of devices\[0\] too"
    ):
        parse_modbus_source(data)


def test_every_mistake_of_a_register_map_is_reported_in_one_run():
    data = _bus(
        {"field": "x", "address": 0, "type": "uint32"},
        {"field": "x", "address": 1},
        {"field": "s", "address": 5, "role": "state", "states": {"1": "runing"}},
        {"field": "c", "address": 6, "role": "count_total"},
    )
    data["devices"][1]["unit"] = 1
    with pytest.raises(ModbusConfigError) as err:
        parse_modbus_source(data, "bus")
    assert sorted(p.key for p in err.value.problems) == [
        "bus.devices[1].unit",
        "bus.devices[2].registers",
        "bus.devices[2].registers[1].address",
        "bus.devices[2].registers[1].field",
        "bus.devices[2].registers[2].states.1",
    ]
    assert len(str(err.value).splitlines()) == 5  # one line per problem


def _blocks(registers: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    regs = [RegisterConfig(**{k: v for k, v in r.items() if k != "states"}) for r in registers]
    return [(b.function, b.address, b.count) for b in plan_reads(regs)]


def test_contiguous_registers_merge_into_one_request_per_function():
    assert _blocks(PRESS_REGISTERS) == [
        ("holding", 100, 1),
        ("input", 0, 9),
        ("coil", 0, 1),
        ("discrete", 0, 1),
    ]


def test_gaps_split_requests_and_neighbours_join():
    # 0-11 are six contiguous floats; 52 and 62 stand alone; 70 and 72 touch.
    assert _blocks(METER_REGISTERS) == [
        ("input", 0, 12),
        ("input", 52, 2),
        ("input", 62, 2),
        ("input", 70, 4),
    ]


def test_requests_stop_at_125_registers_without_splitting_a_value():
    floats = [{"field": f"f{i}", "address": 2 * i, "type": "float32"} for i in range(63)]  # 126 registers
    assert _blocks(floats) == [("holding", 0, 124), ("holding", 124, 2)]
    words = [{"field": f"w{i}", "address": i} for i in range(250)]
    assert _blocks(words) == [("holding", 0, 125), ("holding", 125, 125)]


def test_requests_are_sorted_by_address_whatever_the_config_order():
    regs = [{"field": "b", "address": 5}, {"field": "a", "address": 4}, {"field": "c", "address": 9}]
    assert _blocks(regs) == [("holding", 4, 2), ("holding", 9, 1)]


def test_the_toml_example_in_the_docs_is_valid():
    text = DOCS.read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, flags=re.S)
    assert blocks, "docs/modbus.md has no ```toml example"
    sections = [s for block in blocks for s in tomllib.loads(block).get("devices", [])]
    parsed = [parse_modbus_source(s, f"devices[{i}]") for i, s in enumerate(sections)]
    assert [type(p) for p in parsed] == [ModbusTcpDeviceConfig, ModbusRtuBusConfig]
    press, bus = parsed
    assert isinstance(press, ModbusTcpDeviceConfig) and isinstance(bus, ModbusRtuBusConfig)
    assert press.registers[0].states[2] == "breakdown"
    assert [d.unit for d in bus.devices] == [1, 3]
