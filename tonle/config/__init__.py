"""One validated TOML configuration, with environment overrides (see `sections`)."""

from tonle.config.sections import *  # noqa: F403
from tonle.config.sections import __all__ as __all__
