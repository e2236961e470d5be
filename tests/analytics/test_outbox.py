"""analytics.outbox: a command stays until its ack, is sent again unchanged, and expires counted.

The broker is real; the part of the agent is played by the test (it reads the `cmd` topic and
answers on `cmd/ack` or stays silent), so each ordering is forced.
"""

from __future__ import annotations

import asyncio
import logging

import httpx
import msgspec
import pytest

from analytics.outbox import Outbox, alert_row, command_row
from collector.rows import ROWS
from tests.helpers import new_signer, wait_for
from tonle.contract import Alert, Command, CommandAck, MachineAddress, decode, encode
from tonle.io.influxql import InfluxQLClient
from tonle.io.mqtt import MqttConnection
from tonle.security.commands import sign_command

pytestmark = pytest.mark.services

S = 1_000_000_000
NOW = 1_780_000_000 * S
SIGNER = new_signer()


def command(cmd_id: str = "c1", ttl_s: int = 120, value: float | None = 0.7, at_s: int = 0) -> Command:
    return Command(
        v=1,
        id=cmd_id,
        ts=NOW + at_s * S,
        expires=NOW + (at_s + ttl_s) * S,
        action="set_speed" if value is not None else "maintenance",
        reason="bearing health 0.55, below 0.6",
        value=value,
        issued_by="tonle-analytics",
    )


def test_the_rows_it_writes_are_the_collectors_rows_of_the_same_messages():
    """Same measurement, tags, fields and time: InfluxDB keeps the two copies as one point."""
    addr = MachineAddress("s", "a", "L1", "S07")
    for cmd in (command(), command("c2", value=None)):
        assert command_row(addr, cmd) == ROWS["cmd"].map(addr.topic("cmd"), addr, "cmd", encode(cmd)).lines
    for alert in (
        Alert(v=1, ts=NOW, severity="warning", code="derate", message="health 0.55", health=0.55, rul_h=6.5),
        Alert(v=1, ts=NOW, severity="critical", code="andon", message='stopped "S07"'),
    ):
        assert (
            alert_row(addr, alert)
            == ROWS["alert"].map(addr.topic("alert"), addr, "alert", encode(alert)).lines
        )


async def until(what: str, check) -> None:
    async def probe() -> bool:
        return bool(check())

    await wait_for(probe, bool, what)


async def received(conn: MqttConnection, n: int) -> list[bytes]:
    got: list[bytes] = []

    async def probe() -> int:
        while not conn.messages.empty():
            got.append(bytes(conn.messages.get_nowait().payload))
        return len(got)

    await wait_for(probe, lambda k: k >= n, f"{n} messages")
    return got


def test_a_command_is_sent_again_unchanged_until_its_ack_arrives(broker, unique_name):
    addr = MachineAddress(unique_name, "a", "L1", "S07")

    async def body() -> None:
        async with (
            MqttConnection(broker.host, broker.port, f"{unique_name}-analytics") as mqtt,
            MqttConnection(broker.host, broker.port, f"{unique_name}-gateway") as gateway,
        ):
            await gateway.subscribe(addr.topic("cmd"))
            await gateway.wait_subscribed()
            outbox = Outbox(mqtt, unique_name, signer=SIGNER)
            await outbox.listen()
            await mqtt.wait_subscribed()
            cmd = command()
            outbox.send(addr, cmd, NOW)
            first = await received(gateway, 1)
            assert outbox.resend_due(NOW + 5 * S) == 0, "sent again before its wait was over"
            await until("the PUBACK", lambda: mqtt.in_flight == 0)
            assert outbox.resend_due(NOW + 11 * S) == 1  # no ack: sent again
            again = await received(gateway, 1)
            assert again == first, "a re-sent command must be the same message (id, time, expiry)"
            assert decode("cmd", first[0]) == sign_command(cmd, addr, SIGNER), "sent signed for its machine"
            ack = CommandAck(
                v=1, id=cmd.id, ts=NOW + 12 * S, status="applied", detail="speed 70 %", signer=SIGNER.name
            )
            await gateway.publish(addr.topic("cmd/ack"), encode(ack))
            await until("the ack", outbox.take_acks)
            assert outbox.pending == {}
            assert outbox.resend_due(NOW + 100 * S) == 0
            assert (outbox.sent, outbox.resent, outbox.confirmed, outbox.unconfirmed) == (1, 1, 1, 0)

    asyncio.run(body())


def test_a_command_nobody_acknowledges_is_counted_and_logged_once_when_it_expires(
    broker, unique_name, caplog
):
    addr = MachineAddress(unique_name, "a", "L1", "S07")

    async def body() -> None:
        async with MqttConnection(broker.host, broker.port, f"{unique_name}-analytics") as mqtt:
            await mqtt.wait_connected()
            outbox = Outbox(mqtt, unique_name, signer=SIGNER)
            await outbox.listen()
            outbox.send(addr, command(ttl_s=30), NOW)
            resent = 0
            for t in range(5, 61, 5):  # a round every 5 s for a minute; nobody answers
                await until("the PUBACK", lambda: mqtt.in_flight == 0)
                resent += outbox.resend_due(NOW + t * S)
            assert 1 <= resent <= 3  # 10 s, then 20 s: backed off, and never after the expiry
            assert outbox.pending == {}
            assert (outbox.unconfirmed, outbox.confirmed) == (1, 0)

    with caplog.at_level(logging.WARNING, logger="tonle.analytics"):
        asyncio.run(body())
    expired = [r for r in caplog.records if "expired with no answer" in r.getMessage()]
    assert len(expired) == 1
    assert "c1" in expired[0].getMessage()


def test_its_counters_and_rows_reach_the_database(broker, influxdb, unique_name):
    addr = MachineAddress(unique_name, "a", "L1", "S07")

    async def body() -> None:
        async with (
            MqttConnection(broker.host, broker.port, f"{unique_name}-analytics") as mqtt,
            InfluxQLClient(influxdb.url, unique_name) as q,
        ):
            await q.create_database()
            outbox = Outbox(mqtt, unique_name, signer=SIGNER)
            outbox.send(addr, command(), NOW)
            outbox.alert(addr, Alert(v=1, ts=NOW, severity="warning", code="derate", message="m", health=0.5))
            async with httpx.AsyncClient() as http:
                r = await http.post(
                    f"{influxdb.url}/write", params={"db": unique_name}, content=outbox.rows(NOW)
                )
                assert r.status_code == 204, r.text
            outbox.written()
            assert outbox.rows(NOW).count(b"\n") == 1  # only the counters once written
            rows = await q.query("SELECT id, status, issued_by FROM commands")
            assert [r[1:] for r in rows[0].values] == [["c1", "sent", "tonle-analytics"]]
            health = await q.query(
                "SELECT commands_sent, commands_pending FROM pipeline WHERE component = 'analytics'"
            )
            assert health[0].values[0][1:] == [1.0, 1.0]

    asyncio.run(body())


def test_a_restarted_service_takes_back_the_unacknowledged_commands_it_had_stored(influxdb, unique_name):
    """c1 waits for its ack; c2 was acknowledged; c3 has expired; c4 is an operator's; c5 another line's;
    c6 claims to be the analytics' but is not signed by its key (anyone may publish a stored `cmd`)."""
    from analytics.inputs import LineKey
    from analytics.recovery import restore_outbox
    from tonle.config import parse_config

    key = LineKey(unique_name, "a", "L1")
    sent = {
        "c1": (MachineAddress(unique_name, "a", "L1", "S07"), command("c1")),
        "c2": (MachineAddress(unique_name, "a", "L1", "S03"), command("c2", value=None)),
        "c3": (MachineAddress(unique_name, "a", "L1", "S07"), command("c3", ttl_s=10, at_s=1)),
        "c4": (MachineAddress(unique_name, "a", "L1", "S07"), command("c4", at_s=2)),
        "c5": (MachineAddress(unique_name, "a", "L2", "S07"), command("c5")),
    }
    sent = {c: (addr, sign_command(cmd, addr, SIGNER)) for c, (addr, cmd) in sent.items()}
    operator = msgspec.structs.replace(sent["c4"][1], issued_by="operator")
    sent["c4"] = (sent["c4"][0], sign_command(operator, sent["c4"][0], new_signer("operator")))
    forged = msgspec.structs.replace(command("c6", at_s=3), key=SIGNER.name, sig=sent["c1"][1].sig)
    sent["c6"] = (MachineAddress(unique_name, "a", "L1", "S07"), forged)
    ack = CommandAck(v=1, id="c2", ts=NOW + 2 * S, status="applied", detail="")
    addr2 = sent["c2"][0]
    lines = b"".join(command_row(addr, cmd) for addr, cmd in sent.values())
    lines += ROWS["cmd/ack"].map(addr2.topic("cmd/ack"), addr2, "cmd/ack", encode(ack)).lines
    cfg = parse_config({})

    async def body() -> None:
        async with InfluxQLClient(influxdb.url, unique_name) as q:
            await q.create_database()
            async with httpx.AsyncClient() as http:
                r = await http.post(f"{influxdb.url}/write", params={"db": unique_name}, content=lines)
                assert r.status_code == 204, r.text
            # tracking needs no link
            outbox = Outbox(MqttConnection("127.0.0.1", 1, "unused"), unique_name, signer=SIGNER)
            assert await restore_outbox(q, cfg.analytics, key, NOW + 60 * S, outbox) == 1
            assert list(outbox.pending) == ["c1"]
            restored = outbox.pending["c1"]
            assert restored.cmd == sent["c1"][1] and restored.addr == sent["c1"][0]

    asyncio.run(body())
