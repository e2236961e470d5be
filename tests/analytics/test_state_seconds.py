"""Seconds per machine and state from the KPI core (`compute_kpis` on `analytics.timeline`).

Checked against a slow timeline walk, plus its invariants: the time of every state and the
time with no data fill the window, event order does not matter, only the last event before
the window counts, and bad events are refused with a reason.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.kpi import Counts, KpiResult, compute_kpis
from analytics.timeline import Events
from tests.analytics.timeline_walk import S, walk_state_seconds
from tonle.contract import MACHINE_STATES

# Codes 0..4 are running..thread_break: states with time, none of them `offline` (which is no data).
MAX_STATES = 5
assert "offline" not in MACHINE_STATES[:MAX_STATES]


def _kpis(machine: object, ts: object, code: object, start: int, end: int, n_m: int) -> KpiResult:
    no_counts = Counts.of([], [], [], [])
    return compute_kpis(
        Events.of(machine, ts, code),
        no_counts,
        n_machines=n_m,
        start_ns=start,
        end_ns=end,
        ideal_cycle_s=np.nan,
    )


@st.composite
def event_streams(draw: st.DrawFn):
    n_m = draw(st.integers(1, 4))
    n_s = draw(st.integers(1, MAX_STATES))
    start = draw(st.integers(-50, 50)) * S // 7
    end = start + draw(st.integers(1, 200)) * S // 3
    # One code per (machine, instant): a real source cannot be in two states at once.
    keyed = draw(
        st.dictionaries(
            st.tuples(st.integers(0, n_m - 1), st.integers(start - 30 * S, end + 30 * S)),
            st.integers(0, n_s - 1),
            max_size=40,
        )
    )
    events = [(m, t, c) for (m, t), c in keyed.items()]
    order = draw(st.permutations(range(len(events))))
    return [events[i] for i in order], start, end, n_m, n_s


def _arrays(events: list[tuple[int, int, int]]):
    a = np.array(events, dtype=np.int64).reshape(-1, 3)
    return a[:, 0], a[:, 1], a[:, 2]


@settings(max_examples=150, deadline=None)
@given(event_streams())
def test_matches_a_per_machine_timeline_walk(stream) -> None:
    events, start, end, n_m, n_s = stream
    got = _kpis(*_arrays(events), start, end, n_m)
    seconds, unknown = walk_state_seconds(*_arrays(events), start, end, n_m, n_s)
    np.testing.assert_allclose(got.state_seconds()[:, :n_s], seconds, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got.state_seconds()[:, n_s:], 0.0)
    np.testing.assert_allclose(got.by_machine().nodata_s, unknown, rtol=0, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(event_streams())
def test_states_plus_no_data_fill_the_window_for_every_machine(stream) -> None:
    events, start, end, n_m, _ = stream
    got = _kpis(*_arrays(events), start, end, n_m)
    seconds, nodata = got.state_seconds(), got.by_machine().nodata_s
    assert seconds.shape == (n_m, len(MACHINE_STATES))
    assert (seconds >= 0).all() and (nodata >= 0).all()
    np.testing.assert_allclose(seconds.sum(axis=1) + nodata, (end - start) / S, rtol=1e-12)


@settings(max_examples=100, deadline=None)
@given(event_streams(), st.randoms(use_true_random=False))
def test_event_order_does_not_change_the_answer(stream, rnd) -> None:
    events, start, end, n_m, _ = stream
    shuffled = list(events)
    rnd.shuffle(shuffled)
    a = _kpis(*_arrays(events), start, end, n_m)
    b = _kpis(*_arrays(shuffled), start, end, n_m)
    np.testing.assert_array_equal(a.state_seconds(), b.state_seconds())
    np.testing.assert_array_equal(a.by_machine().nodata_s, b.by_machine().nodata_s)


def test_only_the_last_event_before_the_window_counts_and_late_events_are_ignored() -> None:
    # machine 0: state 2 at -20 s, state 1 at -5 s (last known), state 0 at +40 s,
    # state 2 after the end (ignored).
    # machine 1: first event 30 s into the window -> 30 s no data. machine 2: no events at all.
    machine = np.array([0, 0, 0, 0, 1])
    ts = np.array([-20, -5, 40, 130, 30]) * S
    code = np.array([2, 1, 0, 2, 2])
    got = _kpis(machine, ts, code, 0, 100 * S, n_m=3)
    np.testing.assert_array_equal(
        got.state_seconds()[:, :3], [[60.0, 40.0, 0.0], [0.0, 0.0, 70.0], [0.0, 0.0, 0.0]]
    )
    np.testing.assert_array_equal(got.by_machine().nodata_s, [0.0, 30.0, 100.0])


def test_a_replayed_duplicate_event_is_harmless() -> None:
    got = _kpis(np.array([0, 0]), np.array([0, 0]), np.array([1, 1]), 0, 10 * S, 1)
    np.testing.assert_array_equal(got.state_seconds()[:, :2], [[0.0, 10.0]])


def test_datetime64_timestamps_are_accepted() -> None:
    ts = np.array(["2025-03-03T06:00", "2025-03-03T07:00"], dtype="datetime64[m]")
    start = int(np.datetime64("2025-03-03T06:00", "ns").astype(np.int64))
    got = _kpis(np.array([0, 0]), ts, np.array([0, 1]), start, start + 7200 * S, 1)
    np.testing.assert_array_equal(got.state_seconds()[:, :2], [[3600.0, 3600.0]])


@pytest.mark.parametrize(
    ("machine", "ts", "code", "match"),
    [
        ([0, 0], [5, 5], [0, 1], "machine 0 has two different events"),
        ([0, 3], [1, 2], [0, 0], r"machine\[1\] = 3 is outside 0..1"),
        ([0, 1], [1, 2], [0, 40], r"state\[1\] = 40 is outside 0..10"),
        ([0, 1], [1.0, 2.0], [0, 0], "integer nanoseconds"),
        ([0, 1], [1, 2, 3], [0, 0, 0], "same length"),
        ([0.0, 1.0], [1, 2], [0, 0], "machine must be an integer array"),
    ],
)
def test_bad_events_are_refused_with_a_reason(machine, ts, code, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _kpis(np.array(machine), np.array(ts), np.array(code), 0, 10, 2)


def test_an_empty_or_reversed_window_is_refused() -> None:
    with pytest.raises(ValueError, match="empty or reversed"):
        _kpis(np.array([0]), np.array([0]), np.array([0]), 10, 10, 1)
