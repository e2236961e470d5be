"""The report's four charts, drawn with matplotlib into inline SVG.

SVG keeps the text as text (sharp when printed, searchable in the file) and needs no
image files beside the HTML. With `svg.fonttype = none` every label is an SVG `<text>`
that Chromium lays out and shapes with HarfBuzz, so Khmer (subscript consonants,
vowels written before their consonant) reads right whatever the installed matplotlib's
own text engine can do (a matplotlib built without libraqm cannot shape Khmer; the
3.11.2 wheel has it): matplotlib only measures the labels, for the layout. Figures are
made with the object API (no pyplot, no global state, no display), sized in millimetres
for their place on the A4 page.
"""

from __future__ import annotations

import functools
import io
import logging
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import matplotlib

matplotlib.use("Agg")  # never a window, also when a display happens to be set

import numpy as np
from matplotlib import font_manager
from matplotlib.figure import Figure

from tonle.app.report.data import HourRow
from tonle.app.report.words import LOSS_NAMES, loss_name, plain_cause
from tonle.formats import number, percent
from tonle.look import BAD, FIGURES, GOOD, LEVEL_COLOURS, NEUTRAL
from tonle.messages import _, ngettext

__all__ = [
    "FONTS",
    "LOSS_NAMES",
    "balance_chart",
    "hourly_chart",
    "pareto_chart",
    "plain_cause",
    "waterfall_chart",
]

# The Khmer faces have no bold: matplotlib logs each bold label it measures with the
# regular face. The measure is all it does with them (Chromium draws the text).
logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
MM = 1 / 25.4
# Good, bad and in-between are tonle.look's colours, the dashboards' and the page's.
GREEN, RED = LEVEL_COLOURS[GOOD], LEVEL_COLOURS[BAD]
GREY, DARK = "#9e9e9e", NEUTRAL
# Latin first (digits, machine names), then a Khmer face from Debian's fonts-khmeros;
# the page's CSS names the same faces, so charts and text match.
FONTS = ["DejaVu Sans", "Khmer OS Battambang", "Khmer OS", "Noto Sans Khmer"]
_STYLE = {
    "svg.fonttype": "none",
    "font.size": 7,
    "axes.titlesize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
}


@functools.cache
def _families() -> tuple[str, ...]:
    """The faces of FONTS this machine has (matplotlib warns on every label about a missing one).

    A Khmer face installed after matplotlib built its font cache is added to it first.
    """
    known = {f.name for f in font_manager.fontManager.ttflist}
    if not any(name in known for name in FONTS[1:]):
        for path in font_manager.findSystemFonts():
            if "khmer" in path.lower():
                font_manager.fontManager.addfont(path)
        known = {f.name for f in font_manager.fontManager.ttflist}
    return tuple(name for name in FONTS if name in known) or ("DejaVu Sans",)


@contextmanager
def _figure(width_mm: float, height_mm: float, salt: str) -> Iterator[Figure]:
    style = {**_STYLE, "font.family": list(_families()), "svg.hashsalt": salt}
    with matplotlib.rc_context(style), warnings.catch_warnings():
        # Chromium draws the text; a glyph matplotlib lacks only makes its measure rough.
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from font", category=UserWarning)
        yield Figure(figsize=(width_mm * MM, height_mm * MM), layout="constrained")


def _svg(fig: Figure) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    # Let the page size the chart: keep the viewBox, drop the fixed size in pt.
    return re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r'<svg\1 class="chart"', text, count=1)


def waterfall_chart(losses_s: dict[str, float], planned_s: float, width_mm: float, height_mm: float) -> str:
    """Planned machine time stepping down through each loss to the fully productive time."""
    with _figure(width_mm, height_mm, "waterfall") as fig:
        ax = fig.subplots()
        names = [_("Planned time"), *(loss_name(k) for k in LOSS_NAMES), _("Fully productive")]
        h = [planned_s / 3600.0] + [losses_s.get(k, 0.0) / 3600.0 for k in LOSS_NAMES]
        level = planned_s / 3600.0
        bottoms, heights, colours = [0.0], [level], [GREY]
        for loss in h[1:]:
            level -= loss
            bottoms.append(min(level, level + loss))
            heights.append(abs(loss))
            colours.append(RED if loss >= 0 else GREEN)
        fp = losses_s.get("fully_productive", 0.0) / 3600.0
        bottoms.append(0.0)
        heights.append(fp)
        colours.append(GREEN)
        y = np.arange(len(names))
        ax.barh(y, heights, left=bottoms, color=colours, height=0.65)
        top = max(planned_s / 3600.0, 1e-9)
        for yi, b, w, value in zip(y, bottoms, heights, [h[0], *h[1:], fp], strict=True):
            share = value / top
            label = _("{hours} h ({share})").format(hours=number(value, 1), share=percent(share))
            ax.text(b + w + top * 0.01, yi, label, va="center", fontsize=6.5)
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set_xlim(0, top * 1.3)
        ax.set_xlabel(_("machine-hours"))
        return _svg(fig)


def pareto_chart(
    labels: Sequence[str],
    seconds: np.ndarray,
    stops: np.ndarray,
    width_mm: float,
    height_mm: float,
    top: int = 8,
) -> str:
    """Downtime by cause, largest first: each cause written above its bar, so long reasons fit."""
    with _figure(width_mm, height_mm, "pareto") as fig:
        ax = fig.subplots()
        names = [plain_cause(x) for x in labels[:top]]
        minutes = np.asarray(seconds[:top], dtype=float) / 60.0
        counts = np.asarray(stops[:top], dtype=float)
        if not names:
            ax.text(
                0.5, 0.5, _("No downtime in shift time"), ha="center", va="center", transform=ax.transAxes
            )
            ax.set_axis_off()
            return _svg(fig)
        y = np.arange(len(names), dtype=float)
        ax.barh(y + 0.18, minutes, color=RED, height=0.42)
        right = float(minutes.max()) * 1.25
        for yi, name, m, n in zip(y, names, minutes, counts, strict=True):
            ax.text(0, yi - 0.1, name, va="bottom", ha="left", fontsize=6.5)
            stops_text = ngettext("{n} stop", "{n} stops", int(n)).format(n=number(n))
            label = _("{minutes} min, {stops}").format(minutes=number(m), stops=stops_text)
            ax.text(m + right * 0.01, yi + 0.18, label, va="center", fontsize=6.2)
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ax.set_ylim(len(names) - 0.4, -0.75)
        ax.set_xlim(0, right * 1.12)
        ax.set_xlabel(_("minutes of machine time"))
        return _svg(fig)


def hourly_chart(hours: Sequence[HourRow], target_pph: float, width_mm: float, height_mm: float) -> str:
    """Pieces out of the line in each clock hour, with the target for the shift time in that hour."""
    with _figure(width_mm, height_mm, "hourly") as fig:
        ax = fig.subplots()
        x = np.arange(len(hours))
        known = np.array([h.known >= 0.5 for h in hours], dtype=bool)
        good = np.array([h.good for h in hours], dtype=float)
        target = np.array([h.target for h in hours], dtype=float)
        # Made against target, coloured by tonle.look's bands (the dashboards' own).
        colours = np.array(
            [
                (FIGURES["attainment"].colour(g / t) or GREY) if t > 0 else GREY
                for g, t in zip(good, target, strict=True)
            ]
        )
        ax.bar(x[known], good[known], color=colours[known], width=0.7, label=_("pieces made"))
        if target_pph > 0:
            ax.hlines(target, x - 0.42, x + 0.42, colors=DARK, linewidth=1.6, label=_("target"))
        top = max([*good, *target, 1.0]) * 1.2
        small = 6.5 if len(hours) <= 12 else 5.0
        for xi, g, k in zip(x, good, known, strict=True):
            if k:
                ax.text(xi, g, number(g), ha="center", va="bottom", fontsize=small)
            else:  # a 0 bar would say "nothing made"; the truth is "not known"
                ax.text(
                    xi,
                    top * 0.03,
                    _("no data"),
                    ha="center",
                    va="bottom",
                    rotation=90,
                    fontsize=5.5,
                    color=GREY,
                )
        every = max(1, -(-len(hours) // 12))
        labels = [h.start.strftime("%H:%M" if len(hours) <= 12 else "%H") for h in hours]
        ax.set_xticks(x[::every], labels[::every])
        if len(hours) > 12:
            ax.set_xlabel(_("hour of the day"))
        ax.set_ylim(0, top)
        ax.set_ylabel(_("pieces"))
        ax.legend(loc="upper left", fontsize=6, frameon=False, ncols=2)
        return _svg(fig)


def balance_chart(
    names: Sequence[str],
    effective_s: np.ndarray,
    standard_s: np.ndarray,
    bottleneck: int,
    width_mm: float,
    height_mm: float,
) -> str:
    """Seconds per piece at each station while it had work and room, its standard, the bottleneck in red."""
    with _figure(width_mm, height_mm, "balance") as fig:
        ax = fig.subplots()
        x = np.arange(len(names))
        eff = np.nan_to_num(np.asarray(effective_s, dtype=float))
        colours = [RED if i == bottleneck else GREY for i in range(len(names))]
        ax.bar(x, eff, color=colours, width=0.7, label=_("actual"))
        std = np.asarray(standard_s, dtype=float)
        ax.hlines(std, x - 0.42, x + 0.42, colors=DARK, linewidth=1.6, label=_("standard (SAM)"))
        if bottleneck >= 0:
            ax.annotate(
                _("bottleneck"),
                (bottleneck, eff[bottleneck]),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                color=RED,
                fontsize=6.5,
                fontweight="bold",
            )
        ax.set_xticks(x, list(names))
        # Head room for the legend and the "bottleneck" mark above the tallest bar (longer in Khmer).
        ax.set_ylim(0, max(float(np.nanmax([*eff, *std, 1.0])), 1.0) * 1.4)
        ax.set_ylabel(_("seconds per piece"))
        ax.legend(loc="upper left", fontsize=6, frameon=False, ncols=2)
        return _svg(fig)
