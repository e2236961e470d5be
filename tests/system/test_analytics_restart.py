"""A restarted analytics service carries on where the stopped one left off (every part real).

Rule latches, health history and drift charts are rebuilt from InfluxDB when the service
first sees a line, so a restart in the middle of a degradation never re-sends a command
for a condition already acted on, and still acts on the next one.
"""

from __future__ import annotations

import asyncio

from tests.line_run import LineRun, line_run
from tonle.io.influxql import quote_str

WEARING = 6
STEP_S = 30.0


async def _until(run: LineRun, condition: str, machine: str, limit_s: float) -> None:
    """Advance until the running service acts on `condition` for `machine` (or `limit_s` passes)."""
    waited = 0.0
    while waited < limit_s:
        await run.advance(STEP_S)
        waited += STEP_S
        if any(a.condition == condition and a.machine == machine for a in run.analytics.actions):
            return


async def _commands(run: LineRun, machine: str) -> list[str]:
    rows = await run.q.query(
        "SELECT action FROM commands WHERE direction = 'cmd' "
        f"AND issued_by = 'tonle-analytics' AND machine = {quote_str(machine)}"
    )
    return [r[1] for s in rows for r in s.values]


def test_a_restart_mid_degradation_neither_repeats_a_command_nor_misses_the_next(
    broker, influxdb, unique_name
):
    async def body() -> None:
        async with line_run(broker, influxdb, unique_name, start_wear=0.3, wear_acceleration=40.0) as run:
            name = run.spec.stations[WEARING].name
            await _until(run, "derate", name, 40 * 60)
            assert [a.condition for a in run.analytics.actions] == ["derate"]

            # Restarted while the machine is still derated and wearing on: the derate is not sent
            # again, and the maintenance request that follows (a new condition) is.
            async with run.restarted_analytics() as second:
                await _until(run, "maintenance", name, 20 * 60)
                assert [(a.machine, a.condition) for a in second.actions] == [(name, "maintenance")]
            assert await _commands(run, name) == ["set_speed", "maintenance"]

            # Down while the bearing is replaced: the condition clears while nobody watches.
            # The next service neither asks for maintenance again nor misses the new bearing's
            # own derate when it wears in turn (the simulator's wear is accelerated).
            await run.advance(11 * 60, analytics=False)
            async with run.restarted_analytics() as third:
                await _until(run, "derate", name, 20 * 60)
                assert [(a.machine, a.condition) for a in third.actions] == [(name, "derate")]
            assert await _commands(run, name) == ["set_speed", "maintenance", "set_speed"]

    asyncio.run(body())
