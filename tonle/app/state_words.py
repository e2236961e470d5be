"""Machine states and alert levels in words: they live in `tonle.look` (one source for the
live view, the report and the dashboards); this name stays for the modules that import it."""

from tonle.look import SEVERITY, STATES

__all__ = ["SEVERITY", "STATES"]
