"""MQTT reconnects follow tonle.io.backoff: 0.2 s doubling to 5 s, jittered, reset on every connect."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from tonle.app.services import LocalBroker, free_port
from tonle.errors import MqttError
from tonle.io import mqtt
from tonle.io.backoff import BackoffPolicy
from tonle.io.mqtt import MqttConnection

FAST = BackoffPolicy(base_s=0.01, max_s=0.05)
WAIT_S = 30.0


async def _until(condition: Callable[[], bool], what: str) -> None:
    """Await a condition of the connection; fail naming it after WAIT_S."""
    async with asyncio.timeout(WAIT_S) as scope:
        while not condition():
            await asyncio.sleep(0.01)
    assert not scope.expired(), what


def test_the_reconnect_policy_is_the_documented_one() -> None:
    p = mqtt.RECONNECT_POLICY
    assert (p.base_s, p.max_s) == (0.2, 5.0) and 0 < p.jitter < 1
    assert MqttConnection("127.0.0.1", 1, "x").reconnect_policy is p


def test_a_missing_broker_is_retried_with_backoff_warned_once_and_forgotten_once_it_answers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    broker = LocalBroker(folder=tmp_path / "broker", port=port, secure=False)

    async def body() -> None:
        async with MqttConnection("127.0.0.1", port, "tonle-test-backoff", reconnect_policy=FAST) as m:
            await _until(lambda: m._backoff.failures >= 3, "three failed attempts")
            assert isinstance(m.last_error, MqttError)
            assert (m.last_error.host, m.last_error.port) == ("127.0.0.1", port)
            assert "mqtt.host and mqtt.port" in str(m.last_error)
            await asyncio.to_thread(broker.start)
            await m.wait_connected(WAIT_S)
            await _until(lambda: m.last_error is None, "the error forgotten")
            assert m._backoff.failures == 0
            await asyncio.to_thread(broker.stop)  # lost: retried from the shortest wait again
            await _until(lambda: m._backoff.failures >= 2, "retries after the loss")
            await asyncio.to_thread(broker.start)
            await m.wait_connected(WAIT_S)
            assert m.stats.connects == 2

    with caplog.at_level(logging.WARNING, logger="tonle.io.mqtt"):
        try:
            asyncio.run(body())
        finally:
            broker.stop()
    warnings = [r for r in caplog.records if "cannot reach the MQTT broker" in r.getMessage()]
    assert len(warnings) == 2  # once per outage, not once per attempt
    assert all(r.exc_info is None for r in warnings)
