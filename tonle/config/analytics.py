"""`[analytics]`: the service's rhythm, its rules, PdM, line engineering data and energy."""

from __future__ import annotations

from typing import Annotated

import msgspec

from tonle.config.fields import Fraction, PosFloat, PosInt, Section
from tonle.config.pdm import DEFAULT_MACHINE_TYPES, MachineTypePdm, PdmConfig
from tonle.config.problems import Problem
from tonle.config.shifts import ShiftsConfig

__all__ = ["AnalyticsConfig", "AnalyticsPdmConfig", "LineConfig", "RulesConfig"]


class RulesConfig(Section, frozen=True):
    derate_below: Fraction = 0.6
    derate_clear_above: Fraction = 0.75
    derate_to: Annotated[float, msgspec.Meta(ge=0.3, le=1.0)] = 0.7
    maintenance_below: Fraction = 0.35
    maintenance_clear_above: Fraction = 0.8
    command_ttl_s: PosFloat = 120.0
    andon_on_breakdown: bool = True

    def problems(self) -> list[Problem]:
        """Each clear level must lie above its trigger: the gap stops commands flapping."""
        return [
            Problem(
                f"{name}_clear_above",
                f"is {clear:g}, not above {name}_below ({below:g})",
                f"raise {name}_clear_above: the gap between the two is the hysteresis that "
                "stops commands flapping",
            )
            for name, below, clear in (
                ("derate", self.derate_below, self.derate_clear_above),
                ("maintenance", self.maintenance_below, self.maintenance_clear_above),
            )
            if clear <= below
        ]


class LineConfig(Section, frozen=True):
    """Engineering data for one line: the operation bulletin a garment IE keeps."""

    target_pph: Annotated[float, msgspec.Meta(ge=0)] = 0.0
    operators: Annotated[int, msgspec.Meta(ge=0)] = 0  # 0 = one operator per station
    sam_min: dict[str, Annotated[float, msgspec.Meta(gt=0, le=600)]] = msgspec.field(default_factory=dict)


class AnalyticsPdmConfig(PdmConfig, frozen=True):
    """`[analytics.pdm]`: the PdM core's settings plus how the service acts on them.

    rul_horizon_h:    derate (and alert) when the early end of the RUL band is closer than
                      this: the time the plant needs to get a bearing and a mechanic.
    min_interval_s:   shortest time between two PdM alerts for one machine, so a machine
                      that keeps getting worse does not flood the technician's phone.
    history_s:        how much health history the RUL trend is fitted on.
    """

    machine_types: dict[str, MachineTypePdm] = msgspec.field(
        default_factory=lambda: dict(DEFAULT_MACHINE_TYPES)
    )
    rul_horizon_h: PosFloat = 8.0
    min_interval_s: PosFloat = 600.0
    history_s: PosFloat = 4 * 3600.0


class AnalyticsConfig(Section, frozen=True):
    site: str = "+"
    interval_s: PosFloat = 5.0
    window_s: PosFloat = 600.0
    health_window_s: PosFloat = 60.0
    baseline_samples: PosInt = 6
    fail_rms_ratio: Annotated[float, msgspec.Meta(gt=1)] = 3.0
    rules: RulesConfig = msgspec.field(default_factory=RulesConfig)
    pdm: AnalyticsPdmConfig = msgspec.field(default_factory=AnalyticsPdmConfig)
    lines: dict[str, LineConfig] = msgspec.field(default_factory=dict)
    shifts: ShiftsConfig = msgspec.field(default_factory=ShiftsConfig)
    # Energy of machines with only a current sensor (a clamp on the motor lead) is
    # estimated as volts x amps x power factor; machines and meters that report
    # `power_kw` are used as they are. Cambodia's mains are 230 V.
    motor_supply_v: PosFloat = 230.0
    motor_power_factor: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.75
    # Power is read as the mean of each `power_step_s` bucket (a server-side GROUP BY).
    power_step_s: Annotated[float, msgspec.Meta(ge=1, le=300)] = 10.0
    # When a line has sent nothing (no telemetry, state or count) for this long, its
    # machines' states are no longer known: the time after is counted as missing data.
    silence_s: PosFloat = 60.0
    # Every command is signed with this Ed25519 key (made, 0600, on first start) under this
    # name; each gateway trusts its public key in [agent.trusted_keys] (the service logs the
    # line to paste there when it starts).
    signing_key: str = "run/analytics/command.key"
    signer: str = "analytics"
