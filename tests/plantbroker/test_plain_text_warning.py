"""A plant broker on another machine reached without TLS is allowed, and said plainly with the fix."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from tests.sparkplug.support import config
from tonle.io.plant_broker import plant_connection

WORDS = "is reached without TLS"


def _warned(caplog: pytest.LogCaptureFixture, host: str, **extra: str) -> list[str]:
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="tonle.agent"):
        plant_connection(config(SimpleNamespace(host=host, port=1883), "G1", **extra), "c1")
    return [r.getMessage() for r in caplog.records if WORDS in r.getMessage()]


def test_a_remote_broker_without_tls_is_named_with_the_cost_and_the_fix(
    caplog: pytest.LogCaptureFixture,
) -> None:
    (said,) = _warned(caplog, "10.0.0.5")
    assert said.startswith("device spb_G1: the plant's broker at 10.0.0.5:1883 is reached without TLS")
    assert "set ca_file" in said


def test_a_broker_on_the_gateway_itself_or_one_with_tls_is_not_warned_about(
    caplog: pytest.LogCaptureFixture, tmp_path
) -> None:
    assert _warned(caplog, "127.0.0.1") == []
    assert _warned(caplog, "localhost") == []
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    assert _warned(caplog, "10.0.0.5", ca_file=str(ca)) == []
