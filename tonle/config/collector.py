"""`[collector]`: batching, the database outage spool, and the completeness reckoning."""

from __future__ import annotations

from typing import Annotated

import msgspec

from tonle.config.fields import PosFloat, Section
from tonle.config.problems import Problem
from tonle.contract.topics import TopicError, check_name
from tonle.messages import _

__all__ = ["CollectorConfig"]


class CollectorConfig(Section, frozen=True):
    batch_points: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 5000
    batch_wait_ms: Annotated[int, msgspec.Meta(ge=1, le=60_000)] = 200
    receive_maximum: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 2000
    share_group: str = "collectors"
    # The site whose topics this collector stores ("+": every site on the broker). A
    # plant server with one broker for several sites can run one collector per site.
    site: str = "+"
    instance: str = ""
    health_interval_s: PosFloat = 5.0
    deadletter_topic: str = "tonle/_deadletter"
    # Batches written to the database at once: the next batch is decoded while
    # the last one is being stored (2 keeps a 2-core gateway's database busy).
    writes_in_flight: Annotated[int, msgspec.Meta(ge=1, le=16)] = 2
    # Durable spool for database outages: a batch the database cannot take goes
    # here, its MQTT messages are acknowledged, and it is replayed when the
    # database returns. When the spool is full, the collector stops acknowledging
    # and the broker (then the gateways' spools) hold the data. 0 = no spool.
    spool_path: str = "run/collector-spool.sqlite"
    spool_max_mb: Annotated[int, msgspec.Meta(ge=0, le=1_000_000)] = 1024
    # Data completeness per machine from the stored sequence numbers, so it is
    # right however many collectors share the stream: over the last horizon_h
    # hours ending lag_s before now, every interval_s (collector/completeness.py).
    completeness_interval_s: PosFloat = 60.0
    completeness_lag_s: Annotated[float, msgspec.Meta(ge=0)] = 120.0
    completeness_horizon_h: Annotated[float, msgspec.Meta(gt=0, le=24 * 31)] = 24.0

    def problems(self) -> list[Problem]:
        if self.site == "+":
            return []
        try:
            check_name("site", self.site)
        except TopicError as exc:
            return [
                Problem("site", str(exc), _('use the site name the gateways publish under, or "+" for all'))
            ]
        return []
