"""Remaining useful life from a health trend, and the fused health index, on known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analytics.health import fit_linear_health
from analytics.rul import rul_from_health, trailing_mean

T = np.arange(200.0)
RATE = 0.03
FAIL_T = math.log(100) / RATE  # damage 0.01 e^(0.03 t) reaches 1 at t = 153.5


def _health(t: np.ndarray = T) -> np.ndarray:
    return 1.0 - 0.01 * np.exp(RATE * t)


@pytest.mark.parametrize("cut", [60, 100, 140])
def test_noiseless_exponential_damage_gives_the_exact_failure_time(cut: int) -> None:
    r = rul_from_health(T[:cut], _health()[None, :cut], noise=1e-4, smooth=1)
    assert r.rul[0] == pytest.approx(FAIL_T - (cut - 1), rel=1e-9)
    assert r.rate[0] == pytest.approx(RATE, rel=1e-9)
    assert r.lower[0] == pytest.approx(r.rul[0], rel=1e-6) and r.upper[0] == pytest.approx(r.rul[0], rel=1e-6)


def test_smoothing_does_not_delay_the_estimate() -> None:
    # The trailing mean is paired with the mean time of its window, so there is no lag.
    r = rul_from_health(T[:120], _health()[None, :120], noise=1e-4, smooth=15)
    assert r.rul[0] == pytest.approx(FAIL_T - 119, abs=1.0)


def test_noisy_trend_is_roughly_unbiased_and_the_band_holds_most_truths() -> None:
    rng = np.random.default_rng(0)
    h = _health() + rng.normal(0, 0.02, size=(400, T.size))
    for cut in (110, 140):
        r = rul_from_health(T[:cut], h[:, :cut], noise=0.02, coverage=0.8)
        truth = FAIL_T - (cut - 1)
        assert np.median(r.rul) == pytest.approx(truth, abs=max(3.0, 0.1 * truth))
        inside = np.mean((r.lower <= truth) & (truth <= r.upper))
        assert 0.6 <= inside <= 0.95  # nominal 80 %; measured 0.70 and 0.77 (see docs)
        assert (r.lower <= r.rul).all() and (r.rul <= r.upper).all()


def test_flat_health_has_no_end_in_sight() -> None:
    h = 1.0 + np.random.default_rng(1).normal(0, 0.02, size=(5, 100))
    r = rul_from_health(np.arange(100.0), h, noise=0.02)
    assert np.isinf(r.rul).all() and np.isinf(r.upper).all() and np.isnan(r.rate).all()
    capped = rul_from_health(np.arange(100.0), h, noise=0.02, max_rul=125.0)
    assert (capped.rul == 125.0).all()


def test_machines_are_fitted_independently_in_one_call() -> None:
    rng = np.random.default_rng(2)
    h = np.stack([_health(), _health(T * 1.5), np.ones(T.size)]) + rng.normal(0, 0.01, (3, T.size))
    h[1, 100:] = np.nan  # a shorter record, padded at the end
    t_rows = np.broadcast_to(T[:120], (3, 120))
    together = rul_from_health(t_rows, h[:, :120], noise=0.01)
    for i in range(3):
        alone = rul_from_health(T[:120], h[i : i + 1, :120], noise=0.01)
        np.testing.assert_array_equal(together.rul[i], alone.rul[0])
        np.testing.assert_array_equal(together.lower[i], alone.lower[0])


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ValueError, match="h_fail must be below h_ref"):
        rul_from_health(T[:10], _health()[None, :10], h_fail=1.0)
    with pytest.raises(ValueError, match="coverage"):
        rul_from_health(T[:10], _health()[None, :10], coverage=1.0)


def test_trailing_mean_ignores_missing_values() -> None:
    x = np.array([[1.0, np.nan, 3.0, 5.0, 7.0]])
    np.testing.assert_allclose(trailing_mean(x, 2), [[1.0, np.nan, 3.0, 4.0, 6.0]])


def test_linear_health_recovers_a_known_fusion() -> None:
    rng = np.random.default_rng(3)
    damage = np.r_[np.zeros(300), np.ones(300)]  # healthy rows then failed rows
    sensors = np.column_stack(
        [
            20 + 2.0 * damage + rng.normal(0, 0.2, damage.size),  # rises with damage
            5 - 1.0 * damage + rng.normal(0, 0.2, damage.size),  # falls with damage
            rng.normal(0, 1, damage.size),  # unrelated
            np.full(damage.size, 7.0),  # constant: weight 0
        ]
    )
    model = fit_linear_health(sensors, damage == 0, damage == 1)
    h = model(sensors)
    # Least squares shrinks towards the middle by the unexplained share of the variance.
    assert np.mean(h[:300]) == pytest.approx(1.0, abs=0.03)
    assert np.mean(h[300:]) == pytest.approx(0.0, abs=0.03)
    assert model.weights[0] < 0 < model.weights[1] and model.weights[3] == 0.0
    assert abs(model.weights[2]) < 0.05 * abs(model.weights[0])
    with pytest.raises(ValueError, match="need some healthy rows"):
        fit_linear_health(sensors, damage == 0, damage == 0)


def test_on_a_simulated_wearing_bearing_rul_warns_before_health_reaches_zero() -> None:
    """End to end: simulator bursts -> edge features -> health index -> RUL.

    The bearing wears from 0.1 at 0.15 per hour and seizes at wear 1 (6 h). Health
    reaches 0 (RMS 3x its baseline, or kurtosis 8) near 3 h, long before the seizure;
    the exponential model sees the decline accelerate and answers early, never late.
    """
    from analytics.health import health_index
    from firmware_sim.spec import StationSpec
    from firmware_sim.vibration import VibrationModel
    from tonle.kernels.features import vibration_features

    model = VibrationModel([StationSpec("M0", "seam", 0.5, 0.8)], 8192.0, 4096, np.random.default_rng(0))
    hours = np.arange(0, 6.0, 1 / 60)  # a burst a minute
    wear = 0.1 + 0.15 * hours
    f = vibration_features(model.bursts(np.zeros(hours.size, dtype=int), np.ones(hours.size), wear))
    learn = slice(0, 30)  # the first half hour is the baseline
    h = health_index(f.rms, f.kurtosis, np.median(f.rms[learn]), np.median(f.kurtosis[learn]))
    noise = 1.4826 * np.median(np.abs(h[learn] - np.median(h[learn])))
    zero_at = hours[np.argmax(h <= 0)]
    assert 2.5 < zero_at < 4.0  # measured 3.08 h
    for now in (1.75, 2.0, 2.5):
        seen = hours <= now
        r = rul_from_health(hours[seen], h[None, seen], noise=max(noise, 0.01))
        assert 0 < r.lower[0] <= r.rul[0] <= zero_at - now  # early, never late
        assert r.rul[0] >= 0.4 * (zero_at - now)  # but not uselessly early
