"""One asyncio MQTT connection over paho-mqtt 2.x, shared by agent, collector and analytics.

Why not aiomqtt: the collector must acknowledge a QoS 1 message only after its
batch is stored, and aiomqtt does not expose paho's manual acknowledgements
(empicano/aiomqtt#345, still open). This wrapper keeps paho's own network
thread and reconnect logic and hands messages and PUBACKs to asyncio.

Back-pressure: with `manual_ack=True` the broker never sends more than
`receive_maximum` un-acknowledged QoS 1 messages (MQTT v5 Receive Maximum), so
the inbound queue is bounded by the protocol, not by hope.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = ["MqttConnection", "MqttError", "Will"]

log = logging.getLogger(__name__)

RECONNECT_MIN_S = 0.2
RECONNECT_MAX_S = 5.0
CONNECT_TIMEOUT_S = 10.0


class MqttError(RuntimeError):
    """The broker refused or dropped us; the message says what to check."""


@dataclass(frozen=True)
class Will:
    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = True


@dataclass
class _Stats:
    connects: int = 0
    disconnects: int = 0
    published: int = 0
    puback: int = 0
    received: int = 0


@dataclass
class MqttConnection:
    """An MQTT v5 session: `async with MqttConnection(...) as mqtt:`.

    Subscriptions are remembered and renewed on every reconnect. Messages arrive
    on `self.messages`; with `manual_ack` each must be passed to `ack()` once it
    is safely stored.
    """

    host: str
    port: int
    client_id: str
    will: Will | None = None
    manual_ack: bool = False
    receive_maximum: int = 1000
    clean_start: bool = True
    session_expiry_s: int = 0
    max_inflight: int = 1000
    username: str | None = None
    password: str | None = None
    on_connect_hook: Callable[[], None] | None = None
    stats: _Stats = field(default_factory=_Stats)

    def __post_init__(self) -> None:
        self.messages: asyncio.Queue[paho.MQTTMessage] = asyncio.Queue()
        self.connected = asyncio.Event()
        self.subscribed = asyncio.Event()  # every remembered subscription acknowledged
        self._sub_mids: set[int] = set()
        self._subs: dict[str, int] = {}
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: paho.Client | None = None
        # Messages cross from paho's thread through this deque; the loop is woken
        # once per burst, not once per message (the self-pipe write per message
        # was the single-sample path's largest cost).
        self._inbox: collections.deque[paho.MQTTMessage] = collections.deque()
        self._wake_pending = False

    # -- lifecycle -----------------------------------------------------------
    async def __aenter__(self) -> MqttConnection:
        self._loop = asyncio.get_running_loop()
        c = paho.Client(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=paho.MQTTv5,
            manual_ack=self.manual_ack,
        )
        c.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        c.max_inflight_messages_set(self.max_inflight)
        c.max_queued_messages_set(0)
        if self.username:
            c.username_pw_set(self.username, self.password)
        if self.will is not None:
            c.will_set(self.will.topic, self.will.payload, self.will.qos, self.will.retain)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        c.on_subscribe = self._on_subscribe
        props = Properties(PacketTypes.CONNECT)
        props.ReceiveMaximum = self.receive_maximum
        if self.session_expiry_s:
            props.SessionExpiryInterval = self.session_expiry_s
        self._client = c
        c.connect_async(self.host, self.port, keepalive=15, clean_start=self.clean_start, properties=props)
        c.loop_start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        c = self._client
        if c is None:
            return
        with contextlib.suppress(Exception):
            c.disconnect()
        await asyncio.to_thread(c.loop_stop)
        for fut in self._pending.values():
            if not fut.done():
                fut.cancel()
        self._pending.clear()
        self._client = None

    async def wait_connected(self, timeout: float = CONNECT_TIMEOUT_S) -> None:
        try:
            await asyncio.wait_for(self.connected.wait(), timeout)
        except TimeoutError as exc:
            raise MqttError(
                f"no answer from the MQTT broker at {self.host}:{self.port} after {timeout:.0f}s; "
                "check that mosquitto is running and the host and port in the config are right"
            ) from exc

    # -- operations ----------------------------------------------------------
    async def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Remember a subscription; it is (re)made on every connect. See `wait_subscribed`."""
        self._subs[topic_filter] = qos
        if self._client is not None and self._client.is_connected():
            # If on_connect is running concurrently it may subscribe too; twice is harmless.
            self.subscribed.clear()
            _, mid = self._client.subscribe(topic_filter, qos)
            self._sub_mids.add(mid)

    async def wait_subscribed(self, timeout: float = CONNECT_TIMEOUT_S) -> None:
        """Wait until the broker has acknowledged every subscription (messages now reach us)."""
        await self.wait_connected(timeout)
        try:
            await asyncio.wait_for(self.subscribed.wait(), timeout)
        except TimeoutError as exc:
            raise MqttError(
                f"the MQTT broker at {self.host}:{self.port} did not confirm our subscriptions; "
                "check the broker's ACL allows this user to subscribe"
            ) from exc

    def publish_nowait(
        self, topic: str, payload: bytes, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[None]:
        """Hand a message to paho; the future completes on PUBACK (at once for QoS 0)."""
        assert self._client is not None and self._loop is not None, "use inside 'async with'"
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise MqttError(f"could not publish to {topic!r}: {paho.error_string(info.rc)}")
        self.stats.published += 1
        fut: asyncio.Future[None] = self._loop.create_future()
        if qos == 0:
            fut.set_result(None)
        else:
            # PUBACK callbacks are scheduled onto this loop with call_soon_threadsafe,
            # so they always run after this registration.
            self._pending[info.mid] = fut
        return fut

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        await self.publish_nowait(topic, payload, qos, retain)

    def ack(self, msg: paho.MQTTMessage) -> None:
        """Acknowledge a QoS 1 message received with `manual_ack`."""
        if self._client is not None and msg.qos > 0:
            self._client.ack(msg.mid, msg.qos)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    # -- paho thread callbacks -----------------------------------------------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            log.error(
                "MQTT broker %s:%s refused the connection: %s (check user, password and ACL)",
                self.host,
                self.port,
                reason_code,
            )
            return
        self.stats.connects += 1
        assert self._loop is not None
        mids = {client.subscribe(f, qos)[1] for f, qos in self._subs.items()}
        self._loop.call_soon_threadsafe(self._expect_subacks, mids)
        self._loop.call_soon_threadsafe(self.connected.set)
        if self.on_connect_hook is not None:
            self._loop.call_soon_threadsafe(self.on_connect_hook)

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        self.stats.disconnects += 1
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._lost)

    def _on_message(self, client, userdata, msg: paho.MQTTMessage) -> None:  # type: ignore[no-untyped-def]
        self.stats.received += 1
        self._inbox.append(msg)
        if not self._wake_pending and self._loop is not None and not self._loop.is_closed():
            self._wake_pending = True
            self._loop.call_soon_threadsafe(self._drain_inbox)

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._resolve, mid)

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # type: ignore[no-untyped-def]
        for rc in reason_codes:
            if rc.is_failure:
                log.error(
                    "MQTT broker %s:%s refused a subscription: %s (check the ACL)", self.host, self.port, rc
                )
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._suback, mid)

    def _drain_inbox(self) -> None:
        # Clear the flag before draining: a message appended meanwhile is either
        # drained now or schedules its own wake-up, never stranded.
        self._wake_pending = False
        inbox, put = self._inbox, self.messages.put_nowait
        while inbox:
            put(inbox.popleft())

    def _expect_subacks(self, mids: set[int]) -> None:
        self._sub_mids |= mids
        if not self._sub_mids:
            self.subscribed.set()
        else:
            self.subscribed.clear()

    def _suback(self, mid: int) -> None:
        self._sub_mids.discard(mid)
        if not self._sub_mids:
            self.subscribed.set()

    def _lost(self) -> None:
        self.connected.clear()
        self.subscribed.clear()
        self._sub_mids.clear()

    def _resolve(self, mid: int) -> None:
        self.stats.puback += 1
        fut = self._pending.pop(mid, None)
        if fut is not None and not fut.done():
            fut.set_result(None)
