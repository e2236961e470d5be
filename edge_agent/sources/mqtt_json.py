"""The source for plain MQTT devices: subscribe on the plant's local broker, map, hand to the spool.

Delivery: the subscription is QoS 1 with manual acknowledgement and a persistent session
(`session_expiry_s`), so the local broker keeps a device's message until the gateway has
it in its spool: a good message is acknowledged only in `commit()`, after the agent made
it durable. A message that cannot be mapped is counted under its reason, logged with the
reason in plain words, and acknowledged at once (waiting will not make it better); a
message holding none of the mapped values (a device's other notifications) is
acknowledged and counted as skipped. Reconnects back off inside `MqttConnection`. The
broker sends at most `receive_maximum` (1000) messages unacknowledged, so a gateway whose
spool is full holds the devices back at the broker instead of filling its memory.

When a device sends its own message counter (`seq_path`), holes in it are messages lost
between the device and the gateway: counted per machine as read errors, so the machine's
completeness row falls below 1. From the gateway on, the agent's per-machine sequence
numbers make any later loss show in the collector's completeness as for every device.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

import paho.mqtt.client as paho

from edge_agent.sources.mqtt_json_config import MessageMap, MqttJsonDeviceConfig
from edge_agent.sources.mqtt_json_map import Refused, map_message
from tonle.io.clock import Clock, WallClock
from tonle.io.mqtt import MqttConnection
from tonle.io.plant_broker import plant_connection
from tonle.messages import N_, _, render
from tonle.sources.base import CommandRefused, Sample, Sink, SourceHealth

__all__ = ["MqttJsonHealth", "MqttJsonSource"]

log = logging.getLogger("tonle.agent.mqtt_json")

UNKNOWN_DEVICE = N_("a message from device '{device}' on {topic}, which is not in 'devices'")
REFUSED_LOG = N_("{source}: refused a message on {topic}: {reason}")
LOST_LOG = N_("{source}: {n} messages of machine {machine} were lost between the device and the gateway")


@dataclass
class MqttJsonHealth(SourceHealth):
    """SourceHealth plus why messages were refused, and what was skipped or lost before the gateway."""

    refused: Counter[str] = field(default_factory=Counter)  # reason -> messages
    skipped: int = 0  # messages holding none of the mapped values
    lost: int = 0  # holes in devices' own counters


class MqttJsonSource:
    """A Source for an `MqttJsonDeviceConfig`: every device of the section, on one subscription."""

    def __init__(self, cfg: MqttJsonDeviceConfig, clock: Clock | None = None, *, client_id: str = "") -> None:
        self.cfg = cfg
        self.name = cfg.name
        self._clock = clock or WallClock()
        self._client_id = client_id or f"tonle-dev-{cfg.name}"
        self._maps: list[MessageMap] = cfg.mappings()
        self._health = MqttJsonHealth()
        self._unacked: list[paho.MQTTMessage] = []
        self._conn: MqttConnection | None = None
        self._last_seq: dict[tuple[str, int], int] = {}  # (machine, message map) -> device's last counter

    @property
    def machines(self) -> list[tuple[str, str]]:
        return [(m, self.cfg.machine_type) for m in self.cfg.devices.values()]

    @property
    def health(self) -> MqttJsonHealth:
        if self._conn is not None:
            self._health.connected = self._conn.connected.is_set()
            self._health.reconnects = max(0, self._conn.stats.connects - 1)
            if self._conn.last_error is not None:  # a wrong CA, a refused login: what to fix
                self._health.last_error = str(self._conn.last_error)
        return self._health

    async def run(self, sink: Sink) -> None:
        conn = plant_connection(
            self.cfg,
            self._client_id,
            manual_ack=True,
            clean_start=self.cfg.session_expiry_s == 0,
            session_expiry_s=self.cfg.session_expiry_s,
        )
        async with conn:
            self._conn = conn
            for topic in dict.fromkeys(m.topic for m in self._maps):
                await conn.subscribe(topic, 1)
            while True:
                msg = await conn.messages.get()
                self.handle(msg.topic, bytes(msg.payload), sink, msg)

    def handle(self, topic: str, payload: bytes, sink: Sink, msg: paho.MQTTMessage | None = None) -> None:
        """Map one message and push its reading; acknowledge now, or in `commit()` once it is spooled."""
        try:
            sample = self._map(topic, payload)
        except Refused as exc:
            self._refuse(topic, exc)
            sample = None
        if sample is None:
            self._ack(msg)
            return
        sink([sample])
        if msg is not None:
            self._unacked.append(msg)
        h = self._health
        h.reads += 1
        h.per_machine_reads[sample.machine] = h.per_machine_reads.get(sample.machine, 0) + 1

    def _map(self, topic: str, payload: bytes) -> Sample | None:
        for index, m in enumerate(self._maps):
            device = m.device_of(topic)
            if device is None:
                continue
            machine = self.cfg.devices.get(device)
            if machine is None:
                raise Refused(UNKNOWN_DEVICE, "unknown_device", device=device, topic=topic)
            mapped = map_message(m, payload, self._clock.now_ns())
            if mapped is None:
                continue  # another map on the same topic may hold values (Shelly's events/rpc)
            if mapped.seq is not None:
                self._count_holes(machine, index, mapped.seq)
            return Sample(machine, mapped.ts_ns, mapped.fields, seq=mapped.seq)
        self._health.skipped += 1
        return None

    def _count_holes(self, machine: str, index: int, seq: int) -> None:
        last = self._last_seq.get((machine, index))
        self._last_seq[(machine, index)] = seq
        if last is None or seq <= last:  # the first message, or the device restarted its counter
            return
        lost = seq - last - 1
        if lost:
            h = self._health
            h.lost += lost
            h.per_machine_errors[machine] = h.per_machine_errors.get(machine, 0) + lost
            h.last_error = render(LOST_LOG, {"source": self.name, "n": lost, "machine": machine})
            log.warning(h.last_error)

    def _refuse(self, topic: str, exc: Refused) -> None:
        h = self._health
        h.refused[exc.reason] += 1
        h.read_errors += 1
        if exc.reason in ("bad_json", "not_number", "bad_time", "bad_seq"):
            h.corrupt_frames += 1
        h.last_error = render(REFUSED_LOG, {"source": self.name, "topic": topic, "reason": str(exc)})
        log.warning(h.last_error)

    def _ack(self, msg: paho.MQTTMessage | None) -> None:
        if msg is not None and self._conn is not None:
            self._conn.ack(msg)

    async def commit(self) -> None:
        """Everything pushed so far is in the spool: let the local broker forget it.

        The agent calls this right after its spool took what it swapped out of its pending
        list, with no await of this source in between, so nothing pushed after that swap
        is acknowledged here.
        """
        done, self._unacked = self._unacked, []
        for msg in done:
            self._ack(msg)

    async def apply(
        self, machine: str, action: str, value: float | None, *, cmd_id: str | None = None
    ) -> str:
        raise CommandRefused(_("a plain MQTT device takes no commands from Tonle"))
