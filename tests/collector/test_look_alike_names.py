"""Look-alike names on a real mosquitto and influxd: refused with both names, stored nothing, not forgotten.

Once `sm01` is stored, a message from a machine that only looks like it (Cyrillic dze, full
width, a stray combining accent, a zero width space) goes to the dead letters with a reason
naming both names, and nothing of it is stored; `sm02` and a Khmer name are new machines and
are stored. A collector started again reads the stored names first and still refuses them.
"""

from __future__ import annotations

import asyncio

import msgspec
import numpy as np

from tests.helpers import config_for, count, running_collector, wait_for
from tonle.contract import Telemetry, encode
from tonle.io.influxql import InfluxQLClient, quote_str
from tonle.io.mqtt import MqttConnection

T0 = 1_780_000_000_000_000_000
DEAD_LETTER_WAIT_S = 20.0
KHMER = "ម៉ាស៊ីន១"  # "machine 1"
SPOOFS = {
    "\u0455m01": ("look-alike machine name", "U+0455 U+006D U+0030 U+0031"),  # Cyrillic dze
    "\uff53\uff4d\uff10\uff11": ("look-alike machine name", "U+FF53 U+FF4D U+FF10 U+FF11"),  # full width
    "sm01\u0301": ("look-alike machine name", "U+0073 U+006D U+0030 U+0031 U+0301"),  # combining acute
    "s\u200bm01": ("bad machine name", "U+200B"),  # zero width space: refused as invisible
}


def batch(seq: int, n: int, t0: int) -> bytes:
    ts = (t0 + np.arange(n, dtype=np.int64) * 1_000_000).tolist()
    return encode(Telemetry(v=1, seq=seq, ts=ts, fields={"vib_rms": [0.5] * n}))


def topic(site: str, machine: str, line: str = "L1") -> str:
    return f"tonle/{site}/sewing/{line}/{machine}/telemetry"


async def next_letters(dl: MqttConnection, n: int) -> dict[str, str]:
    """The reasons of the next `n` dead letters, by the topic of the message they stand for."""
    letters: dict[str, str] = {}
    while len(letters) < n:
        msg = await asyncio.wait_for(dl.messages.get(), DEAD_LETTER_WAIT_S)
        letter = msgspec.json.decode(msg.payload)
        letters[letter["topic"]] = letter["reason"]
    return letters


async def machines(q: InfluxQLClient) -> set[str]:
    return {row[1] for s in await q.query('SHOW TAG VALUES WITH KEY = "machine"') for row in s.values}


async def stored(q: InfluxQLClient, machine: str, n: int) -> None:
    where = f"WHERE machine = {quote_str(machine)}"
    await wait_for(
        lambda: count(q, f"SELECT count(vib_rms) FROM telemetry {where}"),
        lambda c: c >= n,
        f"{machine} stored",
    )


def test_look_alikes_of_a_stored_machine_are_refused_and_a_restart_still_refuses_them(
    broker, influxdb, unique_name
):
    cfg = config_for(broker, influxdb, unique_name)
    site = unique_name

    async def first_run(pub: MqttConnection, dl: MqttConnection, q: InfluxQLClient) -> None:
        async with running_collector(cfg, reckon=True) as collector:
            await pub.publish(topic(site, "sm01"), batch(0, 5, T0))
            await stored(q, "sm01", 5)
            for i, spoof in enumerate(SPOOFS):
                await pub.publish(topic(site, spoof), batch(0, 3, T0 + (i + 1) * 10**9))
            await pub.publish(topic(site, "sm02"), batch(0, 4, T0))
            await pub.publish(topic(site, KHMER), batch(0, 6, T0))

            letters = await next_letters(dl, len(SPOOFS))
            for spoof, (category, points) in SPOOFS.items():
                reason = letters[topic(site, spoof)]
                assert reason.startswith(f"{category}: ") and points in reason, reason
                if category.startswith("look-alike"):
                    assert "the existing machine 'sm01' (U+0073 U+006D U+0030 U+0031)" in reason, reason
                    assert "use 'sm01' itself if it is the same machine" in reason, reason
            await stored(q, "sm02", 4)
            await stored(q, KHMER, 6)
            assert collector.stats.names_refused == 3
            assert collector.health_fields()["names_refused"] == 3.0
            assert collector.stats.dead_letter_reasons == {
                "look-alike machine name": 3,
                "bad machine name": 1,
            }
        assert await machines(q) == {"sm01", "sm02", KHMER}

    async def second_run(pub: MqttConnection, dl: MqttConnection, q: InfluxQLClient) -> None:
        async with running_collector(cfg, reckon=True) as collector:
            # Read from the database before the first message: nothing has arrived yet.
            assert collector.names.known(site, "sewing", "L1") == {"sm01", "sm02", KHMER}
            assert collector.health_fields()["names_known"] == 6.0  # site, area, line, 3 machines
            spoof = "\u0455m01"
            await pub.publish(topic(site, spoof), batch(0, 3, T0 + 10**12))
            await pub.publish(topic(site, "sm01", line="Ll"), batch(0, 3, T0 + 10**12))  # a look-alike line
            await pub.publish(topic(site, "sm03"), batch(0, 2, T0))
            letters = await next_letters(dl, 2)
            assert letters[topic(site, spoof)].startswith("look-alike machine name: machine 'ѕm01' (U+0455")
            line_reason = letters[topic(site, "sm01", line="Ll")]
            assert line_reason.startswith("look-alike line name: line 'Ll' (U+004C U+006C) looks like")
            assert "the existing line 'L1' (U+004C U+0031)" in line_reason
            assert f"under site/area '{site}/sewing'; use 'L1' itself if it is the same line" in line_reason
            await stored(q, "sm03", 2)
            assert collector.stats.names_refused == 2
        assert await machines(q) == {"sm01", "sm02", "sm03", KHMER}
        assert await count(q, "SELECT count(vib_rms) FROM telemetry WHERE line = 'Ll'") == 0

    async def body() -> None:
        async with (
            MqttConnection(broker.host, broker.port, f"pub-{unique_name}") as pub,
            MqttConnection(broker.host, broker.port, f"dl-{unique_name}") as dl,
            InfluxQLClient(influxdb.url, unique_name) as q,
        ):
            await dl.subscribe(f"{cfg.collector.deadletter_topic}/#")
            await asyncio.gather(pub.wait_connected(), dl.wait_subscribed())
            await first_run(pub, dl, q)
            await second_run(pub, dl, q)

    asyncio.run(body())
