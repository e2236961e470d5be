"""state_durations against a slow timeline walk, plus its invariants."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.states import state_durations

S = 1_000_000_000  # ns per second


def _walk(events: list[tuple[int, int, int]], start: int, end: int, n_m: int, n_s: int):
    """Reference: replay each machine's events in time order, one segment at a time."""
    seconds = [[0] * n_s for _ in range(n_m)]
    unknown = [0] * n_m
    for m in range(n_m):
        state, cursor = None, start
        for _, ts, code in sorted(e for e in events if e[0] == m):
            if ts <= start:
                state = code  # the last known state before the window
                continue
            if ts >= end:
                break
            if state is None:
                unknown[m] += ts - cursor
            else:
                seconds[m][state] += ts - cursor
            state, cursor = code, ts
        if state is None:
            unknown[m] += end - cursor
        else:
            seconds[m][state] += end - cursor
    return np.array(seconds) / S, np.array(unknown) / S


@st.composite
def event_streams(draw: st.DrawFn):
    n_m = draw(st.integers(1, 4))
    n_s = draw(st.integers(1, 5))
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
    got = state_durations(*_arrays(events), start, end, n_m, n_s)
    seconds, unknown = _walk(events, start, end, n_m, n_s)
    np.testing.assert_allclose(got.seconds, seconds, rtol=0, atol=1e-12)
    np.testing.assert_allclose(got.unknown_s, unknown, rtol=0, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(event_streams())
def test_states_plus_unknown_fill_the_window_for_every_machine(stream) -> None:
    events, start, end, n_m, n_s = stream
    got = state_durations(*_arrays(events), start, end, n_m, n_s)
    assert got.seconds.shape == (n_m, n_s)
    assert (got.seconds >= 0).all() and (got.unknown_s >= 0).all()
    np.testing.assert_allclose(got.seconds.sum(axis=1) + got.unknown_s, (end - start) / S, rtol=1e-12)
    np.testing.assert_allclose(got.coverage, got.seconds.sum(axis=1) / got.window_s, rtol=1e-12, atol=1e-15)


@settings(max_examples=100, deadline=None)
@given(event_streams(), st.randoms(use_true_random=False))
def test_event_order_does_not_change_the_answer(stream, rnd) -> None:
    events, start, end, n_m, n_s = stream
    shuffled = list(events)
    rnd.shuffle(shuffled)
    a = state_durations(*_arrays(events), start, end, n_m, n_s)
    b = state_durations(*_arrays(shuffled), start, end, n_m, n_s)
    np.testing.assert_array_equal(a.seconds, b.seconds)
    np.testing.assert_array_equal(a.unknown_s, b.unknown_s)


def test_only_the_last_event_before_the_window_counts_and_late_events_are_ignored() -> None:
    # machine 0: state 2 at -20 s, state 1 at -5 s (last known), state 0 at +40 s,
    # state 2 after the end (ignored).
    # machine 1: first event 30 s into the window -> 30 s unknown. machine 2: no events at all.
    machine = np.array([0, 0, 0, 0, 1])
    ts = np.array([-20, -5, 40, 130, 30]) * S
    code = np.array([2, 1, 0, 2, 2])
    got = state_durations(machine, ts, code, 0, 100 * S, n_machines=3, n_states=3)
    np.testing.assert_array_equal(got.seconds, [[60.0, 40.0, 0.0], [0.0, 0.0, 70.0], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(got.unknown_s, [0.0, 30.0, 100.0])
    np.testing.assert_array_equal(got.coverage, [1.0, 0.7, 0.0])


def test_a_replayed_duplicate_event_is_harmless() -> None:
    got = state_durations(np.array([0, 0]), np.array([0, 0]), np.array([1, 1]), 0, 10 * S, 1, 2)
    np.testing.assert_array_equal(got.seconds, [[0.0, 10.0]])


def test_datetime64_timestamps_are_accepted() -> None:
    ts = np.array(["2025-03-03T06:00", "2025-03-03T07:00"], dtype="datetime64[m]")
    start = int(np.datetime64("2025-03-03T06:00", "ns").astype(np.int64))
    got = state_durations(np.array([0, 0]), ts, np.array([0, 1]), start, start + 7200 * S, 1, 2)
    np.testing.assert_array_equal(got.seconds, [[3600.0, 3600.0]])


@pytest.mark.parametrize(
    ("machine", "ts", "code", "match"),
    [
        ([0, 0], [5, 5], [0, 1], "machine 0 has two different code values"),
        ([0, 3], [1, 2], [0, 0], r"machine\[1\] = 3 is outside 0..1"),
        ([0, 1], [1, 2], [0, 4], r"code\[1\] = 4 is outside 0..2: add it to the state table"),
        ([0, 1], [1.0, 2.0], [0, 0], "integer nanoseconds"),
        ([0, 1], [1, 2, 3], [0, 0, 0], "same length"),
        ([0.0, 1.0], [1, 2], [0, 0], "machine must be an integer array"),
    ],
)
def test_bad_events_are_refused_with_a_reason(machine, ts, code, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        state_durations(np.array(machine), np.array(ts), np.array(code), 0, 10, 2, 3)


def test_an_empty_or_reversed_window_is_refused() -> None:
    with pytest.raises(ValueError, match="empty or reversed"):
        state_durations(np.array([0]), np.array([0]), np.array([0]), 10, 10, 1, 1)
