"""Writers store line protocol in InfluxDB; all share one small interface."""

from __future__ import annotations

from typing import Protocol

from collector.writers.v1 import InfluxV1Writer, RejectedLine, WriteError

__all__ = ["InfluxV1Writer", "RejectedLine", "WriteError", "Writer"]


class Writer(Protocol):
    async def write(self, lines: bytes) -> list[RejectedLine]:
        """Store the lines; return the ones the database refused as malformed.

        Raises WriteError when the database cannot be reached or stays overloaded,
        so the caller keeps the batch (and its MQTT acks) for a retry.
        """
        ...

    async def ensure_database(self) -> None: ...
