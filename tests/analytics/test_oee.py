"""OEE, counters and line figures: a hand-computed shift, the identity, and the edge cases."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.kpi import Counts, compute_kpis
from analytics.oee import counter_increase, line_oee, oee, pieces_per_hour
from analytics.timeline import Events
from tonle.contract import MACHINE_STATES

RUNNING, IDLE = MACHINE_STATES.index("running"), MACHINE_STATES.index("idle")
BREAKDOWN, SETUP = MACHINE_STATES.index("breakdown"), MACHINE_STATES.index("setup")
PLANNED_STOP = MACHINE_STATES.index("planned_stop")
PHNOM_PENH = timedelta(hours=7)
SHIFT_START = datetime(2025, 3, 3, 6, 0, tzinfo=UTC) - PHNOM_PENH  # 06:00 local


def _ns(hhmm: str) -> int:
    """Local time on the shift day as epoch nanoseconds."""
    h, m = map(int, hhmm.split(":"))
    t = SHIFT_START.replace(hour=0, minute=0) + PHNOM_PENH + timedelta(hours=h, minutes=m) - PHNOM_PENH
    return int(t.timestamp()) * 1_000_000_000


def test_hand_computed_shift_for_two_machines() -> None:
    # Shift 06:00-14:00 = 8 h = 28 800 s, with a 30 min planned lunch stop (10:00-10:30).
    # Planned production time = 28 800 - 1 800 = 27 000 s (7.5 h) for both machines.
    #
    # Machine 0, lockstitch, ideal cycle 30 s:
    #   05:55 running (last state before the shift: clipped to 06:00)
    #   08:10 breakdown, 08:55 running            -> 45 min = 2 700 s breakdown
    #   10:00 planned stop, 10:30 running         -> 30 min, not planned time
    #   12:00 setup (changeover), 12:15 running   -> 15 min = 900 s, counts as downtime
    #   run = 27 000 - 2 700 - 900 = 23 400 s (6.5 h)
    #   availability = 23 400 / 27 000          = 0.866666...  (13/15)
    #   performance  = 30 x 600 / 23 400        = 18 000 / 23 400 = 0.769230... (10/13)
    #   quality      = 582 / 600                = 0.97
    #   OEE          = 13/15 x 10/13 x 0.97     = 2/3 x 0.97 = 0.646666...
    #                = 30 x 582 / 27 000        = 17 460 / 27 000 (fully productive / planned)
    # Machine 1, overlock, ideal cycle 24 s:
    #   06:00 setup, 06:15 running                -> 900 s
    #   09:00 breakdown, 09:20 running            -> 1 200 s
    #   10:00 planned stop, 10:30 running
    #   13:30 idle (starved of cut panels) to the end -> 1 800 s
    #   run = 27 000 - 900 - 1 200 - 1 800 = 23 100 s
    #   availability = 23 100 / 27 000 = 0.855555...
    #   performance  = 24 x 800 / 23 100 = 19 200 / 23 100 = 0.831168...
    #   quality      = 792 / 800 = 0.99
    #   OEE          = 24 x 792 / 27 000 = 19 008 / 27 000 = 0.704
    events = [  # (machine, local time, state); deliberately not in time order
        (1, "13:30", IDLE),
        (0, "12:15", RUNNING),
        (1, "06:00", SETUP),
        (0, "05:55", RUNNING),
        (0, "08:10", BREAKDOWN),
        (1, "10:30", RUNNING),
        (0, "08:55", RUNNING),
        (1, "06:15", RUNNING),
        (0, "10:00", PLANNED_STOP),
        (1, "09:00", BREAKDOWN),
        (0, "10:30", RUNNING),
        (1, "09:20", RUNNING),
        (0, "12:00", SETUP),
        (1, "10:00", PLANNED_STOP),
    ]
    machine = np.array([e[0] for e in events])
    ts = np.array([_ns(e[1]) for e in events], dtype=np.int64)
    code = np.array([e[2] for e in events])
    times = compute_kpis(
        Events.of(machine, ts, code),
        Counts.of([], [], [], []),
        n_machines=2,
        start_ns=_ns("06:00"),
        end_ns=_ns("14:00"),
        ideal_cycle_s=np.nan,
    )
    seconds = times.state_seconds()
    np.testing.assert_array_equal(times.by_machine().nodata_s, [0.0, 0.0])
    np.testing.assert_array_equal(seconds[:, BREAKDOWN], [2700.0, 1200.0])
    np.testing.assert_array_equal(seconds[:, SETUP], [900.0, 900.0])
    np.testing.assert_array_equal(seconds[:, IDLE], [0.0, 1800.0])

    # Piece counters, sampled by the edge agent. Machine 0's controller rebooted after the
    # breakdown repair: 12 840 -> 13 140 (+300), reset to 0, 0 -> 210 -> 300 (+300) = 600.
    counts = [
        (0, "06:00", 12_840),
        (1, "06:00", 5_000),
        (0, "08:10", 13_140),
        (0, "08:55", 0),
        (1, "10:00", 5_400),
        (0, "12:00", 210),
        (1, "14:00", 5_800),
        (0, "14:00", 300),
    ]
    total = counter_increase(
        np.array([c[0] for c in counts]),
        np.array([_ns(c[1]) for c in counts], dtype=np.int64),
        np.array([c[2] for c in counts]),
        n_machines=2,
    )
    np.testing.assert_array_equal(total, [600.0, 800.0])

    planned = (_ns("14:00") - _ns("06:00")) / 1e9 - seconds[:, PLANNED_STOP]
    np.testing.assert_array_equal(planned, [27_000.0, 27_000.0])
    r = oee(planned, seconds[:, RUNNING], total, np.array([582, 792]), np.array([30.0, 24.0]))
    exact = pytest.approx
    assert r.run_s.tolist() == [23_400.0, 23_100.0]
    assert r.availability.tolist() == exact([23_400 / 27_000, 23_100 / 27_000], abs=1e-12)
    assert r.availability[0] == exact(0.8666666666666667, abs=1e-12)
    assert r.performance.tolist() == exact([0.7692307692307693, 0.8311688311688312], abs=1e-12)
    assert r.quality.tolist() == exact([0.97, 0.99], abs=1e-12)
    assert r.oee.tolist() == exact([0.6466666666666667, 0.704], abs=1e-12)
    assert (r.availability * r.performance * r.quality).tolist() == exact(r.oee.tolist(), abs=1e-12)
    assert not r.suspect.any()


finite = st.floats(0.0, 1e6, allow_nan=False, allow_infinity=False)


@st.composite
def shifts(draw: st.DrawFn):
    planned = draw(st.floats(1e-3, 1e6))
    run = draw(st.integers(0, 10**6)) / 10**6 * planned  # 0, or at least a nanosecond
    total = draw(st.integers(0, 10**6))
    good = draw(st.integers(0, total))
    ideal = draw(st.floats(1e-3, 600.0))
    return planned, run, total, good, ideal


@settings(max_examples=200, deadline=None)
@given(st.lists(shifts(), min_size=1, max_size=20))
def test_oee_is_fully_productive_time_over_planned_time(rows) -> None:
    planned, run, total, good, ideal = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    r = oee(planned, run, total, good, ideal)
    np.testing.assert_allclose(r.oee, ideal * good / planned, rtol=1e-15)
    defined = np.isfinite(r.availability * r.performance * r.quality)
    np.testing.assert_allclose(
        (r.availability * r.performance * r.quality)[defined], r.oee[defined], rtol=1e-12
    )
    np.testing.assert_array_equal(defined, (run > 0) & (total > 0))
    np.testing.assert_array_equal(r.suspect, r.performance > 1.05)


def test_zero_denominators_give_nan_not_zero_or_one() -> None:
    #            planned  run  total good
    rows = [
        (0.0, 0.0, 0, 0),  # no planned time: every figure undefined
        (3600.0, 0.0, 0, 0),  # broken all shift: A = 0, P and Q undefined, OEE = 0
        (3600.0, 1800.0, 0, 0),  # ran but made nothing: P = 0, Q undefined, OEE = 0
        (3600.0, np.nan, 100, 90),  # no state data: A and P unknown, OEE still known
    ]
    planned, run, total, good = (np.array(c, dtype=float) for c in zip(*rows, strict=True))
    r = oee(planned, run, total, good, 30.0)
    nan = np.nan
    np.testing.assert_array_equal(r.availability, [nan, 0.0, 0.5, nan])
    np.testing.assert_array_equal(r.performance, [nan, nan, 0.0, nan])
    np.testing.assert_array_equal(r.quality, [nan, nan, nan, 0.9])
    np.testing.assert_array_equal(r.oee, [nan, 0.0, 0.0, 0.75])
    assert not r.suspect.any()


def test_a_too_slow_ideal_cycle_is_flagged_not_clipped() -> None:
    r = oee(3600.0, 3600.0, np.array([100, 112]), np.array([100, 112]), 34.0)
    np.testing.assert_allclose(r.performance, [3400 / 3600, 3808 / 3600])  # 0.944, 1.058
    np.testing.assert_array_equal(r.suspect, [False, True])


def test_results_broadcast_and_keep_their_inputs() -> None:
    r = oee(np.array([[3600.0], [7200.0]]), 1800.0, 60, 60, np.array([30.0, 60.0]))
    assert r.oee.shape == r.planned_s.shape == r.ideal_cycle_s.shape == (2, 2)
    np.testing.assert_array_equal(r.oee, [[0.5, 1.0], [0.25, 0.5]])
    with pytest.raises(ValueError, match="read-only"):
        r.good[0, 0] = 1


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((3600, 3601, 10, 10, 30), "run time exceeds planned time"),
        ((3600, 3600, 10, 11, 30), r"good pieces exceed total pieces"),
        ((3600, 3600, 10, 10, 0), "ideal_cycle_s is 0"),
        ((3600, -1, 10, 10, 30), "run_s must not be negative"),
        ((3600, np.inf, 10, 10, 30), "run_s has a infinite value"),
        (([3600, 3600], [1, 2, 3], 10, 10, 30), "do not broadcast"),
        (
            ([3600, 3600], 3600, [10, 10], [9, 11], 30),
            r"good pieces exceed total pieces at index \(1,\)",
        ),
    ],
)
def test_inconsistent_oee_inputs_are_refused(args, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        oee(*args)


# --- counters ------------------------------------------------------------------------


def test_counter_resets_count_the_new_value_as_increase() -> None:
    # machine 0: 10 -> 15 (+5) -> 3 (reset: +3) -> 9 (+6) -> 0 (reset: +0) -> 4 (+4) = 18
    # machine 1: one sample -> 0. machine 2: no samples -> NaN (no data, not "made nothing").
    machine = np.array([0, 0, 0, 0, 0, 0, 1])
    ts = np.array([1, 2, 3, 4, 5, 6, 1])
    counter = np.array([10, 15, 3, 9, 0, 4, 77])
    got = counter_increase(machine, ts, counter, n_machines=3)
    np.testing.assert_array_equal(got, [18.0, 0.0, np.nan])
    order = np.random.default_rng(1).permutation(7)
    np.testing.assert_array_equal(counter_increase(machine[order], ts[order], counter[order], 3), got)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.tuples(st.integers(0, 3), st.integers(0, 50)), st.integers(0, 1000), max_size=40))
def test_counter_increase_matches_a_per_machine_loop(samples) -> None:
    machine = np.array([k[0] for k in samples], dtype=np.int64)
    ts = np.array([k[1] for k in samples], dtype=np.int64)
    counter = np.array(list(samples.values()), dtype=np.int64)
    expected = []
    for m in range(4):
        values = [c for (mm, _), c in sorted(samples.items()) if mm == m]
        inc = sum(b - a if b >= a else b for a, b in itertools.pairwise(values))
        expected.append(float(inc) if values else np.nan)
    np.testing.assert_array_equal(counter_increase(machine, ts, counter, 4), expected)


def test_missing_counter_readings_are_skipped() -> None:
    # NaN = the field was missing from that sample: 10 -> (gap) -> 14 is +4; machine 1 has
    # only a missing reading, so no data.
    got = counter_increase(
        np.array([0, 0, 0, 1]), np.array([1, 2, 3, 1]), np.array([10, np.nan, 14, np.nan]), 2
    )
    np.testing.assert_array_equal(got, [4.0, np.nan])


def test_counter_samples_that_contradict_each_other_are_refused() -> None:
    with pytest.raises(ValueError, match="two different counter values"):
        counter_increase(np.array([0, 0]), np.array([7, 7]), np.array([1, 2]), 1)
    with pytest.raises(ValueError, match="counter must not be negative"):
        counter_increase(np.array([0]), np.array([7]), np.array([-1]), 1)


def test_pieces_per_hour_is_nan_without_time() -> None:
    np.testing.assert_array_equal(
        pieces_per_hour(np.array([600, 0, 5]), np.array([27_000, 0, 0])), [80.0, np.nan, np.nan]
    )


# --- sewing line ---------------------------------------------------------------------


def test_hand_computed_line_oee_with_constraint_and_bottleneck() -> None:
    # T-shirt line, 3 stations in series, planned 27 000 s:
    #   station          SAM     ideal  run_s   total  good   actual cycle = run/total
    #   0 shoulder join  0.5 min  30 s  24 000  520    518    46.15 s
    #   1 sleeve attach  0.8 min  48 s  25 200  515    512    48.93 s
    #   2 side seam      0.6 min  36 s  25 000  510    495    49.02 s  <- slowest in practice
    # Constraint (designed bottleneck) = station 1, line ideal cycle 48 s.
    # OEE = 48 x 495 / 27 000 = 23 760 / 27 000 = 0.88
    # A = 25 200 / 27 000 = 0.933333...   (constraint's run time)
    # P = 48 x 510 / 25 200 = 24 480 / 25 200 = 0.971428...   (pieces out of the last station)
    # Q = 495 / 510 = 0.970588...
    # A x P x Q = 24 480 / 27 000 x 495 / 510 = 0.88
    r = line_oee(
        27_000.0,
        run_s=np.array([24_000.0, 25_200.0, 25_000.0]),
        total=np.array([520, 515, 510]),
        good=np.array([518, 512, 495]),
        ideal_cycle_s=np.array([0.5, 0.8, 0.6]) * 60,
    )
    f = r.figures
    assert f.oee == pytest.approx(0.88, abs=1e-12)
    assert f.availability == pytest.approx(0.9333333333333333, abs=1e-12)
    assert f.performance == pytest.approx(0.9714285714285714, abs=1e-12)
    assert f.quality == pytest.approx(0.9705882352941176, abs=1e-12)
    assert f.availability * f.performance * f.quality == pytest.approx(f.oee, abs=1e-12)
    assert (r.constraint, r.bottleneck) == (1, 2)
    assert f.ideal_cycle_s == 48.0 and f.run_s == 25_200.0 and f.total == 510 and f.good == 495
    np.testing.assert_allclose(r.station_cycle_s, [24_000 / 520, 25_200 / 515, 25_000 / 510])
    assert (r.oee, r.availability, r.performance, r.quality) == (
        f.oee,
        f.availability,
        f.performance,
        f.quality,
    )


def test_many_lines_at_once_with_a_silent_station() -> None:
    run = np.array([[100.0, 200.0], [300.0, 0.0]])
    total = np.array([[10, 10], [0, 0]])
    r = line_oee(np.array([400.0, 400.0]), run, total, total, np.array([5.0, 10.0]))
    np.testing.assert_array_equal(r.constraint, [1, 1])
    np.testing.assert_array_equal(r.bottleneck, [1, -1])  # line 1 made nothing: no cycle time
    np.testing.assert_array_equal(r.figures.oee, [10 * 10 / 400, 0.0])
    np.testing.assert_array_equal(r.figures.performance, [0.5, np.nan])


def test_a_line_without_any_standard_time_has_no_line_figures() -> None:
    r = line_oee(np.array([100.0, 100.0]), 50.0, 10, 10, np.array([[np.nan, np.nan], [np.nan, 4.0]]))
    np.testing.assert_array_equal(r.constraint, [-1, 1])
    np.testing.assert_array_equal(r.oee, [np.nan, 0.4])
    np.testing.assert_array_equal(r.availability, [np.nan, 0.5])


def test_planned_time_is_per_line_not_per_station() -> None:
    # Three stations of one line: a per-station planned array would be silently read as
    # three lines, so it is refused.
    with pytest.raises(ValueError, match=r"planned_s has shape \(3,\) but must be one value"):
        line_oee(np.full(3, 100.0), np.full(3, 50.0), 10, 10, 4.0)


def test_line_station_run_time_cannot_exceed_planned_time() -> None:
    with pytest.raises(ValueError, match=r"run time exceeds planned time at index \(1, 0\)"):
        line_oee(np.array([100.0, 50.0]), np.array([[90.0, 90.0], [60.0, 10.0]]), 1, 1, 30.0)
