"""The report's quality section: DHU at the end-of-line check and the defects found most.

DHU (defects per hundred units) is garment QC's figure: the defects the QC table recorded in
the range (`defects`, from a tablet, a button box or `tonle defect add`) per hundred pieces the
line made in it, good and defective (the same output the tiles show). Read from the stored
defects and computed with the analytics' own rule (`analytics.dhu`), as every other figure of
the report is.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from analytics.dhu import defects_by_type, dhu, top_types
from analytics.inputs import LineKey
from tonle.app.report.markup import e, h
from tonle.formats import number
from tonle.io.influxql import InfluxQLClient
from tonle.messages import _, ngettext

__all__ = ["TOP_TYPES", "Quality", "quality_section", "read_quality"]

TOP_TYPES = 3


@dataclass(frozen=True, slots=True)
class Quality:
    """Defects found in the range by type, and the pieces checked (the line's output)."""

    checked: float
    by_type: dict[str, int]

    @property
    def defects(self) -> int:
        return sum(self.by_type.values())

    @property
    def dhu(self) -> float:
        return dhu(self.defects, self.checked)


async def read_quality(
    q: InfluxQLClient, key: LineKey, start_ns: int, end_ns: int, checked: float
) -> Quality:
    return Quality(float(checked), await defects_by_type(q, key, start_ns, end_ns - 1))


def quality_section(quality: Quality | None) -> str:
    """The section's HTML: DHU with what it is made of, then the top defect types."""
    title = _("Quality at the end-of-line check:")
    if quality is None or not quality.by_type:
        text = _("No defect was recorded in this time. QC records them on a tablet, a button box or "
                 "with `tonle defect add`.")  # fmt: skip
        return f"<section id='quality'><p><b>{e(title)}</b> <span class='note'>{e(text)}</span></p></section>"
    value = quality.dhu
    shown = number(value, 1) if math.isfinite(value) else "–"
    head = h(
        ngettext(
            "DHU {dhu} (defects per 100 pieces): {defects} defect in {checked} pieces made.",
            "DHU {dhu} (defects per 100 pieces): {defects} defects in {checked} pieces made.",
            quality.defects,
        ),
        dhu=shown,
        defects=number(quality.defects),
        checked=number(quality.checked),
    )
    top = ", ".join(
        _("{type} {count}").format(type=t, count=number(c)) for t, c in top_types(quality.by_type, TOP_TYPES)
    )
    most = h(_("Found most: {types}."), types=top)
    # One paragraph, no heading: the page is one A4 sheet and this is its newest section.
    body = f"<b>{e(title)}</b> <span data-figure='dhu'>{head}</span> {most}"
    return f"<section id='quality'><p class='note'>{body}</p></section>"
