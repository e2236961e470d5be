"""In-process plumbing for tests and benchmarks: a private config, a collector, waiting on the database.

Each run gets its own database, topic site and MQTT client ids on a shared broker and
influxd, so runs never see each other's data. Used by `tonle.app.line_run`, the tests and
`bench/`; the product itself never imports it.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from collector.service import Collector, make_reader, make_writer
from tonle.app.services import LocalBroker, LocalInfluxDB
from tonle.config import TonleConfig, parse_config
from tonle.io.clock import Clock
from tonle.io.influxql import InfluxQLClient
from tonle.security.signing import Signer

T = TypeVar("T")
WAIT_S = 30.0


@functools.cache
def _spools() -> Path:
    """One folder per process, made on first use: run names repeat between runs, spools must not."""
    folder = Path(tempfile.mkdtemp(prefix="tonle-test-spools-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


def config_for(broker: LocalBroker, influxdb: LocalInfluxDB, name: str, **sections: dict) -> TonleConfig:
    """A config whose broker, database, site and MQTT client ids are private to one test.

    One `[mqtt]` serves agent, collector and analytics, so the broker must be a lab broker:
    a secure one gives each identity only its own topics (tests/security prove that part).
    The analytics signs commands with a key of the run's own, which the gateway trusts.
    """
    if broker.secure:
        raise ValueError("config_for runs every role with one MQTT identity; start LocalBroker(secure=False)")
    key_path = _spools() / name / "analytics.key"
    signer = Signer.load_or_create(key_path, "analytics")
    data: dict = {
        "mqtt": broker.identity("rig", "collector"),  # a lab broker: one identity runs every role
        "influxdb": {"url": influxdb.url, "database": name},
        "collector": {
            "share_group": "",
            "site": name,
            "instance": name,
            "batch_wait_ms": 50,
            "spool_path": str(_spools() / name / "collector-spool.sqlite"),
        },
        "agent": {"site": name, "id": f"gw-{name}", "trusted_keys": {signer.name: signer.public_text}},
        "analytics": {"site": name, "signing_key": str(key_path), "signer": signer.name},
    }
    for key, values in sections.items():
        data.setdefault(key, {}).update(values)
    return parse_config(data, env={})


async def wait_for(probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], what: str) -> T:
    """Poll `probe` until `done(value)`; fail with the last value after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    value = await probe()
    while not done(value):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last value: {value!r}")
        await asyncio.sleep(0.05)
        value = await probe()
    return value


async def count(q: InfluxQLClient, query: str) -> int:
    rows = await q.query(query)
    return int(sum(s.values[0][1] for s in rows)) if rows else 0


@contextlib.asynccontextmanager
async def running_collector(
    cfg: TonleConfig, clock: Clock | None = None, *, reckon: bool = False
) -> AsyncIterator[Collector]:
    """A collector on the test's config; `reckon` also runs its completeness reckoning."""
    stop = asyncio.Event()
    async with contextlib.AsyncExitStack() as stack:
        writer = await stack.enter_async_context(make_writer(cfg))
        reader = await stack.enter_async_context(make_reader(cfg)) if reckon else None
        collector = Collector(cfg, writer, clock, reader=reader)
        task = asyncio.create_task(collector.run(stop), name="test-collector")
        try:
            await asyncio.wait_for(collector.ready.wait(), WAIT_S)
            yield collector
        finally:
            stop.set()
            await task
