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
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import msgspec
from edge_agent.spool import Spool

from analytics.service import AnalyticsService
from collector.service import Collector, make_writer
from edge_agent.agent import Agent
from edge_agent.sources.sim import SimSource
from firmware_sim.clock import WallClock
from firmware_sim.line import LineSpec, SewingLine, default_line
from tonle.config import LineConfig, TonleConfig
from tonle.influxql import InfluxQLClient, quote_str
from tonle.services import LocalBroker, LocalInfluxDB

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
async def services(cfg: TonleConfig, opts: DemoOptions, folder: Path) -> AsyncIterator[TonleConfig]:
    """Start private mosquitto and influxd when none is configured; stop them on exit."""
    if not opts.own_services:
        yield cfg
        return
    broker = LocalBroker(folder=folder / "mosquitto")
    db = LocalInfluxDB(folder=folder / "influxdb")
    try:
        await asyncio.to_thread(broker.start)
        await asyncio.to_thread(db.start)
        log.info(
            "started mosquitto on port %d and influxd on port %d (data in %s)", broker.port, db.port, folder
        )
        yield replace_struct(
            cfg,
            mqtt=replace_struct(cfg.mqtt, host=broker.host, port=broker.port, username="", password_env=""),
            influxdb=replace_struct(cfg.influxdb, url=db.url, username="", password_env=""),
        )
    finally:
        broker.stop()
        db.stop()


async def run_demo(cfg: TonleConfig, opts: DemoOptions) -> dict[str, Any]:
    spec, accel = demo_line(cfg, opts.duration_s)
    cfg = demo_config(cfg, spec)
    folder = opts.run_dir / time.strftime("demo-%Y%m%d-%H%M%S")
    async with services(cfg, opts, folder) as cfg:
        clock = WallClock()
        start_ns = clock.now_ns() - WARMUP_S * NS
        line = SewingLine(spec, seed=cfg.sim.seed, start_ns=start_ns, maintenance_s=cfg.sim.maintenance_s)
        stop_line = asyncio.Event()
        stop_back = asyncio.Event()
        async with (
            make_writer(cfg) as writer,
            make_writer(cfg) as kpi_writer,
            InfluxQLClient(cfg.influxdb.url, cfg.influxdb.database) as q,
        ):
            collector = Collector(cfg, writer)
            async with asyncio.TaskGroup() as tg:
                tg.create_task(collector.run(stop_back), name="collector")
                await asyncio.wait_for(collector.ready.wait(), 30)
                folder.mkdir(parents=True, exist_ok=True)
                spool = Spool(folder / "agent-spool.sqlite", max_bytes=512 * 2**20)
                source = SimSource(line, spec, clock, tick_s=cfg.agent.publish_interval_s)
                async with Agent(cfg.mqtt, cfg.agent, [source], clock, spool) as agent:
                    await agent.mqtt.wait_connected()
                    agent.poll_sims()  # the shift so far, at normal wear
                    await agent.flush()
                    line.set_wear_acceleration(accel)
                    analytics = AnalyticsService(cfg, clock, q, kpi_writer, collector.mqtt)
                    tg.create_task(agent.run(stop_line), name="agent")
                    tg.create_task(analytics.run(stop_line), name="analytics")
                    view = LiveView(spec, analytics, agent, collector, opts, accel)
                    await view.run(opts.duration_s)
                    stop_line.set()
                    await agent.publisher.drain()
                end_ns = clock.now_ns()
                await drain(collector, agent)
                summary = await summarize(q, cfg, spec, agent, collector, analytics, start_ns, end_ns)
                stop_back.set()
    return summary


async def drain(collector: Collector, agent: Agent) -> None:
    """Wait until the collector has stored every message the agent published."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    target = agent.stats.messages
    while time.monotonic() < deadline:
        idle = collector.mqtt.messages.qsize() == 0
        if idle and collector.stats.messages >= target:
            await asyncio.sleep(0.5)  # let the last batch's write finish
            if collector.mqtt.messages.qsize() == 0:
                return
        await asyncio.sleep(0.1)
    log.warning("the collector did not catch up within %.0fs", DRAIN_TIMEOUT_S)


async def summarize(
    q: InfluxQLClient,
    cfg: TonleConfig,
    spec: LineSpec,
    agent: Agent,
    collector: Collector,
    analytics: AnalyticsService,
    start_ns: int,
    end_ns: int,
) -> dict[str, Any]:
    site = quote_str(spec.site)
    stored: dict[tuple[str, str], int] = {}
    for meas in ("telemetry", "state", "production"):
        for s in await q.query(
            f"SELECT count(seq) AS n FROM {meas} WHERE site = {site} "
            f"AND time >= {start_ns} AND time <= {end_ns + NS} GROUP BY machine"
        ):
            stored[(s.tags["machine"], meas)] = int(s.values[0][1])
    lost = sum(max(0, n - stored.get(key, 0)) for key, n in agent.stats.samples.items())
    acks = await q.query(
        f"SELECT machine, status, action, detail FROM commands WHERE site = {site} "
        f"AND direction = 'ack' AND time >= {start_ns}"
    )
    ack_rows = [dict(zip(acks[0].columns, row, strict=True)) for row in acks[0].values] if acks else []
    res = next(iter(analytics.results.values()), None)
    wearing = (
        spec.stations[cfg.sim.wearing_station].name
        if 0 <= cfg.sim.wearing_station < len(spec.stations)
        else None
    )
    return {
        "duration_s": round((end_ns - start_ns) / NS - WARMUP_S, 1),
        "machines": len(spec.stations),
        "samples_published": agent.stats.samples_published,
        "points_stored": sum(stored.values()),
        "lost": lost,
        "oee": {spec.line: round(res.line_oee, 4) if res and res.line_oee == res.line_oee else None},
        "pieces_per_hour": {
            spec.line: round(res.line_pph, 1) if res and res.line_pph == res.line_pph else None
        },
        "alerts": analytics.alerts_sent,
        "commands_sent": analytics.commands_sent,
        "commands_acked": sum(1 for r in ack_rows if r["status"] == "applied"),
        "commands": [
            {"machine": r["machine"], "action": r["action"], "status": r["status"]} for r in ack_rows
        ],
        "wearing_machine": wearing,
        "dead_letters": collector.stats.dead_letters,
        "seq_gaps": collector.stats.seq_gaps,
    }


class LiveView:
    """The terminal view of the line (rich), or a few log lines when headless."""

    def __init__(
        self,
        spec: LineSpec,
        analytics: AnalyticsService,
        agent: Agent,
        collector: Collector,
        opts: DemoOptions,
        accel: float,
    ) -> None:
        self.spec, self.analytics, self.agent, self.collector, self.opts = (
            spec,
            analytics,
            agent,
            collector,
            opts,
        )
        self.accel = accel

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
        s = self.agent.stats
        oee = f"{res.line_oee:.0%}" if res and res.line_oee == res.line_oee else "-"
        return (
            f"published {s.samples_published} samples, stored {self.collector.stats.points} points, "
            f"line OEE {oee}, commands sent {self.analytics.commands_sent}, "
            f"acks {dict(s.commands)}"
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
