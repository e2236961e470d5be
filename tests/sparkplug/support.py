"""Shared plumbing for the Sparkplug tests: a source config for one simulated cutting table."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from edge_agent.sources.sparkplug import SparkplugSource
from edge_agent.sources.sparkplug_config import SparkplugSourceConfig
from tests.modbus.support import Collector, running, until
from tonle.config.check import check_value
from tonle.io.clock import WallClock

__all__ = ["Collector", "config", "listening", "source", "until"]

CUTTER_NODE: dict[str, Any] = {
    "machine": "CUT1",
    "machine_type": "cutting_table",
    "edge_node": "EN1",
    "device": "Cutter1",
    "fields": {"Spindle/Speed": "spindle_rpm", "Spindle/Temperature": "spindle_temp_c"},
    "state": "Status/Mode",
    "states": {"0": "idle", "1": "running", "2": "breakdown", "3": "setup"},
    "count_total": "Production/Total",
    "count_good": "Production/Good",
}


def config(broker: Any, group: str, **extra: Any) -> SparkplugSourceConfig:
    data = {
        "type": "sparkplug", "name": f"spb_{group}", "host": broker.host, "port": broker.port,
        "group": group, "host_id": f"tonle-{group}", "nodes": [CUTTER_NODE], **extra,
    }  # fmt: skip
    cfg, problems = check_value(data, SparkplugSourceConfig)
    assert not problems, problems
    assert isinstance(cfg, SparkplugSourceConfig)
    return cfg


def source(broker: Any, group: str, **extra: Any) -> SparkplugSource:
    return SparkplugSource(config(broker, group, **extra), WallClock())


@contextlib.asynccontextmanager
async def listening(src: SparkplugSource, sink: Collector) -> AsyncIterator[None]:
    """The source running and subscribed, so nothing an edge node publishes next is missed."""
    async with running(src, sink):  # type: ignore[arg-type]
        await until(lambda: src.mqtt is not None and src.mqtt.subscribed.is_set(), "the host's subscription")
        yield
