"""Online baselines and feature drift charts against slow per-sample references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.baseline import OnlineBaseline, robust_baseline, robust_z
from analytics.drift import DriftState, feature_drift


def _slow_charts(z: np.ndarray, k: float, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """The textbook recursions, one sample at a time; NaN leaves a chart where it was."""
    cus = np.zeros_like(z)
    ewm = np.zeros_like(z)
    m, n, nf = z.shape
    for i in range(m):
        for f in range(nf):
            s = e = 0.0
            for t in range(n):
                if not math.isnan(z[i, t, f]):
                    s = max(0.0, s + z[i, t, f] - k)
                    e = lam * z[i, t, f] + (1 - lam) * e
                cus[i, t, f], ewm[i, t, f] = s, e
    return cus, ewm


@given(st.integers(min_value=0, max_value=2**31), st.floats(min_value=0.0, max_value=2.0))
@settings(max_examples=30, deadline=None)
def test_charts_match_the_recursions_even_with_missing_samples(seed: int, k: float) -> None:
    rng = np.random.default_rng(seed)
    z = rng.normal(0.5, 1.5, size=(3, 60, 2))
    z[rng.random(z.shape) < 0.2] = np.nan
    d = feature_drift(z, k=k, lam=0.3)
    cus, ewm = _slow_charts(z, k, 0.3)
    np.testing.assert_allclose(d.cusum, cus, atol=1e-9)
    np.testing.assert_allclose(d.ewma, ewm, atol=1e-9)


def test_charts_continue_across_calls_as_if_fed_at_once() -> None:
    z = np.random.default_rng(1).normal(0.8, 1.0, size=(4, 90, 3))
    whole = feature_drift(z)
    first = feature_drift(z[:, :37])
    second = feature_drift(z[:, 37:], state=first.state)
    np.testing.assert_allclose(second.cusum, whole.cusum[:, 37:], atol=1e-9)
    np.testing.assert_allclose(second.ewma, whole.ewma[:, 37:], atol=1e-12)


def test_ewma_stays_finite_over_very_long_series() -> None:
    z = np.full((1, 20_000, 1), 2.0)
    d = feature_drift(z, lam=0.2)
    assert d.ewma[0, -1, 0] == pytest.approx(2.0)


def test_first_alarm_names_the_sample_and_the_feature_that_crossed() -> None:
    z = np.zeros((2, 30, 3))
    z[0, 10:, 2] = 5.0  # 4 sigma above k = 1 each sample: S = 4, 8, 12 -> alarm at 12 (h = 8)
    d = feature_drift(z, k=1.0, h=8.0)
    assert d.first_alarm.tolist() == [12, -1]
    assert d.first_feature.tolist() == [2, -1]
    assert d.alarm[0, 12:].all() and not d.alarm[0, :12].any()


def test_online_baseline_equals_the_batch_baseline_of_the_same_samples() -> None:
    rng = np.random.default_rng(2)
    x = rng.lognormal(0, 0.3, size=(3, 50, 2))
    x[0, 5] = np.nan  # a missing burst is skipped, not learnt
    base = OnlineBaseline.empty(3, 2, capacity=20, min_samples=10, abs_floor=1e-9)
    learnt = np.concatenate([base.update(x[:, :7]), base.update(x[:, 7:26]), base.update(x[:, 26:])], axis=1)
    assert learnt.sum(axis=1).tolist() == [20, 20, 20] and base.learned.all()
    assert not learnt[0, 5] and learnt[0, 20] and not learnt[1, 20]  # machine 0 skipped one
    loc, scale = base.location_scale()
    for i in range(3):
        samples = x[i][learnt[i]]
        ref = robust_baseline(samples.T, min_samples=10, rel_floor=0.0)
        np.testing.assert_allclose(loc[i], ref.location, rtol=1e-12)
        np.testing.assert_allclose(scale[i], ref.scale, rtol=1e-12)


def test_baseline_is_unknown_until_enough_samples_and_relearnt_after_reset() -> None:
    base = OnlineBaseline.empty(2, 1, capacity=10, min_samples=5, abs_floor=np.array([0.05]))
    base.update(np.ones((2, 4, 1)))
    assert np.isnan(base.location_scale()[0]).all()
    base.update(np.ones((2, 1, 1)))
    loc, scale = base.location_scale()
    np.testing.assert_array_equal(loc[:, 0], [1.0, 1.0])
    np.testing.assert_array_equal(scale[:, 0], [0.05, 0.05])  # MAD 0: the floor holds
    base.reset(np.array([True, False]))
    assert base.count.tolist() == [0, 5] and np.isnan(base.location_scale()[0][0, 0])


def test_robust_z_and_bad_shapes() -> None:
    z = robust_z(np.array([[[3.0, 0.0]]]), np.array([[1.0, 0.0]]), np.array([[0.5, 2.0]]))
    np.testing.assert_array_equal(z, [[[4.0, 0.0]]])
    with pytest.raises(ValueError, match="location/scale"):
        robust_z(np.zeros((2, 3, 4)), np.zeros((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="state is for shape"):
        feature_drift(np.zeros((2, 3, 4)), state=DriftState.zeros(1, 4))
    with pytest.raises(ValueError, match="abs_floor"):
        OnlineBaseline.empty(2, 3, abs_floor=np.array([0.1, 0.1]))


def test_in_control_data_rarely_alarm_and_a_four_sigma_rise_is_caught_within_three_samples() -> None:
    rng = np.random.default_rng(3)
    quiet = feature_drift(rng.normal(size=(200, 500, 1)))  # 100,000 in-control samples
    assert (quiet.first_alarm >= 0).mean() < 0.01
    shifted = feature_drift(rng.normal(4.0, 1.0, size=(200, 20, 1)))
    assert np.median(shifted.first_alarm) <= 2  # index 2 = third sample
