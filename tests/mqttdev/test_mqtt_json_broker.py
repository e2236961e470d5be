"""Shelly and Tasmota simulators publish through a real mosquitto; the gateway maps them into its spool."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path

import msgspec

from collector.completeness import missing_in_range
from edge_agent.agent import Agent
from edge_agent.sources.mqtt_json import MqttJsonSource
from edge_agent.sources.mqtt_json_config import MqttJsonDeviceConfig
from firmware_sim.mqtt_devices import ShellyPlugSim, ShellyPro3EMSim, TasmotaPlugSim, publish
from tests.helpers import config_for, wait_for
from tonle.io.clock import WallClock
from tonle.io.mqtt import MqttConnection
from tonle.io.spool import Spool

T0 = 1_790_000_000.0  # the simulators' clock; the gateway's is the wall clock (see below)

Message = tuple[str, bytes]


def _device_cfg(name: str, preset: str, devices: dict[str, str], **extra: object) -> MqttJsonDeviceConfig:
    data = {"type": "mqtt_json", "name": name, "preset": preset, "machine_type": "energy_plug"}
    return msgspec.convert(data | {"devices": devices, "session_expiry_s": 0} | extra, MqttJsonDeviceConfig)


def _spooled(spool: Spool) -> list[tuple[str, dict]]:
    return [(topic, msgspec.json.decode(payload)) for _id, topic, payload in spool.peek(0, 10_000)]


async def _through_broker(
    broker,
    influxdb,
    name: str,
    tmp_path: Path,
    dev: MqttJsonDeviceConfig,
    messages: list[Message],
    then: Callable[[MqttJsonSource, Agent], Awaitable[None]] | None = None,
) -> tuple[MqttJsonSource, Spool]:
    """Run the source on the broker, publish `messages` as the devices would, flush the agent's spool."""
    cfg = config_for(broker, influxdb, name)
    dev = msgspec.structs.replace(dev, port=broker.port)
    source = MqttJsonSource(dev, WallClock(), client_id=f"dev-{name}")
    spool = Spool(tmp_path / "spool.sqlite", 2**26)
    agent = Agent(cfg.mqtt, cfg.agent, [source], WallClock(), spool)
    task = asyncio.create_task(source.run(agent.sink))
    try:
        await wait_for(lambda: _ready(source), bool, "the source's subscriptions")
        async with MqttConnection("127.0.0.1", broker.port, f"sim-{name}") as pub:
            await pub.wait_connected()
            await publish(pub, messages)
        h = source.health
        await wait_for(
            _value(lambda: h.reads + h.skipped + sum(h.refused.values())),
            lambda n: n >= len(messages),
            "every message handled",
        )
        await agent.flush()
        if then is not None:
            await then(source, agent)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return source, spool


async def _ready(source: MqttJsonSource) -> bool:
    conn = source._conn
    return conn is not None and conn.connected.is_set() and conn.subscribed.is_set()


def _value(f: Callable[[], int]) -> Callable[[], Awaitable[int]]:
    async def probe() -> int:
        return f()

    return probe


def test_a_shelly_plus_plug_s_reaches_the_spool_as_telemetry_of_its_machine(
    broker, influxdb, unique_name, tmp_path
):
    device = f"shellyplusplugs-{unique_name}"
    sim = ShellyPlugSim(device)
    now = WallClock().now_ns() / 1e9  # NotifyStatus carries the device's time: keep it near the gateway's
    messages = [*sim.step(now), *sim.step(now + 10, notify=True), *sim.step(now + 20, notify=True)]
    dev = _device_cfg("plugs", "shelly_plus_plug_s", {device: "press_1"})
    source, spool = asyncio.run(_through_broker(broker, influxdb, unique_name, tmp_path, dev, messages))
    (topic, msg), *rest = _spooled(spool)
    assert rest == [] and topic.endswith("/press_1/telemetry")
    sent = [msgspec.json.decode(p) for _t, p in messages]
    assert msg["fields"]["power_w"] == [
        sent[0]["apower"],
        sent[1]["params"]["switch:0"]["apower"],
        sent[2]["params"]["switch:0"]["apower"],
    ]
    assert msg["fields"]["energy_wh"][2] == sent[2]["params"]["switch:0"]["aenergy"]["total"]
    for i, ts in enumerate(msg["ts"][1:], start=1):  # the device's own time (to its 10 ms), not the arrival's
        assert abs(ts - (now + 10 * i) * 1e9) < 10**7
    assert msg["seq"] == 0 and source.health.reads == 3 and source.health.read_errors == 0


def test_a_shelly_pro_3em_and_a_tasmota_plug_map_every_documented_value(
    broker, influxdb, unique_name, tmp_path
):
    em_id, plug = f"shellypro3em-{unique_name}", f"tasmota_{unique_name}"
    em, tas = ShellyPro3EMSim(em_id), TasmotaPlugSim(plug, tz_offset_min=420)
    now = WallClock().now_ns() / 1e9
    messages = [*em.step(T0), *em.step(T0 + 60)]
    dev = _device_cfg("meters", "shelly_pro_3em", {em_id: "cutting_hall"})
    _src, spool = asyncio.run(_through_broker(broker, influxdb, unique_name, tmp_path / "em", dev, messages))
    stored = {tuple(sorted(m["fields"])): m for _t, m in _spooled(spool)}
    phases = next(m for k, m in stored.items() if "phase_b_power_w" in k)
    totals = next(m for k, m in stored.items() if "energy_wh" in k)
    first_em = msgspec.json.decode(messages[0][1])
    assert phases["fields"]["phase_b_power_w"][0] == first_em["b_act_power"]
    assert phases["fields"]["phase_c_voltage_v"][0] == first_em["c_voltage"]
    assert phases["fields"]["power_w"][0] == first_em["total_act_power"]
    assert totals["fields"]["energy_wh"] == [msgspec.json.decode(messages[i][1])["total_act"] for i in (1, 3)]

    tmessages = [*tas.step(now), *tas.step(now + 10)]
    tdev = _device_cfg("tas", "tasmota_energy", {plug: "packing_1"}, tz_offset_min=420)
    _src, tspool = asyncio.run(
        _through_broker(broker, influxdb, unique_name + "t", tmp_path / "tas", tdev, tmessages)
    )
    sensor = next(m for _t, m in _spooled(tspool) if "energy_wh" in m["fields"])
    first = msgspec.json.decode(tmessages[0][1])["ENERGY"]
    assert sensor["fields"]["energy_wh"][0] == round(first["Total"] * 1000, 6)  # kWh on the wire, Wh stored
    assert sensor["fields"]["power_w"][0] == first["Power"]
    assert (
        abs(sensor["ts"][0] - int(now) * 10**9) < 10**9
    )  # local time +07:00 read back to UTC, to the second


def test_a_bad_payload_is_counted_and_refused_and_the_good_around_it_is_kept(
    broker, influxdb, unique_name, tmp_path
):
    device = f"shellyplusplugs-{unique_name}"
    sim = ShellyPlugSim(device)
    now = WallClock().now_ns() / 1e9
    good = [*sim.step(now), *sim.step(now + 1)]
    status = f"{device}/status/switch:0"
    odd = [
        (status, b"\x00garbage"),
        (status, b'{"apower": "n/a"}'),
        (
            f"{device}/events/rpc",
            b'{"method": "NotifyStatus", "params": {"ts": 12, "switch:0": {"apower": 3}}}',
        ),
        (f"{device}/events/rpc", b'{"method": "NotifyStatus", "params": {"ts": 1, "wifi": {"rssi": -60}}}'),
        (f"stranger-{unique_name}/status/switch:0", good[0][1]),
    ]
    messages = [good[0], *odd, good[1]]
    dev = _device_cfg("plugs", "shelly_plus_plug_s", {device: "press_1"})
    source, spool = asyncio.run(_through_broker(broker, influxdb, unique_name, tmp_path, dev, messages))
    h = source.health
    assert dict(h.refused) == {"bad_json": 1, "not_number": 1, "clock_skew": 1, "unknown_device": 1}
    assert h.skipped == 1 and h.reads == 2 and h.read_errors == 4
    assert "stranger-" in h.last_error or "refused" in h.last_error
    ((_topic, msg),) = _spooled(spool)
    assert len(msg["ts"]) == 2  # both good readings, nothing of the bad ones


def test_a_device_counter_shows_messages_lost_before_the_gateway_and_the_gateway_numbers_each_machine(
    broker, influxdb, unique_name, tmp_path
):
    a, b = f"node-a-{unique_name}", f"node-b-{unique_name}"
    messages = [(f"boards/{a}/data", b'{"n": %d, "w": %d}' % (n, 10 + n)) for n in (0, 1, 2, 5, 6)]
    messages += [(f"boards/{b}/data", b'{"n": %d, "w": 1}' % n) for n in range(3)]
    custom = [
        {
            "topic": "boards/+/data",
            "device_level": 1,
            "seq_path": "n",
            "fields": [{"field": "power_w", "path": "w"}],
        }
    ]
    dev = _device_cfg("boards", "", {a: "sewing_a", b: "sewing_b"}, messages=custom)

    async def flushed_again(source: MqttJsonSource, agent: Agent) -> None:
        rows = {r.scope: r.fields for r in agent.health_rows()}
        assert rows["sewing_a"]["completeness"] == 5 / 7  # 2 of 7 never reached the gateway
        assert rows["sewing_b"]["completeness"] == 1.0

    source, spool = asyncio.run(
        _through_broker(broker, influxdb, unique_name, tmp_path, dev, messages, flushed_again)
    )
    assert source.health.lost == 2
    seqs = {
        topic.split("/")[-2]: list(range(m["seq"], m["seq"] + len(m["ts"]))) for topic, m in _spooled(spool)
    }
    assert seqs == {"sewing_a": [0, 1, 2, 3, 4], "sewing_b": [0, 1, 2]}  # each machine its own numbers
    # From the gateway on, a message lost on the way to the database shows as a hole in them:
    kept = [s for s in seqs["sewing_a"] if s != 3]
    _expected, missing = missing_in_range([len(kept)], [min(kept)], [max(kept)])
    assert missing.tolist() == [1]


def test_the_local_broker_keeps_what_the_gateway_had_not_spooled_across_a_gateway_restart(
    broker, influxdb, unique_name, tmp_path
):
    device = f"shellyplusplugs-{unique_name}"
    sim = ShellyPlugSim(device)
    now = WallClock().now_ns() / 1e9
    before, during = [*sim.step(now), *sim.step(now + 1)], sim.step(now + 2)
    dev = msgspec.structs.replace(
        _device_cfg("plugs", "shelly_plus_plug_s", {device: "press_1"}),
        port=broker.port,
        session_expiry_s=600,
    )
    cfg = config_for(broker, influxdb, unique_name)
    spool = Spool(tmp_path / "spool.sqlite", 2**26)

    async def run_until(
        source: MqttJsonSource, agent: Agent, reads: int, publish_first: list[Message]
    ) -> None:
        task = asyncio.create_task(source.run(agent.sink))
        try:
            await wait_for(lambda: _ready(source), bool, "the source's subscriptions")
            if publish_first:
                async with MqttConnection("127.0.0.1", broker.port, f"sim-{unique_name}") as pub:
                    await pub.wait_connected()
                    await publish(pub, publish_first)
            await wait_for(_value(lambda: source.health.reads), lambda n: n >= reads, f"{reads} readings")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def body() -> None:
        first = MqttJsonSource(dev, WallClock(), client_id=f"dev-{unique_name}")
        # The gateway reads two messages and stops before its flush: nothing was spooled or acknowledged.
        await run_until(
            first,
            Agent(cfg.mqtt, cfg.agent, [first], WallClock(), Spool(tmp_path / "lost.sqlite", 2**26)),
            2,
            before,
        )
        async with MqttConnection("127.0.0.1", broker.port, f"sim2-{unique_name}") as pub:
            await pub.wait_connected()
            await publish(pub, during)  # the plug goes on reporting while the gateway is down
        second = MqttJsonSource(dev, WallClock(), client_id=f"dev-{unique_name}")
        agent = Agent(cfg.mqtt, cfg.agent, [second], WallClock(), spool)
        await run_until(second, agent, 3, [])
        assert await agent.flush() == 3
        # End the persistent session, so the shared broker stops keeping messages for it.
        async with MqttConnection("127.0.0.1", broker.port, f"dev-{unique_name}", clean_start=True) as gone:
            await gone.wait_connected()

    asyncio.run(body())
    ((_topic, msg),) = _spooled(spool)
    sent = [msgspec.json.decode(p)["apower"] for _t, p in [*before, *during]]
    assert sorted(msg["fields"]["power_w"]) == sorted(sent)
