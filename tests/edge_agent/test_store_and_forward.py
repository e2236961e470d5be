"""Store and forward: a broker outage, and a gateway killed mid-outage, lose nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import config_for, count, running_collector, wait_for
from tonle.app.line_run import line_run
from tonle.app.services import LocalBroker
from tonle.io.influxql import InfluxQLClient
from tonle.io.spool import Spool


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker this test may stop and restart (on the same port, with its persistence)."""
    b = LocalBroker(folder=tmp_path / "broker", secure=False).start()
    yield b
    b.stop()


async def seq_runs(q: InfluxQLClient, measurement: str) -> dict[str, list[int]]:
    rows = await q.query(f"SELECT seq FROM {measurement} GROUP BY machine")
    return {s.tags["machine"]: [r[1] for r in s.values] for s in rows}


def assert_complete(runs: dict[str, list[int]]) -> None:
    """Every stream's stored sequence numbers are exactly 0..n-1: no hole, no duplicate point.

    (Delivery order is checked by the collector: a message arriving before an
    earlier one counts as a sequence gap.)
    """
    for machine, seqs in runs.items():
        assert sorted(seqs) == list(range(len(seqs))), f"{machine}: sequence numbers have holes"


def test_a_broker_outage_loses_nothing_and_keeps_order(own_broker, influxdb, unique_name, tmp_path):
    async def body() -> None:
        async with line_run(
            own_broker, influxdb, unique_name, wearing_station=None, spool_dir=tmp_path
        ) as run:
            await run.advance(60)
            own_broker.stop()
            await run.advance(300, connected=False)  # five minutes without a broker
            assert run.agent.spool.depth > 0, "the agent should have spooled during the outage"
            spooled = run.agent.spool.depth
            own_broker.start()
            await run.advance(30)
            stats = run.agent.stats
            for measurement in ("telemetry", "state", "production"):
                published = sum(n for (_, meas), n in stats.samples.items() if meas == measurement)
                assert await count(run.q, f"SELECT count(seq) FROM {measurement}") == published
                assert_complete(await seq_runs(run.q, measurement))
            assert run.agent.spool.depth == 0
            assert run.agent.spool.dropped == 0
            assert run.collector.stats.seq_gaps == 0
            assert spooled >= 5 * 60 // 5  # at least one message per publish interval was held

    asyncio.run(body())


AGENT_SCRIPT = textwrap.dedent(
    """
    import asyncio, sys
    from tonle.app.cli import main
    sys.exit(main(["agent", "--config", sys.argv[1]]))
    """
)


def _gateway_toml(path: Path, broker: LocalBroker, name: str, spool: Path) -> Path:
    path.write_text(
        textwrap.dedent(
            f"""
            [mqtt]
            host = "{broker.host}"
            port = {broker.port}
            tls = false
            [agent]
            id = "gw-{name}"
            site = "{name}"
            publish_interval_s = 0.2
            [spool]
            path = "{spool}"
            synchronous = "FULL"
            [[devices]]
            type = "sim"
            name = "line"
            stations = 3
            wearing_station = -1
            tick_s = 0.2
            """
        )
    )
    return path


def test_kill_9_of_the_agent_during_an_outage_loses_nothing(own_broker, influxdb, unique_name, tmp_path):
    gateway = _gateway_toml(tmp_path / "gateway.toml", own_broker, unique_name, tmp_path / "spool")
    script = tmp_path / "agent.py"
    script.write_text(AGENT_SCRIPT)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    cfg = config_for(own_broker, influxdb, unique_name)

    def start_agent() -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            [sys.executable, str(script), str(gateway)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    async def body() -> None:
        async with running_collector(cfg), InfluxQLClient(influxdb.url, unique_name) as q:
            agent = start_agent()
            try:
                await wait_for(
                    lambda: count(q, "SELECT count(seq) FROM telemetry"),
                    lambda n: n > 10,
                    "the agent's first samples",
                )
                own_broker.stop()
                await asyncio.sleep(3)  # the gateway keeps reading and spooling without a broker
                agent.send_signal(signal.SIGKILL)  # power cut in the middle of the outage
                agent.wait(10)
                agent = start_agent()  # power back: the gateway restarts before the broker does
                await asyncio.sleep(2)
                own_broker.start()
                await asyncio.sleep(2)
            finally:
                agent.send_signal(signal.SIGTERM)  # a clean stop drains what is left
                assert agent.wait(30) == 0

            spool = Spool(tmp_path / "spool" / "spool.sqlite", max_bytes=2**30)
            assert spool.depth == 0, "the restarted agent did not deliver its whole spool"
            assert spool.dropped == 0
            counters = spool.load_state()
            spool.close()
            kinds = {"telemetry": "telemetry", "state": "state", "production": "count"}
            spooled = sum(n for key, n in counters.items() if key.endswith("/telemetry"))
            await wait_for(
                lambda: count(q, "SELECT count(seq) FROM telemetry"),
                lambda n: n >= spooled,
                "the collector to store the drained backlog",
            )
            for measurement, kind in kinds.items():
                runs = await seq_runs(q, measurement)
                assert runs, measurement
                assert_complete(runs)
                for machine, seqs in runs.items():
                    # Everything the agent ever spooled, in both of its lives, is stored.
                    assert len(seqs) == counters[f"seq/{machine}/{kind}"], (machine, measurement)

    asyncio.run(body())
