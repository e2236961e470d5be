"""Tonle's machines as a Sparkplug B edge node, so a plant's existing SCADA can read them.

It reads the machines' `telemetry`, `state` and `count` messages of one site on Tonle's
broker (as a dashboard would: it changes nothing on the way to InfluxDB) and publishes
them on the SCADA's broker as edge node `<node>` of group `<group>`, one Sparkplug device
per machine: `Telemetry/<field>` (Double; the newest sample of each batch: history stays
in InfluxDB), `State` (String, a Tonle machine state) and `Production/Total`,
`Production/Good` (UInt64). Births, aliases, `seq`, the NDEATH will and rebirth requests
follow Sparkplug 3.0 (`tonle.protocols.sparkplug_edge`). The bdSeq is 0 for each run of
the bridge (a SCADA sees a restart as a new NBIRTH either way).

    tonle sparkplug-bridge --config tonle.toml --site demo-plant \
        --scada-host scada.plant.local --scada-ca-file scada-ca.crt \
        --scada-username tonle-bridge --scada-password-env SCADA_MQTT_PASSWORD \
        --group Plant1 --node Tonle

The SCADA's broker and its login are `tonle.app.scada_broker` (TLS and a password as the
plant's IT asks, like a device source on a plant's broker). A broker that refuses the login or
cannot be reached is one log line with its fix, and the bridge keeps trying, as a service
does: the plant's IT may be adding the user. `python -m tonle.app.sparkplug_bridge ...` is
the same command, kept for the scripts that ran it that way.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from pathlib import Path

import paho.mqtt.client as paho

from tonle.app.scada_broker import ScadaBroker
from tonle.config import MqttConfig
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

__all__ = ["SparkplugBridge", "add_parser", "machine_metrics", "main", "scada_broker", "serve"]

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
        scada: ScadaBroker,
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
        self.scada = scada.connection(
            f"tonle-spb-edge-{group}-{node}",
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


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `tonle sparkplug-bridge`."""
    p = sub.add_parser(
        "sparkplug-bridge",
        help=_("publish a site's machines as a Sparkplug B edge node"),
        description=_(
            "Publish the machines of one site as a Sparkplug B edge node on the SCADA's MQTT broker, "
            "one Sparkplug device per machine. TLS is on when --scada-ca-file is given; the password "
            "of --scada-username is read from the environment variable --scada-password-env names."
        ),
    )
    p.add_argument("--config", type=Path, required=True, help=_("tonle.toml: its [mqtt] is Tonle's broker"))
    p.add_argument("--site", required=True, help=_("the site whose machines are published"))
    p.add_argument("--scada-host", required=True, help=_("the SCADA's MQTT broker"))
    p.add_argument(
        "--scada-port",
        type=int,
        default=0,
        help=_("its port (default: 8883 with --scada-ca-file, else 1883)"),
    )
    p.add_argument(
        "--scada-ca-file",
        default="",
        metavar="FILE",
        help=_("the CA certificate that signed the SCADA broker's certificate; turns TLS on"),
    )
    p.add_argument(
        "--scada-cert-file",
        default="",
        metavar="FILE",
        help=_("a client certificate, when the SCADA's broker asks for one (with --scada-key-file)"),
    )
    p.add_argument("--scada-key-file", default="", metavar="FILE", help=_("the key of that certificate"))
    p.add_argument("--scada-username", default="", help=_("the user the bridge logs in as"))
    p.add_argument(
        "--scada-password-env",
        default="",
        metavar="VARIABLE",
        help=_("the environment variable that holds that user's password"),
    )
    p.add_argument("--group", required=True, help=_("the Sparkplug group_id"))
    p.add_argument("--node", default="Tonle", help=_("the Sparkplug edge_node_id"))


def scada_broker(args: argparse.Namespace) -> ScadaBroker:
    """The SCADA's broker of the command line, checked: ConfigError with each problem and its fix."""
    scada = ScadaBroker(
        args.scada_host,
        args.scada_port,
        username=args.scada_username,
        password_env=args.scada_password_env,
        ca_file=args.scada_ca_file,
        cert_file=args.scada_cert_file,
        key_file=args.scada_key_file,
    )
    scada.check()
    return scada


async def serve(mqtt: MqttConfig, scada: ScadaBroker, args: argparse.Namespace, stop: asyncio.Event) -> None:
    """Bridge until `stop` is set (Ctrl-C, SIGTERM); a failure of the bridge itself is raised."""
    async with mqtt_connection(mqtt, "sparkplug-bridge", name=args.node) as tonle:
        bridge = SparkplugBridge(tonle, scada, group=args.group, node=args.node, site=args.site)
        log.info(
            _("publishing site {site} as Sparkplug edge node {group}/{node}").format(
                site=args.site, group=args.group, node=args.node
            )
        )
        task = asyncio.create_task(bridge.run(), name="spb-bridge")
        stopped = asyncio.create_task(stop.wait(), name="spb-bridge-stop")
        done, _pending = await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if task in done:
            task.result()  # the bridge runs until cancelled: it ended only by a failure, raised here
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def main(argv: list[str] | None = None) -> int:
    """`python -m tonle.app.sparkplug_bridge ...`: the same as `tonle sparkplug-bridge ...`."""
    from tonle.app.cli import main as tonle

    return tonle(["sparkplug-bridge", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
