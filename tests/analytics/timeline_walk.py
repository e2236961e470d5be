"""A slow, obviously right reference for the state time of many machines: replay each machine's events."""

from __future__ import annotations

import numpy as np

S = 1_000_000_000  # ns per second


def walk_state_seconds(
    machine: np.ndarray, ts: np.ndarray, code: np.ndarray, start: int, end: int, n_m: int, n_s: int
) -> tuple[np.ndarray, np.ndarray]:
    """(seconds [n_m, n_s], unknown seconds [n_m]) in [start, end), one segment at a time.

    A state lasts until the machine's next event; the last event at or before `start` is the
    state the window starts in; time before a machine's first known state is unknown.
    """
    events = list(zip(machine.tolist(), ts.tolist(), code.tolist(), strict=True))
    seconds = [[0] * n_s for _ in range(n_m)]
    unknown = [0] * n_m
    for m in range(n_m):
        state, cursor = None, start
        for _, t, c in sorted(e for e in events if e[0] == m):
            if t <= start:
                state = c  # the last known state before the window
                continue
            if t >= end:
                break
            if state is None:
                unknown[m] += t - cursor
            else:
                seconds[m][state] += t - cursor
            state, cursor = c, t
        if state is None:
            unknown[m] += end - cursor
        else:
            seconds[m][state] += end - cursor
    return np.array(seconds) / S, np.array(unknown) / S
