"""The analytics service: InfluxQL windows in, KPIs and health out, commands down.

Every interval it finds the lines that report machine states, reads the last window
of each through `analytics.inputs` (the state and counter before the window, the
changes inside it, power as server-side bucket means), computes the full KPI set with
`analytics.kpi.compute_kpis` on all machines at once, and writes `oee` (per machine)
and `line_kpi` (per line) back with the durations, counts and energy each figure came
from. Every `analytics.shifts.update_s` it also writes the figures of the shift so far
(`shift_kpi`) and the downtime by cause (`downtime`), and a last time when the shift
ends. Health (`pdm`) is turned into commands and alerts through the hysteresis rules.

Predictive maintenance per machine: a healthy baseline learnt online from its first
bursts, an EWMA drift chart on its RMS, the health index, remaining useful life with an
uncertainty band fitted on the health history (`analytics.rul`), and a fault hint voted
by the recent bursts' envelope evidence, which the edge computes at the machine type's
bearing defect frequencies (`edge_agent.encode`). All of it lands in `pdm`; the rules
derate when the early end of the RUL band is closer than `analytics.pdm.rul_horizon_h`.
Planned time follows the shift calendar in `[analytics.shifts]`. All time comes from
the injected clock, so the same code runs on wall time in the plant and on virtual
time in tests.

Line figures pool the line's stations (the machines its bulletin gives a SAM), so
their losses add up to the line's planned station time: the waterfall. The line's
output is its last station's good pieces.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field

import numpy as np

from analytics.baseline import robust_baseline, robust_z
from analytics.drift import DriftState, ewma_drift, feature_drift
from analytics.figures import Figures
from analytics.health import health_index
from analytics.inputs import LineFigures, LineKey, find_lines, line_figures, read_line
from analytics.losses import PLANNED_STOP
from analytics.rul import rul_from_health
from analytics.rules import HOUR_S, Action, PdmView, RuleEngine
from tonle.config import TonleConfig
from tonle.contract import MACHINE_STATES, Alert, Command, MachineAddress, encode, encode_block
from tonle.io.clock import Clock
from tonle.io.influxql import InfluxQLClient, InfluxQLError, quote_str
from tonle.io.mqtt import MqttConnection
from tonle.io.writers import WriteError, Writer
from tonle.kernels.diagnosis import FAULT_HINTS, BearingEvidence, fault_hint
from tonle.kernels.shifts import ShiftCalendar
from tonle.schema import ENVELOPE_FIELDS

__all__ = ["AnalyticsService", "LineResult", "ShiftKpiWriter"]

log = logging.getLogger("tonle.analytics")
NS = 1_000_000_000
OFF_SHIFT = "off-shift"
# A shift is at most a day; a long stretch outside shifts (a weekend) is reported for
# its last day only, which is all that can hold overtime worth showing.
SHIFT_LOOKBACK_S = 24 * 3600
# Burst-to-burst RMS changes below 5% are normal operation (fabric load, thread
# tension); without this floor a quiet first minute makes the drift chart hair-trigger.
BASELINE_REL_FLOOR = 0.05
SKIP_LOG_EVERY_S = 60.0  # while InfluxDB is unreachable, one warning per this many seconds
DRIFT_FEATURES = ("rms", "kurtosis")  # charted by CUSUM on robust z-scores (`cusum_<feature>` in pdm)
# A machine whose first readings are 25% above the median of its peers of the
# same type is treated as already worn when first seen.
PEER_RATIO = 1.25
# A fault is named only when at least this share of the recent bursts that carry
# envelope evidence name it: one burst can be unlucky, a majority is not.
HINT_SHARE = 0.5
HEALTH_NOISE_FLOOR = 0.01
# RUL trend: a trailing mean over 5 rounds and at least 6 degraded points. A fast-failing
# bearing (minutes in the accelerated simulator) must still get a band before it fails;
# a noise wiggle is kept out by the gate and by the rules acting only on a significant trend.
RUL_SMOOTH = 5
RUL_MIN_POINTS = 6


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


@dataclass
class _Baseline:
    rms: float = float("nan")
    kurt: float = float("nan")
    scale: float = float("nan")
    kscale: float = float("nan")
    machine_type: str = ""
    peer_adjusted: bool = False
    # CUSUM/EWMA charts of (RMS, kurtosis) robust z-scores, continued burst by burst
    # across rounds (each burst is charted once: `charted_ns` is the newest one charted).
    drift_state: DriftState = field(default_factory=lambda: DriftState.zeros(1, len(DRIFT_FEATURES)))
    charted_ns: int = 0

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
    shifts: ShiftKpiWriter = field(init=False)
    baselines: dict[tuple[str, str, str], _Baseline] = field(default_factory=dict)
    results: dict[tuple[str, str, str], LineResult] = field(default_factory=dict)
    commands_sent: int = 0
    alerts_sent: int = 0
    actions: list[Action] = field(default_factory=list)

    history: dict[tuple[str, str, str, str], _History] = field(default_factory=dict)

    def __post_init__(self) -> None:
        pdm = self.cfg.analytics.pdm
        self.rules = RuleEngine(
            self.cfg.analytics.rules, rul_horizon_h=pdm.rul_horizon_h, min_interval_s=pdm.min_interval_s
        )
        self.shifts = ShiftKpiWriter(self.cfg, self.query, self.writer)

    async def run(self, stop: asyncio.Event) -> None:
        skipped = 0  # rounds skipped since the database was last reachable
        while not stop.is_set():
            try:
                await self.run_once(self.clock.now_ns())
                if skipped:
                    log.info("analytics is back after skipping %d rounds", skipped)
                skipped = 0
            except (InfluxQLError, WriteError) as exc:
                # Once when it starts, then once a minute: an outage must not flood the log.
                if skipped % max(1, round(SKIP_LOG_EVERY_S / self.cfg.analytics.interval_s)) == 0:
                    log.warning("analytics skipped this round (%d so far): %s", skipped + 1, exc)
                skipped += 1
            except Exception:  # the service must outlive one bad round; the traceback is logged
                log.exception("analytics round failed; trying again next interval")
            await self.clock.sleep(self.cfg.analytics.interval_s)

    async def run_once(self, end_ns: int) -> list[LineResult]:
        a = self.cfg.analytics
        start_ns = end_ns - int(a.window_s * NS)
        lines = await find_lines(self.query, before_ns=end_ns, site=None if a.site == "+" else a.site)
        out = []
        for key, machines in lines.items():
            res = await self._line(key, machines, start_ns, end_ns)
            self.results[key] = res
            out.append(res)
        await self.shifts.maybe_update(lines, end_ns)
        return out

    async def _line(self, key: LineKey, machines: list[str], start_ns: int, end_ns: int) -> LineResult:
        site, area, line = key
        inputs = await read_line(self.query, key, start_ns, end_ns, self.cfg.analytics, machines)
        lf = line_figures(inputs, inputs.kpis(self.shifts.calendar))
        machines = list(inputs.machines)
        current = inputs.current_state()
        mf = lf.machines
        health, drift, rms_now, kurt_now, drift_stat, sig = await self._health(
            key, machines, key.where(), end_ns
        )
        view = self._prognosis(key, machines, health, sig, end_ns)
        res = LineResult(
            site,
            area,
            line,
            machines,
            [MACHINE_STATES[c] if c >= 0 else "unknown" for c in current.tolist()],
            mf.availability,
            mf.performance,
            mf.quality,
            mf.oee,
            mf.pieces_per_hour,
            health,
            drift,
            float(lf.line.oee),
            lf.pieces_per_hour,
            lf.target_pph,
            lf.efficiency,
            machines[lf.bottleneck] if lf.bottleneck >= 0 else "",
            mf.coverage,
            lf,
        )
        kpi = _kpi_lines(res, lf, end_ns)
        pdm = self._pdm_lines(res, rms_now, kurt_now, drift_stat, sig.cusum, view, sig.env_now, end_ns)
        await self.writer.write(kpi + pdm)
        await self._act(
            MachineAddress(site, area, line, machines[0]) if machines else None, res, current, view
        )
        return res

    async def _health(
        self, key: tuple[str, str, str], machines: list[str], where: str, end_ns: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, _Signals]:
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
                kloc, kscale = robust_baseline(
                    kurt, min_samples=a.baseline_samples, rel_floor=BASELINE_REL_FLOOR
                )
                b.rms, b.scale, b.kurt = float(loc[0]), float(scale[0]), float(kloc[0])
                b.kscale = float(kscale[0])
        self._share_peer_baseline(key, machines)
        env_cols = ", ".join(ENVELOPE_FIELDS)
        recent = await self.query.query(
            f"SELECT vib_rms, vib_kurtosis, {env_cols} FROM telemetry WHERE {where} AND vib_rms > 0 "
            f"AND time >= {end_ns - int(a.health_window_s * NS)} AND time < {end_ns} GROUP BY machine"
        )
        width = max((len(s.values) for s in recent), default=0)
        rms = np.full((n, max(width, 1)), np.nan)
        kurt = np.full((n, max(width, 1)), np.nan)
        times = np.zeros((n, max(width, 1)), dtype=np.int64)
        env = np.full((n, max(width, 1), len(ENVELOPE_FIELDS)), np.nan)
        for s in recent:
            i = machines.index(s.tags["machine"])
            rms[i, : len(s.values)] = s.column("vib_rms")
            kurt[i, : len(s.values)] = s.column("vib_kurtosis")
            times[i, : len(s.values)] = s.column("time")
            for j, name in enumerate(ENVELOPE_FIELDS):
                if name in s.columns:
                    env[i, : len(s.values), j] = np.array(s.column(name), dtype=float)
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
        cusum = self._chart(bases, rms, kurt, times)
        alarm |= (cusum > self.cfg.analytics.pdm.cusum_h).any(axis=1)
        # Health noise from the baseline's relative spread, on health's log-ratio scale. Not
        # divided by the bursts per window: consecutive windows overlap, so successive health
        # values are correlated and averaging them does not shrink the noise as 1/sqrt(n).
        noise = (base_scale / base_rms) / np.log(a.fail_rms_ratio)
        sig = _Signals(env, np.maximum(noise, HEALTH_NOISE_FLOOR), cusum)
        return health, alarm, rms_now, kurt_now, drift.statistic[:, -1], sig

    def _chart(
        self, bases: list[_Baseline], rms: np.ndarray, kurt: np.ndarray, times: np.ndarray
    ) -> np.ndarray:
        """Continue each machine's CUSUM on the robust z of (RMS, kurtosis) with the bursts not yet charted.

        The EWMA chart above watches RMS over the recent window; this one accumulates
        small shifts of either feature over hours (docs/pdm-validation.md, IMS).
        Returns the CUSUM values [n_machines, n_features] after the newest burst.
        """
        p = self.cfg.analytics.pdm
        loc = np.array([[b.rms, b.kurt] for b in bases])
        scale = np.array([[b.scale, b.kscale] for b in bases])
        ok = np.isfinite(loc).all(axis=1) & np.isfinite(scale).all(axis=1) & (scale > 0).all(axis=1)
        charted = np.array([b.charted_ns for b in bases], dtype=np.int64)[:, None]
        new = (times > charted) & ok[:, None]
        x = np.where(new[..., None], np.stack([rms, kurt], axis=-1), np.nan)  # NaN leaves a chart as it was
        z = robust_z(x, np.where(ok[:, None], loc, 0.0), np.where(ok[:, None], scale, 1.0))
        state = DriftState(
            np.concatenate([b.drift_state.cusum for b in bases]),
            np.concatenate([b.drift_state.ewma for b in bases]),
        )
        fd = feature_drift(z, k=p.cusum_k, h=p.cusum_h, state=state)
        for i, b in enumerate(bases):
            b.drift_state = DriftState(fd.state.cusum[i : i + 1], fd.state.ewma[i : i + 1])
            if new[i].any():
                b.charted_ns = int(times[i][new[i]].max())
        return np.where(ok[:, None], fd.state.cusum, np.nan)

    def _prognosis(
        self, key: tuple[str, str, str], machines: list[str], health: np.ndarray, sig: _Signals, end_ns: int
    ) -> PdmView:
        """RUL band from each machine's health history, and the fault its recent bursts point to."""
        p = self.cfg.analytics.pdm
        now_s = end_ns / NS
        hist = [self.history.setdefault((*key, m), _History()) for m in machines]
        for h, value in zip(hist, health.tolist(), strict=True):
            h.add(now_s, value, keep_s=p.history_s)
        width = max((len(h.t) for h in hist), default=0)
        t = np.full((len(machines), max(width, 1)), np.nan)
        hv = np.full_like(t, np.nan)
        for i, h in enumerate(hist):
            t[i, : len(h.t)] = np.array(h.t) - now_s
            hv[i, : len(h.t)] = h.h
        # Rows without any sample get a dummy time axis; their NaN health yields no fit.
        t = np.where(np.isfinite(t), t, np.arange(t.shape[1]) * 1e-9)
        noise = np.where(np.isfinite(sig.noise), sig.noise, 1.0)
        band = np.full((3, len(machines)), np.inf)
        seen = np.isfinite(hv).any(axis=1)  # a machine with no health yet has no trend either
        if seen.any():
            # health_index is already a log-ratio scale, so damage grows linearly (`analytics.rul`).
            est = rul_from_health(
                t[seen],
                hv[seen],
                noise=noise[seen],
                coverage=p.rul_coverage,
                model="linear",
                smooth=RUL_SMOOTH,
                min_points=RUL_MIN_POINTS,
            )
            band[:, seen] = np.stack([est.rul, est.lower, est.upper]) / HOUR_S
        return PdmView(band[0], band[1], band[2], _hints(sig.env))

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

    def _pdm_lines(
        self,
        res: LineResult,
        rms: np.ndarray,
        kurt: np.ndarray,
        drift_stat: np.ndarray,
        cusum: np.ndarray,
        view: PdmView,
        env_now: np.ndarray,
        end_ns: int,
    ) -> bytes:
        """One `pdm` row per machine; an infinite RUL (no trend yet) is left out, not written as 0."""
        ts = np.array([end_ns], dtype=np.int64)
        chunks = []
        for i, m in enumerate(res.machines):
            tags = {"site": res.site, "area": res.area, "line": res.line, "machine": m}
            pdm = _finite(
                {
                    "health": res.health[i],
                    "vib_rms": rms[i],
                    "vib_kurtosis": kurt[i],
                    "drift_stat": drift_stat[i],
                    **{f"cusum_{f}": cusum[i, j] for j, f in enumerate(DRIFT_FEATURES)},
                    "rul_h": view.rul_h[i],
                    "rul_lower_h": view.lower_h[i],
                    "rul_upper_h": view.upper_h[i],
                    **{name: env_now[i, j] for j, name in enumerate(ENVELOPE_FIELDS[:3])},
                }
            )
            ints = {
                "drift_alarm": np.array([int(res.drift[i])]),
                "fault_code": np.array([FAULT_HINTS.index(view.hint[i])]),
            }
            chunks.append(encode_block("pdm", tags, ts, pdm, ints, {"fault_hint": [view.hint[i]]}))
        return b"".join(chunks)

    async def _act(
        self, any_addr: MachineAddress | None, res: LineResult, current: np.ndarray, view: PdmView
    ) -> None:
        if any_addr is None:
            return
        now = self.clock.now_ns()
        ttl = int(self.cfg.analytics.rules.command_ttl_s * NS)
        in_repair = {m for m, cond in self.rules.active if cond == "maintenance"}
        acts = self.rules.evaluate(res.machines, res.health, current, view, now / NS)
        for m in in_repair - {m for m, cond in self.rules.active if cond == "maintenance"}:
            # Health is back after maintenance: a new bearing, whose trend starts afresh.
            self.history.pop((res.site, res.area, res.line, m), None)
            base = self.baselines.get((res.site, res.area, res.line, m))
            if base is not None:  # and its drift charts start from zero
                base.drift_state = DriftState.zeros(1, len(DRIFT_FEATURES))
        for act in acts:
            addr = MachineAddress(res.site, res.area, res.line, act.machine)
            self.actions.append(act)
            alert = Alert(
                v=1,
                ts=now,
                severity=act.severity,
                code=act.code,
                message=act.message,
                health=act.health,
                rul_h=act.rul_h,
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


@dataclass
class _History:
    """A machine's health per round, for the RUL trend; only the last `keep_s` seconds."""

    t: list[float] = field(default_factory=list)
    h: list[float] = field(default_factory=list)

    def add(self, t_s: float, health: float, keep_s: float) -> None:
        self.t.append(t_s)
        self.h.append(health)
        cut = next((i for i, t in enumerate(self.t) if t >= t_s - keep_s), len(self.t))
        del self.t[:cut], self.h[:cut]


@dataclass(frozen=True, slots=True)
class _Signals:
    """Recent envelope evidence ``[machines, bursts, ENVELOPE_FIELDS]`` and each machine's health noise."""

    env: np.ndarray
    noise: np.ndarray
    cusum: np.ndarray  # [machines, DRIFT_FEATURES] after the newest burst

    @property
    def env_now(self) -> np.ndarray:
        """Median evidence per machine over the recent bursts, NaN where none was sent."""
        m, w, f = self.env.shape
        flat = _row_median(np.moveaxis(self.env, 2, 1).reshape(m * f, w))
        return flat.reshape(m, f)


def _hints(env: np.ndarray) -> list[str]:
    """The fault most of each machine's recent bursts name (`HINT_SHARE`), else "none"."""
    k = len(ENVELOPE_FIELDS) // 2
    present = np.isfinite(env).all(axis=-1)
    ev = BearingEvidence(
        key=np.nan_to_num(env[..., :k]),
        support=np.nan_to_num(env[..., k:]),
        peak_hz=np.full((*env.shape[:-1], k), np.nan),
        band=np.full((*env.shape[:-1], 2), np.nan),
    )
    hints = fault_hint(ev)
    votes = ((hints[..., None] == np.arange(1, len(FAULT_HINTS))) & present[..., None]).sum(axis=1)
    best = votes.argmax(axis=1)
    enough = votes[np.arange(len(best)), best] >= np.maximum(HINT_SHARE * present.sum(axis=1), 1)
    return [
        FAULT_HINTS[b + 1] if ok else "none" for b, ok in zip(best.tolist(), enough.tolist(), strict=True)
    ]


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


# --------------------------------------------------------------------------- KPI rows

_LOSS_FIELD = {"speed": "speed_loss_s", "quality": "quality_loss_s"}


def figure_fields(f: Figures) -> dict[str, np.ndarray]:
    """Every ratio of `f` and the durations, counts and energy it came from, as float columns.

    Written next to each OEE so a manager's "why 62 %?" is answered from the same row:
    OEE = fully_productive_s / planned_s, availability = run_s / planned_s,
    performance = ideal_s / run_s, and the loss seconds add up to planned_s.
    Energy columns are left out where no power sample was measured (0 kWh would be a lie).
    """
    cols = {
        "availability": f.availability,
        "performance": f.performance,
        "quality": f.quality,
        "oee": f.oee,
        "planned_s": f.planned_s,
        "run_s": f.run_s,
        "ideal_s": f.ideal_s,
        "planned_stop_s": f.seconds[..., PLANNED_STOP],
        "no_data_s": f.nodata_s,
        "coverage": f.coverage,
        "breakdowns": f.failures,
        "minor_stops": f.minor_stops,
        "mtbf_s": f.mtbf_s,
        "mttr_s": f.mttr_s,
    }
    cols |= {_LOSS_FIELD.get(k, f"{k}_s"): v for k, v in f.losses_s().items()}
    measured = f.field_n.sum(axis=(-1, -2)) > 0
    cols |= {
        "kwh": np.where(measured, f.kwh, np.nan),
        "idle_kwh": np.where(measured, f.idle_kwh, np.nan),
        "kwh_per_piece": np.where(measured, f.kwh_per_piece, np.nan),
    }
    return {k: np.asarray(v, dtype=np.float64) for k, v in cols.items()}


def line_fields(lf: LineFigures) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, list[str]]]:
    """(floats, ints, strings) of one line over some periods: pooled figures, output, balance, energy."""
    floats = {
        k: v for k, v in figure_fields(lf.line).items() if k not in ("kwh", "idle_kwh", "kwh_per_piece")
    }
    floats |= {
        "pieces_per_hour": lf.pieces_per_hour,
        "target_pph": lf.target_pph,
        "attainment": lf.attainment,
        "efficiency": lf.efficiency,
        "balance_ratio": lf.balance_ratio,
        "bottleneck_cycle_s": lf.effective_cycle_s[lf.bottleneck] if lf.bottleneck >= 0 else np.nan,
        "line_planned_s": lf.planned_s,
        "kwh": lf.kwh if lf.energy_coverage > 0 else np.nan,
        "kwh_metered": lf.kwh_metered if lf.energy_coverage > 0 else np.nan,
        "kwh_estimated": lf.kwh_estimated if lf.energy_coverage > 0 else np.nan,
        "energy_coverage": lf.energy_coverage,
        "kwh_per_piece": lf.kwh_per_piece,
        "kwh_per_good_piece": lf.kwh_per_good_piece,
    }
    counts = {"good": lf.output_good, "total": lf.output_total}
    ints = {k: np.array([int(v)]) for k, v in counts.items() if np.isfinite(v)}
    strs = {"bottleneck": [lf.names[lf.bottleneck] if lf.bottleneck >= 0 else ""]}
    return _finite({k: float(v) for k, v in floats.items()}), ints, strs


def _kpi_lines(res: LineResult, lf: LineFigures, end_ns: int) -> bytes:
    """`oee` per machine and `line_kpi` per line for the rolling window ending at `end_ns`."""
    ts = np.array([end_ns], dtype=np.int64)
    cols = figure_fields(lf.machines)
    cols["pieces_per_hour"] = np.asarray(lf.machines.pieces_per_hour, dtype=np.float64)
    cols["effective_cycle_s"] = lf.effective_cycle_s
    cols["ideal_cycle_s"] = lf.standard_cycle_s
    chunks = []
    for i, m in enumerate(res.machines):
        tags = {"site": res.site, "area": res.area, "line": res.line, "machine": m}
        floats = _finite({k: float(v[i]) for k, v in cols.items()})
        counts = {"total": float(lf.machines.total[i]), "good": float(lf.machines.good[i])}
        ints = {k: np.array([int(v)]) for k, v in counts.items() if np.isfinite(v)}
        chunks.append(encode_block("oee", tags, ts, floats, ints))
    floats, ints, strs = line_fields(lf)
    line_tags = {"site": res.site, "area": res.area, "line": res.line}
    chunks.append(encode_block("line_kpi", line_tags, ts, floats, ints, strs))
    return b"".join(chunks)


class ShiftKpiWriter:
    """Figures of the shift so far (`shift_kpi`) and downtime by cause (`downtime`), per line.

    `shift_kpi` gets one row per update with the shift-to-date figures (tag `shift`, field
    `period` such as "2026-05-29 A", `final` = 1 on the row written at the shift's end),
    so `last()` per shift is the latest figure. `downtime` rows hold the downtime added
    since the previous update, per cause, so `sum()` over any time range is the downtime in
    that range; a stop re-judged as it grows (a minor stop that became a breakdown) moves
    between causes with a negative and a positive row. What was already written is read
    back from InfluxDB, so a restarted service carries on without counting twice.
    """

    def __init__(self, cfg: TonleConfig, query: InfluxQLClient, writer: Writer) -> None:
        self.cfg = cfg.analytics
        self.calendar: ShiftCalendar = self.cfg.shifts.calendar()
        self.query = query
        self.writer = writer
        self.next_ns: int | None = None
        self.closed: dict[LineKey, int] = {}  # end of the last period written as final

    async def maybe_update(self, lines: dict[LineKey, list[str]], now_ns: int) -> None:
        """Update every line when `analytics.shifts.update_s` has passed since the last update."""
        if self.next_ns is not None and now_ns < self.next_ns:
            return
        self.next_ns = now_ns + int(self.cfg.shifts.update_s * NS)
        for key, machines in lines.items():
            await self.update(key, machines, now_ns)

    async def update(self, key: LineKey, machines: list[str], now_ns: int) -> None:
        """Write the current period's figures so far, and the previous period's final ones once."""
        cal = self.calendar.periods(now_ns - SHIFT_LOOKBACK_S * NS, now_ns)
        first = cal.n - 1
        if first > 0 and self.closed.get(key, -1) < int(cal.end_ns[first - 1]):
            first -= 1
        start = int(cal.start_ns[first])
        inputs = await read_line(self.query, key, start, now_ns, self.cfg, machines)
        result = inputs.kpis(self.calendar)
        chunks = []
        for p in range(result.periods.n):
            final = p < result.periods.n - 1
            ts = int(result.periods.end_ns[p]) if final else now_ns
            lf = line_figures(inputs, result, periods=np.arange(result.periods.n) == p)
            if lf.line.planned_s <= 0 and not lf.output_total > 0:
                continue  # outside shifts with nothing made: nothing to report
            shift_id = int(result.periods.shift[p])
            shift = result.periods.shift_names[shift_id] if shift_id >= 0 else OFF_SHIFT
            label = result.periods.label[p].replace("no shift", OFF_SHIFT)
            tags = {"site": key.site, "area": key.area, "line": key.line, "shift": shift}
            floats, ints, strs = line_fields(lf)
            ints |= {
                "period_start": np.array([int(result.periods.start_ns[p])]),
                "final": np.array([int(final)]),
            }
            stamp = np.array([ts], dtype=np.int64)
            chunks.append(encode_block("shift_kpi", tags, stamp, floats, ints, strs | {"period": [label]}))
            chunks.append(await self._downtime(key, tags, lf, int(result.periods.start_ns[p]), ts, label))
        await self.writer.write(b"".join(chunks))
        if result.periods.n > 1:
            self.closed[key] = int(result.periods.end_ns[result.periods.n - 2])

    async def _downtime(
        self, key: LineKey, tags: dict[str, str], lf: LineFigures, period_start: int, ts: int, label: str
    ) -> bytes:
        """Rows adding what the downtime per cause grew by since the sums already stored."""
        rows = await self.query.query(
            f"SELECT sum(seconds) AS seconds, sum(stops) AS stops FROM downtime WHERE {key.where()} "
            f"AND shift = {quote_str(tags['shift'])} AND time >= {period_start} AND time <= {ts} "
            "GROUP BY cause"
        )
        stored = {s.tags["cause"]: (s.values[0][1] or 0.0, s.values[0][2] or 0.0) for s in rows if s.values}
        now = {
            cause: (float(sec), float(n), cat)
            for cause, sec, n, cat in zip(
                lf.pareto.label, lf.pareto.seconds, lf.pareto.stops, lf.pareto.category, strict=True
            )
        }
        chunks = []
        stamp = np.array([ts], dtype=np.int64)
        for cause in sorted(set(now) | set(stored)):
            sec, n, cat = now.get(cause, (0.0, 0.0, ""))
            d_sec = sec - stored.get(cause, (0.0, 0.0))[0]
            d_n = n - stored.get(cause, (0.0, 0.0))[1]
            if abs(d_sec) < 1e-6 and abs(d_n) < 1e-9:
                continue
            fields = {"seconds": np.array([d_sec]), "stops": np.array([d_n])}
            strs = {"period": [label], **({"category": [cat]} if cat else {})}
            chunks.append(encode_block("downtime", {**tags, "cause": cause}, stamp, fields, None, strs))
        return b"".join(chunks)
