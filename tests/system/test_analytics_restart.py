"""A restarted analytics service carries on where the stopped one left off (every part real).

Rule latches, health history and drift charts are rebuilt from InfluxDB when the service
first sees a line, so a restart in the middle of a degradation never re-sends a command
for a condition already acted on, and still acts on the next one.
"""

from __future__ import annotations

import asyncio

from tonle.app.line_run import NS, T0, LineRun, line_run
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


# The line of tests/system/test_pdm_loop.py: the bearing's RUL band closes within minutes.
PDM_LINE = {
    "stations": 8,
    "wearing_station": WEARING,
    "start_wear": 0.15,
    "wear_acceleration": 10.0,
    "analytics": {"pdm": {"rul_horizon_h": 0.5, "min_interval_s": 300.0}},
}
PDM_FIELDS = "health, rul_h, rul_lower_h, rul_upper_h, cusum_rms, cusum_kurtosis, drift_stat, drift_alarm"


async def _pdm_story(broker, influxdb, name: str, *, restart_at_s: float | None, until_s: float):
    """Every `pdm` row and every action of a run, with the service restarted at `restart_at_s`."""
    async with line_run(broker, influxdb, name, **PDM_LINE) as run:
        actions = []
        if restart_at_s is None:
            await run.advance(until_s)
            actions += run.analytics.actions
        else:
            await run.advance(restart_at_s)
            actions += run.analytics.actions
            async with run.restarted_analytics() as fresh:
                await run.advance(until_s - restart_at_s)
                actions += fresh.actions
        rows = await run.q.query(f"SELECT {PDM_FIELDS} FROM pdm GROUP BY machine")
        return {s.tags["machine"]: s.values for s in rows}, actions


def test_a_restarted_service_goes_on_with_the_same_rul_band_drift_charts_and_actions(
    broker, influxdb, unique_name
):
    # Same seed, same line: one service runs throughout, the other is restarted at 10 min, when
    # the wearing bearing has a RUL band fitted on its health history and a CUSUM well above 0.
    # Rebuilt from InfluxDB, the restarted one writes the same rows and acts the same.
    async def body() -> None:
        kept, kept_acts = await _pdm_story(
            broker, influxdb, f"{unique_name}_kept", restart_at_s=None, until_s=20 * 60
        )
        again, again_acts = await _pdm_story(
            broker, influxdb, f"{unique_name}_again", restart_at_s=10 * 60, until_s=20 * 60
        )
        mine = kept[f"S{WEARING + 1:02d}"]
        at_restart = next(r for r in mine if r[0] == T0 + 10 * 60 * NS)
        assert at_restart[2] is not None and at_restart[5] > 5, "no RUL band or CUSUM to carry over"
        assert any(a.condition == "derate" for a in kept_acts), "nothing happened after the restart"
        assert again == kept
        assert again_acts == kept_acts

    asyncio.run(body())
