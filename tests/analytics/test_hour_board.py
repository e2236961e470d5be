"""The hour-by-hour board worked out by hand: targets, actuals, cumulative, gaps, reason, partial."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from analytics.energy import UniformSeries
from analytics.hourly import hour_board, line_hour_rows
from analytics.kpi import Counts
from analytics.line import NO_POWER, LineInputs, LineKey, LineSetup
from analytics.line_figures import line_figures
from analytics.losses import state_codes
from analytics.period_kind import period_kind, state_seconds_in
from analytics.rows import shift_kpi_row
from analytics.timeline import Events
from tonle.kernels.shifts import Shift, ShiftCalendar, by_hour

S = 1_000_000_000
PP = dt.timezone(dt.timedelta(hours=7))
CAL = ShiftCalendar()  # A 06:00-14:00 (break 11:00-12:00), B 14:00-22:00; Mon-Sat
KEY = LineKey("s", "a", "L1")


def at(h: int, m: int = 0, day: int = 3) -> int:
    return int(dt.datetime(2025, 3, day, h, m, tzinfo=PP).timestamp()) * S  # 2025-03-03 is a Monday


def inputs(start: int, end: int, states: list[tuple[int, str]], minutes_making: list[int]) -> LineInputs:
    """One station (SAM 1 min, target 50 pcs/h) making one piece at each listed minute after `start`."""
    ts = [start + m * 60 * S for m in minutes_making]
    return LineInputs(
        key=KEY,
        machines=("S1",),
        start_ns=start,
        end_ns=end,
        states=Events.of([0] * len(states), [t for t, _ in states], state_codes([s for _, s in states])),
        reasons=(),
        counts=Counts.of(
            [0] * (len(ts) + 1), [start - S, *ts], list(range(len(ts) + 1)), list(range(len(ts) + 1))
        ),
        power=UniformSeries(start, S, np.full((1, 0), np.nan)),
        power_source=(NO_POWER,),
        meters=(),
        meter_power=UniformSeries(start, S, np.full((0, 0), np.nan)),
        setup=LineSetup(target_pph=50.0, operators=1, sam_min=np.array([1.0]), output=0),
    )


def test_the_board_of_a_morning_with_a_breakdown_and_an_unfinished_hour() -> None:
    # 06:00-08:30, running except a breakdown 07:10-07:40; a piece every minute while running.
    making = [m for m in range(150) if not 70 <= m < 100]
    states = [(at(6), "running"), (at(7, 10), "breakdown"), (at(7, 40), "running")]
    b = hour_board(inputs(at(6), at(8, 30), states, making), CAL)
    assert [dt.datetime.fromtimestamp(t / S, PP).hour for t in b.hour_ns] == [6, 7, 8]
    np.testing.assert_allclose(b.target_pcs, [50, 50, 25])  # 08:00-08:30 is half an hour so far
    np.testing.assert_allclose(b.actual_pcs, [60, 30, 30])
    np.testing.assert_allclose(b.cum_actual_pcs, [60, 90, 120])
    np.testing.assert_allclose(b.cum_gap_pcs, [10, -10, -5])
    assert b.partial.tolist() == [False, False, True]  # the 08:00 hour is not over
    assert b.period == ("shift", "shift", "shift")
    assert b.worst_cause[0] == "" and "breakdown" in b.worst_cause[1]
    np.testing.assert_allclose(b.covered_s, [3600, 3600, 1800])


def test_an_hour_without_data_is_partial_and_off_shift_work_is_overtime() -> None:
    # 21:00-23:30: the state is unknown until 21:30; work after the 22:00 shift end is overtime.
    states = [(at(21, 30), "running"), (at(23), "idle")]
    making = list(range(30, 120))
    b = hour_board(inputs(at(21), at(23, 30), states, making), CAL)
    assert b.period == ("shift", "overtime", "off_shift")
    assert b.partial.tolist() == [True, False, True]  # 21:00 half unknown; 23:00 not over
    np.testing.assert_allclose(b.covered_s, [1800, 3600, 1800])
    np.testing.assert_allclose(b.target_pcs, [50, 0, 0])
    # Cumulative figures restart with the off-shift stretch after shift B.
    np.testing.assert_allclose(b.cum_actual_pcs, [30, 60, 60])
    rows = line_hour_rows(KEY, b).decode().splitlines()
    assert len(rows) == 3 and all(r.startswith("line_hour,") and "line=L1" in r for r in rows)
    assert 'period="overtime"' in rows[1] and "partial=0i" in rows[1]


def test_an_hour_begun_before_the_range_is_stamped_with_its_clock_start_and_partial() -> None:
    b = hour_board(inputs(at(6, 20), at(7, 30), [(at(6), "running")], list(range(70))), CAL)
    assert b.hour_ns[0] == at(6) and b.partial[0]
    assert b.target_pcs[0] == pytest.approx(50 * 40 / 60)


def test_overtime_is_marked_and_says_what_happened_without_an_availability() -> None:
    # After shift B (ends 22:00): running 22:00-22:30, a breakdown 22:30-22:50, maintenance
    # 22:50-23:00, then idle. The calendar makes all of it planned stop or overtime run time.
    states = [(at(21), "running"), (at(22, 30), "breakdown"), (at(22, 50), "maintenance"), (at(23), "idle")]
    inp = inputs(at(21), at(23, 30), states, list(range(0, 90)))
    result = inp.kpis(CAL)
    off = result.periods.shift < 0
    assert off.tolist() == [False, True]
    lf = line_figures(inp, result, periods=off)
    assert period_kind(-1, lf) == "overtime" and period_kind(0, lf) == "shift"
    assert float(lf.line.availability) == 1.0  # what the calendar makes of it: meaningless
    seen = state_seconds_in(result, np.array([True]), off)
    assert seen["breakdown"] == (1200.0, 1) and seen["maintenance"] == (600.0, 1)
    assert seen["running"] == (1800.0, 1)  # carried over from shift B: counted once
    row = shift_kpi_row(
        {"line": "L1"}, lf, int(result.periods.start_ns[1]), False, "x", at(23, 30), "overtime"
    )
    assert b"availability=" not in row and b" oee=" not in row and b",oee=" not in row
    assert b'period_kind="overtime"' in row and b"performance=" in row


def test_clock_hours_follow_the_plants_zone_and_keep_the_calendars_slices() -> None:
    # Kolkata is UTC+5:30: its clock hours start at :30 UTC. One shift 06:00-14:00, break 10:00-10:30.
    cal = ShiftCalendar(
        shifts=(Shift("A", "06:00", "14:00", breaks=(("10:00", "10:30"),)),), tz="Asia/Kolkata"
    )
    ist = dt.timezone(dt.timedelta(hours=5, minutes=30))
    t0 = int(dt.datetime(2025, 3, 3, 5, 15, tzinfo=ist).timestamp()) * S
    periods = cal.periods(t0, t0 + 6 * 3600 * S)
    hourly, parent = by_hour(periods, cal.tz)
    assert hourly.label == ("05:00", "06:00", "07:00", "08:00", "09:00", "10:00", "11:00")
    assert hourly.shift.tolist() == [-1, 0, 0, 0, 0, 0, 0]
    np.testing.assert_allclose(hourly.scheduled_s(), [0, 3600, 3600, 3600, 3600, 1800, 900])
    assert parent.tolist() == [0, 1, 1, 1, 1, 1, 1]
    assert hourly.edges[0] == t0 and hourly.edges[-1] == t0 + 6 * 3600 * S
