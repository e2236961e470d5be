"""Store and forward: a broker outage, and a gateway killed mid-outage, lose nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import msgspec
import pytest

from tests.helpers import WAIT_S, config_for, count, running_collector, wait_for
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
            health_interval_s = 0.2
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


# Messages the spool must gain while the broker is away before the drill moves on: proof
# that the gateway in that life reads and spools without a broker (the sim line here spools
# about three messages a second, so some 3 s of data).
SPOOLED_MIN = 10


class Gateway:
    """The agent as a separate process, watched through the status.json it writes next to its spool.

    The spool itself cannot be read while the agent runs (it holds an exclusive SQLite lock),
    so the drill reads what the agent reports about it: `spool_depth`, `broker_connected`
    and `messages_confirmed` (counted from this process's start). With `health_interval_s`
    at 0.2 s the file is rewritten several times a second.
    """

    def __init__(self, script: Path, gateway: Path, spool_dir: Path) -> None:
        self.argv = [sys.executable, str(script), str(gateway)]
        self.env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
        self.status_file = spool_dir / "status.json"
        self.log = gateway.with_name("agent.log")
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start a new life; the previous life's status.json is removed so only this one's counts."""
        self.status_file.unlink(missing_ok=True)
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=subprocess.DEVNULL, stderr=log)

    def status(self) -> dict[str, float] | None:
        """The fields the drill waits on from the newest status.json, or None before the first one."""
        try:
            body = msgspec.json.decode(self.status_file.read_bytes())
        except FileNotFoundError:
            return None
        row = body["rows"]["agent"]
        return {
            "broker_connected": body["broker_connected"],
            **{k: row[k] for k in ("spool_depth", "messages_confirmed", "spool_dropped")},
        }

    async def until(self, what: str, done: Callable[[dict[str, float]], bool]) -> dict[str, float]:
        """Poll status.json until `done(status)`; fail at once if the agent died, else after WAIT_S."""
        deadline = time.monotonic() + WAIT_S
        while True:
            status = self.status()
            if status is not None and done(status):
                return status
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"the agent exited ({self.proc.returncode}) while the drill waited for {what}; "
                    f"last status: {status!r}; its log ends:\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"timed out after {WAIT_S:.0f}s waiting for {what}; last status: {status!r}; "
                    f"the agent's log ends:\n{self.tail()}"
                )
            await asyncio.sleep(0.05)

    async def stop(self, sig: signal.Signals) -> int:
        """Send `sig` and wait for the exit without blocking the loop.

        The test's collector runs on this event loop and the agent's clean stop waits for
        its confirmations: a blocking `Popen.wait` here would leave the agent waiting for a
        collector that cannot answer.
        """
        assert self.proc is not None
        self.proc.send_signal(sig)
        deadline = time.monotonic() + WAIT_S
        while (code := self.proc.poll()) is None:
            if time.monotonic() > deadline:
                self.proc.kill()
                await asyncio.to_thread(self.proc.wait)
                raise AssertionError(
                    f"the agent did not exit within {WAIT_S:.0f}s of {sig.name}; last status: "
                    f"{self.status()!r}; its log ends:\n{self.tail()}"
                )
            await asyncio.sleep(0.05)
        return code

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log.exists() else "(no log)"


def test_kill_9_of_the_agent_during_an_outage_loses_nothing(own_broker, influxdb, unique_name, tmp_path):
    spool_dir = tmp_path / "spool"
    gateway = _gateway_toml(tmp_path / "gateway.toml", own_broker, unique_name, spool_dir)
    script = tmp_path / "agent.py"
    script.write_text(AGENT_SCRIPT)
    agent = Gateway(script, gateway, spool_dir)
    cfg = config_for(own_broker, influxdb, unique_name)

    async def body() -> None:
        async with running_collector(cfg), InfluxQLClient(influxdb.url, unique_name) as q:
            agent.start()
            try:
                await wait_for(
                    lambda: count(q, "SELECT count(seq) FROM telemetry"),
                    lambda n: n > 10,
                    "the agent's first samples",
                )
                own_broker.stop()
                # The gateway keeps reading and spooling without a broker.
                cut = await agent.until(
                    "the agent to see the broker gone", lambda s: not s["broker_connected"]
                )
                before_kill = await agent.until(
                    f"the spool to grow by {SPOOLED_MIN} messages during the outage",
                    lambda s: s["spool_depth"] >= cut["spool_depth"] + SPOOLED_MIN,
                )
                assert await agent.stop(signal.SIGKILL) == -signal.SIGKILL  # power cut mid-outage
                agent.start()  # power back: the gateway restarts before the broker does
                # The new life reopens the old backlog (nothing reported before the kill is gone)
                # and spools on top of it.
                backlog = await agent.until(
                    "the restarted agent to spool on top of the old backlog",
                    lambda s: s["spool_depth"] >= before_kill["spool_depth"] + SPOOLED_MIN,
                )
                assert not backlog["broker_connected"]
                own_broker.start()
                # Delivered before the clean stop, so the stop has nothing slow left to do: this
                # life confirmed at least the backlog it reported, and the spool shrank below it
                # (the sim keeps producing, so the depth hovers at a few batches, not at 0).
                await agent.until(
                    f"the backlog of {backlog['spool_depth']:.0f} messages to be confirmed",
                    lambda s: (
                        s["broker_connected"]
                        and s["messages_confirmed"] >= backlog["spool_depth"]
                        and s["spool_depth"] < backlog["spool_depth"]
                    ),
                )
            except BaseException:
                if agent.proc is not None and agent.proc.poll() is None:
                    await agent.stop(signal.SIGKILL)
                raise
            # A clean stop drains what is left.
            assert await agent.stop(signal.SIGTERM) == 0, agent.tail()

            spool = Spool(spool_dir / "spool.sqlite", max_bytes=2**30)
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
