"""Machine states and alert levels in words: one set of catalogue entries for the live view and the report."""

from tonle.messages import N_

__all__ = ["SEVERITY", "STATES"]

STATES = {
    "running": N_("running"),
    "idle": N_("idle"),
    "starved": N_("starved"),
    "blocked": N_("blocked"),
    "thread_break": N_("thread break"),
    "needle_break": N_("needle break"),
    "breakdown": N_("breakdown"),
    "maintenance": N_("maintenance"),
    "setup": N_("setup"),
    "planned_stop": N_("planned stop"),
    "offline": N_("offline"),
}
SEVERITY = {"info": N_("info"), "warning": N_("warning"), "alarm": N_("alarm"), "critical": N_("critical")}
