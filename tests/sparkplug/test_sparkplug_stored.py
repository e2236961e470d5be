"""End to end: a Sparkplug edge node -> the gateway's spool -> the collector -> InfluxDB, confirmed."""

from __future__ import annotations

import asyncio

from edge_agent.agent import Agent
from firmware_sim.sparkplug_node import SparkplugEdgeNode
from tests.helpers import config_for, count, running_collector, wait_for
from tests.sparkplug.support import config, until
from tonle.io.clock import WallClock
from tonle.io.influxql import InfluxQLClient
from tonle.io.spool import Spool
from tonle.sources.registry import GatewayContext, build_source


def test_sparkplug_metrics_are_spooled_stored_and_confirmed_like_any_device(
    broker, influxdb, unique_name, tmp_path
):
    cfg = config_for(broker, influxdb, unique_name, agent={"publish_interval_s": 0.1})
    a = cfg.agent
    context = GatewayContext(a.id, a.site, a.area, a.line)
    src = build_source(config(broker, unique_name), WallClock(), context)  # through the registry
    spool = Spool(tmp_path / "spool.sqlite", 2**24)
    agent = Agent(cfg.mqtt, a, [src], WallClock(), spool)

    async def body() -> None:
        stop = asyncio.Event()
        async with running_collector(cfg), InfluxQLClient(influxdb.url, unique_name) as q, agent:
            task = asyncio.create_task(agent.run(stop))
            await until(
                lambda: src.mqtt is not None and src.mqtt.subscribed.is_set(), "the host's subscription"
            )
            async with SparkplugEdgeNode(broker.host, broker.port, unique_name, "EN1") as node:
                node.birth()
                for i in range(1, 6):
                    node.update("Cutter1", {"Spindle/Speed": 1000.0 + i, "Status/Mode": 1})
                node.update("Cutter1", {"Production/Total": 40, "Production/Good": 38})
                await node.death()
                await wait_for(
                    lambda: count(q, "SELECT count(spindle_rpm) FROM telemetry WHERE machine = 'CUT1'"),
                    lambda n: n >= 6,
                    "the six spindle readings",
                )
                await wait_for(
                    lambda: count(q, "SELECT count(seq) FROM state WHERE machine = 'CUT1'"),
                    lambda n: n >= 3,
                    "idle, running, offline",
                )
            rows = await q.query("SELECT last(spindle_rpm) FROM telemetry WHERE machine = 'CUT1'")
            assert rows[0].values[0][1] == 1005.0
            states = await q.query("SELECT state FROM state WHERE machine = 'CUT1'")
            assert [v[1] for v in states[0].values] == ["idle", "running", "offline"]
            good = await q.query("SELECT last(good) FROM production WHERE machine = 'CUT1'")
            assert good[0].values[0][1] == 38
            await wait_for(lambda: _depth(spool), lambda d: d == 0, "the collector's confirmations")
            stop.set()
            await task
        assert spool.dropped == 0

    asyncio.run(body())


async def _depth(spool: Spool) -> int:
    return spool.depth
