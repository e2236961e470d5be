"""The rows the analytics service writes: `oee`, `line_kpi`, `pdm`, `shift_kpi`, `downtime`.

One function per measurement, arrays in, line protocol out, so the layout of each
measurement (its tags and fields, which the dashboards read) is written down once.
Non-finite values are left out of a row rather than written as 0: "unknown" must not
read as "zero" on a dashboard.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from analytics.figures import Figures
from analytics.inputs import LineFigures, LineKey
from analytics.losses import PLANNED_STOP
from analytics.pdm_state import BASELINE_FIELDS, DRIFT_FEATURES
from analytics.period_kind import NOT_IN_SHIFT, SHIFT
from analytics.prognostics import PdmSignals
from analytics.rules import PdmView
from tonle.contract import encode_block
from tonle.kernels.diagnosis import FAULT_HINTS
from tonle.schema import DOWNTIME, ENVELOPE_FIELDS, LINE_KPI, OEE, PDM, SHIFT_KPI

__all__ = ["downtime_rows", "figure_fields", "kpi_rows", "line_fields", "pdm_rows", "shift_kpi_row"]

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
    floats: dict[str, np.ndarray | float] = {
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
        "kwh": lf.kwh if lf.energy_pooled > 0 else np.nan,
        "kwh_metered": lf.kwh_metered if lf.energy_pooled > 0 else np.nan,
        "kwh_estimated": lf.kwh_estimated if lf.energy_pooled > 0 else np.nan,
        "energy_coverage": lf.energy_coverage,
        "kwh_per_piece": lf.kwh_per_piece,
        "kwh_per_good_piece": lf.kwh_per_good_piece,
    }
    counts = {"good": lf.output_good, "total": lf.output_total}
    ints = {k: np.array([int(v)]) for k, v in counts.items() if np.isfinite(v)}
    if lf.energy_pooled > 0:
        ints["energy_partial"] = np.array([int(lf.energy_partial)])
    strs = {
        "bottleneck": [lf.names[lf.bottleneck] if lf.bottleneck >= 0 else ""],
        "energy_worst": [lf.energy_worst],
    }
    return _finite({k: float(v) for k, v in floats.items()}), ints, strs


def kpi_rows(key: LineKey, machines: Sequence[str], lf: LineFigures, end_ns: int, kind: str = SHIFT) -> bytes:
    """`oee` per machine and `line_kpi` per line for the rolling window ending at `end_ns`.

    kind (`analytics.period_kind`) is written with them: a live window outside shifts keeps
    its availability and OEE (the wall shows what the line does now), read with the kind.
    """
    kind_field = {"period_kind": [kind]}
    ts = np.array([end_ns], dtype=np.int64)
    cols = figure_fields(lf.machines)
    cols["pieces_per_hour"] = np.asarray(lf.machines.pieces_per_hour, dtype=np.float64)
    cols["effective_cycle_s"] = lf.effective_cycle_s
    cols["ideal_cycle_s"] = lf.standard_cycle_s
    cols["energy_coverage"] = np.asarray(lf.machines.field_coverage(), dtype=np.float64)
    chunks = []
    for i, m in enumerate(machines):
        tags = {"site": key.site, "area": key.area, "line": key.line, "machine": m}
        floats = _finite({k: float(v[i]) for k, v in cols.items()})
        counts = {"total": float(lf.machines.total[i]), "good": float(lf.machines.good[i])}
        ints = {k: np.array([int(v)]) for k, v in counts.items() if np.isfinite(v)}
        chunks.append(encode_block(OEE.name, tags, ts, floats, ints, kind_field))
    floats, ints, strs = line_fields(lf)
    line_tags = {"site": key.site, "area": key.area, "line": key.line}
    chunks.append(encode_block(LINE_KPI.name, line_tags, ts, floats, ints, strs | kind_field))
    return b"".join(chunks)


def pdm_rows(key: LineKey, machines: Sequence[str], sig: PdmSignals, view: PdmView, end_ns: int) -> bytes:
    """One `pdm` row per machine; an infinite RUL (no trend yet) is left out, not written as 0."""
    ts = np.array([end_ns], dtype=np.int64)
    env_now = sig.env_now
    chunks = []
    for i, m in enumerate(machines):
        tags = {"site": key.site, "area": key.area, "line": key.line, "machine": m}
        pdm = _finite(
            {
                "health": sig.health[i],
                "vib_rms": sig.rms_now[i],
                "vib_kurtosis": sig.kurt_now[i],
                "drift_stat": sig.drift_stat[i],
                **{f"cusum_{f}": sig.cusum[i, j] for j, f in enumerate(DRIFT_FEATURES)},
                "rul_h": view.rul_h[i],
                "rul_lower_h": view.lower_h[i],
                "rul_upper_h": view.upper_h[i],
                **{name: env_now[i, j] for j, name in enumerate(ENVELOPE_FIELDS[:3])},
                "fault_confidence": np.nan if view.confidence is None else view.confidence[i],
                **{name: sig.baseline[i, j] for j, name in enumerate(BASELINE_FIELDS)},
            }
        )
        ints = {
            "drift_alarm": np.array([int(sig.drift[i])]),
            "fault_code": np.array([FAULT_HINTS.index(view.hint[i])]),
            "relearning": np.array([int(sig.relearning[i])]),
        }
        chunks.append(encode_block(PDM.name, tags, ts, pdm, ints, {"fault_hint": [view.hint[i]]}))
    return b"".join(chunks)


def shift_kpi_row(
    tags: dict[str, str],
    lf: LineFigures,
    period_start_ns: int,
    final: bool,
    label: str,
    ts: int,
    kind: str = SHIFT,
) -> bytes:
    """One `shift_kpi` row: the line's figures of one period so far (`final` at its end).

    kind: `analytics.period_kind` (shift, overtime, off_shift); outside shifts the row has
    no availability or OEE, which are 100 % there by construction.
    """
    floats, ints, strs = line_fields(lf)
    if kind != SHIFT:
        floats = {k: v for k, v in floats.items() if k not in NOT_IN_SHIFT}
    ints |= {"period_start": np.array([period_start_ns]), "final": np.array([int(final)])}
    stamp = np.array([ts], dtype=np.int64)
    strs |= {"period": [label], "period_kind": [kind]}
    return encode_block(SHIFT_KPI.name, tags, stamp, floats, ints, strs)


def downtime_rows(
    tags: dict[str, str],
    now: dict[str, tuple[float, float, str]],
    stored: dict[str, tuple[float, float]],
    label: str,
    ts: int,
) -> bytes:
    """`downtime` rows adding what each cause's (seconds, stops) grew by since the `stored` sums.

    `now` holds (seconds, stops, category) per cause for the period so far; a cause that
    shrank (a stop re-judged as it grew) gets a negative row.
    """
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
        chunks.append(encode_block(DOWNTIME.name, {**tags, "cause": cause}, stamp, fields, None, strs))
    return b"".join(chunks)


def _finite(d: dict[str, float]) -> dict[str, np.ndarray]:
    return {k: np.array([float(v)]) for k, v in d.items() if np.isfinite(v)}
