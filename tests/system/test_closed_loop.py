"""The closed loop on virtual time with every part real: the checks of the walking skeleton."""

from __future__ import annotations

import asyncio

import pytest

from tests.helpers import count
from tonle.app.line_run import line_run
from tonle.io.influxql import quote_str

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


# A plant that works a night shift: the runs start at 03:26 in Phnom Penh (tonle/app/line_run.py).
NIGHT = {
    "shifts": {
        "workdays": [1, 2, 3, 4, 5, 6, 7],
        "update_s": 60.0,
        "shifts": [
            {"name": "A", "start": "06:00", "end": "14:00", "breaks": ["11:00-12:00"]},
            {"name": "B", "start": "14:00", "end": "22:00", "breaks": ["18:00-18:30"]},
            {"name": "C", "start": "22:00", "end": "06:00", "breaks": ["03:35-03:40"]},
        ],
    }
}
DOWNTIME = ("breakdown_s", "setup_s", "starved_blocked_s", "minor_stop_s", "idle_s")


def _row(series) -> dict:
    (s,) = series
    return dict(zip(s.columns, s.values[-1], strict=True))


def test_the_line_figures_carry_what_they_were_computed_from(broker, influxdb, unique_name):
    async def body() -> None:
        async with line_run(broker, influxdb, unique_name, wearing_station=None, analytics=NIGHT) as run:
            await run.advance(600)
            res = run.results[-1][0]
            assert res.machines == [s.name for s in run.spec.stations]  # the bulletin's flow order
            assert res.kpi is not None and 0 < res.line_oee < 1
            row = _row(await run.q.query("SELECT * FROM line_kpi ORDER BY time DESC LIMIT 1"))
            assert row["oee"] == pytest.approx(row["fully_productive_s"] / row["planned_s"])
            assert row["availability"] == pytest.approx(row["run_s"] / row["planned_s"])
            assert row["performance"] == pytest.approx(row["ideal_s"] / row["run_s"])
            losses = ("fully_productive_s", *DOWNTIME, "speed_loss_s", "quality_loss_s")
            assert sum(row[k] for k in losses) == pytest.approx(row["planned_s"])
            assert row["good"] == res.kpi.output_good and row["bottleneck"] == res.bottleneck
            assert row["kwh"] > 0 and row["energy_coverage"] == pytest.approx(1.0)
            station = _row(
                await run.q.query("SELECT * FROM oee WHERE machine = 'S04' ORDER BY time DESC LIMIT 1")
            )
            assert station["oee"] == pytest.approx(station["fully_productive_s"] / station["planned_s"])
            assert station["ideal_cycle_s"] == pytest.approx(run.spec.stations[3].sam_min * 60)

    asyncio.run(body())


def test_shift_rows_and_downtime_by_cause_add_up_and_survive_a_restart(broker, influxdb, unique_name):
    from analytics.inputs import find_lines
    from analytics.service import ShiftKpiWriter

    async def body() -> None:
        async with line_run(broker, influxdb, unique_name, wearing_station=None, analytics=NIGHT) as run:
            await run.advance(20 * 60)
            q = run.q
            shift = _row(
                await q.query("SELECT * FROM shift_kpi WHERE shift = 'C' ORDER BY time DESC LIMIT 1")
            )
            assert shift["period"] == "2026-05-28 C" and shift["final"] == 0
            assert shift["oee"] == pytest.approx(
                shift["availability"] * shift["performance"] * shift["quality"]
            )
            # The 03:35-03:40 break: stations not sewing then were on a planned stop, not a loss.
            assert 0 < shift["planned_stop_s"] <= 12 * 300

            async def downtime_sum() -> float:
                rows = await q.query("SELECT sum(seconds) FROM downtime WHERE shift = 'C'")
                return rows[0].values[0][1]

            # The downtime rows hold increments: their sum is the shift's downtime so far.
            assert await downtime_sum() == pytest.approx(sum(shift[k] for k in DOWNTIME))
            # A restarted service (a new writer, nothing in memory) updates the same shift at the
            # same moment: it reads back what is stored and adds nothing twice.
            now = shift["time"]
            again = ShiftKpiWriter(run.cfg, q, run.analytics.writer)
            await again.update(*next(iter((await find_lines(q, before_ns=now)).items())), now)
            assert await downtime_sum() == pytest.approx(sum(shift[k] for k in DOWNTIME))

    asyncio.run(body())


class _FailingWrites:
    """The service's writer, failing its next writes: `stored=True` writes first (InfluxDB took the
    rows, their HTTP 204 was lost), `stored=False` does not (the database was away)."""

    def __init__(self, writer, *, stored: bool) -> None:
        self.writer, self.stored = writer, stored

    async def write(self, lines: bytes):
        from tonle.io.writers import WriteError

        if self.stored:
            await self.writer.write(lines)
        raise WriteError("test: the answer never came", url="http://test", status=None)


def test_a_failed_analytics_write_is_recomputed_without_counting_downtime_twice(
    broker, influxdb, unique_name
):
    """docs/delivery.md: a failed round is computed again from the raw data; `downtime` rows are
    deltas against what is stored, so neither a write that was stored but not answered nor one that
    was never stored leaves the shift's downtime counted twice or short."""
    from tonle.io.writers import WriteError

    async def body() -> None:
        async with line_run(broker, influxdb, unique_name, wearing_station=None, analytics=NIGHT) as run:
            await run.advance(10 * 60)
            shifts = run.analytics.shifts
            writer = shifts.writer
            for stored in (True, False, True):
                await run.advance(60, analytics=False)  # more downtime to add
                shifts.writer = _FailingWrites(writer, stored=stored)
                shifts.next_ns = None  # this round updates the shift
                with pytest.raises(WriteError):
                    await run.analytics.run_once(run.clock.now_ns())
                shifts.writer = writer
            await run.advance(3 * 60)  # rounds as usual
            shift = _row(
                await run.q.query("SELECT * FROM shift_kpi WHERE shift = 'C' ORDER BY time DESC LIMIT 1")
            )
            rows = await run.q.query("SELECT sum(seconds) FROM downtime WHERE shift = 'C'")
            assert sum(shift[k] for k in DOWNTIME) > 0
            assert rows[0].values[0][1] == pytest.approx(sum(shift[k] for k in DOWNTIME))

    asyncio.run(body())
