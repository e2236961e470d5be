"""The analytics service: InfluxQL windows in, KPIs and health out, commands down.

This module is the round loop; each step lives in its own module. Every interval it finds
the lines that report machine states and, per line:

1. reads the last window through `analytics.inputs` (the state and counter before the
   window, the changes inside it, power as server-side bucket means) and computes the
   full KPI set on all machines at once (`analytics.kpi`);
2. reads the recent vibration bursts (`analytics.reads`) and runs predictive maintenance
   (`analytics.prognostics`: baselines, health, drift charts, RUL band, fault hint) on
   the state it keeps per machine (`analytics.pdm_state`);
3. writes `oee`, `line_kpi` and `pdm` (`analytics.rows`), and writes again the
   recent windows whose data arrived late (`analytics.rolling`);
4. turns health and state into actions through the hysteresis rules (`analytics.rules`)
   and publishes their alerts and commands (`analytics.actions`).

Each round starts by settling the commands the agents have acknowledged and sending again
those still unacknowledged (`analytics.outbox`), before anything that needs the database,
and ends by writing the round's commands and alerts (kept for the next round if the write
fails) and the outbox's counters.

Every `analytics.shifts.update_s` it also writes the figures of the shift so far and the
downtime by cause (`analytics.shift_kpi`). The first time it sees a line it rebuilds the
line's rule latches, health history and drift charts from InfluxDB
(`analytics.recovery`), so a restarted service does not act twice on one condition.
All time comes from the injected clock, so the same code runs on wall time in the plant
and on virtual time in tests.

Line figures pool the line's stations (the machines its bulletin gives a SAM), so
their losses add up to the line's planned station time: the waterfall. The line's
output is its last station's good pieces.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from analytics.actions import publish_actions
from analytics.andon import AndonWriter
from analytics.dhu import QualityWriter
from analytics.inputs import LineFigures, LineKey, find_lines, line_figures, read_line
from analytics.outbox import Outbox
from analytics.pdm_state import MachineKey, PdmState
from analytics.prognostics import PdmSignals, Prognostics
from analytics.reads import first_bursts, recent_bursts
from analytics.recovery import restore_line, restore_outbox
from analytics.rolling import RollingRows
from analytics.rows import pdm_rows
from analytics.rules import Action, PdmView, RuleEngine
from analytics.shift_kpi import ShiftKpiWriter
from tonle.config import TonleConfig
from tonle.contract import MACHINE_STATES
from tonle.io.clock import Clock
from tonle.io.influxql import InfluxQLClient, InfluxQLError
from tonle.io.mqtt import MqttConnection
from tonle.io.writers import WriteError, Writer
from tonle.messages import _
from tonle.security.commands import load_signer

__all__ = ["AnalyticsService", "LineResult", "ShiftKpiWriter"]

log = logging.getLogger("tonle.analytics")
NS = 1_000_000_000
MAINTENANCE = MACHINE_STATES.index("maintenance")
SKIP_LOG_EVERY_S = 60.0  # while InfluxDB is unreachable, one warning per this many seconds


@dataclass
class LineResult:
    """One evaluation of one line, kept for the live view and the demo summary."""

    site: str
    area: str
    line: str
    machines: list[str]
    state: list[str]
    availability: np.ndarray
    performance: np.ndarray
    quality: np.ndarray
    oee: np.ndarray
    pieces_per_hour: np.ndarray
    health: np.ndarray
    drift: np.ndarray
    line_oee: float
    line_pph: float
    target_pph: float
    efficiency: float
    bottleneck: str
    coverage: np.ndarray
    kpi: LineFigures | None = None  # everything behind the figures above

    @classmethod
    def of(
        cls, key: LineKey, machines: list[str], current: np.ndarray, lf: LineFigures, sig: PdmSignals
    ) -> LineResult:
        mf = lf.machines
        return cls(
            key.site,
            key.area,
            key.line,
            machines,
            [MACHINE_STATES[c] if c >= 0 else "unknown" for c in current.tolist()],
            mf.availability,
            mf.performance,
            mf.quality,
            mf.oee,
            mf.pieces_per_hour,
            sig.health,
            sig.drift,
            float(lf.line.oee),
            lf.pieces_per_hour,
            lf.target_pph,
            lf.efficiency,
            machines[lf.bottleneck] if lf.bottleneck >= 0 else "",
            mf.coverage,
            lf,
        )


@dataclass
class AnalyticsService:
    cfg: TonleConfig
    clock: Clock
    query: InfluxQLClient
    writer: Writer
    mqtt: MqttConnection
    rules: dict[LineKey, RuleEngine] = field(default_factory=dict)  # the latches of each line seen
    pdm: PdmState = field(default_factory=PdmState)
    shifts: ShiftKpiWriter = field(init=False)
    quality: QualityWriter = field(init=False)
    andon: AndonWriter = field(init=False)
    prognostics: Prognostics = field(init=False)
    results: dict[LineKey, LineResult] = field(default_factory=dict)
    commands_sent: int = 0
    alerts_sent: int = 0
    actions: list[Action] = field(default_factory=list)
    outbox: Outbox = field(init=False)
    rolling: RollingRows = field(init=False)

    def __post_init__(self) -> None:
        self.shifts = ShiftKpiWriter(self.cfg, self.query, self.writer)
        self.rolling = RollingRows(self.cfg.analytics, self.shifts.calendar, self.query, self.writer)
        self.quality = QualityWriter(self.query, self.writer)
        self.andon = AndonWriter(self.query, self.writer)
        self.prognostics = Prognostics(self.cfg.analytics, self.pdm)
        a = self.cfg.analytics
        signer = load_signer(Path(a.signing_key), a.signer)
        log.info(
            _(
                "analytics signs commands as {name!r} with {key}; each gateway trusts it with, under "
                "[agent.trusted_keys]: {name} = {public!r}"
            ).format(name=signer.name, key=a.signing_key, public=signer.public_text)
        )
        self.outbox = Outbox(self.mqtt, a.site, signer=signer)

    async def run(self, stop: asyncio.Event) -> None:
        skipped = 0  # rounds skipped since the database was last reachable
        while not stop.is_set():
            try:
                await self.run_once(self.clock.now_ns())
                if skipped:
                    log.info(_("analytics is back after skipping {n} rounds").format(n=skipped))
                skipped = 0
            except (InfluxQLError, WriteError) as exc:
                # Once when it starts, then once a minute: an outage must not flood the log.
                if skipped % max(1, round(SKIP_LOG_EVERY_S / self.cfg.analytics.interval_s)) == 0:
                    log.warning(
                        _("analytics skipped this round ({n} so far): {reason}").format(
                            n=skipped + 1, reason=exc
                        )
                    )
                skipped += 1
            except Exception:  # the service must outlive one bad round; the traceback is logged
                log.exception(_("analytics round failed; trying again next interval"))
            await self.clock.sleep(self.cfg.analytics.interval_s)

    async def run_once(self, end_ns: int) -> list[LineResult]:
        a = self.cfg.analytics
        await self.outbox.listen()
        self.outbox.take_acks()
        self.outbox.resend_due(self.clock.now_ns())  # also while the database is away
        start_ns = end_ns - int(a.window_s * NS)
        lines = await find_lines(self.query, before_ns=end_ns, site=None if a.site == "+" else a.site)
        out = []
        for key, machines in lines.items():
            res = await self._line(key, machines, start_ns, end_ns)
            self.results[key] = res
            out.append(res)
        await self.andon.update(lines, end_ns)
        shift_update = self.shifts.next_ns
        await self.shifts.maybe_update(lines, end_ns)
        if self.shifts.next_ns != shift_update:  # DHU divides by the shift figures just written
            await self.quality.update(lines, end_ns)
        await self.writer.write(self.outbox.rows(end_ns))
        self.outbox.written()
        return out

    async def _line(self, key: LineKey, machines: list[str], start_ns: int, end_ns: int) -> LineResult:
        inputs = await read_line(self.query, key, start_ns, end_ns, self.cfg.analytics, machines)
        result = inputs.kpis(self.shifts.calendar)
        lf = line_figures(inputs, result)
        machines = list(inputs.machines)
        current = inputs.current_state()
        rules = await self._rules_of(key, machines, end_ns)
        sig = await self._signals(key, machines, end_ns, current == MAINTENANCE)
        view = self.prognostics.prognosis(key, machines, sig, end_ns)
        res = LineResult.of(key, machines, current, lf, sig)
        await self.writer.write(
            self.rolling.rows(key, machines, inputs, result, lf, end_ns)
            + pdm_rows(key, machines, sig, view, end_ns)
        )
        await self.rolling.revisit(key, machines, inputs.last_data_ns, end_ns)
        self._act(key, rules, res, current, view)
        return res

    async def _rules_of(self, key: LineKey, machines: list[str], end_ns: int) -> RuleEngine:
        """The line's rule engine; the first time, rebuilt with the line's PdM state from InfluxDB."""
        rules = self.rules.get(key)
        if rules is None:
            pdm = self.cfg.analytics.pdm
            rules = RuleEngine(
                self.cfg.analytics.rules, rul_horizon_h=pdm.rul_horizon_h, min_interval_s=pdm.min_interval_s
            )
            await restore_line(self.query, self.cfg.analytics, key, machines, end_ns, rules, self.pdm)
            await restore_outbox(self.query, self.cfg.analytics, key, end_ns, self.outbox)
            self.rules[key] = rules  # only once restored: a failed read is tried again next round
        return rules

    async def _signals(
        self, key: LineKey, machines: list[str], end_ns: int, maintenance: np.ndarray
    ) -> PdmSignals:
        a = self.cfg.analytics
        if self.prognostics.unlearned(key, machines):
            self.prognostics.learn(key, await first_bursts(self.query, key, end_ns, a.baseline_samples))
        start_ns = end_ns - int(a.health_window_s * NS)
        bursts = await recent_bursts(self.query, key, machines, start_ns, end_ns)
        return self.prognostics.signals(key, machines, bursts, maintenance)

    def _act(
        self, key: LineKey, rules: RuleEngine, res: LineResult, current: np.ndarray, view: PdmView
    ) -> None:
        if not res.machines:
            return
        now = self.clock.now_ns()
        in_repair = rules.in_repair()
        acts = rules.evaluate(res.machines, res.health, current, view, now / NS)
        for m in in_repair - rules.in_repair():
            self.pdm.get(MachineKey.on(key, m)).after_repair()
        self.actions.extend(acts)
        sent = publish_actions(self.outbox, key, acts, now, self.cfg.analytics.rules.command_ttl_s)
        self.alerts_sent += sent.alerts
        self.commands_sent += sent.commands
