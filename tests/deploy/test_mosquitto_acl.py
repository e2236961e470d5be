"""The production broker, run on a real mosquitto with the shipped config and a provisioned folder.

deploy/mosquitto/mosquitto.conf runs as shipped except for the port, the container paths
and the log (tests/deploy/deploy_broker.py); the security folder is made by
deploy/provision.sh, as compose's `provision` service makes it, and `tonle provision`. Real
MQTT v5 clients over TLS then check who may connect, publish and read what: above all, that
only a collector's certificate reaches the data and only analytics and operators can send a
command to a machine.

One connection per identity at a time: the broker makes the client id the certificate's
name, so a second connection with the same certificate takes over the first.
"""

from __future__ import annotations

import contextlib
import queue
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.deploy.deploy_broker import DeployBroker, provision
from tests.deploy.tls_client import NOT_AUTHORIZED, Client, Tls, refused
from tonle.security.plant import PlantSecurity
from tonle.security.registry import Member

pytestmark = [
    pytest.mark.services,
    # paho does not close the socket of a TLS handshake that failed (the refusals tested here).
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
]

LINE = "tonle/kandal/sewing/L3"
SHARED_TELEMETRY = "$share/collectors/tonle/+/+/+/+/telemetry"

Connect = Callable[..., Client]


def tls_of(security: Path, name: str) -> Tls:
    return Tls(security / "ca.crt", security / f"{name}.crt", security / f"{name}.key")


@pytest.fixture
def connect(deploy_broker: DeployBroker, deploy_security: Path) -> Iterator[Connect]:
    clients: list[Client] = []

    def _connect(name: str, client_id: str = "", **session: int | bool) -> Client:
        c = Client(deploy_broker.port, tls_of(deploy_security, name), client_id or f"{name}-{len(clients)}")
        clients.append(c)
        rc = c.connect(**session)  # type: ignore[arg-type]
        assert rc == 0, f"{name} could not connect to the deploy broker ({rc:#x})"
        return c

    yield _connect
    for c in clients:
        c.close()


@pytest.fixture(scope="module")
def other_plant(tmp_path_factory: pytest.TempPathFactory) -> PlantSecurity:
    """Another plant's CA, with a gateway that has the same name as one of ours."""
    plant = PlantSecurity.open(tmp_path_factory.mktemp("other-plant") / "security")
    plant.add(Member("gw-a", "gateway", "kandal", "sewing", "L3", ("OL-01",)))
    return plant


def test_a_client_without_a_certificate_of_the_plant_ca_cannot_connect(
    deploy_broker: DeployBroker, deploy_security: Path, other_plant: PlantSecurity
) -> None:
    port, ca = deploy_broker.port, deploy_security / "ca.crt"
    other = other_plant.identity("gw-a")
    attempts = {
        "anonymous, plain text": refused(port, None, "anon"),
        "TLS, no certificate": refused(port, Tls(ca), "no-cert"),
        "a certificate of another CA": refused(port, Tls(ca, other.cert, other.key), "gw-a"),
    }
    accepted = [what for what, how in attempts.items() if not how]
    assert not accepted, f"the broker accepted: {accepted}"
    assert refused(port, tls_of(deploy_security, "gw-a"), "gw-a") == "", "the real gw-a was refused"


def test_a_client_that_does_not_trust_the_plant_ca_refuses_the_broker(
    deploy_broker: DeployBroker, deploy_security: Path, other_plant: PlantSecurity
) -> None:
    ours = tls_of(deploy_security, "gw-a")
    c = Client(deploy_broker.port, Tls(other_plant.authority.ca_file, ours.cert, ours.key), "gw-a")
    with pytest.raises(ssl.SSLCertVerificationError):
        c.connect()


def test_a_gateway_publishes_only_for_the_machines_it_owns(connect: Connect) -> None:
    collector = connect("collector-1")
    assert collector.subscribe("$share/collectors/tonle/#") < 0x80
    gw = connect("gw-a")
    for kind in ("telemetry", "state", "count", "event", "status", "cmd/ack"):
        for machine in ("OL-01", "OL-02"):
            assert gw.publish(f"{LINE}/{machine}/{kind}", kind.encode()) < 0x80, (machine, kind)
            assert collector.next_message() == (f"{LINE}/{machine}/{kind}", kind.encode())
    for topic in (
        f"{LINE}/OL-03/telemetry",  # gw-b's machine
        f"{LINE}/OL-09/state",  # nobody's machine of its line
        "tonle/kandal/sewing/L4/OL-01/telemetry",  # the same machine name on another line
        "tonle/other-site/sewing/L3/OL-01/count",
        f"{LINE}/OL-01/alert",
        f"{LINE}/OL-01/cmd",
        "tonle/_deadletter/x",
        "tonle/_gateway/gw-a/confirm",
        "other/topic",
    ):
        assert gw.publish(topic, b"forged") == NOT_AUTHORIZED, topic


def test_the_gateways_own_health_and_confirmations_pass(connect: Connect) -> None:
    """The bug in issue 12: the production ACL refused the agent's health topic."""
    collector = connect("collector-1")
    assert collector.subscribe("$share/collectors/tonle/#") < 0x80
    gw_a, gw_b = connect("gw-a"), connect("gw-b")
    for kind in ("health", "status"):
        assert gw_a.publish(f"{LINE}/gw-a/{kind}", kind.encode()) < 0x80, kind
        assert collector.next_message() == (f"{LINE}/gw-a/{kind}", kind.encode())
    assert gw_a.publish(f"{LINE}/gw-b/health", b"forged") == NOT_AUTHORIZED
    gw_a.subscribe("tonle/_gateway/gw-a/confirm")
    gw_b.subscribe("tonle/_gateway/gw-a/confirm")  # another gateway's confirmations
    gw_b.subscribe("tonle/_gateway/gw-b/confirm")
    assert collector.publish("tonle/_gateway/gw-a/confirm", b"stored-a") < 0x80
    assert collector.publish("tonle/_gateway/gw-b/confirm", b"stored-b") < 0x80
    assert gw_a.next_message() == ("tonle/_gateway/gw-a/confirm", b"stored-a")
    assert gw_b.next_message() == ("tonle/_gateway/gw-b/confirm", b"stored-b"), "gw-b read gw-a's"
    for name in ("gw-b", "analytics-1", "op-1"):
        assert connect(name).publish("tonle/_gateway/gw-a/confirm", b"forged") == NOT_AUTHORIZED, name


def test_only_analytics_and_operators_may_send_commands(connect: Connect) -> None:
    gw = connect("gw-a")
    assert gw.subscribe(f"{LINE}/OL-01/cmd") < 0x80
    for name in ("analytics-1", "op-1"):
        assert connect(name).publish(f"{LINE}/OL-01/cmd", name.encode()) < 0x80, name
        assert gw.next_message() == (f"{LINE}/OL-01/cmd", name.encode())
    # One connection per identity: the broker makes the client id the certificate's name, so a
    # second gw-a connection would take over the first; gw-a forges on its own link.
    for name, client in (("gw-a", gw), *((n, connect(n)) for n in ("gw-b", "collector-1", "healthcheck"))):
        rc = client.publish(f"{LINE}/OL-01/cmd", b"forged")
        assert rc == NOT_AUTHORIZED, f"{name} published a command (PUBACK {rc:#x})"
    # The forged commands never reached the gateway: the next message is the next real one.
    connect("op-1").publish(f"{LINE}/OL-01/cmd", b"after")
    assert gw.next_message() == (f"{LINE}/OL-01/cmd", b"after")


def test_a_qc_tablet_sends_only_defects_and_andon_acks_for_its_own_line(connect: Connect) -> None:
    collector = connect("collector-1")
    assert collector.subscribe("$share/collectors/tonle/#") < 0x80
    qc = connect("qc-l3")
    for topic in (f"{LINE}/QC/defect", f"{LINE}/OL-01/defect", f"{LINE}/OL-03/andon/ack"):
        assert qc.publish(topic, b"floor") < 0x80, topic
        assert collector.next_message() == (topic, b"floor")
    for topic in (
        f"{LINE}/OL-01/telemetry",  # a machine's data: only its gateway
        f"{LINE}/OL-01/state",
        f"{LINE}/OL-01/cmd",  # a command: only analytics and operators
        f"{LINE}/OL-01/cmd/ack",
        f"{LINE}/OL-01/alert",
        "tonle/kandal/sewing/L4/QC/defect",  # another line
        "tonle/other-site/sewing/L3/QC/andon/ack",
        "tonle/_gateway/gw-a/confirm",
    ):
        assert qc.publish(topic, b"forged") == NOT_AUTHORIZED, topic
    assert qc.subscribe("tonle/#") == NOT_AUTHORIZED, "a QC tablet read the plant's data"
    assert qc.subscribe(f"{LINE}/OL-01/cmd") == NOT_AUTHORIZED


def test_a_gateway_reads_neither_another_gateways_commands_nor_any_data(connect: Connect) -> None:
    gw_a = connect("gw-a")
    codes = {t: gw_a.subscribe(t) for t in (f"{LINE}/OL-03/cmd", "tonle/#", SHARED_TELEMETRY)}
    assert gw_a.subscribe(f"{LINE}/OL-01/cmd") < 0x80
    connect("op-1").publish(f"{LINE}/OL-03/cmd", b"for gw-b")
    connect("gw-b").publish(f"{LINE}/OL-03/telemetry", b"gw-b's data")
    connect("op-1").publish(f"{LINE}/OL-01/cmd", b"for gw-a")
    assert gw_a.next_message() == (f"{LINE}/OL-01/cmd", b"for gw-a"), f"SUBACKs {codes}"


@pytest.mark.parametrize("intruder", ["gw-a", "op-1", "analytics-1", "healthcheck"])
def test_only_a_collector_can_join_the_collectors_group(connect: Connect, intruder: str) -> None:
    """An intruder in the group would be handed its turn of the data, which the broker then drops."""
    collector = connect("collector-1")
    assert collector.subscribe(SHARED_TELEMETRY) < 0x80
    other = connect(intruder)
    code = other.subscribe(SHARED_TELEMETRY)
    gw = connect("gw-b")
    sent = [f"m{i}".encode() for i in range(20)]
    for payload in sent:
        assert gw.publish(f"{LINE}/OL-03/telemetry", payload) < 0x80
    got: list[bytes] = []
    with contextlib.suppress(queue.Empty):  # a message the broker dropped never comes
        for _ in sent:
            got.append(collector.next_message()[1])
    assert got == sent, f"the collector got {len(got)} of {len(sent)} ({intruder}'s SUBACK {code:#x})"
    assert other.messages.empty(), f"{intruder} received data from the collectors' group"
    assert code == NOT_AUTHORIZED, f"{intruder} joined the collectors' group (SUBACK {code:#x})"


def test_nobody_can_take_the_collectors_client_id(connect: Connect) -> None:
    """The broker makes the client id the certificate's name: the collector's queued session survives."""
    topic = f"{LINE}/OL-03/state"
    collector = connect("collector-1", "collector-1", clean_start=False, session_expiry_s=300)
    assert collector.subscribe(topic) < 0x80
    collector.close()
    gw = connect("gw-b")
    queued = [f"q{i}".encode() for i in range(5)]
    for payload in queued:
        assert gw.publish(topic, payload) < 0x80
    for intruder in ("gw-a", "op-1", "analytics-1"):  # each asks for the collector's id, clean
        connect(intruder, "collector-1", clean_start=True)
    back = connect("collector-1", "collector-1", clean_start=False, session_expiry_s=300)
    assert [back.next_message() for _ in queued] == [(topic, p) for p in queued]
    back.subscribe(topic)  # and clean up: the next test starts without a queue here
    back.close()
    connect("collector-1", "collector-1", clean_start=True)


def test_a_revoked_gateway_is_refused_after_a_restart_and_the_others_keep_working(
    connect: Connect, deploy_broker: DeployBroker, deploy_security: Path
) -> None:
    gone = connect("gw-gone")
    assert gone.publish(f"{LINE}/OL-04/telemetry", b"before") < 0x80
    gone.close()

    provision(deploy_security, "revoke", "gw-gone")
    deploy_broker.apply()  # what `docker compose restart mosquitto` does

    how = refused(deploy_broker.port, tls_of(deploy_security, "gw-gone"), "gw-gone")
    assert how, "the revoked gateway connected again"
    collector = connect("collector-1")
    assert collector.subscribe("$share/collectors/tonle/#") < 0x80
    assert connect("gw-b").publish(f"{LINE}/OL-03/telemetry", b"still here") < 0x80
    assert collector.next_message() == (f"{LINE}/OL-03/telemetry", b"still here")


def test_the_broker_healthcheck_identity_reads_the_uptime_only(
    deploy_broker: DeployBroker, deploy_security: Path
) -> None:
    """What the mosquitto container's healthcheck does (mosquitto_sub, host localhost, its files)."""
    hc = Client(deploy_broker.port, tls_of(deploy_security, "healthcheck"), "hc", host="localhost")
    try:
        assert hc.connect() == 0
        assert hc.subscribe("$SYS/broker/uptime") < 0x80
        assert hc.next_message()[0] == "$SYS/broker/uptime"
        assert hc.subscribe("tonle/#") == NOT_AUTHORIZED
        assert hc.publish(f"{LINE}/OL-01/cmd") == NOT_AUTHORIZED
    finally:
        hc.close()
