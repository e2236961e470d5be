"""The report's hour-by-hour board and its account of the time outside shifts.

The board is the whiteboard of the sewing floor (hour, target, actual, cumulative, gap,
reason), computed by `analytics.hourly.hour_board` exactly as the service writes it to
`line_hour`. An hour that is not over or not fully known is shown and marked partial,
never hidden. Time outside shifts is not planned time: it is listed with what happened
in it (running, pieces, breakdowns, maintenance), never as availability 100 %.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from analytics.period_kind import OVERTIME
from tonle.app.report.data import ReportData
from tonle.app.report.markup import dur as _dur
from tonle.app.report.markup import e as _e
from tonle.app.report.words import STATES, plain_cause
from tonle.formats import clock, number
from tonle.messages import _, ngettext

__all__ = ["hour_by_hour", "outside_shifts"]

NS = 1_000_000_000
MAX_HOURS = 14  # the last ones; a day's board is on the dashboard


def hour_by_hour(d: ReportData) -> str:
    """The "Hour by hour" section: one table row per clock hour of the range."""
    b = d.board
    heading = _("Hour by hour")
    if not b.n or d.inputs.setup.output < 0:
        none = _("No station of this line has a standard time (analytics.lines sam_min): no board.")
        return f"<section id='hourly'><h2>{_e(heading)}</h2><p class='note'>{_e(none)}</p></section>"
    zone = ZoneInfo(d.tz)
    first = max(0, b.n - MAX_HOURS)
    rows = []
    for i in range(first, b.n):
        start = dt.datetime.fromtimestamp(int(b.hour_ns[i]) / NS, zone)
        hour = f"{clock(start)}"
        marks = []
        if b.partial[i]:
            marks.append(_("partial"))
        if b.period[i] != "shift":
            marks.append(_("overtime") if b.period[i] == OVERTIME else _("outside shifts"))
        mark = f"<br><small>{_e(', '.join(marks))}</small>" if marks else ""
        reason = plain_cause(b.worst_cause[i]) if b.worst_cause[i] else ""
        gap_cls = "bad" if b.gap_pcs[i] < -0.5 else "good" if b.target_pcs[i] > 0 else ""
        rows.append(
            f"<tr><td>{_e(hour)}{mark}</td><td>{number(b.target_pcs[i])}</td><td>{number(b.actual_pcs[i])}</td>"
            f"<td>{number(b.cum_actual_pcs[i])} / {number(b.cum_target_pcs[i])}</td>"
            f"<td class='{gap_cls}'>{_signed(b.gap_pcs[i])}</td><td>{_e(reason)}</td></tr>"
        )
    heads = (_("Hour"), _("Target"), _("Actual"), _("Cumulative"), _("Gap"), _("Reason"))
    head = "".join(f"<th>{_e(x)}</th>" for x in heads)
    earlier = ""
    if first:
        more = ngettext(
            "and {n} earlier hour (see the dashboard)", "and {n} earlier hours (see the dashboard)", first
        )
        earlier = f"<tr><td colspan='6' class='note'>{_e(more.format(n=number(first)))}</td></tr>"
    note = _(
        "Pieces leaving {station}, the last station. Target: the line's target per hour for the shift "
        "time in the hour (breaks and time outside shifts count 0). Cumulative restarts with each shift. "
        "Reason: the hour's largest downtime. Partial: the hour is not over or its data is incomplete."
    ).format(station=d.inputs.machines[d.inputs.setup.output])
    return (
        f"<section id='hourly'><h2>{_e(heading)}</h2><table class='board'><tr>{head}</tr>{earlier}"
        f"{''.join(rows)}</table><p class='note'>{_e(note)}</p></section>"
    )


def outside_shifts(d: ReportData) -> str:
    """What happened outside shift time; empty when nothing did."""
    if not d.off_shift:
        return ""
    items = []
    for r in d.off_shift:
        what = [
            _("{run} of station running, {good} good pieces").format(
                run=_dur(r.run_h * 3600), good=number(r.good)
            )
        ]
        for state, (sec, n) in sorted(r.states.items(), key=lambda kv: -kv[1][0]):
            what.append(
                ngettext("{state}: {n} time, {time}", "{state}: {n} times, {time}", n).format(
                    state=_state(state), n=number(n), time=_dur(sec)
                )
            )
        kind = _("overtime") if r.kind == OVERTIME else _("outside shifts")
        items.append(
            f"<li><b>{_e(r.label)}</b> ({_e(kind)}, {_e(_dur(r.hours * 3600))}): {_e('; '.join(what))}</li>"
        )
    heading = _("Outside shift time")
    note = _(
        "Time outside shifts is not planned production time, so it has no availability or OEE; "
        "what ran, broke down or was maintained in it is listed here."
    )
    body = f"<ul>{''.join(items)}</ul><p class='note'>{_e(note)}</p>"
    return f"<section id='offshift'><h2>{_e(heading)}</h2>{body}</section>"


def _signed(x: float) -> str:
    return ("+" if x > 0.5 else "") + number(x)


def _state(state: str) -> str:
    return _(STATES[state]) if state in STATES else state.replace("_", " ")
