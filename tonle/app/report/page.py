"""The report as one self-contained HTML page, laid out for one printed A4 sheet.

Plain words for a line supervisor: each figure says what it means next to it, times
are the plant's local time, and missing data is said out loud instead of hidden. The
page is the same on screen and on paper (the A4 box is drawn in millimetres; the style
sheet is `style`). Every sentence is a catalogue entry (`tonle.messages`) and every
number and date is laid out by `tonle.formats`, so the page is written in the chosen
language; machine, line and site names are shown as the config and the floor wrote them.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np

from analytics.inputs import ESTIMATED, METERED, LineFigures
from tonle.app.report.alerts import MAX_ALERTS, alerts_section, shown_alerts
from tonle.app.report.board import hour_by_hour, outside_shifts
from tonle.app.report.charts import balance_chart, pareto_chart, waterfall_chart
from tonle.app.report.data import ReportData
from tonle.app.report.markup import Html
from tonle.app.report.markup import dur as _dur
from tonle.app.report.markup import e as _e
from tonle.app.report.markup import h as _h
from tonle.app.report.markup import level as _level
from tonle.app.report.quality import quality_section
from tonle.app.report.style import CSS
from tonle.app.report.words import loss_name
from tonle.formats import clock, day, long_date, number, percent, stamp
from tonle.messages import _, current_language, ngettext

__all__ = ["MAX_ALERTS", "SECTIONS", "render_page", "shown_alerts"]

SECTIONS = ("summary", "waterfall", "shifts", "hourly", "balance", "pareto", "energy", "alerts", "notes")
SECTIONS += ("quality",)  # tonle.app.report.quality
MAX_SHIFT_ROWS = 6
PARETO_BARS = 8


def render_page(d: ReportData, generated: dt.datetime | None = None) -> str:
    """The whole report page as an HTML string (charts inline, no external files)."""
    f = d.figures
    generated = generated or dt.datetime.now(d.start.tzinfo)
    body = "\n".join(
        [
            _header(d, generated),
            _tiles(d),
            '<div class="row a">',
            _waterfall(d),
            _shifts(d),
            "</div>",
            '<div class="row b">',
            hour_by_hour(d),
            _balance(d),
            "</div>",
            '<div class="row c">',
            "<div>",
            _section(
                "pareto",
                _("Downtime: what stopped the machines"),
                pareto_chart(f.pareto.label, f.pareto.seconds, f.pareto.stops, 92, 64, PARETO_BARS),
                _pareto_text(d),
            ),
            "</div>",
            "<div>",
            _energy(d),
            quality_section(d.quality),
            alerts_section(d),
            "</div>",
            "</div>",
            outside_shifts(d),
            _notes(d),
        ]
    )
    title = _("Shift report, line {line}, {start}").format(line=d.key.line, start=stamp(d.start))
    return (
        f'<!DOCTYPE html>\n<html lang="{current_language()}"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{CSS}</style></head><body><div class='page'>\n{body}\n"
        "</div></body></html>\n"
    )


def _header(d: ReportData, generated: dt.datetime) -> str:
    same_day = d.start.date() == (d.end - dt.timedelta(microseconds=1)).date()
    end = "24:00" if same_day and d.end.date() != d.start.date() else clock(d.end)
    if same_day:
        span = _("{date}, {start} to {end}").format(date=long_date(d.start), start=clock(d.start), end=end)
    else:
        span = _("{start} to {end}").format(
            start=f"{day(d.start, year=True)} {clock(d.start)}", end=f"{day(d.end, year=True)} {clock(d.end)}"
        )
    title = _h(_("Shift report · line {line}"), line=d.key.line)
    zone = _h(_("times are {tz} time"), tz=d.tz)
    made = _h(_("made {time}"), time=stamp(generated))
    return (
        f"<header><div><h1>{title}</h1><div>{_e(d.key.site)} · {_e(d.key.area)}</div></div>"
        f"<div class='when'><b>{_e(span)}</b><br>{zone} · {made}</div></header>"
    )


def _ratio_tiles(f: Any, line: Any, about: tuple[str, ...]) -> list[tuple[str, str, str, str, Any]]:
    """OEE, A, P, Q tiles; with no shift time in the range, OEE and A are "–" (never 100 %)."""
    if line is None:  # all outside shifts: no planned time, so no OEE (not 100 %)
        off = _("outside shift time: see below")
        ratios = [("main", _("OEE"), "–", off, None), ("", _("Availability"), "–", off, None)]
        ratios += [
            ("", _("Performance"), percent(f.line.performance), about[2], ("performance", f.line.performance))
        ]
        ratios += [("", _("Quality"), percent(f.line.quality), about[3], ("quality", f.line.quality))]
    else:
        ratios = [
            ("main", _("OEE"), percent(line.oee), about[0], ("oee", line.oee)),
            (
                "",
                _("Availability"),
                percent(line.availability),
                about[1],
                ("availability", line.availability),
            ),
            ("", _("Performance"), percent(line.performance), about[2], ("performance", line.performance)),
            ("", _("Quality"), percent(line.quality), about[3], ("quality", line.quality)),
        ]
    return ratios


def _tiles(d: ReportData) -> str:
    f = d.figures
    line = d.in_shift.line if d.in_shift is not None else None  # OEE is of shift time only
    rate = number(f.pieces_per_hour)
    output = (
        _("good pieces, {rate} per hour (target {target})").format(rate=rate, target=number(f.target_pph))
        if f.target_pph > 0
        else _("good pieces, {rate} per hour").format(rate=rate)
    )
    about = (
        _("of planned machine time made good pieces at standard speed"),
        _("machines running, of planned time"),
        _("speed against the standard time (SAM)"),
        _("pieces good the first time"),
    )
    ratios = _ratio_tiles(f, line, about)
    tiles = [
        *ratios,
        ("", _("Output"), number(f.output_good), output, None),
        (
            "",
            _("Efficiency"),
            percent(f.efficiency),
            _("standard minutes made / operator minutes"),
            ("efficiency", f.efficiency),
        ),
        (
            "",
            _("Energy"),
            number(f.kwh_per_piece, 3),
            _("kWh per piece (partial: a meter is missing)") if f.energy_partial else _("kWh per piece"),
            None,
        ),
    ]
    cells = []
    for cls, name, value, text, level in tiles:
        colour = _level(*level) if level is not None else ""
        cells.append(
            f"<div class='tile {cls}'><span class='name'>{_e(name)}</span><b class='{colour}'>{_e(value)}</b>"
            f"<span>{_e(text)}</span></div>"
        )
    return f"<section id='summary' class='tiles'>{''.join(cells)}</section>"


def _waterfall(d: ReportData) -> str:
    line = d.figures.line
    losses = {k: float(v) for k, v in line.losses_s().items()}
    biggest = max((k for k in losses if k != "fully_productive"), key=lambda k: losses[k], default=None)
    if biggest and float(line.planned_s) > 0:
        text = _h(
            _(
                "Of {planned} machine-hours planned, {productive} made good pieces at standard speed "
                "({oee}). The biggest loss: {loss}, {hours} h."
            ),
            planned=number(float(line.planned_s) / 3600, 1),
            productive=number(losses["fully_productive"] / 3600, 1),
            oee=percent(line.oee),
            loss=Html(f"<b>{_e(loss_name(biggest).lower())}</b>"),
            hours=number(losses[biggest] / 3600, 1),
        )
    else:
        text = _h(_("No planned time in this range."))
    chart = waterfall_chart(losses, float(line.planned_s), 104, 54)
    return _section("waterfall", _("OEE: where the planned time went"), chart, f"<p>{text}</p>")


def _shifts(d: ReportData) -> str:
    line = d.figures.line
    rows = "".join(
        f"<tr><td>{_e(s.label)}</td><td>{percent(s.oee)}</td><td>{percent(s.availability)}</td>"
        f"<td>{percent(s.performance)}</td><td>{percent(s.quality)}</td><td>{number(s.good)}</td>"
        f"<td>{number(s.pieces_per_hour)}</td></tr>"
        for s in d.shifts[-MAX_SHIFT_ROWS:]
    )
    earlier = len(d.shifts) - MAX_SHIFT_ROWS
    if earlier > 0:
        more = ngettext(
            "and {n} earlier shift (see the dashboard)", "and {n} earlier shifts (see the dashboard)", earlier
        )
        rows += f"<tr><td colspan='7' class='note'>{_e(more.format(n=number(earlier)))}</td></tr>"
    if line.failures > 0:
        repairs = ngettext(
            "{n} breakdown of 5 minutes or more: a machine ran {mtbf} between breakdowns on average, "
            "and a repair took {mttr}.",
            "{n} breakdowns of 5 minutes or more: a machine ran {mtbf} between breakdowns on average, "
            "and a repair took {mttr}.",
            int(line.failures),
        ).format(n=number(line.failures), mtbf=_dur(float(line.mtbf_s)), mttr=_dur(float(line.mttr_s)))
    else:
        repairs = _("No breakdown of 5 minutes or more.")
    heading = _("Shifts")
    heads = (_("Shift"), _("OEE"), _("Avail."), _("Perf."), _("Quality"), _("Good"), _("Per hour"))
    note = _(
        "OEE = availability × performance × quality. Availability: running time / planned time. "
        "Performance: standard time of the pieces made / running time. Quality: good / all pieces. "
        "Planned time is shift time minus breaks; the line's figures add up all its stations."
    )
    return (
        f"<section id='shifts'><h2>{_e(heading)}</h2><table><tr>"
        + "".join(f"<th>{_e(h)}</th>" for h in heads)
        + f"</tr>{rows}</table><p>{_e(repairs)}</p><p class='note'>{_e(note)}</p></section>"
    )


def _pareto_text(d: ReportData) -> str:
    p = d.figures.pareto
    rest = len(p.label) - PARETO_BARS
    minutes = number(float(p.seconds[PARETO_BARS:].sum()) / 60)
    more = (
        ngettext(
            "Plus {n} smaller cause: {minutes} min.", "Plus {n} smaller causes: {minutes} min.", rest
        ).format(n=number(rest), minutes=minutes)
        if rest > 0
        else ""
    )
    rule = _(
        "Shift time only: breaks and time outside shifts are planned stops. "
        "Waiting for work or space means a neighbouring station was slower."
    )
    return f"<p class='note'>{_e(f'{more} {rule}'.strip())}</p>"


def _balance(d: ReportData) -> str:
    f = d.figures
    st = np.flatnonzero(f.stations)
    names = [d.inputs.machines[i] for i in st]
    b = f.bottleneck
    chart = balance_chart(
        names,
        f.effective_cycle_s[st],
        f.standard_cycle_s[st],
        int(np.flatnonzero(st == b)[0]) if b in st else -1,
        92,
        46,
    )
    if b >= 0:
        bottleneck = _("{station} is the bottleneck")
        text = _h(
            _(
                "{bottleneck}: {cycle} s per piece while it had work, against a standard of {standard} s. "
                "At that pace the line makes at most {capacity} pieces an hour. "
                "Balance: {balance} (100% = every station equally loaded)."
            ),
            bottleneck=Html(f"<b>{_h(bottleneck, station=d.inputs.machines[b])}</b>"),
            cycle=number(f.effective_cycle_s[b]),
            standard=number(f.standard_cycle_s[b]),
            capacity=number(3600.0 / f.effective_cycle_s[b]),
            balance=percent(f.balance_ratio),
        )
    else:
        text = _h(_("No station finished a piece: no balance to show."))
    return _section("balance", _("Station balance and the bottleneck"), chart, f"<p>{text}</p>")


def _energy(d: ReportData) -> str:
    f, inp = d.figures, d.inputs
    if not f.energy_pooled > 0:
        none = _("No power readings for this line in the range: no energy figures.")
        body = f"<p>{_e(none)}</p>"
    else:
        idle = float(np.nansum(np.where(np.array(inp.power_source) != "none", f.machines.idle_kwh, 0.0)))
        how = []
        if f.kwh_metered > 0:
            metered = [m for m, s in zip(inp.machines, inp.power_source, strict=True) if s == METERED]
            how.append(
                _("{kwh} kWh metered ({meters})").format(
                    kwh=number(f.kwh_metered, 1), meters=", ".join([*metered, *inp.meters])
                )
            )
        if f.kwh_estimated > 0:
            n = sum(1 for s in inp.power_source if s == ESTIMATED)
            how.append(
                _("{kwh} kWh estimated from the motor current of {n} machines").format(
                    kwh=number(f.kwh_estimated, 1), n=number(n)
                )
            )
        per_piece = _h(_("{kwh} kWh per piece"), kwh=number(f.kwh_per_piece, 3))
        body = _h(
            _(
                "{per_piece} ({per_good} per good piece); {kwh} kWh in all, {idle} kWh of it while machines "
                "were not sewing."
            ),
            per_piece=Html(f"<b>{per_piece}</b>"),
            per_good=number(f.kwh_per_good_piece, 3),
            kwh=number(f.kwh, 1),
            idle=number(idle, 1),
        )
        note = _h(
            _(
                "{how}. Power readings present: {coverage}; missing ones are left out, so a lower share "
                "means more energy than shown."
            ),
            how="; ".join(how),
            coverage=percent(f.energy_pooled),
        )
        body = f"<p>{body}</p>{_energy_partial(f)}<p class='note'>{note}</p>"
    heading = _("Energy")
    return f"<section id='energy'><h2>{_e(heading)}</h2>{body}</section>"


def _energy_partial(f: LineFigures) -> str:
    """A warning when one power source sent too few readings: the figures are then a lower bound."""
    if not f.energy_partial:
        return ""
    text = _(
        "Partial: {source} sent only {coverage} of its power readings, so the energy and kWh per "
        "piece above are at least this much, not all of it."
    ).format(source=f.energy_worst, coverage=percent(f.energy_coverage))
    return f"<p class='warn'><b>{_e(text)}</b></p>"


def _notes(d: ReportData) -> str:
    f = d.figures
    silent = [d.inputs.machines[i] for i in np.flatnonzero(f.machines.coverage < 0.99)]
    data = (
        _(
            "Machines reported {coverage} of the time (missing data on {machines}); missing time is left "
            "out of planned time, never filled in."
        ).format(coverage=percent(f.line.coverage), machines=_machines(silent, d.inputs.n))
        if silent
        else _(
            "Machines reported {coverage} of the time; missing time is left out of planned time, "
            "never filled in."
        ).format(coverage=percent(f.line.coverage))
    )
    sentences = [data]
    if d.first_data and d.last_data:
        sentences.append(
            _("The line's data in the database runs from {first} to {last}.").format(
                first=stamp(d.first_data), last=stamp(d.last_data)
            )
        )
    sentences.append(
        _(
            "Computed by Tonle from the machines' states, piece counters and power readings in InfluxDB, "
            "with the line's standard minutes (SAM) and target from the configuration."
        )
    )
    return f"<footer id='notes' class='note'><p>{_e(' '.join(sentences))}</p></footer>"


# ------------------------------------------------------------------------------ helpers


def _section(sid: str, title: str, chart: str, text: str) -> str:
    return (
        f"<section id='{sid}'><h2>{_e(title)}</h2>"
        f"<figure data-chart='{sid}' style='margin:0'>{chart}</figure>{text}</section>"
    )


def _machines(names: list[str], n: int) -> str:
    return _("every machine") if len(names) == n else ", ".join(names)
