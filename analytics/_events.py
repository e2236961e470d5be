"""Event streams of many machines as one sorted array with segment boundaries.

State transitions and counter samples arrive as three parallel 1-D arrays
(machine id, timestamp, value), interleaved across machines and not necessarily
in time order (InfluxDB returns one series after another; an MQTT backlog arrives
late). Kernels sort them once with `np.lexsort` by (machine, time) and then work on
whole segments with `np.diff` and `np.bincount`, never looping over machines.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tonle.kernels import checks as v


@dataclass(frozen=True, slots=True)
class SortedEvents:
    """Events sorted by (machine, time); `first`/`last` mark each machine's segment ends."""

    machine: np.ndarray
    ts_ns: np.ndarray
    value: np.ndarray
    first: np.ndarray
    last: np.ndarray


def sort_events(
    machine: object,
    ts_ns: object,
    value: np.ndarray,
    n_machines: int,
    *,
    value_name: str,
    skip_nan: bool = False,
) -> SortedEvents:
    """Validate and sort one event stream of many machines.

    Two events of one machine at the same instant are accepted only if they carry
    the same value (a replayed message): with different values the order between
    them, and so the answer, would be arbitrary. InfluxDB keeps one point per series
    and timestamp, so such input means the data was merged from somewhere else.
    With `skip_nan`, events whose value is NaN (a missing reading) are left out.
    """
    n_machines = v.check_count("n_machines", n_machines, minimum=0)
    m = v.as_int("machine", machine)
    t = v.as_timestamps("ts_ns", ts_ns)
    if value.ndim != 1:
        raise ValueError(f"{value_name} must be 1-D, got shape {value.shape}")
    v.same_length(machine=m, ts_ns=t, **{value_name: value})
    v.check_in_range("machine", m, n_machines, "machine table")
    if skip_nan and value.dtype.kind == "f":
        keep = ~np.isnan(value)
        m, t, value = m[keep], t[keep], value[keep]

    order = np.lexsort((t, m))
    m, t, value = m[order], t[order], value[order]
    boundary = m[1:] != m[:-1]
    clash = ~boundary & (t[1:] == t[:-1]) & (value[1:] != value[:-1])
    if clash.any():
        i = int(np.flatnonzero(clash)[0])
        raise ValueError(
            f"machine {int(m[i])} has two different {value_name} values "
            f"({value[i].item()} and {value[i + 1].item()}) at the same timestamp {int(t[i])} ns: "
            "deduplicate the source so each instant has one value"
        )
    first = np.concatenate(([True], boundary)) if m.size else np.zeros(0, bool)
    last = np.concatenate((boundary, [True])) if m.size else np.zeros(0, bool)
    return SortedEvents(machine=m, ts_ns=t, value=value, first=first, last=last)


def empty_as_int(x: object) -> object:
    """`[]` arrives as float64; an empty list of events is still a valid (empty) stream."""
    a = np.asarray(x)
    return a.astype(np.int64) if a.size == 0 and a.dtype.kind == "f" else x
