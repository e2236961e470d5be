"""Predictive maintenance of one line per round: baselines, health, drift charts, RUL, fault hint.

Pure: the bursts come in (`analytics.reads`), the signals and the prognosis go out, and
what must outlive the round is kept in `analytics.pdm_state`.

Per machine: a healthy baseline learnt from its first bursts, an EWMA drift chart on its
RMS over the recent window, a CUSUM on the robust z-scores of (RMS, kurtosis) continued
burst by burst, the health index, remaining useful life with an uncertainty band fitted
on the health history (`analytics.rul`), and a fault hint voted by the recent bursts'
envelope evidence, which the edge computes at the machine type's bearing defect
frequencies (the part named by `analytics.pdm.name_faults`, with its confidence, and the
bearing designation of the machine type, the part to order). The rules derate when the
early end of the RUL band is closer than `analytics.pdm.rul_horizon_h`.

Stops and maintenance (`_walk`): each new burst goes once through the machine's
`analytics.pdm.stops.RunGate`, the stop logic of the public `HealthMonitor`. A gap longer than
its `long_stop_s` (4 h) between bursts is a long stop: the first `settle` (3) bursts after it
are not judged, the CUSUM restarts, and the next `baseline_samples` bursts relearn the
baseline, each feature held or moved by `hold_or_move` as `HealthMonitor` does; until then the
machine has no health and no drift alarm, so a restart at a shifted level raises nothing. A
maintenance (the request clearing, or the machine in the `maintenance` state) forgets the
baseline, which its next bursts learn afresh. Short pauses (between pieces, a thread break)
are not stops here: a sewing machine pauses every minute, and settling after each pause would
leave it unjudged most of the time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from analytics.baseline import robust_baseline, robust_z
from analytics.drift import DriftState, ewma_drift, feature_drift
from analytics.health import health_index
from analytics.inputs import LineKey
from analytics.pdm import name_faults
from analytics.pdm.stops import hold_or_move
from analytics.pdm_state import HealthyBaseline, MachineKey, MachinePdm, PdmState
from analytics.reads import Bursts, FirstBursts
from analytics.rul import rul_from_health
from analytics.rules import HOUR_S, PdmView
from tonle.config.sections import AnalyticsConfig
from tonle.kernels.diagnosis import FAULT_HINTS, BearingEvidence, fault_hint
from tonle.schema import ENVELOPE_FIELDS, FAULT_EVIDENCE_FIELDS

__all__ = ["PdmSignals", "Prognostics"]

NS = 1_000_000_000
# Burst-to-burst RMS changes below 5% are normal operation (fabric load, thread
# tension); without this floor a quiet first minute makes the drift chart hair-trigger.
BASELINE_REL_FLOOR = 0.05
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
HOLD_Z = 3.0  # a relearnt feature at most this many old sigmas lower keeps its old baseline


@dataclass(frozen=True, slots=True)
class PdmSignals:
    """What the recent bursts say about each machine of a line, ``[machines]`` unless noted.

    drift:      the EWMA (RMS) or a CUSUM (RMS, kurtosis) is in alarm.
    drift_stat: the EWMA statistic after the newest burst.
    cusum:      ``[machines, DRIFT_FEATURES]`` after the newest burst, NaN without a baseline.
    env:        envelope evidence ``[machines, bursts, ENVELOPE_FIELDS]``.
    noise:      health noise, on health's scale, for the RUL band.
    baseline:   ``[machines, 4]`` the baseline in force: RMS, kurtosis and their scales.
    relearning: the baseline is being relearnt (after a long stop or maintenance).
    """

    health: np.ndarray
    drift: np.ndarray
    rms_now: np.ndarray
    kurt_now: np.ndarray
    drift_stat: np.ndarray
    cusum: np.ndarray
    env: np.ndarray
    noise: np.ndarray
    baseline: np.ndarray
    relearning: np.ndarray

    @property
    def env_now(self) -> np.ndarray:
        """Median evidence per machine over the recent bursts, NaN where none was sent."""
        m, w, f = self.env.shape
        flat = _row_median(np.moveaxis(self.env, 2, 1).reshape(m * f, w))
        return flat.reshape(m, f)


@dataclass
class Prognostics:
    cfg: AnalyticsConfig
    state: PdmState

    def unlearned(self, key: LineKey, machines: Sequence[str]) -> bool:
        """Some machine has no baseline yet: its first bursts must be read (`learn`)."""
        return any(
            (not p.baseline.learned and not p.restart.learning) or not p.baseline.typed
            for p in self.state.line(key, machines)
        )

    def learn(self, key: LineKey, first: list[FirstBursts]) -> None:
        """Learn the baseline of every machine with enough first bursts that has none yet."""
        n = self.cfg.baseline_samples
        for fb in first:
            m = self.state.get(MachineKey.on(key, fb.machine))
            b = m.baseline
            b.machine_type, b.typed = fb.machine_type, True
            if b.learned or len(fb.rms) < n or m.restart.learning:
                continue
            loc, scale = robust_baseline(fb.rms[None, :], min_samples=n, rel_floor=BASELINE_REL_FLOOR)
            kloc, kscale = robust_baseline(fb.kurt[None, :], min_samples=n, rel_floor=BASELINE_REL_FLOOR)
            b.rms, b.scale, b.kurt = float(loc[0]), float(scale[0]), float(kloc[0])
            b.kscale = float(kscale[0])

    def signals(
        self, key: LineKey, machines: Sequence[str], bursts: Bursts, maintenance: np.ndarray | None = None
    ) -> PdmSignals:
        """Health, drift charts and health noise of the line's machines from their recent bursts.

        `maintenance`: bool per machine, in the `maintenance` state now (its baseline is relearnt).
        """
        a = self.cfg
        pdms = self.state.line(key, machines)
        if maintenance is not None:
            for m in np.flatnonzero(maintenance).tolist():
                pdms[m].after_repair()
        judged = self._walk(pdms, bursts)
        rms, kurt = (np.where(judged, x, np.nan) for x in (bursts.rms, bursts.kurt))
        bursts = Bursts(rms, kurt, bursts.times, bursts.env)
        _share_peer_baseline([p.baseline for p in pdms])
        bases = [p.baseline for p in pdms]
        base_rms = np.array([b.rms for b in bases])
        base_kurt = np.array([b.kurt for b in bases])
        base_scale = np.array([b.scale for b in bases])
        rms_now = _row_median(bursts.rms)
        kurt_now = _row_median(bursts.kurt)
        health = health_index(rms_now, kurt_now, base_rms, base_kurt, fail_ratio=a.fail_rms_ratio)
        # Machines with fewer recent readings are padded at the front with their
        # baseline, which leaves the EWMA statistic unchanged (padding with 0 would bias it).
        filled = _right_align(bursts.rms)
        pad = np.where(np.isfinite(base_rms), base_rms, 0.0)[:, None]
        drift = ewma_drift(np.where(np.isfinite(filled), filled, pad), base_rms, base_scale)
        alarm = drift.alarm[:, -1] & np.isfinite(base_rms) & np.isfinite(filled[:, -1])
        cusum = self._chart(pdms, bursts)
        alarm |= (cusum > a.pdm.cusum_h).any(axis=1)
        # Health noise from the baseline's relative spread, on health's log-ratio scale. Not
        # divided by the bursts per window: consecutive windows overlap, so successive health
        # values are correlated and averaging them does not shrink the noise as 1/sqrt(n).
        noise = np.maximum((base_scale / base_rms) / np.log(a.fail_rms_ratio), HEALTH_NOISE_FLOOR)
        kept = np.array([[b.rms, b.kurt, b.scale, b.kscale] for b in bases]).reshape(-1, 4)
        relearning = np.array([p.restart.learning for p in pdms], dtype=bool)
        return PdmSignals(
            health,
            alarm,
            rms_now,
            kurt_now,
            drift.statistic[:, -1],
            cusum,
            bursts.env,
            noise,
            kept,
            relearning,
        )

    def _walk(self, pdms: list[MachinePdm], bursts: Bursts) -> np.ndarray:
        """Walk each machine's new bursts through its `RunGate` (stops, settling, relearning).

        Returns bool ``[machines, bursts]``: the bursts to judge, those newer than the newest
        burst that was settling or relearning.
        """
        for i, m in enumerate(pdms):
            r = m.restart
            for j in np.argsort(bursts.times[i], kind="stable").tolist():
                t, x = int(bursts.times[i, j]), (float(bursts.rms[i, j]), float(bursts.kurt[i, j]))
                if t <= r.gated_ns or not np.isfinite(x).all():
                    continue
                r.gated_ns = t
                step = r.gate.running(t / NS)
                if step.long_stop and m.baseline.learned:
                    r.relearn()
                    m.chart.restart()
                if step.settling or r.learning:
                    r.quiet_ns = t
                if r.learning and not step.settling:
                    r.sample.append(x)
                    if len(r.sample) >= self.cfg.baseline_samples:
                        self._relearnt(m)
        return bursts.times > np.array([m.restart.quiet_ns for m in pdms], dtype=np.int64)[:, None]

    def _relearnt(self, m: MachinePdm) -> None:
        """The relearnt sample is complete: the new baseline, held or moved feature by feature."""
        r, b = m.restart, m.baseline
        loc, scale = robust_baseline(
            np.array(r.sample).T, min_samples=len(r.sample), rel_floor=BASELINE_REL_FLOOR
        )
        if b.learned:
            old_loc, old_scale = np.array([b.rms, b.kurt]), np.array([b.scale, b.kscale])
            loc, scale = hold_or_move(old_loc, old_scale, loc, scale, HOLD_Z)
        b.rms, b.kurt, b.scale, b.kscale = (float(v) for v in (loc[0], loc[1], scale[0], scale[1]))
        r.learning, r.sample = False, []
        m.chart.restart()

    def _chart(self, pdms: list[MachinePdm], bursts: Bursts) -> np.ndarray:
        """Continue each machine's CUSUM on the robust z of (RMS, kurtosis) with the bursts not yet charted.

        The EWMA chart in `signals` watches RMS over the recent window; this one accumulates
        small shifts of either feature over hours (docs/pdm-validation.md, IMS).
        Returns the CUSUM values [n_machines, n_features] after the newest burst.
        """
        p = self.cfg.pdm
        loc = np.array([[m.baseline.rms, m.baseline.kurt] for m in pdms])
        scale = np.array([[m.baseline.scale, m.baseline.kscale] for m in pdms])
        ok = np.isfinite(loc).all(axis=1) & np.isfinite(scale).all(axis=1) & (scale > 0).all(axis=1)
        charted = np.array([m.chart.charted_ns for m in pdms], dtype=np.int64)[:, None]
        new = (bursts.times > charted) & ok[:, None]
        # NaN leaves a chart as it was.
        x = np.where(new[..., None], np.stack([bursts.rms, bursts.kurt], axis=-1), np.nan)
        z = robust_z(x, np.where(ok[:, None], loc, 0.0), np.where(ok[:, None], scale, 1.0))
        state = DriftState(
            np.concatenate([m.chart.state.cusum for m in pdms]),
            np.concatenate([m.chart.state.ewma for m in pdms]),
        )
        fd = feature_drift(z, k=p.cusum_k, h=p.cusum_h, state=state)
        for i, m in enumerate(pdms):
            m.chart.state = DriftState(fd.state.cusum[i : i + 1], fd.state.ewma[i : i + 1])
            if new[i].any():
                m.chart.charted_ns = int(bursts.times[i][new[i]].max())
        return np.where(ok[:, None], fd.state.cusum, np.nan)

    def prognosis(self, key: LineKey, machines: Sequence[str], sig: PdmSignals, end_ns: int) -> PdmView:
        """RUL band from each machine's health history, and the fault its recent bursts point to."""
        p = self.cfg.pdm
        now_s = end_ns / NS
        hist = [m.history for m in self.state.line(key, machines)]
        for h, value in zip(hist, sig.health.tolist(), strict=True):
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
        hints, confidence = _hints(sig.env)
        bearings = [self._bearing(m.baseline.machine_type) for m in self.state.line(key, machines)]
        return PdmView(band[0], band[1], band[2], hints, p.rul_coverage, confidence, bearings)

    def _bearing(self, machine_type: str) -> str:
        """The bearing designation to order for a machine of this type ("" when not known)."""
        mt = self.cfg.pdm.machine_types.get(machine_type)
        if mt is None:
            return ""
        return mt.bearing if isinstance(mt.bearing, str) else (mt.bearing.model or "")


def _share_peer_baseline(bases: list[HealthyBaseline]) -> None:
    """A machine clearly worse than its peers when first seen is judged against the peers.

    A bearing already worn when Tonle was installed would otherwise learn its own
    damage as 'normal'. Peers are machines of the same type on the same line; with
    fewer than three of them there is no fair comparison and nothing changes.
    """
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


def _hints(env: np.ndarray) -> tuple[list[str], np.ndarray]:
    """The part most of each machine's recent bursts name (`HINT_SHARE`), else "none"; and
    how sure: the share of bursts naming it times their mean confidence (NaN: older edge).

    Bursts that carry fault-line evidence (`FAULT_EVIDENCE_FIELDS`, a current edge) are named
    by the public `analytics.pdm.name_faults`; a machine whose bursts carry only the older
    envelope ratios is named by `fault_hint` as before.
    """
    k = len(ENVELOPE_FIELDS)
    lines = env[..., k : k + len(FAULT_EVIDENCE_FIELDS)]
    has = np.isfinite(lines).all(axis=-1)
    old, _ = _old_hints(env[..., :k])
    hints, conf = list(old), np.full(env.shape[0], np.nan)
    for i in np.flatnonzero(has.any(axis=1)):
        fault, c = name_faults(lines[i][has[i]])
        named = [f for f in fault.tolist() if f != "none"]
        best = max(set(named), key=named.count) if named else "none"
        share = named.count(best) / len(fault) if named else 0.0
        ok = share >= HINT_SHARE
        hints[i] = best if ok else "none"
        conf[i] = float(share * c[fault == best].mean()) if ok else float(np.mean(c))
    return hints, conf


def _old_hints(env: np.ndarray) -> tuple[list[str], None]:
    """`fault_hint` on the envelope ratios of bursts from an edge without fault-line evidence."""
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
    ], None


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
