"""The demo's machines that speak someone else's protocol, and the summary's count per protocol.

A plant's SCADA broker is not Tonle's: the demo starts a plain mosquitto on loopback as
"the plant's broker", with a simulated Sparkplug B edge node (an automatic cutting table,
firmware_sim.sparkplug_node) publishing on it; the gateway reads it as a Sparkplug host
(docs/sparkplug.md). The summary's `protocols` says, for each device type of the gateway
config, how many samples the gateway published for its machines, how many are stored and
how many are `lost`.
"""

from __future__ import annotations

import asyncio
import contextlib
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from firmware_sim.line import LineSpec
from firmware_sim.sparkplug_node import CutterModel, SparkplugEdgeNode, run_cutter
from tonle.app.demo_accounting import stored_counts
from tonle.app.services import LocalBroker, free_port
from tonle.io.clock import Clock
from tonle.io.influxql import InfluxQLClient
from tonle.sources.registry import source_type

__all__ = ["ScadaPlant", "protocol_counts", "scada_plant"]


@dataclass
class ScadaPlant:
    broker: LocalBroker
    node: SparkplugEdgeNode

    @property
    def port(self) -> int:
        return self.broker.port


@contextlib.asynccontextmanager
async def scada_plant(folder: Path, clock: Clock, group: str = "DemoPlant") -> AsyncIterator[ScadaPlant]:
    """The plant's broker and the cutter's edge node on it, publishing once a second until exit."""
    broker = LocalBroker(folder=folder / "scada-mosquitto", port=free_port(), secure=False)
    await asyncio.to_thread(broker.start)
    try:
        async with SparkplugEdgeNode(broker.host, broker.port, group, "EN1", clock=clock) as node:
            task = asyncio.create_task(run_cutter(node, CutterModel()), name="sparkplug-cutter")
            try:
                yield ScadaPlant(broker, node)
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    finally:
        await asyncio.to_thread(broker.stop)


def machine_protocols(gateway: Path) -> dict[str, str]:
    """Each machine of the gateway config -> the `type` of the device section that reads it."""
    out: dict[str, str] = {}
    for section in tomllib.loads(gateway.read_text())["devices"]:
        device = msgspec.convert(section, source_type(section["type"]).config, strict=False)  # TOML keys
        out.update(dict.fromkeys(device.machines(), section["type"]))
    return out


async def protocol_counts(
    q: InfluxQLClient, spec: LineSpec, gateway: Path, published: dict[tuple[str, str], int]
) -> dict[str, dict[str, int]]:
    """Samples published, stored and lost, per device type ("serial", "modbus_tcp", "sparkplug", ...)."""
    stored = await stored_counts(q, spec, 0)
    protocols = machine_protocols(gateway)
    out: dict[str, dict[str, int]] = {}
    for key, n in published.items():
        row = out.setdefault(protocols.get(key[0], "other"), {"published": 0, "stored": 0, "lost": 0})
        have = stored.get(key, 0)
        row["published"] += n
        row["stored"] += min(n, have)
        row["lost"] += max(0, n - have)
    return dict(sorted(out.items()))
