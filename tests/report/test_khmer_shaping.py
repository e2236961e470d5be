"""The charts' Khmer text is shaped, and the OCR check would see it if it were not.

The report leaves chart text to Chromium (`svg.fonttype = none`: each label an SVG
`<text>` that Chromium shapes with HarfBuzz), so the page does not depend on the text
engine of the installed matplotlib (one built without libraqm cannot shape Khmer; the
3.11.2 wheel lays text out with libraqm). Here the same labels are photographed by headless Chromium
twice: as the report draws them, and as a text engine without shaping would, each code
point placed after the one before it in memory order (a pre-base vowel after its
consonant, a subscript as a sign of its own). Tesseract reads the first and not the
second, so the report's OCR test does tell shaped Khmer from unshaped.
"""

from __future__ import annotations

import html
import io
import shutil
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from tests.report.ocr import ocr_png, unread
from tonle.app.report.browser import screenshot
from tonle.app.report.charts import _families

# Planned time / setup, style change / bottleneck: េ and ោ are drawn before their
# consonant, ្រ ្ដ ្ទ are subscripts.
LABELS = ["ពេលគ្រោងទុក", "ការរៀបចំ / ប្ដូរម៉ូដ", "ចំណុចកកស្ទះ"]
SIZE_PX = 34


def _as_the_report_draws_them() -> str:
    with matplotlib.rc_context({"svg.fonttype": "none", "font.family": list(_families())}):
        fig = Figure(figsize=(7, 2.4))
        for i, label in enumerate(LABELS):
            fig.text(0.03, 0.75 - 0.3 * i, label, fontsize=26)
        buf = io.StringIO()
        fig.savefig(buf, format="svg")
    svg = buf.getvalue()
    return svg[svg.index("<svg") :]


def _unshaped() -> str:
    """Each code point on its own, one after another: what a text engine without shaping draws."""
    face = ", ".join(repr(f) for f in _families())
    cells = [
        f"<text x='{20 + j * SIZE_PX * 0.55:.0f}' y='{60 + i * 70}' font-size='{SIZE_PX}' "
        f'font-family="{face}">{html.escape(ch)}</text>'
        for i, label in enumerate(LABELS)
        for j, ch in enumerate(label)
    ]
    return f"<svg xmlns='http://www.w3.org/2000/svg' width='720' height='240'>{''.join(cells)}</svg>"


def _photo(tmp_path: Path, name: str, svg: str) -> Path:
    page = tmp_path / f"{name}.html"
    page.write_text(f'<!DOCTYPE html><html lang="km"><body style="margin:0">{svg}</body></html>', "utf-8")
    return screenshot(page, page.with_suffix(".png"), size=(720, 260))


def test_chromium_shapes_the_chart_text_and_ocr_tells_shaped_khmer_from_unshaped(tmp_path: Path) -> None:
    assert shutil.which("tesseract"), "make system-deps installs tesseract-ocr and tesseract-ocr-khm"
    assert any("Khmer" in f for f in _families()), "make system-deps installs fonts-khmeros"
    shaped = ocr_png(_photo(tmp_path, "shaped", _as_the_report_draws_them()), "khm")
    unshaped = ocr_png(_photo(tmp_path, "unshaped", _unshaped()), "khm")
    assert unread(LABELS, shaped) == []
    assert unread(LABELS, unshaped) == LABELS
