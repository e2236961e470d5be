"""`tonle agent check-config --lang km` on a bad Modbus and a bad serial gateway: all of it in Khmer.

Every word a technician reads is Khmer, apart from what the file itself says (its keys,
device and machine names, values), the values Tonle accepts there (register types and
functions, machine states, command actions) and figures. The same run without `--lang`
is English, so the check below can tell the two apart.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import get_args

import msgspec
import pytest

from edge_agent.sources.modbus_config import (
    CommandConfig,
    Function,
    ModbusRtuBusConfig,
    ModbusTcpDeviceConfig,
    RegisterConfig,
    Role,
    RtuDeviceConfig,
)
from edge_agent.sources.serial_config import ACTIONS, SerialDeviceConfig
from tests.app.test_cli_khmer import KHMER, tonle
from tonle.contract import MACHINE_STATES
from tonle.protocols.modbus_registers import RegisterType

AGENT = """\
[agent]
id = "gw1"
site = "pp"
area = "sewing"
line = "L1"
"""
BAD_MODBUS = (
    AGENT
    + """
[[devices]]
type = "modbus_rtu"
name = "bus1"
port = "/dev/ttyUSB0"

[[devices.devices]]
unit = 1
machine = "P01"
machine_type = "press"
registers = [
  { field = "temp", address = 0, type = "uint32" },
  { field = "temp", address = 1 },
  { field = "state", address = 65535, type = "float32", role = "state", states = { 1 = "runing" } },
  { field = "pieces", address = 10, role = "count_total", type = "float32" },
  { field = "coil1", address = 0, function = "coil", type = "int16", scale = 0 },
]
commands = [{ action = "set_speed", address = 100, min = 5, max = 1, scale = 0.0001 }]

[[devices.devices]]
unit = 1
machine = "P01"
machine_type = "press"
registers = [{ field = "kw", address = 0 }]

[[devices]]
type = "modbus_tcp"
name = "press2"
host = "10.0.0.9"
machine = "P02"
machine_type = "press"
registers = [{ field = "pieces", address = 0, role = "count_good", type = "int16" }]
commands = [
  { action = "set_speed", address = 65535, type = "int32", min = 0, max = 1, scale = 0.00001 },
  { action = "set_speed", address = 9, min = 0, max = 1, scale = 0 },
]
"""
)
BAD_SERIAL = (
    AGENT
    + """
[[devices]]
type = "serial"
name = "s07"
port = "/dev/ttyACM0"
machine = "S07"
reconnect_min_s = 40
reconnect_max_s = 30
speed_min = 0.9
speed_max = 0.6
allowed_commands = ["set_speed", "explode"]
"""
)
# The keys of a device section and the values Tonle accepts there: shown as written, like the file's.
SECTIONS = (CommandConfig, ModbusRtuBusConfig, ModbusTcpDeviceConfig, RegisterConfig, RtuDeviceConfig)
KEYS = {f.name for s in (*SECTIONS, SerialDeviceConfig) for f in msgspec.structs.fields(s)}
VOCABULARY = KEYS | {*get_args(Function), *get_args(Role), *get_args(RegisterType), *MACHINE_STATES, *ACTIONS}
PROPER_NAMES = {"Tonle", "RS"}  # the product, and the RS-485 standard
LATIN = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def english_words(output: str, path: Path, config: str) -> list[str]:
    """Latin words of `output` that are neither the file's own (keys, names, values) nor accepted values."""
    own = set(LATIN.findall(config)) | VOCABULARY | PROPER_NAMES
    words = []
    for line in output.splitlines():
        rest = line.removeprefix(str(path))
        words += [w for w in LATIN.findall(rest) if w not in own]
    return words


@pytest.mark.parametrize(
    ("config", "problems"), [(BAD_MODBUS, 17), (BAD_SERIAL, 3)], ids=["modbus", "serial"]
)
def test_check_config_of_a_bad_device_is_all_khmer_but_names_keys_and_numbers(
    tmp_path: Path, config: str, problems: int
) -> None:
    bad = tmp_path / "BAD.toml"
    bad.write_text(config)
    r = tonle("agent", "check-config", "--lang", "km", str(bad), cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    lines = r.stdout.strip().splitlines()
    assert len(lines) == problems + 1, r.stdout  # each problem, then how many
    assert all(KHMER.search(line) for line in lines), r.stdout
    assert english_words(r.stdout, bad, config) == [], r.stdout
    assert f"{problems}" in lines[-1]


@pytest.mark.parametrize("config", [BAD_MODBUS, BAD_SERIAL], ids=["modbus", "serial"])
def test_the_same_check_in_english_has_english_words_the_check_would_name(
    tmp_path: Path, config: str
) -> None:
    bad = tmp_path / "BAD.toml"
    bad.write_text(config)
    r = tonle("agent", "check-config", str(bad), cwd=tmp_path)
    assert r.returncode == 2 and not KHMER.search(r.stdout)
    assert {"device", "problems", "fix"} <= set(english_words(r.stdout, bad, config))
