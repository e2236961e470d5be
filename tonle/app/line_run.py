"""The whole loop on virtual time: simulator -> agent -> mosquitto -> collector -> influxd
-> analytics -> commands -> agent -> simulator, every part real.

Time is a VirtualClock that the test advances. After each step the harness waits
on events (broker acks, the collector's sequence tracker catching up with the
agent's, the collector going idle, the agent answering every command) instead of
sleeping, so a run is deterministic in virtual time and as fast as the CPU allows.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from analytics.service import AnalyticsService, LineResult
from collector.service import Collector, make_writer
from edge_agent.agent import Agent
from firmware_sim.line import LineSpec, SewingLine, default_line
from firmware_sim.qc_station import QC_STATION, QcStation
from firmware_sim.source import SimSource
from tonle.app.demo import analytics_lines
from tonle.app.rig import config_for, running_collector, wait_for
from tonle.app.services import LocalBroker, LocalInfluxDB
from tonle.config import TonleConfig
from tonle.contract import MachineAddress, encode
from tonle.io.clock import VirtualClock
from tonle.io.influxql import InfluxQLClient
from tonle.io.mqtt import MqttConnection
from tonle.io.spool import Spool

T0 = 1_780_000_000_000_000_000  # 2026-05-28, a fixed start so runs are reproducible
NS = 1_000_000_000


@dataclass
class LineRun:
    cfg: TonleConfig
    spec: LineSpec
    clock: VirtualClock
    line: SewingLine
    agent: Agent
    collector: Collector
    analytics: AnalyticsService
    q: InfluxQLClient
    results: list[list[LineResult]]
    retired_commands: int = 0  # commands sent by services this run has restarted
    collector_stack: contextlib.AsyncExitStack | None = None  # the running collector, until stopped
    qc: QcStation | None = None  # the line's QC table: defects and andon acknowledgements
    qc_mqtt: MqttConnection | None = None
    breakdown: tuple[int, float] | None = None  # (station index, seconds after the start): it breaks down

    def _break_down_when_due(self) -> None:
        if self.breakdown is not None and (self.clock.now_ns() - T0) / NS >= self.breakdown[1]:
            self.line.break_down(self.breakdown[0])
            self.breakdown = None

    async def open_qc_table(self, stack: contextlib.AsyncExitStack, broker: LocalBroker, seed: int) -> None:
        """The line's QC table, on an MQTT client of its own as a tablet is."""
        client = MqttConnection(broker.host, broker.port, f"qc-{self.cfg.influxdb.database}")
        mqtt = await stack.enter_async_context(client)
        await mqtt.wait_connected()
        self.qc, self.qc_mqtt = QcStation(self.line, seed=seed), mqtt

    async def floor_input(self, acted_from: int) -> None:
        """What the QC table sends: defects found, and an ack of each andon lit since `acted_from`."""
        if self.qc is None or self.qc_mqtt is None:
            return
        now, s = self.clock.now_ns(), self.spec
        for defect in self.qc.check(now):
            addr = MachineAddress(s.site, s.area, s.line, QC_STATION)
            await self.qc_mqtt.publish(addr.topic("defect"), encode(defect), qos=1)
        for action in self.analytics.actions[acted_from:]:
            if action.condition == "andon":
                addr = MachineAddress(s.site, s.area, s.line, action.machine)
                await self.qc_mqtt.publish(addr.topic("andon/ack"), encode(self.qc.acknowledge(now)), qos=1)

    @property
    def start_ns(self) -> int:
        return T0

    async def settle(self) -> None:
        """Wait until everything the agent published is stored and acknowledged.

        The agent's spool empties only as a collector confirms what the database holds
        (docs/delivery.md), so an empty spool is the proof; the collector being idle covers
        what it stores of its own (health rows, completeness).
        """
        agent = self.agent

        async def caught_up() -> bool:
            if agent.mqtt.in_flight or agent.spool.depth:
                agent.publisher.wake()
                return False
            collector = self.collector
            return collector.idle.is_set() and collector.mqtt.messages.empty()

        await wait_for(caught_up, bool, "the collector to store everything the agent published")

    async def settle_commands(self) -> None:
        async def answered() -> int:
            return sum(self.agent.stats.commands.values()) + self.agent.stats.bad_commands

        sent = self.retired_commands + self.analytics.commands_sent
        await wait_for(answered, lambda n: n >= sent, "the agent to answer commands")

    @contextlib.asynccontextmanager
    async def restarted_analytics(self) -> AsyncIterator[AnalyticsService]:
        """Stop the analytics service and start a fresh one on the same database and broker.

        The new one has its own connections and nothing in memory, as after a process restart;
        it replaces `analytics` until the block ends.
        """
        old = self.analytics
        cfg, name = self.cfg, self.cfg.influxdb.database
        async with (
            make_writer(cfg) as writer,
            InfluxQLClient(cfg.influxdb.url, name) as q,
            MqttConnection(cfg.mqtt.host, cfg.mqtt.port, f"analytics-{name}-restarted") as amqtt,
        ):
            await amqtt.wait_connected()
            self.retired_commands += old.commands_sent
            self.analytics = AnalyticsService(cfg, self.clock, q, writer, amqtt)
            try:
                yield self.analytics
            finally:
                self.retired_commands -= old.commands_sent
                self.retired_commands += self.analytics.commands_sent
                self.analytics = old

    async def stop_collector(self) -> None:
        """Stop the collector (as when its server goes down); `start_collector` brings a new one."""
        if self.collector_stack is not None:
            await self.collector_stack.aclose()
            self.collector_stack = None

    async def start_collector(self) -> Collector:
        """A fresh collector on the same config (its client id, spool and share group)."""
        await self.stop_collector()
        stack = contextlib.AsyncExitStack()
        self.collector = await stack.enter_async_context(running_collector(self.cfg, self.clock, reckon=True))
        self.collector_stack = stack
        return self.collector

    async def advance(self, seconds: float, *, connected: bool = True, analytics: bool = True) -> None:
        """Run the line for `seconds` of virtual time, analytics at its interval.

        With `connected=False` (the broker is down) nothing waits for delivery:
        the agent keeps reading and spooling, and analytics does not run.
        With `analytics=False` (the analytics service is down) everything else runs.
        """
        step = self.cfg.agent.publish_interval_s
        every = self.cfg.analytics.interval_s
        elapsed = 0.0
        next_analytics = (self.clock.now_ns() - T0) / NS + every
        while elapsed < seconds - 1e-9:
            await self.clock.advance(step)
            elapsed += step
            self._break_down_when_due()
            self.agent.poll_sims()
            await self.agent.flush()
            if connected and (self.clock.now_ns() - T0) / NS >= next_analytics - 1e-9:
                next_analytics += every
                await self.settle()
                if analytics:
                    acted = len(self.analytics.actions)
                    self.results.append(await self.analytics.run_once(self.clock.now_ns()))
                    await self.floor_input(acted)
                await self.collector.write_health()
                self.agent.publish_health()
                await self.settle_commands()
        if connected:
            await self.settle()


@contextlib.asynccontextmanager
async def line_run(
    broker: LocalBroker,
    influxdb: LocalInfluxDB,
    name: str,
    *,
    stations: int = 12,
    wearing_station: int | None = 6,
    start_wear: float | None = None,
    wear_acceleration: float = 1.0,
    seed: int = 1,
    analytics: dict[str, Any] | None = None,
    agent: dict[str, Any] | None = None,
    collector: dict[str, Any] | None = None,
    spool_dir: Path | None = None,
    breakdown: tuple[int, float] | None = None,
    qc: bool = False,
) -> AsyncIterator[LineRun]:
    """The whole loop on a virtual clock; `analytics`, `agent` and `collector` override config keys.

    `breakdown` (station, s): it breaks down then, so the rules light its andon; `qc`: the QC
    table records defects and acknowledges each andon (`LineRun.open_qc_table`)."""
    spec = _spec(name, stations, wearing_station, start_wear, seed)
    cfg = _config(broker, influxdb, name, spec, analytics or {}, agent or {}, collector or {})
    clock = VirtualClock(T0)
    line = SewingLine(spec, seed=seed, start_ns=T0, wear_acceleration=wear_acceleration, maintenance_s=600.0)
    tmp = tempfile.TemporaryDirectory() if spool_dir is None else None
    spool = Spool(
        Path(tmp.name if tmp else spool_dir) / "spool.sqlite", max_bytes=256 * 2**20, synchronous="NORMAL"
    )
    source = SimSource(line, spec, clock, tick_s=cfg.agent.publish_interval_s)
    stack = contextlib.AsyncExitStack()
    first = await stack.enter_async_context(running_collector(cfg, clock, reckon=True))
    async with (
        stack,
        Agent(cfg.mqtt, cfg.agent, [source], clock, spool) as ag,
        make_writer(cfg) as writer,
        InfluxQLClient(influxdb.url, name) as q,
        MqttConnection(broker.host, broker.port, f"analytics-{name}") as amqtt,
        contextlib.AsyncExitStack() as qc_stack,  # the QC table's own client, when `qc`
    ):
        await asyncio.gather(ag.mqtt.wait_subscribed(), amqtt.wait_connected())
        service = AnalyticsService(cfg, clock, q, writer, amqtt)
        commands = asyncio.create_task(ag.command_loop(), name="test-agent-commands")
        publisher = asyncio.create_task(ag.publisher.run(), name="test-agent-publisher")
        run = LineRun(cfg, spec, clock, line, ag, first, service, q, [], collector_stack=stack)
        run.breakdown = breakdown
        if qc:
            await run.open_qc_table(qc_stack, broker, seed)
        try:
            yield run
        finally:
            await run.stop_collector()
            for task in (commands, publisher):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            spool.close()
            if tmp:
                tmp.cleanup()


def _spec(
    name: str, stations: int, wearing_station: int | None, start_wear: float | None, seed: int
) -> LineSpec:
    """The default line of `stations` on site `name`, its wearing bearing at `start_wear` if given."""
    spec = default_line(n_stations=stations, seed=seed, wearing_station=wearing_station, site=name)
    if start_wear is not None and wearing_station is not None:
        st = list(spec.stations)
        st[wearing_station] = replace(st[wearing_station], initial_wear=start_wear)
        spec = replace(spec, stations=tuple(st))
    return spec


def _config(
    broker: LocalBroker,
    influxdb: LocalInfluxDB,
    name: str,
    spec: LineSpec,
    analytics: dict[str, Any],
    agent: dict[str, Any],
    collector: dict[str, Any],
) -> TonleConfig:
    """A private config for the run: the line's bulletin, analytics every 30 s, publishing every 5 s."""
    lines = {
        spec.line: {
            "target_pph": spec.target_pcs_per_h,
            "sam_min": {s.name: s.sam_min for s in spec.stations},
        }
    }
    assert analytics_lines(spec)[spec.line].sam_min == lines[spec.line]["sam_min"]
    return config_for(
        broker,
        influxdb,
        name,
        analytics={
            "interval_s": 30.0,
            "health_window_s": 60.0,
            "window_s": 600.0,
            "lines": lines,
            **analytics,
        },
        agent={"publish_interval_s": 5.0, **agent},
        collector=collector,
    )
