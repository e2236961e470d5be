"""One retry policy for every link that can fail: bounded, jittered, honouring Retry-After.

A dead PLC link, a broker that is not there yet, an InfluxDB that answers 503: each
waits `base_s × 2**(failures-1)`, at most `max_s`, shortened by up to `jitter` at random
so that thirty gateways coming back after a power cut do not knock on the broker in
step. A server that says when to come back (HTTP Retry-After) is believed, up to
`retry_after_max_s`. The timings live here, in one place; tests pass a fast policy.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field

__all__ = ["Backoff", "BackoffPolicy"]


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    """How long to wait after the n-th consecutive failure."""

    base_s: float = 1.0
    max_s: float = 30.0
    jitter: float = 0.25  # each wait is shortened by up to this fraction
    retry_after_max_s: float = 60.0

    def __post_init__(self) -> None:
        if not (0 < self.base_s <= self.max_s) or not 0 <= self.jitter < 1:
            raise ValueError(
                f"backoff base_s={self.base_s}, max_s={self.max_s}, jitter={self.jitter}: "
                "need 0 < base_s <= max_s and 0 <= jitter < 1"
            )

    def delay(
        self, failures: int, rng: random.Random | None = None, retry_after_s: float | None = None
    ) -> float:
        """Seconds to wait after `failures` consecutive failures (0 failures: no wait)."""
        if failures <= 0:
            return 0.0
        if retry_after_s is not None and retry_after_s >= 0:
            return min(retry_after_s, self.retry_after_max_s)
        wait = min(self.max_s, self.base_s * 2.0 ** min(failures - 1, 60))
        return wait * (1.0 - self.jitter * (rng or random).random())


@dataclass(slots=True)
class Backoff:
    """The failure count of one link under a policy: `failed()` waits, `succeeded()` resets."""

    policy: BackoffPolicy = field(default_factory=BackoffPolicy)
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay(self, retry_after_s: float | None = None) -> float:
        """Count one more failure and return how long to wait before the next try."""
        self.failures += 1
        return self.policy.delay(self.failures, self.rng, retry_after_s)

    async def failed(self, retry_after_s: float | None = None) -> float:
        """Count one more failure and sleep the policy's wait; returns the wait."""
        wait = self.next_delay(retry_after_s)
        await asyncio.sleep(wait)
        return wait

    def succeeded(self) -> None:
        self.failures = 0
