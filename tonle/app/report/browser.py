"""Headless Chromium: print the report to a PDF, or take a picture of it.

Debian's `chromium` package is used as it is (`sudo apt-get install chromium`). Each run
gets its own throw-away profile folder, so two reports printed at once do not fight
over one profile lock. The sandbox is off: Chromium only opens the report file Tonle
just wrote, and its sandbox cannot start as root or in most containers.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from tonle.errors import BrowserError
from tonle.messages import N_

__all__ = ["BrowserError", "find_chromium", "print_pdf", "screenshot"]

TIMEOUT_S = 120.0
A4_PX = (794, 1123)  # 210 x 297 mm at the browser's 96 pixels per inch
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_chromium() -> str:
    for name in NAMES:
        path = shutil.which(name)
        if path:
            return path
    raise BrowserError(
        N_("a PDF needs Chromium, which is not installed"),
        fix=N_(
            "run `sudo apt-get install chromium` (or write the report as .html and print it from a browser)"
        ),
    )


def _run(html: Path, *args: str) -> None:
    exe = find_chromium()
    with tempfile.TemporaryDirectory(prefix="tonle-chromium-") as profile:
        cmd = [
            exe,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            f"--user-data-dir={profile}",
            *args,
            html.resolve().as_uri(),
        ]
        try:
            r = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired as exc:
            raise BrowserError(
                N_("Chromium did not finish within {timeout:.0f} s rendering {html}"),
                fix=N_("try again, or write the report as .html and print it from a browser"),
                timeout=TIMEOUT_S,
                html=html,
            ) from exc
    if r.returncode != 0:
        raise BrowserError(
            N_("Chromium failed ({code}) rendering {html}: {reason}"),
            fix=N_("write the report as .html and print it from a browser"),
            code=r.returncode,
            html=html,
            reason=r.stderr.strip()[-500:],
        )


def print_pdf(html: Path, pdf: Path) -> Path:
    """Print `html` to `pdf` (A4 from the page's own @page rule, no browser header or footer)."""
    pdf.unlink(missing_ok=True)
    _run(html, "--no-pdf-header-footer", f"--print-to-pdf={pdf.resolve()}")
    if not pdf.exists() or pdf.stat().st_size == 0:
        raise BrowserError(N_("Chromium wrote no PDF for {html}"), html=html)
    return pdf


def screenshot(html: Path, png: Path, size: tuple[int, int] = A4_PX) -> Path:
    """A PNG of `html` in a window of `size` pixels (A4 by default)."""
    png.unlink(missing_ok=True)
    _run(html, f"--screenshot={png.resolve()}", f"--window-size={size[0]},{size[1]}")
    if not png.exists() or png.stat().st_size == 0:
        raise BrowserError(N_("Chromium wrote no screenshot for {html}"), html=html)
    return png
