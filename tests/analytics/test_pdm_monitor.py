"""`analytics.pdm.HealthMonitor` and `RulModel`: real arrays through the public API."""

from __future__ import annotations

import numpy as np

from analytics.pdm import HealthMonitor, RulModel

HOUR = 3600.0


def _snapshot(rng: np.random.Generator, level: float = 1.0) -> np.ndarray:
    """RMS first (the level the monitor tells running from stopped by), then kurtosis, peak."""
    rms = level * (1.0 + 0.03 * rng.standard_normal())
    return np.array([rms, 3.0 + 0.1 * rng.standard_normal(), 4.0 * rms * (1 + 0.03 * rng.standard_normal())])


def test_a_machine_stopped_for_days_and_restarted_raises_no_alarm() -> None:
    rng = np.random.default_rng(0)
    mon = HealthMonitor()
    t = 0.0
    for _ in range(100):  # learn, then run healthy
        t += 600.0
        assert not mon.update(t, _snapshot(rng)).alarm
    for _ in range(50):  # stopped: vibration at the sensor's noise, every 10 minutes for 3 days... and a gap
        t += 600.0
        u = mon.update(t, _snapshot(rng, level=0.01))
        assert u.why == "stopped" and not u.alarm
    t += 3 * 24 * HOUR
    shifted = []
    for _ in range(200):  # restarted: levels sit 40 % higher (re-seated, cold grease) and stay there
        t += 600.0
        u = mon.update(t, _snapshot(rng, level=1.4))
        shifted.append(u)
    assert not any(u.alarm for u in shifted)
    assert shifted[0].why == "settling" and shifted[3].why == "learning" and shifted[-1].why == "ok"


def _episodic(rng: np.random.Generator, n: int, quiet: slice) -> np.ndarray:
    """RMS, then a kurtosis that comes in episodes (as IMS bearing 3's does), then peak; quiet in `quiet`."""
    rms = 1.0 + 0.03 * rng.standard_normal(n)
    kurt = 4.4 + 0.08 * rng.standard_normal(n) + 0.5 * (np.sin(np.arange(n) / 15.0) > 0.3)
    kurt[quiet] = 4.4 + 0.08 * rng.standard_normal(quiet.stop - quiet.start)
    return np.column_stack([rms, kurt, 4.0 * rms])


def _stop_and_restart(mon: HealthMonitor, x: np.ndarray, at: int, scale: float) -> list:
    """Run x with a 3-day stop before row `at`; rows after it have RMS and peak times `scale`."""
    out, t = [], 0.0
    for i, row in enumerate(x):
        t += 600.0
        if i == at:
            for _ in range(6):
                t += 600.0
                assert mon.update(t, row * [0.01, 1.0, 0.01]).why == "stopped"
            t += 3 * 24 * HOUR
        out.append(mon.update(t, row * ([scale, 1.0, scale] if i >= at else 1.0)))
    return out


def test_a_restart_in_a_quiet_stretch_of_an_episodic_feature_holds_its_baseline() -> None:
    x = _episodic(np.random.default_rng(3), 500, slice(200, 260))
    after = _stop_and_restart(HealthMonitor(), x, 200, 1.3)[200:]
    assert not any(u.alarm for u in after)
    # the same restart re-baselined on the quiet stretch alarms when the episodes return:
    relearnt = _stop_and_restart(HealthMonitor(hold_z=0.0), x, 200, 1.3)[200:]
    assert any(u.alarm and u.why == "drift:1" for u in relearnt)


def test_wear_after_a_long_stop_still_raises_the_alarm() -> None:
    rng = np.random.default_rng(4)
    x = np.vstack([_snapshot(rng) for _ in range(400)])
    x[250:, [0, 2]] *= np.exp(np.log(1.01) * np.arange(150))[:, None]
    out = _stop_and_restart(HealthMonitor(), x, 150, 1.3)
    first = next(i for i, u in enumerate(out) if u.alarm)
    assert 250 <= first <= 290 and out[first].why in ("drift:0", "drift:2")


def test_the_running_flag_decides_and_a_short_stop_settles_before_judging() -> None:
    rng = np.random.default_rng(6)
    mon = HealthMonitor()
    t = 0.0
    for _ in range(60):
        t += 600.0
        mon.update(t, _snapshot(rng))
    t += 600.0
    u = mon.update(t, _snapshot(rng), running=False)  # full-level vibration, but the flag says stopped
    assert u.why == "stopped" and not u.alarm
    for _ in range(3):  # a run-up after a short stop: levels three times the normal ones
        t += 600.0
        assert mon.update(t, _snapshot(rng, level=3.0), running=True).why == "settling"
    rest = []
    for _ in range(50):
        t += 600.0
        rest.append(mon.update(t, _snapshot(rng), running=True))
    assert not any(u.alarm for u in rest) and rest[-1].why == "ok"


def test_a_steady_rise_raises_the_alarm_and_names_the_feature() -> None:
    rng = np.random.default_rng(1)
    mon = HealthMonitor()
    t = 0.0
    for _ in range(60):
        t += 600.0
        mon.update(t, _snapshot(rng))
    out = []
    for i in range(100):
        t += 600.0
        out.append(mon.update(t, _snapshot(rng, level=1.0 + 0.01 * i)))
    first = next(i for i, u in enumerate(out) if u.alarm)
    assert 5 <= first <= 40
    assert out[first].why.startswith("drift:")
    assert out[-1].health < out[0].health


def test_maintenance_starts_learning_again() -> None:
    rng = np.random.default_rng(2)
    mon = HealthMonitor(learn=10)
    for i in range(20):
        mon.update(600.0 * i, _snapshot(rng))
    mon.maintenance()
    assert mon.update(600.0 * 21, _snapshot(rng, level=2.0)).why == "learning"


def _unit(rng: np.random.Generator, life: int) -> np.ndarray:
    """Two sensors that drift exponentially towards failure, one that only carries noise."""
    c = np.arange(life, dtype=np.float64)
    wear = np.exp((c - life) / 40.0)
    return np.column_stack([1.0 + 0.5 * wear, 2.0 - 0.3 * wear, np.zeros(life)]) + 0.01 * rng.standard_normal(
        (life, 3)
    )


def test_rul_model_fits_runs_to_failure_and_always_gives_both_ends() -> None:
    rng = np.random.default_rng(5)
    units = [_unit(rng, int(life)) for life in rng.integers(150, 250, 30)]
    model = RulModel().fit(units)
    errors = []
    for life in (160, 200, 240):
        unit = _unit(rng, life)
        for cut in (life - 100, life - 50, life - 20):
            est, low, high = model.predict(unit[:cut])
            truth = life - cut
            assert low <= est <= high and np.isfinite(high)
            errors.append(est - min(truth, 125))
    assert np.sqrt(np.mean(np.square(errors))) < 25


def test_rul_band_covers_held_out_units_near_its_nominal_level_and_short_histories_work() -> None:
    rng = np.random.default_rng(7)
    model = RulModel(coverage=0.8).fit([_unit(rng, int(life)) for life in rng.integers(150, 250, 30)])
    assert model.smoothing in model.inner_rmse and len(model.inner_rmse) >= 2
    hits = []
    for life in rng.integers(150, 250, 40):
        unit = _unit(rng, int(life))
        left = int(rng.integers(5, 146))
        _est, low, high = model.predict(unit[: life - left])
        hits.append(low <= left <= high)
    assert 0.6 <= np.mean(hits) <= 0.97  # nominal 0.8; 40 draws
    est, low, high = model.predict(_unit(rng, 200)[:1])
    assert 0.0 <= low <= est <= high < np.inf
