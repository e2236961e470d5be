"""The report's fixed vocabulary: loss names, machine states, alert levels, causes.

Each is a catalogue entry (`N_`) looked up when the page is drawn, so one report
module serves every language. Machine, line and reason texts that come from the
floor are data and are shown as the machines wrote them (docs/glossary.md).
"""

from __future__ import annotations

import re

from tonle.app.state_words import SEVERITY, STATES
from tonle.messages import N_, _, current_language

__all__ = ["LOSS_NAMES", "SEVERITY", "STATES", "loss_name", "plain_cause", "severity"]

# The OEE losses in the order the waterfall steps down through them.
LOSS_NAMES = {
    "breakdown": N_("Breakdowns"),
    "setup": N_("Setup / style change"),
    "starved_blocked": N_("Waiting for work or space"),
    "minor_stop": N_("Short stops (< 5 min)"),
    "idle": N_("Idle, no reason given"),
    "speed": N_("Slow running"),
    "quality": N_("Rejects"),
}
# Machine states as a Pareto bar names them when the machine gave no reason: tonle.app.state_words.
# Reasons the simulated line's firmware gives (firmware_sim.states, .floor): known words,
# translated like the states. A reason not listed here is shown as the machine wrote it.
REASONS = (
    N_("thread break"),
    N_("needle break"),
    N_("bearing seized"),
    N_("waiting for cut panels"),
    N_("planned maintenance"),
    N_("maintenance: replace seized bearing"),
    N_("shift start"),
)
REASON_PATTERNS = (
    (re.compile(r"waiting for work from (?P<station>\S+)"), N_("waiting for work from {station}")),
    (
        re.compile(r"waiting for space: buffer to (?P<station>\S+) is full \((?P<capacity>\d+)\)"),
        N_("waiting for space: buffer to {station} is full ({capacity})"),
    ),
)


def loss_name(key: str) -> str:
    return _(LOSS_NAMES[key])


def severity(level: str) -> str:
    """An alert level in words (an unknown level as it was stored)."""
    return _(SEVERITY[level]) if level in SEVERITY else level


def plain_cause(label: str) -> str:
    """A Pareto label in plain words: the reason the machine gave, else its state.

    'thread_break: thread break (minor stop)' -> 'Thread break (short stop)';
    'starved: waiting for work from S10' -> 'Waiting for work from S10'; 'idle' -> 'Idle'.
    A reason the catalogue knows is translated; one it does not (it names a station)
    is kept as the machine wrote it, after the state in the reader's language.
    """
    minor = " (minor stop)"
    short = label.endswith(minor)
    state, _sep, reason = label.removesuffix(minor).partition(": ")
    text = _state(state) if not reason else _reason(state, reason)
    text = text[:1].upper() + text[1:]
    return (text if len(text) <= 60 else text[:58] + "…") + (_(" (short stop)") if short else "")


def _state(state: str) -> str:
    return _(STATES[state]) if state in STATES else state.replace("_", " ")


def _reason(state: str, reason: str) -> str:
    for pattern, template in REASON_PATTERNS:
        if m := pattern.fullmatch(reason):
            return _(template).format(**m.groupdict())
    known = _(reason)
    if known != reason or current_language() == "en":
        return known
    return _("{state}: {reason}").format(state=_state(state), reason=reason)
