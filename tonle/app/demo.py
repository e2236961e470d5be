"""`tonle demo`: a simulated sewing line through the whole loop, on one laptop.

Starts its own mosquitto and influxd (unless a broker and database are
configured), runs the line, edge agent, collector and analytics together, shows
the line live, and ends with one JSON summary line that proves nothing was lost.
The wear of one station's bearing is accelerated so a class sees, within a
minute, the health fall, the derate command go down, and maintenance follow.

The edge agent and the collector run as their own processes, as they do in a
plant, so the fault drills can kill them; the demo learns what the collector did
the way a dashboard does, from the collector's own rows in the `pipeline`
measurement.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import msgspec

from analytics.service import AnalyticsService
from firmware_sim.line import LineSpec, SewingLine, default_line
from firmware_sim.modbus_devices import demo_plant
from firmware_sim.serial_node import SerialLineSim
from tonle.app.demo_accounting import (
    CollectorHealth,
    drain,
    final_health,
    spooled_counts,
    summarize,
    wait_for_collector,
)
from tonle.app.demo_analytics import AnalyticsRuns
from tonle.app.demo_checks import check_options, preflight
from tonle.app.demo_drills import DRILLS, Drill
from tonle.app.demo_plant import (
    NODE_RING,
    NS,
    AgentProcess,
    CollectorProcess,
    Services,
    mqtt_client,
    nodes_delivered,
    run_nodes,
    warm_up,
    write_collector_config,
    write_gateway_config,
)
from tonle.app.demo_protocols import (
    OPCUA_PASSWORD_ENV,
    PLANT_PASSWORD_ENV,
    PocketSetter,
    pocket_setter,
    protocol_counts,
    scada_plant,
)
from tonle.app.demo_report import after_run
from tonle.app.demo_security import demo_identities, secure_influxdb
from tonle.app.demo_view import LiveView, print_summary
from tonle.app.services import LocalBroker, LocalInfluxDB, free_port
from tonle.config import LineConfig, TonleConfig
from tonle.errors import TonleError
from tonle.io.clock import WallClock
from tonle.io.connect import influx_writer, influxql_client
from tonle.io.influxql import InfluxQLClient
from tonle.messages import _
from tonle.security.commands import load_signer

__all__ = ["DRILLS", "CollectorHealth", "DemoOptions", "print_summary", "run_demo"]

log = logging.getLogger("tonle.app.demo")
# The line has been running for this long when the class starts watching: its
# buffers, counters and KPI windows are in steady state, and the backlog is
# published at start like a gateway catching up.
WARMUP_S = 20 * 60


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float = 120.0
    headless: bool = False
    run_dir: Path = Path("run")
    own_services: bool = True
    drill: str | None = None  # one of DRILLS
    report: Path | None = None  # the shift report of the run, made before the database stops
    keep: bool = False  # hold the database up after the line stops, until Ctrl-C (demo_report)


DEMO_START_WEAR = 0.3


def demo_line(cfg: TonleConfig, duration_s: float) -> tuple[LineSpec, float]:
    """The demo line and the wear acceleration that makes its bad bearing fail in about one run.

    The bad bearing starts at wear 0.3 (health still good), and wears out in
    `duration_s` at full speed, so the class sees health fall, the derate, and
    (because derating slows wear by speed cubed) maintenance near the end.
    """
    s = cfg.sim
    spec = default_line(
        n_stations=s.stations,
        seed=s.seed,
        wearing_station=s.wearing_station,
        site=cfg.agent.site,
        area=cfg.agent.area,
        line=cfg.agent.line,
    )
    spec = replace(spec, burst_interval_s=2.0)
    if not 0 <= s.wearing_station < len(spec.stations) or s.wear_acceleration != 1.0:
        return spec, s.wear_acceleration
    stations = list(spec.stations)
    bad = stations[s.wearing_station] = replace(stations[s.wearing_station], initial_wear=DEMO_START_WEAR)
    spec = replace(spec, stations=tuple(stations))
    hours_to_fail = duration_s / 3600.0
    return spec, max(1.0, (1.0 - bad.initial_wear) / (bad.wear_per_h * hours_to_fail))


def analytics_lines(spec: LineSpec) -> dict[str, LineConfig]:
    return {
        spec.line: LineConfig(
            target_pph=spec.target_pcs_per_h, sam_min={st.name: st.sam_min for st in spec.stations}
        )
    }


def demo_config(cfg: TonleConfig, spec: LineSpec) -> TonleConfig:
    """Speed the analytics up to demo pace: short windows, quick baselines."""
    a = cfg.analytics
    lines = dict(a.lines) or analytics_lines(spec)
    analytics = replace_struct(
        a,
        interval_s=min(a.interval_s, 2.0),
        health_window_s=min(a.health_window_s, 8.0),
        baseline_samples=min(a.baseline_samples, 4),
        lines=lines,
    )
    sim = replace_struct(cfg.sim, maintenance_s=min(cfg.sim.maintenance_s, 15.0))
    return replace_struct(cfg, analytics=analytics, sim=sim)


def replace_struct(obj: Any, **changes: Any) -> Any:
    return msgspec.structs.replace(obj, **changes)


@contextlib.asynccontextmanager
async def services(
    cfg: TonleConfig, opts: DemoOptions, folder: Path, spec: LineSpec
) -> AsyncIterator[Services]:
    """Start private mosquitto and influxd when none is configured; stop them on exit.

    Secure as in a plant: mosquitto speaks TLS only and knows each part of the demo by its
    own certificate (gateway, collector, analytics, the drills' watch), with the ACL made from
    those identities; influxd wants a user and password (in the environment, never a file).
    """
    if not opts.own_services:
        yield Services(cfg)
        return
    broker = LocalBroker(folder=folder / "mosquitto", port=free_port())  # known before it starts
    db = LocalInfluxDB(folder=folder / "influxdb", http_settings={"auth-enabled": True})
    try:
        identities = await asyncio.to_thread(demo_identities, broker, spec, opts.drill == "intruder")
        await asyncio.to_thread(broker.start)
        await asyncio.to_thread(db.start)
        influx = await asyncio.to_thread(secure_influxdb, db, cfg.influxdb)
        log.info(
            _(
                "started mosquitto (TLS) on port {broker_port} and influxd on port {db_port} "
                "(data in {folder})"
            ).format(broker_port=broker.port, db_port=db.port, folder=folder)
        )
        yield Services(
            replace_struct(cfg, mqtt=identities["analytics"], influxdb=influx), broker, db, identities
        )
    finally:
        broker.stop()
        db.stop()


async def run_demo(cfg: TonleConfig, opts: DemoOptions) -> dict[str, Any]:
    check_options(opts)
    spec, accel = demo_line(cfg, opts.duration_s)
    cfg = demo_config(cfg, spec)
    folder = (opts.run_dir / time.strftime("demo-%Y%m%d-%H%M%S")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    async with services(cfg, opts, folder, spec) as svc:
        if not opts.own_services:
            await preflight(svc.cfg)
        start_ns = time.time_ns() - WARMUP_S * NS
        summary = await _run_line(svc, spec, accel, opts, folder)
        await after_run(svc.cfg, spec, (start_ns, time.time_ns()), opts, folder, summary)
        return summary


async def _run_line(
    svc: Services, spec: LineSpec, accel: float, opts: DemoOptions, folder: Path
) -> dict[str, Any]:
    """The line, its gateway, the collector and analytics on the services; the summary at the end."""
    cfg, clock = svc.cfg, WallClock()
    # The analytics signs its commands with a key of this run; the gateway trusts only that one.
    key_path = folder / "analytics.key"
    signer = load_signer(key_path, cfg.analytics.signer)
    cfg = replace_struct(cfg, analytics=replace_struct(cfg.analytics, signing_key=str(key_path)))
    now = clock.now_ns()
    line = SewingLine(
        spec, seed=cfg.sim.seed, start_ns=now - WARMUP_S * NS, maintenance_s=cfg.sim.maintenance_s
    )
    async with (
        SerialLineSim(line, folder / "tty", ring_size=NODE_RING) as nodes,
        demo_plant(clock) as plant,
        scada_plant(folder, clock) as scada,
        pocket_setter(folder, clock) as setter,
        influx_writer(cfg) as kpi_writer,
        influxql_client(cfg) as q,
        mqtt_client(svc.mqtt("analytics"), f"tonle-demo-analytics-{folder.name}") as mqtt,
    ):
        produced: Counter[tuple[str, str]] = Counter()  # ground truth: what the nodes sent
        warm_up(nodes, now, produced)  # the shift so far waits in the nodes until the gateway reads it
        line.set_wear_acceleration(accel)
        gateway = write_gateway_config(
            folder,
            svc.mqtt("gateway"),
            spec,
            nodes.links,
            plant.tcp.port,
            str(plant.rtu.port),
            trusted_keys={signer.name: signer.public_text},
            plant_broker=scada.gateway_settings(),
            opcua=_opcua_settings(setter),
        )
        passwords = {OPCUA_PASSWORD_ENV: setter.password, PLANT_PASSWORD_ENV: scada.gateway_password}
        agent = AgentProcess(gateway, folder / "agent.log", secrets=passwords)
        analytics = AnalyticsRuns(lambda: AnalyticsService(cfg, clock, q, kpi_writer, mqtt))
        run = _Run(svc, opts, spec, folder, clock, now, nodes, q, produced, agent, analytics, setter)
        try:
            run.start_collector()
            await run.collector_ready()
            run.agent.start()
            drill, end_ns = await run.live()
            return await run.account(drill, end_ns)
        finally:
            run.stop()


def _opcua_settings(setter: PocketSetter) -> dict[str, str]:
    """The gateway config's keys that point the OPC UA device at this run's server and files."""
    return {
        "endpoint": setter.endpoint,
        "certificate": str(setter.certificate),
        "private_key": str(setter.private_key),
        "server_certificate": str(setter.server_certificate),
    }


@dataclass
class _Run:
    """One run's moving parts: the processes, the ground truth and the collector's health.

    It is also what a drill acts on (`demo_drills.Plant`).
    """

    svc: Services
    opts: DemoOptions
    spec: LineSpec
    folder: Path
    clock: WallClock
    start_ns: int
    nodes: SerialLineSim
    q: InfluxQLClient
    produced: Counter[tuple[str, str]]
    agent: AgentProcess
    analytics: AnalyticsRuns
    pocket_setter: PocketSetter
    collector: CollectorProcess = field(init=False)
    health: CollectorHealth = field(init=False)

    def __post_init__(self) -> None:
        svc = self.svc
        config = write_collector_config(self.folder, svc.cfg, svc.mqtt("collector"), self.folder.name)
        self.collector = CollectorProcess(config, self.folder / "collector.log")
        self.health = CollectorHealth(since_ns=self.start_ns)

    def start_collector(self) -> None:
        self.health.process_started(self.clock.now_ns())
        self.collector.start()

    async def collector_ready(self) -> None:
        await wait_for_collector(self.collector, self.health, self.q)

    def kill_analytics(self) -> None:
        self.analytics.kill()

    @property
    def opcua_machine(self) -> PocketSetter:
        return self.pocket_setter

    def start_analytics(self) -> None:
        self.analytics.start()

    async def live(self) -> tuple[Drill | None, int]:
        """The class watches: the line runs, analytics acts, a drill (if any) strikes."""
        opts = self.opts
        drill = Drill(opts.drill, opts.duration_s, self) if opts.drill else None
        try:
            async with _plain_errors(), asyncio.TaskGroup() as tg:
                line_task = tg.create_task(
                    run_nodes(self.nodes, self.clock, self.produced), name="serial-nodes"
                )
                self.analytics.start()
                drill_task = tg.create_task(drill.run(), name="drill") if drill else None
                view = LiveView(
                    self.spec, self.analytics, self.health, self.agent, self.collector, self.q, opts
                )
                await view.run(opts.duration_s)
                if drill_task is not None:
                    await drill_task
                line_task.cancel()
        except BaseException:
            self.analytics.kill()
            raise
        finally:
            await self.analytics.stop()
        return drill, self.clock.now_ns()

    async def account(self, drill: Drill | None, end_ns: int) -> dict[str, Any]:
        """Stop the gateway, wait for the collector to store what it holds, and count."""
        nodes, q, folder = self.nodes, self.q, self.folder
        if not await nodes_delivered(nodes):
            log.warning(_("the gateway did not read everything the sensor nodes hold"))
        code = await asyncio.to_thread(self.agent.stop)
        if code not in (0, None):
            log.warning(
                _("the agent exited with code {code}; see {log}").format(code=code, log=self.agent.log)
            )
        spooled = spooled_counts(folder / "gateway" / "spool.sqlite")
        # Serial machines: what the nodes sent; Modbus and Sparkplug machines: what the agent read.
        published = {k: n for k, n in spooled.samples.items() if k[0] not in nodes.nodes}
        published.update(self.produced)
        await drain(q, self.spec, published, self.collector)
        stats = await final_health(self.collector, q, self.health, self.clock.now_ns())
        gateway = self.agent.counters()
        summary = await summarize(
            q,
            self.spec,
            published,
            spooled,
            gateway,
            stats,
            self.analytics,
            (self.start_ns, end_ns),
            self.svc.cfg,
        )
        summary["protocols"] = await protocol_counts(q, self.spec, self.agent.config, published)
        summary.update(
            agent_starts=self.agent.starts,
            collector_starts=self.collector.starts,
            analytics_starts=len(self.analytics.instances),
            drill=self.opts.drill,
        )
        if drill is not None:
            summary["drill_timings"] = drill.timings
            summary["drill_observed"] = drill.observed
            if drill.intruder_report is not None:
                summary["intruder"] = drill.intruder_report
        return summary

    def stop(self) -> None:
        self.agent.stop(timeout=10)
        code = self.collector.stop(timeout=20)
        if code not in (0, None, -signal.SIGTERM):  # SIGTERM while it was still starting
            log.warning(
                _("the collector exited with code {code}; see {log}").format(
                    code=code, log=self.collector.log
                )
            )


@contextlib.asynccontextmanager
async def _plain_errors() -> AsyncIterator[None]:
    """A task group's lone TonleError (say influxd would not come back) reaches the CLI as itself.

    The CLI prints a TonleError as one sentence with the fix; wrapped in an
    ExceptionGroup it would be a traceback.
    """
    try:
        yield
    except ExceptionGroup as group:
        errors = group.exceptions
        if len(errors) == 1 and isinstance(errors[0], TonleError):
            raise errors[0] from group
        raise
