"""The collector service: MQTT in, batched line protocol out, acks only after storage.

Delivery is at-least-once end to end: a QoS 1 message is acknowledged to the
broker only once InfluxDB has accepted the batch that holds it, or the batch is
in the collector's durable spool. If the collector dies first, the broker
redelivers, and because every point is keyed by its source timestamp, the
replay overwrites itself instead of duplicating.

The jobs live in their own modules: the in-order acknowledgement pipeline
(`collector.pipeline`), database writes, spool and replay (`collector.store`),
dead letters (`collector.deadletters`), the collector's own health rows
(`collector.health`) and data completeness (`collector.completeness`). This one
builds them, runs them as named tasks, and stops them cleanly.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import socket

from collector.completeness import Reckoner
from collector.confirms import Confirmer
from collector.deadletters import DeadLetters
from collector.health import HealthMeter
from collector.names import NameGuard
from collector.pipeline import AckPipeline
from collector.stats import CollectorStats, SeqTracker
from collector.store import Store, open_spool
from tonle.config import TonleConfig
from tonle.contract import KINDS, subscription
from tonle.contract.confirm import SpoolRef
from tonle.io.backoff import Backoff
from tonle.io.clock import Clock, WallClock
from tonle.io.connect import influx_writer, influxql_client, mqtt_connection
from tonle.io.influxql import InfluxQLClient, InfluxQLError
from tonle.io.mqtt import MqttConnection
from tonle.io.spool import Spool
from tonle.io.writers import Writer
from tonle.messages import _

__all__ = [
    "Collector",
    "CollectorStats",
    "SeqTracker",
    "make_mqtt",
    "make_reader",
    "make_writer",
    "run_collector",
]

log = logging.getLogger("tonle.collector")

STOP_DRAIN_S = 10.0  # on a clean stop, how long in-flight batches may take to be stored and acked
NAMES_RELOAD_S = 300.0  # how often the stored names are read again (names other collectors stored)
GC_GEN0 = 20_000  # allocations between young collections (Python's default: 700); see `settle_gc`


def settle_gc() -> None:
    """Keep the garbage collector off the hot path once the collector has started.

    Each message makes short-lived objects (paho's message, the decoded sample, its line
    protocol); with Python's default threshold a young collection ran every few messages and
    scanned the objects of every message still waiting for its ack (issue 15, bench/RESULTS.md).
    What start-up made (modules, config, connections) lives as long as the process:
    `gc.freeze` moves it out of every later collection. Cycles are still collected, later.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_GEN0, *gc.get_threshold()[1:])


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
        self.reader = reader  # for the completeness reckoning and the stored names; None = neither
        self.stats = CollectorStats()
        self.seq = SeqTracker()
        self.ready = asyncio.Event()  # subscribed and storing
        self.mqtt = make_mqtt(cfg, self.instance)
        self.dead_letters = DeadLetters(self.mqtt, f"{c.deadletter_topic}/collector", self.stats)
        self.confirmer = Confirmer(self.mqtt, self.instance)
        self.store = Store(writer, self.stats, self.dead_letters, on_replayed=self._replayed)
        self.names = NameGuard()
        self.pipeline = AckPipeline(
            self.mqtt, c, self.store, self.stats, self.seq, self.dead_letters, self.confirmer, self.names
        )
        self.store.on_drained = self.pipeline.update_idle
        self.health = HealthMeter(self.stats)

    def _replayed(self, refs: list[SpoolRef]) -> None:
        """A batch from the spool is in the database now: its gateways may let go of it."""
        self.confirmer.stored(refs)
        self.confirmer.flush()

    # What tests, the demo and the benchmarks watch.
    @property
    def writer(self) -> Writer:
        return self.store.writer

    @property
    def idle(self) -> asyncio.Event:
        """Set when nothing is queued, every batch is stored and acked, and the spool is empty."""
        return self.pipeline.idle

    @property
    def db_up(self) -> bool:
        return self.store.db_up

    @property
    def spool(self) -> Spool | None:
        return self.store.spool

    @property
    def unacked(self) -> int:
        return self.pipeline.unacked

    async def run(self, stop: asyncio.Event | None = None) -> None:
        stop = stop or asyncio.Event()
        self.store.attach(open_spool(self.cfg.collector))
        try:
            async with self.mqtt:
                await self.store.ensure_database(stop)
                # Before the first message, so a restart forgets no name (stopping: nothing to read).
                names_loaded = stop.is_set() or await self.load_names()
                await self._subscribe()
                settle_gc()
                self.ready.set()
                log.info(
                    _("collector {name} storing into {url}").format(
                        name=self.instance, url=self.cfg.influxdb.url
                    )
                )
                async with asyncio.TaskGroup() as tg:
                    batcher = tg.create_task(self.pipeline.batch_loop(), name="collector-batches")
                    others = (
                        tg.create_task(self.pipeline.ack_loop(), name="collector-acks"),
                        tg.create_task(self.store.replay_loop(), name="collector-replay"),
                        tg.create_task(self._health_loop(), name="collector-health"),
                        tg.create_task(self._completeness_loop(), name="collector-completeness"),
                        tg.create_task(self._names_loop(names_loaded), name="collector-names"),
                    )
                    await stop.wait()
                    batcher.cancel()  # the batch being gathered is not acked: the broker redelivers it
                    await self.pipeline.drain(STOP_DRAIN_S)
                    for task in (*others, *self.pipeline.writes):
                        task.cancel()
        finally:
            self.store.close()

    async def _subscribe(self) -> None:
        c = self.cfg.collector
        for kind in KINDS:
            await self.mqtt.subscribe(
                subscription(kind, site=c.site, share_group=c.share_group or None), qos=1
            )
        await self.mqtt.wait_subscribed()

    # -- names ------------------------------------------------------------------
    async def load_names(self) -> bool:
        """Learn the names already stored (the look-alike check); False if the database could not say."""
        if self.reader is None:
            return True  # v2 API, or a test without a reader: only names accepted since start count
        try:
            n = await self.names.load(self.reader)
        except InfluxQLError as exc:
            log.warning(
                _(
                    "could not read the names already stored ({reason}): until it works, new names are "
                    "compared only with the names seen since start; retrying"
                ).format(reason=exc)
            )
            return False
        log.debug("look-alike check: %d stored names read", n)
        return True

    async def _names_loop(self, loaded: bool) -> None:
        """Retry the first read until it works; then read again now and then, so the names the
        other collectors of a shared group stored are compared with too."""
        if self.reader is None:
            return
        backoff = Backoff(self.store.policy)
        while True:
            if loaded:
                backoff.succeeded()
                await asyncio.sleep(NAMES_RELOAD_S)
            else:
                await backoff.failed()
            loaded = await self.load_names()

    # -- completeness -----------------------------------------------------------
    async def _completeness_loop(self) -> None:
        if self.reader is None:
            return
        while True:
            await asyncio.sleep(self.cfg.collector.completeness_interval_s)
            try:
                await self.reckon_completeness()
            except InfluxQLError as exc:
                log.warning(_("could not reckon data completeness: {reason}").format(reason=exc))

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
            await self.store.store_or_spool(lines, lines.count(b"\n"))

    # -- own health -------------------------------------------------------------
    async def _health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.cfg.collector.health_interval_s)
            await self.write_health()

    def health_fields(self) -> dict[str, float]:
        """This instance's health; every value a float (the agents share the measurement)."""
        fields = self.health.fields(
            queue_depth=self.mqtt.messages.qsize(),
            unacked=self.pipeline.unacked,
            writes_in_flight=len(self.pipeline.writes),
            db_up=self.store.db_up,
            spool=self.store.spool,
        )
        c = self.confirmer
        fields |= {
            "confirms_sent": float(c.sent),
            "messages_confirmed": float(c.confirmed),
            "duplicates_absorbed": float(c.duplicates),
            "names_known": float(self.names.count()),
        }
        return fields

    async def write_health(self) -> None:
        fields = self.health_fields()
        self.health.next_interval()
        lines = HealthMeter.lines(self.instance, fields, self.clock.now_ns())
        # While the database is down the health rows wait in the spool with the data,
        # so the pipeline dashboard shows the outage instead of a hole.
        await self.store.write_or_spool(lines)


def make_mqtt(cfg: TonleConfig, instance: str) -> MqttConnection:
    """The collector's MQTT session: manual acks, a persistent session, bounded in-flight messages."""
    return mqtt_connection(
        cfg,
        "collector",
        name=instance,
        manual_ack=True,
        receive_maximum=cfg.collector.receive_maximum,
        clean_start=False,
        session_expiry_s=3600,
    )


def make_writer(cfg: TonleConfig) -> Writer:
    return influx_writer(cfg)


def make_reader(cfg: TonleConfig) -> InfluxQLClient | None:
    """An InfluxQL client for the completeness reckoning, or None where the database has no InfluxQL."""
    if cfg.influxdb.api != "v1":
        log.info(_("database speaks the v2 API only: data completeness is not reckoned by the collector"))
        return None
    return influxql_client(cfg)


async def run_collector(cfg: TonleConfig, stop: asyncio.Event | None = None) -> None:
    reader = make_reader(cfg)
    async with make_writer(cfg) as writer:
        if reader is None:
            await Collector(cfg, writer).run(stop)
            return
        async with reader:
            await Collector(cfg, writer, reader=reader).run(stop)
