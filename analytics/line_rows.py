"""InfluxQL series -> the arrays the KPI core takes (events, counters, power on a grid).

InfluxDB answers one series per machine; the KPI core wants every machine in one
array, each row carrying its machine's index in the line's table. Series of machines
outside the table are dropped here, so a stray tag never shifts a line's figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from analytics.kpi import Counts
from analytics.timeline import Events
from tonle.contract import MACHINE_STATES
from tonle.io.influxql import Series

__all__ = ["bucket_grid", "counts_of", "offline_from", "state_events"]

OFFLINE = MACHINE_STATES.index("offline")


def offline_from(states: Events, t_ns: int, n: int) -> Events:
    """The events plus an `offline` state for every machine at `t_ns`: nothing is known after it."""
    m = np.arange(n, dtype=np.int64)
    reason = states.reason if states.reason is not None else np.full(states.code.size, -1, np.int64)
    return Events.of(
        np.concatenate((states.machine, m)),
        np.concatenate((states.ts_ns, np.full(n, t_ns, dtype=np.int64))),
        np.concatenate((states.code, np.full(n, OFFLINE, dtype=np.int64))),
        np.concatenate((reason, np.full(n, -1, dtype=np.int64))),
    )


def _rows(series: list[Series], idx: dict[str, int], cols: Sequence[str]) -> tuple[np.ndarray, list[Any]]:
    """(machine index per row, [time, *cols] columns) of the series whose machine is in `idx`."""
    machine: list[int] = []
    out: list[list[Any]] = [[] for _ in range(len(cols) + 1)]
    for s in series:
        i = idx.get(s.tags.get("machine", ""))
        if i is None:
            continue
        where = [s.columns.index("time"), *(s.columns.index(c) for c in cols)]
        for row in s.values:
            if any(row[j] is None for j in where[1:2]):  # the first value column must be there
                continue
            machine.append(i)
            for k, j in enumerate(where):
                out[k].append(row[j])
    return np.array(machine, dtype=np.int64), out


def state_events(series: list[Series], idx: dict[str, int], reason_code: dict[str, int]) -> Events:
    m, (ts, code, reason) = _rows(series, idx, ("code", "reason"))
    r = [reason_code.get(x, -1) if x else -1 for x in reason]
    return Events.of(m, np.array(ts, dtype=np.int64), np.array(code, dtype=np.int64), np.array(r, np.int64))


def counts_of(series: list[Series], idx: dict[str, int]) -> Counts:
    m, (ts, total, good) = _rows(series, idx, ("total", "good"))
    tot = np.array(total, dtype=np.float64)
    gd = np.array([np.nan if g is None else g for g in good], dtype=np.float64)
    keep = np.isfinite(gd)  # a reading without its good counter cannot be split
    return Counts.of(m[keep], np.array(ts, dtype=np.int64)[keep], tot[keep], gd[keep])


def bucket_grid(
    series: list[Series], idx: dict[str, int], g0: int, step_ns: int, n: int, rows: int
) -> np.ndarray:
    """Bucket means placed on the grid [rows, n]; NaN where a bucket had no sample."""
    out = np.full((rows, max(n, 0)), np.nan)
    m, (ts, val) = _rows(series, idx, ("v",))
    if m.size and n > 0:
        k = (np.array(ts, dtype=np.int64) - g0) // step_ns
        ok = (k >= 0) & (k < n)
        out[m[ok], k[ok]] = np.array(val, dtype=np.float64)[ok]
    return out
