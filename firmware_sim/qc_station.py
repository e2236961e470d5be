"""The end-of-line quality check of a simulated line: an inspector with a tablet.

A garment line ends at a QC table where each piece is checked; a piece that fails is
recorded by its defect type, a few of them with a second defect. Here the inspector sees the
pieces the line's stations rejected (each station's `total - good`), gives each a defect type
drawn (seeded, so a run repeats) from the types a sewing floor finds most, and sends what
they found as `tonle.contract.Defect` messages, the way a tablet or a button box does on
`tonle/{site}/{area}/{line}/QC/defect`.

The inspector also answers andon calls: `acknowledge(machine)` is the supervisor's tap on
the tablet when a station's andon lights (`tonle.contract.AndonAck`).
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from firmware_sim.line import SewingLine
from tonle.contract import AndonAck, Defect

__all__ = ["QC_STATION", "QcStation"]

QC_STATION = "QC"
# The most frequent defects of a garment end-of-line check, and how often each is the cause.
DEFECT_MIX = {
    "broken stitch": 0.30,
    "skipped stitch": 0.22,
    "open seam": 0.16,
    "uneven stitch": 0.12,
    "puckering": 0.10,
    "stain": 0.06,
    "wrong size": 0.04,
}
SECOND_DEFECT = 0.2  # share of rejected pieces with a second defect


class QcStation:
    """Defects found at the end of `line` since the last look, as a QC tablet would send them."""

    def __init__(self, line: SewingLine, *, seed: int = 1, inspector: str = "Sreymom (QC)") -> None:
        self.line = line
        self.inspector = inspector
        self.supervisor = "Dara (supervisor)"
        self._rng = np.random.default_rng(seed + 7919)
        self._seen = 0  # rejected pieces already recorded
        self._types = list(DEFECT_MIX)
        self._p = np.array(list(DEFECT_MIX.values())) / sum(DEFECT_MIX.values())

    def check(self, now_ns: int) -> list[Defect]:
        """The defects of the pieces rejected since the last call, one message per type."""
        rejects = int((self.line.totals - self.line.goods).sum())
        new, self._seen = max(0, rejects - self._seen), max(rejects, self._seen)
        if new == 0:
            return []
        n = new + int(self._rng.binomial(new, SECOND_DEFECT))
        found = Counter(self._types[i] for i in self._rng.choice(len(self._types), size=n, p=self._p))
        # One message per type, a nanosecond apart: each is its own point in InfluxDB.
        return [
            Defect(v=1, ts=now_ns + i, defect_type=t, by=self.inspector, count=c)
            for i, (t, c) in enumerate(sorted(found.items()))
        ]

    def acknowledge(self, now_ns: int, note: str = "mechanic called") -> AndonAck:
        """The supervisor's answer to a lit andon."""
        return AndonAck(v=1, ts=now_ns, by=self.supervisor, note=note)
