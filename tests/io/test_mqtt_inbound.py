"""Received messages read as paho reads them, with or without properties, through a real broker.

`tonle.io.mqtt_inbound` decodes QoS 0/1 PUBLISH packets itself (issue 15: paho's per-message
property work was half of a collector's time); what a consumer sees must not change.
"""

from __future__ import annotations

import asyncio

import paho.mqtt.client as paho
import pytest
from paho.mqtt.exception import MalformedPacket
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tonle.app.services import LocalBroker
from tonle.io.mqtt import MqttConnection
from tonle.io.mqtt_inbound import InboundProperties, decode_publish

WAIT_S = 30.0


def _props(**values: object) -> Properties:
    p = Properties(PacketTypes.PUBLISH)
    for name, value in values.items():
        setattr(p, name, value)
    return p


CASES: list[tuple[str, bytes, int, Properties | None]] = [
    ("none", b"plain", 1, None),
    ("empty-payload", b"", 1, None),
    ("qos0", b"\x00\xffbinary", 0, None),
    ("refs", b'{"v":1}', 1, _props(UserProperty=[("tonle-gw", "gw-1"), ("tonle-spool", "12345:7")])),
    ("unicode", "ក្រណាត់".encode(), 1, _props(UserProperty=[("ម៉ាស៊ីន", "M-01"), ("k", "")])),
    ("mixed", b"x" * 300, 1, _props(ContentType="application/json", UserProperty=[("a", "b")])),
    ("format", b"y", 1, _props(PayloadFormatIndicator=1, MessageExpiryInterval=3600)),
]


def test_received_messages_carry_the_topic_payload_and_properties_that_were_sent(
    broker: LocalBroker, unique_name: str
) -> None:
    sender = paho.Client(paho.CallbackAPIVersion.VERSION2, protocol=paho.MQTTv5)
    sender.connect(broker.host, broker.port)
    sender.loop_start()

    async def body() -> list[paho.MQTTMessage]:
        async with MqttConnection(broker.host, broker.port, f"{unique_name}-rx", manual_ack=True) as m:
            await m.subscribe(f"{unique_name}/#", qos=1)
            await m.wait_subscribed(WAIT_S)
            for name, payload, qos, props in CASES:
                sender.publish(f"{unique_name}/{name}", payload, qos=qos, properties=props).wait_for_publish()
            got = []
            async with asyncio.timeout(WAIT_S):
                for _ in CASES:
                    got.append(await m.messages.get())
                    m.ack(got[-1])
            return got

    try:
        got = asyncio.run(body())
    finally:
        sender.loop_stop()
        sender.disconnect()
    by_topic = {msg.topic.rsplit("/", 1)[1]: msg for msg in got}
    assert sorted(by_topic) == sorted(c[0] for c in CASES)
    for name, payload, qos, sent in CASES:
        msg = by_topic[name]
        assert (msg.payload, msg.qos, msg.retain) == (payload, qos, False), name
        assert isinstance(msg.properties, Properties), name
        want = sent.json() if sent is not None else {}
        assert msg.properties.json() == want, name
        assert msg.qos == 0 or msg.mid > 0


def test_a_message_without_properties_reads_as_paho_empty_properties() -> None:
    topic = b"a/b"
    packet = len(topic).to_bytes(2, "big") + topic + (9).to_bytes(2, "big") + b"\x00" + b"payload"
    msg = decode_publish(0x32, packet)  # PUBLISH, QoS 1
    assert (msg.topic, msg.mid, msg.payload, msg.qos, msg.dup) == ("a/b", 9, b"payload", 1, False)
    assert isinstance(msg.properties, InboundProperties) and msg.properties.isEmpty()
    assert str(msg.properties) == str(Properties(PacketTypes.PUBLISH)) == "[]"
    assert not hasattr(msg.properties, "UserProperty")


def test_a_user_property_that_is_not_utf8_is_a_malformed_packet() -> None:
    topic = b"a/b"
    prop = bytes([38]) + (1).to_bytes(2, "big") + b"\xff" + (1).to_bytes(2, "big") + b"v"
    packet = len(topic).to_bytes(2, "big") + topic + (9).to_bytes(2, "big") + bytes([len(prop)]) + prop
    with pytest.raises(MalformedPacket):
        decode_publish(0x32, packet)
