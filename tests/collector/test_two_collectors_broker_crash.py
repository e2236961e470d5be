"""Two collectors on one shared subscription survive a broker crash with a backlog in flight.

The design no longer relies on the broker keeping a shared subscription (docs/delivery.md):
each collector confirms the spool ids it stored, so with two of them each confirms its part
of a gateway's stream, and whatever the crash took is sent again by the gateway.
"""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from tests.helpers import assert_nothing_lost, running_collector
from tonle.app.line_run import line_run

pytestmark = pytest.mark.services


def test_two_collectors_sharing_a_group_lose_nothing_when_the_broker_is_killed_with_a_backlog(
    own_broker, influxdb, unique_name, tmp_path
):
    group = {"share_group": f"g-{unique_name}"}

    async def body() -> None:
        async with line_run(
            own_broker, influxdb, unique_name, stations=6, wearing_station=None, collector=group
        ) as run:
            c = run.cfg.collector
            other = msgspec.structs.replace(
                run.cfg,
                collector=msgspec.structs.replace(
                    c, instance=f"{c.instance}-b", spool_path=str(tmp_path / "b-spool.sqlite")
                ),
            )
            async with running_collector(other, run.clock) as second:
                first = run.collector
                await run.advance(30)
                assert first.confirmer.confirmed > 0 and second.confirmer.confirmed > 0, "not shared"
                before = (first.confirmer.confirmed, second.confirmer.confirmed)
                await run.advance(30, connected=False)  # publishing as fast as the loop goes
                assert run.agent.spool.depth > 0, "no backlog in flight"  # the last step's at least
                own_broker.kill()  # in the same step: nothing more confirmed meanwhile
                own_broker.start()  # same port and persistence folder
                await run.advance(30)
                await assert_nothing_lost(run)
                assert run.agent.publisher.resent > 0
                after = (first.confirmer.confirmed, second.confirmer.confirmed)
                assert after[0] > before[0] and after[1] > before[1], "one collector took it all"

    asyncio.run(body())
