"""Numbers, percentages, dates and times in the chosen language (`tonle.messages`).

Babel lays them out from the CLDR data of the language: its separators, its percent
sign, its month and weekday names. Python rounds first (`f"{x:.1f}"`), so a figure
rounds the same way in every language and the English page reads exactly as before.

Digits are Arabic (0-9) in Khmer too: CLDR's default numbering system for `km` is
`latn`, and Cambodian factory floors write times, counts and targets that way (see
docs/glossary.md). Clock times are 24-hour in both languages, as shift times are
written in the config (`22:00-06:00`), and timestamps a person may type back into
`--from`/`--to` stay ISO (`2026-05-29 03:30`) in both.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

from babel.dates import format_date
from babel.numbers import format_decimal, format_percent

from tonle.messages import current_language

__all__ = ["MISSING", "clock", "day", "long_date", "number", "percent", "stamp"]

MISSING = "–"  # a figure that cannot be computed (no data), in every language
# Dates that are not one of CLDR's four lengths: (English, Khmer) patterns.
_LONG_DATE = {"en": "EEEE dd MMMM y", "km": "full"}
_DAY = {"en": "EEE dd MMM", "km": "EEE d MMM"}
_DAY_YEAR = {"en": "EEE dd MMM y", "km": "EEE d MMM y"}


def number(x: float, digits: int = 0) -> str:
    """`x` with `digits` decimals and the language's grouping: 1,234.5 (MISSING when not finite)."""
    x = float(x)
    if not math.isfinite(x):
        return MISSING
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return format_decimal(Decimal(f"{x:.{digits}f}"), format=pattern, locale=current_language())


def percent(x: float) -> str:
    """A fraction as a whole percentage in the language's pattern: 0.634 -> 63% (MISSING if unknown)."""
    x = float(x)
    if not math.isfinite(x):
        return MISSING
    return format_percent(Decimal(f"{x * 100:.0f}") / 100, locale=current_language())


def long_date(t: dt.date) -> str:
    """The day written out: 'Friday 29 May 2026', 'សុក្រ 29 ឧសភា 2026'."""
    lang = current_language()
    return format_date(t, _LONG_DATE.get(lang, _LONG_DATE["en"]), locale=lang)


def day(t: dt.date, year: bool = False) -> str:
    """A short day for a table cell: 'Thu 28 May', 'ព្រហ 28 ឧសភា' (and its year with `year`)."""
    lang = current_language()
    patterns = _DAY_YEAR if year else _DAY
    return format_date(t, patterns.get(lang, patterns["en"]), locale=lang)


def clock(t: dt.datetime | dt.time) -> str:
    """A 24-hour clock time, as shifts are written: '03:30'."""
    return f"{t:%H:%M}"


def stamp(t: dt.datetime) -> str:
    """A date and time someone may type back into --from/--to: '2026-05-29 03:30'."""
    return f"{t:%Y-%m-%d %H:%M}"
