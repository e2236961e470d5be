"""Data completeness per machine, reckoned from the sequence numbers in the database.

Every sample, state change, count and event carries its stream's sequence
number. Counting gaps inside one collector is only right while it is alone: with
a shared subscription each collector sees part of every stream, and its holes
are the other collector's messages. The database holds the union, so the
reckoning is done there: over the horizon (the last 24 h by default) each
stream should hold every number from its lowest to its highest, and the
shortfall is what was lost between the machine and the database. Every
collector instance computes the same figures and writes them at the same
rounded timestamp, so scaling out needs no leader and no coordination.

Why one figure per horizon and not per time window: numbers follow the order a
gateway sent things, not sample time. A gateway that replays a backlog, or sends
a machine's samples and its vibration bursts in one flush, hands out numbers
that jump back and forth in time, so a time window can hold numbers from far
apart and per-window counting reports losses that are not there (tried, and
measured on the demo: hundreds of false losses per machine). Over a whole
horizon only its two edges can cut a flush in two, which costs at most a few
numbers for a few minutes.

Known limits: a sender that starts counting again inside the horizon (a new
gateway, a wiped spool) shows a false loss until the old numbers leave the
horizon; a machine that was switched off loses nothing (it sends no numbers);
late data is counted when a later pass sees it, as long as it is in the horizon.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from tonle.contract import encode_block
from tonle.io.influxql import InfluxQLClient, quote_ident, quote_str
from tonle.schema import ADDRESS_TAGS, COMPLETENESS, STORED_AS

__all__ = ["SEQ_MEASUREMENTS", "Reckoner", "StreamFigures", "missing_in_range", "total_missing"]

log = logging.getLogger("tonle.collector.completeness")

# Stored measurement -> payload kind, for every kind whose messages carry `seq`.
SEQ_MEASUREMENTS = {m.name: kind for kind, m in STORED_AS.items() if m.sequenced}


def missing_in_range(
    count: np.ndarray, seq_min: np.ndarray, seq_max: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Expected and missing numbers per stream, from its count and its lowest and highest number.

    Replays are stored once (same series, same timestamp), so count never
    exceeds the span; missing is clipped at zero anyway.
    """
    count = np.asarray(count, dtype=np.int64)
    expected = np.asarray(seq_max, dtype=np.int64) - np.asarray(seq_min, dtype=np.int64) + 1
    missing = np.clip(expected - count, 0, None)
    return np.maximum(expected, count), missing


@dataclass(frozen=True, slots=True)
class StreamFigures:
    """Completeness of the streams of one kind over one time range."""

    kind: str
    tags: list[dict[str, str]]
    received: np.ndarray
    expected: np.ndarray
    missing: np.ndarray


class Reckoner:
    """Queries the stored sequence numbers of every stream and writes `completeness` points."""

    def __init__(self, q: InfluxQLClient, site: str | None = None) -> None:
        self.q = q
        self._site = f" AND {quote_ident('site')} = {quote_str(site)}" if site else ""

    async def reckon(self, start_ns: int, end_ns: int) -> list[StreamFigures]:
        out: list[StreamFigures] = []
        group = ", ".join(quote_ident(t) for t in ADDRESS_TAGS)
        for measurement, kind in SEQ_MEASUREMENTS.items():
            query = (
                f'SELECT count("seq"), min("seq"), max("seq") FROM {quote_ident(measurement)} '
                f"WHERE time >= {start_ns} AND time < {end_ns}{self._site} GROUP BY {group}"
            )
            series = [s for s in await self.q.query(query) if s.values]
            if not series:
                continue
            cols = np.array([s.values[0][1:4] for s in series], dtype=np.int64)
            expected, missing = missing_in_range(cols[:, 0], cols[:, 1], cols[:, 2])
            tags = [{k: v for k, v in s.tags.items() if v} for s in series]
            out.append(StreamFigures(kind, tags, cols[:, 0], expected, missing))
        return out

    @staticmethod
    def lines(figures: list[StreamFigures], ts_ns: int) -> bytes:
        """`completeness` points at `ts_ns`, one per stream (the same from every collector)."""
        chunks: list[bytes] = []
        ts = np.array([ts_ns], dtype=np.int64)
        for f in figures:
            for i, tags in enumerate(f.tags):
                e, r = float(f.expected[i]), float(f.received[i])
                fields = {"expected": e, "received": r, "missing": float(f.missing[i]), "ratio": r / e}
                chunks.append(
                    encode_block(
                        COMPLETENESS.name,
                        {**tags, "kind": f.kind},
                        ts,
                        {k: np.array([v]) for k, v in fields.items()},
                    )
                )
        return b"".join(chunks)


async def total_missing(q: InfluxQLClient, start_ns: int, end_ns: int, site: str | None = None) -> int:
    """Sequence numbers missing across all streams in the time range (for summaries)."""
    figures = await Reckoner(q, site).reckon(start_ns, end_ns)
    return int(sum(int(f.missing.sum()) for f in figures))
