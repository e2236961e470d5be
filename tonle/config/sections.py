"""The sections of `tonle.toml`, gathered into `TonleConfig` (one module per section).

A technician edits one file. A misspelt key is an error naming the key and the keys
allowed there, never a silent default; `tonle.config.loader` reads the file, applies
TONLE_<SECTION>_<KEY> environment overrides and reports every problem in one go.
"""

from __future__ import annotations

import msgspec

from tonle.config.agent import AgentConfig, SimConfig
from tonle.config.analytics import AnalyticsConfig, AnalyticsPdmConfig, LineConfig, RulesConfig
from tonle.config.collector import CollectorConfig
from tonle.config.connections import InfluxConfig, MqttConfig
from tonle.config.fields import Section
from tonle.config.plant import PlantConfig
from tonle.config.shifts import ShiftConfig, ShiftsConfig

__all__ = [
    "AgentConfig",
    "AnalyticsConfig",
    "AnalyticsPdmConfig",
    "CollectorConfig",
    "InfluxConfig",
    "LineConfig",
    "MqttConfig",
    "PlantConfig",
    "RulesConfig",
    "ShiftConfig",
    "ShiftsConfig",
    "SimConfig",
    "TonleConfig",
]


class TonleConfig(Section, frozen=True):
    """`tonle.toml`: what the collector, the analytics, the demo and the report read."""

    plant: PlantConfig = msgspec.field(default_factory=PlantConfig)
    mqtt: MqttConfig = msgspec.field(default_factory=MqttConfig)
    influxdb: InfluxConfig = msgspec.field(default_factory=InfluxConfig)
    collector: CollectorConfig = msgspec.field(default_factory=CollectorConfig)
    analytics: AnalyticsConfig = msgspec.field(default_factory=AnalyticsConfig)
    agent: AgentConfig = msgspec.field(default_factory=AgentConfig)
    sim: SimConfig = msgspec.field(default_factory=SimConfig)
