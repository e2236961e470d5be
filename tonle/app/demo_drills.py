"""The demo's fault drills: stop the broker or the database, kill the agent or the collector, mid-run.

Each drill is timed and recorded in the summary, so a trainer can show what broke, for how long, and
that nothing was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from tonle.app.demo_plant import (
    AgentProcess,
    CollectorProcess,
    Services,
    mqtt_client,
)
from tonle.contract import subscription
from tonle.io.mqtt import MqttError

log = logging.getLogger("tonle.app.demo")
# collector-crash: the SIGKILL lands this long after machine data crossed the
# broker, inside the collector's batch window (batch_wait_ms, 200 ms by default).
IN_FLIGHT_DELAY_S = 0.05
COLLECTOR_DOWN_S = 4.0
DB_OUTAGE_MIN_S = 10.0


@dataclass
class Drill:
    """A fault for a class, injected mid-run into the real processes; `timings` go into the summary.

    Times are seconds since the drill was armed (the start of the live view).
    """

    kind: str
    duration_s: float
    svc: Services
    agent: AgentProcess
    collector: CollectorProcess
    start_collector: Callable[[], None]
    timings: dict[str, float] = field(default_factory=dict)
    t0: float = field(default_factory=time.monotonic)

    def mark(self, key: str, since: float | None = None) -> None:
        self.timings[key] = round(time.monotonic() - (self.t0 if since is None else since), 1)

    async def run(self) -> None:
        await asyncio.sleep(self.duration_s * 0.25)
        if self.kind == "db-outage":
            await self.db_outage()
        elif self.kind == "collector-crash":
            await self.collector_crash()
        else:
            await self.broker_outage()

    async def broker_outage(self) -> None:
        """Take the network (and for agent-crash, the gateway's power) away mid-run, then give it back."""
        broker = self.svc.broker
        assert broker is not None
        log.warning(
            "DRILL: the broker stops (the plant's network is down); the agent keeps reading into its spool"
        )
        self.mark("broker_stopped_at_s")
        down = time.monotonic()
        await asyncio.to_thread(broker.stop)
        outage = self.duration_s * 0.35
        if self.kind == "agent-crash":
            await asyncio.sleep(outage * 0.5)
            log.warning("DRILL: the gateway loses power (SIGKILL of the agent) in the middle of the outage")
            await asyncio.to_thread(self.agent.kill)
            self.mark("agent_killed_at_s")
            await asyncio.sleep(2)
            log.warning("DRILL: power is back; the agent restarts and finds its spool")
            self.agent.start()
            await asyncio.sleep(outage * 0.5 - 2)
        else:
            await asyncio.sleep(outage)
        await asyncio.to_thread(broker.start)
        self.mark("broker_down_s", since=down)
        log.warning("DRILL: the broker is back; watch the spool drain")

    async def db_outage(self) -> None:
        """Stop InfluxDB for a while: the collector must hold the data until it is back."""
        db = self.svc.db
        assert db is not None
        log.warning(
            "DRILL: the database stops (InfluxDB is down); the collector holds the data (its spool, then "
            "the broker's queue) and the analytics skips its rounds until the database is back"
        )
        self.mark("db_stopped_at_s")
        down = time.monotonic()
        await asyncio.to_thread(db.stop)
        await asyncio.sleep(max(DB_OUTAGE_MIN_S, self.duration_s * 0.25))
        await asyncio.to_thread(db.start)
        self.mark("db_down_s", since=down)
        log.warning(
            "DRILL: the database is back after %.0fs on the same port with its data; "
            "watch the collector catch up",
            self.timings["db_down_s"],
        )

    async def collector_crash(self) -> None:
        """SIGKILL the collector while it holds a batch, then restart it with the same MQTT session."""
        cfg = self.svc.cfg
        async with mqtt_client(cfg, f"tonle-demo-drill-{os.getpid()}") as watch:
            await watch.subscribe(subscription("telemetry"), qos=0)
            with contextlib.suppress(TimeoutError, MqttError):  # no traffic seen: kill all the same
                await watch.wait_subscribed()
                # Machine data just crossed the broker: the collector is batching
                # it and has not acknowledged it yet.
                await asyncio.wait_for(watch.messages.get(), 15)
                await asyncio.sleep(IN_FLIGHT_DELAY_S)
            await asyncio.to_thread(self.collector.kill)
        self.mark("collector_killed_at_s")
        down = time.monotonic()
        log.warning(
            "DRILL: the collector's server loses power (SIGKILL) with a batch in flight; the broker keeps "
            "every message the collector had not acknowledged"
        )
        await asyncio.sleep(COLLECTOR_DOWN_S)
        self.start_collector()
        self.mark("collector_down_s", since=down)
        log.warning(
            "DRILL: the collector restarts with the same client id; the broker hands it back what it "
            "had not acknowledged"
        )
