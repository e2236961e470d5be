"""The loss taxonomy: which machine state is which kind of lost time.

A plant manager asks "why 62 %?". The answer is a breakdown of planned time into
the classic loss categories (Nakajima's six big losses, as most OEE tools group
them), so every second of a machine's window lands in exactly one time category:

    run              producing (speed and quality losses are carved out of it later,
                     from the piece counts: they are not states)
    planned_stop     planned breaks, no production scheduled: NOT planned production time
    breakdown        equipment failure and repair, longer than the minor-stop threshold
    setup            setup / changeover (style change on a sewing line)
    starved_blocked  waiting for work from upstream or for space downstream
    minor_stop       a breakdown-type or unexplained stop shorter than `minor_stop_s`
    idle             stopped, no reason given, longer than the threshold
    no_data          nothing known (no event yet, data gap, edge agent offline)

Default mapping from the contract's `MACHINE_STATES` (tonle/contract/payloads.py):

    running                                   -> run
    idle                                      -> idle (minor_stop when short)
    starved, blocked                          -> starved_blocked
    thread_break, needle_break, breakdown,
    maintenance                               -> breakdown (minor_stop when short)
    setup                                     -> setup
    planned_stop                              -> planned_stop
    offline                                   -> no_data

`maintenance` is a breakdown by default because in Tonle it is requested when a
machine's health falls, during production; maintenance scheduled ahead belongs in
the shift calendar as a break, or as a `planned_stop` state. A reason can
override its state's category (e.g. an `idle` state with reason "style change"
is a setup): pass `reason_category`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from tonle.contract.payloads import MACHINE_STATES

__all__ = [
    "BREAKDOWN",
    "CATEGORIES",
    "DEFAULT_STATE_CATEGORY",
    "DOWNTIME",
    "IDLE",
    "MINOR_STOP",
    "NO_DATA",
    "PLANNED_STOP",
    "RUN",
    "SETUP",
    "STARVED_BLOCKED",
    "LossTaxonomy",
    "state_codes",
]

CATEGORIES: tuple[str, ...] = (
    "run",
    "planned_stop",
    "breakdown",
    "setup",
    "starved_blocked",
    "minor_stop",
    "idle",
    "no_data",
)
RUN, PLANNED_STOP, BREAKDOWN, SETUP, STARVED_BLOCKED, MINOR_STOP, IDLE, NO_DATA = range(len(CATEGORIES))
DOWNTIME: tuple[int, ...] = (BREAKDOWN, SETUP, STARVED_BLOCKED, MINOR_STOP, IDLE)
"""Categories that are planned production time lost (availability losses)."""

DEFAULT_STATE_CATEGORY: Mapping[str, str] = {
    "running": "run",
    "idle": "idle",
    "starved": "starved_blocked",
    "blocked": "starved_blocked",
    "thread_break": "breakdown",
    "needle_break": "breakdown",
    "breakdown": "breakdown",
    "maintenance": "breakdown",
    "setup": "setup",
    "planned_stop": "planned_stop",
    "offline": "no_data",
}
MINOR_STOP_S = 300.0
"""Five minutes: the usual TPM line between a minor stop and a breakdown."""

# Categories whose short stops are minor stops. Starved/blocked stay what they are
# (the cause is a neighbour), setups are setups however short.
_SHORTENS = (BREAKDOWN, IDLE)


@dataclass(frozen=True, slots=True)
class LossTaxonomy:
    """How states (and optionally reasons) map to loss categories.

    states:          the state table the event codes index (default: the contract's).
    state_category:  state name -> category name; every state needs one.
    minor_stop_s:    breakdown and idle stops shorter than this are minor stops.
    reason_category: reason text -> category name, overriding the state's category
                     for events carrying that reason (empty: states decide alone).
    """

    states: tuple[str, ...] = MACHINE_STATES
    state_category: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_STATE_CATEGORY))
    minor_stop_s: float = MINOR_STOP_S
    reason_category: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [s for s in self.states if s not in self.state_category]
        if missing:
            raise ValueError(
                f"loss taxonomy: states {missing} have no category; map each to one of {list(CATEGORIES)}"
            )
        for where, mapping in (
            ("state_category", self.state_category),
            ("reason_category", self.reason_category),
        ):
            bad = {k: c for k, c in mapping.items() if c not in CATEGORIES}
            if bad:
                raise ValueError(
                    f"loss taxonomy: {where} uses unknown categories {bad}; use {list(CATEGORIES)}"
                )
        if not (np.isfinite(self.minor_stop_s) and self.minor_stop_s >= 0):
            raise ValueError(
                f"loss taxonomy: minor_stop_s={self.minor_stop_s} must be a number of seconds >= 0"
            )

    def state_table(self) -> np.ndarray:
        """Category code of each state code, int64 [n_states]."""
        return np.array([CATEGORIES.index(self.state_category[s]) for s in self.states], dtype=np.int64)

    def reason_table(self, reasons: Sequence[str]) -> np.ndarray:
        """Category code overriding each reason code, or -1 where the state decides."""
        return np.array(
            [CATEGORIES.index(self.reason_category[r]) if r in self.reason_category else -1 for r in reasons],
            dtype=np.int64,
        )

    def categorise(
        self,
        state: np.ndarray,
        reason: np.ndarray,
        reasons: Sequence[str],
        duration_s: np.ndarray,
    ) -> np.ndarray:
        """Category of each stop from its state, reason and whole duration in seconds.

        `duration_s` is the length of the uninterrupted stop (not of a piece of it cut
        at a shift edge), so a 4-minute thread break stays one minor stop even when it
        straddles two shifts.
        """
        by_reason = self.reason_table(reasons)
        cat = self.state_table()[state]
        if by_reason.size:
            override = np.where(reason >= 0, by_reason[np.maximum(reason, 0)], -1)
            cat = np.where(override >= 0, override, cat)
        short = np.isin(cat, _SHORTENS) & (duration_s < self.minor_stop_s)
        return np.where(short, MINOR_STOP, cat)


def state_codes(names: Sequence[str] | np.ndarray, states: Sequence[str] = MACHINE_STATES) -> np.ndarray:
    """State names (as the edge sends them) to integer codes, refusing unknown names.

    The analytics core works on integers; an unknown name is an edge agent speaking a
    newer contract than the analytics, which must be fixed rather than guessed.
    """
    arr = np.asarray(names)
    if arr.size == 0:
        return np.zeros(0, dtype=np.int64)
    table, inverse = np.unique(arr.astype(str), return_inverse=True)
    known = {s: i for i, s in enumerate(states)}
    unknown = [str(t) for t in table if t not in known]
    if unknown:
        raise ValueError(f"unknown machine states {unknown}: the known states are {list(states)}")
    return np.array([known[str(t)] for t in table], dtype=np.int64)[inverse.reshape(-1)]
