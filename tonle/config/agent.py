"""`[agent]` (who a gateway is and what it may be told) and `[sim]` (the demo's line)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from tonle.config.fields import PosFloat, Section
from tonle.config.problems import Problem
from tonle.messages import _
from tonle.security.signing import TrustedKeys

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
    # Signed commands (tonle.security.commands): the public keys whose commands may move this
    # gateway's machines, by name (`tonle command keygen` prints the line to paste here), and
    # the names taken back. There is no switch to turn the check off: with no trusted key,
    # every command is refused. A command may expire at most command_max_expiry_s after it
    # arrives, and be stamped at most command_max_skew_s ahead of the gateway's clock.
    trusted_keys: dict[str, str] = msgspec.field(default_factory=dict)
    revoked_keys: list[str] = msgspec.field(default_factory=list)
    command_max_expiry_s: Annotated[float, msgspec.Meta(ge=1, le=7 * 86_400)] = 3600.0
    command_max_skew_s: Annotated[float, msgspec.Meta(ge=0, le=3600)] = 30.0

    def problems(self) -> list[Problem]:
        found = []
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
        for name, text in self.trusted_keys.items():
            try:
                TrustedKeys.parse({name: text})
            except ValueError:
                found.append(
                    Problem(
                        f"trusted_keys.{name}",
                        _("is not a public key"),
                        _("paste the line `tonle command keygen` printed for that key, unchanged"),
                    )
                )
        return found
