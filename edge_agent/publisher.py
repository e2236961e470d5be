"""Send the spool to the broker, and let go of a message only when a collector confirms it.

An MQTT PUBACK says the broker took a message, not that the database holds it: a broker
restarted before the collector resubscribed drops it (PUBACK reason 16, no matching
subscribers), a broker killed before its autosave forgets it. So a message stays in the
spool until a collector confirms it is stored (`tonle.contract.confirm`, docs/delivery.md),
and it is sent again:

- after every reconnect to the broker (what the broker held may be gone),
- soon after a PUBACK that says nobody was subscribed (with backoff while that lasts),
- when no confirmation came within `confirm_timeout_s`, or `held_timeout_s` once a
  collector said it holds the message in its own spool while the database is down.

Storage is idempotent, so a re-send costs bandwidth, never correctness. At most `window`
messages wait for their PUBACK and at most `unconfirmed_max` for their confirmation: that
bounds the memory spent tracking them and what one re-send round can cost. The spool's own
bound counts every message until it is confirmed.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tonle.contract.confirm import PROP_GATEWAY, PROP_SPOOL, Confirm, spool_ref
from tonle.io.backoff import Backoff, BackoffPolicy
from tonle.io.mqtt import MqttConnection
from tonle.io.spool import Spool
from tonle.messages import _

__all__ = ["CONFIRM_TIMEOUT_S", "HELD_TIMEOUT_S", "NO_SUBSCRIBER_POLICY", "SpoolPublisher"]

log = logging.getLogger("tonle.agent")
WINDOW = 500  # messages waiting for their PUBACK at once
UNCONFIRMED_MAX = 5000  # messages sent and waiting for their confirmation at once
CONFIRM_TIMEOUT_S = 30.0
HELD_TIMEOUT_S = 600.0
NO_SUBSCRIBERS = 16  # MQTT v5 PUBACK reason code: accepted, but nobody was subscribed
# After "no matching subscribers" no collector is subscribed (yet): try again soon, less often while it lasts.
NO_SUBSCRIBER_POLICY = BackoffPolicy(base_s=0.5, max_s=5.0)


@dataclass(slots=True)
class _Out:
    """A message sent and not yet confirmed."""

    due: float  # when to send it again if no confirmation has come
    held: bool = False  # a collector holds it in its spool: keep it, do not hurry


class SpoolPublisher:
    def __init__(
        self,
        spool: Spool,
        mqtt: MqttConnection,
        gateway: str,
        *,
        window: int = WINDOW,
        unconfirmed_max: int = UNCONFIRMED_MAX,
        confirm_timeout_s: float = CONFIRM_TIMEOUT_S,
        held_timeout_s: float = HELD_TIMEOUT_S,
        now: Callable[[], float] | None = None,
    ) -> None:
        self.spool = spool
        self.mqtt = mqtt
        self.gateway = gateway
        self.window = window
        self.unconfirmed_max = unconfirmed_max
        self.confirm_timeout_s = confirm_timeout_s
        self.held_timeout_s = held_timeout_s
        self._now = now or (lambda: asyncio.get_running_loop().time())
        self.sent = 0  # first sends
        self.resent = 0  # sends of a message sent before (by this process)
        self.confirmed = 0  # messages a collector confirmed stored
        self.no_subscriber = 0  # PUBACKs that said nobody was subscribed
        self.stale_confirms = 0  # confirmations for another spool file (token), ignored
        self._out: dict[int, _Out] = {}
        self._resend: set[int] = set()
        self._pubacks: dict[int, asyncio.Future[int]] = {}
        self._cursor = 0  # the newest spool id sent for the first time
        self._connects = -1
        self._no_sub = Backoff(NO_SUBSCRIBER_POLICY)
        self._wake = asyncio.Event()

    # -- what the agent shows -------------------------------------------------------
    @property
    def unconfirmed(self) -> int:
        """Sent, not yet confirmed (held ones included)."""
        return len(self._out)

    @property
    def held(self) -> int:
        return sum(1 for o in self._out.values() if o.held)

    @property
    def unsent(self) -> int:
        """In the spool and not sent yet by this process."""
        return max(0, self.spool.depth - len(self._out))

    def wake(self) -> None:
        """New messages are in the spool, or a confirmation came."""
        self._wake.set()

    # -- the loop -------------------------------------------------------------------
    async def run(self) -> None:
        while True:
            await self.mqtt.connected.wait()
            if self.mqtt.stats.connects != self._connects:
                self._reconnected()
            self._wake.clear()  # before reading the spool, so no append is missed
            now = self._now()
            self._expire(now)
            self._fill(now)
            await self._wait(now)
            self._collect()

    def _reconnected(self) -> None:
        """A new connection: what the broker held for the collector may be gone, send it again."""
        self._connects = self.mqtt.stats.connects
        self._resend.update(i for i, o in self._out.items() if not o.held)
        self._pubacks.clear()  # paho's futures of the old connection; the messages are re-sent

    def _expire(self, now: float) -> None:
        for i, o in self._out.items():
            if o.due <= now and i not in self._pubacks:
                self._resend.add(i)

    def _fill(self, now: float) -> None:
        room = self.window - len(self._pubacks)
        if room > 0 and self._resend:
            again = sorted(self._resend)[:room]
            self._resend.difference_update(again)
            rows = self.spool.get(again)
            for gone in set(again) - {r[0] for r in rows}:  # confirmed meanwhile, or dropped
                self._out.pop(gone, None)
            self._send(rows, now)
            self.resent += len(rows)
            room -= len(rows)
        room = min(room, self.unconfirmed_max - len(self._out))
        if room > 0:
            rows = self.spool.peek(self._cursor, room)
            self._send(rows, now)
            self.sent += len(rows)
            if rows:
                self._cursor = rows[-1][0]

    def _send(self, rows: Sequence[tuple[int, str, bytes]], now: float) -> None:
        token = self.spool.token
        for spool_id, topic, payload in rows:
            props = [(PROP_GATEWAY, self.gateway), (PROP_SPOOL, spool_ref(token, spool_id))]
            self._pubacks[spool_id] = self.mqtt.publish_nowait(topic, payload, qos=1, user_properties=props)
            self._out[spool_id] = _Out(now + self.confirm_timeout_s)

    async def _wait(self, now: float) -> None:
        """Until new data, a confirmation, a PUBACK, the next re-send is due, or the link drops."""
        mine = {
            asyncio.ensure_future(self._wake.wait()),
            asyncio.ensure_future(self.mqtt.disconnected.wait()),
        }
        due = [o.due for i, o in self._out.items() if i not in self._pubacks]
        timeout = max(0.0, min(due) - now) if due else None
        try:
            await asyncio.wait(
                {*mine, *self._pubacks.values()}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for w in mine:
                w.cancel()

    def _collect(self) -> None:
        """PUBACKs in. Anything but success (16: nobody was subscribed) went nowhere: send it again soon."""
        done = [i for i, f in self._pubacks.items() if f.done()]
        refused = []
        for i in done:
            fut = self._pubacks.pop(i)
            reason = -1 if fut.cancelled() or fut.exception() is not None else fut.result()
            if reason != 0:
                refused.append(i)
                self.no_subscriber += reason == NO_SUBSCRIBERS
        if not refused:
            if done:
                self._no_sub.succeeded()
            return
        delay = self._no_sub.next_delay()
        if self._no_sub.failures == 1:
            log.warning(
                _(
                    "the broker says no collector is subscribed; the gateway keeps the data in its spool and "
                    "sends it again until a collector confirms it (is the collector running?)"
                )
            )
        due = self._now() + delay
        for i in refused:
            if i in self._out:
                self._out[i].due = due

    # -- confirmations ----------------------------------------------------------------
    def confirm(self, msg: Confirm) -> None:
        """A collector's confirmation: delete what it stored, stop hurrying what it holds."""
        if msg.token != self.spool.token:
            self.stale_confirms += 1
            return
        if msg.stored:
            before = self.spool.depth
            self.spool.ack_ranges(msg.stored)
            self.confirmed += before - self.spool.depth
            for i in _ids_in(self._out, msg.stored):
                del self._out[i]
                self._resend.discard(i)
        if msg.held:
            due = self._now() + self.held_timeout_s
            for i in _ids_in(self._out, msg.held):
                self._out[i].held, self._out[i].due = True, due
                self._resend.discard(i)
        self.wake()

    async def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every spooled message is confirmed (tests, clean shutdown)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while self.spool.depth:
            if asyncio.get_running_loop().time() > deadline:
                return False
            self.wake()
            await asyncio.sleep(0.01)
        return True


def _ids_in(out: dict[int, _Out], ranges: Sequence[tuple[int, int]]) -> list[int]:
    """The ids of `out` inside the sorted inclusive `ranges`."""
    firsts = [r[0] for r in ranges]
    found = []
    for i in out:
        k = bisect.bisect_right(firsts, i) - 1
        if k >= 0 and ranges[k][0] <= i <= ranges[k][1]:
            found.append(i)
    return found
