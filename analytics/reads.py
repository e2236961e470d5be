"""Every InfluxQL query the analytics service sends, besides the KPI inputs (`analytics.inputs`).

Each function asks one question and answers with arrays or plain values, so the rest of
the service never sees a query string: vibration bursts for baselines and health, the
downtime already stored for a shift, and what a restarted service needs to carry on (the
commands it sent, when a condition cleared, the `pdm` rows it wrote).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analytics.actions import ISSUED_BY
from analytics.inputs import LineKey
from analytics.pdm_state import BASELINE_FIELDS, DRIFT_FEATURES, MachineKey
from tonle.contract import Command
from tonle.io.influxql import InfluxQLClient, quote_str
from tonle.schema import COMMANDS, DOWNTIME, ENVELOPE_FIELDS, FAULT_EVIDENCE_FIELDS, PDM, STATE, TELEMETRY

__all__ = [
    "Bursts",
    "FirstBursts",
    "PdmRows",
    "first_bursts",
    "first_health_above",
    "first_state_other_than",
    "last_baselines",
    "last_charts",
    "last_commands",
    "pdm_rows",
    "recent_bursts",
    "stored_downtime",
    "unacknowledged_commands",
]

_CUSUM = tuple(f"cusum_{f}" for f in DRIFT_FEATURES)


@dataclass(frozen=True, slots=True)
class FirstBursts:
    """A machine's first vibration bursts ever: what its healthy baseline is learnt from."""

    machine: str
    machine_type: str
    rms: np.ndarray
    kurt: np.ndarray


@dataclass(frozen=True, slots=True)
class Bursts:
    """A line's recent bursts ``[machines, bursts]``, NaN-padded at the end (times 0 there).

    env: envelope evidence ``[machines, bursts, ENVELOPE_FIELDS + FAULT_EVIDENCE_FIELDS]``,
         NaN where not sent.
    """

    rms: np.ndarray
    kurt: np.ndarray
    times: np.ndarray
    env: np.ndarray


@dataclass(frozen=True, slots=True)
class PdmRows:
    """A machine's `pdm` rows in time order: health (NaN where unknown) per round."""

    t_ns: np.ndarray
    health: np.ndarray


async def first_bursts(q: InfluxQLClient, key: LineKey, end_ns: int, n: int) -> list[FirstBursts]:
    """The first `n` bursts before `end_ns` of every machine of the line that has any."""
    # LIMIT applies per series: the first N bursts of every machine, in one query.
    rows = await q.query(
        f"SELECT vib_rms, vib_kurtosis FROM {TELEMETRY.name} WHERE {key.where()} AND vib_rms > 0 "
        f"AND time < {end_ns} GROUP BY machine, machine_type LIMIT {n}"
    )
    return [
        FirstBursts(
            s.tags["machine"],
            s.tags.get("machine_type", ""),
            np.array(s.column("vib_rms"), dtype=float),
            np.array(s.column("vib_kurtosis"), dtype=float),
        )
        for s in rows
    ]


async def recent_bursts(
    q: InfluxQLClient, key: LineKey, machines: Sequence[str], start_ns: int, end_ns: int
) -> Bursts:
    """RMS, kurtosis, time and envelope evidence of each machine's bursts in [start_ns, end_ns)."""
    rows = await q.query(
        f"SELECT vib_rms, vib_kurtosis, {', '.join(ENVELOPE_FIELDS + FAULT_EVIDENCE_FIELDS)} "
        f"FROM {TELEMETRY.name} WHERE {key.where()} "
        f"AND vib_rms > 0 AND time >= {start_ns} AND time < {end_ns} GROUP BY machine"
    )
    n = len(machines)
    width = max(max((len(s.values) for s in rows), default=0), 1)
    rms = np.full((n, width), np.nan)
    kurt = np.full((n, width), np.nan)
    times = np.zeros((n, width), dtype=np.int64)
    env = np.full((n, width, len(ENVELOPE_FIELDS + FAULT_EVIDENCE_FIELDS)), np.nan)
    for s in rows:
        i, k = machines.index(s.tags["machine"]), len(s.values)
        rms[i, :k] = s.column("vib_rms")
        kurt[i, :k] = s.column("vib_kurtosis")
        times[i, :k] = s.column("time")
        for j, name in enumerate(ENVELOPE_FIELDS + FAULT_EVIDENCE_FIELDS):
            if name in s.columns:
                env[i, :k, j] = np.array(s.column(name), dtype=float)
    return Bursts(rms, kurt, times, env)


async def stored_downtime(
    q: InfluxQLClient, key: LineKey, shift: str, start_ns: int, end_ns: int
) -> dict[str, tuple[float, float]]:
    """(seconds, stops) per cause already in `downtime` for the shift in [start_ns, end_ns]."""
    rows = await q.query(
        f"SELECT sum(seconds) AS seconds, sum(stops) AS stops FROM {DOWNTIME.name} WHERE {key.where()} "
        f"AND shift = {quote_str(shift)} AND time >= {start_ns} AND time <= {end_ns} "
        "GROUP BY cause"
    )
    return {s.tags["cause"]: (s.values[0][1] or 0.0, s.values[0][2] or 0.0) for s in rows if s.values}


async def last_commands(q: InfluxQLClient, key: LineKey, action: str, before_ns: int) -> dict[str, int]:
    """When this service last sent `action` to each machine of the line (as the collector stored it)."""
    rows = await q.query(
        f"SELECT last(action) FROM {COMMANDS.name} WHERE {key.where()} AND direction = 'cmd' "
        f"AND issued_by = {quote_str(ISSUED_BY)} AND action = {quote_str(action)} "
        f"AND time < {before_ns} GROUP BY machine"
    )
    return {s.tags["machine"]: int(s.values[0][0]) for s in rows if s.values}


async def unacknowledged_commands(
    q: InfluxQLClient, key: LineKey, since_ns: int, now_ns: int
) -> list[tuple[str, Command]]:
    """(machine, command) for each command this service sent to the line in (since_ns, now_ns]
    that has not expired and has no stored ack, in time order."""
    where = f"{key.where()} AND time > {since_ns} AND time <= {now_ns}"
    sent = await q.query(
        f"SELECT id, action, value, expires, reason, claimed_key, sig FROM {COMMANDS.name} WHERE {where} "
        f"AND direction = 'cmd' AND issued_by = {quote_str(ISSUED_BY)} AND expires > {now_ns} "
        "GROUP BY machine"
    )
    if not sent:
        return []
    acks = await q.query(f"SELECT id FROM {COMMANDS.name} WHERE {where} AND direction = 'ack'")
    acked = {row[1] for s in acks for row in s.values}
    out = []
    for s in sent:
        for t, cmd_id, action, value, expires, reason, signed_by, sig in s.values:
            if cmd_id not in acked:
                cmd = Command(
                    v=1,
                    id=cmd_id,
                    ts=int(t),
                    expires=int(expires),
                    action=action,
                    reason=reason,
                    value=None if value is None else float(value),
                    issued_by=ISSUED_BY,
                    key=signed_by or "",
                    sig=sig or "",
                )
                out.append((s.tags["machine"], cmd))
    return sorted(out, key=lambda mc: mc[1].ts)


async def first_health_above(
    q: InfluxQLClient, key: MachineKey, level: float, after_ns: int, before_ns: int
) -> int | None:
    """Time of the first `pdm` round in (after_ns, before_ns) with health above `level`, if any."""
    rows = await q.query(
        f"SELECT first(health) FROM {PDM.name} WHERE {key.where()} AND health > {float(level)!r} "
        f"AND time > {after_ns} AND time < {before_ns}"
    )
    return int(rows[0].values[0][0]) if rows and rows[0].values else None


async def first_state_other_than(
    q: InfluxQLClient, key: MachineKey, code: int, after_ns: int, before_ns: int
) -> int | None:
    """Time of the machine's first state in (after_ns, before_ns) other than `code`, if any."""
    rows = await q.query(
        f"SELECT first(code) FROM {STATE.name} WHERE {key.where()} AND code != {int(code)} "
        f"AND time > {after_ns} AND time < {before_ns}"
    )
    return int(rows[0].values[0][0]) if rows and rows[0].values else None


async def pdm_rows(q: InfluxQLClient, key: LineKey, since_ns: int, before_ns: int) -> dict[str, PdmRows]:
    """Every machine's `pdm` rows in [since_ns, before_ns), rounds without a health included."""
    # drift_alarm is on every row, so rounds whose health was unknown come back too (as null).
    rows = await q.query(
        f"SELECT health, drift_alarm FROM {PDM.name} WHERE {key.where()} AND time >= {since_ns} "
        f"AND time < {before_ns} GROUP BY machine"
    )
    return {
        s.tags["machine"]: PdmRows(
            np.array(s.column("time"), dtype=np.int64),
            np.array([np.nan if h is None else h for h in s.column("health")], dtype=float),
        )
        for s in rows
    }


async def last_charts(q: InfluxQLClient, key: LineKey, before_ns: int) -> dict[str, tuple[int, np.ndarray]]:
    """Each machine's last `pdm` row before `before_ns`: (its time, the CUSUM of `DRIFT_FEATURES`).

    The CUSUM is NaN where that round had no baseline to chart against.
    """
    rows = await q.query(
        f"SELECT {', '.join(_CUSUM)}, drift_alarm FROM {PDM.name} WHERE {key.where()} AND time < {before_ns} "
        "GROUP BY machine ORDER BY time DESC LIMIT 1"
    )
    out = {}
    for s in rows:
        if s.values:
            row = dict(zip(s.columns, s.values[0], strict=True))
            cusum = np.array([np.nan if row[c] is None else row[c] for c in _CUSUM], dtype=float)
            out[s.tags["machine"]] = (int(row["time"]), cusum)
    return out


async def last_baselines(
    q: InfluxQLClient, key: LineKey, before_ns: int
) -> dict[str, tuple[int, np.ndarray, bool]]:
    """Each machine's last `pdm` row before `before_ns`: (its time, the baseline in force as
    `BASELINE_FIELDS`, NaN where none or not stored, whether it was being relearnt)."""
    rows = await q.query(
        f"SELECT {', '.join(BASELINE_FIELDS)}, relearning, drift_alarm FROM {PDM.name} WHERE {key.where()} "
        f"AND time < {before_ns} GROUP BY machine ORDER BY time DESC LIMIT 1"
    )
    out = {}
    for s in rows:
        if s.values:
            row = dict(zip(s.columns, s.values[0], strict=True))
            base = np.array([np.nan if row.get(c) is None else row[c] for c in BASELINE_FIELDS], dtype=float)
            out[s.tags["machine"]] = (int(row["time"]), base, bool(row.get("relearning")))
    return out
