"""The Sparkplug B codec, the source's config checks and the docs' worked example (no broker needed)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from edge_agent.sources.sparkplug_config import SparkplugSourceConfig
from edge_agent.sources.sparkplug_host import SparkplugHost
from firmware_sim.sparkplug_node import CUTTER_METRICS, SparkplugEdgeNode
from tonle.config.check import check_value
from tonle.protocols.sparkplug import (
    DataType,
    Metric,
    SparkplugError,
    Topic,
    command_value,
    decode_payload,
    decode_state,
    encode_command,
    encode_payload,
    encode_state,
    is_rebirth_request,
    parse_topic,
    rebirth_request,
)
from tonle.protocols.sparkplug_schema import Payload
from tonle.sources.base import Count, Sample, StateChange


def test_every_scalar_datatype_survives_a_round_trip_with_signs_and_nulls():
    metrics = [
        Metric("i8", 1, DataType.Int8, -128),
        Metric("i16", 2, DataType.Int16, -2),
        Metric("i32", 3, DataType.Int32, -2_000_000_000),
        Metric("i64", 4, DataType.Int64, -(2**62)),
        Metric("u32", 5, DataType.UInt32, 4_000_000_000),
        Metric("u64", 6, DataType.UInt64, 2**63 + 5),
        Metric("f", 7, DataType.Float, 1.5),
        Metric("d", 8, DataType.Double, 0.1),
        Metric("b", 9, DataType.Boolean, True),
        Metric("s", 10, DataType.String, "ស្ថានភាព"),
        Metric("n", 11, DataType.Double, None),
        Metric("t", 12, DataType.DateTime, 1_780_000_000_000, timestamp_ms=1_780_000_000_001),
    ]
    decoded = decode_payload(encode_payload(metrics, seq=7, timestamp_ms=1_780_000_000_000))
    assert decoded.seq == 7 and decoded.timestamp_ms == 1_780_000_000_000
    assert list(decoded.metrics) == [
        Metric(m.name, m.alias, int(m.datatype), m.value, m.timestamp_ms) for m in metrics
    ]


def test_signed_ints_are_twos_complement_in_the_unsigned_fields_as_the_spec_says():
    raw = Payload()
    raw.ParseFromString(encode_payload([Metric("x", None, DataType.Int16, -1)], seq=0, timestamp_ms=1))
    assert raw.metrics[0].int_value == 2**32 - 1
    assert decode_payload(raw.SerializeToString()).metrics[0].value == -1


def test_a_payload_that_is_not_protobuf_is_refused_with_a_reason():
    with pytest.raises(SparkplugError) as info:
        decode_payload(b"\xff\xff\xff\xff")
    assert info.value.data["reason"] == "not_protobuf"


def test_topics_parse_and_print_and_foreign_ones_are_refused():
    t = parse_topic("spBv1.0/Plant1/DDATA/EN1/Cutter1")
    assert t == Topic("Plant1", "DDATA", "EN1", "Cutter1") and str(t) == "spBv1.0/Plant1/DDATA/EN1/Cutter1"
    assert parse_topic("spBv1.0/Plant1/NBIRTH/EN1").device == ""
    for bad in ("spAv1.0/G/NDATA/N", "spBv1.0/G/NOPE/N", "spBv1.0/STATE/host", "tonle/a/b/c/d/e"):
        with pytest.raises(SparkplugError):
            parse_topic(bad)


def test_state_and_rebirth_messages():
    assert decode_state(encode_state(True, 123)) == (True, 123)
    assert encode_state(False, 5) == b'{"online":false,"timestamp":5}'
    assert is_rebirth_request(decode_payload(rebirth_request(1)))
    assert not is_rebirth_request(decode_payload(encode_payload([], seq=0, timestamp_ms=1)))


def test_a_command_value_takes_the_datatype_the_birth_declared():
    assert command_value(DataType.Float, 900) == 900.0 and isinstance(
        command_value(DataType.Double, 1), float
    )
    assert command_value(DataType.Int32, 899.6) == 900 and command_value(DataType.Int16, -3.2) == -3
    assert command_value(DataType.Boolean, 1.0) is True and command_value(DataType.Boolean, 0) is False
    for datatype, value in [(DataType.String, 1.0), (DataType.UInt8, 256), (DataType.UInt16, -1), (99, 1)]:
        with pytest.raises(SparkplugError) as err:
            command_value(datatype, value)
        assert err.value.data["reason"] == "not_writable"
    with pytest.raises(SparkplugError, match=r"300 does not fit the metric's datatype UInt8 \(0\.\.255\)"):
        command_value(DataType.UInt8, 300)
    cmd = decode_payload(encode_command([Metric("Spindle/SpeedSetpoint", 6, DataType.Float, 900.0)], 123))
    assert (cmd.seq, cmd.timestamp_ms) == (None, 123)  # Sparkplug 3.0: NCMD/DCMD carry no seq
    assert cmd.metrics == (Metric("Spindle/SpeedSetpoint", 6, DataType.Float, 900.0),)


def _check(data: dict) -> list[str]:
    _cfg, problems = check_value(data, SparkplugSourceConfig, key="devices[0]")
    return [str(p) for p in problems]


GOOD = {
    "type": "sparkplug", "name": "spb", "group": "Plant1", "host_id": "tonle-gw1",
    "nodes": [{"machine": "CUT1", "machine_type": "cutting_table", "edge_node": "EN1", "device": "Cutter1",
               "fields": {"Spindle/Speed": "spindle_rpm"}, "state": "Status/Mode",
               "states": {"0": "idle", "1": "running"}, "count_total": "Production/Total"}],
}  # fmt: skip


def test_a_good_config_has_no_problems():
    assert _check(GOOD) == []


def test_config_mistakes_are_named_with_their_key_and_fix():
    node = GOOD["nodes"][0]
    bad = {
        **GOOD, "group": "Plant/1",
        "nodes": [
            {**node, "states": {"0": "sleeping"}, "count_good": "Production/Total", "count_total": ""},
            {**node, "fields": {}, "state": "", "states": {}, "count_total": ""},
        ],
    }  # fmt: skip
    problems = "\n".join(_check(bad))
    assert "'devices[0].group' is 'Plant/1', but a Sparkplug id cannot hold /, + or #" in problems
    assert "'devices[0].nodes[0].states.0' is 'sleeping', which is not a Tonle machine state" in problems
    assert "count_good' is set without count_total" in problems
    assert "'devices[0].nodes[1].machine' is 'CUT1', the machine of nodes[0] too" in problems
    assert "maps EN1/Cutter1 again, like nodes[0]" in problems
    assert "'devices[0].nodes[1].fields' maps no metric of EN1 to this machine" in problems


def test_command_mistakes_are_named_with_their_key_and_fix():
    good = {"action": "set_speed", "metric": "Spindle/SpeedSetpoint", "min": 0.5, "max": 1.0}
    assert _check({**GOOD, "nodes": [{**GOOD["nodes"][0], "commands": [good]}]}) == []
    commands = [
        {**good, "action": "set_sped", "scale": 0},
        {**good, "metric": " Spindle/SpeedSetpoint", "min": 2.0},
        {**good, "metric": ""},
        {**good, "metric": "Node Control/Rebirth"},
    ]
    problems = "\n".join(_check({**GOOD, "nodes": [{**GOOD["nodes"][0], "commands": commands}]}))
    where = "'devices[0].nodes[0].commands"
    assert (
        f"{where}[0].action' is 'set_sped', which is not a command Tonle sends; use one of: set_speed,"
        in problems
    )
    assert f"{where}[0].scale' is 0; use a scale other than 0 (metric value = value / scale)" in problems
    assert f"{where}[1].metric' is ' Spindle/SpeedSetpoint', with spaces at its ends" in problems
    assert f"{where}[1].min' (2) is not below max (1); swap them" in problems
    assert (
        f"{where}[2].metric' is empty; name the metric exactly as the edge node's birth declares it"
        in problems
    )
    assert f"{where}[3].metric' is 'Node Control/Rebirth', one of Sparkplug's own control metrics" in problems
    assert f"{where}[2].action' is 'set_speed', already configured in commands[1]" in problems
    assert len(problems.splitlines()) == 8, problems  # commands[3] repeats the action too


def _toml_blocks() -> list[str]:
    text = (Path(__file__).resolve().parents[2] / "docs" / "sparkplug.md").read_text(encoding="utf-8")
    return re.findall(r"```toml\n(.*?)```", text, flags=re.S)


def test_the_commands_example_in_the_docs_passes_the_checks():
    _worked, block, _security = _toml_blocks()
    (section,) = tomllib.loads(block)["devices"]
    cfg, problems = check_value(section, SparkplugSourceConfig, key="devices[0]")
    assert problems == [] and isinstance(cfg, SparkplugSourceConfig)
    (cmd,) = cfg.nodes[0].commands
    assert (cmd.action, cmd.metric, cmd.min, cmd.max, cmd.readback) == (
        "set_speed", "Spindle/SpeedSetpoint", 0.5, 1.0, True)  # fmt: skip
    assert 0.75 / cmd.scale == pytest.approx(900.0)  # the cutter's rpm for 75 %


def test_the_worked_example_in_the_docs_reads_as_the_docs_say():
    block, _commands, _security = _toml_blocks()
    (section,) = tomllib.loads(block)["devices"]
    cfg, problems = check_value(section, SparkplugSourceConfig, key="devices[0]")
    assert problems == [] and isinstance(cfg, SparkplugSourceConfig)
    host, now = SparkplugHost(cfg), 1_780_000_000_000_000_000
    node = SparkplugEdgeNode("127.0.0.1", 1, "Plant1", "EN1")  # its metric table; never connected
    born = [Metric(n, *node.aliases[("Cutter1", n)], node.values[("Cutter1", n)]) for n in CUTTER_METRICS]
    messages = [
        ("NBIRTH/EN1", [Metric("bdSeq", None, DataType.UInt64, 0)], 0),
        ("DBIRTH/EN1/Cutter1", born, 1),
        ("DDATA/EN1/Cutter1", [Metric("", 1, DataType.Float, 1200.0), Metric("", 3, DataType.Int32, 1)], 2),
    ]
    readings = []
    for topic, metrics, seq in messages:
        data = encode_payload(metrics, seq=seq, timestamp_ms=now // 1_000_000 + seq)
        result = host.handle(f"spBv1.0/Plant1/{topic}", data, now)
        assert result.refused == [] and result.rebirth is None
        readings += result.readings
    assert [r.fields for r in readings if isinstance(r, Sample)] == [
        {"spindle_rpm": 0.0, "spindle_temp_c": 31.5}, {"spindle_rpm": 1200.0}]  # fmt: skip
    assert [(r.state, r.reason) for r in readings if isinstance(r, StateChange)] == [
        ("idle", "Status/Mode=0"), ("running", "Status/Mode=1")]  # fmt: skip
    assert [(r.total, r.good) for r in readings if isinstance(r, Count)] == [(0, 0)]
    death = encode_payload([Metric("bdSeq", None, DataType.UInt64, 0)], seq=None, timestamp_ms=1)
    (offline,) = host.handle("spBv1.0/Plant1/NDEATH/EN1", death, now).readings
    assert isinstance(offline, StateChange) and offline.state == "offline"


def test_a_machine_without_a_state_metric_is_not_marked_offline():
    meter = {
        "machine": "EM2",
        "machine_type": "energy_meter",
        "edge_node": "EN9",
        "fields": {"Power": "power_kw"},
    }
    cfg, problems = check_value({**GOOD, "nodes": [meter]}, SparkplugSourceConfig)
    assert problems == [] and isinstance(cfg, SparkplugSourceConfig)
    host, now = SparkplugHost(cfg), 1_780_000_000_000_000_000
    birth = encode_payload([Metric("Power", 1, DataType.Double, 2.5)], seq=0, timestamp_ms=1)
    assert [r.fields for r in host.handle("spBv1.0/Plant1/NBIRTH/EN9", birth, now).readings] == [
        {"power_kw": 2.5}
    ]
    death = encode_payload([], seq=None, timestamp_ms=2)
    assert host.handle("spBv1.0/Plant1/NDEATH/EN9", death, now).readings == []
    assert host.counts["deaths"] == 1


def test_the_security_example_in_the_docs_passes_check_config(tmp_path: Path):
    from edge_agent.config import load_gateway_config
    from tonle.io.plant_broker import plant_tls

    _worked, _commands, block = _toml_blocks()
    (tmp_path / "gateway.toml").write_text(block)
    (tmp_path / "scada-ca.crt").write_text("-")  # the broker's CA, copied next to the config
    (cfg,) = load_gateway_config(tmp_path / "gateway.toml").devices
    assert isinstance(cfg, SparkplugSourceConfig)
    tls = plant_tls(cfg)
    assert tls is not None and tls.ca == str(tmp_path / "scada-ca.crt")
    assert (cfg.username, cfg.password_env) == ("tonle-gw-hall-1", "SCADA_MQTT_PASSWORD")
