"""Data completeness per machine, reckoned from the sequence numbers in the database.

Every sample, state change, count and event carries its stream's sequence
number. Counting gaps inside one collector is only right while it is alone: with
a shared subscription each collector sees part of every stream, and its holes
are the other collector's messages. The database holds the union, so the
reckoning is done there, per fixed window, and written back as `completeness`
points keyed by window start. Every collector instance computes the same figures
and writes the same points, which overwrite each other: scaling out needs no
leader and no coordination.

A window that received data is charged with the sequence numbers missing since
the stream's previous window with data. A machine that was switched off sends
nothing and loses nothing, so silent windows are not charged. Late data (an edge
gateway replaying a backlog) is counted when a later reckoning sees it, as long
as it arrives within the horizon.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from tonle.contract import encode_block
from tonle.influxql import InfluxQLClient, quote_ident

__all__ = ["SEQ_MEASUREMENTS", "Reckoner", "StreamWindows", "missing_per_window", "total_missing"]

log = logging.getLogger("tonle.collector.completeness")

# Stored measurement -> payload kind, for every kind whose messages carry `seq`.
SEQ_MEASUREMENTS = {"telemetry": "telemetry", "state": "state", "production": "count", "events": "event"}
ADDRESS_TAGS = ("site", "area", "line", "machine")


def missing_per_window(
    count: np.ndarray, seq_min: np.ndarray, seq_max: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Expected and missing sequence numbers per window of one stream (windows in time order).

    A window expects every number after the previous window's highest one, up
    to its own highest. If its lowest number is not above the previous highest,
    the sender started counting again (a new gateway, a wiped spool) and the
    window only expects its own span. Replays are stored once (same series,
    same timestamp), so `count` never exceeds what was expected; missing is
    clipped at zero for the odd reset that overlaps.
    """
    count = np.asarray(count, dtype=np.int64)
    lo = np.asarray(seq_min, dtype=np.int64)
    hi = np.asarray(seq_max, dtype=np.int64)
    prev_hi = np.concatenate(([lo[0] - 1], hi[:-1])) if hi.size else hi
    expected = np.where(lo > prev_hi, hi - prev_hi, hi - lo + 1)
    return expected, np.clip(expected - count, 0, None)


@dataclass(frozen=True, slots=True)
class StreamWindows:
    """One stream's reckoning: window starts (ns) and the figures for each."""

    tags: dict[str, str]
    kind: str
    start_ns: np.ndarray
    received: np.ndarray
    expected: np.ndarray
    missing: np.ndarray


class Reckoner:
    """Queries windows of stored sequence numbers and writes `completeness` points.

    Only points whose figures changed since the last pass are written again.
    """

    def __init__(self, q: InfluxQLClient, window_s: int) -> None:
        self.q = q
        self.window_s = window_s
        self._written: dict[tuple[object, ...], tuple[int, int]] = {}

    async def reckon(self, start_ns: int, end_ns: int) -> list[StreamWindows]:
        """Completeness of every stream in whole windows between start and end (ns)."""
        w = self.window_s * 1_000_000_000
        start_ns, end_ns = start_ns // w * w, end_ns // w * w
        out: list[StreamWindows] = []
        if end_ns <= start_ns:
            return out
        group = ", ".join(quote_ident(t) for t in ADDRESS_TAGS)
        for measurement, kind in SEQ_MEASUREMENTS.items():
            query = (
                f'SELECT count("seq"), min("seq"), max("seq") FROM {quote_ident(measurement)} '
                f"WHERE time >= {start_ns} AND time < {end_ns} "
                f"GROUP BY time({self.window_s}s), {group} fill(none)"
            )
            for series in await self.q.query(query):
                times = series.column("time")
                if not times:
                    continue
                received = np.array(series.column("count"), dtype=np.int64)
                expected, missing = missing_per_window(
                    received,
                    np.array(series.column("min"), dtype=np.int64),
                    np.array(series.column("max"), dtype=np.int64),
                )
                out.append(
                    StreamWindows(
                        {k: v for k, v in series.tags.items() if v},
                        kind,
                        np.array(times, dtype=np.int64),
                        received,
                        expected,
                        missing,
                    )
                )
        return out

    def changed_lines(self, streams: list[StreamWindows]) -> bytes:
        """Line protocol for the windows whose figures differ from what was last written."""
        chunks: list[bytes] = []
        for s in streams:
            key = (s.kind, *sorted(s.tags.items()))
            keep = np.array(
                [
                    self._written.get((*key, int(t))) != (int(e), int(r))
                    for t, e, r in zip(s.start_ns, s.expected, s.received, strict=True)
                ],
                dtype=bool,
            )
            if not keep.any():
                continue
            expected, received = s.expected[keep], s.received[keep]
            chunks.append(
                encode_block(
                    "completeness",
                    {**s.tags, "kind": s.kind},
                    s.start_ns[keep],
                    {
                        "expected": expected.astype(np.float64),
                        "received": received.astype(np.float64),
                        "missing": s.missing[keep].astype(np.float64),
                        "ratio": np.where(expected > 0, received / np.maximum(expected, 1), 1.0),
                    },
                )
            )
            for t, e, r in zip(s.start_ns[keep], expected, received, strict=True):
                self._written[(*key, int(t))] = (int(e), int(r))
        return b"".join(chunks)

    def forget_before(self, start_ns: int) -> None:
        """Drop the memory of windows that left the horizon (bounded memory)."""
        self._written = {k: v for k, v in self._written.items() if int(k[-1]) >= start_ns}  # type: ignore[call-overload]


async def total_missing(q: InfluxQLClient, window_s: int, start_ns: int, end_ns: int) -> int:
    """Sequence numbers missing across all streams in the time range (for summaries)."""
    w = window_s * 1_000_000_000
    streams = await Reckoner(q, window_s).reckon(start_ns, end_ns + w - 1)  # include the last partial window
    return int(sum(int(s.missing.sum()) for s in streams))
