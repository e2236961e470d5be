"""`tonle check-config`: every problem of a file in one run, each a plain sentence with its fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from tonle.app.cli import main
from tonle.config import ConfigError, Problem, load_config, parse_config
from tonle.errors import TonleError

BROKEN = """
[mqtt]
hots = "10.0.0.5"
port = "1883"

[influxdb]
api = "v3"
timeout_s = 0

[collector]
batch_points = 2_000_000

[analytics]
interval_s = -1

[analytics.rules]
derate_below = 0.8
derate_clear_above = 0.7

[analytics.pdm.machine_types.zigzag]
shaft_rpm = 3000
bearing = "6203"
band_hz = [3000.0, 2000.0]

[analytics.shifts]
workdays = [0, 3]

[analytics.lines.L1]
sam_min = { hem = 0 }

[agent]
speed_min = 0.9
speed_max = 0.5
"""


def _problems(text: str, env: dict[str, str] | None = None) -> list[Problem]:
    import tomllib

    with pytest.raises(ConfigError) as err:
        parse_config(tomllib.loads(text), env=env or {}, source="tonle.toml")
    return err.value.problems


def test_every_problem_of_a_file_is_reported_in_one_run():
    keys = [p.key for p in _problems(BROKEN)]
    assert keys == [
        "mqtt.hots",
        "mqtt.port",
        "influxdb.timeout_s",
        "influxdb.api",
        "collector.batch_points",
        "analytics.interval_s",
        "analytics.rules.derate_clear_above",
        "analytics.pdm.machine_types.zigzag",
        "analytics.lines.L1.sam_min.hem",
        "analytics.shifts.workdays[0]",
        "agent.speed_min",
    ]


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('[influxdb]\napi = "v3"', "'influxdb.api' is 'v3'; use one of: v1, v2"),
        ("[mqtt]\nport = 0", "'mqtt.port' is 0; use a whole number from 1 to 65535"),
        ('[mqtt]\nport = "1883"', "'mqtt.port' is '1883' (text); it must be a whole number"),
        ("[influxdb]\ngzip = 1", "'influxdb.gzip' is 1 (a number); it must be true or false"),
        ("[analytics]\nwindow_s = 0", "'analytics.window_s' is 0; use a number above 0"),
        (
            "[mqtt]\nhots = 1",
            "'mqtt.hots' is not a known key; did you mean 'host'? allowed here: ca_file, cert_file,",
        ),
        ("[mqt]\nhost = 1", "'mqt' is not a known key; did you mean 'mqtt'? allowed here: agent, analytics,"),
        ("mqtt = 3", "'mqtt' is 3; it must be a [mqtt] section with keys"),
        (
            "[analytics.shifts]\nshifts = [{ name = 'A', start = '06:00' }]",
            "'analytics.shifts.shifts[0].end' is missing; add it; it takes text in quotes",
        ),
        (
            "[analytics.rules]\nmaintenance_below = 0.9",
            "'analytics.rules.maintenance_clear_above' is 0.8, not above maintenance_below (0.9); "
            "raise maintenance_clear_above: the gap between the two is the hysteresis",
        ),
        (
            "[agent]\nspeed_min = 0.9\nspeed_max = 0.5",
            "'agent.speed_min' (0.9) is above speed_max (0.5); swap them",
        ),
    ],
)
def test_msgspec_messages_become_plain_sentences_with_the_allowed_values(section: str, message: str):
    (problem,) = _problems(section)
    assert str(problem).startswith(message), str(problem)


def test_a_config_error_is_a_tonle_error_with_one_problem_a_line():
    with pytest.raises(ConfigError) as err:
        parse_config({"mqtt": {"port": 0, "host": 5}}, env={}, source="plant.toml")
    exc = err.value
    assert isinstance(exc, TonleError) and isinstance(exc, ValueError)
    assert str(exc).splitlines() == [
        "plant.toml: 'mqtt.host' is 5 (a number); it must be text in quotes (\"...\")",
        "plant.toml: 'mqtt.port' is 0; use a whole number from 1 to 65535",
    ]
    assert all(p.fix for p in exc.problems)  # every problem says what to do


def test_an_environment_variable_naming_no_key_is_reported_with_the_file_problems():
    problems = _problems("[mqtt]\nport = 0", env={"TONLE_MQTT_HOTS": "x"})
    assert [str(p) for p in problems] == [
        "environment variable TONLE_MQTT_HOTS sets unknown key 'mqtt.hots'; "
        "allowed: ca_file, cert_file, client_id, host, key_file, password_env, port, tls, username",
        "'mqtt.port' is 0; use a whole number from 1 to 65535",
    ]


def test_a_good_file_still_loads_with_its_defaults_and_overrides(tmp_path: Path):
    path = tmp_path / "tonle.toml"
    path.write_text('[mqtt]\nhost = "10.0.0.5"\n[analytics.rules]\nderate_below = 0.5\n')
    cfg = load_config(path, env={"TONLE_MQTT_PORT": "1884"})
    assert (cfg.mqtt.host, cfg.mqtt.port, cfg.analytics.rules.derate_below) == ("10.0.0.5", 1884, 0.5)
    assert cfg.analytics.pdm.machine_types["overlock"].shaft_rpm == 6000.0


def test_check_config_prints_every_problem_and_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "tonle.toml"
    path.write_text(BROKEN)
    assert main(["check-config", str(path)]) == 2
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 12 and all(line.startswith(f"{path}: ") for line in out)
    assert out[-1] == f"{path}: 11 problems; fix them and check again"
    path.write_text('[mqtt]\nhost = "10.0.0.5"\n')
    assert main(["check-config", str(path)]) == 0
    assert capsys.readouterr().out == f"{path}: OK\n"


def test_a_missing_file_and_bad_toml_are_one_problem_each(tmp_path: Path):
    with pytest.raises(ConfigError, match="does not exist; check the path"):
        load_config(tmp_path / "nope.toml")
    (tmp_path / "bad.toml").write_text("[mqtt\nhost = 1\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_config(tmp_path / "bad.toml")
