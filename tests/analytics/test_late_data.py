"""Late data: a row computed before a gateway's backlog arrived is written again once it has.

A real influxd. Line L1 has two stations in series (S01 -> S02, SAM 0.5 min each), both
running from T, each making a piece every 30 s, with 1 Hz power. The gateway's backlog
[T+300 s, T+1200 s) is held back while analytics computes the window ending T+1200 s,
then delivered; the next round (T+1300 s) must leave the stored T+1200 s rows equal to
a computation from all the data (OEE, pieces per hour, station performance).
"""

from __future__ import annotations

import asyncio

import pytest

from analytics.inputs import LineKey, line_figures, read_line
from analytics.rolling import RollingRows
from tonle.config import parse_config
from tonle.contract import MACHINE_STATES
from tonle.io.influxql import InfluxQLClient
from tonle.io.writers.v1 import InfluxV1Writer

pytestmark = pytest.mark.services

S = 1_000_000_000
T = 1_772_409_600 * S  # 2026-03-02 00:00 UTC = 07:00 in Phnom Penh, a Monday: shift A
KEY = LineKey("s", "a", "L1")
TAGS = "site=s,area=a,line=L1"
CFG = parse_config(
    {"analytics": {"lines": {"L1": {"target_pph": 120.0, "sam_min": {"S01": 0.5, "S02": 0.5}}}}}, env={}
).analytics
ROW, NEXT = T + 1200 * S, T + 1300 * S


def _data(lo_s: int, hi_s: int) -> bytes:
    rows = []
    for m in ("S01", "S02"):
        if lo_s == 0:
            code = MACHINE_STATES.index("running")
            rows.append(f'state,{TAGS},machine={m} code={code}i,state="running",seq=1i {T}')
        rows += [f"telemetry,{TAGS},machine={m} power_kw=0.4,seq={k}i {T + k * S}" for k in range(lo_s, hi_s)]
        rows += [
            f"production,{TAGS},machine={m} total={k // 30}i,good={k // 30}i,seq={k}i {T + k * S}"
            for k in range(lo_s - lo_s % 30 + (30 if lo_s % 30 else 0), hi_s, 30)
        ]
    return "\n".join(rows).encode()


async def _stored(q: InfluxQLClient) -> tuple[dict, dict]:
    line = await q.query(f"SELECT oee, pieces_per_hour FROM line_kpi WHERE time = {ROW}")
    oee = await q.query(f"SELECT performance FROM oee WHERE machine = 'S01' AND time = {ROW}")
    return dict(zip(line[0].columns, line[0].values[0], strict=True)), dict(
        zip(oee[0].columns, oee[0].values[0], strict=True)
    )


def test_a_window_computed_before_its_backlog_arrived_is_rewritten_right(influxdb, unique_name) -> None:
    async def run():
        async with (
            InfluxV1Writer(influxdb.url, unique_name) as w,
            InfluxQLClient(influxdb.url, unique_name) as q,
        ):
            await w.ensure_database()
            rolling = RollingRows(CFG, CFG.shifts.calendar(), q, w)

            async def round_at(end_ns: int) -> None:
                inputs = await read_line(q, KEY, end_ns - int(CFG.window_s * S), end_ns, CFG)
                result = inputs.kpis(rolling.calendar)
                lf = line_figures(inputs, result)
                await w.write(rolling.rows(KEY, list(inputs.machines), inputs, result, lf, end_ns))
                await rolling.revisit(KEY, list(inputs.machines), inputs.last_data_ns, end_ns)

            await w.write(_data(0, 300))  # the backlog [300, 1200) is held back
            await round_at(ROW)
            early = await _stored(q)
            await w.write(_data(300, 1300))  # the backlog arrives, and the next 100 s
            await round_at(NEXT)
            late = await _stored(q)
            full = await read_line(q, KEY, ROW - int(CFG.window_s * S), ROW, CFG)
            lf = line_figures(full, full.kpis(rolling.calendar))
            return early, late, lf, rolling.rewritten

    (early_line, _early_oee), (line, oee), lf, rewritten = asyncio.run(run())
    print(f"T+1200 s row before the backlog: {early_line}; after: {line}, station S01 {oee}")
    assert rewritten == 1
    # Written while the backlog was out, the row was wrong (the stations' state after
    # T+360 s was unknown, and their pieces missing) ...
    assert early_line["pieces_per_hour"] != pytest.approx(lf.pieces_per_hour, rel=0.01)
    # ... and after the backlog it equals the computation from all the data.
    assert line["oee"] == pytest.approx(float(lf.line.oee), rel=1e-9)
    assert line["pieces_per_hour"] == pytest.approx(lf.pieces_per_hour, rel=1e-9)
    assert lf.pieces_per_hour == pytest.approx(120.0, rel=0.01)  # one piece per 30 s
    assert oee["performance"] == pytest.approx(float(lf.machines.performance[0]), rel=1e-9)
    assert oee["performance"] == pytest.approx(1.0, rel=0.01)
