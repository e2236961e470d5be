"""The report as one self-contained HTML page, laid out for one printed A4 sheet.

Plain words for a line supervisor: each figure says what it means next to it, times
are the plant's local time, and missing data is said out loud instead of hidden. The
page is the same on screen and on paper (the A4 box is drawn in millimetres).
"""

from __future__ import annotations

import datetime as dt
import html
import math

import numpy as np

from analytics.inputs import ESTIMATED, METERED
from tonle.app.report.charts import LOSS_NAMES, balance_chart, hourly_chart, pareto_chart, waterfall_chart
from tonle.app.report.data import ReportData

__all__ = ["SECTIONS", "render_page"]

SECTIONS = ("summary", "waterfall", "shifts", "hourly", "balance", "pareto", "energy", "alerts", "notes")
MAX_ALERTS = 5
MAX_SHIFT_ROWS = 6
PARETO_BARS = 8

_CSS = """
@page { size: A4; margin: 0; }
* { box-sizing: border-box; }
html, body { margin: 0; padding: 0; background: #fff; }
body { font-family: "DejaVu Sans", "Liberation Sans", Arial, sans-serif; font-size: 7.6pt; color: #212121; }
.page { width: 210mm; height: 296mm; padding: 8mm 9mm 6mm; overflow: hidden; display: flex;
        flex-direction: column; gap: 2.2mm; }
header { display: flex; justify-content: space-between; align-items: flex-end;
         border-bottom: 0.6mm solid #212121; padding-bottom: 1.5mm; }
h1 { font-size: 15pt; margin: 0; }
h2 { font-size: 9pt; margin: 0 0 1mm; }
.when { text-align: right; font-size: 8pt; line-height: 1.35; }
.tiles { display: grid; grid-template-columns: 1.25fr repeat(6, 1fr); gap: 1.6mm; }
.tile { border: 0.3mm solid #cfcfcf; border-radius: 1.2mm; padding: 1.4mm 1.8mm; }
.tile b { display: block; font-size: 13pt; margin: 0.3mm 0; }
.tile.main b { font-size: 20pt; }
.tile span { color: #555; font-size: 6.6pt; line-height: 1.25; display: block; }
.tile .name { color: #212121; font-weight: bold; font-size: 7.4pt; }
.good { color: #2e7d32; } .mid { color: #ef6c00; } .bad { color: #c62828; }
.row { display: grid; gap: 3mm; }
.row.a { grid-template-columns: 104mm 1fr; }
.row.b, .row.c { grid-template-columns: 1fr 1fr; }
section { min-width: 0; }
svg.chart { width: 100%; height: auto; display: block; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 0.7mm 1mm; text-align: right; border-bottom: 0.2mm solid #e0e0e0; }
th:first-child, td:first-child { text-align: left; }
th { font-size: 6.8pt; color: #444; }
p { margin: 0.8mm 0; line-height: 1.35; }
.note { color: #555; font-size: 6.6pt; }
.alerts td { text-align: left; vertical-align: top; font-size: 6.6pt; }
.alerts td:nth-child(4) { width: 70%; }
.alerts th { text-align: left; }
.sev-critical, .sev-alarm { color: #c62828; font-weight: bold; }
.sev-warning { color: #ef6c00; font-weight: bold; }
footer { margin-top: auto; border-top: 0.3mm solid #cfcfcf; padding-top: 1.2mm; }
"""


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
            _section(
                "hourly",
                "Output by hour",
                hourly_chart(d.hours, f.target_pph, 92, 46),
                _hourly_text(d),
            ),
            _balance(d),
            "</div>",
            '<div class="row c">',
            _section(
                "pareto",
                "Downtime: what stopped the machines",
                pareto_chart(f.pareto.label, f.pareto.seconds, f.pareto.stops, 92, 64, PARETO_BARS),
                _pareto_text(d),
            ),
            "<div>",
            _energy(d),
            _alerts(d),
            "</div>",
            "</div>",
            _notes(d),
        ]
    )
    title = f"Shift report, line {d.key.line}, {d.start:%Y-%m-%d %H:%M}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
        f"<style>{_CSS}</style></head><body><div class='page'>\n{body}\n</div></body></html>\n"
    )


def _header(d: ReportData, generated: dt.datetime) -> str:
    same_day = d.start.date() == (d.end - dt.timedelta(microseconds=1)).date()
    end = "24:00" if same_day and d.end.date() != d.start.date() else f"{d.end:%H:%M}"
    span = (
        f"{d.start:%A %d %B %Y}, {d.start:%H:%M} to {end}"
        if same_day
        else f"{d.start:%a %d %b %Y %H:%M} to {d.end:%a %d %b %Y %H:%M}"
    )
    return (
        f"<header><div><h1>Shift report · line {_e(d.key.line)}</h1>"
        f"<div>{_e(d.key.site)} · {_e(d.key.area)}</div></div>"
        f"<div class='when'><b>{_e(span)}</b><br>times are {_e(d.tz)} time · "
        f"made {generated:%Y-%m-%d %H:%M}</div></header>"
    )


def _tiles(d: ReportData) -> str:
    f, line = d.figures, d.figures.line
    target = f" (target {f.target_pph:.0f})" if f.target_pph > 0 else ""
    tiles = [
        (
            "main",
            "OEE",
            _pct(line.oee),
            "of planned machine time made good pieces at standard speed",
            line.oee,
        ),
        ("", "Availability", _pct(line.availability), "machines running, of planned time", line.availability),
        (
            "",
            "Performance",
            _pct(line.performance),
            "speed against the standard time (SAM)",
            line.performance,
        ),
        ("", "Quality", _pct(line.quality), "pieces good the first time", line.quality),
        (
            "",
            "Output",
            f"{_num(f.output_good, 0)}",
            f"good pieces, {_num(f.pieces_per_hour, 0)} per hour{target}",
            None,
        ),
        ("", "Efficiency", _pct(f.efficiency), "standard minutes made / operator minutes", f.efficiency),
        ("", "Energy", _num(f.kwh_per_piece, 3), "kWh per piece", None),
    ]
    cells = []
    for cls, name, value, text, level in tiles:
        colour = _level(level) if level is not None else ""
        cells.append(
            f"<div class='tile {cls}'><span class='name'>{name}</span><b class='{colour}'>{_e(value)}</b>"
            f"<span>{_e(text)}</span></div>"
        )
    return f"<section id='summary' class='tiles'>{''.join(cells)}</section>"


def _waterfall(d: ReportData) -> str:
    line = d.figures.line
    losses = {k: float(v) for k, v in line.losses_s().items()}
    biggest = max((k for k in losses if k != "fully_productive"), key=lambda k: losses[k], default=None)
    text = (
        f"<p>Of {float(line.planned_s) / 3600:.1f} machine-hours planned, "
        f"{losses['fully_productive'] / 3600:.1f} made good pieces at standard speed ({_pct(line.oee)}). "
        "The biggest loss: "
        f"<b>{_e(LOSS_NAMES[biggest].lower())}</b>, {losses[biggest] / 3600:.1f} h.</p>"
        if biggest and float(line.planned_s) > 0
        else "<p>No planned time in this range.</p>"
    )
    chart = waterfall_chart(losses, float(line.planned_s), 104, 54)
    return _section("waterfall", "OEE: where the planned time went", chart, text)


def _shifts(d: ReportData) -> str:
    line = d.figures.line
    rows = "".join(
        f"<tr><td>{_e(s.label)}</td><td>{_pct(s.oee)}</td><td>{_pct(s.availability)}</td>"
        f"<td>{_pct(s.performance)}</td><td>{_pct(s.quality)}</td><td>{_num(s.good, 0)}</td>"
        f"<td>{_num(s.pieces_per_hour, 0)}</td></tr>"
        for s in d.shifts[-MAX_SHIFT_ROWS:]
    )
    earlier = len(d.shifts) - MAX_SHIFT_ROWS
    if earlier > 0:
        rows += f"<tr><td colspan='7' class='note'>and {earlier} earlier shifts (see the dashboard)</td></tr>"
    mtbf, mttr = float(line.mtbf_s), float(line.mttr_s)
    repairs = (
        f"{int(line.failures)} breakdowns of 5 minutes or more: a machine ran {_dur(mtbf)} between "
        f"breakdowns on average, and a repair took {_dur(mttr)}."
        if line.failures > 0
        else "No breakdown of 5 minutes or more."
    )
    return (
        "<section id='shifts'><h2>Shifts</h2><table><tr><th>Shift</th><th>OEE</th><th>Avail.</th>"
        f"<th>Perf.</th><th>Quality</th><th>Good</th><th>Per hour</th></tr>{rows}</table>"
        f"<p>{_e(repairs)}</p>"
        "<p class='note'>OEE = availability × performance × quality. Availability: running time / planned "
        "time. Performance: standard time of the pieces made / running time. Quality: good / all pieces. "
        "Planned time is shift time minus breaks; the line's figures add up all its stations.</p></section>"
    )


def _hourly_text(d: ReportData) -> str:
    f = d.figures
    if f.target_pph <= 0:
        return "<p class='note'>No hourly target is set for this line (analytics.lines target_pph).</p>"
    met = sum(1 for h in d.hours if h.target > 0 and h.known >= 0.5 and h.good >= h.target)
    due = sum(1 for h in d.hours if h.target > 0 and h.known >= 0.5)
    out = d.inputs.machines[d.inputs.setup.output]
    return (
        f"<p class='note'>Pieces leaving {_e(out)}, the last station. Target met in {met} of {due} hours "
        "with shift time and data; the target counts only shift time, not breaks.</p>"
    )


def _pareto_text(d: ReportData) -> str:
    p = d.figures.pareto
    rest = len(p.label) - PARETO_BARS
    more = (
        f"Plus {rest} smaller causes: {float(p.seconds[PARETO_BARS:].sum()) / 60:.0f} min. "
        if rest > 0
        else ""
    )
    return (
        f"<p class='note'>{more}Shift time only: breaks and time outside shifts are planned stops. "
        "Waiting for work or space means a neighbouring station was slower.</p>"
    )


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
        cap = 3600.0 / f.effective_cycle_s[b]
        text = (
            f"<p><b>{_e(d.inputs.machines[b])} is the bottleneck</b>: "
            f"{f.effective_cycle_s[b]:.0f} s per piece while it had work, "
            f"against a standard of {f.standard_cycle_s[b]:.0f} s. At that pace the line "
            f"makes at most {cap:.0f} pieces an hour. Balance: {_pct(f.balance_ratio)} "
            "(100% = every station equally loaded).</p>"
        )
    else:
        text = "<p>No station finished a piece: no balance to show.</p>"
    return _section("balance", "Station balance and the bottleneck", chart, text)


def _energy(d: ReportData) -> str:
    f = d.figures
    inp = d.inputs
    if not f.energy_coverage > 0:
        body = "<p>No power readings for this line in the range: no energy figures.</p>"
    else:
        idle = float(np.nansum(np.where(np.array(inp.power_source) != "none", f.machines.idle_kwh, 0.0)))
        how = []
        if f.kwh_metered > 0:
            metered = [m for m, s in zip(inp.machines, inp.power_source, strict=True) if s == METERED]
            how.append(f"{f.kwh_metered:.1f} kWh metered ({', '.join([*metered, *inp.meters])})")
        if f.kwh_estimated > 0:
            n = sum(1 for s in inp.power_source if s == ESTIMATED)
            how.append(f"{f.kwh_estimated:.1f} kWh estimated from the motor current of {n} machines")
        body = (
            f"<p><b>{_num(f.kwh_per_piece, 3)} kWh per piece</b> ({_num(f.kwh_per_good_piece, 3)} per good "
            f"piece); {f.kwh:.1f} kWh in all, {idle:.1f} kWh of it while machines were not sewing.</p>"
            f"<p class='note'>{_e('; '.join(how))}. Power readings present: {_pct(f.energy_coverage)}; "
            "missing ones are left out, so a lower share means more energy than shown.</p>"
        )
    return f"<section id='energy'><h2>Energy</h2>{body}</section>"


def _alerts(d: ReportData) -> str:
    if not d.alerts:
        return "<section id='alerts'><h2>Maintenance alerts</h2><p>No alerts in this range.</p></section>"
    rows = "".join(
        f"<tr><td>{a.time:%H:%M}</td><td>{_e(a.machine)}</td>"
        f"<td class='sev-{_e(a.severity)}'>{_e(a.severity)}</td>"
        f"<td>{_e(_message(a.machine, a.message))}</td></tr>"
        for a in d.alerts[:MAX_ALERTS]
    )
    more = d.alerts_total - min(MAX_ALERTS, len(d.alerts))
    extra = f"<p class='note'>and {more} earlier alerts (see the dashboard).</p>" if more > 0 else ""
    return (
        "<section id='alerts'><h2>Maintenance alerts</h2>"
        f"<table class='alerts'><tr><th>Time</th><th>Machine</th><th>Level</th><th>What to do</th></tr>{rows}"
        f"</table>{extra}</section>"
    )


def _notes(d: ReportData) -> str:
    f = d.figures
    cov = f.line.coverage
    silent = [d.inputs.machines[i] for i in np.flatnonzero(f.machines.coverage < 0.99)]
    data = (
        f"Machines reported {_pct(cov)} of the time"
        + (f" (missing data on {_machines(silent, d.inputs.n)})" if silent else "")
        + "; missing time is left out of planned time, never filled in."
    )
    span = ""
    if d.first_data and d.last_data:
        span = (
            f" The line's data in the database runs from {d.first_data:%Y-%m-%d %H:%M} "
            f"to {d.last_data:%Y-%m-%d %H:%M}."
        )
    return (
        "<footer id='notes' class='note'>"
        f"<p>{_e(data)}{_e(span)} Computed by Tonle from the machines' states, piece counters and power "
        "readings in InfluxDB, with the line's standard minutes (SAM) and target from the configuration.</p>"
        "</footer>"
    )


# ------------------------------------------------------------------------------ helpers


def _section(sid: str, title: str, chart: str, text: str) -> str:
    return (
        f"<section id='{sid}'><h2>{_e(title)}</h2>"
        f"<figure data-chart='{sid}' style='margin:0'>{chart}</figure>{text}</section>"
    )


def _machines(names: list[str], n: int) -> str:
    return "every machine" if len(names) == n else ", ".join(names)


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _pct(x: float) -> str:
    x = float(x)
    return f"{x:.0%}" if math.isfinite(x) else "–"


def _num(x: float, digits: int) -> str:
    x = float(x)
    return f"{x:,.{digits}f}" if math.isfinite(x) else "–"


def _level(x: float) -> str:
    x = float(x)
    if not math.isfinite(x):
        return ""
    return "good" if x >= 0.85 else "mid" if x >= 0.6 else "bad"


def _dur(s: float) -> str:
    if not math.isfinite(s):
        return "–"
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.0f} min"


def _message(machine: str, text: str, n: int = 120) -> str:
    """The alert's words without the machine name it starts with (the table shows it)."""
    text = text.removeprefix(f"{machine}: ")
    return text if len(text) <= n else text[: n - 1] + "…"
