"""The analytics service: InfluxQL windows in, KPIs and health out, commands down.

Every interval it reads the last window for every line from InfluxDB (server-side
`last()` for the state before the window, raw events inside it: a few hundred
rows per line), runs the pure core on all machines at once, writes `oee`,
`line_kpi` and `pdm` back, and turns health into commands and alerts through
the hysteresis rules. All time comes from the injected clock, so the same code
runs on wall time in the plant and on virtual time in tests.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analytics.health import ewma_drift, health_index, robust_baseline
from analytics.oee import counter_increase, line_oee, oee
from analytics.rules import Action, RuleEngine
from analytics.states import state_durations
from collector.writers import WriteError, Writer
from tonle.clock import Clock
from tonle.config import LineConfig, TonleConfig
from tonle.contract import MACHINE_STATES, Alert, Command, MachineAddress, encode, encode_block
from tonle.influxql import InfluxQLClient, InfluxQLError, Series, quote_str
from tonle.mqtt import MqttConnection

__all__ = ["AnalyticsService", "LineResult"]

log = logging.getLogger("tonle.analytics")
RUNNING = MACHINE_STATES.index("running")
PLANNED_STOP = MACHINE_STATES.index("planned_stop")
NS = 1_000_000_000
# Burst-to-burst RMS changes below 5% are normal operation (fabric load, thread
# tension); without this floor a quiet first minute makes the drift chart hair-trigger.
BASELINE_REL_FLOOR = 0.05
# A machine whose first readings are 25% above the median of its peers of the
# same type is treated as already worn when first seen.
PEER_RATIO = 1.25


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


@dataclass
class _Baseline:
    rms: float = float("nan")
    kurt: float = float("nan")
    scale: float = float("nan")
    machine_type: str = ""
    peer_adjusted: bool = False

    @property
    def learned(self) -> bool:
        return self.rms == self.rms


@dataclass
class AnalyticsService:
    cfg: TonleConfig
    clock: Clock
    query: InfluxQLClient
    writer: Writer
    mqtt: MqttConnection
    rules: RuleEngine = field(init=False)
    baselines: dict[tuple[str, str, str], _Baseline] = field(default_factory=dict)
    results: dict[tuple[str, str, str], LineResult] = field(default_factory=dict)
    commands_sent: int = 0
    alerts_sent: int = 0
    actions: list[Action] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rules = RuleEngine(self.cfg.analytics.rules)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.run_once(self.clock.now_ns())
            except (InfluxQLError, WriteError) as exc:
                log.warning("analytics skipped this round: %s", exc)
            except Exception:  # the service must outlive one bad round; the traceback is logged
                log.exception("analytics round failed; trying again next interval")
            await self.clock.sleep(self.cfg.analytics.interval_s)

    async def run_once(self, end_ns: int) -> list[LineResult]:
        a = self.cfg.analytics
        start_ns = end_ns - int(a.window_s * NS)
        site = "" if a.site == "+" else f" AND site = {quote_str(a.site)}"
        latest = await self.query.query(
            f"SELECT last(code) AS code FROM state WHERE time < {end_ns}{site} "
            "GROUP BY site, area, line, machine"
        )
        lines: dict[tuple[str, str, str], list[str]] = defaultdict(list)
        for s in latest:
            lines[(s.tags["site"], s.tags["area"], s.tags["line"])].append(s.tags["machine"])
        out = []
        for key, machines in sorted(lines.items()):
            res = await self._line(key, sorted(machines), start_ns, end_ns)
            self.results[key] = res
            out.append(res)
        return out

    async def _line(
        self, key: tuple[str, str, str], machines: list[str], start_ns: int, end_ns: int
    ) -> LineResult:
        site, area, line = key
        where = f"site = {quote_str(site)} AND area = {quote_str(area)} AND line = {quote_str(line)}"
        idx = {m: i for i, m in enumerate(machines)}
        n = len(machines)
        lcfg = self.cfg.analytics.lines.get(line, LineConfig())

        # States: the last one before the window plus every change inside it.
        before = await self.query.query(
            f"SELECT last(code) AS code FROM state WHERE {where} AND time < {start_ns} GROUP BY machine"
        )
        inside = await self.query.query(
            f"SELECT code FROM state WHERE {where} AND time >= {start_ns} AND time < {end_ns} "
            "GROUP BY machine"
        )
        m_ids, ts, codes = _columns([*before, *inside], idx, "code")
        times = state_durations(m_ids, ts, codes, start_ns, end_ns, n, len(MACHINE_STATES))
        covered = times.window_s - times.unknown_s
        planned = covered - times.seconds[:, PLANNED_STOP]
        run = times.seconds[:, RUNNING]
        current = np.full(n, -1, dtype=np.int64)
        order = np.lexsort((ts, m_ids))
        current[m_ids[order]] = codes[order]

        # Counters: increase since the last value before the window.
        c_before = await self.query.query(
            f"SELECT last(total) AS total, last(good) AS good FROM production "
            f"WHERE {where} AND time < {start_ns} GROUP BY machine"
        )
        c_inside = await self.query.query(
            f"SELECT total, good FROM production WHERE {where} AND time >= {start_ns} "
            f"AND time < {end_ns} GROUP BY machine"
        )
        cm, cts, ctotal = _columns([*c_before, *c_inside], idx, "total")
        _, _, cgood = _columns([*c_before, *c_inside], idx, "good")
        total = counter_increase(cm, cts, ctotal, n)
        good = counter_increase(cm, cts, cgood, n)

        ideal = np.array([lcfg.sam_min.get(m, np.nan) * 60.0 for m in machines])
        k = oee(planned, run, total, good, ideal)
        hours = covered / 3600.0
        with np.errstate(divide="ignore", invalid="ignore"):
            pph = np.where(hours > 0, good / hours, np.nan)
        line_planned = float(np.max(planned)) if n else 0.0
        lk = line_oee(np.float64(line_planned), run, total, good, ideal)

        health, drift, rms_now, kurt_now, drift_stat = await self._health(key, machines, where, end_ns)

        operators = lcfg.operators or n
        sam_total = float(np.nansum(ideal) / 60.0)
        minutes = float(np.nanmax(covered) / 60.0) if n else 0.0
        line_good = float(np.nan_to_num(good[-1])) if n else 0.0
        efficiency = sam_total * line_good / (operators * minutes) if minutes > 0 else float("nan")
        line_pph = float(pph[-1]) if n else float("nan")

        res = LineResult(
            site,
            area,
            line,
            machines,
            [MACHINE_STATES[c] if c >= 0 else "unknown" for c in current.tolist()],
            k.availability,
            k.performance,
            k.quality,
            k.oee,
            pph,
            health,
            drift,
            float(lk.oee),
            line_pph,
            lcfg.target_pph,
            efficiency,
            machines[int(lk.bottleneck)] if n and int(lk.bottleneck) >= 0 else "",
            np.where(times.window_s > 0, covered / times.window_s, 0.0),
        )
        await self._write(res, k, lk, total, good, planned, run, rms_now, kurt_now, drift_stat, end_ns)
        await self._act(MachineAddress(site, area, line, machines[0]) if n else None, res, current)
        return res

    async def _health(
        self, key: tuple[str, str, str], machines: list[str], where: str, end_ns: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        a = self.cfg.analytics
        n = len(machines)
        missing = [m for m in machines if not self._baseline(key, m).learned]
        if missing:
            # LIMIT applies per series: the first N bursts of every machine, in one query.
            first = await self.query.query(
                f"SELECT vib_rms, vib_kurtosis FROM telemetry WHERE {where} AND vib_rms > 0 "
                f"AND time < {end_ns} GROUP BY machine, machine_type LIMIT {a.baseline_samples}"
            )
            for s in first:
                b = self._baseline(key, s.tags["machine"])
                b.machine_type = s.tags.get("machine_type", "")
                if b.learned or len(s.values) < a.baseline_samples:
                    continue
                rms = np.array(s.column("vib_rms"), dtype=float)[None, :]
                kurt = np.array(s.column("vib_kurtosis"), dtype=float)[None, :]
                loc, scale = robust_baseline(
                    rms, min_samples=a.baseline_samples, rel_floor=BASELINE_REL_FLOOR
                )
                kloc, _ = robust_baseline(kurt, min_samples=a.baseline_samples)
                b.rms, b.scale, b.kurt = float(loc[0]), float(scale[0]), float(kloc[0])
        self._share_peer_baseline(key, machines)
        recent = await self.query.query(
            f"SELECT vib_rms, vib_kurtosis FROM telemetry WHERE {where} AND vib_rms > 0 "
            f"AND time >= {end_ns - int(a.health_window_s * NS)} AND time < {end_ns} GROUP BY machine"
        )
        width = max((len(s.values) for s in recent), default=0)
        rms = np.full((n, max(width, 1)), np.nan)
        kurt = np.full((n, max(width, 1)), np.nan)
        for s in recent:
            i = machines.index(s.tags["machine"])
            rms[i, : len(s.values)] = s.column("vib_rms")
            kurt[i, : len(s.values)] = s.column("vib_kurtosis")
        bases = [self._baseline(key, m) for m in machines]
        base_rms = np.array([b.rms for b in bases])
        base_kurt = np.array([b.kurt for b in bases])
        base_scale = np.array([b.scale for b in bases])
        rms_now = _row_median(rms)
        kurt_now = _row_median(kurt)
        health = health_index(rms_now, kurt_now, base_rms, base_kurt, fail_ratio=a.fail_rms_ratio)
        # Machines with fewer recent readings are padded at the front with their
        # baseline, which leaves the EWMA statistic unchanged (padding with 0 would bias it).
        filled = _right_align(rms)
        pad = np.where(np.isfinite(base_rms), base_rms, 0.0)[:, None]
        drift = ewma_drift(np.where(np.isfinite(filled), filled, pad), base_rms, base_scale)
        alarm = drift.alarm[:, -1] & np.isfinite(base_rms) & np.isfinite(filled[:, -1])
        return health, alarm, rms_now, kurt_now, drift.statistic[:, -1]

    def _baseline(self, key: tuple[str, str, str], machine: str) -> _Baseline:
        return self.baselines.setdefault((*key, machine), _Baseline())

    def _share_peer_baseline(self, key: tuple[str, str, str], machines: list[str]) -> None:
        """A machine clearly worse than its peers when first seen is judged against the peers.

        A bearing already worn when Tonle was installed would otherwise learn its own
        damage as 'normal'. Peers are machines of the same type on the same line; with
        fewer than three of them there is no fair comparison and nothing changes.
        """
        bases = [self._baseline(key, m) for m in machines]
        for mtype in {b.machine_type for b in bases}:
            group = [b for b in bases if b.machine_type == mtype and b.learned]
            if len(group) < 3:
                continue
            peer = float(np.median([b.rms for b in group]))
            for b in group:
                if b.rms > PEER_RATIO * peer and not b.peer_adjusted:
                    b.scale *= peer / b.rms
                    b.rms = peer
                    b.peer_adjusted = True

    async def _write(
        self,
        res: LineResult,
        k: Any,
        lk: Any,
        total: np.ndarray,
        good: np.ndarray,
        planned: np.ndarray,
        run: np.ndarray,
        rms: np.ndarray,
        kurt: np.ndarray,
        drift_stat: np.ndarray,
        end_ns: int,
    ) -> None:
        ts = np.array([end_ns], dtype=np.int64)
        chunks = []
        for i, m in enumerate(res.machines):
            tags = {"site": res.site, "area": res.area, "line": res.line, "machine": m}
            floats = _finite(
                {
                    "availability": k.availability[i],
                    "performance": k.performance[i],
                    "quality": k.quality[i],
                    "oee": k.oee[i],
                    "run_s": run[i],
                    "planned_s": planned[i],
                    "pieces_per_hour": res.pieces_per_hour[i],
                }
            )
            counts = {"total": total[i], "good": good[i]}
            ints = {k: np.array([int(v)]) for k, v in counts.items() if np.isfinite(v)}
            if floats or ints:
                chunks.append(encode_block("oee", tags, ts, floats, ints))
            pdm = _finite(
                {
                    "health": res.health[i],
                    "vib_rms": rms[i],
                    "vib_kurtosis": kurt[i],
                    "drift_stat": drift_stat[i],
                }
            )
            chunks.append(encode_block("pdm", tags, ts, pdm, {"drift_alarm": np.array([int(res.drift[i])])}))
        line_tags = {"site": res.site, "area": res.area, "line": res.line}
        floats = _finite(
            {
                "oee": res.line_oee,
                "availability": float(lk.availability),
                "performance": float(lk.performance),
                "quality": float(lk.quality),
                "pieces_per_hour": res.line_pph,
                "target_pph": res.target_pph,
                "efficiency": res.efficiency,
            }
        )
        out_counts = {"good": good[-1], "total": total[-1]} if len(good) else {}
        ints = {k: np.array([int(v)]) for k, v in out_counts.items() if np.isfinite(v)}
        chunks.append(encode_block("line_kpi", line_tags, ts, floats, ints, {"bottleneck": [res.bottleneck]}))
        await self.writer.write(b"".join(chunks))

    async def _act(self, any_addr: MachineAddress | None, res: LineResult, current: np.ndarray) -> None:
        if any_addr is None:
            return
        now = self.clock.now_ns()
        ttl = int(self.cfg.analytics.rules.command_ttl_s * NS)
        for act in self.rules.evaluate(res.machines, res.health, current):
            addr = MachineAddress(res.site, res.area, res.line, act.machine)
            self.actions.append(act)
            alert = Alert(
                v=1, ts=now, severity=act.severity, code=act.code, message=act.message, health=act.health
            )
            self.mqtt.publish_nowait(addr.topic("alert"), encode(alert), qos=1)
            self.alerts_sent += 1
            if act.command is not None:
                cmd = Command(
                    v=1,
                    id=uuid.uuid4().hex[:16],
                    ts=now,
                    expires=now + ttl,
                    action=act.command,
                    reason=act.message,
                    value=act.value,
                    issued_by="tonle-analytics",
                )
                self.mqtt.publish_nowait(addr.topic("cmd"), encode(cmd), qos=1)
                self.commands_sent += 1
            log.warning("%s", act.message)
            now += 1  # one point per ns per series in the alerts/commands measurements


def _row_median(x: np.ndarray) -> np.ndarray:
    """Median of each row's finite values; NaN for a row with none (no warning)."""
    out = np.full(x.shape[0], np.nan)
    has = np.isfinite(x).any(axis=1)
    if has.any():
        out[has] = np.nanmedian(x[has], axis=1)
    return out


def _right_align(x: np.ndarray) -> np.ndarray:
    """Move each row's values (NaN-padded at the end) to the end, NaN-padding the front."""
    n_valid = np.isfinite(x).sum(axis=1)
    shift = x.shape[1] - n_valid
    cols = (np.arange(x.shape[1])[None, :] - shift[:, None]) % x.shape[1]
    return np.take_along_axis(x, cols, axis=1)


def _finite(d: dict[str, float]) -> dict[str, np.ndarray]:
    return {k: np.array([float(v)]) for k, v in d.items() if np.isfinite(v)}


def _columns(series: list[Series], idx: dict[str, int], col: str) -> tuple[np.ndarray, ...]:
    m: list[int] = []
    ts: list[int] = []
    val: list[float] = []
    for s in series:
        i = idx.get(s.tags.get("machine", ""))
        if i is None:
            continue
        t_col = s.columns.index("time")
        v_col = s.columns.index(col)
        for row in s.values:
            if row[v_col] is None:
                continue
            m.append(i)
            ts.append(int(row[t_col]))
            val.append(row[v_col])
    return (np.array(m, dtype=np.int64), np.array(ts, dtype=np.int64), np.array(val, dtype=np.int64))
