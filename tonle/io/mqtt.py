"""One asyncio MQTT connection over paho-mqtt 2.x, shared by agent, collector and analytics.

Why not aiomqtt: the collector must acknowledge a QoS 1 message only after its
batch is stored, and aiomqtt does not expose paho's manual acknowledgements
(empicano/aiomqtt#345, still open). This wrapper drives paho from the asyncio
loop itself (paho's external-loop mode, in `mqtt_loop`), so there is no second
Python thread fighting for the GIL. Only the TCP
connect runs in a worker thread, so a broker that does not answer never stalls
the loop (an edge agent keeps polling its devices meanwhile). Reconnects back
off under RECONNECT_POLICY (tonle.io.backoff: RECONNECT_MIN_S doubling to
RECONNECT_MAX_S, jittered), and start again from the shortest wait after every
accepted connection.

Build a connection from the config with `tonle.io.connect.mqtt_connection`; failures a
person can fix raise `MqttError` (tonle.errors) with the host, port and reason.

Back-pressure: with `manual_ack=True` the broker never sends more than
`receive_maximum` un-acknowledged QoS 1 messages (MQTT v5 Receive Maximum), so
the inbound queue is bounded by the protocol, not by hope.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from types import TracebackType

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tonle.errors import MqttError
from tonle.io.backoff import Backoff, BackoffPolicy
from tonle.io.mqtt_loop import PahoOnLoop, Socket
from tonle.io.mqtt_tls import AGENT_FIXES, CLOSED, REFUSED_FIX, Fixes, TlsClient, TlsFiles, connect_failure
from tonle.messages import N_, _

__all__ = ["REFUSED_FIX", "Fixes", "MqttConnection", "MqttError", "TlsFiles", "Will"]

log = logging.getLogger(__name__)

RECONNECT_MIN_S = 0.2
RECONNECT_MAX_S = 5.0
CONNECT_TIMEOUT_S = 10.0
RECONNECT_POLICY = BackoffPolicy(base_s=RECONNECT_MIN_S, max_s=RECONNECT_MAX_S)

RETRYING = N_("{error}; retrying every {max_s:.0f} s at most")
NO_ANSWER = N_("no answer from the MQTT broker at {host}:{port} after {timeout:.0f}s")
NO_ANSWER_FIX = N_("check that mosquitto is running and the host and port in the config are right")
REFUSED = N_("the MQTT broker at {host}:{port} refused the connection: {reason}")
SUB_REFUSED = N_("the MQTT broker at {host}:{port} refused a subscription: {reason}; check the ACL")


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
class MqttConnection(PahoOnLoop):
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
    tls: TlsFiles | None = None
    fixes: Fixes = AGENT_FIXES  # what each failure's sentence tells the reader to change
    on_connect_hook: Callable[[], None] | None = None
    reconnect_policy: BackoffPolicy = RECONNECT_POLICY
    stats: _Stats = field(default_factory=_Stats)

    def __post_init__(self) -> None:
        self.messages: asyncio.Queue[paho.MQTTMessage] = asyncio.Queue()
        self.connected = asyncio.Event()
        self.disconnected = asyncio.Event()  # set while the link is down (cleared on connect)
        self.disconnected.set()
        self.subscribed = asyncio.Event()  # every remembered subscription acknowledged
        self._lost_event = asyncio.Event()
        self._sub_mids: set[int] = set()
        self._subs: dict[str, int] = {}
        self._pending: dict[int, asyncio.Future[int]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: paho.Client | None = None
        self._closing = False
        self._tasks: list[asyncio.Task[None]] = []
        self._sock: Socket | None = None
        self._backoff = Backoff(self.reconnect_policy)
        self.last_error: MqttError | None = None  # why the last attempt failed; None once connected
        self._answered = asyncio.Event()  # a first attempt has succeeded or failed
        self._refusal_told = -1  # the connect count when a refused login was last logged

    # -- lifecycle -----------------------------------------------------------
    async def __aenter__(self) -> MqttConnection:
        self._loop = asyncio.get_running_loop()
        c = TlsClient(
            CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=paho.MQTTv5,
            manual_ack=self.manual_ack,
        )
        c.max_inflight_messages_set(self.max_inflight)
        c.max_queued_messages_set(0)
        if self.username:
            c.username_pw_set(self.username, self.password)
        if self.tls is not None:
            # Certificate and host name checked (ssl's client defaults): a gateway talks to
            # the plant's broker only, and shows its own certificate as its identity.
            c.tls_set(ca_certs=self.tls.ca, certfile=self.tls.cert or None, keyfile=self.tls.key or None)
        if self.will is not None:
            c.will_set(self.will.topic, self.will.payload, self.will.qos, self.will.retain)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_message = self._on_message
        c.on_publish = self._on_publish
        c.on_subscribe = self._on_subscribe
        c.on_socket_open = self._on_socket_open
        c.on_socket_close = self._on_socket_close
        c.on_socket_register_write = self._on_socket_register_write
        c.on_socket_unregister_write = self._on_socket_unregister_write
        props = Properties(PacketTypes.CONNECT)
        props.ReceiveMaximum = self.receive_maximum
        if self.session_expiry_s:
            props.SessionExpiryInterval = self.session_expiry_s
        self._client = c
        c.connect_async(self.host, self.port, keepalive=15, clean_start=self.clean_start, properties=props)
        self._tasks = [
            asyncio.create_task(self._keep_connected(), name=f"mqtt-connect-{self.client_id}"),
            asyncio.create_task(self._misc(), name=f"mqtt-keepalive-{self.client_id}"),
        ]
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
        self._closing = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(Exception):
            c.disconnect()
            c.loop_write()  # sends DISCONNECT; paho closes the socket after it
        self._unwatch()
        for fut in self._pending.values():
            if not fut.done():
                fut.cancel()
        self._pending.clear()
        self._client = None

    async def _keep_connected(self) -> None:
        """Connect, and reconnect whenever the connection is lost, backing off while it fails.

        An outage is logged once, as a plain warning with the fix (again only after the
        broker has accepted us in between); every accepted connection resets the
        backoff (see `_accepted`).
        """
        assert self._client is not None and self._loop is not None
        c = self._client
        warned_at = -1  # the connect count when we last warned: warn again only after a real connect
        while not self._closing:
            self.release()  # paho closes the old socket in the worker: stop watching it here first
            self._lost_event.clear()
            try:
                # The blocking TCP connect runs in a worker thread; the socket callbacks
                # it triggers are handed back to this loop.
                await self._loop.run_in_executor(None, c.reconnect)
            except (OSError, paho.WebsocketConnectionError, ValueError) as exc:
                self.last_error = self._connect_error(exc)
                self._answered.set()
                if warned_at != self.stats.connects:
                    retrying = _(RETRYING).format(error=self.last_error, max_s=self.reconnect_policy.max_s)
                    log.warning("%s", retrying)
                    warned_at = self.stats.connects
                await self._backoff.failed()
                continue
            connects = self.stats.connects
            await self._lost_event.wait()  # set by on_disconnect / on_socket_close
            if self._closing:
                return
            if self.stats.connects == connects and self.last_error is None:
                # Closed before any CONNACK: a TLS broker hanging up on a plain client, or on a
                # certificate it does not accept (TLS 1.3 says so only after the handshake).
                self.last_error = self._error(CLOSED, self.fixes.closed, "no CONNACK")
                self._answered.set()
                log.warning("%s", self.last_error)
            await self._backoff.failed()

    def _connect_error(self, exc: BaseException) -> MqttError:
        """Why a connect failed, in words that point at the fix (TLS failures are not outages)."""
        message, fix, reason = connect_failure(exc, self.fixes)
        return self._error(message, fix, reason)

    def _error(self, message: str, fix: str, exc: BaseException | str) -> MqttError:
        reason = exc if isinstance(exc, str) else str(exc) or exc.__class__.__name__
        return MqttError(message, fix=fix, host=self.host, port=self.port, reason=reason, **self.fixes.data)

    async def wait_connected(self, timeout: float = CONNECT_TIMEOUT_S) -> None:
        """Wait for the broker to accept us; MqttError (why, if known) after `timeout` seconds."""
        try:
            await asyncio.wait_for(self.connected.wait(), timeout)
        except TimeoutError as exc:
            if self.last_error is not None:
                raise self.last_error from exc
            raise MqttError(
                NO_ANSWER, fix=NO_ANSWER_FIX, host=self.host, port=self.port, reason="", timeout=timeout
            ) from exc

    async def check_reachable(self, timeout: float = CONNECT_TIMEOUT_S) -> None:
        """Return once the broker accepts us; raise MqttError as soon as the first attempt fails.

        For one-shot commands, which should say at once that the broker is not there
        instead of waiting out `timeout` (the connection keeps retrying meanwhile).
        """
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._answered.wait(), timeout)
        if self.connected.is_set():
            return
        await self.wait_connected(0 if self.last_error is not None else timeout)

    # -- operations ----------------------------------------------------------
    async def subscribe(self, topic_filter: str, qos: int = 1) -> None:
        """Remember a subscription; it is (re)made on every connect. See `wait_subscribed`."""
        self._subs[topic_filter] = qos
        if self._client is not None and self._client.is_connected():
            # If on_connect is running concurrently it may subscribe too; twice is harmless.
            self.subscribed.clear()
            _rc, mid = self._client.subscribe(topic_filter, qos)
            if mid is not None:
                self._sub_mids.add(mid)

    async def wait_subscribed(self, timeout: float = CONNECT_TIMEOUT_S) -> None:
        """Wait until the broker has acknowledged every subscription (messages now reach us)."""
        await self.wait_connected(timeout)
        try:
            await asyncio.wait_for(self.subscribed.wait(), timeout)
        except TimeoutError as exc:
            raise MqttError(
                N_("the MQTT broker at {host}:{port} did not confirm our subscriptions"),
                fix=N_("check the broker's ACL allows this user to subscribe"),
                host=self.host,
                port=self.port,
            ) from exc

    def publish_nowait(
        self,
        topic: str,
        payload: bytes,
        qos: int = 1,
        retain: bool = False,
        user_properties: list[tuple[str, str]] | None = None,
    ) -> asyncio.Future[int]:
        """Hand a message to paho; the future gives the PUBACK's reason code (at once 0 for QoS 0).

        Reason code 0 is success; 16 ("no matching subscribers") means the broker took the
        message and dropped it because nobody was subscribed: the caller decides what that is
        worth (the agent sends it again once a collector is back).
        """
        assert self._client is not None and self._loop is not None, "use inside 'async with'"
        props = None
        if user_properties:
            props = Properties(PacketTypes.PUBLISH)
            props.UserProperty = user_properties
        info = self._client.publish(topic, payload, qos=qos, retain=retain, properties=props)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            raise MqttError(
                N_("could not publish to {topic!r}: {reason}"),
                host=self.host,
                port=self.port,
                reason=paho.error_string(info.rc),
                topic=topic,
            )
        self.stats.published += 1
        fut: asyncio.Future[int] = self._loop.create_future()
        if qos == 0:
            fut.set_result(0)
        else:
            # PUBACK callbacks are scheduled onto this loop with call_soon_threadsafe,
            # so they always run after this registration.
            self._pending[info.mid] = fut
        return fut

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> int:
        """Publish and wait for the PUBACK; returns its reason code (0 = success)."""
        return await self.publish_nowait(topic, payload, qos, retain)

    def ack(self, msg: paho.MQTTMessage) -> None:
        """Acknowledge a QoS 1 message received with `manual_ack`."""
        if self._client is not None and msg.qos > 0:
            self._client.ack(msg.mid, msg.qos)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    # -- paho callbacks (on the loop thread, or the connect worker's) ----------
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        if reason_code.is_failure:
            self.last_error = self._error(REFUSED, self.fixes.refused, str(reason_code))
            self._in_loop(self._answered.set)
            if self._refusal_told != self.stats.connects:  # once, until the broker takes us again
                self._refusal_told = self.stats.connects
                log.error("%s", _(RETRYING).format(error=self.last_error, max_s=self.reconnect_policy.max_s))
            return
        self.stats.connects += 1
        log.info(_("connected to the MQTT broker at {host}:{port}").format(host=self.host, port=self.port))
        mids = {client.subscribe(f, qos)[1] for f, qos in self._subs.items()}
        self._in_loop(self._accepted)
        self._in_loop(self._expect_subacks, mids)
        self._in_loop(self.connected.set)
        if self.on_connect_hook is not None:
            self._in_loop(self.on_connect_hook)

    def _accepted(self) -> None:
        """The broker took us: the next loss waits the shortest time again."""
        self.disconnected.clear()
        self.last_error = None
        self._backoff.succeeded()
        self._answered.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        self.stats.disconnects += 1
        self._in_loop(self._lost)

    def _on_message(self, client, userdata, msg: paho.MQTTMessage) -> None:  # type: ignore[no-untyped-def]
        self.stats.received += 1
        self.messages.put_nowait(msg)  # always on the loop thread: paho reads in `_readable`

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:  # type: ignore[no-untyped-def]
        self._in_loop(self._resolve, mid, int(getattr(reason_code, "value", 0)))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:  # type: ignore[no-untyped-def]
        for rc in reason_codes:
            if rc.is_failure:
                log.error(_(SUB_REFUSED).format(host=self.host, port=self.port, reason=rc))
        self._in_loop(self._suback, mid)

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
        self._lost_event.set()
        self.disconnected.set()
        self.connected.clear()
        self.subscribed.clear()
        self._sub_mids.clear()

    def _resolve(self, mid: int, reason: int = 0) -> None:
        self.stats.puback += 1
        fut = self._pending.pop(mid, None)
        if fut is not None and not fut.done():
            fut.set_result(reason)
