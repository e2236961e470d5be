"""`filled_influxdb`: a database filled by the real simulated line through the whole pipeline.

The simulator, the edge agent, mosquitto, the collector and the analytics run
for 25 virtual minutes (see tonle/app/line_run.py), with one bearing wearing fast
enough that alerts, a derate and a maintenance command happen, and one station breaks down
(its andon lit by the analytics and acknowledged at the QC table, which also records defects). Every dashboard
panel query must return rows on what the product really writes, not on data
shaped to fit the dashboards.

The virtual clock starts in May 2026, not "now", so a query that silently
assumes "the last hour" finds nothing and fails.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx
import pytest

from tests.deploy.deploy_broker import DeployBroker, make_security
from tonle.app.line_run import NS, line_run
from tonle.app.services import LocalBroker, LocalInfluxDB

DATABASE = "dashboards_sim"
RUN_S = 25 * 60
BREAKDOWN = (2, 15 * 60)  # S03's motor fails 15 minutes in: its andon is lit and acknowledged


class FilledInflux(NamedTuple):
    url: str
    database: str
    start_ns: int
    end_ns: int


@pytest.fixture(scope="session")
def filled_influxdb(broker: LocalBroker, influxdb: LocalInfluxDB) -> Iterator[FilledInflux]:
    async def fill() -> tuple[int, int]:
        async with line_run(
            broker, influxdb, DATABASE, start_wear=0.3, wear_acceleration=40.0, breakdown=BREAKDOWN, qc=True
        ) as run:
            await run.advance(RUN_S)
            await run.collector.write_health()
            await run.collector.reckon_completeness(lag_s=0)
            kinds = {a.condition for a in run.analytics.actions}
            assert {"derate", "maintenance", "andon"} <= kinds, f"the run produced only {kinds}"
            return run.start_ns, run.clock.now_ns()

    start_ns, end_ns = asyncio.run(fill())
    yield FilledInflux(influxdb.url, DATABASE, start_ns, end_ns + NS)
    with httpx.Client(base_url=influxdb.url, timeout=60) as http:
        http.post("/query", data={"q": f'DROP DATABASE "{DATABASE}"'})


@pytest.fixture(scope="session")
def deploy_security(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The security folder compose's `provision` service makes, with two gateways and an operator."""
    return make_security(tmp_path_factory.mktemp("deploy-security") / "security")


@pytest.fixture(scope="session")
def deploy_broker(tmp_path_factory: pytest.TempPathFactory, deploy_security: Path) -> Iterator[DeployBroker]:
    b = DeployBroker(folder=tmp_path_factory.mktemp("mosquitto-deploy"), security=deploy_security)
    b.start()
    yield b
    b.stop()
