"""The shift report: one printable A4 page per line and time range, for the supervisor.

`tonle report --line L1 --from 2026-11-23T06:00 --to 2026-11-23T14:00 --out report.html`
reads InfluxDB (`data`), draws the charts (`charts`), lays out the page (`page`) and,
for a `.pdf`, prints it with headless Chromium (`browser`).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from tonle.app.report.browser import BrowserError, print_pdf
from tonle.app.report.data import ReportData, ReportError, gather, parse_local_time
from tonle.app.report.page import SECTIONS, render_page
from tonle.config import TonleConfig
from tonle.io.connect import influxql_client
from tonle.messages import N_, using_language

__all__ = [
    "SECTIONS",
    "BrowserError",
    "Report",
    "ReportError",
    "make_report",
    "parse_local_time",
]


@dataclass(frozen=True, slots=True)
class Report:
    """What was written, and the headline figures for the command line."""

    path: Path
    html: Path | None  # the HTML page, when one was kept (.html, or --html beside a .pdf)
    data: ReportData
    seconds: float


async def _read(
    cfg: TonleConfig, line: str, start_ns: int, end_ns: int, site: str | None, area: str | None
) -> ReportData:
    async with influxql_client(cfg) as q:
        return await gather(cfg, q, line, start_ns, end_ns, site=site, area=area)


def make_report(
    cfg: TonleConfig,
    line: str,
    start: str,
    end: str,
    out: Path,
    *,
    site: str | None = None,
    area: str | None = None,
    language: str | None = None,
    html: Path | None = None,
) -> Report:
    """Write the report of `line` from `start` to `end` (local ISO times) to `out` (.html or .pdf).

    `language` ("en", "km") words this report in it; None: the process's language
    (`tonle --lang`, the config's `[plant] language`, or LANG). A PDF is printed from an
    HTML page in a folder of its own, so no file beside `out` is touched; `html` keeps
    that page where it is asked for.
    """
    with using_language(language):
        return _make(cfg, line, start, end, out, site, area, html)


def _make(
    cfg: TonleConfig,
    line: str,
    start: str,
    end: str,
    out: Path,
    site: str | None,
    area: str | None,
    keep_html: Path | None,
) -> Report:
    t0 = time.perf_counter()
    pdf = out.suffix.lower() == ".pdf"
    if out.suffix.lower() not in (".html", ".htm", ".pdf"):
        raise ReportError(N_("--out {out} must end in .html or .pdf"), fix=N_("change its name"), out=out)
    if keep_html is not None and (not pdf or keep_html.suffix.lower() not in (".html", ".htm")):
        raise ReportError(
            N_("--html {html} goes with a .pdf --out and must end in .html"),
            fix=N_("write the PDF with --out NAME.pdf and its page with --html NAME.html"),
            html=keep_html,
        )
    tz = cfg.analytics.shifts.tz
    start_ns, end_ns = parse_local_time(start, tz), parse_local_time(end, tz, end=True)
    data = asyncio.run(_read(cfg, line, start_ns, end_ns, site, area))
    out.parent.mkdir(parents=True, exist_ok=True)
    if not pdf:
        out.write_text(render_page(data), encoding="utf-8")
        return Report(out, out, data, time.perf_counter() - t0)
    with tempfile.TemporaryDirectory(prefix="tonle-report-") as folder:
        page = keep_html or Path(folder) / "report.html"
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_text(render_page(data), encoding="utf-8")
        print_pdf(page, out)
    return Report(out, keep_html, data, time.perf_counter() - t0)
