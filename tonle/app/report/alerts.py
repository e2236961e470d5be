"""The report's maintenance alerts: each machine's latest advice, whole, its repeats under it.

The alert texts are the analytics' stored sentences (`analytics.alert_words`), shown as
stored: never cut, wrapped over as many lines as they need. To keep the page one A4 sheet,
an alert a machine raised again is one row (the latest advice, and the times of the
earlier ones), and at most MAX_ALERTS rows are shown; the rest are counted under the table.
"""

from __future__ import annotations

from tonle.app.report.data import Alert, ReportData
from tonle.app.report.markup import e as _e
from tonle.app.report.markup import h as _h
from tonle.app.report.words import severity
from tonle.formats import clock, number
from tonle.messages import _, ngettext

__all__ = ["MAX_ALERTS", "alerts_section", "shown_alerts"]

MAX_ALERTS = 3  # rows: what fits the A4 sheet with every advice whole, in English and Khmer


def shown_alerts(alerts: list[Alert]) -> list[tuple[Alert, list[Alert]]]:
    """The alerts the table shows: the latest of each (machine, code), with its earlier repeats.

    `alerts` come latest first. A machine that raised the same alert several times needs
    one row, with its latest advice whole; the earlier times are listed under it. At most
    MAX_ALERTS rows, so the advice is never cut and the page stays one A4 sheet.
    """
    groups: dict[tuple[str, str], tuple[Alert, list[Alert]]] = {}
    for a in alerts:
        key = (a.machine, a.code or a.message)
        if key in groups:
            groups[key][1].append(a)
        else:
            groups[key] = (a, [])
    return list(groups.values())[:MAX_ALERTS]


def alerts_section(d: ReportData) -> str:
    heading, none = _("Maintenance alerts"), _("No alerts in this range.")
    head = f"<section id='alerts'><h2>{_e(heading)}</h2>"
    if not d.alerts:
        return f"{head}<p>{_e(none)}</p></section>"
    shown = shown_alerts(d.alerts)
    rows = "".join(
        f"<tr><td>{clock(a.time)}</td><td>{_e(a.machine)}</td>"
        f"<td class='sev-{_e(a.severity)}'>{_e(severity(a.severity))}</td>"
        f"<td>{_e(_message(a.machine, a.message))}{_repeats(repeats)}</td></tr>"
        for a, repeats in shown
    )
    more = d.alerts_total - sum(1 + len(r) for _a, r in shown)
    extra = ngettext(
        "and {n} earlier alert (see the dashboard).", "and {n} earlier alerts (see the dashboard).", more
    )
    extra = f"<p class='note'>{_e(extra.format(n=number(more)))}</p>" if more > 0 else ""
    heads = "".join(f"<th>{_e(h)}</th>" for h in (_("Time"), _("Machine"), _("Level"), _("What to do")))
    return f"{head}<table class='alerts'><tr>{heads}</tr>{rows}</table>{extra}</section>"


def _repeats(earlier: list[Alert]) -> str:
    """When the machine raised the same alert before: the times, or how many and since when."""
    if not earlier:
        return ""
    if len(earlier) <= 3:
        text = _h(_("the same alert also at {times}"), times=", ".join(clock(a.time) for a in earlier))
    else:
        text = _h(
            ngettext(
                "the same alert {n} more time since {first}",
                "the same alert {n} more times since {first}",
                len(earlier),
            ),
            n=number(len(earlier)),
            first=clock(earlier[-1].time),
        )
    return f"<br><span class='note'>{text}</span>"


def _message(machine: str, text: str) -> str:
    """The alert's words without the machine name it starts with (the table shows it), never cut."""
    return text.removeprefix(f"{machine}: ").removeprefix(f"{machine}\u17d6 ")
