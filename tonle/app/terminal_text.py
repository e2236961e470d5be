"""Text laid out by the columns a terminal gives it, for the live view's table and status lines.

A terminal advances its cursor by each character's width as the C library's `wcwidth`
counts it: 0 for marks that sit on the letter before (Unicode Mn, Me) and format
characters (Cf), 2 for wide East Asian characters, 1 for the rest. Khmer's spacing vowel
signs (Unicode Mc: ា ើ េ ះ ...) are 1 there, but rich (14 and later) counts them as 0,
so a rich Table with Khmer in it draws its column lines one cell off for every such vowel,
and a status line that rich thinks fits wraps on the screen and leaves a copy of the
live view's first line behind at every refresh. The live view therefore draws its own
table and folds its own lines with `display_width`, and hands rich finished lines.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence

from rich.text import Text

__all__ = ["Cell", "clip", "display_width", "fit", "fold", "grid", "pad"]

Cell = tuple[str, str]
"""A table cell: its text and its rich style ("" for none)."""

_ZERO = frozenset(("Mn", "Me", "Cf"))


def display_width(text: str) -> int:
    """The terminal columns `text` takes, as the C library's wcwidth counts them."""
    width = 0
    for ch in text:
        if unicodedata.category(ch) in _ZERO or "\u1160" <= ch <= "\u11ff":
            continue
        width += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return width


def pad(text: str, width: int) -> str:
    """`text` with spaces after it up to `width` columns."""
    return text + " " * max(0, width - display_width(text))


def fold(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` columns, broken at spaces (a longer word on its own)."""
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if line and display_width(candidate) > width:
            lines.append(line)
            line = word
        else:
            line = candidate
    lines.append(line)
    return lines


def clip(text: str, width: int) -> str:
    """`text` cut to `width` terminal columns, with "…" when something was cut."""
    if display_width(text) <= width:
        return text
    out = ""
    for ch in text:
        if display_width(out + ch) > width - 1:
            break
        out += ch
    return out + "…"


def fit(widths: list[int], max_width: int, floor: int = 4) -> list[int]:
    """Column widths narrowed, widest first, until the table is at most `max_width` columns wide.

    A terminal narrower than the table would cut every row at its right edge (the andon and
    drift columns first); narrowing the widest text (operation names, states) keeps every
    column on screen. No column goes below `floor`, so a very narrow terminal still cuts.
    """
    widths = list(widths)
    while sum(w + 3 for w in widths) + 1 > max_width:
        i = max(range(len(widths)), key=lambda k: widths[k])
        if widths[i] <= floor:
            break
        widths[i] -= 1
    return widths


def grid(
    title: str, headers: Sequence[str], rows: Sequence[Sequence[Cell]], max_width: int = 10_000
) -> list[Text]:
    """A table drawn as rich draws one (heavy head, light body), its columns measured by the terminal
    and narrowed to `max_width` (the terminal's width) by clipping the widest texts."""
    widths = [display_width(h) for h in headers]
    for row in rows:
        widths = [max(w, display_width(text)) for w, (text, _style) in zip(widths, row, strict=True)]
    widths = fit(widths, max_width)
    headers = [clip(h, w) for h, w in zip(headers, widths, strict=True)]
    rows = [[(clip(t, w), st) for (t, st), w in zip(row, widths, strict=True)] for row in rows]

    def rule(left: str, mid: str, right: str, fill: str) -> Text:
        return Text(left + mid.join(fill * (w + 2) for w in widths) + right)

    def line(cells: Sequence[Cell], bar: str) -> Text:
        out = Text(bar)
        for (text, style), w in zip(cells, widths, strict=True):
            out.append(" ")
            out.append(text, style=style or None)
            out.append(" " * (w - display_width(text) + 1) + bar)
        return out

    total = sum(w + 3 for w in widths) + 1
    lines = [Text(" " * max(0, (total - display_width(title)) // 2) + title, style="italic")]
    lines.append(rule("┏", "┳", "┓", "━"))
    lines.append(line([(h, "bold") for h in headers], "┃"))
    lines.append(rule("┡", "╇", "┩", "━"))
    lines += [line(row, "│") for row in rows]
    lines.append(rule("└", "┴", "┘", "─"))
    for text in lines:
        text.no_wrap = True
        text.overflow = "ignore"
    return lines
