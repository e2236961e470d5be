"""One validated TOML configuration, with environment overrides.

Sections live one per module (`plant`, `connections`, `collector`, `analytics`,
`shifts`, `agent`, `pdm`), gathered by `sections.TonleConfig`; `loader` reads the file and the
environment; `check` walks a document and collects every problem; `problems` is the
`ConfigError` that carries them.
"""

from tonle.config.agent import AgentConfig, SimConfig
from tonle.config.analytics import AnalyticsConfig, AnalyticsPdmConfig, LineConfig, RulesConfig
from tonle.config.collector import CollectorConfig
from tonle.config.connections import InfluxConfig, MqttConfig
from tonle.config.fields import Section
from tonle.config.loader import files_beside, load_config, parse_config, read_toml
from tonle.config.pdm import DEFAULT_MACHINE_TYPES, SEWING_BAND_HZ
from tonle.config.plant import PlantConfig
from tonle.config.problems import ConfigError, Problem
from tonle.config.sections import TonleConfig
from tonle.config.shifts import ShiftConfig, ShiftsConfig

__all__ = [
    "DEFAULT_MACHINE_TYPES",
    "SEWING_BAND_HZ",
    "AgentConfig",
    "AnalyticsConfig",
    "AnalyticsPdmConfig",
    "CollectorConfig",
    "ConfigError",
    "InfluxConfig",
    "LineConfig",
    "MqttConfig",
    "PlantConfig",
    "Problem",
    "RulesConfig",
    "Section",
    "ShiftConfig",
    "ShiftsConfig",
    "SimConfig",
    "TonleConfig",
    "files_beside",
    "load_config",
    "parse_config",
    "read_toml",
]
