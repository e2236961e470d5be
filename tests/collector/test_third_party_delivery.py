"""What a third-party device gets: MQTT QoS 1 and no more (docs/delivery.md, "Third-party devices").

A device that publishes straight to the broker has no spool a collector could confirm to, so
its messages are as safe as the broker keeps them. These tests pin both sides of what the
docs promise: with the recommended setup (one collector on a non-shared persistent
subscription, mosquitto saving its store on every change) a broker crash while the collector
is away loses nothing; with a shared subscription a broker restart loses the device's
messages; and without `autosave_on_changes` a crash loses what was queued since the last save.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.helpers import config_for, count, running_collector, wait_for
from tonle.app.services import LocalBroker, LocalInfluxDB
from tonle.contract import MachineAddress, State, encode
from tonle.io.influxql import InfluxQLClient
from tonle.io.mqtt import MqttConnection

pytestmark = pytest.mark.services

S = 1_000_000_000
T0 = 1_780_000_000 * S
N = 300
NO_MATCHING_SUBSCRIBERS = 16


def state(seq: int) -> bytes:
    return encode(State(v=1, seq=seq, ts=T0 + seq * S, state="running"))


async def publish_as_device(broker: LocalBroker, addr: MachineAddress, seqs: range) -> list[int]:
    """A plug's firmware: QoS 1 straight to the broker, no spool; returns the PUBACK reason codes.

    Ends with one more QoS 1 message to a topic nobody reads: mosquitto handles it in a later
    turn of its loop than the last state, after the save that follows each change (with
    `autosave_on_changes`), so once it is acknowledged every state is on disk.
    """
    async with MqttConnection(broker.host, broker.port, f"plug-{addr.site}") as dev:
        await dev.wait_connected()
        reasons = await asyncio.gather(*(dev.publish_nowait(addr.topic("state"), state(i)) for i in seqs))
        await dev.publish("tonle-test/after-the-save", b"")
    return list(reasons)


async def stored_states(cfg, influxdb: LocalInfluxDB, marker: MachineAddress) -> int:
    """Start the collector again, wait until it has caught up (a marker published now is stored),
    and count the device's stored states."""
    async with running_collector(cfg), InfluxQLClient(influxdb.url, cfg.influxdb.database) as q:
        async with MqttConnection(cfg.mqtt.host, cfg.mqtt.port, f"marker-{marker.site}") as m:
            await m.wait_connected()
            await m.publish(marker.topic("state"), state(0))
        await wait_for(
            lambda: count(q, f"SELECT count(code) FROM state WHERE machine = '{marker.machine}'"),
            lambda n: n == 1,
            "the marker to be stored",
        )
        return await count(q, "SELECT count(code) FROM state WHERE machine = 'PLUG1'")


def addresses(name: str) -> tuple[MachineAddress, MachineAddress]:
    return MachineAddress(name, "sewing", "L1", "PLUG1"), MachineAddress(name, "sewing", "L1", "MARKER")


def test_with_the_recommended_setup_a_broker_crash_while_the_collector_is_away_loses_nothing(
    tmp_path: Path, influxdb, unique_name
):
    broker = LocalBroker(
        folder=tmp_path / "broker", autosave_on_changes=True, autosave_interval=1, secure=False
    ).start()
    try:
        cfg = config_for(broker, influxdb, unique_name)  # one collector: share_group ""
        assert cfg.collector.share_group == ""
        plug, marker = addresses(unique_name)

        async def body() -> int:
            async with running_collector(cfg):
                pass  # it subscribed; its persistent session stays at the broker while it is away
            reasons = await publish_as_device(broker, plug, range(N))
            assert set(reasons) == {0}, "the broker held no subscription for the absent collector"
            broker.kill()  # after its save, before anyone took the queue
            broker.start()  # same port, same persistence folder
            return await stored_states(cfg, influxdb, marker)

        assert asyncio.run(body()) == N
    finally:
        broker.stop()


def test_without_autosave_on_changes_a_broker_crash_loses_what_was_queued_since_the_last_save(
    tmp_path: Path, influxdb, unique_name
):
    """The documented limit of the plain `autosave_interval` (here long enough never to come)."""
    broker = LocalBroker(folder=tmp_path / "broker", autosave_interval=3600, secure=False).start()
    try:
        cfg = config_for(broker, influxdb, unique_name)
        plug, marker = addresses(unique_name)

        async def body() -> int:
            async with running_collector(cfg):
                pass
            assert set(await publish_as_device(broker, plug, range(N))) == {0}
            broker.kill()
            broker.start()
            return await stored_states(cfg, influxdb, marker)

        assert asyncio.run(body()) == 0
    finally:
        broker.stop()


def test_a_shared_subscription_does_not_survive_a_broker_restart_and_the_device_loses_its_messages(
    tmp_path: Path, influxdb, unique_name
):
    """The documented limit: even a clean restart with the recommended broker settings forgets a
    shared subscription, so what the device sends before the collector is back is dropped."""
    broker = LocalBroker(
        folder=tmp_path / "broker", autosave_on_changes=True, autosave_interval=1, secure=False
    ).start()
    try:
        cfg = config_for(broker, influxdb, unique_name, collector={"share_group": f"g-{unique_name}"})
        plug, marker = addresses(unique_name)

        async def body() -> int:
            async with running_collector(cfg):
                pass
            broker.stop()  # a clean restart: mosquitto saves everything it keeps
            broker.start()
            reasons = await publish_as_device(broker, plug, range(N))
            assert set(reasons) == {NO_MATCHING_SUBSCRIBERS}  # taken, and dropped
            return await stored_states(cfg, influxdb, marker)

        assert asyncio.run(body()) == 0
    finally:
        broker.stop()
