"""Incoming PUBLISH packets decoded without paho's per-message MQTT v5 property work.

paho builds a fresh `Properties` for every message it receives (two dicts and a list of
26 property names, then a `clear()` that scans them all, even when the message has no
property), and a `threading.Condition` in each message's `MQTTMessageInfo`, which only
outgoing messages use. With one reading per message that was about half of a
collector's time, and the garbage those objects make woke Python's collector over and
over (issue 15, bench/RESULTS.md). `FastPublishClient` decodes QoS 0 and 1 PUBLISH
packets itself and hands paho's own `MQTTMessage` to `on_message` as paho would:

- no property: an empty `InboundProperties` (a `Properties` sharing its tables, so
  reading, printing and `json()` behave as paho's);
- user properties only (a gateway's spool reference): read here into `UserProperty`;
- any other property: decoded by paho's `Properties.unpack`, as before.

QoS 2, MQTT 3.1.1 and a client that logs (paho formats every packet into its log) take
paho's own path, unchanged. `info` of a received message is left unset: it is the
outgoing message's delivery state, and paho never reads it for incoming ones.
"""

from __future__ import annotations

import paho.mqtt.client as paho
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

__all__ = ["FastPublishClient", "InboundProperties", "decode_publish"]

_TABLES = Properties(PacketTypes.PUBLISH)
USER_PROPERTY = 38
_UTF8_PAIR = _TABLES.types.index("UTF-8 String Pair")
assert _TABLES.properties[USER_PROPERTY][0] == _UTF8_PAIR, "paho's property table changed"


class InboundProperties(Properties):
    """The properties of a received PUBLISH: paho's class, with its tables built once, not per message."""

    types = _TABLES.types
    names = _TABLES.names
    properties = _TABLES.properties

    def __init__(self) -> None:
        object.__setattr__(self, "packetType", PacketTypes.PUBLISH)


def _vbi(buf: bytes | bytearray, pos: int) -> tuple[int, int]:
    """An MQTT variable byte integer at `pos`: (value, position after it)."""
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 21:
            raise MalformedPacket("malformed variable byte integer")


def _user_pairs(buf: bytes | bytearray, pos: int, end: int) -> list[tuple[str, str]] | None:
    """The user properties in buf[pos:end]; None if another property is there too."""
    pairs = []
    while pos < end:
        if buf[pos] != USER_PROPERTY:
            return None
        pos += 1
        klen = int.from_bytes(buf[pos : pos + 2], "big")
        key = buf[pos + 2 : pos + 2 + klen]
        pos += 2 + klen
        vlen = int.from_bytes(buf[pos : pos + 2], "big")
        value = buf[pos + 2 : pos + 2 + vlen]
        pos += 2 + vlen
        try:
            pairs.append((key.decode("utf-8"), value.decode("utf-8")))
        except UnicodeDecodeError as exc:
            raise MalformedPacket("user property is not UTF-8") from exc
    if pos != end:
        raise MalformedPacket("malformed user property")
    return pairs


def _properties(buf: bytes | bytearray) -> Properties:
    """The properties that start `buf` (its length first), as paho would give them."""
    plen, start = _vbi(buf, 0)
    props = InboundProperties()
    if plen == 0:
        return props
    pairs = _user_pairs(buf, start, start + plen)
    if pairs is None:
        return Properties(PacketTypes.PUBLISH).unpack(buf)[0]
    object.__setattr__(props, "UserProperty", pairs)
    return props


def decode_publish(header: int, packet: bytes | bytearray) -> paho.MQTTMessage:
    """An MQTT v5 PUBLISH packet (after its fixed header) as paho's `MQTTMessage`."""
    qos = (header & 0x06) >> 1
    tlen = int.from_bytes(packet[0:2], "big")
    pos = 2 + tlen
    msg = paho.MQTTMessage.__new__(paho.MQTTMessage)
    msg._topic = bytes(packet[2:pos])
    msg.mid = 0
    if qos:
        msg.mid = int.from_bytes(packet[pos : pos + 2], "big")
        pos += 2
    plen, body = _vbi(packet, pos)
    msg.properties = _properties(packet[pos : body + plen]) if plen else InboundProperties()
    msg.payload = bytes(packet[body + plen :])
    msg.qos = qos
    msg.dup = bool(header & 0x08)
    msg.retain = bool(header & 0x01)
    msg.state = paho.mqtt_ms_invalid
    msg.timestamp = paho.time_func()
    return msg


class FastPublishClient(paho.Client):
    """paho's client with `decode_publish` for QoS 0 and 1 messages of MQTT v5 (see the module)."""

    def _handle_publish(self) -> MQTTErrorCode:
        header = self._in_packet["command"]
        qos = (header & 0x06) >> 1
        if qos == 2 or self._protocol != paho.MQTTv5 or self._logger is not None or self.on_log is not None:
            return super()._handle_publish()
        try:
            msg = decode_publish(header, self._in_packet["packet"])
        except IndexError as exc:  # lengths that run past the packet's end
            raise MalformedPacket("PUBLISH packet shorter than its lengths say") from exc
        self._handle_on_message(msg)
        if qos == 1 and not self._manual_ack:
            return self._send_puback(msg.mid)
        return MQTTErrorCode.MQTT_ERR_SUCCESS
