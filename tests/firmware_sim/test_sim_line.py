"""The sewing line behaves like a sewing line: bottleneck pace, starving, blocking, wear, commands."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter, defaultdict

import numpy as np
import pytest

from firmware_sim.line import (
    LineOutput,
    LineSpec,
    SewingLine,
    SimCommandError,
    StationSpec,
    TelemetryFrame,
    default_line,
)
from tonle.contract.payloads import MACHINE_STATES

START = 1_700_000_000_000_000_000
S = 1_000_000_000
H = 3600 * S


def run(line: SewingLine, seconds: float, chunk_s: float | None = None) -> LineOutput:
    """Advance by `seconds`, in one call or in chunks, and merge what came out."""
    end = line.now_ns + round(seconds * S)
    step = round((chunk_s or seconds) * S)
    outs = []
    while line.now_ns < end:
        outs.append(line.advance_to(min(line.now_ns + step, end)))
    return merge(outs)


def merge(outs: list[LineOutput]) -> LineOutput:
    cols = {
        f: np.concatenate([getattr(o.telemetry, f) for o in outs])
        for f in ("ts", "station", *TelemetryFrame.FIELDS)
    }
    return LineOutput(
        TelemetryFrame(**cols),
        [b for o in outs for b in o.bursts],
        [s for o in outs for s in o.states],
        [c for o in outs for c in o.counts],
    )


def time_in_states(out: LineOutput, station: int, end_ns: int) -> Counter[str]:
    """Seconds spent in each state, from the state transitions."""
    changes = [(s.ts_ns, s.state) for s in out.states if s.station == station]
    spent: Counter[str] = Counter()
    for (t0, state), (t1, _) in zip(changes, [*changes[1:], (end_ns, "")], strict=True):
        spent[state] += (t1 - t0) / S
    return spent


def state_at(out: LineOutput, station: int, t_ns: int) -> str:
    return [s.state for s in out.states if s.station == station and s.ts_ns <= t_ns][-1]


def counts_of(out: LineOutput, station: int) -> np.ndarray:
    return np.array([c.ts_ns for c in out.counts if c.station == station], dtype=np.int64)


def one_slow_station_line(slow: int = 2, n: int = 5) -> LineSpec:
    """Five lockstitch stations, one 30 % slower than the rest, no breaks, starting empty."""
    stations = tuple(
        StationSpec(f"S{i + 1:02d}", f"op {i + 1}", 0.65 if i == slow else 0.5, 1.0) for i in range(n)
    )
    return LineSpec(
        "p", "sewing", "L9", stations, thread_break_per_h=0.0, needle_break_per_h=0.0, initial_wip=0
    )


# ------------------------------------------------------------------ determinism


def test_same_seed_gives_identical_output_and_another_seed_does_not() -> None:
    spec = default_line()
    a, b, c = (run(SewingLine(spec, seed, START), 300) for seed in (7, 7, 8))
    assert a.states == b.states and a.counts == b.counts
    assert np.array_equal(a.telemetry.current_a, b.telemetry.current_a)
    assert len(a.bursts) == len(b.bursts)
    assert all(np.array_equal(x.waveform, y.waveform) for x, y in zip(a.bursts, b.bursts, strict=True))
    assert a.counts != c.counts


def test_output_does_not_depend_on_how_time_is_chopped_or_on_vibration() -> None:
    spec = default_line()
    whole = run(SewingLine(spec, 3, START), 600)
    chopped = run(SewingLine(spec, 3, START), 600, chunk_s=0.7)
    quiet = run(SewingLine(spec, 3, START, vibration=False), 600)
    assert whole.states == chopped.states == quiet.states
    assert whole.counts == chopped.counts == quiet.counts
    assert np.array_equal(whole.telemetry.ts, chopped.telemetry.ts)
    assert np.array_equal(whole.telemetry.temp_c, chopped.telemetry.temp_c)
    assert [b.ts_ns for b in whole.bursts] == [b.ts_ns for b in chopped.bursts]
    assert quiet.bursts == []


# ------------------------------------------------------------------- production


def test_line_output_runs_at_the_pace_of_the_bottleneck_station() -> None:
    spec = default_line(seed=1, wearing_station=None)
    line = SewingLine(spec, seed=1, start_ns=START, vibration=False)
    out = run(line, 2 * 3600)
    # Expected: the slowest cycle, stretched by the bottleneck's own thread/needle breaks.
    down_per_running_h = spec.thread_break_per_h * 60 + spec.needle_break_per_h * 210
    expected = 3600 / spec.cycle_s.max() / (1 + down_per_running_h / 3600)
    bottleneck = int(spec.cycle_s.argmax())
    settled = START + H // 2  # after the first half hour of WIP settling
    for station in (bottleneck, len(spec.stations) - 1):
        per_h = (counts_of(out, station) >= settled).sum() / 1.5
        assert per_h == pytest.approx(expected, rel=0.05), station
    assert expected < spec.target_pcs_per_h  # an unbalanced line misses its SAM target


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_clear_bottleneck_sets_line_output_for_any_seed(seed: int) -> None:
    spec = one_slow_station_line()
    line = SewingLine(spec, seed=seed, start_ns=START, vibration=False)
    out = run(line, 3600)
    per_h = (counts_of(out, 4) >= START + 600 * S).sum() / (50 / 60)
    assert per_h == pytest.approx(3600 / (0.65 * 60), rel=0.04)


def test_starving_after_and_blocking_before_a_slow_station() -> None:
    spec = dataclasses.replace(one_slow_station_line(slow=2), buffer_capacity=3)
    line = SewingLine(spec, seed=4, start_ns=START, vibration=False)
    out = run(line, 3600)
    end = line.now_ns
    spent = [time_in_states(out, i, end) for i in range(5)]
    assert spent[2]["running"] > 0.98 * 3600  # the bottleneck never waits
    for i in (0, 1):  # upstream: faster than the bottleneck, so they fill their buffers and wait
        assert spent[i]["blocked"] > 0.15 * 3600
        assert spent[i]["starved"] <= 31  # only the wait for the first piece of an empty line
    for i in (3, 4):  # downstream: they wait for work from it
        assert spent[i]["starved"] > 0.15 * 3600
        assert spent[i]["blocked"] == 0
    reasons = {s.reason for s in out.states if s.station == 3 and s.state == "starved"}
    assert reasons == {"waiting for work from S03"}


def test_wip_never_exceeds_buffer_capacity_and_pieces_are_conserved() -> None:
    spec = dataclasses.replace(one_slow_station_line(slow=3), buffer_capacity=4, initial_wip=2)
    line = SewingLine(spec, seed=2, start_ns=START, vibration=False)
    # WIP starts in front of the bottleneck (2 pieces), one piece in each buffer after it.
    neck = int(np.argmax(spec.cycle_s))
    start_wip = np.where(np.arange(1, len(spec.stations)) <= neck, 2, 1)
    seen_max = 0
    for _ in range(1200):
        line.advance_to(line.now_ns + S)
        wip = line.wip
        assert wip.min() >= 0 and wip.max() <= 4
        seen_max = max(seen_max, int(wip.max()))
        # each buffer: what came in minus what went on, up to the pieces in hands
        totals = line.totals
        in_hands = start_wip + totals[:-1] - totals[1:] - wip
        # a piece in the operator's hands, plus a finished one held while blocked
        assert np.all((in_hands >= 0) & (in_hands <= 2))
    assert seen_max == 4  # the buffer before the slow station does fill up


def test_streams_have_unique_increasing_timestamps_per_station() -> None:
    spec = default_line()
    line = SewingLine(spec, seed=1, start_ns=START)
    out = run(line, 900, chunk_s=1.3)
    n = len(spec.stations)
    tel = out.telemetry
    assert len(tel) == 900 * n
    assert tel.ts.dtype == np.int64 and tel.station.dtype.kind == "i"
    for i in range(n):
        for ts in (
            tel.ts[tel.station == i],
            np.array([b.ts_ns for b in out.bursts if b.station == i]),
            np.array([s.ts_ns for s in out.states if s.station == i]),
            counts_of(out, i),
        ):
            assert np.all(np.diff(ts) > 0)
    assert [s.ts_ns for s in out.states[:n]] == [START] * n  # one initial state each


def test_counts_start_at_zero_are_cumulative_and_good_never_exceeds_total() -> None:
    spec = dataclasses.replace(default_line(), reject_rate=0.1)
    out = run(SewingLine(spec, seed=5, start_ns=START, vibration=False), 3600)
    by_station: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for c in out.counts:
        by_station[c.station].append((c.total, c.good))
    rejects = 0
    for rows in by_station.values():
        total, good = np.array(rows).T
        # The first reading is the counter node reporting at start (0, 0).
        assert np.array_equal(total, np.arange(0, total.size))
        assert np.all(np.diff(good) >= 0) and np.all(good <= total)
        rejects += total[-1] - good[-1]
    made = sum(len(r) - 1 for r in by_station.values())
    assert rejects / made == pytest.approx(0.1, abs=0.03)


def test_states_are_contract_states_with_reasons() -> None:
    out = run(SewingLine(default_line(), seed=1, start_ns=START, vibration=False), 3 * 3600)
    states = Counter(s.state for s in out.states)
    assert set(states) <= set(MACHINE_STATES)
    assert {"running", "starved", "blocked", "thread_break"} <= set(states)
    assert all(s.reason for s in out.states)


def test_thread_breaks_arrive_at_the_specified_rate_of_running_time() -> None:
    spec = dataclasses.replace(default_line(wearing_station=None), thread_break_per_h=3.0)
    line = SewingLine(spec, seed=9, start_ns=START, vibration=False)
    out = run(line, 2 * 3600)
    running_h = sum(time_in_states(out, i, line.now_ns)["running"] for i in range(12)) / 3600
    breaks = sum(s.state == "thread_break" for s in out.states)
    expected = 3.0 * running_h
    assert abs(breaks - expected) < 4 * math.sqrt(expected)  # Poisson, 4 sigma
    durations = [
        v / n
        for i in range(12)
        if (n := sum(s.state == "thread_break" and s.station == i for s in out.states))
        for v in [time_in_states(out, i, line.now_ns)["thread_break"]]
    ]
    assert 30 <= np.mean(durations) <= 90


# -------------------------------------------------------------- machine physics


def test_telemetry_speed_current_and_temperature_follow_the_machine() -> None:
    spec = default_line()
    line = SewingLine(spec, seed=1, start_ns=START, vibration=False)
    out = run(line, 3600)
    tel = out.telemetry
    nominal = np.array([s.nominal_spm for s in spec.stations])[tel.station]
    assert set(np.unique(tel.speed_spm / nominal)) <= {0.0, 1.0}
    moving = tel.speed_spm > 0
    assert tel.current_a[moving].min() > 1.5 > 0.5 > tel.current_a[~moving].max()
    first, last = tel.ts == tel.ts[0], tel.ts == tel.ts[-1]
    assert np.all(np.abs(tel.temp_c[first] - 30.0) < 1.0)  # a cold machine at Cambodian ambient
    assert np.all(tel.temp_c[last] > 33.0)
    assert np.all(tel.temp_c < 80.0)
    # the worn bearing (S07) runs hotter and draws more current than a healthy one doing similar work
    worn, healthy = tel.station == 6, tel.station == 5
    assert tel.temp_c[worn & last] > tel.temp_c[healthy & last] + 3.0
    assert tel.current_a[worn & moving].mean() > tel.current_a[healthy & moving].mean() + 0.1


def test_the_worn_bearing_seizes_if_nobody_acts_and_stops_the_line_around_it() -> None:
    spec = default_line(wearing_station=6)
    line = SewingLine(spec, seed=1, start_ns=START, wear_acceleration=10.0, vibration=False)
    out = run(line, 3600)
    seized = [s for s in out.states if s.station == 6 and s.state == "breakdown"]
    assert len(seized) == 1 and seized[0].reason == "bearing seized"
    assert line.state_of(6) == "breakdown" and line.wear[6] == 1.0
    t_seized = seized[0].ts_ns
    assert all(s.station != 6 for s in out.states if s.ts_ns > t_seized)  # stays down
    assert counts_of(out, 6).max() < t_seized
    assert line.state_of(7) == "starved" and line.state_of(5) == "blocked"
    assert np.all(line.wear[np.arange(12) != 6] < 0.2)
    tel = out.telemetry
    after = (tel.station == 6) & (tel.ts > t_seized)
    assert np.all(tel.speed_spm[after] == 0)


def test_derating_cuts_the_wear_rate_by_the_cube_of_speed() -> None:
    spec = default_line(wearing_station=6)
    line = SewingLine(spec, seed=1, start_ns=START, vibration=False)
    full = line.wear_rate_per_h(6)
    assert full == pytest.approx(0.15)
    detail = line.apply(6, "set_speed", 0.6)
    assert detail == "speed set to 60% of nominal"
    assert line.wear_rate_per_h(6) == pytest.approx(full * 0.6**3)
    assert line.speed_fraction[6] == 0.6
    out = run(line, 600)
    tel = out.telemetry
    speeds = set(np.unique(tel.speed_spm[tel.station == 6]))
    assert 0.6 * spec.stations[6].nominal_spm in speeds
    assert speeds <= {0.0, 0.6 * spec.stations[6].nominal_spm}


def test_derated_bearing_wears_less_over_the_same_time() -> None:
    spec = default_line(wearing_station=6)
    lines = [SewingLine(spec, seed=1, start_ns=START, vibration=False) for _ in range(2)]
    lines[1].apply(6, "set_speed", 0.6)
    gained = [run(line, 1800) and line.wear[6] - 0.55 for line in lines]
    # 0.6³ per running hour; a derated station also runs longer per piece, so < 0.6² overall
    assert gained[1] < 0.6**2 * gained[0]
    assert gained[1] > 0.6**3 * gained[0] * 0.9


def test_maintenance_replaces_the_bearing_and_returns_the_station_to_production() -> None:
    spec = default_line(wearing_station=6)
    line = SewingLine(spec, seed=1, start_ns=START, wear_acceleration=10.0, vibration=False)
    run(line, 3600)
    assert line.state_of(6) == "breakdown"
    line.apply(6, "set_speed", 0.5)
    assert "10 min" in line.apply(6, "maintenance", None)
    t0 = line.now_ns
    out = run(line, 599)
    assert [(s.state, s.reason) for s in out.states if s.station == 6] == [
        ("maintenance", "maintenance: replace seized bearing")
    ]
    assert "already in maintenance" in line.apply(6, "maintenance", None)
    tel = out.telemetry
    locked = tel.station == 6
    assert np.all(tel.current_a[locked] == 0) and np.all(tel.speed_spm[locked] == 0)
    out = run(line, 1.25)
    back = [s for s in out.states if s.station == 6]
    assert back[0].state == "running" and back[0].reason == "maintenance done, fresh bearing"
    assert back[0].ts_ns == t0 + 600 * S + S // 4  # starts on the next step, lasts 600 s
    assert line.wear[6] <= 0.031 and line.speed_fraction[6] == 1.0
    assert line.wear_rate_per_h(6) == pytest.approx(0.15 * 10)
    out = run(line, 600)
    assert len(counts_of(out, 6)) >= 5 and len(counts_of(out, 7)) >= 5  # the line flows again


def test_planned_maintenance_on_a_running_station() -> None:
    line = SewingLine(default_line(), seed=1, start_ns=START, maintenance_s=120, vibration=False)
    run(line, 60)
    line.apply(3, "maintenance", None)
    out = run(line, 200)
    states = [(s.state, s.reason) for s in out.states if s.station == 3]
    assert states[0] == ("maintenance", "planned maintenance")
    assert states[1][0] == "running"


def test_andon_lights_and_clears_in_telemetry() -> None:
    line = SewingLine(default_line(), seed=1, start_ns=START, vibration=False)
    assert line.apply(2, "andon", 1) == "andon lit"
    out = run(line, 5)
    assert np.array_equal(out.telemetry.andon.reshape(5, 12)[:, 2], np.ones(5))
    assert out.telemetry.andon.reshape(5, 12)[:, [0, 1, 3]].sum() == 0
    assert line.apply(2, "clear_andon", None) == "andon cleared"
    assert run(line, 2).telemetry.andon.sum() == 0
    line.apply(2, "andon", 1.0)
    line.apply(2, "andon", 0)
    assert run(line, 2).telemetry.andon.sum() == 0


@pytest.mark.parametrize(
    ("station", "action", "value", "message"),
    [
        (0, "set_speed", 0.29, r"0\.3\.\.1\.0"),
        (0, "set_speed", 1.01, r"0\.3\.\.1\.0"),
        (0, "set_speed", None, r"0\.3\.\.1\.0"),
        (0, "set_speed", float("nan"), r"0\.3\.\.1\.0"),
        (0, "andon", 2.0, r"0\.\.1"),
        (0, "andon", None, r"0\.\.1"),
        (0, "self_destruct", None, "set_speed, maintenance, andon, clear_andon"),
        (12, "andon", 1.0, r"0\.\.11"),
        (-1, "andon", 1.0, r"0\.\.11"),
    ],
)
def test_commands_outside_limits_are_refused_with_the_allowed_range(
    station: int, action: str, value: float | None, message: str
) -> None:
    line = SewingLine(default_line(), seed=1, start_ns=START, vibration=False)
    with pytest.raises(SimCommandError, match=message):
        line.apply(station, action, value)
    assert issubclass(SimCommandError, ValueError)
    assert np.all(line.speed_fraction == 1.0)


def test_bad_steps_and_going_back_in_time_are_refused() -> None:
    spec = default_line()
    with pytest.raises(ValueError, match="divide one second"):
        SewingLine(spec, 1, START, dt_s=0.3)
    with pytest.raises(ValueError, match="wear_acceleration"):
        SewingLine(spec, 1, START, wear_acceleration=0)
    line = SewingLine(spec, 1, START, vibration=False)
    run(line, 10)
    with pytest.raises(ValueError, match="already at"):
        line.advance_to(START)
    empty = line.advance_to(line.now_ns + S // 10)  # less than one step: nothing happens
    assert len(empty.telemetry) == 0 and empty.states == [] and line.now_ns == START + 10 * S
