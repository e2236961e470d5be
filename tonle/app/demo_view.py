"""The demo's live terminal view (rich) and the printed summary.

On a terminal the view is a table of the stations, redrawn twice a second, with the
line's figures, the last alerts, the gateway's latest answers to commands and a legend
under it. When standard output is not a terminal (piped to a file or a pager, or
`--headless`), there is no table: a status line goes to the log (stderr) every 10 s,
and the JSON summary is printed on stdout at the end (README, "Running the demo").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from firmware_sim.line import LineSpec
from tonle.app.demo_analytics import AnalyticsRuns
from tonle.app.demo_plant import AgentProcess, CollectorProcess
from tonle.app.live_commands import CommandBoard
from tonle.app.state_words import ACK_STATUS, SEVERITY, STATES
from tonle.app.terminal_text import Cell, fold, grid
from tonle.config import RulesConfig
from tonle.io.influxql import InfluxQLClient
from tonle.messages import N_, _, render

if TYPE_CHECKING:
    from tonle.app.demo import DemoOptions
    from tonle.app.demo_accounting import CollectorHealth

log = logging.getLogger("tonle.app.demo")
HEALTH_REFRESH_S = 2.0
# The table's headings, looked up when the table is drawn (the live view's language).
COLUMNS = (
    N_("station"),
    N_("operation"),
    N_("state"),
    N_("speed"),
    N_("station pcs/h"),
    N_("OEE"),
    N_("health"),
    N_("drift"),
    N_("andon"),
)
LEGEND = N_(
    "Legend: speed = the speed the gateway applied (a derate lowers it); station pcs/h = pieces "
    "this station made per hour (the line's output is what leaves the last station); health = "
    "vibration health, 1.00 like new, derate below {derate}, stop and repair below {stop} "
    "(* = its last value while the station is not running); drift ALARM = the vibration has moved "
    "away from this machine's own normal level: check it before health falls; andon = light on "
    "since, lit by analytics on a breakdown; starved = waiting for work, blocked = waiting for space."
)
NOT_A_TERMINAL = N_(
    "not a terminal: no live table; a status line every 10 s here, the summary at the end "
    "(run it in a terminal to see the table)"
)


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
        self.board = CommandBoard(spec.site, time.time_ns() - 60 * 1_000_000_000)
        self.last_health: dict[str, float] = {}  # kept while a station is stopped (no vibration then)

    async def refresh(self) -> None:
        await self.health.refresh(self.q)
        await self.board.refresh(self.q)

    async def run(self, duration_s: float) -> None:
        t_end = time.monotonic() + duration_s
        if self.opts.headless or not os.isatty(1):
            if not self.opts.headless:
                log.info("%s", _(NOT_A_TERMINAL))
            while (left := t_end - time.monotonic()) > 0:
                await asyncio.sleep(min(10.0, left))
                await self.refresh()
                log.info("%s", self.text_status())
            return
        from rich import get_console
        from rich.live import Live
        from rich.logging import RichHandler

        next_read = 0.0
        with (
            Live(self.render(get_console().width), refresh_per_second=2, screen=False) as live,
            _log_to(RichHandler(console=live.console, show_path=False)),
        ):
            while time.monotonic() < t_end:
                await asyncio.sleep(0.5)
                if time.monotonic() >= next_read:
                    await self.refresh()
                    next_read = time.monotonic() + HEALTH_REFRESH_S
                live.update(self.render(live.console.width))

    def gateway_status(self) -> str:
        if not self.agent.running:
            return _("gateway: DOWN")
        status = self.agent.status()
        if status is None:
            return _("gateway: starting")
        a = status["rows"].get("agent", {})
        text = render(
            N_("gateway: connected, read {samples} samples, spool {unsent} to send")
            if status["broker_connected"]
            else N_("gateway: NO BROKER, read {samples} samples, spool {unsent} to send"),
            {
                "samples": _n(a.get("samples", 0)),
                "unsent": _n(a.get("spool_unsent", a.get("spool_depth", 0))),
            },
        )
        if "spool_unconfirmed" in a:
            text += render(N_(", {n} sent not yet confirmed"), {"n": _n(a["spool_unconfirmed"])})
        if a.get("spool_held"):
            text += render(N_(" ({n} held by the collector)"), {"n": _n(a["spool_held"])})
        if a.get("messages_resent"):
            text += render(N_(", {n} re-sent"), {"n": _n(a["messages_resent"])})
        if a.get("spool_dropped"):
            text += render(N_(", {n} dropped"), {"n": _n(a["spool_dropped"])})
        return text + devices_status(status["rows"])

    def collector_status(self) -> str:
        h = self.health
        if not self.collector.running:
            state = _("DOWN")
        elif self.collector.paused:
            state = _("HELD (SIGSTOP)")
        elif not h.reachable:
            state = _("DATABASE DOWN (figures from before)")
        else:
            state = ""
        points = {"points": h.total("points"), "state": state}
        text = render(
            N_("collector: {state}, stored {points} points")
            if state
            else N_("collector: stored {points} points"),
            points,
        )
        queued = h.gauge("queue_depth")
        if queued is not None:
            text += render(N_(", {n} messages queued"), {"n": _n(queued)})
        spooled = h.gauge("spool_depth")
        if spooled is not None:
            text += render(N_(", {n} in its spool"), {"n": _n(spooled)})
        if errors := h.total("write_errors"):
            text += render(N_(", {n} failed writes"), {"n": errors})
        if duplicates := h.total("duplicates_absorbed"):
            text += render(N_(", {n} duplicates absorbed"), {"n": duplicates})
        return text

    def text_status(self) -> str:
        res = next(iter(self.analytics.current.results.values()), None)
        oee = f"{res.line_oee:.0%}" if res and res.line_oee == res.line_oee else "-"
        return render(
            N_("{gateway} | {collector} | line OEE {oee} | commands sent {commands}"),
            {
                "gateway": self.gateway_status(),
                "collector": self.collector_status(),
                "oee": oee,
                "commands": self.analytics.total("commands_sent"),
            },
        )

    def render(self, width: int = 160) -> Any:
        """The table and the status lines, folded to `width` terminal columns (see terminal_text)."""
        from rich.console import Group
        from rich.text import Text

        analytics = self.analytics.current
        res = next(iter(analytics.results.values()), None)
        lines: list[Any] = self._table(res, width - 1)
        sentences = [(self._line_figures(res), "")] if res else []
        sentences.append((self.text_status(), ""))
        for act in analytics.actions[-5:]:
            sentences.append((f"{_(SEVERITY.get(act.severity, act.severity)).upper()} {act.message}", "bold"))
        if self.board.latest:
            answers = "; ".join(a.sentence(_(ACK_STATUS.get(a.status, a.status))) for a in self.board.latest)
            sentences.append((render(N_("Commands answered: {answers}"), {"answers": answers}), ""))
        sentences.append((self.legend(), "dim"))
        for sentence, first_word_style in sentences:
            for k, part in enumerate(fold(sentence, max(20, width - 1))):
                text = Text(part, no_wrap=True, overflow="ignore")
                if k == 0 and first_word_style:
                    text.stylize(first_word_style, 0, len(part.split(" ")[0]))
                lines.append(text)
        return Group(*lines)

    def legend(self) -> str:
        rules = getattr(getattr(self.analytics.current, "cfg", None), "analytics", None)
        r = rules.rules if rules is not None else RulesConfig()
        return render(LEGEND, {"derate": f"{r.derate_below:.2f}", "stop": f"{r.maintenance_below:.2f}"})

    def _line_figures(self, res: Any) -> str:
        return render(
            N_(
                "Line OEE {oee}   line output {pph} pcs/h leaving the last station (target {target})   "
                "efficiency {efficiency}   bottleneck {bottleneck}"
            ),
            {
                "oee": _fmt(res.line_oee, "{:.0%}"),
                "pph": _fmt(res.line_pph, "{:.0f}"),
                "target": f"{res.target_pph:.0f}",
                "efficiency": _fmt(res.efficiency, "{:.0%}"),
                "bottleneck": res.bottleneck,
            },
        )

    def _table(self, res: Any, max_width: int = 10_000) -> list[Any]:
        """One row per station: state in words, applied speed, pieces per hour, OEE, health, drift, andon."""
        title = render(
            N_("Tonle demo - line {line} ({n} stations)"),
            {"line": self.spec.line, "n": len(self.spec.stations)},
        )
        rows: list[list[Cell]] = []
        for st in self.spec.stations:
            if res and st.name in res.machines:
                rows.append(self._row(st.name, st.operation, res, res.machines.index(st.name)))
            else:
                rows.append([(st.name, ""), (st.operation, ""), (_("waiting for data"), "")] + [("", "")] * 6)
        return grid(title, [_(col) for col in COLUMNS], rows, max_width)

    def _row(self, name: str, operation: str, res: Any, j: int) -> list[Cell]:
        state = res.state[j]
        colour = {"running": "green", "breakdown": "red", "maintenance": "blue"}.get(state, "yellow")
        speed = self.board.speed.get(name, 1.0)
        health = float(res.health[j])
        if health == health:
            self.last_health[name] = health
            shown = f"{health:.2f}"
        else:
            kept = self.last_health.get(name)
            shown = "-" if kept is None else f"{kept:.2f}*"
        lit = self.board.andon_ns.get(name)
        andon = "" if lit is None else time.strftime("%H:%M", time.localtime(lit / 1_000_000_000))
        return [
            (name, ""),
            (operation, ""),
            (state_word(state), colour),
            (f"{speed:.0%}", "" if speed >= 1 else "bold yellow"),
            (_fmt(res.pieces_per_hour[j], "{:.0f}"), ""),
            (_fmt(res.oee[j], "{:.0%}"), ""),
            (shown, ""),
            (_("ALARM") if res.drift[j] else "", "red"),
            (andon, "bold red"),
        ]


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


def devices_status(rows: dict[str, dict[str, float]]) -> str:
    """How many of the gateway's device links are up, and which are not (a row with `connected`
    is a source's; the others are machines and the agent itself)."""
    links = {name: row["connected"] for name, row in rows.items() if "connected" in row}
    if not links:
        return ""
    down = sorted(name for name, up in links.items() if not up)
    text = render(N_("; devices {up} of {all} connected"), {"up": len(links) - len(down), "all": len(links)})
    if down:
        text += render(N_(" (not connected: {names})"), {"names": ", ".join(down)})
    return text


def _fmt(v: float, pattern: str) -> str:
    return pattern.format(v) if v == v else "-"


def _n(v: float) -> str:
    """A count as the status lines show it (Arabic digits in every language: docs/glossary.md)."""
    return f"{v:.0f}"


def state_word(state: str) -> str:
    """A machine state in the chosen language (a state the catalogue does not know, as sent)."""
    return _(STATES[state]) if state in STATES else state


def summary_lines(summary: dict[str, Any]) -> list[str]:
    """The summary in sentences for the person at the terminal, in the chosen language."""
    lines = [
        render(
            N_("{published} samples published, {stored} stored, {lost} lost"),
            {
                "published": summary["samples_published"],
                "stored": summary["points_stored"],
                "lost": summary["lost"],
            },
        ),
        render(
            N_("maintenance alerts: {alerts}; commands sent: {sent}, applied by the gateway: {acked}"),
            {
                "alerts": summary["alerts"],
                "sent": summary["commands_sent"],
                "acked": summary["commands_acked"],
            },
        ),
    ]
    for protocol, n in summary.get("protocols", {}).items():
        text = N_("  {protocol}: {published} published, {stored} stored, {lost} lost")
        lines.insert(-1, render(text, {"protocol": protocol, **n}))
    for line, oee in summary.get("oee", {}).items():
        lines.append(
            render(N_("line {line}: OEE {oee}"), {"line": line, "oee": "-" if oee is None else f"{oee:.0%}"})
        )
    return lines


def print_summary(summary: dict[str, Any]) -> None:
    """Sentences for a person on stderr; the JSON line (English keys, for scripts) last on stdout."""
    for line in summary_lines(summary):
        print(line, file=sys.stderr, flush=True)
    print(json.dumps(summary, separators=(",", ":")), flush=True)
