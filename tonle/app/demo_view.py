"""The demo's live terminal view (rich) and the printed summary."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from firmware_sim.line import LineSpec
from tonle.app.demo_analytics import AnalyticsRuns
from tonle.app.demo_plant import AgentProcess, CollectorProcess
from tonle.io.influxql import InfluxQLClient

if TYPE_CHECKING:
    from tonle.app.demo import DemoOptions
    from tonle.app.demo_accounting import CollectorHealth

log = logging.getLogger("tonle.app.demo")
HEALTH_REFRESH_S = 2.0


class LiveView:
    """The terminal view of the line (rich), or a few log lines when headless."""

    def __init__(
        self,
        spec: LineSpec,
        analytics: AnalyticsRuns,
        health: CollectorHealth,
        agent: AgentProcess,
        collector: CollectorProcess,
        q: InfluxQLClient,
        opts: DemoOptions,
    ) -> None:
        self.spec = spec
        self.analytics = analytics  # follows a fresh instance after a power cut
        self.health = health
        self.agent = agent
        self.collector = collector
        self.q = q
        self.opts = opts

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
        if not self.agent.running:
            return "gateway: DOWN"
        status = self.agent.status()
        if status is None:
            return "gateway: starting"
        a = status["rows"].get("agent", {})
        link = "connected" if status["broker_connected"] else "NO BROKER"
        text = (
            f"gateway: {link}, read {a.get('samples', 0):.0f} samples, "
            f"spool {a.get('spool_unsent', a.get('spool_depth', 0)):.0f} to send"
        )
        if "spool_unconfirmed" in a:
            text += f", {a['spool_unconfirmed']:.0f} sent not yet confirmed"
        if a.get("spool_held"):
            text += f" ({a['spool_held']:.0f} held by the collector)"
        if a.get("messages_resent"):
            text += f", {a['messages_resent']:.0f} re-sent"
        if a.get("spool_dropped"):
            text += f", {a['spool_dropped']:.0f} dropped"
        return text

    def collector_status(self) -> str:
        h = self.health
        if not self.collector.running:
            state = "DOWN, "
        elif self.collector.paused:
            state = "HELD (SIGSTOP), "
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
        if duplicates := h.total("duplicates_absorbed"):
            text += f", {duplicates} duplicates absorbed"
        return text

    def text_status(self) -> str:
        res = next(iter(self.analytics.current.results.values()), None)
        oee = f"{res.line_oee:.0%}" if res and res.line_oee == res.line_oee else "-"
        return (
            f"{self.gateway_status()} | {self.collector_status()} | line OEE {oee} | "
            f"commands sent {self.analytics.total('commands_sent')}"
        )

    def render(self) -> Any:
        from rich.console import Group
        from rich.table import Table

        analytics = self.analytics.current
        res = next(iter(analytics.results.values()), None)
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
        lines: list[Any] = [t]
        if res:
            lines.append(
                f"Line OEE {_fmt(res.line_oee, '{:.0%}')}   output {_fmt(res.line_pph, '{:.0f}')} pcs/h "
                f"(target {res.target_pph:.0f})   efficiency {_fmt(res.efficiency, '{:.0%}')}   "
                f"bottleneck {res.bottleneck}"
            )
        lines.append(self.text_status())
        for act in analytics.actions[-5:]:
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
