"""Writers store line protocol in InfluxDB; all share one small interface.

`tonle.io.connect.influx_writer` picks the implementation from `influxdb.api`: "v1"
posts to `/write` (InfluxDB 1.x, 3.x), "v2" to `/api/v2/write` through influxdb-client
(InfluxDB 2.x, 3.x, Cloud, VictoriaMetrics). Both split and bisect a refused
batch the same way (`_batch.store_lines`), so the collector cannot tell them apart.
"""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

from tonle.io.writers._batch import RejectedLine, WriteError
from tonle.io.writers.v1 import InfluxV1Writer

if TYPE_CHECKING:
    from tonle.config import InfluxConfig
    from tonle.io.writers.v2 import InfluxV2Writer

__all__ = ["InfluxV1Writer", "InfluxV2Writer", "RejectedLine", "WriteError", "Writer", "make_writer"]


class Writer(Protocol):
    """A connection to the database: `async with` it, then write batches."""

    async def write(self, lines: bytes) -> list[RejectedLine]:
        """Store the lines; return the ones the database refused as malformed.

        Raises WriteError when the database cannot be reached or stays overloaded,
        so the caller keeps the batch (and its MQTT acks) for a retry.
        """
        ...

    async def ensure_database(self) -> None:
        """Make sure the database (v1) or bucket (v2) is there; WriteError if the server is not."""
        ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


def make_writer(influx: InfluxConfig) -> Writer:
    """The writer for `influxdb.api` (kept for old callers: use `tonle.io.connect.influx_writer`)."""
    from tonle.io.connect import influx_writer

    return influx_writer(influx)


def __getattr__(name: str) -> Any:
    # influxdb-client costs ~28 MB of RSS: loaded only when a v2 writer is used.
    if name == "InfluxV2Writer":
        from tonle.io.writers.v2 import InfluxV2Writer

        return InfluxV2Writer
    raise AttributeError(name)
