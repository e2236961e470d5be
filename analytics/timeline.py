"""State timelines: state events of many machines -> categorised intervals, all machines at once.

Every KPI in `analytics.kpi` is a sum over time intervals, so this module does the one
hard step once: it turns the event streams (state changes, optionally job/product
changes) into elementary intervals in which nothing changes, for every machine at once,
each tagged with

    machine, start/end (ns), contract state and reason, loss category,
    reporting period (shift instance), job, and whether a stop starts there.

How time is attributed:
- A state lasts from its event until the machine's next event, or the window end.
- Before a machine's first event (and the last event before the window counts as
  its first) its state is unknown: category `no_data`. So is time more than
  `max_gap_s` after an event when no newer event came (an event stream that went
  quiet, e.g. a logger that stopped reporting), and the `offline` state.
- Consecutive events with the same state and reason are one stop (heartbeats that
  repeat the state do not split a breakdown into many).
- Whether a breakdown or idle stop is a minor stop is judged on the whole stop
  (including its part before the window), not on a piece cut at a shift edge.
- Outside shift time (breaks, no shift) every non-running second is a planned stop;
  running then still counts as run time and as planned production time (overtime).

Only sorting, `np.diff`, `np.maximum.accumulate`, `np.searchsorted` and `np.bincount`:
no Python loop over events or machines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analytics._events import empty_as_int
from analytics.losses import NO_DATA, PLANNED_STOP, RUN, LossTaxonomy
from tonle.kernels import checks as v
from tonle.kernels.shifts import SCHEDULED, Periods

__all__ = ["Events", "Segments", "build_segments", "latest_at_or_before"]

NS_PER_S = 1_000_000_000
NO_STATE = -1
"""State code of time whose state is unknown (category no_data)."""


@dataclass(frozen=True, slots=True)
class Events:
    """A stream of coded events of many machines: (machine, ts_ns, code[, reason]).

    code indexes the caller's table (contract states, or job/product names);
    reason (optional, same length) indexes a reason table. Any order is accepted.
    """

    machine: np.ndarray
    ts_ns: np.ndarray
    code: np.ndarray
    reason: np.ndarray | None = None

    @classmethod
    def of(
        cls,
        machine: object,
        ts_ns: object,
        code: object,
        reason: object | None = None,
    ) -> Events:
        """Validated int64 arrays of equal length (datetime64 timestamps are converted)."""
        m = v.as_int("machine", empty_as_int(machine))
        t = v.as_timestamps("ts_ns", empty_as_int(ts_ns))
        c = v.as_int("code", empty_as_int(code))
        r = None if reason is None else v.as_int("reason", empty_as_int(reason))
        v.same_length(machine=m, ts_ns=t, code=c, **({} if r is None else {"reason": r}))
        return cls(m, t, c, r)


@dataclass(frozen=True, slots=True)
class Segments:
    """Elementary intervals, sorted by (machine, start); all arrays have one value per interval.

    state is a contract state code or NO_STATE (-1); reason is -1 where none was given.
    stop_start marks the first interval of each stop (an uninterrupted stretch of one
    state and reason, re-started where the calendar changes its category), so counting
    it per cell counts stops exactly once.
    """

    machine: np.ndarray
    start_ns: np.ndarray
    end_ns: np.ndarray
    state: np.ndarray
    reason: np.ndarray
    category: np.ndarray
    period: np.ndarray
    job: np.ndarray
    stop_start: np.ndarray

    @property
    def seconds(self) -> np.ndarray:
        return (self.end_ns - self.start_ns) / NS_PER_S


def build_segments(
    states: Events,
    *,
    n_machines: int,
    periods: Periods,
    taxonomy: LossTaxonomy,
    reasons: Sequence[str] = (),
    jobs: Events | None = None,
    n_jobs: int = 1,
    max_gap_s: float | None = None,
) -> Segments:
    """Cut every machine's window into intervals of constant state, job, period and category.

    `states.code` indexes `taxonomy.states`; `states.reason` (if any) indexes `reasons`.
    `jobs.code` indexes a job table of `n_jobs - 1` names: job `n_jobs - 1` is "no job known",
    used before a machine's first job event. Without `jobs`, everything is job 0.
    """
    n_machines = v.check_count("n_machines", n_machines, minimum=0)
    start, end = int(periods.edges[0]), int(periods.edges[-1])
    reason = _checked_reasons(states, n_machines, len(taxonomy.states), len(reasons), max_gap_s)
    ev = _state_stream(states.machine, states.ts_ns, states.code, reason, n_machines, start, end, max_gap_s)
    m, t, orig, code, rsn = ev
    run_id, run_cat = _runs(m, t, orig, code, rsn, end, taxonomy, reasons)

    # Job stream, then merge states, jobs and calendar edges into elementary intervals.
    jm, jt, jc = _job_stream(jobs, n_machines, n_jobs, start, end)
    seg_m, seg_s, seg_e, si, ji = _elementary(m, t, jm, jt, periods.edges[1:-1], n_machines, end)
    run = run_id[si]
    cat = run_cat[run]
    slice_ = np.searchsorted(periods.edges, seg_s, side="right") - 1
    off_shift = periods.slice_kind[slice_] != SCHEDULED
    cat = np.where(off_shift & (cat != RUN) & (cat != NO_DATA), PLANNED_STOP, cat)
    job = jc[ji] if jobs is not None else np.zeros(seg_m.size, np.int64)

    starts = _firsts(seg_m) | (run != _prev(run)) | (cat != _prev(cat))
    return Segments(
        machine=seg_m,
        start_ns=seg_s,
        end_ns=seg_e,
        state=code[si],
        reason=rsn[si],
        category=cat,
        period=periods.slice_period[slice_],
        job=job,
        stop_start=starts,
    )


def _checked_reasons(
    states: Events, n_machines: int, n_states: int, n_reasons: int, max_gap_s: float | None
) -> np.ndarray:
    """The events' reason codes (-1 where none), after refusing anything outside its table."""
    v.check_in_range("machine", states.machine, n_machines, "machine table")
    v.check_in_range("state", states.code, n_states, "state table (taxonomy.states)")
    reason = states.reason if states.reason is not None else np.full(states.code.size, -1, np.int64)
    bad = (reason < -1) | (reason >= n_reasons)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"reason[{i}] = {int(reason[i])} is outside -1..{n_reasons - 1}: pass the reason texts as "
            "`reasons` (-1 means no reason given)"
        )
    if max_gap_s is not None and not (np.isfinite(max_gap_s) and max_gap_s > 0):
        raise ValueError(f"max_gap_s={max_gap_s} must be a positive number of seconds (or None)")
    return reason


def _runs(
    m: np.ndarray,
    t: np.ndarray,
    orig: np.ndarray,
    code: np.ndarray,
    rsn: np.ndarray,
    end: int,
    taxonomy: LossTaxonomy,
    reasons: Sequence[str],
) -> tuple[np.ndarray, np.ndarray]:
    """(run of each event, loss category of each run).

    A run is an uninterrupted stretch of one state and reason (heartbeats merged); it is
    categorised on its whole length, from when its stop began (`orig`), so a minor stop
    is judged on the stop and not on the piece inside the window.
    """
    new_run = _firsts(m) | (code != _prev(code)) | (rsn != _prev(rsn))
    run_id = np.cumsum(new_run) - 1
    run_first = np.flatnonzero(new_run)
    run_end = np.append(t[run_first[1:]], end)
    next_machine_starts = np.append(m[run_first[1:]] != m[run_first[:-1]], True)[: run_first.size]
    run_end = np.where(next_machine_starts, end, run_end)
    run_dur = (run_end - orig[run_first]) / NS_PER_S
    run_code = code[run_first]
    known = run_code != NO_STATE
    run_cat = np.full(run_first.size, NO_DATA, dtype=np.int64)
    if known.any():
        run_cat[known] = taxonomy.categorise(run_code[known], rsn[run_first][known], reasons, run_dur[known])
    return run_id, run_cat


def _elementary(
    m: np.ndarray,
    t: np.ndarray,
    jm: np.ndarray,
    jt: np.ndarray,
    edges: np.ndarray,
    n_machines: int,
    end: int,
) -> tuple[np.ndarray, ...]:
    """(machine, start, end, state event, job event) of the intervals between any two changes.

    State events, job events and calendar edges (repeated for every machine) are merged
    in one sort; each interval carries the index of the state event and of the job
    event in force (the last of each kind at or before its start).
    """
    em = np.repeat(np.arange(n_machines, dtype=np.int64), edges.size)
    et = np.tile(edges, n_machines)
    all_m = np.concatenate((m, jm, em))
    all_t = np.concatenate((t, jt, et))
    kind = np.concatenate(
        (np.zeros(m.size, np.int8), np.ones(jm.size, np.int8), np.full(em.size, 2, np.int8))
    )
    order = np.lexsort((kind, all_t, all_m))
    all_m, all_t, kind = all_m[order], all_t[order], kind[order]
    src = order  # position in the concatenation
    state_idx = _ffill(np.where(kind == 0, src, -1))
    job_idx = _ffill(np.where(kind == 1, src - m.size, -1))

    seg_end = np.append(all_t[1:], end)
    seg_end = np.where(np.append(all_m[1:] != all_m[:-1], True), end, seg_end)
    keep = seg_end > all_t
    return all_m[keep], all_t[keep], seg_end[keep], state_idx[keep], job_idx[keep]


def _state_stream(
    machine: np.ndarray,
    ts: np.ndarray,
    code: np.ndarray,
    reason: np.ndarray,
    n_machines: int,
    start: int,
    end: int,
    max_gap_s: float | None,
) -> tuple[np.ndarray, ...]:
    """Sorted (machine, clipped ts, stop start ts, code, reason) with no-data events added.

    Every machine starts in no-data (before its first event); with `max_gap_s`, a
    no-data event is added where a state has gone stale. The third array is when the
    stop an event belongs to began (its first event of the same state and reason, maybe
    long before the window), which decides minor stops.
    """
    order = np.lexsort((ts, machine))
    m, t, c, r = machine[order], ts[order], code[order], reason[order]
    _reject_clashes(m, t, c, r)
    inside = t < end
    m, t, c, r = m[inside], t[inside], c[inside], r[inside]

    earliest = min(start, int(t.min()) if t.size else start) - 1
    add_m = [np.arange(n_machines, dtype=np.int64)]
    add_t = [np.full(n_machines, earliest, np.int64)]
    add_p = [np.zeros(n_machines, np.int8)]
    if max_gap_s is not None and m.size:
        nxt_t = np.where(np.append(m[1:] == m[:-1], False), np.append(t[1:], end), end)
        stale_at = t + round(max_gap_s * NS_PER_S)
        stale = stale_at < nxt_t
        add_m.append(m[stale])
        add_t.append(stale_at[stale])
        add_p.append(np.full(int(stale.sum()), 2, np.int8))
    nm = np.concatenate(add_m)
    all_m = np.concatenate((m, nm))
    all_t = np.concatenate((t, np.concatenate(add_t)))
    all_c = np.concatenate((c, np.full(nm.size, NO_STATE, np.int64)))
    all_r = np.concatenate((r, np.full(nm.size, -1, np.int64)))
    prio = np.concatenate((np.ones(m.size, np.int8), np.concatenate(add_p)))
    order = np.lexsort((prio, all_t, all_m))
    all_m, all_t, all_c, all_r = (x[order] for x in (all_m, all_t, all_c, all_r))

    # When did each event's stop begin? At the first of its run of equal (state, reason).
    new_run = _firsts(all_m) | (all_c != _prev(all_c)) | (all_r != _prev(all_r))
    begun = all_t[_ffill(np.where(new_run, np.arange(all_t.size), -1))]

    # Clip to the window; of events at the same clipped instant only the last matters.
    clipped = np.maximum(all_t, start)
    same_next = np.append((all_m[1:] == all_m[:-1]) & (clipped[1:] == clipped[:-1]), False)
    keep = ~same_next
    return all_m[keep], clipped[keep], begun[keep], all_c[keep], all_r[keep]


def _job_stream(
    jobs: Events | None, n_machines: int, n_jobs: int, start: int, end: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Job events clipped like states, plus a "no job known" event per machine at the start."""
    none = np.arange(n_machines, dtype=np.int64)
    if jobs is None:
        return none, np.full(n_machines, start, np.int64), np.zeros(n_machines, np.int64)
    n_jobs = v.check_count("n_jobs", n_jobs, minimum=2)
    v.check_in_range("machine", jobs.machine, n_machines, "machine table")
    v.check_in_range("job", jobs.code, n_jobs - 1, "job table")
    order = np.lexsort((jobs.ts_ns, jobs.machine))
    m, t, c = jobs.machine[order], jobs.ts_ns[order], jobs.code[order]
    _reject_clashes(m, t, c, np.zeros_like(c))
    keep = t < end
    m, t, c = m[keep], np.maximum(t[keep], start), c[keep]
    all_m = np.concatenate((none, m))
    all_t = np.concatenate((np.full(n_machines, start, np.int64), t))
    all_c = np.concatenate((np.full(n_machines, n_jobs - 1, np.int64), c))
    prio = np.concatenate((np.zeros(n_machines, np.int8), np.ones(m.size, np.int8)))
    order = np.lexsort((prio, all_t, all_m))
    return all_m[order], all_t[order], all_c[order]


def latest_at_or_before(
    a_machine: np.ndarray, a_ts: np.ndarray, b_machine: np.ndarray, b_ts: np.ndarray
) -> np.ndarray:
    """For each b, the index of the latest a of the same machine with a_ts <= b_ts, or -1.

    `a` must be sorted by (machine, ts). Used to look up the job running when a piece
    was counted; one merge sort, no loop.
    """
    n_a = a_machine.size
    m = np.concatenate((a_machine, b_machine))
    t = np.concatenate((a_ts, b_ts))
    is_b = np.concatenate((np.zeros(n_a, np.int8), np.ones(b_machine.size, np.int8)))
    order = np.lexsort((is_b, t, m))
    pos = np.cumsum(is_b[order] == 0) - 1
    out = np.empty(b_machine.size, np.int64)
    b_rows = order >= n_a
    out[order[b_rows] - n_a] = pos[b_rows]
    valid = out >= 0
    valid[valid] = a_machine[out[valid]] == b_machine[valid]
    return np.where(valid, out, -1)


def _reject_clashes(m: np.ndarray, t: np.ndarray, c: np.ndarray, r: np.ndarray) -> None:
    """Two different events of one machine at one instant make the answer arbitrary."""
    same = (m[1:] == m[:-1]) & (t[1:] == t[:-1])
    clash = same & ((c[1:] != c[:-1]) | (r[1:] != r[:-1]))
    if clash.any():
        i = int(np.flatnonzero(clash)[0])
        raise ValueError(
            f"machine {int(m[i])} has two different events (codes {int(c[i])} and {int(c[i + 1])}) at the "
            f"same timestamp {int(t[i])} ns: deduplicate the source so each instant has one state"
        )


def _firsts(m: np.ndarray) -> np.ndarray:
    out = np.ones(m.size, dtype=bool)
    out[1:] = m[1:] != m[:-1]
    return out


def _prev(a: np.ndarray) -> np.ndarray:
    out = np.empty_like(a)
    if a.size:
        out[0] = a[0]
        out[1:] = a[:-1]
    return out


def _ffill(idx: np.ndarray) -> np.ndarray:
    """Carry the last non-negative index forward."""
    return np.maximum.accumulate(idx) if idx.size else idx
