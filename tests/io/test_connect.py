"""tonle.io.connect: the one way from config to a connection, credentials included.

The InfluxDB tests run against an influxd with authentication on, so a link that
drops the username or password fails here the way it would in a plant.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tonle.app.demo_checks import preflight
from tonle.app.services import LocalBroker, LocalInfluxDB, free_port
from tonle.config import ConfigError, TonleConfig, parse_config
from tonle.errors import InfluxQLError, MqttError, WriteError
from tonle.io.connect import influx_writer, influxql_client, mqtt_connection, role_client_id
from tonle.io.influxql import InfluxQLClient
from tonle.io.mqtt import Will
from tonle.io.writers import InfluxV1Writer

USER, PASSWORD, PASSWORD_ENV = "tonle", "s3cret pass", "TONLE_TEST_INFLUX_PASSWORD"


@pytest.fixture(scope="module")
def secured_influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalInfluxDB]:
    """An influxd that answers 401 without credentials, with one admin user."""
    db = LocalInfluxDB(folder=tmp_path_factory.mktemp("influxd-auth"), http_settings={"auth-enabled": True})
    db.start()
    try:
        # Allowed without credentials while the server has no user yet.
        q = f"CREATE USER {USER} WITH PASSWORD '{PASSWORD}' WITH ALL PRIVILEGES"
        httpx.post(f"{db.url}/query", data={"q": q}, timeout=10).raise_for_status()
        yield db
    finally:
        db.stop()


def _config(db_url: str, database: str, broker: LocalBroker | None = None, **mqtt: object) -> TonleConfig:
    return parse_config(
        {
            "mqtt": {
                "host": "127.0.0.1",
                "port": broker.port if broker else free_port(),
                "tls": False,
                **mqtt,
            },
            "influxdb": {"url": db_url, "database": database, "username": USER, "password_env": PASSWORD_ENV},
        },
        env={},
    )


def test_the_reader_and_the_writer_carry_the_configured_credentials(
    secured_influxdb: LocalInfluxDB, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    cfg = _config(secured_influxdb.url, unique_name)

    async def body() -> None:
        async with influx_writer(cfg) as writer:
            assert isinstance(writer, InfluxV1Writer)
            await writer.ensure_database()
            assert await writer.write(b"probe,machine=S1 v=1 1700000000000000000\n") == []
        async with influxql_client(cfg) as q:
            rows = await q.query('SELECT "v" FROM "probe"')
            assert rows[0].values == [[1700000000000000000, 1]]
        async with InfluxQLClient(secured_influxdb.url, unique_name) as anonymous:  # as the demo once did
            with pytest.raises(InfluxQLError) as refused:
                await anonymous.query('SELECT "v" FROM "probe"')
            assert refused.value.status == 401

    asyncio.run(body())


def test_a_wrong_password_is_a_write_error_naming_the_settings_to_check(
    secured_influxdb: LocalInfluxDB, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    cfg = _config(secured_influxdb.url, unique_name)

    async def body() -> None:
        async with influx_writer(cfg) as writer:
            with pytest.raises(WriteError) as refused:
                await writer.write(b"probe v=1 1\n")
        assert refused.value.status == 401 and refused.value.url == secured_influxdb.url
        assert "influxdb.password_env" in str(refused.value)

    asyncio.run(body())


def test_the_demo_checks_a_configured_database_with_its_credentials(
    secured_influxdb: LocalInfluxDB, broker: LocalBroker, unique_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`tonle demo --config` once queried InfluxDB without the configured user: every read got 401."""
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    asyncio.run(preflight(_config(secured_influxdb.url, unique_name, broker)))
    monkeypatch.setenv(PASSWORD_ENV, "wrong")
    with pytest.raises(InfluxQLError) as refused:
        asyncio.run(preflight(_config(secured_influxdb.url, unique_name, broker)))
    assert refused.value.status == 401


def test_the_demo_says_at_once_when_a_configured_broker_is_not_there(
    influxdb: LocalInfluxDB, unique_name: str
) -> None:
    cfg = parse_config(
        {
            "mqtt": {"port": free_port(), "tls": False},
            "influxdb": {"url": influxdb.url, "database": unique_name},
        },
        env={},
    )
    with pytest.raises(MqttError) as down:
        asyncio.run(preflight(cfg, timeout_s=60))
    assert down.value.port == cfg.mqtt.port and "Connection refused" in down.value.reason


def test_an_mqtt_connection_gets_its_id_user_and_will_from_the_config(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TONLE_TEST_MQTT_PW", "pw")
    cfg = parse_config(
        {
            "mqtt": {
                "host": "10.1.2.3",
                "port": 1884,
                "username": "gw",
                "password_env": "TONLE_TEST_MQTT_PW",
                "tls": False,
            }
        },
        env={},
    )
    will = Will("tonle/s/a/l/gw-1/status", b"offline")
    m = mqtt_connection(cfg.mqtt, "agent", name="gw-1", will=will, manual_ack=True, receive_maximum=7)
    assert (m.host, m.port, m.client_id) == ("10.1.2.3", 1884, "tonle-agent-gw-1")
    assert (m.username, m.password, m.will, m.manual_ack, m.receive_maximum) == ("gw", "pw", will, True, 7)
    assert mqtt_connection(cfg, "analytics").client_id == "tonle-analytics"
    assert mqtt_connection(cfg, "demo", client_id="mine").client_id == "mine"
    named = parse_config({"mqtt": {"client_id": "fixed", "tls": False}}, env={})
    assert role_client_id(named, "collector", "c1") == "fixed"


def test_an_mqtt_connection_from_the_config_reaches_the_broker(broker: LocalBroker, unique_name: str) -> None:
    cfg = parse_config({"mqtt": broker.identity("test", "observer")}, env={})

    async def body() -> None:
        async with mqtt_connection(cfg, "test", name=unique_name) as m:
            await m.check_reachable()
            assert m.connected.is_set() and m.last_error is None

    asyncio.run(body())


def test_a_secret_named_in_the_config_but_missing_from_the_environment_is_a_config_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    cfg = _config("http://127.0.0.1:1", "x")
    with pytest.raises(ConfigError, match=PASSWORD_ENV):
        influxql_client(cfg)


def test_the_writer_factory_picks_the_v2_api_from_the_config(tmp_path: Path) -> None:
    cfg = parse_config({"influxdb": {"api": "v2", "org": "plant", "bucket": "b"}}, env={})

    async def body() -> None:
        async with influx_writer(cfg) as writer:
            assert type(writer).__name__ == "InfluxV2Writer"
            assert (writer.bucket, writer.org) == ("b", "plant")  # type: ignore[attr-defined]

    asyncio.run(body())
