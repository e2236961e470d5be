"""The agent's retained status: online while it runs, offline when it stops or dies."""

from __future__ import annotations

import asyncio
import socket

import msgspec

from edge_agent.agent import Agent
from firmware_sim.line import SewingLine, default_line
from firmware_sim.source import SimSource
from tests.helpers import config_for
from tonle.io.clock import VirtualClock
from tonle.io.mqtt import MqttConnection
from tonle.io.spool import Spool

T0 = 1_780_000_000_000_000_000


def _agent(cfg, name: str, tmp_path) -> Agent:
    spec = default_line(n_stations=2, wearing_station=None, site=name)
    clock = VirtualClock(T0)
    source = SimSource(SewingLine(spec, seed=1, start_ns=T0, vibration=False), spec, clock)
    return Agent(cfg.mqtt, cfg.agent, [source], clock, Spool(tmp_path / "spool.sqlite", 2**20))


async def _status(broker, topic: str, name: str) -> dict:
    async with MqttConnection(broker.host, broker.port, f"watch-{name}") as watch:
        await watch.subscribe(topic)
        await watch.wait_subscribed()
        msg = await asyncio.wait_for(watch.messages.get(), 10)
        assert msg.retain
        return msgspec.json.decode(msg.payload)


def test_status_is_retained_online_then_offline_after_a_clean_stop(broker, influxdb, unique_name, tmp_path):
    cfg = config_for(broker, influxdb, unique_name)

    async def body() -> None:
        agent = _agent(cfg, unique_name, tmp_path)
        topic = agent.status_addr.topic("status")
        async with agent:
            await agent.mqtt.wait_connected()
            await agent.publisher.drain()
            assert (await _status(broker, topic, unique_name))["online"] is True
        assert (await _status(broker, topic, unique_name))["online"] is False

    asyncio.run(body())


def test_the_last_will_says_offline_when_the_agent_dies(broker, influxdb, unique_name, tmp_path):
    cfg = config_for(broker, influxdb, unique_name)

    async def body() -> None:
        agent = _agent(cfg, unique_name, tmp_path)
        topic = agent.status_addr.topic("status")
        await agent.mqtt.__aenter__()
        await agent.mqtt.wait_connected()
        await agent.publisher.drain()
        assert (await _status(broker, topic, unique_name))["online"] is True
        # The gateway loses power: the TCP connection drops without a DISCONNECT.
        client = agent.mqtt._client
        assert client is not None
        sock = client.socket()
        assert sock is not None
        sock.shutdown(socket.SHUT_RDWR)  # no DISCONNECT packet: the broker sends the will
        status = await _status_when(broker, topic, unique_name, online=False)
        assert status["agent"] == cfg.agent.id

    asyncio.run(body())


async def _status_when(broker, topic: str, name: str, online: bool) -> dict:
    async with MqttConnection(broker.host, broker.port, f"watch2-{name}") as watch:
        await watch.subscribe(topic)
        await watch.wait_subscribed()
        while True:
            msg = await asyncio.wait_for(watch.messages.get(), 10)
            status = msgspec.json.decode(msg.payload)
            if status["online"] is online:
                return status


def test_the_agent_health_row_carries_exactly_the_declared_fields(broker, influxdb, unique_name, tmp_path):
    """What status.json and the pipeline dashboard read is what tonle.schema declares, no more, no less."""
    from tonle.schema import AGENT_HEALTH_FIELDS, SOURCE_HEALTH_FIELDS

    cfg = config_for(broker, influxdb, unique_name)
    agent = _agent(cfg, unique_name, tmp_path)
    rows = {row.scope: row.fields for row in agent.health_rows()}
    assert set(rows["agent"]) == set(AGENT_HEALTH_FIELDS)
    source = next(iter(r for scope, r in rows.items() if scope != "agent"))
    assert set(source) <= set(SOURCE_HEALTH_FIELDS)
    agent.spool.close()
