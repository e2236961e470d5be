"""Drain the spool to the broker, in order, deleting each message only on its PUBACK.

Everything the agent sends goes through the spool first, so the same path
serves normal operation, a broker outage (messages pile up on disk) and a
restart after a crash (the spool is read from its head). At most `window`
messages are handed to paho at once: enough to keep the link busy, bounded so
a long outage never moves the whole backlog into memory. paho re-sends its
in-flight messages itself after a reconnect; a message delivered twice
overwrites itself in InfluxDB.
"""

from __future__ import annotations

import asyncio
import logging

from tonle.io.mqtt import MqttConnection
from tonle.io.spool import Spool

__all__ = ["SpoolPublisher"]

log = logging.getLogger("tonle.agent")
WINDOW = 500


class SpoolPublisher:
    def __init__(self, spool: Spool, mqtt: MqttConnection, window: int = WINDOW) -> None:
        self.spool = spool
        self.mqtt = mqtt
        self.window = window
        self.sent = 0
        self.delivered = 0
        self._wake = asyncio.Event()
        self._inflight: dict[int, asyncio.Future[None]] = {}
        self._last = 0

    def wake(self) -> None:
        """New messages are in the spool."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self.mqtt.connected.wait()
            self._wake.clear()  # before reading the spool, so no append is missed
            self._fill()
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait({woken, *self._inflight.values()}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                woken.cancel()
            self._collect()

    def _fill(self) -> None:
        room = self.window - len(self._inflight)
        if room <= 0:
            return
        for msg_id, topic, payload in self.spool.peek(self._last, room):
            self._inflight[msg_id] = self.mqtt.publish_nowait(topic, payload, qos=1)
            self._last = msg_id
            self.sent += 1

    def _collect(self) -> None:
        done = [i for i, f in self._inflight.items() if f.done()]
        if not done:
            return
        for i in done:
            del self._inflight[i]
        self.spool.ack(done)
        self.delivered += len(done)

    async def drain(self, timeout: float = 30.0) -> bool:
        """Wait until the spool is empty and nothing is in flight (tests, clean shutdown)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.spool.depth or self._inflight:
            if asyncio.get_running_loop().time() > deadline:
                return False
            self.wake()
            await asyncio.sleep(0.01)
        return True
