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
import bisect
import contextlib
import json
import logging
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import msgspec

from analytics.service import AnalyticsService
from collector.completeness import total_missing
from collector.service import make_writer
from firmware_sim.line import LineSpec, SewingLine, default_line
from firmware_sim.modbus_devices import demo_plant
from firmware_sim.serial_node import SerialLineSim
from tonle.clock import WallClock
from tonle.config import LineConfig, TonleConfig
from tonle.contract import subscription
from tonle.demo_plant import (
    NODE_RING,
    AgentProcess,
    CollectorProcess,
    nodes_delivered,
    read_status,
    run_nodes,
    warm_up,
    write_collector_config,
    write_gateway_config,
)
from tonle.influxql import InfluxQLClient, InfluxQLError, quote_str
from tonle.mqtt import MqttConnection, MqttError
from tonle.services import LocalBroker, LocalInfluxDB, ServiceError
from tonle.spool import Spool

__all__ = ["DRILLS", "CollectorHealth", "DemoOptions", "run_demo"]

log = logging.getLogger("tonle.demo")
NS = 1_000_000_000
# After the run, how long the collector may take to store the last samples (a
# drill leaves a backlog in the broker or the collector's spool).
DRAIN_TIMEOUT_S = 90.0
# A fresh collector process imports numpy and paho, creates the database and
# subscribes before it writes its first health row.
COLLECTOR_READY_TIMEOUT_S = 60.0
HEALTH_REFRESH_S = 2.0
# collector-crash: the SIGKILL lands this long after machine data crossed the
# broker, inside the collector's batch window (batch_wait_ms, 200 ms by default).
IN_FLIGHT_DELAY_S = 0.05
COLLECTOR_DOWN_S = 4.0
DB_OUTAGE_MIN_S = 10.0
# The line has been running for this long when the class starts watching: its
# buffers, counters and KPI windows are in steady state, and the backlog is
# published at start like a gateway catching up.
WARMUP_S = 20 * 60
DRILLS = ("broker-outage", "agent-crash", "db-outage", "collector-crash")


@dataclass(frozen=True)
class DemoOptions:
    duration_s: float = 120.0
    headless: bool = False
    run_dir: Path = Path("run")
    own_services: bool = True
    drill: str | None = None  # one of DRILLS


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


@dataclass
class Services:
    """What the demo runs on: the config pointed at them, and the daemons it owns (None if configured)."""

    cfg: TonleConfig
    broker: LocalBroker | None = None
    db: LocalInfluxDB | None = None


@contextlib.asynccontextmanager
async def services(cfg: TonleConfig, opts: DemoOptions, folder: Path) -> AsyncIterator[Services]:
    """Start private mosquitto and influxd when none is configured; stop them on exit."""
    if not opts.own_services:
        yield Services(cfg)
        return
    broker = LocalBroker(folder=folder / "mosquitto")
    db = LocalInfluxDB(folder=folder / "influxdb")
    try:
        await asyncio.to_thread(broker.start)
        await asyncio.to_thread(db.start)
        log.info(
            "started mosquitto on port %d and influxd on port %d (data in %s)", broker.port, db.port, folder
        )
        yield Services(
            replace_struct(
                cfg,
                mqtt=replace_struct(
                    cfg.mqtt, host=broker.host, port=broker.port, username="", password_env=""
                ),
                influxdb=replace_struct(cfg.influxdb, url=db.url, username="", password_env=""),
            ),
            broker,
            db,
        )
    finally:
        broker.stop()
        db.stop()


def mqtt_client(cfg: TonleConfig, client_id: str) -> MqttConnection:
    """An MQTT connection of the demo itself (the analytics' commands, the drill's traffic watch)."""
    return MqttConnection(
        cfg.mqtt.host,
        cfg.mqtt.port,
        client_id=client_id,
        username=cfg.mqtt.username or None,
        password=cfg.mqtt.password(),
    )


async def run_demo(cfg: TonleConfig, opts: DemoOptions) -> dict[str, Any]:
    spec, accel = demo_line(cfg, opts.duration_s)
    cfg = demo_config(cfg, spec)
    folder = (opts.run_dir / time.strftime("demo-%Y%m%d-%H%M%S")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    if opts.drill and opts.drill not in DRILLS:
        raise ServiceError(f"there is no drill called {opts.drill!r}; choose one of {', '.join(DRILLS)}")
    if opts.drill and not opts.own_services:
        raise ServiceError(
            "fault drills stop and start the broker and the database, so they need the demo's own "
            "services: run the drill without --config"
        )
    async with services(cfg, opts, folder) as svc:
        cfg = svc.cfg
        clock = WallClock()
        now = clock.now_ns()
        line = SewingLine(
            spec, seed=cfg.sim.seed, start_ns=now - WARMUP_S * NS, maintenance_s=cfg.sim.maintenance_s
        )
        async with (
            SerialLineSim(line, folder / "tty", ring_size=NODE_RING) as nodes,
            demo_plant(clock) as plant,
            make_writer(cfg) as kpi_writer,
            InfluxQLClient(cfg.influxdb.url, cfg.influxdb.database) as q,
            mqtt_client(cfg, f"tonle-demo-analytics-{folder.name}") as mqtt,
        ):
            produced: Counter[tuple[str, str]] = Counter()  # ground truth: what the nodes sent
            warm_up(nodes, now, produced)  # the shift so far waits in the nodes until the gateway reads it
            line.set_wear_acceleration(accel)
            gateway = write_gateway_config(
                folder, cfg.mqtt.host, cfg.mqtt.port, spec, nodes.links, plant.tcp.port, str(plant.rtu.port)
            )
            agent = AgentProcess(gateway, folder / "agent.log")
            collector = CollectorProcess(
                write_collector_config(folder, cfg, folder.name), folder / "collector.log"
            )
            health = CollectorHealth(since_ns=now)

            def start_collector() -> None:
                health.process_started(clock.now_ns())
                collector.start()

            try:
                start_collector()
                await wait_for_collector(collector, health, q)
                agent.start()
                async with _plain_errors(), asyncio.TaskGroup() as tg:
                    line_task = tg.create_task(run_nodes(nodes, clock, produced), name="serial-nodes")
                    analytics = AnalyticsService(cfg, clock, q, kpi_writer, mqtt)
                    stop_analytics = asyncio.Event()
                    tg.create_task(analytics.run(stop_analytics), name="analytics")
                    drill = (
                        Drill(opts.drill, opts.duration_s, svc, agent, collector, start_collector)
                        if opts.drill
                        else None
                    )
                    drill_task = tg.create_task(drill.run(), name="drill") if drill else None
                    view = LiveView(spec, analytics, health, collector, q, opts, folder / "gateway")
                    await view.run(opts.duration_s)
                    if drill_task is not None:
                        await drill_task
                    line_task.cancel()
                    stop_analytics.set()
                end_ns = clock.now_ns()
                if not await nodes_delivered(nodes):
                    log.warning("the gateway did not read everything the sensor nodes hold")
                code = await asyncio.to_thread(agent.stop)
                if code not in (0, None):
                    log.warning("the agent exited with code %s; see %s", code, agent.log)
                spooled, depth = spooled_counts(folder / "gateway" / "spool.sqlite")
                # Serial machines: what the nodes sent; Modbus machines: what the agent polled.
                published = {k: n for k, n in spooled.items() if k[0] not in nodes.nodes}
                published.update(produced)
                await drain(q, spec, published, collector)
                stats = await final_health(collector, q, health, clock.now_ns())
                summary = await summarize(q, spec, published, depth, stats, analytics, now, end_ns, cfg)
                summary["agent_starts"] = agent.starts
                summary["collector_starts"] = collector.starts
                summary["drill"] = opts.drill
                if drill is not None:
                    summary["drill_timings"] = drill.timings
            finally:
                agent.stop(timeout=10)
                code = collector.stop(timeout=20)
                if code not in (0, None, -signal.SIGTERM):  # SIGTERM while it was still starting
                    log.warning("the collector exited with code %s; see %s", code, collector.log)
    return summary


@contextlib.asynccontextmanager
async def _plain_errors() -> AsyncIterator[None]:
    """A task group's lone ServiceError (say influxd would not come back) reaches the CLI as itself.

    The CLI prints a ServiceError as one sentence with the fix; wrapped in an
    ExceptionGroup it would be a traceback.
    """
    try:
        yield
    except ExceptionGroup as group:
        errors = group.exceptions
        if len(errors) == 1 and isinstance(errors[0], ServiceError | MqttError):
            raise errors[0] from group
        raise


async def wait_for_collector(collector: CollectorProcess, health: CollectorHealth, q: InfluxQLClient) -> None:
    """Wait for the collector's first health row: it has made the database and subscribed.

    The agent starts only then: a message published before the collector's
    first subscription exists has nobody to go to, and the broker drops it.
    """
    started = health.starts_ns[-1]
    deadline = time.monotonic() + COLLECTOR_READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if not collector.running:
            raise ServiceError(
                f"the collector stopped while starting (exit code {collector.exit_code}); "
                f"its log {collector.log} ends with:\n{collector.tail()}"
            )
        if await health.refresh(q) and health.last_row_ns >= started:
            return
        await asyncio.sleep(0.2)
    raise ServiceError(
        f"the collector wrote no health row within {COLLECTOR_READY_TIMEOUT_S:.0f}s; "
        f"check its log {collector.log}:\n{collector.tail()}"
    )


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


def spooled_counts(path: Path) -> tuple[dict[tuple[str, str], int], int]:
    """Samples the agent made durable, per (machine, measurement), from its persisted counters."""
    kinds = {"telemetry": "telemetry", "state": "state", "count": "production"}
    with Spool(path, max_bytes=2**40) as spool:
        state, depth = spool.load_state(), spool.depth
    out: dict[tuple[str, str], int] = {}
    for key, n in state.items():
        parts = key.split("/")
        if len(parts) == 3 and parts[0] == "seq" and parts[2] in kinds:
            out[(parts[1], kinds[parts[2]])] = n
    return out, depth


async def stored_counts(q: InfluxQLClient, spec: LineSpec, since_ns: int) -> dict[tuple[str, str], int]:
    site = quote_str(spec.site)
    out: dict[tuple[str, str], int] = {}
    for meas in ("telemetry", "state", "production"):
        for s in await q.query(
            f"SELECT count(seq) AS n FROM {meas} WHERE site = {site} AND time >= {since_ns} GROUP BY machine"
        ):
            out[(s.tags["machine"], meas)] = int(s.values[0][1])
    return out


def missing(published: dict[tuple[str, str], int], stored: dict[tuple[str, str], int]) -> int:
    """Samples published but not (yet) in the database: the summary's `lost` once the collector is done."""
    return sum(max(0, n - stored.get(key, 0)) for key, n in published.items())


async def drain(
    q: InfluxQLClient, spec: LineSpec, published: dict[tuple[str, str], int], collector: CollectorProcess
) -> None:
    """Wait until the database holds every sample the devices published, or say why not."""
    start = time.monotonic()
    deadline, note = start + DRAIN_TIMEOUT_S, start + 10
    target, left = sum(published.values()), -1
    while time.monotonic() < deadline:
        with contextlib.suppress(InfluxQLError):
            left = missing(published, await stored_counts(q, spec, 0))
        if left == 0:
            log.info(
                "the database holds all %d samples (%.0fs after the run)", target, time.monotonic() - start
            )
            return
        if not collector.running:
            log.error(
                "the collector stopped (exit code %s) with %d of %d samples not stored; "
                "its log %s ends with:\n%s",
                collector.exit_code,
                left,
                target,
                collector.log,
                collector.tail(),
            )
            return
        if time.monotonic() >= note:
            log.info("waiting for the collector to store the last %d of %d samples", left, target)
            note += 10
        await asyncio.sleep(0.5)
    log.warning(
        "after %.0fs the database still misses %s of the %d samples published: the collector is stuck or "
        "lost them; look for errors in %s (and the broker's log in mosquitto/)",
        DRAIN_TIMEOUT_S,
        left if left >= 0 else "(database unreachable)",
        target,
        collector.log,
    )


class CollectorHealth:
    """The collector's own counters, read back from its rows in the `pipeline` measurement.

    The collector is a separate process that a drill may kill, so the demo reads
    what it did the way a dashboard does. Its counters restart at zero with the
    process: each instance's rows are split at the process starts the demo
    recorded, the last row of each run is what that run did, and totals add the
    runs (and the instances) up. Fields are read by name; a missing one is 0.
    """

    # Cumulative counters the summary reports (levels such as queue_depth are read with `gauge`).
    COUNTERS = (
        "messages",
        "points",
        "batches",
        "dead_letters",
        "rejected_points",
        "write_errors",
        "spooled_points",
        "replayed_points",
    )

    def __init__(self, since_ns: int) -> None:
        self.since_ns = since_ns
        self.starts_ns: list[int] = []
        self.last_row_ns = 0
        self.reachable = True
        self._runs: dict[tuple[str, int], dict[str, float]] = {}  # (instance, run) -> last values
        self._latest: dict[str, tuple[int, dict[str, float]]] = {}  # instance -> (time, last values)

    def process_started(self, t_ns: int) -> None:
        self.starts_ns.append(t_ns)

    async def refresh(self, q: InfluxQLClient) -> bool:
        """Read the rows written since the last refresh; False if the database did not answer."""
        try:
            series = await q.query(
                "SELECT * FROM pipeline WHERE component = 'collector' "
                f"AND time > {max(self.since_ns, self.last_row_ns)} GROUP BY instance"
            )
        except InfluxQLError:
            self.reachable = False
            return False
        self.reachable = True
        for s in series:
            self._add(s.tags.get("instance", ""), s.columns, s.values)
        return True

    def _add(self, instance: str, columns: list[str], rows: list[list[Any]]) -> None:
        for row in rows:
            t = int(row[0])
            values = {
                c: float(v)
                for c, v in zip(columns[1:], row[1:], strict=True)
                if isinstance(v, int | float) and not isinstance(v, bool)
            }
            run = (instance, bisect.bisect_right(self.starts_ns, t))
            self._runs[run] = {**self._runs.get(run, {}), **values}
            if t >= self._latest.get(instance, (0, {}))[0]:
                self._latest[instance] = (t, values)
            self.last_row_ns = max(self.last_row_ns, t)

    def total(self, name: str) -> int:
        """A cumulative counter, summed over process runs and instances."""
        return int(sum(v.get(name, 0.0) for v in self._runs.values()))

    def gauge(self, name: str) -> float | None:
        """A level (queue or spool depth) now: the newest value of each instance, summed."""
        values = [v[name] for _, v in self._latest.values() if name in v]
        return sum(values) if values else None

    def reports(self, name: str) -> bool:
        """Whether any health row carried this field (versions of the collector differ)."""
        return any(name in v for v in self._runs.values())

    def counters(self) -> dict[str, int]:
        """The counters this collector version reports, by name, for the summary."""
        return {n: self.total(n) for n in self.COUNTERS if self.reports(n)}


async def final_health(
    collector: CollectorProcess, q: InfluxQLClient, live: CollectorHealth, after_ns: int
) -> CollectorHealth:
    """The collector's counters once it has written a health row after the drain, read from scratch.

    Read again from the start of the run: rows a collector held back during a
    database outage may arrive after newer ones.
    """
    health = CollectorHealth(live.since_ns)
    for t in live.starts_ns:
        health.process_started(t)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and collector.running:
        if await live.refresh(q) and live.last_row_ns > after_ns:
            break
        await asyncio.sleep(0.3)
    else:
        log.warning("the collector wrote no health row after the run; its counters may be a little behind")
    await health.refresh(q)
    return health


async def summarize(
    q: InfluxQLClient,
    spec: LineSpec,
    published: dict[tuple[str, str], int],
    spool_depth: int,
    collector: CollectorHealth,
    analytics: AnalyticsService,
    start_ns: int,
    end_ns: int,
    cfg: TonleConfig,
) -> dict[str, Any]:
    stored = await stored_counts(q, spec, 0)
    site = quote_str(spec.site)
    acks = await q.query(
        f"SELECT machine, status, action, detail FROM commands WHERE site = {site} "
        f"AND direction = 'ack' AND time >= {start_ns}"
    )
    ack_rows = [dict(zip(acks[0].columns, row, strict=True)) for row in acks[0].values] if acks else []
    res = analytics.results.get((spec.site, spec.area, spec.line))
    ws = cfg.sim.wearing_station
    return {
        "duration_s": round((end_ns - start_ns) / NS, 1),
        "machines": len({m for m, _ in published}),
        "samples_published": sum(published.values()),
        "points_stored": sum(stored.get(key, 0) for key in published),
        "lost": missing(published, stored),
        "still_in_spool": spool_depth,
        "oee": {spec.line: _round(res.line_oee, 4) if res else None},
        "pieces_per_hour": {spec.line: _round(res.line_pph, 1) if res else None},
        "alerts": analytics.alerts_sent,
        "commands_sent": analytics.commands_sent,
        "commands_acked": sum(1 for r in ack_rows if r["status"] == "applied"),
        "commands": [
            {"machine": r["machine"], "action": r["action"], "status": r["status"]} for r in ack_rows
        ],
        "wearing_machine": spec.stations[ws].name if 0 <= ws < len(spec.stations) else None,
        "dead_letters": collector.total("dead_letters"),
        # Reckoned from the stored sequence numbers, as the pipeline dashboard does
        # (collector/completeness.py); the warm-up history is older than the run.
        "seq_gaps": await total_missing(q, start_ns - 2 * 3600 * NS, end_ns + 60 * NS, spec.site),
        "collector": collector.counters(),
    }


def _round(v: float, digits: int) -> float | None:
    return round(v, digits) if v == v else None


class LiveView:
    """The terminal view of the line (rich), or a few log lines when headless."""

    def __init__(
        self,
        spec: LineSpec,
        analytics: AnalyticsService,
        health: CollectorHealth,
        collector: CollectorProcess,
        q: InfluxQLClient,
        opts: DemoOptions,
        gateway: Path,
    ) -> None:
        self.spec = spec
        self.analytics = analytics
        self.health = health
        self.collector = collector
        self.q = q
        self.opts = opts
        self.status_dir = gateway

    async def run(self, duration_s: float) -> None:
        t_end = time.monotonic() + duration_s
        if self.opts.headless or not os.isatty(1):
            while (left := t_end - time.monotonic()) > 0:
                await asyncio.sleep(min(10.0, left))
                await self.health.refresh(self.q)
                log.info("%s", self.text_status())
            return
        from rich.live import Live
        from rich.logging import RichHandler

        next_read = 0.0
        with (
            Live(self.render(), refresh_per_second=2, screen=False) as live,
            _log_to(RichHandler(console=live.console, show_path=False)),
        ):
            while time.monotonic() < t_end:
                await asyncio.sleep(0.5)
                if time.monotonic() >= next_read:
                    await self.health.refresh(self.q)
                    next_read = time.monotonic() + HEALTH_REFRESH_S
                live.update(self.render())

    def gateway_status(self) -> str:
        status = read_status(self.status_dir)
        if status is None:
            return "gateway: starting"
        a = status["rows"].get("agent", {})
        link = "connected" if status["broker_connected"] else "NO BROKER"
        return (
            f"gateway: {link}, read {a.get('samples', 0):.0f} samples, "
            f"spool {a.get('spool_depth', 0):.0f} messages waiting, "
            f"{a.get('spool_dropped', 0):.0f} dropped"
        )

    def collector_status(self) -> str:
        h = self.health
        if not self.collector.running:
            state = "DOWN, "
        elif not h.reachable:
            state = "DATABASE DOWN (figures from before), "
        else:
            state = ""
        text = f"collector: {state}stored {h.total('points')} points"
        queued = h.gauge("queue_depth")
        if queued is not None:
            text += f", {queued:.0f} messages queued"
        spooled = h.gauge("spool_depth")
        if spooled is not None:
            text += f", {spooled:.0f} in its spool"
        if errors := h.total("write_errors"):
            text += f", {errors} failed writes"
        return text

    def text_status(self) -> str:
        res = next(iter(self.analytics.results.values()), None)
        oee = f"{res.line_oee:.0%}" if res and res.line_oee == res.line_oee else "-"
        return (
            f"{self.gateway_status()} | {self.collector_status()} | line OEE {oee} | "
            f"commands sent {self.analytics.commands_sent}"
        )

    def render(self) -> Any:
        from rich.console import Group
        from rich.table import Table

        res = next(iter(self.analytics.results.values()), None)
        t = Table(title=f"Tonle demo - line {self.spec.line} ({len(self.spec.stations)} stations)")
        for col in ("station", "operation", "state", "pcs/h", "OEE", "health", "drift"):
            t.add_column(col)
        for _i, st in enumerate(self.spec.stations):
            if res and st.name in res.machines:
                j = res.machines.index(st.name)
                state = res.state[j]
                colour = {"running": "green", "breakdown": "red", "maintenance": "blue"}.get(state, "yellow")
                t.add_row(
                    st.name,
                    st.operation,
                    f"[{colour}]{state}[/]",
                    _fmt(res.pieces_per_hour[j], "{:.0f}"),
                    _fmt(res.oee[j], "{:.0%}"),
                    _fmt(res.health[j], "{:.2f}"),
                    "[red]ALARM[/]" if res.drift[j] else "",
                )
            else:
                t.add_row(st.name, st.operation, "waiting for data", "", "", "", "")
        lines = [t]
        if res:
            lines.append(
                f"Line OEE {_fmt(res.line_oee, '{:.0%}')}   output {_fmt(res.line_pph, '{:.0f}')} pcs/h "
                f"(target {res.target_pph:.0f})   efficiency {_fmt(res.efficiency, '{:.0%}')}   "
                f"bottleneck {res.bottleneck}"
            )
        lines.append(self.text_status())
        for act in self.analytics.actions[-5:]:
            lines.append(f"[bold]{act.severity.upper()}[/] {act.message}")
        return Group(*lines)


@contextlib.contextmanager
def _log_to(handler: logging.Handler) -> Iterator[None]:
    """Send log lines through the live view so they print above the table, not through it."""
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers = [handler]
    try:
        yield
    finally:
        root.handlers = saved


def _fmt(v: float, pattern: str) -> str:
    return pattern.format(v) if v == v else "-"


def print_summary(summary: dict[str, Any]) -> None:
    print(json.dumps(summary, separators=(",", ":")), flush=True)
