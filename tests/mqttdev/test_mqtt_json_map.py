"""The mapping of one device message, and the checks of a `mqtt_json` section, without a broker."""

from __future__ import annotations

import msgspec
import pytest

from edge_agent.sources.mqtt_json_config import MessageMap, MqttJsonDeviceConfig
from edge_agent.sources.mqtt_json_map import Refused, lookup, map_message
from edge_agent.sources.mqtt_json_presets import PRESETS, preset_messages
from firmware_sim.mqtt_devices import TasmotaPlugSim
from tonle.config.check import check_value
from tonle.messages import using_language

T = 1_790_000_000
ARRIVAL = T * 10**9


def _map(**kw: object) -> MessageMap:
    base: dict[str, object] = {"topic": "+/x", "fields": [{"field": "power_w", "path": "p"}]}
    return msgspec.convert(base | kw, MessageMap)


def test_a_dotted_path_reads_nested_objects_lists_and_keys_with_colons() -> None:
    doc = {"params": {"switch:0": {"aenergy": {"total": 5.5}}}, "l": [1, {"x": 2}]}
    assert lookup(doc, "params.switch:0.aenergy.total") == 5.5
    assert lookup(doc, "l.1.x") == 2
    assert lookup(doc, "params.nothing") is None and lookup(doc, "l.9") is None


def test_every_preset_is_a_valid_mapping() -> None:
    for name in PRESETS:
        for m in preset_messages(name):
            assert m.problems() == [], name


def test_scale_turns_tasmota_kwh_into_wh_and_a_zoneless_time_uses_the_device_offset() -> None:
    sim = TasmotaPlugSim("plug_c", tz_offset_min=420)
    (_topic, payload), _state = sim.step(T)
    m = msgspec.structs.replace(preset_messages("tasmota_energy")[0], tz_offset_min=420)
    got = map_message(m, payload, ARRIVAL)
    assert got is not None
    assert got.ts_ns == ARRIVAL  # 7 h ahead on the device's clock, UTC in Tonle
    assert got.fields["energy_wh"] == pytest.approx(12345.0)
    assert got.fields["power_w"] == msgspec.json.decode(payload)["ENERGY"]["Power"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", "bad_json"),
        (b"[1, 2]", "bad_json"),
        (b'{"p": "lots"}', "not_number"),
        (b'{"p": [1]}', "not_number"),
    ],
)
def test_an_odd_payload_is_refused_with_a_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(Refused) as caught:
        map_message(_map(), payload, ARRIVAL)
    assert caught.value.reason == reason
    assert str(caught.value)  # a sentence, not a traceback


def test_a_device_clock_far_from_the_gateways_is_refused_in_plain_words() -> None:
    m = _map(ts_path="t", ts_format="epoch_s")
    with pytest.raises(Refused) as caught:
        map_message(m, b'{"p": 1, "t": 5}', ARRIVAL)  # a plug without NTP thinks it is 1970
    assert caught.value.reason == "clock_skew"
    assert "NTP" in str(caught.value) and "1970-01-01" in str(caught.value)
    with using_language("km"):
        assert "NTP" in str(caught.value) and "1970" in str(caught.value)


def test_epoch_ms_and_iso_with_a_zone_are_read_as_given() -> None:
    ms = map_message(
        _map(ts_path="t", ts_format="epoch_ms"), b'{"p": 1, "t": %d}' % (T * 1000 + 250), ARRIVAL
    )
    iso = map_message(
        _map(ts_path="t", ts_format="iso"), b'{"p": 1, "t": "2026-09-21T21:13:20+07:00"}', ARRIVAL
    )
    assert ms is not None and ms.ts_ns == ARRIVAL + 250_000_000
    assert iso is not None and iso.ts_ns == ARRIVAL


def test_a_message_without_any_mapped_value_maps_to_nothing_and_null_is_skipped() -> None:
    assert map_message(_map(), b'{"wifi": {"rssi": -60}}', ARRIVAL) is None
    assert map_message(_map(), b'{"p": null}', ARRIVAL) is None


def _check(section: dict[str, object]) -> list[str]:
    _cfg, problems = check_value(section, MqttJsonDeviceConfig, key="devices[0]")
    return [str(p) for p in problems]


def test_check_config_names_each_mistake_with_its_fix() -> None:
    problems = _check(
        {
            "type": "mqtt_json",
            "name": "plugs",
            "preset": "shelly_plug",
            "machine_type": "energy_plug",
            "devices": {"a": "press_1", "b": "press_1"},
            "messages": [
                {
                    "topic": "tele/#",
                    "device_level": 4,
                    "ts_format": "iso",
                    "fields": [{"field": "w", "path": "P", "scale": 0}, {"field": "w", "path": "Q"}],
                }
            ],
        }
    )
    text = "\n".join(problems)
    assert "'shelly_plug', which is not a shipped mapping" in text and "shelly_plus_plug_s" in text
    assert "the machine of device 'a' too" in text
    assert "uses '#'" in text and "only 2 levels" in text
    assert "ts_path' is missing" in text
    assert "scale' is 0" in text and "the field of fields[0] too" in text


def test_a_section_with_neither_preset_nor_messages_is_refused() -> None:
    problems = _check({"type": "mqtt_json", "name": "p", "machine_type": "plug", "devices": {}})
    assert any("name a preset" in p for p in problems) and any(
        "'devices[0].devices' is empty" in p for p in problems
    )


def test_the_worked_examples_of_docs_mqtt_devices_pass_check_config(tmp_path, monkeypatch) -> None:
    import re
    import tomllib
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "mqtt-devices.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    sections = [d for block in blocks for d in tomllib.loads(block)["devices"]]
    assert len(sections) == 5  # the worked example's four, and the Security section's one
    monkeypatch.chdir(tmp_path)
    (tmp_path / "plant-iot-ca.crt").write_text("-")  # the Security example's CA, next to the config
    for i, section in enumerate(sections):
        assert _check(section) == [], f"docs/mqtt-devices.md example {i}"


BAD_GATEWAY = """
[[devices]]
type = "mqtt_json"
name = "plugs"
preset = "shelly_plug"
machine_type = "heat_press"
devices = { "shellyplusplugs-a1" = "press_1" }
"""


def test_tonle_agent_check_config_words_a_mapping_problem_in_english_and_khmer(tmp_path, capsys) -> None:
    from tonle.app.cli import main

    path = tmp_path / "gateway.toml"
    path.write_text(BAD_GATEWAY)
    assert main(["agent", "check-config", str(path)]) == 2
    english = capsys.readouterr().out
    assert "device 'plugs': 'preset' is 'shelly_plug', which is not a shipped mapping; use one of:" in english
    assert main(["--lang", "km", "agent", "check-config", str(path)]) == 2
    khmer = capsys.readouterr().out
    assert "ដែលមិនមែនជាការផ្គូផ្គងដែលភ្ជាប់មកជាមួយទេ" in khmer and "shelly_plus_plug_s" in khmer
    path.write_text(BAD_GATEWAY.replace('"shelly_plug"', '"shelly_plus_plug_s"'))
    assert main(["--lang", "en", "agent", "check-config", str(path)]) == 0
