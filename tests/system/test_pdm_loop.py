"""Predictive maintenance in the running system, on virtual time with every part real.

One simulated line, one station whose arm-shaft bearing wears fast (outer-race spall),
run twice from the same seed: once with the floor refusing every command the service
sends (the counterfactual: when would it have broken down?) and once with the commands
applied. Until the first command the two runs are the same line, so comparing them
after it measures what the derate bought.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import numpy as np
import pytest

from analytics.rules import Action
from firmware_sim.line import SimCommandError
from tonle.app.line_run import NS, LineRun, line_run
from tonle.io.influxql import quote_str

WEARING = 6
STATIONS = 8
HORIZON_H = 0.5
PDM = {"pdm": {"rul_horizon_h": HORIZON_H, "min_interval_s": 300.0}}
WEAR_ACCELERATION = 10.0
START_WEAR = 0.15
STEP_S = 30.0
PDM_CONDITIONS = {"derate", "maintenance"}


@dataclass
class Outcome:
    flag_s: float | None  # first PdM command for the wearing station, from the start
    repair_s: float | None  # first maintenance request for it
    seized_s: float | None  # the simulator's seizure of that bearing (state reason), from the start
    wear: dict[float, float]  # time from start -> wear of the wearing station
    first: Action | None  # the first PdM action for the wearing station
    alerted: set[str]  # machines with a PdM alert recorded in InfluxDB (andon on breakdown aside)
    acks: set[str]  # statuses of the wearing station's set_speed acks
    drift_alarmed: set[str] = field(default_factory=set)  # machines whose drift chart ever alarmed


def _refuse_all(run: LineRun) -> None:
    """The floor says no to every command (an operator who will not stop the line)."""

    def refuse(station: int, action: str, value: float | None) -> str:
        raise SimCommandError(f"refused by the test: {action}")

    run.line.apply = refuse  # type: ignore[method-assign]


async def _run(broker, influxdb, name: str, *, refuse: bool, until_s: float) -> Outcome:
    """Run the line in steps until `until_s` or the wearing bearing seizes; record what happened."""
    async with line_run(
        broker,
        influxdb,
        name,
        stations=STATIONS,
        wearing_station=WEARING,
        start_wear=START_WEAR,
        wear_acceleration=WEAR_ACCELERATION,
        analytics=PDM,
    ) as run:
        if refuse:
            _refuse_all(run)
        machine = run.spec.stations[WEARING].name
        out = Outcome(None, None, None, {}, None, set(), set())
        elapsed = 0.0
        while elapsed < until_s and out.seized_s is None:
            await run.advance(STEP_S)
            elapsed += STEP_S
            out.wear[elapsed] = float(run.line.wear[WEARING])
            mine = [
                a for a in run.analytics.actions if a.machine == machine and a.condition in PDM_CONDITIONS
            ]
            if mine and out.flag_s is None:
                out.flag_s, out.first = elapsed, mine[0]
            if out.repair_s is None and any(a.condition == "maintenance" for a in mine):
                out.repair_s = elapsed
            seized = await run.q.query(
                f"SELECT reason FROM state WHERE machine = {quote_str(machine)} AND reason = 'bearing seized'"
            )
            if seized:
                out.seized_s = (seized[0].values[0][0] - run.start_ns) / NS
        alerts = await run.q.query(
            "SELECT code, health FROM alerts WHERE code != 'breakdown' GROUP BY machine"
        )
        out.alerted = {s.tags["machine"] for s in alerts}
        drift = await run.q.query("SELECT max(drift_alarm) FROM pdm GROUP BY machine")
        out.drift_alarmed = {s.tags["machine"] for s in drift if s.values[0][1]}
        out.acks = {a.status for a in run.agent.acks if a.action == "set_speed"}
        return out


@pytest.fixture(scope="module")
def runs(broker, influxdb) -> tuple[Outcome, Outcome]:
    """(refused, applied): the counterfactual run to the seizure, then the run that obeys."""

    async def body() -> tuple[Outcome, Outcome]:
        refused = await _run(broker, influxdb, "pdm_loop_refused", refuse=True, until_s=90 * 60)
        assert refused.flag_s is not None, "the failing bearing was never flagged"
        applied = await _run(
            broker, influxdb, "pdm_loop_applied", refuse=False, until_s=refused.flag_s + 15 * 60
        )
        return refused, applied

    return asyncio.run(body())


def test_a_failing_bearing_is_flagged_by_its_rul_band_at_least_a_horizon_before_it_seizes(runs) -> None:
    refused, _ = runs
    assert refused.first is not None and refused.first.condition == "derate"
    assert refused.first.code == "rul_short_outer_race"  # the fault the simulator was given
    assert refused.first.rul_h is not None and "of running left" in refused.first.message
    assert refused.seized_s is not None and refused.flag_s is not None, "the counterfactual never broke down"
    lead_h = (refused.seized_s - refused.flag_s) / 3600
    print(f"lead time {lead_h:.2f} h, horizon {HORIZON_H} h")
    assert lead_h >= HORIZON_H, f"flagged only {lead_h:.2f} h before the seizure"


def test_the_applied_derate_slows_the_wear_against_the_same_line_refusing_it(runs) -> None:
    # Same seed: the runs are the same line until the first command, which the floor refused
    # in one and applied in the other. Over the same stretch after it (ending before the
    # repair stops the machine) the derated bearing wears by well under 0.6 of the other's
    # (0.7**3 = 0.34 at equal running time; a slower machine runs a little longer per piece).
    refused, applied = runs
    assert applied.flag_s == refused.flag_s is not None
    assert refused.acks == {"rejected"} and "applied" in applied.acks
    t0 = applied.flag_s
    t1 = max(t for t in applied.wear if t in refused.wear and t < (applied.repair_s or np.inf))
    assert t1 - t0 >= 5 * 60
    grown_refused = refused.wear[t1] - refused.wear[t0]
    grown_applied = applied.wear[t1] - applied.wear[t0]
    print(f"wear {t0 / 60:.1f}-{t1 / 60:.1f} min: refused +{grown_refused:.3f}, applied +{grown_applied:.3f}")
    assert 0 < grown_applied < 0.6 * grown_refused


def test_healthy_machines_in_the_same_runs_get_no_alert(runs) -> None:
    machine = f"S{WEARING + 1:02d}"
    for run in runs:
        assert run.alerted == {machine}  # only the failing bearing, in what InfluxDB recorded


def test_the_drift_charts_alarm_on_the_failing_bearing_and_stay_quiet_on_healthy_ones(runs) -> None:
    # The EWMA on RMS and the CUSUM on (RMS, kurtosis) robust z-scores, per machine.
    machine = f"S{WEARING + 1:02d}"
    for run in runs:
        assert run.drift_alarmed == {machine}
