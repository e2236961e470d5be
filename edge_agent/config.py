"""The gateway's one config file: broker, identity, spool, and the devices it reads.

`tonle agent check-config gateway.toml` validates it and names every wrong key
with its path; device sections are a list whose `type` picks the driver.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from edge_agent.sources.modbus_config import (
    ModbusRtuBusConfig,
    ModbusTcpDeviceConfig,
    check_modbus_source,
)
from edge_agent.sources.serial import SerialDeviceConfig
from firmware_sim.source_config import SimDeviceConfig
from tonle.config import AgentConfig, ConfigError, MqttConfig, parse_config

__all__ = ["DeviceConfig", "GatewayConfig", "SpoolConfig", "load_gateway_config"]


class SpoolConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    path: str = "run/gateway"  # relative to where the agent runs; set an absolute path on a gateway
    max_mb: Annotated[float, msgspec.Meta(gt=0)] = 512.0
    synchronous: Literal["FULL", "NORMAL"] = "FULL"


DeviceConfig = SimDeviceConfig | SerialDeviceConfig | ModbusTcpDeviceConfig | ModbusRtuBusConfig


class GatewayConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    mqtt: MqttConfig = msgspec.field(default_factory=MqttConfig)
    agent: AgentConfig = msgspec.field(default_factory=AgentConfig)
    spool: SpoolConfig = msgspec.field(default_factory=SpoolConfig)
    devices: list[DeviceConfig] = msgspec.field(default_factory=list)

    def check(self) -> None:
        names = [d.name for d in self.devices]
        machines = [m for d in self.devices for m in _machines_of(d)]
        twice = {m for m in machines if machines.count(m) > 1}
        if twice:
            raise ConfigError(
                f"machine {sorted(twice)[0]!r} is listed under two devices; every machine needs its own name"
            )
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise ConfigError(f"two devices are called {sorted(dupes)[0]!r}; give every device its own name")
        if not self.devices:
            raise ConfigError("no devices: add at least one [[devices]] section with a type")
        for i, d in enumerate(self.devices):
            if isinstance(d, ModbusTcpDeviceConfig | ModbusRtuBusConfig):
                check_modbus_source(d, f"devices[{i}]")
                continue
            check = getattr(d, "check", None)
            if check is not None:
                problem = check()
                if problem:
                    raise ConfigError(f"'devices[{i}].{problem}")


def load_gateway_config(
    path: str | Path | None, default_devices: list[dict[str, Any]] | None = None
) -> GatewayConfig:
    """Read and check a gateway config; `default_devices` stand in when it lists none."""
    data: dict[str, Any] = {}
    if path is not None:
        p = Path(path)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"gateway config {p} does not exist; check the path") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{p} is not valid TOML: {exc}") from exc
    if default_devices is not None and not data.get("devices"):
        data["devices"] = default_devices
    return parse_config(data, source=str(path or "defaults"), root=GatewayConfig)


def _machines_of(d: DeviceConfig) -> list[str]:
    if isinstance(d, SerialDeviceConfig | ModbusTcpDeviceConfig):
        return [d.machine]
    if isinstance(d, ModbusRtuBusConfig):
        return [dev.machine for dev in d.devices]
    return []
