"""analytics.inputs on a real influxd: what is read for a line and a range, worked out by hand.

Line L1 of site s / area a, with the range [T+600 s, T+1200 s):

    S01  running since T+100 (before the range), breakdown "motor" from T+900
         counters 10/10 at T+500 (before), 15/14 at T+700, 20/19 at T+1100
         power_kw 0.5 in every 10 s bucket of the range except T+800..T+900 (a gap)
    S02  idle since T+300 (before), nothing inside; current_a 2.0 A in every bucket
    EM1  an energy meter: power_kw 1.0 in every bucket, and no machine states
    S03  in the line's bulletin (a SAM), never reported
"""

from __future__ import annotations

import asyncio

import httpx
import numpy as np
import pytest

from analytics.inputs import ESTIMATED, METERED, NO_POWER, LineKey, find_lines, line_figures, read_line
from analytics.losses import BREAKDOWN, IDLE, NO_DATA, RUN
from tonle.config import parse_config
from tonle.contract import MACHINE_STATES
from tonle.io.influxql import InfluxQLClient

pytestmark = pytest.mark.services

S = 1_000_000_000
T = 1_772_409_600 * S  # 2026-03-02 00:00 UTC
START, END = T + 600 * S, T + 1200 * S
KEY = LineKey("s", "a", "L1")
TAGS = "site=s,area=a,line=L1"
approx = pytest.approx


def _state(machine: str, t_s: int, state: str, reason: str = "") -> str:
    code = MACHINE_STATES.index(state)
    return (
        f'state,{TAGS},machine={machine} code={code}i,state="{state}",reason="{reason}",seq=1i {T + t_s * S}'
    )


def _count(machine: str, t_s: int, total: int, good: int) -> str:
    return f"production,{TAGS},machine={machine} total={total}i,good={good}i,seq=1i {T + t_s * S}"


def _telemetry(machine: str, field: str, value: float, seconds: range) -> list[str]:
    return [f"telemetry,{TAGS},machine={machine} {field}={value},seq={k}i {T + k * S}" for k in seconds]


LINES = [
    _state("S01", 100, "running"),
    _state("S01", 900, "breakdown", "motor"),
    _state("S02", 300, "idle"),
    _count("S01", 500, 10, 10),
    _count("S01", 700, 15, 14),
    _count("S01", 1100, 20, 19),
    *_telemetry("S01", "power_kw", 0.5, range(600, 800, 10)),
    *_telemetry("S01", "power_kw", 0.5, range(900, 1200, 10)),
    *_telemetry("S02", "current_a", 2.0, range(600, 1200, 10)),
    *_telemetry("EM1", "power_kw", 1.0, range(600, 1200, 10)),
]
CONFIG = {
    "analytics": {
        "lines": {"L1": {"target_pph": 60.0, "sam_min": {"S01": 0.5, "S03": 0.6, "S02": 0.4}}},
        "motor_supply_v": 230.0,
        "motor_power_factor": 0.75,
        "power_step_s": 10.0,
        "silence_s": 60.0,
    }
}


@pytest.fixture
def db(influxdb, unique_name) -> str:
    with httpx.Client(base_url=influxdb.url, timeout=30) as http:
        http.post("/query", data={"q": f'CREATE DATABASE "{unique_name}"'}).raise_for_status()
        r = http.post("/write", params={"db": unique_name}, content="\n".join(LINES).encode())
        r.raise_for_status()
    return unique_name


def _read(influxdb, db: str, start: int = START, end: int = END, **analytics):
    cfg = parse_config({"analytics": {**CONFIG["analytics"], **analytics}}, env={}).analytics

    async def run():
        async with InfluxQLClient(influxdb.url, db) as q:
            return await read_line(q, KEY, start, end, cfg)

    return asyncio.run(run())


def test_machines_follow_the_bulletins_flow_order_and_a_silent_station_is_kept(influxdb, db):
    inp = _read(influxdb, db)
    # The bulletin lists S01, S03, S02 in flow order; S03 never reported but is part of the line.
    assert inp.machines == ("S01", "S03", "S02")
    assert inp.setup.output == 2  # S02, the last station of the bulletin, makes the line's output
    assert inp.setup.operators == 3  # operators = 0 in the bulletin: one per station
    np.testing.assert_allclose(inp.setup.sam_min, [0.5, 0.6, 0.4])
    f = inp.kpis().by_machine()
    assert f.coverage[1] == 0.0  # S03: nothing known, shown as missing data rather than dropped


def test_the_state_before_the_range_decides_its_first_interval(influxdb, db):
    f = _read(influxdb, db).kpis().by_machine()
    # S01 ran from before the range to T+900 (300 s), then broke down to the end (300 s, not minor).
    assert f.seconds[0, RUN] == approx(300.0)
    assert f.seconds[0, BREAKDOWN] == approx(300.0)
    # S02 went idle before the range and stayed idle: 600 s idle, not 600 s unknown.
    assert f.seconds[2, IDLE] == approx(600.0)
    assert f.seconds[2, NO_DATA] == 0.0
    assert f.coverage[0] == 1.0 and f.coverage[2] == 1.0


def test_the_reason_of_a_stop_reaches_the_pareto(influxdb, db):
    inp = _read(influxdb, db)
    p = inp.kpis().pareto()
    assert dict(zip(p.label, p.seconds.tolist(), strict=True)) == {"idle": 600.0, "breakdown: motor": 300.0}


def test_counters_count_from_the_last_reading_before_the_range(influxdb, db):
    f = _read(influxdb, db).kpis().by_machine()
    # 10 -> 15 -> 20 total and 10 -> 14 -> 19 good: the reading at T+500 is only the baseline.
    assert f.total[0] == 10.0 and f.good[0] == 9.0
    assert f.total[2] == 0.0


def test_power_is_metered_where_reported_estimated_from_current_elsewhere_and_gaps_stay_missing(influxdb, db):
    inp = _read(influxdb, db)
    assert inp.power_source == (METERED, NO_POWER, ESTIMATED)
    f = inp.kpis().by_machine()
    # S01: 0.5 kW in 50 of the 60 buckets; the 10 missing ones are not filled in.
    assert f.kwh[0] == approx(0.5 * 500 / 3600)
    assert f.field_coverage()[0] == approx(50 / 60)
    # S02: 2.0 A x 230 V x 0.75 = 0.345 kW for 600 s, all of it idle energy.
    assert f.kwh[2] == approx(0.345 * 600 / 3600)
    assert f.idle_kwh[2] == approx(f.kwh[2])
    # S01's power while broken down (T+900..T+1200) is idle energy too: 0.5 kW x 300 s.
    assert f.idle_kwh[0] == approx(0.5 * 300 / 3600)


def test_a_meter_without_states_is_the_lines_not_a_machines(influxdb, db):
    inp = _read(influxdb, db)
    assert inp.meters == ("EM1",) and "EM1" not in inp.machines
    kwh, present, expected = inp.meter_energy([(START, END)])  # one entry per meter
    assert kwh[0] == approx(1.0 * 600 / 3600) and present[0] == expected[0] == 60
    lf = line_figures(inp, inp.kpis())
    assert lf.kwh == approx(0.5 * 500 / 3600 + 0.345 * 600 / 3600 + 1.0 * 600 / 3600)
    assert lf.kwh_metered == approx(0.5 * 500 / 3600 + 1.0 * 600 / 3600)
    assert lf.kwh_estimated == approx(0.345 * 600 / 3600)
    # Readings present over expected, counting only what measures power: S01 50/60, S02 60/60, EM1 60/60.
    assert lf.energy_pooled == approx(170 / 180)
    # The coverage that flags is the worst source's, not the pooled share (issue 14).
    assert lf.energy_sources == ("S01", "S02", "EM1")
    np.testing.assert_allclose(lf.energy_source_coverage, [50 / 60, 1.0, 1.0])
    assert lf.energy_coverage == approx(50 / 60) and lf.energy_worst == "S01" and lf.energy_partial


def test_a_mostly_missing_feeder_meter_cannot_hide_behind_complete_stations(influxdb, db):
    """Issue 14: a pooled 0.92 hid a feeder meter that sent a sixth of its readings."""
    extra = [f"telemetry,{TAGS},machine=EM2 power_kw=2.0,seq={k}i {T + k * S}" for k in range(600, 700, 10)]
    with httpx.Client(base_url=influxdb.url, timeout=30) as http:
        http.post("/write", params={"db": db}, content="\n".join(extra).encode()).raise_for_status()
    inp = _read(influxdb, db)
    lf = line_figures(inp, inp.kpis())
    # S01 50/60, S02 60/60, EM1 60/60, EM2 10/60: pooled 180/240 = 0.75, worst 1/6.
    assert lf.energy_pooled == approx(180 / 240)
    assert lf.energy_worst == "EM2" and lf.energy_coverage == approx(10 / 60) and lf.energy_partial


def test_after_the_line_falls_silent_the_time_is_missing_data_not_the_last_state(influxdb, db):
    # The range runs to T+2000 but the line's last reading is at T+1190 (telemetry):
    # from T+1250 (silence_s = 60 later) nothing is known.
    inp = _read(influxdb, db, end=T + 2000 * S)
    assert inp.last_data_ns == T + 1190 * S
    assert inp.silent_from_ns == T + 1250 * S
    f = inp.kpis().by_machine()
    assert f.seconds[0, BREAKDOWN] == approx(350.0)  # T+900 .. T+1250, not to T+2000
    assert f.seconds[0, NO_DATA] == approx(750.0)
    assert f.coverage[0] == approx(650 / 1400)
    # Without the silence rule the breakdown would have lasted 1100 s.
    loud = _read(influxdb, db, end=T + 2000 * S, silence_s=10_000.0)
    assert loud.silent_from_ns is None
    assert loud.kpis().by_machine().seconds[0, BREAKDOWN] == approx(1100.0)


def test_line_figures_pool_the_stations_and_take_the_output_from_the_last(influxdb, db):
    inp = _read(influxdb, db)
    lf = line_figures(inp, inp.kpis())
    line = lf.line
    # Pooled over S01, S03, S02: planned 600 + 0 + 600 s, run 300 s, ideal 10 x 30 s, good 9 x 30 s.
    assert line.planned_s == approx(1200.0) and line.run_s == approx(300.0)
    assert line.oee == approx(270.0 / 1200.0)
    assert line.availability * line.performance * line.quality == approx(line.oee)
    assert sum(float(v) for v in line.losses_s().values()) == approx(float(line.planned_s))
    # The output is S02's (nothing), per hour of the line's planned time (600 s).
    assert lf.output_good == 0.0 and lf.pieces_per_hour == 0.0 and lf.planned_s == approx(600.0)
    # Efficiency = SAM of the garment x output / (operators x minutes) = 1.5 x 0 / (3 x 10).
    assert lf.efficiency == 0.0


def test_a_machine_without_a_standard_time_stays_out_of_the_line_figures(influxdb, db):
    # A fusing press (no SAM in the bulletin) runs and counts pieces: it has no performance,
    # and must not turn the line's pooled figures into NaN.
    extra = [_state("P01", 100, "running"), _count("P01", 650, 0, 0), _count("P01", 1000, 30, 30)]
    with httpx.Client(base_url=influxdb.url, timeout=30) as http:
        http.post("/write", params={"db": db}, content="\n".join(extra).encode()).raise_for_status()
    inp = _read(influxdb, db)
    assert inp.machines == ("S01", "S03", "S02", "P01")
    lf = line_figures(inp, inp.kpis())
    assert np.isnan(lf.machines.ideal_s[3]) and np.isnan(lf.machines.performance[3])
    assert lf.machines.availability[3] == 1.0 and lf.machines.total[3] == 30.0
    assert lf.line.oee == approx(270.0 / 1200.0)  # as without the press
    assert lf.pareto.label == ("idle", "breakdown: motor")


def test_find_lines_lists_every_line_with_its_machines(influxdb, db):
    async def run():
        async with InfluxQLClient(influxdb.url, db) as q:
            return await find_lines(q, before_ns=END), await find_lines(q, before_ns=T + 200 * S)

    now, early = asyncio.run(run())
    assert now == {KEY: ["S01", "S02"]}  # machines that reported a state; EM1 has none
    assert early == {KEY: ["S01"]}
