"""Long-running service entry points behind `tonle sim` and `tonle analytics`."""

from __future__ import annotations

import asyncio
from pathlib import Path

from edge_agent.agent import Agent
from edge_agent.commands import CommandLog
from edge_agent.config import GatewayConfig, make_sources
from tonle.config import TonleConfig
from tonle.io.clock import WallClock
from tonle.io.mqtt import MqttConnection
from tonle.io.spool import Spool

__all__ = ["run_agent", "run_analytics"]


async def run_agent(cfg: GatewayConfig, stop: asyncio.Event) -> None:
    """The edge agent for the devices in a gateway config, on wall time."""
    clock = WallClock()
    spool_dir = Path(cfg.spool.path)
    spool_dir.mkdir(parents=True, exist_ok=True)
    sources = make_sources(cfg, clock)
    spool = Spool(
        spool_dir / "spool.sqlite", max_bytes=int(cfg.spool.max_mb * 2**20), synchronous=cfg.spool.synchronous
    )
    commands = CommandLog(spool_dir / "commands.sqlite")
    try:
        async with Agent(
            cfg.mqtt,
            cfg.agent,
            sources,
            clock,
            spool,
            commands,
            spool_dir / "status.json",
            machine_types=cfg.machine_table(),
        ) as agent:
            await agent.run(stop)
    finally:
        spool.close()
        commands.close()


async def run_analytics(cfg: TonleConfig, stop: asyncio.Event) -> None:
    # Imported here: the analytics stack (scipy) has no place in a gateway's memory.
    from analytics.service import AnalyticsService
    from collector.service import make_writer
    from tonle.io.influxql import InfluxQLClient

    mqtt = MqttConnection(
        cfg.mqtt.host,
        cfg.mqtt.port,
        client_id=cfg.mqtt.client_id or "tonle-analytics",
        username=cfg.mqtt.username or None,
        password=cfg.mqtt.password(),
    )
    async with (
        mqtt,
        make_writer(cfg) as writer,
        InfluxQLClient(
            cfg.influxdb.url,
            cfg.influxdb.database,
            username=cfg.influxdb.username or None,
            password=cfg.influxdb.password(),
        ) as q,
    ):
        await writer.ensure_database()
        await AnalyticsService(cfg, WallClock(), q, writer, mqtt).run(stop)
