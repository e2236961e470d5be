"""`tonle agent check-config`: devices named by name, every problem at once, types from the registry."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from edge_agent.config import GatewayConfig, load_gateway_config, make_sources
from edge_agent.sources.modbus_config import ModbusRtuBusConfig, ModbusTcpDeviceConfig
from edge_agent.sources.mqtt_json_config import MqttJsonDeviceConfig
from edge_agent.sources.serial_config import SerialDeviceConfig
from firmware_sim.source_config import SimDeviceConfig
from tonle.app.cli import main
from tonle.config import ConfigError
from tonle.io.clock import VirtualClock
from tonle.sources.registry import SourceUnavailable, build_source

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

SERIAL = """
[[devices]]
type = "serial"
name = "node_S01"
port = "/dev/ttyACM0"
machine = "S01"
"""
PRESS = """
[[devices]]
type = "modbus_tcp"
name = "press_plc"
host = "192.168.10.21"
machine = "FP1"
machine_type = "fusing_press"
registers = [{ field = "x", address = 0 }]
"""
BROKEN = """
[agent]
speed_min = 0.9
speed_max = 0.5

[[devices]]
type = "serial"
name = "node_S01"
port = "/dev/ttyACM0"
machine = "S01"
baud = 9600

[[devices]]
type = "modbuss"
name = "press-1"

[[devices]]
type = "modbus_tcp"
name = "press_plc"
host = "192.168.10.21"
port = 70000
machine = "FP1"
machine_type = "fusing_press"
registers = [
  { field = "x", address = 0, type = "float" },
  { field = "s", address = 3, role = "state", states = { 0 = "runing" } },
]
commands = [{ action = "set_speed", address = 100, min = 5, max = 1 }]

[[devices]]
type = "serial"
name = "node_S01"
port = "/dev/ttyACM1"
machine = "S02"
allowed_commands = ["reboot"]
"""


def _load(tmp_path: Path, text: str) -> GatewayConfig:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return load_gateway_config(path)


def _lines(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, text)
    return [str(p) for p in err.value.problems]


def test_every_problem_is_reported_and_devices_are_named_by_their_name(tmp_path: Path):
    assert _lines(tmp_path, BROKEN) == [
        "'agent.speed_min' (0.9) is above speed_max (0.5); swap them",
        "device 'node_S01': 'baud' is not a known key; did you mean 'baudrate'? allowed here: "
        "allowed_commands, baudrate, command_timeout_s, machine, machine_type, name, port, read_timeout_s, "
        "reconnect_max_s, reconnect_min_s, resync_interval_s, speed_max, speed_min, type",
        "device 'press-1': 'type' is 'modbuss'; "
        "use one of: modbus_rtu, modbus_tcp, mqtt_json, opcua, serial, sim, sparkplug",
        "device 'press_plc': 'port' is 70000; use a whole number from 1 to 65535",
        "device 'press_plc': 'registers[0].type' is 'float'; "
        "use one of: int16, uint16, int32, uint32, float32",
        "device 'press_plc': 'registers[1].states.0' is 'runing', which is not a Tonle state; use one of: "
        "running, idle, starved, blocked, thread_break, needle_break, breakdown, maintenance, setup, "
        "planned_stop, offline",
        "device 'press_plc': 'commands[0].min' (5) is not below max (1); swap them",
        "'devices[3].name' is 'node_S01', the name of devices[0] too; give every device its own name",
        "device 'node_S01' (devices[3]): 'allowed_commands' names unknown actions: reboot; "
        "choose from set_speed, maintenance, andon, clear_andon",
    ]


def test_a_device_without_a_type_is_told_the_known_types(tmp_path: Path):
    assert _lines(tmp_path, '[[devices]]\nname = "x"\n') == [
        "device 'x': 'type' is missing; "
        "use one of: modbus_rtu, modbus_tcp, mqtt_json, opcua, serial, sim, sparkplug"
    ]


def test_machines_under_two_devices_and_an_empty_list_are_problems(tmp_path: Path):
    twice = SERIAL + SERIAL.replace("node_S01", "node_S01b").replace("ttyACM0", "ttyACM1")
    assert _lines(tmp_path, twice) == [
        "machine 'S01' is listed under more than one device; every machine needs its own name"
    ]
    assert _lines(tmp_path, "[agent]\nid = 'gw'\n") == [
        "'devices' is empty; add at least one [[devices]] section with a type"
    ]


def test_two_machines_whose_names_look_alike_are_a_problem_naming_both(tmp_path: Path):
    spoof = (
        SERIAL.replace("node_S01", "node_S01b")
        .replace("ttyACM0", "ttyACM1")
        .replace('"S01"', '"\u0405\u004f1"')
    )
    assert _lines(tmp_path, SERIAL + spoof) == [
        "device 'node_S01b': machine 'ЅO1' (U+0405 U+004F U+0031) looks like the existing machine "
        "'S01' (U+0053 U+0030 U+0031); use 'S01' itself if it is the same machine, or a name that reads "
        "differently"
    ]
    khmer = SERIAL.replace("node_S01", "node_k").replace("ttyACM0", "ttyACM1").replace('"S01"', '"ម៉ាស៊ីន១"')
    assert [d.machines() for d in _load(tmp_path, SERIAL + khmer).devices] == [["S01"], ["ម៉ាស៊ីន១"]]


def test_device_sections_become_their_registered_structs(tmp_path: Path):
    serial = SERIAL.replace('machine = "S01"', 'machine = "N01"')
    cfg = _load(tmp_path, serial + PRESS + '[[devices]]\ntype = "sim"\nstations = 2\nwearing_station = -1\n')
    assert [type(d) for d in cfg.devices] == [SerialDeviceConfig, ModbusTcpDeviceConfig, SimDeviceConfig]
    assert [d.machines() for d in cfg.devices] == [["N01"], ["FP1"], ["S01", "S02"]]
    sources = make_sources(cfg, VirtualClock(0))
    assert [s.name for s in sources] == ["node_S01", "press_plc", "sim-line"]


def test_the_shipped_example_configs_hold_every_device_type_but_sim(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("MQTT_PASSWORD", "x")
    cfg = load_gateway_config(EXAMPLES / "gateway-small-plant.toml")
    assert {type(d) for d in cfg.devices} == {
        SerialDeviceConfig,
        ModbusTcpDeviceConfig,
        ModbusRtuBusConfig,
        MqttJsonDeviceConfig,
    }


def test_check_config_names_every_problem_on_its_own_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "gateway.toml"
    path.write_text(BROKEN)
    assert main(["agent", "check-config", str(path)]) == 2
    out = capsys.readouterr().out.splitlines()
    assert (
        out[2] == f"{path}: device 'press-1': 'type' is 'modbuss'; use one of: "
        "modbus_rtu, modbus_tcp, mqtt_json, opcua, serial, sim, sparkplug"
    )
    assert out[-1] == f"{path}: 9 problems; fix them and check again"
    path.write_text(SERIAL)
    assert main(["agent", "check-config", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: OK\n"


def test_a_sim_line_whose_stations_clash_with_a_serial_machine_is_refused(tmp_path: Path):
    assert _lines(tmp_path, SERIAL + '[[devices]]\ntype = "sim"\nstations = 2\nwearing_station = -1\n') == [
        "machine 'S01' is listed under more than one device; every machine needs its own name"
    ]


def test_a_sim_device_without_the_simulator_installed_names_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    cfg = _load(tmp_path, '[[devices]]\ntype = "sim"\n')
    monkeypatch.setitem(sys.modules, "scipy", None)  # as on a gateway installed with tonle[edge] only
    assert _lines(tmp_path, '[[devices]]\ntype = "sim"\n') == [
        "device 'sim-line': type 'sim' needs scipy, which this install lacks; "
        "install it with: pip install 'tonle[sim]'"
    ]
    with pytest.raises(SourceUnavailable) as err:
        build_source(cfg.devices[0], VirtualClock(0), cfg.context())
    assert str(err.value) == (
        "type 'sim' needs scipy, which this install lacks; install it with: pip install 'tonle[sim]'"
    )
