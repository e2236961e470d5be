"""What one collector instance counts: its cumulative counters and the sequence numbers it saw."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CollectorStats", "SeqTracker"]


@dataclass
class CollectorStats:
    """Cumulative counters of this instance; written to the `pipeline` measurement."""

    messages: int = 0
    points: int = 0
    dead_letters: int = 0
    rejected_points: int = 0
    names_refused: int = 0  # look-alikes of a stored name (collector/names.py), also dead letters
    seq_gaps: int = 0  # seen by this instance alone; see collector/completeness.py for the truth
    seq_replays: int = 0
    write_errors: int = 0
    batches: int = 0
    spooled_batches: int = 0
    spooled_points: int = 0
    replayed_points: int = 0
    last_batch_ms: float = 0.0
    batch_ms: list[float] = field(default_factory=list)  # since the last health row
    dead_letter_reasons: dict[str, int] = field(default_factory=dict)


class SeqTracker:
    """Counts missing sequence numbers per stream (machine + kind) seen by this instance.

    A sequence that goes backwards is a replay (at-least-once delivery), not a gap.
    Only right for a collector that is alone on its subscription; the database
    reckoning (collector/completeness.py) is right for any number of collectors.
    """

    def __init__(self) -> None:
        self._next: dict[tuple[str, ...], int] = {}

    def observe(self, stream: tuple[str, ...], first: int, n: int) -> tuple[int, int]:
        """Return (missing, replayed) counts for a message covering first..first+n-1."""
        expected = self._next.get(stream)
        end = first + n
        if expected is None:
            self._next[stream] = end
            return 0, 0
        if first >= expected:
            self._next[stream] = end
            return first - expected, 0
        self._next[stream] = max(expected, end)
        return 0, 1

    def completeness(self) -> dict[tuple[str, ...], int]:
        return dict(self._next)
