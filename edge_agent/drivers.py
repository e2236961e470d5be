"""Build the source for a device section of the gateway config (one place knows every type)."""

from __future__ import annotations

from edge_agent.config import DeviceConfig, GatewayConfig
from edge_agent.sources.modbus import ModbusSource
from edge_agent.sources.modbus_config import ModbusRtuBusConfig, ModbusTcpDeviceConfig
from edge_agent.sources.serial import SerialDeviceConfig, SerialNodeSource
from firmware_sim.source_config import SimDeviceConfig
from tonle.io.clock import Clock
from tonle.sources.base import Source

__all__ = ["make_source"]


def make_source(dev: DeviceConfig, clock: Clock, cfg: GatewayConfig) -> Source:
    if isinstance(dev, SimDeviceConfig):
        # Imported only when a gateway has a simulated line (the simulator needs scipy).
        from firmware_sim.line import SewingLine, default_line
        from firmware_sim.source import SimSource

        a = cfg.agent
        spec = default_line(
            n_stations=dev.stations,
            seed=dev.seed,
            wearing_station=dev.wearing_station if dev.wearing_station >= 0 else None,
            site=a.site,
            area=a.area,
            line=a.line,
        )
        line = SewingLine(
            spec,
            seed=dev.seed,
            start_ns=clock.now_ns(),
            wear_acceleration=dev.wear_acceleration,
            maintenance_s=dev.maintenance_s,
        )
        return SimSource(
            line, spec, clock, tick_s=dev.tick_s, name=dev.name, speed_range=(dev.speed_min, dev.speed_max)
        )
    if isinstance(dev, SerialDeviceConfig):
        return SerialNodeSource(dev)
    if isinstance(dev, ModbusTcpDeviceConfig | ModbusRtuBusConfig):
        return ModbusSource(dev, clock)
    raise TypeError(f"no driver for device type {type(dev).__name__}")
