"""compute_kpis on shifts worked out by hand: every expected figure is derived in the comments."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from analytics.energy import UniformSeries
from analytics.kpi import Counts, compute_kpis, output_per_bucket
from analytics.losses import CATEGORIES, LossTaxonomy, state_codes
from analytics.timeline import Events
from tonle.kernels.shifts import Shift, ShiftCalendar

S = 1_000_000_000
PP = dt.timezone(dt.timedelta(hours=7))  # Asia/Phnom_Penh: UTC+7, no daylight saving
DAY = dt.date(2025, 3, 3)  # a Monday
ONE_SHIFT = ShiftCalendar(shifts=(Shift("A", "06:00", "14:00", breaks=(("10:00", "10:30"),)),))
approx = pytest.approx


def at(hhmm: str, day: dt.date = DAY) -> int:
    """Local Phnom Penh time as epoch ns; 'HH:MM:SS' allowed."""
    parts = [int(x) for x in hhmm.split(":")] + [0]
    t = dt.datetime(day.year, day.month, day.day, parts[0], parts[1], parts[2], tzinfo=PP)
    return int(t.timestamp()) * S


def events(rows: list[tuple[int, str, str]]) -> Events:
    return Events.of([r[0] for r in rows], [at(r[1]) for r in rows], state_codes([r[2] for r in rows]))


def counts(rows: list[tuple[int, str, int, int]]) -> Counts:
    return Counts.of(
        [r[0] for r in rows], [at(r[1]) for r in rows], [r[2] for r in rows], [r[3] for r in rows]
    )


# Machine 0, a lockstitch with an ideal cycle of 30 s, on shift A 06:00-14:00 with a
# planned lunch 10:00-10:30.
SHIFT_EVENTS = [
    (0, "05:50", "running"),  # the last state before the shift: running at 06:00
    (0, "07:00", "thread_break"),
    (0, "07:02", "running"),  # 120 s < 300 s: a minor stop
    (0, "08:10", "breakdown"),
    (0, "08:55", "running"),  # 45 min = 2 700 s breakdown
    (0, "10:00", "idle"),
    (0, "10:30", "running"),  # idle during lunch: 1 800 s planned stop
    (0, "12:00", "setup"),
    (0, "12:20", "running"),  # style changeover 20 min = 1 200 s
    (0, "13:00", "starved"),
    (0, "13:10", "running"),  # waiting for bundles 10 min = 600 s
]
# The counter restarted at 10:05 (controller reboot): 12 840 -> 13 140 is +300,
# then 0 -> 300 is +300: 600 pieces. Good: 12 800 -> 13 091 (+291), 0 -> 291: 582.
SHIFT_COUNTS = [
    (0, "05:59", 12_840, 12_800),
    (0, "10:00", 13_140, 13_091),
    (0, "10:05", 0, 0),
    (0, "13:59:59", 300, 291),
]


def shift_result():
    power = np.full((1, 8 * 3600), 0.1, dtype=np.float32)  # 0.1 kW while stopped ...
    ev = events(SHIFT_EVENTS)
    running = _running_mask(ev, at("06:00"), 8 * 3600)
    power[0, running] = 0.5  # ... 0.5 kW while sewing
    return compute_kpis(
        ev,
        counts(SHIFT_COUNTS),
        n_machines=1,
        start_ns=at("06:00"),
        end_ns=at("14:00"),
        ideal_cycle_s=30.0,
        calendar=ONE_SHIFT,
        telemetry={"power_kw": UniformSeries(at("06:00"), S, power)},
    )


def _running_mask(ev: Events, t0: int, n: int) -> np.ndarray:
    """Which 1 Hz samples fall in a running state (slow and obvious, for the test input only)."""
    out = np.zeros(n, dtype=bool)
    order = np.argsort(ev.ts_ns)
    ts, code = ev.ts_ns[order], ev.code[order]
    for i in range(ts.size):
        a = max(0, (int(ts[i]) - t0) // S)
        b = n if i + 1 == ts.size else (int(ts[i + 1]) - t0) // S
        out[a:b] = code[i] == 0
    return out


def test_shift_with_breakdown_changeover_speed_loss_and_rejects() -> None:
    f = shift_result().by_machine()
    # Shift 8 h = 28 800 s; lunch 1 800 s is a planned stop -> planned = 27 000 s.
    # Downtime: minor stop 120 + breakdown 2 700 + setup 1 200 + starved 600 = 4 620 s.
    # Run = 27 000 - 4 620 = 22 380 s.
    secs = dict(zip(CATEGORIES, f.seconds[0].tolist(), strict=True))
    assert secs == {
        "run": 22_380.0,
        "planned_stop": 1_800.0,
        "breakdown": 2_700.0,
        "setup": 1_200.0,
        "starved_blocked": 600.0,
        "minor_stop": 120.0,
        "idle": 0.0,
        "no_data": 0.0,
    }
    assert f.planned_s[0] == 27_000.0
    # Pieces: 600 made, 582 good (18 rejects). Ideal time = 30 x 600 = 18 000 s.
    assert (f.total[0], f.good[0], f.ideal_s[0]) == (600.0, 582.0, 18_000.0)
    # availability = 22 380 / 27 000 = 0.828888...
    # performance  = 18 000 / 22 380 = 0.804289...  (speed loss = 22 380 - 18 000 = 4 380 s)
    # quality      = 582 / 600 = 0.97             (quality loss = 30 x 18 = 540 s)
    # OEE          = 30 x 582 / 27 000 = 17 460 / 27 000 = 0.646666...
    assert f.availability[0] == approx(22_380 / 27_000, abs=1e-12)
    assert f.performance[0] == approx(18_000 / 22_380, abs=1e-12)
    assert f.quality[0] == approx(0.97, abs=1e-12)
    assert f.oee[0] == approx(17_460 / 27_000, abs=1e-12)
    assert (f.availability * f.performance * f.quality)[0] == approx(f.oee[0], abs=1e-12)
    # The waterfall: 17 460 + 120 + 2 700 + 1 200 + 600 + 0 + 4 380 + 540 = 27 000.
    losses = {k: float(v[0]) for k, v in f.losses_s().items()}
    assert losses == {
        "fully_productive": 17_460.0,
        "breakdown": 2_700.0,
        "setup": 1_200.0,
        "starved_blocked": 600.0,
        "minor_stop": 120.0,
        "idle": 0.0,
        "speed": 4_380.0,
        "quality": 540.0,
    }
    assert sum(losses.values()) == f.planned_s[0]


def test_shift_reliability_counts_one_failure_and_one_minor_stop() -> None:
    f = shift_result().by_machine()
    # Stops: one breakdown (2 700 s), one minor stop. MTBF = run / failures = 22 380 s,
    # MTTR = 2 700 / 1 s. The thread break is a minor stop, not a failure.
    assert f.failures[0] == 1 and f.minor_stops[0] == 1
    assert f.mtbf_s[0] == 22_380.0
    assert f.mttr_s[0] == 2_700.0


def test_shift_energy_splits_running_and_idle_power() -> None:
    f = shift_result().by_machine()
    # Running 22 380 s x 0.5 kW = 11 190 kJ = 3.108333 kWh.
    # Not running 28 800 - 22 380 = 6 420 s x 0.1 kW = 642 kJ = 0.178333 kWh (idle energy).
    assert f.kwh_by_category[0, 0] == approx(22_380 * 0.5 / 3600, rel=1e-6)
    assert f.idle_kwh[0] == approx(6_420 * 0.1 / 3600, rel=1e-6)
    # per piece: 3.286667 / 600 = 0.0054778; per good piece 3.286667 / 582 = 0.0056472.
    kwh = (22_380 * 0.5 + 6_420 * 0.1) / 3600
    assert f.kwh_per_piece[0] == approx(kwh / 600, rel=1e-6)
    assert f.kwh_per_good_piece[0] == approx(kwh / 582, rel=1e-6)
    assert f.field_coverage()[0] == 1.0


def test_pareto_ranks_downtime_by_cause() -> None:
    p = shift_result().pareto()
    # Downtime 4 620 s: breakdown 2 700 (58.4 %), setup 1 200, starved 600, thread break 120.
    assert p.label == ("breakdown", "setup", "starved", "thread_break (minor stop)")
    assert p.category == ("breakdown", "setup", "starved_blocked", "minor_stop")
    assert p.seconds.tolist() == [2_700.0, 1_200.0, 600.0, 120.0]
    assert p.stops.tolist() == [1.0, 1.0, 1.0, 1.0]
    assert p.share[0] == approx(2_700 / 4_620)
    assert p.cumulative[-1] == approx(1.0)


def test_reasons_split_the_pareto_and_can_override_the_category() -> None:
    # Idle 10 min "no operator", then idle 15 min "style change", declared a setup.
    reasons = ("no operator", "style change")
    rows = [(0, "06:00", "running", -1), (0, "07:00", "idle", 0), (0, "07:10", "running", -1)]
    rows += [(0, "08:00", "idle", 1), (0, "08:15", "running", -1)]
    ev = Events.of(
        [0] * len(rows),
        [at(r[1]) for r in rows],
        state_codes([r[2] for r in rows]),
        [r[3] for r in rows],
    )
    tax = LossTaxonomy(reason_category={"style change": "setup"})
    r = compute_kpis(
        ev,
        counts([(0, "06:00", 0, 0)]),
        n_machines=1,
        start_ns=at("06:00"),
        end_ns=at("09:00"),
        ideal_cycle_s=30.0,
        taxonomy=tax,
        reasons=reasons,
    )
    p = r.pareto()
    assert p.label == ("idle: style change", "idle: no operator")
    assert p.category == ("setup", "idle")
    assert p.seconds.tolist() == [900.0, 600.0]


def test_time_before_the_first_event_is_no_data_not_downtime() -> None:
    # Machine 1 is first heard of at 08:00: 06:00-08:00 (7 200 s) is unknown.
    # Of the shift's 28 800 s, 21 600 are known: coverage 0.75. Planned = known time minus
    # lunch = 21 600 - 1 800 = 19 800 s, all running: availability 1, not 19 800 / 27 000.
    lunch = [(m, "10:00", "idle") for m in (0, 1)] + [(m, "10:30", "running") for m in (0, 1)]
    r = compute_kpis(
        events([(1, "08:00", "running"), (0, "05:00", "running"), *lunch]),
        counts([(0, "06:00", 0, 0), (1, "08:00", 0, 0)]),
        n_machines=2,
        start_ns=at("06:00"),
        end_ns=at("14:00"),
        ideal_cycle_s=30.0,
        calendar=ONE_SHIFT,
    )
    f = r.by_machine()
    assert f.nodata_s.tolist() == [0.0, 7_200.0]
    assert f.coverage.tolist() == [1.0, 0.75]
    assert f.planned_s.tolist() == [27_000.0, 19_800.0]
    assert f.availability.tolist() == [1.0, 1.0]


def test_a_repeating_state_that_goes_quiet_becomes_no_data_after_max_gap() -> None:
    # A logger repeats "running" every 5 min, then is silent from 07:00 to 07:40.
    # With max_gap_s = 600, 07:10-07:40 (1 800 s) is unknown; without it, running.
    rows = [(0, f"06:{m:02d}", "running") for m in range(0, 60, 5)] + [(0, "07:00", "running")]
    rows += [(0, f"07:{m}", "running") for m in (40, 45, 50, 55)]
    kw = dict(n_machines=1, start_ns=at("06:00"), end_ns=at("08:00"), ideal_cycle_s=30.0)
    c = counts([(0, "06:00", 0, 0)])
    stale = compute_kpis(events(rows), c, max_gap_s=600, **kw).by_machine()
    trusting = compute_kpis(events(rows), c, **kw).by_machine()
    assert stale.nodata_s[0] == 1_800.0 and stale.run_s[0] == 5_400.0
    assert trusting.nodata_s[0] == 0.0 and trusting.run_s[0] == 7_200.0


def test_two_shifts_roll_up_to_day_line_and_plant() -> None:
    # Shifts A 06:00-14:00 and B 14:00-22:00 (no breaks), window 06:00-22:00; machine 0
    # runs all day, machine 1 breaks down 13:00-15:00 (1 h in each shift). Both lines 0.
    cal = ShiftCalendar(shifts=(Shift("A", "06:00", "14:00"), Shift("B", "14:00", "22:00")))
    ev = events([(0, "06:00", "running"), (1, "06:00", "running"), (1, "13:00", "breakdown")])
    ev = Events.of(
        np.append(ev.machine, 1),
        np.append(ev.ts_ns, at("15:00")),
        np.append(ev.code, state_codes(["running"])),
    )
    c = counts([(0, "06:00", 0, 0), (0, "13:59", 900, 900), (0, "21:59", 1_800, 1_790)])
    c2 = counts([(1, "06:00", 0, 0), (1, "13:59", 800, 800), (1, "21:59", 1_600, 1_600)])
    r = compute_kpis(
        Events.of(ev.machine, ev.ts_ns, ev.code),
        Counts.of(
            np.concatenate((c.machine, c2.machine)),
            np.concatenate((c.ts_ns, c2.ts_ns)),
            np.concatenate((c.total, c2.total)),
            np.concatenate((c.good, c2.good)),
        ),
        n_machines=2,
        start_ns=at("06:00"),
        end_ns=at("22:00"),
        ideal_cycle_s=[30.0, 30.0],
        calendar=cal,
    )
    assert r.periods.label == ("2025-03-03 A", "2025-03-03 B")
    mp = r.by_machine_period()
    # Machine 1 lost 3 600 s in each shift: availability 25 200 / 28 800 = 0.875 per shift.
    assert mp.availability[1].tolist() == [0.875, 0.875]
    # Shift B, machine 0: OEE = 30 x 890 / 28 800 = 0.927083...
    assert mp.oee[0, 1] == approx(30 * 890 / 28_800)
    names, by_shift = r.by_shift()
    assert names == ("A", "B", "no shift")
    days, by_day = r.by_day()
    assert days.tolist() == [dt.date(2025, 3, 3)]
    # Day OEE of machine 1 = 30 x 1 600 / 57 600 = 0.8333...; line (both machines) =
    # 30 x (1 790 + 1 600) / (2 x 57 600) = 101 700 / 115 200 = 0.8828125.
    assert by_day.oee[1, 0] == approx(30 * 1_600 / 57_600)
    line = r.by_line([0, 0]).sum(axis=1)
    assert line.oee[0] == approx(101_700 / 115_200)
    assert r.plant().oee == approx(101_700 / 115_200)
    assert by_shift.oee[:, :2].ravel().tolist() == approx(mp.oee.ravel().tolist())
    # One breakdown, started in shift A: failures count where a stop starts.
    assert mp.failures[1].tolist() == [1.0, 0.0]


def test_output_per_hour_buckets_the_pieces() -> None:
    starts, total, good = output_per_bucket(
        counts([(0, "06:00", 10, 10), (0, "06:30", 40, 39), (0, "07:15", 100, 97), (0, "08:59", 130, 126)]),
        n_machines=1,
        start_ns=at("06:00"),
        end_ns=at("09:00"),
    )
    # 06:00-07:00: +30 (29 good); 07:00-08:00: +60 (58); 08:00-09:00: +30 (29).
    assert starts.tolist() == [at("06:00"), at("07:00"), at("08:00")]
    assert total.tolist() == [[30.0, 60.0, 30.0]]
    assert good.tolist() == [[29.0, 58.0, 29.0]]


def test_jobs_split_figures_by_product_with_their_own_ideal_cycle() -> None:
    # Style P0 (ideal 30 s) until 10:00, then P1 (ideal 45 s). 06:00-14:00 running, no breaks.
    jobs = Events.of([0, 0], [at("05:00"), at("10:00")], [0, 1])
    c = counts([(0, "06:00", 0, 0), (0, "09:59", 400, 400), (0, "13:59", 800, 780)])
    r = compute_kpis(
        events([(0, "06:00", "running")]),
        c,
        n_machines=1,
        start_ns=at("06:00"),
        end_ns=at("14:00"),
        ideal_cycle_s=[[30.0, 45.0, np.nan]],
        jobs=jobs,
        job_names=("P0", "P1"),
    )
    assert r.jobs == ("P0", "P1", "(none)")
    j = r.by_job()
    # P0: 14 400 s run, 400 pieces x 30 s = 12 000 s ideal -> performance 0.8333...
    # P1: 14 400 s run, 400 pieces x 45 s = 18 000 s ideal -> performance 1.25 (ideal too slow)
    assert j.run_s[0].tolist() == [14_400.0, 14_400.0, 0.0]
    assert j.ideal_s[0].tolist() == [12_000.0, 18_000.0, 0.0]
    assert j.performance[0, :2].tolist() == approx([12_000 / 14_400, 18_000 / 14_400])
    # Whole machine: quality weighs each piece by its ideal cycle:
    # (12 000 + 45 x 380) / (12 000 + 18 000) = 29 100 / 30 000 = 0.97, and OEE = 29 100 / 28 800.
    f = r.by_machine()
    assert f.quality[0] == approx(0.97)
    assert f.oee[0] == approx(29_100 / 28_800)
    assert f.first_pass_yield[0] == approx(780 / 800)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: state_codes(["running", "sewing"]), "unknown machine states \\['sewing'\\]"),
        (
            lambda: compute_kpis(
                events([(0, "06:00", "running")]),
                counts([(0, "06:00", 0, 0)]),
                n_machines=1,
                start_ns=at("06:00"),
                end_ns=at("07:00"),
                ideal_cycle_s=0.0,
            ),
            "ideal_cycle_s must be > 0",
        ),
        (
            lambda: compute_kpis(
                Events.of([0, 0], [at("06:00"), at("06:00")], state_codes(["running", "idle"])),
                counts([(0, "06:00", 0, 0)]),
                n_machines=1,
                start_ns=at("06:00"),
                end_ns=at("07:00"),
                ideal_cycle_s=30.0,
            ),
            "two different events",
        ),
        (
            lambda: compute_kpis(
                events([(0, "06:00", "running")]),
                counts([(0, "06:00", 0, 0), (0, "06:30", 10, 11)]),
                n_machines=1,
                start_ns=at("06:00"),
                end_ns=at("07:00"),
                ideal_cycle_s=30.0,
            ),
            "good pieces \\(11\\) exceed total pieces \\(10\\)",
        ),
        (
            lambda: compute_kpis(
                events([(0, "06:00", "running")]),
                counts([(0, "06:00", 0, 0)]),
                n_machines=1,
                start_ns=at("06:00"),
                end_ns=at("07:00"),
                ideal_cycle_s=30.0,
                telemetry={"power_kw": UniformSeries(at("06:00"), S, np.zeros(3600))},
            ),
            "2-D float array",
        ),
        (lambda: Counts.of([0], [at("06:00")], [float("nan")], [0]), "total has a NaN"),
        (lambda: Counts.of([0], [at("06:00")], [-1], [0]), "total must not be negative"),
        (lambda: Events.of([0], [1.5e18], [0]), "integer nanoseconds"),
        (lambda: ShiftCalendar(tz="Asia/Pnom_Penh"), "unknown time zone"),
        (lambda: Shift("A", "06:00", "14:00", breaks=(("13:30", "14:30"),)), "must lie inside the shift"),
        (lambda: Shift("A", "6am", "14:00").length, "must be a local time 'HH:MM'"),
        (lambda: LossTaxonomy(state_category={"running": "run"}), "have no category"),
        (lambda: ONE_SHIFT.periods(at("08:00"), at("07:00")), "empty or reversed"),
    ],
)
def test_bad_input_gets_an_error_that_says_what_to_fix(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_a_machine_without_an_ideal_cycle_spoils_only_its_own_line() -> None:
    # Machine 0 (line 0) has a standard time, machine 1 (line 1) has none (NaN) but makes pieces:
    # line 0's performance stays known; only line 1's is unknown.
    r = compute_kpis(
        events([(0, "06:00", "running"), (1, "06:00", "running")]),
        counts([(0, "06:00", 0, 0), (0, "06:59", 100, 100), (1, "06:00", 0, 0), (1, "06:59", 50, 50)]),
        n_machines=2,
        start_ns=at("06:00"),
        end_ns=at("07:00"),
        ideal_cycle_s=np.array([30.0, np.nan]),
    )
    perf = r.by_line([0, 1]).performance.ravel()
    # Line 0: ideal 30 s x 100 pieces = 3 000 s of a 3 600 s run.
    assert perf[0] == pytest.approx(3_000 / 3_600)
    assert np.isnan(perf[1])
