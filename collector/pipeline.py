"""The in-order acknowledgement pipeline: MQTT messages in, batches to the store, acks in arrival order.

A QoS 1 message is acknowledged to the broker only once the batch that holds it is
stored (in the database or the spool). While one batch is being written the next is
decoded (`writes_in_flight`); acknowledgements still go out in the order the messages
arrived. A message that cannot be stored (bad input, or a look-alike of a stored name)
goes to the dead letters and is acknowledged with its batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass

import paho.mqtt.client as paho

from collector.confirms import Confirmer, spool_ref_of
from collector.deadletters import DeadLetters
from collector.mapping import Mapped, map_message
from collector.names import NameGuard
from collector.stats import CollectorStats, SeqTracker
from collector.store import Store, Where
from tonle.config.sections import CollectorConfig
from tonle.contract import PayloadError, TopicError
from tonle.contract.confirm import SpoolRef
from tonle.io.mqtt import MqttConnection
from tonle.messages import _
from tonle.security.names import Confusable

__all__ = ["AckPipeline"]

log = logging.getLogger("tonle.collector")


@dataclass(slots=True)
class _Batch:
    messages: list[paho.MQTTMessage]
    lines: bytes
    points: int
    refs: list[SpoolRef]  # where its messages sit in their gateways' spools (to confirm)
    stored: asyncio.Future[Where]


class AckPipeline:
    """Batches the messages of `mqtt` into `store` and acknowledges them once stored."""

    def __init__(
        self,
        mqtt: MqttConnection,
        c: CollectorConfig,
        store: Store,
        stats: CollectorStats,
        seq: SeqTracker,
        dead_letters: DeadLetters,
        confirmer: Confirmer,
        names: NameGuard,
    ) -> None:
        self.mqtt = mqtt
        self.names = names
        self.confirmer = confirmer
        self.c = c
        self.store = store
        self.stats = stats
        self.seq = seq
        self.dead_letters = dead_letters
        self.idle = asyncio.Event()  # nothing queued, every batch stored and acked, spool empty
        self.unacked = 0  # messages taken from the queue and not yet acked
        self.writes: set[asyncio.Task[None]] = set()
        self._acks: asyncio.Queue[_Batch] = asyncio.Queue()
        self._slots = asyncio.Semaphore(c.writes_in_flight)

    async def batch_loop(self) -> None:
        """Gather messages into batches (up to `batch_points`, or `batch_wait_ms`) and start their writes."""
        c, queue = self.c, self.mqtt.messages
        loop = asyncio.get_running_loop()
        while True:
            self.update_idle()
            first = await queue.get()
            self.idle.clear()
            batch: list[paho.MQTTMessage] = [first]
            chunks: list[bytes] = []
            refs: list[SpoolRef] = []
            points = self._take(first, chunks, refs)
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
                points += self._take(msg, chunks, refs)
            await self._slots.acquire()  # back-pressure: at most writes_in_flight batches
            item = _Batch(batch, b"".join(chunks), points, refs, loop.create_future())
            self.unacked += len(batch)
            self._acks.put_nowait(item)
            task = asyncio.create_task(self._deliver(item), name="collector-write")
            self.writes.add(task)
            task.add_done_callback(self.writes.discard)

    def _take(self, msg: paho.MQTTMessage, chunks: list[bytes], refs: list[SpoolRef]) -> int:
        """Map one message into `chunks`; dead-letter it if it cannot be stored.

        A message that maps but carries a name that looks like a stored one (`collector.names`)
        cannot be stored either: it would make a second machine that reads like the first.

        Its spool reference goes to `refs` either way: a dead letter is confirmed with its
        batch too, since sending it again would not make it storable.
        """
        self.stats.messages += 1
        ref = spool_ref_of(msg)
        if ref is not None:
            refs.append(ref)
        try:
            mapped: Mapped = map_message(msg.topic, msg.payload)
            self.names.admit(msg.topic)  # after mapping: only a storable message teaches a name
        except (PayloadError, TopicError) as exc:
            self.dead_letters.send(msg.topic, msg.payload, str(exc), exc.category)
            return 0
        except Confusable as exc:
            self.stats.names_refused += 1
            self.dead_letters.send(msg.topic, msg.payload, f"{exc.category}: {exc}", exc.category)
            return 0
        except Exception:  # a decoder bug must not stop good traffic: park the message, keep going
            log.exception(
                _("internal error mapping a message from {topic!r}; it goes to the dead letters").format(
                    topic=msg.topic[:200]
                )
            )
            self.dead_letters.send(
                msg.topic, msg.payload, "internal error: the collector could not map this message; report it"
            )
            return 0
        if mapped.stream is not None:
            gaps, replays = self.seq.observe(mapped.stream, mapped.first_seq, mapped.n_seq)
            self.stats.seq_gaps += gaps
            self.stats.seq_replays += replays
        chunks.append(mapped.lines)
        return mapped.points

    async def _deliver(self, item: _Batch) -> None:
        try:
            where = await self.store.store_or_spool(item.lines, item.points, item.refs)
        except asyncio.CancelledError:
            item.stored.cancel()
            raise
        except Exception as exc:
            item.stored.set_exception(exc)
        else:
            item.stored.set_result(where)
        finally:
            self._slots.release()

    async def ack_loop(self) -> None:
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
                self.unacked -= len(item.messages)
                if item.stored.result() == "spooled":
                    self.confirmer.held(item.refs)
                else:
                    self.confirmer.stored(item.refs)
                self.confirmer.flush()
            finally:
                self._acks.task_done()
            self.update_idle()

    async def drain(self, timeout_s: float) -> None:
        """Wait (at most `timeout_s`) until every batch taken so far is stored and acked."""
        with contextlib.suppress(TimeoutError):  # what is not acked, the broker redelivers
            await asyncio.wait_for(self._acks.join(), timeout_s)

    def update_idle(self) -> None:
        spool = self.store.spool
        busy = self.mqtt.messages.qsize() or self.unacked or (spool is not None and spool.depth)
        if busy:
            self.idle.clear()
        else:
            self.idle.set()
