"""Reading a page image back with tesseract, and the tolerance the OCR checks allow.

Only the Khmer is compared: the term and the OCR text are both reduced to their Khmer
code points (U+1780-U+17FF; spaces, Latin letters, digits and punctuation dropped, as
those are what the checks are not about and where tesseract mixes its two models).
A term counts as read when it is found in that text with at most one edit per 5 code
points (at least one): enough for tesseract's usual slips (a subscript ដ read as the
identical-looking ត, a vowel sign above a bold word dropped) and far from a chance
match: the English page, and Khmer drawn without shaping, read as nothing
(`test_report_km`, `test_khmer_shaping`).
"""

from __future__ import annotations

import os
import re
import subprocess
import unicodedata
from pathlib import Path

__all__ = ["ocr_pdf", "ocr_png", "unread"]


def ocr_png(png: Path, languages: str = "khm+eng") -> str:
    env = {**os.environ, "OMP_THREAD_LIMIT": "1"}  # one core: other tests run beside it
    r = subprocess.run(["tesseract", str(png), "stdout", "-l", languages],
                       capture_output=True, text=True, check=True, timeout=300, env=env)  # fmt: skip
    return r.stdout


def ocr_pdf(pdf: Path, dpi: int = 300) -> str:
    """Page 1 of `pdf` rasterised by pdftoppm and read with the Khmer and English models.

    300 dpi, as a scanned page. The page is read whole and then column by column (its
    left and right halves), as a person scans it: read whole, tesseract sometimes joins
    a heading of one column to a chart label level with it in the other into one line,
    and the heading's vowel signs are lost in the merged line's size.
    """
    a4_px = round(210 / 25.4 * dpi), round(297 / 25.4 * dpi)
    half = a4_px[0] // 2
    texts = []
    for name, crop in (("page", []), ("left", [0, half]), ("right", [half, a4_px[0] - half])):
        png = pdf.with_name(f"{pdf.stem}-ocr-{name}")
        box = ["-x", str(crop[0]), "-y", "0", "-W", str(crop[1]), "-H", str(a4_px[1])] if crop else []
        page = ["-f", "1", "-l", "1", "-singlefile", *box]
        subprocess.run(
            ["pdftoppm", "-png", "-r", str(dpi), *page, str(pdf), str(png)], check=True, timeout=120
        )
        texts.append(ocr_png(png.with_suffix(".png")))
    return "\n".join(texts)


def _khmer(text: str) -> str:
    return "".join(re.findall("[\u1780-\u17ff]+", unicodedata.normalize("NFC", text)))


def _edits_to_nearest(term: str, text: str) -> int:
    """The fewest edits that turn `term` into some substring of `text` (Sellers' algorithm)."""
    prev = [0] * (len(text) + 1)
    for i, c in enumerate(term, 1):
        cur = [i] + [0] * len(text)
        for j, t in enumerate(text, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (c != t))
        prev = cur
    return min(prev)


def unread(terms: list[str], ocr: str) -> list[str]:
    """The terms the OCR text does not hold, within the tolerance of the module docstring."""
    text = _khmer(ocr)
    return [t for t in terms if _edits_to_nearest(_khmer(t), text) > max(1, len(_khmer(t)) // 5)]
