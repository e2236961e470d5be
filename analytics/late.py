"""Late data: when a figure computed from the stored rows may still change.

Gateways keep what they could not send in their spool and send it later, oldest first,
so rows of the recent past can arrive minutes or hours after their time. A figure
computed before its data arrived must not stay. The rule (docs/kpi.md, "Late data"):

- every row is written at once (the wall shows the figure so far) and its time is
  remembered while it is unsettled;
- a row for time T is settled once the line's newest stored reading is at or after
  T (everything up to T has arrived: the backlog is sent in order), or once T is
  `grace_s` in the past (then what is missing is missing, shown as lower coverage);
- an unsettled row is computed again and written again with the same series and
  timestamp, which InfluxDB stores as an overwrite, as soon as it settles.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

__all__ = ["Pending", "settled"]

NS = 1_000_000_000


def settled(last_data_ns: int | None, row_ns: int, now_ns: int, grace_s: float) -> bool:
    """Whether the figure for time `row_ns` can no longer change (see the module's rule)."""
    if last_data_ns is not None and last_data_ns >= row_ns:
        return True
    return now_ns - row_ns >= grace_s * NS


@dataclass
class Pending:
    """Times of one line's rows written before their data was all there, oldest first."""

    times: deque[int] = field(default_factory=deque)
    limit: int = 2_000  # at one row per round, hours of outage; the oldest are given up first

    def add(self, row_ns: int) -> None:
        self.times.append(int(row_ns))
        while len(self.times) > self.limit:
            self.times.popleft()

    def due(self, last_data_ns: int | None, now_ns: int, grace_s: float, most: int) -> list[int]:
        """Up to `most` of the oldest times that have settled; they leave the list."""
        out: list[int] = []
        while self.times and len(out) < most and settled(last_data_ns, self.times[0], now_ns, grace_s):
            out.append(self.times.popleft())
        return out
