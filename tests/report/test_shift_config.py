"""`[analytics.shifts]`: the calendar the service and the report cut planned time with."""

from __future__ import annotations

import pytest

from tonle.config import ConfigError, parse_config
from tonle.kernels.shifts import Shift


def _shifts(**section) -> object:
    return parse_config({"analytics": {"shifts": section}}, env={}).analytics.shifts


def test_the_default_calendar_is_two_shifts_with_a_meal_break_in_phnom_penh():
    cal = parse_config({}, env={}).analytics.shifts.calendar()
    assert cal.tz == "Asia/Phnom_Penh"
    assert cal.shifts == (
        Shift("A", "06:00", "14:00", (("11:00", "12:00"),)),
        Shift("B", "14:00", "22:00", (("18:00", "18:30"),)),
    )
    assert cal.workdays == frozenset({1, 2, 3, 4, 5, 6})


def test_a_night_shift_crosses_midnight():
    s = _shifts(shifts=[{"name": "N", "start": "22:00", "end": "06:00", "breaks": ["02:00-02:30"]}])
    assert s.calendar().shifts[0].length.total_seconds() == 8 * 3600


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"tz": "Asia/Phnom Penh"},
            "'analytics.shifts': unknown time zone 'Asia/Phnom Penh'; use an IANA name",
        ),
        (
            {"shifts": [{"name": "A", "start": "06:00", "end": "14:00", "breaks": ["15:00-16:00"]}]},
            "break 15:00-16:00 must lie inside the shift 06:00-14:00",
        ),
        (
            {"shifts": [{"name": "A", "start": "06:00", "end": "14:00", "breaks": ["11:00"]}]},
            "break '11:00' must be 'HH:MM-HH:MM', e.g. '11:00-12:00'",
        ),
        (
            {"shifts": [{"name": "A", "start": "6am", "end": "14:00"}]},
            "shift 'A' start='6am' must be a local time 'HH:MM'",
        ),
        (
            {
                "shifts": [
                    {"name": "A", "start": "06:00", "end": "14:00"},
                    {"name": "B", "start": "13:00", "end": "21:00"},
                ]
            },
            "shifts overlap on 2024-01-01: 'A' and 'B'",
        ),
        ({"shifts": []}, "a shift calendar needs at least one shift"),
        ({"workdays": [0]}, "'analytics.shifts.workdays[0]'"),
        (
            {"shifts": [{"name": "A", "start": "06:00", "end": "14:00", "brakes": []}]},
            "'analytics.shifts.shifts[0].brakes' is not a known key; did you mean 'breaks'?",
        ),
    ],
)
def test_a_wrong_calendar_is_a_config_error_naming_the_key_and_the_fix(section, message):
    with pytest.raises(ConfigError) as err:
        _shifts(**section)
    assert message in str(err.value)
