"""Machine states, alert levels and command answers in words.

States and alert levels live in `tonle.look` (one source for the live view, the report and
the dashboards); this name stays for the modules that import them. A gateway's answers to a
command are worded here: only the live view and the report show them.
"""

from tonle.look import SEVERITY, STATES
from tonle.messages import N_

__all__ = ["ACK_STATUS", "SEVERITY", "STATES"]

ACK_STATUS = {
    "applied": N_("applied"),
    "rejected": N_("rejected"),
    "expired": N_("expired"),
    "duplicate": N_("duplicate"),
    "refused": N_("refused"),
}
"""A gateway's answer to a command (`tonle.contract.Ack.status`) in words."""
