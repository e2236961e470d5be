"""Defects per hundred units (DHU) and the top defect types, per line and shift.

Garment QC's figure: DHU = defects found / units checked x 100. A unit may hold several
defects, so DHU can pass 100 (it is not a percentage of bad pieces). The units checked are
the line's output over the shift so far, good and defective alike (`shift_kpi.total`, the
pieces that reached the end of the line, where the check is); the defects are the `defects`
rows the QC station's tablet, button box or `tonle defect add` sent in the same period.

`quality` gets one row per line and shift each time `shift_kpi` is updated, at the same
timestamp as the `shift_kpi` row it divides by, so the two always describe the same pieces.
A period with no piece checked has no DHU (no row), never a DHU of 0.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from analytics.inputs import LineKey
from tonle.contract.lineproto import encode_block
from tonle.io.influxql import InfluxQLClient
from tonle.io.writers import Writer
from tonle.schema import DEFECTS, QUALITY, SHIFT_KPI

__all__ = ["PeriodQuality", "QualityWriter", "dhu", "period_quality", "top_types"]

NS = 1_000_000_000
LOOKBACK_S = 24 * 3600  # as far back as the shift figures go (analytics.shift_kpi)


def dhu(defects: float, checked: float) -> float:
    """Defects per hundred units checked; NaN when nothing was checked."""
    return 100.0 * defects / checked if checked > 0 else float("nan")


def top_types(counts: Mapping[str, float], n: int = 3) -> list[tuple[str, int]]:
    """The `n` most frequent defect types, most first; ties by name, so the order is stable."""
    ranked = sorted(((t, int(c)) for t, c in counts.items() if c > 0), key=lambda tc: (-tc[1], tc[0]))
    return ranked[:n]


@dataclass(frozen=True, slots=True)
class PeriodQuality:
    """One line's quality over one shift period."""

    shift: str
    period: str
    period_start: int
    end_ns: int
    checked: int
    by_type: dict[str, int]

    @property
    def defects(self) -> int:
        return sum(self.by_type.values())

    @property
    def dhu(self) -> float:
        return dhu(self.defects, self.checked)


def period_quality(
    shift: str, period: str, start_ns: int, end_ns: int, checked: int, by_type: Mapping[str, float]
) -> PeriodQuality:
    counts = {t: int(c) for t, c in by_type.items()}
    return PeriodQuality(shift, period, start_ns, end_ns, int(checked), counts)


async def defects_by_type(q: InfluxQLClient, key: LineKey, start_ns: int, end_ns: int) -> dict[str, int]:
    """Defects per type recorded on the line in [start_ns, end_ns]."""
    rows = await q.query(
        f'SELECT sum("count") FROM {DEFECTS.name} WHERE {key.where()} '
        f"AND time >= {start_ns} AND time <= {end_ns} GROUP BY defect_type"
    )
    return {s.tags["defect_type"]: int(s.values[0][1] or 0) for s in rows if s.values}


async def shift_periods(q: InfluxQLClient, key: LineKey, now_ns: int) -> list[tuple[str, str, int, int, int]]:
    """(shift, period, period_start, ts, total) of the latest `shift_kpi` row of each recent period."""
    rows = await q.query(
        f"SELECT total, period_start, period FROM {SHIFT_KPI.name} WHERE {key.where()} "
        f"AND time >= {now_ns - LOOKBACK_S * NS} AND time <= {now_ns} GROUP BY shift"
    )
    latest: dict[tuple[str, str], tuple[str, str, int, int, int]] = {}
    for s in rows:
        for ts, total, start, period in s.values:
            if total is not None and start is not None:
                latest[(s.tags["shift"], period)] = (s.tags["shift"], period, int(start), int(ts), int(total))
    return sorted(latest.values(), key=lambda r: r[3])


async def line_quality(q: InfluxQLClient, key: LineKey, now_ns: int) -> list[PeriodQuality]:
    """Each recent shift period of the line with its units checked and defects by type."""
    out = []
    for shift, period, start, ts, total in await shift_periods(q, key, now_ns):
        out.append(period_quality(shift, period, start, ts, total, await defects_by_type(q, key, start, ts)))
    return out


def quality_rows(key: LineKey, periods: Iterable[PeriodQuality]) -> bytes:
    """`quality` rows: one per period with units checked (no row when none were)."""
    chunks = []
    for p in periods:
        if p.checked <= 0:
            continue
        tags = {"site": key.site, "area": key.area, "line": key.line, "shift": p.shift}
        top = top_types(p.by_type, 1)
        chunks.append(
            encode_block(
                QUALITY.name,
                tags,
                np.array([p.end_ns], dtype=np.int64),
                {"dhu": np.array([p.dhu])},
                {k: np.array([v]) for k, v in (("defects", p.defects), ("checked", p.checked))}
                | {"period_start": np.array([p.period_start])},
                {"period": [p.period], "top_type": [top[0][0] if top else ""]},
            )
        )
    return b"".join(chunks)


class QualityWriter:
    """Writes `quality` beside each `shift_kpi` update (call it right after the shift writer)."""

    def __init__(self, query: InfluxQLClient, writer: Writer) -> None:
        self.query = query
        self.writer = writer

    async def update(self, lines: Iterable[LineKey], now_ns: int) -> None:
        for key in lines:
            rows = quality_rows(key, await line_quality(self.query, key, now_ns))
            if rows:
                await self.writer.write(rows)
