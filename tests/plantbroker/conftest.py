"""A TLS-and-password mosquitto for this folder's tests, and a CA that did not sign it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.plantbroker.support import PasswordBroker
from tonle.security.pki import Authority


@pytest.fixture(scope="module")
def plant_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PasswordBroker]:
    b = PasswordBroker(folder=tmp_path_factory.mktemp("plant-broker")).start()
    yield b
    b.stop()


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CA of some other plant: a broker it did not sign must not be trusted."""
    return Authority.open(tmp_path_factory.mktemp("other-plant"), name="Other plant CA").ca_file


@pytest.fixture
def password_env(monkeypatch: pytest.MonkeyPatch) -> str:
    """The variable the device sections' password_env names (the login's password, never in the file)."""
    monkeypatch.setenv("PLANT_BROKER_PASSWORD", "s3cret-plant")
    monkeypatch.setenv("PLANT_BROKER_WRONG", "not-the-password")
    return "PLANT_BROKER_PASSWORD"
