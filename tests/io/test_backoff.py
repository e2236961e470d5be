"""The one retry policy: doubling, bounded, jittered downwards, Retry-After believed up to a cap."""

from __future__ import annotations

import random

import pytest

from tonle.io.backoff import Backoff, BackoffPolicy


def test_waits_double_from_the_base_and_stop_at_the_maximum():
    p = BackoffPolicy(base_s=1.0, max_s=10.0, jitter=0.0)
    assert [p.delay(n) for n in range(0, 7)] == [0.0, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]


def test_jitter_only_shortens_a_wait_and_by_at_most_its_fraction():
    p = BackoffPolicy(base_s=2.0, max_s=2.0, jitter=0.25)
    rng = random.Random(7)
    waits = [p.delay(1, rng) for _ in range(2000)]
    assert min(waits) >= 1.5 and max(waits) <= 2.0
    assert max(waits) - min(waits) > 0.4  # spread, so gateways do not reconnect in step


def test_retry_after_is_believed_up_to_its_cap():
    p = BackoffPolicy(retry_after_max_s=60.0)
    assert p.delay(3, retry_after_s=12.0) == 12.0
    assert p.delay(1, retry_after_s=3600.0) == 60.0


def test_a_success_resets_the_count():
    b = Backoff(BackoffPolicy(base_s=1.0, max_s=100.0, jitter=0.0))
    assert [b.next_delay() for _ in range(3)] == [1.0, 2.0, 4.0]
    b.succeeded()
    assert b.next_delay() == 1.0


@pytest.mark.parametrize("kw", [{"base_s": 0.0}, {"base_s": 5.0, "max_s": 1.0}, {"jitter": 1.0}])
def test_an_impossible_policy_is_refused(kw):
    with pytest.raises(ValueError):
        BackoffPolicy(**kw)
