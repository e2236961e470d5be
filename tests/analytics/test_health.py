"""Baseline, health index and drift charts: slow references and statistical behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.baseline import robust_baseline
from analytics.drift import cusum, ewma_drift, ewma_limit
from analytics.health import health_index

# --- baseline ------------------------------------------------------------------------


def test_baseline_matches_median_and_mad_per_row_ignoring_nan() -> None:
    rng = np.random.default_rng(5)
    x = rng.lognormal(0.0, 0.3, size=(6, 41))
    x[rng.random(x.shape) < 0.2] = np.nan
    x[2, 3] = 1e6  # one wild reading must not move a robust baseline much
    loc, scale = robust_baseline(x)
    for i, row in enumerate(x):
        vals = sorted(float(s) for s in row if not math.isnan(s))
        med = float(np.median(vals))
        mad = float(np.median([abs(s - med) for s in vals])) * 1.4826
        assert loc[i] == pytest.approx(med, rel=1e-14)
        assert scale[i] == pytest.approx(max(mad, 0.01 * abs(med)), rel=1e-14)


def test_baseline_scale_estimates_sigma_of_gaussian_data() -> None:
    x = np.random.default_rng(2).normal(4.0, 0.5, size=(3, 20_000))
    loc, scale = robust_baseline(x.T, axis=0)
    np.testing.assert_allclose(loc, 4.0, atol=0.02)
    np.testing.assert_allclose(scale, 0.5, rtol=0.03)


def test_baseline_scale_is_floored_and_short_rows_have_no_baseline() -> None:
    x = np.full((3, 20), 2.0)
    x[1] = 0.0
    x[2, 5:] = np.nan  # 5 finite samples < min_samples=10
    loc, scale = robust_baseline(x)  # no all-NaN warning either
    np.testing.assert_array_equal(loc, [2.0, 0.0, np.nan])
    np.testing.assert_array_equal(scale, [0.02, 1e-9, np.nan])


# --- health index --------------------------------------------------------------------


def test_health_is_one_at_baseline_and_zero_at_the_failure_levels() -> None:
    h = health_index(
        rms=np.array([2.0, 6.0, 2.0, 1.0, 2.0 * math.sqrt(3.0), 2.0]),
        kurtosis=np.array([3.2, 3.2, 8.0, 3.2, 3.2, 5.6]),
        base_rms=2.0,
        base_kurt=3.2,
    )
    # baseline; 3x RMS; kurtosis at 8; quieter than baseline; halfway on the log scale;
    # kurtosis halfway from 3.2 to 8.
    np.testing.assert_allclose(h, [1.0, 0.0, 0.0, 1.0, 0.5, 0.5], atol=1e-15)


ratios = st.floats(0.01, 100.0)
kurts = st.floats(1.0, 30.0)


@settings(max_examples=200, deadline=None)
@given(r=st.tuples(ratios, ratios), k=st.tuples(kurts, kurts), base_k=st.floats(1.5, 7.5))
def test_health_falls_monotonically_with_rms_ratio_and_kurtosis(r, k, base_k) -> None:
    (r1, r2), (k1, k2) = sorted(r), sorted(k)
    h = health_index(np.array([r1, r2, r1, r1]) * 3.7, np.array([k1, k1, k1, k2]), 3.7, base_k)
    assert ((h >= 0) & (h <= 1)).all()
    assert h[0] >= h[1]
    assert h[2] >= h[3]


def test_unknown_features_give_unknown_health() -> None:
    h = health_index(np.array([np.nan, 1.0]), np.array([3.0, np.nan]), 1.0, 3.0)
    assert np.isnan(h).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"base_rms": 0.0}, "base_rms must be > 0"),
        ({"base_kurt": 9.0}, "not below kurt_fail=8.0"),
        ({"fail_ratio": 1.0}, "fail_ratio must be > 1"),
        ({"rms": -1.0}, "rms must not be negative"),
    ],
)
def test_impossible_health_inputs_are_refused(kwargs, match: str) -> None:
    args = {"rms": 1.0, "kurtosis": 3.0, "base_rms": 1.0, "base_kurt": 3.0} | kwargs
    with pytest.raises(ValueError, match=match):
        health_index(**args)


# --- drift charts --------------------------------------------------------------------


def _ewma_loop(z: np.ndarray, lam: float, L: float):
    stat = np.zeros_like(z)
    alarm = np.zeros(z.shape, bool)
    for m in range(z.shape[0]):
        e = 0.0
        for t in range(z.shape[1]):
            e = lam * z[m, t] + (1 - lam) * e
            ucl = L * math.sqrt(lam / (2 - lam) * (1 - (1 - lam) ** (2 * (t + 1))))
            stat[m, t], alarm[m, t] = e, e > ucl
    return stat, alarm


def _cusum_loop(z: np.ndarray, k: float, h: float):
    stat = np.zeros_like(z)
    for m in range(z.shape[0]):
        s = 0.0
        for t in range(z.shape[1]):
            s = max(0.0, s + z[m, t] - k)
            stat[m, t] = s
    return stat, stat > h


def _first(alarm: np.ndarray) -> list[int]:
    return [int(np.argmax(row)) if row.any() else -1 for row in alarm]


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.tuples(st.integers(1, 5), st.integers(1, 80)),
    lam=st.floats(0.01, 1.0),
    L=st.floats(0.5, 4.0),
    shift=st.floats(0.0, 3.0),
)
def test_ewma_matches_the_textbook_recursion(seed, shape, lam, L, shift) -> None:
    rng = np.random.default_rng(seed)
    loc, scale = rng.normal(10, 1, shape[0]), rng.uniform(0.1, 2, shape[0])
    x = loc[:, None] + scale[:, None] * (rng.standard_normal(shape) + shift)
    r = ewma_drift(x, loc, scale, lam=lam, L=L)
    stat, alarm = _ewma_loop((x - loc[:, None]) / scale[:, None], lam, L)
    np.testing.assert_allclose(r.statistic, stat, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(r.alarm, alarm)
    np.testing.assert_array_equal(r.first_alarm_index, _first(alarm))


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    shape=st.tuples(st.integers(1, 5), st.integers(1, 80)),
    k=st.floats(0.0, 1.5),
    h=st.floats(0.5, 8.0),
    shift=st.floats(-1.0, 3.0),
)
def test_cusum_matches_the_textbook_recursion(seed, shape, k, h, shift) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) + shift
    r = cusum(x, 0.0, 1.0, k=k, h=h)
    stat, alarm = _cusum_loop(x, k, h)
    np.testing.assert_allclose(r.statistic, stat, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(r.alarm, alarm)
    np.testing.assert_array_equal(r.first_alarm_index, _first(alarm))


def _average_run_length(first: np.ndarray, n: int) -> float:
    """Exponential-model estimate from censored runs: exposure / number of alarms."""
    alarms = int((first >= 0).sum())
    return float(np.where(first >= 0, first + 1, n).sum() / max(alarms, 1))


@pytest.mark.parametrize(("chart", "kwargs"), [(ewma_drift, {"lam": 0.2, "L": 3.0}), (cusum, {})])
def test_in_control_noise_rarely_alarms(chart, kwargs) -> None:
    # One-sided charts: in-control ARL is about 1 100 (EWMA 0.2/3) and 940 (CUSUM 0.5/5).
    # 500 machines x 200 samples give ~90 first alarms; demand an ARL well above the
    # 370 of a two-sided 3-sigma Shewhart chart.
    x = np.random.default_rng(11).normal(5.0, 2.0, size=(500, 200))
    r = chart(x, np.full(500, 5.0), np.full(500, 2.0), **kwargs)
    assert (r.first_alarm_index >= 0).mean() < 0.3
    assert _average_run_length(r.first_alarm_index, 200) > 500


@pytest.mark.parametrize(("chart", "kwargs"), [(ewma_drift, {"lam": 0.2, "L": 3.0}), (cusum, {})])
def test_a_two_sigma_step_is_caught_within_a_few_samples(chart, kwargs) -> None:
    x = np.random.default_rng(12).standard_normal((500, 200))
    x[:, 100:] += 2.0
    r = chart(x, 0.0, 1.0, **kwargs)
    after = r.alarm[:, 100:]
    assert after.any(axis=1).all()
    delay = after.argmax(axis=1) + 1
    assert np.median(delay) <= 6  # textbook ARL at 2 sigma is about 4-5 for both charts
    assert delay.max() <= 25


def test_ewma_limit_starts_narrow_and_reaches_the_asymptote() -> None:
    limit = ewma_limit(400, lam=0.2, L=3.0)
    assert limit[0] == pytest.approx(3.0 * 0.2, rel=1e-12)  # first sample: sd of E_1 is lam
    assert limit[-1] == pytest.approx(3.0 * math.sqrt(0.2 / 1.8), rel=1e-12)
    assert (np.diff(limit) >= 0).all()
    np.testing.assert_array_equal(ewma_limit(3, lam=1.0, L=3.0), [3.0, 3.0, 3.0])


@pytest.mark.parametrize(
    ("x", "loc", "scale", "match"),
    [
        (np.zeros(5), 0.0, 1.0, "must be 2-D"),
        (np.zeros((2, 5)), np.zeros(3), 1.0, r"loc must be a scalar or \[n_machines=2\]"),
        (np.zeros((2, 5)), 0.0, np.array([1.0, 0.0]), r"scale must be > 0 at index \(1,\)"),
        (np.array([[0.0, np.nan]]), 0.0, 1.0, "drop or fill missing samples"),
    ],
)
def test_drift_inputs_are_checked(x, loc, scale, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        ewma_drift(x, loc, scale)
    with pytest.raises(ValueError, match=match):
        cusum(x, loc, scale)


@pytest.mark.parametrize("chart", [ewma_drift, cusum])
def test_a_machine_without_baseline_gets_no_verdict(chart) -> None:
    x = np.full((2, 30), 100.0)  # far above any baseline
    r = chart(x, np.array([1.0, np.nan]), np.array([1.0, np.nan]))
    assert r.alarm[0].all()
    assert np.isnan(r.statistic[1]).all() and not r.alarm[1].any()
    np.testing.assert_array_equal(r.first_alarm_index, [0, -1])


def test_drift_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="0 < lam <= 1"):
        ewma_drift(np.zeros((1, 3)), 0.0, 1.0, lam=0.0)
    with pytest.raises(ValueError, match="k >= 0 and h > 0"):
        cusum(np.zeros((1, 3)), 0.0, 1.0, h=0.0)
