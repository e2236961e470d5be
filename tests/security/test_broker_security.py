"""The secure broker, as the demo runs it: a real mosquitto with the generated config, ACL and CRL.

Each identity connects with its own certificate; the tests prove what an outsider, or a
gateway that is not the right one, cannot do.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tonle.app.services import LocalBroker
from tonle.contract.confirm import confirm_topic
from tonle.errors import MqttError
from tonle.io.mqtt import MqttConnection, TlsFiles
from tonle.security.pki import Authority

pytestmark = pytest.mark.timeout(120)

SITE, AREA = "sec", "sewing"
NOT_AUTHORIZED = 135  # MQTT v5 PUBACK reason codes
ACCEPTED = (0, 16)  # 16: accepted, but nobody is subscribed


@pytest.fixture(scope="module")
def secure(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    b = LocalBroker(folder=tmp_path_factory.mktemp("secure-broker"))
    b.identity("gw-a", "gateway", site=SITE, area=AREA, line="L1", machines=("S01", "S02"))
    b.identity("gw-b", "gateway", site=SITE, area=AREA, line="L2")
    b.identity("collector-1", "collector")
    b.identity("op-1", "operator", site=SITE)
    b.start()
    yield b
    b.stop()


def conn(broker: LocalBroker, name: str, client_id: str = "") -> MqttConnection:
    """A connection with `name`'s own certificate (asking for `client_id`, which the broker overrides)."""
    s = _settings(broker, name)
    tls = TlsFiles(s["ca_file"], s["cert_file"], s["key_file"])
    return MqttConnection(broker.host, broker.port, client_id or name, tls=tls)


def _settings(broker: LocalBroker, name: str) -> dict[str, Any]:
    ident = broker.plant.identity(name)
    return {
        "ca_file": str(broker.plant.authority.ca_file),
        "cert_file": str(ident.cert),
        "key_file": str(ident.key),
    }


async def refused(c: MqttConnection) -> MqttError:
    async with c:
        with pytest.raises(MqttError) as caught:
            await c.check_reachable(10)
    return caught.value


async def drain(c: MqttConnection, within_s: float = 1.0) -> list[str]:
    """Topics that arrive within `within_s` after the last message (a bounded read, not a sleep)."""
    got = []
    with contextlib.suppress(TimeoutError):
        while True:
            got.append((await asyncio.wait_for(c.messages.get(), within_s)).topic)
    return got


def test_an_anonymous_plain_text_client_is_refused(secure: LocalBroker) -> None:
    err = asyncio.run(refused(MqttConnection(secure.host, secure.port, "anon")))
    assert "hung up before accepting" in str(err)


def test_a_tls_client_without_a_certificate_is_refused(secure: LocalBroker) -> None:
    ca = str(secure.plant.authority.ca_file)

    async def body() -> MqttError:
        c = MqttConnection(secure.host, secure.port, "no-cert")
        async with c:
            assert c._client is not None
            c._client.tls_set(ca_certs=ca)  # a TLS client that shows no certificate
            with pytest.raises(MqttError) as caught:
                await c.check_reachable(10)
        return caught.value

    err = asyncio.run(body())
    assert "certificate" in str(err)


def test_a_certificate_from_another_ca_is_refused(secure: LocalBroker, tmp_path: Path) -> None:
    other = Authority.open(tmp_path / "rogue-ca")
    ident = other.issue("collector-1")  # the right name, signed by the wrong authority
    c = MqttConnection(
        secure.host,
        secure.port,
        "collector-1",
        tls=TlsFiles(str(secure.plant.authority.ca_file), str(ident.cert), str(ident.key)),
    )
    asyncio.run(refused(c))


def test_a_client_that_does_not_trust_the_plant_ca_never_talks_to_the_broker(
    secure: LocalBroker, tmp_path: Path
) -> None:
    other = Authority.open(tmp_path / "other-ca")
    s = _settings(secure, "gw-a")
    c = MqttConnection(
        secure.host, secure.port, "gw-a", tls=TlsFiles(str(other.ca_file), s["cert_file"], s["key_file"])
    )
    err = asyncio.run(refused(c))
    assert "did not prove who it is" in str(err) and "ca_file" in err.fix


def test_a_gateway_publishes_only_for_the_machines_it_owns(secure: LocalBroker) -> None:
    async def body() -> tuple[dict[str, int], list[str]]:
        async with conn(secure, "collector-1") as col, conn(secure, "gw-a") as gw:
            await asyncio.gather(col.wait_connected(), gw.wait_connected())
            await col.subscribe(f"tonle/{SITE}/+/+/+/telemetry", qos=1)
            await col.wait_subscribed()
            codes = {}
            for line, machine in (("L1", "S01"), ("L1", "S03"), ("L2", "S01")):
                topic = f"tonle/{SITE}/{AREA}/{line}/{machine}/telemetry"
                codes[topic] = await gw.publish_nowait(topic, b"{}", qos=1)
            return codes, await drain(col)

    codes, seen = asyncio.run(body())
    own = f"tonle/{SITE}/{AREA}/L1/S01/telemetry"
    assert codes[own] == 0 and seen == [own]
    assert [c for t, c in codes.items() if t != own] == [NOT_AUTHORIZED, NOT_AUTHORIZED]


def test_a_gateway_cannot_read_another_gateways_commands_nor_the_data(secure: LocalBroker) -> None:
    async def body() -> list[str]:
        async with conn(secure, "gw-a") as spy, conn(secure, "op-1") as op:
            await asyncio.gather(spy.wait_connected(), op.wait_connected())
            await spy.subscribe(f"tonle/{SITE}/{AREA}/L2/+/cmd", qos=1)  # gw-b's line
            await spy.subscribe(f"tonle/{SITE}/+/+/+/telemetry", qos=1)
            await spy.subscribe(f"tonle/{SITE}/{AREA}/L1/+/cmd", qos=1)  # its line: only its own arrive
            await spy.wait_subscribed()
            assert await op.publish_nowait(f"tonle/{SITE}/{AREA}/L2/S09/cmd", b"{}", qos=1) in ACCEPTED
            assert await op.publish_nowait(f"tonle/{SITE}/{AREA}/L1/S01/cmd", b"{}", qos=1) == 0
            assert await op.publish_nowait(f"tonle/{SITE}/{AREA}/L1/S05/cmd", b"{}", qos=1) in ACCEPTED
            return await drain(spy)

    assert asyncio.run(body()) == [f"tonle/{SITE}/{AREA}/L1/S01/cmd"]


def test_only_a_collector_can_join_the_collectors_group(secure: LocalBroker) -> None:
    """A gateway that joins the shared group would take half the data from the collectors."""
    group = f"$share/collectors/tonle/{SITE}/+/+/+/telemetry"

    async def body() -> tuple[list[str], list[str]]:
        async with (
            conn(secure, "collector-1") as col,
            conn(secure, "gw-b") as thief,
            conn(secure, "gw-a") as gw,
        ):
            await asyncio.gather(col.wait_connected(), thief.wait_connected(), gw.wait_connected())
            await col.subscribe(group, qos=1)
            await thief.subscribe(group, qos=1)
            await asyncio.gather(col.wait_subscribed(), thief.wait_subscribed())
            for i in range(20):
                assert await gw.publish_nowait(f"tonle/{SITE}/{AREA}/L1/S02/telemetry", b"%d" % i, qos=1) == 0
            return await drain(col), await drain(thief, 0.2)

    to_collector, to_thief = asyncio.run(body())
    assert len(to_collector) == 20 and to_thief == []


def test_nobody_can_take_the_collectors_client_id(secure: LocalBroker) -> None:
    """The broker forces client id = certificate name, so a gateway asking for it gets its own."""

    async def body() -> tuple[bool, int]:
        async with conn(secure, "collector-1") as col:
            await col.wait_connected()
            async with conn(secure, "gw-b", client_id="collector-1") as thief:
                await thief.wait_connected()
                await col.subscribe(f"tonle/{SITE}/+/+/+/telemetry", qos=1)
                await col.wait_subscribed()  # a taken session would have dropped the collector
                return col.connected.is_set(), col.stats.disconnects

    still_connected, drops = asyncio.run(body())
    assert still_connected and drops == 0


def test_a_gateways_health_and_confirmations_pass_the_acl(secure: LocalBroker) -> None:
    async def body() -> tuple[int, list[str]]:
        async with conn(secure, "gw-a") as gw, conn(secure, "collector-1") as col:
            await asyncio.gather(gw.wait_connected(), col.wait_connected())
            await gw.subscribe(confirm_topic("gw-a"), qos=1)
            await gw.wait_subscribed()
            health = await gw.publish_nowait(f"tonle/{SITE}/{AREA}/L1/gw-a/health", b"{}", qos=1)
            assert await col.publish_nowait(confirm_topic("gw-a"), b"{}", qos=1) == 0
            return health, await drain(gw)

    health, seen = asyncio.run(body())
    assert health in ACCEPTED and seen == [confirm_topic("gw-a")]


def test_a_revoked_gateway_is_refused_while_the_others_keep_working(tmp_path: Path) -> None:
    b = LocalBroker(folder=tmp_path / "broker")
    b.identity("gw-x", "gateway", site=SITE, area=AREA, line="L7")
    b.identity("gw-y", "gateway", site=SITE, area=AREA, line="L8")
    b.start()
    try:

        async def body() -> tuple[int, MqttError]:
            async with conn(b, "gw-y") as keeps:
                await keeps.wait_connected()
                b.revoke("gw-x")
                err = await refused(conn(b, "gw-x"))
                return await keeps.publish_nowait(f"tonle/{SITE}/{AREA}/L8/S01/telemetry", b"{}", qos=1), err

        code, err = asyncio.run(body())
        assert code in ACCEPTED and "revoked" in err.fix
    finally:
        b.stop()


def test_the_provision_command_and_the_registry_agree_on_the_roles() -> None:
    from tonle.app import provision
    from tonle.security.registry import ROLES

    assert provision.ROLES == ROLES


def test_adding_an_identity_loses_nothing_queued_for_an_offline_collector(tmp_path: Path) -> None:
    """Provisioning restarts the broker: an offline collector's persistent session keeps its rights.

    (With an acl_file and SIGHUP, mosquitto 2.0.11 left an offline certificate session without
    its ACL and dropped what was published for it: bench/RESULTS.md, issue 12.)
    """
    b = LocalBroker(folder=tmp_path / "broker")
    b.identity("gw-q", "gateway", site=SITE, area=AREA, line="L3")
    b.identity("collector-q", "collector")
    b.start()
    topic = f"tonle/{SITE}/{AREA}/L3/S01/telemetry"
    try:

        def collector() -> MqttConnection:
            s = _settings(b, "collector-q")
            tls = TlsFiles(s["ca_file"], s["cert_file"], s["key_file"])
            return MqttConnection(
                b.host, b.port, "collector-q", tls=tls, clean_start=False, session_expiry_s=3600
            )

        async def away() -> None:
            async with collector() as col:
                await col.wait_connected()
                await col.subscribe(f"tonle/{SITE}/+/+/+/telemetry", qos=1)
                await col.wait_subscribed()

        async def publish(payload: bytes) -> int:
            async with conn(b, "gw-q") as gw:
                await gw.wait_connected()
                return await gw.publish_nowait(topic, payload, qos=1)

        async def back() -> list[bytes]:
            async with collector() as col:
                got = []
                with contextlib.suppress(TimeoutError):
                    while True:
                        got.append(bytes((await asyncio.wait_for(col.messages.get(), 3.0)).payload))
                return got

        asyncio.run(away())
        assert asyncio.run(publish(b"before")) == 0
        b.identity("gw-new", "gateway", site=SITE, area=AREA, line="L4")  # restarts the broker
        assert asyncio.run(publish(b"after")) == 0
        assert asyncio.run(back()) == [b"before", b"after"]
    finally:
        b.stop()
