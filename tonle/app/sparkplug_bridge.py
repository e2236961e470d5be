"""Tonle's machines as a Sparkplug B edge node, so a plant's existing SCADA can read them.

It reads the machines' `telemetry`, `state` and `count` messages of one site on Tonle's
broker (as a dashboard would: it changes nothing on the way to InfluxDB) and publishes
them on the SCADA's broker as edge node `<node>` of group `<group>`, one Sparkplug device
per machine: `Telemetry/<field>` (Double; the newest sample of each batch: history stays
in InfluxDB), `State` (String, a Tonle machine state) and `Production/Total`,
`Production/Good` (UInt64). Births, aliases, `seq`, the NDEATH will and rebirth requests
follow Sparkplug 3.0 (`tonle.protocols.sparkplug_edge`). The bdSeq is 0 for each run of
the bridge (a SCADA sees a restart as a new NBIRTH either way).

    python -m tonle.app.sparkplug_bridge --config tonle.toml --site demo-plant \
        --scada-host 127.0.0.1 --scada-port 1883 --group Plant1 --node Tonle
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from pathlib import Path

import paho.mqtt.client as paho

from tonle.config import MqttConfig, load_config
from tonle.contract import Count, PayloadError, State, Telemetry, TopicError, decode, parse_topic
from tonle.io.clock import Clock, WallClock
from tonle.io.connect import mqtt_connection
from tonle.io.mqtt import MqttConnection, Will
from tonle.messages import _
from tonle.protocols.sparkplug import (
    DataType,
    MetricValue,
    SparkplugError,
    decode_payload,
    is_rebirth_request,
)
from tonle.protocols.sparkplug_edge import EdgeNodeBook

__all__ = ["SparkplugBridge", "machine_metrics", "main"]

log = logging.getLogger("tonle.sparkplug_bridge")
KINDS = ("telemetry", "state", "count")
Values = dict[str, tuple[DataType, MetricValue]]


def machine_metrics(kind: str, msg: object) -> tuple[Values, int] | None:
    """The Sparkplug metrics of one Tonle message and its time in ms (None: nothing to show)."""
    if isinstance(msg, Telemetry):
        ts = msg.ts[-1] if isinstance(msg.ts, list) else msg.ts
        values: Values = {
            f"Telemetry/{k}": (DataType.Double, float(v[-1] if isinstance(v, list) else v))
            for k, v in msg.fields.items()
        }
        return (values, ts // 1_000_000) if values else None
    if isinstance(msg, State):
        return {"State": (DataType.String, msg.state)}, msg.ts // 1_000_000
    if isinstance(msg, Count):
        counts: Values = {
            "Production/Total": (DataType.UInt64, msg.total),
            "Production/Good": (DataType.UInt64, msg.good),
        }
        return counts, msg.ts // 1_000_000
    return None


class SparkplugBridge:
    def __init__(
        self,
        tonle: MqttConnection,
        scada_host: str,
        scada_port: int,
        *,
        group: str,
        node: str,
        site: str,
        clock: Clock | None = None,
    ) -> None:
        self.tonle, self.site = tonle, site
        self.clock = clock or WallClock()
        self.book = EdgeNodeBook(group, node)
        self.refused = 0  # Tonle messages that could not be read (the collector's dead letters say why)
        self.rebirths = 0
        self.scada = MqttConnection(
            scada_host,
            scada_port,
            client_id=f"tonle-spb-edge-{group}-{node}",
            will=Will(self.book.topic("NDEATH"), self.book.death(self._now_ms()), qos=1, retain=False),
            on_connect_hook=self._births,
        )

    def _now_ms(self) -> int:
        return self.clock.now_ns() // 1_000_000

    def _send(self, out: list[tuple[str, bytes]]) -> None:
        for topic, payload in out:
            self.scada.publish_nowait(topic, payload, qos=0)

    def _births(self) -> None:
        self._send(self.book.births(self._now_ms()))

    async def run(self) -> None:
        """Until cancelled: Tonle's messages out as Sparkplug, rebirth requests answered."""
        async with self.scada:
            await self.scada.subscribe(self.book.topic("NCMD"), qos=0)
            for kind in KINDS:
                await self.tonle.subscribe(f"tonle/{self.site}/+/+/+/{kind}", qos=1)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._from_tonle(), name="spb-bridge-tonle")
                tg.create_task(self._commands(), name="spb-bridge-ncmd")

    async def _from_tonle(self) -> None:
        while True:
            self.handle(await self.tonle.messages.get())

    def handle(self, msg: paho.MQTTMessage) -> None:
        try:
            address, kind = parse_topic(msg.topic)
            found = machine_metrics(kind, decode(kind, msg.payload))
        except (TopicError, PayloadError):
            self.refused += 1
            return
        if found is not None:
            values, ts_ms = found
            born = self.scada.connected.is_set()
            self._send(self.book.update(address.machine, values, ts_ms, born=born))

    async def _commands(self) -> None:
        while True:
            msg = await self.scada.messages.get()
            try:
                payload = decode_payload(msg.payload)
            except SparkplugError:
                continue
            if is_rebirth_request(payload):
                self.rebirths += 1
                self._births()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=_("publish a site's machines as a Sparkplug B edge node"))
    p.add_argument("--config", type=Path, required=True, help=_("tonle.toml: its [mqtt] is Tonle's broker"))
    p.add_argument("--site", required=True, help=_("the site whose machines are published"))
    p.add_argument("--scada-host", required=True, help=_("the SCADA's MQTT broker"))
    p.add_argument("--scada-port", type=int, default=1883, help=_("its port"))
    p.add_argument("--group", required=True, help=_("the Sparkplug group_id"))
    p.add_argument("--node", default="Tonle", help=_("the Sparkplug edge_node_id"))
    return p


async def _serve(mqtt: MqttConfig, args: argparse.Namespace) -> None:
    async with mqtt_connection(mqtt, "sparkplug-bridge", name=args.node) as tonle:
        bridge = SparkplugBridge(
            tonle, args.scada_host, args.scada_port, group=args.group, node=args.node, site=args.site
        )
        log.info(_("publishing site {site} as Sparkplug edge node {group}/{node}").format(**vars(args)))
        await bridge.run()


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cfg = load_config(args.config)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(cfg.mqtt, args))


if __name__ == "__main__":
    main()
