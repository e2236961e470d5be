"""The long-running services behind `tonle agent`, `sim`, `collector` and `analytics`.

A service does not die because the broker or the database is not there when it
starts (a gateway often boots before the plant server): it logs one plain warning
naming the address and the fix, and keeps trying under tonle.io.backoff until the
link is there or it is told to stop. Only what a restart cannot fix (a spool folder
it may not write, a bad config) ends it, as a TonleError the CLI words.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from edge_agent.agent import Agent
from edge_agent.commands import CommandLog
from edge_agent.config import GatewayConfig, make_sources
from tonle.config import TonleConfig
from tonle.errors import MqttError, SpoolError
from tonle.io.backoff import Backoff, BackoffPolicy
from tonle.io.clock import WallClock
from tonle.io.connect import influx_writer, influxql_client, mqtt_connection
from tonle.io.spool import Spool
from tonle.io.writers import WriteError, Writer
from tonle.messages import N_, _

__all__ = ["run_agent", "run_analytics", "run_collector"]

log = logging.getLogger("tonle.app.runners")
# How a service waits for a database or broker that is not there at start.
START_RETRY_POLICY = BackoffPolicy(base_s=1.0, max_s=30.0)


async def run_agent(cfg: GatewayConfig, stop: asyncio.Event) -> None:
    """The edge agent for the devices in a gateway config, on wall time."""
    clock = WallClock()
    spool_dir = Path(cfg.spool.path)
    try:
        spool_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SpoolError(
            spool_dir,
            N_("cannot create the spool folder {path}: {reason}"),
            fix=N_("check spool.path in the gateway config and that this user may write there (ls -l)"),
            reason=exc.strerror or exc,
        ) from exc
    sources = make_sources(cfg, clock)
    spool = Spool(
        spool_dir / "spool.sqlite", max_bytes=int(cfg.spool.max_mb * 2**20), synchronous=cfg.spool.synchronous
    )
    commands = CommandLog(spool_dir / "commands.sqlite")
    try:
        async with Agent(
            cfg.mqtt,
            cfg.agent,
            sources,
            clock,
            spool,
            commands,
            spool_dir / "status.json",
            machine_types=cfg.machine_table(),
        ) as agent:
            await agent.run(stop)
    finally:
        spool.close()
        commands.close()


async def run_collector(cfg: TonleConfig, stop: asyncio.Event) -> None:
    """The collector, started again (with backoff) while the broker is not there at start.

    `Collector.run` gives up with MqttError when the broker does not accept it within
    its connect timeout; a service must outlive that, so it is started again (the
    runner warns once; each new start's MQTT link warns once more).
    """
    from collector.service import run_collector as collect

    backoff = Backoff(START_RETRY_POLICY)
    while not stop.is_set():
        try:
            await collect(cfg, stop)
            return
        except MqttError as exc:
            if stop.is_set():
                return
            if not backoff.failures:
                log.warning(_("the collector cannot start yet: {error}").format(error=exc))
            await _wait(stop, backoff.next_delay())


async def run_analytics(cfg: TonleConfig, stop: asyncio.Event) -> None:
    # Imported here: the analytics stack (scipy) has no place in a gateway's memory.
    from analytics.service import AnalyticsService

    async with (
        mqtt_connection(cfg, "analytics") as mqtt,
        influx_writer(cfg) as writer,
        influxql_client(cfg) as q,
    ):
        if await database_ready(writer, stop, "analytics"):
            await AnalyticsService(cfg, WallClock(), q, writer, mqtt).run(stop)


async def database_ready(writer: Writer, stop: asyncio.Event, who: str) -> bool:
    """Make sure the database is there, waiting (one warning, then quiet) until it is; False if stopped."""
    backoff = Backoff(START_RETRY_POLICY)
    while not stop.is_set():
        try:
            await writer.ensure_database()
        except WriteError as exc:
            if not backoff.failures:
                log.warning(_("{who} is waiting for the database: {error}").format(who=who, error=exc))
            await _wait(stop, backoff.next_delay(exc.retry_after_s))
            continue
        if backoff.failures:
            log.info(_("{who}: the database answers now").format(who=who))
        return True
    return False


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    """Sleep `seconds`, or less if told to stop."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
