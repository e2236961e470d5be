"""A started collector keeps Python's garbage collector off its per-message path (issue 15).

With one reading per message, young collections every 700 allocations scanned every message
still waiting for its ack; what start-up made is frozen out of all later collections.
"""

from __future__ import annotations

import asyncio
import gc

from collector.service import GC_GEN0
from tests.helpers import config_for, running_collector


def test_a_ready_collector_has_frozen_its_start_up_objects_and_collects_young_objects_less_often(
    broker, influxdb, unique_name
):
    cfg = config_for(broker, influxdb, unique_name)
    before = gc.get_threshold()
    gc.unfreeze()
    gc.set_threshold(700, *before[1:])

    async def body() -> tuple[int, int]:
        async with running_collector(cfg):
            return gc.get_threshold()[0], gc.get_freeze_count()

    try:
        gen0, frozen = asyncio.run(body())
    finally:  # the test process is not a collector: give it its own settings back
        gc.unfreeze()
        gc.set_threshold(*before)
    assert gen0 == GC_GEN0 > 700
    assert frozen > 0
