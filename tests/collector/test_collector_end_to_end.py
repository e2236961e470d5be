"""The collector against a real mosquitto and a real influxd."""

from __future__ import annotations

import asyncio

import msgspec
import numpy as np

from tests.helpers import config_for, count, running_collector, wait_for
from tonle.contract import MachineAddress, State, Telemetry, encode
from tonle.io.influxql import InfluxQLClient
from tonle.io.mqtt import MqttConnection

T0 = 1_780_000_000_000_000_000


def batch(seq: int, n: int, t0: int) -> bytes:
    ts = (t0 + np.arange(n, dtype=np.int64) * 1_000_000).tolist()
    return encode(
        Telemetry(v=1, seq=seq, ts=ts, fields={"vib_rms": [0.1 + i for i in range(n)], "temp_c": [30.0] * n})
    )


def test_every_published_sample_is_stored_and_a_replay_adds_no_point(broker, influxdb, unique_name):
    cfg = config_for(broker, influxdb, unique_name)
    machines = [MachineAddress(unique_name, "sewing", "L1", f"S{i:02d}") for i in range(4)]

    async def body() -> None:
        async with (
            running_collector(cfg),
            MqttConnection(broker.host, broker.port, f"pub-{unique_name}") as pub,
            InfluxQLClient(influxdb.url, unique_name) as q,
        ):
            await pub.wait_connected()
            sent = 0
            futures = []
            for m_i, m in enumerate(machines):
                for k in range(10):  # 10 batches of 50 plus one single-sample message per machine
                    futures.append(
                        pub.publish_nowait(m.topic("telemetry"), batch(k * 50, 50, T0 + k * 10**9 + m_i))
                    )
                    sent += 50
                single = Telemetry(v=1, seq=500, ts=T0 + 10**12, fields={"vib_rms": 2.5})
                futures.append(pub.publish_nowait(m.topic("telemetry"), encode(single)))
                sent += 1
            await asyncio.gather(*futures)
            stored = await wait_for(
                lambda: count(q, "SELECT count(vib_rms) FROM telemetry"),
                lambda n: n >= sent,
                "all samples stored",
            )
            assert stored == sent
            # Replay the first batch of the first machine: same series, same timestamps.
            await pub.publish(machines[0].topic("telemetry"), batch(0, 50, T0))
            marker = encode(State(v=1, seq=0, ts=T0 + 5, state="running"))
            await pub.publish(machines[0].topic("state"), marker)
            await wait_for(lambda: count(q, "SELECT count(code) FROM state"), lambda n: n == 1, "marker")
            assert await count(q, "SELECT count(vib_rms) FROM telemetry") == sent

    asyncio.run(body())


def test_malformed_payloads_are_dead_lettered_while_good_traffic_continues(broker, influxdb, unique_name):
    cfg = config_for(broker, influxdb, unique_name)
    m = MachineAddress(unique_name, "sewing", "L1", "S01")
    bad = [
        b"not json at all",
        b'{"v":1,"seq":1,"ts":1780000000000000000,"fields":{"vib_rms":"high"}}',
        b'{"v":2,"seq":1,"ts":1780000000000000000,"fields":{"vib_rms":1.0}}',
        b'{"v":1,"seq":1,"ts":17,"fields":{"vib_rms":1.0}}',
        b'{"v":1,"seq":1,"ts":1780000000000000000,"fields":{"vib_rms":1e999}}',
        b'{"v":1,"seq":1,"ts":[1780000000000000000],"fields":{"vib_rms":[1.0,2.0]}}',
    ]

    async def body() -> None:
        async with (
            running_collector(cfg) as collector,
            MqttConnection(broker.host, broker.port, f"pub-{unique_name}") as pub,
            MqttConnection(broker.host, broker.port, f"dl-{unique_name}") as dl,
            InfluxQLClient(influxdb.url, unique_name) as q,
        ):
            await dl.subscribe(f"{cfg.collector.deadletter_topic}/#")
            await asyncio.gather(pub.wait_connected(), dl.wait_subscribed())
            for i, payload in enumerate(bad):
                await pub.publish(m.topic("telemetry"), batch(i * 10, 10, T0 + i * 10**9))
                await pub.publish(m.topic("telemetry"), payload)
            await wait_for(
                lambda: count(q, "SELECT count(vib_rms) FROM telemetry"),
                lambda n: n >= 60,
                "good samples stored",
            )
            reasons = []
            for _ in bad:
                msg = await asyncio.wait_for(dl.messages.get(), 10)
                reasons.append(msgspec.json.decode(msg.payload)["reason"])
            assert collector.stats.dead_letters == len(bad)
            assert any("not valid JSON" in r for r in reasons)
            assert any("version 2 is not supported" in r for r in reasons)
            assert any("2 values but ts has 1" in r for r in reasons)
            assert await count(q, "SELECT count(vib_rms) FROM telemetry") == 60

    asyncio.run(body())


def test_a_hostile_machine_name_stays_in_its_own_series(broker, influxdb, unique_name):
    cfg = config_for(broker, influxdb, unique_name)
    hostile = MachineAddress(unique_name, "sewing", "L1", "line 3,machine=S01 x=1 %d 100%")

    async def body() -> None:
        async with (
            running_collector(cfg),
            MqttConnection(broker.host, broker.port, f"pub-{unique_name}") as pub,
            InfluxQLClient(influxdb.url, unique_name) as q,
        ):
            await pub.wait_connected()
            await pub.publish(hostile.topic("telemetry"), batch(0, 5, T0))
            await wait_for(
                lambda: count(q, "SELECT count(vib_rms) FROM telemetry"), lambda n: n == 5, "stored"
            )
            rows = await q.query("SELECT count(vib_rms) FROM telemetry GROUP BY machine")
            assert [s.tags["machine"] for s in rows] == ["line 3,machine=S01 x=1 %d 100%"]
            assert await count(q, "SELECT count(vib_rms) FROM telemetry WHERE machine = 'S01'") == 0

    asyncio.run(body())
