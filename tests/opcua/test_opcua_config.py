"""`tonle agent check-config` on OPC UA sections: every mistake in plain words, in English and Khmer."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import load_gateway_config
from edge_agent.sources.opcua_checks import is_browse_path, is_node_id
from edge_agent.sources.opcua_config import OpcUaDeviceConfig
from tonle.app.cli import main
from tonle.messages import set_language

GOOD = """
[[devices]]
type = "opcua"
name = "pocket_setter_1"
endpoint = "opc.tcp://192.168.10.30:4840"
machine = "PS1"
machine_type = "pocket_setter"
nodes = [
  { field = "state_code", node = "ns=2;s=PS.State", role = "state", states = { 0 = "idle", 1 = "running" } },
  { field = "speed_ppm", path = "2:PocketSetter/2:Speed", sampling_interval_ms = 100, queue_size = 20 },
  { field = "current_a", node = "ns=2;i=1007", mode = "poll", poll_interval_s = 2.0 },
]
commands = [{ action = "set_speed", node = "ns=2;s=PS.SpeedSetpoint", min = 0, max = 40 }]
"""

BROKEN = """
[[devices]]
type = "opcua"
name = "pocket_setter_1"
endpoint = "192.168.10.30:4840"
machine = "PS1"
machine_type = "pocket_setter"
security_policy = "Basic128"
nodes = [
  { field = "speed_ppm", node = "ns=2,s=PS.Speed" },
  { field = "vib_rms", path = "PocketSetter//Vibration" },
  { field = "state_code", node = "ns=2;s=PS.State", role = "state", states = { 9 = "spinning" } },
]

[[devices]]
type = "opcua"
name = "cutting_table"
endpoint = ""
machine = "CT1"
machine_type = "cutting_table"
security_policy = "Basic256Sha256"
security_mode = "None"
username = "tech"
nodes = [{ field = "x", node = "i=2258", path = "0:Server" }]
"""


def test_a_good_section_loads_as_its_struct(tmp_path: Path) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(GOOD)
    (device,) = load_gateway_config(path).devices
    assert isinstance(device, OpcUaDeviceConfig)
    assert device.nodes[1].queue_size == 20 and device.nodes[2].mode == "poll"
    assert device.machines() == ["PS1"]


def test_node_ids_and_browse_paths_are_told_apart_from_typos() -> None:
    for good in (
        "i=2258",
        "ns=2;s=PS.Speed",
        "ns=3;i=1001",
        "nsu=urn:x;s=A",
        "g=09087e75-8e5e-499b-954f-f2a9603db28a",
    ):
        assert is_node_id(good), good
    for bad in ("ns=2,s=PS.Speed", "s=", "ns=x;i=1", "2:Speed", "ns=2;i=12a"):
        assert not is_node_id(bad), bad
    assert is_browse_path("2:PocketSetter/2:Speed") and is_browse_path("Server")
    assert not is_browse_path("PocketSetter//Vibration") and not is_browse_path("")


def test_check_config_names_every_opcua_mistake_with_its_fix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(BROKEN)
    assert main(["agent", "check-config", str(path)]) == 2
    out = [line.removeprefix(f"{path}: ") for line in capsys.readouterr().out.splitlines()]
    assert out[0] == (
        "device 'pocket_setter_1': 'security_policy' is 'Basic128'; use one of: None, Basic256Sha256"
    )
    path.write_text(BROKEN.replace('security_policy = "Basic128"\n', "", 1))
    assert main(["agent", "check-config", str(path)]) == 2
    out = [line.removeprefix(f"{path}: ") for line in capsys.readouterr().out.splitlines()]
    assert out == [
        "device 'pocket_setter_1': 'nodes[0].node' is 'ns=2,s=PS.Speed', which is not an OPC UA node id; "
        "write it as ns=INDEX;s=NAME or ns=INDEX;i=NUMBER, e.g. ns=2;s=PS1.Speed",
        "device 'pocket_setter_1': 'nodes[1].path' is 'PocketSetter//Vibration', which is not a browse path; "
        "write browse names from the Objects folder joined by '/', e.g. 2:PocketSetter/2:Speed",
        "device 'pocket_setter_1': 'nodes[2].states.9' is 'spinning', which is not a Tonle state; "
        "use one of: running, idle, starved, blocked, thread_break, needle_break, breakdown, maintenance, "
        "setup, planned_stop, offline",
        "device 'pocket_setter_1': 'endpoint' is '192.168.10.30:4840', not an OPC UA server address; "
        "write it as opc.tcp://HOST:PORT, e.g. opc.tcp://192.168.10.30:4840",
        "device 'cutting_table': 'nodes[0]': needs either 'node' (a node id) or 'path' (a browse path), not "
        'both and not neither; e.g. node = "ns=2;s=PS1.Speed" or path = "2:PocketSetter/2:Speed"',
        "device 'cutting_table': 'endpoint' is empty; write it as opc.tcp://HOST:PORT, "
        "e.g. opc.tcp://192.168.10.30:4840",
        "device 'cutting_table': 'security_mode' is 'None' but security_policy is 'Basic256Sha256': "
        'they go together; use security_policy = "None" with security_mode = "None", or "Basic256Sha256" '
        'with "Sign" or "SignAndEncrypt"',
        "device 'cutting_table': 'certificate' is missing; a signed or encrypted link needs the "
        "gateway's certificate and key files",
        "device 'cutting_table': 'private_key' is missing; a signed or encrypted link needs the "
        "gateway's certificate and key files",
        "device 'cutting_table': 'password_env' is missing; a password login needs both username "
        "and password_env (the variable with the password)",
        "10 problems; fix them and check again",
    ]


def test_check_config_words_opcua_problems_in_khmer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(BROKEN.replace('security_policy = "Basic128"\n', "", 1))
    try:
        assert main(["--lang", "km", "agent", "check-config", str(path)]) == 2
    finally:
        set_language("en")
    out = capsys.readouterr().out.splitlines()
    node = next(line for line in out if "'nodes[0].node'" in line)
    assert "ns=2,s=PS.Speed" in node and "not an OPC UA node id" not in node
    assert any("\u1780" <= ch <= "\u17ff" for ch in node.split("'nodes[0].node'", 1)[1])


def test_the_worked_example_of_docs_opcua_md_passes_check_config(tmp_path: Path) -> None:
    import re

    doc = (Path(__file__).resolve().parents[2] / "docs" / "opcua.md").read_text()
    example = re.search(r"```toml\n(.*?)```", doc, re.S)
    assert example, "docs/opcua.md has no toml example"
    path = tmp_path / "gateway.toml"
    path.write_text(example.group(1))
    (device,) = load_gateway_config(path).devices
    assert isinstance(device, OpcUaDeviceConfig) and device.security_mode == "SignAndEncrypt"
    assert [n.role for n in device.nodes][:3] == ["state", "count_total", "count_good"]
