"""Simulated Wi-Fi energy plugs and meters that publish their own JSON on their own topics.

Each simulator words its messages as the real firmware documents them (see
edge_agent/sources/mqtt_json_presets.py for the references), one reading per message,
so the gateway's `mqtt_json` source meets the same shapes a plant's devices send:
a Shelly Plus Plug S (Gen2 status and NotifyStatus), a Shelly Pro 3EM (`em:0`,
`emdata:0`) and a Tasmota energy plug (`tele/<topic>/SENSOR` and `STATE`, local time
without a zone). `step(t_s)` gives the messages of one report at Unix time `t_s`;
`publish()` sends them to a broker at QoS 1, as the devices do; `device_connection()` is
the session a device opens, with the TLS and login a plant's broker asks for (a Shelly's
"Use SSL" with the plant's CA as its user CA, and its MQTT user and password).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tonle.io.mqtt import MqttConnection, TlsFiles

__all__ = ["ShellyPlugSim", "ShellyPro3EMSim", "TasmotaPlugSim", "device_connection", "publish"]

Message = tuple[str, bytes]


def _load(t_s: float, base_w: float, swing_w: float, period_s: float = 60.0) -> float:
    """A machine's draw: a base load and a slow swing (a press cycling, a motor loading)."""
    return round(base_w + swing_w * (0.5 + 0.5 * math.sin(2 * math.pi * t_s / period_s)), 1)


def _json(doc: Mapping[str, Any]) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


@dataclass
class ShellyPlugSim:
    """A Shelly Plus Plug S: `<id>/status/switch:0` (whole status) and `<id>/events/rpc` (NotifyStatus)."""

    device_id: str
    base_w: float = 120.0
    swing_w: float = 80.0
    voltage: float = 229.8
    energy_wh: float = 1520.0
    last_t: float | None = None

    def switch_status(self, t_s: float) -> dict[str, object]:
        power = _load(t_s, self.base_w, self.swing_w)
        if self.last_t is not None:
            self.energy_wh += power * (t_s - self.last_t) / 3600
        self.last_t = t_s
        minute = int(t_s // 60 * 60)
        return {
            "id": 0,
            "source": "init",
            "output": True,
            "apower": power,
            "voltage": self.voltage,
            "current": round(power / self.voltage, 3),
            "aenergy": {"total": round(self.energy_wh, 3), "by_minute": [0.0, 0.0, 0.0], "minute_ts": minute},
            "temperature": {"tC": 41.2, "tF": 106.2},
        }

    def step(self, t_s: float, notify: bool = False) -> list[Message]:
        status = self.switch_status(t_s)
        if not notify:
            return [(f"{self.device_id}/status/switch:0", _json(status))]
        event = {
            "src": self.device_id,
            "dst": f"{self.device_id}/events",
            "method": "NotifyStatus",
            "params": {"ts": round(t_s, 2), "switch:0": status},
        }
        return [(f"{self.device_id}/events/rpc", _json(event))]


@dataclass
class ShellyPro3EMSim:
    """A Shelly Pro 3EM (triphase profile): `<id>/status/em:0` and `<id>/status/emdata:0`."""

    device_id: str
    base_w: tuple[float, float, float] = (900.0, 850.0, 950.0)
    voltage: tuple[float, float, float] = (230.1, 231.4, 229.5)
    total_wh: float = 250_000.0
    last_t: float | None = None

    def step(self, t_s: float) -> list[Message]:
        powers = [_load(t_s + 7 * i, b, 0.4 * b) for i, b in enumerate(self.base_w)]
        em: dict[str, object] = {"id": 0}
        for ph, p, v in zip("abc", powers, self.voltage, strict=True):
            em |= {f"{ph}_current": round(p / v, 3), f"{ph}_voltage": v, f"{ph}_act_power": p}
            em |= {f"{ph}_aprt_power": round(p * 1.05, 1), f"{ph}_pf": 0.95, f"{ph}_freq": 50.0}
        em |= {
            "n_current": None,
            "total_current": round(sum(p / v for p, v in zip(powers, self.voltage, strict=True)), 3),
        }
        em |= {"total_act_power": round(sum(powers), 1), "total_aprt_power": round(sum(powers) * 1.05, 1)}
        if self.last_t is not None:
            self.total_wh += sum(powers) * (t_s - self.last_t) / 3600
        self.last_t = t_s
        emdata = {"id": 0, "total_act": round(self.total_wh, 2), "total_act_ret": 0.0}
        for ph in "abc":
            emdata |= {
                f"{ph}_total_act_energy": round(self.total_wh / 3, 2),
                f"{ph}_total_act_ret_energy": 0.0,
            }
        return [
            (f"{self.device_id}/status/em:0", _json(em)),
            (f"{self.device_id}/status/emdata:0", _json(emdata)),
        ]


@dataclass
class TasmotaPlugSim:
    """A Tasmota plug with an energy chip: `tele/<topic>/SENSOR` and `tele/<topic>/STATE`.

    `Time` is the device's local time without a zone, `tz_offset_min` from UTC (Cambodia: +420).
    """

    topic: str
    tz_offset_min: int = 420
    base_w: float = 60.0
    total_kwh: float = 12.345
    uptime_s: int = 0
    last_t: float | None = field(default=None)

    def _time(self, t_s: float) -> str:
        local = datetime.fromtimestamp(t_s, UTC) + timedelta(minutes=self.tz_offset_min)
        return local.replace(tzinfo=None).isoformat(timespec="seconds")

    def step(self, t_s: float) -> list[Message]:
        power = round(_load(t_s, self.base_w, 40.0))
        if self.last_t is not None:
            self.total_kwh += power * (t_s - self.last_t) / 3.6e6
            self.uptime_s += int(t_s - self.last_t)
        self.last_t = t_s
        sensor = {
            "Time": self._time(t_s),
            "ENERGY": {
                "TotalStartTime": "2026-01-05T08:00:00",
                "Total": round(self.total_kwh, 3),
                "Yesterday": 0.412,
                "Today": 0.128,
                "Period": 0,
                "Power": power,
                "ApparentPower": round(power * 1.1),
                "ReactivePower": round(power * 0.45),
                "Factor": 0.91,
                "Voltage": 228,
                "Current": round(power / 228 * 1.1, 3),
            },
        }
        state = {
            "Time": self._time(t_s),
            "Uptime": f"0T00:{self.uptime_s // 60 % 60:02d}:{self.uptime_s % 60:02d}",
            "UptimeSec": self.uptime_s,
            "Heap": 26,
            "SleepMode": "Dynamic",
            "Sleep": 50,
            "LoadAvg": 19,
            "MqttCount": 1,
            "POWER": "ON",
            "Wifi": {"AP": 1, "SSId": "plant-iot", "Channel": 6, "RSSI": 74, "Signal": -63, "LinkCount": 1},
        }
        return [(f"tele/{self.topic}/SENSOR", _json(sensor)), (f"tele/{self.topic}/STATE", _json(state))]


async def publish(conn: MqttConnection, messages: Iterable[Message]) -> int:
    """Send messages at QoS 1 in order and wait for each PUBACK; returns how many were sent."""
    n = 0
    for topic, payload in messages:
        await conn.publish(topic, payload, qos=1)
        n += 1
    return n


def device_connection(
    host: str,
    port: int,
    client_id: str,
    *,
    username: str | None = None,
    password: str | None = None,
    ca_file: str = "",
) -> MqttConnection:
    """The MQTT session of a device: plain, or over TLS (`ca_file`) with the broker's login."""
    tls = TlsFiles(ca_file) if ca_file else None
    return MqttConnection(host, port, client_id, username=username, password=password, tls=tls)
