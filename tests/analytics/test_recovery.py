"""analytics.recovery on a real influxd: the latches and PdM state a restart rebuilds, worked out by hand.

Line L1 at T (times in seconds after T); the service restarts at T+1000; rules at their
defaults (derate below 0.6, clear above 0.75; maintenance below 0.35, clear above 0.8);
`history_s` 3600.

    S01  derated at 100; health 0.55, 0.50, unknown at 130, 160, 190: still derated.
         An operator's set_speed at 500 is not the service's. A pdm row from T-4000 is
         older than the history.
    S02  derated at 100; health 0.80 at 130 (cleared), 0.55 at 160: cleared, may fire
         again from 700.
    S03  derated at 100, maintenance at 200; health 0.30 at 230, then the service was
         down: maintenance (and the derate it latched) still on.
    S04  maintenance at 200; health 0.30 at 230, 0.90 at 260 (repaired), 0.95 at 290:
         nothing latched; history and charts start after 260.
    S05  andon at 300, in breakdown since 290: still lit.
    S06  andon at 300, running again at 400: cleared.
    S07  maintenance at 200; health 0.90 at 260 (repaired), the last round before the
         stop: its charts restart from zero and its history is empty; its baseline is
         relearnt from scratch.
    S08  re-baselined after a long stop (RMS 1.4, kurtosis 3.1) at 300, relearning again at
         330: that baseline is in force and is being relearnt.
"""

from __future__ import annotations

import asyncio
import math

import httpx
import numpy as np
import pytest

from analytics.inputs import LineKey
from analytics.pdm_state import MachineKey, PdmState
from analytics.recovery import restore_line
from analytics.rules import BREAKDOWN, RuleEngine
from tonle.config import parse_config
from tonle.contract import MACHINE_STATES
from tonle.io.influxql import InfluxQLClient

pytestmark = pytest.mark.services

S = 1_000_000_000
T = 1_772_409_600 * S  # 2026-03-02 00:00 UTC
NOW = T + 1000 * S
KEY = LineKey("s", "a", "L1")
TAGS = "site=s,area=a,line=L1"
MACHINES = [f"S0{i}" for i in range(1, 9)]
RUNNING = MACHINE_STATES.index("running")


def _cmd(machine: str, t_s: int, action: str, by: str = "tonle-analytics") -> str:
    return (
        f'commands,{TAGS},machine={machine},direction=cmd id="{machine}{t_s}",action="{action}",'
        f'status="sent",reason="r",issued_by="{by}",expires=1i {T + t_s * S}'
    )


def _pdm(machine: str, t_s: int, health: float | None, cusum: tuple[float, float] | None = None) -> str:
    fields = [] if health is None else [f"health={health}"]
    if cusum is not None:
        fields += [f"cusum_rms={cusum[0]}", f"cusum_kurtosis={cusum[1]}"]
    fields += ["drift_alarm=0i", "fault_code=0i"]
    return f"pdm,{TAGS},machine={machine} {','.join(fields)} {T + t_s * S}"


def _state(machine: str, t_s: int, state: str) -> str:
    code = MACHINE_STATES.index(state)
    return f'state,{TAGS},machine={machine} code={code}i,state="{state}",reason="",seq=1i {T + t_s * S}'


LINES = [
    _cmd("S01", 100, "set_speed"),
    _cmd("S01", 500, "set_speed", by="operator"),
    _pdm("S01", -4000, 0.99, (0.0, 0.0)),
    _pdm("S01", 130, 0.55, (1.0, 0.5)),
    _pdm("S01", 160, 0.50, (2.0, 1.0)),
    _pdm("S01", 190, None, (3.5, 1.25)),
    _cmd("S02", 100, "set_speed"),
    _pdm("S02", 130, 0.80),
    _pdm("S02", 160, 0.55),
    _cmd("S03", 100, "set_speed"),
    _cmd("S03", 200, "maintenance"),
    _pdm("S03", 230, 0.30),
    _cmd("S04", 200, "maintenance"),
    _pdm("S04", 230, 0.30, (9.0, 2.0)),
    _pdm("S04", 260, 0.90, (10.0, 3.0)),
    _pdm("S04", 290, 0.95, (0.5, 0.0)),
    _cmd("S05", 300, "andon"),
    _state("S05", 290, "breakdown"),
    _cmd("S06", 300, "andon"),
    _state("S06", 290, "breakdown"),
    _state("S06", 400, "running"),
    _cmd("S07", 200, "maintenance"),
    _pdm("S07", 260, 0.90, (10.0, 3.0)),
    f"pdm,{TAGS},machine=S08 health=0.99,base_rms=1.4,base_kurtosis=3.1,base_rms_scale=0.07,"
    f"base_kurtosis_scale=0.2,relearning=0i,drift_alarm=0i {T + 300 * S}",
    f"pdm,{TAGS},machine=S08 base_rms=1.4,base_kurtosis=3.1,base_rms_scale=0.07,"
    f"base_kurtosis_scale=0.2,relearning=1i,drift_alarm=0i {T + 330 * S}",
]


@pytest.fixture
def restored(influxdb, unique_name) -> tuple[RuleEngine, PdmState]:
    with httpx.Client(base_url=influxdb.url, timeout=30) as http:
        http.post("/query", data={"q": f'CREATE DATABASE "{unique_name}"'}).raise_for_status()
        http.post("/write", params={"db": unique_name}, content="\n".join(LINES).encode()).raise_for_status()
    cfg = parse_config({"analytics": {"pdm": {"history_s": 3600.0}}}, env={}).analytics
    rules = RuleEngine(cfg.rules, min_interval_s=cfg.pdm.min_interval_s)  # 600 s
    pdm = PdmState()

    async def run() -> None:
        async with InfluxQLClient(influxdb.url, unique_name) as q:
            await restore_line(q, cfg, KEY, MACHINES, NOW, rules, pdm)

    asyncio.run(run())
    return rules, pdm


def test_the_latches_still_on_are_the_conditions_not_yet_cleared(restored) -> None:
    rules, _ = restored
    assert rules.active == {("S01", "derate"), ("S03", "maintenance"), ("S03", "derate"), ("S05", "andon")}
    t = T / S
    assert rules.fired_s == {
        ("S01", "derate"): t + 100,
        ("S02", "derate"): t + 100,
        ("S03", "derate"): t + 100,
        ("S03", "maintenance"): t + 200,
        ("S04", "maintenance"): t + 200,
        ("S05", "andon"): t + 300,
        ("S06", "andon"): t + 300,
        ("S07", "maintenance"): t + 200,
    }


def test_after_the_restart_only_new_conditions_are_acted_on(restored) -> None:
    rules, _ = restored
    health = np.array([0.50, 0.55, 0.30, 0.90, 0.9, 0.9, 0.9, 0.9])
    state = np.array([RUNNING, RUNNING, RUNNING, RUNNING, BREAKDOWN, BREAKDOWN, RUNNING, RUNNING])
    acts = rules.evaluate(MACHINES, health, state, now_s=NOW / S)
    # S02's derate cleared and is back 900 s after it was sent; S06 broke down again.
    assert [(a.machine, a.condition) for a in acts] == [("S02", "derate"), ("S06", "andon")]


def test_health_history_and_charts_go_on_from_the_stored_rows(restored) -> None:
    _, pdm = restored
    s01 = pdm.get(MachineKey.on(KEY, "S01"))
    t = T / S
    assert s01.history.t == [t + 130, t + 160, t + 190]  # not the row older than history_s
    assert s01.history.h[:2] == [0.55, 0.50] and math.isnan(s01.history.h[2])
    np.testing.assert_array_equal(s01.chart.state.cusum, [[3.5, 1.25]])
    assert s01.chart.charted_ns == T + 190 * S - 1
    # S04 got a new bearing at 260: its history and charts start after that round.
    s04 = pdm.get(MachineKey.on(KEY, "S04"))
    assert s04.history.t == [t + 290] and s04.history.h == [0.95]
    np.testing.assert_array_equal(s04.chart.state.cusum, [[0.5, 0.0]])
    s07 = pdm.get(MachineKey.on(KEY, "S07"))
    assert s07.history.t == [] and not s07.chart.state.cusum.any()
    assert s07.chart.charted_ns == T + 260 * S - 1
    # Machines whose rounds wrote no CUSUM (no baseline yet) start their charts from zero.
    s02 = pdm.get(MachineKey.on(KEY, "S02"))
    assert s02.chart.charted_ns == 0 and not s02.chart.state.cusum.any()
    assert s02.history.h == [0.80, 0.55]


def test_the_baseline_in_force_and_its_relearning_go_on_from_the_stored_rows(restored) -> None:
    _, pdm = restored
    s08 = pdm.get(MachineKey.on(KEY, "S08"))
    b = s08.baseline
    assert (b.rms, b.kurt, b.scale, b.kscale) == (1.4, 3.1, 0.07, 0.2)
    assert s08.restart.learning and s08.restart.gated_ns == T + 330 * S - 1
    s07 = pdm.get(MachineKey.on(KEY, "S07"))  # repaired in its last round: learnt afresh
    assert not s07.baseline.learned and s07.restart.learning
    s01 = pdm.get(MachineKey.on(KEY, "S01"))  # rows of an older service: from its first bursts
    assert not s01.baseline.learned and not s01.restart.learning
