"""The closed loop on virtual time with every part real: the checks of the walking skeleton."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import count
from tests.line_run import line_run
from tonle.influxql import quote_str

WEARING = 6


def test_every_sample_the_line_publishes_is_stored_exactly_once(broker, influxdb, unique_name):
    async def body() -> None:
        async with line_run(broker, influxdb, unique_name, wearing_station=None) as run:
            await run.advance(300)
            stats = run.agent.stats
            for measurement in ("telemetry", "state", "production"):
                published = sum(n for (_, meas), n in stats.samples.items() if meas == measurement)
                stored = await count(run.q, f"SELECT count(seq) FROM {measurement}")
                assert stored == published, measurement
            assert stats.samples_published > 3000
            assert run.collector.stats.seq_gaps == 0
            assert run.collector.stats.dead_letters == 0

    asyncio.run(body())


def test_a_degrading_machine_is_derated_acks_it_and_wears_slower(broker, influxdb, unique_name):
    async def body() -> None:
        async with line_run(broker, influxdb, unique_name, start_wear=0.3, wear_acceleration=40.0) as run:
            rate_before = run.line.wear_rate_per_h(WEARING)
            name = run.spec.stations[WEARING].name
            for _ in range(80):  # up to 40 virtual minutes
                await run.advance(30)
                if any(a.condition == "derate" for a in run.analytics.actions):
                    break
            derates = [a for a in run.analytics.actions if a.condition == "derate"]
            assert [a.machine for a in derates] == [name]
            assert run.agent.stats.commands["applied"] >= 1
            ack = [a for a in run.agent.acks if a.action == "set_speed"]
            assert ack and ack[0].status == "applied"
            rate_after = run.line.wear_rate_per_h(WEARING)
            derate_to = run.cfg.analytics.rules.derate_to
            assert rate_after == pytest.approx(rate_before * derate_to**3)
            # The command and its ack are recorded in InfluxDB.
            await run.advance(30)
            rows = await run.q.query(
                f"SELECT direction, action, status FROM commands WHERE machine = {quote_str(name)}"
            )
            recorded = {(r[1], r[2], r[3]) for r in rows[0].values}
            assert ("cmd", "set_speed", "sent") in recorded
            assert ("ack", "set_speed", "applied") in recorded
            # No other machine was touched, and the derate was sent once.
            assert {a.machine for a in run.analytics.actions} == {name}
            await run.advance(120)
            assert len([a for a in run.analytics.actions if a.condition == "derate"]) == 1

    asyncio.run(body())


def test_the_agent_health_lands_in_the_pipeline_measurement(broker, influxdb, unique_name):
    async def body() -> None:
        async with line_run(broker, influxdb, unique_name, wearing_station=None) as run:
            await run.advance(30)
            run.agent.publish_health()
            await run.advance(5)
            rows = await run.q.query(
                "SELECT last(spool_depth) AS depth, last(samples) AS samples FROM pipeline "
                "WHERE component = 'agent' AND device = 'agent' GROUP BY instance"
            )
            assert [s.tags["instance"] for s in rows] == [run.cfg.agent.id]
            assert rows[0].values[0][2] > 0  # samples read so far
            per_source = await run.q.query(
                "SELECT last(reads) FROM pipeline WHERE component = 'agent' GROUP BY device"
            )
            assert {s.tags["device"] for s in per_source} >= {"sim-line"}

    asyncio.run(body())
