"""The full KPI set of a plant in one call, against a straightforward per-machine pandas version.

1,000 machines x 24 h of 1 Hz telemetry (power kW and motor speed, float32) plus their
state events (~200 per machine) and piece counters (one reading a minute), on the
default two-shift calendar in Asia/Phnom_Penh. `analytics.kpi.compute_kpis` computes,
per machine and shift: time per loss category, stops, MTBF/MTTR inputs, pieces, ideal
time (OEE and its factors), energy by category (idle energy) and mean running speed,
plus the downtime Pareto. The naive version does the same machine by machine the way
an analyst would: state per second with pandas (ffill onto the telemetry grid), then
groupby. Every figure is compared; the script fails if they disagree.

    .venv/bin/python bench/analytics.py                  # 1,000 machines, naive on all of them
    .venv/bin/python bench/analytics.py --naive-machines 100   # naive timed on 100, scaled

Peak memory is tracemalloc's peak of numpy allocations during the fast call (the
inputs, ~0.7 GB of float32 telemetry, are allocated before and not counted), and the
process's peak RSS (VmHWM) at the end.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from analytics.energy import UniformSeries  # noqa: E402
from analytics.kpi import Counts, KpiResult, compute_kpis  # noqa: E402
from analytics.losses import (  # noqa: E402
    BREAKDOWN,
    CATEGORIES,
    IDLE,
    MINOR_STOP,
    NO_DATA,
    PLANNED_STOP,
    RUN,
    LossTaxonomy,
)
from analytics.timeline import Events  # noqa: E402
from tonle.contract import MACHINE_STATES  # noqa: E402
from tonle.kernels.shifts import SCHEDULED, ShiftCalendar  # noqa: E402

S = 1_000_000_000
DAY_S = 86_400
# A Monday, 00:00 in Phnom Penh (UTC+7).
T0 = int(dt.datetime(2025, 3, 3, tzinfo=dt.timezone(dt.timedelta(hours=7))).timestamp()) * S
# State mix of a sewing floor: mostly running, short thread breaks, some starving.
STATE_P = {
    "running": 0.55,
    "starved": 0.12,
    "blocked": 0.05,
    "thread_break": 0.12,
    "needle_break": 0.03,
    "breakdown": 0.02,
    "setup": 0.03,
    "idle": 0.08,
}
IDEAL_CYCLE_S = 30.0


def make_plant(n_machines: int, seed: int = 7) -> dict:
    """Synthetic but self-consistent plant data: telemetry follows the state timeline."""
    rng = np.random.default_rng(seed)
    per = 200
    gaps = rng.exponential(DAY_S / per, (n_machines, per)).astype(np.int64) + 1
    t = np.cumsum(gaps, axis=1) - gaps[:, :1]  # seconds from the window start, first event at 0
    t[:, 0] = -600  # each machine's last state before the window
    names = list(STATE_P)
    code_of = np.array([MACHINE_STATES.index(s) for s in names])
    pick = rng.choice(len(names), size=(n_machines, per), p=list(STATE_P.values()))
    inside = t < DAY_S
    machine = np.repeat(np.arange(n_machines), per)[inside.ravel()]
    ts_s = t[inside]
    code = code_of[pick[inside]]

    # State per second (only to make the telemetry and counters consistent with it).
    running = np.zeros((n_machines, DAY_S), dtype=bool)
    tt = np.clip(t, 0, DAY_S)
    nxt = np.concatenate((tt[:, 1:], np.full((n_machines, 1), DAY_S)), axis=1)
    is_run = pick == names.index("running")
    for_run = np.flatnonzero((is_run & (nxt > tt)).ravel())
    starts, ends = tt.ravel()[for_run], nxt.ravel()[for_run]
    rows = for_run // per
    delta = np.zeros((n_machines, DAY_S + 1), dtype=np.int32)
    np.add.at(delta, (rows, starts), 1)
    np.add.at(delta, (rows, ends), -1)
    running[:] = np.cumsum(delta, axis=1, dtype=np.int32)[:, :DAY_S] > 0
    del delta

    speed = (running * np.float32(4000.0)).astype(np.float32)
    speed += rng.normal(0, 20, speed.shape).astype(np.float32) * running
    power = (0.08 + 0.35 * running + rng.normal(0, 0.01, running.shape)).astype(np.float32)
    # A few machines lose telemetry for a while (NaN), as a dropped link would.
    gap_rows = rng.choice(n_machines, size=max(1, n_machines // 100), replace=False)
    power[gap_rows, 30_000:30_600] = np.nan

    # Counters: one reading a minute; pieces ~ Poisson(running seconds / cycle * 0.9).
    run_per_min = running.reshape(n_machines, DAY_S // 60, 60).sum(axis=2)
    pieces = rng.poisson(run_per_min / IDEAL_CYCLE_S * 0.9)
    rejects = rng.binomial(pieces, 0.02)
    total = np.cumsum(pieces, axis=1) + 1000
    good = np.cumsum(pieces - rejects, axis=1) + 980
    c_ts = (np.arange(DAY_S // 60) * 60 + 59)[None, :].repeat(n_machines, 0)
    c_m = np.repeat(np.arange(n_machines), DAY_S // 60)
    # baseline reading before the window
    c_m = np.concatenate((np.arange(n_machines), c_m))
    c_ts = np.concatenate((np.full(n_machines, -1), c_ts.ravel()))
    total = np.concatenate((np.full(n_machines, 1000), total.ravel()))
    good = np.concatenate((np.full(n_machines, 980), good.ravel()))
    order = np.lexsort((c_ts, c_m))
    return {
        "n": n_machines,
        "states": Events.of(machine, T0 + ts_s * S, code),
        "counts": Counts.of(c_m[order], T0 + c_ts[order] * S, total[order], good[order]),
        "power": power,
        "speed": speed,
    }


def fast(plant: dict) -> KpiResult:
    return compute_kpis(
        plant["states"],
        plant["counts"],
        n_machines=plant["n"],
        start_ns=T0,
        end_ns=T0 + DAY_S * S,
        ideal_cycle_s=IDEAL_CYCLE_S,
        calendar=ShiftCalendar(),
        telemetry={
            "power_kw": UniformSeries(T0, S, plant["power"]),
            "speed_spm": UniformSeries(T0, S, plant["speed"]),
        },
    )


def naive(plant: dict, machines: range) -> dict[str, np.ndarray]:
    """Per machine, with pandas: the state of every second, then groupby (period, category)."""
    import pandas as pd

    tax = LossTaxonomy()
    periods = ShiftCalendar().periods(T0, T0 + DAY_S * S)
    sec_edges = (periods.edges - T0) // S
    slice_of_sec = np.repeat(np.arange(sec_edges.size - 1), np.diff(sec_edges))
    period_of_sec = periods.slice_period[slice_of_sec]
    scheduled = periods.slice_kind[slice_of_sec] == SCHEDULED
    n_p, n_c = periods.n, len(CATEGORIES)
    ev, cn = plant["states"], plant["counts"]
    out = {
        k: np.zeros((len(machines), n_p, n_c)) for k in ("seconds", "stops", "kwh", "speed_sum", "speed_n")
    }
    out |= {k: np.zeros((len(machines), n_p)) for k in ("total", "good")}
    for row, m in enumerate(machines):
        run_id, cat = _naive_categories(ev, m, tax, scheduled)
        df = pd.DataFrame(
            {
                "period": period_of_sec,
                "cat": cat.to_numpy(),
                "power": plant["power"][m],
                "speed": plant["speed"][m],
                "new": ((run_id != run_id.shift()) | (cat != cat.shift())).to_numpy(),
            }
        )
        g = df.groupby(["period", "cat"])
        agg = g.agg(
            secs=("power", "size"),
            stops=("new", "sum"),
            energy=("power", "sum"),
            speed=("speed", "sum"),
            speed_n=("speed", "count"),
        )
        p_idx = agg.index.get_level_values(0).to_numpy()
        c_idx = agg.index.get_level_values(1).to_numpy()
        out["seconds"][row, p_idx, c_idx] = agg["secs"].to_numpy()
        out["stops"][row, p_idx, c_idx] = agg["stops"].to_numpy()
        out["kwh"][row, p_idx, c_idx] = agg["energy"].to_numpy() / 3600.0
        out["speed_sum"][row, p_idx, c_idx] = agg["speed"].to_numpy()
        out["speed_n"][row, p_idx, c_idx] = agg["speed_n"].to_numpy()
        # Counters: increments, resets, attributed to the period of the reading.
        p_idx, total, good = _naive_counts(cn, m, period_of_sec)
        out["total"][row, p_idx] = total
        out["good"][row, p_idx] = good
    return out


def _naive_categories(ev: Events, m: int, tax: LossTaxonomy, scheduled: np.ndarray) -> tuple[Any, Any]:
    """(run id, loss category) of every second of machine `m`, from its state per second."""
    import pandas as pd

    grid = pd.RangeIndex(DAY_S)
    cat_of_state = tax.state_table()
    sel = ev.machine == m
    e = pd.DataFrame({"t": (ev.ts_ns[sel] - T0) // S, "state": ev.code[sel]}).sort_values("t")
    e["t"] = e["t"].clip(lower=0)
    e = e.drop_duplicates("t", keep="last").set_index("t")
    state = e["state"].reindex(grid, method="ffill")
    # Runs of one state: duration decides minor stops.
    run_id = (state != state.shift()).cumsum()
    run_start = state.index.to_series().groupby(run_id).transform("min")
    # A run that began before the window began at its event's original time.
    pre = (ev.ts_ns[sel] - T0) // S
    pre_start = pre[pre <= 0].max() if (pre <= 0).any() else 0
    run_start = run_start.where(run_start > 0, pre_start)
    run_len = state.index.to_series().groupby(run_id).transform("max") + 1 - run_start
    cat = pd.Series(cat_of_state[state.to_numpy()], index=grid)
    short = cat.isin([BREAKDOWN, IDLE]) & (run_len < tax.minor_stop_s)
    cat = cat.mask(short, MINOR_STOP)
    cat = cat.where(scheduled | (cat == RUN) | (cat == NO_DATA), PLANNED_STOP)
    return run_id, cat


def _naive_counts(cn: Counts, m: int, period_of_sec: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(periods, total pieces, good pieces) of machine `m`: increments with resets, per period."""
    import pandas as pd

    cs = cn.machine == m
    c = pd.DataFrame({"t": (cn.ts_ns[cs] - T0) // S, "total": cn.total[cs], "good": cn.good[cs]})
    c = c.sort_values("t")
    for col in ("total", "good"):
        step = c[col].diff()
        step = step.where(step >= 0, c[col]).fillna(0.0)
        c[col + "_inc"] = step
    c = c[(c["t"] >= 0) & (c["t"] < DAY_S)]
    c["period"] = period_of_sec[c["t"].to_numpy()]
    s = c.groupby("period")[["total_inc", "good_inc"]].sum()
    return s.index.to_numpy(), s["total_inc"].to_numpy(), s["good_inc"].to_numpy()


def compare(res: KpiResult, ref: dict[str, np.ndarray], machines: range) -> None:
    f = res.figures.sum(axis=2)
    sl = slice(machines.start, machines.stop)
    sp = f.field_names.index("speed_spm")
    pairs = {
        "seconds": (f.seconds[sl], ref["seconds"]),
        "stops": (f.stops[sl], ref["stops"]),
        "kwh": (f.kwh_by_category[sl], ref["kwh"]),
        "speed_sum": (f.field_sum[sl, :, sp], ref["speed_sum"]),
        "speed_n": (f.field_n[sl, :, sp], ref["speed_n"]),
        "total": (f.total[sl], ref["total"]),
        "good": (f.good[sl], ref["good"]),
    }
    for name, (a, b) in pairs.items():
        if not np.allclose(a, b, rtol=1e-4, atol=1e-6):
            bad = np.argwhere(~np.isclose(a, b, rtol=1e-4, atol=1e-6))[0]
            raise SystemExit(
                f"MISMATCH in {name} at {tuple(bad)}: fast {a[tuple(bad)]} vs naive {b[tuple(bad)]}"
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--machines", type=int, default=1000)
    ap.add_argument("--naive-machines", type=int, default=None, help="time the naive version on this many")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    plant = make_plant(args.machines)
    samples = 2 * args.machines * DAY_S
    fast(plant)  # warm-up: imports, page faults of the first call
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        res = fast(plant)
        times.append(time.perf_counter() - t)
    tracemalloc.start()
    fast(plant)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    n_naive = args.naive_machines or args.machines
    machines = range(n_naive)
    t = time.perf_counter()
    ref = naive(plant, machines)
    naive_s = (time.perf_counter() - t) * args.machines / n_naive
    compare(res, ref, machines)
    best = min(times)
    f = res.by_machine()
    print(
        json.dumps(
            {
                "machines": args.machines,
                "telemetry_samples": samples,
                "state_events": int(plant["states"].ts_ns.size),
                "counter_readings": int(plant["counts"].ts_ns.size),
                "fast_s": round(best, 3),
                "fast_runs_s": [round(x, 3) for x in times],
                "samples_per_s": round(samples / best),
                "fast_peak_alloc_mb": round(peak / 2**20, 1),
                "peak_rss_mb": _peak_rss_mb(),
                "naive_machines_timed": n_naive,
                "naive_s_for_all": round(naive_s, 1),
                "speedup": round(naive_s / best, 1),
                "agree": True,
                "plant_oee": round(float(res.plant().oee), 4),
                "median_machine_oee": round(float(np.median(f.oee)), 4),
            }
        )
    )


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


if __name__ == "__main__":
    main()
