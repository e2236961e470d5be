"""The replay guard: a value handed out again with the same time is spooled once; nothing else is dropped."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edge_agent.replays import ReplayGuard
from tonle.sources.base import Count, Sample, StateChange


def test_an_exact_repeat_is_dropped_and_a_new_time_kept() -> None:
    g = ReplayGuard(["PS1"])
    first = [
        Sample("PS1", 10, {"speed": 1.0, "vib": 0.2}),
        StateChange("PS1", 5, "running"),
        Count("PS1", 10, 4, 4),
    ]
    assert g.filter(first) == first
    again = [
        Sample("PS1", 10, {"speed": 1.0, "vib": 0.2}),
        StateChange("PS1", 5, "running"),
        Count("PS1", 10, 4, 4),
    ]
    assert g.filter(again) == []
    assert g.dropped == 4  # two fields, a state, a count
    assert g.filter([Sample("PS1", 11, {"speed": 2.0})]) == [Sample("PS1", 11, {"speed": 2.0})]


def test_only_the_repeated_fields_of_a_sample_are_dropped() -> None:
    g = ReplayGuard(["PS1"])
    g.filter([Sample("PS1", 10, {"speed": 1.0})])
    assert g.filter([Sample("PS1", 10, {"speed": 1.0, "vib": 0.3})]) == [Sample("PS1", 10, {"vib": 0.3})]


def test_an_older_time_is_kept_because_it_is_another_point() -> None:
    """A device whose clock went back, or a late queue: dropping could lose data, keeping loses none."""
    g = ReplayGuard(["PS1"])
    g.filter([StateChange("PS1", 100, "running")])
    assert g.filter([StateChange("PS1", 50, "idle")]) == [StateChange("PS1", 50, "idle")]
    assert g.filter([StateChange("PS1", 100, "running")]) == [], "the newest time is still remembered"


def test_machines_of_other_sources_pass_untouched() -> None:
    g = ReplayGuard(["PS1"])
    serial = [Sample("S01", 10, {"speed": 1.0})] * 2
    assert g.filter(serial) == serial
    assert g.state() == {}


def test_the_memory_survives_a_restart_through_the_spools_state_and_ignores_other_keys() -> None:
    g = ReplayGuard(["PS1"])
    g.filter([Sample("PS1", 10, {"speed": 1.0}), Count("PS1", 10, 1, 1)])
    saved = {"seq/PS1/telemetry": 3, **g.state()}
    after = ReplayGuard(["PS1"], saved)
    assert after.state() == g.state()
    assert after.filter([Sample("PS1", 10, {"speed": 1.0}), Count("PS1", 10, 1, 1)]) == []


def test_restore_puts_back_the_memory_of_a_failed_spool_write() -> None:
    g = ReplayGuard(["PS1"])
    seen = g.state()
    g.filter([Sample("PS1", 10, {"speed": 1.0})])
    g.restore(seen)  # the spool refused the write: the readings come round again
    assert g.filter([Sample("PS1", 10, {"speed": 1.0})]) == [Sample("PS1", 10, {"speed": 1.0})]


@given(st.lists(st.tuples(st.sampled_from("ab"), st.integers(0, 20)), max_size=60))
def test_every_distinct_point_is_kept_exactly_once_when_repeats_follow_it(
    points: list[tuple[str, int]],
) -> None:
    """Fed values in time order per field with repeats, the guard keeps each (field, time) once."""
    g = ReplayGuard(["M"])
    ordered = sorted(points, key=lambda p: p[1])
    kept = [
        (f, r.ts_ns)
        for f, ts in ordered
        for r in g.filter([Sample("M", ts, {f: 1.0})])
        if isinstance(r, Sample)
    ]
    assert sorted(kept) == sorted(set(ordered))


def test_a_new_process_first_state_or_count_that_repeats_the_last_spooled_is_not_a_change() -> None:
    """A controller rewrites its state and counters every cycle with a new time: the first ones a
    restarted gateway sees say what it spooled last, and are not spooled again."""
    g = ReplayGuard(["PS1"])
    g.filter([StateChange("PS1", 10, "running"), Count("PS1", 10, 7, 6)])
    restarted = ReplayGuard(["PS1"], g.state())
    assert restarted.filter([StateChange("PS1", 30, "running"), Count("PS1", 30, 7, 6)]) == []
    moved = [StateChange("PS1", 31, "breakdown"), Count("PS1", 31, 8, 7)]
    assert restarted.filter(moved) == moved
