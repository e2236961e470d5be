"""The collector service: MQTT in, batched line protocol out, acks only after storage.

Delivery is at-least-once end to end: a QoS 1 message is acknowledged to the
broker only once InfluxDB has accepted the batch that holds it. If the collector
dies first, the broker redelivers, and because every point is keyed by its
source timestamp, the replay overwrites itself instead of duplicating.
A payload that cannot be stored goes to the dead-letter topic with the reason,
and is acknowledged so it does not block the stream; the collector never dies
of bad input.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from dataclasses import dataclass, field

import msgspec
import numpy as np
import paho.mqtt.client as paho

from collector.mapping import Mapped, map_message
from collector.writers import InfluxV1Writer, RejectedLine, WriteError, Writer
from tonle.clock import Clock, WallClock
from tonle.config import TonleConfig
from tonle.contract import KINDS, PayloadError, TopicError, encode_block, subscription
from tonle.mqtt import MqttConnection

__all__ = ["Collector", "CollectorStats", "SeqTracker", "make_writer", "run_collector"]

log = logging.getLogger("tonle.collector")

RETRY_MIN_S = 0.5
RETRY_MAX_S = 10.0


@dataclass
class CollectorStats:
    """Cumulative counters; written to the `pipeline` measurement and shown in the demo."""

    messages: int = 0
    points: int = 0
    dead_letters: int = 0
    rejected_points: int = 0
    seq_gaps: int = 0
    seq_replays: int = 0
    write_errors: int = 0
    batches: int = 0
    last_batch_ms: float = 0.0
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)


class _DeadLetter(msgspec.Struct):
    v: int
    ts: int
    topic: str
    reason: str
    payload: str


class SeqTracker:
    """Counts missing sequence numbers per stream (machine + kind).

    A sequence that goes backwards is a replay (at-least-once delivery), not a gap.
    """

    def __init__(self) -> None:
        self._next: dict[tuple[str, ...], int] = {}

    def observe(self, stream: tuple[str, ...], first: int, n: int) -> tuple[int, int]:
        """Return (missing, replayed) counts for a message covering first..first+n-1."""
        expected = self._next.get(stream)
        end = first + n
        if expected is None:
            self._next[stream] = end
            return 0, 0
        if first >= expected:
            self._next[stream] = end
            return first - expected, 0
        self._next[stream] = max(expected, end)
        return 0, 1

    def completeness(self) -> dict[tuple[str, ...], int]:
        return dict(self._next)


class Collector:
    def __init__(self, cfg: TonleConfig, writer: Writer, clock: Clock | None = None) -> None:
        self.cfg = cfg
        self.clock: Clock = clock or WallClock()
        c = cfg.collector
        self.instance = c.instance or f"{socket.gethostname()}-{os.getpid()}"
        self.writer = writer
        self.stats = CollectorStats()
        self.seq = SeqTracker()
        self.ready = asyncio.Event()  # subscribed and storing
        self.idle = asyncio.Event()  # nothing queued and the last batch stored and acked
        self.mqtt = MqttConnection(
            cfg.mqtt.host,
            cfg.mqtt.port,
            client_id=cfg.mqtt.client_id or f"tonle-collector-{self.instance}",
            manual_ack=True,
            receive_maximum=c.receive_maximum,
            clean_start=False,
            session_expiry_s=3600,
            username=cfg.mqtt.username or None,
            password=cfg.mqtt.password(),
        )

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        async with self.mqtt:
            await self._ensure_database(stop)
            group = self.cfg.collector.share_group or None
            for kind in KINDS:
                await self.mqtt.subscribe(subscription(kind, share_group=group), qos=1)
            await self.mqtt.wait_subscribed()
            self.ready.set()
            log.info("collector %s storing into %s", self.instance, self.cfg.influxdb.url)
            async with asyncio.TaskGroup() as tg:
                batcher = tg.create_task(self._batch_loop(), name="collector-batches")
                health = tg.create_task(self._health_loop(), name="collector-health")
                await stop.wait()
                batcher.cancel()
                health.cancel()

    async def _ensure_database(self, stop: asyncio.Event) -> None:
        delay = RETRY_MIN_S
        while not stop.is_set():
            try:
                await self.writer.ensure_database()
                return
            except WriteError as exc:
                log.warning("%s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(RETRY_MAX_S, delay * 2)

    # -- batching -------------------------------------------------------------
    async def _batch_loop(self) -> None:
        c = self.cfg.collector
        queue = self.mqtt.messages
        while True:
            if queue.empty():
                self.idle.set()
            first = await queue.get()
            self.idle.clear()
            batch: list[paho.MQTTMessage] = [first]
            chunks: list[bytes] = []
            points = self._take(first, chunks)
            deadline = time.monotonic() + c.batch_wait_ms / 1000
            while points < c.batch_points:
                try:
                    msg = queue.get_nowait()
                except asyncio.QueueEmpty:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    try:
                        msg = await asyncio.wait_for(queue.get(), remaining)
                    except TimeoutError:
                        break
                batch.append(msg)
                points += self._take(msg, chunks)
            await self._store(b"".join(chunks), points)
            for msg in batch:
                self.mqtt.ack(msg)

    def _take(self, msg: paho.MQTTMessage, chunks: list[bytes]) -> int:
        """Map one message into `chunks`; dead-letter it if it cannot be stored."""
        self.stats.messages += 1
        try:
            mapped: Mapped = map_message(msg.topic, msg.payload)
        except (PayloadError, TopicError) as exc:
            self._dead_letter(msg.topic, msg.payload, str(exc))
            return 0
        if mapped.stream is not None:
            gaps, replays = self.seq.observe(mapped.stream, mapped.first_seq, mapped.n_seq)
            self.stats.seq_gaps += gaps
            self.stats.seq_replays += replays
        chunks.append(mapped.lines)
        return mapped.points

    def _dead_letter(self, topic: str, payload: bytes, reason: str) -> None:
        self.stats.dead_letters += 1
        key = reason.split(":")[0][:60]
        self.stats.dead_letter_reasons[key] = self.stats.dead_letter_reasons.get(key, 0) + 1
        log.warning("dead letter from %r: %s", topic[:200], reason)
        body = msgspec.json.encode(
            _DeadLetter(1, time.time_ns(), topic, reason, payload[:2048].decode("utf-8", "replace"))
        )
        # QoS 1 is queued by paho and retried; the original is acked with its batch.
        self.mqtt.publish_nowait(f"{self.cfg.collector.deadletter_topic}/collector", body, qos=1)

    async def _store(self, lines: bytes, points: int) -> None:
        """Write until InfluxDB accepts the batch; the MQTT acks wait for this."""
        delay = RETRY_MIN_S
        t0 = time.perf_counter()
        while True:
            try:
                rejected = await self.writer.write(lines)
                break
            except WriteError as exc:
                self.stats.write_errors += 1
                wait = exc.retry_after_s if exc.retry_after_s is not None else delay
                log.warning("%s; batch of %d points kept, retrying in %.1fs", exc, points, wait)
                await asyncio.sleep(wait)
                delay = min(RETRY_MAX_S, delay * 2)
        self._reject(rejected)
        self.stats.points += points - len(rejected)
        self.stats.batches += 1
        self.stats.last_batch_ms = (time.perf_counter() - t0) * 1000

    def _reject(self, rejected: list[RejectedLine]) -> None:
        for r in rejected:
            self.stats.rejected_points += 1
            self._dead_letter("influxdb", r.line, f"InfluxDB rejected the point: {r.reason}")

    # -- own health -------------------------------------------------------------
    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.collector.health_interval_s)
            await self.write_health()

    async def write_health(self) -> None:
        s = self.stats
        # Every `pipeline` field is a float: InfluxDB fixes a field's type per
        # measurement, and the agents' health rows share this measurement.
        fields = {
            "messages": s.messages,
            "points": s.points,
            "dead_letters": s.dead_letters,
            "seq_gaps": s.seq_gaps,
            "seq_replays": s.seq_replays,
            "rejected_points": s.rejected_points,
            "batches": s.batches,
            "write_errors": s.write_errors,
            "queue_depth": self.mqtt.messages.qsize(),
            "batch_ms": s.last_batch_ms,
        }
        lines = encode_block(
            "pipeline",
            {"component": "collector", "instance": self.instance},
            np.array([self.clock.now_ns()], dtype=np.int64),
            {k: np.array([float(v)]) for k, v in fields.items()},
        )
        try:
            await self.writer.write(lines)
        except WriteError as exc:
            log.warning("could not write collector health: %s", exc)


def make_writer(cfg: TonleConfig) -> InfluxV1Writer:
    i = cfg.influxdb
    return InfluxV1Writer(
        i.url,
        i.database,
        username=i.username or None,
        password=i.password(),
        use_gzip=i.gzip,
        timeout_s=i.timeout_s,
    )


async def run_collector(cfg: TonleConfig, stop: asyncio.Event | None = None) -> None:
    async with make_writer(cfg) as writer:
        await Collector(cfg, writer).run(stop)
