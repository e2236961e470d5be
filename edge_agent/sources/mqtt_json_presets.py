"""Shipped mappings for energy plugs and meters a plant already has, from their documented payloads.

Each preset is the `[[devices.messages]]` a technician would otherwise write by hand.
Field names carry their unit (`power_w`, `energy_wh`), as every Tonle field does;
energy is stored in Wh whatever the device counts in.

- `shelly_plus_plug_s`: Shelly Gen2 firmware (Plus Plug S, Plus 1PM, ...). With "Generic
  status update over MQTT" on, each component's whole status is published on
  `<id>/status/switch:0` (no timestamp: stamped on arrival); with "RPC status notifications"
  on, changes arrive on `<id>/events/rpc` as `NotifyStatus` with `params.ts` (Unix seconds).
  Switch status: `apower` W, `voltage` V, `current` A, `aenergy.total` Wh, `output` on/off.
  https://shelly-api-docs.shelly.cloud/gen2/General/Notifications ,
  https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/Switch
- `shelly_pro_3em`: Shelly Pro 3EM in its default triphase profile: `em:0` holds
  `a_/b_/c_act_power` W, `a_/b_/c_voltage` V, `a_/b_/c_current` A and `total_act_power`;
  `emdata:0` holds `total_act` (Wh, all phases) and `total_act_ret` (returned).
  https://shelly-api-docs.shelly.cloud/gen2/Devices/Gen2/ShellyPro3EM/ ,
  https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/EM ,
  https://shelly-api-docs.shelly.cloud/gen2/ComponentsAndServices/EMData
- `tasmota_energy`: Tasmota with an energy chip (Sonoff POW, Athom, Nous plugs):
  `tele/<topic>/SENSOR` every TelePeriod with `Time` (local time, no zone: set
  `tz_offset_min`) and `ENERGY` {Total kWh, Power W, Voltage V, Current A, Factor, ...};
  `tele/<topic>/STATE` with `POWER` "ON"/"OFF" and the Wi-Fi signal.
  https://tasmota.github.io/docs/MQTT/ , https://tasmota.github.io/docs/Power-Monitoring-Calibration/
"""

from __future__ import annotations

from typing import Any

import msgspec

from edge_agent.sources.mqtt_json_config import MessageMap

__all__ = ["PRESETS", "preset_messages"]

_SWITCH = [
    {"field": "power_w", "path": "apower", "unit": "W"},
    {"field": "voltage_v", "path": "voltage", "unit": "V"},
    {"field": "current_a", "path": "current", "unit": "A"},
    {"field": "energy_wh", "path": "aenergy.total", "unit": "Wh"},
    {"field": "output_on", "path": "output", "unit": "1 = on"},
]


def _under(prefix: str, fields: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**f, "path": f"{prefix}.{f['path']}"} for f in fields]


_EM = [
    *(
        {"field": f"phase_{ph}_{name}", "path": f"{ph}_{key}", "unit": unit}
        for ph in "abc"
        for name, key, unit in (
            ("power_w", "act_power", "W"),
            ("voltage_v", "voltage", "V"),
            ("current_a", "current", "A"),
        )
    ),
    {"field": "power_w", "path": "total_act_power", "unit": "W"},
]
_EMDATA = [
    {"field": "energy_wh", "path": "total_act", "unit": "Wh"},
    {"field": "energy_returned_wh", "path": "total_act_ret", "unit": "Wh"},
]
_TASMOTA_ENERGY = [
    {"field": "power_w", "path": "ENERGY.Power", "unit": "W"},
    {"field": "voltage_v", "path": "ENERGY.Voltage", "unit": "V"},
    {"field": "current_a", "path": "ENERGY.Current", "unit": "A"},
    {"field": "power_factor", "path": "ENERGY.Factor", "unit": ""},
    {"field": "energy_wh", "path": "ENERGY.Total", "unit": "Wh", "scale": 1000.0},  # kWh on the wire
]

PRESETS: dict[str, list[dict[str, Any]]] = {
    "shelly_plus_plug_s": [
        {"topic": "+/status/switch:0", "device_level": 0, "fields": _SWITCH},
        {
            "topic": "+/events/rpc",
            "device_level": 0,
            "fields": _under("params.switch:0", _SWITCH),
            "ts_path": "params.ts",
            "ts_format": "epoch_s",
        },
    ],
    "shelly_pro_3em": [
        {"topic": "+/status/em:0", "device_level": 0, "fields": _EM},
        {"topic": "+/status/emdata:0", "device_level": 0, "fields": _EMDATA},
        {
            "topic": "+/events/rpc",
            "device_level": 0,
            "fields": [*_under("params.em:0", _EM), *_under("params.emdata:0", _EMDATA)],
            "ts_path": "params.ts",
            "ts_format": "epoch_s",
        },
    ],
    "tasmota_energy": [
        {
            "topic": "tele/+/SENSOR",
            "device_level": 1,
            "fields": _TASMOTA_ENERGY,
            "ts_path": "Time",
            "ts_format": "iso",
        },
        {
            "topic": "tele/+/STATE",
            "device_level": 1,
            "fields": [
                {"field": "output_on", "path": "POWER", "unit": "1 = on"},
                {"field": "wifi_rssi_pct", "path": "Wifi.RSSI", "unit": "%"},
            ],
            "ts_path": "Time",
            "ts_format": "iso",
        },
    ],
}


def preset_messages(name: str) -> list[MessageMap]:
    """The messages of a shipped preset ("" or an unknown name: none; check-config names the latter)."""
    return msgspec.convert(PRESETS.get(name, []), list[MessageMap])
