"""The TLS keys of the Sparkplug and plain-MQTT device sections: files checked with the config,
a certificate only with its key, relative paths read from the config file's folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge_agent.config import load_gateway_config
from edge_agent.sources.mqtt_json_config import MqttJsonDeviceConfig
from edge_agent.sources.sparkplug_config import SparkplugSourceConfig
from tonle.app.cli import main
from tonle.config import ConfigError
from tonle.io.plant_broker import plant_tls

SPARKPLUG = """
[[devices]]
type = "sparkplug"
name = "scada"
host = "scada.plant.local"
port = 8883
username = "tonle-gw"
password_env = "SCADA_PASSWORD"
group = "Cutting"
host_id = "tonle-gw-1"
{tls}
[[devices.nodes]]
machine = "CUT1"
machine_type = "cutting_table"
edge_node = "EN1"
fields = {{ "Spindle/Speed" = "rpm" }}
"""
PLUGS = """
[[devices]]
type = "mqtt_json"
name = "plugs"
host = "iot.plant.local"
port = 8883
preset = "shelly_plus_plug_s"
machine_type = "energy_plug"
devices = {{ "shellyplugs-1" = "P1" }}
{tls}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text)
    return path


def _problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as err:
        load_gateway_config(_write(tmp_path, text))
    return [str(p) for p in err.value.problems]


def test_relative_tls_files_are_read_beside_the_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    for name in ("plant-ca.crt", "gw.crt", "gw.key"):
        (tmp_path / "certs").mkdir(exist_ok=True)
        (tmp_path / "certs" / name).write_text("-")
    monkeypatch.chdir("/")  # wherever the agent is started from
    tls = 'ca_file = "certs/plant-ca.crt"\ncert_file = "certs/gw.crt"\nkey_file = "certs/gw.key"'
    cfg = load_gateway_config(_write(tmp_path, SPARKPLUG.format(tls=tls) + PLUGS.format(tls=tls)))
    spb, plugs = cfg.devices
    assert isinstance(spb, SparkplugSourceConfig) and isinstance(plugs, MqttJsonDeviceConfig)
    for dev in (spb, plugs):
        files = plant_tls(dev)
        assert files is not None
        assert (files.ca, files.cert, files.key) == tuple(
            str(tmp_path / "certs" / n) for n in ("plant-ca.crt", "gw.crt", "gw.key")
        )


def test_no_ca_file_is_plain_mqtt(tmp_path: Path):
    cfg = load_gateway_config(_write(tmp_path, SPARKPLUG.format(tls="")))
    assert plant_tls(cfg.devices[0]) is None  # type: ignore[arg-type]


def test_missing_files_and_a_certificate_without_its_key_are_named_with_their_fix(tmp_path: Path):
    (tmp_path / "gw.crt").write_text("-")
    sparkplug = SPARKPLUG.format(tls='ca_file = "nowhere/ca.crt"\ncert_file = "gw.crt"')
    plugs = PLUGS.format(tls='key_file = "gw.key"')
    missing = tmp_path / "nowhere" / "ca.crt"
    assert _problems(tmp_path, sparkplug + plugs) == [
        f"device 'scada': 'ca_file' names {missing}, which does not exist or cannot be read; "
        "check the path; a relative path is read from the config file's folder",
        "device 'scada': 'key_file' is missing, but cert_file is set; "
        "a client certificate needs its key: set both cert_file and key_file, or neither",
        f"device 'plugs': 'key_file' names {tmp_path / 'gw.key'}, which does not exist or cannot be read; "
        "check the path; a relative path is read from the config file's folder",
        "device 'plugs': 'cert_file' is missing, but key_file is set; "
        "a client certificate needs its key: set both cert_file and key_file, or neither",
        "device 'plugs': 'ca_file' is missing, but a client certificate is set, "
        "and it is sent only over TLS; "
        "set ca_file to the CA certificate that signed the broker's certificate (TLS is on when it is set)",
    ]


def test_check_config_names_a_missing_ca_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = _write(tmp_path, PLUGS.format(tls='ca_file = "plant-ca.crt"'))
    assert main(["agent", "check-config", str(path)]) == 2
    out = capsys.readouterr().out
    assert f"device 'plugs': 'ca_file' names {tmp_path / 'plant-ca.crt'}, which does not exist" in out
    (tmp_path / "plant-ca.crt").write_text("-")
    assert main(["agent", "check-config", str(path)]) == 0
