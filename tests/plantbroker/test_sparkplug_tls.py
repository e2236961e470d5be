"""The Sparkplug B host on a plant's own broker over TLS with a login: readings flow; a wrong CA or
password is one log line that names the key to fix, and the host keeps trying (no crash, no data)."""

from __future__ import annotations

import logging

import pytest

from edge_agent.sources.sparkplug import SparkplugSource
from firmware_sim.sparkplug_node import SparkplugEdgeNode
from tests.modbus.support import run, running
from tests.plantbroker.support import PASSWORD, USER, PasswordBroker
from tests.sparkplug.support import Collector, config, listening, until
from tonle.io.clock import WallClock
from tonle.io.mqtt import TlsFiles

pytestmark = pytest.mark.timeout(120)


def _source(broker: PasswordBroker, group: str, password_env: str, **tls: str) -> SparkplugSource:
    login = {"username": USER, "password_env": password_env, "ca_file": broker.ca_file}
    return SparkplugSource(config(broker, group, **(login | tls)), WallClock())


def _node(broker: PasswordBroker, group: str) -> SparkplugEdgeNode:
    """The edge node logs in as a real one would: TLS with the plant's CA, user and password."""
    tls = TlsFiles(broker.ca_file)
    return SparkplugEdgeNode(
        broker.host, broker.port, group, "EN1", username=USER, password=PASSWORD, tls=tls
    )


def told(caplog: pytest.LogCaptureFixture, broker: PasswordBroker) -> list[str]:
    """What was logged at warning or above about this broker."""
    where = f"127.0.0.1:{broker.port}"
    return [
        r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and where in r.getMessage()
    ]


def broker_log(broker: PasswordBroker, words: str) -> int:
    return (broker.folder / "mosquitto.log").read_text(errors="replace").count(words)


def test_a_node_over_tls_with_a_login_reaches_the_host(plant_broker, password_env, unique_name):
    async def main() -> None:
        sink, src = Collector(), _source(plant_broker, unique_name, password_env)
        async with listening(src, sink), _node(plant_broker, unique_name) as node:
            node.birth()
            node.update("Cutter1", {"Spindle/Speed": 1200.0, "Status/Mode": 1})
            node.update("Cutter1", {"Production/Total": 10, "Production/Good": 9})
            await until(lambda: bool(sink.counts("CUT1")) and sink.counts("CUT1")[-1].total == 10, "the data")
        assert [s.state for s in sink.states("CUT1")] == ["idle", "running"]
        assert sink.samples("CUT1")[-1].fields == {"spindle_rpm": 1200.0}
        assert src.health.births == 2 and not src.health.last_error

    run(main)


def test_a_wrong_password_is_told_once_with_its_fix_and_the_host_keeps_trying(
    plant_broker, password_env, unique_name, caplog
):
    async def main() -> None:
        sink, src = Collector(), _source(plant_broker, unique_name, "PLANT_BROKER_WRONG")
        before = broker_log(plant_broker, "not authorised")
        async with _node(plant_broker, unique_name) as node, running(src, sink) as task:  # type: ignore[arg-type]
            node.birth()
            await until(lambda: broker_log(plant_broker, "not authorised") >= before + 2, "a second attempt")
            assert not task.done()  # still trying, not crashed
            assert not src.health.connected and sink.readings == []
        lines = told(caplog, plant_broker)
        assert len(lines) == 1, lines
        assert "refused the connection: Not authorized" in lines[0]
        assert f"check username in the device section '{src.name}'" in lines[0]
        assert "password_env" in lines[0] and "retrying" in lines[0]
        assert src.health.last_error is not None and "password_env" in src.health.last_error

    run(main)


def test_a_broker_the_ca_did_not_sign_is_not_trusted_and_gets_nothing(
    plant_broker, other_ca, password_env, unique_name, caplog
):
    async def main() -> None:
        sink, src = Collector(), _source(plant_broker, unique_name, password_env, ca_file=str(other_ca))
        async with _node(plant_broker, unique_name) as node, running(src, sink) as task:  # type: ignore[arg-type]
            node.birth()
            await until(
                lambda: src.mqtt is not None and src.mqtt.last_error is not None, "the failed handshake"
            )
            await until(lambda: src.mqtt is not None and src.mqtt._backoff.failures >= 2, "a second attempt")
            assert not task.done() and not src.health.connected and sink.readings == []
        lines = told(caplog, plant_broker)
        assert len(lines) == 1, lines
        assert "did not prove who it is (self-signed certificate in certificate chain)" in lines[0]
        assert f"in the device section '{src.name}', ca_file must be the CA certificate" in lines[0]

    run(main)
