"""Reading a page image back with tesseract, and the tolerance the OCR checks allow.

A term counts as read when, after removing white space, it is found in the OCR text
with at most one edit per 8 code points (at least one): enough for tesseract's usual
slips (a subscript ដ read as the identical-looking ត, a colon ៖ read as ":", a dropped
vowel sign) and far from a chance match.
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
    """Page 1 of `pdf` rasterised by pdftoppm, read with the Khmer and English models.

    300 dpi, as a scanned page: at 200 the vowel signs above a synthetic-bold heading
    (the Khmer OS faces have no bold) run together and tesseract drops them.
    """
    png = pdf.with_name(pdf.stem + "-ocr")
    page = ["-f", "1", "-l", "1", "-singlefile"]
    subprocess.run(["pdftoppm", "-png", "-r", str(dpi), *page, str(pdf), str(png)], check=True, timeout=120)
    return ocr_png(png.with_suffix(".png"))


def _plain(text: str) -> str:
    return re.sub(r"[\s\u200b\u200c\u200d]+", "", unicodedata.normalize("NFC", text))


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
    text = _plain(ocr)
    return [t for t in terms if _edits_to_nearest(_plain(t), text) > max(1, len(_plain(t)) // 8)]
