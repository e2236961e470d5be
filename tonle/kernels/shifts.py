"""Shift calendars: which part of a window is a shift, a planned break, or no shift at all.

Planned production time is a calendar question before it is a machine question:
OEE divides by the time production was planned, so lunch and the night nobody works
must not count as lost time. A calendar is a handful of local wall-clock shifts with
their breaks, in the plant's time zone (Asia/Phnom_Penh by default: UTC+7, no
daylight saving, but any zone works because days are resolved with zoneinfo).

`ShiftCalendar.periods(start_ns, end_ns)` turns a window into `Periods`: one period
per shift instance (e.g. "2025-03-03 A") plus one per stretch outside any shift, and
the finer slices (shift time, break, no shift) the KPI kernel splits machine time at.
The only loops are over days and shifts (a handful), never over samples.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

from tonle.kernels.checks import check_window

__all__ = [
    "BREAK",
    "SCHEDULED",
    "UNSCHEDULED",
    "Periods",
    "Shift",
    "ShiftCalendar",
    "by_hour",
    "whole_window",
]

SCHEDULED, BREAK, UNSCHEDULED = 0, 1, 2
SLICE_KINDS = ("scheduled", "break", "unscheduled")
DEFAULT_TZ = "Asia/Phnom_Penh"
_NS = 1_000_000_000


def _clock(name: str, value: str) -> dt.timedelta:
    """'HH:MM' -> time since midnight; '24:00' is allowed as an end."""
    try:
        hh, mm = value.split(":")
        h, m = int(hh), int(mm)
    except ValueError as exc:
        raise ValueError(f"{name}={value!r} must be a local time 'HH:MM', e.g. '06:00'") from exc
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m):
        raise ValueError(f"{name}={value!r} is not a time of day between 00:00 and 24:00")
    return dt.timedelta(hours=h, minutes=m)


@dataclass(frozen=True, slots=True)
class Shift:
    """One shift in local wall-clock time; an end before the start means it ends the next day.

    breaks: (start, end) local times inside the shift that are planned stops (meals, prayer,
    meetings). They must lie within the shift.
    """

    name: str
    start: str
    end: str
    breaks: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a shift needs a name (e.g. 'A' or 'morning')")
        for b in self.breaks:
            s, e = self._offset(b[0]), self._offset(b[1])
            if not (dt.timedelta(0) <= s < e <= self.length):
                raise ValueError(
                    f"shift {self.name!r}: break {b[0]}-{b[1]} must lie inside the shift "
                    f"{self.start}-{self.end}"
                )

    @property
    def length(self) -> dt.timedelta:
        s, e = _clock(f"shift {self.name!r} start", self.start), _clock(f"shift {self.name!r} end", self.end)
        length = e - s if e > s else e - s + dt.timedelta(days=1)
        return length

    def _offset(self, hhmm: str) -> dt.timedelta:
        """Time from the shift start to a local time inside the shift."""
        d = _clock(f"shift {self.name!r} break", hhmm) - _clock(f"shift {self.name!r} start", self.start)
        return d if d >= dt.timedelta(0) else d + dt.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Periods:
    """A window cut into reporting periods and, finer, into calendar slices.

    Periods (reporting units; index p):
      start_ns, end_ns: int64 [n_periods], clipped to the window.
      shift:            int64 [n_periods], index into `shift_names`, -1 outside any shift.
      day:              datetime64[D] [n_periods], the local production day (a night shift
                        belongs to the day it starts).
      label:            tuple of str, e.g. "2025-03-03 A" or "2025-03-03 no shift".
    Slices (index s): edges int64 [n_slices + 1] from the window start to its end;
      slice_period int64 [n_slices]; slice_kind int64 [n_slices] (SCHEDULED, BREAK, UNSCHEDULED).
    """

    start_ns: np.ndarray
    end_ns: np.ndarray
    shift: np.ndarray
    day: np.ndarray
    label: tuple[str, ...]
    shift_names: tuple[str, ...]
    edges: np.ndarray
    slice_period: np.ndarray
    slice_kind: np.ndarray

    @property
    def n(self) -> int:
        return int(self.start_ns.size)

    @property
    def days(self) -> tuple[np.ndarray, np.ndarray]:
        """(unique local days, day index of each period) for aggregating by day."""
        return np.unique(self.day, return_inverse=True)

    def scheduled_s(self) -> np.ndarray:
        """Seconds of shift time (breaks excluded) per period: the calendar's planned time."""
        length = np.diff(self.edges) * (self.slice_kind == SCHEDULED)
        return np.bincount(self.slice_period, weights=length, minlength=self.n) / _NS


@dataclass(frozen=True, slots=True)
class ShiftCalendar:
    """Shifts repeating every working day in one time zone.

    workdays: ISO weekdays that have shifts (1 = Monday ... 7 = Sunday); Cambodian garment
              plants commonly work Monday to Saturday.
    """

    shifts: tuple[Shift, ...] = (
        Shift("A", "06:00", "14:00", breaks=(("11:00", "12:00"),)),
        Shift("B", "14:00", "22:00", breaks=(("18:00", "18:30"),)),
    )
    tz: str = DEFAULT_TZ
    workdays: frozenset[int] = field(default_factory=lambda: frozenset({1, 2, 3, 4, 5, 6}))

    def __post_init__(self) -> None:
        if not self.shifts:
            raise ValueError("a shift calendar needs at least one shift")
        names = [s.name for s in self.shifts]
        if len(set(names)) != len(names):
            raise ValueError(f"shift names repeat: {names}")
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(
                f"unknown time zone {self.tz!r}; use an IANA name like 'Asia/Phnom_Penh'"
            ) from exc
        if not self.workdays or not set(self.workdays) <= set(range(1, 8)):
            raise ValueError(f"workdays={sorted(self.workdays)} must be ISO weekdays 1 (Mon) .. 7 (Sun)")

    def periods(self, start_ns: int, end_ns: int) -> Periods:
        """The shifts, breaks and off-shift stretches of the window [start_ns, end_ns)."""
        start_ns, end_ns = check_window(start_ns, end_ns)
        zone = ZoneInfo(self.tz)
        first = dt.datetime.fromtimestamp(start_ns / _NS, zone).date() - dt.timedelta(days=1)
        last = dt.datetime.fromtimestamp(end_ns / _NS, zone).date()
        spans: list[tuple[int, int, int, dt.date, int]] = []  # start, end, shift, day, kind
        day = first
        while day <= last:  # a handful of days
            if day.isoweekday() in self.workdays:
                for k, s in enumerate(self.shifts):
                    t0 = dt.datetime.combine(day, dt.time(), zone) + _clock("start", s.start)
                    begin = _epoch_ns(t0)
                    end = _epoch_ns(t0 + s.length)
                    cuts = [begin]
                    for b0, b1 in s.breaks:
                        cuts += [_epoch_ns(t0 + s._offset(b0)), _epoch_ns(t0 + s._offset(b1))]
                    cuts.append(end)
                    for j in range(len(cuts) - 1):
                        spans.append((cuts[j], cuts[j + 1], k, day, BREAK if j % 2 else SCHEDULED))
            day += dt.timedelta(days=1)
        spans.sort(key=lambda x: x[0])
        for a, b in itertools.pairwise(spans):
            if b[0] < a[1]:
                raise ValueError(
                    f"shifts overlap on {a[3]}: {self.shifts[a[2]].name!r} and {self.shifts[b[2]].name!r}"
                )
        return _build(spans, start_ns, end_ns, tuple(s.name for s in self.shifts), zone)


def whole_window(start_ns: int, end_ns: int, name: str = "window") -> Periods:
    """The window as one scheduled period: every second is planned unless a state says otherwise."""
    start_ns, end_ns = check_window(start_ns, end_ns)
    return Periods(
        start_ns=np.array([start_ns]),
        end_ns=np.array([end_ns]),
        shift=np.array([0]),
        day=np.array([np.datetime64(start_ns, "ns")]).astype("datetime64[D]"),
        label=(name,),
        shift_names=(name,),
        edges=np.array([start_ns, end_ns], dtype=np.int64),
        slice_period=np.array([0]),
        slice_kind=np.array([SCHEDULED]),
    )


def by_hour(periods: Periods, tz: str) -> tuple[Periods, np.ndarray]:
    """The same window cut at every local clock hour: (one period per hour, its parent period).

    Each hour keeps the calendar's slices (shift time, break, no shift) inside it, so
    planned time, targets and losses per hour follow the shift calendar; an hour's
    `shift` is the shift holding most of it (-1 if none), its label "HH:00". The parent
    (the shift instance or off-shift stretch holding most of the hour) is where an
    hour-by-hour board's cumulative figures restart.
    """
    zone = ZoneInfo(tz)
    lo, hi = int(periods.edges[0]), int(periods.edges[-1])
    first = dt.datetime.fromtimestamp(lo / _NS, zone).replace(minute=0, second=0, microsecond=0)
    hours = [lo]
    t = first + dt.timedelta(hours=1)
    while _epoch_ns(t) < hi:  # a handful of hours
        hours.append(_epoch_ns(t))
        t += dt.timedelta(hours=1)
    hours.append(hi)
    h_edges = np.array(hours, dtype=np.int64)
    edges = np.union1d(periods.edges, h_edges)
    cell = np.searchsorted(periods.edges, edges[:-1], side="right") - 1  # the old slice of each new one
    hour = np.searchsorted(h_edges, edges[:-1], side="right") - 1
    length = np.diff(edges).astype(np.float64)
    n = h_edges.size - 1
    parent_of = periods.slice_period[cell]
    votes = np.zeros((n, periods.n))
    np.add.at(votes, (hour, parent_of), length)
    parent = votes.argmax(axis=1)
    in_shift = np.where(periods.shift[parent_of] >= 0, length, 0.0)
    shift = np.where(np.bincount(hour, weights=in_shift, minlength=n) > 0, periods.shift[parent], -1)
    label = tuple(
        dt.datetime.fromtimestamp(int(a) / _NS, zone).strftime("%H:00") for a in h_edges[:-1].tolist()
    )
    hourly = Periods(
        start_ns=h_edges[:-1].copy(),
        end_ns=h_edges[1:].copy(),
        shift=shift.astype(np.int64),
        day=periods.day[parent],
        label=label,
        shift_names=periods.shift_names,
        edges=edges.astype(np.int64),
        slice_period=hour.astype(np.int64),
        slice_kind=periods.slice_kind[cell],
    )
    return hourly, parent.astype(np.int64)


def _build(
    spans: list[tuple[int, int, int, dt.date, int]],
    start_ns: int,
    end_ns: int,
    shift_names: tuple[str, ...],
    zone: ZoneInfo,
) -> Periods:
    """Clip shift spans to the window and fill the holes with 'no shift' periods."""
    slices: list[tuple[int, int, int, int]] = []  # start, end, period, kind
    periods: list[tuple[int, int, int, dt.date]] = []
    key_to_period: dict[tuple[int, dt.date], int] = {}
    cursor = start_ns
    for s0, s1, k, day, kind in spans:
        s0c, s1c = max(s0, start_ns), min(s1, end_ns)
        if s1c <= s0c:
            continue
        if s0c > cursor:
            _off_shift(slices, periods, cursor, s0c, zone)
        p = key_to_period.get((k, day))
        if p is None:
            p = key_to_period[(k, day)] = len(periods)
            periods.append((s0c, s1c, k, day))
        else:
            periods[p] = (periods[p][0], s1c, k, day)
        slices.append((s0c, s1c, p, kind))
        cursor = s1c
    if cursor < end_ns:
        _off_shift(slices, periods, cursor, end_ns, zone)
    label = tuple(f"{d.isoformat()} {shift_names[k] if k >= 0 else 'no shift'}" for _, _, k, d in periods)
    return Periods(
        start_ns=np.array([p[0] for p in periods], dtype=np.int64),
        end_ns=np.array([p[1] for p in periods], dtype=np.int64),
        shift=np.array([p[2] for p in periods], dtype=np.int64),
        day=np.array([np.datetime64(p[3].isoformat(), "D") for p in periods]),
        label=label,
        shift_names=shift_names,
        edges=np.array([s[0] for s in slices] + [end_ns], dtype=np.int64),
        slice_period=np.array([s[2] for s in slices], dtype=np.int64),
        slice_kind=np.array([s[3] for s in slices], dtype=np.int64),
    )


def _off_shift(
    slices: list[tuple[int, int, int, int]],
    periods: list[tuple[int, int, int, dt.date]],
    a: int,
    b: int,
    zone: ZoneInfo,
) -> None:
    day = dt.datetime.fromtimestamp(a / _NS, zone).date()
    periods.append((a, b, -1, day))
    slices.append((a, b, len(periods) - 1, UNSCHEDULED))


def _epoch_ns(t: dt.datetime) -> int:
    """Aware datetime -> integer ns since the epoch, exactly (no float rounding)."""
    delta = t - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * _NS + delta.microseconds * 1_000
