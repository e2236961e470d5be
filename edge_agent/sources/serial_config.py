"""The serial sensor node as a registered device type (`[[devices]] type = "serial"`).

Apart from the driver (`edge_agent.sources.serial`) so reading a gateway config never
imports pyserial; the factory imports it when the agent really opens a port.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from tonle.config.problems import ConfigError, Problem
from tonle.io.clock import Clock
from tonle.messages import _
from tonle.sources.base import Source
from tonle.sources.registry import DeviceConfig, GatewayContext, SourceType

__all__ = ["ACTIONS", "SERIAL_SOURCE", "SerialDeviceConfig"]

ACTIONS = ("set_speed", "maintenance", "andon", "clear_andon")

PosFloat = Annotated[float, msgspec.Meta(gt=0)]
Fraction = Annotated[float, msgspec.Meta(ge=0, le=1)]


class SerialDeviceConfig(DeviceConfig, tag="serial", frozen=True, kw_only=True):
    """One sensor node on one serial port; `[[devices]] type = "serial"` in the gateway file."""

    name: Annotated[str, msgspec.Meta(min_length=1)]
    port: Annotated[str, msgspec.Meta(min_length=1)]  # a stable path: /dev/serial/by-id/..., run/tty/S01
    machine: Annotated[str, msgspec.Meta(min_length=1)]
    machine_type: str = "lockstitch"
    baudrate: Annotated[int, msgspec.Meta(ge=300, le=4_000_000)] = 115200
    read_timeout_s: PosFloat = 10.0  # silence before the link counts as dead (a probe SYNC at half)
    reconnect_min_s: PosFloat = 0.5
    reconnect_max_s: PosFloat = 30.0
    command_timeout_s: PosFloat = 3.0
    resync_interval_s: PosFloat = 2.0  # at most one hole-filling SYNC per interval
    allowed_commands: tuple[str, ...] = ()  # nothing moves the machine unless listed here
    speed_min: Fraction = 0.5
    speed_max: Fraction = 1.0

    def __post_init__(self) -> None:
        found = self.problems()
        if found:
            raise ConfigError(problems=found)

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        if self.reconnect_min_s > self.reconnect_max_s:
            found.append(
                Problem(
                    "reconnect_min_s",
                    _("({low:g}) is above {high_key} ({high:g})").format(
                        low=self.reconnect_min_s, high_key="reconnect_max_s", high=self.reconnect_max_s
                    ),
                    _("make {low_key} <= {high_key}").format(
                        low_key="reconnect_min_s", high_key="reconnect_max_s"
                    ),
                )
            )
        if self.speed_min > self.speed_max:
            found.append(
                Problem(
                    "speed_min",
                    _("({low:g}) is above {high_key} ({high:g})").format(
                        low=self.speed_min, high_key="speed_max", high=self.speed_max
                    ),
                    _("swap them"),
                )
            )
        unknown = sorted(set(self.allowed_commands) - set(ACTIONS))
        if unknown:
            found.append(
                Problem(
                    "allowed_commands",
                    _("names unknown actions: {actions}").format(actions=", ".join(unknown)),
                    _("choose from {actions}").format(actions=", ".join(ACTIONS)),
                )
            )
        return found

    def machines(self) -> list[str]:
        return [self.machine]


def build_serial_source(config: SerialDeviceConfig, clock: Clock, context: GatewayContext) -> Source:
    from edge_agent.sources.serial import SerialNodeSource

    return SerialNodeSource(config)


SERIAL_SOURCE = SourceType(
    name="serial",
    config=SerialDeviceConfig,
    factory=build_serial_source,
    summary="one sewing-station sensor node on a USB or RS-232 serial port (docs/serial-protocol.md)",
    needs=("serial", "serial_asyncio_fast"),
    extra="edge",
)
