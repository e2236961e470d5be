"""The one way to turn the validated config into a connection: MQTT, InfluxQL reads, writes.

Every service (agent, collector, analytics), the demo, the report and the container
healthcheck build their links here, so credentials are read from the environment in
one place (`MqttConfig.password()`, `InfluxConfig.password()` / `token()`), and the
TLS files (`MqttConfig.tls_files()`) are checked here once instead of at every call site.
Each factory takes a config section or the whole `TonleConfig`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from tonle.config import InfluxConfig, MqttConfig, TonleConfig
from tonle.io.mqtt import MqttConnection, TlsFiles, Will

if TYPE_CHECKING:  # httpx (and, where rich is installed, its CLI) only for what reads or writes InfluxDB
    from tonle.io.influxql import InfluxQLClient
    from tonle.io.writers import Writer

__all__ = ["influx_writer", "influxql_client", "mqtt_connection", "mqtt_tls", "role_client_id"]


def _mqtt(cfg: MqttConfig | TonleConfig) -> MqttConfig:
    return cfg.mqtt if isinstance(cfg, TonleConfig) else cfg


def _influx(cfg: InfluxConfig | TonleConfig) -> InfluxConfig:
    return cfg.influxdb if isinstance(cfg, TonleConfig) else cfg


def mqtt_tls(cfg: MqttConfig | TonleConfig) -> TlsFiles | None:
    """The TLS files of `mqtt` (None for a lab broker); ConfigError naming a missing one."""
    files = _mqtt(cfg).tls_files()
    return None if files is None else TlsFiles(*files)


def role_client_id(cfg: MqttConfig | TonleConfig, role: str, name: str = "") -> str:
    """`mqtt.client_id` when set, else `tonle-<role>[-<name>]` (say tonle-agent-gw-hall-1)."""
    configured = _mqtt(cfg).client_id
    if configured:
        return configured
    return f"tonle-{role}-{name}" if name else f"tonle-{role}"


def mqtt_connection(
    cfg: MqttConfig | TonleConfig,
    role: str,
    *,
    name: str = "",
    client_id: str | None = None,
    will: Will | None = None,
    manual_ack: bool = False,
    receive_maximum: int = 1000,
    clean_start: bool = True,
    session_expiry_s: int = 0,
    on_connect_hook: Callable[[], None] | None = None,
) -> MqttConnection:
    """An MQTT v5 session for `role` (agent, collector, analytics, demo, ...), not yet connected.

    `client_id` is for a process that runs several roles against one broker (the
    demo), where a configured `mqtt.client_id` would make them take each other's session.
    """
    m = _mqtt(cfg)
    return MqttConnection(
        m.host,
        m.port,
        client_id=client_id or role_client_id(m, role, name),
        will=will,
        manual_ack=manual_ack,
        receive_maximum=receive_maximum,
        clean_start=clean_start,
        session_expiry_s=session_expiry_s,
        username=m.username or None,
        password=m.password(),
        tls=mqtt_tls(m),
        on_connect_hook=on_connect_hook,
    )


def influxql_client(cfg: InfluxConfig | TonleConfig) -> InfluxQLClient:
    """An InfluxQL reader of `influxdb.database`, with the configured credentials and timeout."""
    from tonle.io.influxql import InfluxQLClient

    i = _influx(cfg)
    return InfluxQLClient(
        i.url, i.database, username=i.username or None, password=i.password(), timeout_s=i.timeout_s
    )


def influx_writer(cfg: InfluxConfig | TonleConfig) -> Writer:
    """The writer for `influxdb.api`: v1 `/write`, or v2 `/api/v2/write` (token or user/password)."""
    from tonle.io.writers import InfluxV1Writer

    i = _influx(cfg)
    if i.api == "v2":
        from tonle.io.writers.v2 import InfluxV2Writer  # influxdb-client: ~28 MB, loaded only here

        return InfluxV2Writer(
            i.url,
            i.v2_bucket(),
            org=i.org,
            token=i.token(),
            username=i.username or None,
            password=i.password(),
            use_gzip=i.gzip,
            timeout_s=i.timeout_s,
        )
    return InfluxV1Writer(
        i.url,
        i.database,
        username=i.username or None,
        password=i.password(),
        use_gzip=i.gzip,
        timeout_s=i.timeout_s,
    )
