"""The demo runs secure, as a plant does: identities on its own broker, a password on its database.

Every part of the demo that talks MQTT gets a certificate of its own from the run's CA, and
the ACL generated from them: the gateway may speak only for the demo line's machines, the
collector reads data, the analytics sends commands (signed; tonle.security.signing) and reads
their answers, the drills' watch reads telemetry. influxd runs with authentication on, and
its password lives in the environment of the demo and its child processes only.
"""

from __future__ import annotations

import os
import secrets

import httpx
import msgspec

from firmware_sim.line import LineSpec
from tonle.app.demo_intruder import INTRUDER_GATEWAY, INTRUDER_OPERATOR
from tonle.app.demo_plant import GATEWAY_ID
from tonle.app.services import LocalBroker, LocalInfluxDB
from tonle.config import InfluxConfig, MqttConfig, parse_config

__all__ = ["INFLUX_PASSWORD_ENV", "demo_identities", "secure_influxdb"]

INFLUX_USER = "tonle-demo"
# Not TONLE_*: those are config overrides, and the demo's child processes drop them.
INFLUX_PASSWORD_ENV = "DEMO_INFLUXDB_PASSWORD"


def demo_identities(broker: LocalBroker, spec: LineSpec, intruder: bool = False) -> dict[str, MqttConfig]:
    """`[mqtt]` per role of the demo (a lab broker gives every role plain-text settings).

    For the intruder drill, two more: a gateway of another line (whose certificate it stole)
    and an operator (who may send commands but holds no key a gateway trusts).
    """
    place = {"site": spec.site, "area": spec.area, "line": spec.line}
    settings = {
        "gateway": broker.identity(GATEWAY_ID, "gateway", **place),
        "collector": broker.identity("demo-collector", "collector"),
        # Every site, as the demo's analytics (analytics.site "+") and the drills' watch subscribe.
        "analytics": broker.identity("demo-analytics", "analytics"),
        "observer": broker.identity("demo-watch", "observer"),
    }
    if intruder:
        broker.identity(INTRUDER_GATEWAY, "gateway", site=spec.site, area=spec.area, line="L9")
        broker.identity(INTRUDER_OPERATOR, "operator")
    return {role: parse_config({"mqtt": s}, env={}).mqtt for role, s in settings.items()}


def secure_influxdb(db: LocalInfluxDB, influx: InfluxConfig) -> InfluxConfig:
    """Make the demo database's one user (allowed once, while it has none) and return its config."""
    password = secrets.token_urlsafe(24)
    q = f"CREATE USER \"{INFLUX_USER}\" WITH PASSWORD '{password}' WITH ALL PRIVILEGES"
    httpx.post(f"{db.url}/query", data={"q": q}, timeout=10).raise_for_status()
    os.environ[INFLUX_PASSWORD_ENV] = password
    return msgspec.structs.replace(
        influx, url=db.url, username=INFLUX_USER, password_env=INFLUX_PASSWORD_ENV, api="v1"
    )
