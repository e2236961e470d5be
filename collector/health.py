"""The collector's own health: its counters, per-interval rates and batch times as `pipeline` rows."""

from __future__ import annotations

import time

import numpy as np

from collector.stats import CollectorStats
from tonle.contract import encode_block
from tonle.io.spool import Spool
from tonle.schema import PIPELINE

__all__ = ["HealthMeter"]


class HealthMeter:
    """Turns the cumulative `stats` into health fields; rates and percentiles cover one interval."""

    def __init__(self, stats: CollectorStats) -> None:
        self.stats = stats
        self._last: tuple[float, int, int] | None = None  # (monotonic time, messages, points)

    def fields(
        self, *, queue_depth: int, unacked: int, writes_in_flight: int, db_up: bool, spool: Spool | None
    ) -> dict[str, float]:
        """This instance's health; every value a float (the agents share the measurement)."""
        s = self.stats
        now = time.monotonic()
        msg_rate = pts_rate = 0.0
        if self._last is not None:
            t, m, p = self._last
            if now > t:
                msg_rate, pts_rate = (s.messages - m) / (now - t), (s.points - p) / (now - t)
        ms = np.array(s.batch_ms) if s.batch_ms else np.zeros(1)
        return {
            "messages": float(s.messages),
            "points": float(s.points),
            "messages_per_s": msg_rate,
            "points_per_s": pts_rate,
            "dead_letters": float(s.dead_letters),
            "rejected_points": float(s.rejected_points),
            "names_refused": float(s.names_refused),
            "batches": float(s.batches),
            "write_errors": float(s.write_errors),
            "batch_ms": s.last_batch_ms,
            "batch_ms_p50": float(np.percentile(ms, 50)),
            "batch_ms_p99": float(np.percentile(ms, 99)),
            "queue_depth": float(queue_depth),
            "unacked": float(unacked),
            "writes_in_flight": float(writes_in_flight),
            "db_up": 1.0 if db_up else 0.0,
            "spool_depth": float(spool.depth if spool else 0),
            "spool_mb": (spool.size_bytes if spool else 0) / 2**20,
            "spooled_points": float(s.spooled_points),
            "replayed_points": float(s.replayed_points),
        }

    def next_interval(self) -> None:
        """Start the next interval: reading the figures (a test, the demo) never changes them."""
        s = self.stats
        self._last = (time.monotonic(), s.messages, s.points)
        s.batch_ms.clear()

    @staticmethod
    def lines(instance: str, fields: dict[str, float], ts_ns: int) -> bytes:
        return encode_block(
            PIPELINE.name,
            {"component": "collector", "instance": instance},
            np.array([ts_ns], dtype=np.int64),
            {k: np.array([v]) for k, v in fields.items()},
        )
