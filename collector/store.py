"""Database writes, the durable spool while the database is down, and the replay when it is back.

`store_or_spool` returns once a batch is in the database or in the spool, so its
messages may be acknowledged. While the database is believed down, batches go
straight to the spool; when the spool is full (or disabled) it keeps retrying, so the
caller holds its acknowledgements and the broker keeps the data. The replay loop
writes spooled batches back, oldest first, whenever the database takes them.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from collector.confirms import refs_from_json, refs_to_json
from collector.deadletters import DeadLetters
from collector.stats import CollectorStats
from tonle.config.sections import CollectorConfig
from tonle.contract.confirm import SpoolRef
from tonle.io.backoff import Backoff, BackoffPolicy
from tonle.io.spool import Spool, SpoolError
from tonle.io.writers import RejectedLine, WriteError, Writer
from tonle.messages import _

__all__ = ["RETRY", "SPOOL_TOPIC", "Store", "Where", "open_spool", "parse_spool_topic", "spool_topic"]

log = logging.getLogger("tonle.collector")

RETRY_MIN_S = 0.5
RETRY_MAX_S = 10.0
RETRY_AFTER_MAX_S = 60.0  # a server asking for longer is not trusted further: the spool holds the data
RETRY = BackoffPolicy(base_s=RETRY_MIN_S, max_s=RETRY_MAX_S, jitter=0.0, retry_after_max_s=RETRY_AFTER_MAX_S)
"""The collector's one database link: 0.5 s doubling to 10 s, Retry-After believed up to 60 s."""
SPOOL_TOPIC = "lines/gzip"


def open_spool(c: CollectorConfig) -> Spool | None:
    """The collector's spool, or None if it is disabled or cannot be opened (the broker holds the data)."""
    if c.spool_max_mb == 0:
        log.info(_("collector spool disabled: during a database outage the broker holds the data"))
        return None
    try:
        return Spool(Path(c.spool_path), c.spool_max_mb * 2**20)
    except (SpoolError, OSError) as exc:
        log.error(
            _(
                "cannot open the collector spool {path} ({reason}); running without it: during a database "
                "outage the broker holds the data. Fix collector.spool_path or its disk."
            ).format(path=c.spool_path, reason=exc)
        )
        return None


Where = Literal["stored", "spooled"]


def spool_topic(points: int, refs: Sequence[SpoolRef]) -> str:
    """What a spooled batch keeps beside its lines: its point count and its messages' spool references."""
    if not refs:
        return f"{SPOOL_TOPIC}/{points}"
    return json.dumps({"points": points, "refs": refs_to_json(refs)}, separators=(",", ":"))


def parse_spool_topic(topic: str) -> tuple[int, list[SpoolRef]]:
    """(points, references) of a spooled batch; `lines/gzip/<points>` from older collectors too."""
    if topic.startswith("{"):
        doc = json.loads(topic)
        return int(doc["points"]), refs_from_json(doc.get("refs", {}))
    return int(topic.rsplit("/", 1)[1]), []


class Store:
    """The way to the database for one collector: direct while it answers, through the spool if not."""

    def __init__(
        self,
        writer: Writer,
        stats: CollectorStats,
        dead_letters: DeadLetters,
        on_drained: Callable[[], None] = lambda: None,
        policy: BackoffPolicy = RETRY,
        on_replayed: Callable[[list[SpoolRef]], None] = lambda refs: None,
    ) -> None:
        self.writer = writer
        self.stats = stats
        self.dead_letters = dead_letters
        self.on_drained = on_drained  # the spool has just been emptied
        self.on_replayed = on_replayed  # a spooled batch is now in the database: confirm its messages
        self.policy = policy
        self.spool: Spool | None = None
        self.db_up = True  # believed reachable; False sends batches straight to the spool
        self.has_data = asyncio.Event()  # the spool holds batches to replay

    def attach(self, spool: Spool | None) -> None:
        """Use `spool` (None: no spool); batches left in it from before are replayed."""
        self.spool = spool
        if spool is not None and spool.depth:
            log.info(_("collector spool holds {n} batches from before; replaying them").format(n=spool.depth))
            self.has_data.set()

    def close(self) -> None:
        if self.spool is not None:
            self.spool.close()

    async def ensure_database(self, stop: asyncio.Event) -> None:
        """Create the database if needed, retrying until it answers or `stop` is set."""
        backoff = Backoff(self.policy)
        while not stop.is_set():
            try:
                await self.writer.ensure_database()
                return
            except WriteError as exc:
                delay = backoff.next_delay()
                log.warning(_("{reason}; retrying in {seconds:.1f}s").format(reason=exc, seconds=delay))
                await asyncio.sleep(delay)

    async def store_or_spool(self, lines: bytes, points: int, refs: Sequence[SpoolRef] = ()) -> Where:
        """Return once the batch is in the database or in the spool; retry while neither can take it.

        `refs` (the spool references of its messages) travel with a spooled batch, so the
        gateways are told it is stored once the replay has written it.
        """
        if not lines:
            return "stored"
        backoff = Backoff(self.policy)
        while True:
            retry_after = None
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
                    return "stored"
            if self.spool_batch(lines, points, refs):
                return "spooled"
            await backoff.failed(retry_after)
            self.db_up = True  # try the database again: the spool is full or unavailable

    async def write_or_spool(self, lines: bytes) -> None:
        """One try at the database, else the spool (or nothing): for rows that must never block."""
        if self.db_up:
            try:
                await self.writer.write(lines)
                return
            except WriteError as exc:
                self._went_down(exc)
        self.spool_batch(lines, 0, ())

    def spool_batch(self, lines: bytes, points: int, refs: Sequence[SpoolRef]) -> bool:
        """Put a batch in the spool; False if there is none, it is full, or it failed."""
        spool = self.spool
        if spool is None:
            return False
        payload = gzip.compress(lines, compresslevel=1)
        if spool.size_bytes + len(payload) + 64 > spool.max_bytes:
            log.warning(
                _(
                    "collector spool {path} is full ({mb} MB); holding acks so the broker keeps the data. "
                    "Bring the database back or raise collector.spool_max_mb."
                ).format(path=spool.path, mb=spool.max_bytes // 2**20)
            )
            return False
        try:
            spool.append([(spool_topic(points, refs), payload)])
        except SpoolError as exc:
            log.error(
                _("could not spool a batch ({reason}); holding acks so the broker keeps the data").format(
                    reason=exc
                )
            )
            return False
        self.stats.spooled_batches += 1
        self.stats.spooled_points += points
        self.has_data.set()
        return True

    async def replay_loop(self) -> None:
        """Write spooled batches back, oldest first, whenever the database takes them."""
        backoff = Backoff(self.policy)
        while True:
            await self.has_data.wait()
            spool = self.spool
            if spool is None or not spool.depth:
                self.has_data.clear()
                self.on_drained()
                continue
            (batch_id, topic, payload), *_later = spool.peek(0, 1)
            points, refs = parse_spool_topic(topic)
            t0 = time.perf_counter()
            try:
                rejected = await self.writer.write(gzip.decompress(payload))
            except WriteError as exc:
                self.stats.write_errors += 1
                self._went_down(exc)
                await backoff.failed(exc.retry_after_s)
                continue
            if not self.db_up:
                log.info(_("database is back; replaying {n} spooled batches").format(n=spool.depth))
            backoff.succeeded()
            spool.ack([batch_id])
            self._stored(rejected, points, (time.perf_counter() - t0) * 1000)
            self.stats.replayed_points += points
            self.on_replayed(refs)

    def _went_down(self, exc: WriteError) -> None:
        if self.db_up:
            where = "the spool" if self.spool is not None else "the broker (no collector spool)"
            log.warning(_("{reason}; batches go to {where} until it is back").format(reason=exc, where=where))
        self.db_up = False

    def _stored(self, rejected: list[RejectedLine], points: int, ms: float) -> None:
        self.db_up = True
        self.dead_letters.rejected(rejected)
        self.stats.points += points - len(rejected)
        self.stats.batches += 1
        self.stats.last_batch_ms = ms
        if len(self.stats.batch_ms) < 100_000:
            self.stats.batch_ms.append(ms)
