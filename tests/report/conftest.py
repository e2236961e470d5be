"""`report_db`: an InfluxDB filled by the real simulated line, for the shift report.

The whole pipeline runs (simulator, edge agent, mosquitto, collector, influxd, analytics)
for two virtual hours with one bearing wearing fast, so the report has downtime,
a bottleneck, several hours of output and maintenance alerts to show. The virtual
clock starts at 03:26 in Phnom Penh, so this plant works a night shift (C, 22:00-06:00,
with a break at 04:00-04:20): the report must count that break as planned.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tonle.app.line_run import NS, line_run
from tonle.app.services import LocalBroker, LocalInfluxDB
from tonle.config import TonleConfig, parse_config

DATABASE = "report_sim"
RUN_S = 2 * 3600
SHIFTS: dict[str, Any] = {
    "tz": "Asia/Phnom_Penh",
    "workdays": [1, 2, 3, 4, 5, 6, 7],
    "shifts": [
        {"name": "A", "start": "06:00", "end": "14:00", "breaks": ["11:00-12:00"]},
        {"name": "B", "start": "14:00", "end": "22:00", "breaks": ["18:00-18:30"]},
        {"name": "C", "start": "22:00", "end": "06:00", "breaks": ["04:00-04:20"]},
    ],
}


@dataclass(frozen=True)
class ReportDB:
    url: str
    database: str
    start_ns: int
    end_ns: int
    cfg: TonleConfig  # the run's analytics config, pointed at this database
    alerts: int  # alerts the analytics published during the run


@pytest.fixture(scope="session")
def report_db(broker: LocalBroker, influxdb: LocalInfluxDB) -> Iterator[ReportDB]:
    async def fill() -> tuple[int, int, dict[str, Any], int]:
        async with line_run(
            broker,
            influxdb,
            DATABASE,
            start_wear=0.3,
            wear_acceleration=40.0,
            analytics={"shifts": SHIFTS},
            qc=True,  # the QC table records defects: the report's quality section
        ) as run:
            await run.advance(RUN_S)
            analytics = {
                "lines": {
                    k: {"target_pph": v.target_pph, "sam_min": v.sam_min}
                    for k, v in run.cfg.analytics.lines.items()
                },
                "shifts": SHIFTS,
            }
            return run.start_ns, run.clock.now_ns(), analytics, run.analytics.alerts_sent

    start_ns, end_ns, analytics, alerts = asyncio.run(fill())
    cfg = parse_config(
        {"influxdb": {"url": influxdb.url, "database": DATABASE}, "analytics": analytics}, env={}
    )
    yield ReportDB(influxdb.url, DATABASE, start_ns, end_ns + NS, cfg, alerts)
    with httpx.Client(base_url=influxdb.url, timeout=60) as http:
        http.post("/query", data={"q": f'DROP DATABASE "{DATABASE}"'})
