"""Tonle's machines published as a Sparkplug edge node, read back by a Sparkplug host through mosquitto.

The SCADA's broker is a real one in both forms: the lab broker, and a plant's broker as its IT
runs it (TLS with the plant CA's server certificate, a password per user: tests.plantbroker).
`tonle sparkplug-bridge` itself runs as a process for the wrong password (one line, no
traceback, still trying, and a clean stop on SIGTERM); what is wrong before connecting is said
by the command at once.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from edge_agent.sources.sparkplug import SparkplugSource
from tests.docs.guides import shell_commands, tonle_argv
from tests.modbus.support import run
from tests.plantbroker.support import PASSWORD, USER, PasswordBroker
from tests.sparkplug.support import Collector, listening, source, until
from tonle.app import cli
from tonle.app.scada_broker import ScadaBroker
from tonle.app.sparkplug_bridge import SparkplugBridge
from tonle.contract import Count, MachineAddress, State, Telemetry, encode
from tonle.io.mqtt import MqttConnection
from tonle.protocols.sparkplug import DataType, Metric, decode_payload
from tonle.protocols.sparkplug_edge import EdgeNodeBook
from tonle.security.pki import Authority

pytestmark = pytest.mark.timeout(120)

REPO = Path(__file__).resolve().parents[2]
T0 = 1_780_000_000_000_000_000
SCADA_VIEW = {
    "machine": "S07", "machine_type": "lockstitch", "edge_node": "Tonle", "device": "S07",
    "fields": {"Telemetry/vib_rms": "vib_rms", "Telemetry/current_a": "current_a"},
    "state": "State", "count_total": "Production/Total", "count_good": "Production/Good",
}  # fmt: skip


def _scada(broker, group: str, **login: str) -> SparkplugSource:
    return source(broker, group, nodes=[SCADA_VIEW], **login)


@pytest.fixture(scope="module")
def plant_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PasswordBroker]:
    """The SCADA's broker as a plant's IT runs it: TLS only, and nobody in without a login."""
    b = PasswordBroker(folder=tmp_path_factory.mktemp("scada-broker")).start()
    yield b
    b.stop()


@pytest.fixture
def password_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SCADA_MQTT_PASSWORD", PASSWORD)
    return "SCADA_MQTT_PASSWORD"


def test_a_new_metric_rebirths_its_device_and_data_goes_by_alias():
    book = EdgeNodeBook("G", "Tonle")
    assert book.update("S07", {"State": (DataType.String, "running")}, 1, born=False) == []
    (nbirth, dbirth) = book.births(2)
    assert nbirth[0] == "spBv1.0/G/NBIRTH/Tonle" and dbirth[0] == "spBv1.0/G/DBIRTH/Tonle/S07"
    assert decode_payload(dbirth[1]).metrics == (Metric("State", 1, DataType.String, "running"),)
    ((topic, data),) = book.update("S07", {"State": (DataType.String, "idle")}, 3, born=True)
    assert topic == "spBv1.0/G/DDATA/Tonle/S07"
    assert (
        decode_payload(data).metrics == (Metric("", 1, DataType.String, "idle"),)
        and decode_payload(data).seq == 2
    )
    ((topic, data),) = book.update("S07", {"Telemetry/x": (DataType.Double, 1.0)}, 4, born=True)
    assert topic.startswith("spBv1.0/G/DBIRTH/") and [m.name for m in decode_payload(data).metrics] == [
        "State", "Telemetry/x"]  # fmt: skip


def test_tonle_machines_reach_a_sparkplug_host_and_a_rebirth_request_is_answered(broker, unique_name):
    addr = MachineAddress(unique_name, "sewing", "L1", "S07")

    async def main() -> None:
        sink, scada = Collector(), _scada(broker, unique_name)
        async with (
            MqttConnection(broker.host, broker.port, f"{unique_name}-bridge-in") as tonle_in,
            MqttConnection(broker.host, broker.port, f"{unique_name}-gateway") as gateway,
        ):
            bridge = SparkplugBridge(
                tonle_in,
                ScadaBroker(broker.host, broker.port),
                group=unique_name,
                node="Tonle",
                site=unique_name,
            )
            task = asyncio.create_task(bridge.run())
            await until(
                lambda: bridge.scada.subscribed.is_set() and tonle_in.subscribed.is_set(), "the bridge"
            )
            state = State(v=1, seq=0, ts=T0, state="running")
            await gateway.publish(addr.topic("state"), encode(state))
            await until(lambda: "S07" in bridge.book.devices, "the first state")  # born, but nobody listens
            await bridge.scada.publish(f"test/{unique_name}/flush", b"", qos=1)  # its DBIRTH is routed by now
            async with listening(scada, sink):
                batch = Telemetry(
                    v=1, seq=0, ts=[T0 + 1, T0 + 2], fields={"vib_rms": [0.5, 0.7], "current_a": [2.0, 2.1]}
                )
                await gateway.publish(addr.topic("telemetry"), encode(batch))
                await until(lambda: bridge.rebirths == 1, "the host's rebirth request")
                await until(lambda: sink.samples("S07"), "the rebirth's values")
                await gateway.publish(
                    addr.topic("count"), encode(Count(v=1, seq=0, ts=T0 + 3, total=12, good=11))
                )
                await until(lambda: sink.counts("S07"), "the count")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert sink.samples("S07")[-1].fields == {"vib_rms": 0.7, "current_a": 2.1}  # the newest of the batch
        assert [s.state for s in sink.states("S07")] == ["running"]
        assert [(c.total, c.good) for c in sink.counts("S07")] == [(12, 11)]
        assert scada.health.refused == {"before_birth": 1} and bridge.refused == 0

    run(main)


def test_over_tls_with_a_login_the_scada_host_reads_births_and_data(
    broker, plant_broker, password_env, unique_name
):
    """Tonle's lab broker in, the plant's TLS+password broker out; the host logs in the same way."""
    addr = MachineAddress(unique_name, "sewing", "L1", "S07")
    scada_broker = ScadaBroker(
        plant_broker.host, plant_broker.port, USER, password_env, ca_file=plant_broker.ca_file
    )
    assert scada_broker.problems() == []

    async def main() -> None:
        login = {"username": USER, "password_env": password_env, "ca_file": plant_broker.ca_file}
        sink, scada = Collector(), _scada(plant_broker, unique_name, **login)
        async with (
            listening(scada, sink),
            MqttConnection(broker.host, broker.port, f"{unique_name}-bridge-in") as tonle_in,
            MqttConnection(broker.host, broker.port, f"{unique_name}-gateway") as gateway,
        ):
            bridge = SparkplugBridge(
                tonle_in, scada_broker, group=unique_name, node="Tonle", site=unique_name
            )
            task = asyncio.create_task(bridge.run())
            await until(
                lambda: bridge.scada.subscribed.is_set() and tonle_in.subscribed.is_set(), "the bridge"
            )
            await until(lambda: scada.health.births >= 1, "the NBIRTH")
            await gateway.publish(addr.topic("state"), encode(State(v=1, seq=0, ts=T0, state="running")))
            await until(lambda: sink.states("S07"), "the state (DBIRTH)")
            batch = Telemetry(v=1, seq=0, ts=[T0 + 1], fields={"vib_rms": [0.5], "current_a": [2.0]})
            await gateway.publish(addr.topic("telemetry"), encode(batch))
            await gateway.publish(addr.topic("count"), encode(Count(v=1, seq=0, ts=T0 + 2, total=5, good=4)))
            await until(lambda: sink.counts("S07"), "the count (DDATA)")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert bridge.scada.tls is not None and bridge.scada.username == USER
        assert [s.state for s in sink.states("S07")] == ["running"]
        assert sink.samples("S07")[-1].fields == {"vib_rms": 0.5, "current_a": 2.0}
        assert [(c.total, c.good) for c in sink.counts("S07")] == [(5, 4)]
        assert scada.health.refused == {} and not scada.health.last_error and bridge.refused == 0

    run(main)


def test_a_broker_the_ca_did_not_sign_gets_nothing_and_the_fix_names_the_options(
    broker, plant_broker, password_env, tmp_path, unique_name
):
    other_ca = Authority.open(tmp_path / "other-plant", name="Other plant CA").ca_file
    scada_broker = ScadaBroker(
        plant_broker.host, plant_broker.port, USER, password_env, ca_file=str(other_ca)
    )

    async def main() -> None:
        async with MqttConnection(broker.host, broker.port, f"{unique_name}-bridge-in") as tonle_in:
            bridge = SparkplugBridge(
                tonle_in, scada_broker, group=unique_name, node="Tonle", site=unique_name
            )
            task = asyncio.create_task(bridge.run())
            await until(lambda: bridge.scada.last_error is not None, "the failed handshake")
            assert not task.done() and not bridge.scada.connected.is_set()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        error = str(bridge.scada.last_error)
        assert "did not prove who it is" in error
        assert (
            "--scada-ca-file must be the CA certificate that signed the SCADA broker's certificate" in error
        )

    run(main)


def _tonle_toml(tmp_path: Path, broker) -> Path:
    """Tonle's own broker: the lab one (plain text, loopback)."""
    path = tmp_path / "tonle.toml"
    path.write_text(f'[mqtt]\nhost = "{broker.host}"\nport = {broker.port}\ntls = false\n')
    return path


def _wait_for(done, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def test_a_wrong_password_is_one_line_with_its_fix_and_the_bridge_keeps_trying(
    broker, plant_broker, tmp_path, unique_name
):
    """`python -m tonle.app.sparkplug_bridge` (the alias of `tonle sparkplug-bridge`) as a process."""
    stderr = tmp_path / "stderr.txt"
    mosquitto_log = plant_broker.folder / "mosquitto.log"
    refusals = lambda: mosquitto_log.read_text(errors="replace").count("not authorised")  # noqa: E731
    before = refusals()
    argv = [
        sys.executable, "-m", "tonle.app.sparkplug_bridge", "--lang", "en",
        "--config", str(_tonle_toml(tmp_path, broker)), "--site", unique_name,
        "--scada-host", plant_broker.host, "--scada-port", str(plant_broker.port),
        "--scada-ca-file", plant_broker.ca_file, "--scada-username", USER,
        "--scada-password-env", "SCADA_WRONG_PASSWORD", "--group", unique_name, "--node", "Tonle",
    ]  # fmt: skip
    env = {**os.environ, "SCADA_WRONG_PASSWORD": "not-the-password"}
    with stderr.open("w") as err:
        proc = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=err)
        try:
            _wait_for(lambda: refusals() >= before + 2, "a second attempt at the login")
            assert proc.poll() is None  # still trying, as a service does
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(timeout=30)
    text = stderr.read_text()
    lines = [line for line in text.splitlines() if f":{plant_broker.port}" in line]
    assert len(lines) == 1, text
    assert "refused the connection: Not authorized" in lines[0]
    assert "check --scada-username, the password in the variable --scada-password-env names" in lines[0]
    assert "Traceback" not in text and code == 0, text


def test_what_is_wrong_before_connecting_is_said_at_once_with_the_fix(tmp_path, broker, monkeypatch, capsys):
    monkeypatch.delenv("SCADA_UNSET_PASSWORD", raising=False)
    argv = [
        "--lang", "en", "sparkplug-bridge", "--config", str(_tonle_toml(tmp_path, broker)), "--site", "s",
        "--scada-host", "127.0.0.1", "--group", "G", "--scada-ca-file", str(tmp_path / "scada-ca.crt"),
        "--scada-username", "tonle-bridge", "--scada-password-env", "SCADA_UNSET_PASSWORD",
        "--scada-cert-file", str(tmp_path / "bridge.crt"),
    ]  # fmt: skip
    assert cli.main(argv) == cli.EXIT_EXPECTED
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.splitlines() == [
        f"tonle sparkplug-bridge: '--scada-ca-file' names {tmp_path / 'scada-ca.crt'}, which does not exist "
        "or cannot be read; check the path; a relative path is read from the folder the command runs in",
        f"'--scada-cert-file' names {tmp_path / 'bridge.crt'}, which does not exist or cannot be read; "
        "check the path; a relative path is read from the folder the command runs in",
        "'--scada-key-file' is missing, but --scada-cert-file is given; a client certificate needs its key: "
        "give both --scada-cert-file and --scada-key-file, or neither",
        "'--scada-password-env' names the environment variable SCADA_UNSET_PASSWORD, which is not set; set "
        "SCADA_UNSET_PASSWORD to the password of --scada-username before starting the bridge (a password "
        "is never given on the command line)",
    ]


def test_the_port_is_the_usual_one_for_tls_or_plain_text():
    assert ScadaBroker("h").tcp_port == 1883
    assert ScadaBroker("h", ca_file="ca.crt").tcp_port == 8883
    assert ScadaBroker("h", 1884, ca_file="ca.crt").tcp_port == 1884


def test_every_tonle_command_in_the_sparkplug_docs_parses():
    commands = [tonle_argv(c.argv) for c in shell_commands(REPO / "docs" / "sparkplug.md")]
    found = [argv for argv in commands if argv is not None]
    assert any(argv[0] == "sparkplug-bridge" for argv in found)
    for argv in found:
        cli._parser().parse_args(argv)  # SystemExit (a test failure) on a wrong option
