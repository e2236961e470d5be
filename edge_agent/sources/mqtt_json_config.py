"""Plain MQTT devices (Shelly, Tasmota, ESPHome-style boards): their own topics and JSON, mapped.

A device of this kind publishes one reading per message to the plant's local broker,
in its own format, on its own topics. The gateway subscribes there and maps each
message onto a `Sample` of a named machine, so from the gateway on the readings get
everything Tonle's own devices get: the spool, the gateway's per-machine sequence
numbers, completeness and the collector's end-to-end confirmation (docs/mqtt-devices.md
says why the mapping is done here and not at the collector).

A section either names a shipped `preset` (`mqtt_json_presets`) or writes its own
`[[devices.messages]]`; messages written by hand are added to the preset's.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from paho.mqtt.client import topic_matches_sub

from edge_agent.sources.repeats import repeated
from tonle.config.connections import device_tls_problems
from tonle.config.fields import Name, Section, secret
from tonle.config.problems import Problem
from tonle.io.clock import Clock
from tonle.messages import N_, _
from tonle.sources.base import Source
from tonle.sources.registry import DeviceConfig, GatewayContext, SourceType

__all__ = [
    "MQTT_JSON_SOURCE",
    "FieldMap",
    "MessageMap",
    "MqttJsonDeviceConfig",
    "TsFormat",
]

TsFormat = Literal["arrival", "epoch_s", "epoch_ms", "iso"]
Path = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class FieldMap(Section, frozen=True, kw_only=True):
    """One value: found at `path` in the JSON, stored as `field` = value × scale + offset, in `unit`."""

    field: Name
    path: Path
    unit: str = ""
    scale: float = 1.0
    offset: float = 0.0


class MessageMap(Section, frozen=True, kw_only=True):
    """One kind of message: its topic filter, where the device id is, and its values.

    topic:         an MQTT topic filter; `+` stands for one level (the device's id, say).
    device_level:  which level of the topic (0 = the first) names the device.
    ts_path:       where the device's own timestamp is, read as `ts_format`; without it
                   (`ts_format = "arrival"`) the gateway stamps the message when it arrives.
    tz_offset_min: for an ISO time without a zone (Tasmota's "Time"): the device's offset from UTC.
    seq_path:      where a device's own message counter is, when it has one: holes in it are
                   messages lost between the device and the gateway, counted per machine.
    """

    topic: Annotated[str, msgspec.Meta(min_length=1)]
    device_level: Annotated[int, msgspec.Meta(ge=0, le=32)] = 0
    fields: list[FieldMap]
    ts_path: str = ""
    ts_format: TsFormat = "arrival"
    tz_offset_min: Annotated[int, msgspec.Meta(ge=-720, le=840)] = 0
    seq_path: str = ""

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        levels = self.topic.split("/")
        if "#" in self.topic:
            found.append(
                Problem(
                    "topic",
                    _("uses '#', which would take messages of any shape"),
                    _("name the levels, with '+' for the device's id"),
                )
            )
        if self.device_level >= len(levels):
            found.append(
                Problem(
                    "device_level",
                    _("is {level}, but the topic has only {n} levels (counted from 0)").format(
                        level=self.device_level, n=len(levels)
                    ),
                    _("use the number of the level that holds the device's id"),
                )
            )
        if not self.fields:
            found.append(Problem("fields", _("is empty"), _("map at least one value")))
        if self.ts_format == "arrival" and self.ts_path:
            found.append(
                Problem("ts_format", _("is missing"), _("say how to read ts_path: epoch_s, epoch_ms or iso"))
            )
        if self.ts_format != "arrival" and not self.ts_path:
            found.append(
                Problem("ts_path", _("is missing"), _("say where the timestamp is, or leave ts_format out"))
            )
        for i, f in enumerate(self.fields):
            if f.scale == 0:
                found.append(
                    Problem(
                        f"fields[{i}].scale",
                        _("is 0, which would make every reading 0"),
                        _("use 1 for no scaling"),
                    )
                )
        found += repeated(
            [f.field for f in self.fields],
            lambda i: f"fields[{i}].field",
            N_("is '{name}', the field of fields[{other}] too"),
            N_("give every value its own field name"),
        )
        return found

    def device_of(self, topic: str) -> str | None:
        """The device id in `topic` when the topic is one of this map's, else None."""
        if not topic_matches_sub(self.topic, topic):
            return None
        levels = topic.split("/")
        return levels[self.device_level] if self.device_level < len(levels) else None


class MqttJsonDeviceConfig(DeviceConfig, tag="mqtt_json", frozen=True, kw_only=True):
    """Devices of one make on the plant's local broker, each named as a machine.

    The broker is reached over TLS when `ca_file` is set, with `username` / `password_env`
    and, when it asks for one, a client certificate (`cert_file` + `key_file`);
    tonle.io.plant_broker, docs/mqtt-devices.md (Security).
    """

    name: Name
    host: str = "127.0.0.1"
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 1883
    username: str = ""  # the local broker's login, when it asks for one
    password_env: str = ""  # the environment variable holding its password (never the file)
    ca_file: str = ""  # the CA that signed the broker's certificate: TLS is on when set
    cert_file: str = ""  # a client certificate, when the broker asks for one (with key_file)
    key_file: str = ""
    preset: str = ""
    machine_type: Name
    devices: dict[str, Name]  # the device's id, as its topic names it -> the machine's name
    messages: list[MessageMap] = msgspec.field(default_factory=list)
    session_expiry_s: Annotated[int, msgspec.Meta(ge=0)] = 3600
    tz_offset_min: Annotated[int, msgspec.Meta(ge=-720, le=840)] | None = None  # over every message's

    def mappings(self) -> list[MessageMap]:
        """The preset's messages (none without a preset), then those written in the section."""
        from edge_agent.sources.mqtt_json_presets import preset_messages

        found = [*preset_messages(self.preset), *self.messages]
        if self.tz_offset_min is None:
            return found
        return [msgspec.structs.replace(m, tz_offset_min=self.tz_offset_min) for m in found]

    def problems(self) -> list[Problem]:
        from edge_agent.sources.mqtt_json_presets import PRESETS

        found = device_tls_problems(self.ca_file, self.cert_file, self.key_file)
        if self.preset and self.preset not in PRESETS:
            found.append(
                Problem(
                    "preset",
                    _("is '{preset}', which is not a shipped mapping").format(preset=self.preset),
                    _("use one of: {choices}").format(choices=", ".join(sorted(PRESETS))),
                )
            )
        elif not self.preset and not self.messages:
            found.append(
                Problem(
                    "messages",
                    _("is missing"),
                    _("name a preset ({choices}) or map the device's messages").format(
                        choices=", ".join(sorted(PRESETS))
                    ),
                )
            )
        if not self.devices:
            found.append(
                Problem(
                    "devices",
                    _("is empty"),
                    _("name each device by the id in its topics, with its machine (docs/mqtt-devices.md)"),
                )
            )
        machines: dict[str, str] = {}
        for device, machine in self.devices.items():
            if machine in machines:
                found.append(
                    Problem(
                        f"devices.{device}",
                        _("is '{machine}', the machine of device '{other}' too").format(
                            machine=machine, other=machines[machine]
                        ),
                        _("give every device its own machine"),
                    )
                )
            machines.setdefault(machine, device)
        return found

    def machines(self) -> list[str]:
        return list(self.devices.values())

    def password(self) -> str | None:
        return secret(self.password_env, f"devices '{self.name}'.password_env")


def build_mqtt_json_source(config: MqttJsonDeviceConfig, clock: Clock, context: GatewayContext) -> Source:
    from edge_agent.sources.mqtt_json import MqttJsonSource

    return MqttJsonSource(config, clock, client_id=f"tonle-dev-{context.gateway}-{config.name}")


MQTT_JSON_SOURCE = SourceType(
    name="mqtt_json",
    config=MqttJsonDeviceConfig,
    factory=build_mqtt_json_source,
    summary="Wi-Fi plugs and boards that publish their own JSON on the local broker (docs/mqtt-devices.md)",
    extra="edge",
)
