"""The shift report: one printable A4 page per line and time range, for the supervisor.

`tonle report --line L1 --from 2026-11-23T06:00 --to 2026-11-23T14:00 --out report.html`
reads InfluxDB (`data`), draws the charts (`charts`), lays out the page (`page`) and,
for a `.pdf`, prints it with headless Chromium (`browser`).
"""

from __future__ import annotations

import asyncio
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
    html: Path
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
) -> Report:
    """Write the report of `line` from `start` to `end` (local ISO times) to `out` (.html or .pdf).

    `language` ("en", "km") words this report in it; None: the process's language
    (`tonle --lang`, the config's `[plant] language`, or LANG).
    """
    with using_language(language):
        return _make(cfg, line, start, end, out, site, area)


def _make(
    cfg: TonleConfig, line: str, start: str, end: str, out: Path, site: str | None, area: str | None
) -> Report:
    t0 = time.perf_counter()
    if out.suffix.lower() not in (".html", ".htm", ".pdf"):
        raise ReportError(N_("--out {out} must end in .html or .pdf"), fix=N_("change its name"), out=out)
    tz = cfg.analytics.shifts.tz
    start_ns, end_ns = parse_local_time(start, tz), parse_local_time(end, tz, end=True)
    data = asyncio.run(_read(cfg, line, start_ns, end_ns, site, area))
    html = out if out.suffix.lower() != ".pdf" else out.with_suffix(".html")
    out.parent.mkdir(parents=True, exist_ok=True)
    html.write_text(render_page(data), encoding="utf-8")
    if out.suffix.lower() == ".pdf":
        print_pdf(html, out)
    return Report(out, html, data, time.perf_counter() - t0)
