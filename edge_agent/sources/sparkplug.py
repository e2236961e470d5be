"""Sparkplug B edge nodes as a Tonle source: the gateway is a Sparkplug host application.

Why at the edge agent (docs/sparkplug.md): the readings then enter the gateway's spool
like any device's, so sequence numbers, completeness and the end-to-end confirmation
apply unchanged from the gateway on, and the collector never learns a second payload
format. The source holds one MQTT session to the broker the edge nodes publish to (the
plant's, or one beside the gateway), announces itself on the Sparkplug 3.0 STATE topic
(retained, with a will that says offline), subscribes to its group, and turns births,
data and deaths into readings through `SparkplugHost`. Rebirth requests go out as NCMD.
Sparkplug data is QoS 0 by the spec, so a message lost between node and broker cannot be
recovered: the `seq` check counts it and asks the node to publish its births again.
Commands are not sent to Sparkplug devices (a DCMD write path is future work).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

from edge_agent.sources.sparkplug_config import SparkplugSourceConfig
from edge_agent.sources.sparkplug_host import SparkplugHost
from tonle.io.clock import Clock, WallClock
from tonle.io.mqtt import MqttConnection, Will
from tonle.io.plant_broker import plant_connection
from tonle.messages import N_, render
from tonle.protocols.sparkplug import NAMESPACE, encode_state, rebirth_request, state_topic
from tonle.sources.base import CommandRefused, Sink, SourceHealth

__all__ = ["UNREADABLE", "SparkplugHealth", "SparkplugSource"]

# Refusals that mean the message itself is bad (`corrupt_frames`); the others (`before_birth`,
# `seq_gap`, `unknown_alias`) mean it came out of turn and are `read_errors`.
UNREADABLE = frozenset({"not_protobuf", "bad_topic", "not_a_number", "unknown_state"})


@dataclass
class SparkplugHealth(SourceHealth):
    """SourceHealth plus the host's own counters; `refused` counts messages and metrics by reason."""

    refused: Counter[str] = field(default_factory=Counter)
    births: int = 0
    deaths: int = 0
    seq_gaps: int = 0
    rebirth_requests: int = 0


class SparkplugSource:
    def __init__(self, cfg: SparkplugSourceConfig, clock: Clock | None = None) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self._clock = clock or WallClock()
        self.host = SparkplugHost(cfg)
        self._health = SparkplugHealth()
        for m in cfg.nodes:
            self._health.per_machine_reads[m.machine] = self._health.per_machine_errors[m.machine] = 0
        self._born_ms = 0
        self.mqtt: MqttConnection | None = None

    @property
    def machines(self) -> list[tuple[str, str]]:
        return [(m.machine, m.machine_type) for m in self.cfg.nodes]

    @property
    def health(self) -> SparkplugHealth:
        h, c = self._health, self.host.counts
        h.births, h.deaths, h.seq_gaps, h.rebirth_requests = (
            c["births"],
            c["deaths"],
            c["seq_gaps"],
            c["rebirth_requests"],
        )
        h.connected = self.mqtt is not None and self.mqtt.connected.is_set()
        if self.mqtt is not None and self.mqtt.last_error is not None:  # a wrong CA, a refused login
            h.last_error = str(self.mqtt.last_error)
        return h

    async def commit(self) -> None:
        """Nothing to tell: Sparkplug data is QoS 0 and has no acknowledgement to give."""

    def _connection(self) -> MqttConnection:
        cfg = self.cfg
        # One timestamp for the birth and its will, as Sparkplug 3.0 (host STATE) asks.
        self._born_ms = self._clock.now_ns() // 1_000_000
        return plant_connection(
            cfg,
            f"tonle-spb-{cfg.host_id}",
            will=Will(state_topic(cfg.host_id), encode_state(False, self._born_ms), qos=1, retain=True),
            on_connect_hook=self._announce,
        )

    def _announce(self) -> None:
        if self.mqtt is not None:
            payload = encode_state(True, self._born_ms)
            self.mqtt.publish_nowait(state_topic(self.cfg.host_id), payload, qos=1, retain=True)

    async def run(self, sink: Sink) -> None:
        """Read the group's messages until cancelled; the MQTT session reconnects by itself."""
        self.mqtt = mqtt = self._connection()
        try:
            async with mqtt:
                try:
                    await mqtt.subscribe(f"{NAMESPACE}/{self.cfg.group}/#", qos=1)
                    while True:
                        msg = await mqtt.messages.get()
                        self._handle(sink, msg.topic, msg.payload)
                finally:
                    await self._say_offline(mqtt)
        finally:
            self.mqtt = None

    def _handle(self, sink: Sink, topic: str, payload: bytes) -> None:
        now = self._clock.now_ns()
        result = self.host.handle(topic, payload, now)
        h = self._health
        for reason in result.refused:
            h.refused[reason] += 1
            if reason in UNREADABLE:
                h.corrupt_frames += 1
            else:  # a message that arrived out of turn (lost one before it, no birth yet)
                h.read_errors += 1
            h.last_error = render(N_("{source}: refused a Sparkplug message ({reason}) on {topic}"),
                                  {"source": self.name, "reason": reason, "topic": topic})  # fmt: skip
        if result.readings:
            h.reads += 1
            for r in result.readings:
                h.per_machine_reads[r.machine] = h.per_machine_reads.get(r.machine, 0) + 1
            sink(result.readings)
        if result.rebirth is not None and self.mqtt is not None and self.mqtt.connected.is_set():
            self.mqtt.publish_nowait(str(result.rebirth), rebirth_request(now // 1_000_000), qos=0)

    async def _say_offline(self, mqtt: MqttConnection) -> None:
        """A clean stop says offline itself (a broker sends the will only when the link breaks)."""
        if not mqtt.connected.is_set():
            return
        fut = mqtt.publish_nowait(state_topic(self.cfg.host_id), encode_state(False, self._born_ms), 1, True)
        await asyncio.wait([fut], timeout=2.0)

    async def apply(
        self, machine: str, action: str, value: float | None, *, cmd_id: str | None = None
    ) -> str:
        raise CommandRefused(
            render(
                N_("{machine} is read over Sparkplug B, which Tonle does not send commands to yet"),
                {"machine": machine},
            )
        )
