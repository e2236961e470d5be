"""The dead-letter topic: what the collector cannot store, published with the reason, and counted.

A payload that cannot be stored is parked here and acknowledged, so the collector never
dies of bad input; a point InfluxDB rejected lands here too. Each is counted by its
reason's category (never by a value from the payload, so the counter keys stay few).
"""

from __future__ import annotations

import logging
import time

import msgspec

from collector.stats import CollectorStats
from tonle.io.mqtt import MqttConnection
from tonle.io.writers import RejectedLine
from tonle.messages import _

__all__ = ["DeadLetters"]

log = logging.getLogger("tonle.collector")


class _DeadLetter(msgspec.Struct):
    v: int
    ts: int
    topic: str
    reason: str
    payload: str


class DeadLetters:
    """Publishes dead letters on `topic` and counts them in `stats`."""

    def __init__(self, mqtt: MqttConnection, topic: str, stats: CollectorStats) -> None:
        self.mqtt = mqtt
        self.topic = topic
        self.stats = stats

    def send(self, topic: str, payload: bytes, reason: str, category: str | None = None) -> None:
        """Park one message (its first 2 KiB) with the reason it could not be stored."""
        self.stats.dead_letters += 1
        key = category or reason.split(":")[0][:60]
        self.stats.dead_letter_reasons[key] = self.stats.dead_letter_reasons.get(key, 0) + 1
        log.warning(_("dead letter from {topic!r}: {reason}").format(topic=topic[:200], reason=reason))
        body = msgspec.json.encode(
            _DeadLetter(1, time.time_ns(), topic, reason, payload[:2048].decode("utf-8", "replace"))
        )
        # QoS 1 is queued by paho and retried; the original is acked with its batch.
        self.mqtt.publish_nowait(self.topic, body, qos=1)

    def rejected(self, rejected: list[RejectedLine]) -> None:
        """Points InfluxDB refused in a batch it otherwise stored."""
        for r in rejected:
            self.stats.rejected_points += 1
            self.send(
                "influxdb", r.line, f"InfluxDB rejected the point: {r.reason}", "InfluxDB rejected the point"
            )
