"""Session fixtures: a real mosquitto and a real influxd on free loopback ports.

Each test gets its own database name and topic site, so tests never see each
other's data even though they share the two daemons.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from tonle.app.services import LocalBroker, LocalInfluxDB

_counter = itertools.count()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    # A lab broker (plain text, anonymous): the tests of security start their own secure one.
    b = LocalBroker(folder=Path(tmp_path_factory.mktemp("mosquitto")), secure=False).start()
    yield b
    b.stop()


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalInfluxDB]:
    db = LocalInfluxDB(folder=Path(tmp_path_factory.mktemp("influxd"))).start()
    yield db
    db.stop()


@pytest.fixture
def unique_name(request: pytest.FixtureRequest) -> str:
    """A database / site name unique to this test."""
    base = "".join(ch if ch.isalnum() else "_" for ch in request.node.name)[:40]
    return f"t{next(_counter)}_{base}"


@pytest.fixture
def own_broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A lab broker this test may stop, kill and restart (same port; persistence kept or wiped)."""
    b = LocalBroker(folder=tmp_path / "broker", secure=False).start()
    yield b
    b.stop()
