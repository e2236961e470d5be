"""The machine states the simulator reports, their integer codes, and the reason texts.

Codes let a step compare and store states as a small int array; the reasons are
what a supervisor reads on the state timeline and what a downtime Pareto groups by,
so they name the neighbour a station waits on.
"""

from __future__ import annotations

from tonle.contract.payloads import MACHINE_STATES

__all__ = [
    "BLOCKED",
    "BREAKDOWN",
    "MAINT",
    "NEEDLE",
    "RUNNING",
    "STARVED",
    "STATES",
    "THREAD",
    "change_reason",
    "starved_reason",
]

STATES: tuple[str, ...] = (
    "running",
    "starved",
    "blocked",
    "thread_break",
    "needle_break",
    "breakdown",
    "maintenance",
)
RUNNING, STARVED, BLOCKED, THREAD, NEEDLE, BREAKDOWN, MAINT = range(len(STATES))
if not set(STATES) <= set(MACHINE_STATES):
    raise ImportError(f"simulator states {STATES} are not all in the contract's MACHINE_STATES")

_BACK_TO_WORK = {
    BLOCKED: "buffer has room again",
    THREAD: "thread repaired",
    NEEDLE: "needle replaced",
    MAINT: "maintenance done, fresh bearing",
}


def starved_reason(station: int, names: tuple[str, ...]) -> str:
    return f"waiting for work from {names[station - 1]}" if station else "waiting for cut panels"


def change_reason(
    station: int,
    new: int,
    old: int,
    names: tuple[str, ...],
    buffer_capacity: int,
    fault_reason: str,
) -> str:
    """Why station `station` went from state code `old` to `new`."""
    if new == STARVED:
        return starved_reason(station, names)
    if new == BLOCKED:
        return f"waiting for space: buffer to {names[station + 1]} is full ({buffer_capacity})"
    if new != RUNNING:
        return fault_reason
    if old == STARVED:
        return f"work arrived from {names[station - 1]}" if station else "work arrived"
    return _BACK_TO_WORK.get(old, "sewing")
