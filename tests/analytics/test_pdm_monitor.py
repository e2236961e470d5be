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
    assert shifted[0].why == "learning" and shifted[-1].why == "ok"


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
    # Band coverage is checked on C-MAPSS by analytics.pdm_validate, not on this toy fleet.
    assert np.sqrt(np.mean(np.square(errors))) < 25
