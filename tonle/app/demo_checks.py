"""What `tonle demo` checks before anything starts: the drill asked for, and configured services.

A one-shot command for a class: a wrong drill or a broker that does not answer is a
sentence for the trainer at once, not a minute of waiting for a collector that cannot start.
"""

from __future__ import annotations

import os
from typing import Any

from tonle.app.demo_drills import DRILLS
from tonle.app.demo_plant import mqtt_client
from tonle.config import TonleConfig
from tonle.errors import ServiceError
from tonle.io.connect import influxql_client
from tonle.messages import N_

__all__ = ["PREFLIGHT_TIMEOUT_S", "check_options", "preflight"]

# A configured broker must accept the demo within this long (a reachable one answers in milliseconds).
PREFLIGHT_TIMEOUT_S = 10.0


def check_options(opts: Any) -> None:
    """Refuse a drill that does not exist, or one that would stop services the demo does not own."""
    if opts.drill and opts.drill not in DRILLS:
        raise ServiceError(
            N_("there is no drill called {drill!r}"),
            fix=N_("choose one of {drills}"),
            drill=opts.drill,
            drills=", ".join(DRILLS),
        )
    if opts.drill and not opts.own_services:
        raise ServiceError(
            N_(
                "fault drills stop and start the broker and the database, so they need the "
                "demo's own services"
            ),
            fix=N_("run the drill without --config"),
        )


async def preflight(cfg: TonleConfig, timeout_s: float = PREFLIGHT_TIMEOUT_S) -> None:
    """Configured services must answer before anything starts: MqttError or InfluxQLError with the fix.

    The demo is a one-shot command: a broker or database that is not there is a
    sentence for the trainer at once, not a minute of waiting for a collector that
    cannot start. The same factories as the services are used, so the credentials
    are checked too.
    """
    async with influxql_client(cfg) as q:
        await q.ping()
        await q.execute("SHOW DATABASES")  # a query: proves the credentials as well as the address
    async with mqtt_client(cfg.mqtt, f"tonle-demo-check-{os.getpid()}") as mqtt:
        await mqtt.check_reachable(timeout_s)
