"""A gateway whose disk is full keeps its readings and its numbering until the spool takes them."""

from __future__ import annotations

import asyncio

import msgspec

from edge_agent.agent import Agent
from firmware_sim.line import SewingLine, default_line
from firmware_sim.source import SimSource
from tests.helpers import config_for
from tonle.io.clock import VirtualClock
from tonle.io.spool import Spool
from tonle.sources.base import Sample

T0 = 1_780_000_000_000_000_000


def test_readings_wait_in_memory_while_the_disk_is_full_and_keep_their_sequence_numbers(
    broker, influxdb, unique_name, tmp_path
):
    cfg = config_for(broker, influxdb, unique_name)
    spec = default_line(n_stations=2, wearing_station=None, site=unique_name)
    clock = VirtualClock(T0)
    source = SimSource(SewingLine(spec, seed=1, start_ns=T0, vibration=False), spec, clock)
    spool = Spool(tmp_path / "spool.sqlite", 2**30)
    agent = Agent(cfg.mqtt, cfg.agent, [source], clock, spool)
    machine = spec.stations[0].name

    def samples(first: int, n: int) -> list[Sample]:
        return [Sample(machine, T0 + (first + i) * 10**9, {"temp_c": 30.0 + i}) for i in range(n)]

    async def body() -> None:
        conn = spool._conn
        assert conn is not None
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")  # no room at all, not even after dropping
        agent.sink(samples(0, 500))  # far more than the free room left in the file's pages
        assert await agent.flush() == 0
        agent.sink(samples(500, 300))
        assert await agent.flush() == 0
        rows = {r.scope: r.fields for r in agent.health_rows()}
        assert rows["agent"]["held_readings"] == 800.0
        assert spool.depth == 0
        conn.execute("PRAGMA max_page_count = 1073741823")  # room again
        assert await agent.flush() == 800
        (_, _, payload), *_ = spool.peek(0, 10)
        msg = msgspec.json.decode(payload)
        assert msg["seq"] == 0 and msg["ts"][0] == T0 and len(msg["ts"]) == 800  # numbering not skipped
        assert agent.health_rows()[0].fields["held_readings"] == 0.0

    asyncio.run(body())
    spool.close()
