"""Time spent in each machine state within a window, from state-transition events.

A machine reports an event when its state changes (running, idle, breakdown,
changeover, ...). Availability, downtime Pareto and MTBF/MTTR all start from the
same question: how many seconds did each machine spend in each state between
`start_ns` and `end_ns`? This module answers it for all machines at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analytics._events import sort_events
from tonle.kernels import checks as v
from tonle.kernels.checks import check_window

__all__ = ["StateTimes", "state_durations"]

_NS_PER_S = 1e9


@dataclass(frozen=True, slots=True)
class StateTimes:
    """Seconds per machine and state, plus the time whose state is unknown.

    seconds:   float64 [n_machines, n_states], time in each state inside the window.
    unknown_s: float64 [n_machines], time from the window start to the machine's first
               event (the whole window for a machine with no events). Pass the last event
               before the window to make it zero.
    window_s:  the window length; for every machine
               ``seconds.sum(axis=1) + unknown_s == window_s``.
    """

    seconds: np.ndarray
    unknown_s: np.ndarray
    window_s: float

    @property
    def coverage(self) -> np.ndarray:
        """Fraction of the window whose state is known, per machine (1.0 = fully covered)."""
        return 1.0 - self.unknown_s / self.window_s


def state_durations(
    machine: np.ndarray,
    ts_ns: np.ndarray,
    code: np.ndarray,
    start_ns: int,
    end_ns: int,
    n_machines: int,
    n_states: int,
) -> StateTimes:
    """Seconds each machine spent in each state within ``[start_ns, end_ns)``.

    Each event ``(machine[i], ts_ns[i], code[i])`` says the machine entered state
    ``code[i]`` at ``ts_ns[i]``; the state lasts until that machine's next event or
    ``end_ns``. Events may be in any order across and within machines (they are sorted
    here). Events before ``start_ns`` are clipped to it, so passing the last known state
    before the window accounts for the window's beginning; only the latest of them
    matters. Events at or after ``end_ns`` are ignored.

    Durations are summed in integer nanoseconds per event and accumulated in float64,
    exact for windows shorter than about 104 days.
    """
    n_states = v.check_count("n_states", n_states, minimum=1)
    start_ns, end_ns = check_window(start_ns, end_ns)
    ev = sort_events(machine, ts_ns, v.as_int("code", code), n_machines, value_name="code")
    v.check_in_range("code", ev.value, n_states, "state table")

    t = np.clip(ev.ts_ns, start_ns, end_ns)  # order-preserving, so still sorted
    nxt = np.empty_like(t)
    nxt[:-1] = t[1:]
    nxt[ev.last] = end_ns
    duration = (nxt - t).astype(np.float64)

    n_machines = int(n_machines)
    cell = ev.machine * n_states + ev.value
    seconds = np.bincount(cell, weights=duration, minlength=n_machines * n_states)
    seconds = seconds.reshape(n_machines, n_states) / _NS_PER_S

    unknown = np.full(n_machines, end_ns - start_ns, dtype=np.int64)
    unknown[ev.machine[ev.first]] = t[ev.first] - start_ns
    return StateTimes(
        seconds=seconds,
        unknown_s=unknown / _NS_PER_S,
        window_s=(end_ns - start_ns) / _NS_PER_S,
    )
