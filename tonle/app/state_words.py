"""Machine states, alert levels and command answers in words: one set of catalogue entries for every view."""

from tonle.messages import N_

__all__ = ["ACK_STATUS", "SEVERITY", "STATES"]

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
ACK_STATUS = {
    "applied": N_("applied"),
    "rejected": N_("rejected"),
    "expired": N_("expired"),
    "duplicate": N_("duplicate"),
    "refused": N_("refused"),
}
"""A gateway's answer to a command (`tonle.contract.Ack.status`) in words."""
