"""The shift report in Khmer: every word through the catalogue, and the printed page read back by OCR.

Khmer needs complex shaping (subscript consonants under the base, vowels drawn before
the consonant they follow in memory). Chromium shapes the page's text and the charts'
SVG `<text>` with HarfBuzz; tesseract (`khm`) reading the words back from the PDF's
page image is the proof that they came out as a reader sees them. The OCR tolerance
is in `tests.report.ocr`.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from firmware_sim.qc_station import DEFECT_MIX
from tests.report.conftest import ReportDB
from tests.report.ocr import ocr_pdf, unread
from tests.report.test_report import FROM, TO
from tonle.app.report import Report, make_report
from tonle.app.report.browser import A4_PX, find_chromium
from tonle.formats import long_date, number, percent
from tonle.messages import _, using_language

pytestmark = pytest.mark.services

HEADINGS = (
    "Shift report · line {line}",
    "OEE: where the planned time went",
    "Hour by hour",
    "Station balance and the bottleneck",
    "Downtime: what stopped the machines",
    "Maintenance alerts",
    "Energy",  # short words: also in the findings, but a heading must be read too
)
KPI_LABELS = ("Availability", "Performance", "Quality", "Output", "Efficiency")
# Chart labels, drawn as SVG text: pre-base vowels (េ, ោ, the េ of ៀ), a subscript (្ដ).
CHART_LABELS = ("Fully productive", "machine-hours", "Setup / style change", "Slow running")
# English words a Khmer page may still show: units, names of things, the plant's data.
NOT_WORDS = {"OEE", "SAM", "DHU", "kWh", "Tonle", "InfluxDB", "Asia/Phnom_Penh", "report_sim", "sewing"}
# Defect types are the plant's own names ([plant] defect_types), data like machine names.
NOT_WORDS |= {word for name in DEFECT_MIX for word in name.split()}


@pytest.fixture(scope="module")
def km_report(report_db: ReportDB, tmp_path_factory: pytest.TempPathFactory) -> Report:
    out = tmp_path_factory.mktemp("report-km") / "report-km.pdf"
    return make_report(report_db.cfg, "L1", FROM, TO, out, language="km", html=out.with_suffix(".html"))


def _khmer(*messages: str, **data: str) -> list[str]:
    with using_language("km"):
        return [_(m).format(**data) for m in messages]


def test_ocr_reads_the_khmer_headings_kpi_labels_and_chart_labels_back_from_the_pdf(
    km_report: Report, report_db: ReportDB
) -> None:
    assert shutil.which("tesseract") and shutil.which("pdftoppm"), "make system-deps installs them"
    headings = _khmer(*HEADINGS, line="L1")
    labels = _khmer(*KPI_LABELS)
    charts = _khmer(*CHART_LABELS)
    with using_language("km"):
        date = long_date(km_report.data.start)  # 'សុក្រ 29 ឧសភា 2026': Khmer names, Arabic digits
    ocr = ocr_pdf(km_report.path)
    keep = Path(tempfile.gettempdir()) / "tonle-shift-report-km"
    shutil.copyfile(km_report.path, keep.with_suffix(".pdf"))  # for a person to look at
    keep.with_suffix(".txt").write_text(ocr, encoding="utf-8")  # and to compare with what OCR read
    assert unread(headings, ocr) == []
    assert unread(labels, ocr) == []
    assert unread(charts, ocr) == []
    assert unread([date], ocr) == []


def test_the_same_ocr_check_fails_on_the_english_report(report_db: ReportDB, tmp_path: Path) -> None:
    """The check can fail: on the English page not one Khmer heading or label is read."""
    english = make_report(report_db.cfg, "L1", FROM, TO, tmp_path / "report-en.pdf", language="en")
    terms = _khmer(*HEADINGS, *KPI_LABELS, *CHART_LABELS, line="L1")
    ocr = ocr_pdf(english.path)
    assert "Station balance and the bottleneck" in " ".join(ocr.split())  # the OCR itself works
    assert unread(terms, ocr) == terms


class _Text(HTMLParser):
    """The page's visible text and the charts' SVG text, apart."""

    def __init__(self) -> None:
        super().__init__()
        self.page: list[str] = []
        self.charts: list[str] = []
        self.fonts: set[str] = set()
        self._in: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in.append(tag)
        style = dict(attrs).get("style") or ""
        if tag == "text" and (m := re.search(r"font-family:\s*([^;]+)", style)):
            self.fonts.add(m[1])

    def handle_endtag(self, tag: str) -> None:
        while self._in and self._in.pop() != tag:
            pass

    def handle_data(self, data: str) -> None:
        if "style" in self._in or "metadata" in self._in or not data.strip():
            return
        (self.charts if "text" in self._in else self.page).append(data)


def _english_words(texts: list[str]) -> set[str]:
    return {w for t in texts for w in re.findall(r"[A-Za-z][A-Za-z_./]{2,}", t)} - NOT_WORDS


def test_every_word_of_the_khmer_page_and_its_charts_comes_from_the_catalogue(km_report: Report) -> None:
    html = km_report.html.read_text(encoding="utf-8")
    assert '<html lang="km">' in html
    text = _Text()
    # The alerts' "what to do" is the analytics service's stored sentence, shown as it was stored.
    text.feed(re.sub(r"<table class='alerts'>.*?</table>", "", html, flags=re.S))
    assert _english_words(text.page) == set()
    assert _english_words(text.charts) == set()
    assert text.charts and all(re.search("[\u1780-\u17ff]", t) or not re.search("[A-Za-z]{3}", t)
                               for t in text.charts)  # fmt: skip
    # Chromium draws the chart text with a Khmer face (matplotlib only measured it).
    assert text.fonts and all("Khmer OS" in f for f in text.fonts), text.fonts


def test_the_khmer_page_shows_the_same_figures_in_arabic_digits(km_report: Report) -> None:
    f = km_report.data.figures
    page = " ".join(_page_text(km_report))
    with using_language("km"):
        oee, good, kwh = percent(f.line.oee), number(f.output_good), number(f.kwh_per_piece, 3)
    assert f"{float(f.line.oee):.0%}" == oee and oee in page
    assert f"{kwh} kWh ក្នុងមួយដុំ" in page
    assert f"{good} ដុំល្អ" in page
    assert not re.search("[\u17e0-\u17e9]", page)  # no Khmer digits (docs/glossary.md)


def test_the_khmer_report_fits_one_a4_page(km_report: Report) -> None:
    """Khmer is taller and longer than English: measured in the browser, nothing is cut off."""
    pdf = km_report.path.read_bytes()
    assert len(re.findall(rb"/Type\s*/Page(?!s)", pdf)) == 1
    probe = km_report.html.with_name("probe-km.html")
    script = (
        "<script>addEventListener('load',()=>{const p=document.querySelector('.page');"
        "document.body.dataset.overflow=[p.scrollHeight-p.clientHeight,p.scrollWidth-p.clientWidth].join(',');"
        "})</script></body>"
    )
    probe.write_text(km_report.html.read_text(encoding="utf-8").replace("</body>", script), encoding="utf-8")
    dom = subprocess.run(
        [find_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
         f"--window-size={A4_PX[0]},{A4_PX[1]}", f"--user-data-dir={probe.parent / 'profile-km'}",
         "--dump-dom", probe.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    (overflow,) = re.findall(r'data-overflow="([^"]*)"', dom)
    assert overflow == "0,0", f"the Khmer report overflows its A4 page by {overflow} px (height, width)"


def _page_text(report: Report) -> list[str]:
    text = _Text()
    text.feed(report.html.read_text(encoding="utf-8"))
    return [" ".join(" ".join(text.page).split())]
