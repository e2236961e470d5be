"""The production broker's config, password setup and ACL, run on a real mosquitto.

deploy/mosquitto/mosquitto.conf is used as shipped except for the four lines that
name a port or a path; deploy/mosquitto/init-auth.sh builds the password file
exactly as the `mosquitto-init` compose service does. Then real MQTT v5 clients
check who may publish and read what: above all, that only analytics and operators
can send a command to a machine.
"""

from __future__ import annotations

import os
import pwd
import queue
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tonle.app.services import LocalBroker

pytestmark = pytest.mark.services

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
CONF = DEPLOY / "mosquitto" / "mosquitto.conf"
INIT = DEPLOY / "mosquitto" / "init-auth.sh"
WAIT_S = 10.0
NOT_AUTHORIZED = 0x87

PASSWORDS = {
    "agent": "agent pw with spaces & $ymbols",
    "collector": "collector-pw",
    "analytics": "analytics-pw",
    "operator": "operator-pw",
}
ENV_NAMES = {
    "agent": "MQTT_AGENT_PASSWORD",
    "collector": "MQTT_COLLECTOR_PASSWORD",
    "analytics": "MQTT_ANALYTICS_PASSWORD",
    "operator": "MQTT_OPERATOR_PASSWORD",
}
MACHINE = "tonle/kandal/sewing/line_3/OL-01"


def _run_init(auth_dir: Path, env_overrides: dict[str, str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MQTT_")}
    # The broker below runs as this user (the image's broker runs as uid 1883).
    ids = {"MOSQUITTO_UID": str(os.getuid()), "MOSQUITTO_GID": str(os.getgid())}
    env |= {"AUTH_DIR": str(auth_dir), **ids}
    env |= env_overrides
    return subprocess.run(["sh", str(INIT)], env=env, capture_output=True, text=True, timeout=60, check=False)


@dataclass
class DeployBroker(LocalBroker):
    """A LocalBroker that runs the shipped production config on a loopback port."""

    auth_dir: Path = Path()

    def config_text(self) -> str:
        data = self.folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        replace = {
            "listener": f"listener {self.port} 127.0.0.1",
            "password_file": f"password_file {self.auth_dir / 'passwd'}",
            "acl_file": f"acl_file {self.auth_dir / 'acl'}",
            "persistence_location": f"persistence_location {data}/",
        }
        out, seen = [], set()
        for line in CONF.read_text().splitlines():
            key = line.split(" ", 1)[0]
            if key in replace:
                seen.add(key)
                line = replace[key]
            out.append(line)
        missing = set(replace) - seen
        assert not missing, f"{CONF} no longer has the lines {sorted(missing)}; update this test"
        # Started as root, mosquitto would drop to the `mosquitto` user, which cannot
        # enter pytest's private temporary folders; stay the user who runs the tests.
        out.append(f"user {pwd.getpwuid(os.getuid()).pw_name}")
        return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def auth_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mosquitto-auth") / "auth"
    result = _run_init(folder, {ENV_NAMES[u]: p for u, p in PASSWORDS.items()})
    assert result.returncode == 0, result.stderr
    return folder


@pytest.fixture(scope="module")
def deploy_broker(tmp_path_factory: pytest.TempPathFactory, auth_dir: Path) -> Iterator[DeployBroker]:
    b = DeployBroker(folder=tmp_path_factory.mktemp("mosquitto-deploy"), auth_dir=auth_dir)
    b.start()
    yield b
    b.stop()


class Client:
    """A small synchronous MQTT v5 client that reports reason codes instead of hiding them."""

    def __init__(self, port: int, user: str | None, password: str | None, name: str) -> None:
        self.port = port
        self.c = paho.Client(CallbackAPIVersion.VERSION2, client_id=name, protocol=paho.MQTTv5)
        if user is not None:
            self.c.username_pw_set(user, password)
        self._connack: queue.Queue[int] = queue.Queue()
        self._acks: dict[int, int] = {}
        self._subacks: dict[int, list[int]] = {}
        self._cond = threading.Condition()
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.c.on_connect = lambda _c, _u, _f, rc, _p: self._connack.put(rc.value)
        self.c.on_publish = self._on_publish
        self.c.on_subscribe = self._on_subscribe
        self.c.on_message = lambda _c, _u, m: self.messages.put((m.topic, m.payload))

    def _on_publish(self, _c: object, _u: object, mid: int, rc: paho.ReasonCode, _p: object) -> None:
        with self._cond:
            self._acks[mid] = rc.value
            self._cond.notify_all()

    def _on_subscribe(self, _c: object, _u: object, mid: int, rcs: list[paho.ReasonCode], _p: object) -> None:
        with self._cond:
            self._subacks[mid] = [rc.value for rc in rcs]
            self._cond.notify_all()

    def connect(self) -> int:
        """Connect and return the CONNACK reason code (0 = accepted)."""
        self.c.connect("127.0.0.1", self.port, keepalive=30)
        self.c.loop_start()
        return self._connack.get(timeout=WAIT_S)

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()

    def _wait(self, table: dict[int, Any], mid: int) -> Any:
        with self._cond:
            assert self._cond.wait_for(lambda: mid in table, timeout=WAIT_S), "no answer"
            return table.pop(mid)

    def publish(self, topic: str, payload: bytes = b"{}") -> int:
        """Publish at QoS 1 and return the PUBACK reason code (0x87 = not authorized)."""
        info = self.c.publish(topic, payload, qos=1)
        return int(self._wait(self._acks, info.mid))

    def subscribe(self, topic: str) -> int:
        _, mid = self.c.subscribe(topic, qos=1)
        return int(self._wait(self._subacks, mid)[0])

    def next_message(self) -> tuple[str, bytes]:
        return self.messages.get(timeout=WAIT_S)


@pytest.fixture
def connect(deploy_broker: DeployBroker) -> Iterator:
    clients: list[Client] = []

    def _connect(user: str, password: str | None = None) -> Client:
        c = Client(deploy_broker.port, user, password or PASSWORDS[user], f"{user}-{len(clients)}")
        clients.append(c)
        rc = c.connect()
        assert rc == 0, f"{user} could not log in to the deploy broker (CONNACK {rc:#x})"
        return c

    yield _connect
    for c in clients:
        c.close()


def test_init_script_refuses_missing_password(tmp_path: Path) -> None:
    env = {ENV_NAMES[u]: p for u, p in PASSWORDS.items()}
    env["MQTT_ANALYTICS_PASSWORD"] = ""
    result = _run_init(tmp_path / "auth", env)
    assert result.returncode != 0
    assert "MQTT_ANALYTICS_PASSWORD" in result.stderr
    assert not (tmp_path / "auth" / "passwd").exists()


def test_init_script_refuses_a_colon_in_a_password(tmp_path: Path) -> None:
    env = {ENV_NAMES[u]: p for u, p in PASSWORDS.items()}
    env["MQTT_OPERATOR_PASSWORD"] = "abc:def"
    result = _run_init(tmp_path / "auth", env)
    assert result.returncode != 0
    assert "MQTT_OPERATOR_PASSWORD contains ':'" in result.stderr


def test_init_script_keeps_secrets_private(auth_dir: Path) -> None:
    for name in ("passwd", "acl", "healthcheck.pw"):
        mode = (auth_dir / name).stat().st_mode & 0o777
        assert mode == 0o600, f"{name} has mode {mode:o}; mosquitto wants 0600"
    text = (auth_dir / "passwd").read_text()
    users = [line.split(":", 1)[0] for line in text.splitlines()]
    assert users == ["agent", "collector", "analytics", "operator", "healthcheck"]
    assert all(p not in text for p in PASSWORDS.values()), "a plain password was left in passwd"
    assert not list(auth_dir.glob(".*")), "the plain-text temporary file was left behind"


def test_anonymous_and_wrong_password_are_refused(deploy_broker: DeployBroker) -> None:
    for user, password in ((None, None), ("agent", "wrong"), ("nobody", "x")):
        c = Client(deploy_broker.port, user, password, f"bad-{user}")
        try:
            rc = c.connect()
        finally:
            c.close()
        assert rc in (0x86, 0x87), f"{user!r} got CONNACK {rc:#x}; the broker must refuse it"


def test_only_analytics_and_operators_may_send_commands(connect) -> None:
    agent = connect("agent")
    assert agent.subscribe("tonle/kandal/sewing/line_3/+/cmd") < 0x80
    for user in ("analytics", "operator"):
        assert connect(user).publish(f"{MACHINE}/cmd", user.encode()) < 0x80
        assert agent.next_message() == (f"{MACHINE}/cmd", user.encode())
    for user in ("agent", "collector"):
        rc = connect(user).publish(f"{MACHINE}/cmd", b"forged")
        assert rc == NOT_AUTHORIZED, f"{user} published a command (PUBACK {rc:#x})"
    # The forged commands never reached the agent: the next message is the next real one.
    connect("operator").publish(f"{MACHINE}/cmd", b"after")
    assert agent.next_message() == (f"{MACHINE}/cmd", b"after")


def test_agent_publishes_its_kinds_and_collector_reads_them(connect) -> None:
    collector = connect("collector")
    assert collector.subscribe("$share/collectors/tonle/+/+/+/+/#") < 0x80
    agent = connect("agent")
    for kind in ("telemetry", "state", "count", "event", "status", "health", "cmd/ack"):
        assert agent.publish(f"{MACHINE}/{kind}", kind.encode()) < 0x80, kind
        assert collector.next_message() == (f"{MACHINE}/{kind}", kind.encode())
    for topic in (f"{MACHINE}/alert", "tonle/_deadletter/x", "other/topic"):
        assert agent.publish(topic) == NOT_AUTHORIZED, topic


def test_collectors_confirm_to_gateways_and_nobody_else_can(connect) -> None:
    """The end-to-end confirmation (docs/delivery.md) passes the production ACL, one way only."""
    agent = connect("agent")
    assert agent.subscribe("tonle/_gateway/gw-1/confirm") < 0x80
    assert connect("collector").publish("tonle/_gateway/gw-1/confirm", b"stored") < 0x80
    assert agent.next_message() == ("tonle/_gateway/gw-1/confirm", b"stored")
    for user in ("agent", "analytics", "operator"):
        rc = connect(user).publish("tonle/_gateway/gw-1/confirm", b"forged")
        assert rc == NOT_AUTHORIZED, f"{user} forged a confirmation (PUBACK {rc:#x})"


def test_collector_writes_dead_letters_only(connect) -> None:
    collector = connect("collector")
    assert collector.publish("tonle/_deadletter/kandal/bad-json") < 0x80
    for topic in (f"{MACHINE}/telemetry", f"{MACHINE}/cmd/ack", f"{MACHINE}/alert"):
        assert collector.publish(topic) == NOT_AUTHORIZED, topic


def test_agent_cannot_read_other_machines_data(connect) -> None:
    agent = connect("agent")
    # A subscription outside its read rules is refused or delivers nothing it may not see.
    rc = agent.subscribe("tonle/#")
    other = connect("agent")
    other.publish(f"{MACHINE}/telemetry", b"secret")
    connect("operator").publish(f"{MACHINE}/cmd", b"visible")
    topic, payload = agent.next_message()
    assert (topic, payload) == (f"{MACHINE}/cmd", b"visible"), f"SUBACK {rc:#x}"


def test_healthcheck_user_sees_uptime_only(connect, auth_dir: Path) -> None:
    password = (auth_dir / "healthcheck.pw").read_text().strip()
    hc = connect("healthcheck", password)
    assert hc.subscribe("$SYS/broker/uptime") < 0x80
    topic, _ = hc.next_message()
    assert topic == "$SYS/broker/uptime"
    assert hc.publish(f"{MACHINE}/cmd") == NOT_AUTHORIZED
