"""The in-process simulated line as a registered device type (`[[devices]] type = "sim"`).

The config struct is apart from the simulator so a gateway config can be read without
loading it (the simulator needs scipy; a gateway should not). The factory imports the
simulator only when a gateway really runs a simulated line. Registered through the
`tonle.sources` entry point group in pyproject.toml, so the edge agent never imports
firmware_sim.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from tonle.config.problems import Problem
from tonle.io.clock import Clock
from tonle.messages import _
from tonle.sources.base import Source
from tonle.sources.registry import DeviceConfig, GatewayContext, SourceType

__all__ = ["SIM_SOURCE", "SimDeviceConfig"]


class SimDeviceConfig(DeviceConfig, tag="sim", frozen=True, kw_only=True):
    """A whole simulated sewing line inside the agent (for training and tests)."""

    name: str = "sim-line"
    stations: Annotated[int, msgspec.Meta(ge=1, le=200)] = 12
    seed: int = 1
    wearing_station: int = 6  # -1: every bearing healthy
    wear_acceleration: float = 1.0
    maintenance_s: float = 600.0
    tick_s: float = 1.0
    speed_min: float = 0.5
    speed_max: float = 1.0

    def problems(self) -> list[Problem]:
        found: list[Problem] = []
        if not -1 <= self.wearing_station < self.stations:
            found.append(
                Problem(
                    "wearing_station",
                    _("is {station}, not a station of this {stations}-station line").format(
                        station=self.wearing_station, stations=self.stations
                    ),
                    _("use 0..{last}, or -1 for none").format(last=self.stations - 1),
                )
            )
        if not 0.3 <= self.speed_min <= self.speed_max <= 1.0:
            found.append(
                Problem(
                    "speed_min",
                    _("({low:g}) and {high_key} ({high:g}) are out of order or range").format(
                        low=self.speed_min, high_key="speed_max", high=self.speed_max
                    ),
                    _("need 0.3 <= speed_min <= speed_max <= 1.0"),
                )
            )
        return found

    def machines(self) -> list[str]:
        """The stations of `firmware_sim.spec.default_line`: S01, S02, ..."""
        return [f"S{i + 1:02d}" for i in range(self.stations)]


def build_sim_source(config: SimDeviceConfig, clock: Clock, context: GatewayContext) -> Source:
    """A simulated line on the agent's clock, named after the gateway's site, area and line."""
    from firmware_sim.line import SewingLine, default_line
    from firmware_sim.source import SimSource

    spec = default_line(
        n_stations=config.stations,
        seed=config.seed,
        wearing_station=config.wearing_station if config.wearing_station >= 0 else None,
        site=context.site,
        area=context.area,
        line=context.line,
    )
    line = SewingLine(
        spec,
        seed=config.seed,
        start_ns=clock.now_ns(),
        wear_acceleration=config.wear_acceleration,
        maintenance_s=config.maintenance_s,
    )
    return SimSource(
        line,
        spec,
        clock,
        tick_s=config.tick_s,
        name=config.name,
        speed_range=(config.speed_min, config.speed_max),
    )


SIM_SOURCE = SourceType(
    name="sim",
    config=SimDeviceConfig,
    factory=build_sim_source,
    summary="a whole simulated sewing line inside the agent, for training and tests",
    needs=("scipy",),
    extra="sim",
)
