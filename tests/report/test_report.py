"""The shift report, made from an InfluxDB filled by the simulated line and opened in headless Chromium."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import matplotlib.image
import numpy as np
import pytest
import tomli_w

from tests.report.conftest import ReportDB
from tonle.app.report import SECTIONS, ReportError, make_report, parse_local_time
from tonle.app.report.browser import A4_PX, find_chromium, print_pdf, screenshot
from tonle.app.report.page import MAX_ALERTS, shown_alerts
from tonle.io.influxql import InfluxQLClient

pytestmark = pytest.mark.services

TZ = "Asia/Phnom_Penh"
FROM, TO = "2026-05-29T03:30", "2026-05-29T05:25"  # the run: 03:26:40 to 05:26:40 local
CHARTS = {"waterfall", "balance", "pareto"}  # the hours are a table: the floor's whiteboard
NS = 1_000_000_000


class _Page(HTMLParser):
    """Section ids, chart figures and their SVGs, and the visible text of a report."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.charts: dict[str, int] = {}
        self.text: list[str] = []
        self._figure: str | None = None
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(str(a["id"]))
        if tag == "figure":
            self._figure = a.get("data-chart")
        if tag == "svg" and self._figure:
            self.charts[self._figure] = self.charts.get(self._figure, 0) + 1
        if tag in ("style", "svg"):
            self._skip += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._figure = None
        if tag in ("style", "svg"):
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.text.append(data)


def _parse(html: str) -> _Page:
    page = _Page()
    page.feed(html)
    return page


@pytest.fixture(scope="module")
def report(report_db: ReportDB, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("report") / "report.html"
    return make_report(report_db.cfg, "L1", FROM, TO, out)


def test_the_report_has_every_section_and_chart(report):
    page = _parse(report.html.read_text())
    assert set(SECTIONS) <= page.ids, f"missing sections: {set(SECTIONS) - page.ids}"
    assert page.charts == dict.fromkeys(CHARTS, 1)
    text = " ".join(" ".join(page.text).split())
    # Plain words, local times, figures that exist (no NaN leaking into the page).
    assert "Friday 29 May 2026, 03:30 to 05:25" in text
    assert "Asia/Phnom_Penh time" in text
    assert "is the bottleneck" in text
    assert "kWh per piece" in text
    assert re.search(r"\bnan\b", text, re.IGNORECASE) is None
    # Every hour of the range has a bar: 03:30-04:00, 04:00-05:00, 05:00-05:25.
    assert [h.start.strftime("%H:%M") for h in report.data.hours] == ["03:30", "04:00", "05:00"]


def test_the_hour_by_hour_board_shows_every_hour_and_marks_the_partial_ones(report):
    b = report.data.board
    zone = ZoneInfo(TZ)
    hours = [dt.datetime.fromtimestamp(int(t) / NS, zone).strftime("%H:%M") for t in b.hour_ns]
    assert hours == ["03:00", "04:00", "05:00"]  # stamped with the clock hour's start, as in line_hour
    # 03:00 began before the range, 05:00 ends after it: shown and marked partial, not hidden.
    assert b.partial.tolist() == [True, False, True]
    assert b.period == ("shift", "shift", "shift")  # the plant's night shift C
    np.testing.assert_allclose(b.actual_pcs, [h.good for h in report.data.hours])
    np.testing.assert_allclose(b.cum_actual_pcs, np.cumsum(b.actual_pcs))
    assert b.actual_pcs.sum() > 0
    text = " ".join(" ".join(_parse(report.html.read_text()).text).split())
    assert "Hour by hour" in text and "partial" in text and "no data" not in text


def test_the_report_shows_the_runs_maintenance_alerts(report, report_db: ReportDB):
    d = report.data
    assert report_db.alerts > 0 and d.alerts_total > 0
    assert all(d.start <= a.time < d.end for a in d.alerts)
    assert {a.machine for a in d.alerts} == {"S07"}  # the wearing station, and no other
    assert any("bearing" in a.message for a in d.alerts)


def test_the_break_is_planned_time_not_a_loss(report):
    d = report.data
    # The 04:00-04:20 break is no target time: the 04:00 hour's target is 40 minutes' worth.
    target = {h.start.strftime("%H:%M"): h.target for h in d.hours}
    pph = d.figures.target_pph
    assert target["04:00"] == pytest.approx(pph * 40 / 60)
    assert target["03:30"] == pytest.approx(pph * 30 / 60)
    # Stations stopped during the break were on a planned stop, which is not planned production time.
    f = d.figures.line
    assert float(f.seconds[..., 1]) > 0  # planned_stop seconds
    assert sum(float(v) for v in f.losses_s().values()) == pytest.approx(float(f.planned_s))


def test_the_report_agrees_with_the_services_shift_rows(report_db: ReportDB, tmp_path: Path):
    async def last_row() -> dict:
        async with InfluxQLClient(report_db.url, report_db.database) as q:
            (s,) = await q.query("SELECT * FROM shift_kpi WHERE shift = 'C' ORDER BY time DESC LIMIT 1")
            return dict(zip(s.columns, s.values[0], strict=True))

    row = asyncio.run(last_row())
    zone = ZoneInfo(TZ)

    def local(ns: int) -> str:
        return dt.datetime.fromtimestamp(ns / NS, zone).strftime("%Y-%m-%dT%H:%M:%S")

    rep = make_report(
        report_db.cfg, "L1", local(row["period_start"]), local(row["time"]), tmp_path / "c.html"
    )
    f = rep.data.figures
    assert row["period"] == "2026-05-28 C"  # a night shift belongs to the day it starts
    assert float(f.line.oee) == pytest.approx(row["oee"])
    assert float(f.line.planned_s) == pytest.approx(row["planned_s"])
    assert float(f.line.run_s) == pytest.approx(row["run_s"])
    assert f.output_good == row["good"]
    assert f.kwh == pytest.approx(row["kwh"])
    assert report_db.cfg.analytics.lines["L1"].target_pph == pytest.approx(row["target_pph"])
    assert rep.data.inputs.machines[f.bottleneck] == row["bottleneck"]


def test_the_report_fits_one_a4_page_in_chromium(report):
    shot = screenshot(report.html, report.html.with_suffix(".png"))
    keep = Path(tempfile.gettempdir()) / "tonle-shift-report.png"
    shutil.copyfile(shot, keep)  # for a person to look at: see the closing note
    img = matplotlib.image.imread(str(shot))
    assert img.shape[:2] == (A4_PX[1], A4_PX[0])
    ink = (img[..., :3] < 0.8).any(axis=-1)
    assert ink.mean() > 0.05, "the screenshot is (nearly) blank"
    assert ink[-120:].any(), "nothing in the bottom of the page: the footer is missing"
    # The page box is A4 with hidden overflow: measure in the browser that nothing is cut off.
    probe = report.html.with_name("probe.html")
    script = (
        "<script>addEventListener('load',()=>{const p=document.querySelector('.page');"
        "document.body.dataset.overflow=[p.scrollHeight-p.clientHeight,p.scrollWidth-p.clientWidth].join(',');"
        "})</script></body>"
    )
    probe.write_text(report.html.read_text().replace("</body>", script))
    dom = subprocess.run(
        [find_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
         f"--window-size={A4_PX[0]},{A4_PX[1]}", f"--user-data-dir={probe.parent / 'profile'}",
         "--dump-dom", probe.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    (overflow,) = re.findall(r'data-overflow="([^"]*)"', dom)
    assert overflow == "0,0", f"the report overflows its A4 page by {overflow} px (height, width)"


def test_the_pdf_is_one_a4_page(report_db: ReportDB, tmp_path: Path):
    rep = make_report(report_db.cfg, "L1", FROM, TO, tmp_path / "report.pdf", html=tmp_path / "page.html")
    pdf = rep.path.read_bytes()
    assert pdf.startswith(b"%PDF")
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == 1
    (box,) = {
        tuple(float(x) for x in m) for m in re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    }
    assert box == pytest.approx((595.3, 841.9), abs=2)  # A4 in points
    assert rep.html is not None and rep.html.exists()  # the HTML it was printed from, where asked


def test_a_pdf_leaves_an_html_file_beside_it_untouched(report_db: ReportDB, tmp_path: Path):
    mine = tmp_path / "shift.html"
    mine.write_text("my own notes", encoding="utf-8")
    rep = make_report(report_db.cfg, "L1", FROM, TO, tmp_path / "shift.pdf")
    assert rep.path.read_bytes().startswith(b"%PDF") and rep.html is None
    assert mine.read_text(encoding="utf-8") == "my own notes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shift.html", "shift.pdf"]
    with pytest.raises(ReportError, match=r"--html .* must end in .html.*--html NAME.html"):
        make_report(report_db.cfg, "L1", FROM, TO, tmp_path / "x.pdf", html=tmp_path / "x.txt")


def test_the_alerts_what_to_do_is_never_cut_in_the_pdf(report_db: ReportDB, tmp_path: Path):
    rep = make_report(report_db.cfg, "L1", FROM, TO, tmp_path / "report.pdf")
    text = " ".join(
        subprocess.run(
            ["pdftotext", str(rep.path), "-"], capture_output=True, text=True, check=True
        ).stdout.split()
    )
    assert "…" not in text
    shown = [a for a, _earlier in shown_alerts(rep.data.alerts)]
    assert shown
    for a in shown:  # each advice, whole, wrapped over as many lines as it needs
        advice = " ".join(a.message.removeprefix(f"{a.machine}: ").split())
        assert advice in text, advice


def test_printing_an_html_file_makes_a_pdf(report, tmp_path: Path):
    pdf = print_pdf(report.html, tmp_path / "again.pdf")
    assert pdf.read_bytes().startswith(b"%PDF")


def test_an_alert_raised_again_is_one_row_with_the_times_of_its_repeats(report):
    alerts = report.data.alerts
    shown = shown_alerts(alerts)
    keys = [(a.machine, a.code) for a, _earlier in shown]
    assert len(keys) == len(set(keys)) and all(a.code for a, _e in shown)  # one row per machine and alert
    assert len(shown) == min(MAX_ALERTS, len({(a.machine, a.code) for a in alerts}))
    for a, earlier in shown:  # the row shows the latest; its repeats are the same alert, earlier
        assert all(b.time <= a.time and (b.machine, b.code) == (a.machine, a.code) for b in earlier)
    html = report.html.read_text()
    if any(earlier for _a, earlier in shown):
        assert "the same alert " in html


def test_no_data_in_the_range_is_an_error_naming_the_data_span(report_db: ReportDB, tmp_path: Path):
    with pytest.raises(ReportError) as err:
        make_report(report_db.cfg, "L1", "2026-05-30T06:00", "2026-05-30T14:00", tmp_path / "r.html")
    text = str(err.value)
    assert "no data between 2026-05-30 06:00 and 2026-05-30 14:00" in text
    assert "reported from 2026-05-29 03:26 to 2026-05-29 05:26" in text
    assert "--from and --to" in text
    assert not (tmp_path / "r.html").exists()


def test_an_unknown_line_is_an_error_naming_the_lines_there(report_db: ReportDB, tmp_path: Path):
    with pytest.raises(ReportError, match=r"lines there \(site/area/line.*\): report_sim/sewing/L1.*--line"):
        make_report(report_db.cfg, "L9", FROM, TO, tmp_path / "r.html")


def test_a_range_before_any_data_names_the_lines_there_and_their_dates(report_db: ReportDB, tmp_path: Path):
    with pytest.raises(ReportError) as err:
        make_report(report_db.cfg, "L1", "2026-05-01", "2026-05-02", tmp_path / "r.html")
    text = str(err.value)
    assert "lines there: none" not in text and "none" not in text.split("lines there")[1]
    assert "report_sim/sewing/L1 (2026-05-29 03:26 to 2026-05-29 05:26)" in text


def test_local_times_are_read_in_the_plants_time_zone():
    ns = parse_local_time("2026-11-23T06:00", TZ)
    assert ns == int(dt.datetime(2026, 11, 22, 23, 0, tzinfo=dt.UTC).timestamp()) * NS
    assert parse_local_time("2026-11-23", TZ) == parse_local_time("2026-11-23T00:00", TZ)
    assert parse_local_time("2026-11-23", TZ, end=True) == parse_local_time("2026-11-24T00:00", TZ)
    assert parse_local_time("2026-11-23T06:00+00:00", TZ) == ns + 7 * 3600 * NS
    with pytest.raises(ReportError, match="2026-11-23T06:00"):
        parse_local_time("23/11/2026 6am", TZ)


def test_the_tonle_report_command_writes_the_report_or_says_what_to_fix(report_db: ReportDB, tmp_path: Path):
    config = tmp_path / "tonle.toml"
    a = report_db.cfg.analytics
    config.write_text(
        tomli_w.dumps(
            {
                "influxdb": {"url": report_db.url, "database": report_db.database},
                "analytics": {
                    "lines": {
                        "L1": {"target_pph": a.lines["L1"].target_pph, "sam_min": dict(a.lines["L1"].sam_min)}
                    },
                    "shifts": {
                        "tz": a.shifts.tz,
                        "workdays": list(a.shifts.workdays),
                        "shifts": [
                            {"name": s.name, "start": s.start, "end": s.end, "breaks": list(s.breaks)}
                            for s in a.shifts.shifts
                        ],
                    },
                },
            }
        )
    )
    tonle = [sys.executable, "-m", "tonle.app.cli", "report", "--config", str(config), "--line", "L1"]
    out = tmp_path / "shift.html"
    ok = subprocess.run(
        [*tonle, "--from", FROM, "--to", TO, "--out", str(out)], capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.startswith(f"wrote {out} (line L1: OEE ")
    assert "<section id='waterfall'>" in out.read_text()
    bad = subprocess.run(
        [*tonle, "--from", "2026-06-01", "--to", "2026-06-01", "--out", str(tmp_path / "x.html")],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stderr.startswith("tonle report: line L1 (report_sim/sewing) has no data between")
    assert "Traceback" not in bad.stderr


def test_the_page_keeps_its_numbers_in_step_with_the_figures(report):
    """The tiles show the line's figures as computed, rounded for reading."""
    f = report.data.figures
    text = " ".join(" ".join(_parse(report.html.read_text()).text).split())
    assert f"OEE {float(f.line.oee):.0%}" in text
    assert f"{f.output_good:,.0f} good pieces" in text
    assert f"{f.kwh_per_piece:.3f} kWh per piece" in text
    assert np.isfinite(f.kwh_per_piece) and f.energy_coverage > 0.95
