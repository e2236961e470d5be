"""Long-running service entry points behind `tonle sim` and `tonle analytics`."""

from __future__ import annotations

import asyncio

from analytics.service import AnalyticsService
from collector.service import make_writer
from edge_agent.agent import Agent
from edge_agent.sources.sim import SimSource
from firmware_sim.clock import WallClock
from firmware_sim.line import SewingLine, default_line
from tonle.config import TonleConfig
from tonle.influxql import InfluxQLClient
from tonle.mqtt import MqttConnection

__all__ = ["run_analytics", "run_sim"]


async def run_sim(cfg: TonleConfig, stop: asyncio.Event) -> None:
    """The simulated line and its edge agent, publishing on wall time."""
    s, a = cfg.sim, cfg.agent
    spec = default_line(
        n_stations=s.stations,
        seed=s.seed,
        wearing_station=s.wearing_station,
        site=a.site,
        area=a.area,
        line=a.line,
    )
    clock = WallClock()
    line = SewingLine(
        spec,
        seed=s.seed,
        start_ns=clock.now_ns(),
        wear_acceleration=s.wear_acceleration,
        maintenance_s=s.maintenance_s,
    )
    async with Agent(cfg, SimSource(line, spec), clock) as agent:
        await agent.run(stop)


async def run_analytics(cfg: TonleConfig, stop: asyncio.Event) -> None:
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
