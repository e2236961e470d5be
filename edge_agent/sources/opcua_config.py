"""OPC UA device configuration (`[[devices]] type = "opcua"`): typed, checked before connecting.

One section is one OPC UA server (an endpoint) and the one machine it speaks for. Each
node is named by its node id (`ns=2;s=PS1.Speed`, `i=2258`) or by a browse path from the
Objects folder (`2:PocketSetter/2:Speed`, resolved again after every reconnect because a
restarted server may renumber its nodes), and mapped to a telemetry field, the machine
state (through a `states` table) or a piece counter. A node is subscribed (a monitored item
with its sampling interval and queue size) unless it says `mode = "poll"`.

Reading a config imports nothing of asyncua: the node id syntax is checked here with a
regular expression, so `tonle agent check-config` runs on any install. The checks msgspec
cannot express live in `opcua_checks`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

import msgspec

from tonle.config.check import check_value
from tonle.config.fields import Name, PosFloat, Section, secret
from tonle.config.problems import ConfigError, Problem
from tonle.io.clock import Clock
from tonle.sources.base import Source
from tonle.sources.registry import DeviceConfig, GatewayContext, SourceType

__all__ = [
    "OPCUA_SOURCE",
    "OpcUaCommandConfig",
    "OpcUaConfigError",
    "OpcUaDeviceConfig",
    "OpcUaNodeConfig",
    "parse_opcua_source",
]

Role = Literal["field", "state", "count_total", "count_good"]
Mode = Literal["subscribe", "poll"]
Policy = Literal["None", "Basic256Sha256"]
SecurityMode = Literal["None", "Sign", "SignAndEncrypt"]
Stamp = Literal["source", "server", "gateway"]
Millis = Annotated[float, msgspec.Meta(ge=0)]
QueueSize = Annotated[int, msgspec.Meta(ge=1, le=10_000)]


class OpcUaConfigError(ConfigError):
    """An OPC UA section is wrong; each problem starts with its key path."""


class OpcUaNodeConfig(Section, frozen=True, kw_only=True):
    """One value of the server: where it is (`node` or `path`), what it means, how it is read."""

    field: Name
    node: str = ""
    path: str = ""
    role: Role = "field"
    states: dict[int, str] = msgspec.field(default_factory=dict)
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    mode: Mode = "subscribe"
    sampling_interval_ms: Millis = 250.0
    queue_size: QueueSize = 10
    poll_interval_s: PosFloat = 1.0

    def problems(self) -> list[Problem]:
        from edge_agent.sources.opcua_checks import node_problems  # it imports this module

        return node_problems(self)


class OpcUaCommandConfig(Section, frozen=True, kw_only=True):
    """A setpoint node the gateway may write: the node's value = command value / `scale`."""

    action: Name
    node: str = ""
    path: str = ""
    scale: float = 1.0
    min: float
    max: float
    readback: bool = True
    tolerance: Annotated[float, msgspec.Meta(ge=0)] = 1e-6  # float nodes round (a Float is 32-bit)

    def problems(self) -> list[Problem]:
        from edge_agent.sources.opcua_checks import command_problems  # it imports this module

        return command_problems(self)


class OpcUaDeviceConfig(DeviceConfig, tag="opcua", frozen=True, kw_only=True):
    name: Name
    endpoint: str
    machine: Name
    machine_type: Name
    security_policy: Policy = "None"
    security_mode: SecurityMode = "None"
    certificate: str = ""  # the gateway's application certificate (PEM or DER) for Sign / SignAndEncrypt
    private_key: str = ""
    server_certificate: str = ""  # pin the server's certificate; empty: take the one its endpoint offers
    application_uri: str = "urn:tonle:gateway"  # must match the URI in `certificate`
    username: str = ""
    password_env: str = ""  # the environment variable that holds the password (never the file)
    user_certificate: str = ""  # log in with an X.509 user certificate instead of a password
    user_private_key: str = ""
    publishing_interval_ms: Annotated[float, msgspec.Meta(ge=10)] = 500.0
    watchdog_s: PosFloat = 5.0
    heartbeat_node: str = "i=2258"  # Server_ServerStatus_CurrentTime: changes every second
    timestamp: Stamp = "source"
    timeout_s: PosFloat = 4.0
    # After a lost session or a gateway restart, read what each node did meanwhile from the
    # server's history (HistoryRead), at most this far back; 0: never. Servers without history
    # are noticed once and left alone.
    backfill_s: Annotated[float, msgspec.Meta(ge=0)] = 3600.0
    backfill_max_values: Annotated[int, msgspec.Meta(ge=1)] = 10_000  # per node and reconnect
    nodes: list[OpcUaNodeConfig]
    commands: list[OpcUaCommandConfig] = msgspec.field(default_factory=list)

    def problems(self) -> list[Problem]:
        from edge_agent.sources.opcua_checks import device_problems  # it imports this module

        return device_problems(self)

    def machines(self) -> list[str]:
        return [self.machine]

    def password(self) -> str | None:
        """The login password, read from the environment variable `password_env` names."""
        return secret(self.password_env, f"device '{self.name}': password_env")


def parse_opcua_source(data: Mapping[str, Any], path: str = "") -> OpcUaDeviceConfig:
    """Check one section (a dict from TOML); `path` prefixes every key path in problems."""
    cfg, problems = check_value(data, OpcUaDeviceConfig, key=path)
    if problems:
        raise OpcUaConfigError(problems=problems)
    assert isinstance(cfg, OpcUaDeviceConfig)
    return cfg


def build_opcua_source(config: OpcUaDeviceConfig, clock: Clock, context: GatewayContext) -> Source:
    from edge_agent.sources.opcua import OpcUaSource

    return OpcUaSource(config, clock)


OPCUA_SOURCE = SourceType(
    name="opcua",
    config=OpcUaDeviceConfig,
    factory=build_opcua_source,
    summary="one machine's OPC UA server: subscriptions, polling, setpoint writes (docs/opcua.md)",
    needs=("asyncua",),
    extra="edge",
)
