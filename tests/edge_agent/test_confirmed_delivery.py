"""A gateway lets go of a sample only when a collector confirms the database holds it.

Each fault is forced in its worst order (never left to a race): the gateway reconnects to a
restarted broker before any collector has subscribed again, the broker is killed with
messages queued for an absent collector, the broker comes back with an empty disk. On
today's mosquitto each of these dropped data that the broker had acknowledged.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import assert_nothing_lost, wait_for
from tonle.app.line_run import line_run
from tonle.app.services import LocalInfluxDB
from tonle.contract.confirm import Confirm


@pytest.fixture
def own_influxdb(tmp_path: Path) -> Iterator[LocalInfluxDB]:
    """A database this test may stop and start."""
    db = LocalInfluxDB(folder=tmp_path / "influxd").start()
    yield db
    db.stop()


async def until(what: str, check) -> None:
    async def probe() -> bool:
        return bool(check())

    await wait_for(probe, bool, what)


def shared(name: str) -> dict[str, str]:
    return {"share_group": f"g-{name}"}


def test_the_gateway_keeps_what_a_restarted_broker_dropped_for_want_of_a_subscriber(
    own_broker, influxdb, unique_name
):
    """The issue's failing drill: shared subscription, broker restart, gateway back first."""

    async def body() -> None:
        async with line_run(
            own_broker, influxdb, unique_name, stations=4, wearing_station=None, collector=shared(unique_name)
        ) as run:
            await run.advance(30)
            await run.stop_collector()
            await asyncio.to_thread(own_broker.stop)
            await run.advance(40, connected=False)
            await asyncio.to_thread(own_broker.start)
            # Forced order: the gateway is back and sends before any collector has subscribed.
            await until(
                "the broker to say nobody is subscribed", lambda: run.agent.publisher.no_subscriber > 0
            )
            assert run.agent.spool.depth > 0, "the gateway let go of messages nobody stored"
            await run.start_collector()
            await run.advance(10)
            await assert_nothing_lost(run)
            assert run.agent.publisher.resent > 0

    asyncio.run(body())


def test_a_broker_killed_with_messages_queued_for_an_absent_collector_loses_nothing(
    own_broker, influxdb, unique_name
):
    async def body() -> None:
        async with line_run(own_broker, influxdb, unique_name, stations=4, wearing_station=None) as run:
            await run.advance(30)
            await run.stop_collector()  # its persistent session keeps a queue at the broker
            await run.advance(30, connected=False)
            await until("the broker to take the messages", lambda: run.agent.mqtt.in_flight == 0)
            queued = run.agent.spool.depth
            assert queued > 0
            await asyncio.to_thread(own_broker.kill)  # before its autosave: the queue is gone
            await asyncio.to_thread(own_broker.start)
            await run.start_collector()
            await run.advance(10)
            await assert_nothing_lost(run)

    asyncio.run(body())


def test_a_broker_back_with_an_empty_disk_loses_nothing(own_broker, influxdb, unique_name):
    async def body() -> None:
        async with line_run(
            own_broker, influxdb, unique_name, stations=4, wearing_station=None, collector=shared(unique_name)
        ) as run:
            await run.advance(30)
            await run.stop_collector()
            await run.advance(30, connected=False)
            await asyncio.to_thread(own_broker.kill)
            shutil.rmtree(own_broker.folder / "data")  # the broker's disk is replaced
            await asyncio.to_thread(own_broker.start)
            await run.start_collector()
            await run.advance(10)
            await assert_nothing_lost(run)

    asyncio.run(body())


def test_a_confirmation_for_another_spool_file_deletes_nothing(own_broker, influxdb, unique_name):
    async def body() -> None:
        async with line_run(own_broker, influxdb, unique_name, stations=2, wearing_station=None) as run:
            await run.stop_collector()
            await run.advance(20, connected=False)
            spool = run.agent.spool
            depth = spool.depth
            assert depth > 0
            wrong = Confirm(v=1, token=(spool.token + 1) % 2**62, stored=[(1, spool.last_id)])
            run.agent.publisher.confirm(wrong)
            assert spool.depth == depth
            assert run.agent.publisher.stale_confirms == 1
            await run.start_collector()
            await run.advance(10)
            await assert_nothing_lost(run)

    asyncio.run(body())


def test_while_the_database_is_down_the_gateway_keeps_what_the_collector_holds(
    own_broker, own_influxdb, unique_name
):
    """Held: in the collector's spool, not yet in InfluxDB. The gateway stops re-sending but keeps it."""

    async def body() -> None:
        async with line_run(own_broker, own_influxdb, unique_name, stations=2, wearing_station=None) as run:
            await run.advance(20)
            await asyncio.to_thread(own_influxdb.stop)
            await run.advance(20, connected=False)
            publisher = run.agent.publisher
            await until("the collector to say it holds the data", lambda: publisher.held > 0)
            assert run.agent.spool.depth >= publisher.held
            resent = publisher.resent
            await asyncio.to_thread(own_influxdb.start)
            await run.advance(10)
            await assert_nothing_lost(run)
            assert publisher.resent == resent, "held messages were sent again"
            assert run.collector.stats.replayed_points > 0

    asyncio.run(body())
