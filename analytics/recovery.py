"""Carry on after a restart: rebuild a line's rule latches and PdM state from InfluxDB.

The service keeps what it did and what it learnt in memory (`analytics.rules`,
`analytics.pdm_state`). The first time it sees a line (when it starts, or when a line
appears) it rebuilds them from what is stored, so a restart never sends a second command
for a condition it already acted on, and the RUL trend and the drift charts go on where
they were. What is the truth for each piece:

- Which latch fired last, and when (for `min_interval_s`): the `commands` measurement.
  Every action of the rules sends a command (derate -> set_speed, maintenance, andon),
  which the collector stores with direction=cmd, issued_by=tonle-analytics and the
  command's own time; the last one per machine and action is when that latch last
  fired. (`alerts` hold the same moments, but as codes to be parsed back into
  conditions; an operator's commands are not the service's and are left out.) Whether
  the agent applied or rejected a command does not matter: a running service does not
  re-send a rejected one either.
- Whether that latch is still on: a latch clears at the first round whose signal is past
  its clear level, and the service stores that signal. Derate: a `pdm` health above
  `derate_clear_above` since it fired, or since a maintenance request latched it too;
  maintenance: a health above `maintenance_clear_above` since it fired; andon: a `state`
  other than breakdown since it fired. With such evidence the latch is restored cleared
  (its `min_interval_s` still counted from the command), without it, on.
- A condition that cleared while the service was down left no `pdm` row (nothing
  computed health then): its latch is restored on, and the first round sees the signal
  past its clear level and clears it, as a running service would have; after
  maintenance that also restarts the machine's trend and charts. A condition that
  cleared and came back while the service was down is taken for the same condition.
- Health history (RUL): the `health` of the `pdm` rows of the last `analytics.pdm.history_s`
  (rounds whose health was unknown come back as NaN, as they were held), from after the
  round at which a maintenance request cleared (the history restarts with the new bearing).
- Drift charts: `cusum_rms` and `cusum_kurtosis` of the machine's last `pdm` row (the chart
  after the newest burst it had charted), or zero when that row is not after a cleared
  maintenance request; bursts before that row's time count as charted. The EWMA that
  `analytics.drift.feature_drift` carries alongside is neither stored nor acted on and
  starts again at zero. Bursts that arrived while the service was down and are older
  than its first window are not charted, as after any skipped round.
- Healthy baselines: the `base_*` fields of the machine's last `pdm` row (the baseline in
  force, which a long stop may have moved since the first bursts), and whether it was being
  relearnt (`relearning`: the sample starts again with the bursts after that row); a last
  row at or before a cleared maintenance request means relearning from scratch (the running
  service forgot the baseline right after writing it). Without stored fields (rows of an
  older service), `telemetry` itself: each machine's first `baseline_samples` bursts are
  read again and give the same baseline; the machine type always comes from `telemetry`.
  The stop bookkeeping (`RunGate`) is not stored: a long stop that spans the restart is
  not seen as one.

- Commands not yet acknowledged: the service writes every command it sends to the
  `commands` measurement itself (`analytics.outbox`), so a command is seen even when the
  broker lost it before the collector stored it. The ones that have not expired and have
  no stored ack go back into the outbox and are sent again (same id: the agent applies an
  id at most once), so a latch restored as fired is never left without its command.

Known limit: a round killed between publishing a command and the database's answer to
its write leaves the command unseen (the collector's copy still counts if it arrived).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from analytics.drift import DriftState
from analytics.inputs import LineKey
from analytics.outbox import Outbox
from analytics.pdm_state import HealthyBaseline, MachineKey, PdmState
from analytics.reads import (
    first_health_above,
    first_state_other_than,
    last_baselines,
    last_charts,
    last_commands,
    pdm_rows,
    unacknowledged_commands,
)
from analytics.rules import BREAKDOWN, COMMAND_OF, RuleEngine
from tonle.config.sections import AnalyticsConfig
from tonle.contract import MachineAddress
from tonle.io.influxql import InfluxQLClient

__all__ = ["restore_line", "restore_outbox"]

NS = 1_000_000_000


async def restore_line(
    q: InfluxQLClient,
    cfg: AnalyticsConfig,
    key: LineKey,
    machines: Sequence[str],
    now_ns: int,
    rules: RuleEngine,
    pdm: PdmState,
) -> None:
    """Set `rules` and the `pdm` state of the line's machines as the stored rows say they were."""
    repaired = await _restore_latches(q, cfg, key, now_ns, rules)
    await _restore_history(q, cfg, key, machines, now_ns, pdm, repaired)
    await _restore_charts(q, key, machines, now_ns, pdm, repaired)
    await _restore_baselines(q, key, machines, now_ns, pdm, repaired)


async def restore_outbox(
    q: InfluxQLClient, cfg: AnalyticsConfig, key: LineKey, now_ns: int, outbox: Outbox
) -> int:
    """Put the line's unexpired, unacknowledged commands back in `outbox` (sent again at once)."""
    since = now_ns - int(max(4 * cfg.rules.command_ttl_s, 3600.0) * NS)
    found = await unacknowledged_commands(q, key, since, now_ns)
    addr = functools.partial(MachineAddress, key.site, key.area, key.line)
    return sum(outbox.restore(addr(machine), cmd, now_ns) for machine, cmd in found)


async def _restore_latches(
    q: InfluxQLClient, cfg: AnalyticsConfig, key: LineKey, now_ns: int, rules: RuleEngine
) -> dict[str, int]:
    """Restore every latch that ever fired on the line; returns when maintenance cleared, per machine."""
    r = cfg.rules
    sent = {cond: await last_commands(q, key, action, now_ns) for cond, action in COMMAND_OF.items()}
    repaired: dict[str, int] = {}
    for m in sorted(set().union(*sent.values())):
        mk = MachineKey.on(key, m)
        t_maint = sent["maintenance"].get(m)
        if t_maint is not None:
            cleared = await first_health_above(q, mk, r.maintenance_clear_above, t_maint, now_ns)
            rules.restore(m, "maintenance", fired_s=t_maint / NS, active=cleared is None)
            if cleared is not None:
                repaired[m] = cleared
        t_derate = sent["derate"].get(m)
        since = max((t for t in (t_derate, t_maint) if t is not None), default=None)
        if since is not None:
            cleared = await first_health_above(q, mk, r.derate_clear_above, since, now_ns)
            fired = None if t_derate is None else t_derate / NS
            rules.restore(m, "derate", fired_s=fired, active=cleared is None)
        t_andon = sent["andon"].get(m)
        if t_andon is not None:
            cleared = await first_state_other_than(q, mk, BREAKDOWN, t_andon, now_ns)
            rules.restore(m, "andon", fired_s=t_andon / NS, active=cleared is None)
    return repaired


async def _restore_history(
    q: InfluxQLClient,
    cfg: AnalyticsConfig,
    key: LineKey,
    machines: Sequence[str],
    now_ns: int,
    pdm: PdmState,
    repaired: dict[str, int],
) -> None:
    rows = await pdm_rows(q, key, now_ns - int(cfg.pdm.history_s * NS), now_ns)
    for m in machines:
        got = rows.get(m)
        if got is None:
            continue
        keep = got.t_ns > repaired.get(m, -1)
        history = pdm.get(MachineKey.on(key, m)).history
        # int / int as the running service computes it (exactly rounded), not via float64.
        history.t = [t / NS for t in got.t_ns[keep].tolist()]
        history.h = got.health[keep].tolist()


async def _restore_charts(
    q: InfluxQLClient,
    key: LineKey,
    machines: Sequence[str],
    now_ns: int,
    pdm: PdmState,
    repaired: dict[str, int],
) -> None:
    last = await last_charts(q, key, now_ns)
    for m in machines:
        if m not in last:
            continue
        t_ns, cusum = last[m]
        if not (cusum == cusum).all():
            continue  # no baseline then: nothing was charted yet
        chart = pdm.get(MachineKey.on(key, m)).chart
        chart.charted_ns = t_ns - 1
        chart.restart()
        if t_ns > repaired.get(m, -1):
            chart.state = DriftState(cusum[None, :], chart.state.ewma)


async def _restore_baselines(
    q: InfluxQLClient,
    key: LineKey,
    machines: Sequence[str],
    now_ns: int,
    pdm: PdmState,
    repaired: dict[str, int],
) -> None:
    last = await last_baselines(q, key, now_ns)
    for m in machines:
        if m not in last:
            continue
        t_ns, base, relearning = last[m]
        mp = pdm.get(MachineKey.on(key, m))
        mp.restart.gated_ns = t_ns - 1
        if t_ns <= repaired.get(m, -1):
            mp.baseline = HealthyBaseline()
            mp.restart.relearn()
            continue
        if np.isfinite(base).all():
            mp.baseline.set(base.tolist())
        if relearning:
            mp.restart.relearn()
