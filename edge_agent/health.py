"""The health rows of a gateway's device sources, for the `pipeline` measurement and status.json.

One row per source (link up, reads, errors, reconnects, timeouts) and one per machine
(reads, errors, completeness), so a technician finds the bad device on a bus from the
dashboard, or from status.json on the gateway while the network is down.
"""

from __future__ import annotations

from collections.abc import Iterable

from tonle.contract import HealthRow
from tonle.sources.base import Source

__all__ = ["source_rows"]


def source_rows(sources: Iterable[Source]) -> list[HealthRow]:
    rows = []
    for src in sources:
        h = src.health
        link = {
            "connected": float(h.connected),
            "reads": float(h.reads),
            "read_errors": float(h.read_errors),
            "corrupt_frames": float(h.corrupt_frames),
            "link_reconnects": float(h.reconnects),
            "timeouts": float(h.timeouts),
        }
        rows.append(HealthRow(src.name, link))
        for machine, n in h.per_machine_reads.items():
            errors = h.per_machine_errors.get(machine, 0)
            completeness = n / (n + errors) if n + errors else 1.0
            rows.append(
                HealthRow(
                    machine, {"reads": float(n), "read_errors": float(errors), "completeness": completeness}
                )
            )
    return rows
