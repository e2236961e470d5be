"""Invariants of compute_kpis under hypothesis, and agreement with slow reference implementations.

- the OEE identity: availability x performance x quality = fully productive / planned, and
  the loss waterfall adds up to planned time, for every cell and every roll-up;
- per-machine figures aggregate consistently to line, shift, day and plant;
- a second-by-second pure-Python walk gives the same seconds and stops per category;
- time and pieces are additive over adjacent windows;
- a slow timeline walk and counter_increase agree with the new kernel;
- the telemetry interval sums equal plain slicing, NaN gaps included.
"""

from __future__ import annotations

import bisect
import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.energy import UniformSeries, interval_sums
from analytics.kpi import Counts, compute_kpis
from analytics.losses import CATEGORIES, DOWNTIME, NO_DATA, PLANNED_STOP, RUN, LossTaxonomy
from analytics.oee import counter_increase
from analytics.timeline import Events
from tests.analytics.timeline_walk import walk_state_seconds
from tonle.contract import MACHINE_STATES
from tonle.kernels.shifts import SCHEDULED, Shift, ShiftCalendar

S = 1_000_000_000
PP = dt.timezone(dt.timedelta(hours=7))
T0 = int(dt.datetime(2025, 3, 3, 5, 30, tzinfo=PP).timestamp())  # 05:30 local, in s
WINDOW_S = 3 * 3600  # 05:30-08:30: no shift, shift A with a break, shift B, no shift
CAL = ShiftCalendar(
    shifts=(Shift("A", "06:00", "07:00", breaks=(("06:20", "06:30"),)), Shift("B", "07:00", "08:00"))
)
TAX = LossTaxonomy(minor_stop_s=120.0)


@st.composite
def plants(draw: st.DrawFn) -> dict:
    n_m = draw(st.integers(1, 4))
    n_ev = draw(st.integers(0, 40))
    ev_m = draw(st.lists(st.integers(0, n_m - 1), min_size=n_ev, max_size=n_ev))
    ev_t = draw(st.lists(st.integers(-1800, WINDOW_S + 300), min_size=n_ev, max_size=n_ev, unique=True))
    ev_s = draw(st.lists(st.integers(0, len(MACHINE_STATES) - 1), min_size=n_ev, max_size=n_ev))
    n_c = draw(st.integers(0, 30))
    c_m = draw(st.lists(st.integers(0, n_m - 1), min_size=n_c, max_size=n_c))
    c_t = draw(st.lists(st.integers(-600, WINDOW_S + 60), min_size=n_c, max_size=n_c, unique=True))
    c_tot = draw(st.lists(st.integers(0, 500), min_size=n_c, max_size=n_c))
    c_bad = [draw(st.integers(0, t)) for t in c_tot]
    ideal = draw(st.lists(st.floats(1.0, 120.0), min_size=n_m, max_size=n_m))
    return {
        "n": n_m,
        "events": (
            np.array(ev_m, dtype=np.int64),
            np.array(ev_t, dtype=np.int64),
            np.array(ev_s, dtype=np.int64),
        ),
        # cumulative counters where "good" = total - rejects stays a subset of total
        "counts": (np.array(c_m, dtype=np.int64), np.array(c_t, dtype=np.int64), c_tot, c_bad),
        "ideal": np.array(ideal),
    }


def run(p: dict, *, start_s: int = 0, end_s: int = WINDOW_S, calendar=CAL, taxonomy=TAX, telemetry=None):
    m, t, s = p["events"]
    cm, ct, tot, bad = p["counts"]
    # Good counter per machine: the same readings minus a cumulative reject count, kept <= total.
    good = np.minimum(np.array(tot, float), np.maximum(np.array(tot, float) - np.array(bad, float), 0))
    good = _subset_counter(cm, ct, np.array(tot, float), good)
    return compute_kpis(
        Events.of(m, (T0 + t) * S, s),
        Counts.of(cm, (T0 + ct) * S, np.array(tot, float), good),
        n_machines=p["n"],
        start_ns=(T0 + start_s) * S,
        end_ns=(T0 + end_s) * S,
        ideal_cycle_s=p["ideal"],
        calendar=calendar,
        taxonomy=taxonomy,
        telemetry=telemetry,
    )


def _subset_counter(m: np.ndarray, t: np.ndarray, total: np.ndarray, good: np.ndarray) -> np.ndarray:
    """Make the good counter's increments never exceed the total counter's (per machine, in time order)."""
    out = np.zeros_like(total)
    for machine in np.unique(m):
        idx = np.flatnonzero(m == machine)
        idx = idx[np.argsort(t[idx])]
        g_prev = t_prev = 0.0
        for i in idx:
            inc_t = total[i] - t_prev if total[i] >= t_prev else total[i]
            want = good[i] - g_prev if good[i] >= g_prev else good[i]
            start = g_prev if total[i] >= t_prev else 0.0
            out[i] = start + min(max(want, 0.0), inc_t)
            g_prev, t_prev = out[i], total[i]
    return out


def _identity_holds(f) -> None:
    planned = f.planned_s
    waterfall = sum(f.losses_s().values())
    np.testing.assert_allclose(waterfall, planned, rtol=1e-9, atol=1e-6)
    defined = (planned > 0) & (f.run_s > 0) & (f.ideal_s > 0)
    apq = f.availability * f.performance * f.quality
    np.testing.assert_allclose(apq[defined], f.oee[defined], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(f.oee[defined], f.ideal_good_s[defined] / planned[defined], rtol=1e-12)


@settings(max_examples=150, deadline=None)
@given(plants())
def test_oee_identity_holds_in_every_cell_and_roll_up(p: dict) -> None:
    r = run(p)
    for f in (r.figures, r.by_machine(), r.by_machine_period(), r.by_period(), r.plant(), r.by_day()[1]):
        _identity_holds(f)


@settings(max_examples=150, deadline=None)
@given(plants(), st.data())
def test_machine_figures_aggregate_consistently_to_line_shift_day_and_plant(p: dict, data) -> None:
    r = run(p)
    mp = r.by_machine_period()
    # every second of every machine's window is in exactly one category
    np.testing.assert_allclose(r.by_machine().window_s, WINDOW_S)
    line = np.array(data.draw(st.lists(st.integers(0, 1), min_size=p["n"], max_size=p["n"])))
    by_line = r.by_line(line, 2)
    for k in range(2):
        sel = line == k
        np.testing.assert_allclose(by_line.seconds[k], mp.seconds[sel].sum(axis=0))
        np.testing.assert_allclose(by_line.ideal_good_s[k], mp.ideal_good_s[sel].sum(axis=0))
        # the line OEE is its machines' fully productive time over their planned time, which
        # is the planned-time-weighted mean of their OEEs when each of them had planned time
        planned = mp.planned_s[sel].sum(axis=0)
        ok = planned > 0
        productive = mp.ideal_good_s[sel].sum(axis=0)
        np.testing.assert_allclose(by_line.oee[k][ok], productive[ok] / planned[ok], rtol=1e-9)
        all_planned = ok & (mp.planned_s[sel] > 0).all(axis=0)
        weighted = (mp.oee[sel] * mp.planned_s[sel]).sum(axis=0)
        np.testing.assert_allclose(by_line.oee[k][all_planned], weighted[all_planned] / planned[all_planned])
    names, by_shift = r.by_shift()
    days, by_day = r.by_day()
    plant = r.plant()
    for agg in (by_shift.sum(axis=1), by_day.sum(axis=1), r.by_machine()):
        np.testing.assert_allclose(agg.seconds, r.by_machine().seconds)
        np.testing.assert_allclose(agg.total, r.by_machine().total)
        np.testing.assert_allclose(agg.stops, r.by_machine().stops)
    np.testing.assert_allclose(plant.seconds, r.by_machine().seconds.sum(axis=0))
    np.testing.assert_allclose(plant.ideal_good_s, r.by_machine().ideal_good_s.sum())
    assert days.size == 1 and names[-1] == "no shift"


def _reference(p: dict, periods) -> tuple[np.ndarray, np.ndarray]:
    """Second-by-second walk: seconds and stops per (machine, period, category), in plain Python."""
    m_all, t_all, s_all = (x.tolist() for x in p["events"])
    edges = [(int(e) // S) - T0 for e in periods.edges]
    cats = TAX.state_table().tolist()
    secs = np.zeros((p["n"], periods.n, len(CATEGORIES)))
    stops = np.zeros_like(secs)
    for m in range(p["n"]):
        evs = sorted((t, s) for mm, t, s in zip(m_all, t_all, s_all, strict=True) if mm == m)
        evs = [e for e in evs if e[0] < WINDOW_S]
        # group consecutive events of the same state into stops: (first time, state)
        groups: list[list[int]] = []
        for t, s in evs:
            if groups and groups[-1][1] == s:
                continue
            groups.append([t, s])
        prev_key = None
        starts = [g[0] for g in groups]
        for sec in range(WINDOW_S):
            gi = bisect.bisect_right(starts, sec) - 1
            if gi < 0:
                cat, key = NO_DATA, None
            else:
                begin = groups[gi][0]
                end = groups[gi + 1][0] if gi + 1 < len(groups) else WINDOW_S
                cat = cats[groups[gi][1]]
                if cat in (2, 6) and end - begin < TAX.minor_stop_s:
                    cat = 5
                key = gi
            sl = bisect.bisect_right(edges, sec) - 1
            if periods.slice_kind[sl] != SCHEDULED and cat not in (RUN, NO_DATA):
                cat = PLANNED_STOP
            per = periods.slice_period[sl]
            secs[m, per, cat] += 1
            if (key, cat) != prev_key:
                stops[m, per, cat] += 1
            prev_key = (key, cat)
    return secs, stops


@settings(max_examples=25, deadline=None)
@given(plants())
def test_seconds_and_stops_match_a_second_by_second_walk(p: dict) -> None:
    r = run(p)
    secs, stops = _reference(p, r.periods)
    f = r.by_machine_period()
    np.testing.assert_array_equal(f.seconds, secs)
    np.testing.assert_array_equal(f.stops, stops)


@settings(max_examples=100, deadline=None)
@given(plants(), st.integers(1, WINDOW_S - 1))
def test_time_and_pieces_add_up_over_adjacent_windows(p: dict, cut: int) -> None:
    # Minor stops are judged on the whole stop, which a cut can shorten: compare without them.
    tax = LossTaxonomy(minor_stop_s=0.0)
    whole = run(p, taxonomy=tax).by_machine()
    a = run(p, end_s=cut, taxonomy=tax).by_machine()
    b = run(p, start_s=cut, taxonomy=tax).by_machine()
    np.testing.assert_allclose(a.seconds + b.seconds, whole.seconds)
    np.testing.assert_allclose(a.total + b.total, whole.total)
    np.testing.assert_allclose(a.ideal_good_s + b.ideal_good_s, whole.ideal_good_s)


@settings(max_examples=100, deadline=None)
@given(plants())
def test_state_times_and_pieces_agree_with_a_timeline_walk_and_counter_increase(p: dict) -> None:
    r = run(p, calendar=None)
    m, t, s = p["events"]
    seconds, unknown = walk_state_seconds(
        m, (T0 + t) * S, s, T0 * S, (T0 + WINDOW_S) * S, p["n"], len(MACHINE_STATES)
    )
    np.testing.assert_allclose(r.state_seconds(), seconds)
    np.testing.assert_allclose(r.by_machine().nodata_s - seconds[:, -1], unknown)
    # counter_increase counts every reading it is given: give it each machine's last
    # reading before the window (the baseline) and those inside the window.
    cm, ct, tot, _ = p["counts"]
    tot = np.array(tot, float)
    keep = (ct >= 0) & (ct < WINDOW_S)
    for k in range(p["n"]):
        before = np.flatnonzero((cm == k) & (ct < 0))
        if before.size:
            keep[before[np.argmax(ct[before])]] = True
    inc = counter_increase(cm[keep], (T0 + ct[keep]) * S, tot[keep], p["n"])
    np.testing.assert_allclose(r.by_machine().total, np.nan_to_num(inc))


@settings(max_examples=100, deadline=None)
@given(
    st.integers(1, 3),
    st.integers(1, 50),
    st.lists(st.integers(0, 60), min_size=1, max_size=12),
    st.integers(0, 2**31 - 1),
    st.sampled_from([np.float32, np.float64]),
)
def test_interval_sums_equal_plain_slicing_with_gaps(
    n_m: int, n_s: int, cuts: list[int], seed: int, dtype
) -> None:
    rng = np.random.default_rng(seed)
    values = rng.random((n_m, n_s)).astype(dtype)
    values[rng.random(values.shape) < 0.2] = np.nan
    series = UniformSeries(1_000 * S, S, values)
    # intervals tiling [t_a, t_b) for each machine, which may start before or end after the grid
    bounds = np.unique(np.clip(np.array([*cuts, 0, 60]), 0, 60)) - 5
    machine = np.repeat(np.arange(n_m), bounds.size - 1)
    start = np.tile(bounds[:-1], n_m) * S + 1_000 * S
    end = np.tile(bounds[1:], n_m) * S + 1_000 * S
    got = interval_sums(series, machine, start, end)
    for i in range(machine.size):
        lo = int(np.clip((start[i] - 1_000 * S + S - 1) // S, 0, n_s))
        hi = int(np.clip((end[i] - 1_000 * S + S - 1) // S, 0, n_s))
        chunk = values[machine[i], lo:hi].astype(np.float64)
        assert got.total[i] == pytest.approx(np.nansum(chunk), rel=1e-5, abs=1e-9)
        assert got.n[i] == np.count_nonzero(~np.isnan(chunk))
        assert got.expected[i] == hi - lo


def test_downtime_categories_are_the_availability_losses() -> None:
    # run + planned stop + no data + downtime categories = every category, each once
    assert sorted([RUN, PLANNED_STOP, NO_DATA, *DOWNTIME]) == list(range(len(CATEGORIES)))
