"""`tonle demo`: a simulated sewing line through the whole loop, on one laptop.

Starts its own mosquitto and influxd (unless a broker and database are
configured), runs the line, edge agent, collector and analytics together, shows
the line live, and ends with one JSON summary line that proves nothing was lost.
The wear of one station's bearing is accelerated so a class sees, within a
minute, the health fall, the derate command go down, and maintenance follow.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import msgspec

from analytics.service import AnalyticsService
from collector.service import Collector, make_writer
from tonle.spool import Spool
from firmware_sim.line import LineSpec, SewingLine, default_line
from firmware_sim.modbus_devices import demo_plant
from firmware_sim.serial_node import SerialLineSim
from tonle.clock import WallClock
from tonle.config import LineConfig, TonleConfig
from tonle.demo_plant import (
    NODE_RING,
    AgentProcess,
    nodes_delivered,
    read_status,
    run_nodes,
    warm_up,
    write_gateway_config,
)
from tonle.influxql import InfluxQLClient, quote_str
from tonle.services import LocalBroker, LocalInfluxDB, ServiceError

__all__ = ["DemoOptions", "run_demo"]

log = logging.getLogger("tonle.demo")
NS = 1_000_000_000
DRAIN_TIMEOUT_S = 30.0
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
    drill: str | None = None  # "broker-outage" | "agent-crash"


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
    cfg: TonleConfig, opts: DemoOptions, folder: Path
) -> AsyncIterator[tuple[TonleConfig, LocalBroker | None]]:
    """Start private mosquitto and influxd when none is configured; stop them on exit."""
    if not opts.own_services:
        yield cfg, None
        return
    broker = LocalBroker(folder=folder / "mosquitto")
    db = LocalInfluxDB(folder=folder / "influxdb")
    try:
        await asyncio.to_thread(broker.start)
        await asyncio.to_thread(db.start)
        log.info(
            "started mosquitto on port %d and influxd on port %d (data in %s)", broker.port, db.port, folder
        )
        yield (
            replace_struct(
                cfg,
                mqtt=replace_struct(
                    cfg.mqtt, host=broker.host, port=broker.port, username="", password_env=""
                ),
                influxdb=replace_struct(cfg.influxdb, url=db.url, username="", password_env=""),
            ),
            broker,
        )
    finally:
        broker.stop()
        db.stop()


async def run_demo(cfg: TonleConfig, opts: DemoOptions) -> dict[str, Any]:
    spec, accel = demo_line(cfg, opts.duration_s)
    cfg = demo_config(cfg, spec)
    folder = (opts.run_dir / time.strftime("demo-%Y%m%d-%H%M%S")).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    if opts.drill and not opts.own_services:
        raise ServiceError(
            "fault drills stop and start the broker, so they need the demo's own services: "
            "run the drill without --config"
        )
    async with services(cfg, opts, folder) as (cfg, broker):
        clock = WallClock()
        now = clock.now_ns()
        line = SewingLine(
            spec, seed=cfg.sim.seed, start_ns=now - WARMUP_S * NS, maintenance_s=cfg.sim.maintenance_s
        )
        stop_back = asyncio.Event()
        async with (
            SerialLineSim(line, folder / "tty", ring_size=NODE_RING) as nodes,
            demo_plant(clock) as plant,
            make_writer(cfg) as writer,
            make_writer(cfg) as kpi_writer,
            InfluxQLClient(cfg.influxdb.url, cfg.influxdb.database) as q,
        ):
            produced: Counter[tuple[str, str]] = Counter()  # ground truth: what the nodes sent
            warm_up(nodes, now, produced)  # the shift so far waits in the nodes until the gateway reads it
            line.set_wear_acceleration(accel)
            gateway = write_gateway_config(
                folder, cfg.mqtt.host, cfg.mqtt.port, spec, nodes.links, plant.tcp.port, str(plant.rtu.port)
            )
            agent = AgentProcess(gateway, folder / "agent.log")
            collector = Collector(cfg, writer)
            try:
                async with asyncio.TaskGroup() as tg:
                    tg.create_task(collector.run(stop_back), name="collector")
                    await asyncio.wait_for(collector.ready.wait(), 30)
                    agent.start()
                    line_task = tg.create_task(run_nodes(nodes, clock, produced), name="serial-nodes")
                    analytics = AnalyticsService(cfg, clock, q, kpi_writer, collector.mqtt)
                    stop_analytics = asyncio.Event()
                    tg.create_task(analytics.run(stop_analytics), name="analytics")
                    drill = None
                    if opts.drill:
                        assert broker is not None
                        drill = tg.create_task(
                            run_drill(opts.drill, broker, agent, opts.duration_s), name="drill"
                        )
                    view = LiveView(spec, analytics, collector, opts, folder / "gateway")
                    await view.run(opts.duration_s)
                    if drill is not None:
                        await drill
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
                    await drain(collector, published, q, spec)
                    summary = await summarize(
                        q, spec, published, depth, collector, analytics, now, end_ns, cfg
                    )
                    summary["agent_starts"] = agent.starts
                    summary["drill"] = opts.drill
                    stop_back.set()
            finally:
                agent.stop(timeout=10)
    return summary


async def run_drill(kind: str, broker: LocalBroker, agent: AgentProcess, duration_s: float) -> None:
    """Take the network (and for agent-crash, the gateway's power) away mid-run, then give it back."""
    await asyncio.sleep(duration_s * 0.25)
    log.warning(
        "DRILL: the broker stops (the plant's network is down); the agent keeps reading into its spool"
    )
    await asyncio.to_thread(broker.stop)
    outage = duration_s * 0.35
    if kind == "agent-crash":
        await asyncio.sleep(outage * 0.5)
        log.warning("DRILL: the gateway loses power (SIGKILL of the agent) in the middle of the outage")
        await asyncio.to_thread(agent.kill)
        await asyncio.sleep(2)
        log.warning("DRILL: power is back; the agent restarts and finds its spool")
        agent.start()
        await asyncio.sleep(outage * 0.5 - 2)
    else:
        await asyncio.sleep(outage)
    await asyncio.to_thread(broker.start)
    log.warning("DRILL: the broker is back; watch the spool drain")


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


async def drain(
    collector: Collector, published: dict[tuple[str, str], int], q: InfluxQLClient, spec: LineSpec
) -> None:
    """Wait until the database holds what the agent delivered, or the collector goes quiet."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    target = sum(published.values())
    since = 0
    while time.monotonic() < deadline:
        stored = sum((await stored_counts(q, spec, since)).values())
        if stored >= target and collector.mqtt.messages.empty():
            return
        await asyncio.sleep(0.3)
    log.warning("the collector did not catch up within %.0fs", DRAIN_TIMEOUT_S)


async def summarize(
    q: InfluxQLClient,
    spec: LineSpec,
    published: dict[tuple[str, str], int],
    spool_depth: int,
    collector: Collector,
    analytics: AnalyticsService,
    start_ns: int,
    end_ns: int,
    cfg: TonleConfig,
) -> dict[str, Any]:
    stored = await stored_counts(q, spec, 0)
    lost = sum(max(0, n - stored.get(key, 0)) for key, n in published.items())
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
        "lost": lost,
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
        "dead_letters": collector.stats.dead_letters,
        "seq_gaps": collector.stats.seq_gaps,
    }


def _round(v: float, digits: int) -> float | None:
    return round(v, digits) if v == v else None


class LiveView:
    """The terminal view of the line (rich), or a few log lines when headless."""

    def __init__(
        self,
        spec: LineSpec,
        analytics: AnalyticsService,
        collector: Collector,
        opts: DemoOptions,
        gateway: Path,
    ) -> None:
        self.spec = spec
        self.analytics = analytics
        self.collector = collector
        self.opts = opts
        self.status_dir = gateway

    async def run(self, duration_s: float) -> None:
        t_end = time.monotonic() + duration_s
        if self.opts.headless or not os.isatty(1):
            while (left := t_end - time.monotonic()) > 0:
                await asyncio.sleep(min(10.0, left))
                log.info("%s", self.text_status())
            return
        from rich.live import Live
        from rich.logging import RichHandler

        with (
            Live(self.render(), refresh_per_second=2, screen=False) as live,
            _log_to(RichHandler(console=live.console, show_path=False)),
        ):
            while time.monotonic() < t_end:
                await asyncio.sleep(0.5)
                live.update(self.render())

    def text_status(self) -> str:
        res = next(iter(self.analytics.results.values()), None)
        oee = f"{res.line_oee:.0%}" if res and res.line_oee == res.line_oee else "-"
        status = read_status(self.status_dir)
        if status is None:
            gateway = "gateway: starting"
        else:
            a = status["rows"].get("agent", {})
            link = "connected" if status["broker_connected"] else "NO BROKER"
            gateway = (
                f"gateway: {link}, read {a.get('samples', 0):.0f} samples, "
                f"spool {a.get('spool_depth', 0):.0f} messages waiting, "
                f"{a.get('spool_dropped', 0):.0f} dropped"
            )
        return (
            f"{gateway} | collector stored {self.collector.stats.points} points | line OEE {oee} | "
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
