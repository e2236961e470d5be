"""Plain MQTT devices (a Shelly plug) on a plant's own broker over TLS with a login, and with a
client certificate when the broker asks for one; a wrong CA or password is one log line naming the
key to fix, the source keeps trying and receives nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec
import pytest

from edge_agent.sources.mqtt_json import MqttJsonSource
from edge_agent.sources.mqtt_json_config import MqttJsonDeviceConfig
from firmware_sim.mqtt_devices import ShellyPlugSim, device_connection, publish
from tests.modbus.support import Collector, run, running, until
from tests.plantbroker.support import PASSWORD, USER, PasswordBroker
from tests.plantbroker.test_sparkplug_tls import broker_log, told
from tonle.io.clock import WallClock

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def cert_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PasswordBroker]:
    """A plant broker that wants a client certificate its CA signed, and a login too."""
    b = PasswordBroker(folder=tmp_path_factory.mktemp("cert-broker"), client_certificates=True).start()
    yield b
    b.stop()


def _source(broker: PasswordBroker, name: str, password_env: str, **tls: Any) -> MqttJsonSource:
    data = {
        "type": "mqtt_json", "name": name[:40], "preset": "shelly_plus_plug_s", "machine_type": "energy_plug",
        "devices": {f"{name}-plug": "P1"}, "session_expiry_s": 0, "host": broker.host, "port": broker.port,
        "username": USER, "password_env": password_env, "ca_file": broker.ca_file, **tls,
    }  # fmt: skip
    cfg = msgspec.convert(data, MqttJsonDeviceConfig)
    assert cfg.problems() == []
    return MqttJsonSource(cfg, WallClock(), client_id=f"dev-{name}")


def _subscribed(src: MqttJsonSource) -> bool:
    conn = src._conn
    return conn is not None and conn.connected.is_set() and conn.subscribed.is_set()


async def _plug_reports(broker: PasswordBroker, name: str, n: int = 3) -> None:
    """The plug publishes `n` status reports, logged in as a Shelly with 'Use SSL' and the plant CA."""
    sim, now = ShellyPlugSim(f"{name}-plug"), WallClock().now_ns() / 1e9
    conn = device_connection(
        broker.host, broker.port, f"plug-{name}", username=USER, password=PASSWORD, ca_file=broker.ca_file
    )
    async with conn:
        await conn.wait_connected()
        await publish(conn, [m for i in range(n) for m in sim.step(now + i)])


def test_a_shelly_over_tls_with_a_login_reaches_the_source(plant_broker, password_env, unique_name):
    async def main() -> None:
        sink, src = Collector(), _source(plant_broker, unique_name, password_env)
        async with running(src, sink):  # type: ignore[arg-type]
            await until(lambda: _subscribed(src), "the source's subscription")
            await _plug_reports(plant_broker, unique_name)
            await until(lambda: len(sink.samples("P1")) == 3, "three readings")
        assert sink.samples("P1")[0].fields.keys() >= {"power_w", "voltage_v"}
        assert src.health.reads == 3 and not src.health.last_error

    run(main)


def test_a_client_certificate_is_shown_when_the_broker_asks_for_one(cert_broker, password_env, unique_name):
    async def main() -> None:
        cert, key = cert_broker.client("gw-plugs")
        sink, src = (
            Collector(),
            _source(cert_broker, unique_name, password_env, cert_file=str(cert), key_file=str(key)),
        )
        async with running(src, sink):  # type: ignore[arg-type]
            await until(lambda: _subscribed(src), "the source's subscription")
        assert src.health.reconnects == 0

    run(main)


def test_a_wrong_password_is_told_once_and_nothing_is_received(
    plant_broker, password_env, unique_name, caplog
):
    async def main() -> None:
        sink, src = Collector(), _source(plant_broker, unique_name, "PLANT_BROKER_WRONG")
        before = broker_log(plant_broker, "not authorised")
        async with running(src, sink) as task:  # type: ignore[arg-type]
            await until(lambda: broker_log(plant_broker, "not authorised") >= before + 2, "a second attempt")
            await _plug_reports(plant_broker, unique_name)  # the plug's own login is right
            assert not task.done() and not src.health.connected and sink.readings == []
        (line,) = told(caplog, plant_broker)
        assert f"check username in the device section '{src.name}', the password in the variable" in line

    run(main)


def test_a_wrong_ca_is_told_once_and_nothing_is_received(
    plant_broker, other_ca, password_env, unique_name, caplog
):
    async def main() -> None:
        sink, src = Collector(), _source(plant_broker, unique_name, password_env, ca_file=str(other_ca))
        async with running(src, sink) as task:  # type: ignore[arg-type]
            await until(
                lambda: src._conn is not None and src._conn._backoff.failures >= 2, "a second attempt"
            )
            await _plug_reports(plant_broker, unique_name)
            assert not task.done() and not src.health.connected and sink.readings == []
        (line,) = told(caplog, plant_broker)
        assert "did not prove who it is" in line and f"device section '{src.name}', ca_file must be" in line
        assert src.health.last_error is not None and "ca_file" in src.health.last_error

    run(main)
