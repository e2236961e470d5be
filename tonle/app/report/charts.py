"""The report's four charts, drawn with matplotlib into inline SVG.

SVG keeps the text as text (sharp when printed, searchable in the file) and needs no
image files beside the HTML. Figures are made with the object API (no pyplot, no
global state, no display), sized in millimetres for their place on the A4 page.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import matplotlib

matplotlib.use("Agg")  # never a window, also when a display happens to be set

import numpy as np
from matplotlib.figure import Figure

from tonle.app.report.data import HourRow

__all__ = ["LOSS_NAMES", "balance_chart", "hourly_chart", "pareto_chart", "plain_cause", "waterfall_chart"]

MM = 1 / 25.4
GREEN, RED, GREY, DARK, AMBER = "#2e7d32", "#c62828", "#9e9e9e", "#212121", "#ef6c00"
LOSS_NAMES = {
    "breakdown": "Breakdowns",
    "setup": "Setup / style change",
    "starved_blocked": "Waiting for work or space",
    "minor_stop": "Short stops (< 5 min)",
    "idle": "Idle, no reason given",
    "speed": "Slow running",
    "quality": "Rejects",
}
_STYLE = {
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 7,
    "axes.titlesize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
}


@contextmanager
def _figure(width_mm: float, height_mm: float, salt: str) -> Iterator[Figure]:
    with matplotlib.rc_context({**_STYLE, "svg.hashsalt": salt}):
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
        names = ["Planned time", *(LOSS_NAMES[k] for k in LOSS_NAMES), "Fully productive"]
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
            ax.text(b + w + top * 0.01, yi, f"{value:.1f} h ({share:.0%})", va="center", fontsize=6.5)
        ax.set_yticks(y, names)
        ax.invert_yaxis()
        ax.set_xlim(0, top * 1.3)
        ax.set_xlabel("machine-hours")
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
            ax.text(0.5, 0.5, "No downtime in shift time", ha="center", va="center", transform=ax.transAxes)
            ax.set_axis_off()
            return _svg(fig)
        y = np.arange(len(names), dtype=float)
        ax.barh(y + 0.18, minutes, color=RED, height=0.42)
        right = float(minutes.max()) * 1.25
        for yi, name, m, n in zip(y, names, minutes, counts, strict=True):
            ax.text(0, yi - 0.1, name, va="bottom", ha="left", fontsize=6.5)
            stops_text = f"{n:.0f} stop" + ("s" if n != 1 else "")
            ax.text(m + right * 0.01, yi + 0.18, f"{m:.0f} min, {stops_text}", va="center", fontsize=6.2)
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ax.set_ylim(len(names) - 0.4, -0.75)
        ax.set_xlim(0, right * 1.12)
        ax.set_xlabel("minutes of machine time")
        return _svg(fig)


def hourly_chart(hours: Sequence[HourRow], target_pph: float, width_mm: float, height_mm: float) -> str:
    """Pieces out of the line in each clock hour, with the target for the shift time in that hour."""
    with _figure(width_mm, height_mm, "hourly") as fig:
        ax = fig.subplots()
        x = np.arange(len(hours))
        known = np.array([h.known >= 0.5 for h in hours], dtype=bool)
        good = np.array([h.good for h in hours], dtype=float)
        target = np.array([h.target for h in hours], dtype=float)
        colours = np.array(
            [
                GREEN if t > 0 and g >= t else AMBER if t > 0 else GREY
                for g, t in zip(good, target, strict=True)
            ]
        )
        ax.bar(x[known], good[known], color=colours[known], width=0.7, label="pieces made")
        if target_pph > 0:
            ax.hlines(target, x - 0.42, x + 0.42, colors=DARK, linewidth=1.6, label="target")
        top = max([*good, *target, 1.0]) * 1.2
        small = 6.5 if len(hours) <= 12 else 5.0
        for xi, g, k in zip(x, good, known, strict=True):
            if k:
                ax.text(xi, g, f"{g:.0f}", ha="center", va="bottom", fontsize=small)
            else:  # a 0 bar would say "nothing made"; the truth is "not known"
                ax.text(
                    xi, top * 0.03, "no data", ha="center", va="bottom", rotation=90, fontsize=5.5, color=GREY
                )
        every = max(1, -(-len(hours) // 12))
        labels = [h.start.strftime("%H:%M" if len(hours) <= 12 else "%H") for h in hours]
        ax.set_xticks(x[::every], labels[::every])
        if len(hours) > 12:
            ax.set_xlabel("hour of the day")
        ax.set_ylim(0, top)
        ax.set_ylabel("pieces")
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
        ax.bar(x, eff, color=colours, width=0.7, label="actual")
        std = np.asarray(standard_s, dtype=float)
        ax.hlines(std, x - 0.42, x + 0.42, colors=DARK, linewidth=1.6, label="standard (SAM)")
        if bottleneck >= 0:
            ax.annotate(
                "bottleneck",
                (bottleneck, eff[bottleneck]),
                xytext=(0, 3),
                textcoords="offset points",
                ha="center",
                color=RED,
                fontsize=6.5,
                fontweight="bold",
            )
        ax.set_xticks(x, list(names))
        ax.set_ylim(0, max(float(np.nanmax([*eff, *std, 1.0])), 1.0) * 1.2)
        ax.set_ylabel("seconds per piece")
        ax.legend(loc="upper left", fontsize=6, frameon=False, ncols=2)
        return _svg(fig)


def plain_cause(label: str) -> str:
    """A Pareto label in plain words: the reason the machine gave, else its state.

    'thread_break: thread break (minor stop)' -> 'Thread break (short stop)';
    'starved: waiting for work from S10' -> 'Waiting for work from S10'; 'idle' -> 'Idle'.
    """
    minor = " (minor stop)"
    short = label.endswith(minor)
    state, _, reason = label.removesuffix(minor).partition(": ")
    text = reason or state.replace("_", " ")
    text = text[:1].upper() + text[1:]
    return (text if len(text) <= 60 else text[:58] + "…") + (" (short stop)" if short else "")
