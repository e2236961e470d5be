"""The collector service: MQTT in, batched line protocol out, acks only after storage.

Delivery is at-least-once end to end: a QoS 1 message is acknowledged to the
broker only once InfluxDB has accepted the batch that holds it, or the batch is
in the collector's durable spool. If the collector dies first, the broker
redelivers, and because every point is keyed by its source timestamp, the
replay overwrites itself instead of duplicating.

While a batch is being written the next one is decoded (`writes_in_flight`),
and acknowledgements go out in arrival order. When the database is down, batches
go to the spool and are replayed when it returns; when the spool is full (or
disabled) the collector stops acknowledging, so at most `receive_maximum`
messages wait in its memory and the broker, then the gateways' own spools, hold
the rest. A payload that cannot be stored goes to the dead-letter topic with
the reason and is acknowledged; the collector never dies of bad input.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

import msgspec
import numpy as np
import paho.mqtt.client as paho

from collector.completeness import Reckoner
from collector.mapping import Mapped, map_message
from tonle.config import TonleConfig
from tonle.contract import KINDS, PayloadError, TopicError, encode_block, subscription
from tonle.io import writers
from tonle.io.clock import Clock, WallClock
from tonle.io.influxql import InfluxQLClient, InfluxQLError
from tonle.io.mqtt import MqttConnection
from tonle.io.spool import Spool, SpoolError
from tonle.io.writers import RejectedLine, WriteError, Writer

__all__ = ["Collector", "CollectorStats", "SeqTracker", "make_writer", "run_collector"]

log = logging.getLogger("tonle.collector")

RETRY_MIN_S = 0.5
RETRY_MAX_S = 10.0
RETRY_AFTER_MAX_S = 60.0  # a server asking for longer is not trusted further: the spool holds the data
STOP_DRAIN_S = 10.0  # on a clean stop, how long in-flight batches may take to be stored and acked
SPOOL_TOPIC = "lines/gzip"


@dataclass
class CollectorStats:
    """Cumulative counters of this instance; written to the `pipeline` measurement."""

    messages: int = 0
    points: int = 0
    dead_letters: int = 0
    rejected_points: int = 0
    seq_gaps: int = 0  # seen by this instance alone; see collector/completeness.py for the truth
    seq_replays: int = 0
    write_errors: int = 0
    batches: int = 0
    spooled_batches: int = 0
    spooled_points: int = 0
    replayed_points: int = 0
    last_batch_ms: float = 0.0
    batch_ms: list[float] = field(default_factory=list)  # since the last health row
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)


class _DeadLetter(msgspec.Struct):
    v: int
    ts: int
    topic: str
    reason: str
    payload: str


class SeqTracker:
    """Counts missing sequence numbers per stream (machine + kind) seen by this instance.

    A sequence that goes backwards is a replay (at-least-once delivery), not a gap.
    Only right for a collector that is alone on its subscription; the database
    reckoning (collector/completeness.py) is right for any number of collectors.
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


@dataclass(slots=True)
class _Batch:
    messages: list[paho.MQTTMessage]
    lines: bytes
    points: int
    stored: asyncio.Future[None]


class Collector:
    def __init__(
        self,
        cfg: TonleConfig,
        writer: Writer,
        clock: Clock | None = None,
        reader: InfluxQLClient | None = None,
    ) -> None:
        self.cfg = cfg
        self.clock: Clock = clock or WallClock()
        c = cfg.collector
        self.instance = c.instance or f"{socket.gethostname()}-{os.getpid()}"
        self.writer = writer
        self.reader = reader  # for the completeness reckoning; None = not done here
        self.stats = CollectorStats()
        self.seq = SeqTracker()
        self.ready = asyncio.Event()  # subscribed and storing
        self.idle = asyncio.Event()  # nothing queued, every batch stored and acked, spool empty
        self.db_up = True  # believed reachable; False sends batches straight to the spool
        self.spool: Spool | None = None
        self._spool_has_data = asyncio.Event()
        self._acks: asyncio.Queue[_Batch] = asyncio.Queue()
        self._slots = asyncio.Semaphore(c.writes_in_flight)
        self._unacked = 0  # messages taken from the queue and not yet acked
        self._writes: set[asyncio.Task[None]] = set()
        self._last_health: tuple[float, int, int] | None = None
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
        self.spool = self._open_spool()
        try:
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
                    acker = tg.create_task(self._ack_loop(), name="collector-acks")
                    replayer = tg.create_task(self._replay_loop(), name="collector-replay")
                    health = tg.create_task(self._health_loop(), name="collector-health")
                    reckoner = tg.create_task(self._completeness_loop(), name="collector-completeness")
                    await stop.wait()
                    batcher.cancel()  # the batch being gathered is not acked: the broker redelivers it
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._acks.join(), STOP_DRAIN_S)
                    for task in (acker, replayer, health, reckoner, *self._writes):
                        task.cancel()
        finally:
            if self.spool is not None:
                self.spool.close()

    def _open_spool(self) -> Spool | None:
        c = self.cfg.collector
        if c.spool_max_mb == 0:
            log.info("collector spool disabled: during a database outage the broker holds the data")
            return None
        try:
            spool = Spool(Path(c.spool_path), c.spool_max_mb * 2**20)
        except (SpoolError, OSError) as exc:
            log.error(
                "cannot open the collector spool %s (%s); running without it: during a database "
                "outage the broker holds the data. Fix collector.spool_path or its disk.",
                c.spool_path,
                exc,
            )
            return None
        if spool.depth:
            log.info("collector spool holds %d batches from before; replaying them", spool.depth)
            self._spool_has_data.set()
        return spool

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
        loop = asyncio.get_running_loop()
        while True:
            self._update_idle()
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
            await self._slots.acquire()  # back-pressure: at most writes_in_flight batches
            item = _Batch(batch, b"".join(chunks), points, loop.create_future())
            self._unacked += len(batch)
            self._acks.put_nowait(item)
            task = asyncio.create_task(self._deliver(item), name="collector-write")
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    def _take(self, msg: paho.MQTTMessage, chunks: list[bytes]) -> int:
        """Map one message into `chunks`; dead-letter it if it cannot be stored."""
        self.stats.messages += 1
        try:
            mapped: Mapped = map_message(msg.topic, msg.payload)
        except (PayloadError, TopicError) as exc:
            self._dead_letter(msg.topic, msg.payload, str(exc), exc.category)
            return 0
        except Exception:  # a decoder bug must not stop good traffic: park the message, keep going
            log.exception(
                "internal error mapping a message from %r; it goes to the dead letters", msg.topic[:200]
            )
            self._dead_letter(
                msg.topic, msg.payload, "internal error: the collector could not map this message; report it"
            )
            return 0
        if mapped.stream is not None:
            gaps, replays = self.seq.observe(mapped.stream, mapped.first_seq, mapped.n_seq)
            self.stats.seq_gaps += gaps
            self.stats.seq_replays += replays
        chunks.append(mapped.lines)
        return mapped.points

    async def _ack_loop(self) -> None:
        """Acknowledge batches in the order they were taken, each once it is safe."""
        while True:
            item = await self._acks.get()
            try:
                await asyncio.wait([item.stored])
                if item.stored.cancelled():
                    continue  # stopping: not stored, so not acked; the broker redelivers it
                if (exc := item.stored.exception()) is not None:
                    raise exc  # a bug, not an outage: stop loudly and let the supervisor restart us
                for msg in item.messages:
                    self.mqtt.ack(msg)
                self._unacked -= len(item.messages)
            finally:
                self._acks.task_done()
            self._update_idle()

    def _update_idle(self) -> None:
        busy = self.mqtt.messages.qsize() or self._unacked or (self.spool is not None and self.spool.depth)
        if busy:
            self.idle.clear()
        else:
            self.idle.set()

    def _dead_letter(self, topic: str, payload: bytes, reason: str, category: str | None = None) -> None:
        self.stats.dead_letters += 1
        key = category or reason.split(":")[0][:60]
        self.stats.dead_letter_reasons[key] = self.stats.dead_letter_reasons.get(key, 0) + 1
        log.warning("dead letter from %r: %s", topic[:200], reason)
        body = msgspec.json.encode(
            _DeadLetter(1, time.time_ns(), topic, reason, payload[:2048].decode("utf-8", "replace"))
        )
        # QoS 1 is queued by paho and retried; the original is acked with its batch.
        self.mqtt.publish_nowait(f"{self.cfg.collector.deadletter_topic}/collector", body, qos=1)

    # -- storing --------------------------------------------------------------
    async def _deliver(self, item: _Batch) -> None:
        try:
            await self._store_or_spool(item.lines, item.points)
        except asyncio.CancelledError:
            item.stored.cancel()
            raise
        except Exception as exc:
            item.stored.set_exception(exc)
        else:
            item.stored.set_result(None)
        finally:
            self._slots.release()

    async def _store_or_spool(self, lines: bytes, points: int) -> None:
        """Return once the batch is in the database or in the spool; retry while neither can take it."""
        if not lines:
            return
        delay = RETRY_MIN_S
        while True:
            if self.db_up:
                t0 = time.perf_counter()
                try:
                    rejected = await self.writer.write(lines)
                except WriteError as exc:
                    self.stats.write_errors += 1
                    self._went_down(exc)
                    retry_after = exc.retry_after_s
                else:
                    self._stored(rejected, points, (time.perf_counter() - t0) * 1000)
                    return
            else:
                retry_after = None
            if self._spool_batch(lines, points):
                return
            wait = min(retry_after, RETRY_AFTER_MAX_S) if retry_after is not None else delay
            await asyncio.sleep(wait)
            delay = min(RETRY_MAX_S, delay * 2)
            self.db_up = True  # try the database again: the spool is full or unavailable

    def _went_down(self, exc: WriteError) -> None:
        if self.db_up:
            where = "the spool" if self.spool is not None else "the broker (no collector spool)"
            log.warning("%s; batches go to %s until it is back", exc, where)
        self.db_up = False

    def _spool_batch(self, lines: bytes, points: int) -> bool:
        spool = self.spool
        if spool is None:
            return False
        payload = gzip.compress(lines, compresslevel=1)
        if spool.size_bytes + len(payload) + 64 > spool.max_bytes:
            log.warning(
                "collector spool %s is full (%d MB); holding acks so the broker keeps the data. "
                "Bring the database back or raise collector.spool_max_mb.",
                spool.path,
                spool.max_bytes // 2**20,
            )
            return False
        try:
            spool.append([(f"{SPOOL_TOPIC}/{points}", payload)])
        except SpoolError as exc:
            log.error("could not spool a batch (%s); holding acks so the broker keeps the data", exc)
            return False
        self.stats.spooled_batches += 1
        self.stats.spooled_points += points
        self._spool_has_data.set()
        return True

    def _stored(self, rejected: list[RejectedLine], points: int, ms: float) -> None:
        self.db_up = True
        self._reject(rejected)
        self.stats.points += points - len(rejected)
        self.stats.batches += 1
        self.stats.last_batch_ms = ms
        if len(self.stats.batch_ms) < 100_000:
            self.stats.batch_ms.append(ms)

    async def _replay_loop(self) -> None:
        """Write spooled batches back, oldest first, whenever the database takes them."""
        delay = RETRY_MIN_S
        while True:
            await self._spool_has_data.wait()
            spool = self.spool
            if spool is None or not spool.depth:
                self._spool_has_data.clear()
                self._update_idle()
                continue
            (batch_id, topic, payload), *_ = spool.peek(0, 1)
            points = int(topic.rsplit("/", 1)[1])
            t0 = time.perf_counter()
            try:
                rejected = await self.writer.write(gzip.decompress(payload))
            except WriteError as exc:
                self.stats.write_errors += 1
                self._went_down(exc)
                ra = exc.retry_after_s
                await asyncio.sleep(min(ra, RETRY_AFTER_MAX_S) if ra is not None else delay)
                delay = min(RETRY_MAX_S, delay * 2)
                continue
            if not self.db_up:
                log.info("database is back; replaying %d spooled batches", spool.depth)
            delay = RETRY_MIN_S
            spool.ack([batch_id])
            self._stored(rejected, points, (time.perf_counter() - t0) * 1000)
            self.stats.replayed_points += points

    def _reject(self, rejected: list[RejectedLine]) -> None:
        for r in rejected:
            self.stats.rejected_points += 1
            self._dead_letter(
                "influxdb", r.line, f"InfluxDB rejected the point: {r.reason}", "InfluxDB rejected the point"
            )

    # -- completeness -----------------------------------------------------------
    async def _completeness_loop(self) -> None:
        if self.reader is None:
            return
        while True:
            await asyncio.sleep(self.cfg.collector.completeness_interval_s)
            try:
                await self.reckon_completeness()
            except InfluxQLError as exc:
                log.warning("could not reckon data completeness: %s", exc)

    async def reckon_completeness(self, lag_s: float | None = None) -> None:
        """Write `completeness` for the horizon, stamped at the pass time rounded to the interval."""
        if self.reader is None:
            raise RuntimeError("this collector was started without an InfluxQL reader")
        c = self.cfg.collector
        lag = c.completeness_lag_s if lag_s is None else lag_s
        now = self.clock.now_ns()
        end = now - int(lag * 1e9)
        start = end - int(c.completeness_horizon_h * 3600e9)
        step = max(1, int(c.completeness_interval_s * 1e9))
        figures = await Reckoner(self.reader).reckon(start, end)
        lines = Reckoner.lines(figures, now // step * step)
        if lines:
            await self._store_or_spool(lines, lines.count(b"\n"))

    # -- own health -------------------------------------------------------------
    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.collector.health_interval_s)
            await self.write_health()

    def health_fields(self) -> dict[str, float]:
        """This instance's health; every value a float (the agents share the measurement)."""
        s = self.stats
        now = time.monotonic()
        msg_rate = pts_rate = 0.0
        if self._last_health is not None:
            t, m, p = self._last_health
            if now > t:
                msg_rate, pts_rate = (s.messages - m) / (now - t), (s.points - p) / (now - t)
        ms = np.array(s.batch_ms) if s.batch_ms else np.zeros(1)
        spool = self.spool
        return {
            "messages": float(s.messages),
            "points": float(s.points),
            "messages_per_s": msg_rate,
            "points_per_s": pts_rate,
            "dead_letters": float(s.dead_letters),
            "rejected_points": float(s.rejected_points),
            "batches": float(s.batches),
            "write_errors": float(s.write_errors),
            "batch_ms": s.last_batch_ms,
            "batch_ms_p50": float(np.percentile(ms, 50)),
            "batch_ms_p99": float(np.percentile(ms, 99)),
            "queue_depth": float(self.mqtt.messages.qsize()),
            "unacked": float(self._unacked),
            "writes_in_flight": float(len(self._writes)),
            "db_up": 1.0 if self.db_up else 0.0,
            "spool_depth": float(spool.depth if spool else 0),
            "spool_mb": (spool.size_bytes if spool else 0) / 2**20,
            "spooled_points": float(s.spooled_points),
            "replayed_points": float(s.replayed_points),
        }

    async def write_health(self) -> None:
        fields = self.health_fields()
        # Rates and batch percentiles are per health interval: start the next one here,
        # so reading the figures (a test, the demo) never changes them.
        s = self.stats
        self._last_health = (time.monotonic(), s.messages, s.points)
        s.batch_ms.clear()
        lines = encode_block(
            "pipeline",
            {"component": "collector", "instance": self.instance},
            np.array([self.clock.now_ns()], dtype=np.int64),
            {k: np.array([v]) for k, v in fields.items()},
        )
        if self.db_up:
            try:
                await self.writer.write(lines)
                return
            except WriteError as exc:
                self._went_down(exc)
        # While the database is down the health rows wait in the spool with the data,
        # so the pipeline dashboard shows the outage instead of a hole.
        self._spool_batch(lines, 0)


def make_writer(cfg: TonleConfig) -> Writer:
    return writers.make_writer(cfg.influxdb)


def make_reader(cfg: TonleConfig) -> InfluxQLClient | None:
    """An InfluxQL client for the completeness reckoning, or None where the database has no InfluxQL."""
    i = cfg.influxdb
    if getattr(i, "api", "v1") != "v1":
        log.info("database speaks the v2 API only: data completeness is not reckoned by the collector")
        return None
    return InfluxQLClient(i.url, i.database, username=i.username or None, password=i.password())


async def run_collector(cfg: TonleConfig, stop: asyncio.Event | None = None) -> None:
    reader = make_reader(cfg)
    async with make_writer(cfg) as writer:
        if reader is None:
            await Collector(cfg, writer).run(stop)
            return
        async with reader:
            await Collector(cfg, writer, reader=reader).run(stop)
