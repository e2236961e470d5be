"""Config of the in-process simulated line, apart from the simulator so a gateway config
can be read without loading it (the simulator needs scipy; a gateway should not)."""

from __future__ import annotations

from typing import Annotated

import msgspec

__all__ = ["SimDeviceConfig"]


class SimDeviceConfig(
    msgspec.Struct, tag="sim", tag_field="type", forbid_unknown_fields=True, frozen=True, kw_only=True
):
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

    def check(self) -> str | None:
        """A problem as "key': what is wrong and the fix", or None."""
        if not -1 <= self.wearing_station < self.stations:
            return (
                f"wearing_station': {self.wearing_station} is not a station of this "
                f"{self.stations}-station line; use 0..{self.stations - 1}, or -1 for none"
            )
        if not 0.3 <= self.speed_min <= self.speed_max <= 1.0:
            return "speed_min': need 0.3 <= speed_min <= speed_max <= 1.0"
        return None
