"""`[analytics.shifts]`: the plant's shift calendar, checked once when the file is read."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from tonle.config.fields import PosFloat, Section
from tonle.config.problems import ConfigError
from tonle.messages import _

__all__ = ["ShiftConfig", "ShiftsConfig"]

_A_MONDAY_NS = 1_704_067_200 * 10**9  # 2024-01-01 00:00 UTC


class ShiftConfig(Section, frozen=True):
    """One shift in the plant's local time; `breaks` are planned stops inside it ("11:00-12:00")."""

    name: str
    start: str
    end: str
    breaks: list[str] = msgspec.field(default_factory=list)


def _default_shifts() -> list[ShiftConfig]:
    return [
        ShiftConfig(name="A", start="06:00", end="14:00", breaks=["11:00-12:00"]),
        ShiftConfig(name="B", start="14:00", end="22:00", breaks=["18:00-18:30"]),
    ]


class ShiftsConfig(Section, frozen=True):
    """The plant's shift calendar: planned production time is shift time minus breaks.

    OEE divides by planned time, so lunch and the night nobody works must not count as
    lost time. Checked once here (times, breaks inside their shift, no overlaps, a known
    time zone) so a typo is a config error, not a wrong OEE at 3 a.m.
    `update_s` is how often the service rewrites the figures of the shift so far.
    """

    tz: str = "Asia/Phnom_Penh"
    workdays: list[Annotated[int, msgspec.Meta(ge=1, le=7)]] = msgspec.field(
        default_factory=lambda: [1, 2, 3, 4, 5, 6]
    )
    shifts: list[ShiftConfig] = msgspec.field(default_factory=_default_shifts)
    update_s: PosFloat = 60.0

    def __post_init__(self) -> None:
        self.calendar()  # raises ConfigError naming the shift and the fix

    def calendar(self) -> Any:
        """The `tonle.kernels.shifts.ShiftCalendar` this section describes."""
        from tonle.kernels.shifts import Shift, ShiftCalendar  # the gateway never needs it

        try:
            shifts = tuple(
                Shift(s.name, s.start, s.end, tuple(_break(s.name, b) for b in s.breaks)) for s in self.shifts
            )
            for shift in shifts:
                shift.length  # noqa: B018 - reading it checks start and end, naming the shift
            cal = ShiftCalendar(shifts=shifts, tz=self.tz, workdays=frozenset(self.workdays))
            cal.periods(_A_MONDAY_NS, _A_MONDAY_NS + 8 * 86_400 * 10**9)  # a week: catches overlaps
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        return cal


def _break(shift: str, text: str) -> tuple[str, str]:
    start, sep, end = text.partition("-")
    if not sep:
        raise ValueError(
            _("shift {shift!r}: break {text!r} must be 'HH:MM-HH:MM', e.g. '11:00-12:00'").format(
                shift=shift, text=text
            )
        )
    return start.strip(), end.strip()
