"""One received PUBLISH decoded by paho 2.x and by `tonle.io.mqtt_inbound`, microseconds each.

Issue 15: paho builds a `Properties` (two dicts, a list, a 26-name `clear()`) and a
`threading.Condition` for every message it receives. Both decoders run on the same packet:
without properties, and with a gateway's spool reference (two user properties); with
Python's garbage collector on and off.

    .venv/bin/python bench/mqtt_decode.py
"""

from __future__ import annotations

import gc
import json
import sys
import timeit
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import paho.mqtt.client as paho
from paho.mqtt import _packet
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from tonle.io.mqtt_inbound import decode_publish

TOPIC = b"tonle/v1/bench/a/L1/M001/telemetry"
PAYLOAD = b'{"v":1,"seq":3,"ts":1780000000000000000,"fields":{"vib_rms":1.5,"temp_c":2.5}}'
N = 20_000


def packet(refs: bool) -> bytes:
    p = Properties(PacketTypes.PUBLISH)
    if refs:
        p.UserProperty = [("tonle-gw", "gw1"), ("tonle-spool", "12345:7")]
    return len(TOPIC).to_bytes(2, "big") + TOPIC + (77).to_bytes(2, "big") + p.pack() + PAYLOAD


def by_paho(data: bytes) -> paho.MQTTMessage:
    """What paho's `_handle_publish` builds before calling `on_message`."""
    r = _packet.decode_publish(0x32, data, MQTTProtocolVersion.MQTTv5)
    m = paho.MQTTMessage(r.mid, r.topic)
    m.properties, m.payload, m.qos = r.properties, r.payload, r.qos
    return m


def _us(fn: Callable[[], object]) -> float:
    return round(timeit.timeit(fn, number=N) / N * 1e6, 1)


def main() -> None:
    out = {}
    for refs in (False, True):
        data = packet(refs)
        a, b = by_paho(data), decode_publish(0x32, data)
        assert (a.topic, a.mid, a.payload, a.qos) == (b.topic, b.mid, b.payload, b.qos)
        assert a.properties.json() == b.properties.json()
        for on in (True, False):
            (gc.enable if on else gc.disable)()
            key = f"{'refs' if refs else 'no_props'}_gc_{'on' if on else 'off'}"
            out[key] = {
                "paho_us": _us(lambda d=data: by_paho(d)),
                "tonle_us": _us(lambda d=data: decode_publish(0x32, d)),
            }
    gc.enable()
    print(json.dumps(out))


if __name__ == "__main__":
    main()
