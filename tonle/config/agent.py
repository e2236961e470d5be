"""`[agent]` (who a gateway is and what it may be told) and `[sim]` (the demo's line)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from tonle.config.fields import PosFloat, Section
from tonle.config.problems import Problem

__all__ = ["AgentConfig", "SimConfig"]


class SimConfig(Section, frozen=True):
    stations: Annotated[int, msgspec.Meta(ge=1, le=200)] = 12
    seed: int = 1
    wearing_station: int = 6
    wear_acceleration: PosFloat = 1.0
    maintenance_s: PosFloat = 600.0
    publish_interval_s: PosFloat = 1.0


class AgentConfig(Section, frozen=True):
    id: str = "gateway-1"
    site: str = "demo-plant"
    area: str = "sewing"
    line: str = "L1"
    publish_interval_s: PosFloat = 1.0
    health_interval_s: PosFloat = 10.0
    speed_min: Annotated[float, msgspec.Meta(ge=0.1, le=1.0)] = 0.5
    speed_max: Annotated[float, msgspec.Meta(ge=0.1, le=1.0)] = 1.0
    allowed_commands: list[str] = msgspec.field(
        default_factory=lambda: ["set_speed", "maintenance", "andon", "clear_andon"]
    )
    # End-to-end delivery (docs/delivery.md): a spooled message is sent again when no
    # collector confirmed it within confirm_timeout_s (held_timeout_s once a collector said
    # it holds it while the database is down); at most unconfirmed_max wait at once.
    confirm_timeout_s: Annotated[float, msgspec.Meta(ge=1, le=3600)] = 30.0
    held_timeout_s: Annotated[float, msgspec.Meta(ge=1, le=86_400)] = 600.0
    unconfirmed_max: Annotated[int, msgspec.Meta(ge=10, le=1_000_000)] = 5000

    def problems(self) -> list[Problem]:
        if self.speed_min > self.speed_max:
            return [
                Problem(
                    "speed_min",
                    f"({self.speed_min:g}) is above speed_max ({self.speed_max:g})",
                    "swap them",
                )
            ]
        return []
