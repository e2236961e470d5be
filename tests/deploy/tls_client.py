"""A small synchronous MQTT v5 client for the broker tests: TLS with an identity, reason codes shown.

Tonle's own MqttConnection hides what these tests need to see (PUBACK and SUBACK reason
codes, a broker that hangs up before CONNACK), so the tests speak paho directly, with the
same TLS settings a Tonle process uses (the CA it trusts, its certificate and key, the
host name checked).
"""

from __future__ import annotations

import queue
import ssl
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = ["CLOSED", "NOT_AUTHORIZED", "WAIT_S", "Client", "Tls"]

WAIT_S = 10.0
NOT_AUTHORIZED = 0x87
CLOSED = -1  # the broker closed the connection before any CONNACK


@dataclass(frozen=True)
class Tls:
    """What a client trusts and who it is; `cert`/`key` None for a client without a certificate."""

    ca: Path
    cert: Path | None = None
    key: Path | None = None


class Client:
    """One MQTT v5 client; every call waits for the broker's answer and returns its reason code."""

    def __init__(self, port: int, tls: Tls | None, client_id: str, host: str = "127.0.0.1") -> None:
        self.port, self.host = port, host
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5)
        if tls is not None:
            cert = str(tls.cert) if tls.cert else None
            key = str(tls.key) if tls.key else None
            self.c.tls_set(ca_certs=str(tls.ca), certfile=cert, keyfile=key)
        self._connack: queue.Queue[int] = queue.Queue()
        self._acks: dict[int, int] = {}
        self._subacks: dict[int, list[int]] = {}
        self._cond = threading.Condition()
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.c.on_connect = lambda _c, _u, _f, rc, _p: self._connack.put(rc.value)
        self.c.on_disconnect = lambda *_a: self._connack.put(CLOSED)
        self.c.on_publish = self._on_publish
        self.c.on_subscribe = self._on_subscribe
        self.c.on_message = lambda _c, _u, m: self.messages.put((m.topic, m.payload))

    def _on_publish(self, _c: object, _u: object, mid: int, rc: paho.ReasonCode, _p: object) -> None:
        with self._cond:
            self._acks[mid] = rc.value
            self._cond.notify_all()

    def _on_subscribe(self, _c: object, _u: object, mid: int, rcs: list[paho.ReasonCode], _p: object) -> None:
        with self._cond:
            self._subacks[mid] = [rc.value for rc in rcs]
            self._cond.notify_all()

    def connect(self, *, clean_start: bool = True, session_expiry_s: int = 0) -> int:
        """CONNACK reason code (0 = accepted), or CLOSED. A TLS refusal by this client raises ssl.SSLError."""
        props = Properties(PacketTypes.CONNECT)
        if session_expiry_s:
            props.SessionExpiryInterval = session_expiry_s
        self.c.connect(self.host, self.port, keepalive=30, clean_start=clean_start, properties=props)
        self.c.loop_start()
        rc = self._connack.get(timeout=WAIT_S)
        if rc != 0:
            self.close()
        return rc

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()

    def _wait(self, table: dict[int, Any], mid: int) -> Any:
        with self._cond:
            assert self._cond.wait_for(lambda: mid in table, timeout=WAIT_S), "no answer from the broker"
            return table.pop(mid)

    def publish(self, topic: str, payload: bytes = b"{}") -> int:
        """Publish at QoS 1 and return the PUBACK reason code (0x87 = not authorized)."""
        info = self.c.publish(topic, payload, qos=1)
        return int(self._wait(self._acks, info.mid))

    def subscribe(self, topic: str) -> int:
        """Subscribe at QoS 1 and return the SUBACK reason code (0x87 = not authorized)."""
        _, mid = self.c.subscribe(topic, qos=1)
        return int(self._wait(self._subacks, mid)[0])

    def next_message(self) -> tuple[str, bytes]:
        return self.messages.get(timeout=WAIT_S)


def refused(port: int, tls: Tls | None, client_id: str) -> str:
    """How the broker (or this client) refused a connection, or "" when it was accepted."""
    c = Client(port, tls, client_id)
    try:
        rc = c.connect()
    except ssl.SSLError as exc:
        return f"TLS: {exc.reason}"
    except OSError as exc:  # a reset while the client still sends CONNECT
        return f"closed: {exc}"
    if rc == 0:
        c.close()
        return ""
    return "closed before CONNACK" if rc == CLOSED else f"CONNACK {rc:#x}"
