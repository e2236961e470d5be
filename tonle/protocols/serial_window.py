"""What a receiver knows of the seq numbers of one node boot: handled, missing, given up."""

from __future__ import annotations

__all__ = ["WINDOW_LIMIT", "SeqWindow"]

WINDOW_LIMIT = 8192  # out-of-order seqs a receiver remembers (4x the node's default ring)


class SeqWindow:
    """What a receiver knows of one boot's seqs: all handled up to `low`, plus a bounded set above.

    `low` stays None until the node's H frame says the oldest seq it can still
    resend (`anchor`); until then duplicates are recognised by the set alone.
    More than `limit` out-of-order seqs give up the oldest hole as lost, so a
    limit above the node's ring size never gives up a frame the node still has.
    """

    def __init__(self, limit: int = WINDOW_LIMIT) -> None:
        self.low: int | None = None
        self.above: set[int] = set()
        self.limit = limit

    def seen(self, seq: int) -> bool:
        return (self.low is not None and seq <= self.low) or seq in self.above

    def add(self, seq: int) -> int:
        """Mark `seq` handled; return how many seqs were given up as lost to keep the set bounded."""
        self.above.add(seq)
        self._compact()
        return self.anchor(min(self.above)) if len(self.above) > self.limit else 0

    def anchor(self, first: int) -> int:
        """Nothing below `first` will come any more; return how many of those seqs were never seen."""
        if self.low is not None and first - 1 <= self.low:
            return 0
        lost = 0 if self.low is None else first - 1 - self.low - sum(1 for s in self.above if s < first)
        self.low = first - 1
        self.above = {s for s in self.above if s > self.low}
        self._compact()
        return lost

    def hole(self) -> int | None:
        """The first missing seq, if frames after it have arrived."""
        return self.low + 1 if self.low is not None and self.above else None

    def _compact(self) -> None:
        if self.low is None:
            return
        while self.low + 1 in self.above:
            self.above.remove(self.low + 1)
            self.low += 1
