"""The collector through database outages, restarts and scale-out, on real mosquitto and influxd.

Each test owns its influxd (so it can stop it) and shares the session broker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import config_for, count, running_collector, wait_for
from tonle.app.services import LocalBroker, LocalInfluxDB, local_influxdb
from tonle.config import TonleConfig
from tonle.contract import MachineAddress, Telemetry, encode
from tonle.io.influxql import InfluxQLClient
from tonle.io.mqtt import MqttConnection

T0 = 1_780_000_000_000_000_000
N = 20  # samples per message


@pytest.fixture
def own_influxdb(tmp_path: Path) -> Iterator[LocalInfluxDB]:
    with local_influxdb(tmp_path / "influxdb") as db:
        yield db


def message(seq: int, t0: int) -> bytes:
    ts = (t0 + np.arange(N, dtype=np.int64) * 10_000_000).tolist()
    return encode(Telemetry(v=1, seq=seq, ts=ts, fields={"vib_rms": [0.5 + seq % 7] * N}))


async def publish_stream(
    pub: MqttConnection,
    machines: list[MachineAddress],
    first: int,
    count_: int,
    skip: frozenset[int] = frozenset(),
    t0: int = T0,
) -> int:
    """Publish messages first..first+count_-1 for every machine (seq = message index * N)."""
    futures = []
    for k in range(first, first + count_):
        for m_i, m in enumerate(machines):
            if k in skip:
                continue
            futures.append(pub.publish_nowait(m.topic("telemetry"), message(k * N, t0 + k * 10**9 + m_i)))
    await asyncio.gather(*futures)
    return len(futures) * N


def stored(q: InfluxQLClient):  # type: ignore[no-untyped-def]
    return lambda: count(q, "SELECT count(vib_rms) FROM telemetry")


def test_during_a_database_outage_batches_are_spooled_acked_and_replayed_when_it_returns(
    broker: LocalBroker, own_influxdb: LocalInfluxDB, unique_name: str
) -> None:
    cfg = config_for(broker, own_influxdb, unique_name)
    machines = [MachineAddress(unique_name, "sewing", "L1", f"S{i:02d}") for i in range(3)]

    async def body() -> None:
        async with (
            running_collector(cfg) as collector,
            MqttConnection(broker.host, broker.port, f"pub-{unique_name}") as pub,
            InfluxQLClient(own_influxdb.url, unique_name) as q,
        ):
            await pub.wait_connected()
            sent = await publish_stream(pub, machines, 0, 10)
            await wait_for(stored(q), lambda n: n == sent, "the first samples stored")

            await asyncio.to_thread(own_influxdb.stop)
            sent += await publish_stream(pub, machines, 10, 40)
            # Everything sent during the outage is acknowledged because it is on disk.
            outage_points = 40 * N * len(machines)
            await wait_for(
                lambda: _ready(collector.stats.spooled_points), lambda p: p == outage_points, "all spooled"
            )
            await wait_for(lambda: _ready(collector.unacked), lambda u: u == 0, "every outage message acked")
            assert collector.spool is not None and collector.spool.depth > 0
            assert not collector.db_up

            await asyncio.to_thread(own_influxdb.start)
            n = await wait_for(stored(q), lambda n: n >= sent, "the spooled samples replayed")
            assert n == sent
            await wait_for(lambda: _ready(collector.spool.depth), lambda d: d == 0, "an empty spool")
            assert collector.stats.replayed_points == collector.stats.spooled_points
            fields = collector.health_fields()
            assert fields["db_up"] == 1.0 and fields["spool_depth"] == 0.0

    asyncio.run(body())


def test_without_a_spool_an_outage_holds_acks_within_receive_maximum_and_loses_nothing(
    broker: LocalBroker, own_influxdb: LocalInfluxDB, unique_name: str
) -> None:
    cfg = config_for(broker, own_influxdb, unique_name, collector={"spool_max_mb": 0, "receive_maximum": 25})
    machines = [MachineAddress(unique_name, "sewing", "L1", "S01")]

    async def body() -> None:
        async with (
            running_collector(cfg) as collector,
            MqttConnection(broker.host, broker.port, f"pub-{unique_name}") as pub,
            InfluxQLClient(own_influxdb.url, unique_name) as q,
        ):
            await pub.wait_connected()
            await asyncio.to_thread(own_influxdb.stop)
            sent = await publish_stream(pub, machines, 0, 200)
            await asyncio.sleep(1.5)
            # Back-pressure: the broker holds the rest; the collector's memory holds 25 at most.
            held = collector.unacked + collector.mqtt.messages.qsize()
            assert 0 < held <= 25
            assert collector.stats.messages <= 25

            await asyncio.to_thread(own_influxdb.start)
            n = await wait_for(stored(q), lambda n: n >= sent, "everything stored after the outage")
            assert n == sent

    asyncio.run(body())


def test_a_spool_left_by_a_stopped_collector_is_replayed_by_the_next_one(
    broker: LocalBroker, own_influxdb: LocalInfluxDB, unique_name: str
) -> None:
    cfg = config_for(broker, own_influxdb, unique_name)
    machines = [MachineAddress(unique_name, "sewing", "L1", m) for m in ("S01", "S02")]

    async def body() -> None:
        async with (
            MqttConnection(broker.host, broker.port, f"pub-{unique_name}") as pub,
            InfluxQLClient(own_influxdb.url, unique_name) as q,
        ):
            await pub.wait_connected()
            async with running_collector(cfg) as collector:
                await asyncio.to_thread(own_influxdb.stop)
                sent = await publish_stream(pub, machines, 0, 30)
                await wait_for(
                    lambda: _ready(collector.stats.spooled_points), lambda p: p == sent, "all spooled"
                )
            # The collector is gone; the database comes back; a new collector replays the spool.
            await asyncio.to_thread(own_influxdb.start)
            async with running_collector(cfg) as collector:
                n = await wait_for(stored(q), lambda n: n >= sent, "the old spool replayed")
                assert n == sent
                assert collector.stats.replayed_points == sent

    asyncio.run(body())


def test_two_collectors_on_a_shared_subscription_store_every_point_and_reckon_no_false_gaps(
    broker: LocalBroker, own_influxdb: LocalInfluxDB, unique_name: str
) -> None:
    def cfg_of(i: int) -> TonleConfig:
        return config_for(
            broker,
            own_influxdb,
            unique_name,
            collector={
                "share_group": f"g-{unique_name}",
                "instance": f"{unique_name}-{i}",
                "spool_path": str(own_influxdb.folder.parent / f"spool-{i}.sqlite"),
                "batch_points": 200,
                "completeness_interval_s": 0.5,
                "completeness_lag_s": 0,
                "completeness_horizon_h": 1,
            },
        )

    # Three machines: the broker deals messages round-robin, so each collector sees every stream in part.
    machines = [MachineAddress(unique_name, "sewing", "L1", f"S{i:02d}") for i in range(3)]
    skipped = frozenset({7, 8})  # messages 7 and 8 of every machine never sent: 2 * N missing each
    t0 = (time.time_ns() // 60_000_000_000 - 10) * 60_000_000_000  # ten minutes ago, on a minute

    async def body() -> None:
        async with (
            running_collector(cfg_of(1), reckon=True) as a,
            running_collector(cfg_of(2), reckon=True) as b,
            MqttConnection(broker.host, broker.port, f"pub-{unique_name}") as pub,
            InfluxQLClient(own_influxdb.url, unique_name) as q,
        ):
            await pub.wait_connected()
            sent = await publish_stream(pub, machines, 0, 50, skip=skipped, t0=t0)
            n = await wait_for(stored(q), lambda n: n >= sent, "every point stored")
            assert n == sent
            # Both shared the load, and each saw holes that were the other one's messages.
            assert a.stats.messages > 0 and b.stats.messages > 0
            assert a.stats.messages + b.stats.messages == (50 - len(skipped)) * len(machines)
            assert a.stats.seq_gaps + b.stats.seq_gaps > len(skipped) * N * len(machines)
            # Both reckon completeness from the database and write the same points: exactly the real gaps.
            query = "SELECT last(missing) FROM completeness WHERE kind = 'telemetry' GROUP BY machine"

            async def missing() -> dict[str, int]:
                return {s.tags["machine"]: int(s.values[0][1]) for s in await q.query(query)}

            want = {m.machine: len(skipped) * N for m in machines}
            assert await wait_for(missing, lambda got: got == want, "completeness reckoned") == want

    asyncio.run(body())


async def _ready(value):  # type: ignore[no-untyped-def]
    return value
